"""A leaf certificate that spells out DER DEFAULT values: its canonical form, and its signature checked by hand.

DER forbids encoding a DEFAULT value and `cryptography` refuses such a certificate, but OpenSSL and
Linux accept one, and devices ship leaves whose basicConstraints is ``SEQUENCE { BOOLEAN FALSE }``.
libspdm accepts critical FALSE but refuses such a basicConstraints (mbedtls parses and verifies the
leaf; libspdm_verify_leaf_cert_basic_constraints then wants the bytes of an empty SEQUENCE): this
is a deliberate leniency beyond libspdm. `canonical_form` drops exactly two kinds of encoded DEFAULT, cA
FALSE in basicConstraints and critical FALSE in an Extension, and changes nothing else, so the
library can read the fields. The signature covers the original tbsCertificate, so
`verify_signature` checks it over those bytes with the algorithms the library's verifier permits;
`check_issuer_key` applies the library's rules for a key that issues certificates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from asn1crypto import parser
from asn1crypto import x509 as asn1x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from spdm.errors import VerificationError

__all__ = [
    "SEQUENCE",
    "CanonicalForm",
    "canonical_form",
    "check_issuer_constraints",
    "check_issuer_key",
    "children",
    "map_extensions",
    "verify_signature",
    "wrap",
]

_FALSE = b"\x01\x01\x00"
_BASIC_CONSTRAINTS_OID = b"\x06\x03\x55\x1d\x13"
SEQUENCE = (0, 1, 16)
_EXTENSIONS_FIELD = (2, 1, 3)  # tbsCertificate's [3] EXPLICIT Extensions
_OCTET_STRING = (0, 0, 4)

_PSS = (  # RSASSA-PSS, MGF1 with the same hash, salt as long as the hash, trailerField 1 (omitted: the DEFAULT)
    "304106092a864886f70d01010a3034a00f300d0609608648016503040{n}0500"
    "a11c301a06092a864886f70d010108300d0609608648016503040{n}0500a2030201{salt}"
)
_SIGNATURE_ALGORITHMS: dict[bytes, tuple[str, hashes.HashAlgorithm]] = {
    bytes.fromhex("300a06082a8648ce3d040302"): ("ECDSA", hashes.SHA256()),
    bytes.fromhex("300a06082a8648ce3d040303"): ("ECDSA", hashes.SHA384()),
    bytes.fromhex("300a06082a8648ce3d040304"): ("ECDSA", hashes.SHA512()),
    bytes.fromhex("300d06092a864886f70d01010b0500"): ("PKCS1v15", hashes.SHA256()),
    bytes.fromhex("300d06092a864886f70d01010c0500"): ("PKCS1v15", hashes.SHA384()),
    bytes.fromhex("300d06092a864886f70d01010d0500"): ("PKCS1v15", hashes.SHA512()),
    bytes.fromhex(_PSS.format(n="201", salt="20")): ("PSS", hashes.SHA256()),
    bytes.fromhex(_PSS.format(n="202", salt="30")): ("PSS", hashes.SHA384()),
    bytes.fromhex(_PSS.format(n="203", salt="40")): ("PSS", hashes.SHA512()),
}
"""Exactly the certificate signature AlgorithmIdentifiers the library's verifier permits (CA/B 7.1.3.2)."""

_RSA_SPKI = bytes.fromhex("300d06092a864886f70d0101010500")
_ISSUER_KEY_ALGORITHMS = {
    _RSA_SPKI,
    bytes.fromhex("301306072a8648ce3d020106082a8648ce3d030107"),  # P-256
    bytes.fromhex("301006072a8648ce3d020106052b81040022"),  # P-384
    bytes.fromhex("301006072a8648ce3d020106052b81040023"),  # P-521
}
"""The subjectPublicKeyInfo algorithms the library's verifier permits an issuer (CA/B 7.1.3.1)."""
_MINIMUM_RSA_MODULUS_BITS = 2048


@dataclass(frozen=True, slots=True, kw_only=True)
class CanonicalForm:
    """A leaf's canonical DER, and what its signature covers: the original tbsCertificate and signatureAlgorithm."""

    der: bytes
    tbs: bytes
    signature_algorithm: bytes


def _tlvs(data: bytes) -> list[bytes]:
    """The encoded values one after another in `data`; ValueError when they do not fill it."""
    values: list[bytes] = []
    while data:
        _, _, _, header, contents, trailer = parser.parse(data)
        size = len(header) + len(contents) + len(trailer)
        values.append(data[:size])
        data = data[size:]
    return values


def children(tlv: bytes, kind: tuple[int, int, int]) -> list[bytes]:
    """The encoded values inside `tlv`, which must be one (class, method, tag) value; ValueError otherwise."""
    class_, method, tag, _, contents, _ = parser.parse(tlv, strict=True)
    if (class_, method, tag) != kind:
        raise ValueError(f"found class {class_} tag {tag} where {kind} was expected")
    return _tlvs(bytes(contents))


def wrap(kind: tuple[int, int, int], values: list[bytes]) -> bytes:
    """One (class, method, tag) value holding `values`, its length in minimal DER form."""
    return bytes(parser.emit(*kind, b"".join(values)))


def _basic_constraints(value: bytes, drop: bool) -> bytes:
    (sequence,) = children(value, _OCTET_STRING)
    fields = children(sequence, SEQUENCE)
    if drop and fields[:1] == [_FALSE]:
        fields = fields[1:]
    return wrap(_OCTET_STRING, [wrap(SEQUENCE, fields)])


