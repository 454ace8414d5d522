"""Sessions in the responder: every handshake, every in-session request, several sessions at once.

A requester side built on `spdm.session` (tests/protocol/session_peer.py) drives the responder
and checks everything it sends: the KEY_EXCHANGE_RSP signature and verify data, the secured
message version selected, FINISH_RSP verify data in the clear, every record's tag, in-session
MEASUREMENTS signatures over the session's own L1/L2. The refusals are in
test_responder_sessions_errors.py; the byte-for-byte replays of libspdm's PSK sessions in
test_responder_sessions_replay.py.
"""

from __future__ import annotations

import dataclasses

import pytest
from responder_peer import NONCE, Peer
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

from spdm.certs import SPDM_REQUESTER_AUTH_OID
from spdm.crypto import asym_suite, dhe_suite, hash_suite
from spdm.errors import PeerError
from spdm.limits import Limits
from spdm.measurements import summary_hash
from spdm.messages import decode, encode
from spdm.messages.certificates import Certificate, Digests, GetCertificate, GetDigests
from spdm.messages.challenge import Challenge, ChallengeAuth
from spdm.messages.codes import (
    AeadAlgorithm,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    Code,
    DheGroup,
    ErrorCode,
    KeyUpdateOperation,
    MutAuthRequest,
)
from spdm.messages.encapsulated import EncapsulatedResponseAck
from spdm.messages.error import ErrorResponse
from spdm.messages.key_exchange import KeyExchange, KeyExchangeRsp
from spdm.messages.measurements import GetMeasurements, Measurements
from spdm.messages.psk import PskExchangeRsp
from spdm.messages.session_control import Heartbeat
from spdm.messages.vendor import VendorDefinedRequest, VendorDefinedResponse
from spdm.responder import (
    DEFAULT_CAPABILITIES,
    RESPONDER_SESSION_CAPABILITIES,
    Responder,
    ResponderConfig,
    SessionState,
    demo_config,
    session_capabilities,
)
from spdm.responder.state import (
    CLEAR_HANDSHAKE,
    HANDLED,
    NEVER_IN_SESSION,
    SESSION_ONLY,
    SESSION_TRANSITIONS,
    session_state_diagram,
)
from spdm.testing import MemoryDoeLink
from spdm.testing.pki import make_chain
from spdm.transport.doe import DoeMailboxResponder, DoeTransport, DoeType, decode_object, encode_object

E = ErrorCode
F = CapabilityFlags
S = SessionState
MUTUAL = SESSION_REQUESTER_FLAGS | MUTUAL_FLAGS

REQUESTER = make_chain(BaseAsymAlgo.ECDSA_P256, name="pyspdm requester", extended_key_usages=[SPDM_REQUESTER_AUTH_OID])
"""The requester's identity for mutual authentication (a throwaway test PKI)."""
STRANGER = make_chain(BaseAsymAlgo.ECDSA_P384, name="someone else")


def config(**overrides: object) -> ResponderConfig:
    return dataclasses.replace(demo_config(sessions=True, psks={PSK_HINT: PSK}), **overrides)  # type: ignore[arg-type]


def peer_for(flags: int = SESSION_REQUESTER_FLAGS, *, algorithms: object = None, **overrides: object) -> SessionPeer:
    return SessionPeer(Responder(config(**overrides)), flags=flags, algorithms=algorithms)  # type: ignore[arg-type]


def established(peer: SessionPeer, **options: object) -> RequesterSession:
    session = peer.key_exchange(**options)  # type: ignore[arg-type]
    session.finish()
    return session


def exercise(session: RequesterSession) -> None:
    """Everything an established session serves, checked."""
    session.heartbeat()
    session.signed_measurements()
    session.key_update(KeyUpdateOperation.UPDATE_KEY)
    session.heartbeat()
    session.key_update(KeyUpdateOperation.UPDATE_ALL_KEYS)
    session.unsigned_measurements(1)
    session.signed_measurements(2)


# --- every DHE group, AEAD and hash -----------------------------------------------------------

