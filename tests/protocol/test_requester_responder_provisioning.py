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
from spdm.errors import CsrResetRequired, NegotiationError, PeerError, ProtocolError, VerificationError
from spdm.limits import Limits
from spdm.messages import decode, decode_prefix, encode
from spdm.messages.certificates import Certificate, GetCertificate, GetDigests
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, CapabilityFlags, Code, ErrorCode
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


def _tlv(tag: int, *content: bytes) -> bytes:
    """One DER element (definite length, short or long form)."""
    body = b"".join(content)
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


_SEQUENCE, _SET, _OCTETS = 0x30, 0x31, 0x04
_CN = bytes.fromhex("0603550403")  # commonName
_BASIC_CONSTRAINTS = bytes.fromhex("0603551d13")
_SUBJECT_ALT_NAME = bytes.fromhex("0603551d11")
_EXTENSION_REQUEST = bytes.fromhex("06092a864886f70d01090e")
_SOME_ATTRIBUTE = bytes.fromhex("06032a0305")  # 1.2.3.5
_SUBJECT = _tlv(_SEQUENCE, _tlv(_SET, _tlv(_SEQUENCE, _CN, _tlv(0x0C, b"device"))))


def _info(*attributes: bytes, subject: bytes = _SUBJECT, spki: bytes | None = None) -> bytes:
    """A DER CertificationRequestInfo (version 0) for SLOT0's key, written byte by byte."""
    spki = _spki(SLOT0.leaf_key) if spki is None else spki
    return _tlv(_SEQUENCE, bytes.fromhex("020100"), subject, spki, _tlv(0xA0, *attributes))


def _extensions(*extensions: tuple[bytes, bytes]) -> bytes:
    """An extensionRequest attribute of (extnID, extnValue) pairs."""
    listed = [_tlv(_SEQUENCE, oid, _tlv(_OCTETS, value)) for oid, value in extensions]
    return _tlv(_SEQUENCE, _EXTENSION_REQUEST, _tlv(_SET, _tlv(_SEQUENCE, *listed)))


_NOT_CA = _tlv(_SEQUENCE)  # BasicConstraints, cA FALSE
_HOSTILE_INFOS = {
    "duplicate-extension": _info(_extensions((_BASIC_CONSTRAINTS, _NOT_CA), (_BASIC_CONSTRAINTS, _NOT_CA))),
    "san-x400address": _info(_extensions((_SUBJECT_ALT_NAME, _tlv(_SEQUENCE, _tlv(0xA3))))),
    "san-edipartyname": _info(_extensions((_SUBJECT_ALT_NAME, _tlv(_SEQUENCE, _tlv(0xA5))))),
    "subject-integer": _info(subject=_tlv(_SEQUENCE, _tlv(_SET, _tlv(_SEQUENCE, _CN, bytes.fromhex("020101"))))),
    "subject-bit-string": _info(subject=_tlv(_SEQUENCE, _tlv(_SET, _tlv(_SEQUENCE, _CN, bytes.fromhex("03020061"))))),
    "attribute-not-utf8": _info(_tlv(_SEQUENCE, _SOME_ATTRIBUTE, _tlv(_SET, _tlv(_OCTETS, b"\xff")))),
    "unknown-key-algorithm": _info(spki=_tlv(_SEQUENCE, _tlv(_SEQUENCE, bytes.fromhex("06032a0304")), b"\x03\x01\x00")),
}


@pytest.mark.parametrize("name", sorted(_HOSTILE_INFOS))
def test_requester_info_the_library_cannot_read_is_invalid_request(name: str) -> None:
    """RequesterInfo whose subject, extensions, attributes or key `cryptography` refuses (lazily, and
    with its own exception types, some only when the CSR is signed) is ERROR InvalidRequest, as
    libspdm_rsp_csr.c answers when libspdm_gen_csr fails; the next GET_CSR is served."""
    responder = Responder(_config())
    requester = _connect(responder)
    raw = encode(GetCsr(version=requester.version, requester_info=_HOSTILE_INFOS[name]))
    answer = decode(responder.respond(raw))
    assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.InvalidRequest
    assert x509.load_der_x509_csr(requester.get_csr(_info())).subject.rfc4514_string() == "CN=device"


