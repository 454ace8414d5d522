"""SPDM certificate chains: the slot format against libspdm's samples and captures, and every rule of
chain validation, each rejection with its own message naming the certificate."""

from __future__ import annotations

import datetime
import json
import re
import warnings
from functools import partial
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from spdm.certs import (
    MAX_CHAIN_CERTIFICATES,
    SPDM_REQUESTER_AUTH_OID,
    SPDM_RESPONDER_AUTH_OID,
    CertChain,
    CertModel,
    ChainPolicy,
    CmaIdentity,
    VerifiedChain,
    load_certificates,
    split_der,
    verify_chain,
)
from spdm.crypto import AsymSuite, HashSuite, asym_suite, hash_suite
from spdm.errors import DecodeError, EncodeError, VerificationError
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo
from spdm.testing.pki import IssuedChain, cached_key, key_usage, make_chain

UTC = datetime.timezone.utc
NOW = datetime.datetime(2030, 1, 1, tzinfo=UTC)  # inside the test PKI's 2024..2044
SAMPLES_NOW = datetime.datetime(2027, 1, 1, tzinfo=UTC)  # inside every libspdm sample (the *4 ones start 2026-06)
SHA_256 = hash_suite(BaseHashAlgo.SHA_256)
SHA_384 = hash_suite(BaseHashAlgo.SHA_384)
P256 = asym_suite(BaseAsymAlgo.ECDSA_P256)
P384 = asym_suite(BaseAsymAlgo.ECDSA_P384)
LEAF = r"certificate 2 \(CN=pyspdm test leaf\)"
INTERMEDIATE = r"certificate 1 \(CN=pyspdm test intermediate 1\)"

# libspdm sample folder -> (BaseAsymAlgo bits its leaves serve, the hash that goes with it)
SAMPLES: dict[str, tuple[tuple[int, ...], int]] = {
    "ecp256": ((BaseAsymAlgo.ECDSA_P256,), BaseHashAlgo.SHA_256),
    "ecp384": ((BaseAsymAlgo.ECDSA_P384,), BaseHashAlgo.SHA_384),
    "ecp521": ((BaseAsymAlgo.ECDSA_P521,), BaseHashAlgo.SHA_512),
    "rsa2048": ((BaseAsymAlgo.RSASSA_2048, BaseAsymAlgo.RSAPSS_2048), BaseHashAlgo.SHA_256),
    "rsa3072": ((BaseAsymAlgo.RSASSA_3072, BaseAsymAlgo.RSAPSS_3072), BaseHashAlgo.SHA_384),
    "rsa4096": ((BaseAsymAlgo.RSASSA_4096, BaseAsymAlgo.RSAPSS_4096), BaseHashAlgo.SHA_512),
}
# bundle -> None if it must verify against its root, else the rejection it must get
BUNDLES: dict[str, str | None] = {
    "bundle_responder.certchain.der": None,
    "bundle_responder.certchain1.der": None,  # rooted at ca1.cert.der (same subject as ca.cert.der)
    "bundle_responder.certchain4.der": None,
    "bundle_responder.certchain_alias.der": None,  # alias model: device CA + alias leaf, 4 certificates
    "bundle_requester.certchain.der": None,
    "bundle_requester.certchain1.der": None,
    "bundle_requester.certchain4.der": None,
    # the alias model's partial set ends at the device CA: not a chain SPDM can authenticate with
    "bundle_responder.certchain_alias_cert_partial_set.der": r"certificate 2 \(.*\): is the leaf but basicConstraints",
}
# ecp256 leaf variants, checked as ca.cert.der + inter.cert.der + the leaf
VARIANTS: list[tuple[str, str | None, str | None]] = [
    ("end_requester_without_basic_constraint.cert.der", None, None),  # no basicConstraints: a leaf, accepted
    ("end_requester_ca_false.cert.der", None, "is the leaf but basicConstraints asserts CA"),  # it says CA:TRUE
    ("end_responder_with_spdm_rsp_eku.cert.der", SPDM_RESPONDER_AUTH_OID, None),
    ("end_responder_with_spdm_req_rsp_eku.cert.der", SPDM_RESPONDER_AUTH_OID, None),
    ("end_responder_with_spdm_req_eku.cert.der", SPDM_RESPONDER_AUTH_OID, "lists SPDM EKUs .* but not .*274.3"),
    ("end_requester_with_spdm_req_eku.cert.der", SPDM_REQUESTER_AUTH_OID, None),
    ("end_requester_with_spdm_rsp_eku.cert.der", SPDM_REQUESTER_AUTH_OID, "lists SPDM EKUs .* but not .*274.4"),
    ("end_responder.cert.der", SPDM_REQUESTER_AUTH_OID, None),  # no SPDM EKU at all: either role
]
# spdm_dump wrote this capture's chain with --cert_chain_format RAW (plain DER), whatever its README says
RAW_CHAIN_CAPTURES = {"p_dhe_secp384_mutauth_wo_encap_v11"}


