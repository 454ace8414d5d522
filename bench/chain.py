"""Certificate chain validation: `spdm.certs.verify_chain` on a 3-certificate ECDSA P-384 / SHA-384 chain
(root, intermediate, leaf) from the test PKI, slot bytes parsed each time, beside one P-384 verify.

Run: python bench/chain.py
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import per_call

from spdm.certs import CertChain, verify_chain
from spdm.crypto import asym_suite, hash_suite
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo
from spdm.testing.pki import make_chain

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)


def measure() -> dict[str, float]:
    """Seconds per validation of the chain, and per ECDSA P-384 signature check (it makes three)."""
    pki = make_chain(BaseAsymAlgo.ECDSA_P384, hash_algo=BaseHashAlgo.SHA_384)
    suite, asym = hash_suite(BaseHashAlgo.SHA_384), asym_suite(BaseAsymAlgo.ECDSA_P384)
    slot = pki.spdm_chain(suite).to_bytes()

    def validate() -> None:
        chain = CertChain.from_bytes(slot, suite.size)
        verify_chain(chain, trust_anchor=pki.root_der, hash_suite=suite, asym_suite=asym, now=NOW)

    digest = suite.digest(slot)
    signature = asym.sign(pki.leaf_key, digest, suite)
    public = pki.leaf_key.public_key()
    t_verify = per_call(lambda: asym.verify(public, digest, signature, suite), budget=0.1)  # type: ignore[arg-type]
    t_chain = per_call(validate, budget=0.3)
    return {"chain_validation": t_chain, "p384_verify": t_verify, "chain_vs_verify": t_chain / t_verify}


def main() -> int:
    f = measure()
    print(f"verify_chain, 3 certificates, ECDSA P-384 / SHA-384: {f['chain_validation'] * 1e3:7.3f} ms")
    print(f"one ECDSA P-384 verify, same run:                    {f['p384_verify'] * 1e3:7.3f} ms")
    print(f"ratio: {f['chain_vs_verify']:.2f} verifies (the chain has 3 signatures to check)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
