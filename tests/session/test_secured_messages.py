"""DSP0277 records: layout per transport, nonce construction, and every way a record is refused
without touching the receiving context."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from spdm.crypto import aead_suite
from spdm.errors import DecodeError, EncodeError, ProtocolError, SpdmError, VerificationError
from spdm.messages.codes import AeadAlgorithm, ErrorCode
from spdm.session import (
    MAX_SEQUENCE_NUMBER,
    MCTP,
    PCI_DOE,
    DirectionState,
    SecuredSession,
    SecuredSessions,
    SecuredTransport,
    SequenceNumberExhausted,
    TrafficKeys,
    random_padding,
    secured_transport,
    session_id_of,
)
from spdm.session.secured import joined_session_id, session_id_halves

AES_256 = aead_suite(AeadAlgorithm.AES_256_GCM)
KEY = bytes(range(32))
IV = bytes(range(0xA0, 0xAC))
SESSION = 0xFFFE_FFFD
HEARTBEAT = bytes.fromhex("11e80000")
TRANSPORTS = [PCI_DOE, MCTP]
MODES = [(transport, encrypt) for transport in TRANSPORTS for encrypt in (True, False)]
MODE_IDS = [f"{transport.name}-{'enc' if encrypt else 'auth'}" for transport, encrypt in MODES]


def _pad(size: int) -> Callable[[], bytes]:
    return lambda: bytes(range(size))


def _pair(transport: SecuredTransport = PCI_DOE, encrypt: bool = True, **kwargs: int) -> tuple[DirectionState, ...]:
    def make() -> DirectionState:
        return DirectionState(
            session_id=SESSION,
            aead=AES_256,
            key=KEY,
            iv=IV,
            transport=transport,
            encrypt=encrypt,
            padding=_pad(3),
            **kwargs,
        )

    return make(), make()


def test_transports() -> None:
    assert secured_transport("pci-doe") is PCI_DOE and secured_transport("mctp") is MCTP
    assert (PCI_DOE.header_size, MCTP.header_size) == (6, 8)
    with pytest.raises(ValueError):
        secured_transport("i2c")


def test_doe_layout() -> None:
    sender, receiver = _pair()
    record = sender.seal(HEARTBEAT)
    (
        session_id,
        length,
    ) = struct.unpack_from("<IH", record)
    assert (session_id, length) == (SESSION, 2 + 4 + 16)
    assert len(record) == 6 + length
    plaintext = AES_256.open(KEY, IV, record[:6], record[6:])
    assert plaintext == b"\x04\x00" + HEARTBEAT
    assert receiver.open(record) == HEARTBEAT


def test_mctp_layout() -> None:
    sender, receiver = _pair(MCTP)
    for sequence in range(3):
        record = sender.seal(HEARTBEAT)
        session_id, wire_sequence, length = struct.unpack_from("<IHH", record)
        assert (session_id, wire_sequence, length) == (SESSION, sequence, 2 + 5 + 3 + 16)
        plaintext = AES_256.open(KEY, sender.nonce(sequence), record[:8], record[8:])
        assert plaintext == b"\x05\x00" + b"\x05" + HEARTBEAT + bytes(range(3))
        assert receiver.open(record) == HEARTBEAT


@pytest.mark.parametrize("transport", TRANSPORTS, ids=[t.name for t in TRANSPORTS])
def test_auth_only_layout(transport: SecuredTransport) -> None:
    sender, receiver = _pair(transport, encrypt=False)
    record = sender.seal(HEARTBEAT)
    head = transport.header_size
    body = transport.message_type + HEARTBEAT
    assert record[head:-16] == body  # in the clear, no AppDataLength, no padding
    assert struct.unpack_from("<H", record, head - 2)[0] == len(body) + 16
    assert AES_256.open(KEY, IV, record[:-16], record[-16:]) == b""
    assert receiver.open(record) == HEARTBEAT


def test_nonce_is_iv_xor_little_endian_sequence_number() -> None:
    state, _ = _pair()
    assert state.nonce(0) == IV
    expected = bytearray(IV)
    for i, byte in enumerate((0x0102030405060708).to_bytes(8, "little")):
        expected[i] ^= byte
    assert state.nonce(0x0102030405060708) == bytes(expected)


@pytest.mark.parametrize(("transport", "encrypt"), MODES, ids=MODE_IDS)
def test_round_trip_and_sequence_numbers(transport: SecuredTransport, encrypt: bool) -> None:
    sender, receiver = _pair(transport, encrypt)
    for size in (4, 5, 300, 4096):
        message = bytes([0x11, 0x60]) + bytes(size - 2)
        assert receiver.open(sender.seal(message)) == message
    assert sender.sequence_number == receiver.sequence_number == 4


@pytest.mark.parametrize(("transport", "encrypt"), MODES, ids=MODE_IDS)
def test_every_tampered_byte_is_refused_and_changes_nothing(transport: SecuredTransport, encrypt: bool) -> None:
    sender, receiver = _pair(transport, encrypt)
    first, second = sender.seal(HEARTBEAT), sender.seal(bytes.fromhex("11e90102"))
    for position in range(len(first)):
        altered = bytearray(first)
        altered[position] ^= 0x80
        with pytest.raises((VerificationError, DecodeError, ProtocolError)):
            receiver.open(bytes(altered))
        assert receiver.sequence_number == 0
    assert receiver.open(first) == HEARTBEAT
    assert receiver.open(second) == bytes.fromhex("11e90102")


@pytest.mark.parametrize(("transport", "encrypt"), MODES, ids=MODE_IDS)
def test_replayed_truncated_and_extended_records(transport: SecuredTransport, encrypt: bool) -> None:
    sender, receiver = _pair(transport, encrypt)
    first, second = sender.seal(HEARTBEAT), sender.seal(HEARTBEAT)
    assert receiver.open(first) == HEARTBEAT
    with pytest.raises(VerificationError):
        receiver.open(first)  # replay: the counter has moved on
    for cut in range(len(second)):
        with pytest.raises(DecodeError):
            receiver.open(second[:cut])
    with pytest.raises(DecodeError):
        receiver.open(second + b"\x01")
    assert receiver.sequence_number == 1
    assert receiver.open(second) == HEARTBEAT


def test_doe_accepts_only_zero_dword_padding() -> None:
    sender, receiver = _pair()
    record = sender.seal(bytes.fromhex("11e0010000"))  # 6 + 2 + 5 + 16 = 29 bytes
    assert len(record) % 4 == 1
    with pytest.raises(DecodeError):
        receiver.open(record + b"\x00\x00\x00\x00")  # a whole DWORD too many
    with pytest.raises(DecodeError):
        receiver.open(record + b"\x00\x01\x00")
    with pytest.raises(DecodeError):
        receiver.open(record + b"\x00\x00")  # not DWORD-aligned
    assert receiver.open(record + b"\x00\x00\x00") == bytes.fromhex("11e0010000")


def test_mctp_sequence_bytes_must_match_the_counter() -> None:
    sender, receiver = _pair(MCTP)
    record = bytearray(sender.seal(HEARTBEAT))
    record[4] = 1  # claims sequence 1 while the receiver expects 0
    with pytest.raises(VerificationError, match="sequence number"):
        receiver.open(bytes(record))
    assert receiver.sequence_number == 0


def test_mctp_sequence_bytes_wrap_while_the_counter_does_not() -> None:
    sender, receiver = _pair(MCTP, sequence_number=0xFFFF)
    first, second = sender.seal(HEARTBEAT), sender.seal(HEARTBEAT)
    assert first[4:6] == b"\xff\xff" and second[4:6] == b"\x00\x00"
    assert receiver.open(first) == receiver.open(second) == HEARTBEAT
    assert receiver.sequence_number == 0x10001


def test_unknown_session() -> None:
    sender, _ = _pair()
    other = DirectionState(session_id=SESSION ^ 1, aead=AES_256, key=KEY, iv=IV)
    with pytest.raises(ProtocolError) as caught:
        other.open(sender.seal(HEARTBEAT))
    assert caught.value.error_code == ErrorCode.InvalidSession
    assert other.sequence_number == 0
    sessions = SecuredSessions()
    with pytest.raises(ProtocolError) as caught:
        sessions.open(sender.seal(HEARTBEAT))
    assert caught.value.error_code == ErrorCode.InvalidSession
    with pytest.raises(ProtocolError):
        sessions.seal(SESSION, HEARTBEAT)
    with pytest.raises(DecodeError):
        session_id_of(b"\xff\xff")


@pytest.mark.parametrize(("transport", "encrypt"), MODES, ids=MODE_IDS)
def test_sequence_number_exhaustion(transport: SecuredTransport, encrypt: bool) -> None:
    sender, receiver = _pair(transport, encrypt, sequence_number=MAX_SEQUENCE_NUMBER - 1)
    last = sender.seal(HEARTBEAT)
    with pytest.raises(SequenceNumberExhausted) as caught:
        sender.seal(HEARTBEAT)
    assert isinstance(caught.value, ProtocolError) and "2^64-1" in str(caught.value)
    assert sender.sequence_number == MAX_SEQUENCE_NUMBER
    assert receiver.open(last) == HEARTBEAT
    with pytest.raises(SequenceNumberExhausted):
        receiver.open(last)
    assert receiver.sequence_number == MAX_SEQUENCE_NUMBER
    with pytest.raises(ValueError):
        _pair(transport, encrypt, sequence_number=MAX_SEQUENCE_NUMBER + 1)


def test_inner_framing_errors_after_a_good_tag() -> None:
    """AppDataLength beyond the plaintext, or an MCTP message type other than SPDM: DecodeError, no state change."""
    state, _ = _pair()
    aad = struct.pack("<IH", SESSION, 2 + 4 + 16)
    record = aad + AES_256.seal(KEY, IV, aad, b"\x05\x00" + HEARTBEAT)
    with pytest.raises(DecodeError, match="ApplicationDataLength"):
        state.open(record)
    assert state.sequence_number == 0
    mctp, _ = _pair(MCTP)
    aad = struct.pack("<IHH", SESSION, 0, 2 + 5 + 16)
    record = aad + AES_256.seal(KEY, IV, aad, b"\x05\x00\x06" + HEARTBEAT)
    with pytest.raises(DecodeError, match="MessageType"):
        mctp.open(record)
    assert mctp.sequence_number == 0
    aad = struct.pack("<IH", SESSION, 17)
    with pytest.raises(DecodeError, match="Length"):
        state.open(aad + bytes(17))


def test_padding_source() -> None:
    for size in (0, 33):
        sender, _ = _pair(MCTP)
        sender._padding = _pad(size)
        with pytest.raises(EncodeError):
            sender.seal(HEARTBEAT)
        assert sender.sequence_number == 0
    pad = random_padding(32)
    sizes = {len(pad()) for _ in range(2000)}
    assert min(sizes) == 1 and max(sizes) == 32
    sender = DirectionState(session_id=SESSION, aead=AES_256, key=KEY, iv=IV, transport=MCTP)
    receiver = DirectionState(session_id=SESSION, aead=AES_256, key=KEY, iv=IV, transport=MCTP)
    records = [sender.seal(HEARTBEAT) for _ in range(200)]
    lengths = {len(record) for record in records}
    assert len(lengths) > 10 and all(8 + 2 + 5 + 1 + 16 <= n <= 8 + 2 + 5 + 32 + 16 for n in lengths)
    assert all(receiver.open(record) == HEARTBEAT for record in records)


def test_too_long_for_a_record() -> None:
    sender, _ = _pair()
    with pytest.raises(EncodeError):
        sender.seal(bytes(0xFFFF))
    assert sender.sequence_number == 0


def test_rekeyed_context_starts_again() -> None:
    sender, receiver = _pair()
    sender.seal(HEARTBEAT)
    keys = TrafficKeys(secret=b"", key=bytes(32), iv=bytes(12))
    new_sender, new_receiver = sender.rekeyed(keys), receiver.rekeyed(keys)
    assert new_sender.sequence_number == 0
    record = new_sender.seal(HEARTBEAT)
    with pytest.raises(VerificationError):
        receiver.open(record)
    assert new_receiver.open(record) == HEARTBEAT


@pytest.mark.parametrize("key, iv", [(bytes(16), IV), (bytes(33), IV), (KEY, bytes(11)), (KEY, bytes(16))])
def test_keys_and_ivs_of_the_wrong_size_are_refused(key: bytes, iv: bytes) -> None:
    """AES-256-GCM would take a 16-byte key silently: the context checks the suite's sizes itself."""
    with pytest.raises(ValueError, match="AES_256_GCM needs a 32-byte key and a 12-byte IV"):
        DirectionState(session_id=SESSION, aead=AES_256, key=key, iv=iv)
    sender, receiver = _pair()
    with pytest.raises(ValueError, match="32-byte key"):
        sender.rekeyed(TrafficKeys(secret=b"", key=key, iv=iv))
    assert receiver.open(sender.seal(HEARTBEAT)) == HEARTBEAT


