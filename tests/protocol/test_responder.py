"""The responder's behaviour request by request: answers, every ERROR with its code, and state kept.

Each refusal is checked for its exact ErrorCode (and ErrorData where the spec defines one), and
most are followed by a complete, signature-checked flow in the same connection to show that the
ERROR left the state and the transcripts intact.
"""

from __future__ import annotations

import dataclasses
import datetime
import struct

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from responder_peer import (
    ALL_ASYM,
    LIBSPDM_STRUCTS,
    NONCE,
    SESSION_FLAGS,
    Peer,
    error_of,
    offer,
)

from spdm.crypto import asym_suite, hash_suite
from spdm.errors import ProtocolError, VerificationError
from spdm.measurements import StaticMeasurements, block_bytes
from spdm.messages import decode, encode
from spdm.messages.certificates import Certificate, Digests, GetCertificate, GetDigests
from spdm.messages.challenge import Challenge, ChallengeAuth
from spdm.messages.codes import (
    AlgType,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    Code,
    ErrorCode,
    MeasurementHashAlgo,
)
from spdm.messages.error import ErrorResponse, RespondIfReady, ResponseNotReady
from spdm.messages.key_exchange import Finish
from spdm.messages.measurements import GetMeasurements, Measurements
from spdm.messages.negotiation import (
    Algorithms,
    AlgStruct,
    Capabilities,
    GetCapabilities,
    GetVersion,
    NegotiateAlgorithms,
    Version,
)
from spdm.messages.session_control import EndSession, Heartbeat, KeyUpdate
from spdm.messages.vendor import VendorDefinedRequest, VendorDefinedResponse
from spdm.responder import DEFAULT_CAPABILITIES, Responder, ResponderConfig, SlotIdentity, demo_config
from spdm.responder.state import TRANSITIONS, State, state_diagram
from spdm.signing import SigningContext, signature_input
from spdm.testing.pki import make_chain

E = ErrorCode
F = CapabilityFlags
CAPABILITIES_10 = GetCapabilities(version=0x10, reserved=None, ct_exponent=None, reserved2=None, flags=None)


@pytest.fixture(scope="module")
def config() -> ResponderConfig:
    return demo_config()


@pytest.fixture
def responder(config: ResponderConfig) -> Responder:
    return Responder(config)


@pytest.fixture
def peer(responder: Responder) -> Peer:
    return Peer(responder)


@pytest.fixture
def ready(peer: Peer) -> Peer:
    """A peer whose connection is negotiated (1.1, ECDSA P-384, SHA-512)."""
    peer.vca()
    return peer


# --- the happy paths -------------------------------------------------------------------------


def test_version_lists_the_configured_versions(peer: Peer, config: ResponderConfig) -> None:
    answer = peer.expect(GetVersion(), Version)
    assert answer.response == bytes.fromhex("10040000 0004 0010 0011 0012 0013".replace(" ", ""))
    only = Peer(Responder(dataclasses.replace(config, versions=(0x11,))))
    assert only.expect(GetVersion(), Version).response == bytes.fromhex("100400000001" + "0011")


def test_full_flow_v11(ready: Peer) -> None:
    negotiated = ready.negotiated
    assert negotiated is not None
    assert negotiated.base_asym_algo == BaseAsymAlgo.ECDSA_P384  # the only one the demo key signs
    assert negotiated.base_hash_algo == BaseHashAlgo.SHA_512  # libspdm's priority
    assert negotiated.measurement_hash_algo == MeasurementHashAlgo.SHA_384
    ready.full_flow()
    assert ready.responder.state is State.AUTHENTICATED


def test_full_flow_v10(config: ResponderConfig) -> None:
    peer = Peer(Responder(config), version=0x10)
    negotiated = peer.vca(offer(0x10))
    assert negotiated.responder_flags == DEFAULT_CAPABILITIES & 0x3F
    peer.expect_error(CAPABILITIES_10, E.UnexpectedRequest, 0)  # capabilities are done
    peer.full_flow()


def test_capabilities_show_only_the_versions_flags(config: ResponderConfig) -> None:
    flags = 0xFBF7  # libspdm's emulator: sessions too
    peer = Peer(Responder(dataclasses.replace(config, capabilities=flags)), version=0x10)
    peer.expect(GetVersion(), Version)
    assert peer.expect(CAPABILITIES_10, Capabilities).response == bytes.fromhex("106100000000000037000000")
    peer = Peer(Responder(dataclasses.replace(config, capabilities=flags)))
    peer.get_version()
    assert peer.capabilities(SESSION_FLAGS).flags == flags


def test_alg_structs_only_when_capabilities_use_them(config: ResponderConfig) -> None:
    plain = Peer(Responder(config))
    plain.vca(offer(structs=LIBSPDM_STRUCTS), flags=SESSION_FLAGS)
    assert plain.negotiated is not None and plain.negotiated.dhe_group == 0
    sessions = Peer(Responder(dataclasses.replace(config, capabilities=0xFBF7)))
    negotiated = sessions.vca(offer(structs=LIBSPDM_STRUCTS), flags=SESSION_FLAGS)
    # libspdm's choices from libspdm's offer (the captures' ALGORITHMS)
    assert (negotiated.dhe_group, negotiated.aead_suite, negotiated.req_base_asym_alg, negotiated.key_schedule) == (
        0x10,
        0x02,
        0x08,
        0x01,
    )
    sessions.full_flow()


