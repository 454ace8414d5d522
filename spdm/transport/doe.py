"""PCIe Data Object Exchange (DOE) data objects, the framing CMA/SPDM travels in over PCIe.

Every SPDM message and every secured record crosses this layer, so it is written by hand on
precompiled `struct.Struct`s (no construct): lengths are checked explicitly before anything is
read, and any malformed input becomes a `DecodeError` naming the offending field.

Layout (little-endian DWORDs)::

    DW0  [15:0] vendor ID   [23:16] data object type   [31:24] reserved (0)
    DW1  [17:0] length in DW, including this 2-DW header; 0 means 2^18   [31:18] reserved (0)
    DW2.. payload, zero-padded to a whole DW

Decoding keeps the padding: only the SPDM layer knows the true message length, from its own
fields.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple, NoReturn

from spdm.errors import DecodeError, EncodeError

__all__ = [
    "HEADER_DWORDS",
    "HEADER_SIZE",
    "MAX_OBJECT_BYTES",
    "MAX_OBJECT_DWORDS",
    "MAX_PAYLOAD_BYTES",
    "PCI_SIG_VENDOR_ID",
    "DataObject",
    "DiscoveryRequest",
    "DiscoveryResponse",
    "DoeHeader",
    "DoeType",
    "decode_discovery_request",
    "decode_discovery_response",
    "decode_header",
    "decode_object",
    "encode_discovery_request",
    "encode_discovery_response",
    "encode_object",
    "expect_type",
]

PCI_SIG_VENDOR_ID = 0x0001
"""Vendor ID of the PCI-SIG, owner of the discovery, CMA/SPDM and secured CMA/SPDM types."""

MAX_OBJECT_DWORDS = 1 << 18
"""Largest data object, header included; written as 0 in the 18-bit length field."""

HEADER_DWORDS = 2
HEADER_SIZE = 4 * HEADER_DWORDS
MAX_OBJECT_BYTES = 4 * MAX_OBJECT_DWORDS
MAX_PAYLOAD_BYTES = MAX_OBJECT_BYTES - HEADER_SIZE


class DoeType(IntEnum):
    """Data object types the PCI-SIG defines under its own vendor ID (that this library uses)."""

    DISCOVERY = 0
    CMA_SPDM = 1
    SECURED_CMA_SPDM = 2


_HEADER = struct.Struct("<II")
_DWORD = struct.Struct("<I")

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


# --- data objects ---------------------------------------------------------------------------


def encode_object(object_type: int, payload: bytes, vendor_id: int = PCI_SIG_VENDOR_ID) -> bytes:
    """One whole data object: header, `payload`, and zero padding up to a DW boundary."""
    _uint(_DOE, "vendor_id", vendor_id, 16)
    _uint(_DOE, "object_type", object_type, 8)
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


def decode_header(data: bytes, offset: int = 0) -> DoeHeader:
    """The header at `offset`, checked on its own (reserved bits, minimum length).

    It does not look at what follows, so a mailbox reader can decode the first two DW and learn
    how many more to collect; `decode_object` checks a whole object.
    """
    try:
        vendor_id, object_type, reserved, dw1 = _unpack_header(data, offset)
    except struct.error:
        _header_too_short(data, offset)
    if reserved or dw1 & _DW1_RESERVED or dw1 == 1 or offset < 0:
        _bad_header(data, offset)
    return _new_header(DoeHeader, (vendor_id, object_type, dw1 or MAX_OBJECT_DWORDS))


_unpack_header = struct.Struct("<HBBI").unpack_from
_new_header = tuple.__new__


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
    raise DecodeError(_DOE, "length", f"{dw1} DW is less than the {HEADER_DWORDS}-DW header")


def decode_object(data: bytes) -> DataObject:
    """Exactly one data object: `data` must be whole DWs and match the header's length."""
    header = decode_header(data)
    size = len(data)
    if size % 4:
        raise DecodeError(_DOE, "length", f"{size} bytes is not a whole number of DW")
    if header.size != size:
        raise DecodeError(
            _DOE,
            "length",
            f"header says {header.length_dw} DW ({header.size} bytes), object has {size} bytes",
        )
    return DataObject(
        vendor_id=header.vendor_id, object_type=header.object_type, payload=bytes(data[HEADER_SIZE:])
    )


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


def encode_discovery_request(index: int, version: int = 0) -> bytes:
    """Request payload (1 DW); `version` is 2 when the DOE capability version is 2 or later."""
    _uint(_DISCOVERY_REQUEST, "index", index, 8)
    _uint(_DISCOVERY_REQUEST, "version", version, 8)
    return _DWORD.pack(index | version << 8)


def decode_discovery_request(payload: bytes) -> DiscoveryRequest:
    """Request payload (1 DW); bits [31:16] are reserved and must be 0."""
    dw = _one_dword(_DISCOVERY_REQUEST, payload)
    if dw & _DISCOVERY_REQUEST_RESERVED:
        raise DecodeError(_DISCOVERY_REQUEST, "reserved", f"bits [31:16] must be 0, got DW = {dw:#010x}")
    return DiscoveryRequest(index=dw & 0xFF, version=(dw >> 8) & 0xFF)


def encode_discovery_response(vendor_id: int, object_type: int, next_index: int) -> bytes:
    """Response payload (1 DW)."""
    _uint(_DISCOVERY_RESPONSE, "vendor_id", vendor_id, 16)
    _uint(_DISCOVERY_RESPONSE, "object_type", object_type, 8)
    _uint(_DISCOVERY_RESPONSE, "next_index", next_index, 8)
    return _DWORD.pack(vendor_id | object_type << 16 | next_index << 24)


def decode_discovery_response(payload: bytes) -> DiscoveryResponse:
    """Response payload (1 DW)."""
    dw = _one_dword(_DISCOVERY_RESPONSE, payload)
    return DiscoveryResponse(vendor_id=dw & 0xFFFF, object_type=(dw >> 16) & 0xFF, next_index=dw >> 24)
