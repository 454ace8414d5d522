"""CXL Table Access / CDAT, the worked example of a second DOE protocol: table building and
splitting, the Read Entry codec, the responder's discards, and `read_cdat`'s checks."""

from __future__ import annotations

import struct

import pytest
from mailbox_helpers import demo_cdat

from spdm.cdat import (
    CDAT_HEADER_SIZE,
    CXL_TABLE_ACCESS,
    CXL_VENDOR_ID,
    LAST_ENTRY,
    CdatResponder,
    CdatType,
    build_cdat,
    cdat_entries,
    decode_read_entry_request,
    decode_read_entry_response,
    dslbis,
    dsmas,
    encode_read_entry_request,
    encode_read_entry_response,
    read_cdat,
)
from spdm.errors import DecodeError, TransportError
from spdm.testing import MemoryDoeLink
from spdm.transport.doe import decode_object, encode_object
from spdm.transport.doe_host import DoeHostLink
from spdm.transport.mailbox import DoeMailbox

CDAT = (CXL_VENDOR_ID, CXL_TABLE_ACCESS)


def test_structures_and_table() -> None:
    memory = dsmas(handle=3, flags=0x04, dpa_base=0x1000_0000, dpa_length=0x4000_0000)
    assert len(memory) == 24 and memory[:4] == bytes([CdatType.DSMAS, 0, 24, 0]) and memory[4:6] == b"\x03\x04"
    latency = dslbis(handle=3, data_type=0, entry_base_unit=1000, entries=(15, 0, 0))
    assert len(latency) == 24 and latency[0] == CdatType.DSLBIS
    table = build_cdat([memory, latency], revision=1, sequence=9)
    length, revision, checksum, sequence = struct.unpack_from("<IBB6xI", table)
    assert (length, revision, sequence) == (CDAT_HEADER_SIZE + 48, 1, 9)
    assert sum(table) % 256 == 0 and checksum == table[5]
    assert cdat_entries(table) == (table[:16], memory, latency)


def checksummed(body: bytes, length: int | None = None) -> bytes:
    """A CDAT header for `body` (Length given or true), with a checksum that makes the sum 0."""
    raw = struct.pack("<IBB6xI", CDAT_HEADER_SIZE + len(body) if length is None else length, 1, 0, 0) + body
    return raw[:5] + bytes([-sum(raw) & 0xFF]) + raw[6:]


@pytest.mark.parametrize(
    ("table", "field"),
    [
        (b"\x10\x00", "header"),
        (build_cdat([dsmas(handle=0, dpa_base=0, dpa_length=1)])[:-1], "length"),
        (checksummed(dsmas(handle=0, dpa_base=0, dpa_length=1), length=0x30), "length"),
        (checksummed(b"\x00\x00\x03\x00"), "structure.length"),
        (checksummed(b"\x00\x00\x08\x00"), "structure.length"),
        (checksummed(b"\x00\x00"), "structure"),
    ],
    ids=["short", "truncated", "length-field", "tiny-structure", "overlong-structure", "partial-header"],
)
def test_malformed_tables(table: bytes, field: str) -> None:
    with pytest.raises(DecodeError) as info:
        cdat_entries(table)
    assert info.value.field == field


def test_bad_checksum() -> None:
    table = bytearray(demo_cdat())
    table[-1] ^= 1
    with pytest.raises(DecodeError, match="sum to 0"):
        cdat_entries(bytes(table))


def test_read_entry_codec() -> None:
    assert encode_read_entry_request(0x1234) == bytes.fromhex("00003412")
    assert decode_read_entry_request(bytes.fromhex("00003412") + b"\0\0\0\0") == 0x1234
    for bad, field in (
        (b"\0\0", "length"),
        (bytes.fromhex("01000000"), "req_code"),
        (bytes.fromhex("00010000"), "table_type"),
    ):
        with pytest.raises(DecodeError) as info:
            decode_read_entry_request(bad)
        assert info.value.field == field
    entry = dsmas(handle=0, dpa_base=0, dpa_length=1)
    assert decode_read_entry_response(encode_read_entry_response(2, entry), 1) == (2, entry)
    header = demo_cdat()[:16]
    assert decode_read_entry_response(encode_read_entry_response(1, header), 0) == (1, header)


