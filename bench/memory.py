"""Memory of a responder holding 64 sessions: tracemalloc while a requester opens 64 PSK sessions
(PSK_EXCHANGE, PSK_FINISH; SHA-384, AES-256-GCM) over a LoopbackTransport, all kept open.
Reports the peak traced memory while opening them (both ends live in the process), and what stays
allocated by the responder's code (allocations with a responder frame on their stack) per session.

Run: python bench/memory.py
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from spdm.limits import Limits
from spdm.messages.codes import AeadAlgorithm, BaseHashAlgo
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.transport.loopback import LoopbackTransport

SESSIONS = 64
PSK, HINT = b"bench psk value!", b"bench"
_RESPONDER_FILES = ("*/spdm/responder/*.py",)


def measure(sessions: int = SESSIONS) -> dict[str, float]:
    """Peak bytes above the connected baseline while opening `sessions`, and responder bytes kept per session."""
    config = replace(
        demo_config(sessions=True, psks={HINT: PSK}),
        limits=Limits(max_sessions=sessions),
        base_hash_priority=(BaseHashAlgo.SHA_384,),
        aead_priority=(AeadAlgorithm.AES_256_GCM,),
    )
    responder = Responder(config)
    requester = Requester(
        LoopbackTransport(responder.respond),
        RequesterConfig.with_sessions(trust_anchors={0: config.slots[0].certificates[0]}, psk=PSK, psk_hint=HINT),
    )
    requester.init_connection()
    gc.collect()
    tracemalloc.start(32)
    try:
        before = tracemalloc.take_snapshot()
        baseline, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        opened = [requester.psk_exchange() for _ in range(sessions)]
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    filters = [tracemalloc.Filter(True, pattern, all_frames=True) for pattern in _RESPONDER_FILES]
    kept = sum(
        stat.size_diff for stat in after.filter_traces(filters).compare_to(before.filter_traces(filters), "filename")
    )
    for session in opened:
        session.close()
    return {
        "sessions": float(sessions),
        "memory_peak_bytes": float(peak - baseline),
        "memory_kept_bytes": float(current - baseline),
        "responder_bytes_per_session": kept / sessions,
    }


def main() -> int:
    f = measure()
    n = int(f["sessions"])
    print(f"{n} PSK sessions open: peak {f['memory_peak_bytes'] / 2**10:,.0f} KiB traced while opening them")
    print(f"still allocated with all {n} open (both ends): {f['memory_kept_bytes'] / 2**10:,.0f} KiB")
    print(f"kept by the responder's code: {f['responder_bytes_per_session']:,.0f} bytes per session")
    return 0


if __name__ == "__main__":
    sys.exit(main())
