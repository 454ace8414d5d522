"""What every subcommand shares and the entry point catches: exit statuses, usage errors, reading files.

Standard library only: `spdm --help` imports this, and nothing heavier.
"""

from __future__ import annotations

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "Usage", "read_file"]

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