def _extension(extension: bytes, drop: bool) -> bytes:
    fields = children(extension, SEQUENCE)
    if len(fields) not in (2, 3):
        raise ValueError(f"an Extension of {len(fields)} fields")
    if len(fields) == 3 and drop and fields[1] == _FALSE:
        del fields[1]
    if fields[0] == _BASIC_CONSTRAINTS_OID:
        fields[-1] = _basic_constraints(fields[-1], drop)
    return wrap(SEQUENCE, fields)


def map_extensions(tbs: bytes, edit: Callable[[bytes], bytes]) -> bytes:
    """The tbsCertificate with `edit` applied to each encoded Extension, every other byte kept."""
    fields = children(tbs, SEQUENCE)
    for index, field in enumerate(fields):
        if parser.parse(field)[:3] == _EXTENSIONS_FIELD:
            (extensions,) = children(field, _EXTENSIONS_FIELD)
            rebuilt = [edit(extension) for extension in children(extensions, SEQUENCE)]
            fields[index] = wrap(_EXTENSIONS_FIELD, [wrap(SEQUENCE, rebuilt)])
    return wrap(SEQUENCE, fields)


def _certificate(der: bytes, drop: bool) -> bytes:
    tbs, algorithm, signature = children(der, SEQUENCE)
    return wrap(SEQUENCE, [map_extensions(tbs, lambda extension: _extension(extension, drop)), algorithm, signature])


def canonical_form(der: bytes) -> CanonicalForm | None:
    """The certificate without its encoded cA FALSE and critical FALSE; None when it encodes neither.

    Rebuilding with nothing dropped must give back `der` byte for byte: every length the rebuild
    writes anew was minimal already, so the two differ only by the dropped defaults.
    """
    try:
        if _certificate(der, drop=False) != der:
            return None
        canonical = _certificate(der, drop=True)
        tbs, algorithm, _ = children(der, SEQUENCE)
    except ValueError:
        return None
    if canonical == der:
        return None
    return CanonicalForm(der=canonical, tbs=tbs, signature_algorithm=algorithm)


def verify_signature(issuer_key: CertificatePublicKeyTypes, algorithm: bytes, signature: bytes, signed: bytes) -> None:
    """Check a certificate signature as the library's verifier would.

    `UnsupportedAlgorithm` when the verifier does not permit `algorithm`, `VerificationError` when it
    does but the signature does not verify.
    """
    entry = _SIGNATURE_ALGORITHMS.get(algorithm)
    if entry is None:
        raise UnsupportedAlgorithm(f"AlgorithmIdentifier {algorithm.hex()}")
    kind, digest = entry
    try:
        if kind == "ECDSA" and isinstance(issuer_key, ec.EllipticCurvePublicKey):
            issuer_key.verify(signature, signed, ec.ECDSA(digest))
        elif kind == "PKCS1v15" and isinstance(issuer_key, rsa.RSAPublicKey):
            issuer_key.verify(signature, signed, padding.PKCS1v15(), digest)
        elif kind == "PSS" and isinstance(issuer_key, rsa.RSAPublicKey):
            issuer_key.verify(signature, signed, padding.PSS(padding.MGF1(digest), digest.digest_size), digest)
        else:
            raise VerificationError(f"its {kind} signature cannot come from the issuer's {type(issuer_key).__name__}")
    except InvalidSignature:
        raise VerificationError("the signature does not match its public key") from None


def check_issuer_key(issuer_der: bytes) -> None:
    """The library's rules for an issuer's key: an accepted algorithm, an RSA modulus of 2048 bits or more."""
    spki = asn1x509.Certificate.load(issuer_der)["tbs_certificate"]["subject_public_key_info"]
    if spki["algorithm"].dump() not in _ISSUER_KEY_ALGORITHMS:
        raise VerificationError(f"its public key algorithm {spki['algorithm'].dump().hex()} may not issue certificates")
    if spki["algorithm"].dump() == _RSA_SPKI:
        modulus = spki["public_key"].parsed["modulus"]
        if len(modulus.contents) * 8 < _MINIMUM_RSA_MODULUS_BITS:  # the library's measure, sign byte included
            bits = modulus.native.bit_length()
            raise VerificationError(f"its RSA key of {bits} bits is too weak to issue certificates")


def check_issuer_constraints(issuers: Sequence[tuple[str, x509.Certificate]]) -> None:
    """pathLenConstraint and nameConstraints of the leaf's issuers (described, nearest first), which need the leaf.

    The library validates the path above the leaf with the leaf's issuer as its end, so it counts one
    intermediate fewer below each issuer and applies no name constraint to the leaf's names; the
    issuer `distance` steps above the leaf has `distance` intermediates below it.
    """
    for distance, (where, certificate) in enumerate(issuers):
        extensions = certificate.extensions
        if any(isinstance(extension.value, x509.NameConstraints) for extension in extensions):
            raise VerificationError(
                f"{where}: has nameConstraints, which cannot be applied to a leaf that encodes a DEFAULT value"
            )
        try:
            limit = extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
        except x509.ExtensionNotFound:
            continue
        if limit is not None and limit < distance:
            raise VerificationError(
                f"{where}: its pathLenConstraint {limit} allows fewer intermediates than the {distance} below it"
            )
