"""vectors/generate.py, loaded once as a module for the tests that build or replay our own vectors."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pyspdm_vectors_generate", VECTORS / "generate.py")
    if spec is None or spec.loader is None:
        raise ImportError("vectors/generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


generate = sys.modules.get("pyspdm_vectors_generate") or _load_generator()
