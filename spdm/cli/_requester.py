"""`spdm requester`: authenticate a device, read its measurements, open a session."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from spdm._report import (
    print_authentication,
    print_key_pair_info,
    print_measurements,
    print_mel,
    print_negotiated,
    print_session,
)
from spdm.capture import CaptureWriter, RecordingLink
from spdm.certs import load_certificate, load_certificates
from spdm.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Usage, read_file
from spdm.cli._identity import load_identity
from spdm.cli._recording import capture_writer, secrets_log
from spdm.cli._transfer import transfer_settings
from spdm.errors import DecodeError, SpdmError, VerificationError
from spdm.events import DMTF_DETAIL_SIZES, DMTF_REGISTRY, DmtfEventType
from spdm.measurements import Appraisal, ReferenceValues, appraise
from spdm.messages.codes import REQUEST_NEEDS, CapabilityFlags, Code
from spdm.messages.measurements import ALL_MEASUREMENTS
from spdm.messages.negotiation import version_text, versions_up_to
from spdm.negotiated import Negotiated
from spdm.requester import MeasurementResult, Requester, RequesterConfig, RequesterIdentity, Session
from spdm.transport.doe import DoeLink, DoeTransport
from spdm.transport.socket import DEFAULT_PORT, SocketLink

__all__ = ["Inputs", "run", "run_requester"]


@dataclass(frozen=True, slots=True)
class Inputs:
    """What the options name on disk, read before connecting, so that a usage error never reaches
    the device: the reference values and each --set-certificate chain."""

    reference: ReferenceValues | None = None
    chains: tuple[tuple[int, tuple[bytes, ...]], ...] = ()


def run_requester(link: DoeLink, config: RequesterConfig, args: argparse.Namespace, inputs: Inputs) -> int:
    """Authenticate (or, with --session psk, negotiate), then run what `args` asks for; every
    measurement read, in the clear and in the session, is appraised against `inputs.reference`."""
    requester = Requester(DoeTransport(link), config)
    mode = getattr(args, "session", None)
    result = None
    appraisals: list[Appraisal] = []
    try:
        if mode == "psk":
            _psk_preamble(requester, args.slot)
        else:
            result = requester.authenticate(args.slot, measurements=args.measurements, reference=inputs.reference)
            print_authentication(result, sys.stdout)
            if result.appraisal is not None:
                appraisals.append(result.appraisal)
        if args.mel:
            _read_mel(requester, None if result is None else result.measurements)
        if mode is not None:
            appraisals += _run_session(requester, mode, args.slot, args, inputs)
        else:
            _provision(requester, args, requester, inputs)
    except VerificationError as error:
        print(f"spdm requester: verification failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    except (SpdmError, ValueError) as error:  # ValueError: a request the options cannot make (a KeyPairID unknown)
        print(f"spdm requester: {error}", file=sys.stderr)
        return EXIT_USAGE
    if inputs.reference is not None and not appraisals:
        print("spdm requester: the device reported no measurements to appraise against the reference", file=sys.stderr)
        return EXIT_FAILED
    if not all(appraisal.ok for appraisal in appraisals):
        print("spdm requester: measurements do not match the reference values", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _psk_preamble(requester: Requester, slot: int) -> None:
    """VCA, and the slot's chain (validated) when the device signs measurements: PSK replaces CHALLENGE."""
    negotiated = requester.init_connection()
    print_negotiated(negotiated, sys.stdout)
    signs = negotiated.responder_flags & CapabilityFlags.CERT_CAP and negotiated.signs_measurements
    if signs and slot in requester.get_digests():
        requester.get_certificate(slot)
        chain = requester.verify_certificate(slot)
        print(f"certificate chain, slot {slot}: {len(chain.certificates)} certificates, verified")


def _read_mel(target: Requester | Session, measured: MeasurementResult | None, *, indent: str = "") -> None:
    """--mel: read the log, print it, and check it against `measured` when that read every block."""
    mel = target.get_measurement_extension_log()
    checked = mel.check(measured) if measured is not None and measured.operation == ALL_MEASUREMENTS else None
    print_mel(mel, checked, sys.stdout, indent=indent)


