"""SPDM 1.3 key pairs: the responder's table against libspdm's recorded answers (y2_), every refusal
with its ErrorCode and the table unchanged, and the requester's checks of KEY_PAIR_INFO and of the
multi-key DIGESTS fields, and its choice of slot by key usage."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from key_pair_fixtures import libspdm_sample_key_pairs, y2_records

from spdm._checks import check_certificate_info, check_key_pair_info
from spdm.errors import ErrorCode, PeerError, ProtocolError
from spdm.messages import decode, encode
from spdm.messages.certificates import Certificate, Digests
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.codes import (
    CertificateInfo,
    KeyPairAsymAlgo,
    KeyPairCapability,
    KeyPairOperation,
    KeyUsage,
)
from spdm.messages.error import ErrorResponse
from spdm.messages.key_pairs import GetKeyPairInfo, KeyPairInfo, KeyPairSettings, SetKeyPairInfo, SetKeyPairInfoAck
from spdm.messages.mel import GetMeasurementExtensionLog
from spdm.negotiated import Negotiated
from spdm.requester import KeyUsageError, Requester, RequesterConfig, SlotKey
from spdm.requester.key_pairs import choose_slot, slot_keys
from spdm.responder import KeyPair, Responder, demo_config, key_pairs_for_slots
from spdm.responder.key_pairs import KeyPairTable
from spdm.testing import MemoryDoeLink
from spdm.transport.doe import DoeTransport


@pytest.fixture
def y2(libspdm_v12_v13_vectors: Path) -> tuple[Negotiated, list[tuple[int, object, bytes]]]:
    negotiated, seen = y2_records(libspdm_v12_v13_vectors)
    return negotiated, [(index, message, data) for index, message, data in seen]


def _table() -> KeyPairTable:
    return KeyPairTable(libspdm_sample_key_pairs())


# --- the responder's table against y2 ------------------------------------------------------------


def test_the_table_answers_as_libspdms_sample_device(y2: tuple[Negotiated, list[tuple[int, object, bytes]]]) -> None:
    """y2: GET_KEY_PAIR_INFO(1), SET_KEY_PAIR_INFO change (nothing asked: the slots go) and erase, then
    GET_KEY_PAIR_INFO(1) in each session: every answer byte for byte."""
    negotiated, seen = y2
    assert negotiated.version == 0x13 and negotiated.responder_multi_key
    table = _table()
    exchanges = [
        (m, d) for _, m, d in seen if isinstance(m, (GetKeyPairInfo, KeyPairInfo, SetKeyPairInfo, SetKeyPairInfoAck))
    ]
    assert [type(m).__name__ for m, _ in exchanges] == [
        "GetKeyPairInfo", "KeyPairInfo", "SetKeyPairInfo", "SetKeyPairInfoAck", "SetKeyPairInfo", "SetKeyPairInfoAck",
        "GetKeyPairInfo", "KeyPairInfo", "GetKeyPairInfo", "KeyPairInfo",
    ]  # fmt: skip
    answered = 0
    for (ask, _), (_, recorded) in zip(exchanges[::2], exchanges[1::2], strict=True):
        if isinstance(ask, GetKeyPairInfo):
            assert encode(table.info(negotiated, ask.key_pair_id)) == recorded
        else:
            assert isinstance(ask, SetKeyPairInfo)
            table.apply(ask)
            assert encode(SetKeyPairInfoAck(version=ask.version)) == recorded
        answered += 1
    assert answered == 5
    erased = table.key_pairs[0]
    assert (erased.current_key_usage, erased.current_asym_algo, erased.assoc_cert_slot_mask) == (0, 0, 0)


def test_capabilities_are_zero_without_set_key_pair_info_cap(
    y2: tuple[Negotiated, list[tuple[int, object, bytes]]],
) -> None:
    negotiated, _ = y2
    unsettable = dataclasses.replace(negotiated, responder_flags=negotiated.responder_flags & ~(1 << 29))
    assert _table().info(unsettable, 1).capabilities == 0
    assert _table().info(negotiated, 1).capabilities == KeyPairCapability.DEFINED


def _set(operation: int, key_pair_id: int = 1, **desired: int) -> SetKeyPairInfo:
    settings = None if operation == KeyPairOperation.ERASE else KeyPairSettings(**desired)
    return SetKeyPairInfo(operation=operation, key_pair_id=key_pair_id, desired=settings)


def _limited(capabilities: int, mask: int = 0) -> KeyPairTable:
    return KeyPairTable(
        (
            KeyPair(
                capabilities=capabilities,
                key_usage_capabilities=KeyUsage.ALL_SPDM,
                current_key_usage=KeyUsage.CHALLENGE,
                asym_algo_capabilities=KeyPairAsymAlgo.ECC256 | KeyPairAsymAlgo.ECC384,
                current_asym_algo=KeyPairAsymAlgo.ECC384,
                assoc_cert_slot_mask=mask,
            ),
        )
    )


ALL = KeyPairCapability.DEFINED


@pytest.mark.parametrize(
    ("table", "request_", "error_code"),
    [
        (_limited(ALL), _set(KeyPairOperation.CHANGE, key_pair_id=0), ErrorCode.InvalidRequest),
        (_limited(ALL), _set(KeyPairOperation.CHANGE, key_pair_id=2), ErrorCode.InvalidRequest),
        (_limited(ALL & ~KeyPairCapability.GEN_KEY), _set(KeyPairOperation.GENERATE), ErrorCode.InvalidRequest),
        (_limited(ALL & ~KeyPairCapability.ERASABLE), _set(KeyPairOperation.ERASE), ErrorCode.InvalidRequest),
        (_limited(ALL & ~KeyPairCapability.CERT_ASSOC, 1), _set(0, assoc_cert_slot_mask=2), ErrorCode.InvalidRequest),
        (_limited(ALL & ~KeyPairCapability.KEY_USAGE), _set(0, key_usage=KeyUsage.CHALLENGE), ErrorCode.InvalidRequest),
        (_limited(ALL), _set(0, key_usage=KeyUsage.VENDOR_KEY), ErrorCode.InvalidRequest),
        (
            _limited(ALL & ~KeyPairCapability.ASYM_ALGO),
            _set(0, asym_algo=KeyPairAsymAlgo.ECC256),
            ErrorCode.InvalidRequest,
        ),
        (_limited(ALL), _set(0, asym_algo=KeyPairAsymAlgo.ECC256 | KeyPairAsymAlgo.ECC384), ErrorCode.InvalidRequest),
        (_limited(ALL), _set(0, asym_algo=KeyPairAsymAlgo.RSA2048), ErrorCode.InvalidRequest),
        (_limited(ALL & ~KeyPairCapability.SHAREABLE), _set(0, assoc_cert_slot_mask=3), ErrorCode.InvalidRequest),
        (_limited(ALL), _set(3), ErrorCode.InvalidRequest),
        (_limited(ALL, 1), _set(KeyPairOperation.ERASE), ErrorCode.OperationFailed),
        (_limited(ALL, 1), _set(KeyPairOperation.GENERATE, key_usage=1), ErrorCode.OperationFailed),
    ],
)
def test_refused_settings_change_nothing(table: KeyPairTable, request_: SetKeyPairInfo, error_code: int) -> None:
    before = list(table.key_pairs)
    with pytest.raises(ProtocolError) as raised:
        table.apply(request_)
    assert raised.value.error_code == error_code
    assert table.key_pairs == before


def test_change_erase_and_generate() -> None:
    table = _limited(ALL, 1)
    table.apply(_set(0, key_usage=KeyUsage.MEASUREMENT))  # usage given, algorithm kept, slots as given
    assert table.key_pairs[0].current_key_usage == KeyUsage.MEASUREMENT
    assert table.key_pairs[0].current_asym_algo == KeyPairAsymAlgo.ECC384
    assert table.key_pairs[0].assoc_cert_slot_mask == 0
    table.apply(_set(KeyPairOperation.ERASE))
    assert (table.key_pairs[0].current_key_usage, table.key_pairs[0].current_asym_algo) == (0, 0)
    generate = _set(KeyPairOperation.GENERATE, key_usage=KeyUsage.KEY_EXCHANGE, asym_algo=KeyPairAsymAlgo.ECC256)
    table.apply(generate)
    assert table.key_pairs[0].current_asym_algo == KeyPairAsymAlgo.ECC256


_ONLY_13 = (
    GetKeyPairInfo(key_pair_id=1),
    SetKeyPairInfo(operation=KeyPairOperation.ERASE, key_pair_id=1),
    GetMeasurementExtensionLog(length=64),
)


@pytest.mark.parametrize("version", [0x10, 0x11, 0x12])
def test_13_requests_below_13_are_unsupported_before_their_handlers(version: int) -> None:
    """GET_KEY_PAIR_INFO, SET_KEY_PAIR_INFO and GET_MEASUREMENT_EXTENSION_LOG need capabilities that
    CAPABILITIES carries from 1.3 only (`DEFINED_RESPONDER_FLAGS`), so below 1.3 the responder refuses
    them by `REQUEST_NEEDS` (`CAPABILITY_OF`), in the clear and in a session, from a device that has
    them all: the key-pair table and the MEL answer need no version check of their own."""
    config = demo_config(sessions=True, mel=True)
    flags = config.capabilities | F.GET_KEY_PAIR_INFO_CAP | F.SET_KEY_PAIR_INFO_CAP
    config = dataclasses.replace(config, capabilities=flags, key_pairs=key_pairs_for_slots(config.slots), max_padding=3)
    responder = Responder(config)
    settings = RequesterConfig.with_sessions(trust_anchors={0: config.slots[0].certificates[0]})
    requester = Requester(
        DoeTransport(MemoryDoeLink(responder.respond)), dataclasses.replace(settings, versions=(version,))
    )
    requester.authenticate(0, measurements=None)
    for ask in _ONLY_13:
        refused = ErrorResponse(version=version, error_code=ErrorCode.UnsupportedRequest, error_data=ask.code)
        assert decode(responder.respond(encode(dataclasses.replace(ask, version=version)))) == refused
    if version < 0x11:
        return
    with requester.key_exchange(0) as session:
        for ask in _ONLY_13:
            with pytest.raises(PeerError) as caught:
                session.send(dataclasses.replace(ask, version=version))
            assert (caught.value.error_code, caught.value.error_data) == (ErrorCode.UnsupportedRequest, ask.code)


def test_a_table_for_the_slots_describes_their_keys() -> None:
    (pair,) = key_pairs_for_slots(demo_config().slots)
    assert pair.current_asym_algo == KeyPairAsymAlgo.ECC384 and pair.assoc_cert_slot_mask == 0x01
    assert pair.public_key_info == bytes.fromhex("301006072a8648ce3d020106052b81040022")  # libspdm's ecp384 one


def test_key_pair_settings_are_checked_when_configured() -> None:
    with pytest.raises(ValueError, match="current_asym_algo"):
        KeyPair(key_usage_capabilities=1, asym_algo_capabilities=0x10, current_asym_algo=0x08)
    with pytest.raises(ValueError, match="current_key_usage"):
        KeyPair(key_usage_capabilities=1, current_key_usage=2, asym_algo_capabilities=0x10)


# --- the requester's checks -----------------------------------------------------------------------


def test_the_multi_key_digests_of_y2_name_each_slots_key(
    y2: tuple[Negotiated, list[tuple[int, object, bytes]]],
) -> None:
    _, seen = y2
    digests = next(m for _, m, _ in seen if isinstance(m, Digests))
    assert slot_keys(digests) == {
        0: SlotKey(slot=0, key_pair_id=5, certificate_info=1, key_usage=KeyUsage.ALL_SPDM),
        1: SlotKey(slot=1, key_pair_id=5, certificate_info=1, key_usage=KeyUsage.ALL_SPDM),
        4: SlotKey(slot=4, key_pair_id=17, certificate_info=1, key_usage=KeyUsage.ALL_SPDM),
    }
    assert slot_keys(digests)[4].cert_model is CertificateInfo.DEVICE_CERT


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"certificate_infos": (4, 1, 1)}, "certificate model 4"),
        ({"certificate_infos": (3, 1, 1)}, "generic certificate"),
        ({"key_usage_masks": (0x4000, 0xF, 0xF)}, "allows no SPDM usage"),
        ({"certificate_infos": (1, 0, 1)}, "no certificate model but a digest"),
    ],
)
def test_multi_key_digests_libspdm_refuses_are_refused(
    y2: tuple[Negotiated, list[tuple[int, object, bytes]]], change: dict[str, tuple[int, ...]], reason: str
) -> None:
    _, seen = y2
    digests = next(m for _, m, _ in seen if isinstance(m, Digests))
    with pytest.raises(ProtocolError, match=reason) as raised:
        slot_keys(dataclasses.replace(digests, **change))
    assert raised.value.error_code == ErrorCode.InvalidResponseCode


def test_slots_are_chosen_by_key_usage(y2: tuple[Negotiated, list[tuple[int, object, bytes]]]) -> None:
    negotiated, _ = y2
    keys = {
        0: SlotKey(slot=0, key_pair_id=1, certificate_info=1, key_usage=KeyUsage.KEY_EXCHANGE),
        2: SlotKey(slot=2, key_pair_id=2, certificate_info=1, key_usage=KeyUsage.CHALLENGE | KeyUsage.MEASUREMENT),
    }
    assert choose_slot(negotiated, keys, KeyUsage.CHALLENGE, None) == 2
    assert choose_slot(negotiated, keys, KeyUsage.KEY_EXCHANGE, None) == 0
    assert choose_slot(negotiated, keys, KeyUsage.CHALLENGE | KeyUsage.MEASUREMENT, None) == 2
    assert choose_slot(negotiated, keys, KeyUsage.MEASUREMENT, 2) == 2
    with pytest.raises(KeyUsageError, match="slot 0's KeyUsageMask 0x0001 does not allow CHALLENGE"):
        choose_slot(negotiated, keys, KeyUsage.CHALLENGE, 0)
    with pytest.raises(KeyUsageError, match="no slot's KeyUsageMask allows ENDPOINT_INFO"):
        choose_slot(negotiated, keys, KeyUsage.ENDPOINT_INFO, None)
    single_key = dataclasses.replace(negotiated, responder_multi_key=False)
    assert choose_slot(single_key, keys, KeyUsage.CHALLENGE, None) == 0  # usages are a multi-key matter
    assert choose_slot(single_key, keys, KeyUsage.CHALLENGE, 0) == 0


def _info(**change: int) -> KeyPairInfo:
    fields = {
        "total_key_pairs": 2,
        "key_pair_id": 1,
        "capabilities": int(ALL),
        "key_usage_capabilities": 0x000F,
        "current_key_usage": 0x0001,
        "asym_algo_capabilities": 0x18,
        "current_asym_algo": 0x10,
        "assoc_cert_slot_mask": 0x01,
    }
    fields.update(change)
    return KeyPairInfo(**fields)


def test_a_good_key_pair_info_passes() -> None:
    check_key_pair_info(_info(), 1, settable=True)


@pytest.mark.parametrize(
    ("change", "settable", "reason"),
    [
        ({"key_pair_id": 2}, True, "of key pair 2, asked 1"),
        ({"total_key_pairs": 0}, True, "over TotalKeyPairs"),
        ({}, False, "without SET_KEY_PAIR_INFO_CAP"),
        ({"capabilities": int(KeyPairCapability.SHAREABLE)}, True, "ShareableCap without CertAssocCap"),
        ({"key_usage_capabilities": 0, "current_key_usage": 0}, True, "no KeyUsageCapabilities"),
        ({"current_key_usage": 0x4001}, True, "CurrentKeyUsage outside"),
        ({"asym_algo_capabilities": 0, "current_asym_algo": 0}, True, "no AsymAlgoCapabilities"),
        ({"current_asym_algo": 0x18}, True, "more than one algorithm"),
        ({"current_asym_algo": 0x01}, True, "CurrentAsymAlgo outside"),
        ({"capabilities": int(ALL & ~KeyPairCapability.SHAREABLE), "assoc_cert_slot_mask": 3}, True, "ShareableCap"),
    ],
)
def test_key_pair_info_libspdm_refuses_is_refused(change: dict[str, int], settable: bool, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason) as raised:
        check_key_pair_info(_info(**change), 1, settable=settable)
    assert raised.value.error_code == ErrorCode.InvalidResponseCode


@pytest.mark.parametrize(
    ("slot_param", "param2", "portion", "multi_key", "known", "reason"),
    [
        (0, 1, b"chain", False, None, "outside a multi-key connection"),
        (0, 4, b"chain", True, None, "not defined"),
        (0, 3, b"chain", True, None, "generic certificate"),
        (2, 0, b"chain", True, None, "no certificate model"),
        (2, 2, b"chain", True, 1, "DIGESTS said 1"),
    ],
)
def test_certificate_info_libspdm_refuses_is_refused(
    slot_param: int, param2: int, portion: bytes, multi_key: bool, known: int | None, reason: str
) -> None:
    answer = Certificate(version=0x13, slot_param=slot_param, param2=param2, remainder_length=0, portion=portion)
    with pytest.raises(ProtocolError, match=reason) as raised:
        check_certificate_info(answer, multi_key, known)
    assert raised.value.error_code == ErrorCode.InvalidResponseCode
    good = dataclasses.replace(answer, param2=1 if multi_key else 0)
    check_certificate_info(good, multi_key, None)  # the same with a model libspdm takes