ALL_DHE = (
    DheGroup.FFDHE_2048,
    DheGroup.FFDHE_3072,
    DheGroup.FFDHE_4096,
    DheGroup.SECP_256_R1,
    DheGroup.SECP_384_R1,
    DheGroup.SECP_521_R1,
)
ALL_AEAD = (AeadAlgorithm.AES_128_GCM, AeadAlgorithm.AES_256_GCM, AeadAlgorithm.CHACHA20_POLY1305)
ALL_HASH = (
    BaseHashAlgo.SHA_256,
    BaseHashAlgo.SHA_384,
    BaseHashAlgo.SHA_512,
    BaseHashAlgo.SHA3_256,
    BaseHashAlgo.SHA3_384,
    BaseHashAlgo.SHA3_512,
)
MATRIX = sorted(
    {(dhe, AeadAlgorithm.AES_256_GCM, BaseHashAlgo.SHA_384) for dhe in ALL_DHE}
    | {(DheGroup.SECP_384_R1, aead, BaseHashAlgo.SHA_384) for aead in ALL_AEAD}
    | {(DheGroup.SECP_256_R1, AeadAlgorithm.AES_256_GCM, hashes) for hashes in ALL_HASH}
)


@pytest.mark.parametrize(
    ("dhe", "aead", "hashes"),
    MATRIX,
    ids=[f"{DheGroup(d).name}-{AeadAlgorithm(a).name}-{BaseHashAlgo(h).name}" for d, a, h in MATRIX],
)
def test_key_exchange_session(dhe: int, aead: int, hashes: int) -> None:
    peer = peer_for(algorithms=session_offer(dhe=dhe, aead=aead, hashes=hashes))
    negotiated = peer.negotiated
    assert (negotiated.dhe_group, negotiated.aead_suite, negotiated.base_hash_algo) == (dhe, aead, hashes)
    session = peer.key_exchange(summary=0xFF)
    assert peer.responder.sessions == {session.session_id: S.EXPECT_FINISH}
    session.finish()
    assert peer.responder.sessions == {session.session_id: S.ESTABLISHED}
    exercise(session)
    session.end_session()
    assert peer.responder.sessions == {}


@pytest.mark.parametrize("hashes", ALL_HASH, ids=[BaseHashAlgo(h).name for h in ALL_HASH])
def test_psk_session_every_hash(hashes: int) -> None:
    peer = peer_for(algorithms=session_offer(hashes=hashes, aead=AeadAlgorithm.CHACHA20_POLY1305))
    session = peer.psk_exchange(summary=0xFF)
    session.psk_finish()
    exercise(session)
    session.end_session()


def test_key_exchange_rsp_fields() -> None:
    """RspSessionID, heartbeat period, summary hash, version selection, deterministic ExchangeData."""
    private_value = 0x1234_5678_9ABC_DEF0
    peer = peer_for(dhe_private_value=lambda suite: private_value, heartbeat_period=42)
    session = peer.key_exchange(summary=0xFF, req_session_id=0xABCD)
    answer = session.exchange
    assert isinstance(answer, KeyExchangeRsp)
    assert session.session_id == 0xFFFF_ABCD and answer.rsp_session_id == 0xFFFF
    assert answer.heartbeat_period == 42
    assert (answer.mut_auth_requested, answer.req_slot_id_param) == (0, 0)
    dhe = dhe_suite(peer.negotiated.dhe_group)
    assert answer.exchange_data == dhe.public_bytes(dhe.from_private_value(private_value))
    provider = peer.responder.config.measurements
    assert provider is not None
    suite = hash_suite(peer.negotiated.base_hash_algo)
    assert answer.measurement_summary_hash == summary_hash(provider, 0xFF, suite.digest)
    tcb = peer.key_exchange(summary=1).exchange
    assert isinstance(tcb, KeyExchangeRsp) and tcb.measurement_summary_hash == summary_hash(provider, 1, suite.digest)
    none = peer.key_exchange(summary=0).exchange
    assert isinstance(none, KeyExchangeRsp) and none.measurement_summary_hash is None


