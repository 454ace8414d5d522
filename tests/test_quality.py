"""The standing checks: ruff and mypy --strict stay clean.

Both run from this interpreter (the `test` extra installs them), so neither can be skipped for
want of a command on PATH.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_is_clean() -> None:
    result = _run(sys.executable, "-m", "ruff", "check", "spdm", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = _run(sys.executable, "-m", "mypy", "--strict", "spdm")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_warning_attributed_to_our_code_is_an_error() -> None:
    """pyproject's filterwarnings: ours fail the test, a dependency's own stay warnings."""
    with pytest.raises(DeprecationWarning):
        warnings.warn_explicit("deprecated", DeprecationWarning, "spdm/crypto/dhe.py", 1, module="spdm.crypto.dhe")
    with pytest.warns(DeprecationWarning):
        warnings.warn_explicit("deprecated", DeprecationWarning, "construct/core.py", 1, module="construct.core")


def test_the_oldest_constraints_pin_exactly_the_lower_bounds() -> None:
    """.ci/oldest.txt (the second CI environment) pins each `>=` bound of pyproject.toml, no other."""
    bounds = {}
    for text in importlib.metadata.requires("pyspdm") or []:
        requirement = Requirement(text)
        lowest = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
        assert len(lowest) == 1, f"{text!r}: the oldest environment needs exactly one lower bound"
        bounds[requirement.name.lower()] = lowest[0]
    pins = {}
    for line in (ROOT / ".ci" / "oldest.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = Version(version.strip())
    assert pins == bounds