def _key_pair_of(requester: Requester, slot: int) -> int:
    """The KeyPairID a multi-key DIGESTS gave `slot` (what GET_CSR and SET_CERTIFICATE then name), else 0."""
    key = requester.connection.slot_keys.get(slot)
    return 0 if key is None else key.key_pair_id


def _provision(target: Requester | Session, args: argparse.Namespace, requester: Requester, inputs: Inputs) -> None:
    """--key-pair-info, --endpoint-info, --get-csr and --set-certificate, in the clear or inside the
    session, printing each step; on a multi-key connection GET_CSR is for the key pair of --slot and
    SET_CERTIFICATE names the slot's key pair."""
    for key_pair_id in args.key_pair_info:
        print_key_pair_info(target.get_key_pair_info(key_pair_id), sys.stdout)
    if args.endpoint_info is not None:
        info = target.get_endpoint_info(signed=args.endpoint_info == "signed", slot=args.slot)
        how = f"signature by slot {info.slot} verified" if info.signed else "unsigned"
        print(f"ENDPOINT_INFO: {len(info.ep_info)} bytes {info.ep_info.hex()} ({how})")
    if args.get_csr is not None:
        csr = target.get_csr(key_pair_id=_key_pair_of(requester, args.slot))
        try:
            Path(args.get_csr).write_bytes(csr)
        except OSError as error:
            raise Usage(f"cannot write the CSR to {args.get_csr}: {error.strerror or error}") from None
        print(f"GET_CSR: a {len(csr)}-byte CSR written to {args.get_csr}")
    for slot, certificates in inputs.chains:
        result = target.set_certificate(slot, certificates, key_pair_id=_key_pair_of(requester, slot))
        if result.reset_required:
            print(f"SET_CERTIFICATE: slot {slot}: ResetRequired, the chain takes effect once the device resets")
        else:
            print(f"SET_CERTIFICATE: slot {slot}: the chain of {len(certificates)} certificates is installed")


def _run_session(
    requester: Requester, mode: str, slot: int, args: argparse.Namespace, inputs: Inputs
) -> list[Appraisal]:
    """Open the session, exercise it and end it, printing each step; the appraisal of the measurements
    read inside it, when there is a reference and the device measures."""
    negotiated = requester.negotiated
    if negotiated is None:  # authenticate / the PSK preamble negotiated already
        raise Usage("the connection is not negotiated")
    session = requester.key_exchange(slot) if mode == "dhe" else requester.psk_exchange()
    print_session(session, negotiated, sys.stdout)
    with session:
        if negotiated.heartbeats:
            session.heartbeat()
            print("  heartbeat: acknowledged")
        else:
            print("  heartbeat: not sent (HBEAT_CAP is not set by both sides)")
        if negotiated.both(CapabilityFlags.KEY_UPD_CAP):
            session.key_update()
            print("  key update (UpdateKey): new request key verified")
            both = session.key_update(all_keys=True)
            kept = "both keys updated" if both else "the responder kept its key"
            print(f"  key update (UpdateAllKeys): new keys verified ({kept})")
        else:
            print("  key update: not sent (KEY_UPD_CAP is not set by both sides)")
        measured = None
        appraisals = []
        if negotiated.responder_measurement_cap:
            signed = negotiated.signs_measurements and slot in requester.verified
            measured = session.get_measurements(ALL_MEASUREMENTS, signed=signed, slot=slot)
            print_measurements(measured, sys.stdout, indent="  ")
            if inputs.reference is not None:
                appraisals.append(appraise(measured.blocks, inputs.reference))
                print(f"  {_appraisal_line(appraisals[-1])}")
        if args.mel:
            _read_mel(session, measured, indent="  ")
        if args.events:
            _events(session, negotiated)
        _provision(session, args, requester, inputs)
    print(f"  END_SESSION: acknowledged; session 0x{session.session_id:08x} closed")
    matches = all(appraisal.ok for appraisal in appraisals)
    print("result: session completed" + ("" if matches else "; measurements do not match the reference"))
    return appraisals


def _appraisal_line(a: Appraisal) -> str:
    """The appraisal's counts, as `print_authentication` prints them for the measurements read in the clear."""
    return (
        f"appraisal: {len(a.matched)} matched, {len(a.mismatched)} mismatched, "
        f"{len(a.missing)} missing, {len(a.unexpected)} unexpected"
    )


