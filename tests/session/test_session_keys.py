"""The key schedule: bin_str bytes, and every DHE session's libspdm key-schedule values as known answers."""

from __future__ import annotations

import hmac
from pathlib import Path

import pytest
from session_vectors import entry, manifest
from vectors_required import LIBSPDM_VECTORS, absent_param

from spdm.crypto import aead_suite, hash_suite
from spdm.errors import VerificationError
from spdm.messages.codes import AeadAlgorithm, BaseHashAlgo
from spdm.session import KeySchedule, bin_str, check_verify_data, verify_data
from spdm.session.keys import LABEL_KEY, version_label

SHA_384 = hash_suite(BaseHashAlgo.SHA_384)
AES_256 = aead_suite(AeadAlgorithm.AES_256_GCM)

_HASHES = {"SHA_256": BaseHashAlgo.SHA_256, "SHA_384": BaseHashAlgo.SHA_384, "SHA_512": BaseHashAlgo.SHA_512}
_AEADS = {name.name: name for name in AeadAlgorithm}


def test_bin_str5_of_an_aes_256_gcm_key() -> None:
    """DSP0274 1.1 "Key schedule": bin_str5 = BinConcat(32, "spdm1.1 ", "key") for AES-256-GCM."""
    assert bin_str(32, LABEL_KEY, spdm_version=0x11) == bytes.fromhex("2000 7370646d312e3120 6b6579")


def test_bin_str_layout() -> None:
    context = bytes(range(48))
    data = bin_str(0x0130, b"req hs data", context, spdm_version=0x11)
    assert data[:2] == b"\x30\x01"  # little-endian Length (TLS would be big-endian)
    assert data[2:10] == b"spdm1.1 "  # trailing space, from the SPDM version
    assert data[10:] == b"req hs data" + context
    assert version_label(0x12) == b"spdm1.2 "
    assert version_label(0x10) == b"spdm1.0 "
    with pytest.raises(ValueError):
        bin_str(0x10000, b"key", spdm_version=0x11)
    with pytest.raises(ValueError):
        version_label(0x01)


def test_verify_data_is_hmac_and_checked_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    key, digest = bytes(range(48)), bytes(48)
    good = verify_data(SHA_384, key, digest)
    assert good == SHA_384.hmac(key, digest)
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    check_verify_data(SHA_384, key, digest, good)
    assert compared == [(good, good)]
    with pytest.raises(VerificationError):
        check_verify_data(SHA_384, key, digest, bytes(48))
    with pytest.raises(VerificationError):
        check_verify_data(SHA_384, key, digest, good[:-1])


def _dhe_sessions(vectors: Path | None) -> list[tuple[str, int]]:
    if vectors is None or not (vectors / "manifest.json").is_file():
        return []
    return [
        (name, number)
        for name, item in manifest(vectors).items()
        for number, session in enumerate(item["sessions_key_schedule"])
        if "dhe_secret" in session
    ]


def _vectors() -> Path | None:
    """The libspdm vectors (the repository's sibling shared/ folder), for collection-time parameters."""
    return LIBSPDM_VECTORS if LIBSPDM_VECTORS.is_dir() else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per DHE session the manifest lists (so new captures are covered)."""
    if "dhe_session" in metafunc.fixturenames:
        sessions = _dhe_sessions(_vectors())
        params: list[object] = [pytest.param(s, id=f"{s[0]}#{s[1]}") for s in sessions] or [
            absent_param(("", 0), "no libspdm DHE sessions")
        ]
        metafunc.parametrize("dhe_session", params)


def test_key_schedule_known_answers(libspdm_vectors: Path, dhe_session: tuple[str, int]) -> None:
    """From the DHE secret and libspdm's th1/th2: every secret libspdm printed."""
    name, number = dhe_session
    item = entry(libspdm_vectors, name)
    known = item["sessions_key_schedule"][number]
    assert known["dhe_secret"] == item["dhe_secrets"][number]
    schedule = KeySchedule(
        hash_suite(_HASHES[item["algorithms"]["Hash"]]),
        aead_suite(_AEADS[item["algorithms"]["AEAD"]]),
        bytes.fromhex(known["dhe_secret"]),
        spdm_version=0x11,
    )
    assert schedule.handshake_secret.hex() == known["handshake_secret"]
    handshake = schedule.handshake(bytes.fromhex(known["th1"]))
    assert handshake.request.secret.hex() == known["request_handshake_secret"]
    assert handshake.response.secret.hex() == known["response_handshake_secret"]
    data = schedule.data(bytes.fromhex(known["th2"]))
    assert schedule.master_secret.hex() == known["master_secret"]
    assert data.request.secret.hex() == known["request_data_secret"]
    assert data.response.secret.hex() == known["response_data_secret"]


def test_key_update_and_traffic_keys_shape() -> None:
    schedule = KeySchedule(SHA_384, AES_256, bytes(48), spdm_version=0x11)
    data = schedule.data(bytes(48))
    updated = schedule.update(data.request)
    assert updated.secret == SHA_384.hmac(data.request.secret, bin_str(48, b"traffic upd", spdm_version=0x11) + b"\x01")
    assert len(updated.key) == 32 and len(updated.iv) == 12
    assert updated.key != data.request.key
    with pytest.raises(ValueError):
        schedule.handshake(bytes(32))


@pytest.mark.parametrize(
    ("version", "psk", "salt_byte"), [(0x13, True, 0xFF), (0x13, False, 0x00), (0x12, True, 0x00), (0x11, True, 0x00)]
)
def test_handshake_secret_salt_is_all_ones_only_for_a_13_psk(version: int, psk: bool, salt_byte: int) -> None:
    """DSP0274 1.3 (libspdm_crypt_key_schedule.c): a PSK's HandshakeSecret is extracted with 0xFF bytes as salt."""
    secret = b"\x42" * 16
    schedule = KeySchedule(SHA_384, AES_256, secret, spdm_version=version, psk=psk)
    assert schedule.handshake_secret == hmac.digest(bytes([salt_byte]) * 48, secret, "sha384")
