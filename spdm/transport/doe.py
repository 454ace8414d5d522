"""PCIe Data Object Exchange (DOE) data objects, the framing CMA/SPDM travels in over PCIe.

Every SPDM message and every secured record crosses this layer, so it is written by hand on
precompiled `struct.Struct`s (no construct): lengths are checked explicitly before anything is
read, and any malformed input becomes a `DecodeError` naming the offending field.

Layout (little-endian DWORDs)::

    DW0  [15:0] vendor ID   [23:16] data object type   [31:24] reserved (0)
    DW1  [17:0] length in DW, including this 2-DW header; 0 means 2^18   [31:18] reserved (0)
    DW2.. payload, zero-padded to a whole DW

Decoding keeps the padding: only the SPDM layer knows the true message length, from its own
fields. A live host or device reads an object's fields and ignores the reserved bits
(`read_header`, `read_object`); a capture is checked strictly (`decode_header`, `decode_object`).

On top of the codecs sit the two ends of the CMA/SPDM binding: `DoeTransport` (requester side:
discovery, then SPDM in type-1 and secured messages in type-2 objects, over any `DoeLink` that
moves whole objects) and `DoeMailboxResponder` (device side: answers discovery itself and hands
SPDM payloads to a responder's `respond` callable; transports never import the responder).
"""

from __future__ import annotations

import struct
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple, NoReturn, Protocol

from spdm.errors import DecodeError, EncodeError, TransportError
from spdm.transport.base import Respond, Transport, check_session_prefix, is_secured_answer

__all__ = [
    "CMA_PROTOCOLS",
    "DISCOVERY_PROTOCOL",
    "HEADER_DWORDS",
    "HEADER_SIZE",
    "MAX_DW_PADDING",
    "MAX_OBJECT_BYTES",
    "MAX_OBJECT_DWORDS",
    "MAX_PAYLOAD_BYTES",
    "PCI_SIG_VENDOR_ID",
    "DataObject",
    "DiscoveryRequest",
    "DiscoveryResponse",
    "DoeHeader",
    "DoeLink",
    "DoeMailboxResponder",
    "DoeTransport",
    "DoeType",
    "decode_discovery_request",
    "decode_discovery_response",
    "decode_header",
    "decode_object",
    "discovery_response_object",
    "discovery_walk",
    "encode_discovery_request",
    "encode_discovery_response",
    "encode_object",
    "expect_type",
    "is_protocol",
    "read_discovery_request",
    "read_discovery_response",
    "read_header",
    "read_object",
    "spdm_request_object",
    "spdm_response_payload",
]

PCI_SIG_VENDOR_ID = 0x0001
"""Vendor ID of the PCI-SIG, owner of the discovery, CMA/SPDM and secured CMA/SPDM types."""

MAX_OBJECT_DWORDS = 1 << 18
"""Largest data object, header included; written as 0 in the 18-bit length field."""

HEADER_DWORDS = 2
HEADER_SIZE = 4 * HEADER_DWORDS
MAX_OBJECT_BYTES = 4 * MAX_OBJECT_DWORDS
MAX_PAYLOAD_BYTES = MAX_OBJECT_BYTES - HEADER_SIZE
MAX_DW_PADDING = 3
"""An object is whole DWORDs: up to this many zero bytes follow the SPDM message in it."""


class DoeType(IntEnum):
    """Data object types the PCI-SIG defines under its own vendor ID (that this library uses)."""

    DISCOVERY = 0
    CMA_SPDM = 1
    SECURED_CMA_SPDM = 2


_HEADER = struct.Struct("<II")
_DWORD = struct.Struct("<I")

_VENDOR_ID_BITS = 16
_OBJECT_TYPE_BITS = 8
_DW0_RESERVED = 0xFF00_0000
_DW1_LENGTH = 0x0003_FFFF
_DW1_RESERVED = 0xFFFC_0000
_DISCOVERY_REQUEST_RESERVED = 0xFFFF_0000

_DOE = "DOE"
_DISCOVERY_REQUEST = "DOE_DISCOVERY_REQUEST"
_DISCOVERY_RESPONSE = "DOE_DISCOVERY_RESPONSE"


