"""HEARTBEAT, KEY_UPDATE and END_SESSION with their ACKs: the 4-byte in-session controls."""

from __future__ import annotations

from dataclasses import dataclass

import construct as c

from spdm.messages.codec import Message, message
from spdm.messages.codes import Code

__all__ = ["EndSession", "EndSessionAck", "Heartbeat", "HeartbeatAck", "KeyUpdate", "KeyUpdateAck"]


@message(Code.HEARTBEAT, "param1" / c.Int8ul, "param2" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat(Message):
    version: int = 0x11
    param1: int = 0
    param2: int = 0


@message(Code.HEARTBEAT_ACK, "param1" / c.Int8ul, "param2" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatAck(Message):
    version: int = 0x11
    param1: int = 0
    param2: int = 0


@message(Code.KEY_UPDATE, "operation" / c.Int8ul, "tag" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class KeyUpdate(Message):
    """`operation` is a `KeyUpdateOperation` value; `tag` a random byte the ACK echoes."""

    version: int = 0x11
    operation: int
    tag: int


@message(Code.KEY_UPDATE_ACK, "operation" / c.Int8ul, "tag" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class KeyUpdateAck(Message):
    """Echoes the request's `operation` and `tag`."""

    version: int = 0x11
    operation: int
    tag: int


@message(Code.END_SESSION, "attributes" / c.Int8ul, "param2" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class EndSession(Message):
    """`attributes` bit 0 asks a CACHE_CAP responder to drop its cached negotiated state."""

    version: int = 0x11
    attributes: int = 0
    param2: int = 0


@message(Code.END_SESSION_ACK, "param1" / c.Int8ul, "param2" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class EndSessionAck(Message):
    version: int = 0x11
    param1: int = 0
    param2: int = 0
