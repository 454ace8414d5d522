"""`spdm requester`: authenticate a device, read its measurements, open a session."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from spdm._report import (
    print_authentication,
    print_key_pair_info,
    print_measurements,
    print_mel,
    print_negotiated,
    print_session,
)
from spdm.capture import RecordingLink
from spdm.certs import load_certificates
from spdm.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Usage, read_file
from spdm.cli._identity import load_identity
from spdm.cli._recording import capture_writer, secrets_log
from spdm.cli._transfer import transfer_settings
from spdm.errors import DecodeError, SpdmError, VerificationError
from spdm.events import DMTF_DETAIL_SIZES, DMTF_REGISTRY, DmtfEventType
from spdm.measurements import ReferenceValues
from spdm.messages.codes import CapabilityFlags
from spdm.messages.key_pairs import MAX_KEY_PAIRS
from spdm.messages.measurements import ALL_MEASUREMENTS
from spdm.messages.negotiation import versions_up_to
from spdm.negotiated import Negotiated
from spdm.requester import MeasurementResult, Requester, RequesterConfig, RequesterIdentity, Session
from spdm.requester.event_recipient import offers_events
from spdm.transport.doe import DoeLink, DoeTransport
from spdm.transport.socket import DEFAULT_PORT, SocketLink

__all__ = ["run", "run_requester"]


def run_requester(link: DoeLink, config: RequesterConfig, args: argparse.Namespace) -> int:
    reference = None
    if args.reference is not None:
        try:
            reference = ReferenceValues.load(args.reference)
        except DecodeError as error:
            raise Usage(str(error)) from None
    requester = Requester(DoeTransport(link), config)
    mode = getattr(args, "session", None)
    result = None
    try:
        if mode == "psk":
            _psk_preamble(requester, args.slot)
        else:
            result = requester.authenticate(args.slot, measurements=args.measurements, reference=reference)
            print_authentication(result, sys.stdout)
        if args.mel:
            _read_mel(requester, None if result is None else result.measurements)
        if mode is not None:
            _run_session(requester, mode, args.slot, args)
        else:
            _provision(requester, args, requester)
    except VerificationError as error:
        print(f"spdm requester: verification failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    except (SpdmError, ValueError) as error:  # ValueError: a request the options cannot make (a KeyPairID unknown)
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


def _provision(target: Requester | Session, args: argparse.Namespace, requester: Requester) -> None:
    """--key-pair-info, --endpoint-info, --get-csr and --set-certificate, in the clear or inside the
    session, printing each step; on a multi-key connection GET_CSR is for the key pair of --slot and
    SET_CERTIFICATE names the slot's key pair."""
    for key_pair_id in args.key_pair_info:
        if not 1 <= key_pair_id <= MAX_KEY_PAIRS:
            raise Usage(f"--key-pair-info {key_pair_id}: a KeyPairID is 1..{MAX_KEY_PAIRS}")
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
    for slot, path in args.set_certificate:
        try:
            certificates = load_certificates(read_file(path, "certificate chain"))
        except SpdmError as error:
            raise Usage(f"unusable --set-certificate chain {path}: {error}") from None
        result = target.set_certificate(slot, certificates, key_pair_id=_key_pair_of(requester, slot))
        if result.reset_required:
            print(f"SET_CERTIFICATE: slot {slot}: ResetRequired, the chain takes effect once the device resets")
        else:
            print(f"SET_CERTIFICATE: slot {slot}: the chain of {len(certificates)} certificates is installed")


def _run_session(requester: Requester, mode: str, slot: int, args: argparse.Namespace) -> None:
    """Open the session, exercise it and end it, printing each step."""
    negotiated = requester.negotiated
    if negotiated is None:  # authenticate / the PSK preamble negotiated already
        raise Usage("the connection is not negotiated")
    session = requester.key_exchange(slot) if mode == "dhe" else requester.psk_exchange()
    print_session(session, negotiated, sys.stdout)
    with session:
        if negotiated.heartbeats:
            session.heartbeat()
            print("  heartbeat: acknowledged")
        if negotiated.both(CapabilityFlags.KEY_UPD_CAP):
            session.key_update()
            print("  key update (UpdateKey): new request key verified")
            both = session.key_update(all_keys=True)
            kept = "both keys updated" if both else "the responder kept its key"
            print(f"  key update (UpdateAllKeys): new keys verified ({kept})")
        measured = None
        if negotiated.responder_measurement_cap:
            signed = negotiated.signs_measurements and slot in requester.verified
            measured = session.get_measurements(ALL_MEASUREMENTS, signed=signed, slot=slot)
            print_measurements(measured, sys.stdout, indent="  ")
        if args.mel:
            _read_mel(session, measured, indent="  ")
        if args.events:
            _events(session, negotiated)
        _provision(session, args, requester)
    print(f"  END_SESSION: acknowledged; session 0x{session.session_id:08x} closed")
    print("result: session completed")


def _events(session: Session, negotiated: Negotiated) -> None:
    """--events: the device's event groups, a subscription to all of them, the events waiting."""
    if not offers_events(negotiated):
        print("  events: none offered (the device did not set EVENT_CAP at SPDM 1.3)")
        return
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


def run(args: argparse.Namespace) -> int:
    try:
        versions = versions_up_to(args.version)
    except ValueError as error:
        raise Usage(str(error)) from None
    anchor = read_file(args.root_cert, "root certificate")
    identities = _requester_identities(args)
    if args.session is None:
        if args.psk is not None:
            raise Usage("--psk goes with --session psk")
        if args.events:
            raise Usage("--events needs --session (events exist only inside a session)")
    elif args.session == "psk" and args.psk is None:
        raise Usage("--session psk needs --psk")
    chain = identities[0].certificates if identities else ()
    log = secrets_log(args, psk=args.psk, requester_chain=chain)
    reveal = None if log is None else log.add_dhe_secret
    try:
        if args.session is None:
            config = RequesterConfig(versions=versions, trust_anchors={args.slot: anchor}, on_dhe_secret=reveal)
        else:
            config = RequesterConfig.with_sessions(
                versions=versions,
                trust_anchors={args.slot: anchor},
                psk=args.psk,
                psk_hint=args.psk_hint,
                identities=identities,
                on_dhe_secret=reveal,
            )
    except ValueError as error:  # a value the options gave that no configuration takes (an empty PSK)
        raise Usage(str(error)) from None
    if args.events:  # the responder's SEND_EVENT comes as an encapsulated request
        config = replace(config, capabilities=config.capabilities | CapabilityFlags.ENCAP_CAP)
    config = replace(config, **transfer_settings(args, config.capabilities, config.limits.max_response_bytes))
    host, port = args.connect or ("127.0.0.1", DEFAULT_PORT)
    try:
        link = SocketLink(host, port)
    except SpdmError as error:
        print(f"spdm requester: {error}", file=sys.stderr)
        return EXIT_USAGE
    writer = None
    try:
        writer = capture_writer(args)
        recorded: DoeLink = link
        if writer is not None:
            recorded = RecordingLink(link, writer)
        status = run_requester(recorded, config, args)
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