def _verify(
    pki: IssuedChain,
    *,
    asym: AsymSuite = P256,
    hashes: HashSuite = SHA_256,
    now: datetime.datetime = NOW,
    policy: ChainPolicy | None = None,
    version: int = 0x12,
) -> VerifiedChain:
    return verify_chain(
        pki.spdm_chain(hashes),
        trust_anchor=pki.root_der,
        hash_suite=hashes,
        asym_suite=asym,
        now=now,
        policy=policy or ChainPolicy(),
        version=version,
    )


def _reject(
    pki: IssuedChain,
    pattern: str,
    *,
    asym: AsymSuite = P256,
    now: datetime.datetime = NOW,
    policy: ChainPolicy | None = None,
    version: int = 0x12,
) -> None:
    with pytest.raises(VerificationError, match=pattern):
        _verify(pki, asym=asym, now=now, policy=policy, version=version)


def _sample_chain(folder: Path, bundle: str, hashes: HashSuite) -> tuple[CertChain, bytes]:
    anchor = folder / ("ca1.cert.der" if "certchain1" in bundle else "ca.cert.der")
    return CertChain.build(load_certificates(folder / bundle), hashes), anchor.read_bytes()


# --- libspdm samples ---------------------------------------------------------------------------


@pytest.mark.parametrize("bundle", sorted(BUNDLES))
@pytest.mark.parametrize("algorithm", sorted(SAMPLES))
def test_sample_bundle_round_trips_through_the_spdm_format(libspdm_vectors: Path, algorithm: str, bundle: str) -> None:
    raw = (libspdm_vectors / "sample_key" / algorithm / bundle).read_bytes()
    hashes = hash_suite(SAMPLES[algorithm][1])
    certificates = split_der(raw)
    assert b"".join(certificates) == raw
    chain = CertChain.build(certificates, hashes)
    data = chain.to_bytes()
    assert int.from_bytes(data[:2], "little") == len(data) == chain.size
    assert data[4 : 4 + hashes.size] == hashes.digest(certificates[0])
    parsed = CertChain.from_bytes(data, hashes.size)
    assert parsed == chain
    assert parsed.to_bytes() == data
    assert parsed.digest(hashes) == hashes.digest(data)


@pytest.mark.parametrize("bundle", sorted(BUNDLES))
@pytest.mark.parametrize("algorithm", sorted(SAMPLES))
def test_sample_bundle_verifies_against_its_root(libspdm_vectors: Path, algorithm: str, bundle: str) -> None:
    folder = libspdm_vectors / "sample_key" / algorithm
    bits, hash_bit = SAMPLES[algorithm]
    hashes = hash_suite(hash_bit)
    chain, anchor = _sample_chain(folder, bundle, hashes)
    for bit in bits:
        suite = asym_suite(bit)
        expected = BUNDLES[bundle]
        if expected is None:
            verified = verify_chain(chain, trust_anchor=anchor, hash_suite=hashes, asym_suite=suite, now=SAMPLES_NOW)
            assert len(verified.certificates) == len(chain.certificates)
            assert suite.accepts(verified.leaf_public_key)
            assert verified.cma_identity is None  # libspdm's SAN holds the DMTF otherName, not the CMA one
            assert verified.spdm_ekus == frozenset()
        else:
            with pytest.raises(VerificationError, match=expected):
                verify_chain(chain, trust_anchor=anchor, hash_suite=hashes, asym_suite=suite, now=SAMPLES_NOW)


@pytest.mark.parametrize("algorithm", sorted(SAMPLES))
def test_sample_bundle_equals_its_pem_files(libspdm_vectors: Path, algorithm: str) -> None:
    folder = libspdm_vectors / "sample_key" / algorithm
    pem = b"".join((folder / name).read_bytes() for name in ("ca.cert", "inter.cert", "end_responder.cert"))
    assert load_certificates(pem) == load_certificates(folder / "bundle_responder.certchain.der")


@pytest.mark.parametrize(("leaf", "eku", "expected"), VARIANTS, ids=[variant[0] for variant in VARIANTS])
def test_sample_leaf_variants(libspdm_vectors: Path, leaf: str, eku: str | None, expected: str | None) -> None:
    folder = libspdm_vectors / "sample_key" / "ecp256"
    certificates = [(folder / name).read_bytes() for name in ("ca.cert.der", "inter.cert.der", leaf)]
    chain = CertChain.build(certificates, SHA_256)
    policy = ChainPolicy(expected_spdm_eku=eku)
    if expected is None:
        verify_chain(
            chain, trust_anchor=certificates[0], hash_suite=SHA_256, asym_suite=P256, now=SAMPLES_NOW, policy=policy
        )
    else:
        with pytest.raises(VerificationError, match=r"certificate 2 \(CN=DMTF libspdm ECP256 .*\): " + expected):
            verify_chain(
                chain, trust_anchor=certificates[0], hash_suite=SHA_256, asym_suite=P256, now=SAMPLES_NOW, policy=policy
            )


