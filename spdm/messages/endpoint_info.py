"""GET_ENDPOINT_INFO / ENDPOINT_INFO: asking an endpoint who it is (SPDM 1.3).

Layout per libspdm's include/industry_standard/spdm.h (spdm_get_endpoint_info_request_t): Param1
is the SubCode (0x01, DeviceClassIdentifier), Param2 bits [3:0] the SlotID of the key to sign
with, then RequestAttributes, three reserved bytes and, when SignatureRequested (bit 0) is set,
the requester's 32-byte nonce (libspdm_rsp_endpoint_info.c reads it exactly then). ENDPOINT_INFO
(spdm_endpoint_info_response_t): Param2 bits [3:0] the SlotID, four reserved bytes, then, when the
request asked for a signature (`CodecContext.signature_requested`), the responder's nonce; EPInfoLen
(u32, at most libspdm's LIBSPDM_MAX_ENDPOINT_INFO_LENGTH, 1024), EPInfo, and the signature if asked.
"""

from __future__ import annotations

from dataclasses import dataclass

import construct as c

from spdm.messages._layout import field, length_of, negotiated_bytes, only_when, present_when, require, when
from spdm.messages.bounds import NONCE_SIZE
from spdm.messages.certificates import SLOT_ID_MASK
from spdm.messages.codec import Message, message
from spdm.messages.codes import Code

__all__ = [
    "DEVICE_CLASS_IDENTIFIER",
    "MAX_EP_INFO_LENGTH",
    "SIGNATURE_REQUESTED",
    "EndpointInfo",
    "GetEndpointInfo",
    "check_ep_info",
]

DEVICE_CLASS_IDENTIFIER = 0x01
"""SubCode (Param1) of GET_ENDPOINT_INFO: the device class identifier."""
SIGNATURE_REQUESTED = 0x01
"""RequestAttributes bit 0 of GET_ENDPOINT_INFO: sign the ENDPOINT_INFO response."""
MAX_EP_INFO_LENGTH = 1024
"""The largest EPInfo an endpoint serves or reads (libspdm's LIBSPDM_MAX_ENDPOINT_INFO_LENGTH)."""


def check_ep_info(ep_info: bytes) -> None:
    """`ValueError` unless a configured EPInfo fits ENDPOINT_INFO's EPInfoLen bound."""
    if len(ep_info) > MAX_EP_INFO_LENGTH:
        raise ValueError(f"endpoint_info has {len(ep_info)} bytes, at most {MAX_EP_INFO_LENGTH}")


@message(
    Code.GET_ENDPOINT_INFO,
    "sub_code" / c.Int8ul,
    "slot_param" / c.Int8ul,
    "request_attributes" / c.Int8ul,
    "reserved" / c.Int24ul,
    *only_when(
        "nonce",
        when("request_attributes", "&", SIGNATURE_REQUESTED),
        c.Bytes(NONCE_SIZE),
        "Nonce must be present exactly when a signature is requested",
    ),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class GetEndpointInfo(Message):
    """`nonce` only when `request_attributes` asks for a signature."""

    version: int = 0x13
    sub_code: int = DEVICE_CLASS_IDENTIFIER
    slot_param: int = 0
    request_attributes: int = 0
    reserved: int = 0
    nonce: bytes | None = None

    @property
    def slot_id(self) -> int:
        return self.slot_param & SLOT_ID_MASK

    @property
    def signature_requested(self) -> bool:
        return bool(self.request_attributes & SIGNATURE_REQUESTED)


@message(
    Code.ENDPOINT_INFO,
    "param1" / c.Int8ul,
    "slot_param" / c.Int8ul,
    "reserved" / c.Int32ul,
    "nonce" / present_when("signature_requested", c.Bytes(NONCE_SIZE)),
    "_ep_info_length" / c.Rebuild(c.Int32ul, length_of("ep_info")),
    require(when("_ep_info_length", "<=", MAX_EP_INFO_LENGTH), f"EPInfoLen over {MAX_EP_INFO_LENGTH}", field="ep_info"),
    "ep_info" / c.Bytes(field("_ep_info_length")),
    "signature" / negotiated_bytes("signature_size", "signature_requested"),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointInfo(Message):
    """`nonce` and `signature` are there only when the request asked for a signature."""

    version: int = 0x13
    param1: int = 0
    slot_param: int = 0
    reserved: int = 0
    nonce: bytes | None = None
    ep_info: bytes
    signature: bytes | None = None

    @property
    def slot_id(self) -> int:
        return self.slot_param & SLOT_ID_MASK
