"""GET_KEY_PAIR_INFO/KEY_PAIR_INFO and SET_KEY_PAIR_INFO/SET_KEY_PAIR_INFO_ACK (SPDM 1.3).

Hand-built messages, and the clear records of
/work/shared/vectors/libspdm-v12-v13/y2_mel_epinfo_keypairinfo_multikey_v13 (record numbers as in
its dump_full.txt).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from v12_captures import clear_messages

from spdm.errors import DecodeError, EncodeError
from spdm.messages import Code, decode, encode
from spdm.messages.key_pairs import (
    ERASE,
    GENERATE,
    GetKeyPairInfo,
    KeyPairInfo,
    KeyPairSettings,
    SetKeyPairInfo,
    SetKeyPairInfoAck,
    wrong_key_pair_fields,
)

GET_KEY_PAIR_INFO = bytes.fromhex("13fc000002")
RSA_ALGORITHM = bytes.fromhex("300d06092a864886f70d0101010500")
# 24 key pairs, #1: every capability, KEY_EX usage, every algorithm, RSA2048 current, slots 0 and 1
KEY_PAIR_INFO = bytes.fromhex("137c0000" + "1801" + "3f00" + "0100" + "0100" + "ff010000" + "01000000" + "0f00" + "03")
KEY_PAIR_INFO += RSA_ALGORITHM
# Generate key pair 2: usage 0x0002, ECC384 (0x10), slot mask 0x04, Reserved 0x7f
SET_KEY_PAIR_INFO = bytes.fromhex("13fd0200" + "02" + "7f" + "0200" + "10000000" + "04")
SET_KEY_PAIR_INFO_ERASE = bytes.fromhex("13fd010003")
SET_KEY_PAIR_INFO_ACK = bytes.fromhex("137d0000")

EXAMPLES = {
    "get_key_pair_info": GET_KEY_PAIR_INFO,
    "key_pair_info": KEY_PAIR_INFO,
    "set_key_pair_info": SET_KEY_PAIR_INFO,
    "set_key_pair_info_erase": SET_KEY_PAIR_INFO_ERASE,
    "set_key_pair_info_ack": SET_KEY_PAIR_INFO_ACK,
}


@pytest.mark.parametrize("data", list(EXAMPLES.values()), ids=list(EXAMPLES))
def test_round_trip(data: bytes) -> None:
    assert encode(decode(data)) == data


def test_fields() -> None:
    assert decode(GET_KEY_PAIR_INFO) == GetKeyPairInfo(key_pair_id=2)
    assert decode(KEY_PAIR_INFO) == KeyPairInfo(
        total_key_pairs=24,
        key_pair_id=1,
        capabilities=0x3F,
        key_usage_capabilities=1,
        current_key_usage=1,
        asym_algo_capabilities=0x1FF,
        current_asym_algo=1,
        assoc_cert_slot_mask=3,
        public_key_info=RSA_ALGORITHM,
    )
    settings = KeyPairSettings(reserved=0x7F, key_usage=2, asym_algo=0x10, assoc_cert_slot_mask=4)
    assert decode(SET_KEY_PAIR_INFO) == SetKeyPairInfo(operation=GENERATE, key_pair_id=2, desired=settings)
    assert decode(SET_KEY_PAIR_INFO_ERASE) == SetKeyPairInfo(operation=ERASE, key_pair_id=3)
    assert decode(SET_KEY_PAIR_INFO_ACK) == SetKeyPairInfoAck()


@pytest.mark.parametrize(
    ("data", "message", "field", "reason"),
    [
        (KEY_PAIR_INFO[:-1], "KEY_PAIR_INFO", "public_key_info", "truncated"),
        (KEY_PAIR_INFO + b"\x00", "KEY_PAIR_INFO", "", "trailing"),
        (SET_KEY_PAIR_INFO[:-1], "SET_KEY_PAIR_INFO", "desired.assoc_cert_slot_mask", "truncated"),
        (SET_KEY_PAIR_INFO_ERASE + SET_KEY_PAIR_INFO[5:], "SET_KEY_PAIR_INFO", "", "trailing"),
        (GET_KEY_PAIR_INFO[:4], "GET_KEY_PAIR_INFO", "key_pair_id", "truncated"),
    ],
    ids=["public_key_info_short", "trailing", "settings_short", "erase_with_settings", "get_truncated"],
)
def test_rejected(data: bytes, message: str, field: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(data)
    assert (caught.value.message, caught.value.field) == (message, field)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    "msg",
    [SetKeyPairInfo(key_pair_id=1), SetKeyPairInfo(operation=ERASE, key_pair_id=1, desired=KeyPairSettings())],
    ids=["change_without_settings", "erase_with_settings"],
)
def test_encode_refuses_what_decode_refuses(msg: SetKeyPairInfo) -> None:
    with pytest.raises(EncodeError):
        encode(msg)


def test_capture_records(libspdm_v12_v13_vectors: Path) -> None:
    pcap = libspdm_v12_v13_vectors / "y2_mel_epinfo_keypairinfo_multikey_v13" / "requester.pcap"
    codes = {Code.GET_KEY_PAIR_INFO, Code.KEY_PAIR_INFO, Code.SET_KEY_PAIR_INFO, Code.SET_KEY_PAIR_INFO_ACK}
    records = clear_messages(pcap, codes)
    assert [index for index, _ in records] == [37, 38, 39, 40, 41, 42]
    decoded = [decode(data) for _, data in records]
    assert [(msg.version, encode(msg)) for msg in decoded] == [(0x13, data) for _, data in records]
    info, change, erase = decoded[1], decoded[2], decoded[4]
    assert isinstance(info, KeyPairInfo) and (info.total_key_pairs, info.public_key_info) == (0x18, RSA_ALGORITHM)
    assert change == SetKeyPairInfo(key_pair_id=1, desired=KeyPairSettings())
    assert erase == SetKeyPairInfo(operation=ERASE, key_pair_id=1)


@pytest.mark.parametrize(
    ("multi_key", "key_pair_id", "model", "model_required", "wrong"),
    [
        (False, 0, 0, True, None),
        (False, 1, 0, True, "need a 1.3 multi-key connection"),
        (False, 0, 1, False, "need a 1.3 multi-key connection"),
        (True, 0, 1, True, "KeyPairID 0 is not 1..255"),
        (True, 1, 0, True, "model 0 is not DeviceCert"),
        (True, 1, 4, True, "model 4 is not DeviceCert"),
        (True, 1, 0, False, None),
        (True, 255, 3, True, None),
    ],
)
def test_key_pair_fields_of_get_csr_and_set_certificate(
    multi_key: bool, key_pair_id: int, model: int, model_required: bool, wrong: str | None
) -> None:
    """The one rule both roles apply to GET_CSR's and SET_CERTIFICATE's KeyPairID and model."""
    found = wrong_key_pair_fields(multi_key, key_pair_id, model, model_required=model_required)
    assert found is None if wrong is None else found is not None and wrong in found
