"""The TCP protocol of DMTF spdm-emu and QEMU's spdm-socket backend: `SocketLink` and `SocketServer`.

What the reference code does (DMTF/spdm-emu ``spdm_emu/spdm_emu_common/command.{h,c}``,
``spdm_responder_emu/spdm_responder_emu.c``, ``spdm_requester_emu/spdm_requester_emu.c``,
``library/pci_doe_responder_lib/pci_doe_dispatch.c``; qemu/qemu ``backends/spdm-socket.c``,
``include/system/spdm-socket.h``, ``hw/nvme/ctrl.c``, ``hw/pci/pcie_doe.c``):

* Every message, both ways: command, transport type, payload size (u32 each, big-endian), then
  the payload. The client speaks first; each request gets one reply. Default port 2323.
* spdm_requester_emu opens with TEST "Client Hello!\\0"; the responder replies TEST
  "Server Hello!\\0" (14 bytes each, NUL included). QEMU sends no hello.
* With transport PCI_DOE a NORMAL payload is one whole DOE object, header and padding included,
  discovery too: spdm-emu's requester walks discovery over the socket and its responder answers.
  QEMU answers discovery itself and forwards only type-1 and type-2 objects.
* CONTINUE: the responder replies CONTINUE (empty), closes the connection and accepts the next
  client, keeping its SPDM state. SHUTDOWN: replies SHUTDOWN (empty) and stops serving. Other
  commands: replies UNKNOWN (empty) and closes the connection.
* spdm_responder_emu stops serving altogether when a read fails (client gone, transport type
  mismatch, payload too large) and sends nothing back for an object libspdm cannot decode.
* QEMU reads replies without a timeout, takes at most 0x1200 payload bytes (a larger reply
  fails without its payload being read, leaving the stream out of step), ignores the reply's
  transport type, treats an empty reply as a discarded object, and sends SHUTDOWN without
  reading a reply when the device goes away.

`SocketServer` departs from spdm_responder_emu on purpose: a vanished client or an unreadable
frame closes only that connection, an unknown command keeps the connection, and a discarded
object gets an empty NORMAL reply, so that no client (QEMU least of all) waits forever.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from enum import IntEnum
from types import TracebackType

from spdm.errors import SpdmError, TransportError
from spdm.transport.doe import MAX_OBJECT_BYTES

__all__ = [
    "CLIENT_HELLO",
    "DEFAULT_PORT",
    "HEADER_SIZE",
    "MAX_PAYLOAD_BYTES",
    "QEMU_MAX_RESPONSE_BYTES",
    "SERVER_HELLO",
    "Command",
    "SocketLink",
    "SocketServer",
    "SocketTransportType",
    "checked_reply_header",
    "frame",
    "unpack_header",
]

DEFAULT_PORT = 2323
HEADER_SIZE = 12
CLIENT_HELLO = b"Client Hello!\x00"
SERVER_HELLO = b"Server Hello!\x00"

MAX_PAYLOAD_BYTES = MAX_OBJECT_BYTES
"""Default bound on a payload size read from the wire: the largest DOE object (1 MiB)."""

QEMU_MAX_RESPONSE_BYTES = 0x1200
"""The largest reply QEMU accepts (SPDM_SOCKET_MAX_MESSAGE_BUFFER_SIZE)."""


class Command(IntEnum):
    """The socket commands (spdm-emu ``command.h``); a reply carries the request's command."""

    NORMAL = 0x0001
    OOB_ENCAP_KEY_UPDATE = 0x8001
    OOB_ENCAP_ENDPOINT_INFO = 0x8002
    CONTINUE = 0xFFFD
    SHUTDOWN = 0xFFFE
    UNKNOWN = 0xFFFF
    TEST = 0xDEAD


class SocketTransportType(IntEnum):
    """What a NORMAL payload is framed as (spdm-emu ``--trans``)."""

    NONE = 0x00
    MCTP = 0x01
    PCI_DOE = 0x02
    TCP = 0x03


