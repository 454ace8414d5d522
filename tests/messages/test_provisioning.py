"""GET_CSR/CSR and SET_CERTIFICATE/SET_CERTIFICATE_RSP (SPDM 1.2, with the 1.3 parameter bits).

Hand-built messages follow DSP0274's layouts (and libspdm's spdm.h structures); real bytes are the
clear-text records of /work/shared/vectors/libspdm-v12-v13/x_csr_setcert_ecdsap384_v12 (1.2) and
x2_csr_setcert_multikey_ecdsap384_v13 (1.3), record numbers as in their dump_full.txt.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from v12_captures import clear_messages

from spdm.errors import DecodeError, EncodeError
from spdm.messages import Code, Message, decode, decode_as, decode_prefix, encode
from spdm.messages.provisioning import Csr, GetCsr, SetCertificate, SetCertificateRsp, csr_request_attributes

GET_CSR_12 = bytes.fromhex("12ed000000000000")  # x_csr_setcert_ecdsap384_v12 record 29
GET_CSR_13 = bytes.fromhex("13ed010100000000")  # x2_..._v13 record 29: KeyPairID 1, CertModel 1 (device)
# RequesterInfo 300100 (3 bytes), OpaqueData 01020304 (4 bytes)
GET_CSR_DATA = bytes.fromhex("12ed00000300040030010001020304")
# 1.3 KeyPairID 2, RequestAttributes 0xAA: CertModel 2, CSRTrackingTag 5, Overwrite
GET_CSR_ATTRIBUTES = bytes.fromhex("13ed02aa00000000")
# CSRLength 4, Reserved 0x0102
CSR = bytes.fromhex("126d0000040002013002050a")
# slot 1, a chain whose Length (8) covers it all
SET_CERTIFICATE_12 = bytes.fromhex("12ee0100" + "08000000aabbccdd")
# 1.3: slot 4, SetCertModel 1, KeyPairID 1 (as x2_ record 33 inside the session)
SET_CERTIFICATE_13 = bytes.fromhex("13ee1401" + "08000000aabbccdd")
# 1.3: Erase slot 2 of KeyPairID 5: no CertChain
SET_CERTIFICATE_ERASE = bytes.fromhex("13ee8205")
SET_CERTIFICATE_RSP = bytes.fromhex("126e0100")

EXAMPLES = {
    "get_csr_12": GET_CSR_12,
    "get_csr_13": GET_CSR_13,
    "get_csr_data": GET_CSR_DATA,
    "get_csr_attributes": GET_CSR_ATTRIBUTES,
    "csr": CSR,
    "set_certificate_12": SET_CERTIFICATE_12,
    "set_certificate_13": SET_CERTIFICATE_13,
    "set_certificate_erase": SET_CERTIFICATE_ERASE,
    "set_certificate_rsp": SET_CERTIFICATE_RSP,
}

PROVISIONING_CODES = {Code.GET_CSR, Code.CSR, Code.SET_CERTIFICATE, Code.SET_CERTIFICATE_RSP}


@pytest.mark.parametrize("data", list(EXAMPLES.values()), ids=list(EXAMPLES))
def test_round_trip(data: bytes) -> None:
    assert encode(decode(data)) == data


def test_get_csr_fields() -> None:
    assert decode(GET_CSR_12) == GetCsr()
    data = decode(GET_CSR_DATA)
    assert data == GetCsr(requester_info=bytes.fromhex("300100"), opaque_data=bytes.fromhex("01020304"))
    real = decode(GET_CSR_13)
    assert isinstance(real, GetCsr)
    assert (real.version, real.key_pair_id, real.cert_model, real.csr_tracking_tag, real.overwrite) == (
        0x13,
        1,
        1,
        0,
        False,
    )
    attributes = decode(GET_CSR_ATTRIBUTES)
    assert isinstance(attributes, GetCsr)
    assert (attributes.key_pair_id, attributes.cert_model, attributes.csr_tracking_tag, attributes.overwrite) == (
        2,
        2,
        5,
        True,
    )


def test_request_attributes_are_written_as_the_properties_read_them() -> None:
    assert csr_request_attributes(2, 5, True) == GET_CSR_ATTRIBUTES[3]  # 0xAA: model 2, tag 5, Overwrite
    assert csr_request_attributes(1) == GET_CSR_13[3]
    for model, tag, overwrite in ((0, 0, False), (3, 7, False), (1, 1, True), (7, 0, True)):
        ask = GetCsr(version=0x13, param2=csr_request_attributes(model, tag, overwrite))
        assert (ask.cert_model, ask.csr_tracking_tag, ask.overwrite) == (model, tag, overwrite)
    with pytest.raises(ValueError, match="CSRTrackingTag 8"):
        csr_request_attributes(1, 8)
    with pytest.raises(ValueError, match="certificate model 8"):
        csr_request_attributes(8)


def test_csr_fields() -> None:
    assert decode(CSR) == Csr(reserved=0x0102, csr=bytes.fromhex("3002050a"))


def test_set_certificate_fields() -> None:
    v12 = decode(SET_CERTIFICATE_12)
    assert v12 == SetCertificate(slot_param=1, cert_chain=bytes.fromhex("08000000aabbccdd"))
    v13 = decode(SET_CERTIFICATE_13)
    assert isinstance(v13, SetCertificate)
    assert (v13.slot_id, v13.cert_model, v13.erase, v13.key_pair_id) == (4, 1, False, 1)
    erase = decode(SET_CERTIFICATE_ERASE)
    assert isinstance(erase, SetCertificate)
    assert (erase.slot_id, erase.erase, erase.key_pair_id, erase.cert_chain) == (2, True, 5, b"")
    rsp = decode(SET_CERTIFICATE_RSP)
    assert rsp == SetCertificateRsp(slot_param=1) and rsp.slot_id == 1


def test_erase_bit_is_reserved_in_1_2() -> None:
    """Before 1.3 Param1 bit 7 means nothing: the chain stays, and the bit survives a round trip."""
    data = bytes.fromhex("12ee8100") + SET_CERTIFICATE_12[4:]
    msg = decode(data)
    assert isinstance(msg, SetCertificate) and msg.slot_id == 1 and msg.cert_chain
    assert encode(msg) == data


def test_decode_prefix_stops_before_doe_padding() -> None:
    assert decode_prefix(CSR + bytes(3)) == (decode(CSR), len(CSR))
    assert decode_prefix(GET_CSR_DATA + bytes(1)) == (decode(GET_CSR_DATA), len(GET_CSR_DATA))


def _with_u16(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + value.to_bytes(2, "little") + data[at + 2 :]


@pytest.mark.parametrize(
    ("data", "message", "field", "reason"),
    [
        (_with_u16(GET_CSR_12, 6, 1025) + bytes(1025), "GET_CSR", "opaque_data", "OpaqueDataLength over 1024"),
        (_with_u16(GET_CSR_DATA, 4, 8), "GET_CSR", "requester_info", "truncated"),
        (_with_u16(GET_CSR_DATA, 6, 5), "GET_CSR", "opaque_data", "truncated"),
        (_with_u16(GET_CSR_DATA, 6, 3), "GET_CSR", "", "trailing"),
        (GET_CSR_12[:7], "GET_CSR", "_opaque_length", "truncated"),
        (_with_u16(CSR, 4, 5), "CSR", "csr", "truncated"),
        (_with_u16(CSR, 4, 3), "CSR", "", "trailing"),
        (_with_u16(CSR, 4, 0xFFFF), "CSR", "csr", "truncated"),
        (CSR[:7], "CSR", "reserved", "truncated"),
        (SET_CERTIFICATE_12[:4], "SET_CERTIFICATE", "cert_chain", "CertChain must be present"),
        (SET_CERTIFICATE_ERASE + b"\x08", "SET_CERTIFICATE", "cert_chain", "CertChain must be present"),
        (SET_CERTIFICATE_RSP[:3], "SPDM", "header", "truncated"),
        (SET_CERTIFICATE_RSP + b"\x00", "SET_CERTIFICATE_RSP", "", "trailing"),
    ],
    ids=[
        "opaque_over_1024",
        "requester_info_over",
        "opaque_over",
        "opaque_under",
        "get_csr_header",
        "csr_over",
        "csr_under",
        "csr_huge",
        "csr_header",
        "set_certificate_12_without_chain",
        "erase_with_chain",
        "rsp_truncated",
        "rsp_trailing",
    ],
)
def test_rejected(data: bytes, message: str, field: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(data)
    assert (caught.value.message, caught.value.field) == (message, field)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    "msg",
    [
        GetCsr(opaque_data=bytes(1025)),
        SetCertificate(slot_param=0),
        SetCertificate(version=0x13, slot_param=0x80, cert_chain=b"\x00"),
    ],
    ids=["opaque_over_1024", "no_chain", "erase_with_chain"],
)
def test_encode_refuses_what_decode_refuses(msg: Message) -> None:
    with pytest.raises(EncodeError):
        encode(msg)


@pytest.mark.parametrize(("cls", "data"), [(GetCsr, GET_CSR_12), (Csr, CSR), (SetCertificateRsp, SET_CERTIFICATE_RSP)])
def test_decode_as(cls: type[Message], data: bytes) -> None:
    assert decode_as(cls, data) == decode(data)


# --- the libspdm captures -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "version"), [("x_csr_setcert_ecdsap384_v12", 0x12), ("x2_csr_setcert_multikey_ecdsap384_v13", 0x13)]
)
def test_capture_records(libspdm_v12_v13_vectors: Path, name: str, version: int) -> None:
    folder = libspdm_v12_v13_vectors / name
    chain = (folder / "rsp_slot0_certchain_from_wire.bin").read_bytes()
    records = clear_messages(folder / "requester.pcap", PROVISIONING_CODES)
    names = []
    for index, data in records:
        msg = decode(data)
        assert (msg.version, encode(msg)) == (version, data), index
        names.append(msg.name)
        if isinstance(msg, Csr):  # a DER SEQUENCE with a two-byte length, filling CSRLength
            assert msg.csr[:2] == b"\x30\x82" and 4 + int.from_bytes(msg.csr[2:4], "big") == len(msg.csr)
        elif isinstance(msg, SetCertificate):  # the slot-0 chain the responder then serves
            assert (msg.slot_id, msg.erase, msg.cert_chain) == (0, False, chain)
    assert names == ["GET_CSR", "CSR", "SET_CERTIFICATE", "SET_CERTIFICATE_RSP"] * 2


def test_capture_1_3_parameters(libspdm_v12_v13_vectors: Path) -> None:
    pcap = libspdm_v12_v13_vectors / "x2_csr_setcert_multikey_ecdsap384_v13" / "requester.pcap"
    for _, data in clear_messages(pcap, {Code.GET_CSR, Code.SET_CERTIFICATE}):
        msg = decode(data)
        assert isinstance(msg, (GetCsr, SetCertificate))
        assert (msg.key_pair_id, msg.cert_model) == (1, 1)
