"""SPDM certificate chains: the slot format, reading a chain portion by portion, and validation of a
chain against a slot's trust anchor.

Slot format (DSP0274 1.0-1.3, the certificate chain format table): u16 LE Length (the whole
buffer), u16 Reserved, RootHash = Hash(DER of the root certificate), then DER certificates, root
(or first intermediate) first and leaf last. DIGESTS and the key-exchange transcript hash these
exact bytes. `ChainPortions` reassembles them from the CERTIFICATE responses that carry them.

Validation is `cryptography.x509.verification` (path building, signatures, validity, critical
extensions, CA constraints) with extension policies fitted to device certificates rather than
web PKI; this module adds only what that library does not know: the SPDM order of the chain,
RootHash, the leaf's fit to the negotiated algorithm, libspdm's leaf rules (by version and
certificate model), SPDM EKUs and extension, and the PCIe CMA identity in SubjectAltName.
"""

from __future__ import annotations

import datetime
import enum
import hmac
import os
import re
import struct
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from asn1crypto import core as asn1
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import verification as x509v

from spdm._lenient_leaf import (
    SEQUENCE,
    CanonicalForm,
    canonical_form,
    check_issuer_constraints,
    check_issuer_key,
    children,
    verify_signature,
)
from spdm.crypto import AsymSuite, HashSuite
from spdm.errors import DecodeError, EncodeError, VerificationError
from spdm.messages.certificates import Certificate, GetCertificate
from spdm.portions import Portions

__all__ = [
    "CMA_IDENTITY_OID",
    "DEFAULT_CERTIFICATE_PORTION",
    "MAX_CERTIFICATE_PORTION",
    "MAX_CHAIN_CERTIFICATES",
    "SPDM_EKU_OIDS",
    "SPDM_EXTENSION_OID",
    "SPDM_HARDWARE_IDENTITY_OID",
    "SPDM_REQUESTER_AUTH_OID",
    "SPDM_RESPONDER_AUTH_OID",
    "CertChain",
    "CertModel",
    "ChainPolicy",
    "ChainPortions",
    "CmaIdentity",
    "VerifiedChain",
    "X509SigningHash",
    "certificate_portion",
    "check_certificate_portion",
    "load_certificate",
    "load_certificates",
    "split_der",
    "verify_chain",
    "x509_signing_hash",
]

SPDM_HARDWARE_IDENTITY_OID = "1.3.6.1.4.1.412.274.2"
SPDM_RESPONDER_AUTH_OID = "1.3.6.1.4.1.412.274.3"
SPDM_REQUESTER_AUTH_OID = "1.3.6.1.4.1.412.274.4"
SPDM_EXTENSION_OID = "1.3.6.1.4.1.412.274.6"
"""The DMTF SPDM certificate extension: SEQUENCE OF SEQUENCE { id OID, value OPTIONAL } (id-spdm-cert-oids)."""
SPDM_EKU_OIDS = frozenset({SPDM_RESPONDER_AUTH_OID, SPDM_REQUESTER_AUTH_OID})
"""The DMTF extended key usages that say which side of SPDM authentication a leaf may serve."""
CMA_IDENTITY_OID = "2.23.147"
"""PCIe CMA: SubjectAltName otherName type-id whose UTF8String names the device (PCIe r6.1)."""

MAX_CHAIN_CERTIFICATES = 16
"""The most certificates `CertChain.from_bytes` splits a slot into (the 64 KiB buffer bounds bytes, not count)."""

_HEADER = struct.Struct("<HH")
_MAX_LENGTH = 0xFFFF


# --- DER framing -----------------------------------------------------------------------------


def _element_size(data: bytes, offset: int) -> int:
    """Size of the DER SEQUENCE starting at `offset`, checked against the remaining bytes; ValueError if not one."""
    remaining = len(data) - offset
    if remaining < 2:
        raise ValueError(f"{remaining} byte(s) left, too few for a DER header")
    if data[offset] != 0x30:
        raise ValueError(f"tag 0x{data[offset]:02x} is not a DER SEQUENCE")
    first = data[offset + 1]
    if first < 0x80:
        header, length = 2, first
    elif first == 0x80:
        raise ValueError("indefinite length is not DER")
    else:
        count = first & 0x7F
        if count > 3:
            raise ValueError(f"a {count}-byte length cannot fit in an SPDM chain")
        if remaining < 2 + count:
            raise ValueError("truncated DER length")
        length = int.from_bytes(data[offset + 2 : offset + 2 + count], "big")
        if data[offset + 2] == 0 or length < 0x80:
            raise ValueError("length is not in minimal DER form")
        header = 2 + count
    if header + length > remaining:
        raise ValueError(f"certificate of {header + length} bytes overruns the {remaining} bytes left")
    return header + length


def _split(data: bytes, message: str, max_count: int) -> tuple[bytes, ...]:
    certificates: list[bytes] = []
    offset = 0
    while offset < len(data):
        if len(certificates) == max_count:
            raise DecodeError(message, "certificates", f"more than {max_count} certificates")
        try:
            size = _element_size(data, offset)
        except ValueError as exc:
            raise DecodeError(message, f"certificates[{len(certificates)}]", str(exc)) from None
        certificates.append(data[offset : offset + size])
        offset += size
    if not certificates:
        raise DecodeError(message, "certificates", "no certificate")
    return tuple(certificates)


def split_der(data: bytes, *, max_count: int = 256) -> tuple[bytes, ...]:
    """Split concatenated DER certificates (libspdm's ``bundle_*.certchain.der``); `DecodeError` if malformed."""
    return _split(data, "DER", max_count)


