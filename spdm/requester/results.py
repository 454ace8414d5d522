"""What the requester's operations establish, each part verified, as plain values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from spdm.certs import VerifiedChain
from spdm.measurements import Appraisal
from spdm.messages.measurements import MeasurementBlock
from spdm.negotiated import Negotiated

__all__ = ["AuthenticationResult", "ChallengeResult", "MeasurementResult", "SetCertificateResult"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChallengeResult:
    slot: int
    requester_nonce: bytes
    responder_nonce: bytes
    measurement_summary_hash: bytes | None
    opaque_data: bytes
    basic_mut_auth_requested: bool
    requester_authenticated: bool = False
    """The requester answered the basic mutual authentication CHALLENGE_AUTH asked for (encapsulated
    GET_DIGESTS, GET_CERTIFICATE and CHALLENGE, with `RequesterConfig.identities`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MeasurementResult:
    """Measurement blocks as reported; `signed` means the signature over L1/L2 verified."""

    operation: int
    blocks: tuple[MeasurementBlock, ...]
    total_indices: int | None
    signed: bool
    slot: int | None
    requester_nonce: bytes | None
    responder_nonce: bytes
    opaque_data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationResult:
    """Everything `authenticate` established, each part verified."""

    negotiated: Negotiated
    digests: Mapping[int, bytes]
    slot: int
    chain: VerifiedChain
    chain_bytes: bytes
    challenge: ChallengeResult
    measurements: MeasurementResult | None
    appraisal: Appraisal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SetCertificateResult:
    """SET_CERTIFICATE's outcome. `reset_required`: the device answered ERROR ResetRequired, so the
    chain takes `slot` only after the device resets (reset it, then reconnect); else it took the slot."""

    slot: int
    reset_required: bool
