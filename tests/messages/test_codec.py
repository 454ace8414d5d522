"""The generic codec: registry, field mirroring, the decode/encode boundary, packed runs."""

from __future__ import annotations

import dataclasses
import json
import linecache
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

import spdm.messages as m
from spdm.errors import DecodeError, EncodeError
from spdm.messages import Code
from spdm.messages.codec import FAMILIES, layout_fields
from spdm.messages.negotiation import AlgStruct, GetVersion, NegotiateAlgorithms, Version

# NEGOTIATE_ALGORITHMS as libspdm sends it (capture a_conn_ecdsap384_sha384_v11, record 11)
NEGOTIATE = bytes.fromhex(
    "11e304003000010080000000020000000000000000000000000000000000000002201b000320060004200f0005200100"
)


def test_every_spdm_1_1_code_is_registered() -> None:
    assert set(m.registry()) == set(Code)


@pytest.mark.parametrize("cls", list(m.registry().values()), ids=lambda cls: cls.name)
def test_each_message_lives_in_the_module_families_names(cls: type[m.Message]) -> None:
    (family,) = [name for name, codes in FAMILIES.items() if cls.code in codes]
    assert cls.__module__ == f"spdm.messages.{family}"
    assert getattr(m, family).__name__ == cls.__module__


def test_a_family_is_imported_when_its_first_message_is_decoded() -> None:
    probe = """
import sys
import spdm.messages
from spdm.messages.codec import FAMILIES

def families():
    return sorted(name for name in FAMILIES if f"spdm.messages.{name}" in sys.modules)

print(families())
print(spdm.messages.decode(bytes.fromhex("10040000000200101100")).name, families())
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["[]", "VERSION ['negotiation']"]


def test_an_unknown_family_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'not_a_family'"):
        m.not_a_family  # noqa: B018


@pytest.mark.parametrize("cls", list(m.registry().values()), ids=lambda cls: cls.name)
def test_message_fields_mirror_layout_fields(cls: type[m.Message]) -> None:
    fields = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    assert fields == layout_fields(cls.layout)
    assert fields[0] == "version"


def test_decode_dispatches_on_the_code() -> None:
    msg = m.decode(NEGOTIATE)
    assert isinstance(msg, NegotiateAlgorithms)
    assert msg.code is Code.NEGOTIATE_ALGORITHMS and msg.name == "NEGOTIATE_ALGORITHMS"
    assert msg.alg_structs[0] == AlgStruct(alg_type=2, alg_supported=0x1B)
    assert m.encode(msg) == NEGOTIATE


@pytest.mark.parametrize(
    ("data", "message", "field"),
    [
        (b"", "SPDM", "header"),
        (b"\x10\x84\x00", "SPDM", "header"),
        (b"\x10\x00\x00\x00", "SPDM", "code"),
        (NEGOTIATE[:7], "NEGOTIATE_ALGORITHMS", "other_params_support"),
        (NEGOTIATE[:-1], "NEGOTIATE_ALGORITHMS", "alg_structs.alg_supported"),
        (NEGOTIATE + b"\x00", "NEGOTIATE_ALGORITHMS", ""),
        (bytes.fromhex("100400000000"), "VERSION", "entries"),
    ],
)
def test_malformed_input_names_message_and_field(data: bytes, message: str, field: str) -> None:
    with pytest.raises(DecodeError) as caught:
        m.decode(data)
    assert caught.value.message == message
    assert caught.value.field == field


def test_length_field_must_match_the_message() -> None:
    bad = bytearray(NEGOTIATE)
    bad[4] = 0x2C
    with pytest.raises(DecodeError, match="Length does not match"):
        m.decode(bytes(bad))


def test_const_code_is_checked_by_decode_as() -> None:
    with pytest.raises(DecodeError) as caught:
        m.decode_as(Version, bytes.fromhex("1084000000010010"))
    assert caught.value.field == "_code"


def test_decode_prefix_reports_the_message_length() -> None:
    padded = bytes.fromhex("1004000000020010001100000000")
    msg, size = m.decode_prefix(padded)
    assert isinstance(msg, Version) and size == 10
    assert msg.entries == (0x1000, 0x1100)


def test_encode_rejects_out_of_range_and_foreign_objects() -> None:
    with pytest.raises(EncodeError) as caught:
        m.encode(GetVersion(param1=256))
    assert caught.value.field == "param1"
    with pytest.raises(EncodeError):
        m.encode(dataclasses.replace(m.decode(NEGOTIATE), reserved2=b"\x00"))  # type: ignore[type-var]
    with pytest.raises(EncodeError):
        m.encode(AlgStruct(alg_type=2, alg_supported=1))  # type: ignore[arg-type]


def _generated_name(function: str, target: str) -> str:
    """The name `function` ("parse" or "build") of `target` ("MODULE.CLASS LABEL") is compiled under:
    its ``<...>`` name, or its file when the suite runs with SPDM_CODEC_SOURCE_DIR (for coverage)."""
    directory = os.environ.get("SPDM_CODEC_SOURCE_DIR")
    if directory:
        return os.path.join(os.path.abspath(directory), f"{function}-{target.replace(' ', '-')}.py")
    return f"<spdm generated {function} {target}>"


def _generated_frame(error: BaseException, filename: str) -> str:
    """The source line `linecache` gives for the frame of `filename` in `error`'s traceback."""
    frames = [(frame, line) for frame, line in traceback.walk_tb(error.__traceback__)]
    (lineno,) = [line for frame, line in frames if frame.f_code.co_filename == filename]
    assert linecache.getline(filename, lineno).strip() in "".join(traceback.format_exception(error))
    return linecache.getline(filename, lineno).strip()


