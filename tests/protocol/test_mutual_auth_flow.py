"""The encapsulated flow of mutual authentication between our requester and our responder, in memory,
each rule as libspdm keeps it:

* the requester answers as many requests as reading its chains takes (libspdm_req_encap_request.c
  loops until the ACK says done), but only 16 that read nothing new of them;
* a CHALLENGE_AUTH asking for basic mutual authentication (BasicMutAuthReq) is refused without
  MUT_AUTH_CAP on both sides, as a KEY_EXCHANGE_RSP asking for it is (libspdm_req_challenge.c,
  libspdm_req_key_exchange.c), and needs an identity to answer with;
* the requester refuses an encapsulated CHALLENGE that asks for a measurement summary hash
  (libspdm_req_encap_challenge_auth.c);
* the responder answers GET_ENCAPSULATED_REQUEST with nothing pending NoPendingRequests from 1.3 during
  a session's handshake too (libspdm_rsp_encap_response.c), and refuses a 1.3 encapsulated DIGESTS
  provisioning a slot outside its SupportedSlotMask (libspdm_rsp_encap_get_digests.c).

The handshake travels in the clear (both sides set HANDSHAKE_IN_THE_CLEAR_CAP), so a hook between the
two sees, and may add or alter, plain SPDM messages.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import pytest

import spdm.responder.machine as machine
from spdm.certs import SPDM_REQUESTER_AUTH_OID
from spdm.errors import NegotiationError, ProtocolError
from spdm.messages import Message, decode, encode
from spdm.messages.certificates import GetCertificate, GetDigests
from spdm.messages.challenge import Challenge, ChallengeAuth
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, Code, ErrorCode
from spdm.messages.encapsulated import (
    DeliverEncapsulatedResponse,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    PayloadType,
)
from spdm.messages.error import ErrorResponse
from spdm.requester import Requester, RequesterConfig, RequesterIdentity, session_alg_structs
from spdm.requester.encapsulated import EncapsulatedAnswers
from spdm.responder import Responder, demo_config
from spdm.testing import MemoryDoeLink
from spdm.testing.pki import IssuedChain, make_chain
from spdm.transport.doe import DoeTransport

F = CapabilityFlags
P256 = BaseAsymAlgo.ECDSA_P256
REQUESTER = make_chain(P256, name="mutual requester", extended_key_usages=[SPDM_REQUESTER_AUTH_OID])
LONG = make_chain(
    P256,
    name="long requester",
    extended_key_usages=[SPDM_REQUESTER_AUTH_OID],
    spdm_extension_oids=[f"1.3.6.1.4.1.99999.{i}" for i in range(1400)],
)
"""A requester chain of about 20 KB: more than 16 of the 0x400-byte portions our responder asks for."""

Hook = Callable[[Responder, bytes], bytes | None]
"""Sees each request in the clear before the responder: an answer of its own, or None to pass it on."""


def _identity(chain: IssuedChain) -> RequesterIdentity:
    return RequesterIdentity(certificates=chain.certificates_der, private_key=chain.leaf_key)


def _pair(
    version: int = 0x13,
    *,
    hook: Hook | None = None,
    chain: IssuedChain = REQUESTER,
    mutual: str | None = "encapsulated",
    requester: RequesterConfig | None = None,
) -> tuple[Requester, Responder]:
    """Our requester (identity `chain` in slot 0) and our responder asking for mutual authentication
    (`mutual`), connected at `version` through `hook`."""
    config = dataclasses.replace(
        demo_config(sessions=True), mutual_auth=mutual, requester_trust_anchors={0: chain.root_der}, max_padding=3
    )
    responder = Responder(config)

    def respond(request: bytes, session_id: int | None = None) -> bytes:
        if session_id is None and hook is not None:
            answer = hook(responder, request)
            if answer is not None:
                return answer
        return responder.respond(request, session_id)

    if requester is None:
        requester = RequesterConfig.with_sessions(
            versions=(version,), trust_anchors={0: config.slots[0].certificates[0]}, identities={0: _identity(chain)}
        )
    pair = Requester(DoeTransport(MemoryDoeLink(respond)), requester)
    assert pair.init_connection().version == version
    return pair, responder


def _error_code(answer: bytes) -> int | None:
    message = decode(answer)
    return message.error_code if isinstance(message, ErrorResponse) else None


# --- how many encapsulated requests the requester answers ---------------------------------------------


def test_a_long_requester_chain_is_read_in_all_its_portions() -> None:
    delivered: list[bytes] = []

    def count(responder: Responder, request: bytes) -> None:
        if request[1] == Code.DELIVER_ENCAPSULATED_RESPONSE:
            delivered.append(request)

    requester, _ = _pair(hook=count, chain=LONG)
    with requester.key_exchange(0) as session:
        assert session.requester_slot == 0 and session.heartbeat() is None
    assert len(delivered) > 17  # the DIGESTS, then one CERTIFICATE per 0x400 bytes of a 20 KB chain


def _asking(requests: Callable[[int], Message | None]) -> Hook:
    """A responder whose encapsulated flow (outside sessions) asks `requests(n)` as its n-th request,
    and is done when that is None."""
    asked = [0]

    def ask(responder: Responder, request: bytes) -> bytes | None:
        if request[1] not in (Code.GET_ENCAPSULATED_REQUEST, Code.DELIVER_ENCAPSULATED_RESPONSE):
            return None
        asked[0] += 1
        inner = requests(asked[0])
        if request[1] == Code.GET_ENCAPSULATED_REQUEST:
            assert inner is not None
            return encode(EncapsulatedRequest(version=0x13, request_id=1, payload=encode(inner)))
        deliver = decode(request)
        assert isinstance(deliver, DeliverEncapsulatedResponse)
        done = inner is None
        ack = EncapsulatedResponseAck(
            version=0x13,
            request_id=0 if done else asked[0] & 0xFF or 1,
            payload_type=PayloadType.ABSENT if done else PayloadType.PRESENT,
            ack_request_id=deliver.request_id,
            reserved=bytes(3),
            payload=b"" if inner is None else encode(inner),
        )
        return encode(ack)

    return ask


def _portion(offset: int, length: int) -> GetCertificate:
    return GetCertificate(version=0x13, slot_param=0, offset=offset, length=length)


def test_requests_that_read_the_chain_further_are_all_answered() -> None:
    size: list[int] = []  # the chain's, once the hash is negotiated

    def small_portions(n: int) -> Message | None:
        offset = (n - 1) * 0x20
        return _portion(offset, 0x20) if offset < size[0] else None

    requester, _ = _pair(hook=_asking(small_portions))
    size.append(len(REQUESTER.spdm_chain(requester.connection.hash).to_bytes()))
    assert requester.serve_encapsulated_requests() == -(-size[0] // 0x20) > 16


def test_sixteen_requests_that_read_nothing_new_are_the_most_answered() -> None:
    def again(n: int) -> Message:
        return GetDigests(version=0x13) if n % 2 else _portion(0, 0x100)  # the first 0x100 bytes, again and again

    requester, _ = _pair(hook=_asking(again))
    with pytest.raises(ProtocolError) as refused:
        requester.serve_encapsulated_requests()
    assert refused.value.error_code == ErrorCode.InvalidResponseCode and "16" in str(refused.value)


# --- BasicMutAuthReq in CHALLENGE_AUTH --------------------------------------------------------------


@pytest.fixture
def basic_mutual_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our responder's CHALLENGE_AUTH asks for basic mutual authentication (Param1 bit 7, signed)."""

    def asking(**fields: Any) -> ChallengeAuth:
        return ChallengeAuth(**{**fields, "attributes": fields["attributes"] | 0x80})

    monkeypatch.setattr(machine, "ChallengeAuth", asking)


