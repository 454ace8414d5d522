"""What `spdm requester` and `spdm responder` record on request: a pcap of the DOE objects, a secrets sidecar."""

from __future__ import annotations

import argparse
import sys

from spdm.capture import LINKTYPE_PCI_DOE, CaptureWriter, SecretsLog
from spdm.cli._common import Usage

__all__ = ["capture_writer", "secrets_log"]


def capture_writer(args: argparse.Namespace) -> CaptureWriter | None:
    if args.pcap is None:
        return None
    try:
        return CaptureWriter(args.pcap, LINKTYPE_PCI_DOE)
    except OSError as error:
        raise Usage(f"cannot write {args.pcap}: {error.strerror or error}") from None


def secrets_log(
    args: argparse.Namespace, *, psk: bytes | None, requester_chain: tuple[bytes, ...] = ()
) -> SecretsLog | None:
    if args.secrets is None:
        return None
    try:
        log = SecretsLog(args.secrets, psk=psk, psk_hint=args.psk_hint, requester_chain=requester_chain)
    except OSError as error:
        raise Usage(f"cannot write {args.secrets}: {error.strerror or error}") from None
    print(f"session secrets go to {args.secrets}: anyone holding it can decrypt the sessions", file=sys.stderr)
    return log
