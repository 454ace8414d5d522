"""GET_CSR and SET_CERTIFICATE (SPDM 1.2) on the responder's side: the slot table they change, the
CSR the device signs, and the checks a chain passes before a slot takes it.

The configuration is frozen, so the slots a responder serves live in a `SlotTable` that starts
from `ResponderConfig.slots`. A slot's key pair never changes: SET_CERTIFICATE only replaces the
certificates of a slot that holds a key, with a chain whose leaf certifies that key (in the alias
model, whose device certificate certifies the key that issued the slot's alias certificates). Under
CERT_INSTALL_RESET_CAP the new chain waits in `SlotTable.pending` until the device resets
(`Responder.reset()`).

RequesterInfo is a DER CertificationRequestInfo (PKCS #10), used as libspdm's sample device
(``libspdm_set_attribute_for_req``) uses it: version 0, its subject becomes the CSR's, its
subjectPKInfo must be the device's own public key, and its attributes are copied into the CSR
(requested extensions as extensions, the others as UTF8String values).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import replace
from functools import partial

from asn1crypto import parser
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from spdm.certs import (
    SPDM_RESPONDER_AUTH_OID,
    CertChain,
    CertModel,
    ChainPolicy,
    X509SigningHash,
    chain_end,
    verify_chain,
    x509_signing_hash,
)
from spdm.crypto import AsymSuite, HashSuite, SignatureScheme, SigningKey
from spdm.errors import DecodeError, ProtocolError, VerificationError
from spdm.limits import Limits
from spdm.messages.codec import is_padding
from spdm.messages.codes import ErrorCode
from spdm.responder._common import invalid_request
from spdm.responder.config import SlotIdentity

__all__ = ["SlotTable", "build_csr", "certified_identity", "unpadded_chain"]

_EXTENSION_REQUEST = x509.ObjectIdentifier("1.2.840.113549.1.9.14")
# A placeholder signatureAlgorithm and empty signature around RequesterInfo, so that the
# library parses it as the CertificationRequest it would be part of
_PLACEHOLDER_SIGNATURE = bytes.fromhex("300a06082a8648ce3d040302") + b"\x03\x01\x00"
_SEQUENCE = (0, 1, 16)


class SlotTable:
    """The responder's certificate slots as they stand: `current` (what GET_DIGESTS, GET_CERTIFICATE,
    CHALLENGE and the sessions serve) and `pending` (chains installed under CERT_INSTALL_RESET_CAP,
    effective after the next reset; until then GET_DIGESTS and the slot's GET_CERTIFICATE are refused)."""

    def __init__(self, slots: Mapping[int, SlotIdentity]) -> None:
        self.current: dict[int, SlotIdentity] = dict(slots)
        self.pending: dict[int, SlotIdentity] = {}

    def apply_pending(self) -> None:
        """The device reset: every pending chain takes its slot."""
        self.current.update(self.pending)
        self.pending.clear()

    def refuse_until_reset(self, slot: int | None = None) -> None:
        """ERROR ResetRequired (ErrorData 0) while chains wait for the reset: to GET_DIGESTS while any
        slot's does, to GET_CERTIFICATE of `slot` while its own does (libspdm_rsp_digests.c,
        libspdm_rsp_certificate.c: cert_slot_reset_mask, set by libspdm_rsp_set_certificate_rsp.c)."""
        if self.pending and (slot is None or slot in self.pending):
            waiting = sorted(self.pending)
            raise ProtocolError(ErrorCode.ResetRequired, f"new chains for slots {waiting} wait for the device reset")


def _spki(key: x509.Certificate | x509.CertificateSigningRequest | SigningKey) -> bytes:
    public_key = key.public_key()
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


_UNREADABLE = (
    ValueError,
    TypeError,
    KeyError,  # cryptography 45 on a Name attribute of an ASN.1 type it does not map (an INTEGER)
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)
"""What the library raises on a CertificationRequestInfo it cannot read or copy (it parses the
subject, extensions and attributes only when they are first asked for)."""


def _requester_info(data: bytes, key: SigningKey) -> x509.CertificateSigningRequestBuilder:
    """A CSR builder holding RequesterInfo's subject, requested extensions and other attributes, all
    read here; InvalidRequest when RequesterInfo is not a CertificationRequestInfo whose parts can be
    read and copied, or names another public key than the device's (libspdm_rsp_csr.c answers
    InvalidRequest when libspdm_verify_req_info or libspdm_gen_csr fails)."""
    builder = x509.CertificateSigningRequestBuilder()
    try:
        parsed = x509.load_der_x509_csr(bytes(parser.emit(*_SEQUENCE, data + _PLACEHOLDER_SIGNATURE)))
        if _spki(parsed) != _spki(key):
            raise invalid_request("RequesterInfo's subjectPKInfo is not the device's public key")
        builder = builder.subject_name(parsed.subject)
        for extension in parsed.extensions:
            builder = builder.add_extension(extension.value, critical=extension.critical)
        for attribute in parsed.attributes:
            if attribute.oid != _EXTENSION_REQUEST:
                attribute.value.decode()  # copied as a UTF8String, so it must be UTF-8
                builder = builder.add_attribute(attribute.oid, attribute.value)
    except _UNREADABLE as error:
        raise invalid_request(f"RequesterInfo is not a CertificationRequestInfo it can copy: {error}") from None
    return builder


def _signing_hash(suite: HashSuite) -> X509SigningHash:
    try:
        return x509_signing_hash(suite)
    except ValueError as error:
        raise ProtocolError(ErrorCode.Unspecified, f"{suite.name} cannot sign a CSR") from error


def build_csr(
    key: SigningKey, subject: x509.Name, requester_info: bytes, hash_suite: HashSuite, asym: AsymSuite
) -> bytes:
    """The DER PKCS #10 request for `key`, signed with the negotiated hash and signature scheme.

    The subject is RequesterInfo's when given, else `subject` (the device's current leaf's).
    """
    if requester_info:
        builder = _requester_info(requester_info, key)
    else:
        builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    algorithm = _signing_hash(hash_suite)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        request = builder.sign(key, algorithm)
    elif asym.scheme is SignatureScheme.RSAPSS:
        pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH)
        request = builder.sign(key, algorithm, rsa_padding=pss)
    else:
        request = builder.sign(key, algorithm, rsa_padding=padding.PKCS1v15())
    return request.public_bytes(Encoding.DER)


