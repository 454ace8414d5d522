"""The `spdm` command: exit statuses, failure reporting, and that it prints nothing but its own output."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from spdm import cli
from spdm.capture import LINKTYPE_PCI_DOE, read_pcap, write_pcap
from spdm.cli import _responder
from spdm.messages.certificates import SLOT_COUNT
from spdm.messages.codes import BaseAsymAlgo
from spdm.messages.key_pairs import MAX_KEY_PAIRS
from spdm.messages.measurements import ALL_MEASUREMENTS
from spdm.messages.negotiation import MIN_DATA_TRANSFER_SIZE, SPDM_VERSIONS, version_text
from spdm.testing.pki import cached_key, make_chain
from spdm.transport.doe import DoeType, encode_object
from spdm.transport.socket import DEFAULT_PORT, SocketLink

OWN_VECTORS = Path(__file__).resolve().parents[1] / "vectors"
ROOT_P256 = str(OWN_VECTORS / "conn_ecdsap256_sha256/root.der")
ROOT_P384 = str(OWN_VECTORS / "conn_ecdsap384_sha384/root.der")


def _copy_with(source: Path, target: Path, index: int, offset: int, value: int) -> None:
    """Rewrite a capture with one byte of record `index` (1-based) set to `value`."""
    pcap = read_pcap(source)
    records = []
    for record in pcap.records:
        data = bytearray(record.data)
        if record.index == index:
            data[offset] = value
        records.append((record.timestamp, bytes(data)))
    write_pcap(target, pcap.link_type, records)


def test_dump_exit_0_and_json_lines(libspdm_vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["dump", "--json", str(libspdm_vectors / "b_conn_ecdsap256_sha256_v11/requester.pcap")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"index", "direction", "code"} <= set(rows[0])
    assert [row["code"] for row in rows[6:8]] == ["GET_VERSION", "VERSION"]


def test_dump_exit_1_names_the_failed_record(
    libspdm_vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.pcap"
    # record 8 is VERSION: DOE header (8 bytes), then "10 04 00 00 00 01 ..."; entry count 1 -> 9
    _copy_with(libspdm_vectors / "b_conn_ecdsap256_sha256_v11/requester.pcap", broken, 8, 8 + 5, 9)
    assert cli.main(["dump", str(broken)]) == 1
    captured = capsys.readouterr()
    assert "record 8" in captured.err and "VERSION" in captured.err
    assert "9 REQ->RSP" in captured.out  # the records after it are still shown


def test_dump_exit_2_for_unusable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["dump", str(tmp_path / "missing.pcap")]) == 2
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a pcap at all, not even close")
    assert cli.main(["dump", str(junk)]) == 2
    other = tmp_path / "ethernet.pcap"
    write_pcap(other, 1, [(0.0, b"\x00" * 14)])
    assert cli.main(["dump", str(other)]) == 2
    assert cli.main(["dump"]) == 2
    assert cli.main(["frobnicate"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_dump_of_a_written_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = tmp_path / "tiny.pcap"
    write_pcap(capture, LINKTYPE_PCI_DOE, [(1.0, bytes.fromhex("010001000300000010840000"))])
    assert cli.main(["dump", "--json", str(capture)]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row == {
        "index": 1,
        "direction": "request",
        "transport": "pci-doe",
        "kind": "spdm",
        "code": "GET_VERSION",
        "version": "1.0",
        "fields": {"param1": 0, "param2": 0},
    }


def test_python_dash_m_runs_the_command() -> None:
    result = subprocess.run([sys.executable, "-m", "spdm", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "dump" in result.stdout


def _strict_environment() -> dict[str, str]:
    """This environment with every warning turned into an error (`python -W error`)."""
    return {**os.environ, "PYTHONWARNINGS": "error"}


def _spdm(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spdm", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=_strict_environment(),
    )


@pytest.mark.parametrize("command", ["", "dump", "verify", "responder", "requester", "demo"])
def test_help_prints_only_the_help(command: str) -> None:
    result = _spdm(*command.split(), "--help")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith(f"usage: spdm {command}".rstrip())


def test_help_shows_the_default_port() -> None:
    for command in ("responder", "requester"):
        assert f"127.0.0.1:{DEFAULT_PORT}" in _spdm(command, "--help").stdout


def test_help_imports_no_dependency() -> None:
    """`spdm --help` loads the parser alone: subcommands import their modules when they run."""
    probe = (
        "import contextlib, io, sys\n"
        "from spdm.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'cryptography', 'construct', 'asn1crypto'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_dump_and_verify_print_only_their_own_output() -> None:
    folder = OWN_VECTORS / "dhe_ffdhe2048_aes256gcm_rsassa2048_sha256"
    capture, secrets = str(folder / "requester.pcap"), str(folder / "secrets.json")
    dumped = _spdm("dump", capture, "--secrets", secrets)
    assert dumped.returncode == 0, dumped.stderr
    assert dumped.stderr == ""
    assert "KEY_EXCHANGE_RSP" in dumped.stdout and "FINISH_RSP" in dumped.stdout
    verified = _spdm("verify", capture, "--root-cert", str(folder / "root.der"), "--secrets", secrets)
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr == ""
    assert verified.stdout.splitlines()[-1].startswith("verified: ")


def test_demo_authenticates_the_demo_responder() -> None:
    result = _spdm("demo")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "certificate chain, slot 0: 3 certificates, verified" in result.stdout
    assert "challenge: slot 0 signature verified" in result.stdout
    assert "measurements: 5 blocks, signature verified" in result.stdout
    assert result.stdout.rstrip().endswith("result: authenticated")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_responder(port: int, keys: Path, *options: str) -> subprocess.Popen[str]:
    """`spdm responder` on 127.0.0.1:`port` with the sample identity in `keys`, once it listens."""
    identity = ["--cert-chain", str(keys / "bundle_responder.certchain.der"), "--key", str(keys / "end_responder.key")]
    server = subprocess.Popen(
        [sys.executable, "-m", "spdm", "responder", "--listen", f"127.0.0.1:{port}", *identity, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_strict_environment(),
    )
    assert server.stdout is not None
    assert "listening on" in server.stdout.readline()
    return server


def test_the_demo_root_goes_to_a_new_file_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`spdm responder` writes the demo root into the temporary directory: never through a name another
    user could have placed there first (a symlink at a predictable name would have it overwrite the
    symlink's target)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    (tmp_path / f"spdm-demo-root-{os.getpid()}.der").symlink_to(victim)
    config = _responder._identity(cli._parser(["responder"]).parse_args(["responder"]))
    assert victim.read_bytes() == b"keep me"
    written = Path(capsys.readouterr().out.split()[-1])
    assert written.parent == tmp_path and not written.is_symlink()
    assert written.read_bytes() == config.slots[0].certificates[0]
    assert written.stat().st_mode & 0o077 == 0


def test_responder_and_requester_commands_over_a_real_socket(libspdm_vectors: Path, tmp_path: Path) -> None:
    keys = libspdm_vectors / "sample_key" / "ecp384"
    port = _free_port()
    server = _start_responder(port, keys)
    try:
        reference = tmp_path / "reference.json"
        root = str(keys / "ca.cert.der")
        # continue: the responder stays up for the next run
        first = _spdm("requester", "--connect", f"127.0.0.1:{port}", "--root-cert", root, "--exe-mode", "continue")
        assert first.returncode == 0, first.stderr
        assert first.stderr == ""
        assert "CN=DMTF libspdm ECP384 responder cert" in first.stdout
        assert "SPDM version 1.3\n" in first.stdout
        capped = _spdm(
            "requester",
            "--connect",
            f"127.0.0.1:{port}",
            "--root-cert",
            root,
            "--version",
            "1.1",
            "--exe-mode",
            "continue",
        )
        assert capped.returncode == 0, capped.stderr
        assert "SPDM version 1.1\n" in capped.stdout
        session = _spdm(
            "requester",
            "--connect",
            f"127.0.0.1:{port}",
            "--root-cert",
            root,
            "--session",
            "dhe",
            "--exe-mode",
            "continue",
        )
        assert session.returncode == 0, session.stderr
        assert session.stderr == ""
        assert session.stdout.rstrip().endswith("result: session completed")
        # a reference that does not match: exit 1
        reference.write_text(json.dumps({"measurements": {"1": "00" * 64}}))
        second = _spdm(
            "requester",
            "--connect",
            f"127.0.0.1:{port}",
            "--root-cert",
            root,
            "--reference",
            str(reference),
            "--exe-mode",
            "continue",
        )
        assert second.returncode == 1 and "MISMATCH" in second.stdout
        assert second.stdout.rstrip().endswith("result: authenticated; measurements do not match the reference")
        # the wrong root: exit 1; then shut the responder down
        wrong = _spdm(
            "requester",
            "--connect",
            f"127.0.0.1:{port}",
            "--root-cert",
            str(libspdm_vectors / "sample_key/ecp256/ca.cert.der"),
        )
        assert wrong.returncode == 1, wrong.stdout + wrong.stderr
        assert "verification failed" in wrong.stderr
        assert server.wait(timeout=10) == 0
        assert server.stderr is not None and server.stderr.read() == ""
    finally:
        server.kill()
        server.wait()


@pytest.mark.parametrize("command", ["requester", "responder"])
def test_a_version_this_library_does_not_speak_is_a_usage_error(command: str) -> None:
    extra = ["--root-cert", "none.der"] if command == "requester" else []
    result = _spdm(command, "--version", "1.9", *extra)
    assert result.returncode == 2
    assert "SPDM 1.9 is not one of 1.0, 1.1, 1.2" in result.stderr
    assert "is not MAJOR.MINOR" in _spdm(command, "--version", "12", *extra).stderr


@pytest.mark.parametrize("command", ["requester", "responder"])
@pytest.mark.parametrize(
    ("psk", "hint", "refusal"),
    [("", "", "a pre-shared key must not be empty"), ("00", "00" * 33, "a PSKHint is at most 32 bytes, got 33")],
)
def test_an_unusable_psk_is_a_usage_error(
    libspdm_vectors: Path, command: str, psk: str, hint: str, refusal: str
) -> None:
    """Refused by the configuration, reported in one line with exit status 2 (no traceback), before any connection."""
    root = str(libspdm_vectors / "sample_key/ecp384/ca.cert.der")
    where = ["--connect", f"127.0.0.1:{_free_port()}", "--root-cert", root, "--session", "psk"]
    if command == "responder":
        where = ["--listen", f"127.0.0.1:{_free_port()}"]
    result = _spdm(command, *where, "--psk", psk, "--psk-hint", hint)
    assert result.returncode == 2
    assert result.stderr == f"spdm {command}: {refusal}\n"


def test_requester_exit_2_when_nothing_listens(libspdm_vectors: Path) -> None:
    result = _spdm(
        "requester",
        "--connect",
        f"127.0.0.1:{_free_port()}",
        "--root-cert",
        str(libspdm_vectors / "sample_key/ecp384/ca.cert.der"),
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "spdm requester:" in result.stderr


def test_an_identity_whose_key_cannot_sign_is_a_usage_error(
    libspdm_vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "ed25519.pem"
    key.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    chain = str(libspdm_vectors / "sample_key/ecp384/bundle_responder.certchain.der")
    assert cli.main(["responder", "--listen", "127.0.0.1:0", "--cert-chain", chain, "--key", str(key)]) == 2
    assert "unusable responder identity: a " in capsys.readouterr().err
    root = str(libspdm_vectors / "sample_key/ecp384/ca.cert.der")
    arguments = ["--root-cert", root, "--session", "dhe", "--mutual-auth", "--req-cert-chain", chain]
    assert cli.main(["requester", *arguments, "--req-key", str(key)]) == 2
    assert "cannot sign SPDM messages" in capsys.readouterr().err


def test_provisioning_over_a_real_socket(libspdm_vectors: Path, tmp_path: Path) -> None:
    """`spdm responder --provisioning` with libspdm's sample identity; `spdm requester --get-csr` writes
    the device's CSR, `--set-certificate` installs a new chain for its key, and that chain then authenticates."""
    keys = libspdm_vectors / "sample_key" / "ecp384"
    key = serialization.load_pem_private_key((keys / "end_responder.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    issued = make_chain(
        BaseAsymAlgo.ECDSA_P384,
        keys=[cached_key(BaseAsymAlgo.ECDSA_P384, 80), cached_key(BaseAsymAlgo.ECDSA_P384, 81), key],
        name="provisioned",
    )
    new_chain, new_root, csr_file = tmp_path / "new.pem", tmp_path / "new_root.der", tmp_path / "device.csr"
    new_chain.write_bytes(b"".join(_pem(der) for der in issued.certificates_der))
    new_root.write_bytes(issued.root_der)
    port = _free_port()
    server = _start_responder(port, keys, "--provisioning")
    try:
        address = f"127.0.0.1:{port}"
        old_root = str(keys / "ca.cert.der")
        provisioning = ["--exe-mode", "continue", "--get-csr", str(csr_file), "--set-certificate", f"0={new_chain}"]
        provision = _spdm("requester", "--connect", address, "--root-cert", old_root, *provisioning)
        assert provision.returncode == 0, provision.stderr
        assert "SET_CERTIFICATE: slot 0: the chain of 3 certificates is installed" in provision.stdout
        csr = x509.load_der_x509_csr(csr_file.read_bytes())
        assert csr.is_signature_valid
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        assert csr.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)
        again = _spdm("requester", "--connect", address, "--root-cert", str(new_root))
        assert again.returncode == 0, again.stderr
        assert "CN=provisioned leaf" in again.stdout
        assert server.wait(timeout=10) == 0
    finally:
        server.kill()
        server.wait()


