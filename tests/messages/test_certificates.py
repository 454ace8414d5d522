"""GET_DIGESTS/DIGESTS and GET_CERTIFICATE/CERTIFICATE against libspdm captures.

Hex comes from the `SPDM Message:` blocks of /work/shared/vectors/libspdm/<folder>/dump_full.txt,
with the DOE padding stripped unless the name says DOE.
"""

from __future__ import annotations

import hashlib

import pytest

from spdm.errors import DecodeError, EncodeError
from spdm.messages import CodecContext, decode, decode_as, decode_prefix, encode
from spdm.messages.certificates import Certificate, Digests, GetCertificate, GetDigests

SHA384 = CodecContext(hash_size=48, signature_size=96)
SHA256 = CodecContext(hash_size=32, signature_size=384)

# a_conn_ecdsap384_sha384_v11, record 13
GET_DIGESTS = bytes.fromhex("11810000")

# a_conn_ecdsap384_sha384_v11, record 14
DIGESTS_P384 = bytes.fromhex(
    "11010003dc024e78fa5e45d82e45c67fb5fce2b9987adfee9ea33e56d5ed8347e8aaa3d01891727f3c5dd7a2e1ab7fd3"
    "6138375d0d0d5cf1c3ba902cd59c95f25e29150fa378708ea1cd9782da82ffc3eac48e1348220e89ab97f8bb928a824e"
    "9ef5951f"
)

# a_conn_ecdsap384_sha384_v11, record 15
GET_CERTIFICATE = bytes.fromhex("118200000000ffff")

# c_conn_rsassa3072_sha256_v11, record 14
DIGESTS_RSA = bytes.fromhex(
    "11010003d274765bc3efb929c64146d75448b7e2d1e070847488d9e035361802c2103e627d2357ff44d696afa597e125"
    "ff7aae2d7e3dc58b6e6814732768d9bad14d1166"
)

# synthetic: slot 1, PortionLength 4, RemainderLength 0x10, portion deadbeef
CERTIFICATE_SHORT = bytes.fromhex("1102010004001000deadbeef")

# b_conn_ecdsap256_sha256_v11, record 16: the whole slot-0 chain in one portion, then 2 bytes of DOE padding
CERTIFICATE_DOE = bytes.fromhex(
    "110200006e0500006e050000351391ccd109283c7cde04e32965f83fb00b40737691e71605d70501365ab94330820197"
    "3082013da00302010202143b9e12866065b9634d9a1e1fd73ed8b3d25e9631300a06082a8648ce3d0403023021311f30"
    "1d06035504030c16444d5446206c69627370646d20454350323536204341301e170d3233303430333035353434325a17"
    "0d3333303333313035353434325a3021311f301d06035504030c16444d5446206c69627370646d204543503235362043"
    "413059301306072a8648ce3d020106082a8648ce3d030107034200043fcb4bf28258123e400dded20dec679fa68172dd"
    "3f0c356b8d92507c7fb2b115653f186a855c315bea684cb755e2a8a87ad90d7bfd89ab62ecbcb6264b7fa5a9a3533051"
    "301d0603551d0e041604142910f1fadd78940711920a9f62bfb482a902c65d301f0603551d230418301680142910f1fa"
    "dd78940711920a9f62bfb482a902c65d300f0603551d130101ff040530030101ff300a06082a8648ce3d040302034800"
    "3045022046bdf08b3dd623424fbb65db5030c57c6df6fcbfaac8fc0dafd0a5c10595cb6c0221009b2db46b4f38c67c37"
    "c84979cc072f1e45c29fe21ba3c1ff8091141e5a3368c03082019f30820144a003020102020101300a06082a8648ce3d"
    "0403023021311f301d06035504030c16444d5446206c69627370646d20454350323536204341301e170d323330343033"
    "3035353434335a170d3333303333313035353434335a3030312e302c06035504030c25444d5446206c69627370646d20"
    "45435032353620696e7465726d65646961746520636572743059301306072a8648ce3d020106082a8648ce3d03010703"
    "420004e98a248df38b7911467740873bbc990393851bf3ab4f6852b2ba81c55f9d059b866436493093258d29eac7fd11"
    "8ab5db784344bccd635e12b1e2cf7b1ceba82ea35e305c300c0603551d13040530030101ff300b0603551d0f04040302"
    "01fe301d0603551d0e041604149299fe7345fbe6425a5acf5bbe69054281192c5c30200603551d250101ff0416301406"
    "082b0601050507030106082b06010505070302300a06082a8648ce3d0403020349003046022100d582811ffb1159492d"
    "1192a364d1ace0b3afccd8c5e2bc811d91e9c0d9a485be022100ba843d5fe1f2110c1f9599dd51e38d971993b633631e"
    "d45b029191a73477674b30820208308201afa003020102020103300a06082a8648ce3d0403023030312e302c06035504"
    "030c25444d5446206c69627370646d2045435032353620696e7465726d6564696174652063657274301e170d32333039"
    "31323037313131345a170d3333303930393037313131345a302d312b302906035504030c22444d5446206c6962737064"
    "6d2045435032353620726573706f6e64657220636572743059301306072a8648ce3d020106082a8648ce3d0301070342"
    "00040df46e4d65fa52feceb0bda0594049a07b8d67fc6191ae7e7aa560937897e2ab429028ca3e72511e6dd71beb1a13"
    "11a51d364f27df8066964173ea51dd54f995a381bc3081b9300c0603551d130101ff04023000300b0603551d0f040403"
    "0205e0301d0603551d0e04160414c8580282e6a128165dde24c8a652c5ab541ce05130310603551d11042a3028a02606"
    "0a2b06010401831c821201a0180c1641434d453a5749444745543a31323334353637383930302a0603551d250101ff04"
    "20301e06082b0601050507030106082b0601050507030206082b06010505070309301e060a2b06010401831c82120604"
    "10300e300c060a2b06010401831c821202300a06082a8648ce3d0403020347003044022030905c676f63858a061bacd6"
    "8cc3d7d587c83601a64c56c48c0c463ec1bb689c02200868021d06754c991c209652149de4c539889db429f7536b411f"
    "0d26ef804c490000"
)


