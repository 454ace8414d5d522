"""The clear-text SPDM messages of a libspdm 1.2/1.3 capture, exact to the byte, for codec tests.

`spdm.capture.messages` follows a whole connection and so needs every message of it to decode;
this reads the PCI DOE records alone (`spdm.capture.frames`) and cuts the DOE padding (under one
DWORD of zeros) off each SPDM payload. Where a message ends in a field that takes the rest
(CHUNK_SEND_ACK's response, SET_CERTIFICATE's chain), the padding cannot be told from the field
by the codec, so the end is found from inside: the embedded response's own fields, the chain's
Length.
"""

from __future__ import annotations

from pathlib import Path

from spdm.capture import frames, read_pcap
from spdm.messages import Code, decode_prefix
from spdm.messages.context import CodecContext

_DOE_DW = 4
_CHUNK_SEND_ACK_HEADER = 6
_SET_CERTIFICATE_HEADER = 4


def _embedded_length(data: bytes) -> int:
    """Bytes of the SPDM message that starts `data`, or 0 when `data` is only DOE padding."""
    if len(data) < _DOE_DW and not any(data):
        return 0
    return decode_prefix(data)[1]


def _exact_length(payload: bytes, context: CodecContext | None) -> int:
    code = payload[1]
    if code == Code.CHUNK_SEND_ACK:
        return _CHUNK_SEND_ACK_HEADER + _embedded_length(payload[_CHUNK_SEND_ACK_HEADER:])
    if code == Code.SET_CERTIFICATE:
        chain = payload[_SET_CERTIFICATE_HEADER:]
        return _SET_CERTIFICATE_HEADER + (int.from_bytes(chain[:2], "little") if any(chain) else 0)
    return decode_prefix(payload, context)[1]


def clear_messages(pcap: Path, codes: set[int], context: CodecContext | None = None) -> list[tuple[int, bytes]]:
    """(record index, exact bytes) of each clear-text SPDM message with one of `codes` (`context`: the
    negotiation a message's layout depends on, such as a signed ENDPOINT_INFO's)."""
    found = []
    for frame in frames(read_pcap(pcap)):
        payload = frame.payload
        if frame.kind != "spdm" or payload[1] not in codes:
            continue
        size = _exact_length(payload, context)
        padding = payload[size:]
        if len(padding) >= _DOE_DW or any(padding):
            raise ValueError(f"record {frame.index}: {len(padding)} bytes after the message are not DOE padding")
        found.append((frame.index, payload[:size]))
    return found
