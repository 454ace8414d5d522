"""The responder asks the requester for its endpoint info (SPDM 1.3) through encapsulated requests.

`Responder.ask_endpoint_info` arms one `EndpointInfoAsk`, outside sessions or in an established
session; the requester's next GET_ENCAPSULATED_REQUEST there gets ENCAPSULATED_REQUEST carrying
GET_ENDPOINT_INFO (signature requested, with a nonce, when the requester offered EP_INFO_CAP_SIG, as
libspdm_rsp_encap_get_endpoint_info.c asks), and its DELIVER_ENCAPSULATED_RESPONSE is checked
(`spdm.endpoint_info.check_endpoint_info`: the slot, the signature over IL with the requester's leaf
key) and acknowledged with ENCAPSULATED_RESPONSE_ACK, PayloadType 0. A bad answer is refused with
ERROR InvalidResponseCode and the ask stays armed; a good one disarms it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from spdm._checks import invalid_response
from spdm.crypto import asym_suite, hash_suite
from spdm.endpoint_info import EndpointInfoResult, check_endpoint_info
from spdm.errors import NegotiationError, SpdmError
from spdm.messages import encode
from spdm.messages.bounds import NONCE_SIZE
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.encapsulated import DeliverEncapsulatedResponse, EncapsulatedRequest
from spdm.messages.endpoint_info import SIGNATURE_REQUESTED, EndpointInfo, GetEndpointInfo
from spdm.negotiated import Negotiated
from spdm.responder._common import (
    check_request_id,
    embedded_response,
    ends_encapsulated_flow,
    response_ack,
    unexpected,
)
from spdm.responder.config import ResponderConfig
from spdm.responder.sessions import Session

__all__ = ["EndpointInfoAsk"]

_REQUEST_ID = 1


@dataclass(slots=True, kw_only=True)
class EndpointInfoAsk:
    """One GET_ENDPOINT_INFO the responder asks; `sent` is the encapsulated request once it went out."""

    slot: int
    signed: bool
    requester_key: PublicKeyTypes | None
    sent: tuple[GetEndpointInfo, bytes] | None = None

    @classmethod
    def arm(cls, negotiated: Negotiated | None, config: ResponderConfig, session: Session | None) -> EndpointInfoAsk:
        """The ask for this connection (1.3, ENCAP_CAP both ways, the requester's EP_INFO_CAP), or `NegotiationError`.

        Signed when the requester set EP_INFO_CAP_SIG, by the slot whose chain the session's mutual
        authentication read, else `config.requester_slot`, checked with `config.requester_chain`.
        """
        if negotiated is None or negotiated.version < 0x13:
            raise NegotiationError("asking for endpoint info needs an SPDM 1.3 connection")
        if not negotiated.both(F.ENCAP_CAP) or not negotiated.requester_flags & F.EP_INFO_CAP_MASK:
            raise NegotiationError("asking for endpoint info needs ENCAP_CAP both ways and the requester's EP_INFO_CAP")
        signed = bool(negotiated.requester_flags & F.EP_INFO_CAP_SIG)
        if session is not None and session.requester_key is not None:
            return cls(slot=session.requester_slot, signed=signed, requester_key=session.requester_key)
        key = None
        if config.requester_chain:
            key = x509.load_der_x509_certificate(config.requester_chain[-1]).public_key()
        if signed and key is None:
            raise NegotiationError("the requester signs its endpoint info: give its certificates (requester_chain)")
        return cls(slot=config.requester_slot, signed=signed, requester_key=key)

    def encapsulated_request(self, version: int, random: Callable[[int], bytes]) -> bytes:
        """ENCAPSULATED_REQUEST with the GET_ENDPOINT_INFO (a fresh nonce each time it is asked for)."""
        ask = GetEndpointInfo(
            version=version,
            slot_param=self.slot,
            request_attributes=SIGNATURE_REQUESTED if self.signed else 0,
            nonce=random(NONCE_SIZE) if self.signed else None,
        )
        embedded = encode(ask)
        self.sent = (ask, embedded)
        return encode(EncapsulatedRequest(version=version, request_id=_REQUEST_ID, payload=embedded))

    def delivered(
        self, deliver: DeliverEncapsulatedResponse, negotiated: Negotiated, vca: bytes, padding: int
    ) -> tuple[bytes, EndpointInfoResult | None]:
        """The ACK to the requester's answer, and what it told (None when its ResponseNotReady ended
        the flow, `ends_encapsulated_flow`); `ProtocolError` when the answer is bad."""
        if self.sent is None:
            raise unexpected("DELIVER_ENCAPSULATED_RESPONSE before the encapsulated GET_ENDPOINT_INFO was sent")
        check_request_id(deliver, _REQUEST_ID, "encapsulated request")
        ask, embedded = self.sent
        answer, exact = embedded_response(deliver, negotiated, padding, signature_requested=self.signed)
        if ends_encapsulated_flow(answer):
            return response_ack(deliver), None
        if not isinstance(answer, EndpointInfo):
            raise invalid_response(f"{answer.name} answers the encapsulated GET_ENDPOINT_INFO")
        asym = asym_suite(negotiated.req_base_asym_alg) if self.signed else None
        try:
            result = check_endpoint_info(
                answer,
                exact,
                request=ask,
                request_bytes=embedded,
                key=self.requester_key,
                asym=asym,
                hashes=hash_suite(negotiated.base_hash_algo),
                vca=vca,
                requester_signs=True,
            )
        except SpdmError as error:
            raise invalid_response(f"the requester's ENDPOINT_INFO: {error}") from None
        return response_ack(deliver), result