def load_certificates(source: bytes | str | os.PathLike[str]) -> tuple[bytes, ...]:
    """DER certificates from a file path or bytes holding concatenated DER or PEM, in their order."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if b"-----BEGIN" in data:
        try:
            loaded = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise DecodeError("PEM", "certificates", str(exc)) from None
        return tuple(certificate.public_bytes(Encoding.DER) for certificate in loaded)
    return split_der(data)


# --- the slot format ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CertChain:
    """A certificate chain as an SPDM slot holds it. `certificates` are DER, root or first intermediate first."""

    root_hash: bytes
    certificates: tuple[bytes, ...]
    reserved: int = 0

    @classmethod
    def from_bytes(cls, data: bytes, hash_size: int, *, max_certificates: int = MAX_CHAIN_CERTIFICATES) -> CertChain:
        """Parse a slot's bytes strictly: Length is the whole buffer, every certificate one complete DER SEQUENCE."""
        data = bytes(data)
        if len(data) < _HEADER.size + hash_size:
            raise DecodeError(
                "CERT_CHAIN", "RootHash", f"{len(data)} bytes cannot hold the header and a {hash_size}-byte RootHash"
            )
        length, reserved = _HEADER.unpack_from(data)
        if length != len(data):
            raise DecodeError(
                "CERT_CHAIN", "Length", f"Length {length} does not match the {len(data)} bytes of the chain"
            )
        body = _HEADER.size + hash_size
        return cls(
            root_hash=data[_HEADER.size : body],
            certificates=_split(data[body:], "CERT_CHAIN", max_certificates),
            reserved=reserved,
        )

    @classmethod
    def build(
        cls, certificates_der: Sequence[bytes], hash_suite: HashSuite, root_certificate_der: bytes | None = None
    ) -> CertChain:
        """The slot contents for `certificates_der`; RootHash covers `root_certificate_der`, else the first certificate.

        Pass the root separately when the chain starts at an intermediate.
        """
        certificates = tuple(bytes(certificate) for certificate in certificates_der)
        if not certificates:
            raise EncodeError("CERT_CHAIN", "certificates", "no certificate")
        for index, certificate in enumerate(certificates):
            try:
                if _element_size(certificate, 0) != len(certificate):
                    raise ValueError("trailing bytes after the DER SEQUENCE")
            except ValueError as exc:
                raise EncodeError("CERT_CHAIN", f"certificates[{index}]", str(exc)) from None
        root = certificates[0] if root_certificate_der is None else root_certificate_der
        chain = cls(root_hash=hash_suite.digest(root), certificates=certificates)
        if chain.size > _MAX_LENGTH:
            raise EncodeError("CERT_CHAIN", "Length", f"{chain.size} bytes do not fit the 16-bit Length")
        return chain

    @property
    def size(self) -> int:
        """Length: the size of the whole slot buffer."""
        return _HEADER.size + len(self.root_hash) + sum(len(certificate) for certificate in self.certificates)

    @property
    def leaf(self) -> bytes:
        return self.certificates[-1]

    def to_bytes(self) -> bytes:
        size = self.size
        if size > _MAX_LENGTH:
            raise EncodeError("CERT_CHAIN", "Length", f"{size} bytes do not fit the 16-bit Length")
        if not 0 <= self.reserved <= 0xFFFF:
            raise EncodeError("CERT_CHAIN", "Reserved", f"{self.reserved} does not fit 16 bits")
        return _HEADER.pack(size, self.reserved) + self.root_hash + b"".join(self.certificates)

    def digest(self, hash_suite: HashSuite) -> bytes:
        """Hash of the whole slot buffer: what DIGESTS reports and what KEY_EXCHANGE's TH holds."""
        return hash_suite.digest(self.to_bytes())


# --- reading a chain portion by portion ---------------------------------------------------------


class ChainPortions(Portions):
    """One slot's chain as CERTIFICATE responses deliver it, portion by portion (DSP0274 1.1 section
    "GET_CERTIFICATE request and CERTIFICATE response").

    The one place every side reads a chain from portions: the requester's GET_CERTIFICATE loop, the
    responder's encapsulated GET_CERTIFICATE under mutual authentication, `spdm verify` and capture
    replay. Start one per chain (`slot`), send GET_CERTIFICATE at `offset`, and give `add` each
    request with the CERTIFICATE that answered it: it returns the whole chain in slot format (what
    DIGESTS hashes) once RemainderLength is 0, else None. A portion that breaks a rule raises
    `ValueError` saying which, and changes nothing: the response names the slot asked for, and the
    request the slot being read; the rules of every portioned read (`spdm.portions.Portions`) hold,
    the chain's size at most `max_size` (the 16-bit Length field's 65535 unless a limit says less).
    """

    __slots__ = ("slot",)

    def __init__(self, slot: int, *, max_size: int = _MAX_LENGTH) -> None:
        super().__init__("certificate chain", max_size)
        self.slot = slot

    def add(self, request: GetCertificate, response: Certificate) -> bytes | None:
        """Take one CERTIFICATE (and the GET_CERTIFICATE it answers): the chain once complete, else None."""
        if response.slot_id != request.slot_id or request.slot_id != self.slot:
            raise ValueError(f"CERTIFICATE for slot {response.slot_id}, slot {self.slot} is being read")
        return self.take(request.offset, request.length, response.portion, response.remainder_length)


DEFAULT_CERTIFICATE_PORTION = 0x400
"""The Length a GET_CERTIFICATE asks by default, the requester's and the responder's encapsulated one:
libspdm's certificate block (LIBSPDM_MAX_CERT_CHAIN_BLOCK_LEN, 1024)."""
MAX_CERTIFICATE_PORTION = 0xFFFF
"""The largest Length a GET_CERTIFICATE can ask and a CERTIFICATE carry (both are 16-bit fields)."""


