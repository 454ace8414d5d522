"""The tamper campaign: every single-byte change of every response of every vector, through `spdm verify`.

    python tests/fuzz/tamper_campaign.py [--xor 0x01 --xor 0xff] [--processes 2] [--vector NAME ...]
                                         [--skip NAME ...] [--stride NAME=N ...]

The vectors are ours (vectors/manifest.json) and DMTF's (shared/vectors/libspdm/manifest.json and,
at the versions spoken, shared/vectors/libspdm-v12-v13/manifest.json),
each verified with its root(s) and session secrets. For every RESPONSE record (plain SPDM and
secured records alike; requests are not tampered with), every byte of the record as captured (the
transport header, the SPDM or secured message, DOE padding) is changed by XOR with each mask and
the whole capture verified again.

"Irrelevant by the spec", precisely and conservatively
------------------------------------------------------
SPDM 1.1 authenticates a response only through a signature (CHALLENGE_AUTH, MEASUREMENTS,
KEY_EXCHANGE_RSP over the transcripts M1/M2, L1/L2, TH), an HMAC (ResponderVerifyData of
KEY_EXCHANGE_RSP / PSK_EXCHANGE_RSP / FINISH_RSP) or an AEAD tag (every secured record). Which
records some *verified* signature, MAC or tag covers is taken from the UNTAMPERED run's
`CaptureVerification.covered` (never from the tampered run). A changed byte is

* **covered** when its record is in that set and the byte is part of the SPDM or secured message:
  the change must make verification fail ("rejected"); an accepted one is a finding ("ACCEPTED");
* **irrelevant by the spec** only when verification still passes AND either
  - its record is not covered by anything (e.g. DIGESTS / CERTIFICATE exchanges after the last
    CHALLENGE with no later signature, ERROR answers outside a transcript, unsigned MEASUREMENTS
    after the last signature): nothing in SPDM 1.1 lets a requester detect such a change; or
  - it is a DOE padding byte (after the SPDM message's own end, inside the DOE object's dword
    length): PCIe DOE pads every object to whole dwords and SPDM's own lengths end the message,
    so the padding is outside every transcript; or
  - it is a reserved DOE header field (byte 3, and the reserved bits 18..31 of the Length dword,
    bytes 6-7), which PCIe says receivers ignore; or
  - it is the Reserved field of a clear CHUNK_RESPONSE's header (bytes 6-7 of the message): SPDM
    1.2 receivers ignore reserved fields, and a chunk's header is in no transcript (only the large
    message it carries is), so nothing authenticates it; or
  - it is one of the 4 MCTP packet-header bytes before the message type byte (header version,
    destination and source EIDs, SOM/EOM/sequence/TO/tag; spdm-emu writes 00 00 00 c0): DSP0275
    starts the SPDM message at the message type byte, the packet header is consumed by the MCTP
    layer (routing, reassembly) and is in no transcript, and the secured-message AAD (DSP0277:
    session ID, sequence number, length) does not include it, so SPDM 1.1 cannot authenticate it.
    This is the least conservative entry: in a covered MCTP record these 4 bytes are the only ones
    an accepted change is tolerated in.
  The MCTP message type byte is never in this list: it selects what the payload is (SPDM or
  secured SPDM), so a change there must be rejected in a covered record.

An accepted change in an uncovered record must also leave the verification's `covered` set and its
signature checks exactly as the untampered run had them (the tamper may not move what is proven).
A change that is rejected is always fine. "Rejected" means a failing check the untampered run did
not have (for a vector whose untampered run already has expected failures, e.g. malformed
requests, a new failing (record, check) pair).

It prints per-vector and total counts (tried / rejected / irrelevant-by-spec / ACCEPTED) and the
wall time, lists every ACCEPTED change (vector, record, byte, mask) and every invariant violation,
and exits non-zero if there is any.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from spdm.capture import CaptureSecrets, Direction, Pcap, PcapRecord, frames, messages, read_pcap
from spdm.certs import load_certificates, split_der
from spdm.verify import CaptureVerification, verify_capture

ROOT = Path(__file__).resolve().parents[2]
OWN_VECTORS = ROOT / "vectors"
LIBSPDM_VECTORS = ROOT.parent / "shared" / "vectors" / "libspdm"
LIBSPDM_V12_V13_VECTORS = ROOT.parent / "shared" / "vectors" / "libspdm-v12-v13"
SPOKEN_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
"""The SPDM versions of the captures walked: every one the library speaks."""

DOE_HEADER = 8
MCTP_PACKET_HEADER = 4  # the record's bytes before the MCTP message type byte
_DOE_RESERVED_BYTES = frozenset({3, 7})  # byte 3 reserved; Length bits 24..31
_DOE_RESERVED_BITS_BYTE6 = 0xFC  # Length bits 18..23
_CHUNK_RESERVED = (6, 7)  # CHUNK_RESPONSE's Reserved u16, after ChunkSeqNo


@dataclass(frozen=True)
class Vector:
    """One capture with what verifies it."""

    name: str
    path: Path
    anchors: dict[int, bytes]
    secrets: CaptureSecrets


def _own_vectors() -> list[Vector]:
    if not (OWN_VECTORS / "manifest.json").is_file():
        return []
    found = []
    for entry in json.loads((OWN_VECTORS / "manifest.json").read_text())["vectors"]:
        chain = entry.get("requester_chain")
        secrets = CaptureSecrets(
            dhe_secrets=tuple(bytes.fromhex(s) for s in entry["dhe_secrets"]),
            psk=None if entry["psk"] is None else bytes.fromhex(entry["psk"]),
            requester_chain=load_certificates(OWN_VECTORS / chain)
            if chain and not entry.get("requester_chain_on_wire")
            else (),
        )
        root = (OWN_VECTORS / entry["root_cert"]).read_bytes()
        found.append(Vector(entry["name"], OWN_VECTORS / entry["name"] / "requester.pcap", {0: root}, secrets))
    return found


def _libspdm_vectors(folder: Path, prefix: str) -> list[Vector]:
    if not (folder / "manifest.json").is_file():
        return []
    found = []
    for entry in json.loads((folder / "manifest.json").read_text())["vectors"]:
        if not entry.get("spdm_version", "1.1").startswith(SPOKEN_VERSIONS):
            continue
        chain = entry.get("requester_chain")
        secrets = CaptureSecrets(
            dhe_secrets=tuple(bytes.fromhex(s) for s in entry["dhe_secrets"]),
            psk=None if entry.get("psk") is None else bytes.fromhex(entry["psk"]),
            requester_chain=split_der((folder / chain).read_bytes()) if chain else (),
        )
        root = folder / entry["root_cert"]
        anchors = {0: root.read_bytes()}
        if root.with_name("ca1.cert.der").is_file():
            anchors[1] = root.with_name("ca1.cert.der").read_bytes()
        found.append(Vector(prefix + entry["name"], folder / entry["name"] / "requester.pcap", anchors, secrets))
    return found


def all_vectors() -> list[Vector]:
    """Every vector of the manifests (ours first), at the versions spoken."""
    return (
        _own_vectors()
        + _libspdm_vectors(LIBSPDM_VECTORS, "libspdm/")
        + _libspdm_vectors(LIBSPDM_V12_V13_VECTORS, "libspdm-v12/")
    )


@cache
def vector_named(name: str) -> Vector:
    return next(v for v in all_vectors() if v.name == name)


# --- one vector's baseline ----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A response record: where its SPDM / secured message sits in the record's bytes."""

    index: int
    size: int  # the record's bytes
    start: int  # first byte of the SPDM or secured message
    end: int  # one past its last byte (DOE padding follows up to `size`)
    doe: bool
    reserved: frozenset[int] = frozenset()  # record positions of fields SPDM's receivers ignore and nothing covers
    code: str = ""  # the message's name (SECURED_MESSAGE for a secured record)


