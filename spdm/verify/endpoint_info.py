"""ENDPOINT_INFO signatures in a capture (SPDM 1.3), in both directions.

The responder signs ENDPOINT_INFO when GET_ENDPOINT_INFO asks; the requester signs the one it
delivers for a responder's encapsulated GET_ENDPOINT_INFO (ENCAPSULATED_REQUEST or a PayloadType-1
ENCAPSULATED_RESPONSE_ACK carries the request, DELIVER_ENCAPSULATED_RESPONSE the answer). Both sign
IL (`spdm.transcript.endpoint_info_digest`), in the clear and in sessions alike. `EndpointInfoWatch`
follows the messages of one conversation (the clear one, or one session's) in order and names each
signature to check; the caller holds the keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from spdm.crypto import hash_suite
from spdm.errors import DecodeError
from spdm.messages import Message
from spdm.messages.codes import Code
from spdm.messages.encapsulated import (
    DeliverEncapsulatedResponse,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    GetEncapsulatedRequest,
    embedded_message,
    embedded_payload,
)
from spdm.messages.endpoint_info import EndpointInfo, GetEndpointInfo
from spdm.negotiated import Negotiated
from spdm.signing import SignatureInput
from spdm.transcript import endpoint_info_digest

__all__ = ["EndpointInfoSignature", "EndpointInfoWatch"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointInfoSignature:
    """One ENDPOINT_INFO signature to check: by the responder's `slot` key, or (`slot` None) by the requester."""

    name: str
    slot: int | None
    signed: SignatureInput
    signature: bytes


class EndpointInfoWatch:
    """The GET_ENDPOINT_INFO exchanges of one conversation, direct and encapsulated."""

    def __init__(self) -> None:
        self._request: bytes | None = None
        """The exact signed GET_ENDPOINT_INFO that awaits its ENDPOINT_INFO."""
        self._encapsulated: bytes | None = None
        """The exact encapsulated request the requester must answer next."""
        self._request_id = 0
        """Its RequestID, which the DELIVER_ENCAPSULATED_RESPONSE answering it carries."""

    def observe(self, msg: Message, data: bytes, negotiated: Negotiated, vca: bytes) -> EndpointInfoSignature | None:
        """Take note of the next message of the conversation; the signature it carries, if any. A delivered
        answer to a signed encapsulated GET_ENDPOINT_INFO that is not one well-formed ENDPOINT_INFO
        (`embedded_message`: the capture's padding is already cut, and a secured record has none), that
        answers a malformed encapsulated request or not its code, or under another RequestID, raises
        `DecodeError`."""
        if msg.code.is_request:
            found = self._delivered(msg, negotiated, vca) if isinstance(msg, DeliverEncapsulatedResponse) else None
            self._request = data if isinstance(msg, GetEndpointInfo) and msg.signature_requested else None
            if isinstance(msg, GetEncapsulatedRequest):
                self._encapsulated = None
            return found
        request, self._request = self._request, None
        payload = embedded_payload(msg)
        if payload is not None and isinstance(msg, (EncapsulatedRequest, EncapsulatedResponseAck)):
            self._encapsulated, self._request_id = payload, msg.request_id
        elif isinstance(msg, EndpointInfo) and msg.signature is not None and request is not None:
            hashes = hash_suite(negotiated.base_hash_algo)
            unsigned = data[: len(data) - len(msg.signature)]
            signed = endpoint_info_digest(hashes, negotiated.version, vca, request, unsigned)
            name = "ENDPOINT_INFO signature over IL (A, GET_ENDPOINT_INFO, ENDPOINT_INFO)"
            return EndpointInfoSignature(name=name, slot=msg.slot_id, signed=signed, signature=msg.signature)
        return None

    def _delivered(
        self, deliver: DeliverEncapsulatedResponse, negotiated: Negotiated, vca: bytes
    ) -> EndpointInfoSignature | None:
        """The requester's answer to a signed encapsulated GET_ENDPOINT_INFO, read with ReqBaseAsymAlg's size."""
        request, self._encapsulated = self._encapsulated, None
        if request is None:
            return None
        try:
            asked, _ = embedded_message(request, negotiated.codec_context(), 0)
        except DecodeError as error:  # what the requester answered cannot be checked: fail, do not skip it
            reason = f"it answers an encapsulated request that is malformed: {error}"
            raise DecodeError(deliver.name, "payload", reason) from None
        if deliver.payload[1:2] not in (bytes([asked.code.response_code]), bytes([Code.ERROR])):
            raise DecodeError(deliver.name, "payload", f"its payload does not answer the encapsulated {asked.name}")
        if deliver.request_id != self._request_id:
            raise DecodeError(
                deliver.name, "request_id", f"RequestID {deliver.request_id}, the request's is {self._request_id}"
            )
        if not isinstance(asked, GetEndpointInfo) or not asked.signature_requested:
            return None
        context = negotiated.requester_response_context(signature_requested=True)
        answer, exact = embedded_message(deliver.payload, context, 0)
        if not isinstance(answer, EndpointInfo) or answer.signature is None:
            raise DecodeError(
                answer.name, "payload", "the answer to a signed GET_ENDPOINT_INFO is no signed ENDPOINT_INFO"
            )
        hashes = hash_suite(negotiated.base_hash_algo)
        unsigned = exact[: len(exact) - len(answer.signature)]
        signed = endpoint_info_digest(hashes, negotiated.version, vca, request, unsigned, requester_signs=True)
        name = "encapsulated ENDPOINT_INFO signature by the requester over IL"
        return EndpointInfoSignature(name=name, slot=None, signed=signed, signature=answer.signature)
