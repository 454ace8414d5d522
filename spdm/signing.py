"""What an SPDM signature covers, by version: the one rule every signer and checker goes through.

1.0 and 1.1 sign Hash(transcript) itself. From 1.2 the signed message is
M' = combined_spdm_prefix || Hash(transcript), where the 100-byte prefix is "dmtf-spdm-v1.2.*"
four times (the version digits are the connection's), then zero bytes, then the context string
of the operation, right-aligned (DSP0274 1.2 section "Signature generation"; libspdm
`libspdm_create_signing_context` in library/spdm_crypt_lib/libspdm_crypt_asym.c). RSA and ECDSA
hash M' again with the negotiated hash; EdDSA (1.2 on) signs M' itself (Ed25519 without a context;
libspdm passes Ed448 the context string as its context, which `cryptography` cannot, so Ed448 is
named but not signed here). `signature_input` gives both forms; the algorithm takes its own.
"""

from __future__ import annotations

import enum

from spdm.crypto.asym import SignatureInput
from spdm.crypto.hashes import HashSuite

__all__ = ["SignatureInput", "SigningContext", "combined_prefix", "signature_input", "signed_message"]

_PREFIX_SIZE = 100
_VERSION_PREFIX_REPEATS = 4


class SigningContext(enum.Enum):
    """The context string of each signed operation (spdm.h `SPDM_*_SIGN_CONTEXT`)."""

    CHALLENGE_AUTH = "responder-challenge_auth signing"
    MUT_CHALLENGE_AUTH = "requester-challenge_auth signing"
    MEASUREMENTS = "responder-measurements signing"
    KEY_EXCHANGE_RSP = "responder-key_exchange_rsp signing"
    FINISH = "requester-finish signing"
    ENDPOINT_INFO = "responder-endpoint_info signing"
    MUT_ENDPOINT_INFO = "requester-endpoint_info signing"


def combined_prefix(spdm_version: int, context: SigningContext) -> bytes:
    """combined_spdm_prefix of a 1.2+ signature: 0x12 gives "dmtf-spdm-v1.2.*" x4, zeros, context."""
    if spdm_version < 0x12:
        raise ValueError(f"SPDM 0x{spdm_version:02x} signs no prefix (1.2 introduced it)")
    version = b"dmtf-spdm-v%d.%d.*" % (spdm_version >> 4, spdm_version & 0xF)
    text = context.value.encode()
    head = version * _VERSION_PREFIX_REPEATS
    return head + bytes(_PREFIX_SIZE - len(head) - len(text)) + text


def signed_message(spdm_version: int, context: SigningContext, transcript_digest: bytes) -> bytes:
    """M' (1.2 on): the combined prefix, then the transcript digest."""
    return combined_prefix(spdm_version, context) + transcript_digest


def signature_input(
    hash_suite: HashSuite, spdm_version: int, context: SigningContext, transcript_digest: bytes
) -> SignatureInput:
    """What a signature over a transcript whose hash is `transcript_digest` covers, at `spdm_version`."""
    if spdm_version < 0x12:
        return SignatureInput(transcript_digest, None)
    message = signed_message(spdm_version, context, transcript_digest)
    return SignatureInput(hash_suite.digest(message), message)
