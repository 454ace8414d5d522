"""spdm.chunking: splitting a large message into chunks and reassembling it, each refusal, and
agreement with the chunks libspdm chose in its captures at DataTransferSize 256 and 64."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from v12_captures import clear_messages

from spdm.chunking import CHUNK_HEADER, ChunkAssembly, chunk_message_size, chunks
from spdm.errors import EncodeError, ErrorCode, ProtocolError
from spdm.messages import Code, decode, encode
from spdm.messages.chunk import LAST_CHUNK, ChunkResponse, ChunkSend
from spdm.messages.negotiation import MIN_DATA_TRANSFER_SIZE

DTS = 64
MESSAGE = bytes([0x12, 0x02, 0, 0]) + bytes(range(196))  # 200 bytes: chunks of 48, 52, 52, 48


def _assembly(kind: type[ChunkSend] | type[ChunkResponse] = ChunkSend, **kwargs: int) -> ChunkAssembly:
    sizes = {"data_transfer_size": DTS, "max_message_size": 1000, **kwargs}
    return ChunkAssembly(kind, **sizes)


def _feed(assembly: ChunkAssembly, parts: list[ChunkSend] | list[ChunkResponse]) -> bytes | None:
    result = None
    for part in parts:
        result = assembly.add(part)
    return result


@given(
    message=st.binary(min_size=601, max_size=3000),  # over every DataTransferSize drawn: a large message
    dts=st.integers(MIN_DATA_TRANSFER_SIZE, 600),
    handle=st.integers(0, 255),
    kind=st.sampled_from([ChunkSend, ChunkResponse]),
)
def test_split_then_reassemble(message: bytes, dts: int, handle: int, kind: type[ChunkSend]) -> None:
    parts = chunks(message, kind=kind, handle=handle, data_transfer_size=dts)
    assert all(len(encode(part)) == chunk_message_size(part) <= dts for part in parts)
    assert [part.last_chunk for part in parts] == [False] * (len(parts) - 1) + [True]
    assert all(len(part.chunk) == dts - CHUNK_HEADER for part in parts[1:-1])
    assembly = ChunkAssembly(kind, data_transfer_size=dts, max_message_size=len(message), handle=handle)
    assert _feed(assembly, parts) == message
    assert assembly.done


def test_chunks_fill_the_data_transfer_size() -> None:
    parts = chunks(MESSAGE, kind=ChunkSend, handle=3, data_transfer_size=DTS)
    assert [len(part.chunk) for part in parts] == [48, 52, 52, 48]
    assert [chunk_message_size(part) for part in parts] == [64, 64, 64, 60]
    assert parts[0].large_message_size == len(MESSAGE) and parts[0].version == 0x12
    assert [part.attributes for part in parts] == [0, 0, 0, LAST_CHUNK]


@pytest.mark.parametrize(
    ("message", "dts", "field"),
    [
        (MESSAGE, MIN_DATA_TRANSFER_SIZE - 1, "chunk"),
        (b"\x12", DTS, "chunk"),
        (bytes(0x1_0000 * 30 + 4), 42, "chunk_seq_no"),
        (bytes(DTS - 16), DTS, "chunk"),
    ],
    ids=["dts_under_minimum", "not_a_message", "over_65536_chunks", "fits_one_chunk"],
)
def test_chunks_refuses(message: bytes, dts: int, field: str) -> None:
    with pytest.raises(EncodeError) as caught:
        chunks(message, kind=ChunkSend, handle=0, data_transfer_size=dts)
    assert caught.value.field == field


def _refusals() -> dict[str, tuple[list[ChunkSend], dict[str, int]]]:
    first, second, third, last = chunks(MESSAGE, kind=ChunkSend, handle=3, data_transfer_size=DTS)
    return {
        "wrong_handle": ([first, replace(second, handle=4)], {}),
        "not_the_announced_handle": ([first], {"handle": 9}),
        "repeated_seq_no": ([first, second, second], {}),
        "skipped_seq_no": ([first, third], {}),
        "not_starting_at_zero": ([second], {}),
        "first_without_large_message_size": ([replace(first, large_message_size=None)], {}),
        "large_message_size_later": ([first, replace(second, large_message_size=len(MESSAGE))], {}),
        "over_large_message_size": ([first, second, third, replace(last, chunk=last.chunk + b"x")], {}),
        "last_chunk_short": ([first, second, replace(third, attributes=LAST_CHUNK)], {}),
        "large_message_size_over_bound": ([first], {"max_message_size": len(MESSAGE) - 1}),
        "chunk_over_data_transfer_size": ([first], {"data_transfer_size": DTS - 1}),
        "after_the_last_chunk": ([first, second, third, last, last], {}),
    }


@pytest.mark.parametrize("case", list(_refusals()))
def test_each_refusal_ends_the_transfer(case: str) -> None:
    parts, sizes = _refusals()[case]
    assembly = _assembly(**sizes)
    _feed(assembly, parts[:-1])
    received = assembly.received
    with pytest.raises(ProtocolError) as caught:
        assembly.add(parts[-1])
    assert caught.value.error_code == ErrorCode.InvalidRequest
    assert assembly.done and assembly.received == received
    with pytest.raises(ProtocolError, match="the transfer is over"):
        assembly.add(parts[0])


def test_nothing_is_buffered_beyond_the_bound() -> None:
    first = ChunkResponse(handle=1, chunk_seq_no=0, large_message_size=0xFFFF_FFFF, chunk=b"x" * 10)
    assembly = _assembly(ChunkResponse, max_message_size=100, handle=1)
    with pytest.raises(ProtocolError) as caught:
        assembly.add(first)
    assert caught.value.error_code == ErrorCode.InvalidResponseCode
    assert assembly.received == 0 and assembly.large_message_size is None


def test_a_chunk_send_in_a_chunk_response_transfer_is_refused() -> None:
    part = chunks(MESSAGE, kind=ChunkSend, handle=1, data_transfer_size=DTS)[0]
    with pytest.raises(ProtocolError, match="CHUNK_SEND in a transfer of CHUNK_RESPONSE"):
        _assembly(ChunkResponse, handle=1).add(part)  # type: ignore[arg-type]


def test_a_chunk_of_another_version_is_refused() -> None:
    """Found by the tamper campaign on libspdm's chunked captures: a chunk header is in no transcript,
    so only this check notices a CHUNK_RESPONSE whose SPDMVersion is not the connection's."""
    parts = chunks(MESSAGE, kind=ChunkResponse, handle=1, data_transfer_size=DTS)
    assembly = _assembly(ChunkResponse, handle=1, version=0x12)
    assembly.add(parts[0])
    with pytest.raises(ProtocolError, match="SPDMVersion 0x13 in a 0x12 connection"):
        assembly.add(dataclasses.replace(parts[1], version=0x13))
    assert assembly.done and assembly.received == len(parts[0].chunk)