def test_a_session_between_requester_and_responder() -> None:
    request = TrafficKeys(secret=b"", key=bytes(32), iv=bytes(12))
    response = TrafficKeys(secret=b"", key=bytes([1] * 32), iv=bytes([2] * 12))
    sides = {
        role: SecuredSession.from_keys(
            role=role, session_id=SESSION, aead=AES_256, request=request, response=response, transport=MCTP
        )
        for role in ("requester", "responder")
    }
    requester, responder = sides["requester"], sides["responder"]
    assert responder.open(requester.seal(HEARTBEAT)) == HEARTBEAT
    assert requester.open(responder.seal(bytes.fromhex("11680000"))) == bytes.fromhex("11680000")
    loopback = SecuredSession.from_keys(
        role="requester", session_id=SESSION, aead=AES_256, request=request, response=response
    )
    with pytest.raises(SpdmError):
        loopback.open(loopback.seal(HEARTBEAT))  # one direction's key does not open the other's records
    table = SecuredSessions()
    table.add(responder)
    assert table.open(requester.seal(HEARTBEAT)) == (SESSION, HEARTBEAT)
    assert requester.open(table.seal(SESSION, HEARTBEAT)) == HEARTBEAT
    with pytest.raises(ValueError):
        table.add(responder)
    assert table.remove(SESSION) is responder and len(table) == 0


def test_an_observer_can_skip_a_lost_record() -> None:
    sender, observer = _pair(MCTP)
    sender.seal(HEARTBEAT)  # lost, or damaged in a capture
    observer.skip()
    assert observer.open(sender.seal(HEARTBEAT)) == HEARTBEAT
    exhausted, _ = _pair(sequence_number=MAX_SEQUENCE_NUMBER)
    with pytest.raises(SequenceNumberExhausted):
        exhausted.skip()


def test_session_id_halves_undo_the_join() -> None:
    """RspSessionID is the high half and ReqSessionID the low one (DSP0274 KEY_EXCHANGE_RSP)."""
    session_id = joined_session_id(0xFFFE, 0x0102)
    assert session_id == 0xFFFE_0102
    assert session_id_halves(session_id) == (0xFFFE, 0x0102)
