"""GET_MEASUREMENTS, the one rule for the connection and for its sessions.

The two differ only in where L1/L2 is kept (the connection's `ConnectionTranscript`, or a
session's own) and how the request travels; the request, the checks of the answer, the signature
over L1/L2 with the slot's verified leaf key and the result are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from spdm._checks import check_measurements, check_requester_context
from spdm.certs import VerifiedChain
from spdm.crypto import asym_suite, hash_suite
from spdm.errors import VerificationError
from spdm.messages.bounds import NONCE_SIZE
from spdm.messages.challenge import REQUESTER_CONTEXT_SIZE, has_requester_context
from spdm.messages.codes import Code
from spdm.messages.measurements import GetMeasurements, Measurements
from spdm.negotiated import Negotiated
from spdm.requester.events import Steps
from spdm.requester.results import MeasurementResult
from spdm.requester.support import require_support
from spdm.transcript import ConnectionTranscript

__all__ = ["get_measurements"]


def get_measurements(
    transact: Callable[[GetMeasurements, bool], Steps[tuple[Measurements, bytes, bytes]]],
    transcript: ConnectionTranscript,
    *,
    negotiated: Negotiated,
    verified: Mapping[int, VerifiedChain],
    random: Callable[[int], bytes],
    operation: int,
    signed: bool,
    slot: int,
) -> Steps[MeasurementResult]:
    """GET_MEASUREMENTS of one index (1..0xFE), all (0xFF) or just the count (0).

    `transact(request, signature_requested)` sends the request; a signed answer is checked with
    the verified chain of `slot` over `transcript`'s L1/L2.
    """
    require_support(negotiated, Code.GET_MEASUREMENTS, signed=signed)
    chain = verified.get(slot)
    if signed and chain is None:
        raise VerificationError(f"slot {slot}: verify the certificate chain before signed measurements")
    nonce = random(NONCE_SIZE) if signed else None
    version = negotiated.version
    ask = GetMeasurements.for_version(
        version,
        operation=operation,
        nonce=nonce,
        slot=slot,
        requester_context=random(REQUESTER_CONTEXT_SIZE) if has_requester_context(version) else None,
    )
    try:
        answer, request, response = yield from transact(ask, signed)
        check_requester_context(ask.requester_context, answer)
        check_measurements(ask, answer, negotiated)
        if answer.signature is not None and chain is not None:
            signed_part = response[: len(response) - len(answer.signature)]
            digest = transcript.measurements_digest(request, signed_part)
            hashes = hash_suite(negotiated.base_hash_algo)
            asym_suite(negotiated.base_asym_algo).verify(chain.leaf_public_key, digest, answer.signature, hashes)
        else:
            transcript.add_measurements(request, response)
    except BaseException:  # whatever failed, the responder's M and ours no longer agree
        transcript.restart_measurements()
        raise
    return MeasurementResult(
        operation=operation,
        blocks=answer.blocks,
        total_indices=answer.total_indices if operation == 0 else None,
        signed=signed,
        slot=slot if signed else None,
        requester_nonce=nonce,
        responder_nonce=answer.nonce,
        opaque_data=answer.opaque_data,
        content_changed=answer.content_changed,
    )
