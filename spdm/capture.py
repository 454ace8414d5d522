"""Classic pcap files as DMTF spdm-emu writes them, unwrapped into transport frames.

spdm-emu records one transport message per pcap record, with no direction field, under link
type 292 (PCI DOE: each record is one whole DOE data object) or 291 (MCTP: transport header,
message type byte, message). `read_pcap` bounds every length before reading it, so a hostile
file fails with a `DecodeError` rather than a huge allocation; `frames` strips the transport;
`write_pcap` writes the same header spdm-emu does, so recordings open in its spdm_dump.
"""

from __future__ import annotations

import functools
import math
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from spdm.errors import DecodeError, EncodeError
from spdm.flow import Direction, FlowDecoder, direction_of
from spdm.messages import Message
from spdm.transport import doe, mctp

__all__ = [
    "LINKTYPE_MCTP",
    "LINKTYPE_PCI_DOE",
    "MAX_RECORD_BYTES",
    "PCAP_SNAPLEN",
    "CapturedMessage",
    "Frame",
    "FrameKind",
    "Pcap",
    "PcapRecord",
    "TransportName",
    "frames",
    "messages",
    "read_pcap",
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
    """One record; `index` counts from 1, as spdm_dump numbers them."""

    index: int
    timestamp: float
    data: bytes


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

    A missing or unreadable file raises the `OSError`; malformed content a `DecodeError`.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _parse_pcap(bytes(source))
    return _parse_pcap(Path(source).read_bytes())


def _parse_pcap(data: bytes) -> Pcap:
    end = len(data)
    if end < _GLOBAL_HEADER_SIZE:
        raise DecodeError(_PCAP, "header", f"needs {_GLOBAL_HEADER_SIZE} bytes of global header, got {end}")
    (magic,) = _MAGIC.unpack_from(data, 0)
    if magic not in _MAGICS:
        hint = " (pcapng is not supported)" if magic == _PCAPNG_MAGIC else ""
        raise DecodeError(_PCAP, "magic", f"{magic:#010x} is not a classic pcap magic{hint}")
    order, units = _MAGICS[magic]
    _, major, minor, _zone, _sigfigs, snaplen, link_type = _GLOBAL[order].unpack_from(data, 0)
    if (major, minor) != _VERSION:
        raise DecodeError(_PCAP, "version", f"expected 2.4, got {major}.{minor}")
    # libpcap reads a snaplen of 0 as "no limit"; ours is MAX_RECORD_BYTES either way.
    limit = min(snaplen, MAX_RECORD_BYTES) if snaplen else MAX_RECORD_BYTES
    record_header = _RECORD[order]

    records: list[PcapRecord] = []
    offset = _GLOBAL_HEADER_SIZE
    while offset < end:
        index = len(records) + 1
        if end - offset < _RECORD_HEADER_SIZE:
            raise DecodeError(
                _PCAP,
                "record_header",
                f"record {index}: {end - offset} bytes left, a record header needs {_RECORD_HEADER_SIZE}",
            )
        ts_sec, ts_frac, incl_len, orig_len = record_header.unpack_from(data, offset)
        offset += _RECORD_HEADER_SIZE
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
        if orig_len > incl_len:
            raise DecodeError(
                _PCAP, "orig_len", f"record {index}: only {incl_len} of {orig_len} bytes were captured"
            )
        if end - offset < incl_len:
            raise DecodeError(_PCAP, "data", f"record {index}: needs {incl_len} bytes, {end - offset} left")
        records.append(
            PcapRecord(index=index, timestamp=ts_sec + ts_frac / units, data=data[offset : offset + incl_len])
        )
        offset += incl_len
    return Pcap(link_type=link_type, snaplen=snaplen, records=tuple(records))


# --- writing --------------------------------------------------------------------------------


def write_pcap(
    path_or_file: str | os.PathLike[str] | BinaryIO,
    link_type: int,
    records: Iterable[tuple[float, bytes]],
) -> None:
    """Write a classic pcap (microsecond magic, v2.4, snaplen 65536, little-endian) like spdm-emu.

    Everything is encoded before anything is written, so an `EncodeError` leaves no partial file.
    """
    data = _encode_pcap(link_type, records)
    if isinstance(path_or_file, (str, os.PathLike)):
        Path(path_or_file).write_bytes(data)
    else:
        path_or_file.write(data)


def _encode_pcap(link_type: int, records: Iterable[tuple[float, bytes]]) -> bytes:
    if isinstance(link_type, bool) or not isinstance(link_type, int) or not 0 <= link_type <= 0xFFFF_FFFF:
        raise EncodeError(_PCAP, "link_type", f"must be a 32-bit unsigned integer, got {link_type!r}")
    out = [_GLOBAL["<"].pack(_MAGIC_USEC, *_VERSION, 0, 0, PCAP_SNAPLEN, link_type)]
    record_header = _RECORD["<"]
    for number, (timestamp, payload) in enumerate(records, start=1):
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise EncodeError(_PCAP, "data", f"record {number}: must be bytes, got {type(payload).__name__}")
        if len(payload) > PCAP_SNAPLEN:
            raise EncodeError(
                _PCAP, "incl_len", f"record {number}: {len(payload)} bytes exceeds the snaplen {PCAP_SNAPLEN}"
            )
        ts_sec, ts_usec = _split_timestamp(number, timestamp)
        out.append(record_header.pack(ts_sec, ts_usec, len(payload), len(payload)))
        out.append(bytes(payload))
    return b"".join(out)


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
    (doe.PCI_SIG_VENDOR_ID, doe.DoeType.DISCOVERY): "discovery",
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

    An unsupported link type fails here, before iteration; a record that does not unwrap fails
    when reached, with a `DecodeError` whose reason names the record.
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
        try:
            kind, payload = unwrap(record.data)
        except DecodeError as exc:
            raise DecodeError(exc.message, exc.field, f"record {record.index}: {exc.reason}") from exc
        yield Frame(
            index=record.index, timestamp=record.timestamp, transport=transport, kind=kind, payload=payload
        )


# --- messages -------------------------------------------------------------------------------

_SECURED_HEADER = {"pci-doe": struct.Struct("<IH"), "mctp": struct.Struct("<IHH")}
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
    header fields of a discovery or secured record; `error` why the record did not decode.
    """

    index: int
    timestamp: float
    transport: TransportName
    kind: FrameKind
    direction: Direction | None
    data: bytes
    message: Message | None = None
    details: dict[str, int] | None = None
    error: DecodeError | None = None

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
    header = _SECURED_HEADER[transport]
    if len(payload) < header.size:
        raise DecodeError("SECURED_MESSAGE", "header", f"truncated: {len(payload)} bytes, need {header.size}")
    fields = header.unpack_from(payload)
    if transport == "mctp":
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
    flow = FlowDecoder()
    discovery_next = Direction.REQUEST
    last = Direction.RESPONSE
    for record in pcap.records:
        item = functools.partial(
            CapturedMessage, index=record.index, timestamp=record.timestamp, transport=transport
        )
        try:
            kind, payload = unwrap(record.data)
        except DecodeError as error:
            yield item(kind="other", direction=None, data=record.data, error=error)
            continue
        direction: Direction | None = None
        try:
            if kind == "spdm":
                direction = last = direction_of(payload)
                msg, exact = flow.decode(payload, padded=transport == "pci-doe")
                yield item(kind=kind, direction=direction, data=exact, message=msg)
                continue
            details = None
            if kind == "discovery":
                direction, discovery_next = discovery_next, discovery_next.opposite
                details = _discovery(payload, direction)
            elif kind == "secured":
                direction = last = last.opposite
                details = _secured(payload, transport)
            yield item(kind=kind, direction=direction, data=payload, details=details)
        except DecodeError as error:
            yield item(kind=kind, direction=direction, data=payload, error=error)
