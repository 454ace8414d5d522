"""KEY_UPDATE (DSP0274 1.1 section "KEY_UPDATE request and KEY_UPDATE_ACK response"): which key
changes when, and what opens a record while an update is in flight, for every side.

The one place these rules are written; the requester, the responder and capture replay all step
through them. The side that sends KEY_UPDATE (the requester; the responder for an encapsulated
KEY_UPDATE) is the *initiator*, the side that answers it with KEY_UPDATE_ACK the *answerer*::

    operation       answerer (`AnsweredKeyUpdate`)             initiator and observer (`SentKeyUpdate`)
    UpdateKey       at KEY_UPDATE: the initiator's key         after KEY_UPDATE_ACK: the initiator's
                    changes; its old key still opens records   own key changes
                    until VerifyNewKey
    UpdateAllKeys   the same, and its own key changes before   the same, and the ACK is opened with the
                    the ACK is sealed                          answerer's new key, else (the answerer
                                                               did not update) with its old one
    VerifyNewKey    the old key is dropped                     (sent under the new key; nothing changes)

Each new key is `KeySchedule.update` of the old one (bin_str9 "traffic upd"), its sequence number
starting at 0. The fallbacks are libspdm's (at 1e16c60f, the captures' version): its requester
re-opens a response that does not open with the responder's new key with the old one and then
keeps the old one (`libspdm_activate_update_session_data_key(..., false)`), and still moves its own
key after the ACK; its responder opens a request that does not open with the new key with the old
one. What the answerer may be asked when (one update at a time, VerifyNewKey only after one) is
`answer_key_update`, shared by the responder and the requester answering an encapsulated KEY_UPDATE.
"""

from __future__ import annotations

from typing import Literal

from spdm.errors import ErrorCode, ProtocolError, SpdmError, VerificationError
from spdm.messages.codes import KeyUpdateOperation
from spdm.session.keys import KeySchedule, TrafficKeys
from spdm.session.secured import DirectionState, SecuredSession

__all__ = [
    "KEY_CHANGING_OPERATIONS",
    "AnsweredKeyUpdate",
    "Sender",
    "SentKeyUpdate",
    "answer_key_update",
    "next_keys",
]

Sender = Literal["request", "response"]
"""The direction KEY_UPDATE travels in: "request" for the requester's, "response" for an encapsulated one."""

KEY_CHANGING_OPERATIONS = frozenset({KeyUpdateOperation.UPDATE_KEY, KeyUpdateOperation.UPDATE_ALL_KEYS})
"""The KEY_UPDATE operations that change keys; VerifyNewKey only shows the new key works (DSP0274 "KEY_UPDATE")."""


def next_keys(schedule: KeySchedule, state: DirectionState) -> TrafficKeys:
    """The keys that follow a direction's current ones after KEY_UPDATE (bin_str9 "traffic upd")."""
    if state.keys is None:
        raise SpdmError("the direction's traffic keys are not known: no KEY_UPDATE can derive the next ones")
    return schedule.update(state.keys)


def _opposite(sender: Sender) -> Sender:
    return "response" if sender == "request" else "request"


def _check_operation(operation: int) -> None:
    if operation not in KEY_CHANGING_OPERATIONS:
        raise ValueError(f"KeyOperation {operation} is not UpdateKey or UpdateAllKeys")