def test_sample_leaf_without_basic_constraints_is_refused_from_1_3(libspdm_vectors: Path) -> None:
    """libspdm's own test (test_spdm_crypt.c): "basic_constraint is mandatory in SPDM 1.3"."""
    folder = libspdm_vectors / "sample_key" / "ecp256"
    names = ("ca.cert.der", "inter.cert.der", "end_requester_without_basic_constraint.cert.der")
    certificates = [(folder / name).read_bytes() for name in names]
    chain = CertChain.build(certificates, SHA_256)
    check = partial(
        verify_chain, chain, trust_anchor=certificates[0], hash_suite=SHA_256, asym_suite=P256, now=SAMPLES_NOW
    )
    check(version=0x12)
    with pytest.raises(VerificationError, match=r"certificate 2 \(.*\): is the leaf but has no basicConstraints"):
        check(version=0x13)


def test_sample_spdm_ekus_are_reported(libspdm_vectors: Path) -> None:
    folder = libspdm_vectors / "sample_key" / "ecp256"
    names = ("ca.cert.der", "inter.cert.der", "end_responder_with_spdm_req_rsp_eku.cert.der")
    certificates = [(folder / name).read_bytes() for name in names]
    verified = verify_chain(
        CertChain.build(certificates, SHA_256),
        trust_anchor=certificates[0],
        hash_suite=SHA_256,
        asym_suite=P256,
        now=SAMPLES_NOW,
    )
    assert verified.spdm_ekus == {SPDM_RESPONDER_AUTH_OID, SPDM_REQUESTER_AUTH_OID}


def test_sample_chain_of_another_root(libspdm_vectors: Path) -> None:
    """certchain1 is rooted at ca1, whose subject equals ca's: RootHash, then the signature, catch it."""
    folder = libspdm_vectors / "sample_key" / "ecp256"
    chain, _ = _sample_chain(folder, "bundle_responder.certchain1.der", SHA_256)
    anchor = (folder / "ca.cert.der").read_bytes()
    with pytest.raises(VerificationError, match="RootHash is not the SHA_256 of the trust anchor"):
        verify_chain(chain, trust_anchor=anchor, hash_suite=SHA_256, asym_suite=P256, now=SAMPLES_NOW)
    forged = CertChain.build(chain.certificates, SHA_256, root_certificate_der=anchor)
    with pytest.raises(
        VerificationError, match=r"certificate 0 \(CN=DMTF libspdm ECP256 CA\): not signed by the trust"
    ):
        verify_chain(forged, trust_anchor=anchor, hash_suite=SHA_256, asym_suite=P256, now=SAMPLES_NOW)


def test_sample_validity_window(libspdm_vectors: Path) -> None:
    folder = libspdm_vectors / "sample_key" / "ecp384"
    chain, anchor = _sample_chain(folder, "bundle_responder.certchain.der", SHA_384)
    for now, expected in [
        (datetime.datetime(2022, 1, 1, tzinfo=UTC), r"certificate 1 \(.*intermediate cert\): not valid before 2023"),
        (datetime.datetime(2034, 1, 1, tzinfo=UTC), r"certificate 1 \(.*intermediate cert\): expired at 2033"),
    ]:
        with pytest.raises(VerificationError, match=expected):
            verify_chain(chain, trust_anchor=anchor, hash_suite=SHA_384, asym_suite=P384, now=now)


def test_sample_leaf_that_does_not_fit_the_negotiated_algorithm(libspdm_vectors: Path) -> None:
    folder = libspdm_vectors / "sample_key" / "rsa2048"
    chain, anchor = _sample_chain(folder, "bundle_responder.certchain.der", SHA_256)
    for bit in (BaseAsymAlgo.RSASSA_3072, BaseAsymAlgo.ECDSA_P256):
        with pytest.raises(VerificationError, match=r"certificate 2 \(.*\): its public key cannot verify"):
            verify_chain(chain, trust_anchor=anchor, hash_suite=SHA_256, asym_suite=asym_suite(bit), now=SAMPLES_NOW)


# --- libspdm captures --------------------------------------------------------------------------


def test_capture_chain_is_the_sample_bundle(libspdm_vectors: Path, libspdm_capture: str) -> None:
    """Each capture's slot-0 chain is CertChain.build(bundle_responder.certchain.der) of its algorithm."""
    folder = libspdm_vectors / libspdm_capture
    wire = folder / "rsp_slot0_certchain_from_wire.bin"
    if not wire.exists():
        pytest.skip("no certificate exchange in this capture (PSK only)")
    manifest = json.loads((libspdm_vectors / "manifest.json").read_text())
    entry = next(vector for vector in manifest["vectors"] if vector["name"] == libspdm_capture)
    hashes = hash_suite(BaseHashAlgo[entry["algorithms"]["Hash"]])
    asym = asym_suite(BaseAsymAlgo[entry["algorithms"]["Asym"]])
    root = libspdm_vectors / entry["root_cert"]
    assert "bundle_responder.certchain.der" in (folder / "README.txt").read_text()
    bundle = load_certificates(root.parent / "bundle_responder.certchain.der")
    data = wire.read_bytes()
    if libspdm_capture in RAW_CHAIN_CAPTURES:
        assert data == b"".join(bundle)
        chain = CertChain.build(bundle, hashes)
    else:
        chain = CertChain.from_bytes(data, hashes.size)
        assert chain == CertChain.build(bundle, hashes)
        assert chain.to_bytes() == data
    verify_chain(chain, trust_anchor=root.read_bytes(), hash_suite=hashes, asym_suite=asym, now=SAMPLES_NOW)


