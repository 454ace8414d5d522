"""Session replay around FINISH and PSK_FINISH: a FINISH retried after ERROR Busy (the ERROR takes the
first one, and Hash(CM), back out of the session transcript, as the responder drops its copy), a
FINISH whose SignatureIncluded does not match MutAuthRequested (a failed check, not a crash), and a
mutual-authentication FINISH without the requester's chain (not checked, and the session's later
records unopened for want of it, not failed tags).

The captures are our own vectors, built into a temporary folder by vectors/generate.py with the
responder answering the first FINISH or PSK_FINISH ERROR Busy, or taken from vectors/ and altered."""

from __future__ import annotations

import dataclasses
import io
import struct
from pathlib import Path

import pytest
from own_vectors import VECTORS, generate

from spdm import dump
from spdm.capture import CaptureSecrets, Pcap, messages, read_pcap, write_pcap
from spdm.certs import load_certificates
from spdm.messages.codes import Code, ErrorCode
from spdm.messages.error import ErrorResponse
from spdm.messages.key_exchange import Finish
from spdm.responder.machine import Responder
from spdm.responder.sessions import Session
from spdm.verify import MissingSecretError, ReplayRecord, SessionReplayer, verify_capture

_DOE_HEADER = 8




@dataclasses.dataclass(frozen=True)
class _Built:
    pcap: Pcap
    root: bytes
    secrets: CaptureSecrets


def _secrets(folder: Path) -> CaptureSecrets:
    return CaptureSecrets.from_json((folder / "secrets.json").read_bytes())


def _build_busy_finish(name: str, out: Path, monkeypatch: pytest.MonkeyPatch) -> _Built:
    """Vector `name` built into `out` with the responder answering its first FINISH or PSK_FINISH
    ERROR Busy (our requester sends the same request again)."""
    dispatch = Responder._dispatch
    busy_once = [True]

    def busy_on_finish(self: Responder, request: bytes, session: Session | None) -> bytes:
        if busy_once[0] and len(request) > 1 and request[1] in (Code.FINISH, Code.PSK_FINISH):
            busy_once[0] = False
            self.answer_busy(1)
        return dispatch(self, request, session)

    monkeypatch.setattr(Responder, "_dispatch", busy_on_finish)
    spec = next(spec for spec in generate.SPECS if spec.name == name)
    generate._build(spec, out)
    folder = out / name
    return _Built(read_pcap(folder / "requester.pcap"), (folder / "root.der").read_bytes(), _secrets(folder))


