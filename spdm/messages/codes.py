"""Numeric values of the SPDM 1.0/1.1 wire: message codes, error codes, flags and algorithm bits.

Messages keep these as plain ints on the wire so that unknown bits survive a round trip; the
enums here give them their spec names. `ErrorCode` lives with the exceptions that carry it
(`spdm.errors`) and is re-exported here with the other codes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import NamedTuple

from spdm.errors import ErrorCode, NegotiationError

__all__ = [
    "DEFINED_REQUESTER_FLAGS",
    "DEFINED_RESPONDER_FLAGS",
    "REQUEST_NEEDS",
    "AeadAlgorithm",
    "AlgType",
    "BaseAsymAlgo",
    "BaseHashAlgo",
    "CapabilityFlags",
    "CertificateInfo",
    "Code",
    "DheGroup",
    "ErrorCode",
    "KeyPairAsymAlgo",
    "KeyPairCapability",
    "KeyPairOperation",
    "KeyScheduleAlgo",
    "KeyUpdateOperation",
    "KeyUsage",
    "MeasurementHashAlgo",
    "MeasurementSpecification",
    "MeasurementValueType",
    "MutAuthRequest",
    "OtherParams",
    "RequestNeeds",
    "SummaryHashType",
    "asym_signature_size",
    "defined_asym_bits",
    "dhe_exchange_size",
    "hash_size",
    "key_pair_asym_algo",
    "measurement_hash_size",
]


_REQUEST_BIT = 0x80
"""Bit 7 of RequestResponseCode: set in every request's code, clear in every response's."""


class Code(enum.IntEnum):
    """RequestResponseCode (header byte 1)."""

    DIGESTS = 0x01
    CERTIFICATE = 0x02
    CHALLENGE_AUTH = 0x03
    VERSION = 0x04
    CHUNK_SEND_ACK = 0x05
    CHUNK_RESPONSE = 0x06
    ENDPOINT_INFO = 0x07  # 1.3
    MEASUREMENTS = 0x60
    CAPABILITIES = 0x61
    SUPPORTED_EVENT_TYPES = 0x62
    ALGORITHMS = 0x63
    KEY_EXCHANGE_RSP = 0x64
    FINISH_RSP = 0x65
    PSK_EXCHANGE_RSP = 0x66
    PSK_FINISH_RSP = 0x67
    HEARTBEAT_ACK = 0x68
    KEY_UPDATE_ACK = 0x69
    ENCAPSULATED_REQUEST = 0x6A
    ENCAPSULATED_RESPONSE_ACK = 0x6B
    END_SESSION_ACK = 0x6C
    CSR = 0x6D
    SET_CERTIFICATE_RSP = 0x6E
    MEASUREMENT_EXTENSION_LOG = 0x6F
    SUBSCRIBE_EVENT_TYPES_ACK = 0x70
    EVENT_ACK = 0x71
    KEY_PAIR_INFO = 0x7C
    SET_KEY_PAIR_INFO_ACK = 0x7D
    VENDOR_DEFINED_RESPONSE = 0x7E
    ERROR = 0x7F
    GET_DIGESTS = 0x81
    GET_CERTIFICATE = 0x82
    CHALLENGE = 0x83
    GET_VERSION = 0x84
    CHUNK_SEND = 0x85
    CHUNK_GET = 0x86
    GET_ENDPOINT_INFO = 0x87
    GET_MEASUREMENTS = 0xE0
    GET_CAPABILITIES = 0xE1
    GET_SUPPORTED_EVENT_TYPES = 0xE2
    NEGOTIATE_ALGORITHMS = 0xE3
    KEY_EXCHANGE = 0xE4
    FINISH = 0xE5
    PSK_EXCHANGE = 0xE6
    PSK_FINISH = 0xE7
    HEARTBEAT = 0xE8
    KEY_UPDATE = 0xE9
    GET_ENCAPSULATED_REQUEST = 0xEA
    DELIVER_ENCAPSULATED_RESPONSE = 0xEB
    END_SESSION = 0xEC
    GET_CSR = 0xED
    SET_CERTIFICATE = 0xEE
    GET_MEASUREMENT_EXTENSION_LOG = 0xEF
    SUBSCRIBE_EVENT_TYPES = 0xF0
    SEND_EVENT = 0xF1
    GET_KEY_PAIR_INFO = 0xFC
    SET_KEY_PAIR_INFO = 0xFD
    VENDOR_DEFINED_REQUEST = 0xFE
    RESPOND_IF_READY = 0xFF

    @staticmethod
    def marks_request(code: int) -> bool:
        """Whether a RequestResponseCode, known or not, is a request's: bit 7 set (DSP0274 "SPDM request
        codes"; responses have it clear)."""
        return bool(code & _REQUEST_BIT)

    @property
    def is_request(self) -> bool:
        return Code.marks_request(self)

    @property
    def response_code(self) -> int:
        """The code of the response to this request: the request's with bit 7 cleared (an ERROR aside)."""
        return self & ~_REQUEST_BIT