def test_key_pairs_over_a_real_socket(libspdm_vectors: Path) -> None:
    """`spdm responder --key-pairs` (SPDM 1.3, multi-key) and `spdm requester --key-pair-info`, in the clear
    and inside a session; a KeyPairID the device lacks is exit 2 naming the ERROR."""
    keys = libspdm_vectors / "sample_key" / "ecp384"
    port = _free_port()
    server = _start_responder(port, keys, "--key-pairs")
    try:
        address, root = f"127.0.0.1:{port}", str(keys / "ca.cert.der")
        in_clear = ["--exe-mode", "continue", "--key-pair-info", "1"]
        read = _spdm("requester", "--connect", address, "--root-cert", root, *in_clear)
        assert read.returncode == 0, read.stderr
        assert "key pair 1 of 1: ECC384, usage KEY_EXCHANGE|CHALLENGE|MEASUREMENT|ENDPOINT_INFO, slots 0" in read.stdout
        in_session = ["--session", "dhe", "--exe-mode", "continue", "--key-pair-info", "1"]
        session = _spdm("requester", "--connect", address, "--root-cert", root, *in_session)
        assert session.returncode == 0, session.stderr
        assert "key pair 1 of 1: ECC384" in session.stdout and "END_SESSION" in session.stdout
        unknown = _spdm("requester", "--connect", address, "--root-cert", root, "--key-pair-info", "2")
        assert unknown.returncode == 2 and "InvalidRequest" in unknown.stderr
        assert server.wait(timeout=10) == 0
    finally:
        server.kill()
        server.wait()