class DoeHeader(NamedTuple):
    """The 2-DW header; `length_dw` is the decoded length (a field of 0 reads as 2^18).

    A named tuple, not a dataclass: it is made for every object on the data path.
    """

    vendor_id: int
    object_type: int
    length_dw: int

    @property
    def size(self) -> int:
        """Whole object size in bytes, header included: what a mailbox reader must collect."""
        return 4 * self.length_dw


@dataclass(frozen=True, slots=True, kw_only=True)
class DataObject:
    """A decoded data object; `payload` is everything after the header, padding included."""

    vendor_id: int
    object_type: int
    payload: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoveryRequest:
    """DOE Discovery request: which entry of the protocol table to report."""

    index: int
    version: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoveryResponse:
    """DOE Discovery response: one supported (vendor, type), and the index to ask next (0: done)."""

    vendor_id: int
    object_type: int
    next_index: int


def _uint(message: str, field: str, value: int, bits: int) -> int:
    """`value` if it fits an unsigned field of `bits` bits, else the EncodeError that says so."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise EncodeError(message, field, f"must be an integer in [0, {(1 << bits) - 1:#x}], got {value!r}")
    return value


def is_protocol(vendor_id: object, object_type: object) -> bool:
    """Whether (vendor ID, data object type) fit the header's 16-bit and 8-bit fields: what a mailbox
    may host and a mediator's policy may name."""
    return all(
        isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << bits
        for value, bits in ((vendor_id, _VENDOR_ID_BITS), (object_type, _OBJECT_TYPE_BITS))
    )


# --- data objects ---------------------------------------------------------------------------


def encode_object(object_type: int, payload: bytes, vendor_id: int = PCI_SIG_VENDOR_ID) -> bytes:
    """One whole data object: header, `payload`, and zero padding up to a DW boundary."""
    _uint(_DOE, "vendor_id", vendor_id, _VENDOR_ID_BITS)
    _uint(_DOE, "object_type", object_type, _OBJECT_TYPE_BITS)
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise EncodeError(_DOE, "payload", f"must be bytes, got {type(payload).__name__}")
    size = len(payload)
    if size > MAX_PAYLOAD_BYTES:
        raise EncodeError(
            _DOE,
            "length",
            f"a {size}-byte payload exceeds the {MAX_OBJECT_DWORDS}-DW object maximum "
            f"(at most {MAX_PAYLOAD_BYTES} bytes)",
        )
    length_dw = HEADER_DWORDS + (size + 3) // 4
    header = _HEADER.pack(vendor_id | object_type << 16, length_dw & _DW1_LENGTH)
    return b"".join((header, payload, bytes(-size % 4)))


