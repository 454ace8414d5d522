"""DSP0277 secured-message opaque data: how the peers agree on a secured-message version.

KEY_EXCHANGE and PSK_EXCHANGE carry it in OpaqueData with a SupportedVersionList element, their
responses with a VersionSelection element. It is not an SPDM message: `decode_opaque` reads one
table that must fill the bytes exactly and raises `DecodeError` named ``OPAQUE_DATA``.

Two table headers exist. Before SPDM 1.2, and at 1.2 when ALGORITHMS selected OpaqueDataFmt0, the
table starts with SpecID "FTMD" and OpaqueVersion 1 (`OpaqueTable`, DSP0277 1.1). With OpaqueDataFmt1
it is DSP0274 1.2's general opaque data format: TotalElements and three reserved bytes
(`GeneralOpaqueTable`; libspdm `spdm_general_opaque_data_table_header_t`). The elements are the same.

Element AlignPadding must be zero, so a decoded table re-encodes to the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import construct as c

from spdm.errors import DecodeError
from spdm.messages._layout import field, length_of, of, require, when
from spdm.messages.codec import Record, decode_record, decode_record_prefix, encode_record, record

__all__ = [
    "MAX_REGISTRY_ID",
    "GeneralOpaqueTable",
    "OpaqueElement",
    "OpaqueTable",
    "SupportedVersionList",
    "VersionSelection",
    "check_general_opaque_data",
    "decode_opaque",
    "encode_opaque",
    "has_secured_message_version",
    "secured_message_versions",
    "selected_secured_message_version",
    "version_list_opaque",
    "version_selection_opaque",
]

_NAME = "OPAQUE_DATA"
_SPEC_ID = 0x444D5446  # "FTMD" on the wire
_OPAQUE_VERSION = 1
_SM_DATA_VERSION = 1
_SM_DATA_ID_VERSION_SELECTION = 0
_SM_DATA_ID_SUPPORTED_VERSION_LIST = 1
_REGISTRY_DMTF = 0
MAX_REGISTRY_ID = 0x0B
"""The last standards body DSP0274 defines an ID for (DMTF DSP), libspdm's SPDM_REGISTRY_ID_MAX."""

R = TypeVar("R", bound=Record)


def _padding_length(vendor_len: int, data_len: int) -> int:
    """AlignPadding: up to the next multiple of 4 of the whole element (4 fixed bytes + variable)."""
    return -(4 + vendor_len + data_len) % 4


