"""`spdm verify`: check a captured connection as the requester would have.

A passive replay of the capture: VCA is followed to learn the algorithms, the transcripts are
rebuilt from the exact bytes on the wire, each certificate chain is checked against its DIGESTS
digest and validated to the slot's trust anchor (at the capture's own time), every
CHALLENGE_AUTH, signed MEASUREMENTS and signed ENDPOINT_INFO signature is verified over its
transcript (the requester's ENDPOINT_INFO too, with its chain when it is given), the requester's
CHALLENGE_AUTH of basic mutual authentication in the clear too (`_MutualAuthentication`), every CSR's
self-signature, every KEY_EXCHANGE_RSP signature (with the session secrets or without them), and every
measurement extension log is put together and checked against the measurements (`spdm.verify.mel`).
Each check is one `Check`; a capture verifies when every check passed.

A verifier is a requester that reads the responses instead of asking for them: it follows the
connection in the clear with `spdm.verify.follower.ConnectionFollower` (the pairing of requests and
answers, the transcripts and their reset rules, VCA, DIGESTS, the chains and their validation), which
`spdm.verify.sessions` replays the sessions over, and adds the requester's response checks in
`spdm._checks` and the signatures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from spdm._checks import (
    check_capabilities,
    check_challenge_slot,
    check_csr,
    check_key_pair_info,
    check_measurements,
    check_multi_key_digests,
    check_opaque_data,
    check_requester_context,
)
from spdm.capture import CaptureSecrets, Pcap, exchanged, messages
from spdm.certs import CertChain, ChainPolicy, ChainPortions, load_certificate
from spdm.crypto import SignatureInput, asym_suite, hash_suite
from spdm.errors import DecodeError, SpdmError
from spdm.messages import Message
from spdm.messages.certificates import Certificate, Digests, GetCertificate, GetDigests
from spdm.messages.challenge import Challenge, ChallengeAuth
from spdm.messages.codes import CapabilityFlags, Code
from spdm.messages.encapsulated import (
    DeliverEncapsulatedResponse,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    GetEncapsulatedRequest,
    embedded_message,
    embedded_payload,
)
from spdm.messages.error import ErrorResponse
from spdm.messages.key_exchange import KeyExchangeRsp
from spdm.messages.key_pairs import GetKeyPairInfo, KeyPairInfo
from spdm.messages.measurements import GetMeasurements, Measurements
from spdm.messages.negotiation import Capabilities, GetCapabilities
from spdm.messages.provisioning import Csr, GetCsr
from spdm.negotiated import Negotiated
from spdm.portions import continued
from spdm.signing import SigningContext, signature_input
from spdm.transcript import ConnectionTranscript, Transcript, mutual_challenge_transcript
from spdm.verify.check import Check
from spdm.verify.endpoint_info import EndpointInfoWatch
from spdm.verify.follower import CERTIFICATE_ERRORS, ConnectionFollower, Followed
from spdm.verify.mel import MelChecks
from spdm.verify.pairing import RequestPairing
from spdm.verify.sessions import MissingSecretError, ReplayRecord, SessionReplayer, encapsulated_ack_check

__all__ = ["CaptureVerification", "Check", "verify_capture"]

_CAPABILITIES_CHECK = "CAPABILITIES is valid (flags, transfer sizes, CTExponent, Supported Algorithms)"


@dataclass(slots=True)
class CaptureVerification:
    """All checks of one capture; `covered` holds the records some verified signature covers. It verifies
    (`ok`) when no check failed and at least one was made."""

    checks: list[Check] = field(default_factory=list)
    covered: set[int] = field(default_factory=set)
    skipped_secured: int = 0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and any(c.passed for c in self.checks)

    @property
    def first_failure(self) -> Check | None:
        return next((c for c in self.checks if not c.ok), None)


@dataclass(frozen=True, slots=True)
class _RequesterSignature:
    """A signature by the requester's leaf key to check; `labels` the records it covers, `chain` the
    requester's chain the capture read (SPDM slot format), if it read one."""

    record: int
    name: str
    signed: SignatureInput
    signature: bytes
    labels: tuple[object, ...]
    chain: bytes | None = None