def test_certificate_portions(ready: Peer, config: ResponderConfig) -> None:
    chain = ready.certificate(0, portion=100)
    assert chain == ready.certificate(0, portion=0xFFFF)
    assert struct.unpack_from("<H", chain)[0] == len(chain)
    last = ready.expect(GetCertificate(version=0x11, offset=len(chain) - 1, length=0xFFFF), Certificate).message
    assert isinstance(last, Certificate) and last.remainder_length == 0 and last.portion == chain[-1:]
    limited = Peer(Responder(dataclasses.replace(config, certificate_portion=64)))
    limited.vca()
    first = limited.expect(GetCertificate(version=0x11, offset=0, length=0xFFFF), Certificate).message
    assert isinstance(first, Certificate) and len(first.portion) == 64
    assert first.remainder_length == len(chain) - 64
    limited.full_flow()


@pytest.mark.parametrize("version", [0x12, 0x13])
def test_slot_size_requested(config: ResponderConfig, version: int) -> None:
    """From 1.3, SlotSizeRequested (Param2 bit 0) asks for the chain's size alone, whatever Offset and
    Length say; before 1.3 the bit is reserved and the request is an ordinary one. Either way the
    exchange is part of B, as libspdm logs it: the CHALLENGE signature that follows covers it."""
    peer = Peer(Responder(config), version=version)
    peer.vca(offer(version, structs=LIBSPDM_STRUCTS))
    chain = peer.certificate(0)
    got = peer.expect(GetCertificate(version=version, param2=1, offset=3, length=16), Certificate)
    peer.transcript.add_certificate_exchange(got.request, got.response)
    answer = got.message
    assert isinstance(answer, Certificate)
    if version >= 0x13:
        assert (answer.portion, answer.remainder_length) == (b"", len(chain))
    else:
        assert (answer.portion, answer.remainder_length) == (chain[3:19], len(chain) - 19)
    peer.challenge(0)


def test_challenge_summary_hashes(ready: Peer, config: ResponderConfig) -> None:
    negotiated = ready.negotiated
    assert negotiated is not None and config.measurements is not None
    suite = hash_suite(negotiated.base_hash_algo)
    blocks = config.measurements.blocks()
    everything = ready.challenge(0, summary=0xFF)
    assert everything.measurement_summary_hash == suite.digest(b"".join(block_bytes(b) for b in blocks))
    tcb = ready.challenge(0, summary=1)
    assert tcb.measurement_summary_hash == suite.digest(block_bytes(blocks[0]))  # the one immutable-ROM block
    assert ready.challenge(0, summary=0).measurement_summary_hash is None


def test_challenge_without_meas_cap_refuses_a_summary_hash(config: ResponderConfig) -> None:
    """A summary hash asked of a device without measurements is InvalidRequest, for CHALLENGE as for
    KEY_EXCHANGE and PSK_EXCHANGE (one rule; libspdm_rsp_challenge_auth.c refuses it the same way)."""
    peer = Peer(Responder(dataclasses.replace(config, capabilities=F.CERT_CAP | F.CHAL_CAP, measurements=None)))
    peer.vca()
    peer.expect_error(Challenge(version=0x11, summary_hash_type=0xFF, nonce=NONCE), E.InvalidRequest, 0)
    assert peer.challenge(0, summary=0).measurement_summary_hash is None
    peer.expect_error(GetMeasurements(version=0x11, operation=0), E.UnsupportedRequest, Code.GET_MEASUREMENTS)


def test_measurement_operations(ready: Peer, config: ResponderConfig) -> None:
    assert config.measurements is not None
    blocks = tuple(config.measurements.blocks())
    count = ready.measurements(0, signed=False)
    assert count.total_indices == len(blocks) and count.blocks == ()
    assert ready.measurements(0xFF, signed=False).blocks == blocks
    one = ready.measurements(3, signed=False)
    assert one.blocks == (blocks[2],) and one.total_indices == 0
    # the signature covers the unsigned pairs before it (L1/L2)
    signed = ready.measurements(5, signed=True)
    assert signed.slot_param == 0 and signed.signature is not None


def test_nonces_come_from_random(config: ResponderConfig) -> None:
    drawn: list[int] = []

    def random(size: int) -> bytes:
        drawn.append(size)
        return bytes([len(drawn)]) * size

    peer = Peer(Responder(dataclasses.replace(config, random=random)))
    peer.vca()
    assert peer.challenge().nonce == bytes([1]) * 32
    assert peer.measurements(0, signed=False).nonce == bytes([2]) * 32
    assert drawn == [32, 32]