def _events(session: Session, negotiated: Negotiated) -> None:
    """--events: the device's event groups, a subscription to all of them, the events waiting. A
    device without EVENT_CAP is refused as GET_SUPPORTED_EVENT_TYPES is, like --mel without MEL_CAP."""
    groups = session.get_supported_event_types()
    for group in groups:
        types = ", ".join(_event_type_name(group.svh_id, entry.event_type_id) for entry in group.event_types)
        vendor = f" VendorID {group.svh_vendor_id.hex()}" if group.svh_vendor_id else ""
        print(f"  event group 0x{group.svh_id:02x}{vendor} version {group.event_group_ver}: {types}")
    session.subscribe_event_types(*groups)
    print(f"  SUBSCRIBE_EVENT_TYPES: subscribed to {len(groups)} event group(s)")
    if not negotiated.both(CapabilityFlags.ENCAP_CAP):
        print("  events: not fetched (no ENCAP_CAP on both sides)")
        return
    events = session.poll_events()
    print(f"  events waiting: {len(events)}, acknowledged")
    for event in events:
        name = _event_type_name(event.svh_id, event.event_type_id)
        print(f"    #{event.event_instance_id} {name}: {event.event_detail.hex() or '-'}")


def _event_type_name(svh_id: int, event_type_id: int) -> str:
    if svh_id == DMTF_REGISTRY and event_type_id in DMTF_DETAIL_SIZES:
        return DmtfEventType(event_type_id).name
    return f"type {event_type_id}"


def _requester_identities(args: argparse.Namespace) -> dict[int, RequesterIdentity]:
    if not args.mutual_auth:
        if args.req_cert_chain is not None or args.req_key is not None:
            raise Usage("--req-cert-chain and --req-key go with --mutual-auth")
        return {}
    if args.session != "dhe":
        raise Usage("--mutual-auth needs --session dhe")
    if args.req_cert_chain is None or args.req_key is None:
        raise Usage("--mutual-auth needs --req-cert-chain and --req-key")
    certificates, key = load_identity(args.req_cert_chain, args.req_key, "requester")
    identity = RequesterIdentity(certificates=certificates, private_key=key)
    return {0: identity}


def _requests_of(args: argparse.Namespace) -> list[tuple[str, Code]]:
    """Each option given that needs more than SPDM 1.0, with the request it makes (for
    --data-transfer-size, the chunking it enables)."""
    asked = (
        (args.session == "dhe", "--session dhe", Code.KEY_EXCHANGE),
        (args.session == "psk", "--session psk", Code.PSK_EXCHANGE),
        (args.mel, "--mel", Code.GET_MEASUREMENT_EXTENSION_LOG),
        (args.events, "--events", Code.GET_SUPPORTED_EVENT_TYPES),
        (args.endpoint_info is not None, "--endpoint-info", Code.GET_ENDPOINT_INFO),
        (bool(args.key_pair_info), "--key-pair-info", Code.GET_KEY_PAIR_INFO),
        (args.get_csr is not None, "--get-csr", Code.GET_CSR),
        (bool(args.set_certificate), "--set-certificate", Code.SET_CERTIFICATE),
        (args.data_transfer_size is not None, "--data-transfer-size", Code.CHUNK_GET),
    )
    return [(option, code) for given, option, code in asked if given]


def _check_options(args: argparse.Namespace, highest: int) -> None:
    """The options that contradict each other or would be ignored: each a usage error. `highest` is
    the highest SPDM version --version allows: an option whose request needs more (`REQUEST_NEEDS`)
    would fail, or be dropped, only after authentication."""
    if args.session is None:
        if args.psk is not None:
            raise Usage("--psk goes with --session psk")
        if args.events:
            raise Usage("--events needs --session (events exist only inside a session)")
    elif args.session == "psk" and args.psk is None:
        raise Usage("--session psk needs --psk")
    if args.psk_hint and args.psk is None:
        raise Usage("--psk-hint goes with --psk")
    if args.reference is not None and args.measurements is None:
        raise Usage("--reference appraises measurements: it does not go with --measurements none")
    for option, code in _requests_of(args):
        needed = REQUEST_NEEDS[code].version
        if needed > highest:
            raise Usage(
                f"{option} needs SPDM {version_text(needed)} ({code.name}); --version {version_text(highest)} "
                "rules that out"
            )