class _MutualAuthentication:
    """The requester's side of basic mutual authentication in the clear (the responder's encapsulated
    GET_DIGESTS, GET_CERTIFICATE and CHALLENGE after a CHALLENGE_AUTH that asked for it), checked as
    libspdm_rsp_encap_challenge.c checks it: the requester's chain, read portion by portion, against its
    DIGESTS digest; its CHALLENGE_AUTH's slot, RequesterContext and CertChainHash; and its signature over
    M1/M2 of the flow: A (from 1.2), mut B (the encapsulated DIGESTS and CERTIFICATE exchanges) and mut C
    (the CHALLENGE, the CHALLENGE_AUTH without its signature), as the requester signs it
    (`spdm.requester.encapsulated.EncapsulatedAnswers`)."""

    def __init__(self) -> None:
        self._mut: Transcript | None = None
        """A || mut B of the flow in progress (None outside one, and once its CHALLENGE_AUTH ended it)."""
        self._asked: tuple[Message, bytes] | None = None
        """The encapsulated request the requester answers next, decoded and exact."""
        self._outstanding = False
        """An encapsulated request was carried and is not answered yet (decoded or not)."""
        self._reading: ChainPortions | None = None
        self.digests: dict[int, bytes] = {}
        """The requester's last encapsulated DIGESTS, by slot."""
        self.chains: dict[int, bytes] = {}
        """The requester's chains read, by slot (SPDM slot format)."""

    def start(self, negotiated: Negotiated, transcript: ConnectionTranscript) -> None:
        """GET_ENCAPSULATED_REQUEST: a flow starts, and mut B and mut C with it (libspdm_rsp_encap_response.c)."""
        new = hash_suite(negotiated.base_hash_algo).new
        self._mut = mutual_challenge_transcript(
            new, negotiated.version, bytes(transcript.vca), tuple(transcript.vca_labels)
        )

    def ask(self, carrier: EncapsulatedRequest | EncapsulatedResponseAck, negotiated: Negotiated) -> None:
        """The encapsulated request `carrier` asks, if any. One that does not decode is left to
        `EndpointInfoWatch`, which fails the answer to it."""
        payload = embedded_payload(carrier)
        self._asked = None
        self._outstanding = payload is not None
        if payload is None:
            return
        try:
            asked, exact = embedded_message(payload, negotiated.codec_context(), 0)
        except DecodeError:
            return
        self._asked = (asked, exact)

    def answer(
        self, deliver: DeliverEncapsulatedResponse, record: int, negotiated: Negotiated
    ) -> list[Check | _RequesterSignature]:
        """The checks of the requester's answer that `deliver` (at `record`) carries, and the signature to check.
        An answer of another kind is `EndpointInfoWatch`'s to fail; an ERROR adds nothing. The signature
        covers the carried messages, not the carriers' own fields: of the records, A's alone count as covered."""
        asked, self._asked = self._asked, None
        outstanding, self._outstanding = self._outstanding, False
        if not outstanding:  # the responder took an answer to nothing: its flow had ended (PayloadType ABSENT)
            name = "DELIVER_ENCAPSULATED_RESPONSE answers an encapsulated request the responder asked"
            return [Check(record=record, name=name, ok=False, detail="no encapsulated request was outstanding")]
        mut = self._mut
        if asked is None or mut is None or not isinstance(asked[0], (GetDigests, GetCertificate, Challenge)):
            return []
        request, request_data = asked
        try:
            answer, exact = embedded_message(deliver.payload, negotiated.requester_response_context(), 0)
        except DecodeError as error:
            name = f"the requester's answer to the encapsulated {request.name} decodes"
            return [Check(record=record, name=name, ok=False, detail=str(error))]
        if isinstance(request, GetDigests) and isinstance(answer, Digests):
            mut.append(request_data, exact)
            self.digests = answer.by_slot()
        elif isinstance(request, GetCertificate) and isinstance(answer, Certificate):
            mut.append(request_data, exact)
            return self._portion(request, answer, record, negotiated)
        elif isinstance(request, Challenge) and isinstance(answer, ChallengeAuth):
            self._mut = None
            return self._challenge_auth(mut, (request, request_data), (answer, exact), record, negotiated)
        return []

    def _portion(
        self, asked: GetCertificate, answer: Certificate, record: int, negotiated: Negotiated
    ) -> list[Check | _RequesterSignature]:
        slot = asked.slot_id
        reading = self._reading = continued(self._reading, asked.offset, lambda: ChainPortions(slot))
        try:
            chain = reading.add(asked, answer)
        except ValueError as error:
            self._reading = None
            name = f"requester slot {slot} certificate portions make one chain"
            return [Check(record=record, name=name, ok=False, detail=str(error))]
        if chain is None:
            return []
        self._reading = None
        self.chains[slot] = chain
        name = f"requester slot {slot} certificate chain matches its encapsulated DIGESTS digest"
        digest = self.digests.get(slot)
        if digest is None:
            return [Check(record=record, name=name, ok=False, detail="the requester's DIGESTS lists no such slot")]
        same = hash_suite(negotiated.base_hash_algo).digest(chain) == digest
        return [Check(record=record, name=name, ok=same, detail="" if same else "digest mismatch")]

    def _challenge_auth(
        self,
        mut: Transcript,
        challenge: tuple[Challenge, bytes],
        auth: tuple[ChallengeAuth, bytes],
        record: int,
        negotiated: Negotiated,
    ) -> list[Check | _RequesterSignature]:
        (asked, asked_data), (answer, answer_data) = challenge, auth
        slot = asked.slot_id
        found: list[Check | _RequesterSignature] = []
        name = "the requester's CHALLENGE_AUTH answers the encapsulated CHALLENGE (slot, RequesterContext)"
        try:
            check_requester_context(asked.requester_context, answer)
            check_challenge_slot(slot, answer)
            found.append(Check(record=record, name=name, ok=True))
        except SpdmError as error:
            found.append(Check(record=record, name=name, ok=False, detail=str(error)))
        hashes = hash_suite(negotiated.base_hash_algo)
        chain = self.chains.get(slot)
        name = f"the requester's CHALLENGE_AUTH CertChainHash is the hash of its slot {slot} chain"
        if chain is None:
            found.append(Check.not_checked(record, name, "the capture reads no chain of that slot"))
        else:
            same = hashes.digest(chain) == answer.cert_chain_hash
            found.append(Check(record=record, name=name, ok=same, detail="" if same else "hash mismatch"))
        unsigned = answer_data[: len(answer_data) - len(answer.signature)]
        digest = mut.digest(asked_data, unsigned)
        signed = signature_input(hashes, negotiated.version, SigningContext.MUT_CHALLENGE_AUTH, digest)
        name = "encapsulated CHALLENGE_AUTH signature by the requester over M1/M2 (A, mut B, mut C)"
        found.append(_RequesterSignature(record, name, signed, answer.signature, tuple(mut.labels), chain))
        return found


