"""GET_CSR and SET_CERTIFICATE (SPDM 1.2): our requester against our responder, with real chains from
spdm.testing.pki and real signatures, in the clear, inside a session and through the asyncio driver."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from typing import Any

import pytest
from asn1crypto import csr as asn1_csr
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from spdm.aio import AsyncDoeTransport, AsyncRequester, ThreadedDoeLink
from spdm.certs import CertChain
from spdm.crypto import SigningKey, hash_suite
from spdm.errors import NegotiationError, PeerError, VerificationError
from spdm.limits import Limits
from spdm.messages import decode, encode
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, CapabilityFlags, ErrorCode
from spdm.messages.error import ErrorResponse
from spdm.messages.provisioning import GetCsr, SetCertificate
from spdm.requester import Requester, RequesterConfig
from spdm.responder import PROVISIONING_CAPABILITIES, Responder, ResponderConfig, SlotIdentity, demo_config
from spdm.testing import MemoryDoeLink
from spdm.testing.pki import IssuedChain, cached_key, make_chain
from spdm.transport.doe import DoeTransport

P384 = BaseAsymAlgo.ECDSA_P384
SHA384 = hash_suite(BaseHashAlgo.SHA_384)


def _chain(name: str, first_key: int, leaf_key: SigningKey | None = None, **defects: Any) -> IssuedChain:
    keys = [cached_key(P384, first_key), cached_key(P384, first_key + 1)]
    keys.append(cached_key(P384, first_key + 2) if leaf_key is None else leaf_key)
    return make_chain(P384, hash_algo=BaseHashAlgo.SHA_384, keys=keys, name=name, **defects)


SLOT0 = _chain("slot 0", 40)
SLOT1 = _chain("slot 1", 50)
NEW0 = _chain("new slot 0", 60, SLOT0.leaf_key)
NEW1 = _chain("new slot 1", 70, SLOT1.leaf_key)


def _identity(chain: IssuedChain) -> SlotIdentity:
    return SlotIdentity(certificates=chain.certificates_der, private_key=chain.leaf_key)


def _config(**changes: Any) -> ResponderConfig:
    base = demo_config(sessions=True, provisioning=True)
    settings: dict[str, Any] = {
        "slots": {0: _identity(SLOT0), 1: _identity(SLOT1)},
        "base_hash_priority": (BaseHashAlgo.SHA_384,),
        "max_padding": 3,
        **changes,
    }
    return dataclasses.replace(base, **settings)


def _connect(responder: Responder, anchors: dict[int, bytes] | None = None) -> Requester:
    anchors = {0: SLOT0.root_der, 1: SLOT1.root_der} if anchors is None else anchors
    config = RequesterConfig.with_sessions(trust_anchors=anchors)
    requester = Requester(DoeTransport(MemoryDoeLink(responder.respond)), config)
    requester.init_connection()
    return requester


def _spki(key: object) -> bytes:
    public_key = key.public_key()  # type: ignore[attr-defined]
    return bytes(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def _authenticated(requester: Requester, slot: int) -> x509.Certificate:
    """The slot's chain fetched, validated against the requester's anchor, and CHALLENGE verified."""
    requester.get_digests()
    requester.get_certificate(slot)
    leaf = requester.verify_certificate(slot).leaf
    requester.challenge(slot)
    return leaf


# --- GET_CSR ---------------------------------------------------------------------------------


def test_the_csr_is_signed_by_the_slot_key_and_names_the_leaf() -> None:
    csr = x509.load_der_x509_csr(_connect(Responder(_config())).get_csr())
    assert csr.is_signature_valid
    assert _spki(csr) == _spki(SLOT0.leaf_key)
    assert csr.subject == x509.load_der_x509_certificate(SLOT0.leaf_der).subject
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA384)


def _requester_info(key: SigningKey, common_name: str, *, san: str | None = None) -> bytes:
    """A CertificationRequestInfo for `key` (made, as a requester would, around the device's public key)."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    )
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    der = builder.sign(key, hashes.SHA384()).public_bytes(Encoding.DER)
    return bytes(asn1_csr.CertificationRequest.load(der)["certification_request_info"].dump())


def test_requester_info_gives_the_subject_and_extensions() -> None:
    info = _requester_info(SLOT0.leaf_key, "provisioned device", san="device.example")
    csr = x509.load_der_x509_csr(_connect(Responder(_config())).get_csr(info))
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == "CN=provisioned device"
    assert csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["device.example"]


@pytest.mark.parametrize(
    "info",
    [b"\x30\x03\x02\x01\x00", b"garbage", _requester_info(SLOT1.leaf_key, "another key")],
    ids=["truncated", "garbage", "another-key"],
)
def test_bad_requester_info_is_invalid_request(info: bytes) -> None:
    with pytest.raises(PeerError) as refused:
        _connect(Responder(_config())).get_csr(info)
    assert refused.value.error_code == ErrorCode.InvalidRequest


def test_without_csr_cap_get_csr_is_unsupported() -> None:
    responder = Responder(_config(capabilities=demo_config(sessions=True).capabilities))
    requester = _connect(responder)
    with pytest.raises(NegotiationError, match="CSR_CAP"):
        requester.get_csr()
    answer = decode(responder.respond(encode(GetCsr())))
    assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.UnsupportedRequest


def test_at_spdm_1_1_there_is_no_get_csr() -> None:
    responder = Responder(_config(versions=(0x10, 0x11)))
    requester = _connect(responder)
    with pytest.raises(NegotiationError, match=r"SPDM 1\.2"):
        requester.get_csr()
    answer = decode(responder.respond(encode(GetCsr(version=0x11))))
    assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.UnsupportedRequest


# --- SET_CERTIFICATE ---------------------------------------------------------------------------


def test_a_new_chain_is_served_and_challenge_verifies_against_its_root() -> None:
    responder = Responder(_config())
    requester = _connect(responder)
    _authenticated(requester, 0)
    result = requester.set_certificate(0, NEW0.certificates_der)
    assert not result.reset_required and result.slot == 0
    assert 0 not in requester.verified  # the connection forgot the old chain
    requester.config.trust_anchors[0] = NEW0.root_der
    leaf = _authenticated(requester, 0)
    assert leaf.subject.rfc4514_string() == "CN=new slot 0 leaf"
    assert requester.digests[0] == NEW0.spdm_chain(SHA384).digest(SHA384)
    assert responder.slots[0].certificates == NEW0.certificates_der
    # a new connection sees it too, and the old root no longer authenticates the slot
    fresh = _connect(responder, {0: SLOT0.root_der})
    fresh.get_digests()
    fresh.get_certificate(0)
    with pytest.raises(VerificationError):
        fresh.verify_certificate(0)


def test_a_cert_chain_object_is_sent_as_it_is() -> None:
    requester = _connect(Responder(_config()))
    assert not requester.set_certificate(0, NEW0.spdm_chain(SHA384)).reset_required
    with pytest.raises(ValueError, match="RootHash"):
        requester.set_certificate(0, NEW0.spdm_chain(hash_suite(BaseHashAlgo.SHA_256)))


_BAD_CHAINS: dict[str, Any] = {
    "wrong-key": _chain("wrong key", 60).certificates_der,
    "wrong-root-hash": CertChain(root_hash=bytes(48), certificates=NEW0.certificates_der),
    "no-root": _chain("no root", 60, SLOT0.leaf_key, include_root=False).spdm_chain(SHA384),
    "expired": _chain(
        "expired", 60, SLOT0.leaf_key, leaf_not_after=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    ).certificates_der,
    "ca-leaf": _chain("ca leaf", 60, SLOT0.leaf_key, leaf_is_ca=True).certificates_der,
}


def _unchanged(responder: Responder, requester: Requester) -> None:
    """Slot 0 still serves its old chain, which still authenticates; nothing waits for a reset."""
    assert responder.slots[0].certificates == SLOT0.certificates_der
    assert not responder.pending_slots
    _authenticated(requester, 0)


@pytest.mark.parametrize("name", sorted(_BAD_CHAINS))
def test_a_bad_chain_is_refused_and_the_old_one_stays(name: str) -> None:
    responder = Responder(_config())
    requester = _connect(responder)
    with pytest.raises(PeerError) as refused:
        requester.set_certificate(0, _BAD_CHAINS[name])
    assert refused.value.error_code == ErrorCode.Unspecified  # as libspdm_rsp_set_certificate_rsp.c answers
    _unchanged(responder, requester)


def test_a_chain_over_the_limit_is_refused() -> None:
    responder = Responder(_config(limits=Limits(max_chain_bytes=1000)))
    requester = _connect(responder)
    with pytest.raises(PeerError) as refused:
        requester.set_certificate(0, NEW0.certificates_der)
    assert refused.value.error_code == ErrorCode.InvalidRequest
    _unchanged(responder, requester)


@pytest.mark.parametrize("cut", [1, 100], ids=["length", "certificate"])
def test_a_garbled_chain_is_invalid_request(cut: int) -> None:
    responder = Responder(_config())
    requester = _connect(responder)
    data = NEW0.spdm_chain(SHA384).to_bytes()
    answer = decode(
        responder.respond(encode(SetCertificate(version=requester.version, slot_param=0, cert_chain=data[:-cut])))
    )
    assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.InvalidRequest
    _unchanged(responder, requester)


def test_slots_other_than_0_only_inside_a_session() -> None:
    responder = Responder(_config())
    requester = _connect(responder)
    with pytest.raises(PeerError) as refused:
        requester.set_certificate(1, NEW1.certificates_der)
    assert refused.value.error_code == ErrorCode.UnexpectedRequest
    assert responder.slots[1].certificates == SLOT1.certificates_der


def test_in_a_session_any_slot_with_a_key() -> None:
    responder = Responder(_config())
    requester = _connect(responder)
    _authenticated(requester, 0)
    with requester.key_exchange(0) as session:
        csr = x509.load_der_x509_csr(session.get_csr())
        assert csr.is_signature_valid and _spki(csr) == _spki(SLOT0.leaf_key)
        assert not session.set_certificate(1, NEW1.certificates_der).reset_required
        with pytest.raises(PeerError) as refused:
            session.set_certificate(3, NEW1.certificates_der)  # slot 3 holds no key pair
        assert refused.value.error_code == ErrorCode.InvalidRequest
        with pytest.raises(PeerError) as refused:
            session.set_certificate(0, NEW1.certificates_der)  # another slot's key
        assert refused.value.error_code == ErrorCode.Unspecified
    requester.config.trust_anchors[1] = NEW1.root_der
    assert _authenticated(requester, 1).subject.rfc4514_string() == "CN=new slot 1 leaf"
    assert responder.slots[0].certificates == SLOT0.certificates_der


def test_reset_required_then_the_chain_takes_effect_after_a_reset() -> None:
    capabilities = _config().capabilities | CapabilityFlags.CERT_INSTALL_RESET_CAP
    responder = Responder(_config(capabilities=capabilities))
    requester = _connect(responder)
    result = requester.set_certificate(0, NEW0.certificates_der)
    assert result.reset_required and result.slot == 0
    assert responder.pending_slots[0].certificates == NEW0.certificates_der
    _authenticated(requester, 0)  # the old chain until the reset; GET_VERSION is no reset
    requester.init_connection()
    _authenticated(requester, 0)
    responder.reset()
    fresh = _connect(responder, {0: NEW0.root_der})
    assert _authenticated(fresh, 0).subject.rfc4514_string() == "CN=new slot 0 leaf"
    assert not responder.pending_slots


def test_reset_required_inside_a_session() -> None:
    capabilities = _config().capabilities | CapabilityFlags.CERT_INSTALL_RESET_CAP
    responder = Responder(_config(capabilities=capabilities))
    requester = _connect(responder)
    with requester.key_exchange(0) as session:
        assert session.set_certificate(1, NEW1.certificates_der).reset_required
    responder.reset()
    assert not responder.sessions
    assert responder.slots[1].certificates == NEW1.certificates_der


def test_without_set_cert_cap_the_requester_refuses() -> None:
    flags = _config().capabilities & ~PROVISIONING_CAPABILITIES
    requester = _connect(Responder(_config(capabilities=flags)))
    with pytest.raises(NegotiationError, match="SET_CERT_CAP"):
        requester.set_certificate(0, NEW0.certificates_der)


def test_the_asyncio_driver() -> None:
    responder = Responder(_config())

    async def main() -> tuple[bytes, bool]:
        transport = AsyncDoeTransport(ThreadedDoeLink(MemoryDoeLink(responder.respond)))
        requester = AsyncRequester(transport, RequesterConfig.with_sessions(trust_anchors={0: SLOT0.root_der}))
        await requester.init_connection()
        csr = await requester.get_csr()
        await requester.get_digests()
        await requester.get_certificate(0)
        requester.verify_certificate(0)
        async with await requester.key_exchange(0) as session:
            in_session = await session.set_certificate(1, NEW1.certificates_der)
        result = await requester.set_certificate(0, NEW0.certificates_der)
        return csr, result.reset_required or in_session.reset_required

    csr, reset = asyncio.run(asyncio.wait_for(main(), timeout=60))
    assert x509.load_der_x509_csr(csr).is_signature_valid and not reset
    assert responder.slots[0].certificates == NEW0.certificates_der
    assert responder.slots[1].certificates == NEW1.certificates_der
