"""The MEL's rules above the codec (`spdm.mel`): portions, and the check that binds the log to the
hash-extended measurement block it extends, against capture y2 (libspdm 1.3, MEL at record 30,
the signed MEASUREMENTS of all blocks at record 28) and tampered copies of both."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from v12_captures import clear_messages

from spdm.crypto import measurement_hash_suite
from spdm.errors import ProtocolError, VerificationError
from spdm.mel import MelPortions, check_mel, hash_extended_block, mel_portion
from spdm.messages import Code, decode
from spdm.messages.codes import CapabilityFlags, ErrorCode, MeasurementHashAlgo, MeasurementSpecification
from spdm.messages.context import CodecContext
from spdm.messages.measurements import DmtfMeasurement, MeasurementBlock, Measurements
from spdm.messages.mel import (
    GetMeasurementExtensionLog,
    MeasurementExtensionLog,
    MelLog,
    decode_mel,
)
from spdm.negotiated import Negotiated
from spdm.responder.mel import answer_mel
from spdm.testing.strategies import mel_log

SHA384 = measurement_hash_suite(MeasurementHashAlgo.SHA_384)
Y2 = "y2_mel_epinfo_keypairinfo_multikey_v13"


@pytest.fixture
def y2(libspdm_v12_v13_vectors: Path) -> tuple[MelLog, tuple[MeasurementBlock, ...]]:
    """y2's log and its measurement blocks, as they crossed the wire."""
    pcap = libspdm_v12_v13_vectors / Y2 / "requester.pcap"
    context = CodecContext(signature_size=96, signature_requested=True)
    ((_, measurements),) = clear_messages(pcap, {Code.MEASUREMENTS}, context)
    ((_, log),) = clear_messages(pcap, {Code.MEASUREMENT_EXTENSION_LOG})
    blocks = decode(measurements, context)
    portion = decode(log)
    assert isinstance(blocks, Measurements) and isinstance(portion, MeasurementExtensionLog)
    return decode_mel(portion.portion), blocks.blocks


def test_capture_mel_extends_block_0x11(y2: tuple[MelLog, tuple[MeasurementBlock, ...]]) -> None:
    log, blocks = y2
    assert SHA384 is not None
    assert check_mel(log, blocks, SHA384) == (0x11,)
    assert hash_extended_block(log, 0x11, SHA384) == next(b for b in blocks if b.index == 0x11)


def _tamper_entry(log: MelLog, at: int, **changes: object) -> MelLog:
    entries = list(log.entries)
    entries[at] = replace(entries[at], **changes)  # type: ignore[arg-type]
    return replace(log, entries=tuple(entries))


def _tamper_block(
    blocks: tuple[MeasurementBlock, ...], index: int, value_type: int, value: bytes
) -> tuple[MeasurementBlock, ...]:
    return tuple(
        replace(b, measurement=DmtfMeasurement(value_type=value_type, value=value)) if b.index == index else b
        for b in blocks
    )


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (
            lambda log, blocks: (
                _tamper_entry(log, 1, measurement=DmtfMeasurement(value_type=0x89, value=b"Boot FX")),
                blocks,
            ),
            "0x11|index 17",
        ),
        (lambda log, blocks: (replace(log, entries=log.entries[:2]), blocks), "index 17"),
        (lambda log, blocks: (replace(log, entries=log.entries[::-1]), blocks), "index 17"),
        (lambda log, blocks: (replace(log, entries=()), blocks), "index 17"),
        (lambda log, blocks: (_tamper_entry(log, 0, mel_index=9), blocks), "index 17"),
        (lambda log, blocks: (_tamper_entry(log, 2, reserved=1), blocks), "index 17"),
        (lambda log, blocks: (_tamper_entry(log, 0, meas_index=0x12), blocks), "index 18, which the measurements lack"),
        (lambda log, blocks: (_tamper_entry(log, 0, meas_index=0x01), blocks), "not a hash-extended digest"),
        (lambda log, blocks: (log, _tamper_block(blocks, 0x11, 0x08, bytes(48))), "index 17"),
        (lambda log, blocks: (log, _tamper_block(blocks, 0x11, 0x88, b"raw")), "not a hash-extended digest"),
        (lambda log, blocks: (log, tuple(b for b in blocks if b.index != 0x11)), "which the measurements lack"),
    ],
    ids=[
        "entry_value",
        "entry_dropped",
        "entries_reordered",
        "log_emptied",
        "mel_index",
        "entry_reserved",
        "meas_index_absent",
        "meas_index_not_hem",
        "block_value",
        "block_raw",
        "block_missing",
    ],
)
def test_tampered_copies_fail(y2: tuple[MelLog, tuple[MeasurementBlock, ...]], tamper: object, reason: str) -> None:
    log, blocks = tamper(*y2)  # type: ignore[operator]
    assert SHA384 is not None
    with pytest.raises(VerificationError, match=reason):
        check_mel(log, blocks, SHA384)


def test_hem_block_without_entries_is_zeros() -> None:
    assert SHA384 is not None
    block = hash_extended_block(MelLog(), 3, SHA384)
    assert block.measurement == DmtfMeasurement(value_type=8, value=bytes(48))
    assert check_mel(MelLog(), (block,), SHA384) == (3,)


