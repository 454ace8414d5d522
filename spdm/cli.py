"""The `spdm` command line: one subcommand per job.

Exit statuses: 0 success; 1 a failed verification (or a capture record that did not decode);
2 a protocol, connection or usage error, with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from spdm import dump
from spdm._report import print_authentication, print_measurements, print_negotiated, print_session
from spdm.capture import (
    LINKTYPE_PCI_DOE,
    CaptureSecrets,
    CaptureWriter,
    RecordingLink,
    SecretsLog,
    read_pcap,
    tap_objects,
)
from spdm.certs import load_certificates
from spdm.errors import DecodeError, SpdmError, VerificationError
from spdm.measurements import ReferenceValues
from spdm.messages.codes import CapabilityFlags
from spdm.requester import Requester, RequesterConfig, RequesterIdentity
from spdm.responder import Responder, ResponderConfig, SlotIdentity, demo_config
from spdm.session.replay import ReplaySecrets
from spdm.transport.doe import DoeLink, DoeMailboxResponder, DoeTransport
from spdm.transport.socket import DEFAULT_PORT, SocketLink, SocketServer
from spdm.verify import verify_capture

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
_DOE_PADDING = 3


class _Usage(Exception):
    """A usage problem found after parsing (bad file, bad address): exit 2 with its message."""


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def _measurement_choice(text: str) -> int | None:
    if text == "all":
        return 0xFF
    if text == "none":
        return None
    try:
        index = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use all, none or an index 1..254") from None
    if not 1 <= index <= 0xFE:
        raise argparse.ArgumentTypeError(f"index {index} is not within 1..254")
    return index


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spdm", description="DMTF SPDM 1.1 / PCIe CMA tools")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("dump", help="decode a pcap capture (spdm-emu format) and print every message")
    p.add_argument("capture", help="pcap file (link type 292 PCI DOE or 291 MCTP)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    _secret_arguments(p)

    p = commands.add_parser("verify", help="check a captured connection: transcripts, chains, signatures")
    p.add_argument("capture", help="pcap file as spdm-emu writes it")
    p.add_argument("--root-cert", required=True, help="DER root certificate of slot 0")
    p.add_argument("--slot-root", action="append", default=[], metavar="N=DER", help="root of another slot")
    _secret_arguments(p)

    p = commands.add_parser("responder", help="serve an SPDM responder over the spdm-emu socket protocol")
    p.add_argument("--listen", type=_address, default=("127.0.0.1", DEFAULT_PORT), metavar="HOST:PORT")
    p.add_argument("--transport", choices=["doe"], default="doe")
    p.add_argument("--cert-chain", help="certificates, root first: concatenated DER or PEM")
    p.add_argument("--key", help="the leaf's private key (PEM)")
    p.add_argument("--psk", type=_hex, help="a pre-shared key for PSK sessions (hex)")
    p.add_argument("--psk-hint", type=_hex, default=b"", help="the PSKHint naming --psk (hex; default: none)")
    p.add_argument(
        "--mutual-auth",
        nargs="?",
        const="encapsulated",
        choices=["encapsulated", "basic"],
        help="ask for mutual authentication in KEY_EXCHANGE_RSP: encapsulated (0x02, the default) or basic (0x01)",
    )
    p.add_argument("--req-root-cert", help="DER root certificate of the requester's chain (mutual authentication)")
    p.add_argument("--req-cert-chain", help="the requester's certificates, root first (--mutual-auth basic)")
    _recording_arguments(p)

    p = commands.add_parser("requester", help="authenticate a device and read its measurements")
    p.add_argument("--connect", type=_address, default=("127.0.0.1", DEFAULT_PORT), metavar="HOST:PORT")
    p.add_argument("--transport", choices=["doe"], default="doe")
    p.add_argument("--root-cert", required=True, help="DER root certificate of the slot")
    p.add_argument("--slot", type=int, default=0, choices=range(8))
    p.add_argument("--measurements", type=_measurement_choice, default=0xFF, metavar="all|N|none")
    p.add_argument("--reference", help="reference values (JSON) to appraise the measurements against")
    p.add_argument("--exe-mode", choices=["shutdown", "continue"], default="shutdown")
    p.add_argument(
        "--session",
        choices=["dhe", "psk"],
        help="then open a session (dhe: KEY_EXCHANGE after authentication; psk: PSK_EXCHANGE instead of it), "
        "run HEARTBEAT, KEY_UPDATE and a measurement read inside it, and end it",
    )
    p.add_argument("--psk", type=_hex, help="the pre-shared key of --session psk (hex)")
    p.add_argument("--psk-hint", type=_hex, default=b"", help="the PSK hint that names it (hex)")
    p.add_argument("--mutual-auth", action="store_true", help="offer mutual authentication with the identity below")
    p.add_argument("--req-cert-chain", help="the requester's certificates, root first (DER or PEM)")
    p.add_argument("--req-key", help="the requester leaf's private key (PEM)")
    _recording_arguments(p)

    commands.add_parser("demo", help="run a responder with the demo identity and authenticate it")
    return parser


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not hex") from None


def _recording_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pcap", metavar="FILE", help="record every DOE object exchanged, as spdm-emu's --pcap does (link type 292)"
    )
    parser.add_argument(
        "--secrets",
        metavar="FILE",
        help="write the secrets that decrypt the sessions (PSK, DHE shared secrets, requester chain) to FILE "
        "as JSON: anyone holding FILE can read the sessions",
    )


def _secret_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--psk", type=_hex, help="the pre-shared key of PSK sessions (hex)")
    parser.add_argument(
        "--dhe-secret", type=_hex, action="append", default=[], help="a DHE shared secret (hex), one per session"
    )
    parser.add_argument("--req-cert-chain", help="the requester's certificates (mutual authentication), root first")
    parser.add_argument(
        "--secrets",
        metavar="FILE",
        help="the JSON sidecar that `spdm requester|responder --secrets FILE` wrote (instead of the three above)",
    )


def _secrets(args: argparse.Namespace) -> ReplaySecrets | None:
    """The session secrets given on the command line or in a sidecar file; None when there are none."""
    if args.secrets is not None:
        return _sidecar_secrets(args)
    requester: tuple[bytes, ...] = ()
    if args.req_cert_chain is not None:
        try:
            requester = load_certificates(_read(args.req_cert_chain, "requester certificate chain"))
        except SpdmError as error:
            raise _Usage(f"unusable --req-cert-chain: {error}") from None
    if args.psk is None and not args.dhe_secret and not requester:
        return None
    return ReplaySecrets(dhe_secrets=tuple(args.dhe_secret), psk=args.psk, requester_certificates=requester)


def _sidecar_secrets(args: argparse.Namespace) -> ReplaySecrets:
    if args.psk is not None or args.dhe_secret or args.req_cert_chain is not None:
        raise _Usage("--secrets replaces --psk, --dhe-secret and --req-cert-chain: give one or the other")
    try:
        sidecar = CaptureSecrets.from_json(_read(args.secrets, "secrets file"))
    except DecodeError as error:
        raise _Usage(f"unusable --secrets {args.secrets}: {error}") from None
    return ReplaySecrets(
        dhe_secrets=sidecar.dhe_secrets, psk=sidecar.psk, requester_certificates=sidecar.requester_chain
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    try:
        if args.command == "dump":
            return dump.run(args.capture, as_json=args.json, out=sys.stdout, err=sys.stderr, secrets=_secrets(args))
        if args.command == "verify":
            return _verify(args)
        if args.command == "responder":
            return _responder(args)
        if args.command == "requester":
            return _requester(args)
        return _demo()
    except _Usage as problem:
        print(f"spdm {args.command}: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # the reader went away (`spdm dump x | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise _Usage(f"cannot read {what} {path}: {error.strerror or error}") from None


# --- verify ----------------------------------------------------------------------------------


def _verify(args: argparse.Namespace) -> int:
    anchors = {0: _read(args.root_cert, "root certificate")}
    for item in args.slot_root:
        slot, _, path = item.partition("=")
        if not slot.isdigit() or not 0 <= int(slot) <= 7 or not path:
            raise _Usage(f"--slot-root {item!r}: use N=FILE with N in 0..7")
        anchors[int(slot)] = _read(path, "root certificate")
    try:
        pcap = read_pcap(args.capture)
    except OSError as error:
        raise _Usage(f"cannot read {args.capture}: {error.strerror or error}") from None
    except DecodeError as error:
        raise _Usage(f"{args.capture} is not a usable capture: {error}") from None
    try:
        result = verify_capture(pcap, anchors, secrets=_secrets(args))
    except DecodeError as error:
        raise _Usage(f"{args.capture}: {error}") from None
    for check in result.checks:
        print(check)
    if result.skipped_secured:
        print(f"skipped: {result.skipped_secured} secured records (session traffic is not checked here)")
    if result.ok:
        print(f"verified: {sum(c.ok for c in result.checks)} checks passed")
        return EXIT_OK
    failure = result.first_failure
    print(f"FAILED: {failure if failure else 'nothing in the capture could be checked'}", file=sys.stderr)
    return EXIT_FAILED


# --- recording -------------------------------------------------------------------------------


def _capture_writer(args: argparse.Namespace) -> CaptureWriter | None:
    if args.pcap is None:
        return None
    try:
        return CaptureWriter(args.pcap, LINKTYPE_PCI_DOE)
    except OSError as error:
        raise _Usage(f"cannot write {args.pcap}: {error.strerror or error}") from None


def _secrets_log(
    args: argparse.Namespace, *, psk: bytes | None, requester_chain: tuple[bytes, ...] = ()
) -> SecretsLog | None:
    if args.secrets is None:
        return None
    try:
        log = SecretsLog(args.secrets, psk=psk, psk_hint=args.psk_hint, requester_chain=requester_chain)
    except OSError as error:
        raise _Usage(f"cannot write {args.secrets}: {error.strerror or error}") from None
    print(f"session secrets go to {args.secrets}: anyone holding it can decrypt the sessions", file=sys.stderr)
    return log


# --- responder -------------------------------------------------------------------------------


def _session_settings(args: argparse.Namespace) -> dict[str, object]:
    """The session options of `spdm responder`: PSK, mutual authentication and the requester's identity."""
    settings: dict[str, object] = {}
    if args.psk is not None:
        settings["psk"] = {args.psk_hint: args.psk}
    if args.req_root_cert is not None:
        settings["requester_trust_anchors"] = {0: _read(args.req_root_cert, "requester root certificate")}
    if args.req_cert_chain is not None:
        try:
            settings["requester_chain"] = load_certificates(_read(args.req_cert_chain, "requester certificate chain"))
        except SpdmError as error:
            raise _Usage(f"unusable --req-cert-chain: {error}") from None
    if args.mutual_auth == "encapsulated" and args.req_root_cert is None:
        raise _Usage("--mutual-auth encapsulated needs --req-root-cert")
    if args.mutual_auth == "basic" and args.req_cert_chain is None:
        raise _Usage("--mutual-auth basic needs --req-cert-chain")
    settings["mutual_auth"] = args.mutual_auth
    return settings