def check_certificate_portion(length: int) -> None:
    """`ValueError` unless `length` (a `certificate_portion` setting) is a Length a portion can have."""
    if not 1 <= length <= MAX_CERTIFICATE_PORTION:
        raise ValueError(f"certificate_portion {length} is not within 1..0x{MAX_CERTIFICATE_PORTION:X}")


def certificate_portion(
    chain: bytes, request: GetCertificate, max_portion: int = MAX_CERTIFICATE_PORTION
) -> Certificate:
    """The CERTIFICATE that answers `request` from a slot's `chain`: the portion at Offset, at most the
    asked Length and `max_portion` bytes, and what remains after it. An Offset that is not inside the
    chain is a `ValueError` (the caller's InvalidRequest).

    A 1.3 request with SlotSizeRequested asks for the chain's size alone: Offset and Length are
    ignored, and the answer is an empty portion with the whole chain as RemainderLength (DSP0274 1.3
    GET_CERTIFICATE; libspdm_rsp_certificate.c reads it as Offset 0, Length 0)."""
    offset, length = (0, 0) if request.slot_size_requested else (request.offset, request.length)
    if offset >= len(chain):
        raise ValueError(f"Offset {offset} is past the {len(chain)}-byte chain of slot {request.slot_id}")
    portion = chain[offset : offset + min(length, max_portion)]
    return Certificate(
        version=request.version,
        slot_param=request.slot_id,
        remainder_length=len(chain) - offset - len(portion),
        portion=portion,
    )


# --- PCIe CMA identity -------------------------------------------------------------------------

