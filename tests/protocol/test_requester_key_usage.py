"""SPDM 1.3: the requester's own slots keep to their KeyUsageMask on the requester's multi-key
connection (MULTI_KEY_CONN_REQ), as libspdm's requester does: an encapsulated CHALLENGE or signed
GET_ENDPOINT_INFO naming a slot without that usage is answered ERROR InvalidRequest
(libspdm_req_encap_challenge_auth.c, libspdm_req_encap_endpoint_info.c), and a slot without KEY_EXCHANGE
usage named to sign FINISH with, by an ENCAPSULATED_RESPONSE_ACK or by KEY_EXCHANGE_RSP, is refused
(libspdm_req_encap_request.c, libspdm_req_key_exchange.c).
Off a multi-key connection the masks are not consulted. Our requester against our responder, in memory."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from spdm.errors import ProtocolError
from spdm.messages import decode, encode
from spdm.messages.challenge import Challenge, ChallengeAuth
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, ErrorCode, KeyUsage
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.endpoint_info import EndpointInfo, GetEndpointInfo
from spdm.messages.error import ErrorResponse
from spdm.requester import Requester, RequesterConfig, RequesterIdentity
from spdm.requester.encapsulated import EncapsulatedAnswers
from spdm.responder import Responder, demo_config
from spdm.testing import MemoryDoeLink
from spdm.testing.pki import IssuedChain, cached_key, make_chain
from spdm.transport.doe import DoeTransport

P384 = BaseAsymAlgo.ECDSA_P384


def _chain(name: str, first_key: int) -> IssuedChain:
    keys = [cached_key(P384, first_key + i) for i in range(3)]
    return make_chain(P384, hash_algo=BaseHashAlgo.SHA_384, keys=keys, name=name)


REQUESTER0 = _chain("requester slot 0", 170)
REQUESTER1 = _chain("requester slot 1", 180)


def _identity(chain: IssuedChain, usage: int) -> RequesterIdentity:
    return RequesterIdentity(certificates=chain.certificates_der, private_key=chain.leaf_key, key_usage=usage)


def _connect(identities: dict[int, RequesterIdentity], *, multi_key: bool, **responder: Any) -> Requester:
    """A 1.3 connection whose requester answers encapsulated requests with `identities`, on the
    requester's multi-key connection (MULTI_KEY_CAP_ONLY) or not."""
    config = dataclasses.replace(
        demo_config(sessions=True), base_hash_priority=(BaseHashAlgo.SHA_384,), max_padding=3, **responder
    )
    base = RequesterConfig.with_sessions(
        trust_anchors={0: config.slots[0].certificates[0]}, identities=identities, endpoint_info=b"\x01\x00\x00\x00rq"
    )
    capabilities = base.capabilities | F.EP_INFO_CAP_SIG | (F.MULTI_KEY_CAP_ONLY if multi_key else 0)
    requester_config = dataclasses.replace(base, capabilities=capabilities)
    requester = Requester(DoeTransport(MemoryDoeLink(Responder(config).respond)), requester_config)
    negotiated = requester.init_connection()
    assert negotiated.version == 0x13 and negotiated.requester_multi_key is multi_key
    return requester


def _answers(requester: Requester) -> EncapsulatedAnswers:
    negotiated = requester.negotiated
    assert negotiated is not None
    vca = bytes(requester.connection.transcript.vca)
    return EncapsulatedAnswers(negotiated=negotiated, config=requester.config, max_padding=0, vca=vca)


def _answer(requester: Requester, request: bytes, *, signed: bool) -> object:
    negotiated = requester.negotiated
    assert negotiated is not None
    context = negotiated.requester_response_context(signature_requested=signed)
    return decode(_answers(requester).answer(request, 0x13), context)


_IDENTITIES = {0: _identity(REQUESTER0, KeyUsage.KEY_EXCHANGE), 1: _identity(REQUESTER1, KeyUsage.ALL_SPDM)}


@pytest.mark.parametrize("multi_key", [True, False])
def test_the_encapsulated_challenge_needs_challenge_usage(multi_key: bool) -> None:
    requester = _connect(_IDENTITIES, multi_key=multi_key)
    for slot in (0, 1):
        challenge = encode(Challenge(version=0x13, slot_id=slot, nonce=bytes(32), requester_context=bytes(8)))
        answer = _answer(requester, challenge, signed=True)
        if multi_key and slot == 0:
            assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.InvalidRequest
        else:
            assert isinstance(answer, ChallengeAuth) and answer.slot_id == slot


@pytest.mark.parametrize("multi_key", [True, False])
def test_the_encapsulated_endpoint_info_needs_endpoint_info_usage(multi_key: bool) -> None:
    requester = _connect(_IDENTITIES, multi_key=multi_key)
    for slot in (0, 1):
        ask = GetEndpointInfo(version=0x13, slot_param=slot, request_attributes=1, nonce=bytes(32))
        answer = _answer(requester, encode(ask), signed=True)
        if multi_key and slot == 0:
            assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.InvalidRequest
        else:
            assert isinstance(answer, EndpointInfo) and answer.slot_id == slot
    unsigned = _answer(requester, encode(GetEndpointInfo(version=0x13, slot_param=0)), signed=False)
    assert isinstance(unsigned, EndpointInfo)  # nothing signed: no usage to keep to


def _mutual(usage: int, *, multi_key: bool, mode: str = "encapsulated") -> Requester:
    """The responder asks for mutual authentication and names the requester's slot 1 to sign FINISH
    with: in ENCAPSULATED_RESPONSE_ACK's ReqSlotNumber ("encapsulated", MutAuthRequested 0x02), or in
    KEY_EXCHANGE_RSP's ReqSlotIDParam ("basic", 0x01; the responder knows the chain)."""
    capabilities = demo_config(sessions=True).capabilities | F.MUT_AUTH_CAP | F.ENCAP_CAP
    return _connect(
        {1: _identity(REQUESTER1, usage)},
        multi_key=multi_key,
        capabilities=capabilities,
        mutual_auth=mode,
        requester_slot=1,
        requester_trust_anchors={1: REQUESTER1.root_der},
        requester_chain=REQUESTER1.certificates_der,
    )


@pytest.mark.parametrize("mode", ["encapsulated", "basic"])
@pytest.mark.parametrize("multi_key", [True, False])
def test_the_slot_that_signs_finish_needs_key_exchange_usage(multi_key: bool, mode: str) -> None:
    requester = _mutual(
        KeyUsage.CHALLENGE | KeyUsage.MEASUREMENT | KeyUsage.ENDPOINT_INFO, multi_key=multi_key, mode=mode
    )
    requester.get_digests()
    requester.get_certificate(0)
    requester.verify_certificate(0)
    if multi_key:
        with pytest.raises(ProtocolError) as refused:
            requester.key_exchange(0)
        assert refused.value.error_code == ErrorCode.InvalidResponseCode
        assert "requester slot 1" in str(refused.value)
        return
    with requester.key_exchange(0) as session:
        assert session.heartbeat() is None


@pytest.mark.parametrize("mode", ["encapsulated", "basic"])
def test_a_slot_with_key_exchange_usage_signs_finish(mode: str) -> None:
    requester = _mutual(KeyUsage.KEY_EXCHANGE, multi_key=True, mode=mode)
    requester.get_digests()
    requester.get_certificate(0)
    requester.verify_certificate(0)
    with requester.key_exchange(0) as session:
        assert session.heartbeat() is None
