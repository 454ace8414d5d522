"""`spdm verify` and `spdm dump` on the MEL of capture y2 (libspdm 1.3: MEASUREMENTS of all blocks at
record 28, the whole log in one MEASUREMENT_EXTENSION_LOG at record 30), on altered copies, and on
our own 1.3 exchange recorded in memory (in the clear and in a session)."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest

from spdm import dump
from spdm.capture import CaptureSecrets, CaptureWriter, Pcap, PcapRecord, RecordingLink, read_pcap, write_pcap
from spdm.messages.mel import MelLog
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.responder.demo import demo_mel
from spdm.testing import MemoryDoeLink
from spdm.transport.doe import HEADER_SIZE, DoeTransport
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


_REMAINDER_LENGTH = 8


def test_a_read_that_never_completes_fails(y2: tuple[Pcap, dict[int, bytes]]) -> None:
    """RemainderLength 1 after the whole log, yet GET_ENDPOINT_INFO comes next: the read stops short,
    and an altered entry in it goes nowhere unnoticed."""
    pcap, anchors = y2
    unfinished = _altered(pcap, _MEL_RECORD, _REMAINDER_LENGTH, 1)
    unfinished = _altered(unfinished, _MEL_RECORD, _PORTION + 16 + 11, ord("X"))
    result = verify_capture(unfinished, anchors)
    assert not result.ok
    assert [str(c) for c in result.checks if not c.ok] == [
        "FAIL record 30: MEASUREMENT_EXTENSION_LOG portions make one log: "
        "1 of its 64 bytes unread: GET_ENDPOINT_INFO follows (answered at record 32)"
    ]


def test_a_read_the_capture_cuts_short_is_not_checked(y2: tuple[Pcap, dict[int, bytes]]) -> None:
    pcap, anchors = y2
    unfinished = _altered(pcap, _MEL_RECORD, _REMAINDER_LENGTH, 1)
    cut = Pcap(link_type=pcap.link_type, snaplen=pcap.snaplen, records=unfinished.records[:_MEL_RECORD])
    checks = [c for c in verify_capture(cut, anchors).checks if c.record == _MEL_RECORD]
    assert [str(c) for c in checks] == [
        "skip record 30: MEASUREMENT_EXTENSION_LOG portions make one log: 1 of its 64 bytes unread: the capture ends"
    ]


def test_a_log_read_before_the_measurements_is_not_checked_against_them() -> None:
    """Our 1.3 vector reads the MEL (record 20) before any MEASUREMENTS of all blocks: the log parses,
    and its binding is a check not made (no failure, no pass)."""
    folder = Path(__file__).resolve().parents[1] / "vectors" / "mel_epinfo_keypair_events_p256_sha256_v13"
    result = verify_capture(read_pcap(folder / "requester.pcap"), {0: (folder / "root.der").read_bytes()})
    checks = [c for c in result.checks if "measurement extension log" in c.name]
    assert [(c.record, c.ok, c.checked) for c in checks] == [(20, True, True), (20, True, False)]
    assert str(checks[1]) == (
        "skip record 20: the measurement extension log is consistent with the measurements it extends: "
        "no MEASUREMENTS of all blocks before it"
    )
    assert result.ok


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


def _recorded_exchange(
    log: MelLog | None = None, *, not_ready_in_session: bool = False
) -> tuple[Pcap, dict[int, bytes], CaptureSecrets]:
    """Our requester reading the demo MEL from our responder (1.3), in the clear and in a DHE
    session, recorded as a DOE pcap, with the root and the session's secret. `log` is served instead
    of the demo's (its measurements unchanged); with `not_ready_in_session` the responder answers the
    session's GET_MEASUREMENT_EXTENSION_LOG ERROR ResponseNotReady first, and the requester fetches
    the log with RESPOND_IF_READY."""
    config = dataclasses.replace(demo_config(sessions=True, mel=True), max_padding=3)
    if log is not None:
        config = dataclasses.replace(config, measurement_extension_log=log)
    responder = Responder(config)
    secrets: list[bytes] = []
    root = config.slots[0].certificates[0]
    buffer = io.BytesIO()
    writer = CaptureWriter(buffer, clock=lambda: 1_800_000_000.0)
    requester_config = RequesterConfig.with_sessions(
        trust_anchors={0: root}, on_dhe_secret=lambda _, secret: secrets.append(secret)
    )
    requester = Requester(DoeTransport(RecordingLink(MemoryDoeLink(responder.respond), writer)), requester_config)
    requester.authenticate(0)
    requester.get_measurement_extension_log()
    with requester.key_exchange(0) as session:
        session.get_measurements(0xFF)
        if not_ready_in_session:
            responder.answer_not_ready(1)
        session.get_measurement_extension_log()
    return read_pcap(buffer.getvalue()), {0: root}, CaptureSecrets(dhe_secrets=tuple(secrets))


def test_own_capture_mel_checked_in_the_clear_and_in_the_session() -> None:
    pcap, anchors, secrets = _recorded_exchange()
    result = verify_capture(pcap, anchors, secrets=secrets)
    assert result.ok, result.first_failure
    consistent = [c for c in result.checks if c.name.endswith("consistent with the measurements it extends")]
    assert [c.detail.split(", ")[1] for c in consistent] == ["hash-extended indices 0x11"] * 2
    assert consistent[0].record < consistent[1].record


def test_a_log_fetched_with_respond_if_ready_in_a_session_is_checked() -> None:
    """Inside a session too, a request answered ResponseNotReady pairs with the answer RESPOND_IF_READY
    fetches: the log read that way is checked against the session's measurements."""
    pcap, anchors, secrets = _recorded_exchange(not_ready_in_session=True)
    result = verify_capture(pcap, anchors, secrets=secrets)
    assert result.ok, result.first_failure
    assert any(c.name == "secured record opens: RESPOND_IF_READY under data keys" for c in result.checks)
    consistent = [c for c in result.checks if c.name.endswith("consistent with the measurements it extends")]
    assert [(c.passed, c.detail.split(", ")[1]) for c in consistent] == [(True, "hash-extended indices 0x11")] * 2


def test_own_capture_inconsistent_mel_fails_in_the_session_too() -> None:
    """A device whose log has one entry more than its hash-extended block extends: both reads fail."""
    log = demo_mel()
    grown = dataclasses.replace(log, entries=(*log.entries, dataclasses.replace(log.entries[0], mel_index=4)))
    pcap, anchors, secrets = _recorded_exchange(grown)
    result = verify_capture(pcap, anchors, secrets=secrets)
    failed = [c for c in result.checks if not c.ok]
    assert [c.name for c in failed] == [
        "the measurement extension log is consistent with the measurements it extends"
    ] * 2
    assert all("measurement index 17 is not the extension" in c.detail for c in failed)
