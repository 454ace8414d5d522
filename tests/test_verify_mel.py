"""`spdm verify` and `spdm dump` on the MEL of capture y2 (libspdm 1.3: MEASUREMENTS of all blocks at
record 28, the whole log in one MEASUREMENT_EXTENSION_LOG at record 30), and on altered copies."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from spdm import dump
from spdm.capture import Pcap, PcapRecord, read_pcap, write_pcap
from spdm.transport.doe import HEADER_SIZE
from spdm.verify import verify_capture
from spdm.verify.check import Check

Y2 = "y2_mel_epinfo_keypairinfo_multikey_v13"
_MEL_RECORD = 30
_PORTION = 12  # the log starts after MEASUREMENT_EXTENSION_LOG's 12-byte header


@pytest.fixture
def y2(libspdm_v12_v13_vectors: Path) -> tuple[Pcap, dict[int, bytes]]:
    root = (libspdm_v12_v13_vectors.parent / "libspdm" / "sample_key" / "ecp384" / "ca.cert.der").read_bytes()
    return read_pcap(libspdm_v12_v13_vectors / Y2 / "requester.pcap"), {0: root}


def _mel_checks(pcap: Pcap, anchors: dict[int, bytes]) -> list[Check]:
    return [c for c in verify_capture(pcap, anchors).checks if "measurement extension log" in c.name.lower()]


def _altered(pcap: Pcap, record: int, offset: int, value: int) -> Pcap:
    """`pcap` with byte `offset` of the SPDM message of `record` set to `value`."""
    records = list(pcap.records)
    data = bytearray(records[record - 1].data)
    data[HEADER_SIZE + offset] = value
    records[record - 1] = PcapRecord(index=record, timestamp=records[record - 1].timestamp, data=bytes(data))
    return Pcap(link_type=pcap.link_type, snaplen=pcap.snaplen, records=tuple(records))


def test_capture_mel_is_checked(y2: tuple[Pcap, dict[int, bytes]]) -> None:
    checks = _mel_checks(*y2)
    assert [(c.record, c.ok, c.detail) for c in checks] == [
        (30, True, "3 entries, 63 bytes"),
        (30, True, "record 28, hash-extended indices 0x11"),
    ]


@pytest.mark.parametrize(
    ("record", "offset", "value", "failure"),
    [
        (_MEL_RECORD, _PORTION + 16 + 11, ord("X"), "measurement index 17 is not the extension"),  # "ROM" -> "XOM"
        (_MEL_RECORD, _PORTION + 16 + 4, 0x12, "index 18, which the measurements lack"),  # MeasIndex 0x12
        (_MEL_RECORD, _PORTION + 4, 0x30, "(DMTF format): MEASUREMENT_EXTENSION_LOG_DMTF.entries: truncated"),
        (_MEL_RECORD, _PORTION, 4, "(DMTF format): MEASUREMENT_EXTENSION_LOG_DMTF.entries.mel_index: truncated"),
    ],
    ids=["entry_value", "meas_index", "entries_length", "entry_count"],
)
def test_altered_mel_fails(
    y2: tuple[Pcap, dict[int, bytes]], record: int, offset: int, value: int, failure: str
) -> None:
    pcap, anchors = y2
    failed = [c for c in _mel_checks(_altered(pcap, record, offset, value), anchors) if not c.ok]
    assert failed and failed[0].record == record
    assert failure in str(failed[0])


def test_dump_shows_the_log(libspdm_v12_v13_vectors: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert dump.run(libspdm_v12_v13_vectors / Y2 / "requester.pcap", as_json=True, out=out, err=err) == 0
    record = next(json.loads(line) for line in out.getvalue().splitlines() if json.loads(line)["index"] == _MEL_RECORD)
    assert record["code"] == "MEASUREMENT_EXTENSION_LOG"
    assert [(e["mel_index"], e["meas_index"], e["measurement"]["value"]) for e in record["mel"]["entries"]] == [
        (1, 0x11, b"ROM".hex()),
        (2, 0x11, b"Boot FW".hex()),
        (3, 0x11, "0a030001"),
    ]


def test_dump_names_a_log_that_does_not_parse(y2: tuple[Pcap, dict[int, bytes]], tmp_path: Path) -> None:
    pcap, _ = y2
    altered = _altered(pcap, _MEL_RECORD, _PORTION, 4)  # NumberOfEntries 4 of 3
    path = tmp_path / "altered.pcap"
    write_pcap(path, altered.link_type, ((r.timestamp, r.data) for r in altered.records))
    out, err = io.StringIO(), io.StringIO()
    assert dump.run(path, as_json=False, out=out, err=err) == 1
    line = next(line for line in out.getvalue().splitlines() if line.startswith(f"{_MEL_RECORD} "))
    assert "MEL: MEASUREMENT_EXTENSION_LOG_DMTF.entries.mel_index: truncated" in line
    assert f"record {_MEL_RECORD} did not decode: MEASUREMENT_EXTENSION_LOG_DMTF" in err.getvalue()
