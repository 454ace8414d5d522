"""KEY_EXCHANGE/KEY_EXCHANGE_RSP and FINISH/FINISH_RSP, decoded from libspdm captures and rebuilt.

Captures are named by the letter of their folder in shared/vectors/libspdm (e: e_dhe_secp384_...).
"""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

import spdm.messages as m
from spdm.errors import DecodeError, EncodeError
from spdm.messages import CodecContext
from spdm.messages.key_exchange import Finish, FinishRsp, KeyExchange, KeyExchangeRsp
from spdm.messages.opaque import decode_opaque, secured_message_versions, selected_secured_message_version

# KEY_EXCHANGE, SECP384R1, slot 0, HashType 0xFF (capture e, record 25, DOE padding stripped)
KEY_EXCHANGE = bytes.fromhex(
    "11e4ff00ffff0000a0b3052acc72c57857b4d1d54dc0a7b23a717da61dc972671da232a92db1a4caa519705c4ec0b1f7"
    "98e137cb76800b9a1c4778a1f1ea7ab7cb6ca1ee7c66d087086bdcf768b9d79b71d609ecc76917eb141bf5dddd8bfe0c"
    "54fbdf88f11448c9d5de64b5fecb2f4aa06a3a2fba4a72b5b42c73defec0aa96b0e6cc9bf2214ee4140046544d440101"
    "0000000005000101010011000000"
)
# KEY_EXCHANGE_RSP, ECDSA P-384, SHA-384, MeasurementSummaryHash (capture e, record 26, DOE padding stripped)
KEY_EXCHANGE_RSP = bytes.fromhex(
    "1164f000ffff0000740cecd4a419f990f06f22d1b447b187ebeb2017fc0f1b004a3cde7c29c3328136bc737f5348be4a"
    "6ef5cafb7a9eaf9114b79642325473ba69731067e23a6ce7b67d6c70fffa3e7b1353564a297f370fdb80d30acdabc436"
    "ef87df7f46e20dc03f2681417c11495fc86d8e57225bc46d550acf63d9d76ebdc7c4d0182d6eb8723aef5b275a50e374"
    "46b64610a5da1d53755c89701026084a796f5ad87dca1841bd2f0670124eff5541c52d8719ad0e80100046544d440101"
    "00000000040001000011f352ac1b4da0aee08b228c0ff70d45c49ab3ea016e6681e21af5bf0eda4d7523e9dfac460358"
    "c626706b4e02b9bf78ec983aecf1a069d2fca3eb725ed21ce24a191c09970ebd7c00ffbd077a5e2c8d5763cb37213ff2"
    "483cc67c5b594dfa3b633bde193dd6bd2ebd7bab6b2eaf3f297efe2036e2fbfa48baefb3e3a9360955098d6d1b94b69b"
    "64227ad4cd8e57b82654"
)
# FINISH without signature, decrypted (capture e, record 27)
FINISH = bytes.fromhex(
    "11e50000fe94ea9d9a52abcee22cc10ab9804635ed6bbb8bfa1e262de9de2bdf9b04dd6b2dcedeed5e7db7de1158ecf09777d972"
)
# FINISH_RSP, decrypted (capture e, record 28)
FINISH_RSP = bytes.fromhex("11650000")
# KEY_EXCHANGE, FFDHE3072 (capture h, record 25, DOE padding stripped)
FFDHE_KEY_EXCHANGE = bytes.fromhex(
    "11e4ff00ffff00006d59371079c1eb5fea82b94f4c5190dd13c45af0aa2d744906a5355e5a8ce3e76005a1059fc097ba"
    "7e6919559e72b72ea1764492d2a6131660c45047ff3bece5c943c23889d79f7b99bedf78c189b92e5b9725e04b311a3e"
    "e8c568c5e5cb7e1c9cbef5484bea2637fa7ba62fc6fc9ca784aa2d86540c0b1756f89214a7f4eae7336640bdcb27215d"
    "09301f18ffba1af60ff31782415ead3043675af6ac08f6eede4049b5a630b6fa9cb92d9e18f75c91179a74550e7502ca"
    "c15641363ac1e92dd23bc624dae8f9d61456292b4ee673feea6588158c347cd614c9fd7857ab86705405b918dd4edbdd"
    "fe66d640dcc8df367efb1f32dacca68c17a4c2ae64e67ec601c961f81fbbe6f987ad3fdaa3539f0af4b738a7d9e2b283"
    "a3cc52684a64560f4ded31bdec5509611d0241974dc38dfe0342f6408bc250fb56957ce49ca4bdded096805850869b51"
    "4a8fda2151e814898c491d73529c03a53b60d3be4239301f0cbee57098699bef29960ba38fe09f33f594bfc995afda26"
    "1a8a59fff64cc2202345e1fb4dd8c7a682ad294f8eb814df28f912cccfacf3c4b280508d233ea487140046544d440101"
    "0000000005000101010011000000"
)
# KEY_EXCHANGE_RSP, FFDHE3072, RSASSA-3072, SHA-256 (capture h, record 26, DOE padding stripped)
FFDHE_KEY_EXCHANGE_RSP = bytes.fromhex(
    "1164f000ffff000052daccd2c2c60cf6cd3f72b082c0cfefbf9abd2c1539d1c8abaecbe622c1bcc4f1b56eb57af75974"
    "e89fe1f470ffae7234e65e8483ed6aacf02d11b7c9dcb4b544667e7d0ac8ce339c505be7fd86603a820d32adfd836032"
    "a29045edca282db1bf928a4336cb6ee0b17dbcbd0ca499fe68aa6445eff93bf58c5821dd2d78ad0ad6ca5329a4cc9907"
    "1f458e8bfdfc4616231a321c9fa6439f50caa6df8feea91e0690db8497a1efe013b5b14e999c7151488a3d7ef350c4b4"
    "f7acd388729402c2819ff5f761caf7c5d46d81516b8bf33c69981e872d4fdbb050710da0d77fca4882da83f346f550f7"
    "e1c4af781d9b13c0f2e04035265fb128c2fd02250f8b37c087f49e7fcc7592ae4c6785d3979af5bd1352f63bbfcdc344"
    "fdbf1118e25396399317e81d0e9dd525fdf32d7a147c8a7fe7df2065a39c0838049f47e95798c5e6566d6744661df14b"
    "bd430b5bdbfe439e517b3b045a431f11cfc0dcab433619ed2ae14dc356ee2f302aaf53cf9fee6448247894d7cc909912"
    "a9f6f272090b4f56a85eef7982d246ca1ea1ccfecc614c23ae1b74f7f2155995dc9a3f95cd8504953079256b44a444f6"
    "a274c3bae0f77214a311446e9948f96d0e6e51edbebb6639100046544d44010100000000040001000011692b5746f78f"
    "9a0a86aaa26e3ff0713d4fd005fb4bd94612dfdee91867c37f96860c6254b46df3232ee4b7115915e84076bba364193c"
    "b5bad7edbb01bf251013b4ae2954cbfd51184e3d377d4d5781ced27495b8f263fb5555063d54f49e6f661066f136d350"
    "ce7d731146de9f0a804e23064667464a773099a9dd4ae3a8491818bb797ebfd1a1a195a8c6fa7ec32387914b00684a34"
    "e26c526b419a4d2dab6056531adeebd4d6dd5151d5ab31050b57889f32b7ebe3a889079b5a59c7719d6574f9d3dd8409"
    "c0d6b55b3d2dbe6e97116ef49eb0229f6087361752390cfb4b7acc49ad5a26ff9f2b255640621ccc76c063343bb171f2"
    "427ae0ca1e2fb2c5570d0a5029176e16da831dfbc800a20398a24412251aa73446416c65029f8a60f2684c877d4a7070"
    "f3891463467a73165af44305b401b15245969f49398cb877c4c2ae1cb2cba8fde999ecce56a01e8084671c842263782a"
    "27dc77dc07d86a0620df927717568a8fd57aa6d844ed002e24fe5ad13dc469df35925bb697145d78f2ed155c14f15bc8"
    "0a7fa86dadc0d308e5e5c3740254a3ba93d7796ec8d8b2207ac0"
)
# FINISH, SHA-256, decrypted (capture h, record 27)
FFDHE_FINISH = bytes.fromhex("11e5000086b26025d6f2402d06695c9bcf8962bd3dbbb708788cfc5bf41a8f6be134d44d")
# KEY_EXCHANGE_RSP asking for mutual auth without encapsulation (capture p, record 26, DOE padding stripped)
MUTUAL_KEY_EXCHANGE_RSP = bytes.fromhex(
    "1164f000ffff01008aaf861c6e1a15478062c9ab641c90c62f69d4fc435d006eabfce1a571f4d42723d60221a161ebe9"
    "72b8b8b1add4fe9c0871c8a4f24964a990c6379387cc2a99976d9c71ca8cdbc1ea2e1b6ba4975500ac5e7eb0eb3a59d1"
    "3d8eaacd4b892731e1e9745cf76f639aa2c55a197b4810c5958a29b5d16a974c0ec590fa148451ed3aef5b275a50e374"
    "46b64610a5da1d53755c89701026084a796f5ad87dca1841bd2f0670124eff5541c52d8719ad0e80100046544d440101"
    "00000000040001000011e1b884e1aa6d7117bf7a602d168949556c2589a9d44305573929854d411eb4478f48f492dce5"
    "9bb7fd69f08b99db6d634ccfbadeca16d58cea8357de7502a13773b41b5625e99c9e3fd8773085b15906774efa88eeda"
    "7e2bb648f2cce871f016fbfdeb374c2deaeedc0e79e2248994bc3a0c6c1da66d88b2fb5200c8ec229b68c7d460d61889"
    "0eafbc36195140cb39c7"
)
# FINISH with the requester's ECDSA P-384 signature, decrypted (capture p, record 27)
MUTUAL_FINISH = bytes.fromhex(
    "11e5010024c885be8510ab6164a32baba3a5a1ea67c61012940b3b00a8d114efc331a167e09200f590159c0ae92c0712"
    "ba0de1961237b719bdbd2cd9b143c5947a962be8c25a80b504e02bcf90a8a0d88bbb5d473d9e41ebad2670cbf0f16347"
    "0b778b9e1845a02580ed755b276d38f69aa76d7e2c612d31187de98c7466252941db480a4cead2d0afdc7777100828da"
    "e7bed890"
)
# KEY_EXCHANGE_RSP asking for mutual auth with encapsulation (capture e4, record 26, DOE padding stripped)
ENCAP_KEY_EXCHANGE_RSP = bytes.fromhex(
    "1164f000ffff0200d0f734e2864935b2738789143199934177659d016d06f7920762121bc0b4c2615867c057ae2c5200"
    "582fc568c28def844472c9e97b3776ece928e4896338c1e205225281e46008212b1ee913dd4dd919dc6c9418e7acba0f"
    "a271c3350a5effb1b2f9fa00148ab921978ec0672f619e0956dcc481a9bfa8268ce653a2912287343aef5b275a50e374"
    "46b64610a5da1d53755c89701026084a796f5ad87dca1841bd2f0670124eff5541c52d8719ad0e80100046544d440101"
    "00000000040001000011811dd38d476f65d08accbec3889c3edf0a61590be9604a69ee3dcf3c31ebfe4caff68c6d7181"
    "8c7e47fad4f5022ec904a552a112c41b4743974d2c0e9d54b73833b520368b9db3cbf7bf336a7787ae4c45aa698fe164"
    "d16d3f7d166be46b641b6597963a090576cb7ac2d84a5a7c0dfe5c03956d1ab23b9a812aba4137ac8c4b9defaaa7bbc0"
    "26eaa754e9c08452dec0"
)
# FINISH signed after the encapsulated flow, decrypted (capture e4, record 33)
ENCAP_FINISH = bytes.fromhex(
    "11e50100217195907e3df192cb453e5319819c48363f5b857a937b606249eae6d21936844e76bf69e905503c73b1ffeb"
    "806101866dc9fd78ad5a00b7d6427ba3595c3331d8185f9db54311bf4a8b283f160bf5c9dc7c6bf6a528e14e046d6da5"
    "f523c88f47073924559de3aa674d8fe1b734cf79f176a4f88535063852b91dc937b78ff8638d3a901e55a60258570a00"
    "13328549"
)