# --- validation rules, on the test PKI ---------------------------------------------------------


def test_healthy_chain_verifies() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256)
    verified = _verify(pki)
    assert len(verified.certificates) == 3
    assert verified.leaf.subject.rfc4514_string() == "CN=pyspdm test leaf"
    assert verified.leaf_public_key == pki.leaf_key.public_key()
    assert verified.cma_identity is None
    assert verified.spdm_ekus == frozenset()


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_depths_verify(depth: int) -> None:
    assert len(_verify(make_chain(BaseAsymAlgo.ECDSA_P256, depth=depth)).certificates) == depth


def test_chain_may_start_at_an_intermediate_issued_by_the_anchor() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, include_root=False)
    assert pki.root_der not in pki.certificates_der
    assert len(_verify(pki).certificates) == 2


def test_rsa_leaf_under_ecdsa_cas() -> None:
    pki = make_chain(BaseAsymAlgo.RSAPSS_3072, ca_asym_algo=BaseAsymAlgo.ECDSA_P256, hash_algo=BaseHashAlgo.SHA_384)
    for bit in (BaseAsymAlgo.RSAPSS_3072, BaseAsymAlgo.RSASSA_3072):
        _verify(pki, asym=asym_suite(bit), hashes=SHA_384)
    _reject(pki, LEAF + ": its public key cannot verify RSASSA_4096", asym=asym_suite(BaseAsymAlgo.RSASSA_4096))


def test_root_hash_must_be_the_anchor_hash() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256)
    chain = pki.spdm_chain(SHA_256)
    tampered = CertChain(root_hash=bytes(32), certificates=chain.certificates)
    with pytest.raises(VerificationError, match="RootHash is not the SHA_256 of the trust anchor"):
        verify_chain(tampered, trust_anchor=pki.root_der, hash_suite=SHA_256, asym_suite=P256, now=NOW)
    with pytest.raises(VerificationError, match="RootHash is not the SHA_384"):  # RootHash of another hash
        verify_chain(chain, trust_anchor=pki.root_der, hash_suite=SHA_384, asym_suite=P256, now=NOW)


def test_chain_must_start_at_the_anchor() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256)
    stranger = make_chain(BaseAsymAlgo.ECDSA_P256, name="stranger")
    chain = CertChain.build(stranger.certificates_der, SHA_256, root_certificate_der=pki.root_der)
    with pytest.raises(VerificationError, match=r"certificate 0 \(CN=stranger root CA\): is neither the trust anchor"):
        verify_chain(chain, trust_anchor=pki.root_der, hash_suite=SHA_256, asym_suite=P256, now=NOW)


def test_chain_of_only_the_anchor_has_no_leaf() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256)
    chain = CertChain.build([pki.root_der], SHA_256)
    with pytest.raises(VerificationError, match=r"certificate 0 \(CN=pyspdm test root CA\): .*only the trust anchor"):
        verify_chain(chain, trust_anchor=pki.root_der, hash_suite=SHA_256, asym_suite=P256, now=NOW)


def test_chain_must_be_in_order() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, depth=4)
    root, first, second, leaf = pki.certificates_der
    chain = CertChain.build([root, second, first, leaf], SHA_256)
    with pytest.raises(VerificationError, match=r"certificate 1 \(CN=pyspdm test intermediate 2\): not issued by"):
        verify_chain(chain, trust_anchor=root, hash_suite=SHA_256, asym_suite=P256, now=NOW)
    chain = CertChain.build([root, first, leaf], SHA_256)  # an intermediate left out
    with pytest.raises(VerificationError, match=r"certificate 2 \(CN=pyspdm test leaf\): not issued by certificate 1"):
        verify_chain(chain, trust_anchor=root, hash_suite=SHA_256, asym_suite=P256, now=NOW)


def test_duplicated_anchor_is_not_the_validated_path() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256)
    chain = CertChain.build([pki.root_der, *pki.certificates_der], SHA_256)
    with pytest.raises(VerificationError, match="validated path does not use the chain's certificates"):
        verify_chain(chain, trust_anchor=pki.root_der, hash_suite=SHA_256, asym_suite=P256, now=NOW)


def test_expired_leaf() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, leaf_not_after=datetime.datetime(2029, 6, 1, tzinfo=UTC))
    _reject(pki, LEAF + ": expired at 2029-06-01")


def test_leaf_not_yet_valid() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, leaf_not_before=datetime.datetime(2031, 1, 1, tzinfo=UTC))
    _reject(pki, LEAF + ": not valid before 2031-01-01")


def test_expired_intermediate() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, not_after=datetime.datetime(2029, 1, 1, tzinfo=UTC))
    _reject(pki, INTERMEDIATE + ": expired at 2029-01-01")


