"""Shared readers for the session tests: the libspdm manifest, spdm_dump's decrypted messages and the
values libspdm's Debug build printed in requester.log."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spdm.capture import CapturedMessage, CaptureSecrets, messages, read_pcap
from spdm.certs import load_certificates
from spdm.verify import ReplayRecord, SessionReplayer

_RECORD = re.compile(r"^(\d+) \(\d+\) ")
_HEX_LINE = re.compile(r"^    [0-9a-f]{4}: ((?:[0-9a-f]{2} ?)+)$")
_LOG_VALUE = re.compile(r"^([A-Za-z_]+) \(0x[0-9a-f]+\) - ((?:[0-9a-f]{2} )*[0-9a-f]{2}) ?$")


@functools.cache
def manifest(vectors: Path) -> Mapping[str, Mapping[str, Any]]:
    """The manifest's entries by folder name."""
    data = json.loads((vectors / "manifest.json").read_text())
    return {entry["name"]: entry for entry in data["vectors"]}


def entry(vectors: Path, name: str) -> Mapping[str, Any]:
    found = manifest(vectors).get(name)
    assert found is not None, f"{name} has a requester.pcap but no manifest.json entry"
    return found


def secrets(vectors: Path, name: str) -> CaptureSecrets:
    """What the manifest says an observer needs: DHE secrets in session order, the PSK, the requester chain."""
    item = entry(vectors, name)
    chain = item.get("requester_chain")
    return CaptureSecrets(
        dhe_secrets=tuple(bytes.fromhex(secret) for secret in item["dhe_secrets"]),
        psk=bytes.fromhex(item["psk"]) if item.get("psk") else None,
        requester_chain=load_certificates(vectors / chain) if chain else (),
    )


@functools.cache
def captured(vectors: Path, name: str) -> tuple[CapturedMessage, ...]:
    return tuple(messages(read_pcap(vectors / name / "requester.pcap")))


@functools.cache
def replayed(vectors: Path, name: str) -> tuple[SessionReplayer, tuple[ReplayRecord, ...]]:
    """The capture replayed once per test run (several tests look at the result)."""
    replayer = SessionReplayer(secrets(vectors, name))
    records = tuple(record for item in captured(vectors, name) if (record := replayer.feed(item)) is not None)
    return replayer, records


@functools.cache
def dump_messages(folder: Path) -> Mapping[int, bytes]:
    """spdm_dump's "SPDM Message:" hex for every record of dump_full.txt (decrypted for secured records)."""
    found: dict[int, bytes] = {}
    index: int | None = None
    hex_text: list[str] | None = None
    for line in [*(folder / "dump_full.txt").read_text().splitlines(), ""]:
        row = _HEX_LINE.match(line) if hex_text is not None else None
        if row is not None and hex_text is not None:
            hex_text.append(row.group(1))
            continue
        if hex_text is not None and index is not None:
            found[index] = bytes.fromhex("".join(hex_text))
        hex_text = None
        start = _RECORD.match(line)
        if start is not None:
            index = int(start.group(1))
        elif line == "  SPDM Message:":
            hex_text = []
    return found


@functools.cache
def log_values(folder: Path) -> Mapping[str, tuple[bytes, ...]]:
    """Every "name (0xNN) - hex" value requester.log printed, by name, in order."""
    values: dict[str, list[bytes]] = {}
    for line in (folder / "requester.log").read_text(errors="replace").splitlines():
        found = _LOG_VALUE.match(line)
        if found is not None:
            values.setdefault(found.group(1), []).append(bytes.fromhex(found.group(2)))
    return {name: tuple(items) for name, items in values.items()}
