"""VENDOR_DEFINED_REQUEST/VENDOR_DEFINED_RESPONSE.

No capture holds one, so these are synthetic, shaped like PCI-SIG IDE_KM (StandardID 3, VendorID
0x0001, the payload starting with the ProtocolID) and a DMTF one (StandardID 0, no VendorID).
"""

from __future__ import annotations

import pytest

from spdm.errors import DecodeError, EncodeError
from spdm.messages import decode, encode
from spdm.messages.vendor import VendorDefinedRequest, VendorDefinedResponse

# offsets: StandardID 4, Len 6, VendorID 7, ReqLength/RespLength 9, payload 11
# StandardID 3, Len 2, VendorID 0x0001, ReqLength 4, payload: IDE_KM QUERY for port 0
PCI_REQUEST = bytes.fromhex("11fe00000300020100040000000000")
# StandardID 3, Len 2, VendorID 0x0001, RespLength 8, payload: IDE_KM QUERY_RESP
PCI_RESPONSE = bytes.fromhex("117e0000030002010008000001000000000000")
# StandardID 0 (DMTF), Len 0, ReqLength 2
DMTF_REQUEST = bytes.fromhex("11fe00000000000200abcd")


@pytest.mark.parametrize("data", [PCI_REQUEST, PCI_RESPONSE, DMTF_REQUEST], ids=["pci", "pci_rsp", "dmtf"])
def test_round_trip(data: bytes) -> None:
    assert encode(decode(data)) == data


def test_pci_sig_request_and_response() -> None:
    assert decode(PCI_REQUEST) == VendorDefinedRequest(standard_id=3, vendor_id=b"\x01\x00", payload=bytes(4))
    rsp = decode(PCI_RESPONSE)
    assert isinstance(rsp, VendorDefinedResponse)
    assert (rsp.standard_id, rsp.vendor_id, rsp.payload[:2]) == (3, b"\x01\x00", b"\x00\x01")


def test_dmtf_has_no_vendor_id() -> None:
    msg = decode(DMTF_REQUEST)
    assert msg == VendorDefinedRequest(standard_id=0, vendor_id=b"", payload=b"\xab\xcd")


@pytest.mark.parametrize(
    ("data", "message", "field", "reason"),
    [
        (PCI_REQUEST[:-1], "VENDOR_DEFINED_REQUEST", "payload", "truncated"),
        (PCI_REQUEST + b"\x00", "VENDOR_DEFINED_REQUEST", "", "trailing"),
        (PCI_REQUEST[:9] + b"\x05\x00" + PCI_REQUEST[11:], "VENDOR_DEFINED_REQUEST", "payload", "truncated"),
        (PCI_REQUEST[:9] + b"\x03\x00" + PCI_REQUEST[11:], "VENDOR_DEFINED_REQUEST", "", "trailing"),
        (PCI_RESPONSE[:6] + b"\x20" + PCI_RESPONSE[7:], "VENDOR_DEFINED_RESPONSE", "vendor_id", "truncated"),
        (PCI_RESPONSE[:10], "VENDOR_DEFINED_RESPONSE", "_payload_length", "truncated"),
    ],
    ids=["truncated", "trailing", "length_over", "length_under", "vendor_id_over", "no_length"],
)
def test_rejected(data: bytes, message: str, field: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(data)
    assert (caught.value.message, caught.value.field) == (message, field)
    assert reason in caught.value.reason


def test_encode_rejects_oversized_fields() -> None:
    with pytest.raises(EncodeError) as caught:
        encode(VendorDefinedRequest(standard_id=4, vendor_id=bytes(256), payload=b""))
    assert (caught.value.message, caught.value.field) == ("VENDOR_DEFINED_REQUEST", "_vendor_id_length")
    with pytest.raises(EncodeError) as caught:
        encode(VendorDefinedResponse(standard_id=4, vendor_id=bytes(4), payload=bytes(0x10000)))
    assert caught.value.field == "_payload_length"
