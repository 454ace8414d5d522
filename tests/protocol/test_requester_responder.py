"""Our requester against our responder: every hash x asymmetric algorithm, in memory over DOE and
over the spdm-emu socket protocol on 127.0.0.1; and the requester's ERROR handling."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator

import pytest

from spdm.crypto import ASYM_SUITES, HASH_SUITES, SignatureScheme
from spdm.errors import DecodeError, NegotiationError, PeerError, ProtocolError, VerificationError
from spdm.messages import decode_prefix, encode
from spdm.messages.certificates import CERTIFICATE_HEADER_SIZE, Certificate
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, CapabilityFlags, Code, ErrorCode, SummaryHashType
from spdm.messages.error import MAX_RD_EXPONENT, ErrorResponse, ResponseNotReady
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, ResponderConfig, SlotIdentity, demo_config
from spdm.testing import MemoryDoeLink
from spdm.testing.pki import make_chain
from spdm.transport.base import Transport
from spdm.transport.doe import DoeMailboxResponder, DoeTransport
from spdm.transport.loopback import LoopbackTransport
from spdm.transport.socket import SocketLink, SocketServer

_DOE_PADDING = 3


def _pair(asym: int, hash_algo: int, **responder: object) -> tuple[ResponderConfig, RequesterConfig]:
    chain = make_chain(asym, hash_algo=BaseHashAlgo.SHA_256)
    identity = SlotIdentity(certificates=chain.certificates_der, private_key=chain.leaf_key)
    rsp = dataclasses.replace(
        demo_config(),
        slots={0: identity},
        base_asym_priority=(asym,),
        base_hash_priority=(hash_algo,),
        max_padding=_DOE_PADDING,
        **responder,  # type: ignore[arg-type]
    )
    req = RequesterConfig(trust_anchors={0: chain.root_der})
    return rsp, req


def _doe_in_memory(responder: Responder) -> Transport:
    return DoeTransport(MemoryDoeLink(responder.respond))


_ASYMS = [BaseAsymAlgo(suite.bit) for suite in ASYM_SUITES if suite.scheme is not SignatureScheme.EDDSA]
"""Every algorithm whose chains validate (EdDSA keys do not: test_responder checks Ed25519 signatures)."""
_HASHES = [BaseHashAlgo(suite.bit) for suite in HASH_SUITES]


@pytest.mark.parametrize(("asym", "hash_algo"), list(itertools.product(_ASYMS, _HASHES)), ids=lambda v: v.name)
def test_authenticate_in_memory_over_doe(asym: BaseAsymAlgo, hash_algo: BaseHashAlgo) -> None:
    rsp, req = _pair(asym, hash_algo)
    result = Requester(_doe_in_memory(Responder(rsp)), req).authenticate(0, summary_hash_type=SummaryHashType.ALL)
    assert result.negotiated.base_asym_algo == asym
    assert result.negotiated.base_hash_algo == hash_algo
    assert result.measurements is not None and result.measurements.signed
    assert [b.index for b in result.measurements.blocks] == [1, 2, 3, 4, 5]


@pytest.fixture(scope="module")
def socket_pairs() -> Iterator[Callable[[ResponderConfig], SocketLink]]:
    servers: list[SocketServer] = []

    def serve(config: ResponderConfig) -> SocketLink:
        server = SocketServer(DoeMailboxResponder(Responder(config).respond), host="127.0.0.1", port=0).start()
        servers.append(server)
        return SocketLink("127.0.0.1", server.port, timeout=5)

    yield serve
    for server in servers:
        server.stop(timeout=2)


@pytest.mark.parametrize(("asym", "hash_algo"), list(itertools.product(_ASYMS, _HASHES)), ids=lambda v: v.name)
def test_authenticate_over_the_socket_protocol(
    socket_pairs: Callable[[ResponderConfig], SocketLink], asym: BaseAsymAlgo, hash_algo: BaseHashAlgo
) -> None:
    rsp, req = _pair(asym, hash_algo)
    link = socket_pairs(rsp)
    result = Requester(DoeTransport(link), req).authenticate(0)
    link.shutdown()
    assert result.negotiated.base_asym_algo == asym and result.negotiated.base_hash_algo == hash_algo
    assert result.measurements is not None and result.measurements.signed


def _loopback() -> tuple[Responder, Requester, list[float]]:
    rsp, req = _pair(BaseAsymAlgo.ECDSA_P256, BaseHashAlgo.SHA_256)
    slept: list[float] = []
    responder = Responder(rsp)
    requester = Requester(
        LoopbackTransport(responder.respond),
        RequesterConfig(trust_anchors=req.trust_anchors, sleep=slept.append),
    )
    return responder, requester, slept


def test_busy_is_retried_within_bounds() -> None:
    responder, requester, _ = _loopback()
    responder.answer_busy(3)
    requester.init_connection()  # GET_VERSION answered Busy three times, then VERSION
    responder.answer_busy(4)
    with pytest.raises(PeerError) as caught:
        requester.get_digests()
    assert caught.value.error_code == ErrorCode.Busy


def test_response_not_ready_waits_then_asks_respond_if_ready() -> None:
    responder, requester, slept = _loopback()
    requester.init_connection()
    responder.answer_not_ready(1, rd_exponent=10)
    digests = requester.get_digests()
    assert 0 in digests
    assert slept == [(1 << 10) / 1e6]
    assert requester.authenticate(0).challenge.slot == 0


def test_response_not_ready_longer_than_libspdm_waits_is_refused() -> None:
    """RDExponent is a byte on the wire; like libspdm's requester, ours waits 2^MAX_RD_EXPONENT us at most."""
    responder, requester, slept = _loopback()
    requester.init_connection()
    responder.answer_not_ready(1, rd_exponent=MAX_RD_EXPONENT)
    requester.get_digests()
    responder.answer_not_ready(1, rd_exponent=MAX_RD_EXPONENT + 1)
    with pytest.raises(ProtocolError, match=f"RDExponent {MAX_RD_EXPONENT + 1} is over {MAX_RD_EXPONENT}"):
        requester.get_digests()
    assert slept == [(1 << MAX_RD_EXPONENT) / 1e6]


