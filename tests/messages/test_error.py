"""ERROR and RESPOND_IF_READY.

The captures only hold ERROR InvalidRequest (a_conn_ecdsap384_sha384_v11, records 38 and on, for
absent measurement indices); the other messages here are synthetic, shaped like libspdm's.
"""

from __future__ import annotations

import pytest

from spdm.errors import DecodeError, EncodeError
from spdm.messages import Code, ErrorCode, decode, decode_as, encode
from spdm.messages.error import ErrorResponse, LargeResponse, RespondIfReady, ResponseNotReady, ResponseTooLarge

# a_conn_ecdsap384_sha384_v11 #38: InvalidRequest for GET_MEASUREMENTS index 5
INVALID_REQUEST = bytes.fromhex("117f0100")
# ResponseNotReady: RDExponent 1, RequestCode GET_MEASUREMENTS, Token 5, RDTM 1
NOT_READY = bytes.fromhex("117f420001e00501")
# UnsupportedRequest: ErrorData is the refused code (KEY_EXCHANGE)
UNSUPPORTED = bytes.fromhex("117f07e4")
# Vendor/Other error with 32 bytes of extended data, the most allowed
VENDOR_ERROR = bytes.fromhex("117fff00") + bytes(range(32))
# the RESPOND_IF_READY answering NOT_READY
RESPOND_IF_READY = bytes.fromhex("11ffe005")
# SPDM 1.2 LargeResponse: chunk handle 1 (libspdm-v12-v13/v_chunk_dts256_ecdsap384_v12 record 16)
LARGE_RESPONSE = bytes.fromhex("127f0f0001")
# SPDM 1.2 ResponseTooLarge: the response would have been 0x28000 bytes
RESPONSE_TOO_LARGE = bytes.fromhex("127f0d0000800200")
# both without ExtendedErrorData, as libspdm sends them: ResponseTooLarge from its CHUNK_GET handler
# (libspdm_rsp_chunk_response.c, libspdm_generate_error_response), LargeResponse when built without
# LIBSPDM_ENABLE_CAPABILITY_CHUNK_CAP (libspdm_rsp_receive_send.c)
RESPONSE_TOO_LARGE_NO_SIZE = bytes.fromhex("127f0d00")
LARGE_RESPONSE_NO_HANDLE = bytes.fromhex("127f0f00")


@pytest.mark.parametrize(
    "data",
    [
        INVALID_REQUEST,
        NOT_READY,
        UNSUPPORTED,
        VENDOR_ERROR,
        RESPOND_IF_READY,
        LARGE_RESPONSE,
        RESPONSE_TOO_LARGE,
        LARGE_RESPONSE_NO_HANDLE,
        RESPONSE_TOO_LARGE_NO_SIZE,
    ],
    ids=[
        "invalid_request",
        "not_ready",
        "unsupported",
        "vendor",
        "respond_if_ready",
        "large",
        "too_large",
        "large_no_handle",
        "too_large_no_size",
    ],
)
def test_round_trip(data: bytes) -> None:
    assert encode(decode(data)) == data


def test_invalid_request() -> None:
    msg = decode(INVALID_REQUEST)
    assert msg == ErrorResponse(error_code=ErrorCode.InvalidRequest, error_data=0, extended_data=b"")
    assert msg.code is Code.ERROR and msg.name == "ERROR"


def test_response_not_ready_is_a_record() -> None:
    msg = decode(NOT_READY)
    assert isinstance(msg, ErrorResponse)
    assert msg.extended_data == ResponseNotReady(rd_exponent=1, request_code=Code.GET_MEASUREMENTS, token=5, rdtm=1)


def test_respond_if_ready_echoes_code_and_token() -> None:
    msg = decode(RESPOND_IF_READY)
    assert msg == RespondIfReady(request_code=0xE0, token=5)
    not_ready = decode(NOT_READY)
    assert isinstance(msg, RespondIfReady) and isinstance(not_ready, ErrorResponse)
    ready = not_ready.extended_data
    assert isinstance(ready, ResponseNotReady)
    assert (msg.request_code, msg.token) == (ready.request_code, ready.token)