class SentKeyUpdate:
    """One UpdateKey or UpdateAllKeys as the initiator (or an observer of the exchange) follows it.

    Make it when KEY_UPDATE goes out (UpdateAllKeys installs the answerer's new key at once); open
    the answerer's records with `open` while it is in flight; then `acknowledged()` once the ACK
    came (the initiator's own key changes) or `refused()` when an ERROR (or nothing) came instead
    (the answerer keeps the key it had). VerifyNewKey needs no object: it travels under the new key.
    """

    __slots__ = ("_channel", "_new", "_old", "_schedule", "answering", "operation", "sender")

    def __init__(
        self, channel: SecuredSession, schedule: KeySchedule, operation: int, *, sender: Sender = "request"
    ) -> None:
        _check_operation(operation)
        self._channel, self._schedule = channel, schedule
        self.operation = operation
        self.sender: Sender = sender
        self.answering: Sender = _opposite(sender)
        self._old: DirectionState | None = None
        self._new: DirectionState | None = None
        if operation == KeyUpdateOperation.UPDATE_ALL_KEYS:
            self._old = _get(channel, self.answering)
            self._new = self._old.rekeyed(next_keys(schedule, self._old))
            _set(channel, self.answering, self._new)

    @property
    def answerer_keys(self) -> TrafficKeys | None:
        """The answerer's new keys when UpdateAllKeys changed them (its records open with them, the ACK
        did), else None: before and after `acknowledged()`."""
        new = self._new
        return new.keys if new is not None and _get(self._channel, self.answering) is new else None

    def open(self, record: bytes) -> bytes:
        """A record of the answerer while the update is in flight.

        Under UpdateAllKeys the current key is tried first, then the other one; the one that opens
        becomes current and the other stays a candidate until the exchange ends (an ERROR Busy
        under one key and the retry's ACK under the other are both possible).
        """
        current = _get(self._channel, self.answering)
        try:
            return current.open(record)
        except VerificationError:
            if self._old is None or self._new is None:
                raise
            other = self._old if current is self._new else self._new
            try:
                message = other.open(record)
            except SpdmError:
                raise VerificationError("the record opens with neither of the answerer's keys, new or old") from None
        _set(self._channel, self.answering, other)
        return message

    def acknowledged(self) -> TrafficKeys:
        """KEY_UPDATE_ACK came: the initiator's own key changes, whichever key the answerer used.
        Returns the initiator's new keys."""
        own = _get(self._channel, self.sender)
        keys = next_keys(self._schedule, own)
        _set(self._channel, self.sender, own.rekeyed(keys))
        self._old = None  # the exchange is over: the answerer's key is the one its ACK came under
        return keys

    def refused(self) -> None:
        """An ERROR (or no answer) instead of the ACK: the answerer keeps the key it had; nothing else changes."""
        if self._old is not None:
            _set(self._channel, self.answering, self._old)
        self._old = self._new = None


class AnsweredKeyUpdate:
    """One UpdateKey or UpdateAllKeys as the answerer follows it, from KEY_UPDATE to VerifyNewKey.

    Make it when KEY_UPDATE arrives: the initiator's key changes at once and its old key is kept;
    under UpdateAllKeys the answerer's own key changes too, before the ACK is sealed. Open the
    initiator's records with `open` until VerifyNewKey, then drop the object (the old key with it).
    """

    __slots__ = ("_channel", "fallback", "operation", "sender")

    def __init__(
        self, channel: SecuredSession, schedule: KeySchedule, operation: int, *, sender: Sender = "request"
    ) -> None:
        _check_operation(operation)
        self._channel = channel
        self.operation = operation
        self.sender: Sender = sender
        self.fallback = _get(channel, sender)
        """The initiator's old key: it may not have seen the ACK yet."""
        initiator = self.fallback.rekeyed(next_keys(schedule, self.fallback))
        if operation == KeyUpdateOperation.UPDATE_ALL_KEYS:
            own = _get(channel, _opposite(sender))
            _set(channel, _opposite(sender), own.rekeyed(next_keys(schedule, own)))
        _set(channel, sender, initiator)

    def open(self, record: bytes) -> bytes:
        """A record of the initiator: under its new key, else under its old one. After a record under
        the old key the new one starts again at sequence number 0 (libspdm rolls back to the old key
        and the initiator re-creates the new one); the update stays pending."""
        current = _get(self._channel, self.sender)
        try:
            return current.open(record)
        except VerificationError:
            message = self.fallback.open(record)
        if current.keys is not None:
            _set(self._channel, self.sender, current.rekeyed(current.keys))
        return message


def answer_key_update(
    channel: SecuredSession,
    schedule: KeySchedule,
    pending: AnsweredKeyUpdate | None,
    operation: int,
    *,
    sender: Sender = "request",
) -> AnsweredKeyUpdate | None:
    """The answerer's step for one KEY_UPDATE: UpdateKey / UpdateAllKeys start an update (one at a
    time), VerifyNewKey ends the pending one. Returns the update now awaiting VerifyNewKey (None
    once it ended); anything else raises `ProtocolError` InvalidRequest and changes no key."""
    if operation in KEY_CHANGING_OPERATIONS:
        if pending is not None:
            raise ProtocolError(ErrorCode.InvalidRequest, "a key update is already waiting for VerifyNewKey")
        return AnsweredKeyUpdate(channel, schedule, operation, sender=sender)
    if operation == KeyUpdateOperation.VERIFY_NEW_KEY:
        if pending is None:
            raise ProtocolError(ErrorCode.InvalidRequest, "VerifyNewKey with no key update pending")
        return None
    raise ProtocolError(ErrorCode.InvalidRequest, f"KeyOperation {operation} is reserved")


def _get(channel: SecuredSession, direction: Sender) -> DirectionState:
    return channel.request if direction == "request" else channel.response


def _set(channel: SecuredSession, direction: Sender, state: DirectionState) -> None:
    if direction == "request":
        channel.request = state
    else:
        channel.response = state
