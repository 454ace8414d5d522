"""An in-memory DOE link: a requester and a responder in one process, talking PCIe DOE objects.

`MemoryDoeLink` is a `DoeLink` that hands each request object, whole, to a DOE instance in the
same process and returns its answer: no registers, no socket, no thread. Over a responder's
`respond` it is the whole DOE path a device would see (discovery, type 1 and type 2 objects, DW
padding: the responder must take up to 3 zero bytes after a message, as a DOE device does)::

    responder = Responder(replace(demo_config(), max_padding=MAX_DW_PADDING))
    link = MemoryDoeLink(responder.respond)
    requester = Requester(DoeTransport(link), config)

With ``device=`` it serves any function from request object to response object instead (a
`DoeMailboxResponder` of one's own, a scripted device). ``record=True`` keeps every object sent
and received; `alter` rewrites answers on their way back (a device, or a path, that tampers).
"""

from __future__ import annotations

from collections.abc import Callable

from spdm.errors import TransportError
from spdm.transport.base import Respond
from spdm.transport.doe import DoeMailboxResponder

__all__ = ["MemoryDoeLink"]

ObjectDevice = Callable[[bytes], "bytes | None"]
"""A DOE instance as a function: whole request object in, whole response object (or None) out."""


class MemoryDoeLink:
    """A `DoeLink` to a DOE instance in memory.

    Give either `respond` (an SPDM ``respond(request, session_id)``, such as ``Responder.respond``,
    served by a `DoeMailboxResponder`; `secured` false leaves the secured object type out of its
    discovery) or `device` (any function from request object to response object).

    - `record`: keep every request object in `sent` (and the timeout it was given in `timeouts`)
      and every response object in `received`; without it those lists stay empty.
    - `alter`: when set (also later, as an attribute), ``alter(request, response)`` returns the
      response object handed back instead of the device's.

    An object the device discards (answers None) raises `TransportError`, as the timeout of a real
    link would. `close` only sets `closed`.
    """

    def __init__(
        self,
        respond: Respond | None = None,
        *,
        device: ObjectDevice | None = None,
        secured: bool = True,
        record: bool = False,
        alter: Callable[[bytes, bytes], bytes] | None = None,
    ) -> None:
        if device is None:
            if respond is None:
                raise TypeError("MemoryDoeLink needs respond or device")
            device = DoeMailboxResponder(respond, secured=secured)
        elif respond is not None:
            raise TypeError("MemoryDoeLink takes respond or device, not both")
        self.device = device
        self.record = record
        self.alter = alter
        self.sent: list[bytes] = []
        self.timeouts: list[float | None] = []
        self.received: list[bytes] = []
        self.closed = False

    def exchange_object(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        """The device's answer to `obj` (through `alter`, when set)."""
        if self.record:
            self.sent.append(obj)
            self.timeouts.append(timeout)
        answer = self.device(obj)
        if answer is None:
            raise TransportError("the DOE instance discarded the object (no response object)")
        if self.alter is not None:
            answer = self.alter(obj, answer)
        if self.record:
            self.received.append(answer)
        return answer

    def close(self) -> None:
        self.closed = True