def _challenge_only(capabilities: int, **settings: Any) -> RequesterConfig:
    """A 1.2 requester with no identity, offering `capabilities`."""
    anchors = {0: demo_config(sessions=True).slots[0].certificates[0]}
    return RequesterConfig(versions=(0x12,), trust_anchors=anchors, capabilities=capabilities, **settings)


@pytest.mark.usefixtures("basic_mutual_auth")
def test_basic_mut_auth_req_without_mut_auth_cap_on_both_sides_is_refused() -> None:
    requester, _ = _pair(0x12, mutual=None, requester=_challenge_only(int(F.CERT_CAP | F.CHAL_CAP)))
    assert not requester.connection.negotiated.both(F.MUT_AUTH_CAP)
    with pytest.raises(ProtocolError) as refused:
        requester.authenticate(0, measurements=None)
    assert refused.value.error_code == ErrorCode.InvalidResponseCode
    assert "CHALLENGE_AUTH asks for mutual authentication without MUT_AUTH_CAP" in str(refused.value)


@pytest.mark.usefixtures("basic_mutual_auth")
def test_basic_mut_auth_req_to_a_requester_without_an_identity_is_refused() -> None:
    """As KEY_EXCHANGE_RSP's MutAuthRequested is (`check_mutual_authentication`): nothing more is sent."""
    sent: list[int] = []

    def record(responder: Responder, request: bytes) -> None:
        sent.append(request[1])

    capabilities = int(F.CERT_CAP | F.CHAL_CAP | F.MUT_AUTH_CAP | F.ENCAP_CAP)
    config = _challenge_only(capabilities, alg_structs=session_alg_structs(P256))  # ReqBaseAsymAlg offered
    requester, _ = _pair(0x12, hook=record, mutual=None, requester=config)
    assert requester.connection.negotiated.both(F.MUT_AUTH_CAP)
    with pytest.raises(NegotiationError, match="no requester identity"):
        requester.authenticate(0, measurements=None)
    assert sent[-1] == Code.CHALLENGE