def test_secured_message_version_is_the_highest_common() -> None:
    from spdm.messages.opaque import decode_opaque, selected_secured_message_version, version_list_opaque

    peer = peer_for(secured_message_versions=(0x1000, 0x1100, 0x1200))
    for offer, chosen in (((0x1000,), 0x1000), ((0x1100, 0x1000), 0x1100), ((0x1000, 0x1210, 0x1100), 0x1200)):
        ask, _ = peer.key_exchange_request(opaque=version_list_opaque(offer))
        answer = peer.decode(peer.raw(encode(ask)))
        assert isinstance(answer, KeyExchangeRsp)
        assert selected_secured_message_version(decode_opaque(answer.opaque_data)) == chosen
    # No OpaqueData at all: accepted (as libspdm does), and none in the response.
    ask, _ = peer.key_exchange_request(opaque=b"")
    answer = peer.decode(peer.raw(encode(ask)))
    assert isinstance(answer, KeyExchangeRsp) and answer.opaque_data == b""


def test_heartbeat_period_only_when_both_sides_have_hbeat() -> None:
    peer = peer_for(SESSION_REQUESTER_FLAGS & ~F.HBEAT_CAP)
    session = established(peer)
    assert session.heartbeat_period == 0
    session.expect_error(Heartbeat(version=0x11), E.UnsupportedRequest, Code.HEARTBEAT)
    session.signed_measurements()


def test_session_without_encryption_is_authenticated_only() -> None:
    """MAC_CAP without ENCRYPT_CAP on one side: records carry the message in the clear, with a MAC."""
    peer = peer_for(SESSION_REQUESTER_FLAGS & ~F.ENCRYPT_CAP)
    session = established(peer)
    record = session.seal(Heartbeat(version=0x11))
    assert bytes([0x11, Code.HEARTBEAT, 0, 0]) in record
    response = peer.raw(record, session.session_id)
    assert bytes([0x11, Code.HEARTBEAT_ACK, 0, 0]) in response
    assert session.channel.open(response) == bytes([0x11, Code.HEARTBEAT_ACK, 0, 0])
    exercise(session)


# --- PSK -------------------------------------------------------------------------------------


def test_psk_with_context() -> None:
    peer = peer_for()
    session = peer.psk_exchange(summary=0xFF)
    answer = session.exchange
    assert isinstance(answer, PskExchangeRsp) and len(answer.responder_context) == 64
    assert answer.measurement_summary_hash is not None
    assert peer.responder.sessions == {session.session_id: S.EXPECT_PSK_FINISH}
    session.psk_finish()
    assert peer.responder.sessions == {session.session_id: S.ESTABLISHED}
    exercise(session)
    session.end_session()
    assert peer.responder.sessions == {}


def test_psk_without_context_needs_no_psk_finish() -> None:
    caps = DEFAULT_CAPABILITIES | session_capabilities(psk_context=False)
    peer = peer_for(capabilities=caps)
    session = peer.psk_exchange()
    answer = session.exchange
    assert isinstance(answer, PskExchangeRsp) and answer.responder_context == b""
    assert peer.responder.sessions == {session.session_id: S.ESTABLISHED}
    session.expect_error(session.psk_finish_request(), E.UnsupportedRequest, Code.PSK_FINISH)
    exercise(session)
    session.end_session()


def test_psk_without_a_hint() -> None:
    peer = peer_for(psks={b"": b"the only key", PSK_HINT: PSK})
    session = peer.psk_exchange(hint=b"", psk=b"the only key")
    session.psk_finish()
    session.heartbeat()


def test_psk_sessions_share_one_key_schedule_per_hint() -> None:
    """The responder makes each PSK's key schedule once per connection (the PSK and the negotiation fix
    its secrets); every session still has keys of its own, and each PSKHint its own schedule."""
    peer = peer_for(psks={b"": b"the only key", PSK_HINT: PSK})
    sessions = [peer.psk_exchange(), peer.psk_exchange(), peer.psk_exchange(hint=b"", psk=b"the only key")]
    for session in sessions:
        session.psk_finish()
    first, second, other = (peer.responder._sessions.get(session.session_id) for session in sessions)
    assert first is not None and second is not None and other is not None
    assert first.schedule is second.schedule and other.schedule is not first.schedule
    assert first.channel.request.keys != second.channel.request.keys
    assert first.channel.response.keys != second.channel.response.keys


