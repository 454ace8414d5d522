"""GET_VERSION/VERSION, GET_CAPABILITIES/CAPABILITIES, NEGOTIATE_ALGORITHMS/ALGORITHMS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import construct as c

from spdm.messages._layout import field, length_of, of, only_when, require, when
from spdm.messages.codec import Message, Record, message, record
from spdm.messages.codes import CapabilityFlags, Code

__all__ = [
    "ALGORITHMS_FIXED_SIZE",
    "DEFAULT_TRANSFER_SIZE",
    "MAX_ALG_STRUCT_EXTS",
    "MAX_CT_EXPONENT",
    "MAX_EXT_ASYM_PLUS_HASH",
    "MIN_DATA_TRANSFER_SIZE",
    "NEGOTIATE_ALGORITHMS_FIXED_SIZE",
    "SPDM_VERSIONS",
    "SUPPORTED_ALGORITHMS",
    "SUPPORTED_ALGORITHMS_FIXED_SIZE",
    "AlgStruct",
    "Algorithms",
    "Capabilities",
    "CapabilitySettings",
    "ExtAlg",
    "GetCapabilities",
    "GetVersion",
    "NegotiateAlgorithms",
    "SupportedAlgorithms",
    "Version",
    "VersionNumber",
    "check_capability_settings",
    "has_alg_structs",
    "has_mel_specification",
    "has_multi_key_conn",
    "has_other_params",
    "has_requester_capabilities",
    "has_transfer_sizes",
    "max_algorithms_length",
    "max_extended_algorithms",
    "transfer_sizes_fit",
    "version_text",
    "versions_up_to",
]

SPDM_VERSIONS = (0x10, 0x11, 0x12, 0x13)
"""The SPDMVersion bytes this library speaks, in both roles."""


def has_alg_structs(version: int) -> bool:
    """NEGOTIATE_ALGORITHMS and ALGORITHMS carry AlgStructs (DHE, AEAD, ReqBaseAsymAlg, KeySchedule) from
    SPDM 1.1; SPDM 1.0 has none."""
    return version >= 0x11


def has_requester_capabilities(version: int) -> bool:
    """GET_CAPABILITIES carries the requester's CTExponent and Flags (and the reserved bytes around them)
    from SPDM 1.1; the 1.0 request is the header alone. CAPABILITIES carries them at every version."""
    return version >= 0x11


def has_transfer_sizes(version: int) -> bool:
    """GET_CAPABILITIES and CAPABILITIES carry DataTransferSize and MaxSPDMmsgSize from SPDM 1.2."""
    return version >= 0x12


def has_other_params(version: int) -> bool:
    """NEGOTIATE_ALGORITHMS' OtherParamsSupport and ALGORITHMS' OtherParamsSelection (the opaque data
    format) are defined from SPDM 1.2; before, the byte is reserved."""
    return version >= 0x12


def has_mel_specification(version: int) -> bool:
    """NEGOTIATE_ALGORITHMS' MELspecification and ALGORITHMS' MELspecificationSel exist from SPDM 1.3."""
    return version >= 0x13


def has_multi_key_conn(version: int) -> bool:
    """OtherParams' MULTI_KEY_CONN (a multi-key connection) is defined from SPDM 1.3."""
    return version >= 0x13


def max_extended_algorithms(version: int) -> int:
    """How many extended algorithms one NEGOTIATE_ALGORITHMS may offer in all (ExtAsym, ExtHash and
    every AlgStruct's AlgExternal): 8 in SPDM 1.0, 20 from 1.1 (DSP0274, NEGOTIATE_ALGORITHMS)."""
    return 8 if version < 0x11 else 20


def max_algorithms_length(version: int) -> int:
    """The largest Length of a NEGOTIATE_ALGORITHMS: 0x40 in SPDM 1.0, 0x80 from 1.1 (DSP0274, NEGOTIATE_ALGORITHMS)."""
    return 0x40 if version < 0x11 else 0x80


def version_text(version: int) -> str:
    """An SPDMVersion byte as DSP0274 writes it, Major.Minor: 0x12 is "1.2"."""
    return f"{version >> 4}.{version & 0xF}"


