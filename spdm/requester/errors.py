"""The requester's own errors about its sessions and key usage (every other failure is a `spdm.errors` class)."""

from __future__ import annotations

from spdm.errors import NegotiationError, ProtocolError, VerificationError
from spdm.messages.codes import ErrorCode

__all__ = ["KeyUsageError", "SessionClosedError", "SessionDecryptError"]


class SessionClosedError(ProtocolError):
    """The session is closed (ended, torn down, or its connection restarted): nothing more travels in it."""

    def __init__(self, session_id: int, reason: str) -> None:
        super().__init__(ErrorCode.InvalidSession, f"session 0x{session_id:08x} is closed: {reason}")
        self.session_id = session_id


class SessionDecryptError(VerificationError):
    """A response of the session did not open (tag, framing, sequence number or SessionID): the
    session is torn down and its keys discarded, as libspdm's requester does."""

    def __init__(self, session_id: int, reason: str) -> None:
        super().__init__(f"session 0x{session_id:08x}: {reason}; the session is torn down")
        self.session_id = session_id


class KeyUsageError(NegotiationError):
    """SPDM 1.3 multi-key: the slot named holds a key whose KeyUsageMask (DIGESTS) does not allow the
    request's usage, or no slot's does; nothing was sent."""