class _Verifier:
    """The requester's checks, applied to the exchanges `follower` took as they went by."""

    def __init__(self, follower: ConnectionFollower, requester_chain: tuple[bytes, ...] = ()) -> None:
        self.follower = follower
        self.transcript = follower.transcript
        self.requester_chain = requester_chain
        self.endpoint_info = EndpointInfoWatch()
        self.result = CaptureVerification()
        self.mel = MelChecks()
        self.mutual = _MutualAuthentication()

    @property
    def negotiated(self) -> Negotiated | None:
        return self.follower.negotiated

    def check(self, record: int, name: str, detail: str = "") -> None:
        self.result.checks.append(Check(record=record, name=name, ok=True, detail=detail))

    def not_checked(self, record: int, name: str, why: str) -> None:
        self.result.checks.append(Check.not_checked(record, name, why))

    def fail(self, record: int, name: str, error: Exception) -> None:
        self.result.checks.append(Check(record=record, name=name, ok=False, detail=str(error)))

    def take(self, followed: Followed, *, session_handshake: bool = False) -> None:
        """The checks of one message in the clear, once the follower took it (and its exchange, if it ended one).
        `session_handshake`: the message belongs to a DHE handshake in the clear, whose encapsulated flow is
        the session replay's to check (Hash(CM)), not basic mutual authentication."""
        self.result.checks.extend(followed.checks)
        request, response = followed.request, followed.response
        if request is None or response is None:
            return
        ask, answer = request.message, response.message
        if ask is None or answer is None:
            return
        if self.negotiated is not None:
            labels = (*self.transcript.vca_labels, request.index)
            self.watch(self.endpoint_info, self.negotiated, ask, request.data, request.index, labels)
            labels = (*labels, response.index)
            self.watch(self.endpoint_info, self.negotiated, answer, response.data, response.index, labels)
        if isinstance(answer, ErrorResponse):
            return
        if session_handshake and isinstance(ask, (GetEncapsulatedRequest, DeliverEncapsulatedResponse)):
            return
        handler = _HANDLERS.get(type(ask))
        if handler is not None:
            handler(self, ask, answer, request.data, response.data, (request.index, response.index))
        self.result.checks.extend(self.mel.pair(ask, answer, response.index, self.negotiated))

    # --- VCA -----------------------------------------------------------------------------

    def capabilities(self, ask: Message, answer: Message, req: bytes, rsp: bytes, labels: tuple[int, int]) -> None:
        """CAPABILITIES as the requester checks it (the follower takes A and the outcome of VCA)."""
        if isinstance(answer, Capabilities) and isinstance(ask, GetCapabilities):
            try:
                check_capabilities(ask, answer)
                self.check(labels[1], _CAPABILITIES_CHECK)
            except SpdmError as error:
                self.fail(labels[1], _CAPABILITIES_CHECK, error)

    # --- certificates --------------------------------------------------------------------

    def digests_(self, ask: Message, answer: Message, req: bytes, rsp: bytes, labels: tuple[int, ...]) -> None:
        if not isinstance(answer, Digests) or self.negotiated is None:
            return
        if answer.key_pair_ids is not None:
            name = "DIGESTS multi-key fields (KeyPairID, CertificateInfo, KeyUsageMask)"
            try:
                check_multi_key_digests(answer)
                self.check(labels[-1], name)
            except SpdmError as error:
                self.fail(labels[-1], name, error)

    def key_pair_info(self, ask: Message, answer: Message, req: bytes, rsp: bytes, labels: tuple[int, ...]) -> None:
        """KEY_PAIR_INFO as a requester accepts it (1.3; nothing signs it, so this is all there is to check),
        in the clear or in a session (`labels` ends with the answer's record)."""
        if not isinstance(ask, GetKeyPairInfo) or not isinstance(answer, KeyPairInfo) or self.negotiated is None:
            return
        name = f"KEY_PAIR_INFO of key pair {ask.key_pair_id} is well formed"
        settable = self.negotiated.responder_has(CapabilityFlags.SET_KEY_PAIR_INFO_CAP)
        try:
            check_key_pair_info(answer, ask.key_pair_id, settable=settable)
            self.check(labels[-1], name)
        except SpdmError as error:
            self.fail(labels[-1], name, error)

    # --- challenge and measurements ------------------------------------------------------

    def challenge(self, ask: Message, answer: Message, req: bytes, rsp: bytes, labels: tuple[int, int]) -> None:
        if not isinstance(ask, Challenge) or not isinstance(answer, ChallengeAuth) or self.negotiated is None:
            return
        negotiated, record, slot = self.negotiated, labels[1], ask.slot_id
        name = "CHALLENGE_AUTH answers the request (slot, RequesterContext, OpaqueData)"
        try:  # the requester's checks, in its order (`spdm.requester.connection`)
            check_requester_context(ask.requester_context, answer)
            check_opaque_data(answer, negotiated)
            check_challenge_slot(slot, answer)
            self.check(record, name)
        except SpdmError as error:
            self.fail(record, name, error)
        suite = hash_suite(negotiated.base_hash_algo)
        signed = rsp[: len(rsp) - len(answer.signature)]
        digest = self.transcript.challenge_digest(req, signed, labels=labels)
        name = f"CHALLENGE_AUTH CertChainHash is the hash of slot {slot}'s chain"
        chain = self.follower.chains.get(slot)
        if chain is not None and suite.digest(chain) == answer.cert_chain_hash:
            self.check(record, name)
        else:
            self.fail(record, name, ValueError("no such chain seen" if chain is None else "hash mismatch"))
        self.signature(
            negotiated, record, "CHALLENGE_AUTH signature over M1/M2 (A, B, C)", slot, digest, answer.signature
        )
        self.transcript.challenge_done()

    def measurements(self, ask: Message, answer: Message, req: bytes, rsp: bytes, labels: tuple[int, int]) -> None:
        if not isinstance(ask, GetMeasurements) or not isinstance(answer, Measurements) or self.negotiated is None:
            return
        self.measurement_answer(self.transcript, self.negotiated, ask, answer, (req, rsp), labels, "")

    def measurement_answer(
        self,
        transcript: ConnectionTranscript,
        negotiated: Negotiated,
        ask: GetMeasurements,
        answer: Measurements,
        exact: tuple[bytes, bytes],
        labels: tuple[int, ...],
        where: str,
    ) -> None:
        """A MEASUREMENTS as the requester takes it (`spdm.requester.measurements`), in the clear or
        in a session (`where`): checked, then added to M or its signature checked over L1/L2 with the
        slot the request named; a refused answer restarts M, as libspdm's requester does."""
        request, response = exact
        record = labels[-1]
        name = f"{where}MEASUREMENTS answers the request"
        try:  # the requester's checks, in its order (`spdm.requester.measurements`)
            check_requester_context(ask.requester_context, answer)
            check_measurements(ask, answer, negotiated)
        except SpdmError as error:
            self.fail(record, name, error)
            transcript.restart_measurements()
            return
        self.check(record, name)
        if answer.signature is None:
            transcript.add_measurements(request, response, labels=labels)
            return
        signed = response[: len(response) - len(answer.signature)]
        digest = transcript.measurements_digest(request, signed, labels=labels)
        name = f"{where}MEASUREMENTS signature over L1/L2"
        self.signature(negotiated, record, name, ask.slot_id, digest, answer.signature)

    def csr(self, ask: Message, answer: Message, req: bytes, rsp: bytes, labels: tuple[int, ...]) -> None:
        """CSR as the requester takes it: signed by the key it names."""
        if not isinstance(ask, GetCsr) or not isinstance(answer, Csr):
            return
        name = "CSR is a PKCS #10 request signed by the key it names"
        try:
            check_csr(answer.csr)
        except SpdmError as error:
            self.fail(labels[-1], name, error)
            return
        self.check(labels[-1], name)

    # --- basic mutual authentication -----------------------------------------------------

    def encapsulated_request(
        self, ask: Message, answer: Message, req: bytes, rsp: bytes, labels: tuple[int, int]
    ) -> None:
        """GET_ENCAPSULATED_REQUEST starts an encapsulated flow in the clear, ENCAPSULATED_REQUEST asks its first."""
        if isinstance(answer, EncapsulatedRequest) and self.negotiated is not None:
            self.mutual.start(self.negotiated, self.transcript)
            self.mutual.ask(answer, self.negotiated)

    def delivered(self, ask: Message, answer: Message, req: bytes, rsp: bytes, labels: tuple[int, int]) -> None:
        """The requester's answer to an encapsulated request in the clear, then the next request the ACK carries."""
        negotiated = self.negotiated
        if not isinstance(ask, DeliverEncapsulatedResponse) or negotiated is None:
            return
        if not isinstance(answer, EncapsulatedResponseAck):  # refused: the responder took nothing
            return
        self.result.checks.append(encapsulated_ack_check(labels[1], answer, ask.request_id))
        for found in self.mutual.answer(ask, labels[0], negotiated):
            if isinstance(found, Check):
                self.result.checks.append(found)
            else:
                self.requester_signature(negotiated, found)
        self.mutual.ask(answer, negotiated)

    def watch(
        self,
        watch: EndpointInfoWatch,
        negotiated: Negotiated,
        msg: Message,
        data: bytes,
        record: int,
        labels: tuple[object, ...],
    ) -> None:
        """The next message of an ENDPOINT_INFO conversation; its signature checked, if it carries one
        (`labels`: the records it covers)."""
        try:
            found = watch.observe(msg, data, negotiated, bytes(self.transcript.vca))
        except DecodeError as error:
            self.fail(record, "encapsulated ENDPOINT_INFO decodes and answers its request", error)
            return
        if found is None:
            return
        if found.slot is not None:
            self.signature(negotiated, record, found.name, found.slot, found.signed, found.signature, labels)
        else:
            signature = _RequesterSignature(record, found.name, found.signed, found.signature, labels)
            self.requester_signature(negotiated, signature)

    def requester_signature(self, negotiated: Negotiated, found: _RequesterSignature) -> None:
        """A signature by the requester's leaf key: of the chain the capture read (`found.chain`), else of
        the chain given with the secrets. Nothing anchors the requester's chain, so neither is validated."""
        record, name = found.record, found.name
        hashes = hash_suite(negotiated.base_hash_algo)
        try:
            if found.chain is not None:
                leaf = CertChain.from_bytes(found.chain, hashes.size).leaf
                how = "by the requester's leaf read in the capture; that chain was not validated (no trust anchor)"
            elif self.requester_chain:
                leaf, how = self.requester_chain[-1], "by the requester's leaf as given"
            else:
                self.not_checked(record, name, "the requester's certificate chain is not given")
                return
            key = load_certificate(leaf).public_key()
            asym_suite(negotiated.req_base_asym_alg).verify(key, found.signed, found.signature, hashes)
        except CERTIFICATE_ERRORS as error:
            self.fail(record, name, error)
            return
        self.check(record, name, how)
        self.result.covered.update(int(label) for label in found.labels if isinstance(label, int))

    def signature(
        self,
        negotiated: Negotiated,
        record: int,
        name: str,
        slot: int,
        signed: SignatureInput,
        signature: bytes,
        labels: tuple[object, ...] | None = None,
    ) -> None:
        """A signature by the leaf key of the responder's `slot`; `labels` the records it covers (by
        default what the connection transcript last signed)."""
        check = self.follower.signature_check(negotiated, record, name, slot, signed, signature)
        self.result.checks.append(check)
        if not check.ok:
            return
        covered = self.transcript.signed_labels if labels is None else labels
        self.result.covered.update(int(label) for label in covered if isinstance(label, int))


