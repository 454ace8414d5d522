"""GET_CSR and SET_CERTIFICATE (SPDM 1.2): the rules the connection and its sessions share.

Both requests need SPDM 1.2 and the responder's capability (CSR_CAP, SET_CERT_CAP). The CSR must
be a DER PKCS #10 request whose signature verifies (it proves the device holds the key it asks a
certificate for). ERROR ResetRequired to SET_CERTIFICATE is an answer, not a failure: the chain
is stored and takes effect once the device resets, so it comes back as
`SetCertificateResult(reset_required=True)`; from 1.3 only a responder with CERT_INSTALL_RESET_CAP
may answer so (any other raises `PeerError`).

SPDM 1.3 names the key pair and the certificate model in both requests. On a multi-key connection
(the responder's MULTI_KEY_CONN) the KeyPairID must be given (1..255) and the model is one of
DeviceCert, AliasCert, GenericCert (by default the connection's); otherwise both stay 0, as
libspdm_req_get_csr.c and libspdm_req_set_certificate.c require.

A device may also make a CSR only after a reset: it answers GET_CSR with ERROR ResetRequired (where
SET_CERTIFICATE may be answered so), whose ErrorData is, from 1.3, the CSRTrackingTag it gave the
request. That raises `CsrResetRequired` with the tag; after the reset the same GET_CSR carrying the
tag fetches the CSR (libspdm_req_get_csr.c returns the tag, libspdm_req_handle_error_response.c
makes ResetRequired to GET_CSR an answer, not an error). Overwrite (1.3) asks the device to drop the
CSRs it keeps pending.
"""

from __future__ import annotations

from collections.abc import Sequence

from spdm._checks import check_csr, invalid_response
from spdm.certs import CertChain
from spdm.crypto import hash_suite
from spdm.errors import CsrResetRequired, PeerError
from spdm.messages.certificates import SLOT_COUNT
from spdm.messages.codes import CapabilityFlags, Code, ErrorCode
from spdm.messages.key_pairs import wrong_key_pair_fields
from spdm.messages.provisioning import (
    MAX_CSR_TRACKING_TAG,
    Csr,
    GetCsr,
    SetCertificate,
    SetCertificateRsp,
    csr_request_attributes,
)
from spdm.negotiated import Negotiated
from spdm.requester.channel import Transact
from spdm.requester.events import Steps
from spdm.requester.results import SetCertificateResult
from spdm.requester.support import require_support

__all__ = ["ChainSource", "get_csr", "set_certificate"]

ChainSource = Sequence[bytes] | CertChain
"""What `set_certificate` installs: DER certificates, root first and leaf last (RootHash is taken over
the first), or a `CertChain` already in the slot format of the negotiated hash."""


def _key_pair_fields(negotiated: Negotiated, key_pair_id: int, cert_model: int | None) -> tuple[int, int]:
    """The 1.3 KeyPairID and certificate model a GET_CSR or SET_CERTIFICATE carries (see the module)."""
    multi_key = negotiated.responder_multi_key
    if cert_model is None:
        cert_model = negotiated.certificate_info if multi_key else 0
    wrong = wrong_key_pair_fields(multi_key, key_pair_id, cert_model, model_required=True)
    if wrong is not None:
        raise ValueError(wrong)
    return key_pair_id, int(cert_model)


def _request_attributes(negotiated: Negotiated, model: int, csr_tracking_tag: int, overwrite: bool) -> int:
    """GET_CSR's RequestAttributes (`csr_request_attributes`); a CSRTrackingTag or Overwrite only from 1.3."""
    attributes = csr_request_attributes(model, csr_tracking_tag, overwrite)
    if (csr_tracking_tag or overwrite) and negotiated.version < 0x13:
        raise ValueError("a CSRTrackingTag or Overwrite needs SPDM 1.3")
    return attributes


def get_csr(
    transact: Transact,
    negotiated: Negotiated,
    requester_info: bytes,
    opaque_data: bytes,
    key_pair_id: int = 0,
    cert_model: int | None = None,
    csr_tracking_tag: int = 0,
    overwrite: bool = False,
) -> Steps[bytes]:
    """GET_CSR: the device's DER CSR, checked to parse and to be signed by the key it names; ERROR
    ResetRequired raises `CsrResetRequired` (see the module)."""
    require_support(negotiated, Code.GET_CSR)
    key_pair_id, model = _key_pair_fields(negotiated, key_pair_id, cert_model)
    ask = GetCsr(
        version=negotiated.version,
        param1=key_pair_id,
        param2=_request_attributes(negotiated, model, csr_tracking_tag, overwrite),
        requester_info=bytes(requester_info),
        opaque_data=bytes(opaque_data),
    )
    try:
        answer, _, _ = yield from transact(ask, Csr)
    except PeerError as error:
        if error.error_code != ErrorCode.ResetRequired or not _may_require_reset(negotiated):
            raise
        raise CsrResetRequired(error.response, _assigned_tag(negotiated, error.error_data)) from None
    check_csr(answer.csr)
    return answer.csr


def _may_require_reset(negotiated: Negotiated) -> bool:
    """ResetRequired is an answer at 1.2, and from 1.3 only from a responder with CERT_INSTALL_RESET_CAP
    (1.2.0 did not define the flag), as libspdm_req_handle_error_response.c accepts it."""
    return negotiated.version < 0x13 or negotiated.responder_has(CapabilityFlags.CERT_INSTALL_RESET_CAP)


def _assigned_tag(negotiated: Negotiated, error_data: int) -> int:
    """The CSRTrackingTag a ResetRequired to GET_CSR gives: its ErrorData from 1.3 (reserved before)."""
    if negotiated.version < 0x13:
        return 0
    if error_data > MAX_CSR_TRACKING_TAG:
        raise invalid_response(
            f"ResetRequired to GET_CSR gives CSRTrackingTag {error_data}, not 0..{MAX_CSR_TRACKING_TAG}"
        )
    return error_data


def _slot_format(chain: ChainSource, negotiated: Negotiated) -> bytes:
    suite = hash_suite(negotiated.base_hash_algo)
    if isinstance(chain, CertChain):
        if len(chain.root_hash) != suite.size:
            raise ValueError(f"the chain's RootHash has {len(chain.root_hash)} bytes, {suite.name} has {suite.size}")
        return chain.to_bytes()
    return CertChain.build(chain, suite).to_bytes()


def set_certificate(
    transact: Transact,
    negotiated: Negotiated,
    slot: int,
    chain: ChainSource,
    key_pair_id: int = 0,
    cert_model: int | None = None,
) -> Steps[SetCertificateResult]:
    """SET_CERTIFICATE of `chain` into `slot`; ResetRequired is the result's `reset_required`."""
    require_support(negotiated, Code.SET_CERTIFICATE)
    if not 0 <= slot < SLOT_COUNT:
        raise ValueError(f"slot {slot} is not 0..7")
    key_pair_id, model = _key_pair_fields(negotiated, key_pair_id, cert_model)
    ask = SetCertificate(
        version=negotiated.version,
        slot_param=slot | model << 4,
        param2=key_pair_id,
        cert_chain=_slot_format(chain, negotiated),
    )
    try:
        answer, _, _ = yield from transact(ask, SetCertificateRsp)
    except PeerError as error:
        if error.error_code != ErrorCode.ResetRequired or not _may_require_reset(negotiated):
            raise
        return SetCertificateResult(slot=slot, reset_required=True)
    if answer.slot_id != slot:
        raise invalid_response(f"SET_CERTIFICATE_RSP for slot {answer.slot_id}, asked {slot}")
    return SetCertificateResult(slot=slot, reset_required=False)