def test_get_version_restarts_the_connection(ready: Peer) -> None:
    ready.digests()
    assert ready.responder.state is State.NEGOTIATED
    ready.expect(GetVersion(), Version)
    assert ready.responder.state is State.EXPECT_GET_CAPABILITIES
    ready.expect_error(GetDigests(version=0x11), E.UnexpectedRequest, 0)
    assert ready.responder.negotiated is None
    ready.vca()
    ready.full_flow()


def test_transport_padding(config: ResponderConfig) -> None:
    responder = Responder(dataclasses.replace(config, max_padding=3))
    assert decode(responder.respond(encode(GetVersion()) + bytes(3))).code == Code.VERSION
    assert error_of(responder.respond(encode(GetVersion()) + bytes(4))).error_code == E.InvalidRequest
    assert error_of(responder.respond(encode(GetVersion()) + b"\x00\x01")).error_code == E.InvalidRequest


# --- ERROR: unknown, unsupported, out of order, wrong version ------------------------------


UNSERVED = sorted(
    {code for code in range(256)}
    - {
        int(c)
        for c in (
            Code.GET_VERSION,
            Code.GET_CAPABILITIES,
            Code.NEGOTIATE_ALGORITHMS,
            Code.GET_DIGESTS,
            Code.GET_CERTIFICATE,
            Code.CHALLENGE,
            Code.GET_MEASUREMENTS,
            Code.VENDOR_DEFINED_REQUEST,
            Code.RESPOND_IF_READY,
            Code.GET_ENDPOINT_INFO,  # the demo device serves it at 1.3 (before VCA: out of order)
        )
    }
)


@pytest.mark.parametrize("code", UNSERVED)
def test_unknown_codes_are_unsupported(responder: Responder, code: int) -> None:
    before = error_of(responder.respond(bytes([0x10, code, 0, 0])))
    assert (before.version, before.error_code, before.error_data) == (0x10, E.UnsupportedRequest, code)


def test_unsupported_in_every_state(ready: Peer) -> None:
    for code in (Code.KEY_EXCHANGE, Code.HEARTBEAT, 0x85, 0x00, Code.DIGESTS, 0xE2):
        error = ready.expect_error(bytes([0x11, code, 0, 0]), E.UnsupportedRequest, code)
        assert error.version == 0x11
    ready.full_flow()


REQUESTS_11 = {
    Code.GET_CAPABILITIES: GetCapabilities(version=0x11),
    Code.NEGOTIATE_ALGORITHMS: offer(),
    Code.GET_DIGESTS: GetDigests(version=0x11),
    Code.GET_CERTIFICATE: GetCertificate(version=0x11, offset=0, length=0x400),
    Code.CHALLENGE: Challenge(version=0x11, nonce=NONCE),
    Code.GET_MEASUREMENTS: GetMeasurements(version=0x11, operation=0),
    Code.VENDOR_DEFINED_REQUEST: VendorDefinedRequest(version=0x11, standard_id=0, vendor_id=b"", payload=b""),
}


@pytest.mark.parametrize("code", sorted(REQUESTS_11))
def test_requests_before_get_version_are_unexpected(peer: Peer, code: Code) -> None:
    error = peer.expect_error(REQUESTS_11[code], E.UnexpectedRequest, 0)
    assert error.version == 0x10
    assert peer.responder.state is State.EXPECT_GET_VERSION
    peer.vca()
    peer.full_flow()


def test_out_of_order(peer: Peer) -> None:
    peer.get_version()
    for code in (Code.NEGOTIATE_ALGORITHMS, Code.GET_DIGESTS, Code.CHALLENGE, Code.GET_MEASUREMENTS):
        peer.expect_error(REQUESTS_11[code], E.UnexpectedRequest, 0)
    peer.capabilities()
    for code in (Code.GET_CAPABILITIES, Code.GET_DIGESTS, Code.GET_CERTIFICATE, Code.VENDOR_DEFINED_REQUEST):
        peer.expect_error(REQUESTS_11[code], E.UnexpectedRequest, 0)
    peer.algorithms(offer())
    peer.expect_error(GetCapabilities(version=0x11), E.UnexpectedRequest, 0)
    peer.expect_error(offer(), E.UnexpectedRequest, 0)
    peer.full_flow()


def test_respond_if_ready_without_a_pending_request(ready: Peer) -> None:
    """libspdm_rsp_respond_if_ready.c: a RequestCode that is not the pending one's is InvalidRequest."""
    ready.expect_error(RespondIfReady(version=0x11, request_code=Code.GET_DIGESTS, token=0), E.InvalidRequest)
    ready.full_flow()


