"""SPDM message codecs (1.0 to 1.3): `decode` bytes into typed messages and `encode` them back.

`encode(decode(b)) == b` for every well-formed message. Malformed input raises
`spdm.errors.DecodeError` naming the message and field, and nothing else.

The message families (`negotiation`, `certificates`, ...) are imported when first used: by
`decode` when it meets one of their codes, or as attributes of this package.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from spdm.messages.codec import FAMILIES, Message, Record, decode, decode_as, decode_prefix, encode, registry
from spdm.messages.codes import Code, ErrorCode
from spdm.messages.context import CodecContext

__all__ = [
    "Code",
    "CodecContext",
    "ErrorCode",
    "Message",
    "Record",
    "certificates",
    "challenge",
    "chunk",
    "decode",
    "decode_as",
    "decode_prefix",
    "encapsulated",
    "encode",
    "error",
    "key_exchange",
    "measurements",
    "negotiation",
    "provisioning",
    "psk",
    "registry",
    "session_control",
    "vendor",
]


def __getattr__(name: str) -> ModuleType:
    """A message family module, imported on first access."""
    if name in FAMILIES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
