"""MCTP framing of SPDM as DMTF spdm-emu records it in LINKTYPE_MCTP (291) captures.

Each record holds one whole message (no packetization)::

    [0:4]  MCTP transport header: spdm-emu writes 00 00 00 c0
           (header version 0, destination EID 0, source EID 0, SOM | EOM, packet sequence 0, tag 0)
    [4]    MCTP message type: 0x05 SPDM, 0x06 secured SPDM
    [5:]   the message, unpadded, and nothing after it

The header is kept as raw bytes and not validated: spdm-emu synthesises it for the capture (on its
socket the message starts at the type byte), so its fields carry no information about the exchange.
"""

from __future__ import annotations

from dataclasses import dataclass

from spdm.errors import DecodeError, EncodeError

__all__ = [
    "EMU_TRANSPORT_HEADER",
    "MCTP_TYPE_SECURED_SPDM",
    "MCTP_TYPE_SPDM",
    "TRANSPORT_HEADER_SIZE",
    "MctpFrame",
    "decode_mctp_record",
    "encode_mctp_record",
]

MCTP_TYPE_SPDM = 0x05
MCTP_TYPE_SECURED_SPDM = 0x06

TRANSPORT_HEADER_SIZE = 4
EMU_TRANSPORT_HEADER = bytes.fromhex("000000c0")
"""The transport header spdm-emu writes before every message in its MCTP captures."""

_MCTP = "MCTP"


@dataclass(frozen=True, slots=True, kw_only=True)
class MctpFrame:
    """One captured MCTP message: raw transport header, message type byte, and the message."""

    header: bytes
    message_type: int
    payload: bytes


def decode_mctp_record(data: bytes) -> MctpFrame:
    """Split a capture record into header, message type and message; only a short record fails."""
    if len(data) < TRANSPORT_HEADER_SIZE:
        raise DecodeError(
            _MCTP, "header", f"needs {TRANSPORT_HEADER_SIZE} bytes of transport header, got {len(data)}"
        )
    if len(data) == TRANSPORT_HEADER_SIZE:
        raise DecodeError(_MCTP, "message_type", "record ends after the transport header")
    return MctpFrame(
        header=bytes(data[:TRANSPORT_HEADER_SIZE]),
        message_type=data[TRANSPORT_HEADER_SIZE],
        payload=bytes(data[TRANSPORT_HEADER_SIZE + 1 :]),
    )


def encode_mctp_record(message_type: int, payload: bytes, header: bytes = EMU_TRANSPORT_HEADER) -> bytes:
    """The inverse of `decode_mctp_record`: a record byte-identical to spdm-emu's by default."""
    if isinstance(message_type, bool) or not isinstance(message_type, int) or not 0 <= message_type <= 0xFF:
        raise EncodeError(_MCTP, "message_type", f"must be an integer in [0, 0xff], got {message_type!r}")
    if not isinstance(header, (bytes, bytearray, memoryview)) or len(header) != TRANSPORT_HEADER_SIZE:
        raise EncodeError(_MCTP, "header", f"must be {TRANSPORT_HEADER_SIZE} bytes, got {header!r}")
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise EncodeError(_MCTP, "payload", f"must be bytes, got {type(payload).__name__}")
    return b"".join((header, bytes((message_type,)), payload))