def test_psk_without_psk_cap_in_demo() -> None:
    """`demo_config(sessions=True)` advertises PSK only when it has a key."""
    assert not demo_config(sessions=True).capabilities & F.PSK_CAP_MASK
    assert demo_config(sessions=True, psks={b"": b"k"}).capabilities & F.PSK_CAP_WITH_CONTEXT
    assert RESPONDER_SESSION_CAPABILITIES & F.PSK_CAP_WITH_CONTEXT


# --- the handshake in the clear --------------------------------------------------------------


def test_handshake_in_the_clear() -> None:
    peer = peer_for(SESSION_REQUESTER_FLAGS | CLEAR_FLAG)
    session = peer.key_exchange()
    answer = session.exchange
    assert isinstance(answer, KeyExchangeRsp) and answer.responder_verify_data is None
    session.finish()  # checks FINISH_RSP's ResponderVerifyData
    exercise(session)
    session.end_session()


def test_clear_finish_goes_to_the_latest_clear_handshake() -> None:
    peer = peer_for(SESSION_REQUESTER_FLAGS | CLEAR_FLAG)
    first, second = peer.key_exchange(), peer.key_exchange()
    second.finish()
    first.finish()
    second.heartbeat()
    first.heartbeat()
    assert set(peer.responder.sessions.values()) == {S.ESTABLISHED}


def test_handshake_in_the_clear_needs_both_sides() -> None:
    peer = peer_for(
        SESSION_REQUESTER_FLAGS | CLEAR_FLAG,
        capabilities=DEFAULT_CAPABILITIES | session_capabilities(handshake_in_the_clear=False),
    )
    session = peer.key_exchange()
    assert session.in_the_clear is False
    answer = session.exchange
    assert isinstance(answer, KeyExchangeRsp) and answer.responder_verify_data is not None
    session.finish()
    session.heartbeat()


# --- mutual authentication -------------------------------------------------------------------


def mutual_peer(flags: int = MUTUAL, **overrides: object) -> SessionPeer:
    settings: dict[str, object] = {"mutual_auth": "encapsulated", "requester_trust_anchors": {0: REQUESTER.root_der}}
    settings.update(overrides)
    return peer_for(flags, algorithms=session_offer(req_asym=BaseAsymAlgo.ECDSA_P256), **settings)


@pytest.mark.parametrize("clear", [False, True], ids=["encrypted", "in-the-clear"])
def test_mutual_auth_with_encapsulated_requests(clear: bool) -> None:
    peer = mutual_peer(MUTUAL | (CLEAR_FLAG if clear else 0))
    session = peer.key_exchange()
    assert session.mut_auth == MutAuthRequest.WITH_ENCAP_REQUEST and session.in_the_clear is clear
    assert peer.responder.sessions == {session.session_id: S.EXPECT_GET_ENCAPSULATED_REQUEST}
    ack = session.encapsulated_flow(REQUESTER, portion=0x100)  # several GET_CERTIFICATE rounds
    assert (ack.request_id, ack.payload_type, ack.payload) == (0, 0, b"")
    assert peer.responder.sessions == {session.session_id: S.EXPECT_FINISH}
    session.finish(identity=REQUESTER)
    exercise(session)
    session.end_session()


def test_mutual_auth_names_a_requester_slot_other_than_zero() -> None:
    peer = mutual_peer(requester_slot=3, requester_trust_anchors={3: REQUESTER.root_der})
    session = peer.key_exchange()
    ack = session.encapsulated_flow(REQUESTER, slot=3)
    assert (ack.payload_type, ack.payload) == (2, b"\x03")  # ReqSlotNumber, as libspdm sends it
    session.req_slot_id = 3
    session.finish(identity=REQUESTER)
    session.heartbeat()


def test_mutual_auth_is_not_asked_of_a_requester_that_did_not_offer_it() -> None:
    for flags in (SESSION_REQUESTER_FLAGS, (MUTUAL & ~F.CERT_CAP) | F.PUB_KEY_ID_CAP):
        peer = mutual_peer(flags)
        session = peer.key_exchange()
        assert session.mut_auth == 0
        session.finish()
        session.heartbeat()


