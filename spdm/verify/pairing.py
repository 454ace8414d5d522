"""`RequestPairing`: which request in the clear each response of a capture answers.

DSP0274 "ERROR ResponseNotReady" and "RESPOND_IF_READY": a request answered ResponseNotReady stays
pending, and the RESPOND_IF_READY that follows fetches its answer: that answer belongs to the
request (its transcript, its checks), and the RESPOND_IF_READY is not a new request.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from spdm.messages import Message
from spdm.messages.codes import ErrorCode
from spdm.messages.error import ErrorResponse, RespondIfReady

__all__ = ["RequestPairing"]

T = TypeVar("T")


class RequestPairing(Generic[T]):
    """Follows the messages in the clear; `T` is what the caller keeps of a request (its bytes, its record)."""

    def __init__(self) -> None:
        self.pending: T | None = None
        """The request that awaits its answer (still after ERROR ResponseNotReady)."""
        self._not_ready = False

    def request(self, msg: Message, request: T) -> bool:
        """Take a request; False for the RESPOND_IF_READY that fetches the pending request's answer."""
        if isinstance(msg, RespondIfReady) and self._not_ready and self.pending is not None:
            return False
        self.pending, self._not_ready = request, False
        return True

    def response(self, msg: Message) -> T | None:
        """The request `msg` answers, no longer pending; None when no request awaits an answer, and for
        ERROR ResponseNotReady, which leaves its request pending."""
        if self.pending is None:
            return None
        if isinstance(msg, ErrorResponse) and msg.error_code == ErrorCode.ResponseNotReady:
            self._not_ready = True
            return None
        request, self.pending, self._not_ready = self.pending, None, False
        return request