@given(mel_log())
def test_log_of_its_own_blocks_is_consistent(log: MelLog) -> None:
    assert SHA384 is not None
    indices = sorted({e.meas_index for e in log.entries})
    blocks = tuple(hash_extended_block(log, i, SHA384) for i in indices)
    assert check_mel(log, blocks, SHA384) == tuple(indices)


# --- portions -------------------------------------------------------------------------------------

LOG = bytes.fromhex("010000000e00000000000000000000000100000001000000890300616263")


def _read(log: bytes, length: int) -> tuple[bytes, int]:
    portions, reads = MelPortions(), 0
    while True:
        ask = GetMeasurementExtensionLog(offset=portions.offset, length=length)
        reads += 1
        whole = portions.add(ask, mel_portion(log, ask, 0xFFFF))
        if whole is not None:
            return whole, reads


@pytest.mark.parametrize(("length", "reads"), [(1, 30), (7, 5), (30, 1), (0x27FF4, 1)])
def test_portions_reassemble(length: int, reads: int) -> None:
    assert _read(LOG, length) == (LOG, reads)


def test_responder_portion_is_bounded() -> None:
    ask = GetMeasurementExtensionLog(offset=4, length=100)
    assert mel_portion(LOG, ask, 10) == MeasurementExtensionLog(remainder_length=16, portion=LOG[4:14])
    with pytest.raises(ValueError, match="past"):
        mel_portion(LOG, GetMeasurementExtensionLog(offset=len(LOG), length=1), 10)


@pytest.mark.parametrize(
    ("ask", "answer", "reason"),
    [
        (GetMeasurementExtensionLog(offset=1, length=4), MeasurementExtensionLog(portion=b"a"), "Offset 1"),
        (GetMeasurementExtensionLog(length=4), MeasurementExtensionLog(portion=b""), "PortionLength 0"),
        (GetMeasurementExtensionLog(length=1), MeasurementExtensionLog(portion=b"ab"), "PortionLength 2"),
        (
            GetMeasurementExtensionLog(length=4),
            MeasurementExtensionLog(portion=b"a", remainder_length=64),
            "over the 64",
        ),
    ],
    ids=["offset", "empty", "over_length", "over_limit"],
)
def test_portion_refused(ask: GetMeasurementExtensionLog, answer: MeasurementExtensionLog, reason: str) -> None:
    portions = MelPortions(max_size=64)
    with pytest.raises(ValueError, match=reason):
        portions.add(ask, answer)
    assert (portions.offset, portions.total) == (0, None)


def test_size_may_not_change() -> None:
    portions = MelPortions()
    portions.add(GetMeasurementExtensionLog(length=2), MeasurementExtensionLog(portion=b"ab", remainder_length=2))
    with pytest.raises(ValueError, match="changes"):
        portions.add(
            GetMeasurementExtensionLog(offset=2, length=2), MeasurementExtensionLog(portion=b"c", remainder_length=2)
        )
    assert portions.offset == 2


# --- the responder's answer ---------------------------------------------------------------------

BIG = bytes(range(256)) * 2
_CHUNK = int(CapabilityFlags.CHUNK_CAP)


def _negotiated(**changes: int | None) -> Negotiated:
    settings: dict[str, int | None] = {
        "version": 0x13,
        "mel_specification": MeasurementSpecification.DMTF,
        "measurement_hash_algo": MeasurementHashAlgo.SHA_384,
        "requester_data_transfer_size": 100,
        "requester_max_spdm_msg_size": 300,
        **changes,
    }
    return Negotiated(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("negotiated", "ours", "portion"),
    [
        (_negotiated(), 200, 100 - 12),  # no chunking: the smaller DataTransferSize, less the header
        (_negotiated(), 60, 60 - 12),
        (_negotiated(requester_flags=_CHUNK, responder_flags=_CHUNK, responder_data_transfer_size=200), 200, 300 - 12),
        (_negotiated(requester_flags=_CHUNK), 200, 100 - 12),  # only one side chunks
    ],
    ids=["theirs_smaller", "ours_smaller", "chunking", "one_side_chunks"],
)
def test_responder_cuts_length_to_one_response(negotiated: Negotiated, ours: int, portion: int) -> None:
    answer = answer_mel(GetMeasurementExtensionLog(offset=8, length=0xFFFFFFFF), BIG, negotiated, ours)
    assert answer == MeasurementExtensionLog(remainder_length=len(BIG) - 8 - portion, portion=BIG[8 : 8 + portion])


@pytest.mark.parametrize(
    ("negotiated", "offset", "code", "data"),
    [
        (_negotiated(mel_specification=0), 0, ErrorCode.UnexpectedRequest, 0),
        (_negotiated(measurement_hash_algo=0), 0, ErrorCode.UnexpectedRequest, 0),
        (_negotiated(), len(BIG), ErrorCode.InvalidRequest, 0),
        (_negotiated(), 0xFFFFFFFF, ErrorCode.InvalidRequest, 0),
    ],
    ids=["no_mel_format", "no_measurement_hash", "offset_at_end", "offset_huge"],
)
def test_responder_refusals(negotiated: Negotiated, offset: int, code: ErrorCode, data: int) -> None:
    with pytest.raises(ProtocolError) as caught:
        answer_mel(GetMeasurementExtensionLog(offset=offset, length=4), BIG, negotiated, 4608)
    assert (caught.value.error_code, caught.value.error_data) == (code, data)
