"""The session secrets that `spdm dump` and `spdm verify` take: options or the JSON sidecar."""

from __future__ import annotations

import argparse

from spdm.capture import CaptureSecrets
from spdm.certs import load_certificates
from spdm.cli._common import Usage, read_file
from spdm.errors import DecodeError, SpdmError

__all__ = ["replay_secrets"]


def replay_secrets(args: argparse.Namespace) -> CaptureSecrets | None:
    """The session secrets given on the command line or in a sidecar file; None when there are none."""
    if args.secrets is not None:
        return _sidecar_secrets(args)
    requester: tuple[bytes, ...] = ()
    if args.req_cert_chain is not None:
        try:
            requester = load_certificates(read_file(args.req_cert_chain, "requester certificate chain"))
        except SpdmError as error:
            raise Usage(f"unusable --req-cert-chain: {error}") from None
    if args.psk is None and not args.dhe_secret and not requester:
        return None
    return CaptureSecrets(dhe_secrets=tuple(args.dhe_secret), psk=args.psk, requester_chain=requester)


def _sidecar_secrets(args: argparse.Namespace) -> CaptureSecrets:
    if args.psk is not None or args.dhe_secret or args.req_cert_chain is not None:
        raise Usage("--secrets replaces --psk, --dhe-secret and --req-cert-chain: give one or the other")
    try:
        return CaptureSecrets.from_json(read_file(args.secrets, "secrets file"))
    except DecodeError as error:
        raise Usage(f"unusable --secrets {args.secrets}: {error}") from None
