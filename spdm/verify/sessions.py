"""Replaying the sessions of a capture with known secrets: every secured record opened and checked.

A passive observer of one connection (`spdm.capture.messages` gives the records) that knows the
DHE shared secrets (in session order) or the PSK can follow each session exactly as both peers
did: build TH1/TH2, derive every key, check the responder's KEY_EXCHANGE_RSP signature and verify
data, the requester's FINISH signature and verify data, follow KEY_UPDATE, and open every record.
It goes through the same rules as the requester and the responder: the connection in the clear is
followed by `spdm.verify.follower.ConnectionFollower` (the one `spdm verify` follows it with: A and
D, the digests, the chains, the outcome of VCA, the request each answer ends), and the sessions by
`SessionTranscript` for TH1 and TH2, `KeySchedule`, `SentKeyUpdate` for KEY_UPDATE (an observer
sees what the initiator sees) and `ChainPortions` for the requester's chains read from encapsulated
CERTIFICATE portions.
`SessionReplayer.feed` takes the records one by one and returns a `ReplayRecord` for each one that
belongs to a session (the clear exchange messages and every secured record), with the checks made
on it; `replayed.sessions` keeps each session's transcript hashes and secrets.

It is independent of the requester and responder, so `spdm verify` and `spdm dump` can use it on
any capture. A record that fails to open or decode is reported in its `error` and the replay goes
on with the next one: the failed record's sequence number is counted as used (its sender used it),
and nothing else changes. FINISH and PSK_FINISH go into a copy of the session transcript that their
FINISH_RSP keeps and an ERROR drops, as the responder's does: a FINISH retried after ERROR Busy is
checked as the first one was. Without the requester's chain under mutual authentication, TH2 and so
the data keys are unknown: that FINISH is not checked and the session's later records stay unopened.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from spdm._checks import check_encapsulated_ack
from spdm.capture import CapturedMessage, CaptureSecrets, Pcap, exchanged, messages
from spdm.certs import CertChain, ChainPortions, load_certificate
from spdm.crypto.aead import AeadSuite, aead_suite
from spdm.crypto.asym import SignatureInput, asym_suite
from spdm.crypto.hashes import HashSuite, hash_suite
from spdm.errors import DecodeError, ProtocolError, SpdmError, VerificationError
from spdm.events import decode_groups, received_events
from spdm.flow import Carried, Direction, FlowDecoder, stands_for
from spdm.messages import Message
from spdm.messages.certificates import Certificate, Digests, GetCertificate
from spdm.messages.codes import ErrorCode
from spdm.messages.encapsulated import (
    DeliverEncapsulatedResponse,
    EncapsulatedResponseAck,
    embedded_message,
    embedded_payload,
)
from spdm.messages.error import ErrorResponse
from spdm.messages.events import SendEvent, SubscribeEventTypes, SupportedEventTypes
from spdm.messages.key_exchange import Finish, FinishRsp, KeyExchange, KeyExchangeRsp
from spdm.messages.negotiation import GetVersion
from spdm.messages.psk import PskExchange, PskExchangeRsp, PskFinish, PskFinishRsp
from spdm.messages.session_control import EndSessionAck, KeyUpdate, KeyUpdateAck
from spdm.negotiated import Negotiated
from spdm.portions import continued
from spdm.session.key_update import KEY_CHANGING_OPERATIONS, Sender, SentKeyUpdate
from spdm.session.keys import DataSecrets, HandshakeSecrets, KeySchedule, TrafficKeys
from spdm.session.secured import (
    DirectionState,
    SecuredSession,
    joined_session_id,
    secured_transport,
    session_id_of,
    travels_in_the_clear,
)
from spdm.session.transcript import FinishDigests, SessionTranscript
from spdm.transcript import message_d
from spdm.verify.check import Check
from spdm.verify.follower import CERTIFICATE_ERRORS, ConnectionFollower, Followed

__all__ = [
    "KeyPhase",
    "MissingSecretError",
    "ReplayRecord",
    "ReplayedSession",
    "SessionReplayer",
    "encapsulated_ack_check",
    "replay",
]

KeyPhase = Literal["clear", "handshake", "data"]

_SIDE: Mapping[Direction, Sender] = {Direction.REQUEST: "request", Direction.RESPONSE: "response"}
_DIRECTION: Mapping[Sender, Direction] = {"request": Direction.REQUEST, "response": Direction.RESPONSE}
_TH2_CHECK = "TH2 (the session's data keys)"


class MissingSecretError(SpdmError):
    """The replay lacks what a session needs: a DHE secret, the PSK, or a certificate chain."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayRecord:
    """A record that belongs to a session.

    `data` is the exact SPDM message (decrypted for secured records, empty when it did not
    open); `keys` the key phase that protected it and `sequence_number` the counter it was
    opened with; `session` the session's position in the capture (0-based). `message` is what
    the record holds (a chunk message as it is), `carried` the large message a secured chunk
    message completed, or the response a CHUNK_SEND_ACK carried.
    """

    index: int
    session: int
    session_id: int | None
    direction: Direction | None
    secured: bool
    keys: KeyPhase
    sequence_number: int | None
    data: bytes
    message: Message | None = None
    checks: tuple[Check, ...] = ()
    error: SpdmError | None = None
    carried: Carried | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(check.ok for check in self.checks)

    @property
    def exchanged(self) -> tuple[Message, bytes] | None:
        """The message and bytes the exchange saw in this record (`spdm.flow.stands_for`)."""
        return None if self.message is None else stands_for(self.message, self.data, self.carried)