def test_1_2_extended_data_records() -> None:
    large = decode(LARGE_RESPONSE)
    assert large == ErrorResponse(
        version=0x12, error_code=ErrorCode.LargeResponse, extended_data=LargeResponse(handle=1)
    )
    too_large = decode(RESPONSE_TOO_LARGE)
    assert isinstance(too_large, ErrorResponse)
    assert too_large.extended_data == ResponseTooLarge(response_size=0x28000)


@pytest.mark.parametrize(
    ("data", "code"),
    [(RESPONSE_TOO_LARGE_NO_SIZE, ErrorCode.ResponseTooLarge), (LARGE_RESPONSE_NO_HANDLE, ErrorCode.LargeResponse)],
    ids=["too_large", "large"],
)
def test_1_2_extended_data_may_be_left_out(data: bytes, code: ErrorCode) -> None:
    """libspdm sends both codes as the 4-byte ERROR too: no record, `extended_data` is b"" (and the
    default ErrorResponse of either code is that ERROR)."""
    msg = decode(data)
    assert msg == ErrorResponse(version=0x12, error_code=code, extended_data=b"")
    assert encode(ErrorResponse(version=0x12, error_code=code)) == data


def test_other_codes_keep_raw_extended_data() -> None:
    msg = decode(VENDOR_ERROR)
    assert isinstance(msg, ErrorResponse)
    assert (msg.error_code, msg.extended_data) == (0xFF, bytes(range(32)))
    unsupported = decode(UNSUPPORTED)
    assert isinstance(unsupported, ErrorResponse)
    assert unsupported.error_code == ErrorCode.UnsupportedRequest
    assert unsupported.error_data == Code.KEY_EXCHANGE


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        (NOT_READY[:-1], "extended_data.rdtm", "truncated"),
        (NOT_READY + b"\x00", "", "trailing"),
        (NOT_READY[:4], "extended_data.rd_exponent", "truncated"),
        (VENDOR_ERROR + b"\x00", "extended_data", "ExtendedErrorData over 32 bytes"),
        (INVALID_REQUEST[:-1], "error_data", "truncated"),
        (LARGE_RESPONSE + b"\x00", "", "trailing"),
        (RESPONSE_TOO_LARGE[:-1], "extended_data.response_size", "truncated"),
        (RESPONSE_TOO_LARGE[:5], "extended_data.response_size", "truncated"),
        (RESPONSE_TOO_LARGE + b"\x00", "", "trailing"),
    ],
    ids=[
        "not_ready_truncated",
        "not_ready_trailing",
        "not_ready_empty",
        "extended_max",
        "truncated",
        "large_trailing",
        "too_large_truncated",
        "too_large_one_byte",
        "too_large_trailing",
    ],
)
def test_error_rejected(data: bytes, field: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_as(ErrorResponse, data)
    assert (caught.value.message, caught.value.field) == ("ERROR", field)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [(RESPOND_IF_READY[:-1], "token", "truncated"), (RESPOND_IF_READY + b"\x00", "", "trailing")],
    ids=["truncated", "trailing"],
)
def test_respond_if_ready_rejected(data: bytes, field: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_as(RespondIfReady, data)
    assert (caught.value.message, caught.value.field) == ("RESPOND_IF_READY", field)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("msg", "field", "reason"),
    [
        (ErrorResponse(error_code=ErrorCode.ResponseNotReady), "extended_data", "expected ResponseNotReady"),
        (ErrorResponse(error_code=ErrorCode.Busy, extended_data=bytes(33)), "extended_data", "over 32 bytes"),
        (
            ErrorResponse(
                error_code=ErrorCode.Busy,
                extended_data=ResponseNotReady(rd_exponent=1, request_code=0xE0, token=0, rdtm=1),
            ),
            "",
            "malformed",
        ),
    ],
    ids=["not_ready_bytes", "extended_max", "record_for_other_code"],
)
def test_encode_rejects(msg: ErrorResponse, field: str, reason: str) -> None:
    with pytest.raises(EncodeError) as caught:
        encode(msg)
    assert (caught.value.message, caught.value.field) == ("ERROR", field)
    assert reason in caught.value.reason
