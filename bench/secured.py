"""Secured-message throughput: seal and open 4 KiB application messages in a DOE session (AES-256-GCM),
against `cryptography`'s AESGCM encrypt and decrypt of the same 4 KiB in the same run.

A third figure is the framing floor: the least any DSP0277 record costs on this AEAD API, with no
check at all (pack the header, prepend AppDataLength, encrypt, prepend the header; slice, decrypt,
strip AppDataLength). It shows how much of the gap to raw AEAD is the record format itself.

Run: python bench/secured.py
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import per_call_interleaved
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from spdm.crypto import aead_suite
from spdm.messages.codes import AeadAlgorithm
from spdm.session.keys import TrafficKeys
from spdm.session.secured import SecuredSession

SIZE = 4096


def measure() -> dict[str, float]:
    """Seconds per 4 KiB seal+open, ours and raw AESGCM, and our rate as a fraction of the raw rate."""
    suite = aead_suite(AeadAlgorithm.AES_256_GCM)
    keys = TrafficKeys(secret=bytes(48), key=os.urandom(32), iv=os.urandom(12))
    sender = SecuredSession.from_keys(role="requester", session_id=0xFFFFFFFE, aead=suite, request=keys, response=keys)
    receiver = SecuredSession.from_keys(
        role="responder", session_id=0xFFFFFFFE, aead=suite, request=keys, response=keys
    )
    message = os.urandom(SIZE)

    def ours() -> None:
        receiver.open(sender.seal(message))

    raw_cipher = AESGCM(keys.key)
    nonce, aad = os.urandom(12), os.urandom(6)

    def raw() -> None:
        raw_cipher.decrypt(nonce, raw_cipher.encrypt(nonce, message, aad), aad)

    iv = int.from_bytes(keys.iv, "little")
    header, length = struct.Struct("<IH"), struct.Struct("<H")
    sequence = [0]

    def floor() -> None:
        nonce = (iv ^ sequence[0]).to_bytes(12, "little")
        sequence[0] += 1
        aad = header.pack(0xFFFFFFFE, SIZE + 18)
        record = aad + raw_cipher.encrypt(nonce, length.pack(SIZE) + message, aad)
        raw_cipher.decrypt(nonce, record[6:], record[:6])[2:]

    t_ours, t_raw, t_floor = per_call_interleaved(ours, raw, floor)
    return {
        "secured": t_ours,
        "raw_aead": t_raw,
        "framing_floor": t_floor,
        "secured_vs_raw_aead": t_raw / t_ours,
        "floor_vs_raw_aead": t_raw / t_floor,
    }


def main() -> int:
    f = measure()
    t_ours, t_raw = f["secured"], f["raw_aead"]
    rate, raw_rate = SIZE / t_ours / 2**20, SIZE / t_raw / 2**20
    print(f"secured message seal+open, 4 KiB, AES-256-GCM over DOE: {rate:8.1f} MiB/s ({t_ours * 1e6:.1f} us)")
    print(f"raw AESGCM encrypt+decrypt of the same 4 KiB:            {raw_rate:8.1f} MiB/s ({t_raw * 1e6:.1f} us)")
    print(f"framing floor (DSP0277 record, no checks):              {SIZE / f['framing_floor'] / 2**20:8.1f} MiB/s")
    print(f"ratio: {t_raw / t_ours:.2f} of the raw rate (no target: issue 13); the framing floor reaches"
          f" {f['floor_vs_raw_aead']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
