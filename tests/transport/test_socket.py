"""The spdm-emu / QEMU socket protocol over real sockets on 127.0.0.1 (ephemeral ports only)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from spdm.errors import TransportError
from spdm.transport.doe import CMA_PROTOCOLS, DoeMailboxResponder, DoeTransport, DoeType, encode_object
from spdm.transport.socket import (
    CLIENT_HELLO,
    DEFAULT_PORT,
    QEMU_MAX_RESPONSE_BYTES,
    SERVER_HELLO,
    Command,
    SocketLink,
    SocketServer,
    SocketTransportType,
)

GET_VERSION = bytes.fromhex("10840000")
VERSION = bytes.fromhex("10040000000200100011")
GET_VERSION_OBJECT = encode_object(DoeType.CMA_SPDM, GET_VERSION)
VERSION_OBJECT = encode_object(DoeType.CMA_SPDM, VERSION)
SESSION_ID = 0x00010002
SECURED = SESSION_ID.to_bytes(4, "little") + b"sealed record"
PCI_DOE = SocketTransportType.PCI_DOE
WAIT = 2.0  # seconds: the most any test waits for anything


def fake_respond(request: bytes, session_id: int | None) -> bytes:
    """GET_VERSION -> VERSION; a secured message is echoed."""
    if session_id is not None:
        return request
    return VERSION if request.startswith(GET_VERSION) else bytes.fromhex("107f0700")


def frame(command: int, payload: bytes = b"", transport_type: int = PCI_DOE) -> bytes:
    return struct.pack(">III", command, transport_type, len(payload)) + payload


def recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError(f"closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def recv_frame(sock: socket.socket) -> tuple[int, int, bytes]:
    command, transport_type, size = struct.unpack(">III", recv_exact(sock, 12))
    return command, transport_type, recv_exact(sock, size)


def raw_client(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT)


def assert_closed_by_peer(sock: socket.socket) -> None:
    """The server closed this connection: reading gives EOF (or a reset), not a timeout."""
    with contextlib.suppress(ConnectionResetError):
        assert sock.recv(1) == b""


@pytest.fixture
def server() -> Iterator[SocketServer]:
    with SocketServer(DoeMailboxResponder(fake_respond), port=0).start() as running:
        yield running


def link_to(server: SocketServer, **options: object) -> SocketLink:
    return SocketLink("127.0.0.1", server.port, timeout=WAIT, **options)  # type: ignore[arg-type]


def assert_serves(server: SocketServer) -> None:
    with link_to(server) as link:
        assert link.exchange_object(GET_VERSION_OBJECT) == VERSION_OBJECT


@contextlib.contextmanager
def raw_server(behaviour: Callable[[socket.socket], None]) -> Iterator[int]:
    """A one-connection server on an ephemeral port that runs `behaviour` on the accepted socket."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(WAIT)

    def run() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(WAIT)
                behaviour(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        thread.join(WAIT + 1)


def wait_for_close(conn: socket.socket) -> None:
    """Read until the client goes away (bounded by the socket timeout)."""
    while conn.recv(4096):
        pass


# --- constants and wire format -----------------------------------------------------------------


def test_protocol_constants() -> None:
    assert DEFAULT_PORT == 2323
    assert (Command.NORMAL, Command.CONTINUE, Command.SHUTDOWN, Command.UNKNOWN, Command.TEST) == (
        0x0001,
        0xFFFD,
        0xFFFE,
        0xFFFF,
        0xDEAD,
    )
    assert (SocketTransportType.NONE, SocketTransportType.MCTP, SocketTransportType.PCI_DOE) == (0, 1, 2)
    assert CLIENT_HELLO == b"Client Hello!\0" and SERVER_HELLO == b"Server Hello!\0"
    assert QEMU_MAX_RESPONSE_BYTES == 0x1200


def test_wire_format_of_hello_and_normal(server: SocketServer) -> None:
    with raw_client(server.port) as sock:
        sock.sendall(bytes.fromhex("0000dead 00000002 0000000e") + b"Client Hello!\0")
        assert recv_exact(sock, 26) == bytes.fromhex("0000dead 00000002 0000000e") + b"Server Hello!\0"
        sock.sendall(bytes.fromhex("00000001 00000002 0000000c 01000100 03000000 10840000"))
        assert recv_exact(sock, 12) == bytes.fromhex("00000001 00000002 00000014")
        assert recv_exact(sock, 20) == VERSION_OBJECT


# --- client and server together ---------------------------------------------------------------


def test_hello(server: SocketServer) -> None:
    with link_to(server) as link:
        assert link.hello() == SERVER_HELLO
        assert link.hello() == SERVER_HELLO


def test_doe_discovery_and_spdm_through_the_socket(server: SocketServer) -> None:
    with DoeTransport(link_to(server)) as transport:
        assert transport.protocols == CMA_PROTOCOLS
        assert transport.exchange(GET_VERSION) == VERSION + b"\0\0"
        assert transport.exchange(SECURED, session_id=SESSION_ID, timeout=1.0) == SECURED + b"\0\0\0"
    assert isinstance(transport.link, SocketLink) and transport.link.closed


def test_tcp_nodelay_on_both_ends(server: SocketServer) -> None:
    with link_to(server) as link:
        assert link._sock is not None
        assert link._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        accepted = server._connection  # set once the hello was answered
        assert accepted is not None
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_continue_ends_the_connection_and_keeps_serving(server: SocketServer) -> None:
    link = link_to(server)
    link.continue_()
    assert link.closed
    with raw_client(server.port) as sock:
        sock.sendall(frame(Command.CONTINUE))
        assert recv_frame(sock) == (Command.CONTINUE, PCI_DOE, b"")
        assert_closed_by_peer(sock)
    assert_serves(server)
    assert server.serving


def test_shutdown_stops_the_server(server: SocketServer) -> None:
    link_to(server).shutdown()
    assert server.join(WAIT)
    assert not server.serving
    with pytest.raises(TransportError, match="refused"):
        link_to(server)


def test_sequential_clients(server: SocketServer) -> None:
    for _ in range(3):
        assert_serves(server)


def test_discarded_object_gets_an_empty_reply(server: SocketServer) -> None:
    with raw_client(server.port) as sock:
        sock.sendall(frame(Command.NORMAL, GET_VERSION_OBJECT[:-4]))  # DOE length mismatch
        assert recv_frame(sock) == (Command.NORMAL, PCI_DOE, b"")
    with link_to(server) as link:
        with pytest.raises(TransportError, match="discarded"):
            link.exchange_object(encode_object(DoeType.CMA_SPDM, GET_VERSION, vendor_id=0x1E98))
        assert link.exchange_object(GET_VERSION_OBJECT) == VERSION_OBJECT


def test_unknown_command_is_answered_and_the_connection_kept(server: SocketServer) -> None:
    with raw_client(server.port) as sock:
        for command in (0x1234, Command.OOB_ENCAP_KEY_UPDATE, Command.UNKNOWN):
            sock.sendall(frame(command, b"xyz"))
            assert recv_frame(sock) == (Command.UNKNOWN, PCI_DOE, b"")
        sock.sendall(frame(Command.TEST, CLIENT_HELLO))
        assert recv_frame(sock) == (Command.TEST, PCI_DOE, SERVER_HELLO)


def test_out_of_band_commands_reach_their_handler() -> None:
    """spdm_requester_emu's OOB_ENCAP_ENDPOINT_INFO: the handler runs, the command is echoed; a refusal is UNKNOWN."""
    seen: list[bytes] = []

    def refuse(payload: bytes) -> None:
        raise TransportError("nothing to ask")

    handlers = {Command.OOB_ENCAP_ENDPOINT_INFO: seen.append, Command.OOB_ENCAP_KEY_UPDATE: refuse}
    with SocketServer(DoeMailboxResponder(fake_respond), port=0, out_of_band=handlers).start() as running:
        with raw_client(running.port) as sock:
            sock.sendall(frame(Command.OOB_ENCAP_ENDPOINT_INFO))
            assert recv_frame(sock) == (Command.OOB_ENCAP_ENDPOINT_INFO, PCI_DOE, b"")
            sock.sendall(frame(Command.OOB_ENCAP_KEY_UPDATE, b"\x01\x00\x00\x00"))
            assert recv_frame(sock) == (Command.UNKNOWN, PCI_DOE, b"")
        assert_serves(running)
    assert seen == [b""]


# --- bad clients -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "partial",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(frame(Command.NORMAL, GET_VERSION_OBJECT)[:6], id="half-header"),
        pytest.param(frame(Command.NORMAL, GET_VERSION_OBJECT)[:17], id="half-payload"),
    ],
)
def test_client_leaving_mid_message(server: SocketServer, partial: bytes) -> None:
    with raw_client(server.port) as sock:
        sock.sendall(partial)
    assert_serves(server)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(frame(Command.NORMAL)[:8] + b"\xff\xff\xff\xff", id="4-GiB-payload"),
        pytest.param(struct.pack(">III", Command.NORMAL, PCI_DOE, (1 << 20) + 1), id="over-1-MiB"),
        pytest.param(frame(Command.NORMAL, transport_type=SocketTransportType.MCTP), id="wrong-transport"),
        pytest.param(b"\xa5" * 12, id="garbage"),
    ],
)
def test_unframeable_header_closes_only_that_connection(server: SocketServer, header: bytes) -> None:
    with raw_client(server.port) as sock:
        sock.sendall(header)
        assert_closed_by_peer(sock)
    assert_serves(server)


