"""The responder's configuration: what the device is, what it supports, and its identities.

Kept apart from the state machine (`spdm.responder.machine`) so that the protocol code reads as one
pipeline; both are public through `spdm.responder`. `demo_config()` is a ready device with a
throwaway identity; any other field is one `dataclasses.replace` away.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from spdm._checks import check_responder_flags, check_transfer_size_settings
from spdm.certs import MAX_CERTIFICATE_PORTION, check_certificate_portion
from spdm.crypto import DheSuite, SigningKey
from spdm.errors import NegotiationError, ProtocolError
from spdm.events import DMTF_EVENT_GROUP, check_notifier_groups
from spdm.limits import DEFAULT_LIMITS, Limits
from spdm.measurements import MeasurementProvider
from spdm.messages.certificates import SLOT_COUNT
from spdm.messages.codes import (
    DEFINED_RESPONDER_FLAGS,
    AeadAlgorithm,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    KeyScheduleAlgo,
    KeyUsage,
    MeasurementHashAlgo,
)
from spdm.messages.endpoint_info import check_ep_info
from spdm.messages.events import EventGroup
from spdm.messages.key_pairs import MAX_KEY_PAIRS
from spdm.messages.mel import MelLog
from spdm.messages.negotiation import (
    DEFAULT_TRANSFER_SIZE,
    SPDM_VERSIONS,
    Capabilities,
    check_capability_settings,
    version_text,
)
from spdm.messages.psk import MAX_PSK_HINT_SIZE, check_psk
from spdm.negotiated import SIGNING_CAPABILITIES
from spdm.responder.demo import demo_chain, demo_measurements, demo_mel
from spdm.responder.key_pairs import KeyPair
from spdm.session.secured import PCI_DOE, SECURED_MESSAGE_VERSIONS, SecuredTransport, check_secured_message_versions

__all__ = [
    "DEFAULT_CAPABILITIES",
    "DEMO_ENDPOINT_INFO",
    "KEY_PAIR_CAPABILITIES",
    "MAX_PSK_HINT_SIZE",
    "PROVISIONING_CAPABILITIES",
    "RESPONDER_SESSION_CAPABILITIES",
    "SECURED_MESSAGE_VERSIONS",
    "SLOT_COUNT",
    "SUPPORTED_VERSIONS",
    "MutualAuth",
    "ResponderConfig",
    "SlotIdentity",
    "demo_config",
    "session_capabilities",
]

F = CapabilityFlags

SUPPORTED_VERSIONS = frozenset(SPDM_VERSIONS)

DEFAULT_CAPABILITIES = int(F.CERT_CAP | F.CHAL_CAP | F.MEAS_CAP_SIG | F.MEAS_FRESH_CAP)
"""Certificates, CHALLENGE and signed fresh measurements: a 1.1 device without sessions."""

RESPONDER_SESSION_CAPABILITIES = int(
    F.ENCRYPT_CAP
    | F.MAC_CAP
    | F.MUT_AUTH_CAP
    | F.KEY_EX_CAP
    | F.PSK_CAP_WITH_CONTEXT
    | F.ENCAP_CAP
    | F.HBEAT_CAP
    | F.KEY_UPD_CAP
    | F.HANDSHAKE_IN_THE_CLEAR_CAP
)
"""Every session capability of SPDM 1.1: encrypted and authenticated sessions by DHE and by PSK (with
context), mutual authentication with encapsulated requests, heartbeat, key update and the handshake
in the clear (in effect only when the requester sets it too)."""

PROVISIONING_CAPABILITIES = int(F.CSR_CAP | F.SET_CERT_CAP)
"""SPDM 1.2 certificate provisioning: GET_CSR and SET_CERTIFICATE (add CERT_INSTALL_RESET_CAP for a
device whose new chain takes effect only after a reset)."""

KEY_PAIR_CAPABILITIES = int(F.GET_KEY_PAIR_INFO_CAP | F.SET_KEY_PAIR_INFO_CAP | F.MULTI_KEY_CAP_NEG)
"""SPDM 1.3 key pairs: GET_KEY_PAIR_INFO, SET_KEY_PAIR_INFO and multi-key connections when the requester
asks for them (MULTI_KEY_CAP "negotiated"); the key pairs are `ResponderConfig.key_pairs`
(`key_pairs_for_slots`; with none every KeyPairID is refused)."""

DEMO_HEARTBEAT_PERIOD = 60
DEMO_ENDPOINT_INFO = bytes.fromhex("01000000" + "07" + "0000" + "01" + "03") + b"pys"
"""The demo device's EPInfo (DSP0274 1.3 device class identifier): one identifier element, DMTF
(SVH ID 0, no vendor ID), with one 3-byte subordinate ID, laid out as libspdm's sample device
(os_stub/spdm_device_secret_lib_sample/endpointinfo.c) lays out its own."""

MutualAuth = Literal["encapsulated", "digests", "basic"]
"""How KEY_EXCHANGE_RSP asks for mutual authentication: "encapsulated" is MutAuthRequested 0x02 (the
requester's chain is fetched with encapsulated GET_DIGESTS/GET_CERTIFICATE inside the handshake),
"digests" is 0x04 (the same flow, the requester sending its DIGESTS before it is asked), "basic" is
0x01 (the requester signs FINISH with a chain the responder knows out of band)."""


def session_capabilities(*, psk: bool = True, psk_context: bool = True, handshake_in_the_clear: bool = True) -> int:
    """The session capability flags to OR into `capabilities`: `RESPONDER_SESSION_CAPABILITIES`, with PSK
    (with or without a responder context) or the handshake in the clear left out on request."""
    flags = RESPONDER_SESSION_CAPABILITIES & ~F.PSK_CAP_MASK
    if psk:
        flags |= F.PSK_CAP_WITH_CONTEXT if psk_context else F.PSK_CAP_NO_CONTEXT
    if not handshake_in_the_clear:
        flags &= ~F.HANDSHAKE_IN_THE_CLEAR_CAP
    return int(flags)


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


# Preference orders: libspdm's (libspdm_rsp_algorithms.c), strongest first.
_ASYM_PRIORITY = (
    BaseAsymAlgo.ECDSA_P521,
    BaseAsymAlgo.ECDSA_P384,
    BaseAsymAlgo.ECDSA_P256,
    BaseAsymAlgo.RSAPSS_4096,
    BaseAsymAlgo.RSAPSS_3072,
    BaseAsymAlgo.RSAPSS_2048,
    BaseAsymAlgo.RSASSA_4096,
    BaseAsymAlgo.RSASSA_3072,
    BaseAsymAlgo.RSASSA_2048,
    BaseAsymAlgo.EDDSA_ED25519,
)
_HASH_PRIORITY = (
    BaseHashAlgo.SHA_512,
    BaseHashAlgo.SHA_384,
    BaseHashAlgo.SHA_256,
    BaseHashAlgo.SHA3_512,
    BaseHashAlgo.SHA3_384,
    BaseHashAlgo.SHA3_256,
)
_MEASUREMENT_HASH_PRIORITY = (
    MeasurementHashAlgo.SHA_512,
    MeasurementHashAlgo.SHA_384,
    MeasurementHashAlgo.SHA_256,
    MeasurementHashAlgo.SHA3_512,
    MeasurementHashAlgo.SHA3_384,
    MeasurementHashAlgo.SHA3_256,
    MeasurementHashAlgo.RAW_BIT_STREAM_ONLY,
)
_DHE_PRIORITY = (
    DheGroup.SECP_521_R1,
    DheGroup.SECP_384_R1,
    DheGroup.SECP_256_R1,
    DheGroup.FFDHE_4096,
    DheGroup.FFDHE_3072,
    DheGroup.FFDHE_2048,
)
_AEAD_PRIORITY = (AeadAlgorithm.AES_256_GCM, AeadAlgorithm.AES_128_GCM, AeadAlgorithm.CHACHA20_POLY1305)
_KEY_SCHEDULE_PRIORITY = (KeyScheduleAlgo.SPDM_KEY_SCHEDULE,)


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotIdentity:
    """One certificate slot: DER certificates root (or first intermediate) first, leaf last, and the leaf's key.

    `root_certificate` is the root's DER when the chain starts at an intermediate (RootHash covers it).
    The SPDM-format chain is built per negotiated hash, so one identity serves every hash.

    `alias_certificates` (the alias model, ALIAS_CERT_CAP): how many certificates at the end the
    device issued itself under its device certificate, a CA, which comes just before them; the key
    is the alias leaf's. SET_CERTIFICATE installs a chain ending in a device certificate and keeps
    these as they are, appended: the device key that signed them does not change, as no slot key does.
    """

    certificates: tuple[bytes, ...]
    private_key: SigningKey
    root_certificate: bytes | None = None
    alias_certificates: int = 0
    key_usage: int = KeyUsage.ALL_SPDM
    """1.3 multi-key connections: the slot's KeyUsageMask (`KeyUsage`), what its key may sign for."""

    def __post_init__(self) -> None:
        if not 0 <= self.key_usage <= KeyUsage.DEFINED or self.key_usage & ~KeyUsage.DEFINED:
            raise ValueError(f"key_usage 0x{self.key_usage:x}: give KeyUsage bits")
        if not self.certificates:
            raise ValueError("a slot needs at least one certificate")
        try:
            leaf = x509.load_der_x509_certificate(self.certificates[-1])
        except ValueError as exc:
            raise ValueError(f"the leaf certificate does not parse: {exc}") from None
        if _spki(leaf.public_key()) != _spki(self.private_key.public_key()):
            raise ValueError("the private key does not belong to the leaf certificate")
        if self.alias_certificates:
            self._check_device_certificate()

    def _check_device_certificate(self) -> None:
        """The alias model: the certificate before the alias certificates is the device's, a CA."""
        if not 0 < self.alias_certificates < len(self.certificates):
            raise ValueError(
                f"alias_certificates {self.alias_certificates}: a device certificate must come before the "
                f"alias certificates in the {len(self.certificates)} certificates"
            )
        try:
            device = x509.load_der_x509_certificate(self.device_chain[-1])
            constraints = device.extensions.get_extension_for_class(x509.BasicConstraints).value
        except (ValueError, x509.ExtensionNotFound) as exc:
            raise ValueError(f"the device certificate has no readable basicConstraints: {exc}") from None
        if not constraints.ca:
            raise ValueError("the device certificate of the alias model must be a CA (basicConstraints cA TRUE)")

    @property
    def device_chain(self) -> tuple[bytes, ...]:
        """The certificates up to the device certificate: what SET_CERTIFICATE replaces (all of them without alias)."""
        return self.certificates[: len(self.certificates) - self.alias_certificates]

    @property
    def alias_chain(self) -> tuple[bytes, ...]:
        """The alias certificates the device issued, leaf last (empty in the device model)."""
        return self.certificates[len(self.certificates) - self.alias_certificates :]

    @property
    def public_key(self) -> PublicKeyTypes:
        return self.private_key.public_key()


def _spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponderConfig:
    """What the device is and supports. Priorities are bit values, most preferred first.

    - `versions`: SPDMVersion bytes (0x10, 0x11, 0x12, 0x13) listed in VERSION.
    - `data_transfer_size`, `max_spdm_msg_size`: the 1.2 CAPABILITIES sizes (equal without CHUNK_CAP);
      `max_spdm_msg_size` is at most `limits.max_request_bytes` (the responder takes what it advertises).
    - `capabilities`: the CAPABILITIES flags (a raw u32, so a replay may advertise bits this
      responder does not serve yet); each version's CAPABILITIES shows only the bits it defines.
    - `slots`: populated certificate slots (0..7). BaseAsymAlgo is chosen among what the
      requester offers, the priority and what some slot's key can sign; slots whose key cannot
      sign the chosen algorithm are left out of that connection.
    - `key_pairs`: the device's key pairs (SPDM 1.3 `KeyPair`, KeyPairID = position + 1), which
      GET_KEY_PAIR_INFO reports and SET_KEY_PAIR_INFO changes (GET_/SET_KEY_PAIR_INFO_CAP), and
      whose slot association gives a multi-key DIGESTS its KeyPairIDs.
    - `random`: the source of every random draw: the 32-byte nonces of CHALLENGE_AUTH and
      MEASUREMENTS, the sessions' RandomData and contexts, MCTP secured records' random padding.
      Signing draws its own (OpenSSL's ECDSA nonce, RSASSA-PSS salt): for byte-identical runs, give
      the slot a key whose `sign` is deterministic (RFC 6979 ECDSA, as vectors/generate.py does).
    - `max_padding`: how many zero bytes may follow a request (DOE pads to DWORDs: 3).
    - `limits`: the resource bounds (`spdm.limits.Limits`): the largest request read
      (`max_request_bytes`, longer is InvalidRequest before it is decoded; in a session, once its
      record is opened: the transport bounds records), the live sessions
      (`max_sessions`, handshaking ones count; one more is SessionLimitExceeded), opaque data,
      vendor payloads and the requester's chain read through encapsulated requests.
    - `certificate_portion`: the largest CERTIFICATE portion served, whatever Length asks.
    - `measurement_extension_log`: the MEL served to GET_MEASUREMENT_EXTENSION_LOG (SPDM 1.3, DMTF
      format); it needs MEL_CAP in `capabilities`, and the measurements should hold the
      hash-extended blocks it extends (`spdm.mel.hash_extended_block`).
    - `endpoint_info`: the EPInfo ENDPOINT_INFO serves (SPDM 1.3, at most 1024 bytes), needed with
      EP_INFO_CAP_NO_SIG or EP_INFO_CAP_SIG in `capabilities` (SIG: signed by the asked slot's key).
    - `multi_key`: at 1.3, whether a requester with MULTI_KEY_CAP_NEG gets a multi-key connection
      (ALGORITHMS MULTI_KEY_CONN; one with MULTI_KEY_CAP_ONLY always does).

    Sessions (in effect only with the session bits in `capabilities`, e.g. `session_capabilities()`):

    - `psks`: pre-shared keys by PSKHint (b"" for PSK_EXCHANGE without a hint).
    - `heartbeat_period`: seconds, sent in KEY_EXCHANGE_RSP / PSK_EXCHANGE_RSP Param1 when both sides
      set HBEAT_CAP; 0 means no heartbeat (HEARTBEAT is then UnexpectedRequest, as libspdm answers).
    - `mutual_auth`: None, "encapsulated" (MutAuthRequested 0x02: the requester asks for the encapsulated
      GET_DIGESTS), "digests" (0x04: the requester answers that GET_DIGESTS, RequestID 0, unasked) or
      "basic" (0x01); asked only of a requester whose GET_CAPABILITIES set MUT_AUTH_CAP (and ENCAP_CAP
      for "encapsulated" and "digests").
    - `requester_trust_anchors`: DER roots by the requester's slot, to validate its chain (0x02) or
      the out-of-band `requester_chain` (DER certificates root first, for 0x01); `requester_slot` the
      requester slot asked for (0x01: ReqSlotID; 0x02, 0x04: the slot fetched, when its DIGESTS lists it).
    - `secured_message_versions`: DSP0277 versions (0x1000, 0x1100, 0x1200); the highest one the
      requester's SupportedVersionList also holds is selected.
    - `dhe_private_value(suite)`: the ephemeral DHE private value (FFDHE exponent or EC scalar) of a
      KEY_EXCHANGE, for deterministic tests and replays (as the requester's option of the same
      name); by default a fresh key is drawn for every KEY_EXCHANGE.
    - `clock`: the time certificate validity is checked at (the requester's chain).
    - `secured_transport`: the framing of secured messages (`spdm.session.PCI_DOE` or `MCTP`).
    - `event_groups`: the event groups (and their types) SUPPORTED_EVENT_TYPES lists and requesters
      may subscribe to, served with EVENT_CAP (SPDM 1.3); by default the DMTF group with its four
      types (`spdm.events.DMTF_EVENT_GROUP`), the only DMTF types there are
      (`spdm.events.check_notifier_groups`). Events are raised with `Responder.raise_event`.
    - `on_dhe_secret(session_id, secret)`: told each DHE session's shared secret once its
      KEY_EXCHANGE_RSP is built (sessions in capture order), for a capture's secrets sidecar
      (`spdm.capture.SecretsLog`). It reveals session keys: set it only with the user's consent.
    """

    versions: tuple[int, ...] = SPDM_VERSIONS
    capabilities: int = DEFAULT_CAPABILITIES
    ct_exponent: int = 0
    data_transfer_size: int = DEFAULT_TRANSFER_SIZE
    max_spdm_msg_size: int = DEFAULT_TRANSFER_SIZE
    base_asym_priority: tuple[int, ...] = _ASYM_PRIORITY
    base_hash_priority: tuple[int, ...] = _HASH_PRIORITY
    measurement_hash_priority: tuple[int, ...] = _MEASUREMENT_HASH_PRIORITY
    dhe_priority: tuple[int, ...] = _DHE_PRIORITY
    aead_priority: tuple[int, ...] = _AEAD_PRIORITY
    req_base_asym_priority: tuple[int, ...] = _ASYM_PRIORITY
    key_schedule_priority: tuple[int, ...] = _KEY_SCHEDULE_PRIORITY
    slots: Mapping[int, SlotIdentity] = field(default_factory=dict)
    key_pairs: tuple[KeyPair, ...] = ()
    measurements: MeasurementProvider | None = None
    random: Callable[[int], bytes] = os.urandom
    max_padding: int = 0
    limits: Limits = DEFAULT_LIMITS
    certificate_portion: int = MAX_CERTIFICATE_PORTION
    measurement_extension_log: MelLog | None = None
    multi_key: bool = True
    psks: Mapping[bytes, bytes] = field(default_factory=dict, repr=False)
    heartbeat_period: int = 0
    mutual_auth: MutualAuth | None = None
    requester_trust_anchors: Mapping[int, bytes] = field(default_factory=dict)
    requester_chain: tuple[bytes, ...] = ()
    requester_slot: int = 0
    secured_message_versions: tuple[int, ...] = SECURED_MESSAGE_VERSIONS
    dhe_private_value: Callable[[DheSuite], int] | None = None
    clock: Callable[[], datetime.datetime] = _utc_now
    secured_transport: SecuredTransport = PCI_DOE
    on_dhe_secret: Callable[[int, bytes], None] | None = None
    endpoint_info: bytes | None = None
    event_groups: tuple[EventGroup, ...] = (DMTF_EVENT_GROUP,)

    def __post_init__(self) -> None:
        check_capability_settings(self)
        sizes = Capabilities(
            version=max(self.versions),
            data_transfer_size=self.data_transfer_size,
            max_spdm_msg_size=self.max_spdm_msg_size,
        )
        check_transfer_size_settings(sizes, self.capabilities)
        for version in sorted(self.versions):  # the flags each version's CAPABILITIES carries
            try:
                check_responder_flags(self.capabilities & DEFINED_RESPONDER_FLAGS[version], version)
            except NegotiationError as exc:
                raise ValueError(f"{exc} at SPDM {version_text(version)}: a requester refuses it") from None
        if any(not 0 <= slot < SLOT_COUNT for slot in self.slots):
            raise ValueError(f"slots {sorted(self.slots)}: slot numbers are 0..7")
        if self.capabilities & SIGNING_CAPABILITIES and not self.slots:
            raise ValueError("CERT_CAP, CHAL_CAP and signed measurements need at least one slot")
        if self.capabilities & F.MEAS_CAP_MASK:
            if self.measurements is None:
                raise ValueError("MEAS_CAP needs a measurement provider")
            if not self.measurement_hash_priority:
                raise ValueError("MEAS_CAP needs a measurement hash")
        self._check_certificate_model()
        if len(self.key_pairs) > MAX_KEY_PAIRS:
            raise ValueError(f"{len(self.key_pairs)} key pairs: KeyPairIDs go up to {MAX_KEY_PAIRS}")
        object.__setattr__(self, "key_pairs", tuple(self.key_pairs))
        if self.measurement_extension_log is not None and not self.capabilities & F.MEL_CAP:
            raise ValueError("measurement_extension_log is served only with MEL_CAP in capabilities")
        self._check_endpoint_info()
        if not 0 <= self.max_padding <= 0xFF:
            raise ValueError(f"max_padding {self.max_padding} is out of range")
        if not isinstance(self.limits, Limits):
            raise ValueError(f"limits {self.limits!r} is not a spdm.limits.Limits")
        if self.max_spdm_msg_size > self.limits.max_request_bytes:  # the responder takes what it advertises
            raise ValueError(
                f"max_spdm_msg_size {self.max_spdm_msg_size} is over limits.max_request_bytes "
                f"{self.limits.max_request_bytes}, the largest request the responder reads"
            )
        check_certificate_portion(self.certificate_portion)
        self._check_sessions()
        self._check_events()
        object.__setattr__(self, "slots", MappingProxyType(dict(self.slots)))
        object.__setattr__(self, "psks", MappingProxyType({bytes(k): bytes(v) for k, v in self.psks.items()}))
        anchors = {slot: bytes(der) for slot, der in self.requester_trust_anchors.items()}
        object.__setattr__(self, "requester_trust_anchors", MappingProxyType(anchors))
        object.__setattr__(self, "requester_chain", tuple(bytes(der) for der in self.requester_chain))
        object.__setattr__(self, "event_groups", tuple(self.event_groups))

    def _check_certificate_model(self) -> None:
        """ALIAS_CERT_CAP says every slot's chain ends in alias certificates; without it none does."""
        alias = bool(self.capabilities & F.ALIAS_CERT_CAP)
        if alias and not self.capabilities & F.CERT_CAP:
            raise ValueError("ALIAS_CERT_CAP needs CERT_CAP")
        if alias and self.capabilities & F.CSR_CAP:
            raise ValueError("CSR_CAP with ALIAS_CERT_CAP is not supported: its CSR is for the device key, not held")
        for slot, identity in self.slots.items():
            if alias and not identity.alias_certificates:
                raise ValueError(f"ALIAS_CERT_CAP: slot {slot} has no alias certificates (alias_certificates)")
            if identity.alias_certificates and not alias:
                raise ValueError(f"slot {slot} ends in alias certificates but capabilities lack ALIAS_CERT_CAP")

    def _check_endpoint_info(self) -> None:
        ep_info = self.capabilities & F.EP_INFO_CAP_MASK
        if ep_info == F.EP_INFO_CAP_MASK:
            raise ValueError("EP_INFO_CAP_NO_SIG and EP_INFO_CAP_SIG together: 11b is reserved")
        if ep_info and self.endpoint_info is None:
            raise ValueError("EP_INFO_CAP needs the EPInfo to serve (endpoint_info)")
        if ep_info == F.EP_INFO_CAP_SIG and not self.slots:
            raise ValueError("EP_INFO_CAP_SIG needs a slot to sign with")
        if self.endpoint_info is not None:
            check_ep_info(self.endpoint_info)
            object.__setattr__(self, "endpoint_info", bytes(self.endpoint_info))

    def _check_events(self) -> None:
        try:
            check_notifier_groups(self.event_groups, "event_groups")
        except ProtocolError as exc:
            raise ValueError(str(exc)) from None
        if self.capabilities & F.EVENT_CAP and not self.event_groups:
            raise ValueError("EVENT_CAP needs at least one event group (event_groups)")

    def _check_sessions(self) -> None:
        for hint, key in self.psks.items():
            check_psk(hint, key)
        if not 0 <= self.heartbeat_period <= 0xFF:
            raise ValueError(f"heartbeat_period {self.heartbeat_period} is not within 0..255 seconds")
        check_secured_message_versions(self.secured_message_versions)
        if not 0 <= self.requester_slot < SLOT_COUNT:
            raise ValueError(f"requester_slot {self.requester_slot}: slot numbers are 0..7")
        if any(not 0 <= slot < SLOT_COUNT for slot in self.requester_trust_anchors):
            raise ValueError(f"requester_trust_anchors {sorted(self.requester_trust_anchors)}: slot numbers are 0..7")
        for der in (*self.requester_trust_anchors.values(), *self.requester_chain):
            try:
                x509.load_der_x509_certificate(der)
            except ValueError as exc:
                raise ValueError(f"a requester certificate does not parse: {exc}") from None
        mutual = self.mutual_auth
        if mutual is None:
            return
        if mutual not in ("encapsulated", "digests", "basic"):
            raise ValueError(f"mutual_auth {mutual!r}: use None, 'encapsulated', 'digests' or 'basic'")
        if not self.capabilities & F.MUT_AUTH_CAP:
            raise ValueError("mutual_auth needs MUT_AUTH_CAP in capabilities")
        if mutual != "basic":
            if not self.capabilities & F.ENCAP_CAP:
                raise ValueError(f"mutual_auth {mutual!r} needs ENCAP_CAP in capabilities")
            if not self.requester_trust_anchors:
                raise ValueError(f"mutual_auth {mutual!r} needs requester_trust_anchors to validate the chain")
        elif not self.requester_chain:
            raise ValueError("mutual_auth 'basic' needs the requester's certificates (requester_chain)")


def demo_config(
    *,
    sessions: bool = False,
    psks: Mapping[bytes, bytes] | None = None,
    provisioning: bool = False,
    mel: bool = False,
    events: bool = False,
) -> ResponderConfig:
    """A ready device: ECDSA P-384 in slot 0 (a chain generated once per process) and demo measurements.

    `sessions` adds every session capability (`session_capabilities`; PSK only when `psks` holds a
    key) and a 60-second heartbeat period; `provisioning` adds GET_CSR and SET_CERTIFICATE
    (`PROVISIONING_CAPABILITIES`); `mel` the demo's measurement extension log (SPDM 1.3, MEL_CAP), which
    its measurements' hash-extended block agrees with; `events` adds EVENT_CAP (SPDM 1.3, in sessions
    only: it needs `sessions`), serving the DMTF event group. At SPDM 1.3 it serves signed endpoint info
    (EP_INFO_CAP_SIG, `DEMO_ENDPOINT_INFO`). Any other field is one `dataclasses.replace` away, e.g.
    ``replace(demo_config(), max_padding=3)`` for DOE.
    """
    if events and not sessions:
        raise ValueError("events exist only inside sessions: demo_config(events=True) needs sessions=True")
    chain = demo_chain()
    capabilities = DEFAULT_CAPABILITIES | F.EP_INFO_CAP_SIG
    if sessions:
        capabilities |= session_capabilities(psk=bool(psks))
    if events:
        capabilities |= F.EVENT_CAP
    if provisioning:
        capabilities |= PROVISIONING_CAPABILITIES
    log = demo_mel() if mel else None
    if log is not None:
        capabilities |= F.MEL_CAP
    return ResponderConfig(
        capabilities=capabilities,
        slots={0: SlotIdentity(certificates=chain.certificates, private_key=chain.leaf_key)},
        measurements=demo_measurements(log),
        measurement_extension_log=log,
        measurement_hash_priority=(MeasurementHashAlgo.SHA_384,),
        psks=psks or {},
        heartbeat_period=DEMO_HEARTBEAT_PERIOD if sessions else 0,
        endpoint_info=DEMO_ENDPOINT_INFO,
    )