def _identity(args: argparse.Namespace) -> ResponderConfig:
    sessions = _session_settings(args)
    chain = sessions.get("requester_chain", ())
    known = chain if args.mutual_auth == "basic" and isinstance(chain, tuple) else ()  # else it crosses the wire
    log = _secrets_log(args, psk=args.psk, requester_chain=known)
    if log is not None:
        sessions["on_dhe_secret"] = log.add_dhe_secret
    if args.cert_chain is None and args.key is None:
        config = _configure(transport_padding=_DOE_PADDING, **sessions)
        root = Path(tempfile.gettempdir()) / f"spdm-demo-root-{os.getpid()}.der"
        root.write_bytes(config.slots[0].certificates[0])
        print(f"demo identity: root certificate written to {root}")
        return config
    if args.cert_chain is None or args.key is None:
        raise _Usage("--cert-chain and --key go together")
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        certificates = load_certificates(_read(args.cert_chain, "certificate chain"))
        key = load_pem_private_key(_read(args.key, "private key"), password=None)
        slot = SlotIdentity(certificates=certificates, private_key=key)  # type: ignore[arg-type]
    except (SpdmError, ValueError, TypeError) as error:
        raise _Usage(f"unusable identity: {error}") from None
    return _configure(slots={0: slot}, transport_padding=_DOE_PADDING, **sessions)


