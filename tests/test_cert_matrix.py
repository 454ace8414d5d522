"""The certificate-validation matrix (issue "Hardening and speed", part 3): one row per defect, each
rejected with its own reason, and the well-formed variants accepted. ECDSA P-384 / SHA-384 chains
from the test PKI, parsed from slot bytes and validated as a requester would."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from asn1crypto import parser
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from spdm._lenient_leaf import SEQUENCE, children, verify_signature
from spdm.certs import (
    SPDM_REQUESTER_AUTH_OID,
    SPDM_RESPONDER_AUTH_OID,
    CertChain,
    ChainPolicy,
    VerifiedChain,
    verify_chain,
)
from spdm.crypto import AsymSuite, SigningKey, asym_suite, hash_suite
from spdm.errors import DecodeError, VerificationError
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo
from spdm.testing.pki import IssuedChain, cached_key, key_usage, make_chain

UTC = datetime.timezone.utc
NOW = datetime.datetime(2030, 1, 1, tzinfo=UTC)
HASHES = hash_suite(BaseHashAlgo.SHA_384)
P384 = asym_suite(BaseAsymAlgo.ECDSA_P384)
DEFAULT_POLICY = ChainPolicy()
CMA = "Vendor=8086:Device=0b25:CC=088000:REV=01"


@dataclass(frozen=True)
class Case:
    """Slot bytes, the anchor they must chain to, and how to validate them."""

    slot: bytes
    anchor: bytes
    asym: AsymSuite = P384
    policy: ChainPolicy = DEFAULT_POLICY
    version: int = 0x12


def _pki(**knobs: object) -> IssuedChain:
    return make_chain(BaseAsymAlgo.ECDSA_P384, hash_algo=BaseHashAlgo.SHA_384, **knobs)  # type: ignore[arg-type]


def _slot(certificates: tuple[bytes, ...] | list[bytes], anchor: bytes, *, tail: bytes = b"", cut: int = 0) -> bytes:
    """Slot bytes with a correct Length and RootHash around the certificates (optionally cut short or extended)."""
    body = b"".join(certificates)
    body = body[: len(body) - cut] + tail
    return (4 + HASHES.size + len(body)).to_bytes(2, "little") + b"\0\0" + HASHES.digest(anchor) + body


def _from(pki: IssuedChain, **kwargs: object) -> Case:
    return Case(_slot(pki.certificates_der, pki.root_der), pki.root_der, **kwargs)  # type: ignore[arg-type]


def _missing_intermediate() -> Case:
    root, _, second, leaf = _pki(depth=4).certificates_der
    return Case(_slot([root, second, leaf], root), root)


def _wrong_intermediate() -> Case:
    """The same root and names, but an intermediate holding another key: the leaf was not issued by it."""
    good = _pki()
    keys = list(good.keys)
    keys[1] = cached_key(BaseAsymAlgo.ECDSA_P384, 50)
    impostor = _pki(keys=keys).certificates_der[1]
    root, _, leaf = good.certificates_der
    return Case(_slot([root, impostor, leaf], root), root)


def _duplicated() -> Case:
    root, intermediate, leaf = _pki().certificates_der
    return Case(_slot([root, intermediate, intermediate, leaf], root), root)


def _root_hash_mismatch() -> Case:
    pki = _pki()
    slot = _slot(pki.certificates_der, pki.root_der)
    return Case(slot[:4] + bytes(HASHES.size) + slot[4 + HASHES.size :], pki.root_der)


def _edited(**kwargs: int | bytes) -> Case:
    pki = _pki()
    return Case(_slot(pki.certificates_der, pki.root_der, **kwargs), pki.root_der)  # type: ignore[arg-type]


LEAF = "certificate 2 (CN=pyspdm test leaf): "
EXPIRY = datetime.datetime(2029, 1, 1, tzinfo=UTC)

# defect -> (how to make it, the substring of the reason that names it)
DEFECTS: dict[str, tuple[Callable[[], Case], str]] = {
    "expired": (lambda: _from(_pki(leaf_not_after=EXPIRY)), LEAF + "expired at 2029-01-01"),
    "not yet valid": (
        lambda: _from(_pki(leaf_not_before=datetime.datetime(2031, 1, 1, tzinfo=UTC))),
        LEAF + "not valid before 2031-01-01",
    ),
    "signed by the wrong key": (
        lambda: _from(_pki(wrong_issuer_key=True)),
        LEAF + "not signed by certificate 1: the signature does not match its public key",
    ),
    "missing intermediate": (_missing_intermediate, "an intermediate is missing"),
    "wrong intermediate": (_wrong_intermediate, "authorityKeyIdentifier names another key"),
    "CA flag on the leaf": (lambda: _from(_pki(leaf_is_ca=True)), "is the leaf but basicConstraints asserts CA"),
    "no CA flag on an intermediate": (
        lambda: _from(_pki(ca_on_intermediates=False)),
        "issues a certificate but basicConstraints does not assert CA",
    ),
    "keyUsage without digitalSignature": (
        lambda: _from(_pki(leaf_key_usage=key_usage(key_agreement=True))),
        "is the leaf but its keyUsage lacks digitalSignature",
    ),
    "no keyUsage on the leaf": (lambda: _from(_pki(leaf_key_usage=None)), LEAF + "is the leaf but has no keyUsage"),
    "no basicConstraints on a 1.3 leaf": (
        lambda: _from(_pki(leaf_basic_constraints=False), version=0x13),
        LEAF + "is the leaf but has no basicConstraints (cA FALSE), which SPDM 1.3 requires",
    ),
    "the requester's SPDM EKU alone on a responder's leaf": (
        lambda: _from(_pki(extended_key_usages=[SPDM_REQUESTER_AUTH_OID])),
        LEAF + f"lists SPDM EKUs ['{SPDM_REQUESTER_AUTH_OID}'] but not {SPDM_RESPONDER_AUTH_OID}",
    ),
    "malformed SPDM extension": (
        lambda: _from(_pki(malformed_spdm_extension=True)),
        LEAF + "the SPDM extension 1.3.6.1.4.1.412.274.6 is not id-spdm-cert-oids",
    ),
    "public key of another algorithm": (
        lambda: _from(_pki(), asym=asym_suite(BaseAsymAlgo.ECDSA_P256)),
        LEAF + "its public key cannot verify ECDSA_P256",
    ),
    "root hash mismatch": (_root_hash_mismatch, "RootHash is not the SHA_384 of the trust anchor"),
    "self-signed leaf": (lambda: _from(_pki(self_signed_leaf=True)), "self-signed but is not the trust anchor"),
    "duplicated certificates": (_duplicated, "duplicates certificate 1"),
    "truncated DER": (lambda: _edited(cut=10), "overruns the"),
    "trailing garbage": (lambda: _edited(tail=b"\x00\x01\x02"), "tag 0x00 is not a DER SEQUENCE"),
    "over-long chain": (lambda: _from(_pki(depth=9)), "the chain holds 9 certificates, more than the 8 allowed"),
    "unsupported critical extension": (
        lambda: _from(_pki(unknown_critical_extension=True)),
        "1.3.6.1.4.1.412.274.999: certificate contains unaccounted-for critical extensions",
    ),
}

ACCEPTED: dict[str, Callable[[], Case]] = {
    "healthy": lambda: _from(_pki()),
    "cA=FALSE (DER: the DEFAULT omitted)": lambda: _from(_pki(leaf_is_ca=False, leaf_basic_constraints=True)),
    "no basicConstraints on a 1.2 leaf": lambda: _from(_pki(leaf_basic_constraints=False)),
    "SPDM responder EKU": lambda: _from(
        _pki(spdm_eku=True), policy=ChainPolicy(expected_spdm_eku=SPDM_RESPONDER_AUTH_OID)
    ),
    "SPDM responder EKU, the default policy": lambda: _from(_pki(spdm_eku=True)),
    "both SPDM EKUs": lambda: _from(_pki(spdm_eku=True, extended_key_usages=[SPDM_REQUESTER_AUTH_OID])),
    "SPDM requester EKU, no role expected": lambda: _from(
        _pki(extended_key_usages=[SPDM_REQUESTER_AUTH_OID]), policy=ChainPolicy(expected_spdm_eku=None)
    ),
    "with the CMA SAN, required": lambda: _from(_pki(cma_identity=CMA), policy=ChainPolicy(require_cma_identity=True)),
    "with the CMA SAN, not required": lambda: _from(_pki(cma_identity=CMA)),
    "without the CMA SAN": lambda: _from(_pki()),
}


def _validate(case: Case) -> VerifiedChain:
    return verify_chain(
        CertChain.from_bytes(case.slot, HASHES.size),
        trust_anchor=case.anchor,
        hash_suite=HASHES,
        asym_suite=case.asym,
        now=NOW,
        policy=case.policy,
        version=case.version,
    )


def test_reasons_are_pairwise_distinct() -> None:
    reasons = [reason for _, reason in DEFECTS.values()]
    for index, reason in enumerate(reasons):
        for other in reasons[index + 1 :]:
            assert reason not in other and other not in reason, (reason, other)


@pytest.mark.parametrize(("make", "reason"), list(DEFECTS.values()), ids=list(DEFECTS))
def test_defect_is_rejected_with_its_own_reason(make: Callable[[], Case], reason: str) -> None:
    with pytest.raises((VerificationError, DecodeError)) as caught:
        _validate(make())
    message = str(caught.value)
    assert reason in message, message
    others = [other for _, other in DEFECTS.values() if other != reason]
    assert not [other for other in others if other in message], message


@pytest.mark.parametrize("make", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_well_formed_variant_is_accepted(make: Callable[[], Case]) -> None:
    verified = _validate(make())
    assert verified.leaf.subject.rfc4514_string() == "CN=pyspdm test leaf"


def test_accepted_extras_are_reported() -> None:
    assert _validate(ACCEPTED["SPDM responder EKU"]()).spdm_ekus == {SPDM_RESPONDER_AUTH_OID}
    assert str(_validate(ACCEPTED["with the CMA SAN, required"]()).cma_identity) == CMA
    assert _validate(ACCEPTED["without the CMA SAN"]()).cma_identity is None


def test_explicitly_encoded_ca_false_is_accepted() -> None:
    _validate(_from(_pki(leaf_explicit_ca_false=True)))


# --- a leaf that spells out a DEFAULT value (cA FALSE, critical FALSE): read leniently, checked fully ---

LEAF_INDEX = 2
P256 = asym_suite(BaseAsymAlgo.ECDSA_P256)
ONLY_THE_LEAF = "it encodes a DEFAULT value (cA or critical FALSE), which only the leaf may"


def _explicit(**knobs: object) -> IssuedChain:
    return _pki(leaf_explicit_ca_false=True, **knobs)


def _chain(pki: IssuedChain, asym: AsymSuite) -> Case:
    return Case(_slot(pki.certificates_der, pki.root_der), pki.root_der, asym=asym)


def _without_root() -> Case:
    pki = _explicit(include_root=False)
    return Case(_slot(pki.certificates_der, pki.root_der), pki.root_der)


def _with_intermediate_key(key: SigningKey) -> list[SigningKey]:
    return [cached_key(BaseAsymAlgo.ECDSA_P384, 0), key, cached_key(BaseAsymAlgo.ECDSA_P384, 2)]


LENIENT_ACCEPTED: dict[str, Callable[[], Case]] = {
    "cA FALSE spelled out": lambda: _from(_explicit()),
    "cA FALSE spelled out at 1.3": lambda: _from(_explicit(), version=0x13),
    "critical FALSE spelled out": lambda: _from(_pki(explicit_critical_false=(LEAF_INDEX,))),
    "both spelled out": lambda: _from(_explicit(explicit_critical_false=(LEAF_INDEX,))),
    "issued by the trust anchor": lambda: _from(_explicit(depth=2)),
    "two intermediates": lambda: _from(_explicit(depth=4)),
    "chain without the root": _without_root,
    "SPDM EKU and CMA SAN": lambda: _from(
        _explicit(spdm_eku=True, cma_identity=CMA),
        policy=ChainPolicy(expected_spdm_eku=SPDM_RESPONDER_AUTH_OID, require_cma_identity=True),
    ),
    "ECDSA P-256, SHA-256": lambda: _chain(
        make_chain(BaseAsymAlgo.ECDSA_P256, hash_algo=BaseHashAlgo.SHA_256, leaf_explicit_ca_false=True), P256
    ),
    "ECDSA P-256, SHA-512": lambda: _chain(
        make_chain(BaseAsymAlgo.ECDSA_P256, hash_algo=BaseHashAlgo.SHA_512, leaf_explicit_ca_false=True), P256
    ),
    "RSA 2048, PKCS#1 v1.5 SHA-256": lambda: _chain(
        make_chain(BaseAsymAlgo.RSASSA_2048, hash_algo=BaseHashAlgo.SHA_256, leaf_explicit_ca_false=True),
        asym_suite(BaseAsymAlgo.RSASSA_2048),
    ),
}

LENIENT_DEFECTS: dict[str, tuple[Callable[[], Case], str]] = {
    "expired": (lambda: _from(_explicit(leaf_not_after=EXPIRY)), DEFECTS["expired"][1]),
    "not yet valid": (
        lambda: _from(_explicit(leaf_not_before=datetime.datetime(2031, 1, 1, tzinfo=UTC))),
        DEFECTS["not yet valid"][1],
    ),
    "signed by the wrong key": (
        lambda: _from(_explicit(wrong_issuer_key=True)),
        DEFECTS["signed by the wrong key"][1],
    ),
    "critical FALSE spelled out, signed by the wrong key": (
        lambda: _from(_pki(wrong_issuer_key=True, explicit_critical_false=(LEAF_INDEX,))),
        DEFECTS["signed by the wrong key"][1],
    ),
    "keyUsage without digitalSignature": (
        lambda: _from(_explicit(leaf_key_usage=key_usage(key_agreement=True))),
        LEAF + DEFECTS["keyUsage without digitalSignature"][1],
    ),
    "no keyUsage": (lambda: _from(_explicit(leaf_key_usage=None)), DEFECTS["no keyUsage on the leaf"][1]),
    "malformed SPDM extension": (
        lambda: _from(_explicit(malformed_spdm_extension=True)),
        DEFECTS["malformed SPDM extension"][1],
    ),
    "unsupported critical extension": (
        lambda: _from(_explicit(unknown_critical_extension=True)),
        LEAF + "invalid extension: " + DEFECTS["unsupported critical extension"][1],
    ),
    "SPDM EKU of the other role": (
        lambda: _from(_explicit(spdm_eku=True), policy=ChainPolicy(expected_spdm_eku=SPDM_REQUESTER_AUTH_OID)),
        LEAF + f"lists SPDM EKUs ['{SPDM_RESPONDER_AUTH_OID}'] but not {SPDM_REQUESTER_AUTH_OID}",
    ),
    "public key of another algorithm": (
        lambda: _from(_explicit(), asym=P256),
        DEFECTS["public key of another algorithm"][1],
    ),
    "signed with SHA3-384": (
        lambda: _from(
            make_chain(BaseAsymAlgo.ECDSA_P384, hash_algo=BaseHashAlgo.SHA3_384, leaf_explicit_ca_false=True)
        ),
        LEAF + "signed with sha3-384, which certificate validation does not accept",
    ),
    "issuer key on a curve the verifier refuses": (
        lambda: _from(_explicit(keys=_with_intermediate_key(ec.generate_private_key(ec.SECP256K1())))),
        "certificate 1 (CN=pyspdm test intermediate 1): its public key algorithm "
        "301006072a8648ce3d020106052b8104000a may not issue certificates",
    ),
    "issuer key of RSA 1024": (
        lambda: _from(
            _explicit(keys=_with_intermediate_key(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
        ),
        "certificate 1 (CN=pyspdm test intermediate 1): its RSA key of 1024 bits is too weak to issue certificates",
    ),
    "no CA flag on an intermediate": (
        lambda: _from(_explicit(ca_on_intermediates=False)),
        "certificate 1 (CN=pyspdm test intermediate 1): " + DEFECTS["no CA flag on an intermediate"][1],
    ),
    "intermediate keyUsage without keyCertSign": (
        lambda: _from(_explicit(intermediate_key_usage=key_usage(digital_signature=True))),
        "certificate 1 (CN=pyspdm test intermediate 1): issues a certificate but its keyUsage lacks keyCertSign",
    ),
    "root pathLenConstraint 0 above an intermediate": (
        lambda: _from(_explicit(root_path_length=0)),
        "the trust anchor: its pathLenConstraint 0 allows fewer intermediates than the 1 below it",
    ),
    "root nameConstraints": (
        lambda: _from(_explicit(root_name_constraints=x509.NameConstraints([x509.DNSName("example.com")], None))),
        "the trust anchor: has nameConstraints, which cannot be applied to a leaf that encodes a DEFAULT value",
    ),
    "encoded DEFAULT in an intermediate": (
        lambda: _from(_pki(explicit_critical_false=(1,))),
        "certificate 1 is not a parseable X.509 certificate: ",
    ),
    "encoded DEFAULT in the trust anchor": (
        lambda: _from(_pki(explicit_critical_false=(0,))),
        "the trust anchor is not a DER X.509 certificate: ",
    ),
}


@pytest.mark.parametrize("make", list(LENIENT_ACCEPTED.values()), ids=list(LENIENT_ACCEPTED))
def test_leaf_spelling_out_a_default_is_accepted(make: Callable[[], Case]) -> None:
    verified = _validate(make())
    assert verified.leaf.subject.rfc4514_string() == "CN=pyspdm test leaf"


@pytest.mark.parametrize(("make", "reason"), list(LENIENT_DEFECTS.values()), ids=list(LENIENT_DEFECTS))
def test_leaf_spelling_out_a_default_is_rejected_with_its_own_reason(make: Callable[[], Case], reason: str) -> None:
    with pytest.raises(VerificationError) as caught:
        _validate(make())
    message = str(caught.value)
    assert reason in message, message
    others = {other for _, other in LENIENT_DEFECTS.values() if other not in reason}
    assert not [other for other in others if other in message], message


@pytest.mark.parametrize("position", [0, 1], ids=["trust anchor", "intermediate"])
def test_only_the_leaf_may_spell_out_a_default(position: int) -> None:
    with pytest.raises(VerificationError, match="EncodedDefault") as caught:
        _validate(_from(_pki(explicit_critical_false=(position,))))
    assert str(caught.value).endswith(ONLY_THE_LEAF)


def test_lenient_leaf_is_reported_in_canonical_form() -> None:
    pki = _explicit(spdm_eku=True, cma_identity=CMA, explicit_critical_false=(LEAF_INDEX,))
    verified = _validate(_from(pki))
    canonical = verified.leaf.public_bytes(Encoding.DER)
    assert len(canonical) == len(pki.leaf_der) - 6  # two encoded BOOLEAN FALSE dropped
    assert verified.leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert verified.leaf_public_key == pki.leaf_key.public_key()
    assert verified.spdm_ekus == {SPDM_RESPONDER_AUTH_OID}
    assert str(verified.cma_identity) == CMA


def _signed(key: SigningKey, **signing: object) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signer")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW)
    )
    return builder.sign(key, **signing)  # type: ignore[arg-type]


def _algorithm_identifier(certificate: x509.Certificate) -> bytes:
    _, algorithm, _ = children(certificate.public_bytes(Encoding.DER), SEQUENCE)
    return algorithm


RSA_KEY = cached_key(BaseAsymAlgo.RSASSA_2048)
P384_KEY = cached_key(BaseAsymAlgo.ECDSA_P384)
HASH_CLASSES = [hashes.SHA256, hashes.SHA384, hashes.SHA512]


def _pss(hash_class: type[hashes.HashAlgorithm], salt: int) -> dict[str, object]:
    return {"algorithm": hash_class(), "rsa_padding": padding.PSS(padding.MGF1(hash_class()), salt)}


ACCEPTED_SIGNATURES: dict[str, Callable[[], x509.Certificate]] = {
    **{f"ECDSA {h.name}": (lambda h=h: _signed(P384_KEY, algorithm=h())) for h in HASH_CLASSES},
    **{f"PKCS#1 v1.5 {h.name}": (lambda h=h: _signed(RSA_KEY, algorithm=h())) for h in HASH_CLASSES},
    **{f"PSS {h.name}": (lambda h=h: _signed(RSA_KEY, **_pss(h, padding.PSS.DIGEST_LENGTH))) for h in HASH_CLASSES},
}
REFUSED_SIGNATURES: dict[str, Callable[[], x509.Certificate]] = {
    "ECDSA SHA3-256": lambda: _signed(P384_KEY, algorithm=hashes.SHA3_256()),
    "PKCS#1 v1.5 SHA-224": lambda: _signed(RSA_KEY, algorithm=hashes.SHA224()),
    "PSS with the longest salt": lambda: _signed(RSA_KEY, **_pss(hashes.SHA256, padding.PSS.MAX_LENGTH)),
    "Ed25519": lambda: _signed(ed25519.Ed25519PrivateKey.generate(), algorithm=None),
}


@pytest.mark.parametrize("make", list(ACCEPTED_SIGNATURES.values()), ids=list(ACCEPTED_SIGNATURES))
def test_lenient_signature_check_accepts_what_the_verifier_permits(make: Callable[[], x509.Certificate]) -> None:
    certificate = make()
    key = certificate.public_key()
    algorithm = _algorithm_identifier(certificate)
    verify_signature(key, algorithm, certificate.signature, certificate.tbs_certificate_bytes)
    with pytest.raises(VerificationError, match="does not match"):
        verify_signature(key, algorithm, certificate.signature, certificate.tbs_certificate_bytes + b"\0")


@pytest.mark.parametrize("make", list(REFUSED_SIGNATURES.values()), ids=list(REFUSED_SIGNATURES))
def test_lenient_signature_check_refuses_what_the_verifier_refuses(make: Callable[[], x509.Certificate]) -> None:
    certificate = make()
    with pytest.raises(UnsupportedAlgorithm):
        verify_signature(
            certificate.public_key(),
            _algorithm_identifier(certificate),
            certificate.signature,
            certificate.tbs_certificate_bytes,
        )



def _unused_bits_offset(der: bytes) -> int:
    """Where the signature BIT STRING's unused-bits byte sits: outside the signed bytes and the
    signature value, it is the one byte `cryptography` ignores on either path."""
    signature = children(der, SEQUENCE)[2]
    header = parser.parse(signature)[3]
    return len(der) - len(signature) + len(header)


@pytest.mark.filterwarnings("ignore:Parsed a serial number:cryptography.utils.CryptographyDeprecationWarning")
def test_every_flipped_bit_of_a_lenient_leaf_is_refused() -> None:
    """The lenient path reads the leaf with a DER walker of its own: no bit of it may change unnoticed."""
    pki = _explicit(explicit_critical_false=(LEAF_INDEX,))
    root, intermediate, leaf = pki.certificates_der
    _validate(_from(pki))
    accepted = set()
    for offset in range(len(leaf)):
        for mask in (0x01, 0x80):
            tampered = leaf[:offset] + bytes([leaf[offset] ^ mask]) + leaf[offset + 1 :]
            try:
                _validate(Case(_slot([root, intermediate, tampered], root), root))
            except (DecodeError, VerificationError):  # the slot's certificate list, or the chain
                continue
            accepted.add(offset)
    assert accepted <= {_unused_bits_offset(leaf)}, sorted(accepted)
