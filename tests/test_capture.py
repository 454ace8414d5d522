"""pcap reading and writing as spdm-emu does it, and transport unwrapping into frames."""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import struct
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spdm import capture
from spdm.capture import (
    LINKTYPE_MCTP,
    LINKTYPE_PCI_DOE,
    MAX_RECORD_BYTES,
    PCAP_SNAPLEN,
    CaptureSecrets,
    CaptureWriter,
    Frame,
    Pcap,
    PcapRecord,
    RecordingLink,
    SecretsLog,
    frames,
    read_pcap,
    tap_objects,
    write_pcap,
)
from spdm.errors import DecodeError, EncodeError
from spdm.responder import Responder, demo_config
from spdm.transport.doe import DoeMailboxResponder, DoeType, encode_object
from spdm.transport.mctp import encode_mctp_record

# The 24-byte global header spdm-emu writes (before the link type).
EMU_GLOBAL_HEADER = bytes.fromhex("d4c3b2a1 0200 0400 00000000 00000000 00000100")

_DUMP_LINE = re.compile(r"^(\d+) \((\d+)\) (?:PCI_DOE\((\d+), (\d+)\)|MCTP\((\d+)\))")
_DOE_KINDS = {(1, 0): "discovery", (1, 1): "spdm", (1, 2): "secured"}
_MCTP_KINDS = {5: "spdm", 6: "secured"}


def _pcap_bytes(link_type: int, records: list[tuple[float, bytes]]) -> bytes:
    out = io.BytesIO()
    write_pcap(out, link_type, records)
    return out.getvalue()


def _global_header(
    magic: int = 0xA1B2C3D4,
    version: tuple[int, int] = (2, 4),
    snaplen: int = 65536,
    link: int = 292,
    order: str = "<",
) -> bytes:
    return struct.pack(order + "IHHiIII", magic, *version, 0, 0, snaplen, link)


def _record(
    data: bytes, ts_sec: int = 0, ts_frac: int = 0, orig_len: int | None = None, order: str = "<"
) -> bytes:
    incl = len(data)
    return struct.pack(order + "IIII", ts_sec, ts_frac, incl, incl if orig_len is None else orig_len) + data


def _error(data: bytes, field: str) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        read_pcap(data)
    assert (info.value.message, info.value.field) == ("PCAP", field), info.value
    return info.value


GET_VERSION = encode_object(DoeType.CMA_SPDM, bytes.fromhex("10840000"))


# --- reading --------------------------------------------------------------------------------


def test_read_minimal() -> None:
    data = _global_header() + _record(GET_VERSION, ts_sec=7, ts_frac=250_000)
    pcap = read_pcap(data)
    assert pcap == Pcap(
        link_type=292, snaplen=65536, records=(PcapRecord(index=1, timestamp=7.25, data=GET_VERSION),)
    )


def test_read_empty_capture() -> None:
    assert read_pcap(_global_header(link=291)) == Pcap(link_type=291, snaplen=65536, records=())


@pytest.mark.parametrize(
    ("magic", "order", "units"),
    [(0xA1B2C3D4, "<", 1e6), (0xA1B2C3D4, ">", 1e6), (0xA1B23C4D, "<", 1e9), (0xA1B23C4D, ">", 1e9)],
)
def test_read_magic_variants(magic: int, order: str, units: float) -> None:
    data = _global_header(magic=magic, order=order) + _record(b"abcd", 5, 500, order=order)
    data += _record(b"", 6, 0, order=order)
    pcap = read_pcap(data)
    assert pcap.link_type == 292 and pcap.snaplen == 65536
    assert [r.index for r in pcap.records] == [1, 2]
    assert [r.data for r in pcap.records] == [b"abcd", b""]
    assert pcap.records[0].timestamp == pytest.approx(5 + 500 / units, abs=1e-9)


def test_read_from_path_str_and_bytes(tmp_path: Path) -> None:
    data = _global_header() + _record(GET_VERSION)
    path = tmp_path / "x.pcap"
    path.write_bytes(data)
    assert read_pcap(path) == read_pcap(str(path)) == read_pcap(data) == read_pcap(bytearray(data))  # type: ignore[arg-type]


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_pcap(tmp_path / "absent.pcap")