@dataclass(slots=True, kw_only=True, eq=False)
class ReplayedSession:
    """One session as the replay found it; filled in as its messages go by."""

    ordinal: int
    session_id: int
    psk: bool
    slot_id: int | None
    mut_auth_requested: int
    hash_suite: HashSuite
    aead: AeadSuite
    transcript: SessionTranscript
    schedule: KeySchedule | None = None
    handshake: HandshakeSecrets | None = None
    data: DataSecrets | None = None
    channel: SecuredSession | None = None
    phase: KeyPhase = "handshake"
    ended: bool = False
    key_updates: list[tuple[int, Direction, TrafficKeys]] = field(default_factory=list)
    """(record index, direction whose key changed, its new keys) for every KEY_UPDATE applied."""
    requester_chains: dict[int, bytes] = field(default_factory=dict)
    """CM by the requester's slot, read from encapsulated CERTIFICATE portions."""
    requester_digests: bytes = b""
    """EncapD: the requester's first encapsulated DIGESTS on its multi-key connection (`spdm.transcript.message_d`)."""
    keys_unknown: str = ""
    """Why the replay has no data keys for this session (its TH2 is unknown), once FINISH_RSP went by."""
    _requester_portions: ChainPortions | None = None
    _pending_get_certificate: GetCertificate | None = None
    _delivered_request_id: int | None = None
    """The RequestID of the encapsulated answer in flight, which the next ENCAPSULATED_RESPONSE_ACK acknowledges."""
    _key_update: SentKeyUpdate | None = None
    """The KEY_UPDATE in flight (until its ACK or an ERROR), and the record it came in."""
    _key_update_index: int = 0
    _finishing: SessionTranscript | None = None
    """The transcript with the FINISH (or PSK_FINISH) in flight: FINISH_RSP keeps it, an ERROR drops it."""
    _finish_untaken: Check | None = None
    """Why the FINISH in flight is in no transcript, as FINISH_RSP reports it (`_TH2_CHECK`): failed when
    the responder must refuse it, not checked when Hash(CM) is unknown."""

    @property
    def finish_in_flight(self) -> bool:
        """A FINISH (or PSK_FINISH) went by and neither FINISH_RSP nor an ERROR answered it yet."""
        return self._finishing is not None or self._finish_untaken is not None

    @property
    def th1(self) -> bytes | None:
        return self.transcript.th1

    @property
    def th2(self) -> bytes | None:
        return self.transcript.th2

    @property
    def handshake_secret(self) -> bytes | None:
        return None if self.schedule is None else self.schedule.handshake_secret

    @property
    def master_secret(self) -> bytes | None:
        return None if self.schedule is None or self.data is None else self.schedule.master_secret