def _failures(result: CaptureVerification) -> frozenset[tuple[int, str]]:
    return frozenset((c.record, c.name) for c in result.checks if not c.ok)


def _signatures(result: CaptureVerification) -> list[tuple[int, str, bool]]:
    return [(c.record, c.name, c.ok) for c in result.checks if "signature" in c.name]


@dataclass
class Baseline:
    vector: Vector
    pcap: Pcap
    result: CaptureVerification
    targets: list[Target]
    failures: frozenset[tuple[int, str]] = field(init=False)
    signatures: list[tuple[int, str, bool]] = field(init=False)

    def __post_init__(self) -> None:
        self.failures = _failures(self.result)
        self.signatures = _signatures(self.result)


@cache
def baseline(name: str) -> Baseline:
    vector = vector_named(name)
    pcap = read_pcap(vector.path)
    result = verify_capture(pcap, vector.anchors, secrets=vector.secrets)
    payload_at = {}
    for frame, record in zip(frames(pcap), pcap.records, strict=True):
        assert record.data.endswith(frame.payload), f"{name}: record {record.index} payload is not a suffix"
        payload_at[record.index] = len(record.data) - len(frame.payload)
    targets = []
    for item in messages(pcap):
        if item.direction is not Direction.RESPONSE:
            continue
        record = pcap.records[item.index - 1]
        start = payload_at[item.index]
        doe = item.transport == "pci-doe"
        assert record.data[start : start + len(item.data)] == item.data, f"{name}: record {item.index}"
        reserved = (
            frozenset(start + offset for offset in _CHUNK_RESERVED) if item.code == "CHUNK_RESPONSE" else frozenset()
        )
        targets.append(Target(item.index, len(record.data), start, start + len(item.data), doe, reserved, item.code))
    return Baseline(vector, pcap, result, targets)