class _SessionChecks:
    """Turns the session replay's findings into checks, and checks signed measurements in sessions."""

    def __init__(self, verifier: _Verifier) -> None:
        self.verifier = verifier
        self.measurements: dict[int, ConnectionTranscript] = {}
        """Each session's L1/L2."""
        self.pairings: dict[int, RequestPairing[tuple[Message, bytes]]] = {}
        """Each session's request that awaits its answer (still after ResponseNotReady)."""
        self.endpoint_info: dict[int, EndpointInfoWatch] = {}
        """Each session's GET_ENDPOINT_INFO exchanges (IL: the connection's A, then the exchange)."""

    def record(self, record: ReplayRecord, replayer: SessionReplayer) -> None:
        self.verifier.result.checks.extend(record.checks)
        if any(check.passed for check in record.checks):
            self.verifier.result.covered.add(record.index)
        if isinstance(record.error, MissingSecretError):  # an input not given: a check not made (README)
            self.verifier.not_checked(record.index, "session record opens and decodes", str(record.error))
            return
        if record.error is not None:
            self.verifier.fail(record.index, "session record opens and decodes", record.error)
            return
        if record.secured:
            name = record.message.name if record.message is not None else "?"
            self.verifier.check(record.index, f"secured record opens: {name} under {record.keys} keys")
            self.verifier.result.covered.add(record.index)
        seen = record.exchanged
        if seen is not None and record.secured:
            msg, data = seen
            pairing = self.pairings.setdefault(record.session, RequestPairing())
            asked = None
            if msg.code.is_request:
                # the connection's reset rule for a request inside a session (B and C, before authentication)
                self.verifier.transcript.before_session_request(msg.code)
                pairing.request(msg, (msg, data))
            else:
                asked = pairing.response(msg)
                if asked is not None:
                    found = self.verifier.mel.pair(asked[0], msg, record.index, replayer.negotiated, record.session)
                    self.verifier.result.checks.extend(found)
                    self.verifier.csr(asked[0], msg, asked[1], data, (record.index,))
                    self.verifier.digests_(asked[0], msg, asked[1], data, (record.index,))
                    self.verifier.key_pair_info(asked[0], msg, asked[1], data, (record.index,))
            self._measurements(record, msg, data, asked, replayer)
            if replayer.negotiated is not None:
                watch = self.endpoint_info.setdefault(record.session, EndpointInfoWatch())
                labels = (*self.verifier.transcript.vca_labels, record.index)
                self.verifier.watch(watch, replayer.negotiated, msg, data, record.index, labels)

    def without_secrets(self, record: ReplayRecord) -> None:
        """A session's message in the clear when no secrets are given: what needs none is checked
        (KEY_EXCHANGE_RSP's Hash(Ct) and signature), and what needs a secret (the keys, the verify data)
        is a check not made, with the reason. The record is not counted as covered: its verify data is unchecked."""
        self.verifier.result.checks.extend(record.checks)
        error = record.error
        if error is None:
            return
        # a KEY_EXCHANGE_RSP left without checks lacks the responder's chain, not a secret: it fails as with secrets
        unsigned = isinstance(record.message, KeyExchangeRsp) and not record.checks
        if isinstance(error, MissingSecretError) and not unsigned:
            self.verifier.not_checked(record.index, "session keys and verify data", f"{error} (no secrets given)")
        else:
            self.verifier.fail(record.index, "session record opens and decodes", error)

    def _measurements(
        self,
        record: ReplayRecord,
        msg: Message,
        data: bytes,
        asked: tuple[Message, bytes] | None,
        replayer: SessionReplayer,
    ) -> None:
        """In-session L1/L2: each session keeps its own M, under the connection's reset rules. `asked` is
        the request a response answers."""
        negotiated = replayer.negotiated
        if negotiated is None:
            return
        if record.session not in self.measurements:
            self.measurements[record.session] = self.verifier.transcript.for_session()
        transcript = self.measurements[record.session]
        if msg.code.is_request:
            transcript.before_request(msg.code)
            return
        if isinstance(msg, ErrorResponse):
            transcript.after_error(msg.error_code)
            return
        if not isinstance(msg, Measurements) or asked is None or not isinstance(asked[0], GetMeasurements):
            return
        self.verifier.measurement_answer(
            transcript, negotiated, asked[0], msg, (asked[1], data), (record.index,), "in-session "
        )