@pytest.mark.parametrize("size", [0, 1, 4, 23])
def test_truncated_global_header(size: int) -> None:
    _error(_global_header()[:size], "header")


def test_bad_magic() -> None:
    _error(_global_header(magic=0x12345678), "magic")
    assert "pcapng" in _error(_global_header(magic=0x0A0D0D0A), "magic").reason


@pytest.mark.parametrize("version", [(2, 3), (1, 4), (4, 2)])
def test_bad_version(version: tuple[int, int]) -> None:
    _error(_global_header(version=version), "version")


@pytest.mark.parametrize("size", range(1, 16))
def test_truncated_record_header(size: int) -> None:
    head = _global_header() + _record(GET_VERSION)
    error = _error(head + _record(GET_VERSION)[:size], "record_header")
    assert "record 2" in error.reason


@pytest.mark.parametrize("missing", [1, 4, 11, 12])
def test_truncated_record_data(missing: int) -> None:
    data = _global_header() + _record(GET_VERSION)
    assert "record 1" in _error(data[:-missing], "data").reason


def test_incl_len_over_snaplen() -> None:
    _error(_global_header(snaplen=8) + _record(GET_VERSION), "incl_len")
    assert read_pcap(_global_header(snaplen=12) + _record(GET_VERSION)).records[0].data == GET_VERSION


def test_incl_len_bounded_before_reading() -> None:
    """A huge incl_len is refused from the header alone, whatever the snaplen claims."""
    header = struct.pack("<IIII", 0, 0, 0xFFFF_FFFF, 0xFFFF_FFFF)
    _error(_global_header(snaplen=0xFFFF_FFFF) + header, "incl_len")
    header = struct.pack("<IIII", 0, 0, MAX_RECORD_BYTES + 1, MAX_RECORD_BYTES + 1)
    _error(_global_header(snaplen=0) + header, "incl_len")


def test_largest_record() -> None:
    data = bytes(MAX_RECORD_BYTES)
    pcap = read_pcap(_global_header(snaplen=0xFFFF_FFFF) + _record(data))
    assert pcap.records[0].data == data


def test_snaplen_zero_means_no_limit_but_ours() -> None:
    assert read_pcap(_global_header(snaplen=0) + _record(bytes(70000))).records[0].data == bytes(70000)


@pytest.mark.parametrize("orig_len", [11, 0])
def test_orig_len_is_at_least_incl_len(orig_len: int) -> None:
    _error(_global_header() + _record(GET_VERSION, orig_len=orig_len), "orig_len")


def test_a_record_cut_short_is_read_and_does_not_decode() -> None:
    """orig_len over incl_len: spdm-emu cut the record at the snaplen. The file is read (it was refused
    whole); the record is kept with its orig_len, and unwrapping it fails naming it."""
    cut = GET_VERSION[:8]
    data = _global_header() + _record(GET_VERSION) + _record(cut, orig_len=70012) + _record(GET_VERSION)
    pcap = read_pcap(data)
    assert [(r.data, r.orig_len) for r in pcap.records] == [(GET_VERSION, None), (cut, 70012), (GET_VERSION, None)]
    iterator = frames(pcap)
    assert next(iterator).index == 1
    with pytest.raises(DecodeError) as info:
        next(iterator)
    assert (info.value.field, info.value.reason) == ("orig_len", "record 2: only 8 of 70012 bytes were captured")
    decoded = list(capture.messages(pcap))
    assert [m.code for m in decoded] == ["GET_VERSION", "OTHER", "GET_VERSION"]
    assert decoded[1].error is not None and "only 8 of 70012 bytes" in str(decoded[1].error)


def test_a_file_is_read_as_it_is_parsed(tmp_path: Path) -> None:
    """Not read whole first: a stream of zeros (/dev/zero) fails on its 24-byte header, not on a
    MemoryError. Here a pipe fed zeros until it closes: the reader takes the header and stops."""
    fifo = tmp_path / "zeros"
    os.mkfifo(fifo)
    written = 0

    def feed() -> None:
        nonlocal written
        with open(fifo, "wb") as pipe, contextlib.suppress(BrokenPipeError):
            while written < 64 << 20:
                pipe.write(bytes(1 << 16))
                pipe.flush()
                written += 1 << 16

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        with pytest.raises(DecodeError) as info:
            read_pcap(fifo)
    finally:
        feeder.join(timeout=30)
    assert info.value.field == "magic"
    assert written < 1 << 20