def test_respond_object_failures_become_discards() -> None:
    def flaky(obj: bytes) -> bytes | None:
        if obj == GET_VERSION_OBJECT:
            return VERSION_OBJECT
        if obj == b"big":
            return bytes(QEMU_MAX_RESPONSE_BYTES + 4)
        raise RuntimeError("responder bug")

    with SocketServer(flaky, port=0, max_response=QEMU_MAX_RESPONSE_BYTES).start() as server, link_to(server) as link:
        with pytest.raises(TransportError, match="discarded"):
            link.exchange_object(b"boom")
        with pytest.raises(TransportError, match="discarded"):
            link.exchange_object(b"big")
        assert link.exchange_object(GET_VERSION_OBJECT) == VERSION_OBJECT


def test_qemu_flavour_no_hello_and_shutdown_without_reading(server: SocketServer) -> None:
    with raw_client(server.port) as sock:
        sock.sendall(frame(Command.NORMAL, GET_VERSION_OBJECT))
        command, _, payload = recv_frame(sock)
        assert (command, payload) == (Command.NORMAL, VERSION_OBJECT)
        assert len(payload) <= QEMU_MAX_RESPONSE_BYTES
        sock.sendall(frame(Command.SHUTDOWN))
    assert server.join(WAIT)


def test_idle_timeout_drops_a_silent_client() -> None:
    responder = DoeMailboxResponder(fake_respond)
    with SocketServer(responder, port=0, idle_timeout=0.05).start() as server:
        with raw_client(server.port) as sock:
            assert_closed_by_peer(sock)
        assert_serves(server)


