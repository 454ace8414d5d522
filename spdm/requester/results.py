"""What the requester's operations establish, each part verified, as plain values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from spdm.certs import VerifiedChain
from spdm.crypto import measurement_hash_suite
from spdm.errors import VerificationError
from spdm.measurements import Appraisal
from spdm.mel import check_mel
from spdm.messages.measurements import ALL_MEASUREMENTS, MeasurementBlock
from spdm.messages.mel import MelLog
from spdm.negotiated import Negotiated

__all__ = ["AuthenticationResult", "ChallengeResult", "MeasurementResult", "MelResult", "SetCertificateResult"]


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
    content_changed: int = 0
    """A signed answer's MeasurementContentChanged from 1.2 (Param2 bits 5:4): 0 no detection,
    1 the measurements changed during this L1/L2 transcript, 2 they did not."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MelResult:
    """The device's measurement extension log (SPDM 1.3), read whole: `raw` as it came, `log` parsed
    (DMTF format). `check` binds it to the measurements it extends."""

    log: MelLog
    raw: bytes
    measurement_hash_algo: int
    """The negotiated MeasurementHashAlgo, which extends the log into its measurement blocks."""

    def check(self, measurements: MeasurementResult) -> tuple[int, ...]:
        """The hash-extended measurement indices this log accounts for (`spdm.mel.check_mel`), checked
        against a read of every block (GET_MEASUREMENTS 0xFF); `VerificationError` names the first that
        does not agree. Read the log and the measurements together: a device that extends one more
        entry between the two reads fails the check."""
        if measurements.operation != ALL_MEASUREMENTS:
            raise VerificationError("the MEL is checked against every measurement block (GET_MEASUREMENTS 0xFF)")
        suite = measurement_hash_suite(self.measurement_hash_algo)
        if suite is None:
            raise VerificationError("the measurements are raw bit streams only: no hash extends the MEL")
        return check_mel(self.log, measurements.blocks, suite)


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
