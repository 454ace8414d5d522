"""ENDPOINT_INFO (SPDM 1.3): how an endpoint answers GET_ENDPOINT_INFO, in either role.

The responder answers its requester's GET_ENDPOINT_INFO, and a requester answers the one a
responder sends inside ENCAPSULATED_REQUEST; both follow the same rules (libspdm
`libspdm_rsp_endpoint_info.c` and `libspdm_req_encap_endpoint_info.c` check the same things in
the same order), so both go through `answer_endpoint_info`:

* SubCode other than DeviceClassIdentifier (1): InvalidRequest;
* a signature asked of an endpoint without EP_INFO_CAP_SIG: UnsupportedRequest (ErrorData the code);
* the slot of a signed request: 0..7 holding a chain, else InvalidRequest (slot 0xF, a provisioned
  public key, is refused the same way: no endpoint here holds one);
* the answer: Param2 the slot (0 when unsigned), the answerer's nonce and the signature when asked;
  the signature covers IL (`spdm.transcript.endpoint_info_digest`).

Checking the version (1.3) and the answerer's own EP_INFO_CAP stays with each role, where its
other requests are checked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from spdm.crypto import HashSuite
from spdm.errors import ProtocolError
from spdm.messages import encode
from spdm.messages.codes import CapabilityFlags, Code, ErrorCode
from spdm.messages.endpoint_info import DEVICE_CLASS_IDENTIFIER, EndpointInfo, GetEndpointInfo
from spdm.signing import SignatureInput
from spdm.transcript import endpoint_info_digest

__all__ = ["MAX_EP_INFO_BYTES", "Signer", "answer_endpoint_info"]

MAX_EP_INFO_BYTES = 1024
"""The largest EPInfo an endpoint serves (libspdm's LIBSPDM_MAX_ENDPOINT_INFO_LENGTH, as the codec bounds it)."""

Signer = Callable[[SignatureInput], bytes]
"""Signs what a slot's key signs, returning the signature bytes."""

_NONCE_SIZE = 32
_SLOT_COUNT = 8


def answer_endpoint_info(
    ask: GetEndpointInfo,
    request: bytes,
    *,
    ep_info: bytes,
    flags: int,
    signers: Mapping[int, Signer],
    hashes: HashSuite | None,
    vca: bytes,
    random: Callable[[int], bytes],
    requester_signs: bool = False,
) -> bytes:
    """ENDPOINT_INFO for `ask` (whose exact bytes are `request`), or the `ProtocolError` to answer.

    `flags` are the answerer's own capabilities, `signers` its slots that can sign (under `hashes`,
    the negotiated hash), `vca` message A,
    `random` its nonce source; `requester_signs` when a requester answers an encapsulated request.
    """
    if ask.sub_code != DEVICE_CLASS_IDENTIFIER:
        raise ProtocolError(ErrorCode.InvalidRequest, f"GET_ENDPOINT_INFO SubCode 0x{ask.sub_code:02x} is not 1")
    if not ask.signature_requested:
        return encode(EndpointInfo(version=ask.version, ep_info=ep_info))
    if not flags & CapabilityFlags.EP_INFO_CAP_SIG:
        raise ProtocolError(
            ErrorCode.UnsupportedRequest, "no EP_INFO_CAP_SIG: nothing to sign with", Code.GET_ENDPOINT_INFO
        )
    slot = ask.slot_id
    signer = signers.get(slot) if slot < _SLOT_COUNT else None
    if signer is None or hashes is None:
        raise ProtocolError(ErrorCode.InvalidRequest, f"slot {slot} holds no key to sign ENDPOINT_INFO with")
    nonce = random(_NONCE_SIZE)
    unsigned = encode(EndpointInfo(version=ask.version, slot_param=slot, nonce=nonce, ep_info=ep_info))
    signed = endpoint_info_digest(hashes, ask.version, vca, request, unsigned, requester_signs=requester_signs)
    return unsigned + signer(signed)
