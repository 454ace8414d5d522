"""MCTP records as spdm-emu writes them into link-type-291 captures."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spdm.capture import LINKTYPE_MCTP, read_pcap
from spdm.errors import DecodeError, EncodeError
from spdm.transport import mctp
from spdm.transport.mctp import (
    EMU_TRANSPORT_HEADER,
    MCTP_TYPE_SECURED_SPDM,
    MCTP_TYPE_SPDM,
    MctpFrame,
    decode_mctp_record,
    encode_mctp_record,
)

# Record 1 of i_mctp_dhe_secp384_aes256gcm_v11: GET_VERSION.
GET_VERSION_RECORD = bytes.fromhex("000000c0 05 10840000")


def test_constants() -> None:
    assert (MCTP_TYPE_SPDM, MCTP_TYPE_SECURED_SPDM) == (0x05, 0x06)
    assert EMU_TRANSPORT_HEADER.hex() == "000000c0"


def test_decode_real_record() -> None:
    assert decode_mctp_record(GET_VERSION_RECORD) == MctpFrame(
        header=EMU_TRANSPORT_HEADER, message_type=MCTP_TYPE_SPDM, payload=bytes.fromhex("10840000")
    )


def test_encode_real_record() -> None:
    assert encode_mctp_record(MCTP_TYPE_SPDM, bytes.fromhex("10840000")) == GET_VERSION_RECORD
    other = encode_mctp_record(0x7E, b"\x01", header=bytes.fromhex("01080900"))
    assert other == bytes.fromhex("01080900 7e 01")
    assert decode_mctp_record(other).header == bytes.fromhex("01080900")


def test_empty_message_is_framing_valid() -> None:
    """An empty message is the SPDM layer's to refuse, not the framing's."""
    assert decode_mctp_record(EMU_TRANSPORT_HEADER + b"\x06").payload == b""


@pytest.mark.parametrize(
    ("size", "field"), [(0, "header"), (1, "header"), (3, "header"), (4, "message_type")]
)
def test_decode_short(size: int, field: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_mctp_record(GET_VERSION_RECORD[:size])
    assert (info.value.message, info.value.field) == ("MCTP", field)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((256, b""), "message_type"),
        ((-1, b""), "message_type"),
        ((5, b"", b"\x00\x00\x00"), "header"),
        ((5, b"", b"\x00" * 5), "header"),
        ((5, "text"), "payload"),
    ],
)
def test_encode_invalid(args: tuple[object, ...], field: str) -> None:
    with pytest.raises(EncodeError) as info:
        encode_mctp_record(*args)  # type: ignore[arg-type]
    assert (info.value.message, info.value.field) == ("MCTP", field)


@given(st.binary(max_size=32))
def test_fuzz_decode_raises_only_decode_error(data: bytes) -> None:
    try:
        frame = decode_mctp_record(data)
    except DecodeError:
        assert len(data) < 5
        return
    assert encode_mctp_record(frame.message_type, frame.payload, frame.header) == data


def test_real_records(libspdm_vectors: Path, libspdm_mctp_capture: str) -> None:
    """Every record: spdm-emu's header, type 5 or 6, and nothing after the message.

    For secured messages the end is checked exactly: SessionID (4), SequenceNumber (2 on MCTP),
    Length (2), then Length bytes of ciphertext and MAC.
    """
    pcap = read_pcap(libspdm_vectors / libspdm_mctp_capture / "requester.pcap")
    assert pcap.link_type == LINKTYPE_MCTP
    assert decode_mctp_record(pcap.records[0].data).payload == bytes.fromhex("10840000")
    for record in pcap.records:
        frame = decode_mctp_record(record.data)
        assert frame.header == EMU_TRANSPORT_HEADER
        assert frame.message_type in (MCTP_TYPE_SPDM, MCTP_TYPE_SECURED_SPDM)
        assert encode_mctp_record(frame.message_type, frame.payload) == record.data
        if frame.message_type == MCTP_TYPE_SECURED_SPDM:
            (length,) = struct.unpack_from("<H", frame.payload, 6)
            assert len(frame.payload) == 8 + length
        else:
            assert frame.payload[0] in (0x10, 0x11)  # SPDMVersion 1.0 / 1.1


def test_module_exports() -> None:
    assert set(mctp.__all__) <= set(dir(mctp))