def test_an_empty_last_chunk_completes_a_full_message() -> None:
    parts = chunks(MESSAGE, kind=ChunkSend, handle=3, data_transfer_size=DTS)
    full = [*parts[:-1], replace(parts[-1], attributes=0)]
    empty_last = ChunkSend(attributes=LAST_CHUNK, handle=3, chunk_seq_no=len(parts), chunk=b"")
    assembly = _assembly()
    assert _feed(assembly, full) is None and not assembly.done
    assert assembly.add(empty_last) == MESSAGE


# --- the libspdm captures -------------------------------------------------------------------

_CAPTURES = {"v_chunk_dts256_ecdsap384_v12": 256, "v3_chunk_dts64_dhe_psk_ecdsap384_v12": 64}


@pytest.mark.parametrize("name", list(_CAPTURES))
@pytest.mark.parametrize("kind", [ChunkSend, ChunkResponse], ids=["chunk_send", "chunk_response"])
def test_libspdm_chunks_are_ours(
    libspdm_v12_v13_vectors: Path, name: str, kind: type[ChunkSend] | type[ChunkResponse]
) -> None:
    """Every clear transfer reassembles, and splitting its message again gives libspdm's chunks byte for byte."""
    dts = _CAPTURES[name]
    code = Code.CHUNK_SEND if kind is ChunkSend else Code.CHUNK_RESPONSE
    recorded = [data for _, data in clear_messages(libspdm_v12_v13_vectors / name / "requester.pcap", {code})]
    transfers = 0
    assembly = None
    start = 0
    for position, data in enumerate(recorded):
        part = decode(data)
        assert isinstance(part, kind)
        if part.chunk_seq_no == 0:
            assembly, start = ChunkAssembly(kind, data_transfer_size=dts, max_message_size=0x28000), position
        assert assembly is not None
        message = assembly.add(part)
        if message is not None:
            ours = chunks(message, kind=kind, handle=part.handle, data_transfer_size=dts)
            assert [encode(chunk) for chunk in ours] == recorded[start : position + 1]
            transfers += 1
    assert transfers >= 2