def versions_up_to(highest: int | None) -> tuple[int, ...]:
    """The versions of `SPDM_VERSIONS` up to `highest` (all for None); `ValueError` unless `highest` is one of them."""
    if highest is None:
        return SPDM_VERSIONS
    if highest not in SPDM_VERSIONS:
        listed = ", ".join(version_text(v) for v in SPDM_VERSIONS)
        raise ValueError(f"SPDM {version_text(highest)} is not one of {listed}")
    return tuple(v for v in SPDM_VERSIONS if v <= highest)


MAX_CT_EXPONENT = 31
"""The largest CTExponent either side may state (CT = 2^CTExponent us); libspdm refuses more."""

MAX_EXT_ASYM_PLUS_HASH = 20
"""The codec's bound on ExtAsymCount + ExtHashCount, whatever the version (`max_extended_algorithms`
is the per-version bound on every extended algorithm of an offer)."""
SUPPORTED_ALGORITHMS = 0x01
"""1.3 GET_CAPABILITIES / CAPABILITIES Param1 bit 0: the supported algorithms are asked for / listed."""
_REQUESTER_CAPABILITIES = of(has_requester_capabilities, "version")
_TRANSFER_SIZES = of(has_transfer_sizes, "version")
_MEL_SPECIFICATION = of(has_mel_specification, "version")
_FROM_1_1 = "CTExponent, Flags or their reserved bytes present in an SPDM 1.0 request"


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionNumber:
    """A version number entry: Major.Minor.Update.Alpha in one u16."""

    value: int

    @property
    def major_minor(self) -> int:
        """The SPDMVersion header byte for this version (0x11 for 1.1.x)."""
        return self.value >> 8

    def __str__(self) -> str:
        v = self.value
        return f"{v >> 12}.{(v >> 8) & 0xF}.{(v >> 4) & 0xF}.{v & 0xF}"


