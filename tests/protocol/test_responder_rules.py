"""The protocol rules the responder shares with the requester and the verifiers, each written once:
the requests that drop unfinished B and C (`spdm.transcript`), a chain read from CERTIFICATE portions
(`spdm.certs.ChainPortions`), slot masks (`spdm.messages.certificates`) and `Negotiated.from_vca`."""

from __future__ import annotations

from dataclasses import replace

import pytest
from responder_peer import Peer, offer
from test_responder_sessions import established, peer_for

from spdm.certs import ChainPortions
from spdm.crypto import hash_suite
from spdm.messages import Message
from spdm.messages.certificates import Certificate, Digests, GetCertificate, slot_ids, slot_mask
from spdm.messages.codes import AlgType, BaseHashAlgo, Code, DheGroup, ErrorCode
from spdm.messages.encapsulated import DeliverEncapsulatedResponse
from spdm.messages.error import ErrorResponse
from spdm.messages.negotiation import (
    Algorithms,
    AlgStruct,
    ExtAlg,
    NegotiateAlgorithms,
    has_alg_structs,
    max_extended_algorithms,
)
from spdm.responder import Responder, demo_config
from spdm.responder._common import response_ack
from spdm.transcript import DROPS_UNFINISHED_AUTHENTICATION, ConnectionTranscript

# --- B and C ---------------------------------------------------------------------------------------


def test_the_requests_that_drop_unfinished_authentication_are_libspdms() -> None:
    """libspdm_reset_message_buffer_via_request_code (1e16c60f, the captures' version): these ten SPDM 1.1
    requests and 1.3's GET_MEASUREMENT_EXTENSION_LOG drop B and C before CHALLENGE_AUTH completes;
    GET_DIGESTS restarts B alone."""
    assert {
        Code.GET_MEASUREMENTS,
        Code.KEY_EXCHANGE,
        Code.FINISH,
        Code.PSK_EXCHANGE,
        Code.PSK_FINISH,
        Code.KEY_UPDATE,
        Code.HEARTBEAT,
        Code.GET_ENCAPSULATED_REQUEST,
        Code.DELIVER_ENCAPSULATED_RESPONSE,
        Code.END_SESSION,
        Code.GET_MEASUREMENT_EXTENSION_LOG,
    } == DROPS_UNFINISHED_AUTHENTICATION


def _connection(*, authenticated: bool = False) -> ConnectionTranscript:
    """A transcript past VCA with a DIGESTS exchange in B."""
    transcript = ConnectionTranscript()
    transcript.add_vca(b"VCA")
    transcript.set_hash(hash_suite(BaseHashAlgo.SHA_256), 0x11)
    if authenticated:
        transcript.challenge_done()
    transcript.add_certificate_exchange(b"GET_DIGESTS", b"DIGESTS")
    return transcript


def _holds_b(transcript: ConnectionTranscript) -> bool:
    """Whether the next CHALLENGE_AUTH would sign over B (A || B || C, not A || C)."""
    signed = transcript.challenge_digest(b"C", b"")
    return signed.digest == hash_suite(BaseHashAlgo.SHA_256).digest(b"VCAGET_DIGESTSDIGESTSC")


@pytest.mark.parametrize("code", sorted(DROPS_UNFINISHED_AUTHENTICATION))
def test_a_session_request_drops_b_until_authentication_completes(code: int) -> None:
    kept = _connection()
    kept.before_session_request(Code.GET_CERTIFICATE)  # not one of them: B stays
    assert _holds_b(kept)
    dropped = _connection()
    dropped.before_session_request(code)
    assert not _holds_b(dropped)
    authenticated = _connection(authenticated=True)
    authenticated.before_session_request(code)
    assert _holds_b(authenticated)


def test_in_session_requests_drop_b_on_the_responder_too() -> None:
    """Found on unifying the two definitions: the responder applied the rule to requests in the clear
    only, the requester (and libspdm's responder) to those inside a session as well. A GET_DIGESTS in
    the clear, then HEARTBEAT in a session before any CHALLENGE: CHALLENGE_AUTH must sign A || C alone.
    The test requester (`session_peer`) applies the rule to every request its session sends."""
    peer = peer_for()
    session = established(peer)
    peer.peer.digests()
    peer.peer.certificate(0)
    session.heartbeat()
    peer.peer.challenge(0)  # verifies over the requester's transcript


def test_finish_drops_the_b_read_during_the_handshake() -> None:
    """Found by the stateful fuzzer (dev profile): KEY_EXCHANGE, then GET_DIGESTS and GET_CERTIFICATE in
    the clear while the handshake is open, then FINISH. FINISH drops that B too, before any CHALLENGE."""
    peer = peer_for()
    session = peer.key_exchange()
    peer.peer.digests()
    peer.peer.certificate(0)
    session.finish()
    peer.peer.challenge(0)


# --- a chain from CERTIFICATE portions ---------------------------------------------------------------


def _ask(offset: int, length: int = 0x10, slot: int = 0) -> GetCertificate:
    return GetCertificate(slot_param=slot, offset=offset, length=length)


def _portion(data: bytes, remainder: int, slot: int = 0) -> Certificate:
    return Certificate(slot_param=slot, remainder_length=remainder, portion=data)