# --- the requester's encapsulated CHALLENGE_AUTH ------------------------------------------------------


@pytest.mark.parametrize("version", [0x11, 0x12, 0x13])
def test_an_encapsulated_challenge_for_a_measurement_summary_is_refused(version: int) -> None:
    requester, _ = _pair(version)
    negotiated = requester.connection.negotiated
    answers = EncapsulatedAnswers(negotiated=negotiated, config=requester.config, max_padding=0)
    context = negotiated.requester_response_context(signature_requested=True)
    for summary in (0, 1, 0xFF):
        ask = Challenge(
            version=version,
            slot_id=0,
            summary_hash_type=summary,
            nonce=os.urandom(32),
            requester_context=os.urandom(8) if version >= 0x13 else None,
        )
        answer = decode(answers.answer(encode(ask), version), context)
        if summary:
            assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.InvalidRequest
        else:
            assert isinstance(answer, ChallengeAuth) and answer.measurement_summary_hash is None


# --- the responder ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "code"), [(0x12, ErrorCode.UnexpectedRequest), (0x13, ErrorCode.NoPendingRequests)]
)
@pytest.mark.parametrize("mutual", [None, "encapsulated"])
def test_get_encapsulated_request_with_nothing_pending_during_a_handshake(
    version: int, code: int, mutual: str | None
) -> None:
    """Before FINISH, with no mutual authentication or its flow done, as outside any session."""
    answers: list[int | None] = []

    def ask_first(responder: Responder, request: bytes) -> None:
        if request[1] in (Code.FINISH, Code.GET_DIGESTS):
            answers.append(_error_code(responder.respond(bytes([version, Code.GET_ENCAPSULATED_REQUEST, 0, 0]))))

    requester, _ = _pair(version, hook=ask_first, mutual=mutual)
    requester.get_digests()
    with requester.key_exchange(0) as session:
        assert session.heartbeat() is None
    assert answers == [code] * len(answers) and len(answers) >= 2


def test_the_requester_s_digests_provision_only_supported_slots() -> None:
    """1.3: a DIGESTS whose provisioned slots (Param2) are not all in its SupportedSlotMask (Param1) is
    InvalidResponseCode (`spdm._checks.check_slot_masks`); the flow stays pending for the real one."""
    refused: list[int | None] = []

    def alter(responder: Responder, request: bytes) -> None:
        if request[1] == Code.DELIVER_ENCAPSULATED_RESPONSE and request[5] == Code.DIGESTS and not refused:
            for supported in (0x00, 0x02):
                altered = request[:6] + bytes([supported]) + request[7:]
                refused.append(_error_code(responder.respond(altered)))

    requester, _ = _pair(hook=alter)
    with requester.key_exchange(0) as session:
        assert session.requester_slot == 0 and session.heartbeat() is None
    assert refused == [ErrorCode.InvalidResponseCode] * 2
