"""Responder throughput over the spdm-emu socket protocol on 127.0.0.1: a `SocketServer` serving
`DoeMailboxResponder(Responder(replace(demo_config(), max_padding=3)))` in a thread, and one `SocketLink`
client replaying GET_VERSION, GET_CAPABILITIES, NEGOTIATE_ALGORITHMS, GET_DIGESTS (DOE objects
recorded from a real requester) for a bounded time. Loopback only.

Run: python bench/server.py
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.transport import doe
from spdm.transport.doe import DoeMailboxResponder, DoeTransport
from spdm.transport.socket import SocketLink, SocketServer

SECONDS = 2.0
MAX_ROUNDS = 20_000


class _Recording:
    """A `DoeLink` that passes objects on and keeps the SPDM ones it sent."""

    def __init__(self, link: SocketLink) -> None:
        self.link = link
        self.sent: list[bytes] = []

    def exchange_object(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        if doe.decode_object(obj).object_type == doe.DoeType.CMA_SPDM:
            self.sent.append(obj)
        return self.link.exchange_object(obj, timeout=timeout)


def measure(seconds: float = SECONDS) -> dict[str, float]:
    """Requests answered per second (each a round trip over TCP), and the mean round-trip time."""
    config = replace(demo_config(), max_padding=3)
    server = SocketServer(DoeMailboxResponder(Responder(config).respond), host="127.0.0.1", port=0).start()
    try:
        link = SocketLink("127.0.0.1", server.port)
        try:
            recording = _Recording(link)
            requester = Requester(DoeTransport(recording), RequesterConfig(trust_anchors={}))
            requester.init_connection()
            requester.get_digests()
            requests = recording.sent
            if len(requests) != 4:
                raise RuntimeError(f"expected 4 SPDM requests, recorded {len(requests)}")
            count, start = 0, time.perf_counter()
            deadline = start + seconds
            while count < MAX_ROUNDS * len(requests) and time.perf_counter() < deadline:
                for obj in requests:
                    reply = link.exchange_object(obj)
                    if len(reply) < 12 or reply[9] == 0x7F:  # DOE header, then SPDM version and code
                        raise RuntimeError(f"the responder did not answer {obj[8:12].hex()}: {reply[8:16].hex()}")
                count += len(requests)
            elapsed = time.perf_counter() - start
            link.shutdown()
        finally:
            link.close()
    finally:
        server.stop(timeout=2)
    return {"server_requests_per_s": count / elapsed, "server_round_trip": elapsed / count}


def main() -> int:
    f = measure()
    print(
        f"responder over TCP 127.0.0.1 (DOE objects, VCA + GET_DIGESTS):"
        f" {f['server_requests_per_s']:,.0f} requests/s ({f['server_round_trip'] * 1e6:.0f} us per round trip)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
