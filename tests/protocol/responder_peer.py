"""A minimal requester for responder tests: sends requests, keeps the transcript, checks signatures.

It records exactly what a requester records (`ConnectionTranscript`, the same reset rules), so a
signature that verifies here verifies for any correct requester; it does no certificate
validation (the requester's tests do), only signature checks with the slot's leaf key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from spdm.crypto import SignatureInput, asym_suite, hash_suite
from spdm.messages import Message, decode, decode_prefix, encode
from spdm.messages.certificates import Certificate, Digests, GetCertificate, GetDigests
from spdm.messages.challenge import Challenge, ChallengeAuth
from spdm.messages.codes import AlgType, CapabilityFlags, Code, MeasurementSpecification
from spdm.messages.error import ErrorResponse
from spdm.messages.measurements import GetMeasurements, Measurements
from spdm.messages.negotiation import (
    DEFAULT_TRANSFER_SIZE,
    Algorithms,
    AlgStruct,
    Capabilities,
    GetCapabilities,
    GetVersion,
    NegotiateAlgorithms,
    Version,
)
from spdm.negotiated import Negotiated
from spdm.responder import Responder
from spdm.transcript import ConnectionTranscript

ALL_ASYM = 0x1FF
ALL_HASH = 0x3F
REQUESTER_FLAGS = int(CapabilityFlags.CERT_CAP | CapabilityFlags.CHAL_CAP)
SESSION_FLAGS = 0xF7C6  # libspdm's requester: CERT, CHAL, ENCRYPT, MAC, MUT_AUTH, KEY_EX, PSK, ENCAP, HBEAT, ...
LIBSPDM_STRUCTS = (
    AlgStruct(alg_type=AlgType.DHE, alg_supported=0x1B),
    AlgStruct(alg_type=AlgType.AEAD, alg_supported=0x06),
    AlgStruct(alg_type=AlgType.REQ_BASE_ASYM_ALG, alg_supported=0x0F),
    AlgStruct(alg_type=AlgType.KEY_SCHEDULE, alg_supported=0x01),
)
NONCE = bytes(range(32))


def offer(
    version: int = 0x11,
    *,
    asym: int = ALL_ASYM,
    hashes: int = ALL_HASH,
    spec: int = MeasurementSpecification.DMTF,
    structs: tuple[AlgStruct, ...] = (),
) -> NegotiateAlgorithms:
    return NegotiateAlgorithms(
        version=version,
        measurement_specification=spec,
        base_asym_algo=asym,
        base_hash_algo=hashes,
        alg_structs=structs,
        mel_specification=0 if version >= 0x13 else None,
    )


def error_of(response: bytes) -> ErrorResponse:
    """The ERROR a response must be."""
    message = decode(response)
    assert isinstance(message, ErrorResponse), message
    return message


@dataclass
class Exchange:
    request: bytes
    response: bytes
    message: Message


class Peer:
    """One requester talking to one responder in memory."""

    def __init__(self, responder: Responder, version: int = 0x11) -> None:
        self.responder = responder
        self.version = version
        self.transcript = ConnectionTranscript()
        self.negotiated: Negotiated | None = None
        self._caps_request: GetCapabilities | None = None
        self._caps: Capabilities | None = None

    # --- plumbing ------------------------------------------------------------------------

    def raw(self, request: bytes) -> bytes:
        """Send bytes as they are, without touching the transcript."""
        return self.responder.respond(request)

    def exchange(self, request: Message | bytes, *, summary: int = 0, signed: bool = False) -> Exchange:
        data = request if isinstance(request, bytes) else encode(request)
        response = self.responder.respond(data)
        context = None
        if self.negotiated is not None:
            context = self.negotiated.codec_context(summary_hash_type=summary, signature_requested=signed)
        message, size = decode_prefix(response, context)
        assert size == len(response), "the response has trailing bytes"
        if isinstance(message, ErrorResponse):
            self.transcript.after_error(message.error_code)
        elif data[1] != Code.RESPOND_IF_READY:
            # The reset rules of a request the responder accepted (a refused one resets nothing
            # there, whatever a requester that sent malformed bytes believes).
            self.transcript.before_request(data[1])
        return Exchange(data, response, message)

    def expect_error(self, request: Message | bytes, code: int, data: int | None = None) -> ErrorResponse:
        """Send and require ERROR `code` (and ErrorData `data` when given)."""
        message = self.exchange(request).message
        assert isinstance(message, ErrorResponse), f"expected ERROR 0x{code:02x}, got {message.name}"
        assert message.error_code == code, f"ERROR 0x{message.error_code:02x}, expected 0x{code:02x}"
        if data is not None:
            assert message.error_data == data, f"ErrorData 0x{message.error_data:02x}, expected 0x{data:02x}"
        return message

    def expect(self, request: Message | bytes, cls: type, **context: object) -> Exchange:
        exchange = self.exchange(request, **context)  # type: ignore[arg-type]
        assert isinstance(exchange.message, cls), exchange.message
        return exchange

    # --- the flow ------------------------------------------------------------------------

    def vca(
        self,
        algorithms: NegotiateAlgorithms | None = None,
        *,
        flags: int = REQUESTER_FLAGS,
    ) -> Negotiated:
        """GET_VERSION, GET_CAPABILITIES and NEGOTIATE_ALGORITHMS, recorded as a requester records them."""
        self.get_version()
        self.capabilities(flags)
        return self.algorithms(algorithms or offer(self.version))

    def get_version(self) -> Version:
        self.negotiated = None
        got = self.expect(GetVersion(), Version)
        self.transcript.add_vca(got.request, got.response)
        assert isinstance(got.message, Version)
        assert self.version in {entry >> 8 for entry in got.message.entries}
        return got.message

    def capabilities(self, flags: int = REQUESTER_FLAGS) -> Capabilities:
        ask = GetCapabilities(version=self.version, flags=flags)
        if self.version >= 0x12:
            ask = replace(ask, data_transfer_size=DEFAULT_TRANSFER_SIZE, max_spdm_msg_size=DEFAULT_TRANSFER_SIZE)
        if self.version < 0x11:
            ask = GetCapabilities(version=0x10, reserved=None, ct_exponent=None, reserved2=None, flags=None)
        got = self.expect(ask, Capabilities)
        self.transcript.add_vca(got.request, got.response)
        assert isinstance(got.message, Capabilities)
        self._caps_request, self._caps = ask, got.message
        return got.message

    def algorithms(self, algorithms: NegotiateAlgorithms) -> Negotiated:
        got = self.expect(algorithms, Algorithms)
        self.transcript.add_vca(got.request, got.response)
        assert self._caps_request is not None and self._caps is not None
        answer = got.message
        assert isinstance(answer, Algorithms)
        self.negotiated = Negotiated.from_vca(self.version, self._caps_request, self._caps, answer)
        self.transcript.set_hash(hash_suite(answer.base_hash_sel), self.version)
        return self.negotiated

    def digests(self) -> Digests:
        got = self.expect(GetDigests(version=self.version), Digests)
        self.transcript.add_certificate_exchange(got.request, got.response)
        assert isinstance(got.message, Digests)
        return got.message

    def certificate(self, slot: int = 0, portion: int = 0x400) -> bytes:
        """The whole chain of `slot`, read in portions of `portion` bytes."""
        chain = b""
        while True:
            ask = GetCertificate(version=self.version, slot_param=slot, offset=len(chain), length=portion)
            got = self.expect(ask, Certificate)
            self.transcript.add_certificate_exchange(got.request, got.response)
            answer = got.message
            assert isinstance(answer, Certificate)
            assert answer.slot_id == slot and 0 < len(answer.portion) <= portion
            chain += answer.portion
            if answer.remainder_length == 0:
                return chain

    def challenge(self, slot: int = 0, summary: int = 0) -> ChallengeAuth:
        context = bytes(8) if self.version >= 0x13 else None  # 1.3 RequesterContext
        ask = Challenge(
            version=self.version, slot_id=slot, summary_hash_type=summary, nonce=NONCE, requester_context=context
        )
        got = self.expect(ask, ChallengeAuth, summary=summary)
        answer = got.message
        assert isinstance(answer, ChallengeAuth)
        unsigned = got.response[: len(got.response) - len(answer.signature)]
        digest = self.transcript.challenge_digest(got.request, unsigned)
        self.verify(slot, digest, answer.signature)
        self.transcript.challenge_done()
        return answer

    def measurements(self, operation: int = 0xFF, *, signed: bool = True, slot: int = 0) -> Measurements:
        if signed:
            slot_param = slot if self.version >= 0x11 else None
            ask = GetMeasurements(
                version=self.version, attributes=1, operation=operation, nonce=NONCE, slot_id_param=slot_param
            )
        else:
            ask = GetMeasurements(version=self.version, operation=operation)
        got = self.expect(ask, Measurements, signed=signed)
        answer = got.message
        assert isinstance(answer, Measurements)
        if answer.signature is None:
            self.transcript.add_measurements(got.request, got.response)
        else:
            unsigned = got.response[: len(got.response) - len(answer.signature)]
            self.verify(slot, self.transcript.measurements_digest(got.request, unsigned), answer.signature)
        return answer

    def verify(self, slot: int, digest: SignatureInput, signature: bytes) -> None:
        negotiated = self.negotiated
        assert negotiated is not None
        key = self.responder.config.slots[slot].public_key
        asym_suite(negotiated.base_asym_algo).verify(key, digest, signature, hash_suite(negotiated.base_hash_algo))

    def full_flow(self, slot: int = 0) -> None:
        """Digests, the chain, CHALLENGE and signed measurements in the current connection, all verified."""
        digests = self.digests()
        chain = self.certificate(slot)
        negotiated = self.negotiated
        assert negotiated is not None
        assert hash_suite(negotiated.base_hash_algo).digest(chain) in digests.digests
        self.challenge(slot, summary=0xFF)
        self.measurements(1, signed=False)
        self.measurements(0xFF, signed=True, slot=slot)


__all__ = [
    "ALL_ASYM",
    "ALL_HASH",
    "LIBSPDM_STRUCTS",
    "NONCE",
    "REQUESTER_FLAGS",
    "SESSION_FLAGS",
    "Exchange",
    "Peer",
    "error_of",
    "offer",
]
