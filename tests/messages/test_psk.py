"""PSK_EXCHANGE/PSK_EXCHANGE_RSP and PSK_FINISH/PSK_FINISH_RSP, decoded from libspdm captures and rebuilt.

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
from spdm.messages.opaque import decode_opaque, secured_message_versions, selected_secured_message_version
from spdm.messages.psk import PskExchange, PskExchangeRsp, PskFinish, PskFinishRsp

# PSK_EXCHANGE, hint TestPskHint, 64-byte context (capture d, record 13)
PSK_EXCHANGE = bytes.fromhex(
    "11e6ff00ffff0c00400014005465737450736b48696e7400cb3f4c3d481bc47c35ae9a513f6c707d1d117c6eafbf8cf0"
    "700e79509056edd5065e4ab2a3a44b644b813461bb7cb62c61cef3a95ca3ea50b72b10d98e326a6146544d4401010000"
    "000005000101010011000000"
)
# PSK_EXCHANGE_RSP, SHA-384, MeasurementSummaryHash, 64-byte context (capture d, record 14)
PSK_EXCHANGE_RSP = bytes.fromhex(
    "1166f000ffff0000400010003aef5b275a50e37446b64610a5da1d53755c89701026084a796f5ad87dca1841bd2f0670"
    "124eff5541c52d8719ad0e80a3dd579d425e2ee3aaec494c0f96c6bb832a97242582ea671d10e7e584ab6a44119f619a"
    "7c978955a460a00ab5710409db7efd2c299f4d84a462644d1bb003b146544d4401010000000004000100001171eb608d"
    "eceb24f6d11f545c7504afb156e792c30bccb2ed3f69d87ec5c065a7c72c537e90252ea3832ad0134295cb9a"
)
# PSK_FINISH, decrypted (capture d, record 15)
PSK_FINISH = bytes.fromhex(
    "11e70000ba78ac99a4a49245a7691c041d09378f7baa3b77e4f380a615145cb37d203d68b1c03b157874621e25fb42a11c6d9020"
)
# PSK_FINISH_RSP, decrypted (capture d, record 16)
PSK_FINISH_RSP = bytes.fromhex("11670000")
# PSK_EXCHANGE to a responder without PSK context (capture j, record 13)
NOCONTEXT_PSK_EXCHANGE = bytes.fromhex(
    "11e6ff00ffff0c00400014005465737450736b48696e74003d72b50ac4921f6289108ab51388db4a00a54d7da2fa5afc"
    "7bfb8fb0b295ffe10a643eb1391bb9e4abaeaf9d6a456c2a48ea20a95918086c6b6a9a190ccff6df46544d4401010000"
    "000005000101010011000000"
)
# PSK_EXCHANGE_RSP without ResponderContext, SHA-256 (capture j, record 14)
NOCONTEXT_PSK_EXCHANGE_RSP = bytes.fromhex(
    "1166f000ffff0000000010003079256b44a444f6a274c3bae0f77214a311446e9948f96d0e6e51edbebb663946544d44"
    "010100000000040001000011009d2dbe42510cee2bb6b0869627f65be54febf7ffee1a4119231dae1d9e8e53"
)

HINT = b"TestPskHint\x00"
# SHA-384 with MEAS_CAP (capture d); SHA-256 with MEAS_CAP (capture j)
SHA384 = CodecContext(hash_size=48, measurement_summary_hash=True)
SHA256 = CodecContext(hash_size=32, measurement_summary_hash=True)

VECTORS = [
    pytest.param(PSK_EXCHANGE, SHA384, id="psk_exchange"),
    pytest.param(PSK_EXCHANGE_RSP, SHA384, id="psk_exchange_rsp"),
    pytest.param(PSK_FINISH, SHA384, id="psk_finish"),
    pytest.param(PSK_FINISH_RSP, SHA384, id="psk_finish_rsp"),
    pytest.param(NOCONTEXT_PSK_EXCHANGE, SHA256, id="nocontext_psk_exchange"),
    pytest.param(NOCONTEXT_PSK_EXCHANGE_RSP, SHA256, id="nocontext_psk_exchange_rsp"),
]


@pytest.mark.parametrize(("data", "ctx"), VECTORS)
def test_captures_round_trip(data: bytes, ctx: CodecContext) -> None:
    assert m.encode(m.decode(data, ctx)) == data


def test_psk_exchange_fields() -> None:
    msg = m.decode(PSK_EXCHANGE)
    assert isinstance(msg, PskExchange)
    assert (msg.version, msg.summary_hash_type, msg.session_policy, msg.req_session_id) == (0x11, 0xFF, 0, 0xFFFF)
    assert msg.psk_hint == HINT
    assert msg.requester_context == PSK_EXCHANGE[24:88]
    assert secured_message_versions(decode_opaque(msg.opaque_data)) == (0x1100,)


def test_psk_exchange_rsp_fields() -> None:
    msg = m.decode(PSK_EXCHANGE_RSP, SHA384)
    assert isinstance(msg, PskExchangeRsp)
    assert (msg.heartbeat_period, msg.param2, msg.rsp_session_id, msg.reserved) == (0xF0, 0, 0xFFFF, 0)
    assert msg.measurement_summary_hash is not None
    assert msg.measurement_summary_hash.hex().startswith("3aef5b27")
    assert len(msg.responder_context) == 64
    assert selected_secured_message_version(decode_opaque(msg.opaque_data)) == 0x1100
    assert msg.responder_verify_data == PSK_EXCHANGE_RSP[-48:]


def test_psk_finish_fields() -> None:
    finish = m.decode(PSK_FINISH, SHA384)
    assert isinstance(finish, PskFinish)
    assert finish.requester_verify_data == PSK_FINISH[4:]
    assert m.decode(PSK_FINISH_RSP) == PskFinishRsp()


def test_psk_without_responder_context() -> None:
    request = m.decode(NOCONTEXT_PSK_EXCHANGE)
    response = m.decode(NOCONTEXT_PSK_EXCHANGE_RSP, SHA256)
    assert isinstance(request, PskExchange) and request.psk_hint == HINT
    assert len(request.requester_context) == 64
    assert isinstance(response, PskExchangeRsp)
    assert response.responder_context == b""
    assert response.measurement_summary_hash is not None and len(response.measurement_summary_hash) == 32
    assert selected_secured_message_version(decode_opaque(response.opaque_data)) == 0x1100
    assert response.responder_verify_data.hex().startswith("009d2dbe")


def test_psk_exchange_rsp_without_measurement_summary_hash() -> None:
    msg = m.decode(NOCONTEXT_PSK_EXCHANGE_RSP, SHA256)
    assert isinstance(msg, PskExchangeRsp)
    data = m.encode(dataclasses.replace(msg, measurement_summary_hash=None))
    assert len(data) == len(NOCONTEXT_PSK_EXCHANGE_RSP) - 32
    no_hash = dataclasses.replace(SHA256, measurement_summary_hash=False)
    assert m.decode(data, no_hash) == dataclasses.replace(msg, measurement_summary_hash=None)


def test_empty_hint_and_opaque_data() -> None:
    msg = PskExchange(req_session_id=0x1234, requester_context=bytes(32))
    data = m.encode(msg)
    assert data[:12] == bytes.fromhex("11e600003412000020000000")
    assert m.decode(data) == msg


@pytest.mark.parametrize(
    ("data", "ctx", "message", "field"),
    [
        pytest.param(PSK_EXCHANGE[:-1], None, "PSK_EXCHANGE", "opaque_data", id="exchange-opaque"),
        pytest.param(PSK_EXCHANGE[:30], None, "PSK_EXCHANGE", "requester_context", id="exchange-context"),
        pytest.param(PSK_EXCHANGE[:11], None, "PSK_EXCHANGE", "_opaque_length", id="exchange-lengths"),
        pytest.param(PSK_EXCHANGE + b"\x00", None, "PSK_EXCHANGE", "", id="exchange-trailing"),
        pytest.param(PSK_EXCHANGE_RSP[:-1], SHA384, "PSK_EXCHANGE_RSP", "responder_verify_data", id="rsp"),
        pytest.param(
            PSK_EXCHANGE_RSP[:40], SHA384, "PSK_EXCHANGE_RSP", "measurement_summary_hash", id="rsp-hash"
        ),
        pytest.param(PSK_EXCHANGE_RSP + b"\x00", SHA384, "PSK_EXCHANGE_RSP", "", id="rsp-trailing"),
        pytest.param(
            NOCONTEXT_PSK_EXCHANGE_RSP[:-1],
            SHA256,
            "PSK_EXCHANGE_RSP",
            "responder_verify_data",
            id="nocontext-rsp",
        ),
        pytest.param(PSK_FINISH[:-1], SHA384, "PSK_FINISH", "requester_verify_data", id="finish"),
        pytest.param(PSK_FINISH + b"\x00", SHA384, "PSK_FINISH", "", id="finish-trailing"),
        pytest.param(PSK_FINISH_RSP + b"\x00", None, "PSK_FINISH_RSP", "", id="finish_rsp-trailing"),
        pytest.param(PSK_EXCHANGE_RSP, None, "PSK_EXCHANGE_RSP", "measurement_summary_hash", id="no-ctx"),
        pytest.param(
            NOCONTEXT_PSK_EXCHANGE_RSP,
            CodecContext(),
            "PSK_EXCHANGE_RSP",
            "responder_verify_data",
            id="no-hash-size",
        ),
        pytest.param(PSK_FINISH, None, "PSK_FINISH", "requester_verify_data", id="finish-no-ctx"),
    ],
)
def test_malformed(data: bytes, ctx: CodecContext | None, message: str, field: str) -> None:
    with pytest.raises(DecodeError) as caught:
        m.decode(data, ctx)
    assert (caught.value.message, caught.value.field) == (message, field)


def _with_length(data: bytes, offset: int, length: int) -> bytes:
    return data[:offset] + length.to_bytes(2, "little") + data[offset + 2 :] + bytes(length)


@pytest.mark.parametrize(
    ("data", "offset", "length", "reason"),
    [
        pytest.param(PSK_EXCHANGE, 6, 33, "PSKHintLength over 32", id="hint"),
        pytest.param(PSK_EXCHANGE, 8, 1025, "RequesterContextLength over 1024", id="requester_context"),
        pytest.param(PSK_EXCHANGE, 10, 1025, "OpaqueDataLength over 1024", id="request_opaque"),
        pytest.param(PSK_EXCHANGE_RSP, 8, 1025, "ResponderContextLength over 1024", id="responder_context"),
        pytest.param(PSK_EXCHANGE_RSP, 10, 1025, "OpaqueDataLength over 1024", id="response_opaque"),
    ],
)
def test_lengths_are_bounded(data: bytes, offset: int, length: int, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason) as caught:
        m.decode(_with_length(data, offset, length), SHA384)
    assert caught.value.message == m.decode(data, SHA384).name


def test_bounds_hold_when_encoding() -> None:
    request = m.decode(PSK_EXCHANGE)
    assert isinstance(request, PskExchange)
    assert m.decode(m.encode(dataclasses.replace(request, psk_hint=bytes(32)))).psk_hint == bytes(32)  # type: ignore[attr-defined]
    with pytest.raises(EncodeError, match="PSKHintLength over 32"):
        m.encode(dataclasses.replace(request, psk_hint=bytes(33)))


@given(
    code=st.sampled_from([0xE6, 0x66, 0xE7, 0x67]),
    body=st.binary(max_size=300),
    ctx=st.none()
    | st.builds(
        CodecContext,
        hash_size=st.sampled_from([None, 0, 32, 48]),
        measurement_summary_hash=st.booleans(),
    ),
)
def test_decoding_raises_only_decode_error(code: int, body: bytes, ctx: CodecContext | None) -> None:
    with contextlib.suppress(DecodeError):
        m.decode(bytes([0x11, code]) + body, ctx)
