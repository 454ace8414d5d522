"""The `Responder` shared by threads, as an emulator shares it: `SocketServer.start()` answers
requests in its own thread while the emulator resets the device from another. DSP0274: a reset ends
the connection and all its sessions, so no session may outlive one, whenever it comes."""

from __future__ import annotations

import sys
import threading

from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.transport.base import Transport

PSK, HINT = b"threads psk value", b"threads"
RACES = 300


class Recording(Transport):
    """Straight to the responder, each request kept with its SessionID."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.sent: list[tuple[bytes, int | None]] = []

    def exchange(self, request: bytes, *, session_id: int | None = None, timeout: float | None = None) -> bytes:
        self.sent.append((bytes(request), session_id))
        return self.responder.respond(request, session_id)


def _reset_on(go: threading.Event, responder: Responder) -> None:
    go.wait()
    responder.reset()


def test_no_session_outlives_a_reset_from_another_thread() -> None:
    responder = Responder(demo_config(sessions=True, psks={HINT: PSK}))
    transport = Recording(responder)
    requester = Requester(transport, RequesterConfig.with_sessions(psk=PSK, psk_hint=HINT))
    requester.init_connection()
    requester.psk_exchange()
    (*vca, psk_exchange) = transport.sent[:4]
    survivors = 0
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        for _ in range(RACES):
            responder.reset()
            for request, session_id in vca:
                responder.respond(request, session_id)
            go = threading.Event()
            resetting = threading.Thread(target=_reset_on, args=(go, responder))
            resetting.start()
            go.set()
            responder.respond(*psk_exchange)
            resetting.join()
            survivors += bool(responder.sessions) and responder.negotiated is None
    finally:
        sys.setswitchinterval(interval)
    assert survivors == 0
