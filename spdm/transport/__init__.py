"""Transports that carry SPDM messages, and the framing codecs they are built on.

* `base`: the `Transport` interface requesters talk through (`exchange` one message, `close`).
* `loopback`: `LoopbackTransport`, the responder's `respond` called in memory.
* `doe`: PCIe DOE data objects and discovery; `DoeTransport` (SPDM over any `DoeLink` that moves
  whole objects) and `DoeMailboxResponder` (a DOE instance around a `respond` callable).
* `socket`: the spdm-emu / QEMU TCP protocol, as a client `SocketLink` and a `SocketServer`.
* `mctp`: MCTP framing as spdm-emu records it.

Transports never import the requester or the responder: a server is handed a callable.
"""

from __future__ import annotations

from spdm.transport.base import Respond, Transport
from spdm.transport.doe import DoeLink, DoeMailboxResponder, DoeTransport
from spdm.transport.loopback import LoopbackTransport
from spdm.transport.socket import SocketLink, SocketServer

__all__ = [
    "DoeLink",
    "DoeMailboxResponder",
    "DoeTransport",
    "LoopbackTransport",
    "Respond",
    "SocketLink",
    "SocketServer",
    "Transport",
]