_HANDLERS = {
    GetCapabilities: _Verifier.capabilities,
    GetDigests: _Verifier.digests_,
    Challenge: _Verifier.challenge,
    GetMeasurements: _Verifier.measurements,
    GetKeyPairInfo: _Verifier.key_pair_info,
    GetCsr: _Verifier.csr,
    GetEncapsulatedRequest: _Verifier.encapsulated_request,
    DeliverEncapsulatedResponse: _Verifier.delivered,
}


def verify_capture(
    pcap: Pcap,
    trust_anchors: Mapping[int, bytes],
    *,
    chain_policy: ChainPolicy | None = None,
    secrets: CaptureSecrets | None = None,
) -> CaptureVerification:
    """Run every check the capture allows; certificates are judged at each record's own time, under
    `chain_policy` (the default `ChainPolicy()` when None).

    With `secrets` (the PSK, the DHE secrets in session order) the sessions are replayed too:
    verify data, every secured record's AEAD tag and sequence number, key updates, and signed
    measurements inside sessions. Without them, secured records are counted in `skipped_secured`;
    KEY_EXCHANGE_RSP signatures are checked either way (they need no secret).
    """
    requester = () if secrets is None else secrets.requester_chain
    stand_ins = None if secrets is None else secrets.responder_chains
    follower = ConnectionFollower(trust_anchors, chain_policy, stand_ins)
    verifier = _Verifier(follower, requester)
    sessions = _SessionChecks(verifier)
    replayer = SessionReplayer(secrets or CaptureSecrets(), follower)
    for item in messages(pcap):
        if item.error is not None:
            verifier.fail(item.index, "record decodes", item.error)
            continue
        if item.kind == "other":
            # a foreign DOE object / MCTP message type: an SPDM capture carries none, and a record
            # whose framing was altered must not silently drop out of the transcripts
            verifier.fail(item.index, "record carries SPDM", ValueError("foreign DOE vendor/type or MCTP message type"))
            continue
        if item.kind == "secured":
            if secrets is None:
                verifier.result.skipped_secured += 1
                continue
            record = replayer.feed(item)
            if record is not None:
                sessions.record(record, replayer)
            continue
        seen = exchanged(item)
        if seen is None or seen.kind != "spdm" or seen.message is None:
            continue  # the rest of a large-message transfer, or DOE discovery
        if seen.message.code == Code.GET_VERSION:
            verifier.result.checks.extend(verifier.mel.restart(seen.index))
            verifier.mutual = _MutualAuthentication()
        try:
            followed = follower.follow(seen)
        except SpdmError as error:
            verifier.fail(seen.index, "the message follows the connection", error)
            continue
        record = replayer.clear(seen, followed)
        if record is not None and secrets is None:
            sessions.without_secrets(record)
        elif record is not None:
            sessions.record(record, replayer)
        verifier.take(followed, session_handshake=record is not None and record.session_id is not None)
    verifier.result.checks.extend(verifier.mel.finish())
    return verifier.result
