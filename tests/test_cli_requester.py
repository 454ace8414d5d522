"""`spdm requester` against our responder in this process: what --reference appraises, the usage
errors found before connecting (a device never sees them), and how a run ends the connection."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from spdm import cli
from spdm.messages.codes import CapabilityFlags
from spdm.messages.measurements import DmtfMeasurement
from spdm.responder import Responder, ResponderConfig, demo_config
from spdm.transport.doe import MAX_DW_PADDING, DoeMailboxResponder
from spdm.transport.socket import (
    HEADER_SIZE,
    SERVER_HELLO,
    Command,
    SocketServer,
    SocketTransportType,
    frame,
    unpack_header,
)

PSK = b"cli requester psk"
HINT = b"cli hint"
_MEASURES = CapabilityFlags.MEAS_CAP_SIG | CapabilityFlags.MEAS_CAP_NO_SIG | CapabilityFlags.MEAS_FRESH_CAP


def _device(measures: bool = True) -> ResponderConfig:
    config = replace(demo_config(sessions=True, psks={HINT: PSK}), max_padding=MAX_DW_PADDING)
    if measures:
        return config
    return replace(config, measurements=None, capabilities=config.capabilities & ~_MEASURES)


def _reference(path: Path, config: ResponderConfig, *, wrong: int | None = None) -> Path:
    """The reference file of the demo device's measurements; index `wrong` expects another value."""
    assert config.measurements is not None
    values = {}
    for block in config.measurements.blocks():
        assert isinstance(block.measurement, DmtfMeasurement)
        value = block.measurement.value
        values[str(block.index)] = ("00" * len(value)) if block.index == wrong else value.hex()
    path.write_text(json.dumps({"measurements": values}))
    return path


@contextlib.contextmanager
def _serving(
    config: ResponderConfig, root: Path, requests: list[bytes] | None = None
) -> Iterator[tuple[SocketServer, list[str]]]:
    """The device on a loopback port, and the requester's arguments that reach it (its root written to
    `root`); each request it answers is added to `requests`."""
    root.write_bytes(config.slots[0].certificates[0])
    responder = Responder(config)

    def respond(request: bytes, session_id: int | None = None) -> bytes:
        if requests is not None:
            requests.append(request)
        return responder.respond(request, session_id)

    server = SocketServer(DoeMailboxResponder(respond), host="127.0.0.1", port=0).start()
    try:
        yield server, ["requester", "--connect", f"127.0.0.1:{server.port}", "--root-cert", str(root)]
    finally:
        server.stop(timeout=2)


_SESSIONS = {"psk": ["--session", "psk", "--psk", PSK.hex(), "--psk-hint", HINT.hex()], "dhe": ["--session", "dhe"]}