def test_naive_now_is_utc() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, leaf_not_after=datetime.datetime(2029, 6, 1, tzinfo=UTC))
    _verify(pki, now=datetime.datetime(2029, 5, 31, 23, 59))
    _reject(pki, LEAF + ": expired", now=datetime.datetime(2029, 6, 1, 0, 1))


def test_wrong_signer() -> None:
    _reject(make_chain(BaseAsymAlgo.ECDSA_P256, wrong_issuer_key=True), LEAF + ": not signed by certificate 1")


def test_self_signed_leaf() -> None:
    _reject(make_chain(BaseAsymAlgo.ECDSA_P256, self_signed_leaf=True), LEAF + r": not issued by certificate 1")


def test_ca_flag_on_the_leaf() -> None:
    _reject(
        make_chain(BaseAsymAlgo.ECDSA_P256, leaf_is_ca=True), LEAF + ": is the leaf but basicConstraints asserts CA"
    )


def test_leaf_without_basic_constraints_is_accepted_before_1_3_only() -> None:
    """libspdm_x509_certificate_check: basicConstraints is mandatory on the leaf from SPDM 1.3."""
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, leaf_basic_constraints=False)
    for version in (0x10, 0x11, 0x12):
        _verify(pki, version=version)
    _reject(
        pki, LEAF + r": is the leaf but has no basicConstraints \(cA FALSE\), which SPDM 1.3 requires", version=0x13
    )
    _verify(make_chain(BaseAsymAlgo.ECDSA_P256), version=0x13)


def test_leaf_spelling_out_ca_false_is_still_accepted_at_1_3() -> None:
    """libspdm refuses it (its basicConstraints is not the empty SEQUENCE); accepted on purpose, as OpenSSL does."""
    _verify(make_chain(BaseAsymAlgo.ECDSA_P256, leaf_explicit_ca_false=True), version=0x13)


def test_leaf_without_key_usage_is_refused() -> None:
    """libspdm_x509_common_certificate_check step 9: keyUsage with digitalSignature is mandatory on the leaf."""
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, leaf_key_usage=None)
    _reject(pki, LEAF + r": is the leaf but has no keyUsage \(digitalSignature\)")
    _reject(pki, LEAF + r": is the leaf but has no keyUsage", version=0x13)


def test_intermediate_that_is_not_a_ca() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, ca_on_intermediates=False)
    _reject(pki, INTERMEDIATE + ": issues a certificate but basicConstraints does not assert CA")


def test_intermediate_without_basic_constraints() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, intermediate_basic_constraints=False)
    _reject(pki, INTERMEDIATE + ": issues a certificate but has no basicConstraints")


def test_intermediate_key_usage_without_key_cert_sign() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, intermediate_key_usage=key_usage(digital_signature=True))
    _reject(pki, INTERMEDIATE + ": issues a certificate but its keyUsage lacks keyCertSign")


def test_leaf_key_usage_without_digital_signature() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, leaf_key_usage=key_usage(key_encipherment=True, key_agreement=True))
    _reject(pki, LEAF + ": is the leaf but its keyUsage lacks digitalSignature")


def test_unknown_critical_extension() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, unknown_critical_extension=True)
    _reject(pki, LEAF + ": invalid extension: 1.3.6.1.4.1.412.274.999: .*unaccounted-for critical")


def test_leaf_key_must_fit_the_negotiated_algorithm() -> None:
    _reject(make_chain(BaseAsymAlgo.ECDSA_P256), LEAF + ": its public key cannot verify ECDSA_P384", asym=P384)


def test_certificates_signed_with_sha3_are_outside_the_verifier() -> None:
    """cryptography's verifier accepts SHA-256/384/512 certificate signatures only (SPDM's SHA3 is for transcripts)."""
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, hash_algo=BaseHashAlgo.SHA3_256)
    _reject(pki, INTERMEDIATE + ": signed with sha3-256")


def test_depth_and_size_bounds() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, depth=5)
    _reject(pki, "the chain holds 5 certificates, more than the 4 allowed", policy=ChainPolicy(max_depth=4))
    _verify(pki, policy=ChainPolicy(max_depth=5))
    size = pki.spdm_chain(SHA_256).size
    _reject(
        pki,
        f"the chain is {size} bytes, more than the {size - 1} allowed",
        policy=ChainPolicy(max_chain_bytes=size - 1),
    )


def test_unparseable_certificate_and_anchor() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256)
    not_a_certificate = bytes.fromhex("3003020100")
    chain = CertChain.build([pki.root_der, not_a_certificate, pki.leaf_der], SHA_256)
    with pytest.raises(VerificationError, match=r"certificate 1 is not a parseable X\.509 certificate"):
        verify_chain(chain, trust_anchor=pki.root_der, hash_suite=SHA_256, asym_suite=P256, now=NOW)
    chain = CertChain.build(pki.certificates_der, SHA_256, root_certificate_der=not_a_certificate)
    with pytest.raises(VerificationError, match=r"the trust anchor is not a DER X\.509 certificate"):
        verify_chain(chain, trust_anchor=not_a_certificate, hash_suite=SHA_256, asym_suite=P256, now=NOW)