@message(Code.GET_VERSION, "param1" / c.Int8ul, "param2" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class GetVersion(Message):
    version: int = 0x10
    param1: int = 0
    param2: int = 0


@message(
    Code.VERSION,
    "param1" / c.Int8ul,
    "param2" / c.Int8ul,
    "reserved" / c.Int8ul,
    "_count" / c.Rebuild(c.Int8ul, length_of("entries")),
    require(when("_count", ">=", 1), "VersionNumberEntryCount is 0", field="entries"),
    "entries" / c.Array(field("_count"), c.Int16ul),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class Version(Message):
    version: int = 0x10
    param1: int = 0
    param2: int = 0
    reserved: int = 0
    entries: tuple[int, ...]

    @property
    def versions(self) -> tuple[VersionNumber, ...]:
        return tuple(VersionNumber(value=v) for v in self.entries)


MIN_DATA_TRANSFER_SIZE = 42
"""The smallest DataTransferSize 1.2 allows (DSP0274 1.2 "GET_CAPABILITIES": MinDataTransferSize)."""


def transfer_sizes_fit(data_transfer_size: int, max_spdm_msg_size: int) -> bool:
    """MinDataTransferSize <= DataTransferSize <= MaxSPDMmsgSize: a side's largest message is no smaller
    than one transfer (DSP0274 1.2 "GET_CAPABILITIES request"; libspdm_rsp_capabilities.c and
    libspdm_req_get_capabilities.c refuse the rest)."""
    return MIN_DATA_TRANSFER_SIZE <= data_transfer_size <= max_spdm_msg_size


class CapabilitySettings(Protocol):
    """What a configuration of either role states in VERSION and CAPABILITIES."""

    @property
    def versions(self) -> tuple[int, ...]: ...
    @property
    def capabilities(self) -> int: ...
    @property
    def ct_exponent(self) -> int: ...
    @property
    def data_transfer_size(self) -> int: ...
    @property
    def max_spdm_msg_size(self) -> int: ...


def check_capability_settings(settings: CapabilitySettings) -> None:
    """`ValueError` unless `settings` fit VERSION and CAPABILITIES: one or more of `SPDM_VERSIONS`,
    Flags a u32, CTExponent at most `MAX_CT_EXPONENT`, and MinDataTransferSize <= DataTransferSize
    <= MaxSPDMmsgSize (a u32)."""
    versions = settings.versions
    transfer, largest = settings.data_transfer_size, settings.max_spdm_msg_size
    if not versions or not set(versions) <= set(SPDM_VERSIONS):
        listed = ", ".join(f"0x{v:02x}" for v in SPDM_VERSIONS)
        raise ValueError(f"versions {versions!r}: give one or more of {listed}")
    if not 0 <= settings.capabilities <= 0xFFFF_FFFF:
        raise ValueError(f"capabilities 0x{settings.capabilities:x} is not a u32")
    if not 0 <= settings.ct_exponent <= MAX_CT_EXPONENT:
        raise ValueError(f"ct_exponent {settings.ct_exponent} is over {MAX_CT_EXPONENT}")
    if not transfer_sizes_fit(transfer, largest) or largest > 0xFFFF_FFFF:
        raise ValueError(
            f"data_transfer_size {transfer} and max_spdm_msg_size {largest}: "
            f"{MIN_DATA_TRANSFER_SIZE} <= data_transfer_size <= max_spdm_msg_size"
        )

DEFAULT_TRANSFER_SIZE = 0x1200
"""DataTransferSize and MaxSPDMmsgSize both roles state by default (libspdm's LIBSPDM_DATA_TRANSFER_SIZE)."""


def _transfer_sizes() -> list[c.Construct]:
    """DataTransferSize and MaxSPDMmsgSize (from 1.2), which must fit (`transfer_sizes_fit`)."""
    return [
        *only_when("data_transfer_size", _TRANSFER_SIZES, c.Int32ul, "DataTransferSize present before SPDM 1.2"),
        *only_when("max_spdm_msg_size", _TRANSFER_SIZES, c.Int32ul, "MaxSPDMmsgSize present before SPDM 1.2"),
        require(
            of(
                lambda version, transfer, largest: (
                    not has_transfer_sizes(version) or transfer_sizes_fit(transfer, largest)
                ),
                "version",
                "data_transfer_size",
                "max_spdm_msg_size",
            ),
            f"DataTransferSize under {MIN_DATA_TRANSFER_SIZE} or over MaxSPDMmsgSize",
            field="data_transfer_size",
        ),
    ]


@message(
    Code.GET_CAPABILITIES,
    "param1" / c.Int8ul,
    "param2" / c.Int8ul,
    *only_when("reserved", _REQUESTER_CAPABILITIES, c.Int8ul, _FROM_1_1),
    *only_when("ct_exponent", _REQUESTER_CAPABILITIES, c.Int8ul, _FROM_1_1),
    *only_when("reserved2", _REQUESTER_CAPABILITIES, c.Int16ul, _FROM_1_1),
    *only_when("flags", _REQUESTER_CAPABILITIES, c.Int32ul, _FROM_1_1),
    *_transfer_sizes(),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class GetCapabilities(Message):
    """The 1.0 request is the header alone: its 1.1 fields are then ``None``. From 1.1 they default to 0
    (``None`` there becomes 0: the wire cannot leave them out). The 1.2 sizes (DataTransferSize,
    MaxSPDMmsgSize) are ``None`` before 1.2 and have no default: a 1.2 request states its own."""

    version: int = 0x11
    param1: int = 0
    param2: int = 0
    reserved: int | None = None
    ct_exponent: int | None = None
    reserved2: int | None = None
    flags: int | None = None
    data_transfer_size: int | None = None
    max_spdm_msg_size: int | None = None

    def __post_init__(self) -> None:
        if has_requester_capabilities(self.version):
            for name in ("reserved", "ct_exponent", "reserved2", "flags"):
                if getattr(self, name) is None:
                    object.__setattr__(self, name, 0)

    @property
    def capabilities(self) -> CapabilityFlags:
        return CapabilityFlags(self.flags or 0)

    @property
    def supported_algorithms_requested(self) -> bool:
        """1.3 Param1 bit 0 (SPDM_GET_CAPABILITIES_REQUEST_PARAM1SUPPORTED_ALGORITHMS)."""
        return self.version >= 0x13 and bool(self.param1 & SUPPORTED_ALGORITHMS)


@record("registry_id" / c.Int8ul, "reserved" / c.Int8ul, "algorithm_id" / c.Int16ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class ExtAlg(Record):
    """An extended (non-DMTF) algorithm entry."""

    registry_id: int
    reserved: int = 0
    algorithm_id: int


MAX_ALG_STRUCT_EXTS = 0xF
"""ExtAlgCount, the low 4 bits of an AlgStruct's AlgCount: at most 15 extended algorithms per AlgStruct."""


@record(
    "alg_type" / c.Int8ul,
    "_alg_count" / c.Rebuild(c.Int8ul, of(lambda ext: 0x20 | len(ext), "ext")),
    require(of(lambda count: count >> 4 == 2, "_alg_count"), "FixedAlgCount is not 2", field="alg_count"),
    "alg_supported" / c.Int16ul,
    "ext" / c.Array(of(lambda count: count & MAX_ALG_STRUCT_EXTS, "_alg_count"), ExtAlg.layout),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class AlgStruct(Record):
    """One AlgStruct: an AlgType (DHE, AEAD, ReqBaseAsymAlg, KeySchedule) and its bitmask."""

    alg_type: int
    alg_supported: int
    ext: tuple[ExtAlg, ...] = ()


_LENGTH_FIELDS = ("ext_asym", "ext_hash", "alg_structs")
NEGOTIATE_ALGORITHMS_FIXED_SIZE = 32
"""The bytes of NEGOTIATE_ALGORITHMS besides its ext algs and AlgStructs, which its Length counts too."""
ALGORITHMS_FIXED_SIZE = 36
"""The bytes of ALGORITHMS besides its ext algs and AlgStructs, which its Length counts too."""
SUPPORTED_ALGORITHMS_FIXED_SIZE = 28
"""The bytes of 1.3 CAPABILITIES' Supported Algorithms block besides its ext algs and AlgStructs (its Length
counts them all); its offer is bounded as NEGOTIATE_ALGORITHMS' is."""


def _algorithms_length(fixed: int) -> Callable[..., int]:
    """The message size from `fixed` and the `_LENGTH_FIELDS`."""

    def expected(ext_asym: Any, ext_hash: Any, alg_structs: Any) -> int:
        exts = len(ext_asym) + len(ext_hash)
        return fixed + 4 * exts + sum(4 + 4 * len(a.ext) for a in alg_structs)

    return expected


def _length_rules(fixed: int) -> list[c.Construct]:
    """Length equals the message size and stays within the version's bound; few ext algs."""
    expected = _algorithms_length(fixed)

    def matches(length: int, *fields: Any) -> bool:
        return bool(length == expected(*fields))

    def within(version: int, length: int) -> bool:
        return length <= max_algorithms_length(version)

    return [
        require(of(matches, "length", *_LENGTH_FIELDS), "Length does not match the message size", field="length"),
        require(of(within, "version", "length"), "Length over the bound for this SPDM version", field="length"),
    ]


def _alg_structs() -> c.Construct:
    return "alg_structs" / c.Array(field("_alg_struct_count"), AlgStruct.layout)


def _offer_body(*reserved3_and_mel: c.Construct) -> list[c.Construct]:
    """What NEGOTIATE_ALGORITHMS offers after its Length, which CAPABILITIES' 1.3 Supported Algorithms
    block lists the same way: the measurement specification to the AlgStructs, with the fields
    between the ext counts and the ext algs (ReservedU16, or at 1.3 Reserved and MELspecification)."""
    return [
        "measurement_specification" / c.Int8ul,
        "other_params_support" / c.Int8ul,
        "base_asym_algo" / c.Int32ul,
        "base_hash_algo" / c.Int32ul,
        "reserved2" / c.Bytes(12),
        "_ext_asym_count" / c.Rebuild(c.Int8ul, length_of("ext_asym")),
        "_ext_hash_count" / c.Rebuild(c.Int8ul, length_of("ext_hash")),
        require(
            of(lambda asym, hash_: asym + hash_ <= MAX_EXT_ASYM_PLUS_HASH, "_ext_asym_count", "_ext_hash_count"),
            "ExtAsymCount + ExtHashCount over 20",
        ),
        *reserved3_and_mel,
        "ext_asym" / c.Array(field("_ext_asym_count"), ExtAlg.layout),
        "ext_hash" / c.Array(field("_ext_hash_count"), ExtAlg.layout),
        _alg_structs(),
    ]


def _lists_algorithms(version: int, param1: int) -> bool:
    return version >= 0x13 and bool(param1 & SUPPORTED_ALGORITHMS)


_SUPPORTED_ALGORITHMS_LENGTH = _algorithms_length(SUPPORTED_ALGORITHMS_FIXED_SIZE)


@record(
    "_alg_struct_count" / c.Rebuild(c.Int8ul, length_of("alg_structs")),
    "param2" / c.Int8ul,
    "length" / c.Rebuild(c.Int16ul, of(_SUPPORTED_ALGORITHMS_LENGTH, *_LENGTH_FIELDS)),
    *_offer_body("reserved3" / c.Int8ul, "mel_specification" / c.Int8ul),
    require(
        of(lambda length, *fields: length == _SUPPORTED_ALGORITHMS_LENGTH(*fields), "length", *_LENGTH_FIELDS),
        "Length does not match the block size",
        field="length",
    ),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class SupportedAlgorithms(Record):
    """The 1.3 CAPABILITIES Supported Algorithms block (spdm_supported_algorithms_block_t): what
    NEGOTIATE_ALGORITHMS would offer, laid out as its body (Param1 the AlgStruct count, Length the
    whole block), listed by a responder whose requester asked and both have CHUNK_CAP
    (libspdm_rsp_capabilities.c). 1.4's PQC field is the first 4 bytes of `reserved2` here."""

    param2: int = 0
    measurement_specification: int = 0
    other_params_support: int = 0
    base_asym_algo: int = 0
    base_hash_algo: int = 0
    reserved2: bytes = bytes(12)
    reserved3: int = 0
    mel_specification: int = 0
    ext_asym: tuple[ExtAlg, ...] = ()
    ext_hash: tuple[ExtAlg, ...] = ()
    alg_structs: tuple[AlgStruct, ...] = ()


@message(
    Code.CAPABILITIES,
    "param1" / c.Int8ul,
    "param2" / c.Int8ul,
    "reserved" / c.Int8ul,
    "ct_exponent" / c.Int8ul,
    "reserved2" / c.Int16ul,
    "flags" / c.Int32ul,
    *_transfer_sizes(),
    *only_when(
        "supported_algorithms",
        of(_lists_algorithms, "version", "param1"),
        SupportedAlgorithms.layout,
        "Supported Algorithms present without SPDM 1.3 and Param1 bit 0",
    ),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities(Message):
    """The 1.2 sizes are ``None`` before 1.2; `supported_algorithms` is there exactly when a 1.3
    response sets Param1 bit 0 (it answers a GET_CAPABILITIES that asked, from a CHUNK_CAP pair)."""

    version: int = 0x11
    param1: int = 0
    param2: int = 0
    reserved: int = 0
    ct_exponent: int = 0
    reserved2: int = 0
    flags: int = 0
    data_transfer_size: int | None = None
    max_spdm_msg_size: int | None = None
    supported_algorithms: SupportedAlgorithms | None = None

    @property
    def capabilities(self) -> CapabilityFlags:
        return CapabilityFlags(self.flags)


@message(
    Code.NEGOTIATE_ALGORITHMS,
    "_alg_struct_count" / c.Rebuild(c.Int8ul, length_of("alg_structs")),
    "param2" / c.Int8ul,
    "length" / c.Rebuild(c.Int16ul, of(_algorithms_length(NEGOTIATE_ALGORITHMS_FIXED_SIZE), *_LENGTH_FIELDS)),
    *_offer_body(
        "reserved3" / c.IfThenElse(_MEL_SPECIFICATION, c.Int8ul, c.Int16ul),
        *only_when("mel_specification", _MEL_SPECIFICATION, c.Int8ul, "MELspecification present before SPDM 1.3"),
    ),
    *_length_rules(NEGOTIATE_ALGORITHMS_FIXED_SIZE),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class NegotiateAlgorithms(Message):
    """The requester's offer; Length and the counts are derived when encoding, checked when decoding.

    `other_params_support` (1.2: the opaque data formats; 1.3: MULTI_KEY_CONN) is reserved before 1.2.
    At 1.3 spdm_negotiate_algorithms_request_t splits the u16 `reserved3` into a u8 and
    `mel_specification` (``None`` before 1.3)."""

    version: int = 0x11
    param2: int = 0
    measurement_specification: int
    other_params_support: int = 0
    base_asym_algo: int
    base_hash_algo: int
    reserved2: bytes = bytes(12)
    reserved3: int = 0
    mel_specification: int | None = None
    ext_asym: tuple[ExtAlg, ...] = ()
    ext_hash: tuple[ExtAlg, ...] = ()
    alg_structs: tuple[AlgStruct, ...] = ()


@message(
    Code.ALGORITHMS,
    "_alg_struct_count" / c.Rebuild(c.Int8ul, length_of("alg_structs")),
    "param2" / c.Int8ul,
    "length" / c.Rebuild(c.Int16ul, of(_algorithms_length(ALGORITHMS_FIXED_SIZE), *_LENGTH_FIELDS)),
    "measurement_specification_sel" / c.Int8ul,
    "other_params_selection" / c.Int8ul,
    "measurement_hash_algo" / c.Int32ul,
    "base_asym_sel" / c.Int32ul,
    "base_hash_sel" / c.Int32ul,
    "reserved2" / c.IfThenElse(_MEL_SPECIFICATION, c.BytesInteger(11, swapped=True), c.BytesInteger(12, swapped=True)),
    *only_when("mel_specification_sel", _MEL_SPECIFICATION, c.Int8ul, "MELspecificationSel present before SPDM 1.3"),
    "_ext_asym_count" / c.Rebuild(c.Int8ul, length_of("ext_asym")),
    "_ext_hash_count" / c.Rebuild(c.Int8ul, length_of("ext_hash")),
    require(when("_ext_asym_count", "<=", 1), "ExtAsymSelCount over 1", field="ext_asym"),
    require(when("_ext_hash_count", "<=", 1), "ExtHashSelCount over 1", field="ext_hash"),
    "reserved3" / c.Int16ul,
    "ext_asym" / c.Array(field("_ext_asym_count"), ExtAlg.layout),
    "ext_hash" / c.Array(field("_ext_hash_count"), ExtAlg.layout),
    _alg_structs(),
    *_length_rules(ALGORITHMS_FIXED_SIZE),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class Algorithms(Message):
    """The responder's selection; Length and the counts are derived when encoding, checked when decoding.

    `other_params_selection` (1.2: one opaque data format; 1.3: MULTI_KEY_CONN) is reserved before 1.2.
    At 1.3 spdm_algorithms_response_t takes the last byte of `reserved2` (then 11 bytes) for
    `mel_specification_sel` (``None`` before 1.3); `reserved2` is a little-endian integer so that its
    default, 0, fits either size."""

    version: int = 0x11
    param2: int = 0
    measurement_specification_sel: int
    other_params_selection: int = 0
    measurement_hash_algo: int
    base_asym_sel: int
    base_hash_sel: int
    reserved2: int = 0
    mel_specification_sel: int | None = None
    reserved3: int = 0
    ext_asym: tuple[ExtAlg, ...] = ()
    ext_hash: tuple[ExtAlg, ...] = ()
    alg_structs: tuple[AlgStruct, ...] = ()

    def selected(self, alg_type: int) -> int:
        """The AlgSupported bits of the AlgStruct of `alg_type`, 0 when absent."""
        return next((a.alg_supported for a in self.alg_structs if a.alg_type == alg_type), 0)