# SECP384R1 / ECDSA P-384 / SHA-384 with MEAS_CAP (captures e, e4, p: the requester's key is P-384 too)
P384 = CodecContext(
    hash_size=48, signature_size=96, req_signature_size=96, dhe_size=96, measurement_summary_hash=True
)
# FFDHE3072 / RSASSA-3072 / SHA-256 with MEAS_CAP (capture h)
FFDHE = CodecContext(hash_size=32, signature_size=384, dhe_size=384, measurement_summary_hash=True)
IN_THE_CLEAR = dataclasses.replace(P384, handshake_in_the_clear=True)

VECTORS = [
    (KEY_EXCHANGE, P384),
    (KEY_EXCHANGE_RSP, P384),
    (FINISH, P384),
    (FINISH_RSP, P384),
    (FFDHE_KEY_EXCHANGE, FFDHE),
    (FFDHE_KEY_EXCHANGE_RSP, FFDHE),
    (FFDHE_FINISH, FFDHE),
    (MUTUAL_KEY_EXCHANGE_RSP, P384),
    (MUTUAL_FINISH, P384),
    (ENCAP_KEY_EXCHANGE_RSP, P384),
    (ENCAP_FINISH, P384),
]
IDS = [
    "key_exchange",
    "key_exchange_rsp",
    "finish",
    "finish_rsp",
    "ffdhe_key_exchange",
    "ffdhe_key_exchange_rsp",
    "ffdhe_finish",
    "mutual_key_exchange_rsp",
    "mutual_finish",
    "encap_key_exchange_rsp",
    "encap_finish",
]


