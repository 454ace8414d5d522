"""libspdm's sample device key-pair table and the y2_ capture's key-pair records, for the key-pair tests."""

from __future__ import annotations

import json
from pathlib import Path

from spdm.capture import CaptureSecrets, messages, read_pcap
from spdm.messages import Message, encode
from spdm.messages.codes import KeyPairAsymAlgo, KeyPairCapability, KeyUsage
from spdm.negotiated import Negotiated
from spdm.responder import KeyPair
from spdm.verify import SessionReplayer

Y2 = "y2_mel_epinfo_keypairinfo_multikey_v13"

_RSA = bytes.fromhex("300d06092a864886f70d0101010500")
_ALGORITHM_IDENTIFIERS = (  # os_stub/spdm_device_secret_lib_sample/key_pair.c, one per traditional algorithm
    (KeyPairAsymAlgo.RSA2048, _RSA),
    (KeyPairAsymAlgo.RSA3072, _RSA),
    (KeyPairAsymAlgo.RSA4096, _RSA),
    (KeyPairAsymAlgo.ECC256, bytes.fromhex("301306072a8648ce3d020106082a8648ce3d030107")),
    (KeyPairAsymAlgo.ECC384, bytes.fromhex("301006072a8648ce3d020106052b81040022")),
    (KeyPairAsymAlgo.ECC521, bytes.fromhex("301006072a8648ce3d020106052b81040023")),
    (KeyPairAsymAlgo.SM2, bytes.fromhex("301306072a8648ce3d020106082a811ccf5501822d")),
    (KeyPairAsymAlgo.ED25519, bytes.fromhex("300506032b6570")),
    (KeyPairAsymAlgo.ED448, bytes.fromhex("300506032b6571")),
)
_ML_DSA = tuple(bytes.fromhex(f"300a06096086480165030403{oid_tail:02x}") for oid_tail in (0x11, 0x12, 0x13))


def libspdm_sample_key_pairs() -> tuple[KeyPair, ...]:
    """key_pair.c `libspdm_init_key_pair_info` of the build that made the captures: a primary key pair
    per algorithm (9 traditional, 3 ML-DSA, whose current algorithm is PQC and so 0 in the 1.3
    fields) backing slots 0 and 1, then a secondary of each backing slot 4: TotalKeyPairs 24."""

    def pair(algo: int, info: bytes, mask: int) -> KeyPair:
        return KeyPair(
            capabilities=KeyPairCapability.DEFINED,
            key_usage_capabilities=KeyUsage.KEY_EXCHANGE,
            current_key_usage=KeyUsage.KEY_EXCHANGE,
            asym_algo_capabilities=KeyPairAsymAlgo.DEFINED,
            current_asym_algo=algo,
            assoc_cert_slot_mask=mask,
            public_key_info=info,
        )

    primaries = [pair(algo, info, 0x03) for algo, info in _ALGORITHM_IDENTIFIERS]
    primaries += [pair(0, info, 0x03) for info in _ML_DSA]
    secondaries = [pair(p.current_asym_algo, p.public_key_info, 0x10) for p in primaries]
    return tuple(primaries + secondaries)


def y2_records(vectors: Path) -> tuple[Negotiated, list[tuple[int, Message, bytes]]]:
    """y2's negotiation and every clear or decrypted message with its record index and exact SPDM bytes."""
    entry = next(e for e in json.loads((vectors / "manifest.json").read_text())["vectors"] if e["name"] == Y2)
    replayer = SessionReplayer(CaptureSecrets(dhe_secrets=tuple(bytes.fromhex(s) for s in entry["dhe_secrets"])))
    seen = []
    for item in messages(read_pcap(vectors / Y2 / "requester.pcap")):
        record = replayer.feed(item)
        if record is not None and record.message is not None and record.secured:
            seen.append((record.index, record.message, encode(record.message)))
        elif item.kind == "spdm" and item.message is not None:
            seen.append((item.index, item.message, item.data))
    assert replayer.negotiated is not None
    return replayer.negotiated, seen
