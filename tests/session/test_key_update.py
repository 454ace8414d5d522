"""KEY_UPDATE's rules (`spdm.session.key_update`), with an initiator and an answerer in memory: which
key changes when, and which keys open a record while an update is in flight, fallbacks included."""

from __future__ import annotations

import pytest

from spdm.crypto import aead_suite, hash_suite
from spdm.errors import VerificationError
from spdm.messages.codes import AeadAlgorithm, BaseHashAlgo, KeyUpdateOperation
from spdm.session import AnsweredKeyUpdate, KeySchedule, SecuredSession, SentKeyUpdate, next_keys

SHA_256, AES = hash_suite(BaseHashAlgo.SHA_256), aead_suite(AeadAlgorithm.AES_256_GCM)
UPDATE_KEY, UPDATE_ALL_KEYS = KeyUpdateOperation.UPDATE_KEY, KeyUpdateOperation.UPDATE_ALL_KEYS
MESSAGE = b"\x11\x6e\x01\x00"


def _pair() -> tuple[KeySchedule, SecuredSession, SecuredSession]:
    """A key schedule and both ends of a session under its (handshake) keys: requester, responder."""
    schedule = KeySchedule(SHA_256, AES, b"shared secret", spdm_version=0x11)
    keys = schedule.handshake(bytes(32))
    ends = [
        SecuredSession.from_keys(role=role, session_id=9, aead=AES, request=keys.request, response=keys.response)
        for role in ("requester", "responder")
    ]
    return schedule, ends[0], ends[1]


def test_update_key() -> None:
    """UpdateKey: the answerer takes the new request key at once, the initiator after the ACK (sealed
    under the unchanged response key); VerifyNewKey then travels under the new request key."""
    schedule, requester, responder = _pair()
    old_request, old_response = requester.request.keys, requester.response.keys
    assert old_request is not None and old_response is not None
    sent = SentKeyUpdate(requester, schedule, UPDATE_KEY)
    assert responder.open(requester.seal(MESSAGE)) == MESSAGE  # KEY_UPDATE, under the old key
    answered = AnsweredKeyUpdate(responder, schedule, UPDATE_KEY)
    assert responder.response.keys == old_response
    assert sent.open(responder.seal(MESSAGE)) == MESSAGE  # the ACK
    assert sent.answerer_keys is None
    new = sent.acknowledged()
    assert new == schedule.update(old_request) == responder.request.keys == requester.request.keys
    assert requester.request.sequence_number == 0
    assert answered.open(requester.seal(MESSAGE)) == MESSAGE  # VerifyNewKey, under the new key
    assert responder.request.sequence_number == 1


def test_update_all_keys() -> None:
    """UpdateAllKeys: the answerer's own key changes before the ACK, which the initiator opens with it."""
    schedule, requester, responder = _pair()
    old_response = requester.response.keys
    assert old_response is not None
    sent = SentKeyUpdate(requester, schedule, UPDATE_ALL_KEYS)
    responder.open(requester.seal(MESSAGE))
    AnsweredKeyUpdate(responder, schedule, UPDATE_ALL_KEYS)
    assert responder.response.keys == schedule.update(old_response)
    assert sent.open(responder.seal(MESSAGE)) == MESSAGE
    assert sent.answerer_keys == schedule.update(old_response)
    sent.acknowledged()
    assert requester.request.keys == responder.request.keys
    assert requester.response.keys == responder.response.keys
    assert responder.open(requester.seal(MESSAGE)) == MESSAGE


def test_an_answerer_that_did_not_update_its_key() -> None:
    """libspdm's requester: an ACK that does not open with the responder's new key is opened with the old
    one, which stays; the initiator's own key still moves after the ACK."""
    schedule, requester, responder = _pair()
    old_response = requester.response
    sent = SentKeyUpdate(requester, schedule, UPDATE_ALL_KEYS)
    assert requester.response is not old_response
    responder.open(requester.seal(MESSAGE))
    AnsweredKeyUpdate(responder, schedule, UPDATE_KEY)  # an answerer that updates the request key only
    assert sent.open(responder.seal(MESSAGE)) == MESSAGE
    assert requester.response is old_response and sent.answerer_keys is None
    sent.acknowledged()
    assert requester.request.keys == responder.request.keys
    assert responder.open(requester.seal(MESSAGE)) == MESSAGE


