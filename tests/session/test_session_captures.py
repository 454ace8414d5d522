"""Every libspdm capture replayed with the manifest's secrets: TH1/TH2 and every secret equal libspdm's,
every signature and verify data checks, every secured record opens to the message spdm_dump shows,
KEY_UPDATE switches keys where libspdm did, and no altered or replayed record opens."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest
from session_vectors import captured, dump_messages, entry, log_values, replayed, secrets

from spdm.errors import SpdmError
from spdm.flow import Direction
from spdm.messages import encode
from spdm.messages.codes import KeyUpdateOperation
from spdm.messages.key_exchange import Finish, KeyExchangeRsp
from spdm.messages.psk import PskExchangeRsp, PskFinish
from spdm.messages.session_control import KeyUpdate
from spdm.verify import SessionReplayer


def test_every_session_record_opens_and_verifies(libspdm_vectors: Path, libspdm_capture: str) -> None:
    replayer, records = replayed(libspdm_vectors, libspdm_capture)
    for record in records:
        assert record.error is None, f"record {record.index}: {record.error!r}"
        for check in record.checks:
            assert check.ok, f"record {record.index}: {check.name}: {check.detail}"
    secured = [item for item in captured(libspdm_vectors, libspdm_capture) if item.kind == "secured"]
    opened = {record.index for record in records if record.secured}
    assert opened == {item.index for item in secured}, "a secured record was not opened"
    assert len(replayer.sessions) == len(entry(libspdm_vectors, libspdm_capture)["sessions_key_schedule"])
    for record in records:
        names = {check.name for check in record.checks}
        session = replayer.sessions[record.session]
        if isinstance(record.message, KeyExchangeRsp):
            assert {"KEY_EXCHANGE_RSP signature", "ResponderVerifyData"} <= names
        elif isinstance(record.message, PskExchangeRsp):
            assert "ResponderVerifyData" in names
        elif isinstance(record.message, (Finish, PskFinish)):
            assert "RequesterVerifyData" in names
            assert ("FINISH signature" in names) == bool(session.mut_auth_requested)


def test_transcripts_and_secrets_equal_libspdm(libspdm_vectors: Path, libspdm_capture: str) -> None:
    replayer, _ = replayed(libspdm_vectors, libspdm_capture)
    known_sessions = entry(libspdm_vectors, libspdm_capture)["sessions_key_schedule"]
    for session, known in zip(replayer.sessions, known_sessions, strict=True):
        assert session.th1 is not None and session.th1.hex() == known["th1"]
        assert session.th2 is not None and session.th2.hex() == known["th2"]
        assert session.handshake is not None and session.data is not None
        if "dhe_secret" not in known:
            continue
        assert not session.psk
        assert session.handshake_secret is not None and session.handshake_secret.hex() == known["handshake_secret"]
        assert session.handshake.request.secret.hex() == known["request_handshake_secret"]
        assert session.handshake.response.secret.hex() == known["response_handshake_secret"]
        assert session.master_secret is not None and session.master_secret.hex() == known["master_secret"]
        assert session.data.request.secret.hex() == known["request_data_secret"]
        assert session.data.response.secret.hex() == known["response_data_secret"]


def test_every_derived_key_equals_the_requester_log(libspdm_vectors: Path, libspdm_capture: str) -> None:
    """Finished keys, AEAD keys and IVs (handshake, data, after KEY_UPDATE), updated secrets, export master."""
    replayer, _ = replayed(libspdm_vectors, libspdm_capture)
    logged = log_values(libspdm_vectors / libspdm_capture)
    ours: Counter[tuple[str, bytes]] = Counter()
    for session in replayer.sessions:
        handshake, data = session.handshake, session.data
        assert handshake is not None and data is not None
        ours.update(("finished_key", key) for key in (handshake.request_finished_key, handshake.response_finished_key))
        for keys in (handshake.request, handshake.response, data.request, data.response):
            ours.update([("key", keys.key), ("iv", keys.iv)])
        if not session.psk:
            assert session.schedule is not None and session.th2 is not None
            ours[("export_master_secret", session.schedule.export_master_secret(session.th2))] += 1
        for _, direction, keys in session.key_updates:
            label = "RequestDataSecretUpdate" if direction is Direction.REQUEST else "ResponseDataSecretUpdate"
            ours.update([(label, keys.secret), ("key", keys.key), ("iv", keys.iv)])
    names = {"finished_key", "key", "iv", "export_master_secret", "RequestDataSecretUpdate", "ResponseDataSecretUpdate"}
    theirs = Counter((name, value) for name in names for value in logged.get(name, ()))
    assert ours == theirs


def test_decrypted_messages_equal_spdm_dump(libspdm_vectors: Path, libspdm_capture: str) -> None:
    _, records = replayed(libspdm_vectors, libspdm_capture)
    shown = dump_messages(libspdm_vectors / libspdm_capture)
    for record in records:
        assert record.message is not None, f"record {record.index} did not decode"
        assert encode(record.message) == record.data, f"record {record.index} re-encodes differently"
        dumped = shown[record.index]
        if record.secured:
            assert record.data == dumped, f"record {record.index}"
        else:  # spdm_dump shows clear DOE messages with their DWORD padding
            assert dumped[: len(record.data)] == record.data and not any(dumped[len(record.data) :])


def test_key_update_switches_keys_where_libspdm_did(libspdm_vectors: Path, libspdm_capture: str) -> None:
    """UpdateKey: the request key changes after the ACK (which the old response key protects).
    UpdateAllKeys: the ACK already uses the new response key; the request key changes after it."""
    replayer, records = replayed(libspdm_vectors, libspdm_capture)
    expected: list[tuple[int, int, Direction]] = []
    for request, answer in itertools.pairwise(records):
        if not isinstance(request.message, KeyUpdate):
            continue
        if request.message.operation == KeyUpdateOperation.UPDATE_KEY:
            expected.append((request.session, answer.index, Direction.REQUEST))
        elif request.message.operation == KeyUpdateOperation.UPDATE_ALL_KEYS:
            expected.append((request.session, request.index, Direction.RESPONSE))
            expected.append((request.session, answer.index, Direction.REQUEST))
            assert answer.sequence_number == 0  # the ACK is the first record under the new response key
    found = [(s.ordinal, index, direction) for s in replayer.sessions for index, direction, _ in s.key_updates]
    assert found == expected
    for record in records:  # VerifyNewKey travels under the new request key
        if isinstance(record.message, KeyUpdate) and record.message.operation == KeyUpdateOperation.VERIFY_NEW_KEY:
            assert record.sequence_number == 0


def test_mctp_sequence_numbers_on_the_wire(libspdm_vectors: Path, libspdm_mctp_capture: str) -> None:
    _, records = replayed(libspdm_vectors, libspdm_mctp_capture)
    wire = {
        item.index: (item.details or {}).get("sequence_number")
        for item in captured(libspdm_vectors, libspdm_mctp_capture)
        if item.kind == "secured"
    }
    assert any(number for number in wire.values()), "no record past sequence number 0"
    for record in records:
        if record.secured:
            assert record.sequence_number is not None and wire[record.index] == record.sequence_number & 0xFFFF


def test_altered_and_replayed_records_never_open(libspdm_vectors: Path, libspdm_capture: str) -> None:
    """Every byte of every secured record altered in turn: refused with a typed error, the context
    untouched, and the genuine record still opens; after it, the same record again is refused."""
    replayer = SessionReplayer(secrets(libspdm_vectors, libspdm_capture))
    for item in captured(libspdm_vectors, libspdm_capture):
        context = None
        if item.kind == "secured" and item.details is not None and item.direction is not None:
            context = replayer.context(item.details["session_id"], item.direction)
            assert context is not None, f"record {item.index}: no session context"
            sequence = context.sequence_number
            for position in range(len(item.data)):
                altered = bytearray(item.data)
                altered[position] ^= 0x41
                with pytest.raises(SpdmError):
                    context.open(bytes(altered))
                assert context.sequence_number == sequence
        record = replayer.feed(item)
        if context is not None:
            assert record is not None and record.error is None, f"record {item.index}: {record and record.error!r}"
            with pytest.raises(SpdmError):
                context.open(item.data)
