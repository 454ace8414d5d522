"""A throwaway test PKI: SPDM-shaped certificate chains, healthy or with one chosen defect.

`make_chain` issues root -> intermediates -> leaf for any BaseAsymAlgo, with knobs for every
defect a certificate validator must reject (expired or not-yet-valid, wrong signer, CA flag on
the leaf, intermediate that is not a CA, keyUsage without digitalSignature, unknown critical
extension, self-signed leaf) and for the SPDM/CMA extras (SPDM EKUs, the CMA SubjectAltName).

Certificates are deterministic for the same keys and arguments: fixed names, serial numbers and
times, PKCS#1 v1.5 or RFC 6979 (deterministic) ECDSA signatures. Keys are not, since
`cryptography` has no seeded key generation; they are cached per algorithm and position for the
life of the process (RSA generation is slow), or passed in.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import core as asn1
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID, NameOID

from spdm._lenient_leaf import SEQUENCE, children, map_extensions, wrap
from spdm.certs import (
    CMA_IDENTITY_OID,
    SPDM_EXTENSION_OID,
    SPDM_HARDWARE_IDENTITY_OID,
    SPDM_RESPONDER_AUTH_OID,
    CertChain,
    X509SigningHash,
    x509_signing_hash,
)
from spdm.crypto import HashSuite, SignatureScheme, SigningKey, asym_suite, hash_suite
from spdm.messages.codes import BaseHashAlgo

__all__ = [
    "CA_KEY_USAGE",
    "DEFAULT_NOT_AFTER",
    "DEFAULT_NOT_BEFORE",
    "LEAF_KEY_USAGE",
    "UNKNOWN_EXTENSION_OID",
    "IssuedChain",
    "cached_key",
    "key_usage",
    "make_chain",
]

DEFAULT_NOT_BEFORE = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
DEFAULT_NOT_AFTER = datetime.datetime(2044, 1, 1, tzinfo=datetime.timezone.utc)
UNKNOWN_EXTENSION_OID = "1.3.6.1.4.1.412.274.999"
"""An extension no validator knows (under the DMTF SPDM arc, unassigned): for the critical-extension defect."""


def key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_encipherment: bool = False,
    key_agreement: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    """A KeyUsage value naming only the bits that are set (x509.KeyUsage wants all nine)."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=key_agreement,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


LEAF_KEY_USAGE = key_usage(digital_signature=True)
CA_KEY_USAGE = key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True)

_KEY_CACHE: dict[tuple[bool, int, int], SigningKey] = {}


def cached_key(asym_algo: int, index: int = 0) -> SigningKey:
    """The process-wide key number `index` for one BaseAsymAlgo bit, generated on first use.

    RSASSA and RSAPSS of one size share keys (same key type); so do repeated `make_chain` calls,
    which therefore issue identical certificates.
    """
    suite = asym_suite(asym_algo)
    slot = (suite.scheme is SignatureScheme.ECDSA, suite.key_bits, index)
    key = _KEY_CACHE.get(slot)
    if key is None:
        key = _KEY_CACHE[slot] = suite.generate_private_key()
    return key


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedChain:
    """What `make_chain` issued. `keys[i]` is the key of certificate i of the full chain (root first)."""

    root_der: bytes
    root_key: SigningKey
    certificates_der: tuple[bytes, ...]
    leaf_key: SigningKey
    keys: tuple[SigningKey, ...]

    @property
    def leaf_der(self) -> bytes:
        return self.certificates_der[-1]

    @property
    def device_der(self) -> bytes:
        """The certificate above the leaf: the device certificate of an alias-model chain (`alias=True`)."""
        return self.certificates_der[-2]

    def spdm_chain(self, hash_suite: HashSuite) -> CertChain:
        """The chain in the SPDM slot format, RootHash taken over this PKI's root."""
        return CertChain.build(self.certificates_der, hash_suite, root_certificate_der=self.root_der)


