"""KEY_EXCHANGE/KEY_EXCHANGE_RSP and FINISH/FINISH_RSP: the DHE session handshake."""

from __future__ import annotations

from dataclasses import dataclass

import construct as c

from spdm.messages._layout import absent_when, field, length_of, negotiated_bytes, only_when, when
from spdm.messages.bounds import opaque_length_bound
from spdm.messages.certificates import SLOT_ID_MASK
from spdm.messages.codec import Message, message
from spdm.messages.codes import Code

__all__ = ["EVENT_ALL_POLICY", "RANDOM_SIZE", "Finish", "FinishRsp", "KeyExchange", "KeyExchangeRsp", "asks_all_events"]

RANDOM_SIZE = 32
"""RandomData of KEY_EXCHANGE and KEY_EXCHANGE_RSP."""
EVENT_ALL_POLICY = 0x02
"""KEY_EXCHANGE SessionPolicy bit 1 (SPDM 1.3 EventAllPolicy): the session subscribes to every event."""


def asks_all_events(version: int, session_policy: int) -> bool:
    """A KEY_EXCHANGE of `version` with `session_policy` sets EventAllPolicy (reserved before 1.3), which
    needs the responder's EVENT_CAP (libspdm_rsp_key_exchange.c refuses it, libspdm_req_key_exchange.c
    asserts it; PSK_EXCHANGE's SessionPolicy has no such bit there)."""
    return version >= 0x13 and bool(session_policy & EVENT_ALL_POLICY)


def _opaque_data() -> list[c.Construct]:
    """OpaqueDataLength (derived, bounded) and the OpaqueData it counts."""
    return [
        "_opaque_length" / c.Rebuild(c.Int16ul, length_of("opaque_data")),
        opaque_length_bound(),
        "opaque_data" / c.Bytes(field("_opaque_length")),
    ]


@message(
    Code.KEY_EXCHANGE,
    "summary_hash_type" / c.Int8ul,
    "slot_id" / c.Int8ul,
    "req_session_id" / c.Int16ul,
    "session_policy" / c.Int8ul,
    "reserved" / c.Int8ul,
    "random_data" / c.Bytes(RANDOM_SIZE),
    "exchange_data" / negotiated_bytes("dhe_size"),
    *_opaque_data(),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class KeyExchange(Message):
    """`slot_id` 0xFF names a provisioned public key; `opaque_data` holds the DSP0277 version offer;
    `session_policy` (1.2: bit 0 TerminationPolicy; 1.3: bit 1 `EVENT_ALL_POLICY`) is reserved before 1.2."""

    version: int = 0x11
    summary_hash_type: int = 0
    slot_id: int = 0
    req_session_id: int
    session_policy: int = 0
    reserved: int = 0
    random_data: bytes
    exchange_data: bytes
    opaque_data: bytes = b""


@message(
    Code.KEY_EXCHANGE_RSP,
    "heartbeat_period" / c.Int8ul,
    "param2" / c.Int8ul,
    "rsp_session_id" / c.Int16ul,
    "mut_auth_requested" / c.Int8ul,
    "req_slot_id_param" / c.Int8ul,
    "random_data" / c.Bytes(RANDOM_SIZE),
    "exchange_data" / negotiated_bytes("dhe_size"),
    "measurement_summary_hash" / negotiated_bytes("hash_size", "measurement_summary_hash"),
    *_opaque_data(),
    "signature" / negotiated_bytes("signature_size"),
    # in the clear, ResponderVerifyData moves to FINISH_RSP
    "responder_verify_data" / absent_when("handshake_in_the_clear", negotiated_bytes("hash_size")),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class KeyExchangeRsp(Message):
    """`measurement_summary_hash` is ``None`` when none was asked for or MEAS_CAP is 0;
    `responder_verify_data` is ``None`` when the handshake is in the clear."""

    version: int = 0x11
    heartbeat_period: int = 0
    param2: int = 0
    rsp_session_id: int
    mut_auth_requested: int = 0
    req_slot_id_param: int = 0
    random_data: bytes
    exchange_data: bytes
    measurement_summary_hash: bytes | None = None
    opaque_data: bytes = b""
    signature: bytes
    responder_verify_data: bytes | None = None

    @property
    def req_slot_id(self) -> int:
        """The requester's slot for mutual authentication: ReqSlotIDParam bits [3:0]."""
        return self.req_slot_id_param & SLOT_ID_MASK


@message(
    Code.FINISH,
    "attributes" / c.Int8ul,
    "req_slot_id" / c.Int8ul,
    *only_when(
        "signature",
        when("attributes", "&", 1),
        negotiated_bytes("req_signature_size"),
        "Signature must be present exactly when SignatureIncluded (Param1 bit 0) is set",
    ),
    "requester_verify_data" / negotiated_bytes("hash_size"),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class Finish(Message):
    """`signature` (the requester's, sized by ReqBaseAsymAlg) is there only under mutual auth."""

    version: int = 0x11
    attributes: int = 0
    req_slot_id: int = 0
    signature: bytes | None = None
    requester_verify_data: bytes

    @property
    def signature_included(self) -> bool:
        return bool(self.attributes & 1)

    def signature_mismatch(self, mut_auth_requested: int) -> str | None:
        """Why this FINISH contradicts KEY_EXCHANGE_RSP's MutAuthRequested, or None: it carries a
        signature exactly when mutual authentication was requested (libspdm_rsp_finish_rsp.c)."""
        if self.signature_included == bool(mut_auth_requested):
            return None
        return f"SignatureIncluded={int(self.signature_included)} but MutAuthRequested=0x{mut_auth_requested:02x}"


@message(
    Code.FINISH_RSP,
    "param1" / c.Int8ul,
    "param2" / c.Int8ul,
    "responder_verify_data" / negotiated_bytes("hash_size", "handshake_in_the_clear"),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class FinishRsp(Message):
    """`responder_verify_data` is here only when the handshake is in the clear."""

    version: int = 0x11
    param1: int = 0
    param2: int = 0
    responder_verify_data: bytes | None = None
