"""The requester's session handshakes: KEY_EXCHANGE/FINISH and PSK_EXCHANGE/PSK_FINISH.

Each runs on its connection (the exchange request travels in the clear under the connection's
transcript rules) and yields an established `SessionCore`. The order of every step follows
libspdm's requester (and `spdm.verify.sessions`, proven on libspdm's captures):

* KEY_EXCHANGE_RSP: the signature over A || Hash(Ct) || K (up to OpaqueData) with the slot's
  verified leaf key, then the DHE secret, Hash(TH1), the handshake keys and ResponderVerifyData
  (which moves to FINISH_RSP when both sides set HANDSHAKE_IN_THE_CLEAR_CAP); then mutual
  authentication and FINISH (`SessionCore.finish`).
* PSK: ResponderVerifyData always in PSK_EXCHANGE_RSP; then `SessionCore.psk_finish`.

A session enters its connection's table when its exchange response is verified and is discarded
again if the rest of the handshake fails.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol, TypeVar

from spdm._checks import invalid_response
from spdm.certs import VerifiedChain
from spdm.crypto import DhePrivateKey, DheSuite, aead_suite, asym_suite, dhe_suite, hash_suite
from spdm.errors import DecodeError, EncodeError, NegotiationError, ProtocolError, VerificationError
from spdm.messages import Message
from spdm.messages.certificates import PUBLIC_KEY_SLOT, SLOT_COUNT, SLOT_ID_MASK
from spdm.messages.codes import CapabilityFlags, Code, ErrorCode, MutAuthRequest
from spdm.messages.key_exchange import RANDOM_SIZE, KeyExchange, KeyExchangeRsp, asks_all_events
from spdm.messages.negotiation import VersionNumber, version_text
from spdm.messages.opaque import decode_opaque, has_secured_message_version, selected_secured_message_version
from spdm.messages.psk import PSK_CONTEXT_SIZE, PskExchange, PskExchangeRsp
from spdm.negotiated import Negotiated
from spdm.requester.config import RequesterConfig
from spdm.requester.encapsulated import check_mutual_authentication
from spdm.requester.events import Steps
from spdm.requester.identity import DheKeyShare
from spdm.requester.session_core import SessionCore, SessionLink
from spdm.requester.support import require_support, require_version
from spdm.session.keys import KeySchedule
from spdm.session.secured import joined_session_id, session_id_halves
from spdm.session.transcript import SessionTranscript
from spdm.transcript import HashObject

__all__ = ["ExchangeTransact", "check_key_exchange", "key_exchange", "psk_exchange"]

M = TypeVar("M", bound=Message)
F = CapabilityFlags
_SESSION_ID_ATTEMPTS = 64
_MUT_AUTH_VALUES = (
    MutAuthRequest.MUT_AUTH_REQUESTED,
    MutAuthRequest.WITH_ENCAP_REQUEST,
    MutAuthRequest.WITH_GET_DIGESTS,
)


class ExchangeTransact(Protocol):
    """The connection's exchange of one request in the clear; `summary_hash_type` sizes the response."""

    def __call__(
        self, request: Message, expect: type[M], /, *, summary_hash_type: int = 0
    ) -> Steps[tuple[M, bytes, bytes]]: ...


# --- DHE key agreement --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _EphemeralKeyShare:
    suite: DheSuite
    private_key: DhePrivateKey

    @property
    def exchange_data(self) -> bytes:
        return self.suite.public_bytes(self.private_key)

    def shared_secret(self, peer_exchange_data: bytes) -> bytes:
        return self.suite.shared_secret(self.private_key, peer_exchange_data)


def _key_share(config: RequesterConfig, suite: DheSuite) -> DheKeyShare:
    if config.dhe_key_share is not None:
        return config.dhe_key_share(suite)
    if config.dhe_private_value is not None:
        return _EphemeralKeyShare(suite, suite.from_private_value(config.dhe_private_value(suite)))
    return _EphemeralKeyShare(suite, suite.generate())


# --- checks -------------------------------------------------------------------------------------


def _new_req_session_id(open_sessions: Collection[int], config: RequesterConfig) -> int:
    """A fresh ReqSessionID: non-zero and not the requester half of any open session."""
    used = {session_id_halves(session_id)[1] for session_id in open_sessions}
    for _ in range(_SESSION_ID_ATTEMPTS):
        value = int.from_bytes(config.draw_random(2), "little")
        if value and value not in used:
            return value
    raise ProtocolError(ErrorCode.SessionLimitExceeded, "no free ReqSessionID could be drawn")


def _require_session_caps(negotiated: Negotiated, handshake: Code) -> None:
    """What any session needs, then what `handshake` needs (`require_support`)."""
    require_version(negotiated, handshake)
    refusal = negotiated.session_refusal()
    if refusal is not None:
        raise NegotiationError(f"{handshake.name}: {refusal}")
    require_support(negotiated, handshake)