@pytest.mark.parametrize(("data", "ctx"), VECTORS, ids=IDS)
def test_captures_round_trip(data: bytes, ctx: CodecContext) -> None:
    assert m.encode(m.decode(data, ctx)) == data


@pytest.mark.parametrize(("data", "ctx"), VECTORS, ids=IDS)
def test_doe_padding_is_left_to_the_caller(data: bytes, ctx: CodecContext) -> None:
    msg, size = m.decode_prefix(data + bytes(-len(data) % 4), ctx)
    assert size == len(data)
    assert msg == m.decode(data, ctx)


def test_key_exchange_fields() -> None:
    msg = m.decode(KEY_EXCHANGE, P384)
    assert isinstance(msg, KeyExchange)
    assert (msg.version, msg.summary_hash_type, msg.slot_id) == (0x11, 0xFF, 0)
    assert (msg.req_session_id, msg.reserved) == (0xFFFF, 0)
    assert msg.random_data == KEY_EXCHANGE[8:40]
    assert msg.exchange_data == KEY_EXCHANGE[40:136]
    assert secured_message_versions(decode_opaque(msg.opaque_data)) == (0x1100,)


def test_key_exchange_rsp_fields() -> None:
    msg = m.decode(KEY_EXCHANGE_RSP, P384)
    assert isinstance(msg, KeyExchangeRsp)
    assert (msg.heartbeat_period, msg.param2, msg.rsp_session_id) == (0xF0, 0, 0xFFFF)
    assert (msg.mut_auth_requested, msg.req_slot_id_param) == (0, 0)
    assert msg.random_data.hex().startswith("740cecd4")
    assert len(msg.exchange_data) == 96
    assert msg.measurement_summary_hash is not None
    assert msg.measurement_summary_hash.hex().startswith("3aef5b27")
    assert selected_secured_message_version(decode_opaque(msg.opaque_data)) == 0x1100
    assert msg.signature.hex().startswith("f352ac1b") and len(msg.signature) == 96
    assert msg.responder_verify_data == KEY_EXCHANGE_RSP[-48:]


