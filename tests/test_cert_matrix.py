"""The certificate-validation matrix (issue "Hardening and speed", part 3): one row per defect, each
rejected with its own reason, and the well-formed variants accepted. ECDSA P-384 / SHA-384 chains
from the test PKI, parsed from slot bytes and validated as a requester would."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from spdm.certs import SPDM_RESPONDER_AUTH_OID, CertChain, ChainPolicy, VerifiedChain, verify_chain
from spdm.crypto import AsymSuite, asym_suite, hash_suite
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
    "no basicConstraints on the leaf": lambda: _from(_pki(leaf_basic_constraints=False)),
    "SPDM responder EKU": lambda: _from(
        _pki(spdm_eku=True), policy=ChainPolicy(expected_spdm_eku=SPDM_RESPONDER_AUTH_OID)
    ),
    "SPDM EKU, no role expected": lambda: _from(_pki(spdm_eku=True)),
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


@pytest.mark.xfail(
    strict=True,
    raises=VerificationError,
    reason="cryptography's DER parser refuses an encoded DEFAULT (ParseError EncodedDefault), so a leaf whose "
    "basicConstraints spells out cA BOOLEAN FALSE cannot be parsed, let alone validated",
)
def test_explicitly_encoded_ca_false_is_accepted() -> None:
    _validate(_from(_pki(leaf_explicit_ca_false=True)))
