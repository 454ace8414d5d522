"""`spdm responder`: serve an SPDM responder over the spdm-emu socket protocol."""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
from dataclasses import replace

from spdm.capture import tap_objects
from spdm.certs import load_certificates
from spdm.cli._common import EXIT_OK, Usage, read_file
from spdm.cli._identity import load_identity
from spdm.cli._recording import capture_writer, secrets_log
from spdm.cli._transfer import transfer_settings
from spdm.errors import SpdmError
from spdm.messages.negotiation import versions_up_to
from spdm.responder import (
    KEY_PAIR_CAPABILITIES,
    PROVISIONING_CAPABILITIES,
    Responder,
    ResponderConfig,
    SlotIdentity,
    demo_config,
    key_pairs_for_slots,
)
from spdm.transport.doe import MAX_DW_PADDING, DoeMailboxResponder
from spdm.transport.socket import DEFAULT_PORT, Command, RespondObject, SocketServer

__all__ = ["run"]


def _requester_chain(args: argparse.Namespace) -> tuple[bytes, ...]:
    """--req-cert-chain: the requester's certificates (root first) for --mutual-auth basic."""
    if args.req_cert_chain is None:
        return ()
    try:
        return load_certificates(read_file(args.req_cert_chain, "requester certificate chain"))
    except SpdmError as error:
        raise Usage(f"unusable --req-cert-chain: {error}") from None


def _identity(args: argparse.Namespace) -> ResponderConfig:
    """The configuration `spdm responder` serves: every session capability, the demo identity or the
    given one, the session options (PSK, mutual authentication and the requester's identity) and,
    with --provisioning, GET_CSR and SET_CERTIFICATE; with --key-pairs, the 1.3 key-pair requests and
    multi-key connections; with --events, EVENT_CAP; with --data-transfer-size, chunking."""
    if args.mutual_auth in ("encapsulated", "digests") and args.req_root_cert is None:
        raise Usage(f"--mutual-auth {args.mutual_auth} needs --req-root-cert")
    if args.mutual_auth is None and args.req_root_cert is not None:
        raise Usage("--req-root-cert goes with --mutual-auth (it validates the requester's chain)")
    if args.psk_hint and args.psk is None:
        raise Usage("--psk-hint goes with --psk")
    if args.mutual_auth == "basic" and args.req_cert_chain is None:
        raise Usage("--mutual-auth basic needs --req-cert-chain")
    anchors: dict[int, bytes] = {}
    if args.req_root_cert is not None:
        anchors[0] = read_file(args.req_root_cert, "requester root certificate")
    chain = _requester_chain(args)
    known = chain if args.mutual_auth == "basic" else ()  # else it crosses the wire
    log = secrets_log(args, psk=args.psk, requester_chain=known)
    demo = args.cert_chain is None and args.key is None
    if not demo and (args.cert_chain is None or args.key is None):
        raise Usage("--cert-chain and --key go together")
    try:
        config = demo_config(
            sessions=True,
            psks={} if args.psk is None else {args.psk_hint: args.psk},
            mel=args.mel,
            events=args.events,
        )
        if not demo:
            certificates, key = load_identity(args.cert_chain, args.key, "responder")
            config = replace(config, slots={0: SlotIdentity(certificates=certificates, private_key=key)})
        config = replace(
            config,
            versions=versions_up_to(args.version),
            max_padding=MAX_DW_PADDING,
            requester_trust_anchors=anchors,
            requester_chain=chain,
            mutual_auth=args.mutual_auth,
            capabilities=config.capabilities
            | (PROVISIONING_CAPABILITIES if args.provisioning else 0)
            | (KEY_PAIR_CAPABILITIES if args.key_pairs else 0),
            key_pairs=key_pairs_for_slots(config.slots) if args.key_pairs else (),
            on_dhe_secret=None if log is None else log.add_dhe_secret,
        )
        config = replace(config, **transfer_settings(args, config.capabilities, config.limits.max_request_bytes))
    except ValueError as error:  # a contradiction between the options is a usage error
        raise Usage(str(error)) from None
    if demo:
        # a new file of our own (mkstemp: O_EXCL, mode 0600), never a path another user could have placed
        handle, root = tempfile.mkstemp(prefix="spdm-demo-root-", suffix=".der")
        with os.fdopen(handle, "wb") as file:
            file.write(config.slots[0].certificates[0])
        print(f"demo identity: root certificate written to {root}")
    return config


def run(args: argparse.Namespace) -> int:
    responder = Responder(_identity(args))
    host, port = args.listen or ("127.0.0.1", DEFAULT_PORT)
    writer = capture_writer(args)
    serve: RespondObject = DoeMailboxResponder(responder.respond)
    if writer is not None:
        serve = tap_objects(serve, writer)
    try:
        try:
            # spdm_requester_emu's EP_INFO asks the device, out of band, to ask for its endpoint info
            oob = {Command.OOB_ENCAP_ENDPOINT_INFO: lambda _: responder.ask_endpoint_info()}
            server = SocketServer(serve, host=host, port=port, idle_timeout=args.idle_timeout, out_of_band=oob)
        except SpdmError as error:
            raise Usage(str(error)) from None
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
