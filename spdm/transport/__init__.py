"""Transports that carry SPDM messages, and the framing codecs they are built on.

* `base`: the `Transport` interface requesters talk through (`exchange` one message, `close`).
* `loopback`: `LoopbackTransport`, the responder's `respond` called in memory.
* `doe`: PCIe DOE data objects and discovery; `DoeTransport` (SPDM over any `DoeLink` that moves
  whole objects) and `DoeMailboxResponder` (a DOE instance around a `respond` callable).
* `mailbox`: `DoeMailbox`, a DOE instance as its registers (device side), hosting discovery,
  CMA/SPDM and any registered protocol (CXL Table Access / CDAT: `spdm.cdat`).
* `doe_host`: `DoeHostLink`, a `DoeLink` that drives DOE registers as Linux's DOE driver does.
* `mediator`: `DoeMediator`, one mailbox shared by several clients under a per-protocol policy.
* `socket`: the spdm-emu / QEMU TCP protocol, as a client `SocketLink` and a `SocketServer`.
* `mctp`: MCTP framing as spdm-emu records it.

Transports never import the requester or the responder: a server is handed a callable.
"""

from __future__ import annotations

from spdm.transport.base import Respond, Transport
from spdm.transport.doe import DoeLink, DoeMailboxResponder, DoeTransport
from spdm.transport.doe_host import DoeHostLink, RegisterInterface
from spdm.transport.loopback import LoopbackTransport
from spdm.transport.mailbox import DoeMailbox
from spdm.transport.mediator import DoeAccessDenied, DoeMediator, MailboxBusy, MediatedLink
from spdm.transport.socket import SocketLink, SocketServer

__all__ = [
    "DoeAccessDenied",
    "DoeHostLink",
    "DoeLink",
    "DoeMailbox",
    "DoeMailboxResponder",
    "DoeMediator",
    "DoeTransport",
    "LoopbackTransport",
    "MailboxBusy",
    "MediatedLink",
    "RegisterInterface",
    "Respond",
    "SocketLink",
    "SocketServer",
    "Transport",
]