CERTIFICATE = CERTIFICATE_DOE[:-2]


def _rejected(data: bytes, context: CodecContext | None = None) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(data, context)
    return caught.value


@pytest.mark.parametrize(
    ("data", "context"),
    [
        (GET_DIGESTS, None),
        (DIGESTS_P384, SHA384),
        (DIGESTS_RSA, SHA256),
        (GET_CERTIFICATE, None),
        (CERTIFICATE_SHORT, None),
        (CERTIFICATE, None),
    ],
    ids=["get_digests", "digests_p384", "digests_rsa", "get_certificate", "certificate_short", "certificate"],
)
def test_round_trip(data: bytes, context: CodecContext | None) -> None:
    assert encode(decode(data, context)) == data


def test_get_digests() -> None:
    assert decode(GET_DIGESTS) == GetDigests(version=0x11)


def test_digests_one_per_slot() -> None:
    msg = decode(DIGESTS_P384, SHA384)
    assert isinstance(msg, Digests)
    assert msg.slot_mask == 0x03
    assert [d[:4].hex() for d in msg.digests] == ["dc024e78", "0d0d5cf1"]
    assert {len(d) for d in msg.digests} == {48}
    rsa = decode(DIGESTS_RSA, SHA256)
    assert isinstance(rsa, Digests)
    assert [len(d) for d in rsa.digests] == [32, 32]


def test_digests_without_slots_needs_no_context() -> None:
    assert decode(bytes.fromhex("11010000")) == Digests(slot_mask=0, digests=())


def test_get_certificate() -> None:
    msg = decode(GET_CERTIFICATE)
    assert msg == GetCertificate(version=0x11, slot_param=0, offset=0, length=0xFFFF)


def test_certificate_short() -> None:
    msg = decode(CERTIFICATE_SHORT)
    assert msg == Certificate(slot_param=1, remainder_length=0x10, portion=bytes.fromhex("deadbeef"))
    assert msg.slot_id == 1