# --- one mutation -------------------------------------------------------------------------------

REJECTED, IRRELEVANT, ACCEPTED, VIOLATION = "rejected", "irrelevant-by-spec", "ACCEPTED", "VIOLATION"


def _spec_ignores(target: Target, position: int) -> bool:
    """A DOE padding byte, a reserved DOE header field, a chunk header's Reserved field, or an MCTP
    packet-header byte (see the module docstring)."""
    if position in target.reserved:
        return True
    if not target.doe:
        return position < MCTP_PACKET_HEADER
    if position >= target.end:
        return True
    return position in _DOE_RESERVED_BYTES


def mutate(name: str, index: int, position: int, mask: int) -> tuple[str, str]:
    """Change one byte of one record; the verdict and, for ACCEPTED / VIOLATION, why."""
    base = baseline(name)
    pcap = base.pcap
    target = next(t for t in base.targets if t.index == index)
    record = pcap.records[index - 1]
    data = bytearray(record.data)
    data[position] ^= mask
    if target.doe and position == 6 and not (mask & ~_DOE_RESERVED_BITS_BYTE6):
        ignored = True  # only reserved Length bits changed
    else:
        ignored = _spec_ignores(target, position)
    records = list(pcap.records)
    records[index - 1] = PcapRecord(index=index, timestamp=record.timestamp, data=bytes(data))
    altered = Pcap(link_type=pcap.link_type, snaplen=pcap.snaplen, records=tuple(records))
    try:
        result = verify_capture(altered, base.vector.anchors, secrets=base.vector.secrets)
    except Exception as error:  # verify must report, never raise
        return VIOLATION, f"verify raised {type(error).__name__}: {error}"
    if _failures(result) - base.failures:
        return REJECTED, ""
    if index in base.result.covered and not ignored:
        return ACCEPTED, "covered record changed, verification still passes"
    if result.covered != base.result.covered:
        return VIOLATION, f"accepted, but covered set moved: {sorted(result.covered ^ base.result.covered)}"
    if _signatures(result) != base.signatures:
        return VIOLATION, "accepted, but the signature checks changed"
    return IRRELEVANT, ""