def test_ffdhe_sizes() -> None:
    request = m.decode(FFDHE_KEY_EXCHANGE, FFDHE)
    response = m.decode(FFDHE_KEY_EXCHANGE_RSP, FFDHE)
    finish = m.decode(FFDHE_FINISH, FFDHE)
    assert isinstance(request, KeyExchange) and len(request.exchange_data) == 384
    assert isinstance(response, KeyExchangeRsp)
    assert (len(response.exchange_data), len(response.signature)) == (384, 384)
    assert response.responder_verify_data is not None and len(response.responder_verify_data) == 32
    assert isinstance(finish, Finish) and len(finish.requester_verify_data) == 32


def test_mutual_auth_requests() -> None:
    without_encap = m.decode(MUTUAL_KEY_EXCHANGE_RSP, P384)
    with_encap = m.decode(ENCAP_KEY_EXCHANGE_RSP, P384)
    assert isinstance(without_encap, KeyExchangeRsp) and isinstance(with_encap, KeyExchangeRsp)
    assert (without_encap.mut_auth_requested, without_encap.req_slot_id_param) == (0x01, 0)
    assert (with_encap.mut_auth_requested, with_encap.req_slot_id_param) == (0x02, 0)
    reserved_high_bits = dataclasses.replace(with_encap, req_slot_id_param=0xF3)
    assert reserved_high_bits.req_slot_id == 3