@pytest.mark.parametrize("tag", range(1, 8))
def test_a_csr_tracking_tag_names_no_pending_csr(tag: int) -> None:
    """The responder answers every GET_CSR with its CSR and so never leaves one pending: a 1.3
    CSRTrackingTag is InvalidRequest even with CERT_INSTALL_RESET_CAP, as libspdm_rsp_csr.c answers
    when libspdm_gen_csr finds no request pending for the tag."""
    responder = Responder(_config(capabilities=_config().capabilities | CapabilityFlags.CERT_INSTALL_RESET_CAP))
    requester = _connect(responder)
    assert requester.version == 0x13
    answer = decode(responder.respond(encode(GetCsr(version=0x13, param2=tag << 3))))
    assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.InvalidRequest
    with pytest.raises(PeerError) as refused:
        requester.get_csr(csr_tracking_tag=tag)
    assert refused.value.error_code == ErrorCode.InvalidRequest
    assert x509.load_der_x509_csr(requester.get_csr(overwrite=True)).is_signature_valid


class _CsrAfterReset:
    """A device that makes its CSR only after a reset (libspdm's sample device with CERT_INSTALL_RESET_CAP):
    GET_CSR without a CSRTrackingTag is answered ERROR ResetRequired giving tag `tag`; with that tag
    (once reset) it gets our responder's CSR. Every GET_CSR received is kept in `asked`."""

    def __init__(self, responder: Responder, tag: int) -> None:
        self.responder = responder
        self.tag = tag
        self.asked: list[GetCsr] = []

    def respond(self, request: bytes, session_id: int | None = None) -> bytes:
        if session_id is None and request[1] == Code.GET_CSR:
            ask, _ = decode_prefix(request)
            assert isinstance(ask, GetCsr)
            self.asked.append(ask)
            if ask.version >= 0x12 and ask.csr_tracking_tag != self.tag:
                error = ErrorResponse(version=ask.version, error_code=ErrorCode.ResetRequired, error_data=self.tag)
                return encode(error)
            request = encode(dataclasses.replace(ask, param2=ask.cert_model))  # the CSR made after the reset
        return self.responder.respond(request, session_id)


def _csr_after_reset(tag: int = 3, *, reset_cap: bool = True) -> _CsrAfterReset:
    flags = CapabilityFlags.CERT_INSTALL_RESET_CAP if reset_cap else 0
    return _CsrAfterReset(Responder(_config(capabilities=_config().capabilities | flags)), tag)


def _reset_for_csr(version: int, tag: int = 3, *, reset_cap: bool = True) -> tuple[Requester, _CsrAfterReset]:
    device = _csr_after_reset(tag, reset_cap=reset_cap)
    config = RequesterConfig.with_sessions(trust_anchors={0: SLOT0.root_der}, versions=(version,))
    requester = Requester(DoeTransport(MemoryDoeLink(device.respond)), config)
    assert requester.init_connection().version == version
    return requester, device


def test_reset_required_to_get_csr_gives_the_tag_to_ask_again_with() -> None:
    """1.3: ResetRequired's ErrorData is the CSRTrackingTag the device gave the request
    (libspdm_req_get_csr.c); the GET_CSR that carries it after the reset gets the CSR."""
    requester, device = _reset_for_csr(0x13)
    with pytest.raises(CsrResetRequired) as reset:
        requester.get_csr()
    assert reset.value.error_code == ErrorCode.ResetRequired and reset.value.csr_tracking_tag == 3
    csr = requester.get_csr(csr_tracking_tag=reset.value.csr_tracking_tag)
    assert x509.load_der_x509_csr(csr).is_signature_valid
    sent = [(ask.csr_tracking_tag, ask.overwrite, ask.param2) for ask in device.asked]
    assert sent == [(0, False, 0), (3, False, 3 << 3)]


def test_overwrite_is_sent_at_1_3() -> None:
    requester, device = _reset_for_csr(0x13)
    with pytest.raises(CsrResetRequired):
        requester.get_csr(overwrite=True)
    (ask,) = device.asked
    assert (ask.csr_tracking_tag, ask.overwrite, ask.param2) == (0, True, 0x80)


