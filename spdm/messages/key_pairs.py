"""GET_KEY_PAIR_INFO/KEY_PAIR_INFO and SET_KEY_PAIR_INFO/SET_KEY_PAIR_INFO_ACK: a responder's key pairs (SPDM 1.3).

Layouts per libspdm's include/industry_standard/spdm.h (spdm_get_key_pair_info_request_t,
spdm_key_pair_info_response_t, spdm_set_key_pair_info_request_t,
spdm_set_key_pair_info_ack_response_t). A SET_KEY_PAIR_INFO that erases (Operation 1) ends after
KeyPairID; any other carries the desired settings (Reserved, DesiredKeyUsage, DesiredAsymAlgo,
DesiredAssocCertSlotMask), as libspdm_req_set_key_pair_info.c sends it. SPDM 1.4's PQC fields are
not read here.
"""

from __future__ import annotations

from dataclasses import dataclass

import construct as c

from spdm.messages._layout import field, length_of, of, only_when
from spdm.messages.certificates import CERT_MODELS
from spdm.messages.codec import Message, Record, message, record
from spdm.messages.codes import Code

__all__ = [
    "CHANGE",
    "ERASE",
    "GENERATE",
    "MAX_KEY_PAIRS",
    "MAX_PUBLIC_KEY_INFO_LENGTH",
    "GetKeyPairInfo",
    "KeyPairInfo",
    "KeyPairSettings",
    "SetKeyPairInfo",
    "SetKeyPairInfoAck",
    "wrong_key_pair_fields",
]

CHANGE = 0
"""SET_KEY_PAIR_INFO Operation (Param1): change the key pair's usage, algorithm or slots."""
ERASE = 1
"""SET_KEY_PAIR_INFO Operation: erase the key pair (the request carries no settings)."""
GENERATE = 2
"""SET_KEY_PAIR_INFO Operation: generate a new key pair with the settings given."""
MAX_KEY_PAIRS = 0xFF
"""KeyPairID is one byte and 0 names none: key pairs are 1..MAX_KEY_PAIRS."""
MAX_PUBLIC_KEY_INFO_LENGTH = 0xFFFF
"""KEY_PAIR_INFO's PublicKeyInfoLen is a u16: the longest PublicKeyInfo a key pair can have."""


def wrong_key_pair_fields(multi_key: bool, key_pair_id: int, cert_model: int, *, model_required: bool) -> str | None:
    """What is wrong with the KeyPairID and certificate model of a 1.3 GET_CSR or SET_CERTIFICATE, or
    None: on a multi-key connection they name a key pair and (`model_required`) a defined model,
    otherwise both are 0 (libspdm_req_get_csr.c, libspdm_rsp_csr.c, libspdm_rsp_set_certificate_rsp.c)."""
    if not multi_key:
        if key_pair_id or cert_model:
            return f"KeyPairID {key_pair_id} and certificate model {cert_model}: both need a 1.3 multi-key connection"
        return None
    if not 1 <= key_pair_id <= MAX_KEY_PAIRS:
        return f"a multi-key connection names the key pair: KeyPairID {key_pair_id} is not 1..{MAX_KEY_PAIRS}"
    if model_required and cert_model not in CERT_MODELS:
        return f"certificate model {cert_model} is not DeviceCert, AliasCert or GenericCert"
    return None


@message(Code.GET_KEY_PAIR_INFO, "param1" / c.Int8ul, "param2" / c.Int8ul, "key_pair_id" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class GetKeyPairInfo(Message):
    """Param1 and Param2 are reserved."""

    version: int = 0x13
    param1: int = 0
    param2: int = 0
    key_pair_id: int


@message(
    Code.KEY_PAIR_INFO,
    "param1" / c.Int8ul,
    "param2" / c.Int8ul,
    "total_key_pairs" / c.Int8ul,
    "key_pair_id" / c.Int8ul,
    "capabilities" / c.Int16ul,
    "key_usage_capabilities" / c.Int16ul,
    "current_key_usage" / c.Int16ul,
    "asym_algo_capabilities" / c.Int32ul,
    "current_asym_algo" / c.Int32ul,
    "_public_key_info_length" / c.Rebuild(c.Int16ul, length_of("public_key_info")),
    "assoc_cert_slot_mask" / c.Int8ul,
    "public_key_info" / c.Bytes(field("_public_key_info_length")),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPairInfo(Message):
    """`public_key_info` is the DER AlgorithmIdentifier of the key; PublicKeyInfoLen comes from it."""

    version: int = 0x13
    param1: int = 0
    param2: int = 0
    total_key_pairs: int
    key_pair_id: int
    capabilities: int = 0
    key_usage_capabilities: int = 0
    current_key_usage: int = 0
    asym_algo_capabilities: int = 0
    current_asym_algo: int = 0
    assoc_cert_slot_mask: int = 0
    public_key_info: bytes = b""


@record(
    "reserved" / c.Int8ul,
    "key_usage" / c.Int16ul,
    "asym_algo" / c.Int32ul,
    "assoc_cert_slot_mask" / c.Int8ul,
)
@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPairSettings(Record):
    """What SET_KEY_PAIR_INFO asks for (DesiredKeyUsage, DesiredAsymAlgo, DesiredAssocCertSlotMask)."""

    reserved: int = 0
    key_usage: int = 0
    asym_algo: int = 0
    assoc_cert_slot_mask: int = 0


def _has_settings(operation: int) -> bool:
    return operation != ERASE


@message(
    Code.SET_KEY_PAIR_INFO,
    "operation" / c.Int8ul,
    "param2" / c.Int8ul,
    "key_pair_id" / c.Int8ul,
    *only_when(
        "desired",
        of(_has_settings, "operation"),
        KeyPairSettings.layout,
        "the desired settings must be present unless the key pair is erased (Operation 1)",
    ),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class SetKeyPairInfo(Message):
    """`desired` is None exactly when `operation` is ERASE; Param2 is reserved."""

    version: int = 0x13
    operation: int = CHANGE
    param2: int = 0
    key_pair_id: int
    desired: KeyPairSettings | None = None


@message(Code.SET_KEY_PAIR_INFO_ACK, "param1" / c.Int8ul, "param2" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class SetKeyPairInfoAck(Message):
    """Param1 and Param2 are reserved."""

    version: int = 0x13
    param1: int = 0
    param2: int = 0