def make_chain(
    asym_algo: int,
    *,
    depth: int = 3,
    hash_algo: int = BaseHashAlgo.SHA_256,
    not_before: datetime.datetime = DEFAULT_NOT_BEFORE,
    not_after: datetime.datetime = DEFAULT_NOT_AFTER,
    leaf_not_before: datetime.datetime | None = None,
    leaf_not_after: datetime.datetime | None = None,
    ca_asym_algo: int | None = None,
    leaf_is_ca: bool = False,
    leaf_basic_constraints: bool = True,
    leaf_explicit_ca_false: bool = False,
    explicit_critical_false: Sequence[int] = (),
    root_path_length: int | None = None,
    root_name_constraints: x509.NameConstraints | None = None,
    ca_on_intermediates: bool = True,
    intermediate_basic_constraints: bool = True,
    intermediate_key_usage: x509.KeyUsage | None = CA_KEY_USAGE,
    leaf_key_usage: x509.KeyUsage | None = LEAF_KEY_USAGE,
    cma_identity: str | None = None,
    spdm_eku: bool = False,
    extended_key_usages: Sequence[str] = (),
    spdm_extension_oids: Sequence[str] = (),
    malformed_spdm_extension: bool = False,
    alias: bool = False,
    wrong_issuer_key: bool = False,
    self_signed_leaf: bool = False,
    unknown_critical_extension: bool = False,
    include_root: bool = True,
    keys: Sequence[SigningKey] | None = None,
    name: str = "pyspdm test",
) -> IssuedChain:
    """Issue root -> (depth - 2) intermediates -> leaf; the leaf key is of `asym_algo`.

    - `hash_algo` (a BaseHashAlgo bit) signs the certificates; `ca_asym_algo` picks the CA keys'
      algorithm (default: `asym_algo`; an ECDSA P-256 CA keeps RSA-leaf tests fast).
    - `not_before`/`not_after` apply to every certificate, `leaf_not_before`/`leaf_not_after`
      override the leaf's.
    - Defects: `leaf_is_ca`, `ca_on_intermediates=False` (basicConstraints CA:FALSE),
      `intermediate_basic_constraints=False` / `leaf_basic_constraints=False` (extension absent),
      `leaf_key_usage` (None: absent), `leaf_explicit_ca_false` (the leaf's basicConstraints with cA
      FALSE written out, BER style, instead of omitted as DER's DEFAULT rule wants),
      `explicit_critical_false` (the positions, root 0, whose subjectKeyIdentifier has critical FALSE
      written out the same way),
      `wrong_issuer_key` (leaf signed by a stranger, names intact),
      `self_signed_leaf`, `unknown_critical_extension` (on the leaf), `malformed_spdm_extension`
      (the leaf's SPDM extension holds an INTEGER where an id-spdm-cert-oid SEQUENCE belongs).
    - Root constraints: `root_path_length` (its pathLenConstraint), `root_name_constraints`.
    - Extras: `cma_identity` (the PCIe CMA SubjectAltName string, OID 2.23.147), `spdm_eku` (the
      SPDM responder-auth EKU), `extended_key_usages` (any further dotted EKU OIDs),
      `spdm_extension_oids` (the leaf's SPDM extension, id-spdm-cert-oids, e.g. the hardware identity).
    - `alias`: DSP0274 1.2's alias certificate model (depth 3 or more): the last intermediate is the
      device certificate (a CA with pathLenConstraint 0 whose SPDM extension names the hardware
      identity), the leaf the alias certificate it issued; `IssuedChain.device_der` is the former.
    - `include_root=False` leaves the root out of `certificates_der` (chain starts at the first
      intermediate, which the trust anchor issued).
    - `keys`: one key per certificate, root first (default: `cached_key`).
    """
    if depth < 2:
        raise ValueError(f"depth {depth}: a chain needs at least a root and a leaf")
    if alias and depth < 3:
        raise ValueError(f"depth {depth}: an alias-model chain needs a root, a device certificate and a leaf")
    ca_algo = asym_algo if ca_asym_algo is None else ca_asym_algo
    if keys is None:
        chosen = [cached_key(ca_algo, i) for i in range(depth - 1)] + [cached_key(asym_algo, depth - 1)]
    elif len(keys) != depth:
        raise ValueError(f"{len(keys)} keys for a chain of {depth} certificates")
    else:
        chosen = list(keys)
    algorithm = x509_signing_hash(hash_suite(hash_algo))

    names = [f"{name} root CA"] + [f"{name} intermediate {i}" for i in range(1, depth - 1)] + [f"{name} leaf"]
    if alias:
        names[-2:] = [f"{name} device", f"{name} alias"]
    certificates: list[bytes] = []
    for index in range(depth):
        key = chosen[index]
        subject = _name(names[index])
        is_root = index == 0
        is_leaf = index == depth - 1
        issuer_index = index if is_root or (is_leaf and self_signed_leaf) else index - 1
        issuer_key = chosen[issuer_index]
        signer = cached_key(ca_algo, 100) if is_leaf and wrong_issuer_key else issuer_key
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(_name(names[issuer_index]))
            .public_key(key.public_key())
            .serial_number(index + 1)
            .not_valid_before(leaf_not_before if is_leaf and leaf_not_before is not None else not_before)
            .not_valid_after(leaf_not_after if is_leaf and leaf_not_after is not None else not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if not is_root:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
            )
        if is_root:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=root_path_length), critical=True)
            builder = builder.add_extension(CA_KEY_USAGE, critical=True)
            if root_name_constraints is not None:
                builder = builder.add_extension(root_name_constraints, critical=True)
        elif not is_leaf:
            is_device = alias and index == depth - 2
            if intermediate_basic_constraints:
                constraints = x509.BasicConstraints(ca=ca_on_intermediates, path_length=0 if is_device else None)
                builder = builder.add_extension(constraints, critical=True)
            if intermediate_key_usage is not None:
                builder = builder.add_extension(intermediate_key_usage, critical=True)
            if is_device:
                builder = builder.add_extension(_spdm_extension([SPDM_HARDWARE_IDENTITY_OID]), critical=False)
        else:
            builder = _leaf_extensions(
                builder,
                leaf_is_ca=leaf_is_ca,
                leaf_basic_constraints=leaf_basic_constraints,
                leaf_explicit_ca_false=leaf_explicit_ca_false,
                leaf_key_usage=leaf_key_usage,
                cma_identity=cma_identity,
                ekus=([SPDM_RESPONDER_AUTH_OID] if spdm_eku else []) + list(extended_key_usages),
                unknown_critical_extension=unknown_critical_extension,
            )
            if spdm_extension_oids:
                builder = builder.add_extension(_spdm_extension(spdm_extension_oids), critical=False)
            if malformed_spdm_extension:
                malformed = x509.UnrecognizedExtension(x509.ObjectIdentifier(SPDM_EXTENSION_OID), _NOT_AN_ENTRY)
                builder = builder.add_extension(malformed, critical=False)
        der = _sign(builder, signer, algorithm)
        if index in explicit_critical_false:
            der = _spell_out_critical_false(der, signer, algorithm)
        certificates.append(der)

    return IssuedChain(
        root_der=certificates[0],
        root_key=chosen[0],
        certificates_der=tuple(certificates if include_root else certificates[1:]),
        leaf_key=chosen[-1],
        keys=tuple(chosen),
    )