@pytest.mark.parametrize(
    ("payload", "handle"),
    [
        (b"\0\0", 1),
        (bytes.fromhex("01000100") + bytes(24), 1),
        (encode_read_entry_response(1, bytes(12)), 0),  # a header is 16 bytes
        (encode_read_entry_response(2, dsmas(handle=0, dpa_base=0, dpa_length=1)[:20]), 1),
        (encode_read_entry_response(2, dsmas(handle=0, dpa_base=0, dpa_length=1) + b"\0\0\0\0"), 1),
        (encode_read_entry_response(2, dsmas(handle=0, dpa_base=0, dpa_length=1) + b"\0\1"), 1),
        (encode_read_entry_response(2, b"\0\0"), 1),
    ],
    ids=["short", "code", "short-header", "short-entry", "long-entry", "nonzero-padding", "no-structure"],
)
def test_malformed_read_entry_responses(payload: bytes, handle: int) -> None:
    with pytest.raises(DecodeError):
        decode_read_entry_response(payload, handle)


def test_responder_serves_entries_and_discards_the_rest() -> None:
    table = demo_cdat(2)
    responder = CdatResponder(table)
    assert responder(encode_read_entry_request(0)) == encode_read_entry_response(1, table[:16])
    assert responder(encode_read_entry_request(2)) == encode_read_entry_response(LAST_ENTRY, table[40:])
    assert responder(encode_read_entry_request(3)) is None
    assert responder(b"\x01\x00\x00\x00") is None
    assert responder(b"") is None


def scripted(answers: dict[int, bytes]) -> MemoryDoeLink:
    """A DOE link whose Table Access answers are scripted by entry handle."""

    def device(obj: bytes) -> bytes:
        handle = decode_read_entry_request(decode_object(obj).payload)
        return encode_object(CXL_TABLE_ACCESS, answers[handle], CXL_VENDOR_ID)

    return MemoryDoeLink(device=device)


def test_read_cdat_checks_the_walk_and_the_table() -> None:
    table = demo_cdat(2)
    entries = cdat_entries(table)
    good = {0: encode_read_entry_response(1, entries[0]), 1: encode_read_entry_response(2, entries[1])}
    assert read_cdat(scripted({**good, 2: encode_read_entry_response(LAST_ENTRY, entries[2])})) == table
    with pytest.raises(DecodeError, match="does not advance"):
        read_cdat(scripted({**good, 2: encode_read_entry_response(1, entries[2])}))
    with pytest.raises(DecodeError, match="header says"):
        read_cdat(scripted({**good, 1: encode_read_entry_response(LAST_ENTRY, entries[1])}))


def test_read_cdat_refuses_an_entry_past_the_header_length_as_it_arrives() -> None:
    """A device announcing a small table and then sending structure after structure is stopped at the
    first entry that does not fit, not after it has made the host hold all of them."""
    header = cdat_entries(demo_cdat(2))[0]
    big = bytes([CdatType.DSMAS, 0]) + (0xFFFF).to_bytes(2, "little") + bytes(0xFFFF - 4)
    asked: list[int] = []

    def device(obj: bytes) -> bytes:
        handle = decode_read_entry_request(decode_object(obj).payload)
        asked.append(handle)
        entry = struct.pack("<I", 16) + header[4:] if handle == 0 else big
        return encode_object(CXL_TABLE_ACCESS, encode_read_entry_response(handle + 1, entry), CXL_VENDOR_ID)

    with pytest.raises(DecodeError, match="header says 16 bytes, entry 1 goes past them"):
        read_cdat(MemoryDoeLink(device=device))
    assert asked == [0, 1]


def test_read_cdat_through_a_mailbox_refuses_a_foreign_answer() -> None:
    mailbox = DoeMailbox()
    mailbox.register_object_handler(*CDAT, lambda obj: bytes.fromhex("01000100 02000000"))
    with pytest.raises(TransportError, match="the answer is 0001:01"):
        read_cdat(DoeHostLink(mailbox))
