"""ENDPOINT_INFO (SPDM 1.3): how an endpoint answers GET_ENDPOINT_INFO, and how the asker checks
the answer, in either role.

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
other requests are checked. The asker (the requester, or a responder asking through encapsulated
requests) checks the answer with `check_endpoint_info`: the slot it asked (0 unsigned), and the
signature over IL with that slot's leaf key (libspdm_req_get_endpoint_info.c and
libspdm_rsp_encap_get_endpoint_info.c check the same).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from spdm._checks import invalid_response
from spdm.crypto import AsymSuite, HashSuite
from spdm.errors import ProtocolError
from spdm.messages import encode
from spdm.messages.bounds import NONCE_SIZE
from spdm.messages.certificates import SLOT_COUNT
from spdm.messages.codes import CapabilityFlags, Code, ErrorCode
from spdm.messages.endpoint_info import DEVICE_CLASS_IDENTIFIER, EndpointInfo, GetEndpointInfo
from spdm.signing import SignatureInput
from spdm.transcript import endpoint_info_digest

__all__ = ["EndpointInfoResult", "Signer", "answer_endpoint_info", "check_endpoint_info"]

Signer = Callable[[SignatureInput], bytes]
"""Signs what a slot's key signs, returning the signature bytes."""



@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointInfoResult:
    """A peer's EPInfo as reported; `signed` means its signature over IL verified with the key of `slot`.

    The nonces are the asker's (`requester_nonce`, in GET_ENDPOINT_INFO) and the answerer's
    (`responder_nonce`, in ENDPOINT_INFO), when a signature was asked for.
    """

    ep_info: bytes
    signed: bool
    slot: int | None
    requester_nonce: bytes | None
    responder_nonce: bytes | None


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
    signer = signers.get(slot) if slot < SLOT_COUNT else None
    if signer is None or hashes is None:
        raise ProtocolError(ErrorCode.InvalidRequest, f"slot {slot} holds no key to sign ENDPOINT_INFO with")
    nonce = random(NONCE_SIZE)
    unsigned = encode(EndpointInfo(version=ask.version, slot_param=slot, nonce=nonce, ep_info=ep_info))
    signed = endpoint_info_digest(hashes, ask.version, vca, request, unsigned, requester_signs=requester_signs)
    return unsigned + signer(signed)


def check_endpoint_info(
    answer: EndpointInfo,
    response: bytes,
    *,
    request: GetEndpointInfo,
    request_bytes: bytes,
    key: PublicKeyTypes | None,
    asym: AsymSuite | None,
    hashes: HashSuite,
    vca: bytes,
    requester_signs: bool = False,
) -> EndpointInfoResult:
    """The checked answer to `request` (exact bytes `request_bytes`): `response` is the ENDPOINT_INFO's.

    A signed request needs `key` and `asym` (the signer's leaf key and algorithm); the signature must
    verify over IL (`VerificationError` if not); the answer must name the slot asked, 0 when unsigned.
    """
    slot = request.slot_id if request.signature_requested else 0
    if answer.slot_id != slot:
        raise invalid_response(f"ENDPOINT_INFO for slot {answer.slot_id}, asked {slot}")
    if not request.signature_requested:
        return EndpointInfoResult(
            ep_info=answer.ep_info, signed=False, slot=None, requester_nonce=None, responder_nonce=None
        )
    if answer.signature is None or key is None or asym is None:
        raise invalid_response("ENDPOINT_INFO: a signature was asked for and cannot be checked")
    unsigned = response[: len(response) - len(answer.signature)]
    signed = endpoint_info_digest(
        hashes, request.version, vca, request_bytes, unsigned, requester_signs=requester_signs
    )
    asym.verify(key, signed, answer.signature, hashes)
    return EndpointInfoResult(
        ep_info=answer.ep_info, signed=True, slot=slot, requester_nonce=request.nonce, responder_nonce=answer.nonce
    )