_HEADER = struct.Struct(">III")
_log = logging.getLogger(__name__)

RespondObject = Callable[[bytes], "bytes | None"]


def frame(command: int, transport_type: int, payload: bytes) -> bytes:
    """One message of the spdm-emu socket protocol: the 12-byte big-endian header, then `payload`."""
    return _HEADER.pack(command, transport_type, len(payload)) + payload


def checked_reply_header(header: bytes, transport_type: int, max_payload: int, what: str) -> tuple[int, int]:
    """(command, payload size) of a reply's header, after checking it: the link's transport type, and a
    payload size within `max_payload` (read from the wire, so bounded before anything is allocated)."""
    reply, reply_type, size = unpack_header(header)
    if reply_type != transport_type:
        raise TransportError(f"{what}: transport type {reply_type}, expected {transport_type}")
    if size > max_payload:
        raise TransportError(f"{what}: announces {size} payload bytes, over the {max_payload} allowed")
    return reply, size


def unpack_header(header: bytes) -> tuple[int, int, int]:
    """(command, transport type, payload size) of a 12-byte header."""
    command, transport_type, size = _HEADER.unpack(header)
    return int(command), int(transport_type), int(size)


def _command_name(command: int) -> str:
    try:
        return Command(command).name
    except ValueError:
        return f"{command:#06x}"


class _PeerClosed(Exception):
    """The peer closed its side; `received` bytes of the awaited `size` had arrived."""

    def __init__(self, received: int, size: int) -> None:
        super().__init__(f"closed after {received} of {size} bytes")
        self.received = received