def _selected_version(opaque: bytes, offered: tuple[int, ...], negotiated: Negotiated, what: str) -> int:
    """The DSP0277 version the responder selected; it must be one the requester offered."""
    if not opaque:
        raise invalid_response(f"{what} carries no OpaqueData: no secured-message version was selected")
    try:
        version = selected_secured_message_version(decode_opaque(opaque, general=negotiated.general_opaque_data))
    except DecodeError as error:
        raise invalid_response(f"{what}: {error}") from None
    if not has_secured_message_version(offered, version):
        raise NegotiationError(
            f"{what} selects secured-message version {version_text(VersionNumber(value=version).major_minor)}, "
            "which was not offered"
        )
    return version


def _check_heartbeat(negotiated: Negotiated, period: int, what: str) -> None:
    if period and not negotiated.heartbeats:
        raise invalid_response(f"{what} sets HeartbeatPeriod {period} without HBEAT_CAP on both sides")


def _check_mut_auth(config: RequesterConfig, negotiated: Negotiated, answer: KeyExchangeRsp) -> int | None:
    """MutAuthRequested and SlotIDParam as libspdm checks them; the requester slot to start from."""
    mut = answer.mut_auth_requested
    slot_param = answer.req_slot_id
    if mut == 0:
        if slot_param:
            raise invalid_response(
                f"KEY_EXCHANGE_RSP names requester slot {slot_param} without asking for mutual authentication"
            )
        return None
    if mut not in _MUT_AUTH_VALUES:
        raise invalid_response(f"KEY_EXCHANGE_RSP MutAuthRequested 0x{mut:02x} is not 0x01, 0x02 or 0x04")
    check_mutual_authentication(config, negotiated, "KEY_EXCHANGE_RSP")
    if mut == MutAuthRequest.MUT_AUTH_REQUESTED:
        if slot_param == PUBLIC_KEY_SLOT & SLOT_ID_MASK:
            raise NegotiationError(
                f"the responder asks for a provisioned requester public key (slot 0x{slot_param:X}): not supported"
            )
        if slot_param >= SLOT_COUNT:
            raise invalid_response(f"KEY_EXCHANGE_RSP names requester slot {slot_param}")
        return slot_param
    if not negotiated.both(F.ENCAP_CAP):
        raise invalid_response("KEY_EXCHANGE_RSP asks for encapsulated requests without ENCAP_CAP on both sides")
    return slot_param


def check_key_exchange(negotiated: Negotiated) -> None:
    """`NegotiationError` unless the connection can run KEY_EXCHANGE."""
    _require_session_caps(negotiated, Code.KEY_EXCHANGE)
    if negotiated.dhe_group == 0:
        raise NegotiationError("KEY_EXCHANGE: ALGORITHMS selected no DHE group")


def _session_policy(config: RequesterConfig, negotiated: Negotiated) -> int:
    """KEY_EXCHANGE's and PSK_EXCHANGE's SessionPolicy: the configured one from 1.2, reserved (0) before."""
    return config.session_policy if negotiated.version >= 0x12 else 0


def _session_id(link: SessionLink, rsp_session_id: int, req_session_id: int, what: str) -> int:
    session_id = joined_session_id(rsp_session_id, req_session_id)
    if session_id in link.sessions:
        raise invalid_response(f"{what} makes SessionID 0x{session_id:08x}, which is already open")
    return session_id


def _establish(link: SessionLink, session: SessionCore, rest: Steps[None]) -> Steps[SessionCore]:
    """The session enters the connection's table; the rest of its handshake runs, or it is discarded."""
    link.sessions[session.session_id] = session
    try:
        yield from rest
    except BaseException:
        session.discard("the handshake failed")
        raise
    return session


# --- the handshakes -----------------------------------------------------------------------------


