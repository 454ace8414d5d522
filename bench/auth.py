"""Authentication benchmark: a full in-process authentication (VCA, DIGESTS, CERTIFICATE, CHALLENGE,
signed MEASUREMENTS of all blocks; ECDSA P-384 / SHA-384) beside the cryptography it needs, measured
in the same run; and, when DMTF's emulators are built (SPDM_EMU_BIN=dir of spdm_responder_emu),
the wall time of `spdm requester` and of `spdm_requester_emu` against spdm_responder_emu.

Run: python bench/auth.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import LIBSPDM_VECTORS, per_call_interleaved

from spdm.certs import CertChain, verify_chain
from spdm.crypto import asym_suite, hash_suite
from spdm.measurements import block_bytes
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, SlotIdentity, demo_config
from spdm.testing.pki import make_chain
from spdm.transport.loopback import LoopbackTransport

ASYM, HASH = BaseAsymAlgo.ECDSA_P384, BaseHashAlgo.SHA_384


def _setup() -> tuple[Responder, RequesterConfig, dict[str, object]]:
    chain = make_chain(ASYM, hash_algo=BaseHashAlgo.SHA_384)
    identity = SlotIdentity(certificates=chain.certificates_der, private_key=chain.leaf_key)
    config = replace(demo_config(), slots={0: identity}, base_asym_priority=(ASYM,), base_hash_priority=(HASH,))
    return Responder(config), RequesterConfig(trust_anchors={0: chain.root_der}), {"chain": chain, "config": config}


def _crypto_only(material: dict[str, object]) -> Callable[[], None]:
    """The cryptography of one authentication, nothing else: 2 signatures made and checked, the chain
    validated, and the transcript and chain hashing (about 4 KiB through SHA-384)."""
    chain = material["chain"]
    suite, asym = hash_suite(HASH), asym_suite(ASYM)
    spdm_chain = chain.spdm_chain(suite)  # type: ignore[attr-defined]
    chain_bytes = spdm_chain.to_bytes()
    blocks = b"".join(block_bytes(b) for b in material["config"].measurements.blocks())  # type: ignore[attr-defined]
    transcript = bytes(4096)
    key = chain.leaf_key  # type: ignore[attr-defined]
    now = __import__("datetime").datetime(2030, 1, 1)

    def one() -> None:
        verified = verify_chain(
            CertChain.from_bytes(chain_bytes, suite.size),
            trust_anchor=chain.root_der,  # type: ignore[attr-defined]
            hash_suite=suite,
            asym_suite=asym,
            now=now,
        )
        for _ in range(2):
            digest = suite.digest(transcript)
            signature = asym.sign(key, digest, suite)
            asym.verify(verified.leaf_public_key, digest, signature, suite)
        suite.digest(chain_bytes)
        suite.digest(blocks)

    return one


def _emu(bin_dir: Path) -> None:
    keys = str(LIBSPDM_VECTORS / "sample_key/ecp384/ca.cert.der")
    timings: dict[str, list[float]] = {"spdm requester": [], "spdm_requester_emu": []}
    for run in range(3):
        for name in timings:
            port = str(2500 + run * 2 + (name == "spdm_requester_emu"))
            server = subprocess.Popen(
                ["./spdm_responder_emu", "--trans", "PCI_DOE", "--ip", "127.0.0.1", "--ver", "1.1", "--port", port],
                cwd=bin_dir,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
            if name == "spdm requester":
                command = [
                    sys.executable,
                    "-m",
                    "spdm",
                    "requester",
                    "--connect",
                    f"127.0.0.1:{port}",
                    "--root-cert",
                    keys,
                ]
            else:
                command = [
                    "./spdm_requester_emu",
                    "--trans",
                    "PCI_DOE",
                    "--ver",
                    "1.1",
                    "--port",
                    port,
                    "--exe_conn",
                    "DIGEST,CERT,CHAL,MEAS",
                    "--meas_op",
                    "ALL",
                    "--exe_session",
                    "",
                ]
            start = time.perf_counter()
            result = subprocess.run(command, cwd=bin_dir, capture_output=True, check=False, timeout=60)
            timings[name].append(time.perf_counter() - start)
            server.wait(timeout=10)
            if result.returncode != 0:
                print(f"{name} failed: {result.stderr[-300:]!r}")
    for name, values in timings.items():
        print(f"{name:20} against spdm_responder_emu, wall time (best of 3): {min(values) * 1000:7.0f} ms")


def measure() -> dict[str, float]:
    """Seconds of one full in-process authentication and of its cryptography alone, and their ratio."""
    responder, requester_config, material = _setup()

    def authenticate() -> None:
        Requester(LoopbackTransport(responder.respond), requester_config).authenticate(0)

    flow, crypto = per_call_interleaved(authenticate, _crypto_only(material))
    return {"auth": flow, "auth_crypto": crypto, "auth_vs_crypto": flow / crypto}


def main() -> int:
    figures = measure()
    flow, crypto = figures["auth"], figures["auth_crypto"]
    print(f"full authentication, in process (ECDSA P-384 / SHA-384): {flow * 1000:7.2f} ms")
    print(f"its cryptography alone, same run:                        {crypto * 1000:7.2f} ms")
    print(f"ratio: {flow / crypto:.2f} (target <= 1.5)")
    emu = os.environ.get("SPDM_EMU_BIN")
    if emu:
        _emu(Path(emu))
    else:
        print("set SPDM_EMU_BIN to the folder of spdm_responder_emu to time the socket flows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
