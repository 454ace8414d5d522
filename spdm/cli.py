"""The `spdm` command line: one subcommand per job."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from spdm import dump

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spdm", description="DMTF SPDM 1.1 / PCIe CMA tools")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("dump", help="decode a pcap capture (spdm-emu format) and print every message")
    p.add_argument("capture", help="pcap file (link type 292 PCI DOE or 291 MCTP)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 1 failed, 2 unusable arguments or files)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    try:
        if args.command == "dump":
            return dump.run(args.capture, as_json=args.json, out=sys.stdout, err=sys.stderr)
    except BrokenPipeError:
        # the reader went away (`spdm dump x | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return EXIT_USAGE
