"""The stateful fuzzers drive the responder with the test-side requesters of tests/protocol."""

from __future__ import annotations

import sys
from pathlib import Path

_PROTOCOL = str(Path(__file__).resolve().parents[1] / "protocol")
if _PROTOCOL not in sys.path:
    sys.path.insert(0, _PROTOCOL)