class CapabilityFlags(enum.IntFlag):
    """GET_CAPABILITIES / CAPABILITIES Flags."""

    CACHE_CAP = 1 << 0
    CERT_CAP = 1 << 1
    CHAL_CAP = 1 << 2
    MEAS_CAP_NO_SIG = 1 << 3
    MEAS_CAP_SIG = 1 << 4
    MEAS_FRESH_CAP = 1 << 5
    ENCRYPT_CAP = 1 << 6
    MAC_CAP = 1 << 7
    MUT_AUTH_CAP = 1 << 8
    KEY_EX_CAP = 1 << 9
    PSK_CAP_NO_CONTEXT = 1 << 10
    PSK_CAP_WITH_CONTEXT = 1 << 11
    ENCAP_CAP = 1 << 12
    HBEAT_CAP = 1 << 13
    KEY_UPD_CAP = 1 << 14
    HANDSHAKE_IN_THE_CLEAR_CAP = 1 << 15
    PUB_KEY_ID_CAP = 1 << 16
    CHUNK_CAP = 1 << 17  # 1.2 from here
    ALIAS_CERT_CAP = 1 << 18
    SET_CERT_CAP = 1 << 19
    CSR_CAP = 1 << 20
    CERT_INSTALL_RESET_CAP = 1 << 21
    EP_INFO_CAP_NO_SIG = 1 << 22  # 1.3 from here
    EP_INFO_CAP_SIG = 1 << 23
    MEL_CAP = 1 << 24
    EVENT_CAP = 1 << 25
    MULTI_KEY_CAP_ONLY = 1 << 26
    MULTI_KEY_CAP_NEG = 1 << 27
    GET_KEY_PAIR_INFO_CAP = 1 << 28
    SET_KEY_PAIR_INFO_CAP = 1 << 29
    SET_KEY_PAIR_RESET_CAP = 1 << 30
    LARGE_RESP_CAP = 1 << 31

    MEAS_CAP_MASK = MEAS_CAP_NO_SIG | MEAS_CAP_SIG
    PSK_CAP_MASK = PSK_CAP_NO_CONTEXT | PSK_CAP_WITH_CONTEXT
    EP_INFO_CAP_MASK = EP_INFO_CAP_NO_SIG | EP_INFO_CAP_SIG
    MULTI_KEY_CAP_MASK = MULTI_KEY_CAP_ONLY | MULTI_KEY_CAP_NEG


DEFINED_RESPONDER_FLAGS = {0x10: 0x0000_003F, 0x11: 0x0001_FFFF, 0x12: 0x003F_FFFF, 0x13: 0xFFFF_FFFF}
"""The CAPABILITIES flags each version defines (the rest are reserved and sent as zero)."""
DEFINED_REQUESTER_FLAGS = {0x11: 0x0001_FFC6, 0x12: 0x0003_FFC6, 0x13: 0x8EC3_FFC6}
"""The GET_CAPABILITIES flags each version defines for a requester (1.0 has no requester flags)."""


class RequestNeeds(NamedTuple):
    """What a request needs: the SPDM version that defines it, the responder's capability (some bit
    of it), for a session feature the requester's too (in effect only when both sides set it), and
    the responder's capability for a signed answer."""

    version: int
    responder: CapabilityFlags = CapabilityFlags(0)
    requester: CapabilityFlags = CapabilityFlags(0)
    signed: CapabilityFlags = CapabilityFlags(0)


