"""SocketServer's message_timeout bounds a whole message from its first byte, whatever idle_timeout
says: a client that stalls in the middle of one is dropped and the next client is served; idle_timeout
bounds only the silence between messages (real sockets on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Callable, Iterator

import pytest

from spdm.transport.doe import DoeMailboxResponder, DoeType, encode_object
from spdm.transport.socket import Command, SocketLink, SocketServer, SocketTransportType

GET_VERSION_OBJECT = encode_object(DoeType.CMA_SPDM, bytes.fromhex("10840000"))
VERSION = bytes.fromhex("10040000000200100011")
IDLE = 0.3  # seconds: the server's message_timeout, and idle_timeout where a test sets one
WAIT = 3.0  # seconds: the most the next client waits to be served


def respond(request: bytes, session_id: int | None) -> bytes:
    return VERSION


def header(command: int, size: int) -> bytes:
    return struct.pack(">III", command, SocketTransportType.PCI_DOE, size)


def one_header_byte(sock: socket.socket) -> None:
    sock.sendall(header(Command.NORMAL, 4)[:1])


def header_without_payload(sock: socket.socket) -> None:
    sock.sendall(header(Command.NORMAL, 100))


def trickle(sock: socket.socket, data: bytes) -> None:
    """Each byte well within the timeouts of the last, the whole well after the first; until the
    server drops the connection."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        for byte in data:
            sock.sendall(bytes([byte]))
            time.sleep(IDLE / 3)


def header_one_byte_at_a_time(sock: socket.socket) -> None:
    trickle(sock, header(Command.NORMAL, 4))


def payload_one_byte_at_a_time(sock: socket.socket) -> None:
    sock.sendall(header(Command.NORMAL, len(GET_VERSION_OBJECT)))
    trickle(sock, GET_VERSION_OBJECT)


@contextlib.contextmanager
def stalled_client(port: int, behaviour: Callable[[socket.socket], None]) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        behaviour(sock)
        yield sock


@pytest.mark.parametrize(
    "behaviour", [one_header_byte, header_without_payload, header_one_byte_at_a_time, payload_one_byte_at_a_time]
)
def test_a_stalled_client_is_dropped_and_the_next_is_served(behaviour: Callable[[socket.socket], None]) -> None:
    """With no idle_timeout, as `spdm responder` runs by default for QEMU's sake."""
    with (
        SocketServer(DoeMailboxResponder(respond), port=0, message_timeout=IDLE).start() as server,
        stalled_client(server.port, behaviour) as stalled,
    ):
        started = time.monotonic()
        with SocketLink("127.0.0.1", server.port, timeout=WAIT) as link:
            assert link.exchange_object(GET_VERSION_OBJECT) == encode_object(DoeType.CMA_SPDM, VERSION)
        assert time.monotonic() - started < WAIT
        with contextlib.suppress(ConnectionResetError):
            assert stalled.recv(1) == b""  # dropped by the server, no reply


def test_a_silent_client_is_dropped_after_idle_timeout() -> None:
    with (
        SocketServer(DoeMailboxResponder(respond), port=0, idle_timeout=IDLE).start() as server,
        stalled_client(server.port, lambda sock: None) as silent,
    ):
        with SocketLink("127.0.0.1", server.port, timeout=WAIT) as link:
            assert link.exchange_object(GET_VERSION_OBJECT) == encode_object(DoeType.CMA_SPDM, VERSION)
        with contextlib.suppress(ConnectionResetError):
            assert silent.recv(1) == b""


def test_a_client_idle_between_whole_messages_is_kept() -> None:
    with (
        SocketServer(DoeMailboxResponder(respond), port=0, idle_timeout=IDLE, message_timeout=IDLE).start() as server,
        SocketLink("127.0.0.1", server.port, timeout=WAIT) as link,
    ):
        for _ in range(3):
            assert link.exchange_object(GET_VERSION_OBJECT) == encode_object(DoeType.CMA_SPDM, VERSION)
            time.sleep(IDLE / 2)
