"""Executed Python bytecodes per PSK session (both roles, in process), by file and by function.

Wall time on a shared machine moves by several percent from run to run; this count does not. It is
the measure of the Python overhead a change removes: on the project's machine about 1,000 bytecodes
are 10 us of a PSK session. Calls into C (hashing, HMAC, AEAD) count as the one bytecode that calls them.

Run: python bench/opcount.py [TOP]   (TOP functions listed, 30 by default)
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from handshake import _connected

SESSIONS = 20


def count(sessions: int = SESSIONS) -> collections.Counter[tuple[str, str]]:
    """Bytecodes executed per (file, function) over `sessions` PSK sessions (open and close)."""
    requester, _ = _connected()
    for _ in range(50):  # warm: caches, negotiated contexts, first-use allocations
        requester.psk_exchange().close()
    counts: collections.Counter[tuple[str, str]] = collections.Counter()

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "call":
            frame.f_trace_opcodes = True
            frame.f_trace_lines = False
        elif event == "opcode":
            code = frame.f_code
            counts[(Path(code.co_filename).name, code.co_name)] += 1
        return trace

    sys.settrace(trace)
    try:
        for _ in range(sessions):
            requester.psk_exchange().close()
    finally:
        sys.settrace(None)
    return counts


def main(argv: list[str]) -> int:
    top = int(argv[0]) if argv else 30
    counts = count()
    total = sum(counts.values()) / SESSIONS
    by_file: collections.Counter[str] = collections.Counter()
    for (name, _), n in counts.items():
        by_file[name] += n
    print(f"bytecodes per PSK session: {total:.0f}")
    print("by file: " + ", ".join(f"{name} {n / SESSIONS:.0f}" for name, n in by_file.most_common(12)))
    for (name, function), n in counts.most_common(top):
        print(f"{n / SESSIONS:7.0f}  {name}:{function}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