_F = CapabilityFlags
REQUEST_NEEDS: Mapping[Code, RequestNeeds] = {
    Code.GET_VERSION: RequestNeeds(0x10),
    Code.GET_CAPABILITIES: RequestNeeds(0x10),
    Code.NEGOTIATE_ALGORITHMS: RequestNeeds(0x10),
    Code.GET_DIGESTS: RequestNeeds(0x10, _F.CERT_CAP),
    Code.GET_CERTIFICATE: RequestNeeds(0x10, _F.CERT_CAP),
    Code.CHALLENGE: RequestNeeds(0x10, _F.CHAL_CAP),
    Code.GET_MEASUREMENTS: RequestNeeds(0x10, _F.MEAS_CAP_MASK, signed=_F.MEAS_CAP_SIG),
    Code.VENDOR_DEFINED_REQUEST: RequestNeeds(0x10),
    Code.RESPOND_IF_READY: RequestNeeds(0x10),
    Code.KEY_EXCHANGE: RequestNeeds(0x11, _F.KEY_EX_CAP, _F.KEY_EX_CAP),
    Code.FINISH: RequestNeeds(0x11, _F.KEY_EX_CAP, _F.KEY_EX_CAP),
    Code.PSK_EXCHANGE: RequestNeeds(0x11, _F.PSK_CAP_MASK, _F.PSK_CAP_MASK),
    Code.PSK_FINISH: RequestNeeds(0x11, _F.PSK_CAP_WITH_CONTEXT, _F.PSK_CAP_MASK),
    Code.HEARTBEAT: RequestNeeds(0x11, _F.HBEAT_CAP, _F.HBEAT_CAP),
    Code.KEY_UPDATE: RequestNeeds(0x11, _F.KEY_UPD_CAP, _F.KEY_UPD_CAP),
    Code.GET_ENCAPSULATED_REQUEST: RequestNeeds(0x11, _F.ENCAP_CAP, _F.ENCAP_CAP),
    Code.DELIVER_ENCAPSULATED_RESPONSE: RequestNeeds(0x11, _F.ENCAP_CAP, _F.ENCAP_CAP),
    Code.END_SESSION: RequestNeeds(0x11, _F.KEY_EX_CAP | _F.PSK_CAP_MASK, _F.KEY_EX_CAP | _F.PSK_CAP_MASK),
    Code.GET_CSR: RequestNeeds(0x12, _F.CSR_CAP),
    Code.SET_CERTIFICATE: RequestNeeds(0x12, _F.SET_CERT_CAP),
    Code.CHUNK_SEND: RequestNeeds(0x12, _F.CHUNK_CAP, _F.CHUNK_CAP),
    Code.CHUNK_GET: RequestNeeds(0x12, _F.CHUNK_CAP, _F.CHUNK_CAP),
    Code.GET_KEY_PAIR_INFO: RequestNeeds(0x13, _F.GET_KEY_PAIR_INFO_CAP),
    Code.SET_KEY_PAIR_INFO: RequestNeeds(0x13, _F.SET_KEY_PAIR_INFO_CAP),
    Code.GET_MEASUREMENT_EXTENSION_LOG: RequestNeeds(0x13, _F.MEL_CAP),
    Code.GET_ENDPOINT_INFO: RequestNeeds(0x13, _F.EP_INFO_CAP_MASK, signed=_F.EP_INFO_CAP_SIG),
    Code.GET_SUPPORTED_EVENT_TYPES: RequestNeeds(0x13, _F.EVENT_CAP),
    Code.SUBSCRIBE_EVENT_TYPES: RequestNeeds(0x13, _F.EVENT_CAP),
}
"""Each request a requester sends (DSP0274's request codes table and each request's capability
requirements): the responder serves it only with these (`spdm.responder.state.CAPABILITY_OF`), the
requester refuses to send it without them (`spdm.requester.support.require_support`)."""


class BaseAsymAlgo(enum.IntFlag):
    """BaseAsymAlgo / BaseAsymSel and the ReqBaseAsymAlg AlgStruct."""

    RSASSA_2048 = 1 << 0
    RSAPSS_2048 = 1 << 1
    RSASSA_3072 = 1 << 2
    RSAPSS_3072 = 1 << 3
    ECDSA_P256 = 1 << 4
    RSASSA_4096 = 1 << 5
    RSAPSS_4096 = 1 << 6
    ECDSA_P384 = 1 << 7
    ECDSA_P521 = 1 << 8
    SM2_P256 = 1 << 9  # 1.2 from here
    EDDSA_ED25519 = 1 << 10
    EDDSA_ED448 = 1 << 11


