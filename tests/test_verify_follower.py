"""`spdm verify` and the session replay follow the connection in the clear as the requester does, with
one follower (`spdm.verify.follower.ConnectionFollower`): on captures of our requester and responder,
a request's transcript reset applies whatever its answer, a new DIGESTS replaces the slots known, a
signature is checked with a validated chain, and a refused ALGORITHMS leaves no negotiation."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable

import pytest

from spdm.capture import (
    LINKTYPE_PCI_DOE,
    CaptureSecrets,
    CaptureWriter,
    Pcap,
    PcapRecord,
    RecordingTransport,
    messages,
    read_pcap,
)
from spdm.certs import SPDM_REQUESTER_AUTH_OID
from spdm.errors import PeerError
from spdm.messages import encode
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, Code, ErrorCode
from spdm.messages.error import ErrorResponse
from spdm.requester import Requester, RequesterConfig, RequesterIdentity
from spdm.responder import Responder, SlotIdentity, demo_config
from spdm.testing.pki import make_chain
from spdm.transport.loopback import LoopbackTransport
from spdm.verify import ReplayedSession, SessionReplayer, verify_capture

_CLOCK = 1_800_000_000.0
_REQUESTER = make_chain(BaseAsymAlgo.ECDSA_P256, name="verify requester", extended_key_usages=[SPDM_REQUESTER_AUTH_OID])


Steps = Callable[[Requester, Responder], None]
Respond = Callable[[Responder, bytes, int | None], bytes]


def _recorded(
    steps: Steps, respond: Respond | None = None, *, mutual: str | None = None
) -> tuple[Pcap, bytes, CaptureSecrets]:
    """Our requester and responder (demo identity, sessions) running `steps`, recorded as a DOE pcap;
    the slot 0 root and the sessions' secrets. `respond` stands in for the responder's `respond`;
    `mutual` is the responder's `mutual_auth`, the requester's identity `_REQUESTER` (its chain in the secrets)."""
    config = demo_config(sessions=True)
    identities = {}
    if mutual is not None:
        config = dataclasses.replace(config, mutual_auth=mutual, requester_trust_anchors={0: _REQUESTER.root_der})
        identities = {0: RequesterIdentity(certificates=_REQUESTER.certificates_der, private_key=_REQUESTER.leaf_key)}
    responder = Responder(config)
    root = config.slots[0].certificates[0]
    secrets: list[bytes] = []
    buffer = io.BytesIO()
    writer = CaptureWriter(buffer, link_type=LINKTYPE_PCI_DOE, clock=lambda: _CLOCK)

    def answer(request: bytes, session_id: int | None) -> bytes:
        if respond is None:
            return responder.respond(request, session_id)
        return respond(responder, request, session_id)

    requester_config = RequesterConfig.with_sessions(
        trust_anchors={0: root}, identities=identities, on_dhe_secret=lambda _, secret: secrets.append(secret)
    )
    requester = Requester(RecordingTransport(LoopbackTransport(answer), writer), requester_config)
    steps(requester, responder)
    writer.close()
    chain = tuple(_REQUESTER.certificates_der) if mutual is not None else ()
    return read_pcap(buffer.getvalue()), root, CaptureSecrets(dhe_secrets=tuple(secrets), requester_chain=chain)


def _index(pcap: Pcap, code: Code, nth: int = 0) -> int:
    """The record index of the `nth` message with `code` in the clear."""
    found = [item.index for item in messages(pcap) if item.message is not None and item.message.code == code]
    return found[nth]


def _altered(pcap: Pcap, index: int, change: Callable[[bytearray], None]) -> Pcap:
    """`pcap` with record `index`'s SPDM message (after the 8-byte DOE header) changed by `change`."""
    records = list(pcap.records)
    record = records[index - 1]
    data = bytearray(record.data)
    spdm = data[8:]
    change(spdm)
    records[index - 1] = PcapRecord(index=index, timestamp=record.timestamp, data=bytes(data[:8] + spdm))
    return dataclasses.replace(pcap, records=tuple(records))


