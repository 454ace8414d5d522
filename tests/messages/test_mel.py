"""GET_MEASUREMENT_EXTENSION_LOG/MEASUREMENT_EXTENSION_LOG (SPDM 1.3).

Hand-built messages, and the clear records of
/work/shared/vectors/libspdm-v12-v13/y2_mel_epinfo_keypairinfo_multikey_v13 (record numbers as in
its dump_full.txt).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from v12_captures import clear_messages

from spdm.errors import DecodeError
from spdm.messages import Code, decode, decode_prefix, encode
from spdm.messages.mel import (
    MEL_HEADER_SIZE,
    GetMeasurementExtensionLog,
    MeasurementExtensionLog,
    MelLog,
    decode_mel,
    encode_mel,
)
from spdm.testing.strategies import mel_log

GET_MEL = bytes.fromhex("13ef0000" + "10000000" + "00010000")  # 256 bytes from offset 16
# PortionLength 3, RemainderLength 5, Param1 0x01 (reserved)
MEL = bytes.fromhex("136f0100" + "03000000" + "05000000" + "aabbcc")


@pytest.mark.parametrize("data", [GET_MEL, MEL], ids=["get_mel", "mel"])
def test_round_trip(data: bytes) -> None:
    assert encode(decode(data)) == data


def test_fields() -> None:
    assert decode(GET_MEL) == GetMeasurementExtensionLog(offset=16, length=256)
    assert decode(MEL) == MeasurementExtensionLog(param1=1, remainder_length=5, portion=bytes.fromhex("aabbcc"))
    assert decode_prefix(MEL + bytes(1)) == (decode(MEL), len(MEL))


def _with_u32(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + value.to_bytes(4, "little") + data[at + 4 :]


@pytest.mark.parametrize(
    ("data", "message", "field", "reason"),
    [
        (_with_u32(MEL, 4, 4), "MEASUREMENT_EXTENSION_LOG", "portion", "truncated"),
        (_with_u32(MEL, 4, 2), "MEASUREMENT_EXTENSION_LOG", "", "trailing"),
        (_with_u32(MEL, 8, 0xFFFFFFFF), "MEASUREMENT_EXTENSION_LOG", "portion", "over the largest log"),
        (GET_MEL[:11], "GET_MEASUREMENT_EXTENSION_LOG", "length", "truncated"),
    ],
    ids=["portion_over", "portion_under", "log_over_u32", "get_truncated"],
)
def test_rejected(data: bytes, message: str, field: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(data)
    assert (caught.value.message, caught.value.field) == (message, field)
    assert reason in caught.value.reason


def test_capture_records(libspdm_v12_v13_vectors: Path) -> None:
    pcap = libspdm_v12_v13_vectors / "y2_mel_epinfo_keypairinfo_multikey_v13" / "requester.pcap"
    records = clear_messages(pcap, {Code.GET_MEASUREMENT_EXTENSION_LOG, Code.MEASUREMENT_EXTENSION_LOG})
    assert [index for index, _ in records] == [29, 30]
    request, response = (decode(data) for _, data in records)
    assert [(msg.version, encode(msg)) for msg in (request, response)] == [(0x13, data) for _, data in records]
    assert isinstance(request, GetMeasurementExtensionLog) and (request.offset, request.length) == (0, 0x27FF4)
    assert isinstance(response, MeasurementExtensionLog)
    assert (len(response.portion), response.remainder_length) == (0x3F, 0)


# --- the DMTF MEL format ------------------------------------------------------------------------

# y2's log (record 30's portion): three entries for measurement index 0x11, "ROM", "Boot FW", a version
Y2_LOG = bytes.fromhex(
    "030000002f0000000000000000000000"  # NumberOfEntries 3, MelEntriesLen 0x2f, reserved
    "0100000011000000890300524f4d"  # MelIndex 1, MeasIndex 0x11 and reserved, type 0x89 and size 3, "ROM"
    "0200000011000000890700426f6f74204657"  # "Boot FW"
    "03000000110000008604000a030001"  # type 0x86 (version), 4 bytes
)


def test_dmtf_log_fields() -> None:
    log = decode_mel(Y2_LOG)
    assert [(e.mel_index, e.meas_index, e.measurement.value_type, e.measurement.value) for e in log.entries] == [
        (1, 0x11, 0x89, b"ROM"),
        (2, 0x11, 0x89, b"Boot FW"),
        (3, 0x11, 0x86, bytes.fromhex("0a030001")),
    ]
    assert encode_mel(log) == Y2_LOG
    assert encode_mel(MelLog()) == bytes(MEL_HEADER_SIZE)


def test_dmtf_log_keeps_reserved_bytes() -> None:
    data = Y2_LOG[:8] + bytes.fromhex("0102030405060708") + Y2_LOG[16:21] + bytes.fromhex("aabbcc") + Y2_LOG[24:]
    log = decode_mel(data)
    assert (log.reserved, log.entries[0].reserved) == (0x0807060504030201, 0xCCBBAA)
    assert encode_mel(log) == data


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        (Y2_LOG[:-1], "entries", "truncated"),
        (Y2_LOG + bytes(1), "", "trailing"),
        (_with_u32(Y2_LOG, 4, 0x30), "entries", "truncated"),  # MelEntriesLen one over the entries
        (_with_u32(Y2_LOG, 4, 0x2E), "entries", "truncated"),  # one under: the last value runs past it
        (_with_u32(Y2_LOG, 0, 2), "entries", "trailing"),  # fewer entries than MelEntriesLen holds
        (_with_u32(Y2_LOG, 0, 4), "entries", "truncated"),  # more than it holds
        (_with_u32(Y2_LOG, 0, 0xFFFFFFFF), "entries", "NumberOfEntries"),  # bounded before any entry is read
        (Y2_LOG[:25] + b"\xff\xff" + Y2_LOG[27:], "entries", "truncated"),  # a value size past the log
        (Y2_LOG[:12], "reserved", "truncated"),
    ],
    ids=["short", "long", "len_over", "len_under", "count_under", "count_over", "count_huge", "value_over", "header"],
)
def test_dmtf_log_rejected(data: bytes, field: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_mel(data)
    assert caught.value.message == "MEASUREMENT_EXTENSION_LOG_DMTF"
    assert caught.value.field.startswith(field) and reason in str(caught.value)


def test_capture_log(libspdm_v12_v13_vectors: Path) -> None:
    """y2's MEASUREMENT_EXTENSION_LOG carries the whole log: it decodes and re-encodes byte for byte."""
    pcap = libspdm_v12_v13_vectors / "y2_mel_epinfo_keypairinfo_multikey_v13" / "requester.pcap"
    ((_, data),) = clear_messages(pcap, {Code.MEASUREMENT_EXTENSION_LOG})
    response = decode(data)
    assert isinstance(response, MeasurementExtensionLog) and response.portion == Y2_LOG
    assert encode_mel(decode_mel(response.portion)) == response.portion


@given(mel_log())
def test_dmtf_log_strategy_round_trips(log: MelLog) -> None:
    data = encode_mel(log)
    assert decode_mel(data) == log and encode_mel(decode_mel(data)) == data


@given(st.binary(max_size=96) | st.builds(lambda log, cut: encode_mel(log)[:cut], mel_log(), st.integers(0, 64)))
def test_dmtf_log_decodes_or_raises_decode_error(data: bytes) -> None:
    """Any bytes: a log that re-encodes to them exactly, or `DecodeError`, nothing else."""
    try:
        log = decode_mel(data)
    except DecodeError:
        return
    assert encode_mel(log) == data