def test_wrong_version_bytes(peer: Peer) -> None:
    error = peer.expect_error(GetVersion(version=0x11), E.VersionMismatch, 0)
    assert error.version == 0x10
    peer.get_version()
    too_new = GetCapabilities(version=0x14, data_transfer_size=0x1200, max_spdm_msg_size=0x1200)
    peer.expect_error(too_new, E.VersionMismatch, 0)
    peer.expect_error(GetCapabilities(version=0x01), E.VersionMismatch, 0)
    assert peer.responder.state is State.EXPECT_GET_CAPABILITIES
    peer.capabilities()
    peer.expect_error(offer(0x10), E.VersionMismatch, 0)
    peer.algorithms(offer())
    for request in (
        GetDigests(version=0x10),
        GetVersion(version=0x11),
        GetCapabilities(version=0x10, reserved=None, ct_exponent=None, reserved2=None, flags=None),
        Challenge(version=0x12, nonce=NONCE),
    ):
        error = peer.expect_error(request, E.VersionMismatch, 0)
        assert error.version == (0x10 if request.code == Code.GET_VERSION else 0x11)
    peer.full_flow()


def test_version_mismatch_after_negotiating_10(config: ResponderConfig) -> None:
    peer = Peer(Responder(config), version=0x10)
    peer.vca(offer(0x10))
    error = peer.expect_error(GetDigests(version=0x11), E.VersionMismatch)
    assert error.version == 0x10
    peer.full_flow()


# --- ERROR: malformed bodies -----------------------------------------------------------------


def test_too_short_and_too_long(ready: Peer, config: ResponderConfig) -> None:
    for data in (b"", b"\x11", b"\x11\x81", b"\x11\x81\x00"):
        ready.expect_error(data, E.InvalidRequest, 0)
    ready.expect_error(bytes([0x11, Code.GET_DIGESTS, 0, 0]) + bytes(config.limits.max_request_bytes), E.InvalidRequest)
    ready.full_flow()


def test_malformed_vca(peer: Peer) -> None:
    peer.expect_error(encode(GetVersion()) + b"\x00", E.InvalidRequest)
    peer.expect_error(encode(GetVersion())[:3], E.InvalidRequest)
    peer.get_version()
    good = encode(GetCapabilities(version=0x11, flags=F.CERT_CAP | F.CHAL_CAP))
    peer.expect_error(good[:8], E.InvalidRequest)
    peer.expect_error(good + b"\x00", E.InvalidRequest)
    peer.expect_error(GetCapabilities(version=0x11, ct_exponent=32, flags=F.CERT_CAP | F.CHAL_CAP), E.InvalidRequest)
    for flags in (
        F.KEY_EX_CAP,  # no MAC/ENCRYPT
        F.MAC_CAP,  # MAC without a key exchange
        F.CERT_CAP,  # a certificate nothing uses
        F.CHAL_CAP,  # CHALLENGE without a certificate
        F.CERT_CAP | F.CHAL_CAP | F.PUB_KEY_ID_CAP,
        F.CERT_CAP | F.CHAL_CAP | F.PSK_CAP_WITH_CONTEXT | F.MAC_CAP,  # 10b is the responder's
        F.CERT_CAP | F.CHAL_CAP | F.MUT_AUTH_CAP,  # 1.1: needs ENCAP_CAP
    ):
        error = peer.expect_error(GetCapabilities(version=0x11, flags=flags), E.InvalidRequest, 0)
        assert error.version == 0x11  # the version is adopted before the flags are judged (libspdm)
    assert peer.responder.state is State.EXPECT_GET_CAPABILITIES
    peer.capabilities()
    peer.algorithms(offer())
    peer.full_flow()


def _capabilities_done(peer: Peer, flags: int = F.CERT_CAP | F.CHAL_CAP) -> None:
    peer.get_version()
    peer.capabilities(flags)


def _with_length(message: NegotiateAlgorithms, length: int) -> bytes:
    data = bytearray(encode(message))
    struct.pack_into("<H", data, 4, length)
    return bytes(data)


def test_malformed_negotiate_algorithms(peer: Peer) -> None:
    _capabilities_done(peer)
    good = offer(structs=LIBSPDM_STRUCTS)
    data = encode(good)
    bad = [
        _with_length(good, len(data) - 1),
        _with_length(good, len(data) + 4),
        data[:-4],  # Param1 says four AlgStructs, three follow
        data + bytes(4),
        bytes([0x11, Code.NEGOTIATE_ALGORITHMS, 5]) + data[3:],  # Param1 = 5
        encode(offer(structs=tuple(reversed(LIBSPDM_STRUCTS)))),  # AlgType must increase
        encode(offer(structs=(AlgStruct(alg_type=AlgType.DHE, alg_supported=0),))),  # an empty offer
        encode(offer(structs=(AlgStruct(alg_type=6, alg_supported=1),))),  # no such AlgType in 1.1
        encode(offer(structs=(AlgStruct(alg_type=1, alg_supported=1),))),
    ]
    for request in bad:
        peer.expect_error(request, E.InvalidRequest, 0)
    assert peer.responder.state is State.EXPECT_NEGOTIATE_ALGORITHMS
    peer.algorithms(good)
    peer.full_flow()


