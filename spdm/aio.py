"""The requester on asyncio: many devices on one event loop, no thread per device.

`AsyncRequester` drives the same sans-IO `spdm.requester.connection.Connection` as the blocking
`spdm.requester.Requester`, with the same steps as coroutines; its sessions (`AsyncSession`)
likewise. A `Send` event is awaited on an `AsyncTransport` and a `Wait` (ResponseNotReady) on the
event loop, so one loop can authenticate a rack of devices at once::

    async def check(host: str, port: int) -> AuthenticationResult:
        async with await open_connection(host, port) as transport:
            return await AsyncRequester(transport, config).authenticate(0)

    results = await asyncio.gather(*(check(host, port) for host, port in devices))

Transports: `open_connection` speaks PCIe DOE over DMTF spdm-emu's socket protocol (what `spdm
responder`, spdm_responder_emu and QEMU's spdm-socket backend speak), with the framing helpers of
`spdm.transport.socket` and `spdm.transport.doe`. `AsyncDoeTransport` runs the DOE binding over
any `AsyncDoeLink`; `ThreadedDoeLink` makes one of a blocking `spdm.transport.doe.DoeLink` (a
`spdm.transport.doe_host.DoeHostLink` on a mailbox's registers, say) by running each exchange in a
worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import ClassVar, Protocol, TypeVar

from spdm.errors import SpdmError, TransportError
from spdm.measurements import ReferenceValues
from spdm.messages import Message
from spdm.messages.codes import KeyPairOperation, SummaryHashType
from spdm.messages.events import Event, EventGroup
from spdm.messages.measurements import ALL_MEASUREMENTS
from spdm.negotiated import Negotiated
from spdm.requester.config import RequesterConfig
from spdm.requester.connection import Connection, ConnectionView
from spdm.requester.endpoint_info import EndpointInfoResult
from spdm.requester.events import Done, Operation, Wait
from spdm.requester.key_pairs import KeyPairInfoResult, SetKeyPairInfoResult
from spdm.requester.provisioning import ChainSource
from spdm.requester.results import (
    AuthenticationResult,
    ChallengeResult,
    MeasurementResult,
    MelResult,
    SetCertificateResult,
)
from spdm.requester.session_core import SessionCore, SessionView
from spdm.transport.doe import (
    MAX_DW_PADDING,
    DoeLink,
    discovery_walk,
    encode_discovery_request,
    spdm_request_object,
    spdm_response_payload,
)
from spdm.transport.socket import (
    CLIENT_HELLO,
    DEFAULT_PORT,
    HEADER_SIZE,
    MAX_PAYLOAD_BYTES,
    Command,
    SocketTransportType,
    checked_reply_header,
    frame,
)

__all__ = [
    "AsyncDoeLink",
    "AsyncDoeTransport",
    "AsyncRequester",
    "AsyncSession",
    "AsyncSocketLink",
    "AsyncTransport",
    "ThreadedDoeLink",
    "open_connection",
]

T = TypeVar("T")
_A = TypeVar("_A", bound="AsyncTransport")


class AsyncRunner(Protocol):
    """Runs an operation to its end over an async transport (`AsyncRequester` gives its sessions its own)."""

    def __call__(self, operation: Operation[T], /) -> Awaitable[T]: ...


# --- transports ---------------------------------------------------------------------------------


class AsyncTransport(ABC):
    """`spdm.transport.base.Transport` as a coroutine: one request to the peer, its response back."""

    max_padding: ClassVar[int] = 0
    """How many zero bytes may follow the SPDM message in a response (DOE: 3)."""

    @abstractmethod
    async def exchange(self, request: bytes, *, session_id: int | None = None, timeout: float | None = None) -> bytes:
        """Send `request` and return the response, as `Transport.exchange` does."""

    async def close(self) -> None:  # noqa: B027 - optional hook: some transports hold nothing
        """Release whatever the transport holds; the default holds nothing."""

    async def __aenter__(self: _A) -> _A:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()


class AsyncDoeLink(Protocol):
    """`spdm.transport.doe.DoeLink` as coroutines: whole data objects to one DOE instance and back."""

    async def exchange_object(self, obj: bytes, *, timeout: float | None = None) -> bytes: ...

    async def close(self) -> None: ...


class AsyncDoeTransport(AsyncTransport):
    """SPDM over PCIe DOE on an `AsyncDoeLink`, as `spdm.transport.doe.DoeTransport` on a `DoeLink`.

    DOE discovery is walked before the first message; SPDM travels in type-1 objects and secured
    messages in type-2 objects, each only when discovery listed it. A secured request may draw a
    type-1 answer (a responder's clear ERROR for a record it could not open). Responses keep their
    DW padding (`max_padding`): the requester decodes by SPDM lengths.
    """

    max_padding = MAX_DW_PADDING

    def __init__(self, link: AsyncDoeLink, *, discovery_version: int = 0) -> None:
        encode_discovery_request(0, discovery_version)  # range check, now rather than at first use
        self.link = link
        self._discovery_version = discovery_version
        self._protocols: tuple[tuple[int, int], ...] | None = None
        self._closed = False

    async def protocols(self) -> tuple[tuple[int, int], ...]:
        """The (vendor ID, type) pairs the instance lists, by index; discovered on first use."""
        if self._protocols is None:
            self._check_open()
            self._protocols = await self._discover()
        return self._protocols

    async def _discover(self) -> tuple[tuple[int, int], ...]:
        walk = discovery_walk(self._discovery_version)
        request = next(walk)
        while True:
            try:
                request = walk.send(await self.link.exchange_object(request))
            except StopIteration as done:
                protocols: tuple[tuple[int, int], ...] = done.value
                return protocols

    async def exchange(self, request: bytes, *, session_id: int | None = None, timeout: float | None = None) -> bytes:
        self._check_open()
        obj = spdm_request_object(request, session_id, await self.protocols())
        return spdm_response_payload(obj, await self.link.exchange_object(obj, timeout=timeout))

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError("DOE transport is closed")

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.link.close()


class AsyncSocketLink:
    """An `AsyncDoeLink` to an spdm-emu style server (`spdm responder`, spdm_responder_emu), on
    asyncio streams; the protocol is `spdm.transport.socket`'s, framed with its helpers.

    Make one with `connect` (which opens with the TEST hello, as spdm_requester_emu does).
    `timeout` (seconds, None: wait forever) bounds connecting and each round trip. A failure, a
    timeout or a cancelled round trip raises (`TransportError` but for the cancellation) and
    closes the link: the stream would be out of step. End with `shutdown()` or `continue_()`.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
        *,
        timeout: float | None = 10.0,
        transport_type: int = SocketTransportType.PCI_DOE,
        max_payload: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self._reader = reader
        self._writer: asyncio.StreamWriter | None = writer
        self._peer = peer
        self._timeout = timeout
        self._transport_type = transport_type
        self._max_payload = max_payload

    @classmethod
    async def connect(
        cls,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        timeout: float | None = 10.0,
        hello: bool = True,
        transport_type: int = SocketTransportType.PCI_DOE,
        max_payload: int = MAX_PAYLOAD_BYTES,
    ) -> AsyncSocketLink:
        peer = f"{host}:{port}"
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except ConnectionRefusedError as exc:
            raise TransportError(f"connection to {peer} refused: is the responder running?") from exc
        except asyncio.TimeoutError as exc:
            raise TransportError(f"connecting to {peer} timed out after {timeout} s") from exc
        except OSError as exc:
            raise TransportError(f"cannot connect to {peer}: {exc}") from exc
        link = cls(reader, writer, peer, timeout=timeout, transport_type=transport_type, max_payload=max_payload)
        if hello:
            try:
                await link.hello()
            except BaseException:
                await link.close()
                raise
        return link

    @property
    def closed(self) -> bool:
        return self._writer is None

    async def hello(self) -> bytes:
        """The TEST exchange; returns the server's greeting."""
        return await self._round_trip(Command.TEST, CLIENT_HELLO)

    async def exchange_object(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        """Send one DOE object in a NORMAL command and return the response object."""
        response = await self._round_trip(Command.NORMAL, bytes(obj), timeout)
        if not response:
            raise TransportError(f"{self._peer} returned no response object: the request was discarded")
        return response

    async def continue_(self) -> None:
        """CONTINUE: the server acknowledges and drops this connection, keeping its SPDM state."""
        await self._finish(Command.CONTINUE)

    async def shutdown(self) -> None:
        """SHUTDOWN: the server acknowledges and stops serving."""
        await self._finish(Command.SHUTDOWN)

    async def close(self) -> None:
        """Close the connection without telling the server."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _finish(self, command: Command) -> None:
        try:
            await self._round_trip(command, b"")
        finally:
            await self.close()

    async def _round_trip(self, command: Command, payload: bytes, timeout: float | None = None) -> bytes:
        writer = self._writer
        if writer is None:
            raise TransportError(f"link to {self._peer} is closed")
        what = f"{command.name} reply from {self._peer}"
        timeout = self._timeout if timeout is None else timeout
        try:
            reply, body = await asyncio.wait_for(self._send_and_read(writer, command, payload, what), timeout)
        except asyncio.TimeoutError as exc:
            await self.close()
            raise TransportError(f"timed out after {timeout} s waiting for the {what}") from exc
        except asyncio.IncompleteReadError as exc:
            await self.close()
            raise TransportError(f"{what}: the peer closed the connection") from exc
        except OSError as exc:
            await self.close()
            raise TransportError(f"{what}: {exc}") from exc
        except BaseException:
            await self.close()
            raise
        if reply == Command.UNKNOWN:
            raise TransportError(f"{self._peer} does not support the {command.name} command")
        if reply != command:
            await self.close()
            raise TransportError(f"{what}: got a reply of command {reply:#06x}")
        return body

    async def _send_and_read(
        self, writer: asyncio.StreamWriter, command: Command, payload: bytes, what: str
    ) -> tuple[int, bytes]:
        writer.write(frame(command, self._transport_type, payload))
        await writer.drain()
        header = await self._reader.readexactly(HEADER_SIZE)
        reply, size = checked_reply_header(header, self._transport_type, self._max_payload, what)
        return reply, await self._reader.readexactly(size)


class ThreadedDoeLink:
    """An `AsyncDoeLink` over a blocking `DoeLink`: each exchange runs in a worker thread, so the
    event loop stays free while a register-level driver polls its mailbox.

    Cancelling the awaiting task does not stop its thread: the exchange runs on and takes its own
    response, and the next exchange waits for it, so no answer goes to the wrong request.
    """

    def __init__(self, link: DoeLink) -> None:
        self.link = link
        self._turn = threading.Lock()

    async def exchange_object(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        return await asyncio.to_thread(self._exchange, obj, timeout)

    def _exchange(self, obj: bytes, timeout: float | None) -> bytes:
        with self._turn:
            return self.link.exchange_object(obj, timeout=timeout)

    async def close(self) -> None:
        self.link.close()


async def open_connection(
    host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, timeout: float | None = 10.0, hello: bool = True
) -> AsyncDoeTransport:
    """An `AsyncDoeTransport` to a device behind spdm-emu's socket protocol at `host`:`port`.

    Its link (`transport.link`, an `AsyncSocketLink`) ends the conversation: `shutdown()` stops
    the server, `continue_()` leaves it serving; `close()` just disconnects.
    """
    return AsyncDoeTransport(await AsyncSocketLink.connect(host, port, timeout=timeout, hello=hello))


# --- the requester ------------------------------------------------------------------------------


class AsyncSession(SessionView):
    """One established session of an `AsyncRequester`: `spdm.requester.Session` with coroutines
    (`send`, `heartbeat`, `key_update`, `serve_encapsulated_requests`, `get_measurements`,
    `get_measurement_extension_log`, `get_endpoint_info`, `get_csr`, `set_certificate`, `get_key_pair_info`,
    `set_key_pair_info`, `get_supported_event_types`, `subscribe_event_types`, `poll_events`, `close`,
    and ``async with``)."""

    __slots__ = ("_run",)

    def __init__(self, core: SessionCore, run: AsyncRunner) -> None:
        super().__init__(core)
        self._run = run

    async def send(self, request: Message) -> Message:
        """Send one SPDM request in the session and return its decoded response."""
        return await self._run(self.core.send(request))

    async def heartbeat(self) -> None:
        """HEARTBEAT: keeps the session alive."""
        await self._run(self.core.heartbeat())

    async def key_update(self, all_keys: bool = False) -> bool:
        """KEY_UPDATE, then VerifyNewKey; whether the responder's key changed too."""
        return await self._run(self.core.key_update(all_keys))

    async def serve_encapsulated_requests(self) -> int:
        """Answer the responder's pending encapsulated requests (its own KEY_UPDATE among them); how many."""
        return await self._run(self.core.serve_encapsulated_requests())

    async def get_supported_event_types(self) -> tuple[EventGroup, ...]:
        """The event groups (and types) the responder can notify (SPDM 1.3)."""
        return await self._run(self.core.get_supported_event_types())

    async def subscribe_event_types(self, *groups: EventGroup) -> None:
        """Subscribe to the events of `groups`, replacing the subscription; none unsubscribes."""
        await self._run(self.core.subscribe_event_types(*groups))

    async def poll_events(self) -> tuple[Event, ...]:
        """Fetch and acknowledge the responder's waiting events."""
        return await self._run(self.core.poll_events())

    async def get_measurements(
        self, operation: int = ALL_MEASUREMENTS, *, signed: bool = True, slot: int | None = None
    ) -> MeasurementResult:
        """GET_MEASUREMENTS in the session, over its own L1/L2."""
        return await self._run(self.core.get_measurements(operation, signed=signed, slot=slot))

    async def get_measurement_extension_log(self) -> MelResult:
        """The measurement extension log, read in the session."""
        return await self._run(self.core.get_measurement_extension_log())

    async def get_endpoint_info(self, *, signed: bool = True, slot: int | None = None) -> EndpointInfoResult:
        """GET_ENDPOINT_INFO in the session."""
        return await self._run(self.core.get_endpoint_info(signed=signed, slot=slot))

    async def get_csr(
        self,
        requester_info: bytes = b"",
        opaque_data: bytes = b"",
        *,
        key_pair_id: int = 0,
        cert_model: int | None = None,
        csr_tracking_tag: int = 0,
        overwrite: bool = False,
    ) -> bytes:
        """GET_CSR in the session: the device's DER CSR; `CsrResetRequired` when the device makes it
        only after a reset (see `Connection.get_csr`)."""
        operation = self.core.get_csr(
            requester_info,
            opaque_data,
            key_pair_id=key_pair_id,
            cert_model=cert_model,
            csr_tracking_tag=csr_tracking_tag,
            overwrite=overwrite,
        )
        return await self._run(operation)

    async def set_certificate(
        self, slot: int, chain: ChainSource, *, key_pair_id: int = 0, cert_model: int | None = None
    ) -> SetCertificateResult:
        """SET_CERTIFICATE in the session (any slot); ResetRequired is `reset_required` (from 1.3 only
        with CERT_INSTALL_RESET_CAP)."""
        return await self._run(self.core.set_certificate(slot, chain, key_pair_id=key_pair_id, cert_model=cert_model))

    async def get_key_pair_info(self, key_pair_id: int) -> KeyPairInfoResult:
        """GET_KEY_PAIR_INFO in the session."""
        return await self._run(self.core.get_key_pair_info(key_pair_id))

    async def set_key_pair_info(
        self,
        key_pair_id: int,
        operation: KeyPairOperation = KeyPairOperation.CHANGE,
        *,
        key_usage: int = 0,
        asym_algo: int = 0,
        slots: Iterable[int] = (),
    ) -> SetKeyPairInfoResult:
        """SET_KEY_PAIR_INFO in the session; ResetRequired is `reset_required`."""
        steps = self.core.set_key_pair_info(
            key_pair_id, operation, key_usage=key_usage, asym_algo=asym_algo, slots=slots
        )
        return await self._run(steps)

    async def close(self, *, clear_negotiated_state: bool = False) -> None:
        """END_SESSION, then the keys are discarded (also when END_SESSION fails)."""
        await self._run(self.core.close(clear_negotiated_state=clear_negotiated_state))

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc is None:
            await self.close()
            return
        with contextlib.suppress(SpdmError):  # the error already on its way out is the one that matters
            await self.close()


class AsyncRequester(ConnectionView[AsyncSession]):
    """One SPDM connection to one device over an `AsyncTransport`: `spdm.requester.Requester`'s
    steps as coroutines.

    A ResponseNotReady wait is `await sleep(seconds)` (`asyncio.sleep` unless given). The
    connection and its sessions run one request at a time (SPDM has one outstanding request):
    concurrent calls on one requester wait their turn.
    """

    def __init__(
        self,
        transport: AsyncTransport,
        config: RequesterConfig | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(Connection(config, max_padding=transport.max_padding))
        self.transport = transport
        self._sleep = sleep
        self._turn = asyncio.Lock()

    async def _run(self, operation: Operation[T]) -> T:
        """Run `operation` to its end over the transport, when no other operation of the connection runs."""
        async with self._turn:
            event = operation.next_event()
            while not isinstance(event, Done):
                try:
                    if isinstance(event, Wait):
                        await self._sleep(event.seconds)
                        response = None
                    else:
                        response = await self.transport.exchange(
                            event.request, session_id=event.session_id, timeout=event.timeout
                        )
                except BaseException as error:
                    event = operation.fail(error)
                    continue
                event = operation.resume() if response is None else operation.receive(response)
            return event.result

    def _session(self, core: SessionCore) -> AsyncSession:
        return self._adopt(AsyncSession(core, self._run))

    async def init_connection(self) -> Negotiated:
        """GET_VERSION, GET_CAPABILITIES, NEGOTIATE_ALGORITHMS: the highest common version and the algorithms."""
        return await self._run(self.connection.init_connection())

    async def get_digests(self) -> dict[int, bytes]:
        """The digest of each populated slot's certificate chain."""
        return await self._run(self.connection.get_digests())

    async def get_certificate(self, slot: int = 0) -> bytes:
        """The slot's whole SPDM-format certificate chain, read portion by portion."""
        return await self._run(self.connection.get_certificate(slot))

    async def challenge(
        self, slot: int | None = None, summary_hash_type: int = SummaryHashType.NONE
    ) -> ChallengeResult:
        """CHALLENGE: the device proves it holds the slot's private key, over the whole transcript."""
        return await self._run(self.connection.challenge(slot, summary_hash_type))

    async def get_measurements(
        self, operation: int = ALL_MEASUREMENTS, *, signed: bool = True, slot: int | None = None
    ) -> MeasurementResult:
        """GET_MEASUREMENTS of one index (1..0xFE), all (0xFF) or just the count (0)."""
        return await self._run(self.connection.get_measurements(operation, signed=signed, slot=slot))

    async def get_measurement_extension_log(self) -> MelResult:
        """The device's whole measurement extension log, parsed (SPDM 1.3)."""
        return await self._run(self.connection.get_measurement_extension_log())

    async def vendor_defined(self, standard_id: int, vendor_id: bytes, payload: bytes) -> bytes:
        """VENDOR_DEFINED_REQUEST outside a session: the payload of the VENDOR_DEFINED_RESPONSE."""
        return await self._run(self.connection.vendor_defined(standard_id, vendor_id, payload))

    async def serve_encapsulated_requests(self) -> int:
        """Answer the responder's pending encapsulated requests outside any session; how many."""
        return await self._run(self.connection.serve_encapsulated_requests())

    async def get_endpoint_info(self, *, signed: bool = True, slot: int = 0) -> EndpointInfoResult:
        """GET_ENDPOINT_INFO (SPDM 1.3): the device's EPInfo, its signature checked when `signed`."""
        return await self._run(self.connection.get_endpoint_info(signed=signed, slot=slot))

    async def get_csr(
        self,
        requester_info: bytes = b"",
        opaque_data: bytes = b"",
        *,
        key_pair_id: int = 0,
        cert_model: int | None = None,
        csr_tracking_tag: int = 0,
        overwrite: bool = False,
    ) -> bytes:
        """GET_CSR: the device's DER PKCS #10 request for its key; `CsrResetRequired` when the device
        makes it only after a reset (see `Connection.get_csr`)."""
        operation = self.connection.get_csr(
            requester_info,
            opaque_data,
            key_pair_id=key_pair_id,
            cert_model=cert_model,
            csr_tracking_tag=csr_tracking_tag,
            overwrite=overwrite,
        )
        return await self._run(operation)

    async def set_certificate(
        self, slot: int, chain: ChainSource, *, key_pair_id: int = 0, cert_model: int | None = None
    ) -> SetCertificateResult:
        """SET_CERTIFICATE: install `chain` into `slot`; ResetRequired is `reset_required` (from 1.3
        only with CERT_INSTALL_RESET_CAP)."""
        operation = self.connection.set_certificate(slot, chain, key_pair_id=key_pair_id, cert_model=cert_model)
        return await self._run(operation)

    async def get_key_pair_info(self, key_pair_id: int) -> KeyPairInfoResult:
        """GET_KEY_PAIR_INFO: one of the device's key pairs (see `Connection.get_key_pair_info`)."""
        return await self._run(self.connection.get_key_pair_info(key_pair_id))

    async def set_key_pair_info(
        self,
        key_pair_id: int,
        operation: KeyPairOperation = KeyPairOperation.CHANGE,
        *,
        key_usage: int = 0,
        asym_algo: int = 0,
        slots: Iterable[int] = (),
    ) -> SetKeyPairInfoResult:
        """SET_KEY_PAIR_INFO: change, erase or generate a key pair (see `Connection.set_key_pair_info`)."""
        operation_ = self.connection.set_key_pair_info(
            key_pair_id, operation, key_usage=key_usage, asym_algo=asym_algo, slots=slots
        )
        return await self._run(operation_)

    async def authenticate(
        self,
        slot: int | None = None,
        *,
        measurements: int | None = ALL_MEASUREMENTS,
        summary_hash_type: int = SummaryHashType.NONE,
        reference: ReferenceValues | None = None,
    ) -> AuthenticationResult:
        """VCA, digests, the slot's chain (validated), CHALLENGE, and signed measurements."""
        operation = self.connection.authenticate(
            slot, measurements=measurements, summary_hash_type=summary_hash_type, reference=reference
        )
        return await self._run(operation)

    async def key_exchange(
        self, slot: int | None = None, *, summary_hash_type: int = SummaryHashType.NONE, fetch_certificate: bool = True
    ) -> AsyncSession:
        """KEY_EXCHANGE/FINISH with the certificate chain of `slot`: an established `AsyncSession`."""
        operation = self.connection.key_exchange(
            slot, summary_hash_type=summary_hash_type, fetch_certificate=fetch_certificate
        )
        return self._session(await self._run(operation))

    async def psk_exchange(self, *, summary_hash_type: int = SummaryHashType.NONE) -> AsyncSession:
        """PSK_EXCHANGE (and PSK_FINISH) with `config.psk`: an established `AsyncSession`."""
        return self._session(await self._run(self.connection.psk_exchange(summary_hash_type=summary_hash_type)))
