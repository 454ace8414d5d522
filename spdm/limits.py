"""Resource bounds: the one place that says how much a peer may make this library hold.

Every length and count read from the wire is bounded before it drives an allocation or a loop:
the codec refuses what the specification forbids (OpaqueLength over 1024, a field longer than the
bytes that follow it, ...), the transports refuse objects over their own maxima, and `Limits`
bounds what is left to policy. One frozen `Limits` is given to `RequesterConfig(limits=...)` and
`ResponderConfig(limits=...)`; a role reads only the fields that concern it.

Exceeding a limit:

- the responder answers ERROR: InvalidRequest for an oversized request, opaque data or vendor
  payload, SessionLimitExceeded for one session too many;
- the requester raises `ProtocolError` (InvalidResponseCode; SessionLimitExceeded for its own
  session table) before decoding the oversized part of the response.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from spdm.errors import ProtocolError
from spdm.messages.bounds import MAX_OPAQUE_LENGTH
from spdm.messages.codes import Code, ErrorCode
from spdm.messages.mel import MAX_MEL_SIZE, MEL_HEADER_SIZE
from spdm.messages.negotiation import DEFAULT_TRANSFER_SIZE

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_CHAIN_LENGTH",
    "MAX_MEASUREMENT_BLOCKS",
    "MAX_MEASUREMENT_RECORD_LENGTH",
    "MAX_OPAQUE_LENGTH",
    "MAX_SESSIONS",
    "MAX_VENDOR_PAYLOAD_LENGTH",
    "Limits",
]

MAX_MEASUREMENT_RECORD_LENGTH = 0xFF_FFFF
"""MeasurementRecordLength is a u24."""
MAX_MEASUREMENT_BLOCKS = 0xFF
"""NumberOfBlocks is a u8."""
MAX_CHAIN_LENGTH = 0xFFFF
"""A 1.1 certificate chain's Length is a u16."""
MAX_VENDOR_PAYLOAD_LENGTH = 0xFFFF
"""ReqLength/RespLength are u16."""
MAX_SESSIONS = 0xFF
"""A responder hands out RspSessionIDs 0xFFFF downwards; 255 live sessions at most."""
MAX_REQUESTER_SESSIONS = 0xFFFF
"""ReqSessionID is a non-zero u16."""
_MIN_MESSAGE = 4  # the SPDM header


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Configurable resource bounds (defaults in brackets); each must be within the wire format's own range.

    - `max_request_bytes` [4608, `DEFAULT_TRANSFER_SIZE`]: the largest request a responder reads (the
      whole SPDM message, before transport padding; a secured record may add its framing). Longer is
      InvalidRequest. A responder advertises at most this as MaxSPDMmsgSize (`ResponderConfig` checks).
    - `max_response_bytes` [69632 = 68 KiB]: the largest response a requester decodes; a requester
      advertises at most this as MaxSPDMmsgSize (`RequesterConfig` checks).
    - `max_measurement_record_bytes` [65535]: MeasurementRecordLength a requester accepts.
    - `max_measurement_blocks` [255]: NumberOfBlocks a requester accepts.
    - `max_chain_bytes` [65535]: the certificate chain size (from PortionLength + RemainderLength)
      a requester reads with GET_CERTIFICATE, and a responder reads through encapsulated requests.
    - `max_opaque_bytes` [1024]: OpaqueLength accepted in any message (the codec's bound is 1024).
    - `max_vendor_request_bytes` [4096]: a VENDOR_DEFINED_REQUEST payload (responder: accepted;
      requester: sent).
    - `max_vendor_response_bytes` [4096]: a VENDOR_DEFINED_RESPONSE payload (requester: accepted;
      responder: sent, a larger handler answer is ERROR Unspecified).
    - `max_mel_bytes` [65536]: the measurement extension log (SPDM 1.3; its size from PortionLength +
      RemainderLength) a requester reads with GET_MEASUREMENT_EXTENSION_LOG.
    - `max_sessions` [4]: a responder's live sessions (handshaking ones count); one more is
      SessionLimitExceeded.
    - `max_requester_sessions` [64]: the sessions one requester holds open at once.
    """

    max_request_bytes: int = DEFAULT_TRANSFER_SIZE
    max_response_bytes: int = 0x11000
    max_measurement_record_bytes: int = 0xFFFF
    max_measurement_blocks: int = MAX_MEASUREMENT_BLOCKS
    max_chain_bytes: int = MAX_CHAIN_LENGTH
    max_opaque_bytes: int = MAX_OPAQUE_LENGTH
    max_vendor_request_bytes: int = 4096
    max_vendor_response_bytes: int = 4096
    max_mel_bytes: int = 0x10000
    max_sessions: int = 4
    max_requester_sessions: int = 64

    def __post_init__(self) -> None:
        ranges = {
            "max_request_bytes": (_MIN_MESSAGE, 1 << 24),
            "max_response_bytes": (_MIN_MESSAGE, 1 << 24),
            "max_measurement_record_bytes": (0, MAX_MEASUREMENT_RECORD_LENGTH),
            "max_measurement_blocks": (0, MAX_MEASUREMENT_BLOCKS),
            "max_chain_bytes": (1, MAX_CHAIN_LENGTH),
            "max_opaque_bytes": (0, MAX_OPAQUE_LENGTH),
            "max_vendor_request_bytes": (0, MAX_VENDOR_PAYLOAD_LENGTH),
            "max_vendor_response_bytes": (0, MAX_VENDOR_PAYLOAD_LENGTH),
            "max_mel_bytes": (MEL_HEADER_SIZE, MAX_MEL_SIZE),
            "max_sessions": (1, MAX_SESSIONS),
            "max_requester_sessions": (1, MAX_REQUESTER_SESSIONS),
        }
        for name, (low, high) in ranges.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} {value!r} is not within {low}..{high}")

    # --- the requester's side: responses ---------------------------------------------------------

    def check_response(self, raw: bytes) -> None:
        """Bound a response before it is decoded: its size, a MEASUREMENTS record and a vendor payload.

        Reads only fixed-position length fields; a response too short to hold them is left to the codec.
        """
        size = len(raw)
        if size > self.max_response_bytes:
            raise _over_response(f"a {size}-byte response is over the {self.max_response_bytes}-byte limit")
        if size < 2:
            return
        code = raw[1]
        if code == Code.MEASUREMENTS and size >= 8:
            blocks, record = raw[4], int.from_bytes(raw[5:8], "little")
            if blocks > self.max_measurement_blocks:
                raise _over_response(f"NumberOfBlocks {blocks} is over the {self.max_measurement_blocks} allowed")
            if record > self.max_measurement_record_bytes:
                limit = self.max_measurement_record_bytes
                raise _over_response(f"MeasurementRecordLength {record} is over the {limit} bytes allowed")
        elif code == Code.VENDOR_DEFINED_RESPONSE:
            payload = _vendor_payload_over(raw, self.max_vendor_response_bytes)
            if payload is not None:
                limit = self.max_vendor_response_bytes
                raise _over_response(f"a {payload}-byte vendor-defined payload is over the {limit} bytes allowed")

    def check_response_opaque(self, message: object) -> None:
        """A decoded response's OpaqueData (already within the codec's 1024) against `max_opaque_bytes`
        (nothing to check under the default limit, the codec's own bound: no call)."""
        if self.max_opaque_bytes < MAX_OPAQUE_LENGTH:
            self._check_opaque(message, _over_response)

    # --- the responder's side: requests ---------------------------------------------------------

    def check_request(self, raw: bytes) -> None:
        """Bound a request before it is decoded: its size and a vendor payload (InvalidRequest)."""
        size = len(raw)
        if size > self.max_request_bytes:
            raise _over_request(f"{size} bytes is over the {self.max_request_bytes}-byte limit")
        if size >= 2 and raw[1] == Code.VENDOR_DEFINED_REQUEST:
            payload = _vendor_payload_over(raw, self.max_vendor_request_bytes)
            if payload is not None:
                limit = self.max_vendor_request_bytes
                raise _over_request(f"a {payload}-byte vendor-defined payload is over the {limit} bytes allowed")

    def check_request_opaque(self, message: object) -> None:
        """A decoded request's OpaqueData against `max_opaque_bytes` (InvalidRequest), as for a response."""
        if self.max_opaque_bytes < MAX_OPAQUE_LENGTH:
            self._check_opaque(message, _over_request)

    def _check_opaque(self, message: object, refusal: Callable[[str], ProtocolError]) -> None:
        """Raise `refusal` (the role's error) when a message's OpaqueData is over `max_opaque_bytes`."""
        size = _opaque_length(message)
        if size > self.max_opaque_bytes:
            raise refusal(f"{size} bytes of OpaqueData are over the {self.max_opaque_bytes} allowed")


DEFAULT_LIMITS = Limits()
"""The defaults, shared by configurations that give none."""


def _vendor_payload_length(raw: bytes) -> int | None:
    """ReqLength/RespLength of a VENDOR_DEFINED message: after the header, StandardID, Len and VendorID."""
    if len(raw) < 7:
        return None
    at = 7 + raw[6]
    if len(raw) < at + 2:
        return None
    return int.from_bytes(raw[at : at + 2], "little")


def _vendor_payload_over(raw: bytes, limit: int) -> int | None:
    """The vendor payload's announced size when it is over `limit`, else None."""
    size = _vendor_payload_length(raw)
    return size if size is not None and size > limit else None


def _opaque_length(message: object) -> int:
    opaque = getattr(message, "opaque_data", None)
    return len(opaque) if isinstance(opaque, bytes | bytearray) else 0


def _over_response(reason: str) -> ProtocolError:
    return ProtocolError(ErrorCode.InvalidResponseCode, reason)


def _over_request(reason: str) -> ProtocolError:
    return ProtocolError(ErrorCode.InvalidRequest, reason)
