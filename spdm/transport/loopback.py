"""An in-memory transport: the requester calls the responder's `respond` directly.

For tests and for embedding both ends in one process; nothing is framed or padded.
"""

from __future__ import annotations

from spdm.errors import TransportError
from spdm.transport.base import Respond, Transport, check_session_prefix

__all__ = ["LoopbackTransport"]


class LoopbackTransport(Transport):
    """Hands each request to `respond(request, session_id)` and returns what it returns."""

    def __init__(self, respond: Respond) -> None:
        self._respond: Respond | None = respond

    def exchange(self, request: bytes, *, session_id: int | None = None, timeout: float | None = None) -> bytes:
        """Call the responder; `timeout` does not apply (the call is synchronous)."""
        if self._respond is None:
            raise TransportError("loopback transport is closed")
        if session_id is not None:
            check_session_prefix(request, session_id)
        return self._respond(bytes(request), session_id)

    def close(self) -> None:
        self._respond = None