class SessionReplayer:
    """Follows one connection record by record (`feed`), opening the records of its sessions.

    `connection` follows the connection in the clear (by default one without trust anchors, whose
    chains are used unvalidated and said so); `spdm verify` passes the one it follows the capture with.
    """

    def __init__(self, secrets: CaptureSecrets, connection: ConnectionFollower | None = None) -> None:
        self.secrets = secrets
        self.sessions: list[ReplayedSession] = []
        self.connection = connection or ConnectionFollower(stand_in_chains=secrets.responder_chains)
        self._flow = self.connection.flow
        self._active: dict[int, ReplayedSession] = {}
        self._handshaking: dict[int, ReplayedSession] = {}
        """Sessions by ordinal, oldest first, that may still be in their handshake: a message of a handshake
        in the clear belongs to the oldest open one that is (`_oldest_handshake`)."""
        self._finished: ReplayedSession | None = None
        """The session of the last FINISH or PSK_FINISH: an ERROR in the clear may answer it. Neither this nor
        `_handshaking` scans every open session, which made a capture of many sessions quadratic to replay."""
        self._dhe_used = 0

    def run(self, pcap: Pcap) -> Iterator[ReplayRecord]:
        """Every session record of a capture, in order."""
        for item in messages(pcap):
            record = self.feed(item)
            if record is not None:
                yield record

    # --- dispatch ---------------------------------------------------------------------------

    def feed(self, item: CapturedMessage) -> ReplayRecord | None:
        """Take the next record of the capture; a `ReplayRecord` if it belongs to a session."""
        if item.kind == "secured":
            return self._secured(item)
        seen = exchanged(item) if item.kind == "spdm" else None
        if seen is None or seen.message is None:
            return None
        try:
            followed = self.connection.follow(seen)
        except SpdmError as error:  # a chunk rule broken: the connection's flow refuses it
            return self._record(seen, len(self.sessions) - 1, None, seen.message, error=error)
        return self.clear(seen, followed)

    def clear(self, item: CapturedMessage, followed: Followed) -> ReplayRecord | None:
        """What a message in the clear (`item`, as the exchange saw it), once `connection` followed it
        (`followed`), does to the sessions; a `ReplayRecord` if it belongs to one."""
        if item.message is None:
            return None
        try:
            return self._clear(item, item.message, followed)
        except SpdmError as error:  # e.g. ALGORITHMS selected nothing usable for a session
            return self._record(item, len(self.sessions) - 1, None, item.message, error=error)

    @property
    def negotiated(self) -> Negotiated | None:
        """The outcome of VCA, as the requester accepted it (`ConnectionFollower.negotiated`)."""
        return self.connection.negotiated

    def context(self, session_id: int, direction: Direction) -> DirectionState | None:
        """The context the next record of this session travelling in `direction` is opened with."""
        session = self._active.get(session_id)
        if session is None or session.channel is None:
            return None
        return session.channel.request if direction is Direction.REQUEST else session.channel.response

    # --- clear messages ---------------------------------------------------------------------

    def _clear(self, item: CapturedMessage, msg: Message, followed: Followed) -> ReplayRecord | None:
        if isinstance(msg, GetVersion):
            self._active.clear()  # a new connection: its sessions are gone
            self._handshaking.clear()
        elif isinstance(msg, (KeyExchange, PskExchange)):
            return self._record(item, len(self.sessions), None, msg)
        elif isinstance(msg, (KeyExchangeRsp, PskExchangeRsp)):
            return self._start(item, msg, followed.request)
        elif travels_in_the_clear(msg.code):
            session = self._oldest_handshake()
            if session is not None:
                # HANDSHAKE_IN_THE_CLEAR: FINISH and the encapsulated flow travel in the clear
                direction = Direction.REQUEST if msg.code.is_request else Direction.RESPONSE
                checks = self._session_message(session, item.index, item.data, msg, direction)
                return self._record(item, session.ordinal, session.session_id, msg, checks)
        elif isinstance(msg, ErrorResponse):
            # the answer to a FINISH in the clear, or to one whose record did not open
            session = self._open_session(self._finished)
            if session is not None and session.finish_in_flight:
                self._session_message(session, item.index, item.data, msg, Direction.RESPONSE)
                return self._record(item, session.ordinal, session.session_id, msg)
        return None

    def _oldest_handshake(self) -> ReplayedSession | None:
        """The oldest open session still in its handshake; those ahead of it that left theirs (or closed)
        are dropped for good, so each session is looked at a bounded number of times."""
        while self._handshaking:
            session = next(iter(self._handshaking.values()))
            if self._open_session(session) is not None and session.phase == "handshake":
                return session
            del self._handshaking[session.ordinal]
        return None

    def _open_session(self, session: ReplayedSession | None) -> ReplayedSession | None:
        """`session` if it is still open (not ended, not gone with its connection), else None."""
        if session is None or self._active.get(session.session_id) is not session:
            return None
        return session

    def _record(
        self,
        item: CapturedMessage,
        ordinal: int,
        session_id: int | None,
        msg: Message,
        checks: list[Check] | None = None,
        error: SpdmError | None = None,
    ) -> ReplayRecord:
        return ReplayRecord(
            index=item.index,
            session=ordinal,
            session_id=session_id,
            direction=item.direction,
            secured=False,
            keys="clear",
            sequence_number=None,
            data=item.data,
            message=msg,
            checks=tuple(checks or ()),
            error=error,
        )

    # --- session start ------------------------------------------------------------------------

    def _start(
        self, item: CapturedMessage, msg: KeyExchangeRsp | PskExchangeRsp, exchange: CapturedMessage | None
    ) -> ReplayRecord:
        connection = self.connection
        negotiated = connection.negotiated
        ordinal = len(self.sessions)
        request = None if exchange is None else exchange.message
        if negotiated is None or exchange is None or request is None:
            missing = DecodeError(msg.name, "", "no negotiated algorithms or no exchange request before it")
            return self._record(item, ordinal, None, msg, error=missing)
        if not isinstance(request, (KeyExchange, PskExchange)):
            mismatch = DecodeError(msg.name, "", f"answers {request.name}")
            return self._record(item, ordinal, None, msg, error=mismatch)
        request_data = exchange.data
        session_id = joined_session_id(msg.rsp_session_id, request.req_session_id)
        hashes = hash_suite(negotiated.base_hash_algo)
        aead = aead_suite(negotiated.aead_suite)
        checks: list[Check] = []
        if isinstance(msg, KeyExchangeRsp) and isinstance(request, KeyExchange):
            chain = connection.chains.get(request.slot_id)
            chain_hash = hashes.digest(chain) if chain is not None else connection.digests.get(request.slot_id)
            if chain_hash is None:
                error = MissingSecretError(f"no certificate chain or digest for slot {request.slot_id}")
                return self._record(item, ordinal, session_id, msg, error=error)
            if chain is not None and request.slot_id in connection.digests:
                same = chain_hash == connection.digests[request.slot_id]
                detail = "" if same else "chain hash differs"
                checks.append(Check(record=item.index, name="Hash(Ct) = DIGESTS", ok=same, detail=detail))
            transcript = SessionTranscript(
                hashes,
                connection.transcript.key_exchange_hash(),
                responder_chain_hash=chain_hash,
                spdm_version=negotiated.version,
            )
            transcript.add_exchange_request(request_data)
            digests = transcript.add_key_exchange_rsp(item.data, msg)
            if chain is None:
                # the responder's chain belongs in the capture (or the secrets): a responder never authenticated fails
                lacking = f"no complete certificate chain of slot {request.slot_id} in the capture to verify it with"
                checks.append(Check(record=item.index, name="KEY_EXCHANGE_RSP signature", ok=False, detail=lacking))
            elif digests.signed is not None:
                name = "KEY_EXCHANGE_RSP signature"
                signed, slot = digests.signed, request.slot_id
                checks.append(connection.signature_check(negotiated, item.index, name, slot, signed, msg.signature))
            secret = self._next_dhe_secret()
            session = self._new_session(
                ordinal, session_id, False, request.slot_id, msg.mut_auth_requested, hashes, aead, transcript
            )
        elif isinstance(msg, PskExchangeRsp) and isinstance(request, PskExchange):
            transcript = SessionTranscript(hashes, connection.transcript.vca_hash())  # PSK: no Hash(Ct)
            transcript.add_exchange_request(request_data)
            digests = transcript.add_psk_exchange_rsp(item.data, msg)
            secret = self.secrets.psk
            session = self._new_session(ordinal, session_id, True, None, 0, hashes, aead, transcript)
        else:
            mismatch = DecodeError(msg.name, "", f"answers {request.name}")
            return self._record(item, ordinal, session_id, msg, error=mismatch)
        if secret is None:
            error = MissingSecretError(f"no {'PSK' if session.psk else 'DHE secret'} for session {ordinal}")
            return self._record(item, ordinal, session_id, msg, checks, error)
        schedule = session.schedule = KeySchedule(
            hashes, aead, secret, spdm_version=negotiated.version, psk=session.psk
        )
        handshake = session.handshake = schedule.handshake(digests.th1)
        verify_data = msg.responder_verify_data
        if verify_data is not None:
            finished_key = handshake.response_finished_key
            mac = _check_mac(item.index, "ResponderVerifyData", schedule, finished_key, digests.th1, verify_data)
            checks.append(mac)
        session.channel = SecuredSession.from_keys(
            role="requester",
            session_id=session_id,
            aead=aead,
            request=handshake.request,
            response=handshake.response,
            transport=secured_transport(item.transport),
            encrypt=negotiated.encrypts_records,
        )
        th2 = session.transcript.mark_th2_after_psk_exchange(negotiated.responder_flags) if session.psk else None
        if th2 is not None:
            self._enter_data_phase(session, th2)
        return self._record(item, ordinal, session_id, msg, checks)

    def _new_session(
        self,
        ordinal: int,
        session_id: int,
        psk: bool,
        slot_id: int | None,
        mut_auth: int,
        hashes: HashSuite,
        aead: AeadSuite,
        transcript: SessionTranscript,
    ) -> ReplayedSession:
        session = ReplayedSession(
            ordinal=ordinal,
            session_id=session_id,
            psk=psk,
            slot_id=slot_id,
            mut_auth_requested=mut_auth,
            hash_suite=hashes,
            aead=aead,
            transcript=transcript,
        )
        self.sessions.append(session)
        self._active[session_id] = session
        self._handshaking[ordinal] = session
        return session

    def _next_dhe_secret(self) -> bytes | None:
        index = self._dhe_used
        self._dhe_used += 1
        return self.secrets.dhe_secrets[index] if index < len(self.secrets.dhe_secrets) else None

    @staticmethod
    def _enter_data_phase(session: ReplayedSession, th2: bytes) -> None:
        if session.schedule is None or session.channel is None:
            return
        data = session.data = session.schedule.data(th2)
        session.channel.rekey(data.request, data.response)
        session.phase = "data"

    # --- secured records ----------------------------------------------------------------------

    def _secured(self, item: CapturedMessage) -> ReplayRecord:
        direction = item.direction or Direction.REQUEST
        try:
            session_id = session_id_of(item.data)
        except DecodeError as error:
            return _secured_record(item, direction, None, None, error=error)
        session = self._active.get(session_id)
        if session is None:
            unknown = ProtocolError(ErrorCode.InvalidSession, f"no open session 0x{session_id:08x}")
            return _secured_record(item, direction, session_id, None, error=unknown)
        if session.channel is None:
            why = session.keys_unknown or "its secret is missing"
            missing = MissingSecretError(f"session {session.ordinal} has no keys: {why}")
            return _secured_record(item, direction, session_id, session, error=missing)
        phase = session.phase
        try:
            app, sequence = self._open(session, direction, item.data)
        except SpdmError as error:
            # The sender used a sequence number for this record even though it does not open here
            # (damaged in the capture): count it, so the records after it still open.
            state = session.channel.request if direction is Direction.REQUEST else session.channel.response
            sequence = state.sequence_number
            if not isinstance(error, ProtocolError):
                state.skip()
            return _secured_record(item, direction, session_id, session, phase=phase, sequence=sequence, error=error)
        record = functools.partial(
            _secured_record, item, direction, session_id, session, phase=phase, sequence=sequence, data=app
        )
        try:
            msg, _ = self._flow.decode(app)
        except (DecodeError, ProtocolError) as error:
            return record(error=error)
        carried = self._flow.carried
        seen = stands_for(msg, app, carried)
        if seen is None:
            return record(message=msg)
        try:
            checks = self._session_message(session, item.index, seen[1], seen[0], direction)
        except SpdmError as error:
            return record(message=msg, carried=carried, error=error)
        return record(message=msg, carried=carried, checks=tuple(checks))

    @staticmethod
    def _open(session: ReplayedSession, direction: Direction, data: bytes) -> tuple[bytes, int]:
        """(SPDM message, sequence number it was opened with). While a KEY_UPDATE is in flight, the
        answering side's records open as its initiator opens them (`SentKeyUpdate.open`)."""
        channel = session.channel
        if channel is None:
            raise MissingSecretError(f"session {session.ordinal} has no keys")
        side = _SIDE[direction]
        update = session._key_update
        if update is not None and update.answering == side:
            app = update.open(data)
        else:
            app = (channel.request if side == "request" else channel.response).open(data)
        opened = channel.request if side == "request" else channel.response
        return app, opened.sequence_number - 1

    # --- what a session message does ----------------------------------------------------------

    def _session_message(
        self, session: ReplayedSession, index: int, data: bytes, msg: Message, direction: Direction
    ) -> list[Check]:
        checks: list[Check] = []
        if isinstance(msg, DeliverEncapsulatedResponse):
            session._delivered_request_id = msg.request_id
        elif isinstance(msg, EncapsulatedResponseAck) and session._delivered_request_id is not None:
            checks.append(encapsulated_ack_check(index, msg, session._delivered_request_id))
            session._delivered_request_id = None
        if isinstance(msg, (Finish, PskFinish)):
            self._finished = session
            self._finish(session, index, data, msg, checks)
        elif isinstance(msg, (FinishRsp, PskFinishRsp)):
            self._finish_rsp(session, index, data, msg, checks)
        elif isinstance(msg, EndSessionAck):
            session.ended = True
            self._active.pop(session.session_id, None)
        else:
            inner, travel = _innermost(msg, direction, self._flow)
            if isinstance(inner, KeyUpdate):
                self._key_update(session, index, inner, travel)
            elif isinstance(inner, KeyUpdateAck):
                self._key_update_ack(session, index)
            elif isinstance(inner, ErrorResponse):
                # ResponseNotReady defers the answer (RESPOND_IF_READY fetches it): the request stays in flight
                if inner.error_code != ErrorCode.ResponseNotReady:
                    self._refused(session)
            elif isinstance(inner, (SendEvent, SupportedEventTypes, SubscribeEventTypes)):
                checks.append(_event_check(index, inner))
            elif isinstance(inner, Digests) and isinstance(msg, DeliverEncapsulatedResponse):
                multi_key = self.negotiated is not None and self.negotiated.requester_multi_key
                session.requester_digests = message_d(session.requester_digests, msg.payload, multi_key=multi_key)
            elif isinstance(inner, GetCertificate):
                session._pending_get_certificate = inner
                start = functools.partial(ChainPortions, inner.slot_id)
                session._requester_portions = continued(session._requester_portions, inner.offset, start)
            elif isinstance(inner, Certificate) and travel is Direction.REQUEST:
                checks.extend(self._requester_portion(session, index, inner))
        return checks

    @staticmethod
    def _requester_portion(session: ReplayedSession, index: int, msg: Certificate) -> list[Check]:
        """A portion of the requester's chain (an encapsulated CERTIFICATE); the chain goes into
        `requester_chains` once complete."""
        reading, asked = session._requester_portions, session._pending_get_certificate
        name = "requester certificate portions make one chain"
        if reading is None or asked is None:
            return [Check(record=index, name=name, ok=False, detail="CERTIFICATE answers no GET_CERTIFICATE")]
        try:
            chain = reading.add(asked, msg)
        except ValueError as error:
            session._requester_portions = None
            return [Check(record=index, name=name, ok=False, detail=str(error))]
        if chain is not None:
            session._requester_portions = None
            session.requester_chains[reading.slot] = chain
        return []

    @staticmethod
    def _refused(session: ReplayedSession) -> None:
        """An ERROR ended the request in flight: a KEY_UPDATE changes no key, and a FINISH leaves the
        session transcript, Hash(CM) with it, as the responder drops its copy (libspdm_req_finish.c
        resets message F), so a FINISH retried after Busy is checked as the first one."""
        if session._key_update is not None:
            session._key_update.refused()
            session._key_update = None
        session._finishing, session._finish_untaken = None, None

    def _finish(
        self, session: ReplayedSession, index: int, data: bytes, msg: Finish | PskFinish, checks: list[Check]
    ) -> None:
        """FINISH or PSK_FINISH, checked and added to a copy of the session transcript that FINISH_RSP
        keeps (`_finishing`), as the responder adds it to a copy it keeps only when it answers."""
        schedule, handshake = session.schedule, session.handshake
        if schedule is None or handshake is None:
            raise MissingSecretError(f"session {session.ordinal} has no handshake keys")
        session._finishing, session._finish_untaken = None, None
        transcript = session.transcript.copy()
        if isinstance(msg, PskFinish):
            digests = transcript.add_psk_finish(data, msg)
        else:
            taken = self._add_finish(session, index, transcript, data, msg, checks)
            if taken is None:
                return
            digests = taken
        checks.append(
            _check_mac(
                index,
                "RequesterVerifyData",
                schedule,
                handshake.request_finished_key,
                digests.verify_digest,
                msg.requester_verify_data,
            )
        )
        session._finishing = transcript

    def _add_finish(
        self,
        session: ReplayedSession,
        index: int,
        transcript: SessionTranscript,
        data: bytes,
        msg: Finish,
        checks: list[Check],
    ) -> FinishDigests | None:
        """FINISH into `transcript` (Hash(CM) first under mutual authentication) and its signature checked;
        None when it cannot go in: a SignatureIncluded that does not match MutAuthRequested (the responder
        refuses it, libspdm_rsp_finish_rsp.c) or an unknown requester chain (`_finish_untaken` says which)."""
        mut_auth = session.mut_auth_requested
        detail = msg.signature_mismatch(mut_auth)
        if detail is not None:
            name = "FINISH SignatureIncluded matches MutAuthRequested"
            checks.append(Check(record=index, name=name, ok=False, detail=detail))
            if mut_auth:
                checks.append(Check(record=index, name="FINISH signature", ok=False, detail="FINISH carries none"))
            refused = f"FINISH_RSP answers a FINISH the responder refuses, {detail}"
            session._finish_untaken = Check(record=index, name=_TH2_CHECK, ok=False, detail=refused)
            return None
        if not mut_auth:
            return transcript.add_finish(data, msg)
        requester_chain = self._requester_chain(session, msg.req_slot_id)
        if requester_chain is None:
            why = "the requester's certificate chain is not known"
            checks.append(Check.not_checked(index, "FINISH signature and RequesterVerifyData", why))
            session._finish_untaken = Check.not_checked(index, _TH2_CHECK, why)
            return None
        hashes = session.hash_suite
        transcript.add_requester_chain_hash(hashes.digest(requester_chain), requester_digests=session.requester_digests)
        digests = transcript.add_finish(data, msg)
        if digests.signed is not None and msg.signature is not None:
            algorithm = 0 if self.negotiated is None else self.negotiated.req_base_asym_alg
            checks.append(
                _requester_signature(index, requester_chain, hashes, algorithm, digests.signed, msg.signature)
            )
        return digests

    def _finish_rsp(
        self, session: ReplayedSession, index: int, data: bytes, msg: FinishRsp | PskFinishRsp, checks: list[Check]
    ) -> None:
        schedule, handshake = session.schedule, session.handshake
        if schedule is None or handshake is None:
            raise MissingSecretError(f"session {session.ordinal} has no handshake keys")
        finishing, untaken = session._finishing, session._finish_untaken
        session._finishing, session._finish_untaken = None, None
        if finishing is None:
            # TH2 is unknown: so are the data keys, and the session's records from here on stay unopened
            if untaken is None:
                untaken = Check(record=index, name=_TH2_CHECK, ok=False, detail="FINISH_RSP answers no FINISH")
            checks.append(dataclasses.replace(untaken, record=index))
            session.keys_unknown, session.phase, session.channel = untaken.detail, "data", None
            return
        session.transcript = finishing
        verify_digest = session.transcript.add_finish_rsp(data, msg if isinstance(msg, FinishRsp) else None)
        if verify_digest is not None and isinstance(msg, FinishRsp) and msg.responder_verify_data is not None:
            checks.append(
                _check_mac(
                    index,
                    "FINISH_RSP ResponderVerifyData",
                    schedule,
                    handshake.response_finished_key,
                    verify_digest,
                    msg.responder_verify_data,
                )
            )
        th2 = session.transcript.th2
        if th2 is not None:
            self._enter_data_phase(session, th2)

    def _requester_chain(self, session: ReplayedSession, slot_id: int) -> bytes | None:
        """CM: fetched inside the session (encapsulated GET_CERTIFICATE), else the configured certificates."""
        chain = session.requester_chains.get(slot_id)
        if chain is None and session.requester_chains:
            chain = next(iter(session.requester_chains.values()))
        if chain is None and self.secrets.requester_chain:
            chain = CertChain.build(self.secrets.requester_chain, session.hash_suite).to_bytes()
        return chain

    @staticmethod
    def _key_update(session: ReplayedSession, index: int, msg: KeyUpdate, travel: Direction) -> None:
        """KEY_UPDATE UpdateKey or UpdateAllKeys from the side that sends in `travel` (VerifyNewKey changes nothing)."""
        channel, schedule = session.channel, session.schedule
        if channel is None or schedule is None:
            return
        if msg.operation not in KEY_CHANGING_OPERATIONS:
            return
        if session._key_update is not None:  # the earlier one was never answered
            session._key_update.refused()
        session._key_update = SentKeyUpdate(channel, schedule, msg.operation, sender=_SIDE[travel])
        session._key_update_index = index

    @staticmethod
    def _key_update_ack(session: ReplayedSession, index: int) -> None:
        """KEY_UPDATE_ACK: the keys that changed go in `key_updates`, the answerer's first (at its KEY_UPDATE)."""
        update, session._key_update = session._key_update, None
        if update is None:
            return
        answering = update.answerer_keys
        keys = update.acknowledged()
        if answering is not None:
            session.key_updates.append((session._key_update_index, _DIRECTION[update.answering], answering))
        session.key_updates.append((index, _DIRECTION[update.sender], keys))


