"""What both halves of the responder share: the settled connection and the refusal helpers.

`spdm.responder` serves the connection (VCA, certificates, CHALLENGE, measurements, vendor
requests) and `spdm._responder_sessions` the sessions; both read the `Connection` VCA settled
and raise the `ProtocolError`s made here, which `Responder.respond` turns into ERROR responses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from spdm.crypto import AsymSuite, HashSuite
from spdm.errors import ProtocolError
from spdm.messages import Message
from spdm.messages.codes import ErrorCode
from spdm.negotiated import Negotiated

__all__ = ["Connection", "expect", "invalid", "unexpected", "unsupported"]

M = TypeVar("M", bound=Message)


@dataclass(frozen=True, slots=True)
class Connection:
    """What VCA settled: the negotiated value, its suites and the chains of the usable slots."""

    negotiated: Negotiated
    hash: HashSuite | None
    asym: AsymSuite | None
    chains: Mapping[int, bytes]

    @property
    def slot_mask(self) -> int:
        return sum(1 << slot for slot in self.chains)


def invalid(reason: str) -> ProtocolError:
    return ProtocolError(ErrorCode.InvalidRequest, reason)


def unexpected(reason: str) -> ProtocolError:
    return ProtocolError(ErrorCode.UnexpectedRequest, reason)


def unsupported(code: int, reason: str) -> ProtocolError:
    return ProtocolError(ErrorCode.UnsupportedRequest, reason, code)


def expect(message: Message, cls: type[M]) -> M:
    """Narrow a decoded request to its class (the header's code chose the class, so this holds)."""
    if not isinstance(message, cls):
        raise invalid(f"{message.name} where {cls.name} was expected")
    return message