def _leaf_extensions(
    builder: x509.CertificateBuilder,
    *,
    leaf_is_ca: bool,
    leaf_basic_constraints: bool,
    leaf_explicit_ca_false: bool,
    leaf_key_usage: x509.KeyUsage | None,
    cma_identity: str | None,
    ekus: list[str],
    unknown_critical_extension: bool,
) -> x509.CertificateBuilder:
    if leaf_explicit_ca_false:  # SEQUENCE { BOOLEAN FALSE }: the library's encoder always omits the default
        explicit = x509.UnrecognizedExtension(ExtensionOID.BASIC_CONSTRAINTS, bytes.fromhex("3003010100"))
        builder = builder.add_extension(explicit, critical=True)
    elif leaf_basic_constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=leaf_is_ca, path_length=None), critical=True)
    if leaf_key_usage is not None:
        builder = builder.add_extension(leaf_key_usage, critical=True)
    if cma_identity is not None:
        value = asn1.UTF8String(cma_identity).dump()
        other_name = x509.OtherName(x509.ObjectIdentifier(CMA_IDENTITY_OID), value)
        builder = builder.add_extension(x509.SubjectAlternativeName([other_name]), critical=False)
    if ekus:
        usages = x509.ExtendedKeyUsage([x509.ObjectIdentifier(oid) for oid in ekus])
        builder = builder.add_extension(usages, critical=False)
    if unknown_critical_extension:
        unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier(UNKNOWN_EXTENSION_OID), b"\x05\x00")
        builder = builder.add_extension(unknown, critical=True)
    return builder


_NOT_AN_ENTRY = bytes.fromhex("3003020101")
"""SEQUENCE { INTEGER 1 }: id-spdm-cert-oids with an entry that is not SEQUENCE { id OID, value OPTIONAL }."""


def _spdm_extension(oids: Sequence[str]) -> x509.UnrecognizedExtension:
    """DSP0274's SPDM certificate extension: id-spdm-cert-oids, one SEQUENCE { id } per OID."""
    entries = [wrap(SEQUENCE, [asn1.ObjectIdentifier(oid).dump()]) for oid in oids]
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(SPDM_EXTENSION_OID), wrap(SEQUENCE, entries))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _sign(builder: x509.CertificateBuilder, key: SigningKey, algorithm: X509SigningHash) -> bytes:
    """Sign deterministically where the OpenSSL underneath can (RFC 6979 ECDSA; RSA PKCS#1 v1.5 always is)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):  # EdDSA hashes inside: the certificate names no hash
        return builder.sign(key, None).public_bytes(Encoding.DER)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        try:
            return builder.sign(key, algorithm, ecdsa_deterministic=True).public_bytes(Encoding.DER)
        except UnsupportedAlgorithm:
            pass
    return builder.sign(key, algorithm).public_bytes(Encoding.DER)


_SUBJECT_KEY_IDENTIFIER_OID = bytes.fromhex("0603551d0e")
_BIT_STRING = (0, 0, 3)


def _spell_out_critical_false(der: bytes, key: SigningKey, algorithm: X509SigningHash) -> bytes:
    """The certificate with critical FALSE written out in its subjectKeyIdentifier, signed again by `key`."""
    tbs, signature_algorithm, _ = children(der, SEQUENCE)
    signed = map_extensions(tbs, _with_critical_false)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(signed)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(signed, ec.ECDSA(algorithm))
    else:
        signature = key.sign(signed, padding.PKCS1v15(), algorithm)
    return wrap(SEQUENCE, [signed, signature_algorithm, wrap(_BIT_STRING, [b"\x00" + signature])])


def _with_critical_false(extension: bytes) -> bytes:
    fields = children(extension, SEQUENCE)
    if fields[0] != _SUBJECT_KEY_IDENTIFIER_OID:
        return extension
    return wrap(SEQUENCE, [fields[0], b"\x01\x01\x00", *fields[1:]])