def test_basic_mutual_auth_with_a_known_chain() -> None:
    """MutAuthRequested 0x01: no encapsulated flow, the requester signs FINISH with the configured chain."""
    peer = mutual_peer(
        mutual_auth="basic",
        requester_chain=REQUESTER.certificates_der,
        requester_slot=2,
        requester_trust_anchors={2: REQUESTER.root_der},
    )
    session = peer.key_exchange()
    assert (session.mut_auth, session.req_slot_id) == (MutAuthRequest.MUT_AUTH_REQUESTED, 2)
    assert peer.responder.sessions == {session.session_id: S.EXPECT_FINISH}
    session.finish(identity=REQUESTER)
    exercise(session)


def test_basic_mutual_auth_picks_a_req_base_asym_alg_the_known_key_fits() -> None:
    peer = peer_for(MUTUAL, mutual_auth="basic", requester_chain=REQUESTER.certificates_der)
    assert peer.negotiated.req_base_asym_alg == BaseAsymAlgo.ECDSA_P256  # the requester offered all nine
    session = peer.key_exchange()
    session.finish(identity=REQUESTER)


def test_basic_mutual_auth_without_a_trust_anchor_trusts_the_configured_chain() -> None:
    peer = mutual_peer(mutual_auth="basic", requester_chain=REQUESTER.certificates_der, requester_trust_anchors={})
    session = peer.key_exchange()
    session.finish(identity=REQUESTER)
    session.heartbeat()


# --- several sessions ------------------------------------------------------------------------


def test_concurrent_sessions() -> None:
    peer = peer_for(limits=Limits(max_sessions=3))
    one, two, three = peer.key_exchange(), peer.psk_exchange(), peer.key_exchange()
    ids = [one.session_id >> 16, two.session_id >> 16, three.session_id >> 16]
    assert ids == [0xFFFF, 0xFFFE, 0xFFFD]
    three.finish()
    one.finish()
    two.psk_finish()
    for session in (two, one, three, one, two):
        session.heartbeat()
    two.key_update(KeyUpdateOperation.UPDATE_ALL_KEYS)
    one.signed_measurements()
    three.unsigned_measurements(1)
    one.key_update(KeyUpdateOperation.UPDATE_KEY)
    three.signed_measurements(2)  # L1/L2 of three is its own
    two.end_session()
    assert len(peer.responder.sessions) == 2
    four = peer.key_exchange()
    assert four.session_id >> 16 == 0xFFFE  # the freed RspSessionID
    four.finish()
    for session in (one, three, four):
        exercise(session)


def test_same_req_session_id_in_two_sessions() -> None:
    peer = peer_for()
    one, two = established(peer, req_session_id=7), established(peer, req_session_id=7)
    assert one.session_id != two.session_id
    one.heartbeat()
    two.heartbeat()


def test_get_version_ends_every_session() -> None:
    peer = peer_for()
    session = established(peer)
    handshaking = peer.key_exchange()
    assert len(peer.responder.sessions) == 2
    peer.peer.get_version()
    assert peer.responder.sessions == {}
    # Nothing is negotiated any more: the ERROR carries version 1.0.
    session.expect_clear_error(session.seal(Heartbeat(version=0x11)), E.InvalidSession, version=0x10)
    finish = handshaking.seal(handshaking.finish_request()[0])
    handshaking.expect_clear_error(finish, E.InvalidSession, version=0x10)


# --- in-session requests --------------------------------------------------------------------


def test_in_session_measurements_have_their_own_transcript() -> None:
    """Unsigned MEASUREMENTS inside the session do not enter the connection's L1/L2, and the other way round."""
    peer = peer_for()
    session = established(peer)
    outside = peer.peer
    outside.measurements(1, signed=False)  # connection M = this pair
    session.unsigned_measurements(2)  # session M = this pair
    session.heartbeat()  # resets the session's M only
    session.unsigned_measurements(3)
    outside.measurements(0xFF, signed=True)  # verifies over the connection's pair + this one
    session.signed_measurements(4)  # verifies over the session's (3) + this one