_CMA_PATTERN = re.compile(
    r"Vendor=(?P<vendor>[0-9a-f]{4}):Device=(?P<device>[0-9a-f]{4}):CC=(?P<cc>[0-9a-f]{6}):REV=(?P<rev>[0-9a-f]{2})"
    r"(?::SSVID=(?P<ssvid>[0-9a-f]{4}):SSID=(?P<ssid>[0-9a-f]{4}))?"
    r"(?::(?P<dsn>[0-9a-f]{16}))?"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CmaIdentity:
    """The PCIe function a CMA leaf certificate names, in its SubjectAltName (otherName 2.23.147).

    Format: ``Vendor=%04x:Device=%04x:CC=%06x:REV=%02x[:SSVID=%04x:SSID=%04x][:%016x]`` (the last
    part is the Device Serial Number).
    The caller compares it with the function's config space; lower-case hex exactly as the
    printf format writes it (that is what the Linux CMA code compares against).
    """

    vendor_id: int
    device_id: int
    class_code: int
    revision: int
    ssvid: int | None = None
    ssid: int | None = None
    dsn: int | None = None

    @classmethod
    def parse(cls, text: str) -> CmaIdentity:
        """Read the SubjectAltName string; `VerificationError` when it is not in the CMA format."""
        match = _CMA_PATTERN.fullmatch(text)
        if match is None:
            raise VerificationError(
                f"CMA identity {text!r} is not Vendor=..:Device=..:CC=..:REV=..[:SSVID=..:SSID=..][:DSN]"
            )

        def number(group: str) -> int | None:
            value = match.group(group)
            return None if value is None else int(value, 16)

        return cls(
            vendor_id=int(match.group("vendor"), 16),
            device_id=int(match.group("device"), 16),
            class_code=int(match.group("cc"), 16),
            revision=int(match.group("rev"), 16),
            ssvid=number("ssvid"),
            ssid=number("ssid"),
            dsn=number("dsn"),
        )

    def __str__(self) -> str:
        text = (
            f"Vendor={self.vendor_id:04x}:Device={self.device_id:04x}:CC={self.class_code:06x}:REV={self.revision:02x}"
        )
        if self.ssvid is not None and self.ssid is not None:
            text += f":SSVID={self.ssvid:04x}:SSID={self.ssid:04x}"
        if self.dsn is not None:
            text += f":{self.dsn:016x}"
        return text


def _cma_identity(leaf: x509.Certificate) -> CmaIdentity:
    """The CMA identity in the leaf's SubjectAltName; `VerificationError` when absent, ambiguous or malformed."""
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise VerificationError("the leaf has no SubjectAltName, so no CMA identity") from None
    values = [
        name.value
        for name in names.get_values_for_type(x509.OtherName)
        if name.type_id.dotted_string == CMA_IDENTITY_OID
    ]
    if len(values) != 1:
        raise VerificationError(
            f"the leaf's SubjectAltName has {len(values)} CMA identities (otherName {CMA_IDENTITY_OID})"
        )
    try:
        parsed = asn1.UTF8String.load(values[0], strict=True)
        text = parsed.native
    except (ValueError, TypeError) as exc:
        raise VerificationError(f"the CMA identity is not a DER UTF8String: {exc}") from None
    if not isinstance(text, str):
        raise VerificationError("the CMA identity is not a DER UTF8String")
    return CmaIdentity.parse(text)


# --- the SPDM certificate extension ------------------------------------------------------------


def _spdm_cert_oids(certificate: x509.Certificate) -> frozenset[str]:
    """The OIDs the SPDM extension (id-spdm-cert-oids) lists; `VerificationError` when it is malformed."""
    try:
        extension = certificate.extensions.get_extension_for_oid(x509.ObjectIdentifier(SPDM_EXTENSION_OID))
    except x509.ExtensionNotFound:
        return frozenset()
    value = extension.value
    if not isinstance(value, x509.UnrecognizedExtension):
        raise VerificationError(f"the SPDM extension {SPDM_EXTENSION_OID} is not what DSP0274 defines")
    try:
        entries = [children(entry, SEQUENCE) for entry in children(value.value, SEQUENCE)]
        return frozenset(asn1.ObjectIdentifier.load(fields[0], strict=True).dotted for fields in entries)
    except (ValueError, TypeError, IndexError) as exc:
        raise VerificationError(f"the SPDM extension {SPDM_EXTENSION_OID} is not id-spdm-cert-oids: {exc}") from None


def _check_spdm_extension(index: int, leaf: x509.Certificate, *, alias: bool) -> None:
    """The leaf's SPDM extension is well formed, and an alias certificate (`alias`) does not claim the
    hardware identity (libspdm_verify_leaf_cert_spdm_extension)."""
    where = _describe(index, leaf)
    try:
        oids = _spdm_cert_oids(leaf)
    except VerificationError as exc:
        raise VerificationError(f"{where}: {exc}") from None
    if alias and SPDM_HARDWARE_IDENTITY_OID in oids:
        raise VerificationError(
            f"{where}: is the leaf of the alias certificate model (ALIAS_CERT_CAP) but its SPDM extension names "
            f"the hardware identity OID {SPDM_HARDWARE_IDENTITY_OID}, which only the device certificate may"
        )


# --- validation --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainPolicy:
    """What a chain must satisfy beyond signatures and validity.

    `max_depth` bounds the certificates in the slot (root included when present; libspdm bounds only
    the size, this bound is deliberately stricter); `max_chain_bytes` the slot buffer.
    `require_cma_identity`: the leaf must name a PCIe CMA identity.
    `expected_spdm_eku` says whose chain it is: a responder's (`SPDM_RESPONDER_AUTH_OID`, the
    default: the requester and `spdm verify` check responders) or a requester's
    (`SPDM_REQUESTER_AUTH_OID`, the responder's mutual authentication). When the leaf lists SPDM
    EKUs at all, it must list this one (libspdm_verify_leaf_cert_spdm_eku, is_requester_cert; a
    leaf without SPDM EKUs passes); None drops the rule, which libspdm always applies.
    """

    max_depth: int = 8
    max_chain_bytes: int = _MAX_LENGTH
    require_cma_identity: bool = False
    expected_spdm_eku: str | None = SPDM_RESPONDER_AUTH_OID


_DEFAULT_POLICY = ChainPolicy()
_BASIC_CONSTRAINTS_REQUIRED = 0x13
"""The SPDM version from which a leaf must state basicConstraints (libspdm_x509_certificate_check)."""


class CertModel(enum.Enum):
    """DSP0274 1.2's certificate models of a responder's chain; ALIAS_CERT_CAP in CAPABILITIES picks the alias one.

    The models differ in what the chain's last certificates are, so in the per-certificate rules
    (`verify_chain`); the requester's chain has no model (libspdm: the responder does not
    determine it), so it is validated as the device model.
    """

    DEVICE = "device"
    """The leaf is the device certificate."""
    ALIAS = "alias"
    """The device certificate is a CA; the leaf is an alias certificate the device issued under it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedChain:
    """A chain that validated: its parsed certificates (slot order, leaf last) and what the leaf says.

    A leaf that spells out cA FALSE or critical FALSE (accepted, as OpenSSL and Linux do; libspdm
    refuses the first, `spdm._lenient_leaf`) is here in canonical DER without them: `leaf` then
    differs from the slot's bytes, which its signature covers.
    """

    certificates: tuple[x509.Certificate, ...]
    leaf_public_key: CertificatePublicKeyTypes
    cma_identity: CmaIdentity | None
    spdm_ekus: frozenset[str]

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[-1]


def _describe(index: int, certificate: x509.Certificate) -> str:
    return f"certificate {index} ({certificate.subject.rfc4514_string() or 'empty subject'})"


class _Rule(VerificationError):
    """Raised inside the extension-policy callbacks; the library wraps it, `_Recorder` remembers it."""


class _Recorder:
    """Extension-policy callbacks for the library, remembering which certificate broke which rule."""

    def __init__(
        self,
        positions: dict[bytes, int],
        anchor: bytes,
        expected_eku: str | None,
        *,
        ends_in_device_ca: bool = False,
        set_certificate: bool = False,
        version: int,
    ) -> None:
        self.positions = positions
        self.anchor = anchor
        self.expected_eku = expected_eku
        self.ends_in_device_ca = ends_in_device_ca
        self.set_certificate = set_certificate
        self.version = version
        self.failure: str | None = None

    def _fail(self, certificate: x509.Certificate, rule: str) -> None:
        der = certificate.public_bytes(Encoding.DER)
        index = self.positions.get(der, -1)
        if index >= 0:
            where = _describe(index, certificate)
        else:
            what = "the trust anchor" if der == self.anchor else "a certificate outside the chain"
            where = f"{what} ({certificate.subject.rfc4514_string()})"
        message = f"{where}: {rule}"
        if self.failure is None:
            self.failure = message
        raise _Rule(message)

    def ca_key_usage(self, policy: x509v.Policy, certificate: x509.Certificate, value: x509.KeyUsage | None) -> None:
        if value is not None and not value.key_cert_sign:
            self._fail(certificate, "issues a certificate but its keyUsage lacks keyCertSign")

    def issuer_basic_constraints(
        self, policy: x509v.Policy, certificate: x509.Certificate, value: x509.BasicConstraints | None
    ) -> None:
        if value is None:
            self._fail(certificate, "issues a certificate but has no basicConstraints")
        elif not value.ca:
            self._fail(certificate, "issues a certificate but basicConstraints does not assert CA")

    def leaf_basic_constraints(
        self, policy: x509v.Policy, certificate: x509.Certificate, value: x509.BasicConstraints | None
    ) -> None:
        if value is None and self.set_certificate:
            self._fail(certificate, "ends a chain for SET_CERTIFICATE but has no basicConstraints (cA FALSE)")
        if value is None and self.version >= _BASIC_CONSTRAINTS_REQUIRED:
            self._fail(certificate, "is the leaf but has no basicConstraints (cA FALSE), which SPDM 1.3 requires")
        if value is not None and value.ca:
            self._fail(certificate, "is the leaf but basicConstraints asserts CA")

    def device_ca_basic_constraints(
        self, policy: x509v.Policy, certificate: x509.Certificate, value: x509.BasicConstraints | None
    ) -> None:
        if value is None or not value.ca:
            stated = "has no basicConstraints" if value is None else "basicConstraints does not assert CA"
            self._fail(certificate, f"is the device certificate the alias model installs, a CA, but {stated}")

    def leaf_key_usage(self, policy: x509v.Policy, certificate: x509.Certificate, value: x509.KeyUsage | None) -> None:
        if value is None:
            self._fail(certificate, "is the leaf but has no keyUsage (digitalSignature)")
        elif not value.digital_signature:
            self._fail(certificate, "is the leaf but its keyUsage lacks digitalSignature")

    def leaf_eku(
        self, policy: x509v.Policy, certificate: x509.Certificate, value: x509.ExtendedKeyUsage | None
    ) -> None:
        if value is None or self.expected_eku is None:
            return
        spdm = {oid.dotted_string for oid in value} & SPDM_EKU_OIDS
        if spdm and self.expected_eku not in spdm:
            self._fail(certificate, f"lists SPDM EKUs {sorted(spdm)} but not {self.expected_eku}")

    def policies(self) -> tuple[x509v.ExtensionPolicy, x509v.ExtensionPolicy]:
        """(CA policy, end policy): anything may be present, with the SPDM device-certificate rules on top.

        The end policy is the leaf's, or the device certificate's when the chain ends in it (the alias
        model's SET_CERTIFICATE): a CA, with the leaf's SPDM EKU rule; its keyUsage is not checked
        (libspdm skips it: DSP0274 does not say), until it issues an alias certificate in a chain.

        Web PKI defaults do not fit device chains (libspdm's intermediates carry a critical EKU and a
        non-critical basicConstraints; leaves need no SubjectAltName or serverAuth EKU). Unknown
        critical extensions still fail: permit_all only accounts for the extensions the library knows.
        The library itself insists on basicConstraints CA in issuers (hence no validator there) but,
        outside its web PKI defaults, not on keyCertSign, nor on anything about the leaf.
        """
        agnostic = x509v.Criticality.AGNOSTIC
        ca = (
            x509v.ExtensionPolicy.permit_all()
            .require_present(x509.BasicConstraints, agnostic, None)
            .may_be_present(x509.KeyUsage, agnostic, self.ca_key_usage)
        )
        if self.ends_in_device_ca:
            end = (
                x509v.ExtensionPolicy.permit_all()
                .may_be_present(x509.BasicConstraints, agnostic, self.device_ca_basic_constraints)
                .may_be_present(x509.ExtendedKeyUsage, agnostic, self.leaf_eku)
            )
        else:
            end = (
                x509v.ExtensionPolicy.permit_all()
                .may_be_present(x509.BasicConstraints, agnostic, self.leaf_basic_constraints)
                .may_be_present(x509.KeyUsage, agnostic, self.leaf_key_usage)
                .may_be_present(x509.ExtendedKeyUsage, agnostic, self.leaf_eku)
            )
        return ca, end

    def issuer_policy(self) -> x509v.ExtensionPolicy:
        """The CA rules for a leaf's issuer validated as the end of a path (the library checks CA only in issuers)."""
        agnostic = x509v.Criticality.AGNOSTIC
        return (
            x509v.ExtensionPolicy.permit_all()
            .may_be_present(x509.BasicConstraints, agnostic, self.issuer_basic_constraints)
            .may_be_present(x509.KeyUsage, agnostic, self.ca_key_usage)
        )


X509SigningHash: TypeAlias = (
    hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | hashes.SHA3_256 | hashes.SHA3_384 | hashes.SHA3_512
)
"""The hashes `cryptography`'s certificate and CSR builders sign with (the SPDM hashes but SM3)."""


def x509_signing_hash(suite: HashSuite) -> X509SigningHash:
    """`suite`'s hash as the certificate and CSR builders take it; `ValueError` for one they cannot use."""
    algorithm = suite.algorithm
    if isinstance(
        algorithm, (hashes.SHA256, hashes.SHA384, hashes.SHA512, hashes.SHA3_256, hashes.SHA3_384, hashes.SHA3_512)
    ):
        return algorithm
    raise ValueError(f"{suite.name} cannot sign certificates or CSRs")


def load_certificate(der: bytes) -> x509.Certificate:
    """Parse a certificate completely, or raise ValueError (for every certificate that comes from a peer).

    `cryptography` parses names, extensions and the key lazily, and some malformed encodings
    surface later as other exceptions (an unknown string tag in a name is a KeyError,
    found by flipping bits in the tests); touch every part used here so they fail now.
    """
    try:
        with warnings.catch_warnings():
            # a serial number that is not positive: cryptography warns now and will refuse later; refuse now
            warnings.simplefilter("error", CryptographyDeprecationWarning)
            certificate = x509.load_der_x509_certificate(der)
        _ = (certificate.subject, certificate.issuer, certificate.extensions, certificate.public_key())
        _ = (certificate.not_valid_before_utc, certificate.not_valid_after_utc)
    except (
        ValueError,
        KeyError,
        TypeError,
        UnsupportedAlgorithm,
        x509.InvalidVersion,
        x509.DuplicateExtension,
        CryptographyDeprecationWarning,
    ) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    return certificate


def _utc(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(tzinfo=datetime.timezone.utc) if moment.tzinfo is None else moment


_LIBRARY_NOISE = re.compile(r"^validation failed: (candidates exhausted: )?| \(encountered processing <Certificate.*$")
_CERTIFICATE_HASHES = ("sha256", "sha384", "sha512")


def _explain(
    message: str, path: Sequence[tuple[int, x509.Certificate]], anchor: x509.Certificate, now: datetime.datetime
) -> str:
    """Name the certificate and rule behind a library rejection.

    The library decided; its message does not always say which certificate it was processing, so
    this looks for the certificate that breaks the rule the message names.
    """
    detail = _LIBRARY_NOISE.sub("", message)
    if "not valid at validation time" in detail:
        for index, certificate in [*path, (-1, anchor)]:
            outside = _outside_validity(_where(index, certificate), certificate, now)
            if outside is not None:
                return outside
    if "basicConstraints" in detail:
        for index, certificate in path[:-1]:
            try:
                constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
            except x509.ExtensionNotFound:
                return f"{_describe(index, certificate)}: issues a certificate but has no basicConstraints"
            if not constraints.ca:
                return f"{_describe(index, certificate)}: issues a certificate but basicConstraints does not assert CA"
    if "signature algorithm" in detail:
        for index, certificate in path:
            name = _signature_hash(certificate)
            if name not in _CERTIFICATE_HASHES:
                return _refused_signature(index, certificate, name or certificate.signature_algorithm_oid.dotted_string)
    issuer, issuer_name = anchor, "the trust anchor"
    for index, certificate in path:
        try:
            certificate.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm) as exc:
            reason = str(exc) or "the signature does not match its public key"
            if _names_another_key(certificate, issuer):
                reason = _WRONG_ISSUER
            return f"{_describe(index, certificate)}: not signed by {issuer_name}: {reason}"
        issuer, issuer_name = certificate, f"certificate {index}"
    for index, certificate in path:
        if f"subject={certificate.subject!r}" in message:
            return f"{_describe(index, certificate)}: {detail}"
    return f"certificate path validation failed: {detail}"


def _outside_validity(where: str, certificate: x509.Certificate, now: datetime.datetime) -> str | None:
    """Why `certificate` is not valid at `now`, or None when it is."""
    before, after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if now < before:
        return f"{where}: not valid before {before.isoformat()} (now {now.isoformat()})"
    if now > after:
        return f"{where}: expired at {after.isoformat()} (now {now.isoformat()})"
    return None


def _signature_hash(certificate: x509.Certificate) -> str | None:
    try:
        algorithm = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None
    return None if algorithm is None else algorithm.name


def _refused_signature(index: int, certificate: x509.Certificate, name: str) -> str:
    return f"{_describe(index, certificate)}: signed with {name}, which certificate validation does not accept"


def _duplicate(ders: Sequence[bytes]) -> tuple[int, int] | None:
    """(index, index of its first copy) of the first certificate that repeats an earlier one, if any."""
    seen: dict[bytes, int] = {}
    for index, der in enumerate(ders):
        if der in seen:
            return index, seen[der]
        seen[der] = index
    return None


def _why_not_issued(
    index: int, ders: Sequence[bytes], certificates: Sequence[x509.Certificate], anchor: x509.Certificate
) -> str:
    """What a certificate whose issuer is not the one before it is: a copy, self-signed, orphaned or misplaced."""
    certificate = certificates[index]
    copy = ders.index(ders[index])
    if copy < index:
        return f"; it duplicates certificate {copy}"
    if certificate.issuer == certificate.subject:
        return "; it is self-signed but is not the trust anchor"
    if all(certificate.issuer != other.subject for other in [anchor, *certificates]):
        return "; the chain holds no certificate of that subject: an intermediate is missing"
    return "; the chain is out of order"


def _names_another_key(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether the certificate's authorityKeyIdentifier names a key other than the issuer's (a wrong issuer)."""
    try:
        wanted = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        return False
    if wanted is None:
        return False
    try:
        have = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return False
    return wanted != have


_ONLY_THE_LEAF = "; it encodes a DEFAULT value (cA or critical FALSE), which only the leaf may"
_WRONG_ISSUER = "its authorityKeyIdentifier names another key than the issuer's: a wrong issuing certificate"


def _load_chain(ders: Sequence[bytes]) -> tuple[list[x509.Certificate], CanonicalForm | None]:
    """Parse the chain's certificates; a leaf that only spells out cA or critical FALSE is read in canonical form."""
    certificates: list[x509.Certificate] = []
    lenient: CanonicalForm | None = None
    for index, der in enumerate(ders):
        try:
            certificates.append(load_certificate(der))
            continue
        except ValueError as exc:
            reason = f"certificate {index} is not a parseable X.509 certificate: {exc}"
        canonical = canonical_form(der)
        if canonical is None:
            raise VerificationError(reason)
        if index < len(ders) - 1:
            raise VerificationError(reason + _ONLY_THE_LEAF)
        try:
            certificates.append(load_certificate(canonical.der))
        except ValueError:
            raise VerificationError(reason) from None
        lenient = canonical
    return certificates, lenient


def _where(index: int, certificate: x509.Certificate) -> str:
    return _describe(index, certificate) if index >= 0 else "the trust anchor"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Validation:
    """One chain's path validation by the library: the chain's anchor, bytes and rules."""

    anchor: x509.Certificate
    anchor_der: bytes
    ders: Sequence[bytes]
    recorder: _Recorder
    now: datetime.datetime
    max_depth: int

    def _verify(
        self,
        store: x509.Certificate,
        end: x509.Certificate,
        intermediates: list[x509.Certificate],
        ee_policy: x509v.ExtensionPolicy,
        explain: Callable[[str], str],
    ) -> list[x509.Certificate]:
        """The path the library builds from `end` to `store`; `VerificationError` with `explain`'s reason if none."""
        verifier = (
            x509v.PolicyBuilder()
            .store(x509v.Store([store]))
            .time(self.now)
            .max_chain_depth(self.max_depth)
            .extension_policies(ca_policy=self.recorder.policies()[0], ee_policy=ee_policy)
            .build_client_verifier()
        )
        try:
            return verifier.verify(end, intermediates).chain
        except x509v.VerificationError as exc:
            raise VerificationError(self.recorder.failure or explain(str(exc))) from None
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # e.g. a key type the library cannot use
            raise VerificationError(f"certificate path validation failed: {exc}") from None

    def path(self, path: list[tuple[int, x509.Certificate]], ee_policy: x509v.ExtensionPolicy) -> None:
        """Validate `path` (anchor first but excluded, end entity last; empty: the anchor alone) up to the anchor."""
        certificates = [certificate for _, certificate in path]
        end, intermediates = (certificates[-1], certificates[:-1]) if certificates else (self.anchor, [])
        built = self._verify(
            self.anchor, end, intermediates, ee_policy, lambda message: _explain(message, path, self.anchor, self.now)
        )
        if built != [*reversed(certificates), self.anchor]:
            duplicate = _duplicate(self.ders)
            raise VerificationError(
                "the validated path does not use the chain's certificates in the chain's order"
                + ("" if duplicate is None else f": certificate {duplicate[0]} duplicates certificate {duplicate[1]}")
            )

    def lenient_leaf(self, path: list[tuple[int, x509.Certificate]], leaf: CanonicalForm) -> None:
        """The normal path's checks for a leaf that spells out cA or critical FALSE, which the library cannot parse.

        The library checks the canonical leaf alone (validity, extension rules, unknown critical
        extensions); its signature is checked here over the original tbsCertificate; the library
        validates the path above with the leaf's issuer as end entity under the CA rules. What it
        then leaves out is done here: the issuer's key rules, path lengths counted with the issuer
        as an intermediate, and name constraints (refused: they would apply to the leaf's names).
        """
        index, canonical = path[-1]
        above = path[:-1]
        issuer_index, issuer = above[-1] if above else (-1, self.anchor)
        self._leaf_alone(index, canonical)
        try:
            check_issuer_key(self.ders[issuer_index] if above else self.anchor_der)
        except VerificationError as exc:
            raise VerificationError(f"{_where(issuer_index, issuer)}: {exc}") from None
        _check_leaf_signature(index, canonical, leaf, issuer_index, issuer)
        self.path(above, self.recorder.issuer_policy())
        issuers = [*reversed(above), (-1, self.anchor)]
        check_issuer_constraints([(_where(position, certificate), certificate) for position, certificate in issuers])

    def _leaf_alone(self, index: int, leaf: x509.Certificate) -> None:
        """The library's end-entity checks on `leaf`: a store holding the leaf ends its path at once."""
        where = _describe(index, leaf)

        def explain(message: str) -> str:
            detail = _LIBRARY_NOISE.sub("", message)
            outside = _outside_validity(where, leaf, self.now) if "not valid at validation time" in detail else None
            return outside or f"{where}: {detail}"

        self._verify(leaf, leaf, [], self.recorder.policies()[1], explain)


def _check_leaf_signature(
    index: int, leaf: x509.Certificate, original: CanonicalForm, issuer_index: int, issuer: x509.Certificate
) -> None:
    """The leaf's signature over its original tbsCertificate, by the issuer's key, with an accepted algorithm."""
    try:
        verify_signature(issuer.public_key(), original.signature_algorithm, leaf.signature, original.tbs)
    except UnsupportedAlgorithm:
        name = _signature_hash(leaf)
        if name in _CERTIFICATE_HASHES or name is None:
            name = f"AlgorithmIdentifier {original.signature_algorithm.hex()}"
        raise VerificationError(_refused_signature(index, leaf, name)) from None
    except VerificationError as exc:
        reason = _WRONG_ISSUER if _names_another_key(leaf, issuer) else str(exc)
        issuer_name = "the trust anchor" if issuer_index < 0 else f"certificate {issuer_index}"
        raise VerificationError(f"{_describe(index, leaf)}: not signed by {issuer_name}: {reason}") from None


def verify_chain(
    chain: CertChain,
    *,
    trust_anchor: bytes,
    hash_suite: HashSuite,
    asym_suite: AsymSuite,
    now: datetime.datetime,
    policy: ChainPolicy = _DEFAULT_POLICY,
    model: CertModel = CertModel.DEVICE,
    set_certificate: bool = False,
    version: int = 0x12,
) -> VerifiedChain:
    """Validate a slot's chain against that slot's trust anchor (its DER root); `VerificationError` names the failure.

    Checks: RootHash = Hash(trust anchor); the chain starts at the anchor (is it, or was issued by
    it) and each certificate issues the next; every signature and validity period at `now`; CA
    basicConstraints on every issuer and not on the leaf; keyUsage with digitalSignature on the
    leaf; a well-formed SPDM extension on the leaf; unknown critical extensions; the leaf key fits
    `asym_suite`; the bounds, identity and SPDM EKU (whose chain it is) rules of `policy`. A leaf
    may spell out the DEFAULT values cA FALSE and critical FALSE, which DER forbids but devices
    ship; it passes the same checks, read in canonical form, its signature checked over the
    original bytes.

    `version` is the negotiated SPDM version (0x12, the default, for 1.2): from 1.3 the leaf must
    state basicConstraints; before, a leaf without it passes, as libspdm's
    ``end_requester_without_basic_constraint`` sample has none (libspdm_x509_certificate_check).

    `model` is the responder's certificate model (`CertModel`), `set_certificate` marks the chain a
    SET_CERTIFICATE installs; together they say what the last certificate is (libspdm's rules,
    ``libspdm_crypt_cert.c``):

    - an alias certificate (alias model) must not name the hardware identity OID in its SPDM
      extension: that identifies the device, whose certificate is the CA above it;
    - the end of a chain for SET_CERTIFICATE must state basicConstraints at every version
      (libspdm_verify_set_cert_leaf_cert_basic_constraints refuses its absence before 1.3 too): cA
      FALSE in the device model; in the alias model the chain ends in the device certificate, which
      must assert CA, whose key need not fit `asym_suite` (the device's alias certificates carry the
      signing key), and whose keyUsage and SPDM extension are not checked (libspdm skips them).
    """
    now = _utc(now)
    count = len(chain.certificates)
    if count > policy.max_depth:
        raise VerificationError(f"the chain holds {count} certificates, more than the {policy.max_depth} allowed")
    if chain.size > policy.max_chain_bytes:
        raise VerificationError(f"the chain is {chain.size} bytes, more than the {policy.max_chain_bytes} allowed")
    if count == 0:
        raise VerificationError("the chain holds no certificate")
    try:
        anchor = load_certificate(trust_anchor)
    except ValueError as exc:
        note = "" if canonical_form(trust_anchor) is None else _ONLY_THE_LEAF
        raise VerificationError(f"the trust anchor is not a DER X.509 certificate: {exc}{note}") from None
    if not hmac.compare_digest(chain.root_hash, hash_suite.digest(trust_anchor)):
        raise VerificationError(f"RootHash is not the {hash_suite.name} of the trust anchor")

    certificates, lenient = _load_chain(chain.certificates)
    for index, certificate in enumerate(certificates):
        if isinstance(certificate.public_key(), (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            raise VerificationError(
                f"{_describe(index, certificate)}: an EdDSA key; the X.509 path validation used here "
                "(cryptography's) permits RSA and ECDSA keys only"
            )

    # SPDM order: [anchor,] first issued by the anchor, each next issued by the one before.
    start = 1 if chain.certificates[0] == trust_anchor else 0
    if start == 0 and certificates[0].issuer != anchor.subject:
        raise VerificationError(
            f"{_describe(0, certificates[0])}: is neither the trust anchor nor issued by it "
            f"(issuer {certificates[0].issuer.rfc4514_string()}, anchor {anchor.subject.rfc4514_string()})"
        )
    if start == count:
        raise VerificationError(f"{_describe(0, certificates[0])}: the chain holds only the trust anchor, no leaf")
    for index in range(max(start, 1), count):
        if certificates[index].issuer != certificates[index - 1].subject:
            raise VerificationError(
                f"{_describe(index, certificates[index])}: not issued by certificate {index - 1} "
                f"(issuer {certificates[index].issuer.rfc4514_string()})"
                + _why_not_issued(index, chain.certificates, certificates, anchor)
            )

    leaf = certificates[-1]
    path = list(enumerate(certificates))[start:]
    positions = {der: index for index, der in enumerate(chain.certificates)}
    if lenient is not None:
        positions[lenient.der] = count - 1
    ends_in_device_ca = set_certificate and model is CertModel.ALIAS
    recorder = _Recorder(
        positions,
        trust_anchor,
        policy.expected_spdm_eku,
        ends_in_device_ca=ends_in_device_ca,
        set_certificate=set_certificate,
        version=version,
    )
    validation = _Validation(
        anchor=anchor,
        anchor_der=trust_anchor,
        ders=chain.certificates,
        recorder=recorder,
        now=now,
        max_depth=max(policy.max_depth, 1),
    )
    if lenient is None:
        validation.path(path, validation.recorder.policies()[1])
    else:
        validation.lenient_leaf(path, lenient)

    public_key = leaf.public_key()  # parsed by _load already
    if not ends_in_device_ca and not asym_suite.accepts(public_key):
        raise VerificationError(f"{_describe(count - 1, leaf)}: its public key cannot verify {asym_suite.name}")
    if not ends_in_device_ca:
        _check_spdm_extension(count - 1, leaf, alias=model is CertModel.ALIAS)

    try:
        identity: CmaIdentity | None = _cma_identity(leaf)
    except VerificationError as exc:
        if policy.require_cma_identity:
            raise VerificationError(f"{_describe(count - 1, leaf)}: {exc}") from None
        identity = None

    try:
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        ekus = frozenset(oid.dotted_string for oid in usages if oid.dotted_string in SPDM_EKU_OIDS)
    except x509.ExtensionNotFound:
        ekus = frozenset()

    return VerifiedChain(
        certificates=tuple(certificates),
        leaf_public_key=public_key,
        cma_identity=identity,
        spdm_ekus=ekus,
    )


def chain_end(data: bytes) -> int:
    """Where SET_CERTIFICATE's CertChain ends in `data`, the rest of the message: where its 2-byte Length
    says; 0 when only zero bytes are left (no chain, 1.3's Erase: they are the transport's padding); the
    end of `data` when the Length runs past it (the chain's format check names the mismatch)."""
    if not any(data):
        return 0
    length = int.from_bytes(data[:2], "little")  # the chain header's Length (u16), then Reserved
    return min(length, len(data))