def _pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def test_the_clis_literals_are_the_librarys_constants() -> None:
    """`spdm --help` imports no protocol module, so the CLI states these itself: they must stay the library's."""
    assert cli._SLOT_COUNT == SLOT_COUNT
    assert cli._ALL_MEASUREMENTS == ALL_MEASUREMENTS
    assert cli._MIN_DATA_TRANSFER_SIZE == MIN_DATA_TRANSFER_SIZE
    assert cli._MAX_KEY_PAIRS == MAX_KEY_PAIRS
    assert all(cli._version_byte(version_text(version)) == version for version in SPDM_VERSIONS)


def test_responder_pcap_cuts_an_object_over_the_snaplen(libspdm_vectors: Path, tmp_path: Path) -> None:
    """`spdm responder --pcap` raised EncodeError on a 70,012-byte object and discarded it: the device
    answered differently for being recorded. Now the record is cut as spdm-emu cuts it; `spdm dump` shows
    it as a record that does not decode (exit 1), `spdm verify` fails on it (exit 1)."""
    keys = libspdm_vectors / "sample_key" / "ecp384"
    port, pcap = _free_port(), tmp_path / "big.pcap"
    server = _start_responder(port, keys, "--pcap", str(pcap))
    try:
        big = encode_object(DoeType.CMA_SPDM, bytes.fromhex("10840000") + bytes(70000))
        link = SocketLink("127.0.0.1", port)
        assert link.exchange_object(big)[8:12] == bytes.fromhex("107f0100")  # ERROR InvalidRequest
        link.shutdown()
        assert server.wait(timeout=10) == 0
        assert server.stderr is not None and server.stderr.read() == ""
    finally:
        server.kill()
        server.wait()
    dumped = _spdm("dump", str(pcap))
    assert dumped.returncode == 1
    cut = "PCAP.orig_len: record 1: only 65536 of 70012 bytes were captured"
    assert f"1 ? pci-doe OTHER () ERROR: {cut}\n2 RSP->REQ pci-doe SPDM(1.0) ERROR" in dumped.stdout
    assert dumped.stderr.startswith("spdm dump: record 1 did not decode: ")
    verified = _spdm("verify", str(pcap), "--root-cert", str(keys / "ca.cert.der"))
    assert verified.returncode == 1 and "record 1" in verified.stderr