def replay(pcap: Pcap, secrets: CaptureSecrets) -> Iterator[ReplayRecord]:
    """Every session record of `pcap`, opened and checked with `secrets`."""
    return SessionReplayer(secrets).run(pcap)


# --- helpers ------------------------------------------------------------------------------------


def _secured_record(
    item: CapturedMessage,
    direction: Direction,
    session_id: int | None,
    session: ReplayedSession | None,
    *,
    phase: KeyPhase = "clear",
    sequence: int | None = None,
    data: bytes = b"",
    message: Message | None = None,
    carried: Carried | None = None,
    checks: tuple[Check, ...] = (),
    error: SpdmError | None = None,
) -> ReplayRecord:
    return ReplayRecord(
        index=item.index,
        session=-1 if session is None else session.ordinal,
        session_id=session_id,
        direction=direction,
        secured=True,
        keys=phase if session is not None else "clear",
        sequence_number=sequence,
        data=data,
        message=message,
        checks=checks,
        error=error,
        carried=carried,
    )


def encapsulated_ack_check(record: int, ack: EncapsulatedResponseAck, request_id: int) -> Check:
    """ENCAPSULATED_RESPONSE_ACK after the requester's answer to `request_id`, as the requester takes it."""
    name = "ENCAPSULATED_RESPONSE_ACK acknowledges the answer and carries what its PayloadType says"
    try:
        check_encapsulated_ack(ack, request_id)
    except ProtocolError as error:
        return Check(record=record, name=name, ok=False, detail=str(error))
    return Check(record=record, name=name, ok=True)


