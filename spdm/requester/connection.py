"""The sans-IO requester: `Connection` holds one SPDM connection's state and turns each step of
the connection flow into an `Operation` that says what to send and takes what came back.

No I/O, no clock read beyond `RequesterConfig.clock`, no sleep: a driver runs each operation
over its transport (`spdm.requester.Requester` blocks, `spdm.aio.AsyncRequester` awaits), and
a ResponseNotReady wait is a `Wait` event the driver acts on. See `spdm.requester.events` for the
events; in short::

    connection = Connection(RequesterConfig(trust_anchors={0: root}), max_padding=3)
    operation = connection.authenticate(0)
    event = operation.next_event()
    while not isinstance(event, Done):
        if isinstance(event, Send):
            response = transport.exchange(event.request, session_id=event.session_id, timeout=event.timeout)
            event = operation.receive(response)
        else:  # Wait: the device answered ResponseNotReady
            time.sleep(event.seconds)
            event = operation.resume()
    result = event.result  # AuthenticationResult

The flow: VCA, GET_DIGESTS, GET_CERTIFICATE, CHALLENGE, GET_MEASUREMENTS. Every response is
checked against what was asked, every signature against the transcript of the exact bytes
exchanged, and the certificate chain against the slot's trust anchor. Sessions:
`key_exchange` and `psk_exchange` return a `SessionCore` (`spdm.requester.session_core`), whose
own operations carry secured messages. Operations of one connection, its sessions' included,
run one at a time (SPDM allows one outstanding request): start the next when the last is done.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import replace
from typing import Generic, TypeVar

from spdm._checks import (
    check_capabilities,
    check_certificate_info,
    check_challenge_slot,
    check_opaque_data,
    check_requester_context,
    check_selection,
    check_slot_masks,
    check_summary_hash,
    invalid_response,
)
from spdm.certs import CertChain, ChainPortions, VerifiedChain, verify_chain
from spdm.crypto import AsymSuite, HashSuite, aead_suite, asym_suite, hash_suite
from spdm.errors import NegotiationError, PeerError, ProtocolError, VerificationError
from spdm.measurements import ReferenceValues, appraise
from spdm.messages import Message, encode
from spdm.messages.bounds import NONCE_SIZE
from spdm.messages.certificates import (
    CERTIFICATE_HEADER_SIZE,
    PUBLIC_KEY_SLOT,
    SLOT_COUNT,
    Certificate,
    Digests,
    GetCertificate,
    GetDigests,
)
from spdm.messages.challenge import REQUESTER_CONTEXT_SIZE, Challenge, ChallengeAuth, has_requester_context
from spdm.messages.codes import (
    AlgType,
    Code,
    ErrorCode,
    KeyPairOperation,
    KeyUsage,
    OtherParams,
    SummaryHashType,
    defined_asym_bits,
)
from spdm.messages.endpoint_info import EndpointInfo, GetEndpointInfo
from spdm.messages.measurements import ALL_MEASUREMENTS, GetMeasurements, Measurements
from spdm.messages.negotiation import (
    Algorithms,
    Capabilities,
    GetCapabilities,
    GetVersion,
    NegotiateAlgorithms,
    Version,
    has_alg_structs,
    has_mel_specification,
    has_multi_key_conn,
    has_other_params,
    has_requester_capabilities,
    has_transfer_sizes,
)
from spdm.messages.opaque import version_list_opaque
from spdm.messages.vendor import VendorDefinedRequest, VendorDefinedResponse
from spdm.negotiated import Negotiated, multi_key_connection
from spdm.requester.channel import Channel
from spdm.requester.config import RequesterConfig
from spdm.requester.encapsulated import (
    EncapsulatedAnswers,
    basic_mutual_authentication,
    check_mutual_authentication,
    run_encapsulated,
)
from spdm.requester.endpoint_info import EndpointInfoResult, get_endpoint_info
from spdm.requester.events import Operation, Steps
from spdm.requester.handshake import check_key_exchange, key_exchange, psk_exchange
from spdm.requester.key_pairs import (
    KeyPairInfoResult,
    SetKeyPairInfoResult,
    SlotKey,
    choose_slot,
    get_key_pair_info,
    set_key_pair_info,
    slot_keys,
)
from spdm.requester.measurements import get_measurements
from spdm.requester.mel import get_measurement_extension_log
from spdm.requester.provisioning import ChainSource, get_csr, set_certificate
from spdm.requester.results import (
    AuthenticationResult,
    ChallengeResult,
    MeasurementResult,
    MelResult,
    SetCertificateResult,
)
from spdm.requester.session_core import SessionCore, SessionLink, SessionView
from spdm.requester.support import require_support
from spdm.session.keys import KeySchedule
from spdm.transcript import ConnectionTranscript

__all__ = ["Connection", "ConnectionView"]

M = TypeVar("M", bound=Message)



class Connection:
    """One SPDM connection of a requester, without I/O.

    `max_padding` is how many zero bytes the transport may leave after a response (DOE: 3; a
    driver passes its transport's `max_padding`). State, read by drivers and users alike:
    `negotiated` (after `init_connection`), `version`, `digests`, `chains` (SPDM-format chains by
    slot), `verified` (validated chains by slot), `slot_keys` (what a 1.3 multi-key DIGESTS said of
    each slot's key: `SlotKey`), `sessions` (the open `SessionCore`s by SessionID; a session leaves
    when it ends) and `transcript` (A, B, C and M).

    On a multi-key connection, CHALLENGE, signed measurements and KEY_EXCHANGE use the slot given
    only if its KeyUsageMask allows the usage (else `KeyUsageError`), and without one the lowest
    slot that allows it (`spdm.requester.key_pairs.choose_slot`).
    """

    def __init__(self, config: RequesterConfig | None = None, *, max_padding: int = 0) -> None:
        self.config = config or RequesterConfig()
        self.channel = Channel(self.config, max_padding)
        self.transcript = ConnectionTranscript()
        self.version = 0x10
        self.digests: dict[int, bytes] = {}
        self.chains: dict[int, bytes] = {}
        self.verified: dict[int, VerifiedChain] = {}
        self.slot_keys: dict[int, SlotKey] = {}
        self.sessions: dict[int, SessionCore] = {}
        self._version_offers = {
            general: version_list_opaque(self.config.secured_message_versions, general=general)
            for general in (False, True)
        }
        """The OpaqueData of KEY_EXCHANGE and PSK_EXCHANGE, offering `config.secured_message_versions`
        in each table format (`Negotiated.general_opaque_data`): the same bytes every handshake."""
        self._psk_schedule: KeySchedule | None = None
        """The key schedule of `config.psk` under the current negotiation, made by its first PSK_EXCHANGE."""
        self._link = SessionLink(
            channel=self.channel,
            sessions=self.sessions,
            verified=self.verified,
            transcript=self.transcript,
            forget_slot=self._forget_slot,
            slot_keys=self.slot_keys,
        )

    @property
    def negotiated(self) -> Negotiated | None:
        """The outcome of VCA; None before `init_connection` and while it runs again."""
        return self.channel.negotiated

    @property
    def hash(self) -> HashSuite:
        return hash_suite(self._require_negotiated().base_hash_algo)

    @property
    def asym(self) -> AsymSuite:
        return asym_suite(self._require_negotiated().base_asym_algo)

    def _require_negotiated(self) -> Negotiated:
        return self.channel.require_negotiated()

    def _transact(
        self, request: Message, expect: type[M], *, summary_hash_type: int = 0, signature_requested: bool = False
    ) -> Steps[tuple[M, bytes, bytes]]:
        """Send `request` in the clear under the connection's transcript rules; the response and both
        exact byte strings.

        `summary_hash_type` and `signature_requested` are what the request asked for: they size the response.
        """
        channel = self.channel
        codec = channel.codec(summary_hash_type, signature_requested)
        transcript = self.transcript
        return (
            yield from channel.exchange(
                request,
                encode(request),
                expect,
                channel.clear,
                transcript.after_error,
                codec,
                lambda: transcript.before_request(request.code),
            )
        )

    # --- VCA -----------------------------------------------------------------------------

    def init_connection(self) -> Operation[Negotiated]:
        """GET_VERSION, GET_CAPABILITIES, NEGOTIATE_ALGORITHMS: the highest common version and the
        algorithms. GET_VERSION ends every session and forgets every chain."""
        return Operation(self._init_connection())

    def _init_connection(self) -> Steps[Negotiated]:
        for session in tuple(self.sessions.values()):
            session.discard("GET_VERSION restarts the connection, which ends every session")
        self.sessions.clear()
        self.channel.negotiated = None
        self._psk_schedule = None
        self.digests.clear()
        self.chains.clear()
        self.verified.clear()
        self.slot_keys.clear()
        version, request, response = yield from self._transact(GetVersion(), Version)
        self.transcript.add_vca(request, response)
        common = {v.major_minor for v in version.versions} & set(self.config.versions)
        if not common:
            offered = ", ".join(str(v) for v in version.versions)
            raise NegotiationError(f"no common SPDM version: the device offers {offered}")
        self.version = max(common)
        ask, answer = yield from self._exchange_capabilities()
        return (yield from self._negotiate_algorithms(ask, answer))

    def _exchange_capabilities(self) -> Steps[tuple[GetCapabilities, Capabilities]]:
        cfg = self.config
        if has_transfer_sizes(self.version):
            ask = GetCapabilities(
                version=self.version,
                ct_exponent=cfg.ct_exponent,
                flags=cfg.capabilities,
                data_transfer_size=cfg.data_transfer_size,
                max_spdm_msg_size=cfg.max_spdm_msg_size,
            )
        elif has_requester_capabilities(self.version):
            ask = GetCapabilities(version=self.version, ct_exponent=cfg.ct_exponent, flags=cfg.capabilities)
        else:
            ask = GetCapabilities(version=self.version, reserved=None, ct_exponent=None, reserved2=None, flags=None)
        answer, request, response = yield from self._transact(ask, Capabilities)
        check_capabilities(ask, answer)
        self.transcript.add_vca(request, response)
        return ask, answer

    def _negotiate_algorithms(self, asked: GetCapabilities, capabilities: Capabilities) -> Steps[Negotiated]:
        cfg = self.config
        structs = cfg.alg_structs if has_alg_structs(self.version) else ()
        structs = tuple(
            replace(s, alg_supported=defined_asym_bits(self.version, s.alg_supported))
            if s.alg_type == AlgType.REQ_BASE_ASYM_ALG
            else s
            for s in structs
        )
        other_params, mel = 0, None
        if has_other_params(self.version):
            other_params = OtherParams.OPAQUE_DATA_FMT_1
        if has_mel_specification(self.version):
            mel = cfg.mel_specification
        if has_multi_key_conn(self.version):
            try:
                if multi_key_connection(capabilities.flags, willing=cfg.multi_key):
                    other_params |= OtherParams.MULTI_KEY_CONN
            except NegotiationError as error:
                raise NegotiationError(f"CAPABILITIES: {error}") from None
        offer = NegotiateAlgorithms(
            version=self.version,
            other_params_support=other_params,
            measurement_specification=cfg.measurement_specification,
            base_asym_algo=defined_asym_bits(self.version, cfg.base_asym_algo),
            base_hash_algo=cfg.base_hash_algo,
            alg_structs=structs,
            mel_specification=mel,
        )
        chosen, request, response = yield from self._transact(offer, Algorithms)
        negotiated = Negotiated.from_vca(self.version, asked, capabilities, chosen, offer)
        check_selection(offer, chosen, negotiated)
        self.transcript.add_vca(request, response)
        self.transcript.set_hash(negotiated.base_hash_suite, negotiated.version)
        self.channel.negotiated = negotiated
        return negotiated

    # --- certificates --------------------------------------------------------------------

    def get_digests(self) -> Operation[dict[int, bytes]]:
        """The digest of each populated slot's certificate chain."""
        return Operation(self._get_digests())

    def _get_digests(self) -> Steps[dict[int, bytes]]:
        require_support(self._require_negotiated(), Code.GET_DIGESTS)
        answer, request, response = yield from self._transact(GetDigests(version=self.version), Digests)
        check_slot_masks(answer)
        self.transcript.add_digests(request, response, multi_key=self._require_negotiated().responder_multi_key)
        keys = slot_keys(answer)
        self.digests = answer.by_slot()
        self.slot_keys.clear()
        self.slot_keys.update(keys)
        return dict(self.digests)

    def get_certificate(self, slot: int = 0) -> Operation[bytes]:
        """The slot's whole SPDM-format certificate chain, read portion by portion."""
        return Operation(self._get_certificate(slot))

    def _get_certificate(self, slot: int) -> Steps[bytes]:
        require_support(self._require_negotiated(), Code.GET_CERTIFICATE)
        if not 0 <= slot < SLOT_COUNT:
            raise ValueError(f"slot {slot} is not 0..{SLOT_COUNT - 1}")
        portions = ChainPortions(slot, max_size=self.config.limits.max_chain_bytes)
        portion = self.config.certificate_portion
        stated = self._require_negotiated().requester_max_spdm_msg_size  # our MaxSPDMmsgSize, from 1.2
        if stated is not None:  # no more than a CERTIFICATE within it can carry (libspdm_req_get_certificate.c)
            portion = min(portion, stated - CERTIFICATE_HEADER_SIZE)
        data: bytes | None = None
        while data is None:
            ask = GetCertificate(version=self.version, slot_param=slot, offset=portions.offset, length=portion)
            answer, request, response = yield from self._transact(ask, Certificate)
            known = self.slot_keys.get(slot)
            multi_key = self._require_negotiated().responder_multi_key
            check_certificate_info(answer, multi_key, None if known is None else known.cert_model)
            try:
                data = portions.add(ask, answer)
            except ValueError as error:
                raise invalid_response(str(error)) from None
            self.transcript.add_certificate_exchange(request, response)
        digest = self.digests.get(slot)
        if digest is not None and not hmac.compare_digest(self.hash.digest(data), digest):
            raise VerificationError(f"slot {slot}: the certificate chain does not match its DIGESTS digest")
        self.chains[slot] = data
        return data

    def verify_certificate(self, slot: int = 0) -> VerifiedChain:
        """Validate the slot's chain (fetched by `get_certificate`) against the slot's trust anchor
        at `config.clock()`. Nothing is exchanged: a plain call, not an operation."""
        anchor = self.config.trust_anchors.get(slot)
        if anchor is None:
            raise VerificationError(f"slot {slot}: no trust anchor configured")
        data = self.chains.get(slot)
        if data is None:
            raise VerificationError(f"slot {slot}: no certificate chain fetched")
        negotiated = self._require_negotiated()
        verified = verify_chain(
            CertChain.from_bytes(data, self.hash.size),
            trust_anchor=anchor,
            hash_suite=self.hash,
            asym_suite=self.asym,
            now=self.config.clock(),
            policy=self.config.chain_policy,
            model=negotiated.certificate_model,
            version=negotiated.version,
        )
        self.verified[slot] = verified
        return verified

    # --- challenge -----------------------------------------------------------------------

    def challenge(
        self, slot: int | None = None, summary_hash_type: int = SummaryHashType.NONE
    ) -> Operation[ChallengeResult]:
        """CHALLENGE: the device proves it holds the slot's private key, over the whole transcript.

        `slot` None: 0, or on a multi-key connection the lowest slot whose key may answer CHALLENGE.
        """
        return Operation(self._challenge(self._slot_for(KeyUsage.CHALLENGE, slot), summary_hash_type))

    def _slot_for(self, usage: KeyUsage, slot: int | None) -> int:
        return choose_slot(self._require_negotiated(), self.slot_keys, usage, slot)

    def _challenge(self, slot: int, summary_hash_type: int) -> Steps[ChallengeResult]:
        require_support(self._require_negotiated(), Code.CHALLENGE)
        verified = self.verified.get(slot)
        if verified is None:
            raise VerificationError(f"slot {slot}: verify the certificate chain before CHALLENGE")
        nonce = self.config.draw_random(NONCE_SIZE)
        ask = Challenge(
            version=self.version,
            slot_id=slot,
            summary_hash_type=summary_hash_type,
            nonce=nonce,
            requester_context=(
                self.config.draw_random(REQUESTER_CONTEXT_SIZE) if has_requester_context(self.version) else None
            ),
        )
        answer, request, response = yield from self._transact(ask, ChallengeAuth, summary_hash_type=summary_hash_type)
        negotiated = self._require_negotiated()
        check_requester_context(ask.requester_context, answer)
        check_opaque_data(answer, negotiated)
        if answer.basic_mut_auth_requested:  # before the signature, as libspdm_req_challenge.c checks it
            check_mutual_authentication(self.config, negotiated, "CHALLENGE_AUTH")
        check_challenge_slot(slot, answer)
        if not hmac.compare_digest(answer.cert_chain_hash, self.hash.digest(self.chains[slot])):
            raise VerificationError(f"slot {slot}: CertChainHash does not match the certificate chain")
        signed = response[: len(response) - len(answer.signature)]
        digest = self.transcript.challenge_digest(request, signed)
        self.asym.verify(verified.leaf_public_key, digest, answer.signature, self.hash)
        self.transcript.challenge_done()
        if answer.basic_mut_auth_requested:
            yield from basic_mutual_authentication(
                self._transact, negotiated, self.config, self.channel.max_padding, bytes(self.transcript.vca)
            )
        return ChallengeResult(
            slot=slot,
            requester_nonce=nonce,
            responder_nonce=answer.nonce,
            measurement_summary_hash=answer.measurement_summary_hash,
            opaque_data=answer.opaque_data,
            basic_mut_auth_requested=answer.basic_mut_auth_requested,
            requester_authenticated=answer.basic_mut_auth_requested,
        )

    # --- measurements --------------------------------------------------------------------

    def get_measurements(
        self, operation: int = ALL_MEASUREMENTS, *, signed: bool = True, slot: int | None = None
    ) -> Operation[MeasurementResult]:
        """GET_MEASUREMENTS of one index (1..0xFE), all (0xFF) or just the count (0).

        A signed request is checked against the slot's verified chain over L1/L2 (`slot` None: 0, or
        on a multi-key connection the lowest slot whose key may sign measurements).
        """
        chosen = self._slot_for(KeyUsage.MEASUREMENT, slot) if signed else slot or 0
        return Operation(self._get_measurements(operation, signed, chosen))

    def _get_measurements(self, operation: int, signed: bool, slot: int) -> Steps[MeasurementResult]:
        return (
            yield from get_measurements(
                self._measurement_exchange,
                self.transcript,
                negotiated=self._require_negotiated(),
                verified=self.verified,
                random=self.config.draw_random,
                operation=operation,
                signed=signed,
                slot=slot,
            )
        )

    def _measurement_exchange(self, ask: GetMeasurements, signed: bool) -> Steps[tuple[Measurements, bytes, bytes]]:
        return self._transact(ask, Measurements, signature_requested=signed)

    def get_measurement_extension_log(self) -> Operation[MelResult]:
        """GET_MEASUREMENT_EXTENSION_LOG (SPDM 1.3, the device's MEL_CAP): the whole log, read in
        portions up to `config.limits.max_mel_bytes` and parsed; `MelResult.check` binds it to a
        measurements result."""
        return Operation(get_measurement_extension_log(self._transact, self._require_negotiated(), self.config))

    # --- endpoint info (SPDM 1.3) ---------------------------------------------------------

    def get_endpoint_info(self, *, signed: bool = True, slot: int = 0) -> Operation[EndpointInfoResult]:
        """GET_ENDPOINT_INFO: the device's EPInfo; signed (EP_INFO_CAP_SIG) it is checked with the
        slot's verified chain over IL (A, then this exchange)."""
        return Operation(
            get_endpoint_info(
                self._endpoint_info_exchange,
                negotiated=self._require_negotiated(),
                vca=bytes(self.transcript.vca),
                verified=self.verified,
                random=self.config.draw_random,
                signed=signed,
                slot=slot,
            )
        )

    def _endpoint_info_exchange(self, ask: GetEndpointInfo, signed: bool) -> Steps[tuple[EndpointInfo, bytes, bytes]]:
        return self._transact(ask, EndpointInfo, signature_requested=signed)

    def serve_encapsulated_requests(self) -> Operation[int]:
        """GET_ENCAPSULATED_REQUEST outside any session, then each of the responder's requests answered
        (from 1.3 its GET_ENDPOINT_INFO, with `config.endpoint_info`) until it is done; how many were
        answered (0 when the responder had none pending: ERROR NoPendingRequests from 1.3, UnexpectedRequest
        before)."""
        return Operation(self._serve_encapsulated_requests())

    def _serve_encapsulated_requests(self) -> Steps[int]:
        negotiated = self._require_negotiated()
        require_support(negotiated, Code.GET_ENCAPSULATED_REQUEST)
        answers = EncapsulatedAnswers(
            negotiated=negotiated,
            config=self.config,
            max_padding=self.channel.max_padding,
            vca=bytes(self.transcript.vca),
        )
        yield from run_encapsulated(
            self._transact, answers, version=self.version, implicit_digests=False, slot=None, may_be_idle=True
        )
        return answers.answered

    # --- vendor-defined ------------------------------------------------------------------

    def vendor_defined(self, standard_id: int, vendor_id: bytes, payload: bytes) -> Operation[bytes]:
        """VENDOR_DEFINED_REQUEST outside a session: the payload of the VENDOR_DEFINED_RESPONSE.

        Payloads are bounded by `config.limits` (`max_vendor_request_bytes` for what is sent,
        `max_vendor_response_bytes` for what is accepted, checked before the response is decoded).
        """
        return Operation(self._vendor_defined(standard_id, vendor_id, payload))

    def _vendor_defined(self, standard_id: int, vendor_id: bytes, payload: bytes) -> Steps[bytes]:
        self._require_negotiated()
        limit = self.config.limits.max_vendor_request_bytes
        if len(payload) > limit:
            raise ProtocolError(ErrorCode.InvalidRequest, f"a {len(payload)}-byte vendor payload is over {limit}")
        ask = VendorDefinedRequest(
            version=self.version, standard_id=standard_id, vendor_id=bytes(vendor_id), payload=bytes(payload)
        )
        answer, _, _ = yield from self._transact(ask, VendorDefinedResponse)
        if answer.standard_id != ask.standard_id or answer.vendor_id != ask.vendor_id:
            raise invalid_response("VENDOR_DEFINED_RESPONSE names another StandardID or VendorID")
        return answer.payload

    # --- provisioning (SPDM 1.2) ----------------------------------------------------------

    def get_csr(
        self,
        requester_info: bytes = b"",
        opaque_data: bytes = b"",
        *,
        key_pair_id: int = 0,
        cert_model: int | None = None,
        csr_tracking_tag: int = 0,
        overwrite: bool = False,
    ) -> Operation[bytes]:
        """GET_CSR: the device's DER PKCS #10 request for its key (its signature checked).

        `requester_info` is a DER CertificationRequestInfo whose subject and attributes the device
        puts in the CSR (its subjectPKInfo must be the device's key); empty lets the device choose.
        On a 1.3 multi-key connection `key_pair_id` names the key (required) and `cert_model`
        (`CertificateInfo`, default the connection's model) the certificate the CSR is for.
        A device that makes the CSR only after a reset answers ERROR ResetRequired: `CsrResetRequired`,
        whose `csr_tracking_tag` (1.3) this GET_CSR carries again after the reset, as `csr_tracking_tag`
        (0..7); `overwrite` (1.3) drops the device's pending CSRs. Both need SPDM 1.3 (else ValueError).
        """
        negotiated = self._require_negotiated()
        return Operation(
            get_csr(
                self._transact,
                negotiated,
                requester_info,
                opaque_data,
                key_pair_id,
                cert_model,
                csr_tracking_tag,
                overwrite,
            )
        )

    def set_certificate(
        self, slot: int, chain: ChainSource, *, key_pair_id: int = 0, cert_model: int | None = None
    ) -> Operation[SetCertificateResult]:
        """SET_CERTIFICATE: install `chain` (DER certificates root first, or a `CertChain`) into `slot`.

        The device checks the chain and that its leaf certifies the slot's key; an ERROR raises
        `PeerError`, except ResetRequired (from 1.3 only with CERT_INSTALL_RESET_CAP): the result's
        `reset_required`. The connection then forgets what it held of the slot (`digests`, `chains`,
        `verified`, `slot_keys`): fetch and verify it again. On a 1.3 multi-key connection
        `key_pair_id` (required) and `cert_model` are as for `get_csr`.
        """
        return Operation(self._set_certificate(slot, chain, key_pair_id, cert_model))

    def _set_certificate(
        self, slot: int, chain: ChainSource, key_pair_id: int, cert_model: int | None
    ) -> Steps[SetCertificateResult]:
        negotiated = self._require_negotiated()
        result = yield from set_certificate(self._transact, negotiated, slot, chain, key_pair_id, cert_model)
        self._forget_slot(slot)
        return result

    def _forget_slot(self, slot: int) -> None:
        """The device's slot changed: its digest, chain, validation and key no longer describe it."""
        self.digests.pop(slot, None)
        self.chains.pop(slot, None)
        self.verified.pop(slot, None)
        self.slot_keys.pop(slot, None)

    # --- key pairs (SPDM 1.3) ------------------------------------------------------------

    def get_key_pair_info(self, key_pair_id: int) -> Operation[KeyPairInfoResult]:
        """GET_KEY_PAIR_INFO: one of the device's key pairs (1..TotalKeyPairs), checked as libspdm checks it."""
        return Operation(get_key_pair_info(self._transact, self._require_negotiated(), key_pair_id))

    def set_key_pair_info(
        self,
        key_pair_id: int,
        operation: KeyPairOperation = KeyPairOperation.CHANGE,
        *,
        key_usage: int = 0,
        asym_algo: int = 0,
        slots: Iterable[int] = (),
    ) -> Operation[SetKeyPairInfoResult]:
        """SET_KEY_PAIR_INFO: change, erase or generate a key pair. `key_usage` (`KeyUsage`) and
        `asym_algo` (one `KeyPairAsymAlgo` bit) 0 leave them as they are; `slots` are the certificate
        slots to associate (none: no slot). An ERROR raises `PeerError`, except ResetRequired: the
        result's `reset_required`."""
        negotiated = self._require_negotiated()
        steps = set_key_pair_info(
            self._transact, negotiated, key_pair_id, operation, key_usage=key_usage, asym_algo=asym_algo, slots=slots
        )
        return Operation(steps)

    # --- the whole job -------------------------------------------------------------------

    def authenticate(
        self,
        slot: int | None = None,
        *,
        measurements: int | None = ALL_MEASUREMENTS,
        summary_hash_type: int = SummaryHashType.NONE,
        reference: ReferenceValues | None = None,
    ) -> Operation[AuthenticationResult]:
        """VCA, digests, the slot's chain (validated), CHALLENGE, and signed measurements.

        `measurements`: 0xFF for all blocks, an index for one, None to skip. A RequestResynch
        answer restarts the flow once. `slot` None: 0, or on a multi-key connection the lowest slot
        whose key may answer CHALLENGE (and sign measurements, when they are read signed).
        """
        return Operation(self._authenticate(slot, measurements, summary_hash_type, reference))

    def _authenticate(
        self, slot: int | None, measurements: int | None, summary_hash_type: int, reference: ReferenceValues | None
    ) -> Steps[AuthenticationResult]:
        try:
            return (yield from self._authenticate_once(slot, measurements, summary_hash_type, reference))
        except PeerError as error:
            if error.error_code != ErrorCode.RequestResynch:
                raise
            return (yield from self._authenticate_once(slot, measurements, summary_hash_type, reference))

    def _authenticate_once(
        self, asked: int | None, measurements: int | None, summary_hash_type: int, reference: ReferenceValues | None
    ) -> Steps[AuthenticationResult]:
        negotiated = yield from self._init_connection()
        digests = yield from self._get_digests()
        signed_measurements = measurements is not None and negotiated.signs_measurements
        usage = KeyUsage.CHALLENGE | KeyUsage.MEASUREMENT if signed_measurements else KeyUsage.CHALLENGE
        slot = self._slot_for(usage, asked)
        if slot not in digests:
            raise VerificationError(f"slot {slot} holds no certificate chain (populated: {sorted(digests)})")
        chain_bytes = yield from self._get_certificate(slot)
        chain = self.verify_certificate(slot)
        challenge = yield from self._challenge(slot, summary_hash_type)
        result = None
        if measurements is not None and negotiated.responder_measurement_cap:
            result = yield from self._get_measurements(measurements, negotiated.signs_measurements, slot)
            summary = challenge.measurement_summary_hash
            if (
                summary_hash_type == SummaryHashType.ALL
                and summary is not None
                and result.signed
                and measurements == ALL_MEASUREMENTS
            ):
                check_summary_hash(summary, result.blocks, self.hash)
        verdict = appraise(result.blocks, reference) if reference is not None and result is not None else None
        return AuthenticationResult(
            negotiated=negotiated,
            digests=digests,
            slot=slot,
            chain=chain,
            chain_bytes=chain_bytes,
            challenge=challenge,
            measurements=result,
            appraisal=verdict,
        )

    # --- sessions ------------------------------------------------------------------------

    def key_exchange(
        self, slot: int | None = None, *, summary_hash_type: int = SummaryHashType.NONE, fetch_certificate: bool = True
    ) -> Operation[SessionCore]:
        """KEY_EXCHANGE/FINISH with the certificate chain of `slot`: an established session.

        KEY_EXCHANGE_RSP is signed by the slot's leaf key over A || Hash(Ct) || K, so the slot's
        chain must be validated first. Like libspdm, the requester uses the chain it already
        holds (`get_certificate` + `verify_certificate`); when it holds none and
        `fetch_certificate` is true (the default) it runs GET_DIGESTS, GET_CERTIFICATE and the
        validation itself (outside the session, before KEY_EXCHANGE), else it refuses with
        `VerificationError`. When the responder asks for mutual authentication the requester
        answers its encapsulated requests (or, for MutAuthRequested 0x01, just signs FINISH)
        with `config.identities`; with none configured it refuses (`NegotiationError`). `slot` None:
        0, or on a multi-key connection the lowest slot whose key may be used for KEY_EXCHANGE.
        """
        return Operation(self._key_exchange(slot, summary_hash_type, fetch_certificate))

    def _key_exchange(self, asked: int | None, summary_hash_type: int, fetch_certificate: bool) -> Steps[SessionCore]:
        if asked is not None and not 0 <= asked < SLOT_COUNT:
            unsupported = f"provisioned public keys, slot 0x{PUBLIC_KEY_SLOT:X}, are not supported"
            raise ValueError(f"slot {asked} is not 0..{SLOT_COUNT - 1} ({unsupported})")
        negotiated = self._require_negotiated()
        check_key_exchange(negotiated)
        self._check_session_room()
        slot = self._slot_for(KeyUsage.KEY_EXCHANGE, asked)
        if slot not in self.verified:
            if not fetch_certificate:
                raise VerificationError(f"slot {slot}: verify the certificate chain before KEY_EXCHANGE")
            digests = yield from self._get_digests()
            slot = self._slot_for(KeyUsage.KEY_EXCHANGE, asked)  # the usages are known now
            if slot not in digests:
                raise VerificationError(f"slot {slot} holds no certificate chain (populated: {sorted(digests)})")
            yield from self._get_certificate(slot)
            self.verify_certificate(slot)
        return (
            yield from key_exchange(
                self._link,
                self._transact,
                negotiated=negotiated,
                vca_hash=self.transcript.key_exchange_hash,
                version_offer=self._version_offers[negotiated.general_opaque_data],
                slot=slot,
                chain=self.chains[slot],
                verified=self.verified[slot],
                summary_hash_type=summary_hash_type,
            )
        )

    def psk_exchange(self, *, summary_hash_type: int = SummaryHashType.NONE) -> Operation[SessionCore]:
        """PSK_EXCHANGE (and PSK_FINISH when the responder has PSK context) with `config.psk`: an
        established session.

        ResponderVerifyData in PSK_EXCHANGE_RSP proves the responder holds the PSK; a responder
        with PSK_CAP "without context" sends no context and expects no PSK_FINISH.
        """
        return Operation(self._psk_exchange(summary_hash_type))

    def _psk_exchange(self, summary_hash_type: int) -> Steps[SessionCore]:
        negotiated = self._require_negotiated()
        self._check_session_room()
        return (
            yield from psk_exchange(
                self._link,
                self._transact,
                negotiated=negotiated,
                vca_hash=self.transcript.vca_hash,
                version_offer=self._version_offers[negotiated.general_opaque_data],
                psk_schedule=self._psk_key_schedule,
                summary_hash_type=summary_hash_type,
            )
        )

    def _psk_key_schedule(self) -> KeySchedule:
        """The key schedule of every PSK session of this negotiation: it depends only on `config.psk` and
        the negotiated hash, AEAD and version, so the first PSK_EXCHANGE makes it and the next ones reuse
        its handshake and master secrets (a new GET_VERSION forgets it)."""
        if self._psk_schedule is None:
            negotiated, psk = self._require_negotiated(), self.config.psk
            if psk is None:
                raise NegotiationError("no pre-shared key is configured (RequesterConfig.psk)")
            self._psk_schedule = KeySchedule(
                hash_suite(negotiated.base_hash_algo),
                aead_suite(negotiated.aead_suite),
                psk,
                spdm_version=negotiated.version,
                psk=True,
            )
        return self._psk_schedule

    def _check_session_room(self) -> None:
        limit = self.config.limits.max_requester_sessions
        if len(self.sessions) >= limit:
            reason = f"{len(self.sessions)} sessions are open, at most {limit}"
            raise ProtocolError(ErrorCode.SessionLimitExceeded, reason)


S = TypeVar("S", bound=SessionView)


class ConnectionView(Generic[S]):
    """What the drivers (`spdm.requester.Requester`, `spdm.aio.AsyncRequester`) share: the
    connection's state, read from its `Connection` (kept as `connection`), and their own
    sessions (driver objects of type `S` around each `SessionCore`)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._sessions: dict[int, S] = {}

    @property
    def config(self) -> RequesterConfig:
        return self.connection.config

    @property
    def transcript(self) -> ConnectionTranscript:
        return self.connection.transcript

    @property
    def version(self) -> int:
        return self.connection.version

    @property
    def negotiated(self) -> Negotiated | None:
        return self.connection.negotiated

    @property
    def digests(self) -> dict[int, bytes]:
        return self.connection.digests

    @property
    def chains(self) -> dict[int, bytes]:
        return self.connection.chains

    @property
    def verified(self) -> dict[int, VerifiedChain]:
        return self.connection.verified

    @property
    def hash(self) -> HashSuite:
        return self.connection.hash

    @property
    def asym(self) -> AsymSuite:
        return self.connection.asym

    @property
    def sessions(self) -> dict[int, S]:
        """The open sessions by SessionID (`key_exchange`, `psk_exchange`); a session leaves when it ends."""
        open_sessions = self.connection.sessions
        return {sid: session for sid, session in self._sessions.items() if open_sessions.get(sid) is session.core}

    def verify_certificate(self, slot: int = 0) -> VerifiedChain:
        """Validate the slot's chain (fetched by `get_certificate`) against the slot's trust anchor."""
        return self.connection.verify_certificate(slot)

    def _adopt(self, session: S) -> S:
        """A new session of this driver; the closed ones are forgotten."""
        self._sessions = self.sessions
        self._sessions[session.session_id] = session
        return session