def key_exchange(
    link: SessionLink,
    transact: ExchangeTransact,
    *,
    negotiated: Negotiated,
    vca_hash: Callable[[], HashObject],
    version_offer: bytes,
    slot: int,
    chain: bytes,
    verified: VerifiedChain,
    summary_hash_type: int,
) -> Steps[SessionCore]:
    """KEY_EXCHANGE with the responder's `slot` (its `chain`, validated as `verified`), (mutual
    authentication,) FINISH: see `spdm.requester.connection.Connection.key_exchange`. `version_offer`
    is the OpaqueData offering the configured secured-message versions."""
    check_key_exchange(negotiated)
    config = link.channel.config
    hashes = hash_suite(negotiated.base_hash_algo)
    suite = dhe_suite(negotiated.dhe_group)
    policy = _session_policy(config, negotiated)
    if asks_all_events(negotiated.version, policy) and not negotiated.responder_has(CapabilityFlags.EVENT_CAP):
        raise NegotiationError("KEY_EXCHANGE: SessionPolicy EventAllPolicy, but the responder has no EVENT_CAP")
    share = _key_share(config, suite)
    ask = KeyExchange(
        version=negotiated.version,
        summary_hash_type=summary_hash_type,
        session_policy=policy,
        slot_id=slot,
        req_session_id=_new_req_session_id(link.sessions, config),
        random_data=config.draw_random(RANDOM_SIZE),
        exchange_data=share.exchange_data,
        opaque_data=version_offer,
    )
    if len(ask.exchange_data) != suite.exchange_size:
        raise EncodeError("KEY_EXCHANGE", "exchange_data", f"{suite.name} ExchangeData is {suite.exchange_size} bytes")
    answer, request, response = yield from transact(ask, KeyExchangeRsp, summary_hash_type=summary_hash_type)
    _check_heartbeat(negotiated, answer.heartbeat_period, "KEY_EXCHANGE_RSP")
    requester_slot = _check_mut_auth(config, negotiated, answer)
    secured_version = _selected_version(
        bytes(answer.opaque_data), tuple(config.secured_message_versions), negotiated, "KEY_EXCHANGE_RSP"
    )
    session_id = _session_id(link, answer.rsp_session_id, ask.req_session_id, "KEY_EXCHANGE_RSP")
    transcript = SessionTranscript(
        hashes, vca_hash(), responder_chain_hash=hashes.digest(chain), spdm_version=negotiated.version
    )
    transcript.add_exchange_request(request)
    digests = transcript.add_key_exchange_rsp(response, answer)
    if digests.signed is None:  # always set for a certificate-based transcript
        raise VerificationError("KEY_EXCHANGE_RSP: nothing signed")
    asym_suite(negotiated.base_asym_algo).verify(verified.leaf_public_key, digests.signed, answer.signature, hashes)
    secret = share.shared_secret(answer.exchange_data)
    if config.on_dhe_secret is not None:
        config.on_dhe_secret(session_id, secret)
    schedule = KeySchedule(hashes, aead_suite(negotiated.aead_suite), secret, spdm_version=negotiated.version)
    handshake = schedule.handshake(digests.th1)
    in_the_clear = negotiated.handshake_in_the_clear
    if not in_the_clear:
        if answer.responder_verify_data is None:
            raise invalid_response("KEY_EXCHANGE_RSP carries no ResponderVerifyData")
        schedule.check_verify_data(handshake.response_finished_key, digests.th1, answer.responder_verify_data)
    session = SessionCore(
        link,
        negotiated=negotiated,
        session_id=session_id,
        psk=False,
        slot=slot,
        schedule=schedule,
        handshake=handshake,
        transcript=transcript,
        heartbeat_period=answer.heartbeat_period,
        measurement_summary_hash=answer.measurement_summary_hash,
        secured_message_version=secured_version,
        mut_auth_requested=answer.mut_auth_requested,
        in_the_clear=in_the_clear,
    )
    return (yield from _establish(link, session, session.finish(requester_slot)))


def psk_exchange(
    link: SessionLink,
    transact: ExchangeTransact,
    *,
    negotiated: Negotiated,
    vca_hash: Callable[[], HashObject],
    version_offer: bytes,
    psk_schedule: Callable[[], KeySchedule],
    summary_hash_type: int,
) -> Steps[SessionCore]:
    """PSK_EXCHANGE (and PSK_FINISH) with `RequesterConfig.psk`: see
    `spdm.requester.connection.Connection.psk_exchange`. `version_offer` is the OpaqueData offering
    the configured secured-message versions; `psk_schedule()` the key schedule of the PSK, which
    every PSK session of the negotiation shares."""
    _require_session_caps(negotiated, Code.PSK_EXCHANGE)
    config = link.channel.config
    schedule = psk_schedule()
    ask = PskExchange(
        version=negotiated.version,
        summary_hash_type=summary_hash_type,
        session_policy=_session_policy(config, negotiated),
        req_session_id=_new_req_session_id(link.sessions, config),
        psk_hint=config.psk_hint,
        requester_context=config.draw_random(PSK_CONTEXT_SIZE),
        opaque_data=version_offer,
    )
    answer, request, response = yield from transact(ask, PskExchangeRsp, summary_hash_type=summary_hash_type)
    _check_heartbeat(negotiated, answer.heartbeat_period, "PSK_EXCHANGE_RSP")
    secured_version = _selected_version(
        bytes(answer.opaque_data), tuple(config.secured_message_versions), negotiated, "PSK_EXCHANGE_RSP"
    )
    session_id = _session_id(link, answer.rsp_session_id, ask.req_session_id, "PSK_EXCHANGE_RSP")
    transcript = SessionTranscript(schedule.hash_suite, vca_hash())  # PSK: no Hash(Ct)
    transcript.add_exchange_request(request)
    digests = transcript.add_psk_exchange_rsp(response, answer)
    handshake = schedule.handshake(digests.th1)
    schedule.check_verify_data(handshake.response_finished_key, digests.th1, answer.responder_verify_data)
    session = SessionCore(
        link,
        negotiated=negotiated,
        session_id=session_id,
        psk=True,
        slot=None,
        schedule=schedule,
        handshake=handshake,
        transcript=transcript,
        heartbeat_period=answer.heartbeat_period,
        measurement_summary_hash=answer.measurement_summary_hash,
        secured_message_version=secured_version,
    )
    return (yield from _establish(link, session, session.psk_finish()))
