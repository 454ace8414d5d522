"""VENDOR_DEFINED_REQUEST/VENDOR_DEFINED_RESPONSE."""

from __future__ import annotations

from dataclasses import dataclass

import construct as c

from spdm.messages._layout import field, length_of
from spdm.messages.codec import Message, message
from spdm.messages.codes import Code

__all__ = ["VendorDefinedRequest", "VendorDefinedResponse"]


def _fields() -> list[c.Construct]:
    """The shared layout: Len and ReqLength/RespLength come from `vendor_id` and `payload`."""
    return [
        "param1" / c.Int8ul,
        "param2" / c.Int8ul,
        "standard_id" / c.Int16ul,
        "_vendor_id_length" / c.Rebuild(c.Int8ul, length_of("vendor_id")),
        "vendor_id" / c.Bytes(field("_vendor_id_length")),
        "_payload_length" / c.Rebuild(c.Int16ul, length_of("payload")),
        "payload" / c.Bytes(field("_payload_length")),
    ]


@message(Code.VENDOR_DEFINED_REQUEST, *_fields())
@dataclass(frozen=True, slots=True, kw_only=True)
class VendorDefinedRequest(Message):
    """`standard_id` names the registry of `vendor_id` (0 DMTF, 3 PCI-SIG, 4 IANA, ...)."""

    version: int = 0x11
    param1: int = 0
    param2: int = 0
    standard_id: int
    vendor_id: bytes
    payload: bytes


@message(Code.VENDOR_DEFINED_RESPONSE, *_fields())
@dataclass(frozen=True, slots=True, kw_only=True)
class VendorDefinedResponse(Message):
    version: int = 0x11
    param1: int = 0
    param2: int = 0
    standard_id: int
    vendor_id: bytes
    payload: bytes