@pytest.mark.parametrize("data", [MUTUAL_FINISH, ENCAP_FINISH], ids=["without_encap", "with_encap"])
def test_finish_with_signature(data: bytes) -> None:
    msg = m.decode(data, P384)
    assert isinstance(msg, Finish)
    assert msg.signature_included and (msg.attributes, msg.req_slot_id) == (1, 0)
    assert msg.signature == data[4:100]
    assert msg.requester_verify_data == data[100:]


def test_finish_without_signature() -> None:
    msg = m.decode(FINISH, P384)
    assert isinstance(msg, Finish)
    assert not msg.signature_included and msg.signature is None
    assert msg.requester_verify_data == FINISH[4:]
    # the requester's signature size is not needed when there is no signature
    assert m.decode(FINISH, dataclasses.replace(P384, req_signature_size=None)) == msg


def test_finish_rsp_carries_verify_data_only_in_the_clear() -> None:
    assert m.decode(FINISH_RSP, P384) == FinishRsp()
    verify_data = bytes(range(48))
    msg = m.decode(FINISH_RSP + verify_data, IN_THE_CLEAR)
    assert msg == FinishRsp(responder_verify_data=verify_data)
    assert m.encode(msg) == FINISH_RSP + verify_data
    with pytest.raises(DecodeError) as caught:
        m.decode(FINISH_RSP, IN_THE_CLEAR)
    assert (caught.value.message, caught.value.field) == ("FINISH_RSP", "responder_verify_data")


def test_key_exchange_rsp_in_the_clear_has_no_verify_data() -> None:
    data = KEY_EXCHANGE_RSP[:-48]
    msg = m.decode(data, IN_THE_CLEAR)
    assert isinstance(msg, KeyExchangeRsp) and msg.responder_verify_data is None
    assert msg.signature == KEY_EXCHANGE_RSP[-144:-48]
    assert m.encode(msg) == data
    with pytest.raises(DecodeError, match="trailing bytes"):
        m.decode(KEY_EXCHANGE_RSP, IN_THE_CLEAR)


def test_key_exchange_rsp_without_measurement_summary_hash() -> None:
    msg = m.decode(KEY_EXCHANGE_RSP, P384)
    assert isinstance(msg, KeyExchangeRsp)
    data = m.encode(dataclasses.replace(msg, measurement_summary_hash=None))
    assert len(data) == len(KEY_EXCHANGE_RSP) - 48
    no_hash = dataclasses.replace(P384, measurement_summary_hash=False)
    assert m.decode(data, no_hash) == dataclasses.replace(msg, measurement_summary_hash=None)


