"""HEARTBEAT, KEY_UPDATE and END_SESSION with their ACKs, as libspdm sends them inside sessions."""

from __future__ import annotations

import pytest

import spdm.messages as m
from spdm.errors import DecodeError, EncodeError
from spdm.messages.codes import KeyUpdateOperation
from spdm.messages.session_control import (
    EndSession,
    EndSessionAck,
    Heartbeat,
    HeartbeatAck,
    KeyUpdate,
    KeyUpdateAck,
)

# Decrypted SPDM messages of the sessions in captures d (PSK, UpdateAllKeys) and e (DHE, UpdateKey)
VECTORS = [
    pytest.param("11e80000", Heartbeat(), id="heartbeat"),
    pytest.param("11680000", HeartbeatAck(), id="heartbeat_ack"),
    pytest.param("11e9016c", KeyUpdate(operation=KeyUpdateOperation.UPDATE_KEY, tag=0x6C), id="update_key"),
    pytest.param("1169016c", KeyUpdateAck(operation=1, tag=0x6C), id="update_key_ack"),
    pytest.param("11e902f1", KeyUpdate(operation=2, tag=0xF1), id="update_all_keys"),
    pytest.param("116902f1", KeyUpdateAck(operation=2, tag=0xF1), id="update_all_keys_ack"),
    pytest.param("11e90317", KeyUpdate(operation=3, tag=0x17), id="verify_new_key"),
    pytest.param("11690317", KeyUpdateAck(operation=3, tag=0x17), id="verify_new_key_ack"),
    pytest.param("11ec0100", EndSession(attributes=1), id="end_session"),
    pytest.param("116c0000", EndSessionAck(), id="end_session_ack"),
]


@pytest.mark.parametrize(("hex_data", "expected"), VECTORS)
def test_captures_decode_and_round_trip(hex_data: str, expected: m.Message) -> None:
    data = bytes.fromhex(hex_data)
    msg = m.decode(data)
    assert msg == expected
    assert m.encode(msg) == data


def test_key_update_operation_names() -> None:
    msg = m.decode(bytes.fromhex("11e9026c"))
    assert isinstance(msg, KeyUpdate)
    assert KeyUpdateOperation(msg.operation) is KeyUpdateOperation.UPDATE_ALL_KEYS


def test_reserved_params_round_trip() -> None:
    data = bytes.fromhex("11e8a55a")
    msg = m.decode(data)
    assert msg == Heartbeat(param1=0xA5, param2=0x5A)
    assert m.encode(msg) == data


@pytest.mark.parametrize(("hex_data", "expected"), VECTORS)
def test_one_byte_more_or_less(hex_data: str, expected: m.Message) -> None:
    data = bytes.fromhex(hex_data)
    with pytest.raises(DecodeError) as caught:
        m.decode(data + b"\x00")
    assert (caught.value.message, caught.value.field) == (expected.name, "")
    assert "trailing" in caught.value.reason
    with pytest.raises(DecodeError) as caught:
        m.decode(data[:-1])
    assert (caught.value.message, caught.value.field) == ("SPDM", "header")
    with pytest.raises(DecodeError) as caught:
        m.decode_as(type(expected), data[:-1])
    assert caught.value.message == expected.name
    assert caught.value.field in {"param2", "tag"}


def test_encode_rejects_out_of_range_fields() -> None:
    with pytest.raises(EncodeError) as caught:
        m.encode(KeyUpdate(operation=1, tag=256))
    assert (caught.value.message, caught.value.field) == ("KEY_UPDATE", "tag")
