"""`ConnectionFollower`: one captured connection in the clear, followed as the requester follows it.

`spdm verify` and the session replay both go through it, so each rule of the connection in the
clear is applied once: which request a response answers (`RequestPairing`), the transcript's reset
rules applied when a request is sent, whatever the answer (`ConnectionTranscript.before_request`,
as the requester's `Connection._transact` applies them), A from VCA, the outcome of VCA (the
`Negotiated` the flow decoder builds, kept only when the requester would accept its ALGORITHMS),
the digests of the last DIGESTS, and each slot's chain read from CERTIFICATE portions and validated
to the slot's trust anchor. A signature is checked with a slot's key the requester's way
(`signature_check`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from spdm._checks import check_selection
from spdm.capture import CapturedMessage
from spdm.certs import CertChain, ChainPolicy, ChainPortions, VerifiedChain, load_certificate, verify_chain
from spdm.crypto import SignatureInput, asym_suite, hash_suite
from spdm.errors import SpdmError
from spdm.flow import FlowDecoder
from spdm.messages import Message
from spdm.messages.certificates import Certificate, Digests, GetCertificate
from spdm.messages.codes import Code
from spdm.messages.error import ErrorResponse, RespondIfReady
from spdm.messages.negotiation import Algorithms, NegotiateAlgorithms
from spdm.negotiated import Negotiated
from spdm.portions import continued
from spdm.transcript import ConnectionTranscript
from spdm.verify.check import Check
from spdm.verify.pairing import RequestPairing

__all__ = ["CERTIFICATE_ERRORS", "ConnectionFollower", "Followed"]

CERTIFICATE_ERRORS = (SpdmError, ValueError, UnsupportedAlgorithm, x509.InvalidVersion)
"""What parsing a tampered certificate can raise besides SpdmError: a failed check, never a crash."""

_VCA_AFTER = {Code.VERSION: Code.CAPABILITIES, Code.CAPABILITIES: Code.ALGORITHMS}
"""The VCA response each one is followed by: A is one VERSION, CAPABILITIES and ALGORITHMS, in that order,
after GET_VERSION (a responder refuses any other order: libspdm_rsp_capabilities.c and
libspdm_rsp_algorithms.c take each only in the connection state the one before leaves)."""
_VCA_RESPONSES = frozenset({Code.VERSION, *_VCA_AFTER.values()})
_VCA_ORDER = "VCA in order: VERSION, CAPABILITIES, ALGORITHMS"


@dataclass(frozen=True, slots=True, kw_only=True)
class Followed:
    """What one message in the clear did: `request` and `response` when it is the answer that ended an
    exchange of the connection (None otherwise), and `checks`, the requester's verdicts on it (an answer
    to no request, or of another kind or version, is a failed check and no exchange)."""

    request: CapturedMessage | None = None
    response: CapturedMessage | None = None
    checks: tuple[Check, ...] = ()


class ConnectionFollower:
    """Follows one connection's messages in the clear (`follow`); `trust_anchors` by slot validate the
    chains read (at each record's own time, under `chain_policy`), and `stand_in_chains` (slot -> chain
    in SPDM slot format) stand for chains the capture did not read: they are taken, and validated, as if
    read when VCA completes."""

    def __init__(
        self,
        trust_anchors: Mapping[int, bytes] | None = None,
        chain_policy: ChainPolicy | None = None,
        stand_in_chains: Mapping[int, bytes] | None = None,
    ) -> None:
        self.anchors: Mapping[int, bytes] = trust_anchors or {}
        self.chain_policy = chain_policy or ChainPolicy()
        self.stand_in_chains: Mapping[int, bytes] = stand_in_chains or {}
        self.flow = FlowDecoder()
        """Decodes what follows (the secured records' messages too) under the connection's negotiation."""
        self.transcript = ConnectionTranscript()
        self.pairing: RequestPairing[CapturedMessage] = RequestPairing()
        self.negotiated: Negotiated | None = None
        """The outcome of VCA; None until an ALGORITHMS the requester accepts (and after a refused one)."""
        self.digests: dict[int, bytes] = {}
        """The digests of the last DIGESTS, by slot."""
        self.chains: dict[int, bytes] = {}
        self.verified: dict[int, VerifiedChain] = {}
        self._reading: ChainPortions | None = None
        self._vca_next: Code | None = Code.VERSION
        """The VCA response A takes next; None once ALGORITHMS completed it (until GET_VERSION)."""

    def follow(self, item: CapturedMessage) -> Followed:
        """Take the next SPDM message in the clear, as the exchange saw it (`spdm.capture.exchanged`)."""
        msg = item.message
        if msg is None:
            return Followed()
        self.flow.observe(msg)
        if msg.code.is_request:
            if self.pairing.request(msg, item):
                self._send(msg)
            return Followed()
        if self.pairing.pending is None:
            return _failed(item, "response follows a request", "no request before it")
        request = self.pairing.response(msg)
        if request is None:
            return Followed()  # ResponseNotReady: the request stays pending, RESPOND_IF_READY fetches its answer
        asked = request.message
        if asked is None:
            return Followed()
        wrong = None if isinstance(asked, RespondIfReady) else self._mismatch(asked, msg)
        if wrong is not None:
            # an answer of another kind (ENCAPSULATED_RESPONSE_ACK for GET_ENCAPSULATED_REQUEST) would pair with
            # the wrong rule and leave what it carries unchecked; a pair at another version is no exchange
            # of this connection (a responder answers that with ERROR VersionMismatch)
            return _failed(item, "the response answers its request at the negotiated version", wrong)
        if isinstance(asked, RespondIfReady) and not isinstance(msg, ErrorResponse):
            # a RESPOND_IF_READY no ResponseNotReady asked for: its answer would pair with nothing
            # and go unchecked (a responder must refuse it with an ERROR)
            name = "only an ERROR answers a RESPOND_IF_READY that no ResponseNotReady asked for"
            return _failed(item, name, f"answered by {msg.name}")
        checks = self._answer(request, asked, item, msg)
        return Followed(request=request, response=item, checks=tuple(checks))

    def _send(self, msg: Message) -> None:
        """A request sent: the transcript's reset rules apply now, whatever the answer (GET_VERSION restarts all)."""
        self.transcript.before_request(msg.code)
        if msg.code == Code.GET_VERSION:
            self._vca_next = Code.VERSION
            self.negotiated = None
            self.digests.clear()
            self.chains.clear()
            self.verified.clear()
            self._reading = None
        elif isinstance(msg, GetCertificate):
            self._reading = continued(self._reading, msg.offset, lambda: ChainPortions(msg.slot_id))

    def _mismatch(self, request: Message, response: Message) -> str | None:
        """Why a non-ERROR response does not answer its request (None when it does): it carries the request's
        code less bit 7 and its version, which after negotiation is the negotiated one."""
        if isinstance(response, ErrorResponse):
            return None
        if response.code != request.code.response_code:
            return f"{request.name} answered by {response.name}"
        negotiated = self.negotiated
        spoken = request.version if negotiated is None or request.name == "GET_VERSION" else negotiated.version
        if request.version != spoken or response.version != spoken:
            return f"{request.name} 0x{request.version:02x} answered at 0x{response.version:02x}, spoken 0x{spoken:02x}"
        return None

    def _answer(self, request: CapturedMessage, asked: Message, item: CapturedMessage, msg: Message) -> list[Check]:
        """The connection's rules for an answer that ended its request's exchange."""
        labels = (request.index, item.index)
        if isinstance(msg, ErrorResponse):
            self.transcript.after_error(msg.error_code)
            return []
        if msg.code in _VCA_RESPONSES:
            if msg.code != self._vca_next:
                expected = "nothing more" if self._vca_next is None else self._vca_next.name
                detail = f"{msg.name} where A takes {expected}: not added to A"
                return [Check(record=item.index, name=_VCA_ORDER, ok=False, detail=detail)]
            self._vca_next = _VCA_AFTER.get(msg.code)
            self.transcript.add_vca(request.data, item.data, labels=labels)
            if isinstance(msg, Algorithms) and isinstance(asked, NegotiateAlgorithms):
                return self._algorithms(asked, msg, item)
            return []
        negotiated = self.negotiated
        if negotiated is None:
            return []
        if isinstance(msg, Digests):
            multi_key = negotiated.responder_multi_key
            self.transcript.add_digests(request.data, item.data, multi_key=multi_key, labels=labels)
            self.digests = msg.by_slot()
        elif isinstance(msg, Certificate) and isinstance(asked, GetCertificate):
            self.transcript.add_certificate_exchange(request.data, item.data, labels=labels)
            return self._portion(asked, msg, item)
        return []

    def _algorithms(self, asked: NegotiateAlgorithms, msg: Algorithms, item: CapturedMessage) -> list[Check]:
        """The requester accepts ALGORITHMS only when it selects one offered algorithm of each kind."""
        name = "ALGORITHMS selects one offered algorithm of each kind"
        negotiated = self.flow.negotiated
        try:
            if negotiated is None:
                raise SpdmError("no negotiation")
            check_selection(asked, msg, negotiated)
            self.transcript.set_hash(negotiated.base_hash_suite, negotiated.version)
        except SpdmError as error:
            return [Check(record=item.index, name=name, ok=False, detail=str(error))]
        self.negotiated = negotiated
        checks = [Check(record=item.index, name=name, ok=True)]
        for slot, chain in sorted(self.stand_in_chains.items()):
            checks.extend(self._take_chain(slot, chain, item, "given"))
        return checks

    def _portion(self, asked: GetCertificate, msg: Certificate, item: CapturedMessage) -> list[Check]:
        slot, reading = asked.slot_id, self._reading
        if reading is None:
            return []
        try:
            chain = reading.add(asked, msg)
        except ValueError as error:
            self._reading = None
            name = f"slot {slot} certificate portions make one chain"
            return [Check(record=item.index, name=name, ok=False, detail=str(error))]
        if chain is None:
            return []
        self._reading = None
        return self._take_chain(slot, chain, item, "read")

    def _take_chain(self, slot: int, chain: bytes, item: CapturedMessage, how: str) -> list[Check]:
        """A slot's whole chain (`how`: read from the capture, or given): checked against its DIGESTS digest
        and validated to the slot's trust anchor at the record's time."""
        negotiated = self.negotiated
        if negotiated is None:
            return []
        self.chains[slot] = chain
        self.verified.pop(slot, None)
        record = item.index
        suite = hash_suite(negotiated.base_hash_algo)
        checks = []
        what = f"slot {slot} certificate chain" if how == "read" else f"slot {slot} given certificate chain"
        name = f"{what} matches its DIGESTS digest"
        if slot in self.digests:
            same = suite.digest(chain) == self.digests[slot]
            checks.append(Check(record=record, name=name, ok=same, detail="" if same else "digest mismatch"))
        anchor = self.anchors.get(slot)
        name = f"{what} validates to its trust anchor"
        if anchor is None:
            checks.append(Check.not_checked(record, name, "no trust anchor for this slot"))
            return checks
        try:
            self.verified[slot] = verify_chain(
                CertChain.from_bytes(chain, suite.size),
                trust_anchor=anchor,
                hash_suite=suite,
                asym_suite=asym_suite(negotiated.base_asym_algo),
                now=datetime.fromtimestamp(item.timestamp, timezone.utc),
                policy=self.chain_policy,
                model=negotiated.certificate_model,
                version=negotiated.version,
            )
        except CERTIFICATE_ERRORS as error:
            checks.append(Check(record=record, name=name, ok=False, detail=str(error)))
            return checks
        checks.append(Check(record=record, name=name, ok=True))
        return checks

    def signature_check(
        self, negotiated: Negotiated, record: int, name: str, slot: int, signed: SignatureInput, signature: bytes
    ) -> Check:
        """A responder's signature over `signed` by the key of its `slot`, as the requester checks one:
        with the slot's validated chain. A slot without a trust anchor has its chain's leaf used, and the
        check says that chain was not validated; a slot whose chain failed validation (or was never
        read) fails."""
        try:
            key, detail = self._responder_key(negotiated, slot)
            asym_suite(negotiated.base_asym_algo).verify(key, signed, signature, hash_suite(negotiated.base_hash_algo))
        except CERTIFICATE_ERRORS as error:
            return Check(record=record, name=name, ok=False, detail=str(error))
        return Check(record=record, name=name, ok=True, detail=detail)

    def _responder_key(self, negotiated: Negotiated, slot: int) -> tuple[PublicKeyTypes, str]:
        verified = self.verified.get(slot)
        if verified is not None:
            return verified.leaf_public_key, ""
        chain = self.chains.get(slot)
        if slot in self.anchors or chain is None:
            raise ValueError(f"slot {slot} has no validated certificate chain")
        leaf = CertChain.from_bytes(chain, hash_suite(negotiated.base_hash_algo).size).leaf
        detail = f"by the slot {slot} leaf; that chain was not validated (no trust anchor for the slot)"
        return load_certificate(leaf).public_key(), detail


def _failed(item: CapturedMessage, name: str, why: str) -> Followed:
    return Followed(checks=(Check(record=item.index, name=name, ok=False, detail=why),))