def test_a_request_answered_error_resets_the_transcript_as_it_was_sent() -> None:
    """GET_DIGESTS drops B and C when it is sent (libspdm_req_get_digests.c resets before sending; the
    responder resets on receipt, libspdm_rsp_digests.c before its Unspecified error), whatever the
    answer: after GET_DIGESTS -> ERROR, CHALLENGE_AUTH signs A || CHALLENGE alone."""
    asked: list[int] = []

    def respond(responder: Responder, request: bytes, session_id: int | None) -> bytes:
        if request[1] == Code.GET_DIGESTS:
            asked.append(1)
            if len(asked) == 2:  # a device that resets, then fails to read its slots
                responder.transcript.before_request(Code.GET_DIGESTS)
                return encode(ErrorResponse(version=request[0], error_code=ErrorCode.Unspecified, error_data=0))
        return responder.respond(request, session_id)

    def steps(requester: Requester, responder: Responder) -> None:
        requester.init_connection()
        requester.get_digests()
        requester.get_certificate(0)
        requester.verify_certificate(0)
        with pytest.raises(PeerError):
            requester.get_digests()
        requester.challenge(0)

    pcap, root, _ = _recorded(steps, respond)
    result = verify_capture(pcap, {0: root})
    assert result.ok, result.first_failure
    signature = next(c for c in result.checks if c.name.startswith("CHALLENGE_AUTH signature"))
    assert signature.passed
    # B went with the GET_DIGESTS: the signature covers A and the CHALLENGE pair, no CERTIFICATE
    certificate = _index(pcap, Code.CERTIFICATE)
    assert certificate not in result.covered and _index(pcap, Code.CHALLENGE_AUTH) in result.covered


def test_a_vca_response_out_of_order_fails_and_stays_out_of_a() -> None:
    """A responder that answers a second GET_CAPABILITIES (ours and libspdm's refuse it: UnexpectedRequest)
    would grow A without bound, and every restart of M1/M2 hashes A again: such a CAPABILITIES fails and is
    not added to A, so the CHALLENGE_AUTH after it still verifies over the A it signed."""
    exchanged: list[tuple[bytes, bytes]] = []  # the first GET_CAPABILITIES and its CAPABILITIES

    def respond(responder: Responder, request: bytes, session_id: int | None) -> bytes:
        if request[1] == Code.GET_CAPABILITIES and exchanged:
            return exchanged[0][1]
        response = responder.respond(request, session_id)
        if request[1] == Code.GET_CAPABILITIES:
            exchanged.append((request, response))
        return response

    def steps(requester: Requester, responder: Responder) -> None:
        requester.init_connection()
        for _ in range(2):
            requester.transport.exchange(exchanged[0][0])
        requester.get_digests()
        requester.get_certificate(0)
        requester.verify_certificate(0)
        requester.challenge(0)

    pcap, root, _ = _recorded(steps, respond)
    result = verify_capture(pcap, {0: root})
    failed = [(c.record, c.name, c.detail) for c in result.checks if not c.ok]
    order = "VCA in order: VERSION, CAPABILITIES, ALGORITHMS"
    detail = "CAPABILITIES where A takes nothing more: not added to A"
    repeated = [_index(pcap, Code.CAPABILITIES, nth) for nth in (1, 2)]
    assert failed == [(index, order, detail) for index in repeated]
    assert next(c for c in result.checks if c.name.startswith("CHALLENGE_AUTH signature")).passed


