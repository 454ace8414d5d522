"""The one interface requesters talk through: send an SPDM message, get the peer's response.

Transports carry exact SPDM messages and nothing else: framing and padding are the transport's
business. One exception is visible to callers: PCIe DOE pads every object to a whole DWORD, and
only the SPDM layer knows a message's true length (from its own fields), so DOE transports return
the response payload *with* its padding (at most `Transport.max_padding` zero bytes) and the
caller strips it by decoding with SPDM field lengths.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import ClassVar, TypeVar

__all__ = ["Respond", "Transport", "check_session_prefix", "is_secured_answer"]

Respond = Callable[[bytes, "int | None"], bytes]
"""A responder's entry point, `respond(request, session_id) -> response`: what servers are handed."""

_T = TypeVar("_T", bound="Transport")

_SECURED_HEADER_SIZE = 6  # SessionID and Length: the least a secured message holds (DSP0277)


class Transport(ABC):
    """Carries one request to the peer and brings back its response (a blocking round trip)."""

    max_padding: ClassVar[int] = 0
    """How many zero bytes may follow the SPDM message in a response (DOE: 3)."""

    @abstractmethod
    def exchange(self, request: bytes, *, session_id: int | None = None, timeout: float | None = None) -> bytes:
        """Send `request` and return the response.

        Without `session_id`, `request` is an SPDM message. With it, `request` is an already
        secured message (DSP0277, starting with that session ID) and travels as the transport
        carries secured messages (DOE: object type 2). `timeout` (seconds) bounds the wait for
        this response, e.g. from the responder's CT; None keeps the transport's own.
        Raises `spdm.errors.TransportError` when the message cannot be carried.
        """

    def close(self) -> None:  # noqa: B027 - optional hook: most transports hold something, some nothing
        """Release whatever the transport holds; the default holds nothing."""

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def check_session_prefix(request: bytes, session_id: int) -> None:
    """A secured message starts with its session ID (little-endian): refuse one that does not.

    A mismatch is a caller bug, not a transport failure, hence `ValueError`.
    """
    if not 0 <= session_id <= 0xFFFF_FFFF:
        raise ValueError(f"session_id must be a 32-bit unsigned integer, got {session_id!r}")
    if request[:4] != session_id.to_bytes(4, "little"):  # also when fewer than 4 bytes came
        raise ValueError(f"a secured message must start with its session ID {session_id:#010x} (little-endian)")


def is_secured_answer(request: bytes, response: bytes) -> bool:
    """Whether the answer to the secured `request` is a record of its session: the same session ID,
    and longer than a bare header. A clear SPDM ERROR (4 bytes; a record the responder could not
    open) never is, whatever its bytes, and travels as clear SPDM."""
    return len(response) > _SECURED_HEADER_SIZE and response[:4] == request[:4]