def test_certificate_real_chain() -> None:
    msg = decode(CERTIFICATE)
    assert isinstance(msg, Certificate)
    assert (msg.slot_id, msg.remainder_length, len(msg.portion)) == (0, 0, 0x56E)
    chain = msg.portion
    assert int.from_bytes(chain[:2], "little") == len(chain)
    root = chain[4 + 32 :]
    root_len = 4 + int.from_bytes(root[2:4], "big")
    assert hashlib.sha256(root[:root_len]).digest() == chain[4 : 4 + 32]


def test_decode_prefix_stops_before_doe_padding() -> None:
    msg, used = decode_prefix(CERTIFICATE_DOE)
    assert used == len(CERTIFICATE)
    assert msg == decode(CERTIFICATE)


def test_slot_param_reserved_bits_round_trip() -> None:
    data = bytes.fromhex("1182a3000000ffff")
    msg = decode(data)
    assert isinstance(msg, GetCertificate)
    assert (msg.slot_id, msg.slot_param) == (3, 0xA3)
    assert encode(msg) == data


@pytest.mark.parametrize(
    ("data", "context", "field", "reason"),
    [
        (DIGESTS_P384[:-1], SHA384, "digests", "truncated"),
        (DIGESTS_P384 + b"\x00", SHA384, "", "trailing"),
        (DIGESTS_P384[:3] + b"\x07" + DIGESTS_P384[4:], SHA384, "digests", "truncated"),
        (DIGESTS_P384[:3] + b"\x01" + DIGESTS_P384[4:], SHA384, "", "trailing"),
        (DIGESTS_P384, SHA256, "", "trailing"),
        (DIGESTS_P384, None, "digests", "needs a negotiation context (hash_size)"),
        (DIGESTS_P384, CodecContext(), "digests", "no hash_size"),
    ],
    ids=["truncated", "trailing", "mask_over", "mask_under", "wrong_hash", "no_context", "no_hash"],
)
def test_digests_rejected(data: bytes, context: CodecContext | None, field: str, reason: str) -> None:
    error = _rejected(data, context)
    assert (error.message, error.field) == ("DIGESTS", field)
    assert reason in error.reason


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        (CERTIFICATE_SHORT[:-1], "portion", "truncated"),
        (CERTIFICATE_SHORT + b"\x00", "", "trailing"),
        (CERTIFICATE_SHORT[:4] + b"\x05\x00" + CERTIFICATE_SHORT[6:], "portion", "truncated"),
        (CERTIFICATE_SHORT[:4] + b"\x03\x00" + CERTIFICATE_SHORT[6:], "", "trailing"),
        (CERTIFICATE_SHORT[:7], "remainder_length", "truncated"),
        (CERTIFICATE[:-1], "portion", "truncated"),
    ],
    ids=["truncated", "trailing", "portion_over", "portion_under", "header", "real_truncated"],
)
def test_certificate_rejected(data: bytes, field: str, reason: str) -> None:
    error = _rejected(data)
    assert (error.message, error.field) == ("CERTIFICATE", field)
    assert reason in error.reason


@pytest.mark.parametrize(
    ("cls", "data", "field", "reason"),
    [
        (GetDigests, GET_DIGESTS[:-1], "param2", "truncated"),
        (GetDigests, GET_DIGESTS + b"\x00", "", "trailing"),
        (GetCertificate, GET_CERTIFICATE[:-1], "length", "truncated"),
        (GetCertificate, GET_CERTIFICATE + b"\x00", "", "trailing"),
    ],
    ids=["get_digests_truncated", "get_digests_trailing", "get_cert_truncated", "get_cert_trailing"],
)
def test_requests_rejected(
    cls: type[GetDigests | GetCertificate], data: bytes, field: str, reason: str
) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_as(cls, data)
    assert (caught.value.message, caught.value.field) == (cls.name, field)
    assert reason in caught.value.reason


def test_encode_requires_one_digest_per_slot() -> None:
    with pytest.raises(EncodeError) as caught:
        encode(Digests(slot_mask=0x03, digests=(bytes(48),)))
    assert (caught.value.message, caught.value.field) == ("DIGESTS", "digests")
    with pytest.raises(EncodeError, match="differ in size"):
        encode(Digests(slot_mask=0x03, digests=(bytes(48), bytes(32))))
