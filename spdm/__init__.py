"""pyspdm: DMTF SPDM 1.1 and PCIe CMA (SPDM over DOE) in pure Python."""

from __future__ import annotations

from spdm.errors import (
    DecodeError,
    EncodeError,
    NegotiationError,
    ProtocolError,
    SpdmError,
    TransportError,
    VerificationError,
)

__version__ = "0.1.0"

__all__ = [
    "DecodeError",
    "EncodeError",
    "NegotiationError",
    "ProtocolError",
    "SpdmError",
    "TransportError",
    "VerificationError",
    "__version__",
]
