"""Handshake benchmark: a DHE session (KEY_EXCHANGE through FINISH_RSP, then END_SESSION; secp384r1,
ECDSA P-384, SHA-384, AES-256-GCM) and a PSK session (PSK_EXCHANGE through PSK_FINISH_RSP, then
END_SESSION), in process, each beside the cryptography it needs, measured in the same run.

Both the requester and the responder run in this process, so the crypto-only floor is what both
of them must compute: each side's key schedule (its HMACs made directly with `hmac.digest`, no
library code), each side's transcript hashes, and every record sealed by one side and opened by
the other.

Run: python bench/handshake.py
"""

from __future__ import annotations

import hmac
import os
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import per_call_interleaved
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from spdm.crypto import asym_suite, dhe_suite, hash_suite
from spdm.messages.codes import AeadAlgorithm, BaseAsymAlgo, BaseHashAlgo, DheGroup
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.transport.loopback import LoopbackTransport

PSK, HINT = b"bench psk value!", b"bench"
TARGETS = {"dhe": 1.5, "psk": 2.0}
"""Each session's time over its crypto-only floor, at most (issue 13)."""
HASH, AEAD = BaseHashAlgo.SHA_384, AeadAlgorithm.AES_256_GCM


def _connected() -> tuple[Requester, bytes]:
    config = replace(
        demo_config(sessions=True, psks={HINT: PSK}),
        base_hash_priority=(HASH,),
        aead_priority=(AEAD,),
        dhe_priority=(DheGroup.SECP_384_R1,),
    )
    responder = Responder(config)
    root = config.slots[0].certificates[0]
    requester = Requester(
        LoopbackTransport(responder.respond),
        RequesterConfig.with_sessions(trust_anchors={0: root}, psk=PSK, psk_hint=HINT),
    )
    requester.init_connection()
    requester.get_digests()
    requester.get_certificate(0)
    requester.verify_certificate(0)
    return requester, root


_RECORD_SIZES = (2 + 52, 2 + 4, 2 + 4, 2 + 4)
"""AppDataLength and message of the four records: FINISH or PSK_FINISH (header and verify data), its
response, END_SESSION and END_SESSION_ACK."""
_RECORD_HEADER = bytes(6)
_Context = tuple[AESGCM, bytes]


def _key_schedule_floor(shared_secret: bytes, th1_digest: bytes, th2_digest: bytes) -> list[_Context]:
    """One side's key schedule at its minimum: its 18 HMACs made directly (extract; handshake
    secrets, their keys, IVs and finished keys; derived salt, master secret, data secrets, their
    keys and IVs, export master secret), and its four AEAD contexts with their IVs (request and
    response handshake, request and response data)."""
    size, name = 48, "sha384"
    contexts = []
    prk = hmac.digest(bytes(size), shared_secret, name)
    for th, base in ((th1_digest, prk), (th2_digest, None)):
        if base is None:
            salt = hmac.digest(prk, b"\x30\x00spdm1.1 derived\x01", name)
            base = hmac.digest(salt, bytes(size), name)
            hmac.digest(base, b"\x30\x00spdm1.1 exp master" + th + b"\x01", name)
        for label in (b"req", b"rsp"):
            secret = hmac.digest(base, b"\x30\x00spdm1.1 " + label + b" data" + th + b"\x01", name)
            key = hmac.digest(secret, b"\x20\x00spdm1.1 key\x01", name)[:32]
            contexts.append((AESGCM(key), hmac.digest(secret, b"\x0c\x00spdm1.1 iv\x01", name)[:12]))
            if th is th1_digest:
                hmac.digest(secret, b"\x30\x00spdm1.1 finished\x01", name)
    return contexts


def _crypto_dhe(leaf_key: object, leaf_public: object) -> None:
    """What both sides of one DHE session must compute: two ephemeral keys and agreements, one
    signature made and checked, its digest and three transcript hashes on each side, each side's
    random values and key schedule, four verify-data MACs, and four records (FINISH, FINISH_RSP,
    END_SESSION, END_SESSION_ACK)."""
    dhe, hashes, asym = dhe_suite(DheGroup.SECP_384_R1), hash_suite(HASH), asym_suite(BaseAsymAlgo.ECDSA_P384)
    mine, theirs = dhe.generate(), dhe.generate()
    secret = dhe.shared_secret(mine, dhe.public_bytes(theirs))
    dhe.shared_secret(theirs, dhe.public_bytes(mine))
    transcript = bytes(1200)
    signature = asym.sign(leaf_key, hashes.digest(transcript), hashes)  # type: ignore[arg-type]
    asym.verify(leaf_public, hashes.digest(transcript), signature, hashes)  # type: ignore[arg-type]
    _both_sides(secret, transcript, 32)


def _both_sides(secret: bytes, transcript: bytes, context_size: int) -> None:
    """Each side draws its random values (ReqSessionID and the requester's random data or context;
    the responder's), hashes the transcript three times (TH1; the FINISH or PSK_FINISH verify data's
    transcript; TH2), runs its key schedule and makes or checks both verify-data MACs. Then each of
    the four records is sealed by its sender's context and opened by the receiver's own, each the
    first record of its key (sequence number 0: the nonce is the IV)."""
    hashes = hash_suite(HASH)
    os.urandom(2)
    os.urandom(context_size)
    os.urandom(context_size)
    sides = []
    for _ in range(2):
        th1, th_finish, th2 = hashes.digest(transcript), hashes.digest(transcript), hashes.digest(transcript)
        sides.append(_key_schedule_floor(secret, th1, th2))
        hmac.digest(th1, th1, "sha384")
        hmac.digest(th_finish, th_finish, "sha384")
    requester, responder = sides
    for index, size in enumerate(_RECORD_SIZES):
        sender, receiver = (requester, responder) if index % 2 == 0 else (responder, requester)
        (sealing, iv), (opening, _) = sender[index], receiver[index]
        opening.decrypt(iv, sealing.encrypt(iv, bytes(size), _RECORD_HEADER), _RECORD_HEADER)


def _crypto_psk() -> None:
    """What both sides of one PSK session must compute: their random values, three transcript hashes
    on each side, each side's key schedule from the PSK, four verify-data MACs, and four records."""
    _both_sides(PSK, bytes(400), 48)


def measure() -> dict[str, float]:
    """Seconds of a DHE and of a PSK session (open and close) and of their cryptography alone, and the ratios."""
    requester, _ = _connected()
    chain = requester.verified[0]
    responder_key = demo_config().slots[0].private_key

    def dhe() -> None:
        requester.key_exchange(0).close()

    def psk() -> None:
        requester.psk_exchange().close()

    t_dhe, t_dhe_crypto = per_call_interleaved(dhe, lambda: _crypto_dhe(responder_key, chain.leaf_public_key))
    t_psk, t_psk_crypto = per_call_interleaved(psk, _crypto_psk)
    return {
        "dhe": t_dhe,
        "dhe_crypto": t_dhe_crypto,
        "dhe_vs_crypto": t_dhe / t_dhe_crypto,
        "psk": t_psk,
        "psk_crypto": t_psk_crypto,
        "psk_vs_crypto": t_psk / t_psk_crypto,
    }


def main() -> int:
    f = measure()
    for name, key in (("DHE (secp384r1, ECDSA P-384)", "dhe"), ("PSK", "psk")):
        flow, crypto = f[key], f[f"{key}_crypto"]
        print(
            f"{name:29} session: {flow * 1e3:6.2f} ms; its cryptography alone {crypto * 1e3:6.2f} ms;"
            f" ratio {flow / crypto:.2f} (target <= {TARGETS[key]:g})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
