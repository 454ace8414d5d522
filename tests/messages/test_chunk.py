"""CHUNK_SEND/CHUNK_SEND_ACK, CHUNK_GET/CHUNK_RESPONSE and ERROR(LargeResponse) (SPDM 1.2).

Hand-built messages follow DSP0274 1.2's layouts (and libspdm's spdm.h structures); real bytes are
the clear-text records of /work/shared/vectors/libspdm-v12-v13/v_chunk_dts256_ecdsap384_v12 and
v3_chunk_dts64_dhe_psk_ecdsap384_v12 (record numbers as in their dump_full.txt), DOE padding cut.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from v12_captures import clear_messages

from spdm import dump
from spdm.errors import DecodeError, EncodeError
from spdm.messages import Code, Message, decode, decode_as, decode_prefix, encode
from spdm.messages.certificates import Certificate
from spdm.messages.chunk import ChunkGet, ChunkResponse, ChunkSend, ChunkSendAck
from spdm.messages.error import ErrorResponse, LargeResponse
from spdm.messages.provisioning import Csr, SetCertificate, SetCertificateRsp

# handle 7, ChunkSeqNo 0, ChunkSize 4, LargeMessageSize 16, chunk deadbeef
SEND_FIRST = bytes.fromhex("128500070000000004000000" + "10000000" + "deadbeef")
# LastChunk, handle 7, ChunkSeqNo 3, ChunkSize 2: no LargeMessageSize
SEND_LAST = bytes.fromhex("128501070300000002000000" + "cafe")
# handle 7, ChunkSeqNo 3, then the response to the large request: SET_CERTIFICATE_RSP of slot 1
ACK_LAST = bytes.fromhex("120500070300" + "126e0100")
# EarlyErrorDetected: the response is ERROR InvalidRequest
ACK_EARLY_ERROR = bytes.fromhex("120501070000" + "127f0100")
# Param1 reserved, handle 9, ChunkSeqNo 2
GET = bytes.fromhex("128600090200")
# handle 9, ChunkSeqNo 0, reserved 0x1234, ChunkSize 3, LargeMessageSize 10
RESPONSE_FIRST = bytes.fromhex("120600090000341203000000" + "0a000000" + "123456")
# LastChunk, handle 9, ChunkSeqNo 1, ChunkSize 0
RESPONSE_LAST_EMPTY = bytes.fromhex("120601090100000000000000")

# v_chunk_dts256_ecdsap384_v12
REAL_LARGE_RESPONSE = bytes.fromhex("127f0f0001")  # record 16, after GET_CERTIFICATE
REAL_GET = bytes.fromhex("128600010000")  # record 17
REAL_ACK = bytes.fromhex("120500000000")  # record 104: a chunk taken, no response yet
REAL_ACK_LAST = bytes.fromhex("120500000600126e0000")  # record 116: the last ACK carries SET_CERTIFICATE_RSP

EXAMPLES = {
    "send_first": SEND_FIRST,
    "send_last": SEND_LAST,
    "ack_last": ACK_LAST,
    "ack_early_error": ACK_EARLY_ERROR,
    "get": GET,
    "response_first": RESPONSE_FIRST,
    "response_last_empty": RESPONSE_LAST_EMPTY,
    "real_large_response": REAL_LARGE_RESPONSE,
    "real_get": REAL_GET,
    "real_ack": REAL_ACK,
    "real_ack_last": REAL_ACK_LAST,
}

CHUNK_CODES = {Code.CHUNK_SEND, Code.CHUNK_SEND_ACK, Code.CHUNK_GET, Code.CHUNK_RESPONSE, Code.ERROR}
DTS256 = "v_chunk_dts256_ecdsap384_v12"
DTS64 = "v3_chunk_dts64_dhe_psk_ecdsap384_v12"


@pytest.mark.parametrize("data", list(EXAMPLES.values()), ids=list(EXAMPLES))
def test_round_trip(data: bytes) -> None:
    assert encode(decode(data)) == data


def test_chunk_send_fields() -> None:
    first = decode(SEND_FIRST)
    assert first == ChunkSend(handle=7, chunk_seq_no=0, large_message_size=16, chunk=bytes.fromhex("deadbeef"))
    assert not first.last_chunk
    last = decode(SEND_LAST)
    assert last == ChunkSend(attributes=1, handle=7, chunk_seq_no=3, chunk=b"\xca\xfe")
    assert last.last_chunk and last.large_message_size is None


def test_chunk_send_ack_carries_the_response() -> None:
    ack = decode(ACK_LAST)
    assert ack == ChunkSendAck(handle=7, chunk_seq_no=3, response=bytes.fromhex("126e0100"))
    assert not ack.early_error_detected
    assert decode(ack.response) == SetCertificateRsp(slot_param=1)
    early = decode(ACK_EARLY_ERROR)
    assert isinstance(early, ChunkSendAck) and early.early_error_detected
    assert decode(early.response) == ErrorResponse(version=0x12, error_code=0x01)
    assert decode(REAL_ACK) == ChunkSendAck(handle=0, chunk_seq_no=0)


def test_chunk_get_and_response_fields() -> None:
    assert decode(GET) == ChunkGet(handle=9, chunk_seq_no=2)
    assert decode(REAL_GET) == ChunkGet(handle=1, chunk_seq_no=0)
    first = decode(RESPONSE_FIRST)
    assert first == ChunkResponse(
        handle=9, chunk_seq_no=0, reserved=0x1234, large_message_size=10, chunk=bytes.fromhex("123456")
    )
    last = decode(RESPONSE_LAST_EMPTY)
    assert isinstance(last, ChunkResponse) and last.last_chunk and last.chunk == b""


def test_large_response_names_the_chunk_handle() -> None:
    error = decode(REAL_LARGE_RESPONSE)
    assert error == ErrorResponse(version=0x12, error_code=0x0F, extended_data=LargeResponse(handle=1))


def test_decode_prefix_stops_before_doe_padding() -> None:
    padded = RESPONSE_FIRST + bytes(1)
    assert decode_prefix(padded) == (decode(RESPONSE_FIRST), len(RESPONSE_FIRST))
    assert decode_prefix(REAL_LARGE_RESPONSE + bytes(3))[1] == len(REAL_LARGE_RESPONSE)


def _with_chunk_size(data: bytes, size: int) -> bytes:
    return data[:8] + size.to_bytes(4, "little") + data[12:]


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        (_with_chunk_size(SEND_FIRST, 5), "chunk", "truncated"),
        (_with_chunk_size(SEND_FIRST, 3), "", "trailing"),
        (_with_chunk_size(SEND_LAST, 0xFFFFFFFF), "chunk", "truncated"),
        (SEND_FIRST[:14], "large_message_size", "truncated"),
        (SEND_FIRST[:12] + (3).to_bytes(4, "little") + SEND_FIRST[16:], "chunk", "ChunkSize over LargeMessageSize"),
        (SEND_FIRST[:4] + b"\x01\x00" + SEND_FIRST[6:], "", "trailing"),
        (SEND_LAST[:4] + b"\x00\x00" + SEND_LAST[6:], "large_message_size", "truncated"),
        (SEND_LAST[:11], "_chunk_size", "truncated"),
    ],
    ids=[
        "chunk_size_over",
        "chunk_size_under",
        "chunk_size_huge",
        "no_large_message_size",
        "chunk_over_message",
        "large_message_size_after_first",
        "first_without_large_message_size",
        "header",
    ],
)
@pytest.mark.parametrize("code", [Code.CHUNK_SEND, Code.CHUNK_RESPONSE], ids=["send", "response"])
def test_chunk_rejected(code: Code, data: bytes, field: str, reason: str) -> None:
    data = data[:1] + bytes([code]) + data[2:]
    with pytest.raises(DecodeError) as caught:
        decode(data)
    assert (caught.value.message, caught.value.field) == (code.name, field)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("cls", "data", "field"),
    [(ChunkGet, GET[:-1], "chunk_seq_no"), (ChunkGet, GET + b"\x00", ""), (ChunkSendAck, ACK_LAST[:5], "chunk_seq_no")],
    ids=["get_truncated", "get_trailing", "ack_truncated"],
)
def test_short_messages_rejected(cls: type[Message], data: bytes, field: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_as(cls, data)
    assert (caught.value.message, caught.value.field) == (cls.name, field)


@pytest.mark.parametrize(
    "msg",
    [
        ChunkSend(handle=1, chunk_seq_no=0, chunk=b"x"),
        ChunkResponse(handle=1, chunk_seq_no=2, large_message_size=8, chunk=b"x"),
    ],
    ids=["first_without_size", "size_after_first"],
)
def test_encode_requires_large_message_size_exactly_in_the_first_chunk(msg: Message) -> None:
    with pytest.raises(EncodeError) as caught:
        encode(msg)
    assert caught.value.field == "large_message_size"


def test_encode_refuses_a_chunk_over_the_message() -> None:
    with pytest.raises(EncodeError, match="ChunkSize over LargeMessageSize"):
        encode(ChunkSend(handle=1, chunk_seq_no=0, large_message_size=1, chunk=b"xy"))


# --- the libspdm captures -------------------------------------------------------------------


def _messages(folder: Path) -> list[tuple[int, Message, bytes]]:
    pcap = folder / "requester.pcap"
    return [(index, decode(data), data) for index, data in clear_messages(pcap, CHUNK_CODES)]


@pytest.mark.parametrize("name", [DTS256, DTS64])
def test_capture_records_round_trip(libspdm_v12_v13_vectors: Path, name: str) -> None:
    seen = set()
    for index, msg, data in _messages(libspdm_v12_v13_vectors / name):
        assert msg.version == 0x12, index
        assert encode(msg) == data, index
        seen.add(msg.code)
    assert seen == CHUNK_CODES


def _reassembled(chunks: list[ChunkSend | ChunkResponse]) -> bytes:
    """The large message of one transfer: chunks 0..n in order, the last one flagged, sizes agreeing."""
    if [c.chunk_seq_no for c in chunks] != list(range(len(chunks))) or not chunks[-1].last_chunk:
        raise ValueError(f"chunks out of order: {[c.chunk_seq_no for c in chunks]}")
    message = b"".join(c.chunk for c in chunks)
    if len(message) != chunks[0].large_message_size:
        raise ValueError(f"{len(message)} bytes reassembled, LargeMessageSize {chunks[0].large_message_size}")
    return message


def _transfers(folder: Path, cls: type[ChunkSend] | type[ChunkResponse]) -> list[bytes]:
    transfers: list[bytes] = []
    current: list[ChunkSend | ChunkResponse] = []
    for _, msg, _ in _messages(folder):
        if isinstance(msg, cls):
            current.append(msg)
            if msg.last_chunk:
                transfers.append(_reassembled(current))
                current = []
    return transfers


def test_chunk_responses_reassemble_to_their_large_message(libspdm_v12_v13_vectors: Path) -> None:
    """CERTIFICATE x3, MEASUREMENTS, KEY_EXCHANGE_RSP, CSR, MEASUREMENTS, CSR in clear (README.txt)."""
    large = _transfers(libspdm_v12_v13_vectors / DTS256, ChunkResponse)
    assert [m[1] for m in large] == [0x02, 0x02, 0x02, 0x60, 0x64, 0x6D, 0x64, 0x6D]
    for data in large:
        if data[1] in (Code.CERTIFICATE, Code.CSR):
            msg = decode(data)
            assert isinstance(msg, (Certificate, Csr)) and encode(msg) == data


def test_chunk_sends_reassemble_to_set_certificate(libspdm_v12_v13_vectors: Path) -> None:
    large = _transfers(libspdm_v12_v13_vectors / DTS256, ChunkSend)
    assert len(large) == 2
    for data in large:
        msg = decode(data)
        assert isinstance(msg, SetCertificate) and encode(msg) == data
        assert int.from_bytes(msg.cert_chain[:2], "little") == len(msg.cert_chain)


def test_chunk_sends_of_key_exchange_and_psk_exchange(libspdm_v12_v13_vectors: Path) -> None:
    large = _transfers(libspdm_v12_v13_vectors / DTS64, ChunkSend)
    assert [m[1] for m in large] == [Code.KEY_EXCHANGE, Code.PSK_EXCHANGE, Code.KEY_EXCHANGE]


def test_chunk_get_follows_the_large_response_handle(libspdm_v12_v13_vectors: Path) -> None:
    for name in (DTS256, DTS64):
        pending = None
        followed = 0
        for index, msg, _ in _messages(libspdm_v12_v13_vectors / name):
            if isinstance(msg, ErrorResponse):
                assert isinstance(msg.extended_data, LargeResponse), index
                pending = msg.extended_data.handle
            elif isinstance(msg, ChunkGet):
                assert msg.handle == pending, index
                followed += 1
        assert followed, f"{name}: no CHUNK_GET"


def test_dump_names_the_chunk_messages(libspdm_v12_v13_vectors: Path) -> None:
    out = io.StringIO()
    dump.run(libspdm_v12_v13_vectors / DTS256 / "requester.pcap", as_json=True, out=out, err=io.StringIO())
    codes = {json.loads(line)["code"] for line in out.getvalue().splitlines()}
    assert {"CHUNK_SEND", "CHUNK_SEND_ACK", "CHUNK_GET", "CHUNK_RESPONSE", "GET_CSR"} <= codes