def _trust_anchor(path: str) -> bytes:
    """--root-cert: a DER certificate (`load_certificate` is what validating a chain parses it with)."""
    der = read_file(path, "root certificate")
    try:
        load_certificate(der)
    except ValueError as error:
        raise Usage(f"unusable --root-cert {path}: not a DER X.509 certificate ({error})") from None
    return der


def _inputs(args: argparse.Namespace) -> Inputs:
    """--reference and the --set-certificate chains, read; the --get-csr file, found writable."""
    reference = None
    if args.reference is not None:
        try:
            reference = ReferenceValues.load(args.reference)
        except DecodeError as error:
            raise Usage(str(error)) from None
    chains = []
    for slot, path in args.set_certificate:
        try:
            chains.append((slot, load_certificates(read_file(path, "certificate chain"))))
        except SpdmError as error:
            raise Usage(f"unusable --set-certificate chain {path}: {error}") from None
    if args.get_csr is not None:
        _check_writable(Path(args.get_csr))
    return Inputs(reference=reference, chains=tuple(chains))


def _check_writable(path: Path) -> None:
    """Open `path` for appending, as writing the CSR will (a file this creates is removed again)."""
    existed = path.exists()
    try:
        with path.open("ab"):
            pass
    except OSError as error:
        raise Usage(f"cannot write the CSR to {path}: {error.strerror or error}") from None
    if not existed:
        path.unlink()


def run(args: argparse.Namespace) -> int:
    try:
        versions = versions_up_to(args.version)
    except ValueError as error:
        raise Usage(str(error)) from None
    _check_options(args, max(versions))
    identities = _requester_identities(args)
    anchor = _trust_anchor(args.root_cert)
    inputs = _inputs(args)
    try:
        if args.session is None:
            config = RequesterConfig(versions=versions, trust_anchors={args.slot: anchor})
        else:
            config = RequesterConfig.with_sessions(
                versions=versions,
                trust_anchors={args.slot: anchor},
                psk=args.psk,
                psk_hint=args.psk_hint,
                identities=identities,
            )
    except ValueError as error:  # a value the options gave that no configuration takes (an empty PSK)
        raise Usage(str(error)) from None
    if args.events:  # the responder's SEND_EVENT comes as an encapsulated request
        config = replace(config, capabilities=config.capabilities | CapabilityFlags.ENCAP_CAP)
    config = replace(config, **transfer_settings(args, config.capabilities, config.limits.max_response_bytes))
    chain = identities[0].certificates if identities else ()
    log = secrets_log(args, psk=args.psk, requester_chain=chain)
    if log is not None:
        config = replace(config, on_dhe_secret=log.add_dhe_secret)
    writer = capture_writer(args)
    try:
        return _exchange(args, config, inputs, writer)
    finally:
        if writer is not None:
            writer.close()


def _exchange(args: argparse.Namespace, config: RequesterConfig, inputs: Inputs, writer: CaptureWriter | None) -> int:
    """Connect, run, and end the connection with SHUTDOWN or CONTINUE whatever happened before:
    spdm_responder_emu stops serving a client that just disconnects."""
    host, port = args.connect or ("127.0.0.1", DEFAULT_PORT)
    try:
        link = SocketLink(host, port)
    except SpdmError as error:
        print(f"spdm requester: {error}", file=sys.stderr)
        return EXIT_USAGE
    used: DoeLink = link
    if writer is not None:
        used = RecordingLink(link, writer)
    try:
        status = run_requester(used, config, args, inputs)
    finally:
        ending = _end(link, args.exe_mode)
    if ending is not None and status == EXIT_OK:  # after a failure its one line says enough
        print(f"spdm requester: {ending}", file=sys.stderr)
        return EXIT_USAGE
    return status


def _end(link: SocketLink, exe_mode: str) -> SpdmError | None:
    """SHUTDOWN or CONTINUE, which closes the link; nothing when a failure closed it already (a
    timeout). What went wrong is returned, not raised, so that it never hides an earlier error."""
    if link.closed:
        return None
    try:
        if exe_mode == "continue":
            link.continue_()
        else:
            link.shutdown()
    except SpdmError as error:
        return error
    return None
