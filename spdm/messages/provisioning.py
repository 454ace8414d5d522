"""GET_CSR/CSR and SET_CERTIFICATE/SET_CERTIFICATE_RSP: provisioning a responder's identity (SPDM 1.2).

Layouts per DSP0274 1.2 "GET_CSR request and CSR response" and "SET_CERTIFICATE request and
SET_CERTIFICATE_RSP response", checked against libspdm's include/industry_standard/spdm.h
(spdm_get_csr_request_t, spdm_csr_response_t, spdm_set_certificate_request_t,
spdm_set_certificate_response_t). SPDM 1.3 gives meaning to header parameters 1.2 reserves
(GET_CSR: KeyPairID and RequestAttributes; SET_CERTIFICATE: SetCertModel, Erase and KeyPairID):
they stay plain parameter bytes, so 1.2 messages keep their reserved bits, and properties name the
1.3 fields. GET_CSR's OpaqueDataLength is at most 1024 (libspdm_rsp_csr.c, SPDM_MAX_OPAQUE_DATA_SIZE).
A 1.3 SET_CERTIFICATE with Erase carries no CertChain, any other one carries it (the rest of the
message, in the SPDM chain format: Length, Reserved, RootHash, certificates), as
libspdm_rsp_set_certificate_rsp.c reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import construct as c

from spdm.messages._layout import field, length_of, of, require
from spdm.messages.bounds import opaque_length_bound
from spdm.messages.certificates import CERT_MODEL_MASK, SLOT_ID_MASK
from spdm.messages.codec import Message, message
from spdm.messages.codes import Code

__all__ = [
    "MAX_CSR_TRACKING_TAG",
    "Csr",
    "GetCsr",
    "SetCertificate",
    "SetCertificateRsp",
    "csr_request_attributes",
    "erases_slot",
]

_ERASE = 0x80
MAX_CSR_TRACKING_TAG = 7
"""GET_CSR's CSRTrackingTag (1.3) is 3 bits: 0 asks for a CSR, 1..7 for the one a ResetRequired tagged."""
_CSR_TRACKING_TAG_SHIFT = 3
_OVERWRITE = 0x80


def csr_request_attributes(cert_model: int, csr_tracking_tag: int = 0, overwrite: bool = False) -> int:
    """GET_CSR's RequestAttributes (Param2; 1.3): the certificate model in bits [2:0], CSRTrackingTag
    in [5:3] and Overwrite in bit 7, as `GetCsr.cert_model`, `csr_tracking_tag` and `overwrite` read
    them; `ValueError` for a value its bits cannot hold."""
    if not 0 <= cert_model <= CERT_MODEL_MASK:
        raise ValueError(f"certificate model {cert_model} is not 0..{CERT_MODEL_MASK}")
    if not 0 <= csr_tracking_tag <= MAX_CSR_TRACKING_TAG:
        raise ValueError(f"CSRTrackingTag {csr_tracking_tag} is not 0..{MAX_CSR_TRACKING_TAG}")
    return cert_model | csr_tracking_tag << _CSR_TRACKING_TAG_SHIFT | (_OVERWRITE if overwrite else 0)


@message(
    Code.GET_CSR,
    "param1" / c.Int8ul,
    "param2" / c.Int8ul,
    "_requester_info_length" / c.Rebuild(c.Int16ul, length_of("requester_info")),
    "_opaque_length" / c.Rebuild(c.Int16ul, length_of("opaque_data")),
    opaque_length_bound(),
    "requester_info" / c.Bytes(field("_requester_info_length")),
    "opaque_data" / c.Bytes(field("_opaque_length")),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class GetCsr(Message):
    """`requester_info` is a DER CertificationRequestInfo to fold into the CSR (or empty)."""

    version: int = 0x12
    param1: int = 0
    param2: int = 0
    requester_info: bytes = b""
    opaque_data: bytes = b""

    @property
    def key_pair_id(self) -> int:
        """1.3: the key pair the CSR is for (Param1)."""
        return self.param1

    @property
    def cert_model(self) -> int:
        """1.3: RequestAttributes bits [2:0], the certificate model the CSR is for."""
        return self.param2 & CERT_MODEL_MASK

    @property
    def csr_tracking_tag(self) -> int:
        """1.3: RequestAttributes bits [5:3], the tag of a CSR a reset completes."""
        return self.param2 >> _CSR_TRACKING_TAG_SHIFT & MAX_CSR_TRACKING_TAG

    @property
    def overwrite(self) -> bool:
        """1.3: RequestAttributes bit 7, drop pending CSRs."""
        return bool(self.param2 & _OVERWRITE)


@message(
    Code.CSR,
    "param1" / c.Int8ul,
    "param2" / c.Int8ul,
    "_csr_length" / c.Rebuild(c.Int16ul, length_of("csr")),
    "reserved" / c.Int16ul,
    "csr" / c.Bytes(field("_csr_length")),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class Csr(Message):
    """`csr` is the DER PKCS #10 request; CSRLength comes from it."""

    version: int = 0x12
    param1: int = 0
    param2: int = 0
    reserved: int = 0
    csr: bytes


def erases_slot(version: int, slot_param: int) -> bool:
    """A SET_CERTIFICATE that erases its slot (1.3, Param1 bit 7) and so carries no chain."""
    return version >= 0x13 and bool(slot_param & _ERASE)


def _chain_present(version: int, slot_param: int, cert_chain: bytes) -> bool:
    return bool(cert_chain) != erases_slot(version, slot_param)


@message(
    Code.SET_CERTIFICATE,
    "slot_param" / c.Int8ul,
    "param2" / c.Int8ul,
    "cert_chain" / c.GreedyBytes,
    require(
        of(_chain_present, "version", "slot_param", "cert_chain"),
        "CertChain must be present unless a 1.3 request erases the slot (Erase, Param1 bit 7)",
        field="cert_chain",
    ),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class SetCertificate(Message):
    """`cert_chain` is the whole SPDM certificate chain to store, or empty for a 1.3 Erase."""

    version: int = 0x12
    slot_param: int = 0
    param2: int = 0
    cert_chain: bytes = b""

    @property
    def slot_id(self) -> int:
        return self.slot_param & SLOT_ID_MASK

    @property
    def cert_model(self) -> int:
        """1.3: SetCertModel, Param1 bits [6:4]."""
        return self.slot_param >> 4 & CERT_MODEL_MASK

    @property
    def erase(self) -> bool:
        """1.3: Param1 bit 7, erase the slot instead of writing it."""
        return bool(self.slot_param & _ERASE)

    @property
    def key_pair_id(self) -> int:
        """1.3: the key pair the chain certifies (Param2)."""
        return self.param2


@message(Code.SET_CERTIFICATE_RSP, "slot_param" / c.Int8ul, "param2" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class SetCertificateRsp(Message):
    """Param1 bits [3:0] name the slot written; the rest is reserved."""

    version: int = 0x12
    slot_param: int = 0
    param2: int = 0

    @property
    def slot_id(self) -> int:
        return self.slot_param & SLOT_ID_MASK