def _nodelay(sock: socket.socket) -> None:
    """One request, one reply, each written whole: Nagle would only add latency."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# --- client -----------------------------------------------------------------------------------


class SocketLink:
    """A `DoeLink` to an spdm-emu style server (spdm_responder_emu, `SocketServer`).

    Connects on construction and, with `hello`, opens with the TEST exchange as
    spdm_requester_emu does. `timeout` (seconds, None: wait forever) bounds connecting and each
    round trip (sending the request and receiving the whole reply). A failure raises
    `TransportError` and closes the link. End a session with `shutdown()` or `continue_()`:
    spdm_responder_emu stops serving when a client just disconnects.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        timeout: float | None = 10.0,
        hello: bool = True,
        transport_type: int = SocketTransportType.PCI_DOE,
        max_payload: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self._peer = f"{host}:{port}"
        self._timeout = timeout
        self._transport_type = transport_type
        self._max_payload = max_payload
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except ConnectionRefusedError as exc:
            raise TransportError(f"connection to {self._peer} refused: is the responder running?") from exc
        except TimeoutError as exc:
            raise TransportError(f"connecting to {self._peer} timed out after {timeout} s") from exc
        except OSError as exc:
            raise TransportError(f"cannot connect to {self._peer}: {exc}") from exc
        self._sock: socket.socket | None = sock
        try:
            _nodelay(sock)
            if hello:
                self.hello()
        except BaseException:
            self.close()
            raise

    @property
    def closed(self) -> bool:
        return self._sock is None

    def hello(self) -> bytes:
        """The TEST exchange; returns the server's greeting."""
        return self._round_trip(Command.TEST, CLIENT_HELLO)

    def exchange_object(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        """Send one DOE object in a NORMAL command and return the response object.

        `timeout` replaces the link's timeout for this exchange (None: keep the link's).
        """
        response = self._round_trip(Command.NORMAL, bytes(obj), timeout)
        if not response:
            raise TransportError(f"{self._peer} returned no response object: the request was discarded")
        return response

    def continue_(self) -> None:
        """CONTINUE: the server acknowledges and drops this connection, keeping its SPDM state."""
        self._finish(Command.CONTINUE)

    def shutdown(self) -> None:
        """SHUTDOWN: the server acknowledges and stops serving."""
        self._finish(Command.SHUTDOWN)

    def close(self) -> None:
        """Close the socket without telling the server (see the class docstring)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> SocketLink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _finish(self, command: Command) -> None:
        try:
            self._round_trip(command, b"")
        finally:
            self.close()

    def _round_trip(self, command: Command, payload: bytes, timeout: float | None = None) -> bytes:
        sock = self._sock
        if sock is None:
            raise TransportError(f"link to {self._peer} is closed")
        what = f"{command.name} reply from {self._peer}"
        timeout = self._timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            sock.settimeout(timeout)
            sock.sendall(frame(command, self._transport_type, payload))
            header = self._recv_exact(sock, HEADER_SIZE, what, deadline)
            reply, size = checked_reply_header(header, self._transport_type, self._max_payload, what)
            body = self._recv_exact(sock, size, what, deadline)
        except TransportError:
            self.close()
            raise
        except TimeoutError as exc:
            self.close()
            raise TransportError(f"timed out after {timeout} s waiting for the {what}") from exc
        except OSError as exc:
            self.close()
            raise TransportError(f"{what}: {exc}") from exc
        except BaseException:  # interrupted (Ctrl-C, a signal handler): the reply may still come, out of step
            self.close()
            raise
        if reply == Command.UNKNOWN:
            raise TransportError(f"{self._peer} does not support the {command.name} command")
        if reply != command:
            self.close()
            raise TransportError(f"{what}: got a {_command_name(reply)} reply")
        return body

    @staticmethod
    def _recv_exact(sock: socket.socket, size: int, what: str, deadline: float | None) -> bytes:
        """`size` bytes, all by `deadline` (a `time.monotonic` value; None: no limit)."""
        buffer = bytearray(size)
        view = memoryview(buffer)
        received = 0
        while received < size:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
            count = sock.recv_into(view[received:])
            if count == 0:
                where = f" after {received} of {size} bytes" if received else ""
                raise TransportError(f"{what}: the peer closed the connection{where}")
            received += count
        return bytes(buffer)


# --- server -----------------------------------------------------------------------------------


class SocketServer:
    """Serves `respond_object` to one client at a time, as spdm_responder_emu does.

    A NORMAL payload (a whole DOE object for PCI_DOE) goes to `respond_object`; its answer goes
    back in a NORMAL reply, and None (object discarded) as an empty one. The server answers TEST,
    CONTINUE and SHUTDOWN like spdm_responder_emu and UNKNOWN to any other command. SHUTDOWN or
    `stop()` ends `serve_forever`. Port 0 binds an ephemeral port: read it from `port`.
    `out_of_band` handles spdm-emu's out-of-band commands (OOB_ENCAP_KEY_UPDATE,
    OOB_ENCAP_ENDPOINT_INFO: the emulated platform tells the device to ask something of the requester
    through encapsulated requests): its handler is called with the payload and the command is echoed
    back with an empty payload, as spdm_responder_emu does; a handler that raises `SpdmError`, or a
    command without one, gets UNKNOWN. `max_response` (e.g. `QEMU_MAX_RESPONSE_BYTES`) turns a
    larger answer into a discard instead of a reply the client cannot read; `message_timeout`
    drops a client that has not sent a whole message (header and payload) that long after its first
    byte, so one that stalls mid-message cannot keep the next client waiting (None: no bound);
    `idle_timeout` drops a client silent that long between messages (None: never, as QEMU may idle
    between requests); `send_timeout` bounds writing one reply.
    """

    def __init__(
        self,
        respond_object: RespondObject,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        transport_type: int = SocketTransportType.PCI_DOE,
        max_payload: int = MAX_PAYLOAD_BYTES,
        max_response: int | None = None,
        message_timeout: float | None = 10.0,
        idle_timeout: float | None = None,
        send_timeout: float | None = 10.0,
        out_of_band: Mapping[Command, Callable[[bytes], None]] | None = None,
    ) -> None:
        self._respond_object = respond_object
        self._out_of_band = {int(command): handler for command, handler in (out_of_band or {}).items()}
        self._transport_type = transport_type
        self._max_payload = max_payload
        self._max_response = max_response
        self._message_timeout = message_timeout
        self._idle_timeout = idle_timeout
        self._send_timeout = send_timeout
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self._listener = socket.create_server((host, port), family=family, backlog=3)
        except OSError as exc:
            raise TransportError(f"cannot listen on {host}:{port}: {exc}") from exc
        self._listener.setblocking(False)
        self._address: tuple[str, int] = self._listener.getsockname()[:2]
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_reader, selectors.EVENT_READ)
        self._stopping = threading.Event()
        self._lock = threading.RLock()  # reentrant: a signal handler may call stop() while this thread holds it
        self._running = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._connection: socket.socket | None = None

    @property
    def host(self) -> str:
        return self._address[0]

    @property
    def port(self) -> int:
        """The bound port (the ephemeral one when constructed with port 0)."""
        return self._address[1]

    @property
    def serving(self) -> bool:
        return self._running

    # -- lifecycle --

    def serve_forever(self) -> None:
        """Accept and serve clients one after another until SHUTDOWN or `stop()`, then close."""
        with self._lock:
            if self._closed:
                raise TransportError("server is closed")
            if self._running:
                raise RuntimeError("server is already serving")
            self._running = True
        _log.info("SPDM socket server listening on %s:%d", self.host, self.port)
        try:
            while not self._stopping.is_set():
                accepted = self._accept()
                if accepted is None:
                    break
                conn, peer = accepted
                self._connection = conn
                try:
                    keep_serving = self._serve_connection(conn, peer)
                finally:
                    self._connection = None
                    conn.close()
                if not keep_serving:
                    break
        finally:
            with self._lock:
                self._running = False
                self._close_sockets()
            _log.info("SPDM socket server on port %d stopped", self.port)

    def start(self) -> SocketServer:
        """Run `serve_forever` in a daemon thread; returns the server."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._thread = threading.Thread(target=self.serve_forever, name=f"spdm-socket-{self.port}", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the server thread to end (after SHUTDOWN or `stop()`); True if it has."""
        if self._thread is None:
            return not self._running
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop serving (the current client is dropped) and close the sockets."""
        self._stopping.set()
        with contextlib.suppress(OSError):  # already closed: the server has stopped
            self._wake_writer.send(b"\0")
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        with self._lock:
            if not self._running:
                self._close_sockets()

    def __enter__(self) -> SocketServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _close_sockets(self) -> None:
        if not self._closed:
            self._closed = True
            self._selector.close()
            self._listener.close()
            self._wake_reader.close()
            self._wake_writer.close()

    # -- I/O --

    def _wait_readable(self, sock: socket.socket, timeout: float | None) -> bool | None:
        """True once `sock` is readable, None on `stop()`, False when `timeout` passes first."""
        if self._stopping.is_set():
            return None
        key = self._selector.register(sock, selectors.EVENT_READ)
        try:
            events = self._selector.select(timeout)
        finally:
            self._selector.unregister(sock)
        if self._stopping.is_set():
            return None
        return any(ready.fileobj is key.fileobj for ready, _ in events)

    def _accept(self) -> tuple[socket.socket, str] | None:
        while True:
            if self._wait_readable(self._listener, None) is None:
                return None
            try:
                conn, address = self._listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                continue  # the client left between readiness and accept
            conn.settimeout(self._send_timeout)
            _nodelay(conn)
            peer = f"{address[0]}:{address[1]}"
            _log.info("client %s connected", peer)
            return conn, peer

    def _read_exact(self, conn: socket.socket, size: int, deadline: float | None) -> bytes | None:
        """`size` bytes from the client by `deadline` (`time.monotonic()`; None: no bound); None on
        `stop()`. Raises `_PeerClosed` or `TimeoutError`."""
        buffer = bytearray(size)
        view = memoryview(buffer)
        received = 0
        while received < size:
            ready = self._wait_readable(conn, None if deadline is None else max(deadline - time.monotonic(), 0.0))
            if ready is None:
                return None
            if not ready:
                raise TimeoutError(f"the message did not arrive whole within {self._message_timeout} s")
            count = conn.recv_into(view[received:])
            if count == 0:
                raise _PeerClosed(received, size)
            received += count
        return bytes(buffer)

    def _serve_connection(self, conn: socket.socket, peer: str) -> bool:
        """Serve one client; False when the server must stop (SHUTDOWN or `stop()`)."""
        while True:
            in_message = False
            try:
                ready = self._wait_readable(conn, self._idle_timeout)
                if ready is None:
                    return False
                if not ready:
                    raise TimeoutError(f"idle for {self._idle_timeout} s")
                # From its first byte, the whole message has one deadline: a client that stalls
                # in the middle of one is dropped like a silent one, and the next is served.
                deadline = None if self._message_timeout is None else time.monotonic() + self._message_timeout
                header = self._read_exact(conn, HEADER_SIZE, deadline)
                if header is None:
                    return False
                in_message = True
                command, transport_type, size = unpack_header(header)
                if size > self._max_payload:
                    _log.warning("client %s: %d-byte payload exceeds %d; closing", peer, size, self._max_payload)
                    return True
                if transport_type != self._transport_type:
                    _log.warning(
                        "client %s: transport type %d, serving %d; closing", peer, transport_type, self._transport_type
                    )
                    return True
                payload = self._read_exact(conn, size, deadline)
                if payload is None:
                    return False
            except _PeerClosed as exc:
                if exc.received or in_message:
                    _log.warning("client %s left mid-message (%s)", peer, exc)
                else:
                    _log.info("client %s disconnected", peer)
                return True
            except OSError as exc:
                _log.warning("client %s: %s; closing", peer, exc)
                return True
            reply, reply_payload = self._reply(command, payload, peer)
            try:
                conn.sendall(frame(reply, self._transport_type, reply_payload))
            except OSError as exc:
                _log.warning("client %s: cannot send the %s reply: %s", peer, _command_name(reply), exc)
                return command != Command.SHUTDOWN
            if command == Command.SHUTDOWN:
                _log.info("client %s: SHUTDOWN", peer)
                return False
            if command == Command.CONTINUE:
                _log.info("client %s: CONTINUE", peer)
                return True

    def _reply(self, command: int, payload: bytes, peer: str) -> tuple[Command, bytes]:
        if command == Command.NORMAL:
            return Command.NORMAL, self._respond(payload, peer)
        if command == Command.TEST:
            return Command.TEST, SERVER_HELLO
        if command in (Command.CONTINUE, Command.SHUTDOWN):
            return Command(command), b""
        handler = self._out_of_band.get(command)
        if handler is not None:
            try:
                handler(payload)
            except SpdmError as exc:
                _log.warning("client %s: %s refused: %s", peer, _command_name(command), exc)
                return Command.UNKNOWN, b""
            return Command(command), b""
        _log.warning("client %s: unsupported command %s", peer, _command_name(command))
        return Command.UNKNOWN, b""

    def _respond(self, payload: bytes, peer: str) -> bytes:
        """The answer to a NORMAL payload; empty when discarded, whatever went wrong."""
        try:
            response = self._respond_object(payload)
        except Exception:
            _log.exception("client %s: respond_object failed; the object is discarded", peer)
            return b""
        if response is None:
            return b""
        if self._max_response is not None and len(response) > self._max_response:
            _log.error(
                "client %s: %d-byte response exceeds the %d-byte maximum; discarded",
                peer,
                len(response),
                self._max_response,
            )
            return b""
        return bytes(response)
