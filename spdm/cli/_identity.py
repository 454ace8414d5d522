"""An identity given on the command line: a certificate chain file and its leaf's private key."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from spdm.certs import load_certificates
from spdm.cli._common import Usage, read_file
from spdm.crypto import SigningKey
from spdm.errors import SpdmError

__all__ = ["load_identity"]


def load_identity(chain_path: str, key_path: str, whose: str) -> tuple[tuple[bytes, ...], SigningKey]:
    """The certificates (root first, DER or PEM) and the PEM private key; `Usage` naming `whose` identity
    when either is unusable, or the key is not one SPDM signs with (RSA or ECDSA)."""
    try:
        certificates = load_certificates(read_file(chain_path, f"{whose} certificate chain"))
        key = load_pem_private_key(read_file(key_path, f"{whose} private key"), password=None)
    except (SpdmError, ValueError, TypeError) as error:
        raise Usage(f"unusable {whose} identity: {error}") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise Usage(f"unusable {whose} identity: a {type(key).__name__} cannot sign SPDM messages")
    return certificates, key