@pytest.mark.parametrize("command", ["dump", "verify"])
def test_a_file_that_is_no_capture_fails_at_its_header(command: str) -> None:
    """/dev/zero was read whole before its magic was looked at: a MemoryError traceback (exit 1)."""
    arguments = [sys.executable, "-m", "spdm", command, "/dev/zero"]
    if command == "verify":
        arguments += ["--root-cert", str(OWN_VECTORS / "conn_ecdsap256_sha256/root.der")]
    two_gib = 2 << 30
    result = subprocess.run(
        arguments,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (two_gib, two_gib)),
    )
    assert result.returncode == 2, result.stderr[-300:]
    refusal = "PCAP.magic: 0x00000000 is not a classic pcap magic"
    assert result.stderr == f"spdm {command}: /dev/zero is not a usable capture: {refusal}\n"


def test_a_sidecar_nested_too_deep_is_a_usage_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    result = _spdm("dump", str(OWN_VECTORS / "conn_ecdsap256_sha256/requester.pcap"), "--secrets", str(deep))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"spdm dump: unusable --secrets {deep}: ")


@pytest.mark.parametrize(
    ("arguments", "status"),
    [
        (["dump", str(OWN_VECTORS / "conn_ecdsap256_sha256/requester.pcap")], 0),
        (["verify", str(OWN_VECTORS / "conn_ecdsap256_sha256/requester.pcap"), "--root-cert", ROOT_P256], 0),
        (["verify", str(OWN_VECTORS / "conn_ecdsap256_sha256/requester.pcap"), "--root-cert", ROOT_P384], 1),
    ],
)
def test_a_reader_that_goes_away_is_no_failure(
    arguments: list[str], status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`spdm dump x | head`: exit 1 said "a record did not decode". Now 0, as `head` expects, unless the
    command found a failure (a verification that failed stays 1)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "w", buffering=1) as gone:
        monkeypatch.setattr(sys, "stdout", gone)
        assert cli.main(arguments) == status


