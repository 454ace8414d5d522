"""`spdm responder`: serve an SPDM responder over the spdm-emu socket protocol."""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
from pathlib import Path

from spdm.capture import tap_objects
from spdm.certs import load_certificates
from spdm.cli._common import DOE_PADDING, EXIT_OK, Usage, read_file
from spdm.cli._identity import load_identity
from spdm.cli._recording import capture_writer, secrets_log
from spdm.errors import SpdmError
from spdm.responder import Responder, ResponderConfig, SlotIdentity, demo_config
from spdm.transport.doe import DoeMailboxResponder
from spdm.transport.socket import DEFAULT_PORT, RespondObject, SocketServer

__all__ = ["run"]


def _session_settings(args: argparse.Namespace) -> dict[str, object]:
    """The session options of `spdm responder`: PSK, mutual authentication and the requester's identity."""
    settings: dict[str, object] = {}
    if args.psk is not None:
        settings["psk"] = {args.psk_hint: args.psk}
    if args.req_root_cert is not None:
        settings["requester_trust_anchors"] = {0: read_file(args.req_root_cert, "requester root certificate")}
    if args.req_cert_chain is not None:
        try:
            chain = read_file(args.req_cert_chain, "requester certificate chain")
            settings["requester_chain"] = load_certificates(chain)
        except SpdmError as error:
            raise Usage(f"unusable --req-cert-chain: {error}") from None
    if args.mutual_auth == "encapsulated" and args.req_root_cert is None:
        raise Usage("--mutual-auth encapsulated needs --req-root-cert")
    if args.mutual_auth == "basic" and args.req_cert_chain is None:
        raise Usage("--mutual-auth basic needs --req-cert-chain")
    settings["mutual_auth"] = args.mutual_auth
    return settings


def _identity(args: argparse.Namespace) -> ResponderConfig:
    sessions = _session_settings(args)
    chain = sessions.get("requester_chain", ())
    known = chain if args.mutual_auth == "basic" and isinstance(chain, tuple) else ()  # else it crosses the wire
    log = secrets_log(args, psk=args.psk, requester_chain=known)
    if log is not None:
        sessions["on_dhe_secret"] = log.add_dhe_secret
    if args.cert_chain is None and args.key is None:
        config = _configure(transport_padding=DOE_PADDING, **sessions)
        root = Path(tempfile.gettempdir()) / f"spdm-demo-root-{os.getpid()}.der"
        root.write_bytes(config.slots[0].certificates[0])
        print(f"demo identity: root certificate written to {root}")
        return config
    if args.cert_chain is None or args.key is None:
        raise Usage("--cert-chain and --key go together")
    certificates, key = load_identity(args.cert_chain, args.key, "responder")
    slot = SlotIdentity(certificates=certificates, private_key=key)
    return _configure(slots={0: slot}, transport_padding=DOE_PADDING, **sessions)


def _configure(**settings: object) -> ResponderConfig:
    """A session-capable demo configuration with `settings`; a contradiction is a usage error."""
    try:
        return demo_config(sessions=True, **settings)
    except ValueError as error:
        raise Usage(str(error)) from None


def run(args: argparse.Namespace) -> int:
    responder = Responder(_identity(args))
    host, port = args.listen or ("127.0.0.1", DEFAULT_PORT)
    writer = capture_writer(args)
    serve: RespondObject = DoeMailboxResponder(responder.respond)
    if writer is not None:
        serve = tap_objects(serve, writer)
    try:
        try:
            server = SocketServer(serve, host=host, port=port)
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
