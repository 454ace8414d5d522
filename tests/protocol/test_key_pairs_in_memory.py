"""SPDM 1.3 key pairs and multi-key connections, our requester against our responder in memory:
key-pair info read and changed in the clear and in sessions (blocking and asyncio), slots chosen by
key usage on both sides, GET_CSR and SET_CERTIFICATE naming the key pair, and the refusals."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from spdm.aio import AsyncDoeTransport, AsyncRequester, ThreadedDoeLink
from spdm.crypto import SigningKey
from spdm.errors import NegotiationError, PeerError
from spdm.messages import decode, encode
from spdm.messages.challenge import Challenge
from spdm.messages.codes import (
    BaseAsymAlgo,
    BaseHashAlgo,
    CertificateInfo,
    ErrorCode,
    KeyPairAsymAlgo,
    KeyPairOperation,
    KeyUsage,
)
from spdm.messages.error import ErrorResponse
from spdm.messages.negotiation import SPDM_VERSIONS
from spdm.messages.provisioning import GetCsr
from spdm.requester import KeyUsageError, Requester, RequesterConfig
from spdm.responder import (
    KEY_PAIR_CAPABILITIES,
    Responder,
    ResponderConfig,
    SlotIdentity,
    demo_config,
    key_pairs_for_slots,
)
from spdm.testing import MemoryDoeLink
from spdm.testing.pki import IssuedChain, cached_key, make_chain
from spdm.transport.doe import DoeTransport

P384 = BaseAsymAlgo.ECDSA_P384


def _chain(name: str, first_key: int, leaf_key: SigningKey | None = None) -> IssuedChain:
    keys = [cached_key(P384, first_key), cached_key(P384, first_key + 1)]
    keys.append(cached_key(P384, first_key + 2) if leaf_key is None else leaf_key)
    return make_chain(P384, hash_algo=BaseHashAlgo.SHA_384, keys=keys, name=name)


EXCHANGE = _chain("key exchange slot", 80)
ATTEST = _chain("attestation slot", 90)
NEW0 = _chain("new slot 0", 100, EXCHANGE.leaf_key)


def _slots() -> dict[int, SlotIdentity]:
    return {
        0: SlotIdentity(
            certificates=EXCHANGE.certificates_der,
            private_key=EXCHANGE.leaf_key,
            key_usage=KeyUsage.KEY_EXCHANGE | KeyUsage.MEASUREMENT,
        ),
        2: SlotIdentity(
            certificates=ATTEST.certificates_der,
            private_key=ATTEST.leaf_key,
            key_usage=KeyUsage.CHALLENGE | KeyUsage.MEASUREMENT,
        ),
    }


def _device(**changes: Any) -> ResponderConfig:
    base = demo_config(sessions=True, provisioning=True)
    slots = _slots()
    settings: dict[str, Any] = {
        "versions": SPDM_VERSIONS,
        "capabilities": base.capabilities | KEY_PAIR_CAPABILITIES,
        "slots": slots,
        "key_pairs": key_pairs_for_slots(slots),
        "base_hash_priority": (BaseHashAlgo.SHA_384,),
        "max_padding": 3,
        **changes,
    }
    return dataclasses.replace(base, **settings)


def _requester_config(*, multi_key: bool = True, versions: tuple[int, ...] = SPDM_VERSIONS) -> RequesterConfig:
    anchors = {0: EXCHANGE.root_der, 2: ATTEST.root_der}
    return RequesterConfig.with_sessions(trust_anchors=anchors, versions=versions, multi_key=multi_key)


def _connect(responder: Responder, **options: Any) -> Requester:
    requester = Requester(DoeTransport(MemoryDoeLink(responder.respond)), _requester_config(**options))
    requester.init_connection()
    return requester


def _spki(key: Any) -> bytes:
    return bytes(key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def test_a_multi_key_connection_names_each_slots_key_pair_and_usages() -> None:
    requester = _connect(Responder(_device()))
    negotiated = requester.negotiated
    assert negotiated is not None and negotiated.version == 0x13 and negotiated.responder_multi_key
    requester.get_digests()
    keys = requester.connection.slot_keys
    assert {slot: (key.key_pair_id, key.cert_model, key.key_usage) for slot, key in keys.items()} == {
        0: (1, CertificateInfo.DEVICE_CERT, KeyUsage.KEY_EXCHANGE | KeyUsage.MEASUREMENT),
        2: (2, CertificateInfo.DEVICE_CERT, KeyUsage.CHALLENGE | KeyUsage.MEASUREMENT),
    }


def test_authentication_chooses_the_slot_whose_key_may_answer_challenge() -> None:
    result = _connect(Responder(_device())).authenticate()
    assert result.slot == 2 and result.challenge.slot == 2
    assert result.measurements is not None and result.measurements.signed and result.measurements.slot == 2


def test_a_slot_whose_key_may_not_be_used_is_refused_before_anything_is_sent() -> None:
    responder = Responder(_device())
    link = MemoryDoeLink(responder.respond)
    requester = Requester(DoeTransport(link), _requester_config())
    requester.init_connection()
    requester.get_digests()
    for slot in (0, 2):
        requester.get_certificate(slot)
        requester.verify_certificate(slot)
    with pytest.raises(KeyUsageError, match="slot 0's KeyUsageMask 0x0005 does not allow CHALLENGE"):
        requester.challenge(0)
    with pytest.raises(KeyUsageError, match="does not allow KEY_EXCHANGE"):
        requester.key_exchange(2)
    assert requester.challenge().slot == 2  # and the connection goes on


def test_the_responder_refuses_a_key_the_slot_may_not_use() -> None:
    """A requester that ignores the usages gets InvalidRequest (libspdm_rsp_challenge_auth.c)."""
    responder = Responder(_device())
    requester = _connect(responder)
    requester.get_digests()
    ask = Challenge(version=0x13, slot_id=0, summary_hash_type=0, nonce=bytes(32), requester_context=bytes(8))
    answer = decode(responder.respond(encode(ask)))
    assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.InvalidRequest


def test_sessions_use_the_key_exchange_slot() -> None:
    requester = _connect(Responder(_device()))
    with requester.key_exchange() as session:
        assert session.slot == 0
        assert session.get_measurements(0xFF).signed  # slot 0 may sign measurements too
        info = session.get_key_pair_info(2)
        assert info.assoc_cert_slots == (2,) and info.current_asym_algo is KeyPairAsymAlgo.ECC384


def test_key_pair_info_is_read_and_changed() -> None:
    responder = Responder(_device())
    requester = _connect(responder)
    info = requester.get_key_pair_info(1)
    assert (info.total_key_pairs, info.key_pair_id, info.assoc_cert_slots) == (2, 1, (0,))
    assert info.current_key_usage == KeyUsage.KEY_EXCHANGE | KeyUsage.MEASUREMENT
    assert info.public_key_info == bytes.fromhex("301006072a8648ce3d020106052b81040022")
    assert not requester.set_key_pair_info(1, key_usage=KeyUsage.KEY_EXCHANGE, slots=(0,)).reset_required
    assert requester.get_key_pair_info(1).current_key_usage == KeyUsage.KEY_EXCHANGE
    with pytest.raises(PeerError) as refused:  # it still backs slot 0
        requester.set_key_pair_info(1, KeyPairOperation.ERASE)
    assert refused.value.error_code == ErrorCode.OperationFailed
    requester.set_key_pair_info(1)  # no slots
    requester.set_key_pair_info(1, KeyPairOperation.ERASE)
    erased = requester.get_key_pair_info(1)
    assert (erased.current_key_usage, erased.current_asym_algo, erased.assoc_cert_slot_mask) == (0, 0, 0)
    with pytest.raises(ValueError, match="an erase carries no"):
        requester.set_key_pair_info(1, KeyPairOperation.ERASE, slots=(0,))
    with pytest.raises(PeerError) as unknown:
        requester.get_key_pair_info(3)
    assert unknown.value.error_code == ErrorCode.InvalidRequest


def test_the_csr_is_for_the_key_pair_named_and_set_certificate_names_it() -> None:
    requester = _connect(Responder(_device()))
    requester.get_digests()
    csr = x509.load_der_x509_csr(requester.get_csr(key_pair_id=2))
    assert csr.is_signature_valid and _spki(csr) == _spki(ATTEST.leaf_key)
    with pytest.raises(ValueError, match="names the key pair"):
        requester.get_csr()
    assert not requester.set_certificate(0, NEW0.certificates_der, key_pair_id=1).reset_required
    with pytest.raises(PeerError) as refused:  # a CSR of another model than the device's
        requester.get_csr(key_pair_id=1, cert_model=CertificateInfo.ALIAS_CERT)
    assert refused.value.error_code == ErrorCode.InvalidRequest


def test_without_multi_key_no_key_pair_is_named() -> None:
    responder = Responder(_device())
    requester = _connect(responder, multi_key=False)
    negotiated = requester.negotiated
    assert negotiated is not None and negotiated.version == 0x13 and not negotiated.responder_multi_key
    requester.get_digests()
    assert not requester.connection.slot_keys
    assert requester.get_key_pair_info(1).key_pair_id == 1  # key-pair info needs no multi-key connection
    with pytest.raises(ValueError, match=r"need a 1\.3 multi-key connection"):
        requester.get_csr(key_pair_id=1)
    named = GetCsr(version=0x13, param1=1, param2=CertificateInfo.DEVICE_CERT)
    answer = decode(responder.respond(encode(named)))
    assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.InvalidRequest


def test_key_pairs_need_spdm_13() -> None:
    requester = _connect(Responder(_device()), versions=(0x10, 0x11, 0x12))
    with pytest.raises(NegotiationError, match=r"needs SPDM 1\.3"):
        requester.get_key_pair_info(1)


def test_the_asyncio_requester_reads_and_sets_key_pairs() -> None:
    responder = Responder(_device())

    async def main() -> tuple[int, int]:
        transport = AsyncDoeTransport(ThreadedDoeLink(MemoryDoeLink(responder.respond)))
        requester = AsyncRequester(transport, _requester_config())
        await requester.init_connection()
        await requester.set_key_pair_info(2, key_usage=KeyUsage.CHALLENGE, slots=(2,))
        async with await requester.key_exchange() as session:
            in_session = await session.get_key_pair_info(2)
            await session.set_key_pair_info(2, key_usage=KeyUsage.MEASUREMENT, slots=(2,))
        return int(in_session.current_key_usage), int((await requester.get_key_pair_info(2)).current_key_usage)

    assert asyncio.run(asyncio.wait_for(main(), timeout=60)) == (KeyUsage.CHALLENGE, KeyUsage.MEASUREMENT)