def test_tracebacks_through_generated_functions_show_the_generated_line() -> None:
    with pytest.raises(EncodeError) as built:
        m.encode(GetVersion(param1="one"))  # type: ignore[arg-type]
    error = built.value.__context__  # the construct error the boundary turned into EncodeError
    assert error is not None
    line = _generated_frame(error, _generated_name("build", "spdm.messages.negotiation.GetVersion"))
    assert line.endswith(".misfit([f_version, 132, f_param1, f_param2], path)")

    with pytest.raises(DecodeError) as parsed:
        m.decode_as(Version, bytes.fromhex("108400000000"))
    error = parsed.value.__context__
    assert error is not None
    line = _generated_frame(error, _generated_name("parse", "spdm.messages.negotiation.Version"))
    assert line == "raise _const_error(4, f__code, path + ' -> _code')"
    open_parser = _generated_name("parse", "spdm.messages.negotiation.GetVersion open")
    assert GetVersion.open_layout.parser().__code__.co_filename == open_parser


_TRACED_DECODE = """
import linecache, sys, traceback
from spdm.messages import decode_as, encode
from spdm.messages.negotiation import GetVersion, Version
executed = set()
def trace(frame, event, arg):
    if frame.f_code.co_filename.endswith("parse-spdm.messages.negotiation.Version.py"):
        if event == "line":
            executed.add(frame.f_lineno)
        return trace
    return None
sys.settrace(trace)
decode_as(Version, bytes.fromhex("10040000000200100011"))
sys.settrace(None)
parser = Version.layout.parser().__code__.co_filename
print(parser)
print(sorted(executed))
print(linecache.getlines("<spdm generated parse spdm.messages.negotiation.Version>") == open(parser).readlines())
try:
    encode(GetVersion(param1="one"))
except Exception as error:
    print("".join(traceback.format_exception(error.__context__)))
"""


def test_the_generated_functions_are_real_files_under_spdm_codec_source_dir(tmp_path: Path) -> None:
    """With SPDM_CODEC_SOURCE_DIR set, what tracebacks and line tracers (coverage) see is a file on disk."""
    env = {**os.environ, "SPDM_CODEC_SOURCE_DIR": str(tmp_path)}
    for _ in range(2):  # the second process finds the files it would write and leaves them as they are
        run = subprocess.run(
            [sys.executable, "-c", _TRACED_DECODE], env=env, capture_output=True, text=True, check=True
        )
        parser, executed, same, shown = run.stdout.split("\n", 3)
        assert parser == str(tmp_path / "parse-spdm.messages.negotiation.Version.py")
        assert len(json.loads(executed)) > 10  # the lines a decode ran, in the file
        assert same == "True"
        builder = tmp_path / "build-spdm.messages.negotiation.GetVersion.py"
        assert f'File "{builder}", line ' in shown
        assert ".misfit([f_version, 132, f_param1, f_param2], path)" in shown
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "build-spdm.messages.negotiation.GetVersion.py",
        "parse-spdm.messages.negotiation.Version.py",
    ]
