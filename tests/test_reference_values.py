"""Reference measurement values (`spdm requester --reference`): the file format, its refusals, and the appraisal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spdm.errors import DecodeError
from spdm.measurements import ReferenceValues, appraise
from spdm.messages.measurements import DmtfMeasurement, MeasurementBlock


def _block(index: int, value: bytes) -> MeasurementBlock:
    return MeasurementBlock(index=index, measurement=DmtfMeasurement(value_type=0, value=value))


def test_a_reference_file_is_read_and_appraised(tmp_path: Path) -> None:
    path = tmp_path / "reference.json"
    path.write_text(json.dumps({"measurements": {"1": "aa" * 4, "0x2": ["bb" * 4, "cc" * 4], "3": "dd"}}))
    reference = ReferenceValues.load(path)
    assert reference.allowed == {1: {b"\xaa" * 4}, 2: {b"\xbb" * 4, b"\xcc" * 4}, 3: {b"\xdd"}}
    verdict = appraise([_block(1, b"\xaa" * 4), _block(2, b"\xcc" * 4), _block(4, b"\xee")], reference)
    assert (verdict.matched, verdict.missing, verdict.unexpected, verdict.ok) == ((1, 2), (3,), (4,), False)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"measurements": {"0": "aa"}}', "measurement index '0': an index is 1 to 254"),
        ('{"measurements": {"255": "aa"}}', "an index is 1 to 254"),
        ('{"measurements": {"-1": "aa"}}', "an index is 1 to 254"),
        ('{"measurements": {"1": "not hex"}}', "non-hexadecimal"),
        ('{"measurements": ["aa"]}', "has no attribute 'items'"),
        ('{"values": {}}', "'measurements'"),
        ("[" * 100_000 + "]" * 100_000, "recursion"),
        ("{", "Expecting property name"),
    ],
    ids=["index 0", "index 255", "negative index", "bad hex", "not a mapping", "no measurements", "deep", "not JSON"],
)
def test_a_bad_reference_file_is_a_decode_error(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "reference.json"
    path.write_text(text)
    with pytest.raises(DecodeError, match=reason):
        ReferenceValues.load(path)


def test_a_missing_reference_file_is_a_decode_error(tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match="No such file"):
        ReferenceValues.load(tmp_path / "absent.json")