def test_in_session_certificates_stay_out_of_the_challenge_transcript() -> None:
    peer = peer_for()
    session = established(peer)
    outside = peer.peer
    outside.digests()
    outside.certificate()
    # In-session GET_DIGESTS / GET_CERTIFICATE answer, but B only holds what travels outside.
    digests = session.request(GetDigests(version=0x11))
    assert isinstance(digests, Digests) and digests.slot_mask == 1
    certificate = session.request(GetCertificate(version=0x11, offset=0, length=0x100))
    assert isinstance(certificate, Certificate) and len(certificate.portion) == 0x100
    outside.challenge(summary=0xFF)


def test_vendor_defined_in_session() -> None:
    peer = peer_for()
    seen: list[bytes] = []

    def handler(request: VendorDefinedRequest) -> bytes:
        seen.append(request.payload)
        return b"pong:" + request.payload

    peer.responder.register_vendor_handler(3, b"\x01\x00", handler)
    session = established(peer)
    ask = VendorDefinedRequest(version=0x11, standard_id=3, vendor_id=b"\x01\x00", payload=b"\x00ping")
    answer = session.request(ask)
    assert isinstance(answer, VendorDefinedResponse) and answer.payload == b"pong:\x00ping"
    other = VendorDefinedRequest(version=0x11, standard_id=4, vendor_id=b"\x01\x00\x00\x00", payload=b"")
    session.expect_error(other, E.UnsupportedRequest, Code.VENDOR_DEFINED_REQUEST)
    assert seen == [b"\x00ping"]
    session.heartbeat()


def test_not_ready_and_busy_inside_a_session() -> None:
    peer = peer_for()
    session, other = established(peer), established(peer)
    peer.responder.answer_busy()
    session.expect_error(Heartbeat(version=0x11), E.Busy)
    peer.responder.answer_not_ready()
    error = session.expect_error(Heartbeat(version=0x11), E.ResponseNotReady)
    extended = error.extended_data
    assert not isinstance(extended, bytes) and extended.request_code == Code.HEARTBEAT
    ready = bytes([0x11, Code.RESPOND_IF_READY, Code.HEARTBEAT, extended.token])
    # Asked for outside the session, or in another one, nothing is pending.
    assert decode(peer.raw(ready)) == ErrorResponse(version=0x11, error_code=E.InvalidRequest, error_data=0)
    other.expect_error(ready, E.InvalidRequest)
    assert session.request(ready).code == Code.HEARTBEAT_ACK


def test_end_session_frees_the_session() -> None:
    peer = peer_for()
    session = established(peer)
    session.end_session()
    assert peer.responder.sessions == {}
    session.expect_clear_error(session.seal(Heartbeat(version=0x11)), E.InvalidSession)


def test_many_key_updates() -> None:
    peer = peer_for()
    session = established(peer)
    for round_ in range(8):
        session.key_update(KeyUpdateOperation.UPDATE_KEY if round_ % 2 else KeyUpdateOperation.UPDATE_ALL_KEYS)
        session.heartbeat()


# --- the state tables ------------------------------------------------------------------------


def test_session_state_tables() -> None:
    assert SESSION_TRANSITIONS[(S.EXPECT_FINISH, Code.FINISH)] == (S.ESTABLISHED,)
    assert SESSION_TRANSITIONS[(S.EXPECT_ENCAPSULATED_RESPONSE, Code.DELIVER_ENCAPSULATED_RESPONSE)] == (
        S.EXPECT_ENCAPSULATED_RESPONSE,
        S.EXPECT_FINISH,
    )
    assert all(code in HANDLED for _, code in SESSION_TRANSITIONS)
    assert CLEAR_HANDSHAKE <= SESSION_ONLY
    assert not NEVER_IN_SESSION & {code for _, code in SESSION_TRANSITIONS}
    diagram = session_state_diagram()
    assert diagram.startswith("stateDiagram-v2")
    for state in S:
        assert state.name in diagram


# --- over PCI DOE ----------------------------------------------------------------------------


