"""CHALLENGE/CHALLENGE_AUTH."""

from __future__ import annotations

from dataclasses import dataclass

import construct as c

from spdm.messages._layout import field, length_of, negotiated_bytes, of, only_when
from spdm.messages.bounds import NONCE_SIZE, opaque_length_bound
from spdm.messages.certificates import SLOT_ID_MASK
from spdm.messages.codec import Message, message
from spdm.messages.codes import Code

__all__ = [
    "REQUESTER_CONTEXT_SIZE",
    "Challenge",
    "ChallengeAuth",
    "has_requester_context",
    "requester_context_field",
]

REQUESTER_CONTEXT_SIZE = 8
"""SPDM_REQ_CONTEXT_SIZE: the RequesterContext of 1.3 CHALLENGE and GET_MEASUREMENTS, echoed by their responses."""


def has_requester_context(version: int) -> bool:
    """CHALLENGE, GET_MEASUREMENTS and their responses carry a RequesterContext from SPDM 1.3."""
    return version >= 0x13


_REQUESTER_CONTEXT = of(has_requester_context, "version")


def requester_context_field() -> list[c.Construct]:
    """RequesterContext (SPDM 1.3): in CHALLENGE, GET_MEASUREMENTS and their responses from 1.3 only."""
    return only_when(
        "requester_context",
        _REQUESTER_CONTEXT,
        c.Bytes(REQUESTER_CONTEXT_SIZE),
        "RequesterContext present before SPDM 1.3",
    )


@message(
    Code.CHALLENGE,
    "slot_id" / c.Int8ul,
    "summary_hash_type" / c.Int8ul,
    "nonce" / c.Bytes(NONCE_SIZE),
    *requester_context_field(),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge(Message):
    """spdm_challenge_request_t; `requester_context` (1.3) is ``None`` before 1.3."""

    version: int = 0x11
    slot_id: int = 0
    summary_hash_type: int = 0
    nonce: bytes
    requester_context: bytes | None = None


@message(
    Code.CHALLENGE_AUTH,
    "attributes" / c.Int8ul,
    "slot_mask" / c.Int8ul,
    "cert_chain_hash" / negotiated_bytes("hash_size"),
    "nonce" / c.Bytes(NONCE_SIZE),
    "measurement_summary_hash" / negotiated_bytes("hash_size", "measurement_summary_hash"),
    "_opaque_length" / c.Rebuild(c.Int16ul, length_of("opaque_data")),
    opaque_length_bound("OpaqueLength"),
    "opaque_data" / c.Bytes(field("_opaque_length")),
    *requester_context_field(),
    "signature" / negotiated_bytes("signature_size"),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class ChallengeAuth(Message):
    """spdm_challenge_auth_response_t. `measurement_summary_hash` is ``None`` when the request asked for
    none or MEAS_CAP is 0; `requester_context` (1.3: the request's, after OpaqueData) before 1.3."""

    version: int = 0x11
    attributes: int = 0
    slot_mask: int
    cert_chain_hash: bytes
    nonce: bytes
    measurement_summary_hash: bytes | None = None
    opaque_data: bytes = b""
    requester_context: bytes | None = None
    signature: bytes

    @property
    def slot_id(self) -> int:
        return self.attributes & SLOT_ID_MASK

    @property
    def basic_mut_auth_requested(self) -> bool:
        return bool(self.attributes & 0x80)
