"""The `spdm` command line: one subcommand per job.

Exit statuses: 0 success; 1 a failed verification (or a capture record that did not decode);
2 a protocol, connection or usage error, with a one-line reason on stderr. A reader of the output
that goes away (`| head`) is no failure: the command stops quietly.

Each subcommand lives in its own module, imported only when it runs: `spdm --help` and the
argument parser load nothing but the standard library.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from spdm.cli._common import EXIT_OK, EXIT_USAGE, Usage, discard_output

__all__ = ["main"]

_COMMANDS = {
    "dump": "spdm.cli._dump",
    "verify": "spdm.cli._verify",
    "responder": "spdm.cli._responder",
    "requester": "spdm.cli._requester",
    "demo": "spdm.cli._demo",
}
"""The module that runs each subcommand (its `run(args) -> int`)."""

_DEFAULT_ADDRESS = "127.0.0.1:2323 (spdm-emu's port)"
_MIN_DATA_TRANSFER_SIZE = 42
"""DSP0274 1.2 MinDataTransferSize (spdm.messages.negotiation has it too; --help does not import it)."""
_SLOT_COUNT = 8
"""Certificate slots 0..7 (spdm.messages.certificates.SLOT_COUNT; --help does not import it)."""
_ALL_MEASUREMENTS = 0xFF
"""GET_MEASUREMENTS "all measurements" (spdm.messages.measurements.ALL_MEASUREMENTS; --help does not import it)."""
_MAX_KEY_PAIRS = 0xFF
"""KeyPairIDs are 1..255 (spdm.messages.key_pairs.MAX_KEY_PAIRS; --help does not import it)."""


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def _measurement_choice(text: str) -> int | None:
    if text == "all":
        return _ALL_MEASUREMENTS
    if text == "none":
        return None
    try:
        index = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use all, none or an index 1..254") from None
    if not 1 <= index < _ALL_MEASUREMENTS:
        raise argparse.ArgumentTypeError(f"index {index} is not within 1..254")
    return index


def _key_pair_id(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= _MAX_KEY_PAIRS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a KeyPairID (1..{_MAX_KEY_PAIRS})")
    return int(text)


def _dump_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("capture", help="pcap file (link type 292 PCI DOE or 291 MCTP)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    _secret_arguments(p)


def _verify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("capture", help="pcap file as spdm-emu writes it")
    p.add_argument("--root-cert", required=True, help="DER root certificate of slot 0")
    p.add_argument("--slot-root", action="append", default=[], metavar="N=DER", help="root of another slot")
    _secret_arguments(p)


def _version_byte(text: str) -> int:
    """`--version 1.1` as the SPDMVersion byte 0x11 (which versions exist is the subcommand's check): the
    inverse of `spdm.messages.negotiation.version_text`, which --help does not import."""
    major, _, minor = text.partition(".")
    if not (major.isdigit() and minor.isdigit() and int(major) < 16 and int(minor) < 16):
        raise argparse.ArgumentTypeError(f"{text!r} is not MAJOR.MINOR (such as 1.2)")
    return int(major) << 4 | int(minor)


def _version_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--version",
        type=_version_byte,
        metavar="MAJOR.MINOR",
        help="the highest SPDM version to offer, as spdm-emu's --ver (default: the highest this library speaks)",
    )


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return seconds


def _transfer_size(text: str) -> int:
    if not text.isdigit() or not _MIN_DATA_TRANSFER_SIZE <= int(text) <= 0xFFFF_FFFF:
        raise argparse.ArgumentTypeError(f"{text!r} is not a DataTransferSize ({_MIN_DATA_TRANSFER_SIZE} or more)")
    return int(text)


def _transfer_argument(p: argparse.ArgumentParser, peer: str) -> None:
    p.add_argument(
        "--data-transfer-size",
        type=_transfer_size,
        metavar="N",
        help="SPDM 1.2 chunking: set CHUNK_CAP and state DataTransferSize N "
        f"(at least {_MIN_DATA_TRANSFER_SIZE}); a message larger than N or than the {peer}'s "
        "DataTransferSize then travels in chunks (CHUNK_SEND, CHUNK_GET). MaxSPDMmsgSize becomes the "
        "largest message the limits accept. Default: no chunking, 4608 for both",
    )


def _responder_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", type=_address, metavar="HOST:PORT", help=f"default {_DEFAULT_ADDRESS}")
    p.add_argument(
        "--idle-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="drop a client silent that long between messages, so the next can be served (default: never, "
        "as QEMU may idle between requests; a client that stalls mid-message is dropped after 10 s)",
    )
    p.add_argument("--transport", choices=["doe"], default="doe")
    _version_argument(p)
    p.add_argument("--cert-chain", help="certificates, root first: concatenated DER or PEM")
    p.add_argument("--key", help="the leaf's private key (PEM)")
    p.add_argument("--psk", type=_hex, help="a pre-shared key for PSK sessions (hex)")
    p.add_argument("--psk-hint", type=_hex, default=b"", help="the PSKHint naming --psk (hex; default: none)")
    p.add_argument(
        "--mutual-auth",
        nargs="?",
        const="encapsulated",
        choices=["encapsulated", "digests", "basic"],
        help="ask for mutual authentication in KEY_EXCHANGE_RSP: encapsulated (0x02, the default), digests "
        "(0x04: the requester sends its DIGESTS unasked) or basic (0x01)",
    )
    p.add_argument("--req-root-cert", help="DER root certificate of the requester's chain (mutual authentication)")
    p.add_argument(
        "--req-cert-chain",
        help="the requester's certificates, root first (--mutual-auth basic; checks its signed endpoint info)",
    )
    p.add_argument(
        "--provisioning",
        action="store_true",
        help="serve GET_CSR and SET_CERTIFICATE (CSR_CAP, SET_CERT_CAP; SPDM 1.2): a requester may install "
        "a new chain for the slot's key (slot 0 in the clear, any slot inside a session)",
    )
    p.add_argument(
        "--key-pairs",
        action="store_true",
        help="serve GET_KEY_PAIR_INFO and SET_KEY_PAIR_INFO and offer multi-key connections (SPDM 1.3; "
        "GET_/SET_KEY_PAIR_INFO_CAP, MULTI_KEY_CAP negotiated), one key pair per slot key",
    )
    p.add_argument(
        "--mel",
        action="store_true",
        help="serve the demo measurement extension log (MEL_CAP; SPDM 1.3) and the hash-extended "
        "measurement block it extends",
    )
    p.add_argument(
        "--events",
        action="store_true",
        help="serve SPDM 1.3 events (EVENT_CAP): requesters may subscribe to the DMTF event group in a session",
    )
    _transfer_argument(p, "requester")
    _recording_arguments(p)


def _requester_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--connect", type=_address, metavar="HOST:PORT", help=f"default {_DEFAULT_ADDRESS}")
    p.add_argument("--transport", choices=["doe"], default="doe")
    _version_argument(p)
    p.add_argument("--root-cert", required=True, help="DER root certificate of the slot")
    p.add_argument("--slot", type=int, default=0, choices=range(_SLOT_COUNT))
    p.add_argument("--measurements", type=_measurement_choice, default=_ALL_MEASUREMENTS, metavar="all|N|none")
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
    p.add_argument(
        "--mel",
        action="store_true",
        help="then read the measurement extension log (SPDM 1.3; also inside the session with --session) "
        "and check it against the measurements",
    )
    p.add_argument(
        "--events",
        action="store_true",
        help="inside the session (SPDM 1.3, the device's EVENT_CAP): list the device's event types, subscribe "
        "to them all and fetch the events waiting (GET_ENCAPSULATED_REQUEST, EVENT_ACK)",
    )
    p.add_argument("--get-csr", metavar="FILE", help="then ask for the device's CSR (GET_CSR), write it to FILE (DER)")
    p.add_argument(
        "--endpoint-info",
        choices=["signed", "unsigned"],
        help="then read the device's endpoint info (GET_ENDPOINT_INFO, SPDM 1.3; signed: checked with the slot's "
        "chain); inside the session with --session",
    )
    p.add_argument(
        "--set-certificate",
        type=_slot_file,
        action="append",
        default=[],
        metavar="SLOT=CHAIN",
        help="then install CHAIN (certificates root first, DER or PEM) into SLOT with SET_CERTIFICATE; "
        "inside the session with --session (needed for slots other than 0)",
    )
    p.add_argument(
        "--key-pair-info",
        type=_key_pair_id,
        action="append",
        default=[],
        metavar="ID",
        help="then read key pair ID (1..255) with GET_KEY_PAIR_INFO (SPDM 1.3; repeatable); inside the "
        "session with --session",
    )
    _transfer_argument(p, "device")
    _recording_arguments(p)


_SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None] | None]] = {
    "dump": ("decode a pcap capture (spdm-emu format) and print every message", _dump_arguments),
    "verify": ("check a captured connection: transcripts, chains, signatures", _verify_arguments),
    "responder": ("serve an SPDM responder over the spdm-emu socket protocol", _responder_arguments),
    "requester": ("authenticate a device and read its measurements", _requester_arguments),
    "demo": ("run a responder with the demo identity and authenticate it", None),
}
"""Each subcommand's one-line help and the function that declares its options."""


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser for `argv`: every subcommand is listed, but only the one `argv` names gets its
    options (the top level has none but --help, so that is the first word): `spdm --help` is then
    quick, and one subcommand's options never cost the others."""
    parser = argparse.ArgumentParser(prog="spdm", description="DMTF SPDM 1.0-1.3 / PCIe CMA tools")
    commands = parser.add_subparsers(dest="command", required=True)
    chosen = argv[0] if argv else None
    for name, (summary, declare) in _SUBCOMMANDS.items():
        p = commands.add_parser(name, help=summary)
        if name == chosen and declare is not None:
            declare(p)
    return parser


def _slot_file(text: str) -> tuple[int, str]:
    slot, _, path = text.partition("=")
    if not slot.isdigit() or int(slot) >= _SLOT_COUNT or not path:
        raise argparse.ArgumentTypeError(f"{text!r} is not SLOT=FILE with SLOT 0..{_SLOT_COUNT - 1}")
    return int(slot), path


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
    parser.add_argument(
        "--req-cert-chain", help="the requester's certificates (mutual authentication, endpoint info), root first"
    )
    parser.add_argument(
        "--secrets",
        metavar="FILE",
        help="the JSON sidecar that `spdm requester|responder --secrets FILE` wrote (instead of the three above)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    words = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _parser(words).parse_args(words)
    except SystemExit as stop:
        return int(stop.code or 0)
    status: int = EXIT_OK
    try:
        status = importlib.import_module(_COMMANDS[args.command]).run(args)
        sys.stdout.flush()  # a reader that went away shows here, not in Python's flush at exit
    except Usage as problem:
        print(f"spdm {args.command}: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # the reader went away (`spdm dump x | head`): stop quietly, as Unix tools do; not a failure
        # unless the command had found one before
        discard_output()
    return status