def test_no_common_algorithm(peer: Peer) -> None:
    _capabilities_done(peer)
    rsa = BaseAsymAlgo.RSASSA_2048 | BaseAsymAlgo.RSAPSS_3072 | BaseAsymAlgo.ECDSA_P256
    peer.expect_error(offer(asym=rsa), E.InvalidRequest)  # the demo key is P-384
    peer.expect_error(offer(asym=0), E.InvalidRequest)
    peer.expect_error(offer(hashes=0), E.InvalidRequest)
    peer.expect_error(offer(hashes=0x40), E.InvalidRequest)  # SM3 (1.2): not ours
    peer.expect_error(offer(spec=0x02), E.InvalidRequest)  # a measurement specification without DMTF
    peer.algorithms(offer(asym=BaseAsymAlgo.ECDSA_P384, hashes=BaseHashAlgo.SHA_256))
    peer.full_flow()


def test_no_common_session_algorithm(config: ResponderConfig) -> None:
    peer = Peer(Responder(dataclasses.replace(config, capabilities=0xFBF7)))
    _capabilities_done(peer, SESSION_FLAGS)
    no_dhe = (
        AlgStruct(alg_type=AlgType.AEAD, alg_supported=2),
        AlgStruct(alg_type=AlgType.KEY_SCHEDULE, alg_supported=1),
    )
    peer.expect_error(offer(structs=no_dhe), E.InvalidRequest)
    peer.expect_error(offer(structs=(AlgStruct(alg_type=AlgType.DHE, alg_supported=0x80), *no_dhe)), E.InvalidRequest)
    peer.algorithms(offer(structs=LIBSPDM_STRUCTS))
    peer.full_flow()


def test_malformed_requests_after_negotiation(ready: Peer) -> None:
    signed = encode(GetMeasurements(version=0x11, attributes=1, operation=1, nonce=NONCE, slot_id_param=0))
    for request in (
        encode(GetDigests(version=0x11)) + b"\x01",
        encode(GetCertificate(version=0x11, offset=0, length=16))[:7],
        encode(Challenge(version=0x11, nonce=NONCE))[:-1],
        signed[:-1],  # 1.1 carries SlotIDParam
        signed + b"\x00",
        bytes([0x11, Code.GET_MEASUREMENTS, 0, 1]) + NONCE,  # a nonce without SignatureRequested
    ):
        error = ready.expect_error(request, E.InvalidRequest, 0)
        assert error.version == 0x11
    ready.responder.answer_not_ready(1)
    ready.expect_error(GetDigests(version=0x11), E.ResponseNotReady)
    ready.expect_error(encode(RespondIfReady(version=0x11, request_code=0x81, token=0)) + b"\x00", E.InvalidRequest)
    ready.full_flow()


# --- ERROR: slots, offsets, indices -----------------------------------------------------------


def test_bad_slots(ready: Peer) -> None:
    for slot in (1, 7, 8, 15):
        ready.expect_error(GetCertificate(version=0x11, slot_param=slot, offset=0, length=16), E.InvalidRequest, 0)
    for slot in (1, 8, 0x10, 0xFF):
        ready.expect_error(Challenge(version=0x11, slot_id=slot, nonce=NONCE), E.InvalidRequest, 0)
    for slot in (1, 7, 0xF):
        request = GetMeasurements(version=0x11, attributes=1, operation=1, nonce=NONCE, slot_id_param=slot)
        ready.expect_error(request, E.InvalidRequest, 0)
    ready.expect_error(Challenge(version=0x11, summary_hash_type=2, nonce=NONCE), E.InvalidRequest, 0)
    ready.full_flow()


def test_bad_certificate_offset(ready: Peer) -> None:
    chain = ready.certificate(0)
    for offset in (len(chain), len(chain) + 1, 0xFFFF):
        ready.expect_error(GetCertificate(version=0x11, offset=offset, length=16), E.InvalidRequest, 0)
    ready.full_flow()


def test_absent_measurement_index(ready: Peer) -> None:
    ready.measurements(1, signed=False)
    for index in (6, 0x10, 0xFE):
        ready.expect_error(GetMeasurements(version=0x11, operation=index), E.InvalidRequest, 0)
    # the ERROR restarted L1/L2 on both sides: the signature covers only what follows it
    ready.measurements(2, signed=False)
    ready.measurements(3, signed=True)
    ready.full_flow()


def test_signed_measurements_without_the_capability(config: ResponderConfig) -> None:
    peer = Peer(Responder(dataclasses.replace(config, capabilities=F.CERT_CAP | F.CHAL_CAP | F.MEAS_CAP_NO_SIG)))
    peer.vca()
    peer.expect_error(
        GetMeasurements(version=0x11, attributes=1, operation=1, nonce=NONCE, slot_id_param=0), E.InvalidRequest, 0
    )
    peer.measurements(0xFF, signed=False)


def test_measurements_need_a_measurement_specification(peer: Peer) -> None:
    peer.vca(offer(spec=0))
    assert peer.negotiated is not None and peer.negotiated.measurement_hash_algo == 0
    peer.expect_error(GetMeasurements(version=0x11, operation=0), E.UnexpectedRequest, 0)
    peer.expect_error(Challenge(version=0x11, summary_hash_type=0xFF, nonce=NONCE), E.InvalidRequest, 0)
    peer.challenge()