def _innermost(msg: Message, direction: Direction, flow: FlowDecoder) -> tuple[Message, Direction]:
    """The message an encapsulated carrier holds (and the direction it travels), else `msg` itself."""
    payload = embedded_payload(msg)
    if not payload:
        return msg, direction
    return embedded_message(payload, flow.carried_context(msg), 0)[0], direction


def _check_mac(
    record: int, name: str, schedule: KeySchedule, finished_key: bytes, digest: bytes, received: bytes
) -> Check:
    try:
        schedule.check_verify_data(finished_key, digest, received)
    except VerificationError as error:
        return Check(record=record, name=name, ok=False, detail=str(error))
    return Check(record=record, name=name, ok=True)


def _requester_signature(
    record: int, chain: bytes, hashes: HashSuite, algorithm: int, signed: SignatureInput, signature: bytes
) -> Check:
    """FINISH's signature, by the leaf of the requester's SPDM-format `chain` (read in the session or
    given: the replay holds no trust anchor of the requester's, so the chain is not validated)."""
    name = "FINISH signature"
    try:
        leaf = CertChain.from_bytes(chain, hashes.size).leaf
        asym_suite(algorithm).verify(load_certificate(leaf).public_key(), signed, signature, hashes)
    except CERTIFICATE_ERRORS as error:
        return Check(record=record, name=name, ok=False, detail=str(error))
    return Check(record=record, name=name, ok=True)


def _event_check(index: int, msg: SendEvent | SupportedEventTypes | SubscribeEventTypes) -> Check:
    """An event message (SPDM 1.3) as its recipient checks it (`spdm.events`): SEND_EVENT's events,
    the event group lists of SUPPORTED_EVENT_TYPES and SUBSCRIBE_EVENT_TYPES."""
    try:
        if isinstance(msg, SendEvent):
            events = received_events(msg)
            ids = f"{events[0].event_instance_id}..{events[-1].event_instance_id}"
            detail = f"{len(events)} event(s), EventInstanceID {ids}"
        elif isinstance(msg, SupportedEventTypes):
            detail = f"{len(decode_groups(msg.groups, msg.group_count, 'SupportedEventGroupsList'))} event group(s)"
        else:
            detail = f"{len(decode_groups(msg.subscribe_list, msg.group_count, 'SubscribeList'))} event group(s)"
    except ProtocolError as error:
        return Check(record=index, name=f"{msg.name} well formed", ok=False, detail=str(error))
    return Check(record=index, name=f"{msg.name} well formed", ok=True, detail=detail)