def read_header(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """(vendor ID, object type, length in DW) of the header at `offset`, as a live host or device
    reads it: the fields alone, the reserved bits (DW0 [31:24], DW1 [31:18]) ignored; a Length
    of 1, shorter than the header itself, is refused.

    As Linux drivers/pci/doe.c (pci_doe_recv_resp takes vendor ID, type and Length by their
    masks) and QEMU hw/pci/pcie_doe.c (pcie_doe_get_obj_len masks Length) read it; the host
    driver and the mailbox model read with this. A capture is checked by `decode_header`.
    """
    try:
        vendor_id, object_type, _, dw1 = _unpack_header(data, offset)
    except struct.error:
        _header_too_short(data, offset)
    length_dw = dw1 & _DW1_LENGTH
    if length_dw == 1 or offset < 0:
        _bad_length(length_dw, offset)
    return vendor_id, object_type, length_dw or MAX_OBJECT_DWORDS


def decode_header(data: bytes, offset: int = 0) -> DoeHeader:
    """The header at `offset`, checked strictly on its own: reserved bits 0, minimum length.

    It does not look at what follows, so a mailbox reader can decode the first two DW and learn
    how many more to collect; `decode_object` checks a whole object. As libspdm's
    libspdm_doe_pcidoe.c checks; `read_header` is the lenient reading of a live peer.
    """
    return DoeHeader(*_checked_header(data, offset))


def _checked_header(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """`decode_header` as a plain tuple, for the data path."""
    try:
        vendor_id, object_type, reserved, dw1 = _unpack_header(data, offset)
    except struct.error:
        _header_too_short(data, offset)
    if reserved or dw1 & _DW1_RESERVED or dw1 == 1 or offset < 0:
        _bad_header(data, offset)
    return vendor_id, object_type, dw1 or MAX_OBJECT_DWORDS


_unpack_header = struct.Struct("<HBBI").unpack_from


def _header_too_short(data: bytes, offset: int) -> NoReturn:
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    available = len(data) - offset
    raise DecodeError(_DOE, "header", f"needs {HEADER_SIZE} bytes, got {max(available, 0)}")


def _bad_header(data: bytes, offset: int) -> NoReturn:
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    dw0, dw1 = _HEADER.unpack_from(data, offset)
    if dw0 & _DW0_RESERVED:
        raise DecodeError(_DOE, "reserved", f"DW0 bits [31:24] must be 0, got {dw0 >> 24:#04x}")
    if dw1 & _DW1_RESERVED:
        raise DecodeError(_DOE, "reserved", f"DW1 bits [31:18] must be 0, got DW1 = {dw1:#010x}")
    _bad_length(dw1, offset)


def _bad_length(length_dw: int, offset: int) -> NoReturn:
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    raise DecodeError(_DOE, "length", f"{length_dw} DW is less than the {HEADER_DWORDS}-DW header")


def decode_object(data: bytes) -> DataObject:
    """Exactly one data object, checked strictly: `data` must be whole DWs and match the header's
    length, and the header's reserved bits must be 0 (`decode_header`)."""
    return _whole_object(data, *_checked_header(data))


def read_object(data: bytes) -> DataObject:
    """Exactly one data object as a live host or device reads it: whole DWs matching the header's
    length, the header read by `read_header` (reserved bits ignored)."""
    return _whole_object(data, *read_header(data))


def _whole_object(data: bytes, vendor_id: int, object_type: int, length_dw: int) -> DataObject:
    size = len(data)
    if size % 4:
        raise DecodeError(_DOE, "length", f"{size} bytes is not a whole number of DW")
    if 4 * length_dw != size:
        raise DecodeError(
            _DOE, "length", f"header says {length_dw} DW ({4 * length_dw} bytes), object has {size} bytes"
        )
    return DataObject(vendor_id=vendor_id, object_type=object_type, payload=bytes(data[HEADER_SIZE:]))


def expect_type(obj: DataObject, object_type: int, vendor_id: int = PCI_SIG_VENDOR_ID) -> bytes:
    """The payload of `obj` if it has the expected vendor and type.

    A transport waiting for SPDM must not hand a discovery or foreign-vendor object to the SPDM
    layer.
    """
    if obj.vendor_id != vendor_id:
        raise DecodeError(_DOE, "vendor_id", f"expected {vendor_id:#06x}, got {obj.vendor_id:#06x}")
    if obj.object_type != object_type:
        raise DecodeError(_DOE, "object_type", f"expected {object_type}, got {obj.object_type}")
    return obj.payload


# --- discovery (type 0) payloads --------------------------------------------------------------


def _one_dword(message: str, payload: bytes) -> int:
    if len(payload) != 4:
        raise DecodeError(message, "length", f"payload must be exactly 1 DW (4 bytes), got {len(payload)}")
    value: int = _DWORD.unpack(payload)[0]
    return value


def _first_dword(message: str, payload: bytes) -> int:
    if len(payload) < 4:
        raise DecodeError(message, "length", f"payload must be at least 1 DW (4 bytes), got {len(payload)}")
    value: int = _DWORD.unpack_from(payload)[0]
    return value


def encode_discovery_request(index: int, version: int = 0) -> bytes:
    """Request payload (1 DW); `version` is 2 when the DOE capability version is 2 or later."""
    _uint(_DISCOVERY_REQUEST, "index", index, 8)
    _uint(_DISCOVERY_REQUEST, "version", version, 8)
    return _DWORD.pack(index | version << 8)


def read_discovery_request(payload: bytes) -> DiscoveryRequest:
    """The request a DOE instance answers: at least 1 DW, Index and Version from the first; the
    reserved bits [31:16] and any further DWs are ignored.

    As QEMU's hw/pci/pcie_doe.c (pcie_doe_discovery) and libspdm's libspdm_doe_pcidoe.c
    (libspdm_pci_doe_decode_discovery_request) answer it; the device, the mailbox model and a
    host's cache all read requests with this.
    """
    dw = _first_dword(_DISCOVERY_REQUEST, payload)
    return DiscoveryRequest(index=dw & 0xFF, version=(dw >> 8) & 0xFF)


def decode_discovery_request(payload: bytes) -> DiscoveryRequest:
    """Request payload, strictly: exactly 1 DW with bits [31:16] (reserved) 0.

    For checking a captured request as sent; an instance answering one uses
    `read_discovery_request`.
    """
    dw = _one_dword(_DISCOVERY_REQUEST, payload)
    if dw & _DISCOVERY_REQUEST_RESERVED:
        raise DecodeError(_DISCOVERY_REQUEST, "reserved", f"bits [31:16] must be 0, got DW = {dw:#010x}")
    return read_discovery_request(payload)


def encode_discovery_response(vendor_id: int, object_type: int, next_index: int) -> bytes:
    """Response payload (1 DW)."""
    _uint(_DISCOVERY_RESPONSE, "vendor_id", vendor_id, _VENDOR_ID_BITS)
    _uint(_DISCOVERY_RESPONSE, "object_type", object_type, _OBJECT_TYPE_BITS)
    _uint(_DISCOVERY_RESPONSE, "next_index", next_index, 8)
    return _DWORD.pack(vendor_id | object_type << 16 | next_index << 24)


def read_discovery_response(payload: bytes) -> DiscoveryResponse:
    """The response a host reads: at least 1 DW, the entry from the first; further DWs are ignored.

    As Linux drivers/pci/doe.c does (pci_doe_discovery reads 1 DW, pci_doe_recv_resp discards
    the excess); `discovery_walk` reads responses with this.
    """
    dw = _first_dword(_DISCOVERY_RESPONSE, payload)
    return DiscoveryResponse(vendor_id=dw & 0xFFFF, object_type=(dw >> 16) & 0xFF, next_index=dw >> 24)


def decode_discovery_response(payload: bytes) -> DiscoveryResponse:
    """Response payload, strictly: exactly 1 DW.

    For checking a captured response as sent; a host reading one uses `read_discovery_response`.
    """
    _one_dword(_DISCOVERY_RESPONSE, payload)
    return read_discovery_response(payload)


def discovery_response_object(table: Sequence[tuple[int, int]], index: int) -> bytes:
    """The discovery response object of a DOE instance that lists `table` ((vendor ID, type) by
    index), to a request for `index`.

    Next Index is 0 after the last entry (PCIe r6.0, DOE Discovery). An index past the table gets
    vendor FFFFh and type FFh, as QEMU's hw/pci/pcie_doe.c answers, with Next Index 0: no entry
    follows it (QEMU answers Index + 1 there).
    """
    if index >= len(table):
        return encode_object(DoeType.DISCOVERY, encode_discovery_response(0xFFFF, 0xFF, 0))
    vendor_id, object_type = table[index]
    next_index = index + 1 if index + 1 < len(table) else 0
    return encode_object(DoeType.DISCOVERY, encode_discovery_response(vendor_id, object_type, next_index))


# --- CMA/SPDM over DOE: the requester side --------------------------------------------------------

DISCOVERY_PROTOCOL: tuple[int, int] = (PCI_SIG_VENDOR_ID, DoeType.DISCOVERY)
"""(vendor ID, type) of DOE discovery, entry 0 of every instance's discovery table."""

CMA_PROTOCOLS: tuple[tuple[int, int], ...] = (
    DISCOVERY_PROTOCOL,
    (PCI_SIG_VENDOR_ID, DoeType.CMA_SPDM),
    (PCI_SIG_VENDOR_ID, DoeType.SECURED_CMA_SPDM),
)
"""The discovery table of a CMA device: (vendor ID, data object type) by index."""

_PROTOCOL_NAMES = {DoeType.CMA_SPDM: "CMA/SPDM", DoeType.SECURED_CMA_SPDM: "secured CMA/SPDM"}


class DoeLink(Protocol):
    """Moves whole data objects to one DOE instance and back: a mailbox driver, a socket, a fake."""

    def exchange_object(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        """Write one request object; return the one response object, or raise `TransportError`.

        `timeout` bounds the wait for the response (None: the link's own default).
        """
        ...

    def close(self) -> None:
        """Release the link."""
        ...


def _object_type_of(data: bytes) -> int | None:
    """The data object type in a header, without checking the rest (None if there is no header)."""
    return data[2] if len(data) >= HEADER_SIZE else None


def _unwrap(data: bytes, object_type: int, what: str) -> bytes:
    """The payload of a response object, which must be exactly one PCI-SIG object of `object_type`."""
    try:
        return expect_type(decode_object(data), object_type)
    except DecodeError as exc:
        raise TransportError(f"{what} response: {exc}") from exc


# --- the requester's side, without I/O: shared by the blocking and the asyncio transports ---------


def discovery_walk(version: int = 0) -> Generator[bytes, bytes, tuple[tuple[int, int], ...]]:
    """DOE discovery as a generator: it yields each request object, is sent each response object,
    and returns the (vendor ID, type) pairs the instance lists, by index. Each response is read
    by `read_discovery_response` (DWs after the first are ignored). `TransportError` for a
    response that is not a discovery object, is shorter than 1 DW or does not move the index
    forward."""
    found: list[tuple[int, int]] = []
    index = 0
    while True:  # ends: the index strictly increases and is 8 bits wide
        response = yield encode_object(DoeType.DISCOVERY, encode_discovery_request(index, version))
        payload = _unwrap(response, DoeType.DISCOVERY, "DOE discovery")
        try:
            entry = read_discovery_response(payload)
        except DecodeError as exc:
            raise TransportError(f"DOE discovery index {index}: {exc}") from exc
        found.append((entry.vendor_id, entry.object_type))
        if entry.next_index == 0:
            return tuple(found)
        if entry.next_index <= index:
            raise TransportError(f"DOE discovery index {index}: next index {entry.next_index} does not move forward")
        index = entry.next_index


def spdm_request_object(request: bytes, session_id: int | None, protocols: tuple[tuple[int, int], ...]) -> bytes:
    """The DOE object that carries an SPDM message (type 1) or, with `session_id`, a secured one
    (type 2); `TransportError` unless discovery listed that type in `protocols`."""
    object_type = DoeType.CMA_SPDM
    if session_id is not None:
        check_session_prefix(request, session_id)
        object_type = DoeType.SECURED_CMA_SPDM
    if (PCI_SIG_VENDOR_ID, object_type) not in protocols:
        listed = ", ".join(f"{vendor:04x}:{kind:02x}" for vendor, kind in protocols)
        raise TransportError(
            f"the DOE instance does not list {_PROTOCOL_NAMES[object_type]} "
            f"({PCI_SIG_VENDOR_ID:04x}:{object_type:02x}); discovery listed {listed}"
        )
    return encode_object(object_type, request)


def spdm_response_payload(request_object: bytes, response: bytes) -> bytes:
    """The payload of the response to `request_object` (from `spdm_request_object`): one object of
    the request's type, or to a secured request the clear type-1 ERROR a responder sends for a
    record it could not open."""
    object_type = request_object[2]
    if object_type == DoeType.SECURED_CMA_SPDM and _object_type_of(response) == DoeType.CMA_SPDM:
        object_type = DoeType.CMA_SPDM
    return _unwrap(response, object_type, _PROTOCOL_NAMES[DoeType(object_type)])


class DoeTransport(Transport):
    """SPDM over PCIe DOE (the CMA binding), on a `DoeLink`.

    Before the first message it walks DOE discovery and refuses to send SPDM (type 1) or secured
    SPDM (type 2) unless the instance lists it. Responses must be one object of the request's
    type, exactly as long as its header says; `exchange` returns the payload *with* its DW padding
    (up to 3 zero bytes): the caller decodes with SPDM field lengths and ignores the rest.
    The one exception: a secured request may draw a type-1 answer, the clear ERROR a responder
    sends for a record it could not open (InvalidSession, DecryptError); it is returned as it came,
    and, unlike a secured response, does not start with the session ID.
    """

    max_padding = MAX_DW_PADDING

    def __init__(self, link: DoeLink, *, discovery_version: int = 0) -> None:
        encode_discovery_request(0, discovery_version)  # range check, now rather than at first use
        self._link = link
        self._discovery_version = discovery_version
        self._protocols: tuple[tuple[int, int], ...] | None = None
        self._closed = False

    @property
    def link(self) -> DoeLink:
        return self._link

    @property
    def protocols(self) -> tuple[tuple[int, int], ...]:
        """The (vendor ID, type) pairs the instance lists, by index; discovers them on first use."""
        if self._protocols is None:
            self._check_open()
            self._protocols = self._discover()
        return self._protocols

    def _discover(self) -> tuple[tuple[int, int], ...]:
        walk = discovery_walk(self._discovery_version)
        request = next(walk)
        while True:
            try:
                request = walk.send(self._link.exchange_object(request))
            except StopIteration as done:
                protocols: tuple[tuple[int, int], ...] = done.value
                return protocols

    def exchange(self, request: bytes, *, session_id: int | None = None, timeout: float | None = None) -> bytes:
        self._check_open()
        obj = spdm_request_object(request, session_id, self.protocols)
        return spdm_response_payload(obj, self._link.exchange_object(obj, timeout=timeout))

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError("DOE transport is closed")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._link.close()


# --- CMA/SPDM over DOE: the device side -------------------------------------------------------


class DoeMailboxResponder:
    """A DOE instance around an SPDM `respond(request, session_id)` callable: object in, object out.

    * Discovery (type 0) is answered here from `CMA_PROTOCOLS` (without the secured type when
      `secured` is false), to any request `read_discovery_request` reads; an index past the table
      gets FFFF:FF with next index 0, as QEMU answers.
    * A type-1 payload goes to `respond(payload, None)`; a type-2 payload, whole, to
      `respond(payload, session_id)` with the session ID read from its first 4 bytes (LE).
      The answer goes back in an object of the same type, zero-padded to a DW, except a clear
      answer to a type-2 request (a responder's ERROR InvalidSession or DecryptError for a record
      it could not open): it does not start with the request's session ID, or is too short to be
      a secured message, and goes back as type 1.
    * The payload is passed *with* its DW padding: the SPDM length is not in the DOE header, so
      the responder must decode by SPDM field lengths and accept up to 3 trailing zero bytes.
    * Anything else (malformed object, other vendor or type, a type not listed, an empty answer
      from `respond`) returns None: the object is silently discarded, as PCIe DOE requires.
    Exceptions from `respond` propagate: a server decides what to do with them.
    """

    def __init__(self, respond: Respond, *, secured: bool = True) -> None:
        self._respond = respond
        self._protocols = CMA_PROTOCOLS if secured else CMA_PROTOCOLS[:2]

    @property
    def protocols(self) -> tuple[tuple[int, int], ...]:
        return self._protocols

    def __call__(self, data: bytes) -> bytes | None:
        try:
            obj = decode_object(data)
        except DecodeError:
            return None
        object_type = obj.object_type
        if obj.vendor_id != PCI_SIG_VENDOR_ID:
            return None
        if object_type == DoeType.DISCOVERY:
            return self._discovery(obj.payload)
        if (PCI_SIG_VENDOR_ID, object_type) not in self._protocols or not obj.payload:
            return None
        session_id: int | None = None
        if object_type == DoeType.SECURED_CMA_SPDM:
            if len(obj.payload) <= 4:
                return None
            session_id = int.from_bytes(obj.payload[:4], "little")
        response = self._respond(obj.payload, session_id)
        if not response:
            return None
        if object_type == DoeType.SECURED_CMA_SPDM and not is_secured_answer(obj.payload, response):
            object_type = DoeType.CMA_SPDM
        return encode_object(object_type, response)

    def _discovery(self, payload: bytes) -> bytes | None:
        try:
            index = read_discovery_request(payload).index
        except DecodeError:
            return None
        return discovery_response_object(self._protocols, index)