def test_reset_required_to_get_csr_at_1_2_has_no_tag() -> None:
    """1.2: ResetRequired to GET_CSR is an answer (1.2.0 has no CERT_INSTALL_RESET_CAP); its ErrorData
    is reserved, so there is no tag: ask again after the reset as before."""
    requester, _ = _reset_for_csr(0x12, reset_cap=False)
    with pytest.raises(CsrResetRequired) as reset:
        requester.get_csr()
    assert reset.value.csr_tracking_tag == 0


def test_reset_required_to_get_csr_at_1_3_needs_cert_install_reset_cap() -> None:
    """libspdm_req_handle_error_response.c: from 1.3 only a responder with CERT_INSTALL_RESET_CAP may answer so."""
    requester, _ = _reset_for_csr(0x13, reset_cap=False)
    with pytest.raises(PeerError) as refused:
        requester.get_csr()
    assert not isinstance(refused.value, CsrResetRequired) and refused.value.error_code == ErrorCode.ResetRequired


def test_a_tag_beyond_3_bits_is_refused() -> None:
    requester, _ = _reset_for_csr(0x13, tag=9)
    with pytest.raises(ProtocolError) as refused:
        requester.get_csr()
    assert not isinstance(refused.value, PeerError) and refused.value.error_code == ErrorCode.InvalidResponseCode


@pytest.mark.parametrize(
    ("version", "arguments", "message"),
    [
        (0x12, {"csr_tracking_tag": 1}, "SPDM 1.3"),
        (0x12, {"overwrite": True}, "SPDM 1.3"),
        (0x13, {"csr_tracking_tag": 8}, "0..7"),
        (0x13, {"csr_tracking_tag": -1}, "0..7"),
    ],
    ids=["tag-at-1.2", "overwrite-at-1.2", "tag-8", "tag-negative"],
)
def test_tag_and_overwrite_are_checked_before_sending(version: int, arguments: dict[str, Any], message: str) -> None:
    requester, device = _reset_for_csr(version)
    with pytest.raises(ValueError, match=message):
        requester.get_csr(**arguments)
    assert not device.asked


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


def _reset_required(responder: Responder, request: bytes) -> bool:
    answer = decode(responder.respond(request))
    return isinstance(answer, ErrorResponse) and (answer.error_code, answer.error_data) == (ErrorCode.ResetRequired, 0)


def _certificate_request(version: int, slot: int) -> bytes:
    return encode(GetCertificate(version=version, slot_param=slot, offset=0, length=0x100))


def test_reset_required_then_the_chain_takes_effect_after_a_reset() -> None:
    """Until the reset, GET_DIGESTS and the pending slot's GET_CERTIFICATE are answered ResetRequired
    (ErrorData 0), as libspdm answers while cert_slot_reset_mask is set (libspdm_rsp_digests.c,
    libspdm_rsp_certificate.c); another slot's GET_CERTIFICATE is served. A new GET_VERSION is no reset."""
    capabilities = _config().capabilities | CapabilityFlags.CERT_INSTALL_RESET_CAP
    responder = Responder(_config(capabilities=capabilities))
    requester = _connect(responder)
    _authenticated(requester, 0)
    result = requester.set_certificate(0, NEW0.certificates_der)
    assert result.reset_required and result.slot == 0
    assert responder.pending_slots[0].certificates == NEW0.certificates_der
    for connection in ("this one", "after GET_VERSION"):
        with pytest.raises(PeerError) as refused:
            requester.get_digests()
        assert (refused.value.error_code, refused.value.error_data) == (ErrorCode.ResetRequired, 0), connection
        version = requester.version
        assert _reset_required(responder, encode(GetDigests(version=version)))
        assert _reset_required(responder, _certificate_request(version, 0))
        other = decode_prefix(responder.respond(_certificate_request(version, 1)), requester.negotiated.codec_context())
        assert isinstance(other[0], Certificate) and other[0].portion == SLOT1.spdm_chain(SHA384).to_bytes()[:0x100]
        requester.init_connection()
    responder.reset()
    assert not responder.pending_slots
    fresh = _connect(responder, {0: NEW0.root_der, 1: SLOT1.root_der})
    assert _authenticated(fresh, 0).subject.rfc4514_string() == "CN=new slot 0 leaf"
    assert fresh.digests[0] == NEW0.spdm_chain(SHA384).digest(SHA384)
    assert _authenticated(fresh, 1).subject.rfc4514_string() == "CN=slot 1 leaf"