def test_spdm_eku_role() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, spdm_eku=True)
    verified = _verify(pki, policy=ChainPolicy(expected_spdm_eku=SPDM_RESPONDER_AUTH_OID))
    assert verified.spdm_ekus == {SPDM_RESPONDER_AUTH_OID}
    assert _verify(pki).spdm_ekus == {SPDM_RESPONDER_AUTH_OID}
    _reject(
        pki,
        LEAF + r": lists SPDM EKUs \['1.3.6.1.4.1.412.274.3'\] but not 1.3.6.1.4.1.412.274.4",
        policy=ChainPolicy(expected_spdm_eku=SPDM_REQUESTER_AUTH_OID),
    )


def test_a_chain_is_a_responders_unless_the_policy_says_otherwise() -> None:
    """libspdm_verify_peer_cert_chain_buffer_integrity: the requester checks the responder's chain with
    is_requester_cert false, and libspdm_verify_leaf_cert_spdm_eku refuses a leaf with the requester's EKU alone."""
    requester_only = make_chain(BaseAsymAlgo.ECDSA_P256, extended_key_usages=[SPDM_REQUESTER_AUTH_OID])
    _reject(requester_only, LEAF + r": lists SPDM EKUs \['1.3.6.1.4.1.412.274.4'\] but not 1.3.6.1.4.1.412.274.3")
    _verify(requester_only, policy=ChainPolicy(expected_spdm_eku=SPDM_REQUESTER_AUTH_OID))
    _verify(requester_only, policy=ChainPolicy(expected_spdm_eku=None))
    both = make_chain(BaseAsymAlgo.ECDSA_P256, spdm_eku=True, extended_key_usages=[SPDM_REQUESTER_AUTH_OID])
    assert _verify(both).spdm_ekus == {SPDM_RESPONDER_AUTH_OID, SPDM_REQUESTER_AUTH_OID}


# --- the SPDM extension (id-spdm-cert-oids) -------------------------------------------------------

MALFORMED_EXTENSION = r": the SPDM extension 1.3.6.1.4.1.412.274.6 is not id-spdm-cert-oids"


@pytest.mark.parametrize("version", [0x12, 0x13])
def test_a_malformed_spdm_extension_on_the_leaf_is_refused(version: int) -> None:
    """libspdm_verify_leaf_cert_spdm_extension parses the extension on every leaf (step 11), the device
    model's included, whether the chain is a responder's or a requester's."""
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, malformed_spdm_extension=True)
    _reject(pki, LEAF + MALFORMED_EXTENSION, version=version)
    _reject(pki, LEAF + MALFORMED_EXTENSION, policy=ChainPolicy(expected_spdm_eku=SPDM_REQUESTER_AUTH_OID))
    with pytest.raises(VerificationError, match=LEAF + MALFORMED_EXTENSION):
        verify_chain(
            pki.spdm_chain(SHA_256),
            trust_anchor=pki.root_der,
            hash_suite=SHA_256,
            asym_suite=P256,
            now=NOW,
            set_certificate=True,
            version=version,
        )


def test_the_alias_models_set_certificate_does_not_check_the_device_certificates_key_usage() -> None:
    """libspdm_x509_common_certificate_check skips step 9 for the device certificate an alias-model
    SET_CERTIFICATE ends in: DSP0274 does not say what its keyUsage holds."""
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, alias=True, intermediate_key_usage=None)
    device_chain = CertChain.build(pki.certificates_der[:-1], SHA_256)
    verify_chain(
        device_chain,
        trust_anchor=pki.root_der,
        hash_suite=SHA_256,
        asym_suite=P256,
        now=NOW,
        model=CertModel.ALIAS,
        set_certificate=True,
        version=0x13,
    )


# --- CMA identity ------------------------------------------------------------------------------

CMA_FULL = "Vendor=8086:Device=0b25:CC=010802:REV=01:SSVID=8086:SSID=0001:0123456789abcdef"


def test_cma_identity_from_the_leaf() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, cma_identity=CMA_FULL)
    identity = _verify(pki, policy=ChainPolicy(require_cma_identity=True)).cma_identity
    assert identity == CmaIdentity(
        vendor_id=0x8086,
        device_id=0x0B25,
        class_code=0x010802,
        revision=0x01,
        ssvid=0x8086,
        ssid=0x0001,
        dsn=0x0123456789ABCDEF,
    )
    assert str(identity) == CMA_FULL


def test_cma_identity_required_but_absent() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256)
    _reject(pki, LEAF + ": the leaf has no SubjectAltName", policy=ChainPolicy(require_cma_identity=True))


def test_malformed_cma_identity_is_none_unless_required() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, cma_identity="Vendor=8086:Device=0b25")
    assert _verify(pki).cma_identity is None
    _reject(
        pki, LEAF + ": CMA identity 'Vendor=8086:Device=0b25' is not", policy=ChainPolicy(require_cma_identity=True)
    )