def test_secured_messages_over_doe() -> None:
    """Type-2 objects carry records both ways; a record that does not open draws a type-1 ERROR (and
    ends its session)."""
    responder = Responder(config(max_padding=3))
    peer = SessionPeer(responder)
    session = established(peer)
    device = DoeMailboxResponder(responder.respond)
    record = session.seal(Heartbeat(version=0x11))
    answered = decode_object(device(encode_object(DoeType.SECURED_CMA_SPDM, record)) or b"")
    assert answered.object_type == DoeType.SECURED_CMA_SPDM
    assert session.peer.decode(session.channel.open(answered.payload)).code == Code.HEARTBEAT_ACK
    record = session.seal(Heartbeat(version=0x11))
    tampered = record[:-1] + bytes([record[-1] ^ 1])
    refused = decode_object(device(encode_object(DoeType.SECURED_CMA_SPDM, tampered)) or b"")
    assert refused.object_type == DoeType.CMA_SPDM
    assert decode(refused.payload) == ErrorResponse(version=0x11, error_code=E.DecryptError, error_data=0)
    # The host side hands the clear ERROR over as it came.
    session = established(peer)
    transport = DoeTransport(MemoryDoeLink(device=device))
    record = session.seal(Heartbeat(version=0x11))
    response = transport.exchange(record, session_id=session.session_id)
    assert session.peer.decode(session.channel.open(response)).code == Code.HEARTBEAT_ACK
    record = session.seal(Heartbeat(version=0x11))
    clear = transport.exchange(record[:-1] + bytes([record[-1] ^ 1]), session_id=session.session_id)
    assert clear == encode(ErrorResponse(version=0x11, error_code=E.DecryptError, error_data=0))
    assert responder.sessions == {}