def test_session_messages_are_refused(ready: Peer) -> None:
    error = error_of(ready.responder.respond(encode(GetDigests(version=0x11)), session_id=0xFFFE0001))
    assert (error.error_code, error.version) == (E.InvalidSession, 0x11)
    ready.full_flow()


# --- Busy and ResponseNotReady ----------------------------------------------------------------


def test_busy(ready: Peer) -> None:
    ready.responder.answer_busy(2)
    ready.expect_error(GetDigests(version=0x11), E.Busy, 0)
    ready.expect_error(GetVersion(), E.Busy, 0)
    ready.full_flow()


def test_busy_before_unexpected_but_after_unsupported(peer: Peer) -> None:
    peer.responder.answer_busy(2)
    peer.expect_error(bytes([0x10, Code.KEY_EXCHANGE, 0, 0]), E.UnsupportedRequest, Code.KEY_EXCHANGE)
    peer.expect_error(GetDigests(version=0x11), E.Busy)
    peer.expect_error(GetDigests(version=0x11), E.Busy)
    peer.expect_error(GetDigests(version=0x11), E.UnexpectedRequest)


def _not_ready(error: ErrorResponse) -> ResponseNotReady:
    assert error.error_code == E.ResponseNotReady and error.error_data == 0
    assert isinstance(error.extended_data, ResponseNotReady)
    return error.extended_data


def test_response_not_ready_and_respond_if_ready(ready: Peer) -> None:
    responder = ready.responder
    responder.answer_not_ready(1)
    pending = _not_ready(ready.expect_error(GetDigests(version=0x11), E.ResponseNotReady))
    assert (pending.rd_exponent, pending.request_code, pending.token, pending.rdtm) == (1, Code.GET_DIGESTS, 0, 2)
    wrong_token = RespondIfReady(version=0x11, request_code=Code.GET_DIGESTS, token=1)
    wrong_code = RespondIfReady(version=0x11, request_code=Code.GET_CERTIFICATE, token=0)
    ready.expect_error(wrong_token, E.InvalidRequest, 0)
    ready.expect_error(wrong_code, E.InvalidRequest, 0)
    ready.expect_error(RespondIfReady(version=0x10, request_code=Code.GET_DIGESTS, token=0), E.VersionMismatch)
    # the right one gets the real answer, recorded as if it came at once
    got = ready.expect(RespondIfReady(version=0x11, request_code=Code.GET_DIGESTS, token=0), Digests)
    ready.transcript.add_certificate_exchange(encode(GetDigests(version=0x11)), got.response)
    ready.expect_error(RespondIfReady(version=0x11, request_code=Code.GET_DIGESTS, token=0), E.InvalidRequest)
    ready.certificate(0)
    ready.challenge()  # M1/M2 covers the DIGESTS fetched through RESPOND_IF_READY
    # tokens advance; a repeated ResponseNotReady keeps the token
    responder.answer_not_ready(2, rd_exponent=3, rdtm=5)
    second = _not_ready(ready.expect_error(GetDigests(version=0x11), E.ResponseNotReady))
    assert (second.token, second.rd_exponent, second.rdtm) == (1, 3, 5)
    again = RespondIfReady(version=0x11, request_code=Code.GET_DIGESTS, token=1)
    assert _not_ready(ready.expect_error(again, E.ResponseNotReady)) == second
    ready.expect(again, Digests)
    ready.full_flow()


def test_not_ready_keeps_the_measurement_transcript(ready: Peer) -> None:
    ready.measurements(1, signed=False)
    ready.responder.answer_not_ready(1)
    ask = GetMeasurements(version=0x11, attributes=1, operation=2, nonce=NONCE, slot_id_param=0)
    pending = _not_ready(ready.expect_error(ask, E.ResponseNotReady))
    got = ready.expect(
        RespondIfReady(version=0x11, request_code=Code.GET_MEASUREMENTS, token=pending.token), Measurements, signed=True
    )
    answer = got.message
    assert isinstance(answer, Measurements) and answer.signature is not None
    unsigned = got.response[: -len(answer.signature)]
    # L1/L2 = the unsigned pair before the ResponseNotReady, then the signed one
    ready.verify(0, ready.transcript.measurements_digest(encode(ask), unsigned), answer.signature)


def test_vca_requests_are_never_answered_not_ready(peer: Peer) -> None:
    """DSP0274 forbids ResponseNotReady to GET_VERSION, GET_CAPABILITIES and NEGOTIATE_ALGORITHMS: the
    knob serves them as usual and answers the first request after them."""
    peer.responder.answer_not_ready(1)
    peer.vca()
    assert peer.responder.state is State.NEGOTIATED
    pending = _not_ready(peer.expect_error(GetDigests(version=0x11), E.ResponseNotReady))
    assert pending.request_code == Code.GET_DIGESTS


