"""`spdm verify` on the libspdm captures: every capture verifies with its root, and a single altered
byte anywhere a signature or transcript covers makes it fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spdm import cli
from spdm.capture import CaptureSecrets, Pcap, PcapRecord, read_pcap
from spdm.certs import split_der
from spdm.transport.doe import HEADER_SIZE
from spdm.verify import verify_capture


def _manifest(vectors: Path) -> dict[str, dict[str, object]]:
    document = json.loads((vectors / "manifest.json").read_text())
    return {entry["name"]: entry for entry in document["vectors"]}


def _root(vectors: Path, capture: str) -> bytes:
    return (vectors / str(_manifest(vectors)[capture]["root_cert"])).read_bytes()


def test_every_capture_verifies(libspdm_vectors: Path, libspdm_capture: str) -> None:
    result = verify_capture(
        read_pcap(libspdm_vectors / libspdm_capture / "requester.pcap"), {0: _root(libspdm_vectors, libspdm_capture)}
    )
    assert result.ok, result.first_failure
    names = {check.name for check in result.checks}
    assert "ALGORITHMS selects one offered algorithm of each kind" in names
    if "psk" not in libspdm_capture:  # PSK sessions carry no certificates
        assert "slot 0 certificate chain validates to its trust anchor" in names


_CONNECTIONS = [
    "a_conn_ecdsap384_sha384_v11",
    "b_conn_ecdsap256_sha256_v11",
    "c_conn_rsassa3072_sha256_v11",
    "f_conn_ecdsap384_sha384_v10",
    "g_conn_ecdsap521_sha512_v11",
]


@pytest.mark.parametrize("capture", _CONNECTIONS)
def test_connection_signatures_are_checked(libspdm_vectors: Path, capture: str) -> None:
    result = verify_capture(
        read_pcap(libspdm_vectors / capture / "requester.pcap"), {0: _root(libspdm_vectors, capture)}
    )
    signatures = [c for c in result.checks if "signature" in c.name]
    assert signatures and all(c.ok for c in signatures)
    assert any(c.name.startswith("CHALLENGE_AUTH signature") for c in signatures)
    assert any(c.name.startswith("MEASUREMENTS signature") for c in signatures)
    assert set(range(7, 21)) <= result.covered  # VCA, DIGESTS, CERTIFICATE, CHALLENGE, CHALLENGE_AUTH


def test_a_chain_without_its_trust_anchor_is_not_checked(libspdm_vectors: Path) -> None:
    """b_conn reads the chains of slots 0 and 1; with slot 0's root alone, slot 1's validation is a
    check not made: no failure, and no pass either."""
    capture = "b_conn_ecdsap256_sha256_v11"
    pcap = read_pcap(libspdm_vectors / capture / "requester.pcap")
    result = verify_capture(pcap, {0: _root(libspdm_vectors, capture)})
    skipped = [check for check in result.checks if not check.checked]
    assert [(check.record, check.name) for check in skipped] == [
        (18, "slot 1 certificate chain validates to its trust anchor")
    ]
    assert skipped[0].ok and not skipped[0].passed
    assert str(skipped[0]).startswith("skip record 18: ")
    assert result.ok

    anchors = _anchors(libspdm_vectors, capture)
    assert all(check.checked for check in verify_capture(pcap, anchors).checks)


def _positions(size: int, spread: int) -> list[int]:
    """The header, the last byte, and `spread` evenly spaced bytes of a message."""
    return sorted({0, 1, 2, 3, size - 1} | {size * k // spread for k in range(spread)})


# a_conn holds 552 records (each check replays them all): fewer positions per message there
@pytest.mark.parametrize(("capture", "spread"), [(c, 4 if c.startswith("a_") else 24) for c in _CONNECTIONS])
def test_any_altered_covered_byte_fails_verification(libspdm_vectors: Path, capture: str, spread: int) -> None:
    pcap = read_pcap(libspdm_vectors / capture / "requester.pcap")
    anchors = {0: _root(libspdm_vectors, capture)}
    baseline = verify_capture(pcap, anchors)
    assert baseline.ok
    spdm_sizes = {}
    from spdm.capture import messages

    for item in messages(pcap):
        spdm_sizes[item.index] = len(item.data)
    tried = 0
    for index in sorted(baseline.covered):
        record = pcap.records[index - 1]
        for position in _positions(spdm_sizes[index], spread):
            data = bytearray(record.data)
            data[HEADER_SIZE + position] ^= 0x01
            records = list(pcap.records)
            records[index - 1] = PcapRecord(index=index, timestamp=record.timestamp, data=bytes(data))
            altered = Pcap(link_type=pcap.link_type, snaplen=pcap.snaplen, records=tuple(records))
            assert not verify_capture(altered, anchors).ok, f"record {index} byte {position} altered, still verifies"
            tried += 1
    assert tried > 100


def test_cli_verify_statuses(libspdm_vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = libspdm_vectors / "b_conn_ecdsap256_sha256_v11"
    root = str(libspdm_vectors / "sample_key/ecp256/ca.cert.der")
    assert cli.main(["verify", str(folder / "requester.pcap"), "--root-cert", root]) == 0
    out = capsys.readouterr().out
    assert "ok   record 20: CHALLENGE_AUTH signature over M1/M2 (A, B, C)" in out
    # the capture also reads slot 1, whose root is not given: that validation is not made, and says so
    assert "skip record 18: slot 1 certificate chain validates to its trust anchor: no trust anchor for this" in out
    assert "verified: 12 checks passed, 1 not checked" in out

    slot_root = f"1={libspdm_vectors / 'sample_key/ecp256/ca1.cert.der'}"
    assert cli.main(["verify", str(folder / "requester.pcap"), "--root-cert", root, "--slot-root", slot_root]) == 0
    out = capsys.readouterr().out
    assert "ok   record 18: slot 1 certificate chain validates to its trust anchor" in out
    assert "verified: 13 checks passed\n" in out

    wrong_root = str(libspdm_vectors / "sample_key/ecp384/ca.cert.der")
    assert cli.main(["verify", str(folder / "requester.pcap"), "--root-cert", wrong_root]) == 1
    assert "FAILED" in capsys.readouterr().err

    assert cli.main(["verify", str(tmp_path / "missing.pcap"), "--root-cert", root]) == 2
    assert cli.main(["verify", str(folder / "requester.pcap"), "--root-cert", str(tmp_path / "none.der")]) == 2


_SESSIONS = [
    "d_psk_sha384_aes256gcm_v11",
    "e4_dhe_secp384_aes256gcm_mutauth_encap_v11",
    "e_dhe_secp384_aes256gcm_v11",
    "h_dhe_ffdhe3072_aes128gcm_rsassa3072_v11",
    "i_mctp_dhe_secp384_aes256gcm_v11",
    "j_psk_nocontext_sha256_chacha_v11",
    "p_dhe_secp384_mutauth_wo_encap_v11",
]


def _session_secrets(vectors: Path, capture: str) -> CaptureSecrets:
    entry = _manifest(vectors)[capture]
    chain = entry.get("requester_chain")
    return CaptureSecrets(
        dhe_secrets=tuple(bytes.fromhex(str(s)) for s in entry["dhe_secrets"]),  # type: ignore[attr-defined]
        psk=bytes.fromhex(str(entry["psk"])),
        requester_chain=split_der((vectors / str(chain)).read_bytes()) if chain else (),
    )


def _anchors(vectors: Path, capture: str) -> dict[int, bytes]:
    root = vectors / str(_manifest(vectors)[capture]["root_cert"])
    return {0: root.read_bytes(), 1: root.with_name("ca1.cert.der").read_bytes()}


@pytest.mark.parametrize("capture", _SESSIONS)
def test_sessions_verify_with_their_secrets(libspdm_vectors: Path, capture: str) -> None:
    pcap = read_pcap(libspdm_vectors / capture / "requester.pcap")
    result = verify_capture(
        pcap, _anchors(libspdm_vectors, capture), secrets=_session_secrets(libspdm_vectors, capture)
    )
    assert result.ok, result.first_failure
    assert result.skipped_secured == 0
    names = [c.name for c in result.checks]
    secured = sum(
        1
        for item in pcap.records
        if any(c.record == item.index and c.name.startswith("secured record opens") for c in result.checks)
    )
    assert secured == sum(1 for n in names if n.startswith("secured record opens")) and secured > 0
    assert any("VerifyData" in n for n in names)
    if "psk" not in capture:
        assert any(n == "KEY_EXCHANGE_RSP signature" for n in names)
        assert (
            any(n.startswith("in-session MEASUREMENTS signature") for n in names) or "e4" in capture or "p_" in capture
        )


@pytest.mark.parametrize("capture", _SESSIONS)
def test_any_altered_secured_byte_fails_verification(libspdm_vectors: Path, capture: str) -> None:
    pcap = read_pcap(libspdm_vectors / capture / "requester.pcap")
    anchors, secrets = _anchors(libspdm_vectors, capture), _session_secrets(libspdm_vectors, capture)
    assert verify_capture(pcap, anchors, secrets=secrets).ok
    from spdm.capture import messages

    secured = [item for item in messages(pcap) if item.kind == "secured"]
    tried = 0
    for item in secured:
        record = pcap.records[item.index - 1]
        header = len(record.data) - len(item.data)
        for position in _positions(len(item.data), 6):
            data = bytearray(record.data)
            data[header + position] ^= 0x80
            records = list(pcap.records)
            records[item.index - 1] = PcapRecord(index=item.index, timestamp=record.timestamp, data=bytes(data))
            altered = Pcap(link_type=pcap.link_type, snaplen=pcap.snaplen, records=tuple(records))
            assert not verify_capture(altered, anchors, secrets=secrets).ok, f"record {item.index} byte {position}"
            tried += 1
    assert tried >= 6 * len(secured)


def test_cli_verify_and_dump_take_session_secrets(libspdm_vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = libspdm_vectors / "j_psk_nocontext_sha256_chacha_v11"
    psk = str(_manifest(libspdm_vectors)["j_psk_nocontext_sha256_chacha_v11"]["psk"])
    root = str(libspdm_vectors / "sample_key/ecp256/ca.cert.der")
    assert cli.main(["verify", str(folder / "requester.pcap"), "--root-cert", root, "--psk", psk]) == 0
    assert "secured record opens: HEARTBEAT under data keys" in capsys.readouterr().out
    assert cli.main(["verify", str(folder / "requester.pcap"), "--root-cert", root, "--psk", "00" * 12]) == 1
    capsys.readouterr()
    assert cli.main(["dump", str(folder / "requester.pcap"), "--psk", psk]) == 0
    assert "SECURED(0x" in capsys.readouterr().out
    assert cli.main(["dump", str(folder / "requester.pcap"), "--psk", "nothex"]) == 2


def test_cli_verify_and_dump_take_a_secrets_sidecar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--secrets FILE` reads what `spdm requester|responder --secrets` writes; it does not mix with the flags."""
    folder = Path(__file__).resolve().parents[1] / "vectors" / "dhe_secp384r1_aes256gcm_p384_sha384_two_sessions"
    capture, root, sidecar = str(folder / "requester.pcap"), str(folder / "root.der"), str(folder / "secrets.json")
    assert cli.main(["verify", capture, "--root-cert", root, "--secrets", sidecar]) == 0
    assert "secured record opens: END_SESSION_ACK under data keys" in capsys.readouterr().out
    assert cli.main(["dump", capture, "--secrets", sidecar]) == 0
    assert "END_SESSION_ACK" in capsys.readouterr().out
    assert cli.main(["verify", capture, "--root-cert", root, "--secrets", sidecar, "--psk", "00"]) == 2
    assert "--secrets replaces --psk" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text('{"psk": "not hex"}')
    assert cli.main(["verify", capture, "--root-cert", root, "--secrets", str(broken)]) == 2
    assert "unusable --secrets" in capsys.readouterr().err
    assert cli.main(["dump", capture, "--secrets", str(tmp_path / "missing.json")]) == 2
    assert "cannot read secrets file" in capsys.readouterr().err


