"""Classic pcap files as DMTF spdm-emu writes them, unwrapped into transport frames.

spdm-emu records one transport message per pcap record, with no direction field, under link
type 292 (PCI DOE: each record is one whole DOE data object) or 291 (MCTP: transport header,
message type byte, message). `read_pcap` bounds every length before reading it, so a hostile
file fails with a `DecodeError` rather than a huge allocation; `frames` strips the transport;
`write_pcap` writes the same header spdm-emu does, so recordings open in its spdm_dump.

Recording: `CaptureWriter` streams such a file as an exchange happens; `RecordingLink` taps a
`DoeLink` (every DOE object, discovery included), `RecordingTransport` any other transport, and
`tap_objects` a `SocketServer`'s `respond_object` on the device side. `SecretsLog` keeps the
sidecar of secrets (`CaptureSecrets`: PSK, DHE secrets in session order, requester chain) that
opens the capture's sessions, for `spdm verify`, `spdm dump` and DMTF's spdm_dump.
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal

from spdm.errors import DecodeError, EncodeError, ProtocolError
from spdm.flow import Carried, Direction, FlowDecoder, direction_of, stands_for
from spdm.messages import Message
from spdm.messages.certificates import SLOT_COUNT
from spdm.session.secured import secured_transport
from spdm.transport import doe, mctp
from spdm.transport.base import Transport, is_secured_answer
from spdm.transport.doe import DoeLink

__all__ = [
    "LINKTYPE_MCTP",
    "LINKTYPE_PCI_DOE",
    "MAX_RECORD_BYTES",
    "PCAP_SNAPLEN",
    "CaptureSecrets",
    "CaptureWriter",
    "CapturedMessage",
    "Frame",
    "FrameKind",
    "Pcap",
    "PcapRecord",
    "RecordingLink",
    "RecordingTransport",
    "RespondObject",
    "SecretsLog",
    "TransportName",
    "exchanged",
    "frames",
    "messages",
    "read_pcap",
    "tap_objects",
    "write_pcap",
]

LINKTYPE_MCTP = 291
LINKTYPE_PCI_DOE = 292

MAX_RECORD_BYTES = (1 << 20) + 8
"""Largest record accepted whatever the file's snaplen says: a maximal DOE object (1 MiB) with
room for a link-layer header. The transport decoders enforce their exact limits afterwards."""

PCAP_SNAPLEN = 65536
"""The snaplen spdm-emu writes, and so does `write_pcap`."""

TransportName = Literal["pci-doe", "mctp"]
FrameKind = Literal["discovery", "spdm", "secured", "other"]

_PCAP = "PCAP"
_VERSION = (2, 4)
_GLOBAL_HEADER_SIZE = 24
_RECORD_HEADER_SIZE = 16
_MAGIC_USEC = 0xA1B2C3D4
_MAGIC_NSEC = 0xA1B23C4D
_PCAPNG_MAGIC = 0x0A0D0D0A

_MAGIC = struct.Struct("<I")
_GLOBAL = {"<": struct.Struct("<IHHiIII"), ">": struct.Struct(">IHHiIII")}
_RECORD = {"<": struct.Struct("<IIII"), ">": struct.Struct(">IIII")}

# magic as read little-endian -> (byte order of the file, fractions of a second per unit)
_MAGICS: dict[int, tuple[Literal["<", ">"], int]] = {
    _MAGIC_USEC: ("<", 1_000_000),
    _MAGIC_NSEC: ("<", 1_000_000_000),
    int.from_bytes(_MAGIC_USEC.to_bytes(4, "little"), "big"): (">", 1_000_000),
    int.from_bytes(_MAGIC_NSEC.to_bytes(4, "little"), "big"): (">", 1_000_000_000),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PcapRecord:
    """One record; `index` counts from 1, as spdm_dump numbers them.

    `orig_len` is the record's length when the capture cut it short (pcap's orig_len over its
    incl_len: spdm-emu cuts a record at the snaplen); None when `data` is the whole record.
    """

    index: int
    timestamp: float
    data: bytes
    orig_len: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pcap:
    """A whole capture: its link type and snaplen, and every record in file order."""

    link_type: int
    snaplen: int
    records: tuple[PcapRecord, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """A record with its transport stripped.

    `payload` is the DOE object payload (still DW-padded) or what follows the MCTP message type
    byte. `kind` says what it carries; "other" is a foreign DOE vendor/type or MCTP message type,
    passed on undecoded.
    """

    index: int
    timestamp: float
    transport: TransportName
    kind: FrameKind
    payload: bytes


# --- reading --------------------------------------------------------------------------------


def read_pcap(source: str | os.PathLike[str] | bytes) -> Pcap:
    """Parse a classic pcap file, given by path or as its bytes (bytes are content, not a path).

    A file is read as it is parsed: the global header first, then each record once its header
    has bounded its length, so a file that is no capture (/dev/zero) fails at its first bytes.
    A missing or unreadable file raises the `OSError`; malformed content a `DecodeError`.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _parse_pcap(io.BytesIO(source))
    with open(source, "rb") as file:
        return _parse_pcap(file)


