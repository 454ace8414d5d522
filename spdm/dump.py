"""`spdm dump`: every record of a capture, decoded, as text or JSON lines."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, TextIO

from spdm.capture import CapturedMessage, messages, read_pcap
from spdm.errors import DecodeError

__all__ = ["describe", "run"]


def _plain(value: Any) -> Any:
    """JSON-ready form: bytes as hex, records as objects, tuples as lists."""
    if isinstance(value, bytes):
        return value.hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def describe(item: CapturedMessage) -> dict[str, Any]:
    """One record as a JSON-ready object: index, direction, transport, code, fields."""
    out: dict[str, Any] = {
        "index": item.index,
        "direction": item.direction.value if item.direction else None,
        "transport": item.transport,
        "kind": item.kind,
        "code": item.code,
    }
    if item.message is not None:
        out["version"] = f"{item.message.version >> 4}.{item.message.version & 0xF}"
        out["fields"] = {k: v for k, v in _plain(item.message).items() if k != "version"}
    elif item.details:
        out["fields"] = _plain(item.details)
    if item.error is not None:
        out["error"] = str(item.error)
    return out


def _text_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_text_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_text_value(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"0x{value:x}"
    return str(value)


def _text(record: dict[str, Any], item: CapturedMessage) -> str:
    arrow = item.direction.arrow if item.direction else "?"
    head = f"{record['index']} {arrow} {item.transport} "
    if "version" in record:
        head += f"SPDM({record['version']}) "
    head += str(record["code"])
    body = ", ".join(f"{k}={_text_value(v)}" for k, v in record.get("fields", {}).items())
    line = f"{head} ({body})"
    if item.error is not None:
        line += f" DECODE ERROR: {item.error}"
    return line


def run(path: str | os.PathLike[str], *, as_json: bool, out: TextIO, err: TextIO) -> int:
    """Print every record of the capture at `path`; return the exit code."""
    try:
        pcap = read_pcap(path)
    except OSError as error:
        err.write(f"spdm dump: cannot read {path}: {error.strerror or error}\n")
        return 2
    except DecodeError as error:
        err.write(f"spdm dump: {path} is not a usable capture: {error}\n")
        return 2
    failures = []
    try:
        for item in messages(pcap):
            record = describe(item)
            out.write((json.dumps(record) if as_json else _text(record, item)) + "\n")
            if item.error is not None:
                failures.append(item)
    except DecodeError as error:
        err.write(f"spdm dump: {path}: {error}\n")
        return 2
    for item in failures:
        err.write(f"spdm dump: record {item.index} did not decode: {item.error}\n")
    return 1 if failures else 0
