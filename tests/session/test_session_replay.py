"""The replayer's failure paths: missing or wrong secrets, a damaged record in the middle of a
capture, and libspdm's fallback to the old key when an UpdateAllKeys answer does not use the new one;
and a request answered ResponseNotReady, which pairs with the answer RESPOND_IF_READY fetches."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from session_vectors import captured, manifest, secrets
from vectors_required import vectors_absent

from spdm.capture import (
    LINKTYPE_PCI_DOE,
    CapturedMessage,
    CaptureSecrets,
    CaptureWriter,
    RecordingTransport,
    messages,
    read_pcap,
)
from spdm.crypto import aead_suite, hash_suite
from spdm.errors import ProtocolError, VerificationError
from spdm.flow import Direction
from spdm.messages import encode
from spdm.messages.codes import AeadAlgorithm, BaseHashAlgo, Code, ErrorCode, KeyUpdateOperation
from spdm.messages.session_control import KeyUpdate, KeyUpdateAck
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.session import KeySchedule, SecuredSession, SessionTranscript
from spdm.transport.loopback import LoopbackTransport
from spdm.verify import (
    MissingSecretError,
    ReplayedSession,
    ReplayRecord,
    SessionReplayer,
    verify_capture,
)


def _first_dhe_capture(vectors: Path) -> str:
    for name, item in manifest(vectors).items():
        if item["dhe_secrets"] and (vectors / name / "requester.pcap").is_file():
            return str(name)
    vectors_absent("no DHE capture in the manifest")


def _run(replayer: SessionReplayer, items: list[CapturedMessage]) -> list[ReplayRecord]:
    return [record for item in items if (record := replayer.feed(item)) is not None]


def test_missing_dhe_secret(libspdm_vectors: Path) -> None:
    name = _first_dhe_capture(libspdm_vectors)
    given = dataclasses.replace(secrets(libspdm_vectors, name), dhe_secrets=())
    records = _run(SessionReplayer(given), list(captured(libspdm_vectors, name)))
    exchange = [r for r in records if r.message is not None and r.message.name == "KEY_EXCHANGE_RSP"]
    assert exchange and all(isinstance(r.error, MissingSecretError) for r in exchange)
    secured = [r for r in records if r.secured]
    assert secured and all(isinstance(r.error, MissingSecretError) for r in secured)


def test_wrong_dhe_secret(libspdm_vectors: Path) -> None:
    name = _first_dhe_capture(libspdm_vectors)
    real = secrets(libspdm_vectors, name)
    wrong = tuple(bytes(len(secret)) for secret in real.dhe_secrets)
    records = _run(SessionReplayer(dataclasses.replace(real, dhe_secrets=wrong)), list(captured(libspdm_vectors, name)))
    exchange = [r for r in records if r.message is not None and r.message.name == "KEY_EXCHANGE_RSP"]
    secured = [r for r in records if r.secured]
    assert exchange and secured
    for record in exchange:
        verdicts = {check.name: check.ok for check in record.checks}
        assert verdicts["KEY_EXCHANGE_RSP signature"] and not verdicts["ResponderVerifyData"]
    assert all(isinstance(record.error, VerificationError) for record in secured)


def test_a_damaged_record_is_reported_and_the_replay_goes_on(libspdm_vectors: Path) -> None:
    name = _first_dhe_capture(libspdm_vectors)
    items = list(captured(libspdm_vectors, name))
    secured = [i for i, item in enumerate(items) if item.kind == "secured"]
    target = secured[len(secured) // 2]
    altered = bytearray(items[target].data)
    altered[-1] ^= 0xFF
    items[target] = dataclasses.replace(items[target], data=bytes(altered))
    records = _run(SessionReplayer(secrets(libspdm_vectors, name)), items)
    failed = [r for r in records if not r.ok]
    assert [r.index for r in failed] == [items[target].index]
    assert isinstance(failed[0].error, VerificationError)


def test_a_record_of_no_open_session(libspdm_vectors: Path) -> None:
    name = _first_dhe_capture(libspdm_vectors)
    first = next(item for item in captured(libspdm_vectors, name) if item.kind == "secured")
    record = SessionReplayer(secrets(libspdm_vectors, name)).feed(first)
    assert record is not None and isinstance(record.error, ProtocolError)
    assert record.error.error_code == ErrorCode.InvalidSession


def test_update_all_keys_answer_under_the_old_key_falls_back() -> None:
    """libspdm's requester tries the new response key on the ACK, then the old one; with the old one the
    responder did not update: its old context stays. The requester's own key still changes after the ACK
    (libspdm creates and activates it whichever key the ACK came under), and the replay follows it."""
    sha, aes = hash_suite(BaseHashAlgo.SHA_256), aead_suite(AeadAlgorithm.AES_256_GCM)
    schedule = KeySchedule(sha, aes, bytes(32), spdm_version=0x11)
    keys = schedule.handshake(bytes(32))
    session = ReplayedSession(
        ordinal=0,
        session_id=7,
        psk=True,
        slot_id=None,
        mut_auth_requested=0,
        hash_suite=sha,
        aead=aes,
        transcript=SessionTranscript.for_psk(sha, b""),
        schedule=schedule,
    )
    channel = session.channel = SecuredSession.from_keys(
        role="requester", session_id=7, aead=aes, request=keys.request, response=keys.response
    )
    responder = SecuredSession.from_keys(
        role="responder", session_id=7, aead=aes, request=keys.request, response=keys.response
    )
    previous = channel.response
    update = KeyUpdate(version=0x11, operation=KeyUpdateOperation.UPDATE_ALL_KEYS, tag=1)
    SessionReplayer._key_update(session, 1, update, Direction.REQUEST)
    assert channel.response is not previous  # the ACK is expected under the responder's new key
    ack = encode(KeyUpdateAck(version=0x11, operation=KeyUpdateOperation.UPDATE_ALL_KEYS, tag=1))
    app, sequence = SessionReplayer._open(session, Direction.RESPONSE, responder.seal(ack))
    assert (app, sequence) == (ack, 0)
    assert channel.response is previous and previous.sequence_number == 1
    SessionReplayer._key_update_ack(session, 2)
    assert session._key_update is None
    assert [(index, direction) for index, direction, _ in session.key_updates] == [(2, Direction.REQUEST)]
    assert channel.request.keys == schedule.update(keys.request)
    with pytest.raises(VerificationError):
        SessionReplayer._open(session, Direction.RESPONSE, b"\x07\x00\x00\x00\x12\x00" + bytes(18))


_PSK = bytes(range(32))


@pytest.mark.parametrize(
    ("not_ready", "psk"),
    [(Code.KEY_EXCHANGE, False), (Code.PSK_EXCHANGE, True)],
    ids=("KEY_EXCHANGE", "PSK_EXCHANGE"),
)
def test_a_request_answered_response_not_ready_pairs_with_its_final_answer(not_ready: Code, psk: bool) -> None:
    """Our responder answers one request ERROR ResponseNotReady and our requester fetches the answer
    with RESPOND_IF_READY: both keep the request and that answer in the session transcript, so the
    replay must too, or every check of the session fails."""
    config = demo_config(sessions=True, psks={b"": _PSK})
    responder = Responder(config)
    root = config.slots[0].certificates[0]

    def respond(request: bytes, session_id: int | None) -> bytes:
        if request[1] == not_ready and session_id is None:
            responder.answer_not_ready(1)
        return responder.respond(request, session_id)

    dhe_secrets: list[bytes] = []
    buffer = io.BytesIO()
    writer = CaptureWriter(buffer, link_type=LINKTYPE_PCI_DOE, clock=lambda: 1_800_000_000.0)
    requester_config = RequesterConfig.with_sessions(
        trust_anchors={0: root}, psk=_PSK, on_dhe_secret=lambda _, secret: dhe_secrets.append(secret)
    )
    requester = Requester(RecordingTransport(LoopbackTransport(respond), writer), requester_config)
    requester.init_connection()
    with requester.psk_exchange() if psk else requester.key_exchange(0) as session:
        session.get_measurements(signed=False)
    writer.close()
    pcap = read_pcap(buffer.getvalue())
    assert any(item.message is not None and item.message.code == Code.RESPOND_IF_READY for item in messages(pcap))

    replay_secrets = CaptureSecrets(dhe_secrets=tuple(dhe_secrets), psk=_PSK)
    result = verify_capture(pcap, {0: root}, secrets=replay_secrets)
    assert result.ok, result.first_failure
    session_check = "ResponderVerifyData" if psk else "KEY_EXCHANGE_RSP signature"
    assert any(check.name == session_check for check in result.checks)
    assert any(check.name.startswith("secured record opens: MEASUREMENTS") for check in result.checks)

    # the session was closed (END_SESSION, END_SESSION_ACK); cut before its ACK, it is still open
    replayer = SessionReplayer(replay_secrets)
    last = list(replayer.run(pcap))[-1]
    assert last.message is not None and last.message.code == Code.END_SESSION_ACK
    assert last.index == len(pcap.records)
    assert [session.ended for session in replayer.sessions] == [True]
    replayer = SessionReplayer(replay_secrets)
    list(replayer.run(dataclasses.replace(pcap, records=pcap.records[:-1])))
    assert [session.ended for session in replayer.sessions] == [False]
