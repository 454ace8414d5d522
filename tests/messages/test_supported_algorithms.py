"""The 1.3 Supported Algorithms block of CAPABILITIES (spdm_supported_algorithms_block_t), and the
responder that lists it when a CHUNK_CAP requester asks (libspdm_rsp_capabilities.c)."""

from __future__ import annotations

import dataclasses

import pytest

from spdm.errors import DecodeError
from spdm.messages import decode, encode
from spdm.messages.codes import AlgType, CapabilityFlags, ErrorCode, MeasurementSpecification, OtherParams
from spdm.messages.error import ErrorResponse
from spdm.messages.negotiation import (
    SUPPORTED_ALGORITHMS,
    AlgStruct,
    Capabilities,
    GetCapabilities,
    GetVersion,
    SupportedAlgorithms,
)
from spdm.responder import Responder, demo_config

F = CapabilityFlags
BLOCK = SupportedAlgorithms(
    measurement_specification=1,
    other_params_support=2,
    base_asym_algo=0x80,
    base_hash_algo=0x02,
    mel_specification=1,
    alg_structs=(AlgStruct(alg_type=AlgType.DHE, alg_supported=0x10),),
)
WIRE = bytes.fromhex(
    "1361010000000000"
    "00000200"
    "00120000"
    "00120000"  # header .. flags, DataTransferSize, MaxSPDMmsgSize
    "01002000"
    "0102"
    "80000000"
    "02000000" + "00" * 12 + "00000001" + "02201000"
)


def test_the_block_is_laid_out_as_libspdm_writes_it() -> None:
    answer = Capabilities(
        version=0x13,
        param1=SUPPORTED_ALGORITHMS,
        flags=F.CHUNK_CAP,
        data_transfer_size=0x1200,
        max_spdm_msg_size=0x1200,
        supported_algorithms=BLOCK,
    )
    assert encode(answer) == WIRE  # Param1: one AlgStruct; Length 32: the whole block
    assert decode(WIRE) == answer


def test_the_block_is_read_only_at_13_with_param1_bit_0() -> None:
    unlisted = Capabilities(version=0x13, flags=F.CHUNK_CAP, data_transfer_size=0x1200, max_spdm_msg_size=0x1200)
    assert decode(encode(unlisted)).supported_algorithms is None
    with pytest.raises(DecodeError):
        decode(WIRE[:-4])  # Length says one AlgStruct more than there is
    with pytest.raises(DecodeError):
        decode(WIRE[:16] + b"\x02\x00" + WIRE[18:])  # Length 2 is not the block's size
    as_12 = bytes([0x12]) + WIRE[1:]
    with pytest.raises(DecodeError):
        decode(as_12)  # before 1.3 Param1 is reserved: the block is trailing bytes


def _ask(responder: Responder, requester_flags: int, param1: int = SUPPORTED_ALGORITHMS) -> object:
    responder.respond(encode(GetVersion()))
    ask = GetCapabilities(
        version=0x13, param1=param1, flags=requester_flags, data_transfer_size=0x1200, max_spdm_msg_size=0x1200
    )
    return decode(responder.respond(encode(ask)))


def test_the_responder_lists_what_it_could_select() -> None:
    config = demo_config(sessions=True)
    config = dataclasses.replace(config, capabilities=config.capabilities | F.CHUNK_CAP | F.MEL_CAP)
    answer = _ask(Responder(config), F.CHUNK_CAP)
    assert isinstance(answer, Capabilities) and answer.param1 == SUPPORTED_ALGORITHMS
    block = answer.supported_algorithms
    assert block is not None
    assert block.measurement_specification == MeasurementSpecification.DMTF
    assert block.mel_specification == MeasurementSpecification.DMTF
    assert block.other_params_support == OtherParams.OPAQUE_DATA_FMT_1
    assert block.base_hash_algo == sum(set(config.base_hash_priority))
    assert [s.alg_type for s in block.alg_structs] == [
        AlgType.DHE,
        AlgType.AEAD,
        AlgType.REQ_BASE_ASYM_ALG,
        AlgType.KEY_SCHEDULE,
    ]
    assert dict((s.alg_type, s.alg_supported) for s in block.alg_structs)[AlgType.AEAD] == sum(
        set(config.aead_priority)
    )


def test_without_chunk_cap_on_the_responder_nothing_is_listed() -> None:
    config = demo_config()
    answer = _ask(Responder(dataclasses.replace(config, capabilities=config.capabilities & ~F.CHUNK_CAP)), F.CHUNK_CAP)
    assert isinstance(answer, Capabilities) and answer.param1 == 0 and answer.supported_algorithms is None


def test_a_requester_without_chunk_cap_may_not_ask() -> None:
    responder = Responder(demo_config())
    answer = _ask(responder, 0)
    assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.InvalidRequest
    assert isinstance(_ask(responder, 0, param1=0), Capabilities)  # the same request without the ask is answered