def test_mctp_framing() -> None:
    from spdm.session import MCTP

    peer = peer_for(secured_transport=MCTP)
    session = established(peer)
    exercise(session)
    session.end_session()


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"psks": {bytes(33): b"k"}}, "PSKHint"),
        ({"psks": {b"": b""}}, "must not be empty"),
        ({"heartbeat_period": 256}, "heartbeat_period"),
        ({"limits": 4}, "limits"),
        ({"secured_message_versions": ()}, "secured_message_versions"),
        ({"requester_slot": 8}, "requester_slot"),
        ({"requester_trust_anchors": {8: REQUESTER.root_der}}, "requester_trust_anchors"),
        ({"requester_trust_anchors": {0: b"not DER"}}, "does not parse"),
        ({"mutual_auth": "sometimes"}, "mutual_auth"),
        ({"mutual_auth": "basic"}, "requester_chain"),
        ({"mutual_auth": "encapsulated"}, "requester_trust_anchors"),
        ({"mutual_auth": "basic", "requester_chain": REQUESTER.certificates_der, "capabilities": 0x16}, "MUT_AUTH"),
        (
            {
                "mutual_auth": "encapsulated",
                "requester_trust_anchors": {0: REQUESTER.root_der},
                "capabilities": DEFAULT_CAPABILITIES | (RESPONDER_SESSION_CAPABILITIES & ~F.ENCAP_CAP),
            },
            "ENCAP_CAP",
        ),
    ],
)
def test_config_checks(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config(**overrides)


def test_connection_only_default_is_unchanged() -> None:
    plain = demo_config()
    assert plain.capabilities == DEFAULT_CAPABILITIES | F.EP_INFO_CAP_SIG  # the 1.3 endpoint info, no session
    assert not plain.capabilities & (F.KEY_EX_CAP | F.PSK_CAP_MASK | F.MAC_CAP)
    peer = Peer(Responder(plain))
    peer.vca()
    assert peer.exchange(bytes([0x11, Code.KEY_EXCHANGE, 0, 0])).message == ErrorResponse(
        version=0x11, error_code=E.UnsupportedRequest, error_data=Code.KEY_EXCHANGE
    )
    peer.full_flow()


def test_cli_responder_session_options(tmp_path: object) -> None:
    from spdm.cli import main

    assert main(["responder", "--listen", "127.0.0.1:0", "--mutual-auth"]) == 2
    assert main(["responder", "--listen", "127.0.0.1:0", "--mutual-auth", "basic"]) == 2


def test_signed_challenge_and_sessions_share_one_connection() -> None:
    """CHALLENGE (M1/M2 over A, B, C) still verifies after sessions came and went."""
    peer = peer_for()
    session = established(peer)
    session.end_session()
    peer.peer.full_flow()
    again = established(peer)
    again.heartbeat()
    ask = Challenge(version=0x11, nonce=NONCE)
    # CHALLENGE is a connection request: inside the session it is refused.
    again.expect_error(ask, E.UnexpectedRequest)
    assert isinstance(peer.peer.challenge(), ChallengeAuth)


def test_peer_error_on_refused_exchange() -> None:
    peer = peer_for(limits=Limits(max_sessions=1))
    peer.key_exchange()
    with pytest.raises(PeerError) as caught:
        peer.psk_exchange()
    assert caught.value.error_code == E.SessionLimitExceeded


def test_signature_requested_in_session_uses_the_slot_key() -> None:
    peer = peer_for()
    session = established(peer)
    ask = GetMeasurements(version=0x11, attributes=1, operation=0, nonce=NONCE, slot_id_param=0)
    request = encode(ask)
    response = session.send(request)
    answer = peer.decode(response, signature_requested=True)
    assert isinstance(answer, Measurements) and answer.total_indices == 5 and answer.signature is not None
    digest = hash_suite(peer.negotiated.base_hash_algo).digest(request + response[: -len(answer.signature)])
    key = peer.responder.config.slots[0].public_key
    asym_suite(peer.negotiated.base_asym_algo).verify(
        key, digest, answer.signature, hash_suite(peer.negotiated.base_hash_algo)
    )


def test_key_exchange_request_object_round_trip() -> None:
    """The driver's KEY_EXCHANGE is what the codec expects (a sanity check of the test itself)."""
    peer = peer_for()
    ask, _ = peer.key_exchange_request()
    assert decode(encode(ask), peer.negotiated.codec_context()) == ask
    assert isinstance(ask, KeyExchange)


def test_encapsulated_ack_type_after_done() -> None:
    peer = mutual_peer()
    session = peer.key_exchange()
    ack = session.encapsulated_flow(REQUESTER)
    assert isinstance(ack, EncapsulatedResponseAck) and ack.payload_type == 0


# --- with the requester of this package ---------------------------------------------------------


@pytest.mark.parametrize("dhe", ALL_DHE, ids=[DheGroup(d).name for d in ALL_DHE])
def test_with_the_requester(dhe: int) -> None:
    """spdm.requester's sessions over DOE, mutual authentication (encapsulated) included, every DHE group."""
    from spdm.messages.codes import AlgType
    from spdm.messages.negotiation import AlgStruct
    from spdm.requester import Requester, RequesterConfig, RequesterIdentity, session_alg_structs

    responder_config = config(
        max_padding=3, mutual_auth="encapsulated", requester_trust_anchors={0: REQUESTER.root_der}
    )
    structs = tuple(
        AlgStruct(alg_type=s.alg_type, alg_supported=dhe) if s.alg_type == AlgType.DHE else s
        for s in session_alg_structs(BaseAsymAlgo.ECDSA_P256)
    )
    requester = Requester(
        DoeTransport(MemoryDoeLink(Responder(responder_config).respond)),
        RequesterConfig.with_sessions(
            trust_anchors={0: responder_config.slots[0].certificates[0]},
            identities={0: RequesterIdentity(certificates=REQUESTER.certificates_der, private_key=REQUESTER.leaf_key)},
            psk=PSK,
            psk_hint=PSK_HINT,
            alg_structs=structs,
        ),
    )
    requester.authenticate(0)
    with requester.key_exchange(0, summary_hash_type=0xFF) as session:
        assert session.mut_auth_requested == MutAuthRequest.WITH_ENCAP_REQUEST
        session.heartbeat()
        session.key_update()
        session.key_update(all_keys=True)
        assert session.get_measurements(0xFF).signed
    with requester.psk_exchange() as session:
        session.heartbeat()
        assert session.get_measurements(2).signed
    assert not requester.sessions
