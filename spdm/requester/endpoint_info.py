"""GET_ENDPOINT_INFO (SPDM 1.3), the one rule for the connection and for its sessions.

The two differ only in how the request travels; the request, the checks of the answer and the
signature over IL (`spdm.transcript.endpoint_info_digest`: A, then this one exchange, the same in a
session) with the slot's verified leaf key are the same. The responder must set an EP_INFO_CAP bit,
and EP_INFO_CAP_SIG for a signed request (libspdm_req_get_endpoint_info.c refuses the same).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from spdm.certs import VerifiedChain
from spdm.crypto import asym_suite, hash_suite
from spdm.endpoint_info import EndpointInfoResult, check_endpoint_info
from spdm.errors import VerificationError
from spdm.messages.bounds import NONCE_SIZE
from spdm.messages.certificates import PUBLIC_KEY_SLOT, SLOT_COUNT, SLOT_ID_MASK
from spdm.messages.codes import Code
from spdm.messages.endpoint_info import SIGNATURE_REQUESTED, EndpointInfo, GetEndpointInfo
from spdm.negotiated import Negotiated
from spdm.requester.events import Steps
from spdm.requester.support import require_support

__all__ = ["EndpointInfoResult", "get_endpoint_info"]



def get_endpoint_info(
    exchange: Callable[[GetEndpointInfo, bool], Steps[tuple[EndpointInfo, bytes, bytes]]],
    *,
    negotiated: Negotiated,
    vca: bytes,
    verified: Mapping[int, VerifiedChain],
    random: Callable[[int], bytes],
    signed: bool,
    slot: int,
) -> Steps[EndpointInfoResult]:
    """GET_ENDPOINT_INFO (DeviceClassIdentifier); a signed answer is checked with `slot`'s verified
    chain over IL, A being `vca`. `exchange(request, signature_requested)` sends the request."""
    require_support(negotiated, Code.GET_ENDPOINT_INFO, signed=signed)
    if not 0 <= slot < SLOT_COUNT:
        nibble = PUBLIC_KEY_SLOT & SLOT_ID_MASK
        raise ValueError(f"slot {slot} is not 0..7 (provisioned public keys, slot 0x{nibble:X}, are not supported)")
    chain = verified.get(slot)
    if signed and chain is None:
        raise VerificationError(f"slot {slot}: verify the certificate chain before signed endpoint info")
    nonce = random(NONCE_SIZE) if signed else None
    ask = GetEndpointInfo(
        version=negotiated.version,
        slot_param=slot if signed else 0,
        request_attributes=SIGNATURE_REQUESTED if signed else 0,
        nonce=nonce,
    )
    answer, request, response = yield from exchange(ask, signed)
    return check_endpoint_info(
        answer,
        response,
        request=ask,
        request_bytes=request,
        key=None if chain is None else chain.leaf_public_key,
        asym=asym_suite(negotiated.base_asym_algo) if signed else None,
        hashes=hash_suite(negotiated.base_hash_algo),
        vca=vca,
    )