@pytest.mark.parametrize(
    "name",
    [
        "dhe_mutauth_encap_p384_sha384_v12",  # Hash(CM) of a chain read in the session, encapsulated flow
        "dhe_mutauth_finish_rsapss2048_p256_sha256",  # Hash(CM) of the chain in secrets.json
        "dhe_in_the_clear_p384_sha384",  # FINISH and its ERROR in the clear
        "psk_context_sha384_aes256gcm_v12",  # PSK_FINISH
    ],
)
def test_a_finish_retried_after_busy_verifies(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = _build_busy_finish(name, tmp_path, monkeypatch)
    records = list(SessionReplayer(built.secrets).run(built.pcap))
    busy = [r for r in records if isinstance(r.message, ErrorResponse) and r.message.error_code == ErrorCode.Busy]
    assert len(busy) == 1
    finishes = [r for r in records if r.message is not None and r.message.code in (Code.FINISH, Code.PSK_FINISH)]
    assert len(finishes) == 2 and finishes[0].index < busy[0].index < finishes[1].index
    for record in finishes:
        verdicts = {check.name: check.ok for check in record.checks}
        assert verdicts["RequesterVerifyData"], record.checks
        assert verdicts.get("FINISH signature", True), record.checks
    assert all(record.ok for record in records), [r for r in records if not r.ok][:1]
    assert any(record.keys == "data" for record in records)

    result = verify_capture(built.pcap, {0: built.root}, secrets=built.secrets)
    assert result.ok, result.first_failure


def _rewrite(pcap: Pcap, index: int, message: bytes) -> Pcap:
    """`pcap` with record `index` (1-based) carrying `message` in its DOE object instead."""
    record = pcap.records[index - 1]
    message += bytes(-len(message) % 4)
    header = record.data[:4] + struct.pack("<I", (_DOE_HEADER + len(message)) // 4)
    records = list(pcap.records)
    records[index - 1] = dataclasses.replace(record, data=header + message)
    return dataclasses.replace(pcap, records=tuple(records))


def _clear_finish(pcap: Pcap) -> tuple[int, bytes]:
    found = next(item for item in messages(pcap) if isinstance(item.message, Finish))
    return found.index, found.data


def test_a_signed_finish_without_mutual_authentication_fails_its_check(tmp_path: Path) -> None:
    """libspdm_rsp_finish_rsp.c refuses SignatureIncluded without MutAuthRequested: so does the replay."""
    folder = VECTORS / "dhe_in_the_clear_p384_sha384"
    pcap = read_pcap(folder / "requester.pcap")
    index, finish = _clear_finish(pcap)
    signed = bytes([finish[0], finish[1], finish[2] | 1, finish[3]]) + bytes(96) + finish[4:]
    altered = _rewrite(pcap, index, signed)
    secrets = _secrets(folder)

    result = verify_capture(altered, {0: (folder / "root.der").read_bytes()}, secrets=secrets)
    failure = result.first_failure
    assert failure is not None and failure.record == index
    assert failure.name == "FINISH SignatureIncluded matches MutAuthRequested"

    path = tmp_path / "signed_finish.pcap"
    write_pcap(path, altered.link_type, ((record.timestamp, record.data) for record in altered.records))
    out, err = io.StringIO(), io.StringIO()
    assert dump.run(path, as_json=False, out=out, err=err, secrets=secrets) == 1  # the records it leaves unopened
    assert f"\n{index} REQ->RSP pci-doe SPDM(1.1) FINISH (attributes=0x1," in out.getvalue()


def test_an_unsigned_finish_under_mutual_authentication_fails_its_signature_check(tmp_path: Path) -> None:
    """MutAuthRequested but no signature: the FINISH signature check fails, it does not vanish."""
    spec = next(spec for spec in generate.SPECS if spec.name == "dhe_in_the_clear_p384_sha384")
    spec = dataclasses.replace(spec, name="in_the_clear_mutual_auth", mutual_auth="basic")
    generate._build(spec, tmp_path)
    folder = tmp_path / spec.name
    pcap, secrets = read_pcap(folder / "requester.pcap"), _secrets(folder)
    assert verify_capture(pcap, {0: (folder / "root.der").read_bytes()}, secrets=secrets).ok
    index, finish = _clear_finish(pcap)
    verify_data = finish[-48:]  # SHA-384
    altered = _rewrite(pcap, index, bytes([finish[0], finish[1], finish[2] & ~1, finish[3]]) + verify_data)

    records = list(SessionReplayer(secrets).run(altered))
    failed = {c.name for r in records if r.index == index for c in r.checks if not c.ok}
    assert failed == {"FINISH SignatureIncluded matches MutAuthRequested", "FINISH signature"}


def test_a_mutual_authentication_finish_without_the_requester_chain_is_not_checked() -> None:
    """The README: a check that needs an input not given is `skip`. Without the requester's chain,
    Hash(CM), TH2 and the data keys are unknown: the session's later records are not opened for that
    reason, not failed as tags that do not verify."""
    folder = VECTORS / "dhe_mutauth_finish_rsapss2048_p256_sha256"
    given = _secrets(folder)
    assert given.requester_chain == load_certificates((folder / "requester_chain.der").read_bytes())
    without = dataclasses.replace(given, requester_chain=())
    records = list(SessionReplayer(without).run(read_pcap(folder / "requester.pcap")))

    finish = next(r for r in records if isinstance(r.message, Finish))
    assert finish.error is None and [(c.ok, c.checked) for c in finish.checks] == [(True, False)]
    assert "requester's certificate chain is not known" in finish.checks[0].detail
    answered = next(r for r in records if r.message is not None and r.message.code == Code.FINISH_RSP)
    assert answered.error is None and all(check.ok and not check.checked for check in answered.checks)
    later: list[ReplayRecord] = [r for r in records if r.index > answered.index]
    assert later and all(isinstance(r.error, MissingSecretError) for r in later)
    assert all("requester's certificate chain is not known" in str(r.error) for r in later)

    result = verify_capture(
        read_pcap(folder / "requester.pcap"), {0: (folder / "root.der").read_bytes()}, secrets=without
    )
    skipped = [check for check in result.checks if check.record == finish.index and not check.checked]
    assert [check.name for check in skipped] == ["FINISH signature and RequesterVerifyData"]
    assert not [check for check in result.checks if "tag does not verify" in check.detail]
    # and verify reports them as checks not made, with the reason: nothing fails for want of an input
    unopened = [check for check in result.checks if check.record in {r.index for r in later}]
    assert unopened and all(not check.checked and check.ok for check in unopened)
    assert result.ok
