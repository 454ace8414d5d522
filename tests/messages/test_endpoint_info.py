"""GET_ENDPOINT_INFO (SPDM 1.3).

Hand-built messages, and the clear records of the libspdm capture
/work/shared/vectors/libspdm-v12-v13/y2_mel_epinfo_keypairinfo_multikey_v13 (record
numbers as in its dump_full.txt).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from v12_captures import clear_messages

from spdm.errors import DecodeError, EncodeError
from spdm.messages import Code, decode, encode
from spdm.messages.context import CodecContext
from spdm.messages.endpoint_info import EndpointInfo, GetEndpointInfo

NONCE = bytes(range(32))
UNSIGNED = bytes.fromhex("1387010000000000")
# SlotID 3, SignatureRequested, Reserved 0x030201
SIGNED = bytes.fromhex("1387010301010203") + NONCE


@pytest.mark.parametrize("data", [UNSIGNED, SIGNED], ids=["unsigned", "signed"])
def test_round_trip(data: bytes) -> None:
    assert encode(decode(data)) == data


def test_fields() -> None:
    assert decode(UNSIGNED) == GetEndpointInfo()
    signed = decode(SIGNED)
    assert signed == GetEndpointInfo(slot_param=3, request_attributes=1, reserved=0x030201, nonce=NONCE)
    assert isinstance(signed, GetEndpointInfo) and (signed.slot_id, signed.signature_requested) == (3, True)


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        (SIGNED[:-1], "nonce", "truncated"),
        (UNSIGNED + NONCE, "", "trailing"),
        (UNSIGNED[:7], "reserved", "truncated"),
    ],
    ids=["nonce_short", "unsigned_with_nonce", "header"],
)
def test_rejected(data: bytes, field: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(data)
    assert (caught.value.message, caught.value.field) == ("GET_ENDPOINT_INFO", field)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    "msg", [GetEndpointInfo(nonce=NONCE), GetEndpointInfo(request_attributes=1)], ids=["nonce", "no_nonce"]
)
def test_encode_refuses_a_nonce_the_attributes_deny(msg: GetEndpointInfo) -> None:
    with pytest.raises(EncodeError):
        encode(msg)


def test_capture_records(libspdm_v12_v13_vectors: Path) -> None:
    pcap = libspdm_v12_v13_vectors / "y2_mel_epinfo_keypairinfo_multikey_v13" / "requester.pcap"
    records = clear_messages(pcap, {Code.GET_ENDPOINT_INFO})
    assert [index for index, _ in records] == [31]
    for _, data in records:
        msg = decode(data)
        assert isinstance(msg, GetEndpointInfo) and (msg.version, encode(msg)) == (0x13, data)
        assert (msg.sub_code, msg.slot_id, msg.signature_requested) == (1, 0, True)


def test_signed_endpoint_info_records(libspdm_v12_v13_vectors: Path) -> None:
    """The ENDPOINT_INFO answers of y2 (signed: the request asked; ECDSA P-384 signatures, 96 bytes)."""
    pcap = libspdm_v12_v13_vectors / "y2_mel_epinfo_keypairinfo_multikey_v13" / "requester.pcap"
    context = CodecContext(hash_size=48, signature_size=96, signature_requested=True)
    records = clear_messages(pcap, {Code.ENDPOINT_INFO}, context)
    assert records
    for _, data in records:
        msg = decode(data, context)
        assert isinstance(msg, EndpointInfo) and (msg.version, encode(msg)) == (0x13, data)
        assert msg.nonce is not None and msg.signature is not None and len(msg.signature) == 96
        assert msg.ep_info


def test_endpoint_info_bounds_its_length_and_follows_the_request() -> None:
    unsigned = EndpointInfo(ep_info=b"\x01\x02")
    context = CodecContext(signature_size=96)  # the request asked for no signature
    assert decode(encode(unsigned), context) == unsigned
    with pytest.raises(DecodeError, match="EPInfoLen over 1024"):
        decode(encode(unsigned)[:8] + (1025).to_bytes(4, "little") + bytes(1025), context)