_ASYM_BITS_BEFORE_12 = 0x1FF


def defined_asym_bits(version: int, bits: int) -> int:
    """The BaseAsymAlgo (or ReqBaseAsymAlg) bits of `bits` that `version` defines: SM2 and EdDSA
    (bits 9-11) exist from 1.2 on, and a 1.0/1.1 offer carries none of them."""
    return bits if version >= 0x12 else bits & _ASYM_BITS_BEFORE_12


class BaseHashAlgo(enum.IntFlag):
    """BaseHashAlgo / BaseHashSel."""

    SHA_256 = 1 << 0
    SHA_384 = 1 << 1
    SHA_512 = 1 << 2
    SHA3_256 = 1 << 3
    SHA3_384 = 1 << 4
    SHA3_512 = 1 << 5
    SM3_256 = 1 << 6  # 1.2


class MeasurementHashAlgo(enum.IntFlag):
    """ALGORITHMS MeasurementHashAlgo."""

    RAW_BIT_STREAM_ONLY = 1 << 0
    SHA_256 = 1 << 1
    SHA_384 = 1 << 2
    SHA_512 = 1 << 3
    SHA3_256 = 1 << 4
    SHA3_384 = 1 << 5
    SHA3_512 = 1 << 6
    SM3_256 = 1 << 7  # 1.2


class MeasurementSpecification(enum.IntFlag):
    DMTF = 1 << 0


class AlgType(enum.IntEnum):
    """AlgStruct AlgType."""

    DHE = 2
    AEAD = 3
    REQ_BASE_ASYM_ALG = 4
    KEY_SCHEDULE = 5


class DheGroup(enum.IntFlag):
    FFDHE_2048 = 1 << 0
    FFDHE_3072 = 1 << 1
    FFDHE_4096 = 1 << 2
    SECP_256_R1 = 1 << 3
    SECP_384_R1 = 1 << 4
    SECP_521_R1 = 1 << 5
    SM2_P256 = 1 << 6  # 1.2


class AeadAlgorithm(enum.IntFlag):
    AES_128_GCM = 1 << 0
    AES_256_GCM = 1 << 1
    CHACHA20_POLY1305 = 1 << 2
    SM4_128_GCM = 1 << 3  # 1.2


class OtherParams(enum.IntFlag):
    """NEGOTIATE_ALGORITHMS OtherParamsSupport / ALGORITHMS OtherParamsSelection (1.2)."""

    OPAQUE_DATA_FMT_0 = 1 << 0
    OPAQUE_DATA_FMT_1 = 1 << 1
    MULTI_KEY_CONN = 1 << 4  # 1.3

    OPAQUE_DATA_FMT_MASK = OPAQUE_DATA_FMT_0 | OPAQUE_DATA_FMT_1


class KeyScheduleAlgo(enum.IntFlag):
    SPDM_KEY_SCHEDULE = 1 << 0


class SummaryHashType(enum.IntEnum):
    """MeasurementSummaryHashType in CHALLENGE, KEY_EXCHANGE and PSK_EXCHANGE."""

    NONE = 0x00
    TCB = 0x01
    ALL = 0xFF


class MeasurementValueType(enum.IntEnum):
    """DMTFSpecMeasurementValueType bits [6:0]."""

    IMMUTABLE_ROM = 0
    MUTABLE_FIRMWARE = 1
    HARDWARE_CONFIGURATION = 2
    FIRMWARE_CONFIGURATION = 3
    MEASUREMENT_MANIFEST = 4
    DEVICE_MODE = 5
    MUTABLE_FIRMWARE_VERSION = 6
    MUTABLE_FIRMWARE_SECURITY_VERSION = 7
    HASH_EXTEND_MEASUREMENT = 8  # 1.2 from here (spdm.h SPDM_MEASUREMENT_BLOCK_MEASUREMENT_TYPE_*)
    INFORMATIONAL = 9
    STRUCTURED_MEASUREMENT_MANIFEST = 10