def test_reset_required_inside_a_session() -> None:
    capabilities = _config().capabilities | CapabilityFlags.CERT_INSTALL_RESET_CAP
    responder = Responder(_config(capabilities=capabilities))
    requester = _connect(responder)
    with requester.key_exchange(0) as session:
        assert session.set_certificate(1, NEW1.certificates_der).reset_required
    assert _reset_required(responder, encode(GetDigests(version=requester.version)))
    assert _reset_required(responder, _certificate_request(requester.version, 1))
    requester.get_certificate(0)  # slot 0 waits for nothing
    responder.reset()
    assert not responder.sessions
    assert responder.slots[1].certificates == NEW1.certificates_der
    requester = _connect(responder, {0: SLOT0.root_der, 1: NEW1.root_der})
    assert _authenticated(requester, 1).subject.rfc4514_string() == "CN=new slot 1 leaf"


def test_without_set_cert_cap_the_requester_refuses() -> None:
    flags = _config().capabilities & ~PROVISIONING_CAPABILITIES
    requester = _connect(Responder(_config(capabilities=flags)))
    with pytest.raises(NegotiationError, match="SET_CERT_CAP"):
        requester.set_certificate(0, NEW0.certificates_der)


def test_the_asyncio_driver_asks_again_with_the_tag() -> None:
    device = _csr_after_reset(5)

    async def main() -> tuple[int, bytes]:
        transport = AsyncDoeTransport(ThreadedDoeLink(MemoryDoeLink(device.respond)))
        requester = AsyncRequester(transport, RequesterConfig(trust_anchors={0: SLOT0.root_der}))
        await requester.init_connection()
        with pytest.raises(CsrResetRequired) as reset:
            await requester.get_csr(overwrite=True)
        tag = reset.value.csr_tracking_tag
        return tag, await requester.get_csr(csr_tracking_tag=tag)

    tag, csr = asyncio.run(asyncio.wait_for(main(), timeout=60))
    assert tag == 5 and x509.load_der_x509_csr(csr).is_signature_valid
    assert [ask.param2 for ask in device.asked] == [0x80, 5 << 3]


def test_a_session_s_get_csr_takes_the_tag_and_overwrite() -> None:
    """`Session.get_csr` and `AsyncSession.get_csr` (through `SessionCore.get_csr`) carry
    `csr_tracking_tag` and `overwrite` as the connection's does, with the same checks: our responder
    refuses the tag (it names no pending CSR) and answers Overwrite with a CSR, inside the session."""
    responder = Responder(_config(capabilities=_config().capabilities | CapabilityFlags.CERT_INSTALL_RESET_CAP))
    requester = _connect(responder)
    _authenticated(requester, 0)
    with requester.key_exchange(0) as session:
        with pytest.raises(PeerError) as refused:
            session.get_csr(csr_tracking_tag=2)
        assert refused.value.error_code == ErrorCode.InvalidRequest
        with pytest.raises(ValueError, match=r"0\.\.7"):
            session.get_csr(csr_tracking_tag=8)
        assert x509.load_der_x509_csr(session.get_csr(overwrite=True)).is_signature_valid

    async def main() -> tuple[int, bytes]:
        transport = AsyncDoeTransport(ThreadedDoeLink(MemoryDoeLink(responder.respond)))
        anchors = {0: SLOT0.root_der}
        requester = AsyncRequester(transport, RequesterConfig.with_sessions(trust_anchors=anchors))
        await requester.init_connection()
        await requester.get_digests()
        await requester.get_certificate(0)
        requester.verify_certificate(0)
        async with await requester.key_exchange(0) as session:
            with pytest.raises(PeerError) as refused:
                await session.get_csr(csr_tracking_tag=7)
            return refused.value.error_code, await session.get_csr(overwrite=True)

    code, csr = asyncio.run(asyncio.wait_for(main(), timeout=60))
    assert code == ErrorCode.InvalidRequest and x509.load_der_x509_csr(csr).is_signature_valid


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
