"""What the requester offers and how it checks the device: `RequesterConfig`, and the capability
and algorithm presets that sessions need."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from spdm._checks import check_transfer_size_settings, requester_flags_refusal
from spdm.certs import DEFAULT_CERTIFICATE_PORTION, ChainPolicy, check_certificate_portion
from spdm.crypto import AEAD_SUITES, ASYM_SUITES, DHE_SUITES, HASH_SUITES, DheSuite, SignatureScheme
from spdm.limits import DEFAULT_LIMITS, Limits
from spdm.messages.codes import (
    DEFINED_REQUESTER_FLAGS,
    AlgType,
    CapabilityFlags,
    KeyScheduleAlgo,
    MeasurementSpecification,
)
from spdm.messages.endpoint_info import check_ep_info
from spdm.messages.negotiation import (
    DEFAULT_TRANSFER_SIZE,
    SPDM_VERSIONS,
    AlgStruct,
    GetCapabilities,
    check_capability_settings,
    version_text,
)
from spdm.messages.psk import check_psk
from spdm.requester.identity import DheKeyShare, RequesterIdentity
from spdm.session.secured import (
    PCI_DOE,
    SECURED_MESSAGE_VERSIONS,
    PaddingSource,
    SecuredTransport,
    check_secured_message_versions,
)

__all__ = [
    "MUTUAL_AUTH_CAPABILITIES",
    "REQUESTER_SESSION_CAPABILITIES",
    "SECURED_MESSAGE_VERSIONS",
    "RequesterConfig",
    "session_alg_structs",
]

_F = CapabilityFlags
REQUESTER_SESSION_CAPABILITIES = int(
    _F.ENCRYPT_CAP
    | _F.MAC_CAP
    | _F.KEY_EX_CAP
    | _F.PSK_CAP_NO_CONTEXT  # a requester's PSK_CAP is 01b
    | _F.HBEAT_CAP
    | _F.KEY_UPD_CAP
    | _F.HANDSHAKE_IN_THE_CLEAR_CAP
)
"""What a requester sets to open sessions: encryption and MAC, DHE and PSK handshakes, heartbeat, key update."""

MUTUAL_AUTH_CAPABILITIES = int(_F.MUT_AUTH_CAP | _F.ENCAP_CAP | _F.CERT_CAP | _F.CHAL_CAP)
"""What a requester with an identity adds: it can be authenticated (through encapsulated requests)."""


_DEFAULT_CAPABILITIES = int(_F.CERT_CAP | _F.CHAL_CAP)
_ALL_ASYM = sum(suite.bit for suite in ASYM_SUITES if suite.scheme is not SignatureScheme.EDDSA)
"""Every signature algorithm whose certificate chains can be validated (`spdm.certs`: not EdDSA keys)."""
_ALL_HASH = sum(suite.bit for suite in HASH_SUITES)
_ALL_DHE = sum(suite.bit for suite in DHE_SUITES)
_ALL_AEAD = sum(suite.bit for suite in AEAD_SUITES)
_DEFAULT_RETRIES = 3
_DEFAULT_RTT = 1.0


def session_alg_structs(req_base_asym_alg: int = _ALL_ASYM) -> tuple[AlgStruct, ...]:
    """The AlgStructs that offer every DHE group, AEAD suite and the SPDM key schedule, and
    `req_base_asym_alg` (the signature algorithms a requester identity can use) as ReqBaseAsymAlg."""
    return (
        AlgStruct(alg_type=AlgType.DHE, alg_supported=_ALL_DHE),
        AlgStruct(alg_type=AlgType.AEAD, alg_supported=_ALL_AEAD),
        AlgStruct(alg_type=AlgType.REQ_BASE_ASYM_ALG, alg_supported=req_base_asym_alg),
        AlgStruct(alg_type=AlgType.KEY_SCHEDULE, alg_supported=KeyScheduleAlgo.SPDM_KEY_SCHEDULE),
    )


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequesterConfig:
    """What the requester offers and how it checks the device.

    `trust_anchors` maps a slot to the DER root certificate its chain must lead to (one store per device: each
    requester instance has its own); `chain_policy` is what the responder's chain must satisfy besides
    (`spdm.certs.ChainPolicy`: by default the responder's SPDM EKU, as libspdm's requester checks it).
    `certificate_portion` is the Length asked per GET_CERTIFICATE, or less when a CERTIFICATE that long would
    not fit `max_spdm_msg_size`. `rtt` is the transport's round-trip allowance added to the responder's CT/ST1
    time to make each exchange's timeout. `limits` (`spdm.limits.Limits`) bounds what a response may make the
    requester hold: its size, a measurement record, a certificate chain, opaque data, a vendor payload, and the
    sessions held open at once. `versions` are the SPDM versions it accepts (the highest common one is used);
    `data_transfer_size` and `max_spdm_msg_size` are the sizes its 1.2 GET_CAPABILITIES states (equal without
    CHUNK_CAP; `max_spdm_msg_size` at most `limits.max_response_bytes`, since the requester takes what it
    advertises). At 1.3, `mel_specification` is the measurement extension log format it offers (DMTF; 0 for
    none), and `multi_key` whether it takes a device with MULTI_KEY_CAP_NEG as a multi-key connection (one with
    MULTI_KEY_CAP_ONLY always is).

    Injected: `clock` (the time certificates are checked at), `random(n)` (nonces, and see
    below) and `sleep(seconds)`, which the blocking `Requester` waits with when the device
    answers ResponseNotReady (the asyncio driver waits on its event loop instead).

    Sessions (see `with_sessions`, which sets the capabilities and AlgStructs they need):

    * `secured_message_versions`: the DSP0277 versions offered in KEY_EXCHANGE/PSK_EXCHANGE; the
      responder's selection must be one of them.
    * `psk`, `psk_hint`: the pre-shared key of PSK sessions and the hint that names it (may be empty).
    * `identities`: the requester's own certificate chains and keys by slot, for mutual
      authentication (answered through encapsulated GET_DIGESTS/GET_CERTIFICATE/CHALLENGE and a
      signed FINISH). Without one, a responder's request for mutual authentication is refused.
    * `dhe_private_value(suite)` returns the ephemeral DHE private value (deterministic tests);
      `dhe_key_share(suite)` replaces the whole ephemeral key agreement (a key held elsewhere, a
      capture replay). By default a fresh key is drawn for every KEY_EXCHANGE.
    * `random(n)` also supplies ReqSessionID (2 bytes, redrawn while zero or in use),
      KEY_EXCHANGE RandomData (32), the PSK RequesterContext (64), KEY_UPDATE tags (1), nonces and,
      without `secured_padding`, the random padding of MCTP secured records. Signing (mutual
      authentication) draws its own in OpenSSL: an identity's key whose `sign` is deterministic
      (RFC 6979 ECDSA) makes those signatures repeatable too.
    * `session_policy`: KEY_EXCHANGE's and PSK_EXCHANGE's SessionPolicy from 1.2 (bit 0,
      TerminationPolicy: end the session when the device's runtime firmware is updated; libspdm's
      emulator sets it); 0 by default.
    * `secured_transport`: how the transport frames secured messages (PCI DOE by default).
    * `secured_padding()` returns the random padding of each secured record the requester sends
      when the framing has some (MCTP: 1..32 bytes, as libspdm); None draws it from `random`
      (`spdm.session.random_padding`). Set it to reproduce recorded records (a capture replay).
    * `on_dhe_secret(session_id, secret)` is told each DHE session's shared secret as KEY_EXCHANGE_RSP
      arrives (sessions in capture order): what a capture's secrets sidecar needs
      (`spdm.capture.SecretsLog`). It reveals session keys: set it only with the user's consent.
    * `endpoint_info`: the requester's own EPInfo (SPDM 1.3, at most 1024 bytes), answered to a
      responder's encapsulated GET_ENDPOINT_INFO when `capabilities` offer EP_INFO_CAP (signed with
      the identity of the slot asked for under EP_INFO_CAP_SIG).
    """

    versions: tuple[int, ...] = SPDM_VERSIONS
    capabilities: int = _DEFAULT_CAPABILITIES
    ct_exponent: int = 0
    data_transfer_size: int = DEFAULT_TRANSFER_SIZE
    max_spdm_msg_size: int = DEFAULT_TRANSFER_SIZE
    base_asym_algo: int = _ALL_ASYM
    base_hash_algo: int = _ALL_HASH
    measurement_specification: int = MeasurementSpecification.DMTF
    alg_structs: tuple[AlgStruct, ...] = ()
    mel_specification: int = MeasurementSpecification.DMTF
    multi_key: bool = True
    trust_anchors: Mapping[int, bytes] = field(default_factory=dict)
    chain_policy: ChainPolicy = field(default_factory=ChainPolicy)
    certificate_portion: int = DEFAULT_CERTIFICATE_PORTION
    busy_retries: int = _DEFAULT_RETRIES
    not_ready_retries: int = _DEFAULT_RETRIES
    rtt: float = _DEFAULT_RTT
    clock: Callable[[], datetime] = _utc_now
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[int], bytes] = os.urandom
    secured_message_versions: tuple[int, ...] = SECURED_MESSAGE_VERSIONS
    psk: bytes | None = field(default=None, repr=False)
    psk_hint: bytes = b""
    identities: Mapping[int, RequesterIdentity] = field(default_factory=dict)
    dhe_private_value: Callable[[DheSuite], int] | None = None
    dhe_key_share: Callable[[DheSuite], DheKeyShare] | None = None
    session_policy: int = 0
    secured_transport: SecuredTransport = PCI_DOE
    secured_padding: PaddingSource | None = None
    on_dhe_secret: Callable[[int, bytes], None] | None = None
    limits: Limits = DEFAULT_LIMITS
    endpoint_info: bytes | None = None

    def __post_init__(self) -> None:
        if self.psk is not None:
            check_psk(self.psk_hint, self.psk)
        check_secured_message_versions(self.secured_message_versions)
        check_certificate_portion(self.certificate_portion)
        if not isinstance(self.limits, Limits):
            raise ValueError(f"limits {self.limits!r} is not a spdm.limits.Limits")
        if self.max_spdm_msg_size > self.limits.max_response_bytes:  # the requester takes what it advertises
            raise ValueError(
                f"max_spdm_msg_size {self.max_spdm_msg_size} is over limits.max_response_bytes "
                f"{self.limits.max_response_bytes}, the largest response the requester reads"
            )
        check_capability_settings(self)
        offer = GetCapabilities(
            version=max(self.versions),
            data_transfer_size=self.data_transfer_size,
            max_spdm_msg_size=self.max_spdm_msg_size,
        )
        check_transfer_size_settings(offer, self.capabilities)
        for version in sorted(self.versions):  # the flags each version's GET_CAPABILITIES carries (from 1.1)
            refusal = requester_flags_refusal(self.capabilities & DEFINED_REQUESTER_FLAGS.get(version, 0), version)
            if refusal is not None:
                raise ValueError(f"capabilities: {refusal} at SPDM {version_text(version)}: a responder refuses it")
        if self.endpoint_info is not None:
            check_ep_info(self.endpoint_info)
        if not 0 <= self.session_policy <= 0xFF:
            raise ValueError(f"session_policy {self.session_policy} is not a u8")

    def draw_random(self, size: int) -> bytes:
        """`random(size)`, refused unless it returns exactly `size` bytes."""
        data = bytes(self.random(size))
        if len(data) != size:
            raise ValueError(f"config.random({size}) returned {len(data)} bytes")
        return data

    @classmethod
    def with_sessions(
        cls,
        *,
        versions: tuple[int, ...] = SPDM_VERSIONS,
        capabilities: int = _DEFAULT_CAPABILITIES,
        ct_exponent: int = 0,
        data_transfer_size: int = DEFAULT_TRANSFER_SIZE,
        max_spdm_msg_size: int = DEFAULT_TRANSFER_SIZE,
        base_asym_algo: int = _ALL_ASYM,
        base_hash_algo: int = _ALL_HASH,
        measurement_specification: int = MeasurementSpecification.DMTF,
        alg_structs: tuple[AlgStruct, ...] = (),
        mel_specification: int = MeasurementSpecification.DMTF,
        multi_key: bool = True,
        trust_anchors: Mapping[int, bytes] | None = None,
        chain_policy: ChainPolicy | None = None,
        certificate_portion: int = DEFAULT_CERTIFICATE_PORTION,
        busy_retries: int = _DEFAULT_RETRIES,
        not_ready_retries: int = _DEFAULT_RETRIES,
        rtt: float = _DEFAULT_RTT,
        clock: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[int], bytes] = os.urandom,
        secured_message_versions: tuple[int, ...] = SECURED_MESSAGE_VERSIONS,
        psk: bytes | None = None,
        psk_hint: bytes = b"",
        identities: Mapping[int, RequesterIdentity] | None = None,
        dhe_private_value: Callable[[DheSuite], int] | None = None,
        dhe_key_share: Callable[[DheSuite], DheKeyShare] | None = None,
        session_policy: int = 0,
        secured_transport: SecuredTransport = PCI_DOE,
        secured_padding: PaddingSource | None = None,
        on_dhe_secret: Callable[[int, bytes], None] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        endpoint_info: bytes | None = None,
    ) -> RequesterConfig:
        """A configuration that can open sessions: the fields as for the constructor, plus
        `REQUESTER_SESSION_CAPABILITIES` (and `MUTUAL_AUTH_CAPABILITIES` when `identities` are
        given) in `capabilities`, and `session_alg_structs` (ReqBaseAsymAlg: what the identities'
        keys can sign with) unless `alg_structs` is given."""
        identities = identities or {}
        capabilities |= REQUESTER_SESSION_CAPABILITIES
        if identities:
            capabilities |= MUTUAL_AUTH_CAPABILITIES
        if not alg_structs:
            req_asym = 0
            for identity in identities.values():
                req_asym |= identity.signature_algorithms()
            alg_structs = session_alg_structs(req_asym or _ALL_ASYM)
        return cls(
            versions=versions,
            capabilities=capabilities,
            ct_exponent=ct_exponent,
            data_transfer_size=data_transfer_size,
            max_spdm_msg_size=max_spdm_msg_size,
            base_asym_algo=base_asym_algo,
            base_hash_algo=base_hash_algo,
            measurement_specification=measurement_specification,
            alg_structs=alg_structs,
            mel_specification=mel_specification,
            multi_key=multi_key,
            trust_anchors=trust_anchors or {},
            chain_policy=chain_policy or ChainPolicy(),
            certificate_portion=certificate_portion,
            busy_retries=busy_retries,
            not_ready_retries=not_ready_retries,
            rtt=rtt,
            clock=clock,
            sleep=sleep,
            random=random,
            secured_message_versions=secured_message_versions,
            psk=psk,
            psk_hint=psk_hint,
            identities=identities,
            dhe_private_value=dhe_private_value,
            dhe_key_share=dhe_key_share,
            session_policy=session_policy,
            secured_transport=secured_transport,
            secured_padding=secured_padding,
            on_dhe_secret=on_dhe_secret,
            limits=limits,
            endpoint_info=endpoint_info,
        )
