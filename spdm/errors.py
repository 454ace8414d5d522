"""The exception hierarchy: every failure the library reports is an `SpdmError`; and the wire's
`ErrorCode`s, which a `ProtocolError` carries.

This module imports nothing of the library: every other module may import it.
"""

from __future__ import annotations

import enum

__all__ = [
    "CsrResetRequired",
    "DecodeError",
    "EncodeError",
    "ErrorCode",
    "NegotiationError",
    "PeerError",
    "ProtocolError",
    "SpdmError",
    "TransportError",
    "VerificationError",
]


class ErrorCode(enum.IntEnum):
    """ERROR Param1: the ErrorCode values of DSP0274's ERROR response up to 1.3 (also
    `spdm.messages.codes.ErrorCode`); the numbers are libspdm's SPDM_ERROR_CODE_* (spdm.h)."""

    InvalidRequest = 0x01
    InvalidSession = 0x02
    Busy = 0x03
    UnexpectedRequest = 0x04
    Unspecified = 0x05
    DecryptError = 0x06
    UnsupportedRequest = 0x07
    RequestInFlight = 0x08
    InvalidResponseCode = 0x09
    SessionLimitExceeded = 0x0A
    SessionRequired = 0x0B
    ResetRequired = 0x0C
    ResponseTooLarge = 0x0D
    RequestTooLarge = 0x0E
    LargeResponse = 0x0F
    MessageLost = 0x10
    InvalidPolicy = 0x11
    VersionMismatch = 0x41
    ResponseNotReady = 0x42
    RequestResynch = 0x43
    OperationFailed = 0x44
    NoPendingRequests = 0x45
    VendorDefined = 0xFF


class SpdmError(Exception):
    """Base class of every error raised by this library."""


class DecodeError(SpdmError):
    """Bytes that are not a well-formed instance of the layout they were read as.

    `message` is the layout's name (an SPDM message name such as ``CHALLENGE_AUTH``, or a
    transport object such as ``DOE``), `field` the dotted path of the offending field (empty
    when the fault is the message as a whole) and `reason` what was wrong with it.
    """

    def __init__(self, message: str, field: str, reason: str) -> None:
        self.message = message
        self.field = field
        self.reason = reason
        where = f"{message}.{field}" if field else message
        super().__init__(f"{where}: {reason}")


class EncodeError(SpdmError):
    """A message object that cannot be written: a field out of range or of the wrong type.

    Same attributes as `DecodeError`.
    """

    def __init__(self, message: str, field: str, reason: str) -> None:
        self.message = message
        self.field = field
        self.reason = reason
        where = f"{message}.{field}" if field else message
        super().__init__(f"{where}: {reason}")


class ProtocolError(SpdmError):
    """A protocol rule was broken; `error_code` is the SPDM ErrorCode that describes it."""

    def __init__(self, error_code: int, reason: str, error_data: int = 0) -> None:
        self.error_code = error_code
        self.error_data = error_data
        super().__init__(reason)


class PeerError(ProtocolError):
    """The peer answered with an SPDM ERROR; `response` is the decoded ERROR message."""

    def __init__(self, response: object) -> None:
        code = int(getattr(response, "error_code", 0))
        data = int(getattr(response, "error_data", 0))
        try:
            name = ErrorCode(code).name
        except ValueError:
            name = f"0x{code:02x}"
        super().__init__(code, f"the peer answered ERROR {name} (ErrorData 0x{data:02x})", data)
        self.response = response


class CsrResetRequired(PeerError):
    """The device answered GET_CSR with ERROR ResetRequired: it makes the CSR once it is reset. Reset
    it, then ask again with `csr_tracking_tag`, the tag it gave the request (ErrorData from SPDM 1.3;
    0 before, when the request is simply sent again)."""

    def __init__(self, response: object, csr_tracking_tag: int) -> None:
        super().__init__(response)
        self.csr_tracking_tag = csr_tracking_tag


class VerificationError(SpdmError):
    """A signature, certificate, MAC, AEAD tag or measurement did not verify."""


class TransportError(SpdmError):
    """The transport could not carry a message (closed, timed out, malformed framing)."""


class NegotiationError(SpdmError):
    """The peers share no version, capability or algorithm that both accept."""