@pytest.mark.parametrize("refused", [Code.GET_VERSION, Code.GET_CAPABILITIES, Code.NEGOTIATE_ALGORITHMS])
def test_response_not_ready_to_a_vca_request_is_refused(refused: Code) -> None:
    """DSP0274 forbids ResponseNotReady to the VCA requests; libspdm's requester refuses it, and so
    do we, without a RESPOND_IF_READY or a wait."""
    rsp, req = _pair(BaseAsymAlgo.ECDSA_P256, BaseHashAlgo.SHA_256)
    responder = Responder(rsp)
    sent: list[int] = []
    slept: list[float] = []

    def respond(request: bytes, session_id: int | None) -> bytes:
        sent.append(request[1])
        if request[1] != refused:
            return responder.respond(request, session_id)
        not_ready = ResponseNotReady(rd_exponent=1, request_code=refused, token=0, rdtm=2)
        return encode(ErrorResponse(version=request[0], error_code=ErrorCode.ResponseNotReady, extended_data=not_ready))

    config = RequesterConfig(trust_anchors=req.trust_anchors, sleep=slept.append)
    with pytest.raises(ProtocolError, match="ResponseNotReady") as caught:
        Requester(LoopbackTransport(respond), config).init_connection()
    assert caught.value.error_code == ErrorCode.InvalidResponseCode
    assert sent[-1] == refused and Code.RESPOND_IF_READY not in sent and slept == []


def test_request_resynch_restarts_the_flow_once() -> None:
    responder, requester, _ = _loopback()

    class Resynch(Transport):
        def __init__(self) -> None:
            self.sent = 0

        def exchange(self, request: bytes, *, session_id: int | None = None, timeout: float | None = None) -> bytes:
            self.sent += 1
            if self.sent == 4:  # the first GET_DIGESTS
                return bytes([0x11, 0x7F, ErrorCode.RequestResynch, 0])
            return responder.respond(request)

    requester.transport = Resynch()
    result = requester.authenticate(0)
    assert result.challenge.slot == 0


def test_wrong_root_is_a_verification_error() -> None:
    responder, _, _ = _loopback()
    other = make_chain(BaseAsymAlgo.ECDSA_P256, hash_algo=BaseHashAlgo.SHA_384)
    requester = Requester(LoopbackTransport(responder.respond), RequesterConfig(trust_anchors={0: other.root_der}))
    with pytest.raises(VerificationError):
        requester.authenticate(0)