def _parse_pcap(file: BinaryIO) -> Pcap:
    header = file.read(_GLOBAL_HEADER_SIZE)
    if len(header) < _GLOBAL_HEADER_SIZE:
        raise DecodeError(_PCAP, "header", f"needs {_GLOBAL_HEADER_SIZE} bytes of global header, got {len(header)}")
    (magic,) = _MAGIC.unpack_from(header, 0)
    if magic not in _MAGICS:
        hint = " (pcapng is not supported)" if magic == _PCAPNG_MAGIC else ""
        raise DecodeError(_PCAP, "magic", f"{magic:#010x} is not a classic pcap magic{hint}")
    order, units = _MAGICS[magic]
    _, major, minor, _zone, _sigfigs, snaplen, link_type = _GLOBAL[order].unpack(header)
    if (major, minor) != _VERSION:
        raise DecodeError(_PCAP, "version", f"expected 2.4, got {major}.{minor}")
    # libpcap reads a snaplen of 0 as "no limit"; ours is MAX_RECORD_BYTES either way.
    limit = min(snaplen, MAX_RECORD_BYTES) if snaplen else MAX_RECORD_BYTES
    record_header = _RECORD[order]

    records: list[PcapRecord] = []
    while head := file.read(_RECORD_HEADER_SIZE):
        index = len(records) + 1
        if len(head) < _RECORD_HEADER_SIZE:
            raise DecodeError(
                _PCAP,
                "record_header",
                f"record {index}: {len(head)} bytes left, a record header needs {_RECORD_HEADER_SIZE}",
            )
        ts_sec, ts_frac, incl_len, orig_len = record_header.unpack(head)
        if incl_len > limit:
            raise DecodeError(
                _PCAP,
                "incl_len",
                f"record {index}: {incl_len} bytes exceeds the limit of {limit} "
                f"(snaplen {snaplen}, maximum {MAX_RECORD_BYTES})",
            )
        if orig_len < incl_len:
            raise DecodeError(
                _PCAP, "orig_len", f"record {index}: {orig_len} is less than incl_len {incl_len}"
            )
        data = file.read(incl_len)
        if len(data) < incl_len:
            raise DecodeError(_PCAP, "data", f"record {index}: needs {incl_len} bytes, {len(data)} left")
        records.append(
            PcapRecord(
                index=index,
                timestamp=ts_sec + ts_frac / units,
                data=data,
                orig_len=orig_len if orig_len > incl_len else None,
            )
        )
    return Pcap(link_type=link_type, snaplen=snaplen, records=tuple(records))


def _truncation(record: PcapRecord) -> DecodeError | None:
    """Why a record cut short cannot be decoded (the message lies partly outside the capture); None if whole."""
    if record.orig_len is None:
        return None
    return DecodeError(
        _PCAP, "orig_len", f"record {record.index}: only {len(record.data)} of {record.orig_len} bytes were captured"
    )


# --- writing --------------------------------------------------------------------------------


def write_pcap(
    path_or_file: str | os.PathLike[str] | BinaryIO,
    link_type: int,
    records: Iterable[tuple[float, bytes]],
) -> None:
    """Write a classic pcap (microsecond magic, v2.4, snaplen 65536, little-endian) like spdm-emu.

    A record over the snaplen is cut to it (orig_len keeps its length), as spdm-emu does.
    Everything is encoded before anything is written, so an `EncodeError` leaves no partial file.
    """
    data = _encode_pcap(link_type, records)
    if isinstance(path_or_file, (str, os.PathLike)):
        Path(path_or_file).write_bytes(data)
    else:
        path_or_file.write(data)