@pytest.mark.parametrize("mutual", ["encapsulated", "digests"])
def test_an_encapsulated_flow_of_a_handshake_in_the_clear_is_the_sessions(mutual: str) -> None:
    """A DHE handshake in the clear with mutual authentication: its encapsulated flow is checked as the
    session's (the requester's chain read and Hash(CM) in FINISH), not as basic mutual authentication.
    With MutAuthRequested 0x04 the first DELIVER_ENCAPSULATED_RESPONSE answers a GET_DIGESTS no message
    carried (RequestID 0, libspdm_req_encap_request.c): it failed as "answers nothing" (found live
    against spdm_responder_emu --mut_auth DIGESTS)."""

    def steps(requester: Requester, responder: Responder) -> None:
        requester.init_connection()
        with requester.key_exchange(0) as session:
            assert session.mut_auth_requested == {"encapsulated": 0x02, "digests": 0x04}[mutual]

    pcap, root, secrets = _recorded(steps, mutual=mutual)
    result = verify_capture(pcap, {0: root}, secrets=secrets)
    assert result.ok, result.first_failure
    names = {c.name for c in result.checks if c.passed}
    assert {"RequesterVerifyData", "FINISH signature"} <= names
    assert not [c for c in result.checks if c.name.startswith(("DELIVER_ENCAPSULATED", "requester slot"))]


def test_a_new_digests_replaces_the_slots_known() -> None:
    """The slots of the last DIGESTS are the populated ones (as the requester keeps them): a slot a later
    DIGESTS no longer lists has no digest for Hash(Ct) to be compared with."""

    def steps(requester: Requester, responder: Responder) -> None:
        requester.init_connection()
        requester.get_digests()
        requester.get_certificate(0)
        requester.verify_certificate(0)
        requester.get_digests()
        with requester.key_exchange(0):
            pass

    pcap, root, secrets = _recorded(steps)
    name = "Hash(Ct) = DIGESTS"
    assert [c.passed for c in verify_capture(pcap, {0: root}, secrets=secrets).checks if c.name == name] == [True]

    def slot_1_only(message: bytearray) -> None:
        message[3] = 0x02  # Param2, the slot mask: slot 1 holds the one digest; no signature covers this DIGESTS

    moved = _altered(pcap, _index(pcap, Code.DIGESTS, 1), slot_1_only)
    replayer = SessionReplayer(secrets)
    records = [record for item in messages(moved) if (record := replayer.feed(item)) is not None]
    assert not [c for record in records for c in record.checks if c.name == name]
    assert sorted(replayer.connection.digests) == [1]
    result = verify_capture(moved, {0: root}, secrets=secrets)
    assert result.ok, result.first_failure
    assert not [c for c in result.checks if c.name == name]


def test_a_session_signature_needs_a_validated_chain() -> None:
    """KEY_EXCHANGE_RSP's signature is checked as CHALLENGE_AUTH's: with the slot's chain validated to its
    trust anchor; a chain that does not validate verifies no signature, and one without a trust anchor
    is used as it is, with the check saying it was not validated."""

    def steps(requester: Requester, responder: Responder) -> None:
        requester.init_connection()
        with requester.key_exchange(0):
            pass

    pcap, root, secrets = _recorded(steps)
    name = "KEY_EXCHANGE_RSP signature"

    def signature(anchors: dict[int, bytes]) -> tuple[bool, str]:
        check = next(c for c in verify_capture(pcap, anchors, secrets=secrets).checks if c.name == name)
        return check.ok, check.detail

    assert signature({0: root}) == (True, "")
    other_root = make_chain(BaseAsymAlgo.ECDSA_P256, depth=2).root_der
    assert signature({0: other_root}) == (False, "slot 0 has no validated certificate chain")
    ok, detail = signature({})
    assert ok and "not validated (no trust anchor for the slot)" in detail


def test_sessions_after_a_refused_algorithms_are_not_replayed() -> None:
    """The requester refuses an ALGORITHMS that selects more than one algorithm of a kind, and has no
    negotiation after it: neither `spdm verify` nor the replay follows a session under it."""

    def steps(requester: Requester, responder: Responder) -> None:
        requester.init_connection()
        with requester.key_exchange(0):
            pass

    pcap, root, secrets = _recorded(steps)

    def two_measurement_hashes(message: bytearray) -> None:
        message[8] |= 0x01  # MeasurementHashAlgo: raw bit stream as well as the selected hash

    refused = _altered(pcap, _index(pcap, Code.ALGORITHMS), two_measurement_hashes)
    result = verify_capture(refused, {0: root}, secrets=secrets)
    failed = [c for c in result.checks if not c.ok]
    assert failed[0].name == "ALGORITHMS selects one offered algorithm of each kind"
    assert not [c for c in result.checks if c.name in ("KEY_EXCHANGE_RSP signature", "ResponderVerifyData")]
    starts = [c for c in failed if c.name == "session record opens and decodes"]
    assert starts and "no negotiated algorithms" in starts[0].detail
    replayer = SessionReplayer(secrets)
    list(replayer.run(refused))
    assert replayer.negotiated is None and not replayer.sessions