def test_no_common_version() -> None:
    rsp, _ = _pair(BaseAsymAlgo.ECDSA_P256, BaseHashAlgo.SHA_256)
    responder = Responder(dataclasses.replace(rsp, versions=(0x10, 0x11)))
    requester = Requester(LoopbackTransport(responder.respond), RequesterConfig(versions=(0x12, 0x13)))
    with pytest.raises(NegotiationError, match="no common SPDM version"):
        requester.init_connection()


@pytest.mark.parametrize(
    ("settings", "refusal"),
    [
        ({"versions": (0x14,)}, "versions"),
        ({"versions": ()}, "versions"),
        ({"capabilities": 1 << 32}, "not a u32"),
        ({"ct_exponent": 32}, "ct_exponent 32"),
        ({"psk": b""}, "must not be empty"),
        ({"psk": b"key", "psk_hint": bytes(33)}, "PSKHint is at most 32"),
        ({"secured_message_versions": (0x10000,)}, "secured_message_versions"),
        ({"certificate_portion": 0}, "certificate_portion 0"),
    ],
)
def test_requester_config_refuses_what_the_responder_config_refuses(settings: dict[str, object], refusal: str) -> None:
    """A requester's configuration is checked as a responder's is: a value no SPDM message can carry
    is a ValueError when the configuration is made, not a failure at the wire."""
    with pytest.raises(ValueError, match=refusal):
        RequesterConfig(**settings)  # type: ignore[arg-type]


def test_requester_config_refuses_transfer_sizes_a_responder_refuses() -> None:
    """DataTransferSize 100 with MaxSPDMmsgSize 4608 and no CHUNK_CAP was accepted, and every 1.2+
    connection then got ERROR InvalidRequest for its GET_CAPABILITIES (libspdm_rsp_capabilities.c, and
    ours): refused now by the rule the responder's configuration and its GET_CAPABILITIES check use."""
    unequal = "no CHUNK_CAP, yet DataTransferSize 100 is not MaxSPDMmsgSize 4608"
    with pytest.raises(ValueError, match=f"^GET_CAPABILITIES: {unequal}$"):
        RequesterConfig(data_transfer_size=100)
    with pytest.raises(ValueError, match=f"^GET_CAPABILITIES: {unequal}$"):
        RequesterConfig.with_sessions(data_transfer_size=100)
    with pytest.raises(ValueError, match=f"^CAPABILITIES: {unequal}$"):
        dataclasses.replace(demo_config(), data_transfer_size=100)
    flags = CapabilityFlags.CERT_CAP | CapabilityFlags.CHAL_CAP | CapabilityFlags.CHUNK_CAP
    chunking = RequesterConfig(capabilities=flags, data_transfer_size=100)
    assert chunking.data_transfer_size == 100
    before_sizes = RequesterConfig(versions=(0x10, 0x11), data_transfer_size=100)  # 1.1 states no sizes
    rsp, _ = _pair(BaseAsymAlgo.ECDSA_P384, BaseHashAlgo.SHA_384, versions=(0x10, 0x11))
    config = dataclasses.replace(before_sizes, trust_anchors={0: rsp.slots[0].certificates[0]})
    assert Requester(_doe_in_memory(Responder(rsp)), config).init_connection().version == 0x11


def test_a_requester_with_a_small_max_spdm_msg_size_asks_portions_that_fit_it() -> None:
    """MaxSPDMmsgSize 1024 and the default certificate_portion (0x400): asking 0x400 bytes made the
    responder answer ResponseTooLarge (a 1032-byte CERTIFICATE); the requester asks what fits."""
    rsp, _ = _pair(BaseAsymAlgo.ECDSA_P384, BaseHashAlgo.SHA_384)
    config = RequesterConfig(
        trust_anchors={0: rsp.slots[0].certificates[0]}, data_transfer_size=1024, max_spdm_msg_size=1024
    )
    asked: list[int] = []
    responder = Responder(rsp)

    def respond(request: bytes, session_id: int | None = None) -> bytes:
        if request[1] == Code.GET_CERTIFICATE:
            asked.append(int.from_bytes(request[6:8], "little"))
        return responder.respond(request, session_id)

    assert Requester(LoopbackTransport(respond), config).authenticate(0).chain is not None
    assert asked and set(asked) == {1024 - CERTIFICATE_HEADER_SIZE}
    empty = Certificate(version=0x12, slot_param=0, portion=b"", remainder_length=0)
    assert len(encode(empty)) == CERTIFICATE_HEADER_SIZE