def test_both_answerer_keys_stay_candidates_until_the_exchange_ends() -> None:
    """An ERROR Busy under the old key, then the retry's ACK under the new one: both open."""
    schedule, requester, responder = _pair()
    old_response = responder.response
    sent = SentKeyUpdate(requester, schedule, UPDATE_ALL_KEYS)
    assert sent.open(old_response.seal(MESSAGE)) == MESSAGE  # ERROR Busy, under the old key
    updated = old_response.rekeyed(next_keys(schedule, old_response))
    assert sent.open(updated.seal(MESSAGE)) == MESSAGE  # the retry's ACK, under the new key
    assert sent.answerer_keys == updated.keys
    with pytest.raises(VerificationError):
        sent.open(b"\x09\x00\x00\x00\x14\x00" + bytes(20))  # neither key


def test_refused_leaves_the_answerer_key() -> None:
    schedule, requester, _ = _pair()
    old_request, old_response = requester.request, requester.response
    sent = SentKeyUpdate(requester, schedule, UPDATE_ALL_KEYS)
    sent.refused()
    assert requester.request is old_request and requester.response is old_response


def test_the_answerer_opens_records_under_the_old_key_until_verify_new_key() -> None:
    """An initiator that has not seen the ACK still seals under its old key: the answerer opens it, and
    its new key starts again at sequence number 0 (as libspdm rolls back and re-creates it)."""
    schedule, requester, responder = _pair()
    responder.open(requester.seal(MESSAGE))
    answered = AnsweredKeyUpdate(responder, schedule, UPDATE_KEY)
    assert answered.open(requester.seal(MESSAGE)) == MESSAGE  # a retry under the old key
    assert answered.fallback.sequence_number == 2 and responder.request.sequence_number == 0
    sent = SentKeyUpdate(requester, schedule, UPDATE_KEY)
    sent.acknowledged()
    assert answered.open(requester.seal(MESSAGE)) == MESSAGE  # VerifyNewKey, new key, sequence number 0
    with pytest.raises(VerificationError):
        answered.open(b"\x09\x00\x00\x00\x14\x00" + bytes(20))


def test_only_updates_are_updates() -> None:
    schedule, requester, responder = _pair()
    for operation in (KeyUpdateOperation.VERIFY_NEW_KEY, 0, 4):
        with pytest.raises(ValueError, match="KeyOperation"):
            SentKeyUpdate(requester, schedule, operation)
        with pytest.raises(ValueError, match="KeyOperation"):
            AnsweredKeyUpdate(responder, schedule, operation)


def test_a_responder_initiated_update() -> None:
    """An encapsulated KEY_UPDATE travels in the response direction: the same rules, the roles swapped."""
    schedule, requester, responder = _pair()
    old_response = responder.response.keys
    assert old_response is not None
    sent = SentKeyUpdate(responder, schedule, UPDATE_ALL_KEYS, sender="response")
    requester.open(responder.seal(MESSAGE))
    AnsweredKeyUpdate(requester, schedule, UPDATE_ALL_KEYS, sender="response")
    assert sent.open(requester.seal(MESSAGE)) == MESSAGE and sent.answerer_keys == requester.request.keys
    assert sent.acknowledged() == schedule.update(old_response) == requester.response.keys


def test_the_outcome_reads_the_same_after_the_ack() -> None:
    schedule, requester, responder = _pair()
    sent = SentKeyUpdate(requester, schedule, UPDATE_ALL_KEYS)
    AnsweredKeyUpdate(responder, schedule, UPDATE_ALL_KEYS)
    sent.open(responder.seal(MESSAGE))
    sent.acknowledged()
    assert sent.answerer_keys == responder.response.keys