# --- the sizes libspdm holds every chunk to (libspdm_rsp_chunk_send_ack.c, libspdm_req_handle_error_response.c) ---


def _part(kind: type[ChunkSend] | type[ChunkResponse], seq_no: int, size: int, **fields: int) -> ChunkSend:
    return kind(handle=1, chunk_seq_no=seq_no, chunk=bytes(size), **fields)  # type: ignore[return-value]


_MOST = (DTS - CHUNK_HEADER) * 0x1_0000 - 4  # 65536 chunks at DataTransferSize 64
_SIZE_REFUSALS = {
    "first_chunk_flagged_last": [(0, 46, {"large_message_size": 46, "attributes": LAST_CHUNK})],
    "no_large_message": [(0, 26, {"large_message_size": MIN_DATA_TRANSFER_SIZE})],
    "first_chunk_under_minimum": [(0, 25, {"large_message_size": 200})],
    "chunk_before_the_last_under_minimum": [(0, 48, {"large_message_size": 200}), (1, 29, {})],
    "more_than_65536_chunks": [(0, 48, {"large_message_size": _MOST + 1})],
}


@pytest.mark.parametrize("kind", [ChunkSend, ChunkResponse], ids=["chunk_send", "chunk_response"])
@pytest.mark.parametrize("case", list(_SIZE_REFUSALS))
def test_chunks_under_the_minimum_sizes_or_a_transfer_of_one_chunk_are_refused(
    kind: type[ChunkSend] | type[ChunkResponse], case: str
) -> None:
    *good, bad = [_part(kind, seq_no, size, **fields) for seq_no, size, fields in _SIZE_REFUSALS[case]]
    assembly = _assembly(kind, max_message_size=_MOST + 1, handle=1)
    _feed(assembly, good)
    with pytest.raises(ProtocolError) as caught:
        assembly.add(bad)
    expected = ErrorCode.InvalidRequest if kind is ChunkSend else ErrorCode.InvalidResponseCode
    assert caught.value.error_code == expected and assembly.done


@pytest.mark.parametrize("kind", [ChunkSend, ChunkResponse], ids=["chunk_send", "chunk_response"])
def test_chunks_at_the_minimum_sizes_are_taken(kind: type[ChunkSend] | type[ChunkResponse]) -> None:
    """A 43-byte message as chunks of 26 and 17 bytes, one of 100 with a middle chunk of 30, and the
    largest LargeMessageSize 65536 chunks hold: what libspdm takes."""
    smallest = [_part(kind, 0, 26, large_message_size=43), _part(kind, 1, 17, attributes=LAST_CHUNK)]
    assert _feed(_assembly(kind, handle=1), smallest) == bytes(43)
    middle = [_part(kind, 0, 26, large_message_size=100), _part(kind, 1, 30), _part(kind, 2, 44, attributes=LAST_CHUNK)]
    assert _feed(_assembly(kind, handle=1), middle) == bytes(100)
    assert _assembly(kind, max_message_size=_MOST, handle=1).add(_part(kind, 0, 48, large_message_size=_MOST)) is None


@pytest.mark.parametrize(("size", "taken"), [(37, True), (36, False)])
def test_a_response_to_a_chunked_request_may_be_smaller(size: int, taken: bool) -> None:
    """Its CHUNK_SEND_ACK's 6 bytes may be all that made it large: MinDataTransferSize less those is
    the bound then (libspdm_req_handle_error_response.c response_from_chunk)."""
    first = _part(ChunkResponse, 0, 26, large_message_size=size)
    parts = [first, _part(ChunkResponse, 1, size - 26, attributes=LAST_CHUNK)]
    with pytest.raises(ProtocolError):
        _feed(_assembly(ChunkResponse, handle=1), parts)
    answering = ChunkAssembly(
        ChunkResponse, data_transfer_size=DTS, max_message_size=1000, handle=1, answers_chunks=True
    )
    if taken:
        assert _feed(answering, parts) == bytes(size)
    else:
        with pytest.raises(ProtocolError, match="no large message"):
            _feed(answering, parts)
