"""The blocking `Requester` shared by threads (a heartbeat timer beside the main flow): SPDM allows one
outstanding request and each record takes the next sequence number, so calls take turns, as
`spdm.aio.AsyncRequester`'s do."""

from __future__ import annotations

import threading
import time

from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.transport.base import Transport
from spdm.transport.loopback import LoopbackTransport

PSK, HINT = b"threads psk value", b"threads"
ROUNDS = 20


class Overlapping(Transport):
    """A loopback that takes its time and counts how many exchanges are in it at once."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.inside = 0
        self.most = 0
        self._count = threading.Lock()

    def exchange(self, request: bytes, *, session_id: int | None = None, timeout: float | None = None) -> bytes:
        with self._count:
            self.inside += 1
            self.most = max(self.most, self.inside)
        try:
            time.sleep(0.001)  # another thread would get in here
            return self.inner.exchange(request, session_id=session_id, timeout=timeout)
        finally:
            with self._count:
                self.inside -= 1


def test_threads_sharing_a_session_take_turns() -> None:
    config = demo_config(sessions=True, psks={HINT: PSK})
    responder = Responder(config)
    transport = Overlapping(LoopbackTransport(responder.respond))
    root = config.slots[0].certificates[0]
    requester = Requester(transport, RequesterConfig.with_sessions(trust_anchors={0: root}, psk=PSK, psk_hint=HINT))
    requester.init_connection()
    session = requester.psk_exchange()
    failures: list[BaseException] = []

    def heartbeats() -> None:
        try:
            for _ in range(ROUNDS):
                session.heartbeat()
        except BaseException as error:  # reported below, with the thread's failure as it was
            failures.append(error)

    def measurements() -> None:
        try:
            for index in range(1, ROUNDS + 1):
                operation = index % 4 + 1
                (block,) = session.get_measurements(operation, signed=False).blocks
                assert block.index == operation
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=heartbeats), threading.Thread(target=measurements)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures, failures
    assert transport.most == 1
    session.close()