@pytest.mark.parametrize(
    ("data", "ctx", "message", "field"),
    [
        (KEY_EXCHANGE[:-1], P384, "KEY_EXCHANGE", "opaque_data"),
        (KEY_EXCHANGE[:100], P384, "KEY_EXCHANGE", "exchange_data"),
        (KEY_EXCHANGE + b"\x00", P384, "KEY_EXCHANGE", ""),
        (KEY_EXCHANGE_RSP[:-1], P384, "KEY_EXCHANGE_RSP", "responder_verify_data"),
        (KEY_EXCHANGE_RSP[:-60], P384, "KEY_EXCHANGE_RSP", "signature"),
        (KEY_EXCHANGE_RSP + b"\x00", P384, "KEY_EXCHANGE_RSP", ""),
        (FINISH[:-1], P384, "FINISH", "requester_verify_data"),
        (FINISH + b"\x00", P384, "FINISH", ""),
        (MUTUAL_FINISH[:60], P384, "FINISH", "signature"),
        (MUTUAL_FINISH[:-1], P384, "FINISH", "requester_verify_data"),
        (MUTUAL_FINISH + b"\x00", P384, "FINISH", ""),
        (FINISH_RSP + b"\x00", P384, "FINISH_RSP", ""),
        (FFDHE_KEY_EXCHANGE_RSP[:-1], FFDHE, "KEY_EXCHANGE_RSP", "responder_verify_data"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_truncated_or_trailing(data: bytes, ctx: CodecContext, message: str, field: str) -> None:
    with pytest.raises(DecodeError) as caught:
        m.decode(data, ctx)
    assert (caught.value.message, caught.value.field) == (message, field)


@pytest.mark.parametrize(
    ("data", "ctx", "message", "field"),
    [
        (KEY_EXCHANGE, None, "KEY_EXCHANGE", "exchange_data"),
        (KEY_EXCHANGE, CodecContext(hash_size=48), "KEY_EXCHANGE", "exchange_data"),
        (KEY_EXCHANGE_RSP, None, "KEY_EXCHANGE_RSP", "exchange_data"),
        (
            KEY_EXCHANGE_RSP,
            CodecContext(dhe_size=96, hash_size=48, measurement_summary_hash=True),
            "KEY_EXCHANGE_RSP",
            "signature",
        ),
        (
            KEY_EXCHANGE_RSP,
            CodecContext(dhe_size=96, signature_size=96, measurement_summary_hash=True),
            "KEY_EXCHANGE_RSP",
            "measurement_summary_hash",
        ),
        (FINISH, None, "FINISH", "requester_verify_data"),
        (MUTUAL_FINISH, CodecContext(hash_size=48), "FINISH", "signature"),
        (FINISH_RSP, None, "FINISH_RSP", "responder_verify_data"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_missing_context(data: bytes, ctx: CodecContext | None, message: str, field: str) -> None:
    with pytest.raises(DecodeError, match="context") as caught:
        m.decode(data, ctx)
    assert (caught.value.message, caught.value.field) == (message, field)


def test_opaque_data_length_is_bounded() -> None:
    opaque_length_at = 40 + 96
    bad = bytearray(KEY_EXCHANGE)
    bad[opaque_length_at : opaque_length_at + 2] = (1025).to_bytes(2, "little")
    with pytest.raises(DecodeError, match="OpaqueDataLength over 1024") as caught:
        m.decode(bytes(bad) + bytes(1025 - 20), P384)
    assert caught.value.message == "KEY_EXCHANGE"
    msg = m.decode(KEY_EXCHANGE, P384)
    with pytest.raises(EncodeError, match="OpaqueDataLength over 1024"):
        m.encode(dataclasses.replace(msg, opaque_data=bytes(1025)))  # type: ignore[type-var]
    assert len(m.encode(dataclasses.replace(msg, opaque_data=bytes(1024)))) == len(KEY_EXCHANGE) + 1004  # type: ignore[type-var]


def test_finish_signature_must_match_signature_included() -> None:
    with pytest.raises(EncodeError):
        m.encode(Finish(attributes=1, requester_verify_data=bytes(48)))
    with pytest.raises(EncodeError, match="SignatureIncluded"):
        m.encode(Finish(attributes=0, signature=bytes(96), requester_verify_data=bytes(48)))


@pytest.mark.parametrize(
    ("attributes", "mut_auth", "expected"),
    [
        (0, 0, None),
        (1, 1, None),
        (1, 2, None),
        (1, 0, "SignatureIncluded=1 but MutAuthRequested=0x00"),
        (0, 4, "SignatureIncluded=0 but MutAuthRequested=0x04"),
        (0xFE, 2, "SignatureIncluded=0 but MutAuthRequested=0x02"),
    ],
)
def test_finish_signature_mismatch(attributes: int, mut_auth: int, expected: str | None) -> None:
    """The one statement of the rule the responder and `spdm verify` apply to FINISH."""
    finish = Finish(attributes=attributes, requester_verify_data=bytes(48))
    assert finish.signature_mismatch(mut_auth) == expected


def test_reserved_bits_round_trip() -> None:
    msg = Finish(attributes=0xFE, req_slot_id=0xFF, requester_verify_data=bytes(48))
    data = m.encode(msg)
    assert data[:4] == bytes.fromhex("11e5feff")
    assert m.decode(data, P384) == msg


CONTEXTS = st.builds(
    CodecContext,
    hash_size=st.sampled_from([None, 0, 32, 48]),
    signature_size=st.sampled_from([None, 64, 96]),
    req_signature_size=st.sampled_from([None, 96]),
    dhe_size=st.sampled_from([None, 64, 96]),
    measurement_summary_hash=st.booleans(),
    handshake_in_the_clear=st.booleans(),
)


@given(
    code=st.sampled_from([0xE4, 0x64, 0xE5, 0x65]),
    body=st.binary(max_size=400),
    ctx=st.none() | CONTEXTS,
)
def test_decoding_raises_only_decode_error(code: int, body: bytes, ctx: CodecContext | None) -> None:
    with contextlib.suppress(DecodeError):
        m.decode(bytes([0x11, code]) + body, ctx)