@pytest.mark.parametrize(
    "text",
    [
        "Vendor=8086:Device=0b25:CC=010802:REV=01",
        "Vendor=8086:Device=0b25:CC=010802:REV=01:SSVID=1af4:SSID=1100",
        "Vendor=8086:Device=0b25:CC=010802:REV=01:0000000000000001",
        CMA_FULL,
    ],
)
def test_cma_identity_forms_round_trip(text: str) -> None:
    assert str(CmaIdentity.parse(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Vendor=8086:Device=0B25:CC=010802:REV=01",  # printf %04x is lower case
        "Vendor=8086:Device=0b25:CC=10802:REV=01",  # CC is six digits
        "Vendor=8086:Device=0b25:CC=010802:REV=01:SSVID=1af4",  # SSVID without SSID
        "Vendor=8086:Device=0b25:CC=010802:REV=01:0123",  # DSN is 16 digits
        "Vendor=8086:Device=0b25:CC=010802:REV=01:",
        " Vendor=8086:Device=0b25:CC=010802:REV=01",
    ],
)
def test_malformed_cma_identity_strings(text: str) -> None:
    with pytest.raises(VerificationError, match="CMA identity"):
        CmaIdentity.parse(text)


# --- the slot format: strict decoding ----------------------------------------------------------


def _slot(body: bytes, *, hash_size: int = 32, length: int | None = None) -> bytes:
    total = 4 + hash_size + len(body)
    return (total if length is None else length).to_bytes(2, "little") + b"\0\0" + bytes(hash_size) + body


CERT = bytes.fromhex("3003020101")  # framing only: a complete DER SEQUENCE


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        (b"\x24\x00\x00\x00" + bytes(31), "RootHash", "cannot hold the header"),
        (_slot(CERT, length=100), "Length", "Length 100 does not match the 41 bytes"),
        (_slot(CERT, length=40), "Length", "Length 40 does not match"),
        (_slot(b""), "certificates", "no certificate"),
        (_slot(CERT + b"\x00"), "certificates[1]", "too few for a DER header"),
        (_slot(CERT + b"\x31\x00"), "certificates[1]", "tag 0x31 is not a DER SEQUENCE"),
        (_slot(b"\x30\x05\x02\x01"), "certificates[0]", "overruns the 4 bytes left"),
        (_slot(b"\x30\x80\x00\x00"), "certificates[0]", "indefinite length"),
        (_slot(b"\x30\x81\x03\x02\x01\x01"), "certificates[0]", "not in minimal DER form"),
        (_slot(b"\x30\x82\x00\x90" + bytes(0x90)), "certificates[0]", "not in minimal DER form"),
        (_slot(b"\x30\x84\x00\x00\x00\x03"), "certificates[0]", "cannot fit in an SPDM chain"),
        (_slot(b"\x30\x82\x01"), "certificates[0]", "truncated DER length"),
        (_slot(CERT * (MAX_CHAIN_CERTIFICATES + 1)), "certificates", f"more than {MAX_CHAIN_CERTIFICATES}"),
    ],
)
def test_malformed_chain_bytes(data: bytes, field: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        CertChain.from_bytes(data, 32)
    assert (caught.value.message, caught.value.field) == ("CERT_CHAIN", field)
    assert re.search(reason, caught.value.reason), caught.value.reason


def test_from_bytes_keeps_reserved_and_long_form_lengths() -> None:
    big = b"\x30\x81\x80" + bytes(0x80)
    data = bytearray(_slot(CERT + big))
    data[2:4] = b"\x34\x12"
    chain = CertChain.from_bytes(bytes(data), 32)
    assert chain.reserved == 0x1234
    assert chain.certificates == (CERT, big)
    assert chain.to_bytes() == bytes(data)
    assert len(CertChain.from_bytes(_slot(CERT * MAX_CHAIN_CERTIFICATES), 32).certificates) == MAX_CHAIN_CERTIFICATES


def test_build_rejects_what_cannot_be_a_slot() -> None:
    with pytest.raises(EncodeError, match="no certificate"):
        CertChain.build([], SHA_256)
    with pytest.raises(EncodeError, match="trailing bytes"):
        CertChain.build([CERT + b"\x00"], SHA_256)
    with pytest.raises(EncodeError, match="not a DER SEQUENCE"):
        CertChain.build([b"\x04\x00"], SHA_256)
    huge = b"\x30\x82\xff\xf0" + bytes(0xFFF0)
    with pytest.raises(EncodeError, match="do not fit the 16-bit Length"):
        CertChain.build([huge], SHA_256)
    with pytest.raises(EncodeError, match="Reserved"):
        CertChain(root_hash=bytes(32), certificates=(CERT,), reserved=0x10000).to_bytes()


def test_build_with_a_separate_root() -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, include_root=False)
    chain = pki.spdm_chain(SHA_384)
    assert chain.root_hash == SHA_384.digest(pki.root_der)
    assert chain.certificates == pki.certificates_der