class KeyUpdateOperation(enum.IntEnum):
    UPDATE_KEY = 1
    UPDATE_ALL_KEYS = 2
    VERIFY_NEW_KEY = 3


class MutAuthRequest(enum.IntFlag):
    """KEY_EXCHANGE_RSP MutAuthRequested."""

    MUT_AUTH_REQUESTED = 1 << 0
    WITH_ENCAP_REQUEST = 1 << 1
    WITH_GET_DIGESTS = 1 << 2


class KeyUsage(enum.IntFlag):
    """1.3 KeyUsageMask (DIGESTS per slot, KEY_PAIR_INFO, SET_KEY_PAIR_INFO): what a key may sign for
    (spdm.h SPDM_KEY_USAGE_BIT_MASK_*)."""

    KEY_EXCHANGE = 1 << 0
    CHALLENGE = 1 << 1
    MEASUREMENT = 1 << 2
    ENDPOINT_INFO = 1 << 3
    STANDARDS_KEY = 1 << 14
    VENDOR_KEY = 1 << 15

    ALL_SPDM = KEY_EXCHANGE | CHALLENGE | MEASUREMENT | ENDPOINT_INFO
    """The four usages SPDM itself signs for; slot 0 of a multi-key DIGESTS must allow one of them."""
    DEFINED = ALL_SPDM | STANDARDS_KEY | VENDOR_KEY


class CertificateInfo(enum.IntEnum):
    """1.3 CertificateInfo CertModel (bits [2:0] of DIGESTS' CertificateInfo, CERTIFICATE's Param2,
    GET_CSR's RequestAttributes, SET_CERTIFICATE's SetCertModel; spdm.h SPDM_CERTIFICATE_INFO_CERT_MODEL_*)."""

    NONE = 0
    DEVICE_CERT = 1
    ALIAS_CERT = 2
    GENERIC_CERT = 3


class KeyPairCapability(enum.IntFlag):
    """1.3 KEY_PAIR_INFO Capabilities: what SET_KEY_PAIR_INFO may do to a key pair (SPDM_KEY_PAIR_CAP_*)."""

    GEN_KEY = 1 << 0
    ERASABLE = 1 << 1
    CERT_ASSOC = 1 << 2
    KEY_USAGE = 1 << 3
    ASYM_ALGO = 1 << 4
    SHAREABLE = 1 << 5

    DEFINED = GEN_KEY | ERASABLE | CERT_ASSOC | KEY_USAGE | ASYM_ALGO | SHAREABLE


class KeyPairOperation(enum.IntEnum):
    """1.3 SET_KEY_PAIR_INFO Operation (Param1; SPDM_SET_KEY_PAIR_INFO_*_OPERATION)."""

    CHANGE = 0
    ERASE = 1
    GENERATE = 2


class KeyPairAsymAlgo(enum.IntFlag):
    """1.3 KEY_PAIR_INFO AsymAlgoCapabilities / CurrentAsymAlgo: another bit layout than BaseAsymAlgo
    (one bit per key type, not per signature scheme; SPDM_KEY_PAIR_ASYM_ALGO_CAP_*)."""

    RSA2048 = 1 << 0
    RSA3072 = 1 << 1
    RSA4096 = 1 << 2
    ECC256 = 1 << 3
    ECC384 = 1 << 4
    ECC521 = 1 << 5
    SM2 = 1 << 6
    ED25519 = 1 << 7
    ED448 = 1 << 8

    DEFINED = RSA2048 | RSA3072 | RSA4096 | ECC256 | ECC384 | ECC521 | SM2 | ED25519 | ED448


_KEY_PAIR_ALGO_OF: dict[int, KeyPairAsymAlgo] = {
    BaseAsymAlgo.RSASSA_2048: KeyPairAsymAlgo.RSA2048,
    BaseAsymAlgo.RSAPSS_2048: KeyPairAsymAlgo.RSA2048,
    BaseAsymAlgo.RSASSA_3072: KeyPairAsymAlgo.RSA3072,
    BaseAsymAlgo.RSAPSS_3072: KeyPairAsymAlgo.RSA3072,
    BaseAsymAlgo.RSASSA_4096: KeyPairAsymAlgo.RSA4096,
    BaseAsymAlgo.RSAPSS_4096: KeyPairAsymAlgo.RSA4096,
    BaseAsymAlgo.ECDSA_P256: KeyPairAsymAlgo.ECC256,
    BaseAsymAlgo.ECDSA_P384: KeyPairAsymAlgo.ECC384,
    BaseAsymAlgo.ECDSA_P521: KeyPairAsymAlgo.ECC521,
    BaseAsymAlgo.SM2_P256: KeyPairAsymAlgo.SM2,
    BaseAsymAlgo.EDDSA_ED25519: KeyPairAsymAlgo.ED25519,
    BaseAsymAlgo.EDDSA_ED448: KeyPairAsymAlgo.ED448,
}