def test_an_error_in_the_clear_is_matched_to_one_session_not_searched_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """An ERROR in the clear may answer the last FINISH: the replay asks that one session whether its FINISH
    is in flight instead of asking every open session, which made a capture of many sessions started and
    many ERRORs quadratic to verify (16,000 of each: 17 s)."""

    def steps(requester: Requester, responder: Responder) -> None:
        requester.init_connection()
        with requester.key_exchange(0):
            pass
        requester.transport.exchange(bytes([requester.connection.version, Code.GET_CERTIFICATE, 5, 0, 0, 0, 0x10, 0]))

    pcap, root, _ = _recorded(steps)
    exchange, error = _index(pcap, Code.KEY_EXCHANGE), _index(pcap, Code.GET_CERTIFICATE, -1)
    started = [pcap.records[exchange - 1].data, pcap.records[exchange].data]
    datas = [record.data for record in pcap.records]
    for session in range(2, 42):  # 40 more sessions started (RspSessionID changed), never finished
        response = bytearray(started[1])
        response[8 + 4 : 8 + 6] = session.to_bytes(2, "little")
        datas += [started[0], bytes(response)]
    datas += [record.data for record in pcap.records[error - 1 : error + 1]] * 40
    many = dataclasses.replace(
        pcap, records=tuple(PcapRecord(index=i, timestamp=_CLOCK, data=d) for i, d in enumerate(datas, 1))
    )
    asked: list[int] = []
    in_flight = ReplayedSession.finish_in_flight

    def counted(session: ReplayedSession) -> bool:
        asked.append(session.ordinal)
        return bool(in_flight.fget(session))  # type: ignore[attr-defined]

    monkeypatch.setattr(ReplayedSession, "finish_in_flight", property(counted))
    verify_capture(many, {0: root})
    assert len(asked) <= 41  # at most once per ERROR in the clear (41), not once per open session


@pytest.mark.parametrize("slot", [0, 1])
def test_an_in_session_measurements_signature_is_checked_with_the_slot_it_asked(slot: int) -> None:
    """A signed GET_MEASUREMENTS inside a session names its own SlotID, which need not be the slot
    KEY_EXCHANGE used: `spdm verify` checks the signature with the slot the request named, as the
    requester did."""
    base = demo_config(sessions=True)
    other = make_chain(BaseAsymAlgo.ECDSA_P384, hash_algo=BaseHashAlgo.SHA_384)
    slots = {**base.slots, 1: SlotIdentity(certificates=other.certificates_der, private_key=other.leaf_key)}
    responder = Responder(dataclasses.replace(base, slots=slots))
    anchors = {0: base.slots[0].certificates[0], 1: other.root_der}
    secrets: list[bytes] = []
    buffer = io.BytesIO()
    writer = CaptureWriter(buffer, link_type=LINKTYPE_PCI_DOE, clock=lambda: _CLOCK)
    config = RequesterConfig.with_sessions(trust_anchors=anchors, on_dhe_secret=lambda _, s: secrets.append(s))
    requester = Requester(RecordingTransport(LoopbackTransport(responder.respond), writer), config)
    requester.init_connection()
    for each in (0, 1):
        requester.get_certificate(each)
        requester.verify_certificate(each)
    with requester.key_exchange(0) as session:
        assert session.get_measurements(signed=True, slot=slot).signed
    writer.close()
    result = verify_capture(read_pcap(buffer.getvalue()), anchors, secrets=CaptureSecrets(dhe_secrets=tuple(secrets)))
    check = next(c for c in result.checks if c.name == "in-session MEASUREMENTS signature over L1/L2")
    assert check.ok, check.detail
    assert result.ok
