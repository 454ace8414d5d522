"""Every refusal of a session request: the exact ERROR, where it travels, and nothing changed.

A record the responder cannot open (no such session, bad framing, replay, bad tag) is answered
in the clear and leaves every session as it was: the genuine record sent next still opens. A
request refused inside a session is answered inside it, and the session goes on. A refused
KEY_EXCHANGE or PSK_EXCHANGE leaves no session behind. Each case ends by using the session (or
opening one) successfully.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from responder_peer import NONCE
from session_peer import (
    CLEAR_FLAG,
    MUTUAL_FLAGS,
    PSK,
    PSK_HINT,
    SESSION_REQUESTER_FLAGS,
    RequesterSession,
    SessionPeer,
    session_offer,
)
from test_responder_sessions import MUTUAL, REQUESTER, STRANGER, config, established, exercise, mutual_peer, peer_for

from spdm.errors import PeerError
from spdm.limits import Limits
from spdm.messages import Message, decode, encode
from spdm.messages.certificates import Certificate, Digests, GetCertificate, GetDigests
from spdm.messages.challenge import Challenge
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, Code, ErrorCode, KeyUpdateOperation
from spdm.messages.encapsulated import (
    DeliverEncapsulatedResponse,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    GetEncapsulatedRequest,
)
from spdm.messages.error import ErrorResponse, ResponseNotReady
from spdm.messages.key_exchange import Finish
from spdm.messages.negotiation import GetCapabilities, GetVersion
from spdm.messages.opaque import version_list_opaque
from spdm.messages.psk import PskExchange, PskFinish
from spdm.messages.session_control import EndSession, Heartbeat, KeyUpdate
from spdm.messages.vendor import VendorDefinedRequest
from spdm.responder import DEFAULT_CAPABILITIES, Responder, SessionState, demo_config, session_capabilities
from spdm.session import MAX_SEQUENCE_NUMBER, DirectionState

E = ErrorCode
F = CapabilityFlags
S = SessionState
HEARTBEAT = Heartbeat(version=0x11)


def clear_error(peer: SessionPeer, request: Message | bytes, code: int, data: int | None = None) -> ErrorResponse:
    """A request outside any session refused with ERROR `code`."""
    answer = peer.decode(peer.raw(request if isinstance(request, bytes) else encode(request)))
    assert isinstance(answer, ErrorResponse), answer
    assert answer.error_code == code, f"ERROR 0x{answer.error_code:02x}, expected 0x{code:02x}"
    if data is not None:
        assert answer.error_data == data
    return answer


# --- records that do not open ------------------------------------------------------------------


def tampered(record: bytes) -> list[bytes]:
    """The record with one thing wrong each: header Length, a ciphertext byte, the tag, a length cut."""
    length = int.from_bytes(record[4:6], "little")
    flipped_length = record[:4] + (length - 1).to_bytes(2, "little") + record[6:]
    return [
        flipped_length,
        record[:8] + bytes([record[8] ^ 0x80]) + record[9:],
        record[:-1] + bytes([record[-1] ^ 1]),
        record[:-1],
        record[:6],
        record + b"\x01",
        record + bytes(4),
    ]


def test_a_record_that_does_not_open_ends_its_session() -> None:
    """DecryptError ends the session on both sides (libspdm_rsp_receive_send.c frees it; a requester
    drops its own on that answer), so a requester's sessions never pile up on the responder. Other
    sessions go on, and the one that ended answers InvalidSession from then on."""
    peer = peer_for()
    bystander = established(peer)
    for bad in tampered(established(peer).seal(HEARTBEAT)):
        session = established(peer)
        record = session.seal(HEARTBEAT)
        bad = session.session_id.to_bytes(4, "little") + bad[4:]
        session.expect_clear_error(bad, E.DecryptError)
        assert session.session_id not in peer.responder.sessions
        session.expect_clear_error(record, E.InvalidSession)
    assert set(peer.responder.sessions) >= {bystander.session_id}
    exercise(bystander)


def test_doe_padding_after_a_record_is_fine_and_a_replay_ends_the_session() -> None:
    peer = peer_for()
    session = established(peer)
    record = session.seal(HEARTBEAT)
    response = peer.raw(record + bytes(-len(record) % 4), session.session_id)  # DOE padding is fine
    assert peer.decode(session.channel.open(response)).code == Code.HEARTBEAT_ACK
    session.expect_clear_error(record, E.DecryptError)  # replayed
    assert peer.responder.sessions == {}
    exercise(established(peer))


def test_a_record_that_does_not_open_leaves_the_measurement_transcript() -> None:
    """Found by the fuzz-profile campaign: an unknown session's record answered in the clear must not
    restart the connection's L1/L2, or the next signed MEASUREMENTS signs a transcript the requester
    never saw."""
    peer = peer_for()
    session = established(peer)
    peer.peer.measurements(0, signed=False)
    record = session.seal(HEARTBEAT)
    unknown = session.session_id ^ 0x0000_0001
    session.expect_clear_error(unknown.to_bytes(4, "little") + record[4:], E.InvalidSession, session_id=unknown)
    session.expect_clear_error(tampered(record)[2], E.DecryptError)  # the session ends with it
    session.expect_clear_error(record, E.InvalidSession)
    peer.peer.measurements(0xFF, signed=True)  # verifies over the unsigned exchange and this one


def test_unknown_and_mismatched_session_ids() -> None:
    peer = peer_for()
    session, other = established(peer), established(peer)
    record = session.seal(HEARTBEAT)
    session.expect_clear_error(record, E.InvalidSession, session_id=other.session_id)  # the record names another
    unknown = 0x1234_5678
    session.expect_clear_error(unknown.to_bytes(4, "little") + record[4:], E.InvalidSession, session_id=unknown)
    session.expect_clear_error(record[:3], E.InvalidSession)
    session.expect_clear_error(b"", E.InvalidSession)
    assert peer.decode(session.channel.open(peer.raw(record, session.session_id))).code == Code.HEARTBEAT_ACK
    # The other session's ID on this session's record: it does not open there, and that session ends.
    forged = other.session_id.to_bytes(4, "little") + record[4:]
    other.expect_clear_error(forged, E.DecryptError)
    assert list(peer.responder.sessions) == [session.session_id]
    session.heartbeat()


def test_an_oversized_request_in_a_session_is_refused_inside_it() -> None:
    """Over `max_request_bytes` once opened: a sealed InvalidRequest, and the session goes on (a clear
    answer other than InvalidSession/DecryptError would make a requester drop it while we keep it)."""
    peer = peer_for(limits=Limits(max_request_bytes=400), data_transfer_size=400, max_spdm_msg_size=400)
    session = established(peer)
    oversized = VendorDefinedRequest(version=0x11, standard_id=0, vendor_id=b"", payload=bytes(500))
    session.expect_error(oversized, E.InvalidRequest)
    session.heartbeat()


def test_an_oversized_record_that_does_not_open_ends_the_session_like_any_other() -> None:
    peer = peer_for(limits=Limits(max_request_bytes=400), data_transfer_size=400, max_spdm_msg_size=400)
    session = established(peer)
    session.expect_clear_error(session.session_id.to_bytes(4, "little") + bytes(500), E.DecryptError)
    assert peer.responder.sessions == {}


def test_old_key_after_key_update_is_refused() -> None:
    peer = peer_for()
    session = established(peer)
    old = session.channel.request
    session.key_update(KeyUpdateOperation.UPDATE_KEY)
    stale = DirectionState.from_keys(old.keys, session_id=session.session_id, aead=old.aead)  # type: ignore[arg-type]
    session.expect_clear_error(stale.seal(encode(HEARTBEAT)), E.DecryptError)
    assert peer.responder.sessions == {}


def test_old_request_key_still_opens_until_verify_new_key() -> None:
    """libspdm's fallback: after UpdateKey's ACK the old request key works until VerifyNewKey proves the new one."""
    peer = peer_for()
    session = established(peer)
    channel = session.channel
    assert channel.request.keys is not None
    ack = session.request(KeyUpdate(version=0x11, operation=KeyUpdateOperation.UPDATE_KEY, tag=1))
    assert ack.code == Code.KEY_UPDATE_ACK
    session.heartbeat()  # still under the old key: accepted, the update stays pending
    channel.rekey_request(session.schedule.update(channel.request.keys))
    session.heartbeat()  # under the new key
    verify = session.request(KeyUpdate(version=0x11, operation=KeyUpdateOperation.VERIFY_NEW_KEY, tag=2))
    assert verify.code == Code.KEY_UPDATE_ACK
    exercise(session)


def test_sequence_number_exhausted() -> None:
    """At 2^64 - 1 the response cannot be sealed: a clear ERROR, and the session is gone (as in libspdm)."""
    peer = peer_for()
    session = established(peer)
    state = peer.responder._sessions.get(session.session_id)
    assert state is not None
    response = state.channel.response
    state.channel.response = DirectionState(
        session_id=session.session_id,
        aead=response.aead,
        key=bytes(response.aead.key_size),
        iv=bytes(12),
        sequence_number=MAX_SEQUENCE_NUMBER,
    )
    session.expect_clear_error(session.seal(HEARTBEAT), E.Unspecified)
    assert peer.responder.sessions == {}
    established(peer).heartbeat()


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=80), st.sampled_from([0, 1, 2]))
def test_random_records_end_at_most_their_own_session(data: bytes, prefix: int) -> None:
    """A random record naming a session gets a 4-byte clear ERROR; DecryptError ends that session and
    nothing else, any other answer changes nothing."""
    peer = FUZZ_PEER
    session = established(peer)
    session_id = session.session_id
    record = data
    if prefix == 1:
        record = session_id.to_bytes(4, "little") + data
    elif prefix == 2:
        record = session_id.to_bytes(4, "little") + len(data).to_bytes(2, "little") + data
    response = peer.raw(record, session_id)
    answer = decode(response)
    assert isinstance(answer, ErrorResponse) and len(response) == 4
    assert answer.error_code in (E.InvalidSession, E.DecryptError, E.InvalidRequest)
    if answer.error_code == E.DecryptError:
        assert session_id not in peer.responder.sessions
    else:
        session.heartbeat()
        session.end_session()
    FUZZ_SESSION.heartbeat()


FUZZ_PEER = peer_for()
FUZZ_SESSION = established(FUZZ_PEER)


# --- session requests outside a session, connection requests inside one -----------------------


SESSION_ONLY_REQUESTS: list[Message] = [
    HEARTBEAT,
    KeyUpdate(version=0x11, operation=KeyUpdateOperation.UPDATE_KEY, tag=1),
    EndSession(version=0x11),
    GetEncapsulatedRequest(version=0x11),
    DeliverEncapsulatedResponse(version=0x11, request_id=1, payload=encode(GetDigests(version=0x11))),
]


def test_session_requests_outside_a_session() -> None:
    peer = peer_for(SESSION_REQUESTER_FLAGS | MUTUAL_FLAGS)
    session = established(peer)
    handshaking = peer.key_exchange()
    psk = peer.psk_exchange()
    # 1.1 has no SessionRequired: libspdm answers Unspecified (libspdm_rsp_heartbeat.c and the others),
    # and UnexpectedRequest to the encapsulated flow's requests (libspdm_rsp_encap_response.c)
    for request in SESSION_ONLY_REQUESTS:
        encapsulated = isinstance(request, (GetEncapsulatedRequest, DeliverEncapsulatedResponse))
        clear_error(peer, request, E.UnexpectedRequest if encapsulated else E.Unspecified, 0)
    clear_error(peer, handshaking.finish_request()[0], E.Unspecified)  # no handshake in the clear
    clear_error(peer, psk.psk_finish_request(), E.Unspecified)
    handshaking.finish()
    psk.psk_finish()
    for live in (session, handshaking, psk):
        exercise(live)


def test_connection_requests_inside_a_session() -> None:
    peer = peer_for()
    session = established(peer)
    state = peer.responder.state
    ask_psk = PskExchange(version=0x11, req_session_id=9, psk_hint=PSK_HINT, requester_context=bytes(32))
    for request in (
        GetVersion(),
        GetCapabilities(version=0x11, flags=SESSION_REQUESTER_FLAGS),
        session_offer(),
        Challenge(version=0x11, nonce=NONCE),
        peer.key_exchange_request()[0],
        ask_psk,
    ):
        session.expect_error(request, E.UnexpectedRequest)
    assert peer.responder.state is state and len(peer.responder.sessions) == 1
    exercise(session)
    peer.peer.full_flow()


def test_refusals_inside_a_session_travel_inside_it() -> None:
    peer = peer_for()
    session = established(peer)
    session.expect_error(bytes([0x11, 0x85, 0, 0]), E.UnsupportedRequest, 0x85)
    session.expect_error(bytes([0x11, Code.DIGESTS, 0, 0]), E.UnsupportedRequest, Code.DIGESTS)
    session.expect_error(bytes([0x10, Code.HEARTBEAT, 0, 0]), E.VersionMismatch)
    session.expect_error(bytes([0x11, Code.HEARTBEAT, 0, 0, 0]), E.InvalidRequest)  # no padding inside a record
    session.expect_error(bytes([0x11, Code.HEARTBEAT, 0]), E.InvalidRequest)
    session.expect_error(b"", E.InvalidRequest)
    session.expect_error(bytes([0x11, Code.RESPOND_IF_READY, Code.HEARTBEAT, 0]), E.InvalidRequest)
    # Without the requester's ENCAP_CAP the encapsulated flow is unsupported.
    session.expect_error(GetEncapsulatedRequest(version=0x11), E.UnsupportedRequest, Code.GET_ENCAPSULATED_REQUEST)
    session.expect_error(session.finish_request()[0], E.UnexpectedRequest)  # already established
    session.expect_error(PskFinish(version=0x11, requester_verify_data=bytes(48)), E.UnexpectedRequest)
    exercise(session)


def test_handshake_state_refuses_data_requests() -> None:
    peer = peer_for()
    session = peer.key_exchange()
    for request in (HEARTBEAT, EndSession(version=0x11), KeyUpdate(version=0x11, operation=1, tag=0)):
        session.expect_error(request, E.UnexpectedRequest)
    session.expect_error(bytes([0x11, Code.GET_MEASUREMENTS, 0, 0]), E.UnexpectedRequest)
    assert peer.responder.sessions == {session.session_id: S.EXPECT_FINISH}
    session.finish()
    exercise(session)


# --- KEY_EXCHANGE and PSK_EXCHANGE refused ----------------------------------------------------


def test_key_exchange_refusals_leave_no_session() -> None:
    without_measurements = (DEFAULT_CAPABILITIES | session_capabilities()) & ~(F.MEAS_CAP_MASK | F.MEAS_FRESH_CAP)
    peer = peer_for(capabilities=without_measurements)
    negotiated = peer.negotiated
    ask, _ = peer.key_exchange_request()
    garbage = version_list_opaque((0x1100,))[:-1] + b"\x07"
    bad_point = bytes(len(ask.exchange_data))
    cases: list[tuple[bytes, int]] = [
        (encode(peer.key_exchange_request(slot=1)[0]), E.InvalidRequest),  # empty slot
        (encode(peer.key_exchange_request(slot=0xFF)[0]), E.InvalidRequest),  # no provisioned key
        (encode(peer.key_exchange_request(exchange_data=bad_point)[0]), E.Unspecified),  # libspdm_rsp_key_exchange.c
        (encode(peer.key_exchange_request(opaque=garbage)[0]), E.InvalidRequest),
        (encode(peer.key_exchange_request(opaque=b"\x01\x02\x03")[0]), E.InvalidRequest),
        (encode(peer.key_exchange_request(opaque=version_list_opaque((0x2000,)))[0]), E.InvalidRequest),
        (encode(peer.key_exchange_request(summary=2)[0]), E.InvalidRequest),
        (encode(peer.key_exchange_request(summary=0xFF)[0]), E.InvalidRequest),  # MEAS_CAP is off here
        (encode(ask) + b"\x01", E.InvalidRequest),
        (encode(ask)[:-1], E.InvalidRequest),
        (bytes([0x10]) + encode(ask)[1:], E.VersionMismatch),
    ]
    for request, code in cases:
        clear_error(peer, request, code)
    assert peer.responder.sessions == {}
    assert negotiated == peer.responder.negotiated
    session = established(peer)
    session.heartbeat()
    session.key_update(KeyUpdateOperation.UPDATE_ALL_KEYS)


def test_key_exchange_needs_negotiation_and_capabilities() -> None:
    responder = Responder(config())
    assert decode(responder.respond(bytes([0x11, Code.KEY_EXCHANGE, 0, 0]))).error_code == E.UnexpectedRequest
    # A requester without KEY_EX_CAP / PSK_CAP: both exchanges are unsupported.
    peer = peer_for(int(F.CERT_CAP | F.CHAL_CAP))
    clear_error(peer, peer.key_exchange_request()[0], E.UnsupportedRequest, Code.KEY_EXCHANGE)
    psk = PskExchange(version=0x11, req_session_id=1, psk_hint=PSK_HINT, requester_context=bytes(32))
    clear_error(peer, psk, E.UnsupportedRequest, Code.PSK_EXCHANGE)
    # MAC_CAP on one side only: libspdm refuses a session (DSP0277 always MACs).
    peer = peer_for(SESSION_REQUESTER_FLAGS & ~F.MAC_CAP)
    clear_error(peer, peer.key_exchange_request()[0], E.InvalidRequest)
    # An SPDM 1.0 connection has no sessions.
    responder = Responder(config())
    from responder_peer import Peer, offer

    old = Peer(responder, version=0x10)
    old.vca(offer(0x10))
    assert decode(responder.respond(bytes([0x10, Code.KEY_EXCHANGE, 0, 0]))).error_code == E.UnsupportedRequest


def test_psk_exchange_refusals() -> None:
    peer = peer_for()
    for hint in (b"nobody", b""):
        with pytest.raises(PeerError) as caught:
            peer.psk_exchange(hint=hint)
        assert caught.value.error_code == E.InvalidRequest
    ask = PskExchange(
        version=0x11, req_session_id=3, psk_hint=PSK_HINT, requester_context=bytes(32), opaque_data=b"\x00" * 4
    )
    clear_error(peer, ask, E.InvalidRequest)
    clear_error(peer, encode(PskExchange(version=0x11, req_session_id=3, requester_context=b""))[:-1], E.InvalidRequest)
    assert peer.responder.sessions == {}
    session = peer.psk_exchange()
    session.psk_finish()
    exercise(session)


def test_session_limit() -> None:
    peer = peer_for(limits=Limits(max_sessions=2))
    one, two = peer.key_exchange(), peer.psk_exchange()
    clear_error(peer, peer.key_exchange_request()[0], E.SessionLimitExceeded)
    clear_error(
        peer,
        PskExchange(version=0x11, req_session_id=5, psk_hint=PSK_HINT, requester_context=bytes(32)),
        E.SessionLimitExceeded,
    )
    one.finish()
    two.psk_finish()
    one.end_session()
    three = established(peer)
    for session in (two, three):
        exercise(session)


# --- FINISH and PSK_FINISH refused -------------------------------------------------------------


@pytest.mark.parametrize("clear", [False, True], ids=["encrypted", "in-the-clear"])
def test_finish_with_wrong_verify_data(clear: bool) -> None:
    peer = peer_for(SESSION_REQUESTER_FLAGS | (CLEAR_FLAG if clear else 0))
    session = peer.key_exchange()
    bad = session.finish_request(tamper=True)[0]
    if clear:
        clear_error(peer, bad, E.DecryptError)
        clear_error(peer, encode(bad)[:-1], E.InvalidRequest)
    else:
        session.expect_error(bad, E.DecryptError)
        session.expect_error(encode(bad)[:-1], E.InvalidRequest)
        session.expect_error(encode(bad) + b"\x00", E.InvalidRequest)
    signed = Finish(version=0x11, attributes=1, req_slot_id=0, signature=bytes(132), requester_verify_data=bytes(48))
    if clear:
        clear_error(peer, signed, E.InvalidRequest)  # SignatureIncluded without mutual auth
    else:
        session.expect_error(signed, E.InvalidRequest)
    assert peer.responder.sessions == {session.session_id: S.EXPECT_FINISH}
    session.finish()
    exercise(session)


def test_finish_of_a_clear_handshake_sent_inside_the_session() -> None:
    """libspdm_rsp_finish_rsp.c: FINISH must not come in a session when the handshake is in the clear;
    at 1.1 that is Unspecified (SessionRequired from 1.2, the rule of a session request outside one)."""
    peer = peer_for(SESSION_REQUESTER_FLAGS | CLEAR_FLAG)
    session = peer.key_exchange()
    session.in_the_clear = False  # send it sealed, under the handshake keys
    session.expect_error(session.finish_request()[0], E.Unspecified)
    session.in_the_clear = True
    session.finish()
    exercise(session)


def test_psk_finish_with_wrong_verify_data() -> None:
    peer = peer_for()
    session = peer.psk_exchange()
    session.expect_error(session.psk_finish_request(tamper=True), E.DecryptError)
    session.expect_error(session.finish_request()[0], E.UnexpectedRequest)  # FINISH in a PSK session
    assert peer.responder.sessions == {session.session_id: S.EXPECT_PSK_FINISH}
    session.psk_finish()
    exercise(session)


# --- mutual authentication refused --------------------------------------------------------------


def test_finish_under_mutual_auth_must_be_signed_and_verify() -> None:
    peer = mutual_peer(mutual_auth="basic", requester_chain=REQUESTER.certificates_der)
    session = peer.key_exchange()
    unsigned = Finish(version=0x11, attributes=0, req_slot_id=0, requester_verify_data=bytes(48))
    session.expect_error(unsigned, E.InvalidRequest)
    session.expect_error(session.finish_request(identity=REQUESTER, slot=1)[0], E.InvalidRequest)  # wrong slot
    forged = session.finish_request(identity=IMPOSTOR)[0]
    session.expect_error(forged, E.DecryptError)  # signed by another key
    assert peer.responder.sessions == {session.session_id: S.EXPECT_FINISH}
    session.finish(identity=REQUESTER)
    exercise(session)


IMPOSTOR = dataclasses.replace(REQUESTER, leaf_key=REQUESTER.root_key)
"""REQUESTER's chain, but another P-256 key (its root's) signs FINISH."""


def _begin_encapsulated(session: RequesterSession) -> EncapsulatedRequest:
    answer = session.handshake_request(GetEncapsulatedRequest(version=0x11))
    assert isinstance(answer, EncapsulatedRequest), answer
    return answer


def _deliver(session: RequesterSession, request_id: int, reply: Message | bytes) -> Message:
    payload = reply if isinstance(reply, bytes) else encode(reply)
    return session.handshake_request(DeliverEncapsulatedResponse(version=0x11, request_id=request_id, payload=payload))


def test_encapsulated_flow_refusals() -> None:
    peer = mutual_peer()
    session = peer.key_exchange()
    suite = session.suite
    chain = REQUESTER.spdm_chain(suite).to_bytes()
    digests = Digests(version=0x11, slot_mask=1, digests=(suite.digest(chain),))

    def expect(reply: Message | bytes, code: int, request_id: int = 1) -> None:
        answer = _deliver(session, request_id, reply)
        assert isinstance(answer, ErrorResponse) and answer.error_code == code, answer
        assert peer.responder.sessions[session.session_id] in (S.EXPECT_ENCAPSULATED_RESPONSE,)

    # Nothing asked yet: DELIVER, FINISH and HEARTBEAT wait for the flow.
    first = _deliver(session, 1, digests)
    assert isinstance(first, ErrorResponse) and first.error_code == E.UnexpectedRequest
    session.expect_error(session.finish_request(identity=REQUESTER)[0], E.RequestInFlight)
    _begin_encapsulated(session)
    session.expect_error(HEARTBEAT, E.RequestInFlight)
    session.expect_error(GetEncapsulatedRequest(version=0x11), E.UnexpectedRequest)
    expect(digests, E.InvalidRequest, request_id=7)  # not the pending RequestID
    expect(ErrorResponse(version=0x11, error_code=E.Busy, error_data=0), E.InvalidResponseCode)
    expect(Certificate(version=0x11, slot_param=0, remainder_length=0, portion=b"x"), E.InvalidResponseCode)
    expect(Digests(version=0x10, slot_mask=1, digests=(suite.digest(chain),)), E.InvalidResponseCode)
    expect(Digests(version=0x11, slot_mask=0, digests=()), E.InvalidResponseCode)
    expect(encode(digests) + b"\x00", E.InvalidResponseCode)
    expect(b"\x11\x01\x00", E.InvalidRequest)  # shorter than a header: a malformed request (libspdm)
    expect(b"", E.InvalidRequest)
    ack = _deliver(session, 1, digests)
    assert isinstance(ack, EncapsulatedResponseAck) and ack.payload_type == 1
    ask = decode(ack.payload)
    assert isinstance(ask, GetCertificate) and ask.slot_id == 0
    rid = ack.request_id

    def certificate(data: bytes, remainder: int, slot: int = 0) -> Certificate:
        return Certificate(version=0x11, slot_param=slot, remainder_length=remainder, portion=data)

    expect(certificate(chain[:0x10], len(chain) - 0x10, slot=1), E.InvalidResponseCode, rid)
    expect(certificate(b"", len(chain)), E.InvalidResponseCode, rid)
    expect(certificate(chain[:0x401], len(chain) - 0x401), E.InvalidResponseCode, rid)  # over the 0x400 asked
    expect(certificate(chain[:0x100], 0xFFFF), E.InvalidResponseCode, rid)  # over 64 KiB in all
    ack = _deliver(session, rid, certificate(chain[:0x100], len(chain) - 0x100))
    assert isinstance(ack, EncapsulatedResponseAck) and ack.payload_type == 1
    rid, rest = ack.request_id, chain[0x100:]
    expect(certificate(rest[:0x10], len(rest)), E.InvalidResponseCode, rid)  # the total changes
    ack = _deliver(session, rid, certificate(rest[:0x400], len(rest) - 0x400))
    assert isinstance(ack, EncapsulatedResponseAck) and ack.payload_type == 1
    rid, rest = ack.request_id, rest[0x400:]
    expect(certificate(rest[:-1] + bytes([rest[-1] ^ 1]), 0), E.InvalidResponseCode, rid)  # not the DIGESTS hash
    ack = _deliver(session, rid, certificate(rest, 0))
    assert isinstance(ack, EncapsulatedResponseAck) and ack.payload_type == 0
    session.requester_chain = chain
    session.finish(identity=REQUESTER)
    exercise(session)


def test_response_not_ready_ends_the_encapsulated_flow() -> None:
    """The requester's ERROR ResponseNotReady ends the flow: ENCAPSULATED_RESPONSE_ACK with PayloadType 0
    (libspdm_rsp_encap_response.c), the session then waits for FINISH with no requester chain to
    verify its signature by, which it answers DecryptError (as libspdm_rsp_finish_rsp.c)."""
    peer = mutual_peer()
    session = peer.key_exchange()
    _begin_encapsulated(session)
    waiting = ResponseNotReady(rd_exponent=1, request_code=Code.GET_DIGESTS, token=7, rdtm=2)
    not_ready = ErrorResponse(version=0x11, error_code=E.ResponseNotReady, extended_data=waiting)
    ack = _deliver(session, 1, not_ready)
    assert isinstance(ack, EncapsulatedResponseAck) and (ack.payload_type, ack.payload) == (0, b"")
    assert peer.responder.sessions == {session.session_id: S.EXPECT_FINISH}
    session.expect_error(GetEncapsulatedRequest(version=0x11), E.UnexpectedRequest)  # nothing pending (1.1)
    session.expect_error(session.finish_request(identity=REQUESTER)[0], E.DecryptError)
    assert peer.responder.sessions == {session.session_id: S.EXPECT_FINISH}


def test_encapsulated_flow_refuses_an_untrusted_chain() -> None:
    peer = mutual_peer(requester_trust_anchors={0: STRANGER.root_der})
    session = peer.key_exchange()
    _begin_encapsulated(session)
    suite = session.suite
    chain = REQUESTER.spdm_chain(suite).to_bytes()
    ack = _deliver(session, 1, Digests(version=0x11, slot_mask=1, digests=(suite.digest(chain),)))
    assert isinstance(ack, EncapsulatedResponseAck)
    head = Certificate(version=0x11, slot_param=0, remainder_length=len(chain) - 0x400, portion=chain[:0x400])
    ack = _deliver(session, ack.request_id, head)
    assert isinstance(ack, EncapsulatedResponseAck)
    tail = Certificate(version=0x11, slot_param=0, remainder_length=0, portion=chain[0x400:])
    refused = _deliver(session, ack.request_id, tail)
    assert isinstance(refused, ErrorResponse) and refused.error_code == E.InvalidResponseCode
    assert peer.responder.sessions == {session.session_id: S.EXPECT_ENCAPSULATED_RESPONSE}
    session.expect_error(session.finish_request(identity=REQUESTER)[0], E.RequestInFlight)


def test_requester_slot_missing_from_digests_falls_back_to_its_first_slot() -> None:
    peer = mutual_peer(requester_slot=5, requester_trust_anchors={1: REQUESTER.root_der})
    session = peer.key_exchange()
    ack = session.encapsulated_flow(REQUESTER, slot=1)
    assert (ack.payload_type, ack.payload) == (2, b"\x01")
    session.req_slot_id = 1
    session.finish(identity=REQUESTER)
    session.heartbeat()


# --- in-session control refused -----------------------------------------------------------------


def test_key_update_refusals() -> None:
    peer = peer_for()
    session = established(peer)
    for operation in (0, 4, 0xFF):
        session.expect_error(KeyUpdate(version=0x11, operation=operation, tag=1), E.InvalidRequest)
    session.expect_error(KeyUpdate(version=0x11, operation=KeyUpdateOperation.VERIFY_NEW_KEY, tag=1), E.InvalidRequest)
    ack = session.request(KeyUpdate(version=0x11, operation=KeyUpdateOperation.UPDATE_KEY, tag=1))
    assert ack.code == Code.KEY_UPDATE_ACK
    for operation in (KeyUpdateOperation.UPDATE_KEY, KeyUpdateOperation.UPDATE_ALL_KEYS):
        session.expect_error(KeyUpdate(version=0x11, operation=operation, tag=2), E.InvalidRequest)  # one pending
    channel = session.channel
    assert channel.request.keys is not None
    channel.rekey_request(session.schedule.update(channel.request.keys))
    verify = session.request(KeyUpdate(version=0x11, operation=KeyUpdateOperation.VERIFY_NEW_KEY, tag=3))
    assert verify.code == Code.KEY_UPDATE_ACK
    exercise(session)


def test_heartbeat_without_a_period() -> None:
    peer = peer_for(heartbeat_period=0)
    session = established(peer)
    assert session.heartbeat_period == 0
    session.expect_error(HEARTBEAT, E.UnexpectedRequest)
    session.signed_measurements()


def test_measurement_refusals_inside_a_session_restart_its_transcript() -> None:
    peer = peer_for()
    session = established(peer)
    session.unsigned_measurements(1)
    session.expect_error(bytes([0x11, Code.GET_MEASUREMENTS, 0, 0x77]), E.InvalidRequest)  # no such index
    session.measurements.after_error(E.InvalidRequest)
    session.signed_measurements(2)


def test_demo_config_without_sessions_refuses_them() -> None:
    responder = Responder(demo_config())
    answer = decode(responder.respond(bytes([0x11, Code.HEARTBEAT, 0, 0]), 0xFFFF0001))
    assert isinstance(answer, ErrorResponse) and answer.error_code == E.InvalidSession


def test_psk_finish_refused_without_psk_context() -> None:
    caps = DEFAULT_CAPABILITIES | session_capabilities(psk_context=False)
    peer = SessionPeer(Responder(config(capabilities=caps)))
    clear_error(peer, PskFinish(version=0x11, requester_verify_data=bytes(48)), E.UnsupportedRequest, Code.PSK_FINISH)
    session = peer.psk_exchange(psk=PSK)
    session.heartbeat()


def test_mutual_flags_without_mutual_config() -> None:
    peer = peer_for(SESSION_REQUESTER_FLAGS | MUTUAL_FLAGS, algorithms=session_offer(req_asym=BaseAsymAlgo.ECDSA_P256))
    session = peer.key_exchange()
    assert session.mut_auth == 0
    session.expect_error(GetEncapsulatedRequest(version=0x11), E.UnexpectedRequest)
    session.finish()
    session.heartbeat()


# --- anything inside a session -------------------------------------------------------------------

_SESSION_CHANGING = {Code.END_SESSION, Code.KEY_UPDATE}


@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=0, max_value=0xFF).filter(lambda code: code not in _SESSION_CHANGING),
    st.sampled_from([0x10, 0x11, 0x12]),
    st.binary(max_size=40),
)
def test_any_request_inside_a_session_is_answered_inside_it(code: int, version: int, body: bytes) -> None:
    """Whatever the plaintext, the answer is a record of the session that opens and decodes; the session goes on."""
    peer, session = FUZZ_PEER, FUZZ_SESSION
    request = bytes([version, code]) + body
    response = session.send(request)
    signed = code == Code.GET_MEASUREMENTS and response[1] == Code.MEASUREMENTS and bool(body[:1]) and body[0] & 1
    decode(response, peer.negotiated.codec_context(signature_requested=signed))
    assert list(peer.responder.sessions) == [session.session_id]
    session.heartbeat()


# --- the responder's own configuration cannot serve the request ----------------------------------


def test_basic_mutual_auth_with_an_unusable_known_chain() -> None:
    """A configured requester chain that does not validate, or whose key fits no offered ReqBaseAsymAlg: Unspecified."""
    peer = mutual_peer(
        mutual_auth="basic", requester_chain=REQUESTER.certificates_der, requester_trust_anchors={0: STRANGER.root_der}
    )
    clear_error(peer, peer.key_exchange_request()[0], E.Unspecified)
    rsa_only = session_offer(req_asym=int(BaseAsymAlgo.RSASSA_2048 | BaseAsymAlgo.RSAPSS_2048))
    peer = peer_for(MUTUAL, algorithms=rsa_only, mutual_auth="basic", requester_chain=REQUESTER.certificates_der)
    assert peer.negotiated.req_base_asym_alg & 0x3
    clear_error(peer, peer.key_exchange_request()[0], E.Unspecified)
    assert peer.responder.sessions == {}
    session = peer.psk_exchange()  # PSK sessions need no mutual authentication
    session.psk_finish()


def test_unusable_dhe_private_value() -> None:
    peer = peer_for(dhe_private_value=lambda suite: 0)
    clear_error(peer, peer.key_exchange_request()[0], E.Unspecified)
    assert peer.responder.sessions == {}


def test_requester_anchor_found_by_root_hash_or_not_at_all() -> None:
    # The chain of slot 1 validates against the anchor configured for slot 0: found by its RootHash.
    peer = mutual_peer(requester_slot=1, requester_trust_anchors={0: REQUESTER.root_der})
    session = peer.key_exchange()
    ack = session.encapsulated_flow(REQUESTER, slot=1)
    assert (ack.payload_type, ack.payload) == (2, b"\x01")
    session.req_slot_id = 1
    session.finish(identity=REQUESTER)
    session.heartbeat()
    # No anchor at all for it: InvalidResponseCode.
    peer = mutual_peer(requester_trust_anchors={3: STRANGER.root_der})
    session = peer.key_exchange()
    with pytest.raises(AssertionError, match="ErrorResponse"):
        session.encapsulated_flow(REQUESTER)
    assert peer.responder.sessions == {session.session_id: S.EXPECT_ENCAPSULATED_RESPONSE}


@pytest.mark.parametrize("authenticated", [False, True])
def test_every_bare_header_with_sessions_on(authenticated: bool) -> None:
    """Every (version, code) header in the clear, a session open: an answer; none touches the session, and an
    ERROR changes nothing at all."""
    peer = peer_for(SESSION_REQUESTER_FLAGS | MUTUAL_FLAGS)
    if authenticated:
        peer.peer.challenge()
    session = established(peer)
    responder = peer.responder
    for version in (0x10, 0x11, 0x12):
        for code in range(256):
            if (version, code) == (0x10, Code.GET_VERSION):
                continue  # restarts the connection (tested elsewhere)
            state, sessions = responder.state, dict(responder.sessions)
            answer = peer.decode(peer.raw(bytes([version, code, 0, 0])))
            assert dict(responder.sessions) == sessions, (version, code)
            if isinstance(answer, ErrorResponse):
                assert responder.state is state
            else:
                assert answer.code == code & 0x7F and code in (Code.GET_DIGESTS, Code.GET_MEASUREMENTS), answer
    session.heartbeat()