def test_stop_while_a_client_is_connected(server: SocketServer) -> None:
    with link_to(server) as link:
        started = time.monotonic()
        server.stop()
        assert server.join(WAIT)
        assert time.monotonic() - started < WAIT
        with pytest.raises(TransportError):
            link.hello()


def test_serve_forever_refuses_twice_and_after_close() -> None:
    server = SocketServer(DoeMailboxResponder(fake_respond), port=0).start()
    with pytest.raises(RuntimeError):
        server.start()
    server.stop()
    with pytest.raises(TransportError, match="closed"):
        server.serve_forever()


def test_port_in_use() -> None:
    with (
        SocketServer(DoeMailboxResponder(fake_respond), port=0) as first,
        pytest.raises(TransportError, match="cannot listen"),
    ):
        SocketServer(DoeMailboxResponder(fake_respond), port=first.port)


# --- client failures -------------------------------------------------------------------------


def test_connection_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(TransportError, match="refused"):
        SocketLink("127.0.0.1", port, timeout=WAIT)


def test_timeouts() -> None:
    def silent(conn: socket.socket) -> None:
        wait_for_close(conn)

    with raw_server(silent) as port:
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"timed out after 0\.1 s waiting for the TEST reply"):
            SocketLink("127.0.0.1", port, timeout=0.1)
        assert time.monotonic() - started < 1.0
    with raw_server(silent) as port:
        link = SocketLink("127.0.0.1", port, timeout=WAIT, hello=False)
        started = time.monotonic()
        with pytest.raises(TransportError, match="timed out"):
            link.exchange_object(GET_VERSION_OBJECT, timeout=0.1)
        assert time.monotonic() - started < 1.0
        assert link.closed
        with pytest.raises(TransportError, match="closed"):
            link.exchange_object(GET_VERSION_OBJECT)


