"""`spdm verify`: check a captured connection as the requester would have.

A passive replay of the capture: VCA is followed to learn the algorithms, the transcripts are
rebuilt from the exact bytes on the wire, each certificate chain is checked against its DIGESTS
digest and validated to the slot's trust anchor (at the capture's own time), every
CHALLENGE_AUTH, signed MEASUREMENTS and signed ENDPOINT_INFO signature is verified over its
transcript (the requester's ENDPOINT_INFO too, with its chain when it is given), and every
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

from spdm._checks import check_key_pair_info, check_measurements, check_multi_key_digests, check_responder_flags
from spdm.capture import CaptureSecrets, Pcap, exchanged, messages
from spdm.certs import ChainPolicy, load_certificate
from spdm.crypto import SignatureInput, asym_suite, hash_suite
from spdm.errors import DecodeError, SpdmError
from spdm.messages import Message
from spdm.messages.certificates import Digests, GetDigests
from spdm.messages.challenge import Challenge, ChallengeAuth
from spdm.messages.codes import CapabilityFlags, Code
from spdm.messages.error import ErrorResponse
from spdm.messages.key_pairs import GetKeyPairInfo, KeyPairInfo
from spdm.messages.measurements import GetMeasurements, Measurements
from spdm.messages.negotiation import Capabilities, GetCapabilities
from spdm.negotiated import Negotiated
from spdm.transcript import ConnectionTranscript
from spdm.verify.check import Check
from spdm.verify.endpoint_info import EndpointInfoSignature, EndpointInfoWatch
from spdm.verify.follower import CERTIFICATE_ERRORS, ConnectionFollower, Followed
from spdm.verify.mel import MelChecks
from spdm.verify.pairing import RequestPairing
from spdm.verify.sessions import ReplayRecord, SessionReplayer

__all__ = ["CaptureVerification", "Check", "verify_capture"]


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


class _Verifier:
    """The requester's checks, applied to the exchanges `follower` took as they went by."""

    def __init__(self, follower: ConnectionFollower, requester_chain: tuple[bytes, ...] = ()) -> None:
        self.follower = follower
        self.transcript = follower.transcript
        self.requester_chain = requester_chain
        self.endpoint_info = EndpointInfoWatch()
        self.result = CaptureVerification()
        self.mel = MelChecks()

    @property
    def negotiated(self) -> Negotiated | None:
        return self.follower.negotiated

    def check(self, record: int, name: str, detail: str = "") -> None:
        self.result.checks.append(Check(record=record, name=name, ok=True, detail=detail))

    def not_checked(self, record: int, name: str, why: str) -> None:
        self.result.checks.append(Check.not_checked(record, name, why))

    def fail(self, record: int, name: str, error: Exception) -> None:
        self.result.checks.append(Check(record=record, name=name, ok=False, detail=str(error)))

    def take(self, followed: Followed) -> None:
        """The checks of one message in the clear, once the follower took it (and its exchange, if it ended one)."""
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
        handler = _HANDLERS.get(type(ask))
        if handler is not None:
            handler(self, ask, answer, request.data, response.data, (request.index, response.index))
        self.result.checks.extend(self.mel.pair(ask, answer, response.index, self.negotiated))

    # --- VCA -----------------------------------------------------------------------------

    def capabilities(
        self, ask: Message, answer: Message, req: bytes, rsp: bytes, labels: tuple[int, int]
    ) -> None:
        """CAPABILITIES as the requester checks it (the follower takes A and the outcome of VCA)."""
        if isinstance(answer, Capabilities) and isinstance(ask, GetCapabilities):
            try:
                check_responder_flags(answer.flags, answer.version)
                self.check(labels[1], "CAPABILITIES flags are consistent")
            except SpdmError as error:
                self.fail(labels[1], "CAPABILITIES flags are consistent", error)

    # --- certificates --------------------------------------------------------------------

    def digests_(
        self, ask: Message, answer: Message, req: bytes, rsp: bytes, labels: tuple[int, int]
    ) -> None:
        if not isinstance(answer, Digests) or self.negotiated is None:
            return
        if answer.key_pair_ids is not None:
            name = "DIGESTS multi-key fields (KeyPairID, CertificateInfo, KeyUsageMask)"
            try:
                check_multi_key_digests(answer)
                self.check(labels[1], name)
            except SpdmError as error:
                self.fail(labels[1], name, error)

    def key_pair_info(
        self, ask: Message, answer: Message, req: bytes, rsp: bytes, labels: tuple[int, int]
    ) -> None:
        """KEY_PAIR_INFO as a requester accepts it (1.3; nothing signs it, so this is all there is to check)."""
        if not isinstance(ask, GetKeyPairInfo) or not isinstance(answer, KeyPairInfo) or self.negotiated is None:
            return
        name = f"KEY_PAIR_INFO of key pair {ask.key_pair_id} is well formed"
        settable = self.negotiated.responder_has(CapabilityFlags.SET_KEY_PAIR_INFO_CAP)
        try:
            check_key_pair_info(answer, ask.key_pair_id, settable=settable)
            self.check(labels[1], name)
        except SpdmError as error:
            self.fail(labels[1], name, error)

    # --- challenge and measurements ------------------------------------------------------

    def challenge(
        self, ask: Message, answer: Message, req: bytes, rsp: bytes, labels: tuple[int, int]
    ) -> None:
        if not isinstance(ask, Challenge) or not isinstance(answer, ChallengeAuth) or self.negotiated is None:
            return
        record = labels[1]
        suite = hash_suite(self.negotiated.base_hash_algo)
        signed = rsp[: len(rsp) - len(answer.signature)]
        digest = self.transcript.challenge_digest(req, signed, labels=labels)
        slot = answer.slot_id
        name = f"CHALLENGE_AUTH CertChainHash is the hash of slot {slot}'s chain"
        chain = self.follower.chains.get(slot)
        if chain is not None and suite.digest(chain) == answer.cert_chain_hash:
            self.check(record, name)
        else:
            self.fail(record, name, ValueError("no such chain seen" if chain is None else "hash mismatch"))
        self.signature(
            self.negotiated, record, "CHALLENGE_AUTH signature over M1/M2 (A, B, C)", slot, digest, answer.signature
        )
        self.transcript.challenge_done()

    def measurements(
        self, ask: Message, answer: Message, req: bytes, rsp: bytes, labels: tuple[int, int]
    ) -> None:
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
        try:
            check_measurements(ask, answer, negotiated)
        except SpdmError as error:
            self.fail(record, f"{where}MEASUREMENTS answers the request", error)
            transcript.restart_measurements()
            return
        if answer.signature is None:
            transcript.add_measurements(request, response, labels=labels)
            return
        signed = response[: len(response) - len(answer.signature)]
        digest = transcript.measurements_digest(request, signed, labels=labels)
        name = f"{where}MEASUREMENTS signature over L1/L2"
        self.signature(negotiated, record, name, ask.slot_id, digest, answer.signature)

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
            self.requester_signature(negotiated, record, found, labels)

    def requester_signature(
        self, negotiated: Negotiated, record: int, found: EndpointInfoSignature, labels: tuple[object, ...]
    ) -> None:
        """A signature by the requester's leaf key (its chain given with the secrets: it never crosses the wire)."""
        if not self.requester_chain:
            self.not_checked(record, found.name, "the requester's certificate chain is not given")
            return
        try:
            key = load_certificate(self.requester_chain[-1]).public_key()
            hashes = hash_suite(negotiated.base_hash_algo)
            asym_suite(negotiated.req_base_asym_alg).verify(key, found.signed, found.signature, hashes)
        except CERTIFICATE_ERRORS as error:
            self.fail(record, found.name, error)
            return
        self.check(record, found.name, "by the requester's leaf as given")
        self.result.covered.update(int(label) for label in labels if isinstance(label, int))

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
            self._measurements(record, msg, data, asked, replayer)
            if replayer.negotiated is not None:
                watch = self.endpoint_info.setdefault(record.session, EndpointInfoWatch())
                labels = (*self.verifier.transcript.vca_labels, record.index)
                self.verifier.watch(watch, replayer.negotiated, msg, data, record.index, labels)

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
    KEY_EXCHANGE_RSP signatures, verify data, every secured record's AEAD tag and sequence
    number, key updates, and signed measurements inside sessions. Without them, secured records
    are counted in `skipped_secured`.
    """
    requester = () if secrets is None else secrets.requester_chain
    stand_ins = None if secrets is None else secrets.responder_chains
    follower = ConnectionFollower(trust_anchors, chain_policy, stand_ins)
    verifier = _Verifier(follower, requester)
    sessions = _SessionChecks(verifier) if secrets is not None else None
    replayer = SessionReplayer(secrets, follower) if secrets is not None else None
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
            if replayer is None or sessions is None:
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
            verifier.mel.restart()
        try:
            followed = follower.follow(seen)
        except SpdmError as error:
            verifier.fail(seen.index, "the message follows the connection", error)
            continue
        if replayer is not None and sessions is not None:
            record = replayer.clear(seen, followed)
            if record is not None:
                sessions.record(record, replayer)
        verifier.take(followed)
    return verifier.result