# --- the campaign -------------------------------------------------------------------------------


@dataclass
class Tally:
    tried: int = 0
    rejected: int = 0
    irrelevant: int = 0
    accepted: int = 0
    violations: int = 0
    findings: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.tried += other.tried
        self.rejected += other.rejected
        self.irrelevant += other.irrelevant
        self.accepted += other.accepted
        self.violations += other.violations
        self.findings += other.findings

    def count(self, name: str, index: int, position: int, mask: int, verdict: str, why: str) -> None:
        self.tried += 1
        if verdict == REJECTED:
            self.rejected += 1
        elif verdict == IRRELEVANT:
            self.irrelevant += 1
        else:
            if verdict == ACCEPTED:
                self.accepted += 1
            else:
                self.violations += 1
            self.findings.append(f"{verdict}: {name} record {index} byte {position} ^0x{mask:02x}: {why}")

    def line(self) -> str:
        return (
            f"tried {self.tried} / rejected {self.rejected} / irrelevant-by-spec {self.irrelevant}"
            f" / ACCEPTED {self.accepted} / violations {self.violations}"
        )


Job = tuple[str, int, tuple[int, ...], tuple[int, ...]]  # vector, record, positions, masks


def _run_job(job: Job) -> tuple[str, Tally]:
    name, index, picks, masks = job
    tally = Tally()
    for position in picks:
        for mask in masks:
            tally.count(name, index, position, mask, *mutate(name, index, position, mask))
    return name, tally


def jobs(names: Iterable[str], masks: Sequence[int], strides: dict[str, int]) -> Iterator[Job]:
    """One job per response record; a stride > 1 keeps every stride-th byte (offset by the record)."""
    for name in names:
        stride = strides.get(name, 1)
        for target in baseline(name).targets:
            picks = range(target.size) if stride == 1 else range(target.index % stride, target.size, stride)
            yield name, target.index, tuple(picks), tuple(masks)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--xor", action="append", type=lambda s: int(s, 0), help="byte masks (default 0x01)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--vector", action="append", default=[], help="only these vectors")
    parser.add_argument("--skip", action="append", default=[], help="leave these vectors out")
    parser.add_argument("--stride", action="append", default=[], help="NAME=N: every N-th byte of that vector")
    args = parser.parse_args(argv)
    masks = args.xor or [0x01]
    strides = {k: int(v) for k, v in (s.split("=", 1) for s in args.stride)}
    names = [v.name for v in all_vectors() if (not args.vector or v.name in args.vector) and v.name not in args.skip]
    started = time.monotonic()
    for name in names:
        base = baseline(name)
        assert base.result.checks, name
        print(
            f"{name}: baseline ok={base.result.ok}, {len(base.targets)} responses,"
            f" {sum(t.size for t in base.targets)} bytes, covered records {len(base.result.covered)}"
            + (f", stride {strides[name]}" if name in strides else ""),
            flush=True,
        )
    work = sorted(jobs(names, masks, strides), key=lambda job: -len(job[2]))  # longest first
    per_vector = {name: Tally() for name in names}
    with multiprocessing.get_context("fork").Pool(args.processes) as pool:
        for done, (name, tally) in enumerate(pool.imap_unordered(_run_job, work), start=1):
            per_vector[name].add(tally)
            if done % 200 == 0:
                print(f"  ... {done}/{len(work)} records, {time.monotonic() - started:.0f} s", flush=True)
    total = Tally()
    for name in names:
        print(f"{name}: {per_vector[name].line()}")
        total.add(per_vector[name])
    for finding in total.findings:
        print(finding)
    print(f"TOTAL ({len(names)} vectors, masks {', '.join(f'0x{m:02x}' for m in masks)}): {total.line()}")
    print(f"wall time {time.monotonic() - started:.1f} s")
    return 1 if total.accepted or total.violations else 0


if __name__ == "__main__":
    sys.exit(main())
