"""Every libspdm capture: each SPDM message decodes and re-encodes byte for byte, and `spdm dump`
shows the same message sequence as DMTF's spdm_dump text stored beside it."""

from __future__ import annotations

import io
import json
from pathlib import Path

from spdm_dump_listing import assert_dump_matches_spdm_dump

from spdm import dump
from spdm.capture import CapturedMessage, CaptureSecrets, messages, read_pcap
from spdm.certs import split_der
from spdm.messages import encode


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


def _secrets(vectors: Path, capture: str) -> CaptureSecrets:
    """The session secrets the manifest gives for a capture."""
    entry = next(e for e in json.loads((vectors / "manifest.json").read_text())["vectors"] if e["name"] == capture)
    chain = entry.get("requester_chain")
    return CaptureSecrets(
        dhe_secrets=tuple(bytes.fromhex(s) for s in entry["dhe_secrets"]),
        psk=bytes.fromhex(entry["psk"]),
        requester_chain=split_der((vectors / chain).read_bytes()) if chain else (),
    )


def test_dump_sequence_matches_spdm_dump(libspdm_vectors: Path, libspdm_capture: str) -> None:
    folder = libspdm_vectors / libspdm_capture
    assert_dump_matches_spdm_dump(folder, _secrets(libspdm_vectors, libspdm_capture))


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