def test_not_ready_then_an_error_in_the_real_answer(ready: Peer) -> None:
    ready.responder.answer_not_ready(1)
    ask = GetCertificate(version=0x11, slot_param=3, offset=0, length=16)
    pending = _not_ready(ready.expect_error(ask, E.ResponseNotReady))
    ready.expect_error(
        RespondIfReady(version=0x11, request_code=Code.GET_CERTIFICATE, token=pending.token), E.InvalidRequest
    )
    ready.full_flow()


# --- vendor-defined ---------------------------------------------------------------------------


def test_vendor_defined(ready: Peer) -> None:
    pci = VendorDefinedRequest(version=0x11, standard_id=3, vendor_id=b"\x01\x00", payload=b"\x00\x01\x02")
    ready.expect_error(pci, E.UnsupportedRequest, Code.VENDOR_DEFINED_REQUEST)
    seen: list[VendorDefinedRequest] = []

    def handler(request: VendorDefinedRequest) -> bytes:
        seen.append(request)
        if request.payload == b"bad":
            raise ProtocolError(E.InvalidRequest, "bad payload")
        return request.payload[::-1]

    ready.responder.register_vendor_handler(3, b"\x01\x00", handler)
    answer = ready.expect(pci, VendorDefinedResponse).message
    assert answer == VendorDefinedResponse(version=0x11, standard_id=3, vendor_id=b"\x01\x00", payload=b"\x02\x01\x00")
    ready.expect_error(dataclasses.replace(pci, payload=b"bad"), E.InvalidRequest, 0)
    ready.expect_error(dataclasses.replace(pci, vendor_id=b"\x02\x00"), E.UnsupportedRequest, 0xFE)
    assert len(seen) == 2
    ready.full_flow()


# --- configuration ----------------------------------------------------------------------------


def test_config_is_checked(config: ResponderConfig) -> None:
    slot = config.slots[0]
    with pytest.raises(ValueError):
        ResponderConfig()  # CERT_CAP without a slot
    with pytest.raises(ValueError):
        ResponderConfig(slots={0: slot})  # MEAS_CAP without measurements
    with pytest.raises(ValueError):
        dataclasses.replace(config, versions=(0x14,))
    with pytest.raises(ValueError):
        dataclasses.replace(config, slots={8: slot})
    with pytest.raises(ValueError):
        dataclasses.replace(config, capabilities=F.MEAS_CAP_MASK | F.CERT_CAP)
    with pytest.raises(ValueError):
        dataclasses.replace(config, capabilities=DEFAULT_CAPABILITIES | F.KEY_EX_CAP)  # no MAC/ENCRYPT
    other = asym_suite(BaseAsymAlgo.ECDSA_P384).generate_private_key()
    with pytest.raises(ValueError):
        SlotIdentity(certificates=slot.certificates, private_key=other)
    with pytest.raises(ValueError):
        dataclasses.replace(config, certificate_portion=0)


def _p256_slot() -> SlotIdentity:
    key = asym_suite(BaseAsymAlgo.ECDSA_P256).generate_private_key()
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "pyspdm test P-256")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
        .not_valid_after(datetime.datetime(2044, 1, 1, tzinfo=datetime.timezone.utc))
        .sign(key, hashes.SHA256())
    )
    return SlotIdentity(certificates=(certificate.public_bytes(Encoding.DER),), private_key=key)


def test_slots_of_other_algorithms_are_left_out(config: ResponderConfig) -> None:
    """A P-256 slot beside the P-384 one: each connection uses the slots its algorithm can sign with."""
    responder = Responder(dataclasses.replace(config, slots={0: config.slots[0], 2: _p256_slot()}))
    p384 = Peer(responder)
    p384.vca(offer(asym=BaseAsymAlgo.ECDSA_P384 | BaseAsymAlgo.ECDSA_P256))
    assert p384.digests().slot_mask == 0b001
    p384.expect_error(GetCertificate(version=0x11, slot_param=2, offset=0, length=16), E.InvalidRequest)
    p384.full_flow()
    p256 = Peer(responder)
    p256.vca(offer(asym=BaseAsymAlgo.ECDSA_P256))
    assert p256.digests().slot_mask == 0b100
    p256.full_flow(slot=2)


def test_state_table_and_diagram() -> None:
    assert (State.EXPECT_GET_VERSION, Code.GET_DIGESTS) not in TRANSITIONS
    assert TRANSITIONS[(State.NEGOTIATED, Code.CHALLENGE)] is State.AUTHENTICATED
    assert all(TRANSITIONS[(state, Code.GET_VERSION)] is State.EXPECT_GET_CAPABILITIES for state in State)
    diagram = state_diagram()
    assert diagram.startswith("stateDiagram-v2") and "NEGOTIATED --> AUTHENTICATED: CHALLENGE" in diagram


def test_errors_leave_the_state_alone(ready: Peer) -> None:
    """Every kind of refusal in one connection, then the flow: nothing moved."""
    ready.digests()
    state = ready.responder.state
    for request in (
        b"\x11",
        bytes([0x11, 0xE4, 0, 0]),
        bytes([0x12, Code.GET_DIGESTS, 0, 0]),
        encode(GetCapabilities(version=0x11)),
        encode(GetDigests(version=0x11)) + b"\xff",
    ):
        error_of(ready.raw(request))
        assert ready.responder.state is state
    ready.full_flow()


