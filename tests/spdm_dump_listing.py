"""DMTF spdm_dump's listing (dump.txt beside each libspdm capture), read into rows to compare with `spdm dump`."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from spdm import dump
from spdm.capture import CaptureSecrets

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


def spdm_dump_rows(folder: Path) -> list[dict[str, str | None]]:
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


def assert_dump_matches_spdm_dump(folder: Path, secrets: CaptureSecrets) -> None:
    """`spdm dump --json` of the folder's requester.pcap lists the same records as spdm_dump: index, kind,
    direction, message name (secured ones decrypted with `secrets`) and session."""
    out, err = io.StringIO(), io.StringIO()
    assert dump.run(folder / "requester.pcap", as_json=True, out=out, err=err, secrets=secrets) == 0, err.getvalue()
    ours = [json.loads(line) for line in out.getvalue().splitlines()]
    reference = spdm_dump_rows(folder)
    assert len(ours) == len(reference)
    for row, expected in zip(ours, reference, strict=True):
        assert str(row["index"]) == expected["index"]
        assert row["kind"] == expected["kind"], row
        if expected["direction"] is not None:
            assert row["direction"] == expected["direction"], row
        if expected["kind"] == "spdm":
            assert row["code"] == expected["name"], row
        elif expected["kind"] == "secured":
            assert row["code"] == expected["name"], row  # decrypted with the given secrets
            assert row["session_id"] == int(expected["session"] or "", 16)
        else:
            assert row["code"] == "DOE_DISCOVERY"
        if str(expected["name"]).startswith("CHUNK_"):  # (spdm_dump also names what encapsulated messages hold)
            assert row.get("carried", {}).get("code") == expected["carried"], row