def test_split_der_and_load_certificates(tmp_path: Path) -> None:
    pki = make_chain(BaseAsymAlgo.ECDSA_P256)
    bundle = b"".join(pki.certificates_der)
    assert split_der(bundle) == pki.certificates_der
    path = tmp_path / "bundle.der"
    path.write_bytes(bundle)
    assert load_certificates(path) == pki.certificates_der
    assert load_certificates(str(path)) == pki.certificates_der
    pem = b"".join(x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM) for der in pki.certificates_der)
    assert load_certificates(pem) == pki.certificates_der
    with pytest.raises(DecodeError):
        load_certificates(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(DecodeError) as caught:
        split_der(bundle + b"\x30")
    assert caught.value.message == "DER"
    with pytest.raises(DecodeError):
        split_der(b"")


# --- the test PKI itself -----------------------------------------------------------------------


def test_pki_is_deterministic_for_the_same_keys() -> None:
    first = make_chain(BaseAsymAlgo.ECDSA_P384, cma_identity=CMA_FULL, spdm_eku=True)
    again = make_chain(BaseAsymAlgo.ECDSA_P384, cma_identity=CMA_FULL, spdm_eku=True)
    assert first.certificates_der == again.certificates_der
    assert first.leaf_key is again.leaf_key


def test_pki_takes_keys() -> None:
    keys = [cached_key(BaseAsymAlgo.ECDSA_P256, index) for index in (7, 8)]
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, depth=2, keys=keys)
    assert pki.root_key is keys[0]
    assert pki.leaf_key is keys[1]
    assert x509.load_der_x509_certificate(pki.leaf_der).public_key() == keys[1].public_key()
    _verify(pki)
    with pytest.raises(ValueError, match="2 keys for a chain of 3"):
        make_chain(BaseAsymAlgo.ECDSA_P256, keys=keys)
    with pytest.raises(ValueError, match="at least a root and a leaf"):
        make_chain(BaseAsymAlgo.ECDSA_P256, depth=1)


@pytest.mark.filterwarnings("ignore:Parsed a serial number:cryptography.utils.CryptographyDeprecationWarning")
@pytest.mark.parametrize("position", [1, 2])
def test_corrupted_certificates_raise_only_verification_error(position: int) -> None:
    """Flip one bit anywhere in the intermediate or the leaf: the verdict is VerificationError, never a crash.

    Only the unsigned envelope may change unnoticed (e.g. the signature BIT STRING's unused-bits
    byte, which the parser ignores); every signed byte must count.
    """
    pki = make_chain(BaseAsymAlgo.ECDSA_P256, cma_identity=CMA_FULL, spdm_eku=True)
    chain = pki.spdm_chain(SHA_256)
    target = chain.certificates[position]
    tbs = x509.load_der_x509_certificate(target).tbs_certificate_bytes
    signed = range(target.index(tbs), target.index(tbs) + len(tbs))
    for offset in range(len(target)):
        for mask in (0x01, 0x80):
            mutated = bytearray(target)
            mutated[offset] ^= mask
            certificates = list(chain.certificates)
            certificates[position] = bytes(mutated)
            corrupted = CertChain(root_hash=chain.root_hash, certificates=tuple(certificates))
            try:
                verify_chain(corrupted, trust_anchor=pki.root_der, hash_suite=SHA_256, asym_suite=P256, now=NOW)
            except VerificationError:
                continue
            assert offset not in signed, f"bit 0x{mask:02x} of byte {offset} flipped and the chain still verified"


def test_every_truncation_of_a_slot_is_a_decode_error() -> None:
    data = make_chain(BaseAsymAlgo.ECDSA_P256).spdm_chain(SHA_256).to_bytes()
    for end in range(len(data)):
        with pytest.raises(DecodeError):
            CertChain.from_bytes(data[:end], SHA_256.size)
    with pytest.raises(DecodeError, match="Length"):
        CertChain.from_bytes(data + b"\x00", SHA_256.size)


def test_an_eddsa_chain_is_refused_with_the_reason() -> None:
    issued = make_chain(BaseAsymAlgo.EDDSA_ED25519)
    chain = issued.spdm_chain(hash_suite(BaseHashAlgo.SHA_256))
    with pytest.raises(VerificationError, match=r"an EdDSA key; the X\.509 path validation"):
        verify_chain(
            chain,
            trust_anchor=issued.root_der,
            hash_suite=hash_suite(BaseHashAlgo.SHA_256),
            asym_suite=asym_suite(BaseAsymAlgo.EDDSA_ED25519),
            now=datetime.datetime(2026, 12, 7, tzinfo=datetime.timezone.utc),
        )


def test_a_serial_number_that_is_not_positive_is_refused_not_warned_about() -> None:
    """Found by the tamper campaign: cryptography only warns about such a certificate (and will refuse
    it later); a warning would reach the user, so the library refuses it now."""
    from asn1crypto import x509 as asn1x509

    from spdm.certs import load_certificate

    issued = make_chain(BaseAsymAlgo.ECDSA_P256)
    certificate = asn1x509.Certificate.load(issued.leaf_der)
    certificate["tbs_certificate"]["serial_number"] = 0
    der = certificate.dump(force=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="serial number"):
            load_certificate(der)
