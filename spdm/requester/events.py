"""What a sans-IO requester operation asks of its driver, and how it ends.

Each operation of `spdm.requester.connection.Connection` and of its sessions is an `Operation`:
a conversation with the device that never touches a transport, a clock or a sleep itself. It
tells its driver what it needs next (`Operation.next_event`):

* `Send`: carry `request` to the device (as a secured record of session `session_id` when that
  is set), waiting at most `timeout` seconds, and hand the response bytes to `receive`;
* `Wait`: the device answered ResponseNotReady; wait `seconds`, then `resume`;
* `Done`: the operation is over and `result` is what it established.

A driver that cannot do what an event asks (the transport failed, the task was cancelled) hands
the error to `fail`: the operation cleans up (a half-open session is discarded, a key update
undone) and the error comes back out. Errors of the protocol (an ERROR answer, a bad signature)
come out of `receive` or `resume`. Either way the operation is over.

Inside, an operation is a generator (`Steps`) that yields `Send` and `Wait` and returns its
result: every rule is written once, as straight-line code, and the drivers (the blocking
`spdm.requester.Requester`, the asyncio `spdm.aio.AsyncRequester`) only move bytes.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Done", "Event", "Operation", "Send", "Steps", "Wait", "send", "wait"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """Carry `request` to the device and answer with the response bytes (`Operation.receive`).

    With `session_id`, `request` is a DSP0277 secured message of that session (DOE: object type
    2); without, an SPDM message. `timeout` (seconds) is the responder's time for this request
    (CT or ST1) plus `RequesterConfig.rtt`.
    """

    request: bytes
    session_id: int | None = None
    timeout: float


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait `seconds` (the RDT of a ResponseNotReady), then `Operation.resume`."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    """The operation is over; `result` is what it returns."""

    result: T


Event = Send | Wait
Steps = Generator[Event, bytes | None, T]
"""An operation's body: yields `Send` (answered with the response bytes) and `Wait` (answered
with None), returns its result."""


def send(request: bytes, *, session_id: int | None = None, timeout: float) -> Steps[bytes]:
    """One `Send`: the response bytes."""
    response = yield Send(request=request, session_id=session_id, timeout=timeout)
    if response is None:
        raise TypeError("a Send is answered with the response bytes (Operation.receive)")
    return response


def wait(seconds: float) -> Steps[None]:
    """One `Wait`."""
    yield Wait(seconds)


class Operation(Generic[T]):
    """One requester operation in progress: ask `next_event`, answer it, until `Done`.

    ``receive``, ``resume`` and ``fail`` return the next event too, so a driver is one loop::

        event = operation.next_event()
        while not isinstance(event, Done):
            if isinstance(event, Send):
                event = operation.receive(transport.exchange(event.request, ...))
            else:
                time.sleep(event.seconds)
                event = operation.resume()
        return event.result

    Operations of one connection run one at a time: SPDM allows one outstanding request.
    """

    __slots__ = ("_error", "_event", "_steps")

    def __init__(self, steps: Steps[T]) -> None:
        self._steps = steps
        self._event: Event | Done[T] | None = None
        self._error: BaseException | None = None

    def next_event(self) -> Event | Done[T]:
        """What the operation needs now (the same event until it is answered); the first call starts it."""
        if self._error is not None:
            raise RuntimeError("the operation has failed") from self._error
        if self._event is None:
            return self._advance(None)
        return self._event

    def receive(self, response: bytes) -> Event | Done[T]:
        """The response to the pending `Send`; returns the next event."""
        self._expect(Send)
        return self._advance(response)

    def resume(self) -> Event | Done[T]:
        """The pending `Wait` is over; returns the next event."""
        self._expect(Wait)
        return self._advance(None)

    def fail(self, error: BaseException) -> Event | Done[T]:
        """The pending event could not be done: the operation cleans up and `error` is raised from here."""
        self._expect(Send, Wait)
        return self._advance(None, error)

    def _expect(self, *kinds: type) -> None:
        if not isinstance(self.next_event(), kinds):
            names = " or ".join(kind.__name__ for kind in kinds)
            raise RuntimeError(f"the operation is not waiting for a {names}: it asked {self._event!r}")

    def _advance(self, answer: bytes | None, error: BaseException | None = None) -> Event | Done[T]:
        """Run the body to its next event (or its end), with `answer` or `error` for the last one."""
        try:
            event: Event | Done[T] = self._steps.send(answer) if error is None else self._steps.throw(error)
        except StopIteration as stop:
            event = Done(stop.value)
        except BaseException as failure:
            self._error = failure
            raise
        self._event = event
        return event
