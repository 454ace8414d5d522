"""GET_MEASUREMENT_EXTENSION_LOG/MEASUREMENT_EXTENSION_LOG (SPDM 1.3).

Hand-built messages, and the clear records of
/work/shared/vectors/libspdm-v12-v13/y2_mel_epinfo_keypairinfo_multikey_v13 (record numbers as in
its dump_full.txt).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from v12_captures import clear_messages

from spdm.errors import DecodeError
from spdm.messages import Code, decode, decode_prefix, encode
from spdm.messages.mel import GetMeasurementExtensionLog, MeasurementExtensionLog

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