def unpadded_chain(data: bytes, padding: int) -> bytes:
    """SET_CERTIFICATE's CertChain without the transport's padding: the message ends where the chain
    ends (`spdm.certs.chain_end`; DOE pads requests to whole DWORDs); only `padding` zero bytes may follow it."""
    end = chain_end(data)
    if not is_padding(data[end:], padding):
        return data  # not padding: the chain format check names the mismatch
    return data[:end]


def certified_identity(
    data: bytes,
    identity: SlotIdentity,
    *,
    hash_suite: HashSuite,
    asym: AsymSuite,
    limits: Limits,
    now: datetime.datetime,
    version: int,
) -> SlotIdentity:
    """The slot `identity` with the certificates of SET_CERTIFICATE's CertChain, once the chain is
    shown fit. A chain over the size limit, or whose Length cannot hold its header and RootHash or
    runs past the request, is InvalidRequest; certificates that do not parse, validate or certify
    the slot's key are Unspecified (libspdm_rsp_set_certificate_rsp.c answers both so).

    The chain must be in the SPDM format under the negotiated hash (Length, RootHash), start at its
    root (RootHash = Hash(first certificate): the responder keeps no other root), validate from that
    root at `now` (`spdm.certs.verify_chain` with the SET_CERTIFICATE rules at the negotiated
    `version`, 1.2 unless given), and its leaf must certify the slot's key pair.

    In the alias model (the slot holds alias certificates) the chain ends in the device certificate,
    a CA; the slot's alias certificates are appended, and the whole chain must then validate as
    GET_CERTIFICATE will serve it: that is how the new device certificate is shown to certify the
    device key that signed them.
    """
    if len(data) > limits.max_chain_bytes:
        limit = limits.max_chain_bytes
        raise invalid_request(f"a {len(data)}-byte certificate chain is over the {limit} bytes allowed")
    try:
        chain = CertChain.from_bytes(data, hash_suite.size)
    except DecodeError as error:
        if error.field.startswith("certificates"):
            raise _unfit(f"CertChain: {error}") from None
        raise invalid_request(f"CertChain: {error}") from None
    policy = ChainPolicy(max_chain_bytes=limits.max_chain_bytes, expected_spdm_eku=SPDM_RESPONDER_AUTH_OID)
    model = CertModel.ALIAS if identity.alias_certificates else CertModel.DEVICE
    anchor = chain.certificates[0]
    check = partial(
        verify_chain,
        trust_anchor=anchor,
        hash_suite=hash_suite,
        asym_suite=asym,
        now=now,
        policy=policy,
        version=version,
    )
    try:
        check(chain, model=model, set_certificate=True)
    except (VerificationError, ValueError) as error:
        raise _unfit(f"CertChain: {error}") from None
    served = (*chain.certificates, *identity.alias_chain)
    if identity.alias_certificates:
        try:
            check(CertChain.build(served, hash_suite), model=model)
        except VerificationError as error:
            raise _unfit(f"CertChain, the device's alias certificates appended: {error}") from None
    try:
        return replace(identity, certificates=served, root_certificate=None)
    except ValueError as error:
        raise _unfit(f"CertChain: {error}") from None


def _unfit(reason: str) -> ProtocolError:
    """A chain whose certificates libspdm cannot take: Unspecified, not InvalidRequest."""
    return ProtocolError(ErrorCode.Unspecified, reason)