# --- SPDM 1.2 chunking: large messages reassembled, then checked as if sent whole ---------------

_CHUNKED = ["v_chunk_dts256_ecdsap384_v12", "v3_chunk_dts64_dhe_psk_ecdsap384_v12"]
_CHUNKED_CHECKS = {
    "slot 0 certificate chain matches its DIGESTS digest",
    "slot 1 certificate chain matches its DIGESTS digest",
    "slot 0 certificate chain validates to its trust anchor",
    "slot 1 certificate chain validates to its trust anchor",
    "CHALLENGE_AUTH signature over M1/M2 (A, B, C)",
    "MEASUREMENTS signature over L1/L2",
    "KEY_EXCHANGE_RSP signature",
    "ResponderVerifyData",
    "RequesterVerifyData",
    "in-session MEASUREMENTS signature over L1/L2",
}


@pytest.mark.parametrize("capture", _CHUNKED)
def test_chunked_captures_verify_with_every_check(libspdm_v12_v13_vectors: Path, capture: str) -> None:
    pcap = read_pcap(libspdm_v12_v13_vectors / capture / "requester.pcap")
    anchors = _anchors(libspdm_v12_v13_vectors, capture)
    result = verify_capture(pcap, anchors, secrets=_session_secrets(libspdm_v12_v13_vectors, capture))
    assert result.ok, result.first_failure
    assert {check.name for check in result.checks} >= _CHUNKED_CHECKS
    from spdm.capture import messages

    secured = {item.index for item in messages(pcap) if item.kind == "secured"}
    opened = {check.record for check in result.checks if check.name.startswith("secured record opens")}
    assert secured == opened