@given(st.binary(max_size=96))
def test_fuzz_read_raises_only_decode_error(data: bytes) -> None:
    try:
        pcap = read_pcap(_global_header() + data)
        list(frames(pcap))
    except DecodeError:
        pass


@given(st.binary(max_size=40))
def test_fuzz_any_bytes(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        read_pcap(data)


# --- writing --------------------------------------------------------------------------------


def test_write_header_is_spdm_emus() -> None:
    data = _pcap_bytes(LINKTYPE_PCI_DOE, [])
    assert data == EMU_GLOBAL_HEADER + struct.pack("<I", 292)
    assert PCAP_SNAPLEN == 65536


def test_write_read_round_trip(tmp_path: Path) -> None:
    records = [
        (1795698787.0, GET_VERSION),
        (1795698787.25, b""),
        (0.000001, b"\x01\x02\x03"),
        (12.9999999, b"x"),
    ]
    path = tmp_path / "out.pcap"
    write_pcap(path, LINKTYPE_MCTP, records)
    pcap = read_pcap(path)
    assert (pcap.link_type, pcap.snaplen) == (LINKTYPE_MCTP, PCAP_SNAPLEN)
    assert [r.index for r in pcap.records] == [1, 2, 3, 4]
    assert [r.data for r in pcap.records] == [data for _, data in records]
    for record, (timestamp, _) in zip(pcap.records, records, strict=True):
        assert record.timestamp == pytest.approx(timestamp, abs=1e-6)
    assert pcap.records[3].timestamp == 13.0  # rounding carries into the seconds
    write_pcap(str(path), LINKTYPE_MCTP, ((r.timestamp, r.data) for r in pcap.records))
    assert read_pcap(path) == pcap


@pytest.mark.parametrize(
    ("link_type", "records", "field"),
    [
        (-1, [], "link_type"),
        (1 << 32, [], "link_type"),
        (292, [(-1.0, b"")], "timestamp"),
        (292, [(float("nan"), b"")], "timestamp"),
        (292, [(float("inf"), b"")], "timestamp"),
        (292, [(2.0**32, b"")], "timestamp"),
        (292, [(0.0, "text")], "data"),
    ],
)
def test_write_invalid(
    tmp_path: Path, link_type: int, records: list[tuple[float, bytes]], field: str
) -> None:
    path = tmp_path / "bad.pcap"
    with pytest.raises(EncodeError) as info:
        write_pcap(path, link_type, [(0.0, b"ok"), *records])
    assert (info.value.message, info.value.field) == ("PCAP", field)
    assert not path.exists()


def test_a_record_over_the_snaplen_is_cut_as_spdm_emu_cuts_it() -> None:
    """incl_len = the snaplen, orig_len = the whole length (spdm-emu's append_pcap_packet_data); it was
    an EncodeError, which made a recorder discard the object it was recording."""
    big = encode_object(DoeType.CMA_SPDM, bytes.fromhex("10840000") + bytes(70000))
    data = _pcap_bytes(LINKTYPE_PCI_DOE, [(1.0, big), (2.0, GET_VERSION)])
    assert data[24:40] == struct.pack("<IIII", 1, 0, PCAP_SNAPLEN, len(big))
    pcap = read_pcap(data)
    assert [(r.data, r.orig_len) for r in pcap.records] == [(big[:PCAP_SNAPLEN], len(big)), (GET_VERSION, None)]


def test_recording_never_changes_what_the_device_answers() -> None:
    """`tap_objects` (spdm responder --pcap) and `RecordingLink` record an object over the snaplen cut
    short and pass the exchange on unchanged; the capture says the record does not decode."""
    respond = DoeMailboxResponder(Responder(demo_config()).respond)
    big = encode_object(DoeType.CMA_SPDM, bytes.fromhex("10840000") + bytes(70000))
    answer = respond(big)
    assert answer is not None
    device_side, requester_side = io.BytesIO(), io.BytesIO()
    with CaptureWriter(device_side) as writer:
        assert tap_objects(respond, writer)(big) == answer

    class Loopback:
        def exchange_object(self, obj: bytes, *, timeout: float | None = None) -> bytes:
            del timeout
            response = respond(obj)
            assert response is not None
            return response

        def close(self) -> None:
            pass

    with CaptureWriter(requester_side) as writer:
        assert RecordingLink(Loopback(), writer).exchange_object(big) == answer
    for recorded in (device_side, requester_side):
        request, response = capture.messages(read_pcap(recorded.getvalue()))
        assert request.error is not None and request.error.field == "orig_len"
        assert response.code == "ERROR"


# --- the secrets sidecar --------------------------------------------------------------------


def test_a_sidecar_nested_too_deep_is_a_decode_error() -> None:
    """RecursionError escaped (a traceback from `spdm dump --secrets`); ReferenceValues.load maps it already."""
    with pytest.raises(DecodeError) as info:
        CaptureSecrets.from_json("[" * 100_000 + "]" * 100_000)
    assert (info.value.message, info.value.field) == ("SECRETS", "json")


def test_the_sidecar_is_its_owners_alone(tmp_path: Path) -> None:
    """It holds the PSK: mode 0600 whatever the umask, written through a fresh temporary file (it was
    `<file>.tmp`, world-readable, and followed whatever another user had placed at that name)."""
    sidecar = tmp_path / "secrets.json"
    planted = tmp_path / "planted"
    planted.write_text("someone else's file")
    (tmp_path / "secrets.json.tmp").symlink_to(planted)
    previous = os.umask(0o022)
    try:
        log = SecretsLog(sidecar, psk=b"long-term psk")
        log.add_dhe_secret(0xFFFE_FFFE, b"\x01" * 32)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o600
    assert CaptureSecrets.load(sidecar).psk == b"long-term psk"
    assert planted.read_text() == "someone else's file"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["planted", "secrets.json", "secrets.json.tmp"]


# --- frames ---------------------------------------------------------------------------------


def test_frames_doe() -> None:
    records = [
        (1.0, encode_object(DoeType.DISCOVERY, bytes(4))),
        (2.0, GET_VERSION),
        (3.0, encode_object(DoeType.SECURED_CMA_SPDM, b"\xff" * 5)),
        (4.0, encode_object(1, b"\x01\x02", vendor_id=0x8086)),
        (5.0, encode_object(7, b"")),
    ]
    got = list(frames(read_pcap(_pcap_bytes(LINKTYPE_PCI_DOE, records))))
    assert got[1] == Frame(
        index=2, timestamp=2.0, transport="pci-doe", kind="spdm", payload=bytes.fromhex("10840000")
    )
    assert [f.kind for f in got] == ["discovery", "spdm", "secured", "other", "other"]
    assert got[2].payload == b"\xff" * 5 + bytes(3)  # still DW padded
    assert got[3].payload == b"\x01\x02\x00\x00"
    assert [f.index for f in got] == [1, 2, 3, 4, 5]


def test_frames_mctp() -> None:
    records = [
        (1.0, encode_mctp_record(5, b"\x10\x84\x00\x00")),
        (2.0, encode_mctp_record(6, b"\xff\xff\xff\xff")),
        (3.0, encode_mctp_record(0x7E, b"vendor")),
    ]
    got = list(frames(read_pcap(_pcap_bytes(LINKTYPE_MCTP, records))))
    assert [(f.transport, f.kind, f.payload) for f in got] == [
        ("mctp", "spdm", b"\x10\x84\x00\x00"),
        ("mctp", "secured", b"\xff\xff\xff\xff"),
        ("mctp", "other", b"vendor"),
    ]


def test_frames_unsupported_link_type_fails_at_once() -> None:
    pcap = read_pcap(_pcap_bytes(1, [(0.0, b"ethernet")]))
    with pytest.raises(DecodeError) as info:
        frames(pcap)
    assert (info.value.message, info.value.field) == ("PCAP", "link_type")


def test_frames_bad_doe_record_names_its_index() -> None:
    pcap = read_pcap(_pcap_bytes(LINKTYPE_PCI_DOE, [(0.0, GET_VERSION), (0.0, GET_VERSION[:-4])]))
    iterator = frames(pcap)
    assert next(iterator).index == 1
    with pytest.raises(DecodeError) as info:
        next(iterator)
    assert (info.value.message, info.value.field) == ("DOE", "length")
    assert info.value.reason.startswith("record 2: ")


def test_frames_bad_mctp_record_names_its_index() -> None:
    pcap = read_pcap(_pcap_bytes(LINKTYPE_MCTP, [(0.0, b"\x00\x00")]))
    with pytest.raises(DecodeError) as info:
        list(frames(pcap))
    assert (info.value.message, info.value.field) == ("MCTP", "header")
    assert "record 1" in str(info.value)


# --- real spdm-emu captures -----------------------------------------------------------------


def _dump_entries(folder: Path) -> dict[int, tuple[int, str]]:
    """spdm_dump's listing: record number -> (timestamp seconds, expected frame kind)."""
    entries: dict[int, tuple[int, str]] = {}
    for line in (folder / "dump.txt").read_text().splitlines():
        match = _DUMP_LINE.match(line)
        if match is None:
            continue
        number, seconds, vendor, doe_type, mctp_type = match.groups()
        if mctp_type is not None:
            kind = _MCTP_KINDS.get(int(mctp_type), "other")
        else:
            kind = _DOE_KINDS.get((int(vendor), int(doe_type)), "other")
        assert int(number) not in entries, line
        entries[int(number)] = (int(seconds), kind)
    return entries


def test_captures_present(libspdm_vectors: Path) -> None:
    assert list(libspdm_vectors.glob("*/requester.pcap"))


def test_real_capture_matches_dump(libspdm_vectors: Path, libspdm_capture: str) -> None:
    folder = libspdm_vectors / libspdm_capture
    pcap = read_pcap(folder / "requester.pcap")
    entries = _dump_entries(folder)
    assert len(pcap.records) == max(entries)
    assert sorted(entries) == list(range(1, len(pcap.records) + 1))
    expected_transport = {LINKTYPE_PCI_DOE: "pci-doe", LINKTYPE_MCTP: "mctp"}[pcap.link_type]
    for frame in frames(pcap):
        seconds, kind = entries[frame.index]
        assert (frame.transport, frame.kind) == (expected_transport, kind), frame.index
        assert int(frame.timestamp) == seconds


def test_real_capture_rewrites_byte_identical(libspdm_vectors: Path, libspdm_capture: str) -> None:
    """Our writer's header and records are spdm-emu's, byte for byte."""
    original = (libspdm_vectors / libspdm_capture / "requester.pcap").read_bytes()
    assert original.startswith(EMU_GLOBAL_HEADER)
    pcap = read_pcap(original)
    assert pcap.snaplen == PCAP_SNAPLEN
    assert _pcap_bytes(pcap.link_type, [(r.timestamp, r.data) for r in pcap.records]) == original


def test_real_discovery_frames(libspdm_vectors: Path, libspdm_doe_capture: str) -> None:
    pcap = read_pcap(libspdm_vectors / libspdm_doe_capture / "requester.pcap")
    first = [f for f in frames(pcap)][:6]
    assert [f.kind for f in first] == ["discovery"] * 6
    assert [f.payload.hex() for f in first] == [
        "00000000", "01000001", "01000000", "01000102", "02000000", "01000200",
    ]  # fmt: skip


def test_real_capture_truncated_anywhere(libspdm_vectors: Path) -> None:
    """Every prefix of the smallest real capture either ends on a record boundary or is refused."""
    path = min(libspdm_vectors.glob("*/requester.pcap"), key=lambda p: p.stat().st_size)
    data = path.read_bytes()
    boundaries = {24}
    for record in read_pcap(data).records:
        boundaries.add(max(boundaries) + 16 + len(record.data))
    for size in range(len(data)):
        if size in boundaries:
            assert len(read_pcap(data[:size]).records) == sorted(boundaries).index(size)
        else:
            with pytest.raises(DecodeError):
                read_pcap(data[:size])


@settings(max_examples=300)
@given(st.data())
def test_fuzz_mutated_real_capture(libspdm_vectors: Path, data: st.DataObject) -> None:
    """Flip bytes in a real capture: reading and unwrapping fail with DecodeError or succeed."""
    paths = sorted(libspdm_vectors.glob("*/requester.pcap"), key=lambda p: p.stat().st_size)
    raw = bytearray(paths[data.draw(st.integers(0, len(paths) - 1))].read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    with contextlib.suppress(DecodeError):
        list(frames(read_pcap(bytes(raw))))


def test_module_exports() -> None:
    assert set(capture.__all__) <= set(dir(capture))
