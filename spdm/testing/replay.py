"""Drive a `Requester` through a recorded exchange and check that it sends what was recorded.

The regression check for capture vectors: a transport that answers each request with the recorded
response, in order, after checking that the request is byte-identical to the recorded one; the
recorded random values (SessionIDs, RandomData, contexts, nonces, KEY_UPDATE tags) fed back as
the requester's randomness; the recorded DHE ExchangeData with the known shared secret in place
of a fresh ephemeral key; and recorded (randomised) signatures handed out only when they verify
over the digest the requester asks to sign. Whatever the requester does differently raises
`ReplayDivergence` naming the record.

Only the standard library and `spdm` itself: no test framework needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from spdm.capture import CapturedMessage
from spdm.crypto import AsymSuite, DheSuite, HashSuite, SignatureInput
from spdm.errors import SpdmError, VerificationError
from spdm.messages.codec import is_padding
from spdm.requester import DheKeyShare
from spdm.transport.base import Transport
from spdm.transport.doe import MAX_DW_PADDING

__all__ = [
    "MctpReplayTransport",
    "RecordedKeyShare",
    "ReplayDivergence",
    "ReplayTransport",
    "recorded_key_shares",
    "recorded_random",
    "recorded_signer",
]


class ReplayDivergence(SpdmError):
    """The requester did something other than what the recording shows."""


Exchange = tuple[CapturedMessage, CapturedMessage]
"""A recorded request and the response that answered it."""


class ReplayTransport(Transport):
    """Answers each request with the recorded response, in order.

    With `strict` (the default), a request must equal the recorded one; after a secured record (or a
    message the capture could not decode) the recording may carry up to `max_padding` zero bytes
    (DOE pads objects to whole DWORDs). `alter`, if given,
    makes the response handed back from the recorded one (to test what a tampered answer does).
    """

    max_padding: ClassVar[int] = MAX_DW_PADDING

    def __init__(
        self,
        exchanges: Iterable[Exchange],
        *,
        strict: bool = True,
        alter: Callable[[CapturedMessage], bytes] | None = None,
    ) -> None:
        self._exchanges = list(exchanges)
        self._next = 0
        self.strict = strict
        self.alter = alter

    @classmethod
    def from_messages(
        cls,
        items: Iterable[CapturedMessage],
        *,
        strict: bool = True,
        alter: Callable[[CapturedMessage], bytes] | None = None,
    ) -> ReplayTransport:
        """Pair a capture's SPDM and secured records (request, response, request, ...), skipping DOE discovery."""
        flow = [item for item in items if item.kind in ("spdm", "secured")]
        if len(flow) % 2:
            raise ReplayDivergence(f"the capture ends with an unanswered request (record {flow[-1].index})")
        return cls(zip(flow[::2], flow[1::2], strict=True), strict=strict, alter=alter)

    def exchange(self, request: bytes, *, session_id: int | None = None, timeout: float | None = None) -> bytes:
        if self._next == len(self._exchanges):
            raise ReplayDivergence(f"the requester sent {bytes(request[:16]).hex()}... after the last recorded request")
        recorded, response = self._exchanges[self._next]
        where = f"record {recorded.index}"
        if (session_id is None) != (recorded.kind == "spdm"):
            sent = "secured" if session_id is not None else "clear"
            raise ReplayDivergence(f"{where}: the requester sent a {sent} request, not a {recorded.kind} one")
        if self.strict and not self._same(bytes(request), recorded):
            raise ReplayDivergence(f"{where}: sent {bytes(request).hex()}, recorded {recorded.data.hex()}")
        self._next += 1
        return self.alter(response) if self.alter is not None else response.data

    def _same(self, request: bytes, recorded: CapturedMessage) -> bool:
        """Equal, but for transport padding where the capture could not strip it (records, undecodable messages)."""
        data = recorded.data
        slack = 0 if recorded.message is not None else self.max_padding
        padding = data[len(request) :]
        return data[: len(request)] == request and is_padding(padding, slack)

    def done(self) -> bool:
        """True when every recorded request was sent."""
        return self._next == len(self._exchanges)


class MctpReplayTransport(ReplayTransport):
    """MCTP carries no transport padding after a record."""

    max_padding: ClassVar[int] = 0


def recorded_random(values: Sequence[bytes]) -> Callable[[int], bytes]:
    """A `random` source for `RequesterConfig` that hands out the recorded draws in order."""
    queue = iter(values)

    def draw(size: int) -> bytes:
        value = next(queue, None)
        if value is None:
            raise ReplayDivergence(f"the requester drew {size} random bytes after the last recorded draw")
        if len(value) != size:
            raise ReplayDivergence(f"the requester drew {size} random bytes where the recording drew {len(value)}")
        return value

    return draw


class RecordedKeyShare:
    """The recorded ExchangeData, and the known shared secret with the recorded response's ExchangeData."""

    def __init__(self, *, sent: bytes, peer: bytes, secret: bytes) -> None:
        self.sent, self.peer, self.secret = sent, peer, secret

    @property
    def exchange_data(self) -> bytes:
        return self.sent

    def shared_secret(self, peer_exchange_data: bytes) -> bytes:
        if bytes(peer_exchange_data) != self.peer:
            raise ReplayDivergence("the responder's ExchangeData is not the recorded one")
        return self.secret


def recorded_key_shares(
    sent: Sequence[bytes], answered: Sequence[bytes], secrets: Sequence[bytes]
) -> Callable[[DheSuite], DheKeyShare]:
    """A `dhe_key_share` factory for `RequesterConfig`: one `RecordedKeyShare` per KEY_EXCHANGE, in order.

    `sent` and `answered` are the ExchangeData of the recorded KEY_EXCHANGE and KEY_EXCHANGE_RSP
    messages, `secrets` the shared secrets (e.g. a manifest's or a secrets sidecar's).
    """
    if not len(sent) == len(answered) == len(secrets):
        raise ValueError(f"{len(sent)} KEY_EXCHANGE, {len(answered)} KEY_EXCHANGE_RSP and {len(secrets)} secrets")
    shares = iter([RecordedKeyShare(sent=q, peer=r, secret=s) for q, r, s in zip(sent, answered, secrets, strict=True)])

    def share(suite: DheSuite) -> DheKeyShare:
        found = next(shares, None)
        if found is None:
            raise ReplayDivergence("the requester started more DHE exchanges than the recording holds")
        return found

    return share


def recorded_signer(
    signatures: Iterable[bytes], public_key: PublicKeyTypes, asym: AsymSuite, hash_suite: HashSuite
) -> Callable[[SignatureInput], bytes]:
    """A `sign` hook for `RequesterIdentity` that hands out recorded signatures (randomised ECDSA cannot
    be reproduced), each only if it verifies over what the requester asks to have signed:
    so the requester's transcript is proven to be the recorded one."""
    queue = iter(signatures)

    def sign(signed: SignatureInput) -> bytes:
        signature = next(queue, None)
        if signature is None:
            raise ReplayDivergence("the requester signed more often than the recording shows")
        try:
            asym.verify(public_key, signed, signature, hash_suite)
        except VerificationError:
            raise ReplayDivergence("the recorded signature does not cover the digest the requester signs") from None
        return signature

    return sign
