"""CXL Table Access over DOE serving a CDAT: the worked example of a non-SPDM DOE protocol.

Not SPDM: it is here to show a second protocol sharing a DOE mailbox with CMA (the Linux CXL
driver reads the CDAT this way while CMA authenticates the same device). Kept small: one table
type (CDAT), one request (Read Entry), and builders for two CDAT structures.

Layouts, from public sources (QEMU ``include/hw/cxl/cxl_cdat.h`` and ``hw/cxl/cxl-cdat.c``,
citing CXL r3.1 §8.1.11 and CDAT r1.03; Linux ``drivers/cxl/core/pci.c`` ``cxl_cdat_read_table``):

* DOE vendor ID 0x1E98 (CXL), object type 2 (Table Access).
* Read Entry request payload (1 DW): ReqCode u8 = 0, TableType u8 = 0 (CDAT), EntryHandle u16.
* Read Entry response payload: RspCode u8 = 0, TableType u8, EntryHandle u16 = the handle of the
  *next* entry, 0xFFFF after the last; then the entry itself.
* Entry 0 is the 16-byte CDAT header: Length u32 (the whole table), Revision u8, Checksum u8 (all
  table bytes sum to 0 mod 256), 6 reserved bytes, Sequence u32. Every other entry is a CDAT
  structure: Type u8, reserved u8, Length u16 (the structure's own size), then its body.
* A host starts at handle 0 and follows the returned handles until 0xFFFF; Linux checks that
  entry 0 is exactly a header and that every other entry is exactly as long as its Length.
  Here handles are entry indices, as in QEMU.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from enum import IntEnum

from spdm.errors import DecodeError, TransportError
from spdm.transport.doe import DoeLink
from spdm.transport.doe_host import exchange_payload

__all__ = [
    "CDAT_HEADER_SIZE",
    "CDAT_TABLE_TYPE",
    "CXL_TABLE_ACCESS",
    "CXL_VENDOR_ID",
    "LAST_ENTRY",
    "READ_ENTRY",
    "CdatResponder",
    "CdatType",
    "build_cdat",
    "cdat_entries",
    "decode_read_entry_request",
    "decode_read_entry_response",
    "dslbis",
    "dsmas",
    "encode_read_entry_request",
    "encode_read_entry_response",
    "read_cdat",
]

CXL_VENDOR_ID = 0x1E98
CXL_TABLE_ACCESS = 2
"""DOE object type of CXL Table Access under the CXL vendor ID."""

READ_ENTRY = 0
CDAT_TABLE_TYPE = 0
LAST_ENTRY = 0xFFFF
"""EntryHandle in a response after the last entry."""

CDAT_HEADER_SIZE = 16


class CdatType(IntEnum):
    """CDAT structure types (CDAT r1.03 Table 2)."""

    DSMAS = 0
    DSLBIS = 1
    DSMSCIS = 2
    DSIS = 3
    DSEMTS = 4
    SSLBIS = 5


_ACCESS = struct.Struct("<BBH")  # ReqCode/RspCode, TableType, EntryHandle
_TABLE_HEADER = struct.Struct("<IBB6xI")  # Length, Revision, Checksum, reserved, Sequence
_STRUCTURE_HEADER = struct.Struct("<BxH")  # Type, reserved, Length
_DSMAS = struct.Struct("<BxHBBxxQQ")
_DSLBIS = struct.Struct("<BxHBBBxQHHHxx")
_MAX_TABLE = 0xFFFF_FFFF

_REQUEST = "CXL_TABLE_ACCESS_REQUEST"
_RESPONSE = "CXL_TABLE_ACCESS_RESPONSE"
_CDAT = "CDAT"


# --- the table ---------------------------------------------------------------------------------


def dsmas(*, handle: int, dpa_base: int, dpa_length: int, flags: int = 0) -> bytes:
    """A Device Scoped Memory Affinity Structure (24 bytes): one DPA range and its handle."""
    return _DSMAS.pack(CdatType.DSMAS, _DSMAS.size, handle, flags, dpa_base, dpa_length)


def dslbis(
    *, handle: int, data_type: int, entry_base_unit: int, entries: tuple[int, int, int], flags: int = 0
) -> bytes:
    """A Device Scoped Latency and Bandwidth Information Structure (24 bytes), HMAT-style fields."""
    return _DSLBIS.pack(CdatType.DSLBIS, _DSLBIS.size, handle, flags, data_type, entry_base_unit, *entries)


def build_cdat(structures: Sequence[bytes], *, revision: int = 1, sequence: int = 0) -> bytes:
    """A whole CDAT: header (with Length and Checksum filled in), then `structures` in order."""
    body = b"".join(structures)
    length = CDAT_HEADER_SIZE + len(body)
    if length > _MAX_TABLE:
        raise ValueError(f"a CDAT is at most {_MAX_TABLE} bytes, this one would be {length}")
    unsummed = _TABLE_HEADER.pack(length, revision, 0, sequence) + body
    checksum = -sum(unsummed) & 0xFF
    return _TABLE_HEADER.pack(length, revision, checksum, sequence) + body


def cdat_entries(table: bytes) -> tuple[bytes, ...]:
    """The entries a Table Access responder serves: the header, then each structure, exactly."""
    if len(table) < CDAT_HEADER_SIZE:
        raise DecodeError(_CDAT, "header", f"needs {CDAT_HEADER_SIZE} bytes, got {len(table)}")
    length = _TABLE_HEADER.unpack_from(table)[0]
    if length != len(table):
        raise DecodeError(_CDAT, "length", f"header says {length} bytes, the table has {len(table)}")
    if sum(table) & 0xFF:
        raise DecodeError(_CDAT, "checksum", "the table's bytes do not sum to 0 (mod 256)")
    entries = [bytes(table[:CDAT_HEADER_SIZE])]
    offset = CDAT_HEADER_SIZE
    while offset < length:  # ends: every structure is at least 4 bytes long
        if length - offset < _STRUCTURE_HEADER.size:
            raise DecodeError(_CDAT, "structure", f"{length - offset} bytes left at offset {offset}, not a header")
        size = _STRUCTURE_HEADER.unpack_from(table, offset)[1]
        if size < _STRUCTURE_HEADER.size or offset + size > length:
            raise DecodeError(_CDAT, "structure.length", f"{size} at offset {offset} does not fit the table")
        entries.append(bytes(table[offset : offset + size]))
        offset += size
    return tuple(entries)


# --- the DOE protocol ------------------------------------------------------------------------------


def encode_read_entry_request(entry_handle: int) -> bytes:
    return _ACCESS.pack(READ_ENTRY, CDAT_TABLE_TYPE, entry_handle)


def decode_read_entry_request(payload: bytes) -> int:
    """The EntryHandle asked for; the payload may carry DW padding (ignored)."""
    if len(payload) < _ACCESS.size:
        raise DecodeError(_REQUEST, "length", f"needs {_ACCESS.size} bytes, got {len(payload)}")
    code, table_type, handle = _ACCESS.unpack_from(payload)
    if code != READ_ENTRY:
        raise DecodeError(_REQUEST, "req_code", f"only Read Entry (0) is defined, got {code}")
    if table_type != CDAT_TABLE_TYPE:
        raise DecodeError(_REQUEST, "table_type", f"only CDAT (0) is served, got {table_type}")
    return int(handle)


def encode_read_entry_response(next_handle: int, entry: bytes) -> bytes:
    return _ACCESS.pack(READ_ENTRY, CDAT_TABLE_TYPE, next_handle) + entry


def decode_read_entry_response(payload: bytes, entry_handle: int) -> tuple[int, bytes]:
    """(next handle, entry) of the answer to a request for `entry_handle`, the entry checked for length.

    Entry 0 must be a CDAT header; any other entry must be exactly as long as its Length field
    says (up to 3 bytes of DW padding may follow, and are dropped).
    """
    if len(payload) < _ACCESS.size:
        raise DecodeError(_RESPONSE, "length", f"needs {_ACCESS.size} bytes, got {len(payload)}")
    code, table_type, next_handle = _ACCESS.unpack_from(payload)
    if code != READ_ENTRY or table_type != CDAT_TABLE_TYPE:
        raise DecodeError(_RESPONSE, "rsp_code", f"not a CDAT Read Entry answer: code {code}, table type {table_type}")
    entry = payload[_ACCESS.size :]
    if entry_handle == 0:
        size = CDAT_HEADER_SIZE
    elif len(entry) >= _STRUCTURE_HEADER.size:
        size = _STRUCTURE_HEADER.unpack_from(entry)[1]
    else:
        raise DecodeError(_RESPONSE, "entry", f"{len(entry)} bytes is not a CDAT structure")
    if not size <= len(entry) <= size + 3 or any(entry[size:]):
        raise DecodeError(_RESPONSE, "entry", f"entry {entry_handle} should be {size} bytes, got {len(entry)}")
    return int(next_handle), bytes(entry[:size])


class CdatResponder:
    """The device side of CXL Table Access for one CDAT: a `DoeMailbox.register` payload handler.

    A malformed request, another request or table type, or a handle past the table is silently
    discarded (None), as QEMU does.
    """

    def __init__(self, table: bytes) -> None:
        self._entries = cdat_entries(table)
        if len(self._entries) >= LAST_ENTRY:
            raise ValueError(f"a CDAT served over Table Access has fewer than {LAST_ENTRY} entries")

    @property
    def entries(self) -> tuple[bytes, ...]:
        return self._entries

    def __call__(self, payload: bytes) -> bytes | None:
        try:
            handle = decode_read_entry_request(payload)
        except DecodeError:
            return None
        if handle >= len(self._entries):
            return None
        next_handle = handle + 1 if handle + 1 < len(self._entries) else LAST_ENTRY
        return encode_read_entry_response(next_handle, self._entries[handle])


def read_cdat(link: DoeLink, *, timeout: float | None = None) -> bytes:
    """Read a whole CDAT through `link`, entry by entry as Linux does, and check it.

    Raises `TransportError` when the link fails and `DecodeError` when the answers do not make a
    valid table (bad entry, handles that do not move forward, length or checksum wrong). As Linux's
    cxl_cdat_read_table reads into a buffer of the header's Length, an entry that would take the
    table past that Length is refused as it arrives: a device cannot make the host hold more.
    """
    parts: list[bytes] = []
    length = CDAT_HEADER_SIZE
    received = 0
    handle = 0
    for _ in range(LAST_ENTRY):  # handles strictly increase below 0xFFFF
        payload = exchange_payload(
            link, CXL_VENDOR_ID, CXL_TABLE_ACCESS, encode_read_entry_request(handle), timeout=timeout
        )
        next_handle, entry = decode_read_entry_response(payload, handle)
        if handle == 0:
            length = max(_TABLE_HEADER.unpack_from(entry)[0], CDAT_HEADER_SIZE)
        received += len(entry)
        if received > length:
            raise DecodeError(_CDAT, "length", f"header says {length} bytes, entry {handle} goes past them")
        parts.append(entry)
        if next_handle == LAST_ENTRY:
            break
        if next_handle <= handle:
            raise DecodeError(_RESPONSE, "entry_handle", f"next handle {next_handle} after {handle} does not advance")
        handle = next_handle
    else:
        raise TransportError(f"CDAT read did not end within {LAST_ENTRY} entries")
    table = b"".join(parts)
    cdat_entries(table)  # header length and checksum
    return table
