"""SPDM 1.0/1.1 message codecs: `decode` bytes into typed messages and `encode` them back.

`encode(decode(b)) == b` for every well-formed message. Malformed input raises
`spdm.errors.DecodeError` naming the message and field, and nothing else.
"""

from __future__ import annotations

from spdm.messages import (
    certificates,
    challenge,
    encapsulated,
    error,
    key_exchange,
    measurements,
    negotiation,
    psk,
    session_control,
    vendor,
)
from spdm.messages._codec import Message, Record, decode, decode_as, decode_prefix, encode, registry
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
    "decode",
    "decode_as",
    "decode_prefix",
    "encapsulated",
    "encode",
    "error",
    "key_exchange",
    "measurements",
    "negotiation",
    "psk",
    "registry",
    "session_control",
    "vendor",
]