def test_any_altered_chunk_of_a_checked_large_response_fails_verification(libspdm_v12_v13_vectors: Path) -> None:
    """The last byte of each clear CHUNK_RESPONSE of a CERTIFICATE, MEASUREMENTS or KEY_EXCHANGE_RSP."""
    capture = _CHUNKED[0]
    pcap = read_pcap(libspdm_v12_v13_vectors / capture / "requester.pcap")
    anchors, secrets = _anchors(libspdm_v12_v13_vectors, capture), _session_secrets(libspdm_v12_v13_vectors, capture)
    from spdm.capture import messages

    checked, transfer = [], []
    for item in messages(pcap):
        if item.code == "CHUNK_RESPONSE":
            transfer.append(item)
        if item.carried is not None:
            if item.carried.message.name in {"CERTIFICATE", "MEASUREMENTS", "KEY_EXCHANGE_RSP"}:
                checked += transfer
            transfer = []
    assert len(checked) >= 20
    for item in checked:
        record = pcap.records[item.index - 1]
        data = bytearray(record.data)
        data[HEADER_SIZE + len(item.data) - 1] ^= 0x01
        records = list(pcap.records)
        records[item.index - 1] = PcapRecord(index=item.index, timestamp=record.timestamp, data=bytes(data))
        altered = Pcap(link_type=pcap.link_type, snaplen=pcap.snaplen, records=tuple(records))
        assert not verify_capture(altered, anchors, secrets=secrets).ok, f"record {item.index}"


def test_a_missing_chunk_fails_verification(libspdm_v12_v13_vectors: Path) -> None:
    """Records 19 and 20 (CHUNK_GET and CHUNK_RESPONSE, ChunkSeqNo 1 of slot 0's CERTIFICATE) left out."""
    capture = _CHUNKED[0]
    pcap = read_pcap(libspdm_v12_v13_vectors / capture / "requester.pcap")
    records = tuple(
        PcapRecord(index=number, timestamp=record.timestamp, data=record.data)
        for number, record in enumerate((r for r in pcap.records if r.index not in (19, 20)), start=1)
    )
    cut = Pcap(link_type=pcap.link_type, snaplen=pcap.snaplen, records=records)
    result = verify_capture(cut, _anchors(libspdm_v12_v13_vectors, capture))
    failure = result.first_failure
    assert failure is not None and failure.record == 20 and "ChunkSeqNo 2, expected 1" in failure.detail
