"""Every libspdm capture: each SPDM message decodes and re-encodes byte for byte, and `spdm dump`
shows the same message sequence as DMTF's spdm_dump text stored beside it."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from spdm import dump
from spdm.capture import CapturedMessage, messages, read_pcap
from spdm.certs import split_der
from spdm.messages import encode
from spdm.verify.sessions import ReplaySecrets

# "27 (1795698820) PCI_DOE(1, 2) REQ->RSP SecuredSPDM(0xffffffff) SPDM(11, 0xe5) SPDM_FINISH (..."
_LINE = re.compile(
    r"^(?P<index>\d+) \(\d+\) (?P<transport>PCI_DOE\(1, (?P<doe>\d)\)|MCTP\((?P<mctp>\d)\))"
    r"(?: (?P<arrow>REQ->RSP|RSP->REQ))?"
    r"(?P<secured> SecuredSPDM\((?P<session>0x[0-9a-f]+)[^)]*\)(?: MCTP\(5\))?)?"
    r"(?: SPDM\([0-9a-f]+, 0x[0-9a-f]+\) SPDM_(?P<name>\w+))?"
)
_KINDS = {"0": "discovery", "1": "spdm", "2": "secured", "5": "spdm", "6": "secured"}
# "... SPDM_CHUNK_RESPONSE (Attr=0x01(LastChunk), ...) SPDM(12, 0x02) SPDM_CERTIFICATE (...": what a message held
_CARRIED = re.compile(r"\) SPDM\([0-9a-f]+, 0x[0-9a-f]+\) SPDM_(?P<name>\w+)")


def _reference(folder: Path) -> list[dict[str, str | None]]:
    """The records spdm_dump listed: index, kind, direction, message name, session."""
    rows = []
    for line in (folder / "dump.txt").read_text().splitlines():
        found = _LINE.match(line)
        if found is None:
            continue
        arrow = found["arrow"]
        rows.append(
            {
                "index": found["index"],
                "kind": _KINDS[found["doe"] or found["mctp"]],
                "direction": None if arrow is None else ("request" if arrow == "REQ->RSP" else "response"),
                "name": found["name"],
                "session": found["session"],
                "carried": carried["name"] if (carried := _CARRIED.search(line, found.end())) else None,
            }
        )
    return rows


def _captured(folder: Path) -> list[CapturedMessage]:
    return list(messages(read_pcap(folder / "requester.pcap")))


def test_every_spdm_message_decodes_and_reencodes_exactly(libspdm_vectors: Path, libspdm_capture: str) -> None:
    items = _captured(libspdm_vectors / libspdm_capture)
    spdm_items = [item for item in items if item.kind == "spdm"]
    assert spdm_items, "a capture without SPDM messages"
    for item in items:
        assert item.error is None, f"record {item.index}: {item.error}"
    for item in spdm_items:
        assert item.message is not None
        assert encode(item.message) == item.data, f"record {item.index} ({item.code}) re-encodes differently"


def _secrets(vectors: Path, capture: str) -> ReplaySecrets:
    """The session secrets the manifest gives for a capture."""
    entry = next(e for e in json.loads((vectors / "manifest.json").read_text())["vectors"] if e["name"] == capture)
    chain = entry.get("requester_chain")
    return ReplaySecrets(
        dhe_secrets=tuple(bytes.fromhex(s) for s in entry["dhe_secrets"]),
        psk=bytes.fromhex(entry["psk"]),
        requester_certificates=split_der((vectors / chain).read_bytes()) if chain else (),
    )


def test_dump_sequence_matches_spdm_dump(libspdm_vectors: Path, libspdm_capture: str) -> None:
    _check_dump_sequence(libspdm_vectors, libspdm_capture)


# the SPDM 1.2/1.3 captures that decode whole so far
V12_CAPTURES = ["v_chunk_dts256_ecdsap384_v12", "v3_chunk_dts64_dhe_psk_ecdsap384_v12"]


@pytest.mark.parametrize("capture", V12_CAPTURES)
def test_v12_dump_sequence_matches_spdm_dump(libspdm_v12_v13_vectors: Path, capture: str) -> None:
    _check_dump_sequence(libspdm_v12_v13_vectors, capture)


@pytest.mark.parametrize("capture", V12_CAPTURES)
def test_v12_messages_and_what_chunks_carried_reencode_exactly(libspdm_v12_v13_vectors: Path, capture: str) -> None:
    items = _captured(libspdm_v12_v13_vectors / capture)
    carried = [item.carried for item in items if item.carried is not None]
    assert carried
    for item in items:
        assert item.error is None, f"record {item.index}: {item.error}"
        if item.kind == "spdm":
            assert item.message is not None and encode(item.message) == item.data, item.index
    for large in carried:
        assert encode(large.message) == large.data


def _check_dump_sequence(vectors: Path, capture: str) -> None:
    """`spdm dump --json` lists the records spdm_dump listed, with the same kinds, directions and names."""
    folder = vectors / capture
    out, err = io.StringIO(), io.StringIO()
    secrets = _secrets(vectors, capture)
    assert dump.run(folder / "requester.pcap", as_json=True, out=out, err=err, secrets=secrets) == 0, err.getvalue()
    ours = [json.loads(line) for line in out.getvalue().splitlines()]
    reference = _reference(folder)
    assert len(ours) == len(reference)
    for row, expected in zip(ours, reference, strict=True):
        assert str(row["index"]) == expected["index"]
        assert row["kind"] == expected["kind"], row
        if expected["direction"] is not None:
            assert row["direction"] == expected["direction"], row
        if expected["kind"] == "spdm":
            assert row["code"] == expected["name"], row
        elif expected["kind"] == "secured":
            assert row["code"] == expected["name"], row  # decrypted with the manifest's secrets
            assert row["session_id"] == int(expected["session"] or "", 16)
        else:
            assert row["code"] == "DOE_DISCOVERY"
        if str(expected["name"]).startswith("CHUNK_"):  # (spdm_dump also names what encapsulated messages hold)
            assert row.get("carried", {}).get("code") == expected["carried"], row


def test_dump_without_secrets_shows_secured_records_as_such(libspdm_vectors: Path) -> None:
    out = io.StringIO()
    pcap = libspdm_vectors / "e_dhe_secp384_aes256gcm_v11" / "requester.pcap"
    assert dump.run(pcap, as_json=True, out=out, err=io.StringIO()) == 0
    secured = [json.loads(line) for line in out.getvalue().splitlines() if '"secured"' in line]
    assert secured and all(row["code"] == "SECURED_MESSAGE" for row in secured)
    assert secured[0]["fields"] == {"session_id": 0xFFFFFFFF, "length": 70}


def test_dump_text_names_every_message(libspdm_vectors: Path) -> None:
    folder = libspdm_vectors / "a_conn_ecdsap384_sha384_v11"
    out = io.StringIO()
    assert dump.run(folder / "requester.pcap", as_json=False, out=out, err=io.StringIO()) == 0
    lines = out.getvalue().splitlines()
    assert lines[6].startswith("7 REQ->RSP pci-doe SPDM(1.0) GET_VERSION (")
    assert lines[19].startswith("20 RSP->REQ pci-doe SPDM(1.1) CHALLENGE_AUTH (attributes=0x0, slot_mask=0x3")
    assert any(" ERROR (error_code=0x1" in line for line in lines)
