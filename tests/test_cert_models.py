"""DSP0274 1.2's certificate models in chain validation: each per-kind rule libspdm applies
(libspdm_crypt_cert.c), with the certificate and the rule it names, and which model a connection uses."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509

from spdm.certs import SPDM_HARDWARE_IDENTITY_OID, SPDM_RESPONDER_AUTH_OID, CertChain, CertModel, verify_chain
from spdm.crypto import asym_suite, hash_suite
from spdm.errors import VerificationError
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, CapabilityFlags
from spdm.negotiated import Negotiated
from spdm.testing.pki import IssuedChain, make_chain

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
SHA_256 = hash_suite(BaseHashAlgo.SHA_256)
P256 = BaseAsymAlgo.ECDSA_P256
P384 = BaseAsymAlgo.ECDSA_P384

ALIAS = make_chain(P256, alias=True)
HARDWARE_LEAF = make_chain(P256, alias=True, spdm_extension_oids=[SPDM_HARDWARE_IDENTITY_OID])
LEAF = r"certificate 2 \(CN=pyspdm test alias\)"


def _verify(
    chain: IssuedChain, certificates: tuple[bytes, ...] | None = None, *, asym: int = P256, **model: object
) -> None:
    ders = chain.certificates_der if certificates is None else certificates
    verify_chain(
        CertChain.build(ders, SHA_256),
        trust_anchor=chain.root_der,
        hash_suite=SHA_256,
        asym_suite=asym_suite(asym),
        now=NOW,
        **model,  # type: ignore[arg-type]
    )


def test_the_alias_chain_is_root_device_ca_alias_leaf() -> None:
    device = x509.load_der_x509_certificate(ALIAS.device_der)
    assert device.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    _verify(ALIAS, model=CertModel.ALIAS)


@pytest.mark.parametrize("model", list(CertModel))
def test_the_alias_leaf_passes_either_model(model: CertModel) -> None:
    """libspdm checks nothing at GET_CERTIFICATE that tells an alias leaf from a device leaf but the hardware OID."""
    _verify(ALIAS, model=model)


def test_an_alias_leaf_must_not_claim_the_hardware_identity() -> None:
    with pytest.raises(VerificationError, match=LEAF + r": is the leaf of the alias certificate model .*hardware"):
        _verify(HARDWARE_LEAF, model=CertModel.ALIAS)


def test_the_device_model_leaf_may_claim_the_hardware_identity() -> None:
    _verify(HARDWARE_LEAF, model=CertModel.DEVICE)
    _verify(make_chain(P256, spdm_extension_oids=[SPDM_HARDWARE_IDENTITY_OID]))


def test_other_spdm_extension_oids_are_no_hardware_identity() -> None:
    _verify(make_chain(P256, alias=True, spdm_extension_oids=[SPDM_RESPONDER_AUTH_OID]), model=CertModel.ALIAS)


# --- SET_CERTIFICATE: what the chain installed ends in ----------------------------------------------


def test_alias_model_set_certificate_ends_in_the_device_ca() -> None:
    _verify(ALIAS, ALIAS.certificates_der[:-1], model=CertModel.ALIAS, set_certificate=True)


def test_alias_model_set_certificate_refuses_a_leaf() -> None:
    leaf = make_chain(P256)
    with pytest.raises(VerificationError, match=r"certificate 2 \(CN=pyspdm test leaf\): is the device certificate"):
        _verify(leaf, model=CertModel.ALIAS, set_certificate=True)


def test_alias_model_set_certificate_needs_basic_constraints() -> None:
    bare = make_chain(P256, leaf_basic_constraints=False)
    with pytest.raises(VerificationError, match=r"a CA, but has no basicConstraints"):
        _verify(bare, model=CertModel.ALIAS, set_certificate=True)


def test_the_device_ca_key_need_not_fit_the_negotiated_algorithm() -> None:
    """libspdm skips the public key check of the alias model's SET_CERTIFICATE: the alias leaf signs."""
    mixed = make_chain(P384, alias=True, ca_asym_algo=P256)
    _verify(mixed, mixed.certificates_der[:-1], asym=P384, model=CertModel.ALIAS, set_certificate=True)
    with pytest.raises(VerificationError, match=r"CN=pyspdm test alias\): its public key cannot verify"):
        _verify(mixed, asym=P256, model=CertModel.ALIAS)


def test_device_model_set_certificate_refuses_the_device_ca() -> None:
    with pytest.raises(
        VerificationError, match=r"CN=pyspdm test device\): is the leaf but basicConstraints asserts CA"
    ):
        _verify(ALIAS, ALIAS.certificates_der[:-1], set_certificate=True)


def test_device_model_set_certificate_needs_basic_constraints() -> None:
    bare = make_chain(P256, leaf_basic_constraints=False)
    _verify(bare)  # at GET_CERTIFICATE a 1.2 leaf may omit it
    with pytest.raises(VerificationError, match=r"ends a chain for SET_CERTIFICATE but has no basicConstraints"):
        _verify(bare, set_certificate=True)


# --- which model a connection uses --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "flags", "model"),
    [
        (0x12, CapabilityFlags.CERT_CAP | CapabilityFlags.ALIAS_CERT_CAP, CertModel.ALIAS),
        (0x12, CapabilityFlags.CERT_CAP, CertModel.DEVICE),
        (0x11, CapabilityFlags.CERT_CAP | CapabilityFlags.ALIAS_CERT_CAP, CertModel.DEVICE),
    ],
)
def test_alias_cert_cap_at_1_2_chooses_the_alias_model(version: int, flags: int, model: CertModel) -> None:
    assert Negotiated(version=version, responder_flags=int(flags)).certificate_model is model