def test_no_common_algorithm() -> None:
    responder, _, _ = _loopback()
    config = RequesterConfig(base_asym_algo=BaseAsymAlgo.RSASSA_2048)
    with pytest.raises((PeerError, NegotiationError)):
        Requester(LoopbackTransport(responder.respond), config).init_connection()


@pytest.mark.parametrize("target", ["CHALLENGE_AUTH", "MEASUREMENTS", "CERTIFICATE", "ALGORITHMS"])
def test_a_tampered_response_is_rejected(target: str) -> None:
    responder, requester, _ = _loopback()

    class Tamper(Transport):
        def exchange(self, request: bytes, *, session_id: int | None = None, timeout: float | None = None) -> bytes:
            response = bytearray(responder.respond(request))
            names = {0x03: "CHALLENGE_AUTH", 0x60: "MEASUREMENTS", 0x02: "CERTIFICATE", 0x63: "ALGORITHMS"}
            if names.get(response[1]) == target:
                response[len(response) // 2] ^= 0x01
            return bytes(response)

    requester.transport = Tamper()
    with pytest.raises((VerificationError, NegotiationError, PeerError, DecodeError, ProtocolError)):
        requester.authenticate(0)


@pytest.mark.parametrize(
    ("rewrite", "reason"),
    [
        (lambda n, c: dataclasses.replace(c, slot_param=1), "CERTIFICATE for slot 1"),
        (lambda n, c: dataclasses.replace(c, portion=b""), "PortionLength 0"),
        (lambda n, c: dataclasses.replace(c, remainder_length=c.remainder_length + n - 1), "size changes"),
    ],
    ids=["another slot", "empty portion", "total changes"],
)
def test_certificate_portions_that_break_the_rules_are_invalid_responses(
    rewrite: Callable[[int, Certificate], Certificate], reason: str
) -> None:
    """The chain is read through `ChainPortions`: a portion that breaks its rules is the requester's
    InvalidResponseCode (not the device's ERROR), and no chain is kept for the slot."""
    responder, _, _ = _loopback()
    answered = 0

    def respond(request: bytes, session_id: int | None) -> bytes:
        nonlocal answered
        response = responder.respond(request, session_id)
        if response[1] != Code.CERTIFICATE:
            return response
        answered += 1
        message, _ = decode_prefix(response)
        assert isinstance(message, Certificate)
        return encode(rewrite(answered, message))

    requester = Requester(LoopbackTransport(respond), RequesterConfig(certificate_portion=0x100))
    requester.init_connection()
    requester.get_digests()
    with pytest.raises(ProtocolError, match=reason) as refused:
        requester.get_certificate(0)
    assert not isinstance(refused.value, PeerError)
    assert refused.value.error_code == ErrorCode.InvalidResponseCode
    assert 0 not in requester.chains


def test_each_exchange_times_out_per_ct_exponent() -> None:
    rsp, req = _pair(BaseAsymAlgo.ECDSA_P256, BaseHashAlgo.SHA_256, ct_exponent=20)
    responder = Responder(rsp)
    seen: list[tuple[int, float | None]] = []

    class Timed(Transport):
        def exchange(self, request: bytes, *, session_id: int | None = None, timeout: float | None = None) -> bytes:
            seen.append((request[1], timeout))
            return responder.respond(request)

    Requester(Timed(), RequesterConfig(trust_anchors=req.trust_anchors, rtt=0.5)).authenticate(0)
    timeouts = dict(seen)
    assert timeouts[0x84] == pytest.approx(0.5 + 0.1)  # GET_VERSION: RTT + ST1
    assert timeouts[0x83] == pytest.approx(0.5 + (1 << 20) / 1e6)  # CHALLENGE: RTT + 2^CTExponent us
    assert timeouts[0xE0] == pytest.approx(0.5 + (1 << 20) / 1e6)  # signed GET_MEASUREMENTS