def test_chain_portions_assemble_a_chain() -> None:
    chain = bytes(range(40))
    reader = ChainPortions(0)
    assert reader.add(_ask(0), _portion(chain[:16], 24)) is None and reader.offset == 16
    assert reader.add(_ask(16), _portion(chain[16:32], 8)) is None and reader.total == 40
    assert reader.add(_ask(32), _portion(chain[32:], 0)) == chain
    assert reader.offset == 32  # the last portion is not kept: a refused chain can be completed again
    assert reader.add(_ask(32), _portion(chain[32:], 0)) == chain


@pytest.mark.parametrize(
    ("ask", "answer", "reason"),
    [
        (_ask(0), _portion(b"x", 1, slot=1), "slot"),
        (_ask(0, slot=1), _portion(b"x", 1, slot=1), "slot"),
        (_ask(4), _portion(b"x", 1), "Offset"),
        (_ask(0), _portion(b"", 1), "PortionLength"),
        (_ask(0, length=2), _portion(b"xyz", 1), "PortionLength"),
        (_ask(0), _portion(b"x", 0x10000), "over"),
    ],
)
def test_chain_portions_refuse_a_portion_that_breaks_a_rule(
    ask: GetCertificate, answer: Certificate, reason: str
) -> None:
    reader = ChainPortions(0)
    with pytest.raises(ValueError, match=reason):
        reader.add(ask, answer)
    assert reader.offset == 0 and reader.total is None


def test_chain_portions_refuse_a_size_that_changes_or_a_limit() -> None:
    reader = ChainPortions(0, max_size=64)
    reader.add(_ask(0), _portion(b"x" * 16, 32))
    with pytest.raises(ValueError, match="changes"):
        reader.add(_ask(16), _portion(b"y" * 16, 1))
    with pytest.raises(ValueError, match="64 bytes allowed"):
        ChainPortions(0, max_size=64).add(_ask(0), _portion(b"x" * 16, 49))


# --- slot masks --------------------------------------------------------------------------------------


def test_slot_masks() -> None:
    assert slot_ids(0b1000_0101) == (0, 2, 7) and slot_ids(0) == ()
    assert slot_mask((7, 0, 2)) == 0b1000_0101 and slot_mask(()) == 0
    with pytest.raises(ValueError):
        slot_mask((8,))
    digests = Digests(slot_mask=0b101, digests=(b"a" * 32, b"c" * 32))
    assert digests.by_slot() == {0: b"a" * 32, 2: b"c" * 32}


def test_the_responder_negotiates_with_from_vca() -> None:
    """The responder's `Negotiated` is `Negotiated.from_vca` of what it received and answered, as the
    requester's is of what it sent and received: the two are equal."""
    peer = peer_for()
    assert peer.responder.negotiated == peer.negotiated


# --- NEGOTIATE_ALGORITHMS per version (`spdm.messages.negotiation`) ---------------------------------


def _offer_answer(version: int, algorithms: NegotiateAlgorithms) -> Message:
    peer = Peer(Responder(demo_config()), version)
    peer.get_version()
    peer.capabilities()
    return peer.exchange(algorithms).message


def test_alg_structs_and_the_extended_algorithm_budget_follow_the_version() -> None:
    """SPDM 1.0 has no AlgStructs; from 1.1 an offer holds at most 20 extended algorithms in all
    (ExtAsym, ExtHash and AlgExternal), 20 of them ExtAsym + ExtHash at most (the codec's bound)."""
    assert not has_alg_structs(0x10) and has_alg_structs(0x11) and has_alg_structs(0x13)
    assert (max_extended_algorithms(0x10), max_extended_algorithms(0x11), max_extended_algorithms(0x13)) == (8, 20, 20)
    dhe = AlgStruct(alg_type=AlgType.DHE, alg_supported=DheGroup.SECP_384_R1)
    refused = _offer_answer(0x10, offer(0x10, structs=(dhe,)))
    assert isinstance(refused, ErrorResponse) and refused.error_code == ErrorCode.InvalidRequest
    ext = tuple(ExtAlg(registry_id=0, algorithm_id=n) for n in range(10))
    twenty = replace(offer(0x11, structs=(dhe,)), ext_asym=ext, ext_hash=ext)
    assert isinstance(_offer_answer(0x11, twenty), Algorithms)
    one_more = replace(twenty, alg_structs=(replace(dhe, ext=ext[:1]),))
    refused = _offer_answer(0x11, one_more)
    assert isinstance(refused, ErrorResponse) and refused.error_code == ErrorCode.InvalidRequest


def test_digests_states_supported_slot_mask_from_1_3() -> None:
    """SupportedSlotMask is DIGESTS Param1 from 1.3 (reserved before): the one rule both roles build with."""
    for version, param1 in ((0x12, 0), (0x13, 0x03)):
        answer = Digests.for_version(version, supported_slot_mask=0x03, slot_mask=0x01, digests=(bytes(48),))
        assert (answer.param1, answer.supported_slot_mask) == (param1, param1)


def test_encapsulated_response_ack_names_the_request_it_acknowledges_from_1_2() -> None:
    """AckRequestID and 3 reserved bytes follow PayloadType from 1.2 only."""
    for version, tail in ((0x11, b""), (0x12, bytes([7, 0, 0, 0]))):
        ack = response_ack(DeliverEncapsulatedResponse(version=version, request_id=7, payload=b""))
        assert ack == bytes([version, Code.ENCAPSULATED_RESPONSE_ACK, 0, 0]) + tail
