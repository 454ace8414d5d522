"""`spdm verify`: check a captured connection the way the requester would."""

from __future__ import annotations

import argparse
import sys

from spdm.capture import read_pcap
from spdm.cli._common import EXIT_FAILED, EXIT_OK, Usage, discard_output, read_file
from spdm.cli._secrets import replay_secrets
from spdm.errors import DecodeError
from spdm.messages.certificates import SLOT_COUNT
from spdm.verify import CaptureVerification, verify_capture

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    anchors = {0: read_file(args.root_cert, "root certificate")}
    for item in args.slot_root:
        slot, _, path = item.partition("=")
        if not slot.isdigit() or not 0 <= int(slot) < SLOT_COUNT or not path:
            raise Usage(f"--slot-root {item!r}: use N=FILE with N in 0..{SLOT_COUNT - 1}")
        anchors[int(slot)] = read_file(path, "root certificate")
    try:
        pcap = read_pcap(args.capture)
    except OSError as error:
        raise Usage(f"cannot read {args.capture}: {error.strerror or error}") from None
    except DecodeError as error:
        raise Usage(f"{args.capture} is not a usable capture: {error}") from None
    try:
        result = verify_capture(pcap, anchors, secrets=replay_secrets(args))
    except DecodeError as error:
        raise Usage(f"{args.capture}: {error}") from None
    try:
        _report(result)
    except BrokenPipeError:  # the reader went away (`| head`): the verdict stands
        discard_output()
    if result.ok:
        return EXIT_OK
    failure = result.first_failure
    print(f"FAILED: {failure if failure else 'nothing in the capture could be checked'}", file=sys.stderr)
    return EXIT_FAILED


def _report(result: CaptureVerification) -> None:
    """Every check on standard output, and the count of those that passed when none failed."""
    for check in result.checks:
        print(check)
    if result.skipped_secured:
        print(f"skipped: {result.skipped_secured} secured records (session traffic is not checked here)")
    if result.ok:
        passed = sum(c.passed for c in result.checks)
        skipped = sum(not c.checked for c in result.checks)
        print(f"verified: {passed} checks passed" + (f", {skipped} not checked" if skipped else ""))
    sys.stdout.flush()  # a reader that went away shows here