def test_json_records_with_no_message_are_as_the_readme_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record that does not unwrap, one cut short, a foreign DOE object and an SPDM message that does not
    decode: no `fields`; `error` for the three that fail; kind `other`, code `OTHER`, direction null
    for the first three."""
    capture = tmp_path / "odd.pcap"
    garbage = encode_object(DoeType.CMA_SPDM, bytes.fromhex("10840000"))[:6]
    big = encode_object(DoeType.CMA_SPDM, bytes(70000))
    foreign = encode_object(7, b"")
    undecoded = encode_object(DoeType.CMA_SPDM, bytes.fromhex("10840000ff"))
    write_pcap(capture, LINKTYPE_PCI_DOE, [(1.0, garbage), (2.0, big), (3.0, foreign), (4.0, undecoded)])
    assert cli.main(["dump", "--json", str(capture)]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    common = {"index", "direction", "transport", "kind", "code"}
    assert [set(row) for row in rows] == [common | {"error"}, common | {"error"}, common, common | {"error"}]
    assert [(row["kind"], row["code"], row["direction"]) for row in rows] == [
        ("other", "OTHER", None),
        ("other", "OTHER", None),
        ("other", "OTHER", None),
        ("spdm", "UNDECODED", "request"),
    ]


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (["--psk-hint", "00"], "--psk-hint goes with --psk"),
        (["--req-root-cert", ROOT_P256], "--req-root-cert goes with --mutual-auth"),
        (["--mutual-auth", "digests"], "--mutual-auth digests needs --req-root-cert"),
    ],
)
def test_responder_options_that_would_be_ignored_are_usage_errors(options: list[str], reason: str) -> None:
    """They were accepted and ignored: the responder served without them."""
    result = _spdm("responder", "--listen", f"127.0.0.1:{_free_port()}", *options, timeout=15)
    assert result.returncode == 2
    assert result.stderr.startswith(f"spdm responder: {reason}") and result.stderr.count("\n") == 1
