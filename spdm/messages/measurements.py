"""GET_MEASUREMENTS/MEASUREMENTS, measurement blocks and DMTF measurement values."""

from __future__ import annotations

from dataclasses import dataclass

import construct as c

from spdm.messages._layout import exactly, field, length_of, negotiated_bytes, of, only_when, when
from spdm.messages.bounds import NONCE_SIZE, opaque_length_bound
from spdm.messages.certificates import SLOT_ID_MASK
from spdm.messages.challenge import requester_context_field
from spdm.messages.codec import Message, Record, message, record
from spdm.messages.codes import Code, MeasurementSpecification

__all__ = ["ALL_MEASUREMENTS", "DmtfMeasurement", "GetMeasurements", "MeasurementBlock", "Measurements"]

ALL_MEASUREMENTS = 0xFF
"""GET_MEASUREMENTS MeasurementOperation for every measurement block (0 asks for the count, 1..0xFE for one index)."""

_SIGNATURE_REQUESTED = 0x01
_RAW_BIT_STREAM_REQUESTED = 0x02  # 1.2
_CONTENT_CHANGED_SHIFT = 4  # 1.2: MEASUREMENTS Param2 bits [5:4]


@record(
    "value_type" / c.Int8ul,
    "_value_size" / c.Rebuild(c.Int16ul, length_of("value")),
    "value" / c.Bytes(field("_value_size")),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class DmtfMeasurement(Record):
    """A measurement in the DMTF format: a digest, or a raw bit stream when bit 7 of the type is set."""

    value_type: int
    value: bytes

    @property
    def is_raw_bit_stream(self) -> bool:
        return bool(self.value_type & 0x80)

    @property
    def kind(self) -> int:
        """DMTFSpecMeasurementValueType bits [6:0] (see `MeasurementValueType`; later specs add more)."""
        return self.value_type & 0x7F


def _measurement_size(measurement: DmtfMeasurement | bytes) -> int:
    if isinstance(measurement, DmtfMeasurement):
        return 3 + len(measurement.value)
    return len(measurement)


_IS_DMTF = when("specification", "==", MeasurementSpecification.DMTF)


@record(
    "index" / c.Int8ul,
    "specification" / c.Int8ul,
    "_measurement_size" / c.Rebuild(c.Int16ul, of(_measurement_size, "measurement")),
    "measurement" / exactly(field("_measurement_size"), c.IfThenElse(_IS_DMTF, DmtfMeasurement.layout, c.GreedyBytes)),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class MeasurementBlock(Record):
    """One measurement block; a DMTF `specification` (0x01) makes `measurement` a `DmtfMeasurement`."""

    index: int
    specification: int = int(MeasurementSpecification.DMTF)  # as decoded: a plain int
    measurement: DmtfMeasurement | bytes


def _signature_requested(attributes: int) -> bool:
    return bool(attributes & _SIGNATURE_REQUESTED)


def _has_slot_id_param(attributes: int, version: int) -> bool:
    return _signature_requested(attributes) and version >= 0x11


@message(
    Code.GET_MEASUREMENTS,
    "attributes" / c.Int8ul,
    "operation" / c.Int8ul,
    *only_when(
        "nonce",
        when("attributes", "&", _SIGNATURE_REQUESTED),
        c.Bytes(NONCE_SIZE),
        "Nonce present without SignatureRequested",
    ),
    *only_when(
        "slot_id_param",
        of(_has_slot_id_param, "attributes", "version"),
        c.Int8ul,
        "SlotIDParam present without SignatureRequested or before SPDM 1.1",
    ),
    *requester_context_field(),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class GetMeasurements(Message):
    """spdm_get_measurements_request_t: Nonce and (from 1.1) SlotIDParam are present only when a
    signature is requested; RequesterContext (1.3) always, ``None`` before 1.3."""

    version: int = 0x11
    attributes: int = 0
    operation: int
    nonce: bytes | None = None
    slot_id_param: int | None = None
    requester_context: bytes | None = None

    @classmethod
    def for_version(
        cls,
        version: int,
        *,
        operation: int,
        nonce: bytes | None = None,
        slot: int = 0,
        requester_context: bytes | None = None,
    ) -> GetMeasurements:
        """GET_MEASUREMENTS at `version`, signed with `slot`'s key when it carries a `nonce`: SlotIDParam
        goes in from 1.1 only (a signed 1.0 request has none, and slot 0 signs)."""
        attributes = _SIGNATURE_REQUESTED if nonce is not None else 0
        return cls(
            version=version,
            attributes=attributes,
            operation=operation,
            nonce=nonce,
            slot_id_param=slot if _has_slot_id_param(attributes, version) else None,
            requester_context=requester_context,
        )

    @property
    def slot_id(self) -> int:
        """The slot whose key signs the answer: SlotIDParam bits [3:0], 0 without SlotIDParam (1.0)."""
        return (self.slot_id_param or 0) & SLOT_ID_MASK

    @property
    def signature_requested(self) -> bool:
        return bool(self.attributes & _SIGNATURE_REQUESTED)

    @property
    def raw_bit_stream_requested(self) -> bool:
        """1.2: the blocks should carry raw values rather than digests (a reserved bit before 1.2)."""
        return self.version >= 0x12 and bool(self.attributes & _RAW_BIT_STREAM_REQUESTED)


def _record_length(blocks: tuple[MeasurementBlock, ...]) -> int:
    return sum(4 + _measurement_size(block.measurement) for block in blocks)


@message(
    Code.MEASUREMENTS,
    "total_indices" / c.Int8ul,
    "slot_param" / c.Int8ul,
    "_block_count" / c.Rebuild(c.Int8ul, length_of("blocks")),
    "_record_length" / c.Rebuild(c.Int24ul, of(_record_length, "blocks")),
    "blocks" / exactly(field("_record_length"), c.Array(field("_block_count"), MeasurementBlock.layout)),
    "nonce" / c.Bytes(NONCE_SIZE),
    "_opaque_length" / c.Rebuild(c.Int16ul, length_of("opaque_data")),
    opaque_length_bound("OpaqueLength"),
    "opaque_data" / c.Bytes(field("_opaque_length")),
    *requester_context_field(),
    "signature" / negotiated_bytes("signature_size", "signature_requested"),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class Measurements(Message):
    """spdm_measurements_response_t: Nonce and OpaqueLength are always present, RequesterContext
    (1.3, the request's) too, ``None`` before 1.3; the signature only when requested."""

    version: int = 0x11
    total_indices: int = 0
    slot_param: int = 0
    blocks: tuple[MeasurementBlock, ...] = ()
    nonce: bytes
    opaque_data: bytes = b""
    requester_context: bytes | None = None
    signature: bytes | None = None

    @property
    def slot_id(self) -> int:
        """1.1 SlotIDParam echoed in Param2 bits [3:0] by a signed answer (reserved in 1.0: 0)."""
        return self.slot_param & SLOT_ID_MASK if self.version >= 0x11 else 0

    @property
    def content_changed(self) -> int:
        """1.2 MeasurementsContentChanged (Param2 bits [5:4]): 0 not supported, 1 changed, 2 unchanged."""
        return (self.slot_param >> _CONTENT_CHANGED_SHIFT) & 0x3 if self.version >= 0x12 else 0