def key_pair_asym_algo(base_asym_algo: int) -> int:
    """The KeyPairAsymAlgo bit of one BaseAsymAlgo bit, 0 for none (libspdm's sample device,
    key_pair.c `libspdm_base_asym_algo_to_key_pair_cap`)."""
    return int(_KEY_PAIR_ALGO_OF.get(base_asym_algo, 0))


_HASH_SIZES: dict[int, int] = {
    BaseHashAlgo.SHA_256: 32,
    BaseHashAlgo.SHA_384: 48,
    BaseHashAlgo.SHA_512: 64,
    BaseHashAlgo.SHA3_256: 32,
    BaseHashAlgo.SHA3_384: 48,
    BaseHashAlgo.SHA3_512: 64,
    BaseHashAlgo.SM3_256: 32,
}
_MEAS_HASH_SIZES: dict[int, int] = {
    MeasurementHashAlgo.RAW_BIT_STREAM_ONLY: 0,
    MeasurementHashAlgo.SHA_256: 32,
    MeasurementHashAlgo.SHA_384: 48,
    MeasurementHashAlgo.SHA_512: 64,
    MeasurementHashAlgo.SHA3_256: 32,
    MeasurementHashAlgo.SHA3_384: 48,
    MeasurementHashAlgo.SHA3_512: 64,
    MeasurementHashAlgo.SM3_256: 32,
}
_SIGNATURE_SIZES: dict[int, int] = {
    BaseAsymAlgo.RSASSA_2048: 256,
    BaseAsymAlgo.RSAPSS_2048: 256,
    BaseAsymAlgo.RSASSA_3072: 384,
    BaseAsymAlgo.RSAPSS_3072: 384,
    BaseAsymAlgo.ECDSA_P256: 64,
    BaseAsymAlgo.RSASSA_4096: 512,
    BaseAsymAlgo.RSAPSS_4096: 512,
    BaseAsymAlgo.ECDSA_P384: 96,
    BaseAsymAlgo.ECDSA_P521: 132,
    BaseAsymAlgo.SM2_P256: 64,
    BaseAsymAlgo.EDDSA_ED25519: 64,
    BaseAsymAlgo.EDDSA_ED448: 114,
}
_DHE_SIZES: dict[int, int] = {
    DheGroup.FFDHE_2048: 256,
    DheGroup.FFDHE_3072: 384,
    DheGroup.FFDHE_4096: 512,
    DheGroup.SECP_256_R1: 64,
    DheGroup.SECP_384_R1: 96,
    DheGroup.SECP_521_R1: 132,
    DheGroup.SM2_P256: 64,
}


def _lookup(table: Mapping[int, int], value: int, what: str) -> int:
    try:
        return table[value]
    except KeyError:
        raise NegotiationError(f"{what} 0x{value:x} is not exactly one known algorithm") from None


def hash_size(algo: int) -> int:
    """Digest size H of one BaseHashAlgo bit."""
    return _lookup(_HASH_SIZES, algo, "BaseHashAlgo")


def measurement_hash_size(algo: int) -> int:
    """Digest size of one MeasurementHashAlgo bit (0 for raw bit stream only)."""
    return _lookup(_MEAS_HASH_SIZES, algo, "MeasurementHashAlgo")


def asym_signature_size(algo: int) -> int:
    """Signature size S of one BaseAsymAlgo bit."""
    return _lookup(_SIGNATURE_SIZES, algo, "BaseAsymAlgo")


def dhe_exchange_size(group: int) -> int:
    """ExchangeData size D of one DHE group bit."""
    return _lookup(_DHE_SIZES, group, "DHE group")