def test_a_trickling_reply_still_times_out() -> None:
    def trickle(conn: socket.socket) -> None:
        recv_exact(conn, 12 + len(GET_VERSION_OBJECT))
        for byte in frame(Command.NORMAL, VERSION_OBJECT):
            conn.sendall(bytes([byte]))
            time.sleep(0.02)

    with raw_server(trickle) as port:
        link = SocketLink("127.0.0.1", port, timeout=0.1, hello=False)
        with pytest.raises(TransportError, match="timed out"):
            link.exchange_object(GET_VERSION_OBJECT)


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        pytest.param(b"", "closed the connection", id="closed"),
        pytest.param(frame(Command.NORMAL, VERSION_OBJECT)[:15], "closed the connection after 3 of 20", id="short"),
        pytest.param(frame(Command.NORMAL)[:8] + b"\xff\xff\xff\xff", "over the 1048576 allowed", id="oversize"),
        pytest.param(frame(Command.NORMAL, VERSION_OBJECT, transport_type=1), "transport type 1", id="mctp"),
        pytest.param(frame(Command.TEST, SERVER_HELLO), "got a TEST reply", id="wrong-command"),
        pytest.param(frame(Command.UNKNOWN), "does not support the NORMAL command", id="unknown"),
    ],
)
def test_bad_replies(reply: bytes, match: str) -> None:
    def behaviour(conn: socket.socket) -> None:
        recv_exact(conn, 12 + len(GET_VERSION_OBJECT))
        if reply:
            conn.sendall(reply)
        if reply.startswith(frame(Command.UNKNOWN)):
            wait_for_close(conn)

    with (
        raw_server(behaviour) as port,
        SocketLink("127.0.0.1", port, timeout=WAIT, hello=False) as link,
        pytest.raises(TransportError, match=match),
    ):
        link.exchange_object(GET_VERSION_OBJECT)


def test_shutdown_reports_a_missing_acknowledgement() -> None:
    def close_at_once(conn: socket.socket) -> None:
        recv_exact(conn, 12)

    with raw_server(close_at_once) as port:
        link = SocketLink("127.0.0.1", port, timeout=WAIT, hello=False)
        with pytest.raises(TransportError, match="SHUTDOWN reply"):
            link.shutdown()
        assert link.closed


class _Interrupted(BaseException):
    """Stands for Ctrl-C or an exception a signal handler raises while the reply is awaited."""


def test_an_interrupted_round_trip_closes_the_link(server: SocketServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reply of an interrupted round trip may still arrive: a link that stayed open would hand it
    to the next request, so the link closes (as `spdm.aio.AsyncSocketLink` does on cancellation)."""
    link = link_to(server)

    def interrupted(sock: socket.socket, size: int, what: str, deadline: float | None) -> bytes:
        raise _Interrupted

    with monkeypatch.context() as patch:
        patch.setattr(SocketLink, "_recv_exact", staticmethod(interrupted))
        with pytest.raises(_Interrupted):
            link.exchange_object(GET_VERSION_OBJECT)
    assert link.closed
    with pytest.raises(TransportError, match="is closed"):
        link.exchange_object(GET_VERSION_OBJECT)
    assert_serves(server)