def _configure(**settings: object) -> ResponderConfig:
    """A session-capable demo configuration with `settings`; a contradiction is a usage error."""
    try:
        return demo_config(sessions=True, **settings)
    except ValueError as error:
        raise _Usage(str(error)) from None


def _responder(args: argparse.Namespace) -> int:
    responder = Responder(_identity(args))
    host, port = args.listen
    writer = _capture_writer(args)
    serve = DoeMailboxResponder(responder.respond)
    try:
        try:
            server = SocketServer(serve if writer is None else tap_objects(serve, writer), host=host, port=port)
        except SpdmError as error:
            raise _Usage(str(error)) from None
        print(f"listening on {server.host}:{server.port} (PCI DOE over the spdm-emu socket protocol)", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: server.stop(timeout=0))
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            server.stop(timeout=1)
    finally:
        if writer is not None:
            writer.close()
    return EXIT_OK


# --- requester -------------------------------------------------------------------------------


def _run_requester(link: DoeLink, config: RequesterConfig, args: argparse.Namespace) -> int:
    reference = None
    if args.reference is not None:
        try:
            reference = ReferenceValues.load(args.reference)
        except DecodeError as error:
            raise _Usage(str(error)) from None
    requester = Requester(DoeTransport(link), config)
    mode = getattr(args, "session", None)
    result = None
    try:
        if mode == "psk":
            _psk_preamble(requester, args.slot)
        else:
            result = requester.authenticate(args.slot, measurements=args.measurements, reference=reference)
            print_authentication(result, sys.stdout)
        if mode is not None:
            _run_session(requester, mode, args.slot)
    except VerificationError as error:
        print(f"spdm requester: verification failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    except SpdmError as error:
        print(f"spdm requester: {error}", file=sys.stderr)
        return EXIT_USAGE
    if result is not None and result.appraisal is not None and not result.appraisal.ok:
        print("spdm requester: measurements do not match the reference values", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _psk_preamble(requester: Requester, slot: int) -> None:
    """VCA, and the slot's chain (validated) when the device signs measurements: PSK replaces CHALLENGE."""
    negotiated = requester.init_connection()
    print_negotiated(negotiated, sys.stdout)
    signs = negotiated.responder_flags & CapabilityFlags.CERT_CAP and negotiated.responder_measurement_cap == 2
    if signs and slot in requester.get_digests():
        requester.get_certificate(slot)
        chain = requester.verify_certificate(slot)
        print(f"certificate chain, slot {slot}: {len(chain.certificates)} certificates, verified")


def _run_session(requester: Requester, mode: str, slot: int) -> None:
    """Open the session, exercise it and end it, printing each step."""
    negotiated = requester.negotiated
    if negotiated is None:  # authenticate / the PSK preamble negotiated already
        raise _Usage("the connection is not negotiated")
    session = requester.key_exchange(slot) if mode == "dhe" else requester.psk_exchange()
    print_session(session, negotiated, sys.stdout)
    with session:
        if negotiated.both(CapabilityFlags.HBEAT_CAP):
            session.heartbeat()
            print("  heartbeat: acknowledged")
        if negotiated.both(CapabilityFlags.KEY_UPD_CAP):
            session.key_update()
            print("  key update (UpdateKey): new request key verified")
            both = session.key_update(all_keys=True)
            kept = "both keys updated" if both else "the responder kept its key"
            print(f"  key update (UpdateAllKeys): new keys verified ({kept})")
        cap = negotiated.responder_measurement_cap
        if cap:
            measured = session.get_measurements(0xFF, signed=cap == 2 and slot in requester.verified, slot=slot)
            print_measurements(measured, sys.stdout, indent="  ")
    print(f"  END_SESSION: acknowledged; session 0x{session.session_id:08x} closed")
    print("result: session completed")


def _requester_identities(args: argparse.Namespace) -> dict[int, RequesterIdentity]:
    if not args.mutual_auth:
        if args.req_cert_chain is not None or args.req_key is not None:
            raise _Usage("--req-cert-chain and --req-key go with --mutual-auth")
        return {}
    if args.session != "dhe":
        raise _Usage("--mutual-auth needs --session dhe")
    if args.req_cert_chain is None or args.req_key is None:
        raise _Usage("--mutual-auth needs --req-cert-chain and --req-key")
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        certificates = load_certificates(_read(args.req_cert_chain, "requester certificate chain"))
        key = load_pem_private_key(_read(args.req_key, "requester private key"), password=None)
        identity = RequesterIdentity(certificates=certificates, private_key=key)  # type: ignore[arg-type]
    except (SpdmError, ValueError, TypeError) as error:
        raise _Usage(f"unusable requester identity: {error}") from None
    return {0: identity}


def _requester(args: argparse.Namespace) -> int:
    anchor = _read(args.root_cert, "root certificate")
    identities = _requester_identities(args)
    if args.session is None:
        if args.psk is not None:
            raise _Usage("--psk goes with --session psk")
    elif args.session == "psk" and args.psk is None:
        raise _Usage("--session psk needs --psk")
    chain = identities[0].certificates if identities else ()
    log = _secrets_log(args, psk=args.psk, requester_chain=chain)
    reveal = None if log is None else log.add_dhe_secret
    if args.session is None:
        config = RequesterConfig(trust_anchors={args.slot: anchor}, on_dhe_secret=reveal)
    else:
        config = RequesterConfig.with_sessions(
            trust_anchors={args.slot: anchor},
            psk=args.psk,
            psk_hint=args.psk_hint,
            identities=identities,
            on_dhe_secret=reveal,
        )
    host, port = args.connect
    try:
        link = SocketLink(host, port)
    except SpdmError as error:
        print(f"spdm requester: {error}", file=sys.stderr)
        return EXIT_USAGE
    writer = None
    try:
        writer = _capture_writer(args)
        status = _run_requester(link if writer is None else RecordingLink(link, writer), config, args)
        if args.exe_mode == "continue":
            link.continue_()
        else:
            link.shutdown()
    except SpdmError as error:
        print(f"spdm requester: {error}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        link.close()
        if writer is not None:
            writer.close()
    return status


# --- demo ------------------------------------------------------------------------------------


def _demo() -> int:
    config = demo_config(transport_padding=_DOE_PADDING)
    responder = Responder(config)
    server = SocketServer(DoeMailboxResponder(responder.respond), host="127.0.0.1", port=0).start()
    print(f"demo responder on 127.0.0.1:{server.port}; authenticating it over PCI DOE")
    try:
        args = argparse.Namespace(slot=0, measurements=0xFF, reference=None)
        anchors = {0: config.slots[0].certificates[0]}
        link = SocketLink("127.0.0.1", server.port)
        try:
            status = _run_requester(link, RequesterConfig(trust_anchors=anchors), args)
            link.shutdown()
        finally:
            link.close()
    finally:
        server.stop(timeout=2)
    return status
