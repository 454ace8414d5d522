"""What every subcommand shares and the entry point catches: exit statuses, usage errors, reading files.

Standard library only: `spdm --help` imports this, and nothing heavier.
"""

from __future__ import annotations

import os
import sys

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "Usage", "discard_output", "read_file"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class Usage(Exception):
    """A usage problem found after parsing (bad file, bad address): exit 2 with its message."""


def read_file(path: str, what: str) -> bytes:
    """The bytes of `path`; a file that cannot be read is a `Usage` error naming `what` it should hold."""
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise Usage(f"cannot read {what} {path}: {error.strerror or error}") from None


def discard_output() -> None:
    """Send what is left of standard output to the null device: its reader went away (`spdm dump x | head`),
    and the output still buffered must not fail again when Python flushes it at exit."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