def test_algorithms_response_bytes_match_libspdm_layout(config: ResponderConfig) -> None:
    peer = Peer(Responder(dataclasses.replace(config, capabilities=0xFBF7, versions=(0x11,))))
    peer.expect(GetVersion(), Version)
    peer.expect(GetCapabilities(version=0x11, flags=SESSION_FLAGS), Capabilities)
    got = peer.expect(
        offer(asym=BaseAsymAlgo.ECDSA_P384, hashes=BaseHashAlgo.SHA_384, structs=LIBSPDM_STRUCTS), Algorithms
    )
    # a_conn_ecdsap384_sha384_v11, record 12
    assert got.response.hex() == (
        "11630400340001000400000080000000020000000000000000000000000000000000000002201000032002000420080005200100"
    )


def test_measurement_provider_order_and_counts(config: ResponderConfig) -> None:
    assert isinstance(config.measurements, StaticMeasurements)
    peer = Peer(Responder(config))
    peer.vca()
    answer = peer.measurements(0xFF, signed=True)
    assert [b.index for b in answer.blocks] == [1, 2, 3, 4, 5]
    assert isinstance(peer.measurements(0, signed=True), Measurements)


def test_challenge_auth_fields(ready: Peer) -> None:
    answer = ready.challenge(0)
    assert isinstance(answer, ChallengeAuth)
    assert answer.slot_id == 0 and answer.slot_mask == 1 and not answer.basic_mut_auth_requested
    assert answer.opaque_data == b""
    assert ready.responder.negotiated.measurement_hash_algo == MeasurementHashAlgo.SHA_384  # type: ignore[union-attr]


def test_an_ed25519_slot_signs_from_12_only() -> None:
    """EdDSA exists from SPDM 1.2: a 1.1 offer cannot select it (the responder then has nothing to sign
    with); at 1.2 CHALLENGE_AUTH and MEASUREMENTS are Ed25519 signatures over the combined prefix and
    the transcript hash (checked with the slot's key: chain validation refuses EdDSA keys, see spdm.certs)."""
    issued = make_chain(BaseAsymAlgo.EDDSA_ED25519)
    slot = SlotIdentity(certificates=issued.certificates_der, private_key=issued.leaf_key)
    config = dataclasses.replace(demo_config(), slots={0: slot})
    old = Peer(Responder(config), version=0x11)
    old.get_version()
    old.capabilities()
    with_eddsa = ALL_ASYM | BaseAsymAlgo.EDDSA_ED25519
    old.expect_error(offer(0x11, asym=with_eddsa), E.InvalidRequest, 0)
    peer = Peer(Responder(config), version=0x12)
    negotiated = peer.vca(offer(0x12, asym=with_eddsa))
    assert negotiated.base_asym_algo == BaseAsymAlgo.EDDSA_ED25519
    peer.full_flow()
    with pytest.raises(VerificationError):
        suite = hash_suite(negotiated.base_hash_algo)
        peer.verify(0, signature_input(suite, 0x12, SigningContext.CHALLENGE_AUTH, bytes(suite.size)), bytes(64))


def test_a_malformed_12_get_capabilities_is_answered_at_12(config: ResponderConfig) -> None:
    """Found by SPDM-Responder-Validator case 2.4: once GET_CAPABILITIES is in order and of a version the
    responder offers, the ERROR for its body carries that version, as libspdm's does."""
    peer = Peer(Responder(config), version=0x12)
    peer.get_version()
    header = bytes.fromhex("12e10000 00000000 c6730000")
    for sizes in ("29000000 00800200", "01800200 00800200"):  # DataTransferSize 41; over MaxSPDMmsgSize
        error = error_of(peer.raw(header + bytes.fromhex(sizes.replace(" ", ""))))
        assert (error.version, error.error_code) == (0x12, E.InvalidRequest)
    assert peer.responder.state is State.EXPECT_GET_CAPABILITIES
    peer.capabilities()


@pytest.mark.parametrize(("version", "expected"), [(0x11, E.Unspecified), (0x12, E.SessionRequired)])
def test_a_session_request_in_the_clear(version: int, expected: int) -> None:
    """Found by SPDM-Responder-Validator cases 9.11, 12.4, 13.5 and 16.4: from 1.2 a session request
    outside a session is SessionRequired (libspdm_rsp_heartbeat.c and the others), before it Unspecified."""
    peer = Peer(Responder(demo_config(sessions=True)), version=version)
    peer.vca(offer(version, structs=LIBSPDM_STRUCTS), flags=SESSION_FLAGS)
    for request in (
        Heartbeat(version=version),
        KeyUpdate(version=version, operation=1, tag=1),
        EndSession(version=version),
        Finish(version=version, requester_verify_data=bytes(64)),
    ):
        peer.expect_error(request, expected, 0)
    peer.full_flow()