@pytest.mark.parametrize("session", ["psk", "dhe"])
def test_the_measurements_read_in_the_session_are_appraised(
    session: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --session psk the measurements are read inside the session alone: --reference was ignored
    there (exit 0 on a mismatch). With dhe the session's read is appraised as well as the first."""
    config = _device()
    with _serving(config, tmp_path / "root.der") as (_, base):
        run = [*base, *_SESSIONS[session], "--exe-mode", "continue", "--reference"]
        assert cli.main([*run, str(_reference(tmp_path / "good.json", config))]) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        assert "  appraisal: 5 matched, 0 mismatched, 0 missing, 0 unexpected\n" in out
        assert out.endswith("result: session completed\n")
        assert cli.main([*run, str(_reference(tmp_path / "bad.json", config, wrong=2))]) == 1
        captured = capsys.readouterr()
        assert "  appraisal: 4 matched, 1 mismatched, 0 missing, 0 unexpected\n" in captured.out
        assert captured.out.endswith("result: session completed; measurements do not match the reference\n")
        assert captured.err == "spdm requester: measurements do not match the reference values\n"


def test_a_session_step_the_device_does_not_offer_is_reported_as_not_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without HBEAT_CAP and KEY_UPD_CAP the session still completes, and the output says which steps were
    left out rather than passing over them in silence."""
    config = _device()
    config = replace(
        config, capabilities=config.capabilities & ~(CapabilityFlags.HBEAT_CAP | CapabilityFlags.KEY_UPD_CAP)
    )
    with _serving(config, tmp_path / "root.der") as (_, base):
        assert cli.main([*base, *_SESSIONS["dhe"], "--exe-mode", "continue"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "  heartbeat: not sent (HBEAT_CAP is not set by both sides)\n" in out
    assert "  key update: not sent (KEY_UPD_CAP is not set by both sides)\n" in out
    assert "acknowledged\n  key update" not in out and out.endswith("result: session completed\n")


@pytest.mark.parametrize("session", [None, "psk"])
def test_a_reference_for_a_device_that_measures_nothing_fails(
    session: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No MEAS_CAP: nothing is read, so nothing matches the reference (it was ignored: exit 0)."""
    reference = _reference(tmp_path / "reference.json", _device())
    with _serving(_device(measures=False), tmp_path / "root.der") as (_, base):
        extra = [] if session is None else _SESSIONS[session]
        assert cli.main([*base, *extra, "--exe-mode", "continue", "--reference", str(reference)]) == 1
        assert capsys.readouterr().err == (
            "spdm requester: the device reported no measurements to appraise against the reference\n"
        )


def _usage_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """Options refused before connecting, with what the one-line reason names."""
    reference = _reference(tmp_path / "reference.json", _device())
    garbage = tmp_path / "garbage.der"
    garbage.write_bytes(b"\x30\x03\x02\x01")
    missing = tmp_path / "missing"
    return {
        "reference missing": (["--reference", str(missing / "r.json")], "REFERENCE_VALUES"),
        "reference, nothing measured": (["--reference", str(reference), "--measurements", "none"], "none"),
        "pcap folder missing": (["--pcap", str(missing / "x.pcap")], "cannot write"),
        "key pair 0": (["--key-pair-info", "0"], "is not a KeyPairID (1..255)"),
        "key pair 256": (["--key-pair-info", "256"], "is not a KeyPairID (1..255)"),
        "chain missing": (["--set-certificate", f"0={missing / 'c.der'}"], "cannot read certificate chain"),
        "chain garbage": (["--set-certificate", f"0={garbage}"], "unusable --set-certificate chain"),
        "CSR folder missing": (["--get-csr", str(missing / "csr.der")], "cannot write the CSR"),
        "CSR into a folder": (["--get-csr", str(tmp_path)], "cannot write the CSR"),
        "root garbage": (["--root-cert", str(garbage)], "unusable --root-cert"),
        "hint without PSK": (["--psk-hint", "00"], "--psk-hint goes with --psk"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "reference missing",
        "reference, nothing measured",
        "pcap folder missing",
        "key pair 0",
        "key pair 256",
        "chain missing",
        "chain garbage",
        "CSR folder missing",
        "CSR into a folder",
        "root garbage",
        "hint without PSK",
    ],
)
def test_a_usage_error_never_reaches_the_device(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each was found after connecting and dropped the socket without SHUTDOWN or CONTINUE, which stops
    spdm_responder_emu (an unusable root even ran the whole exchange, then said "verification failed")."""
    options, reason = _usage_cases(tmp_path)[case]
    root = tmp_path / "root.der"
    root.write_bytes(_device().slots[0].certificates[0])
    with socket.create_server(("127.0.0.1", 0)) as device:
        address = f"127.0.0.1:{device.getsockname()[1]}"
        assert cli.main(["requester", "--connect", address, "--root-cert", str(root), *options]) == 2
        device.setblocking(False)
        with pytest.raises(BlockingIOError):
            device.accept()  # nothing connected
    assert reason in capsys.readouterr().err.splitlines()[-1]


def test_what_fails_after_connecting_still_ends_the_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that goes away (`spdm requester ... | head -1`) stops the run after the device answered:
    SHUTDOWN still goes out (the socket was just dropped, and exit 1 said "a verification failed")."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    with _serving(_device(), tmp_path / "root.der") as (server, base), open(write_end, "w", buffering=1) as gone:
        monkeypatch.setattr(sys, "stdout", gone)
        assert cli.main(base) == 0
        assert server.join(timeout=5), "the device got no SHUTDOWN"


def test_a_link_a_failure_closed_is_not_ended_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The device answers the hello and hangs up: one line, not a second "link ... is closed" one from
    trying SHUTDOWN on it."""
    root = tmp_path / "root.der"
    root.write_bytes(_device().slots[0].certificates[0])
    with socket.create_server(("127.0.0.1", 0)) as device:

        def hello_then_hang_up() -> None:
            connection, _ = device.accept()
            with connection:
                _, _, size = unpack_header(connection.recv(HEADER_SIZE, socket.MSG_WAITALL))
                connection.recv(size, socket.MSG_WAITALL)
                connection.sendall(frame(Command.TEST, SocketTransportType.PCI_DOE, SERVER_HELLO))
                connection.recv(HEADER_SIZE, socket.MSG_WAITALL)

        peer = threading.Thread(target=hello_then_hang_up)
        peer.start()
        address = f"127.0.0.1:{device.getsockname()[1]}"
        assert cli.main(["requester", "--connect", address, "--root-cert", str(root)]) == 2
        peer.join(timeout=5)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spdm requester: "), err


def _beyond_the_version(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """Options whose requests need a higher SPDM version than --version allows, with the refusal."""
    chain = tmp_path / "chain.der"
    chain.write_bytes(b"".join(_device().slots[0].certificates))
    return {
        "mel at 1.2": (["--version", "1.2", "--mel"], "--mel needs SPDM 1.3 (GET_MEASUREMENT_EXTENSION_LOG)"),
        "endpoint info at 1.2": (
            ["--version", "1.2", "--endpoint-info", "signed"],
            "--endpoint-info needs SPDM 1.3 (GET_ENDPOINT_INFO)",
        ),
        "key pair info at 1.2": (
            ["--version", "1.2", "--key-pair-info", "1"],
            "--key-pair-info needs SPDM 1.3 (GET_KEY_PAIR_INFO)",
        ),
        "events at 1.2": (
            ["--version", "1.2", "--session", "dhe", "--events"],
            "--events needs SPDM 1.3 (GET_SUPPORTED_EVENT_TYPES)",
        ),
        "CSR at 1.1": (
            ["--version", "1.1", "--get-csr", str(tmp_path / "csr.der")],
            "--get-csr needs SPDM 1.2 (GET_CSR)",
        ),
        "certificate at 1.1": (
            ["--version", "1.1", "--set-certificate", f"0={chain}"],
            "--set-certificate needs SPDM 1.2 (SET_CERTIFICATE)",
        ),
        "transfer size at 1.1": (
            ["--version", "1.1", "--data-transfer-size", "64"],
            "--data-transfer-size needs SPDM 1.2 (CHUNK_GET)",
        ),
        "DHE session at 1.0": (["--version", "1.0", "--session", "dhe"], "--session dhe needs SPDM 1.1 (KEY_EXCHANGE)"),
        "PSK session at 1.0": (
            ["--version", "1.0", *_SESSIONS["psk"]],
            "--session psk needs SPDM 1.1 (PSK_EXCHANGE)",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "mel at 1.2",
        "endpoint info at 1.2",
        "key pair info at 1.2",
        "events at 1.2",
        "CSR at 1.1",
        "certificate at 1.1",
        "transfer size at 1.1",
        "DHE session at 1.0",
        "PSK session at 1.0",
    ],
)
def test_an_option_the_version_rules_out_never_reaches_the_device(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each ran VCA, the certificates and CHALLENGE first, then failed (exit 2) or was dropped without a
    word (exit 0: --data-transfer-size at 1.1, --events at 1.2)."""
    options, reason = _beyond_the_version(tmp_path)[case]
    version = options[1]
    requests: list[bytes] = []
    with _serving(_device(), tmp_path / "root.der", requests) as (_, base):
        assert cli.main([*base, *options]) == 2
    assert requests == []
    assert capsys.readouterr().err == f"spdm requester: {reason}; --version {version} rules that out\n"


@pytest.mark.parametrize(
    ("option", "refusal"),
    [
        ("--events", "GET_SUPPORTED_EVENT_TYPES needs the responder's EVENT_CAP"),
        ("--mel", "GET_MEASUREMENT_EXTENSION_LOG needs the responder's MEL_CAP"),
        ("--key-pair-info", "GET_KEY_PAIR_INFO needs the responder's GET_KEY_PAIR_INFO_CAP"),
    ],
)
def test_an_option_the_device_lacks_the_capability_for_is_refused(
    option: str, refusal: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--events against a device without EVENT_CAP printed "events: none offered" and exited 0, where
    --mel and --key-pair-info without their capabilities exit 2 naming it: now all three do."""
    options = [option, "1"] if option == "--key-pair-info" else [option]
    with _serving(_device(), tmp_path / "root.der") as (_, base):
        assert cli.main([*base, "--exe-mode", "continue", "--session", "dhe", *options]) == 2
    captured = capsys.readouterr()
    assert "none offered" not in captured.out
    assert captured.err == f"spdm requester: {refusal}, which the device does not set\n"