@record(
    "registry_id" / c.Int8ul,
    "_vendor_len" / c.Rebuild(c.Int8ul, length_of("vendor_id")),
    "vendor_id" / c.Bytes(field("_vendor_len")),
    "_data_len" / c.Rebuild(c.Int16ul, length_of("data")),
    "data" / c.Bytes(field("_data_len")),
    "_padding"
    / c.Rebuild(
        c.Bytes(of(_padding_length, "_vendor_len", "_data_len")),
        of(lambda vendor_len, data_len: bytes(_padding_length(vendor_len, data_len)), "_vendor_len", "_data_len"),
    ),
    require(of(lambda padding: not any(padding), "_padding"), "AlignPadding is not zero"),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class OpaqueElement(Record):
    """One element; DMTF's (registry 0, no vendor ID) hold SMDataVersion, SMDataID, then the data."""

    registry_id: int = _REGISTRY_DMTF
    vendor_id: bytes = b""
    data: bytes


@record(
    "spec_id" / c.Const(_SPEC_ID, c.Int32ul),
    "opaque_version" / c.Const(_OPAQUE_VERSION, c.Int8ul),
    "_total_elements" / c.Rebuild(c.Int8ul, length_of("elements")),
    "reserved" / c.Int16ul,
    "elements" / c.Array(field("_total_elements"), OpaqueElement.layout),
    c.Terminated,
)
@dataclass(frozen=True, slots=True, kw_only=True)
class OpaqueTable(Record):
    """The whole OpaqueData: SpecID "FTMD" and OpaqueVersion 1 are implied, then the elements."""

    reserved: int = 0
    elements: tuple[OpaqueElement, ...] = ()


@record(
    "_total_elements" / c.Rebuild(c.Int8ul, length_of("elements")),
    "reserved" / c.Bytes(3),
    "elements" / c.Array(field("_total_elements"), OpaqueElement.layout),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class GeneralOpaqueTable(Record):
    """OpaqueData in the 1.2 general format (OpaqueDataFmt1): a count, then the elements
    (`decode_opaque` takes it as the whole OpaqueData, `check_general_opaque_data` as its start)."""

    reserved: bytes = bytes(3)
    elements: tuple[OpaqueElement, ...] = ()


Table = OpaqueTable | GeneralOpaqueTable


@record(
    "sm_data_version" / c.Const(_SM_DATA_VERSION, c.Int8ul),
    "sm_data_id" / c.Const(_SM_DATA_ID_SUPPORTED_VERSION_LIST, c.Int8ul),
    "_version_count" / c.Rebuild(c.Int8ul, length_of("versions")),
    require(when("_version_count", ">=", 1), "VersionCount is 0", field="versions"),
    "versions" / c.Array(field("_version_count"), c.Int16ul),
    c.Terminated,
)
@dataclass(frozen=True, slots=True, kw_only=True)
class SupportedVersionList(Record):
    """The requester's offer: version number entries (0x1100 is 1.1), any order."""

    versions: tuple[int, ...]


@record(
    "sm_data_version" / c.Const(_SM_DATA_VERSION, c.Int8ul),
    "sm_data_id" / c.Const(_SM_DATA_ID_VERSION_SELECTION, c.Int8ul),
    "selected_version" / c.Int16ul,
    c.Terminated,
)
@dataclass(frozen=True, slots=True, kw_only=True)
class VersionSelection(Record):
    """The responder's choice among the offered versions."""

    selected_version: int


def _element_data(cls: type[R], data: bytes) -> R:
    """An element's secured-message data, with errors located inside the element."""
    try:
        return decode_record(cls, data, _NAME)
    except DecodeError as error:
        field = ".".join(p for p in ("elements.data", error.field) if p)
        raise DecodeError(_NAME, field, error.reason) from None


def decode_opaque(data: bytes, *, general: bool = False) -> Table:
    """Decode OpaqueData that must be exactly one table: the general format when `general`
    (`spdm.negotiated.Negotiated.general_opaque_data`), else the DSP0277 1.1 one."""
    if general:
        return decode_record(GeneralOpaqueTable, data, _NAME)
    return decode_record(OpaqueTable, data, _NAME)


def check_general_opaque_data(data: bytes) -> None:
    """Non-empty OpaqueData of GET_CSR, CHALLENGE_AUTH or MEASUREMENTS in the general format, as
    libspdm_com_opaque_data.c (libspdm_process_general_opaque_data_check) accepts it: whole DWORDs,
    at least one element, each of a defined registry and with zero AlignPadding. DWORDs after the
    last element are not read. `DecodeError` names what is wrong."""
    if len(data) % 4:
        raise DecodeError(_NAME, "", f"{len(data)} bytes, not whole DWORDs")
    table, _ = decode_record_prefix(GeneralOpaqueTable, data, _NAME)
    if not table.elements:
        raise DecodeError(_NAME, "TotalElements", "no elements")
    for index, element in enumerate(table.elements):
        if element.registry_id > MAX_REGISTRY_ID:
            raise DecodeError(_NAME, f"elements[{index}].registry_id", f"{element.registry_id} names no registry")


def encode_opaque(table: Table) -> bytes:
    """The wire bytes of `table`, element padding included."""
    return encode_record(table, _NAME)


def _table(element: OpaqueElement, general: bool) -> Table:
    return GeneralOpaqueTable(elements=(element,)) if general else OpaqueTable(elements=(element,))


def _sm_data(table: Table, sm_data_id: int, name: str) -> bytes:
    """The data of the one DMTF element with `sm_data_id`; other registries' elements are ignored."""
    found = [
        e.data
        for e in table.elements
        if e.registry_id == _REGISTRY_DMTF and not e.vendor_id and e.data[1:2] == bytes([sm_data_id])
    ]
    if len(found) != 1:
        raise DecodeError(_NAME, "elements", f"{len(found)} {name} elements, expected exactly 1")
    return found[0]


def secured_message_versions(table: Table) -> tuple[int, ...]:
    """The secured-message versions a KEY_EXCHANGE or PSK_EXCHANGE offers."""
    data = _sm_data(table, _SM_DATA_ID_SUPPORTED_VERSION_LIST, "SupportedVersionList")
    return _element_data(SupportedVersionList, data).versions


def selected_secured_message_version(table: Table) -> int:
    """The secured-message version a KEY_EXCHANGE_RSP or PSK_EXCHANGE_RSP selects."""
    data = _sm_data(table, _SM_DATA_ID_VERSION_SELECTION, "VersionSelection")
    return _element_data(VersionSelection, data).selected_version


def has_secured_message_version(versions: Iterable[int], version: int) -> bool:
    """`versions` hold `version`, version number entries compared on major.minor alone (update and
    alpha may differ), as libspdm_com_opaque_data.c compares them (libspdm_get_version_from_version_number)."""
    return any(v >> 8 == version >> 8 for v in versions)


def version_list_opaque(versions: Iterable[int], *, general: bool = False) -> bytes:
    """A requester's OpaqueData offering `versions` (libspdm's bytes for the same offer)."""
    element = OpaqueElement(data=encode_record(SupportedVersionList(versions=tuple(versions)), _NAME))
    return encode_opaque(_table(element, general))


def version_selection_opaque(version: int, *, general: bool = False) -> bytes:
    """A responder's OpaqueData selecting `version` (libspdm's bytes for the same choice)."""
    element = OpaqueElement(data=encode_record(VersionSelection(selected_version=version), _NAME))
    return encode_opaque(_table(element, general))