def _encode_pcap(link_type: int, records: Iterable[tuple[float, bytes]]) -> bytes:
    out = [_encode_header(link_type)]
    for number, (timestamp, payload) in enumerate(records, start=1):
        out.append(_encode_record(number, timestamp, payload))
    return b"".join(out)


def _encode_header(link_type: int) -> bytes:
    if isinstance(link_type, bool) or not isinstance(link_type, int) or not 0 <= link_type <= 0xFFFF_FFFF:
        raise EncodeError(_PCAP, "link_type", f"must be a 32-bit unsigned integer, got {link_type!r}")
    return _GLOBAL["<"].pack(_MAGIC_USEC, *_VERSION, 0, 0, PCAP_SNAPLEN, link_type)


def _encode_record(number: int, timestamp: float, payload: bytes) -> bytes:
    """Record `number` (counted from 1, for messages): its 16-byte header and its data.

    Data over the snaplen is cut to it, orig_len keeping its length, as spdm-emu's
    append_pcap_packet_data (pcap.c) does: a recording never refuses what the exchange carries.
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise EncodeError(_PCAP, "data", f"record {number}: must be bytes, got {type(payload).__name__}")
    ts_sec, ts_usec = _split_timestamp(number, timestamp)
    captured = bytes(payload[:PCAP_SNAPLEN])
    return _RECORD["<"].pack(ts_sec, ts_usec, len(captured), len(payload)) + captured


def _split_timestamp(number: int, timestamp: float) -> tuple[int, int]:
    """(seconds, microseconds), rounded to the microsecond, within the 32-bit seconds field."""
    if not isinstance(timestamp, (int, float)) or not math.isfinite(timestamp) or timestamp < 0:
        raise EncodeError(
            _PCAP, "timestamp", f"record {number}: must be a finite number >= 0, got {timestamp!r}"
        )
    ts_sec = int(timestamp)
    ts_usec = round((timestamp - ts_sec) * 1_000_000)
    if ts_usec == 1_000_000:
        ts_sec, ts_usec = ts_sec + 1, 0
    if ts_sec > 0xFFFF_FFFF:
        raise EncodeError(_PCAP, "timestamp", f"record {number}: {timestamp!r} does not fit 32-bit seconds")
    return ts_sec, ts_usec


# --- transport unwrapping -------------------------------------------------------------------

_DOE_KINDS: dict[tuple[int, int], FrameKind] = {
    doe.DISCOVERY_PROTOCOL: "discovery",
    (doe.PCI_SIG_VENDOR_ID, doe.DoeType.CMA_SPDM): "spdm",
    (doe.PCI_SIG_VENDOR_ID, doe.DoeType.SECURED_CMA_SPDM): "secured",
}
_MCTP_KINDS: dict[int, FrameKind] = {
    mctp.MCTP_TYPE_SPDM: "spdm",
    mctp.MCTP_TYPE_SECURED_SPDM: "secured",
}


def _unwrap_doe(data: bytes) -> tuple[FrameKind, bytes]:
    obj = doe.decode_object(data)
    return _DOE_KINDS.get((obj.vendor_id, obj.object_type), "other"), obj.payload


def _unwrap_mctp(data: bytes) -> tuple[FrameKind, bytes]:
    frame = mctp.decode_mctp_record(data)
    return _MCTP_KINDS.get(frame.message_type, "other"), frame.payload


_Unwrap = Callable[[bytes], tuple[FrameKind, bytes]]
_UNWRAPPERS: dict[int, tuple[TransportName, _Unwrap]] = {
    LINKTYPE_PCI_DOE: ("pci-doe", _unwrap_doe),
    LINKTYPE_MCTP: ("mctp", _unwrap_mctp),
}


def frames(pcap: Pcap) -> Iterator[Frame]:
    """Each record with its transport stripped, lazily, in file order.

    An unsupported link type fails here, before iteration; a record that does not unwrap (or was
    cut short) fails when reached, with a `DecodeError` whose reason names the record.
    """
    entry = _UNWRAPPERS.get(pcap.link_type)
    if entry is None:
        raise DecodeError(
            _PCAP,
            "link_type",
            f"{pcap.link_type} is neither PCI DOE ({LINKTYPE_PCI_DOE}) nor MCTP ({LINKTYPE_MCTP})",
        )
    transport, unwrap = entry
    return _frames(pcap.records, transport, unwrap)


def _frames(records: Iterable[PcapRecord], transport: TransportName, unwrap: _Unwrap) -> Iterator[Frame]:
    for record in records:
        truncated = _truncation(record)
        if truncated is not None:
            raise truncated
        try:
            kind, payload = unwrap(record.data)
        except DecodeError as exc:
            raise DecodeError(exc.message, exc.field, f"record {record.index}: {exc.reason}") from exc
        yield Frame(
            index=record.index, timestamp=record.timestamp, transport=transport, kind=kind, payload=payload
        )


# --- messages -------------------------------------------------------------------------------

_OTHER_CODES: dict[FrameKind, str] = {
    "discovery": "DOE_DISCOVERY",
    "secured": "SECURED_MESSAGE",
    "other": "OTHER",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CapturedMessage:
    """One record of a capture, decoded as far as it goes.

    `data` is the exact SPDM message (DOE padding removed using the message's own lengths) for
    kind "spdm", else the frame payload. `message` is the decoded SPDM message; `details` the
    header fields of a discovery or secured record; `error` why the record did not decode (or,
    for a chunk message, why it does not continue its transfer). `carried` is the large message a
    chunk message completes, or the response a CHUNK_SEND_ACK carries (`spdm.flow.stands_for`).
    """

    index: int
    timestamp: float
    transport: TransportName
    kind: FrameKind
    direction: Direction | None
    data: bytes
    message: Message | None = None
    details: dict[str, int] | None = None
    error: DecodeError | ProtocolError | None = None
    carried: Carried | None = None

    @property
    def code(self) -> str:
        """The SPDM message name, or DOE_DISCOVERY / SECURED_MESSAGE / OTHER."""
        if self.message is not None:
            return self.message.name
        if self.kind == "spdm":
            return "UNDECODED"
        return _OTHER_CODES[self.kind]


def _discovery(payload: bytes, direction: Direction) -> dict[str, int]:
    if direction is Direction.REQUEST:
        request = doe.decode_discovery_request(payload)
        return {"index": request.index, "version": request.version}
    response = doe.decode_discovery_response(payload)
    return {"vendor_id": response.vendor_id, "object_type": response.object_type, "next_index": response.next_index}


def _secured(payload: bytes, transport: TransportName) -> dict[str, int]:
    framing = secured_transport(transport)
    header = framing.header
    if len(payload) < header.size:
        raise DecodeError("SECURED_MESSAGE", "header", f"truncated: {len(payload)} bytes, need {header.size}")
    fields = header.unpack_from(payload)
    if framing.sequence_number_size:
        return {"session_id": fields[0], "sequence_number": fields[1], "length": fields[2]}
    return {"session_id": fields[0], "length": fields[1]}


def messages(pcap: Pcap) -> Iterator[CapturedMessage]:
    """Every record, direction-tagged and decoded, in file order; one that fails carries its error.

    spdm-emu records no direction: SPDM requests have bit 7 of the code set, DOE discovery
    requests and responses alternate, and a secured record travels opposite to the message
    before it.
    """
    entry = _UNWRAPPERS.get(pcap.link_type)
    if entry is None:
        raise DecodeError(_PCAP, "link_type", f"{pcap.link_type} is neither PCI DOE nor MCTP")
    transport, unwrap = entry
    max_padding = doe.MAX_DW_PADDING if transport == "pci-doe" else 0
    flow = FlowDecoder()
    discovery_next = Direction.REQUEST
    last = Direction.RESPONSE
    for record in pcap.records:
        item = functools.partial(
            CapturedMessage, index=record.index, timestamp=record.timestamp, transport=transport
        )
        truncated = _truncation(record)
        if truncated is not None:
            yield item(kind="other", direction=None, data=record.data, error=truncated)
            continue
        try:
            kind, payload = unwrap(record.data)
        except DecodeError as error:
            yield item(kind="other", direction=None, data=record.data, error=error)
            continue
        direction: Direction | None = None
        try:
            if kind == "spdm":
                direction = last = direction_of(payload)
                msg, exact = flow.decode(payload, max_padding=max_padding)
                yield item(kind=kind, direction=direction, data=exact, message=msg, carried=flow.carried)
                continue
            details = None
            if kind == "discovery":
                direction, discovery_next = discovery_next, discovery_next.opposite
                details = _discovery(payload, direction)
            elif kind == "secured":
                direction = last = last.opposite
                details = _secured(payload, transport)
            yield item(kind=kind, direction=direction, data=payload, details=details)
        except (DecodeError, ProtocolError) as error:
            yield item(kind=kind, direction=direction, data=payload, error=error)


def exchanged(item: CapturedMessage) -> CapturedMessage | None:
    """A clear SPDM record as the exchange saw it (`spdm.flow.stands_for`): a chunk message that
    completes a large message stands for it, the rest of a transfer for nothing."""
    if item.message is None:
        return item
    seen = stands_for(item.message, item.data, item.carried)
    if seen is None:
        return None
    message, data = seen
    return replace(item, message=message, data=data, carried=None)


# --- recording ------------------------------------------------------------------------------

RespondObject = Callable[[bytes], "bytes | None"]
"""What `spdm.transport.socket.SocketServer` serves: one transport object in, its answer (or None) out."""


class CaptureWriter:
    """A pcap file written as the exchange happens, in the format spdm-emu writes.

    The global header (microsecond magic, v2.4, snaplen 65536, little-endian) is written at once,
    then `write` appends one record per transport message and flushes it, so a capture cut short
    (a killed server) still holds every record written. One lock guards each record: a socket
    server's thread and a client in the same process may share a writer.

    `target` is a path (created or truncated, closed by `close`) or an open binary file (flushed,
    left open). `clock()` gives each record's timestamp in seconds since the epoch; inject a
    counter for byte-reproducible files. A record over the snaplen is cut to it, as spdm-emu does
    (`read_pcap` gives it an `orig_len`; it does not decode), so recording never changes an exchange.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | BinaryIO,
        link_type: int = LINKTYPE_PCI_DOE,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        header = _encode_header(link_type)
        self._owned = isinstance(target, (str, os.PathLike))
        self._file: BinaryIO | None = open(target, "wb") if isinstance(target, (str, os.PathLike)) else target  # noqa: SIM115 - kept open until close()
        self._link_type = link_type
        self._clock = clock
        self._count = 0
        self._lock = threading.Lock()
        self._file.write(header)
        self._file.flush()

    @property
    def link_type(self) -> int:
        return self._link_type

    @property
    def records(self) -> int:
        """How many records have been written."""
        return self._count

    @property
    def closed(self) -> bool:
        return self._file is None

    def write(self, data: bytes, timestamp: float | None = None) -> None:
        """Append one record (a whole transport message) and flush it; `timestamp` defaults to `clock()`."""
        with self._lock:
            file = self._file
            if file is None:
                raise ValueError("the capture writer is closed")
            record = _encode_record(self._count + 1, self._clock() if timestamp is None else timestamp, data)
            file.write(record)
            file.flush()
            self._count += 1

    def close(self) -> None:
        """Close the file if the writer opened it (else flush it); closing twice does nothing."""
        with self._lock:
            file, self._file = self._file, None
            if file is not None:
                if self._owned:
                    file.close()
                else:
                    file.flush()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _require_link_type(writer: CaptureWriter, *allowed: int) -> None:
    if writer.link_type not in allowed:
        names = " or ".join(str(link) for link in allowed)
        raise ValueError(f"the writer records link type {writer.link_type}; this recorder writes {names}")


class RecordingLink:
    """A `DoeLink` that records every request object and every response object on the way through.

    The records are whole DOE objects (discovery included), exactly what spdm-emu's PCI DOE
    captures hold, so the writer must be of link type 292. The request is recorded before it is
    sent, the response when it arrives; a failed exchange leaves just its request. `close` closes
    the inner link, not the writer (its owner closes it).
    """

    def __init__(self, link: DoeLink, writer: CaptureWriter) -> None:
        _require_link_type(writer, LINKTYPE_PCI_DOE)
        self._link = link
        self._writer = writer

    @property
    def link(self) -> DoeLink:
        """The link being recorded."""
        return self._link

    def exchange_object(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        self._writer.write(bytes(obj))
        response = self._link.exchange_object(obj, timeout=timeout)
        self._writer.write(bytes(response))
        return response

    def close(self) -> None:
        self._link.close()


class RecordingTransport(Transport):
    """Any unpadded `Transport` (a loopback, an MCTP binding), its messages recorded as spdm-emu frames them.

    With a link type 292 writer each message is recorded as the DOE object that would carry it
    (type 1, or type 2 for secured messages); with 291 as an MCTP record (spdm-emu's transport
    header, message type 0x05 or 0x06, the message). A clear answer to a secured request (an ERROR
    for a record the responder could not open) is recorded as clear SPDM. Record DOE transports
    at their link (`RecordingLink`), where discovery and padding are seen: a transport that pads
    its responses is refused here. `close` closes the inner transport, not the writer.
    """

    def __init__(self, transport: Transport, writer: CaptureWriter) -> None:
        _require_link_type(writer, LINKTYPE_PCI_DOE, LINKTYPE_MCTP)
        if transport.max_padding:
            raise ValueError(f"{type(transport).__name__} pads its responses: record its DoeLink with RecordingLink")
        self._transport = transport
        self._writer = writer

    @property
    def transport(self) -> Transport:
        """The transport being recorded."""
        return self._transport

    def exchange(self, request: bytes, *, session_id: int | None = None, timeout: float | None = None) -> bytes:
        secured = session_id is not None
        self._writer.write(self._frame(bytes(request), secured))
        response = self._transport.exchange(request, session_id=session_id, timeout=timeout)
        self._writer.write(self._frame(bytes(response), secured and is_secured_answer(request, response)))
        return response

    def _frame(self, message: bytes, secured: bool) -> bytes:
        if self._writer.link_type == LINKTYPE_MCTP:
            return mctp.encode_mctp_record(mctp.MCTP_TYPE_SECURED_SPDM if secured else mctp.MCTP_TYPE_SPDM, message)
        return doe.encode_object(doe.DoeType.SECURED_CMA_SPDM if secured else doe.DoeType.CMA_SPDM, message)

    def close(self) -> None:
        self._transport.close()


def tap_objects(respond_object: RespondObject, writer: CaptureWriter) -> RespondObject:
    """A server-side tap: `respond_object` (what `SocketServer` serves) recording each object and its answer.

    With link type 292 the socket payloads are whole DOE objects and are recorded as they are;
    with 291 they start at the MCTP message type byte (spdm-emu's socket framing) and get
    spdm-emu's 4-byte transport header in the capture. A discarded object (None) leaves just the
    request, as in spdm-emu's captures; an exception from `respond_object` propagates unrecorded.
    """
    _require_link_type(writer, LINKTYPE_PCI_DOE, LINKTYPE_MCTP)
    prefix = mctp.EMU_TRANSPORT_HEADER if writer.link_type == LINKTYPE_MCTP else b""

    def tapped(obj: bytes) -> bytes | None:
        writer.write(prefix + bytes(obj))
        response = respond_object(obj)
        if response is not None:
            writer.write(prefix + bytes(response))
        return response

    return tapped


# --- the secrets sidecar --------------------------------------------------------------------

_SIDECAR = "SECRETS"
_SIDECAR_KEYS = frozenset({"psk", "psk_hint", "dhe_secrets", "session_ids", "requester_chain", "responder_chains"})


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureSecrets:
    """What an observer needs to open a capture's sessions: what the replay takes, and the sidecar
    JSON a recording writes.

    `dhe_secrets` are the DHE shared secrets in session order (with the SessionID of each in
    `session_ids`, for people), `psk`/`psk_hint` the pre-shared key of PSK sessions,
    `requester_chain` the requester's certificates (DER, root first) when mutual authentication
    used a chain that never crossed the wire. `responder_chains` (slot -> chain in SPDM slot
    format) stands in for chains the capture did not fetch (taken, and validated, as if read when
    VCA completes: `spdm.verify.follower.ConnectionFollower`); the sidecar lists it only when given.
    These are the arguments of `spdm verify`/`spdm dump` (`--psk`, `--dhe-secret`,
    `--req-cert-chain`) and of DMTF's spdm_dump (`--psk`, `--dhe_secret`).
    Anyone holding them can decrypt the capture.
    """

    psk: bytes | None = field(default=None, repr=False)
    psk_hint: bytes = b""
    dhe_secrets: tuple[bytes, ...] = field(default=(), repr=False)
    session_ids: tuple[int, ...] = ()
    requester_chain: tuple[bytes, ...] = ()
    responder_chains: Mapping[int, bytes] = field(default_factory=dict)

    def to_json(self) -> str:
        document: dict[str, object] = {
            "psk": None if self.psk is None else self.psk.hex(),
            "psk_hint": self.psk_hint.hex(),
            "dhe_secrets": [secret.hex() for secret in self.dhe_secrets],
            "session_ids": list(self.session_ids),
            "requester_chain": [certificate.hex() for certificate in self.requester_chain],
        }
        if self.responder_chains:
            chains = sorted(self.responder_chains.items())
            document["responder_chains"] = {str(slot): chain.hex() for slot, chain in chains}
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> CaptureSecrets:
        """Parse a sidecar; anything malformed is a `DecodeError`."""
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as error:  # RecursionError: nesting deeper than the parser goes
            raise DecodeError(_SIDECAR, "json", str(error)) from None
        if not isinstance(document, dict) or not set(document) <= _SIDECAR_KEYS:
            raise DecodeError(_SIDECAR, "keys", f"an object with keys among {sorted(_SIDECAR_KEYS)}")
        psk = document.get("psk")
        session_ids = document.get("session_ids", [])
        if not isinstance(session_ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i <= 0xFFFF_FFFF for i in session_ids
        ):
            raise DecodeError(_SIDECAR, "session_ids", "a list of 32-bit SessionIDs")
        return cls(
            psk=None if psk is None else _hex_field("psk", psk),
            psk_hint=_hex_field("psk_hint", document.get("psk_hint", "")),
            dhe_secrets=_hex_list("dhe_secrets", document.get("dhe_secrets", [])),
            session_ids=tuple(session_ids),
            requester_chain=_hex_list("requester_chain", document.get("requester_chain", [])),
            responder_chains=_slot_chains(document.get("responder_chains", {})),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CaptureSecrets:
        """Read a sidecar file (an `OSError` if it cannot be read, a `DecodeError` if malformed)."""
        return cls.from_json(Path(path).read_bytes())


def _hex_field(field: str, value: object) -> bytes:
    if not isinstance(value, str):
        raise DecodeError(_SIDECAR, field, "must be a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise DecodeError(_SIDECAR, field, "is not a hex string") from None


def _hex_list(field: str, value: object) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        raise DecodeError(_SIDECAR, field, "must be a list of hex strings")
    return tuple(_hex_field(field, item) for item in value)


def _slot_chains(value: object) -> dict[int, bytes]:
    slots = [str(slot) for slot in range(SLOT_COUNT)]
    if not isinstance(value, dict) or not set(value) <= set(slots):
        raise DecodeError(_SIDECAR, "responder_chains", f"must map slots {slots[0]} to {slots[-1]} to hex strings")
    return {int(slot): _hex_field("responder_chains", chain) for slot, chain in value.items()}


class SecretsLog:
    """The secrets sidecar of a recording, kept on disk as secrets appear (written only with the user's consent).

    The file is rewritten whole (through a temporary file and a rename) at construction and after
    each `add_dhe_secret`, so it is complete whenever the recording stops. It holds keys, so it is
    readable by its owner alone (mode 0600), and the temporary file is a fresh one (`mkstemp`), never
    a name another user could have placed first. `add_dhe_secret` has the shape of
    `RequesterConfig.on_dhe_secret` / `ResponderConfig.on_dhe_secret`, and is thread-safe.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        psk: bytes | None = None,
        psk_hint: bytes = b"",
        requester_chain: tuple[bytes, ...] = (),
    ) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._secrets = CaptureSecrets(psk=psk, psk_hint=psk_hint, requester_chain=tuple(requester_chain))
        self._save()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def secrets(self) -> CaptureSecrets:
        """What has been logged so far."""
        return self._secrets

    def add_dhe_secret(self, session_id: int, secret: bytes) -> None:
        """Log one session's DHE shared secret (sessions in the order they were set up)."""
        with self._lock:
            current = self._secrets
            self._secrets = replace(
                current,
                dhe_secrets=(*current.dhe_secrets, bytes(secret)),
                session_ids=(*current.session_ids, session_id),
            )
            self._save()

    def _save(self) -> None:
        # mkstemp creates the file with O_EXCL and mode 0600, in the sidecar's folder so the rename stays atomic
        descriptor, temporary = tempfile.mkstemp(prefix=f".{self._path.name}.", dir=self._path.parent)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(self._secrets.to_json())
            os.replace(temporary, self._path)
        except BaseException:
            os.unlink(temporary)
            raise
