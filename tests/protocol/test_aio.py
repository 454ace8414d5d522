"""The asyncio requester (`spdm.aio`): one event loop authenticating several `spdm responder`
processes at once, DHE and PSK sessions through the async API, the in-process DOE mailbox path,
ResponseNotReady waits on the event loop, and a handshake cancelled half-way.

Each test runs its own loop with `asyncio.run`."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from spdm.aio import AsyncDoeTransport, AsyncRequester, AsyncSession, AsyncTransport, ThreadedDoeLink, open_connection
from spdm.errors import TransportError
from spdm.messages.session_control import Heartbeat, HeartbeatAck
from spdm.requester import RequesterConfig, SessionClosedError
from spdm.responder import Responder, demo_config
from spdm.testing import MemoryDoeLink
from spdm.transport.doe_host import DoeHostLink
from spdm.transport.mailbox import DoeMailbox

PSK = bytes.fromhex("5ec7e75ec7e75ec7e75ec7e75ec7e75e")
HINT = b"aio-hint"
DEVICES = 3
DOE_PADDING = 3
WAIT = 5.0  # seconds: the most a held exchange waits


@dataclass(frozen=True)
class Device:
    """One `spdm responder` process: where it listens and the root of its (demo) chain."""

    port: int
    root: bytes


@pytest.fixture(scope="module")
def devices(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Device]]:
    """`DEVICES` responder processes, each on a port of its own choosing; killed afterwards."""
    folder = tmp_path_factory.mktemp("devices")
    env = {**os.environ, "TMPDIR": str(folder), "PYTHONWARNINGS": "error"}  # the demo roots land here
    command = [sys.executable, "-m", "spdm", "responder", "--listen", "127.0.0.1:0"]
    command += ["--psk", PSK.hex(), "--psk-hint", HINT.hex()]
    servers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(DEVICES)
    ]
    try:
        found = []
        for server in servers:
            assert server.stdout is not None
            root_line, listening = server.stdout.readline(), server.stdout.readline()
            root = re.search(r"written to (\S+)", root_line)
            port = re.search(r"listening on 127\.0\.0\.1:(\d+)", listening)
            assert root is not None and port is not None, root_line + listening
            found.append(Device(port=int(port.group(1)), root=Path(root.group(1)).read_bytes()))
        yield found
    finally:
        for server in servers:
            server.kill()
            server.wait()
            for pipe in (server.stdout, server.stderr):
                if pipe is not None:
                    pipe.close()


def _config(root: bytes, **settings: Any) -> RequesterConfig:
    return RequesterConfig.with_sessions(trust_anchors={0: root}, psk=PSK, psk_hint=HINT, **settings)


def test_one_loop_authenticates_several_devices_at_once(devices: list[Device]) -> None:
    async def check(device: Device) -> tuple[int, bytes]:
        async with await open_connection("127.0.0.1", device.port, timeout=10) as transport:
            result = await AsyncRequester(transport, _config(device.root)).authenticate(0)
        assert result.measurements is not None and result.measurements.signed
        return result.negotiated.version, result.chain_bytes

    async def main() -> list[tuple[int, bytes]]:
        return await asyncio.gather(*(check(device) for device in devices))

    results: list[tuple[int, bytes]] = []

    async def collect() -> None:
        results.extend(await main())

    _run(collect())
    assert [version for version, _ in results] == [0x13] * DEVICES
    assert len({chain for _, chain in results}) == DEVICES  # three devices, three identities


async def _exercise(session: AsyncSession) -> None:
    """What `spdm requester --session` does, through the async API."""
    async with session:
        await session.heartbeat()
        assert isinstance(await session.send(Heartbeat(version=0x13)), HeartbeatAck)
        assert not await session.key_update()
        assert await session.key_update(all_keys=True)
        measured = await session.get_measurements(0xFF)
        assert measured.signed and measured.blocks
    assert session.closed and session.closed_reason == "ended"


def test_dhe_and_psk_sessions_over_the_socket(devices: list[Device]) -> None:
    async def open_sessions(device: Device) -> None:
        async with await open_connection("127.0.0.1", device.port, timeout=10) as transport:
            requester = AsyncRequester(transport, _config(device.root))
            await requester.authenticate(0)
            dhe = await requester.key_exchange(0, summary_hash_type=0xFF)
            psk = await requester.psk_exchange()
            assert requester.sessions == {dhe.session_id: dhe, psk.session_id: psk}
            assert not dhe.psk and psk.psk and dhe.established and psk.established
            await asyncio.gather(_exercise(dhe), _exercise(psk))  # one connection: they take turns
            assert not requester.sessions
            with pytest.raises(SessionClosedError):
                await dhe.heartbeat()

    async def main() -> None:
        await asyncio.gather(*(open_sessions(device) for device in devices[:2]))

    _run(main())


def _responder(**changes: Any) -> Responder:
    return Responder(replace(demo_config(sessions=True, psks={HINT: PSK}), max_padding=DOE_PADDING, **changes))


def test_through_an_in_process_doe_mailbox() -> None:
    """DOE registers in process: `DoeMailbox` (device) and `DoeHostLink` (host driver), each
    exchange on a worker thread while the loop stays free."""
    responder = _responder()
    mailbox = DoeMailbox()
    mailbox.register_spdm(responder.respond)
    root = responder.config.slots[0].certificates[0]

    async def main() -> None:
        async with AsyncDoeTransport(ThreadedDoeLink(DoeHostLink(mailbox))) as transport:
            requester = AsyncRequester(transport, _config(root))
            result = await requester.authenticate(0)
            assert result.challenge.slot == 0 and result.measurements is not None
            assert (0x0001, 2) in await transport.protocols()  # secured CMA/SPDM, as discovered
            await _exercise(await requester.psk_exchange())

    _run(main())


class MemoryTransport(AsyncTransport):
    """The whole DOE path in memory (`spdm.testing.MemoryDoeLink` on a worker thread), awaited.

    `sessions` records each request's session ID (None in the clear); `hold` makes request number
    `hold[0]` (counting from 1) wait until the event `hold[1]` is set.
    """

    max_padding = DOE_PADDING

    def __init__(self, responder: Responder) -> None:
        self.doe = AsyncDoeTransport(ThreadedDoeLink(MemoryDoeLink(responder.respond)))
        self.sessions: list[int | None] = []
        self.hold: tuple[int, asyncio.Event] | None = None

    async def exchange(self, request: bytes, *, session_id: int | None = None, timeout: float | None = None) -> bytes:
        self.sessions.append(session_id)
        if self.hold is not None and len(self.sessions) == self.hold[0]:
            await self.hold[1].wait()
        return await self.doe.exchange(request, session_id=session_id, timeout=timeout)


def _run(main: Any) -> None:
    asyncio.run(asyncio.wait_for(main, timeout=60))


def test_response_not_ready_is_waited_for_on_the_event_loop() -> None:
    responder = _responder()
    root = responder.config.slots[0].certificates[0]
    waits: list[float] = []

    async def main() -> None:
        waiting, released = asyncio.Event(), asyncio.Event()

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            waiting.set()
            await released.wait()

        async def meanwhile() -> None:
            await waiting.wait()  # the requester is waiting out ResponseNotReady...
            released.set()  # ...and the loop runs this task meanwhile

        requester = AsyncRequester(MemoryTransport(responder), _config(root), sleep=sleep)
        await requester.init_connection()
        responder.answer_not_ready(1, rd_exponent=10)
        digests, _ = await asyncio.gather(requester.get_digests(), meanwhile())
        assert 0 in digests
        responder.answer_not_ready(2, rd_exponent=3)
        session = await requester.psk_exchange()  # ResponseNotReady twice, then PSK_EXCHANGE_RSP
        await session.close()

    _run(main())
    assert waits == [(1 << 10) / 1e6, 8e-6, 8e-6]


def test_a_cancelled_handshake_leaves_no_session() -> None:
    """The task is cancelled while FINISH is on its way: the half-open session is discarded."""
    responder = _responder()
    root = responder.config.slots[0].certificates[0]

    async def main() -> None:
        transport = MemoryTransport(responder)
        requester = AsyncRequester(transport, _config(root))
        await requester.authenticate(0)
        gate = asyncio.Event()
        transport.hold = (len(transport.sessions) + 2, gate)  # KEY_EXCHANGE passes, FINISH waits
        task = asyncio.create_task(requester.key_exchange(0))
        while not requester.connection.sessions:  # KEY_EXCHANGE_RSP verified: the session entered
            await asyncio.sleep(0)
        (core,) = requester.connection.sessions.values()
        while len(transport.sessions) < transport.hold[0]:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert core.phase == "closed" and core.closed_reason == "the handshake failed"
        assert not requester.sessions and not requester.connection.sessions
        transport.hold = None
        async with await requester.key_exchange(0) as session:  # the connection goes on
            await session.heartbeat()

    _run(main())


def test_concurrent_calls_on_one_requester_take_turns() -> None:
    """SPDM has one outstanding request: concurrent operations of one connection do not interleave."""
    responder = _responder()
    root = responder.config.slots[0].certificates[0]
    transport = MemoryTransport(responder)

    async def main() -> None:
        requester = AsyncRequester(transport, _config(root, certificate_portion=0x200))
        await requester.authenticate(0)
        session = await requester.psk_exchange()
        transport.sessions.clear()
        await asyncio.gather(requester.get_certificate(0), session.key_update(), requester.get_certificate(0))
        await session.close()

    _run(main())
    sent = transport.sessions
    portions = (len(sent) - 3) // 2  # two chains read, KEY_UPDATE and VerifyNewKey between them, END_SESSION
    assert portions > 1
    assert [index for index, session_id in enumerate(sent) if session_id is not None] == [
        portions,
        portions + 1,
        len(sent) - 1,
    ]


def test_a_secured_type_the_mailbox_does_not_list_is_refused() -> None:
    """The DOE transport walks discovery first, as the blocking one does."""
    responder = _responder()
    root = responder.config.slots[0].certificates[0]

    async def main() -> None:
        transport = AsyncDoeTransport(ThreadedDoeLink(MemoryDoeLink(responder.respond, secured=False)))
        requester = AsyncRequester(transport, _config(root))
        await requester.init_connection()
        with pytest.raises(TransportError, match=r"does not list secured CMA/SPDM \(0001:02\)"):
            await requester.psk_exchange()
        assert not requester.sessions and not requester.connection.sessions

    _run(main())


class _HeldLink:
    """A blocking `DoeLink` that echoes each object; the object `held` waits for `release`."""

    def __init__(self, held: bytes) -> None:
        self.held = held
        self.release = threading.Event()
        self.log: list[tuple[str, bytes]] = []

    def exchange_object(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        self.log.append(("in", obj))
        if obj == self.held:
            self.release.wait(WAIT)
        self.log.append(("out", obj))
        return obj

    def close(self) -> None:
        pass


def test_a_cancelled_threaded_exchange_ends_before_the_next_begins() -> None:
    """Cancelling the task does not stop the worker thread: the next exchange on the link waits until
    the abandoned one has taken its own response, so it cannot take it instead."""
    blocking = _HeldLink(b"first")

    async def main() -> None:
        link = ThreadedDoeLink(blocking)
        first = asyncio.create_task(link.exchange_object(b"first"))
        while not blocking.log:
            await asyncio.sleep(0.001)
        first.cancel()
        second = asyncio.create_task(link.exchange_object(b"second"))
        await asyncio.sleep(0.05)
        assert blocking.log == [("in", b"first")]
        blocking.release.set()
        assert await second == b"second"

    _run(main())
    assert blocking.log == [("in", b"first"), ("out", b"first"), ("in", b"second"), ("out", b"second")]


def test_a_closed_doe_transport_refuses_to_exchange() -> None:
    """As the blocking `DoeTransport`: after `close`, whatever its link would still do."""
    responder = _responder()

    async def main() -> None:
        transport = AsyncDoeTransport(ThreadedDoeLink(MemoryDoeLink(responder.respond)))
        requester = AsyncRequester(transport, _config(responder.config.slots[0].certificates[0]))
        await requester.init_connection()
        await transport.close()
        with pytest.raises(TransportError, match="DOE transport is closed"):
            await requester.get_digests()

    _run(main())
