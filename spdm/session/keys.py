"""The SPDM 1.1 key schedule (DSP0274 section "Key schedule"; SPDM_NOTES section 5).

Pure functions (`bin_str`, `expand_label`, `verify_data`, `check_verify_data`) and one small
class, `KeySchedule`, that holds the handshake secret and the master secret derived from it and
turns transcript hashes into per-direction `TrafficKeys`. Nothing here sees a message: callers
pass Hash(TH1) and Hash(TH2) from `spdm.session.transcript`.

Derivation (HKDF per RFC 5869 with the negotiated hash)::

    HandshakeSecret = HKDF-Extract(0^H, DHE secret or PSK)
    {req,rsp}_hs    = HKDF-Expand(HandshakeSecret, bin_str1/2 with Hash(TH1), H)
    MasterSecret    = HKDF-Extract(HKDF-Expand(HandshakeSecret, bin_str0, H), 0^H)
    {req,rsp}_data  = HKDF-Expand(MasterSecret, bin_str3/4 with Hash(TH2), H)
    key, iv         = HKDF-Expand(secret, bin_str5, key size), HKDF-Expand(secret, bin_str6, 12)
    finished_key    = HKDF-Expand(X_hs, bin_str7, H)
    KEY_UPDATE      : secret' = HKDF-Expand(secret, bin_str9, H), then key and iv again

`bin_str` is little-endian and carries the SPDM version ("spdm1.1 " with a trailing space), not
the DSP0277 version (mistake 10). libspdm keeps the same labels for every 1.x version.
"""

from __future__ import annotations

import functools
import hmac
import struct
from typing import NamedTuple, NoReturn

from spdm.crypto.aead import AeadSuite
from spdm.crypto.hashes import HashSuite
from spdm.crypto.kdf import hkdf_expand
from spdm.errors import VerificationError

__all__ = [
    "LABEL_DERIVED",
    "LABEL_EXPORT_MASTER",
    "LABEL_FINISHED",
    "LABEL_IV",
    "LABEL_KEY",
    "LABEL_REQUEST_DATA",
    "LABEL_REQUEST_HANDSHAKE",
    "LABEL_RESPONSE_DATA",
    "LABEL_RESPONSE_HANDSHAKE",
    "LABEL_TRAFFIC_UPDATE",
    "DataSecrets",
    "HandshakeSecrets",
    "KeySchedule",
    "TrafficKeys",
    "bin_str",
    "check_verify_data",
    "expand_label",
    "verify_data",
    "version_label",
]

LABEL_DERIVED = b"derived"
LABEL_REQUEST_HANDSHAKE = b"req hs data"
LABEL_RESPONSE_HANDSHAKE = b"rsp hs data"
LABEL_REQUEST_DATA = b"req app data"
LABEL_RESPONSE_DATA = b"rsp app data"
LABEL_KEY = b"key"
LABEL_IV = b"iv"
LABEL_FINISHED = b"finished"
LABEL_EXPORT_MASTER = b"exp master"
LABEL_TRAFFIC_UPDATE = b"traffic upd"

_LENGTH = struct.Struct("<H")
_FIRST_BLOCK = b"\x01"  # HKDF-Expand's counter for T(1)
_hmac_digest = hmac.digest  # the one HMAC call of every derivation, read once (no module attribute per call)
_MISMATCH = "the verify data (HMAC of the transcript hash) does not match"
_tuple_new = tuple.__new__
"""Builds the schedule's named tuples without their generated `__new__`, a Python call (about 85 ns each)."""


def version_label(spdm_version: int) -> bytes:
    """The 8-byte version prefix of every bin_str: 0x11 gives b"spdm1.1 " (trailing space included)."""
    if not 0x10 <= spdm_version <= 0xFF:
        raise ValueError(f"an SPDM version byte such as 0x11, got {spdm_version!r}")
    return f"spdm{spdm_version >> 4}.{spdm_version & 0xF} ".encode("ascii")


def bin_str(length: int, label: bytes, context: bytes = b"", *, spdm_version: int) -> bytes:
    """BinConcat: u16 LE Length || "spdm1.1 " || Label || Context (SPDM_NOTES section 5)."""
    if not 0 <= length <= 0xFFFF:
        raise ValueError(f"bin_str Length must fit 16 bits, got {length}")
    return _LENGTH.pack(length) + version_label(spdm_version) + label + context


def expand_label(
    hash_suite: HashSuite, secret: bytes, label: bytes, length: int, context: bytes = b"", *, spdm_version: int
) -> bytes:
    """HKDF-Expand(secret, bin_str(length, label, context), length): every derivation step of the schedule."""
    return hkdf_expand(hash_suite, secret, bin_str(length, label, context, spdm_version=spdm_version), length)


def verify_data(hash_suite: HashSuite, finished_key: bytes, th_digest: bytes) -> bytes:
    """RequesterVerifyData / ResponderVerifyData = HMAC(finished_key, Hash(TH))."""
    return hash_suite.hmac(finished_key, th_digest)


def check_verify_data(hash_suite: HashSuite, finished_key: bytes, th_digest: bytes, received: bytes) -> None:
    """Compare received verify data with the expected HMAC in constant time; `VerificationError` if they differ."""
    if not hmac.compare_digest(verify_data(hash_suite, finished_key, th_digest), bytes(received)):
        raise VerificationError(_MISMATCH)


class TrafficKeys(NamedTuple):
    """One direction's secret of one phase, and the AEAD key and IV derived from it.

    The schedule's results are named tuples: immutable, and made several times per handshake on
    each side, where a frozen dataclass costs twice as much to build.
    """

    secret: bytes
    key: bytes
    iv: bytes


class HandshakeSecrets(NamedTuple):
    """What Hash(TH1) unlocks: handshake traffic keys (FINISH, PSK_FINISH, encapsulated mut auth) and finished keys."""

    request: TrafficKeys
    response: TrafficKeys
    request_finished_key: bytes
    response_finished_key: bytes


class DataSecrets(NamedTuple):
    """What Hash(TH2) unlocks: the application-phase traffic keys (and libspdm's export master secret)."""

    request: TrafficKeys
    response: TrafficKeys
    export_master_secret: bytes


class _BinStrs(NamedTuple):
    """The sizes of one (SPDM version, hash, AEAD) and the bin_str of every label, each followed by
    HKDF-Expand's block counter 0x01; the five that take a transcript hash are prefixes, the hash and
    0x01 go after them."""

    hash_size: int
    key_cut: slice
    """HMAC output to AEAD key: its first key-size bytes (a slice made once, not per derivation)."""
    iv_cut: slice
    zeros: bytes
    """HKDF-Extract's salt (and the master secret's IKM): 0^H."""
    derived: bytes
    key: bytes
    iv: bytes
    finished: bytes
    traffic_update: bytes
    request_handshake: bytes
    response_handshake: bytes
    request_data: bytes
    response_data: bytes
    export_master: bytes


@functools.lru_cache(maxsize=32)
def _bin_strs(spdm_version: int, hash_size: int, key_size: int, iv_size: int) -> _BinStrs:
    """Made once per algorithm choice rather than per derivation (a handshake derives 18 times per side)."""

    def info(length: int, label: bytes) -> bytes:
        return bin_str(length, label, spdm_version=spdm_version)

    return _BinStrs(
        hash_size=hash_size,
        key_cut=slice(key_size),
        iv_cut=slice(iv_size),
        zeros=bytes(hash_size),
        derived=info(hash_size, LABEL_DERIVED) + _FIRST_BLOCK,
        key=info(key_size, LABEL_KEY) + _FIRST_BLOCK,
        iv=info(iv_size, LABEL_IV) + _FIRST_BLOCK,
        finished=info(hash_size, LABEL_FINISHED) + _FIRST_BLOCK,
        traffic_update=info(hash_size, LABEL_TRAFFIC_UPDATE) + _FIRST_BLOCK,
        request_handshake=info(hash_size, LABEL_REQUEST_HANDSHAKE),
        response_handshake=info(hash_size, LABEL_RESPONSE_HANDSHAKE),
        request_data=info(hash_size, LABEL_REQUEST_DATA),
        response_data=info(hash_size, LABEL_RESPONSE_DATA),
        export_master=info(hash_size, LABEL_EXPORT_MASTER),
    )


def _traffic_keys(secret: bytes, bins: _BinStrs, name: str) -> TrafficKeys:
    """`KeySchedule.traffic_keys` with the schedule's bin_strs and HMAC name at hand (the handshake
    and data steps have them in locals already)."""
    key = _hmac_digest(secret, bins.key, name)[bins.key_cut]
    return _tuple_new(TrafficKeys, (secret, key, _hmac_digest(secret, bins.iv, name)[bins.iv_cut]))


class KeySchedule:
    """The secrets of one session, from the DHE shared secret (or the PSK) to the data keys.

    Construct it with the shared secret as soon as it is known; `handshake(th1)` and `data(th2)`
    may each be called when the transcript hash is ready. `update(keys)` is KEY_UPDATE for one
    direction. The object holds only the handshake and master secrets; traffic keys are returned.

    Every output (a secret, key or IV) is at most one hash block, so each HKDF-Expand is a single
    HMAC(secret, bin_str || 0x01) truncated to its length, made with `hmac.digest` directly: the
    schedule is most of a PSK handshake's cryptography.
    """

    __slots__ = ("_bin", "_hmac_name", "_master_secret", "aead", "handshake_secret", "hash_suite", "spdm_version")

    def __init__(self, hash_suite: HashSuite, aead: AeadSuite, shared_secret: bytes, *, spdm_version: int) -> None:
        """`shared_secret` is the DHE secret (ECDH X coordinate, or the left-padded FFDHE value) or the PSK."""
        if aead.key_size > hash_suite.size or aead.iv_size > hash_suite.size:
            raise ValueError(f"{aead.name} keys and IVs must fit one {hash_suite.name} block")
        self._bin = bins = _bin_strs(spdm_version, hash_suite.size, aead.key_size, aead.iv_size)
        self._hmac_name = name = hash_suite.hashlib_name
        self.hash_suite = hash_suite
        self.aead = aead
        self.spdm_version = spdm_version
        # HKDF-Extract(salt = 0^H, IKM)
        self.handshake_secret = _hmac_digest(bins.zeros, bytes(shared_secret), name)
        self._master_secret: bytes | None = None

    @property
    def master_secret(self) -> bytes:
        """MasterSecret = HKDF-Extract(salt = HKDF-Expand(HandshakeSecret, bin_str0, H), IKM = 0^H)."""
        if self._master_secret is None:
            bins, name = self._bin, self._hmac_name
            salt = _hmac_digest(self.handshake_secret, bins.derived, name)
            self._master_secret = _hmac_digest(salt, bins.zeros, name)
        return self._master_secret

    def traffic_keys(self, secret: bytes) -> TrafficKeys:
        """The AEAD key (bin_str5) and IV (bin_str6) of a handshake or data secret."""
        return _traffic_keys(secret, self._bin, self._hmac_name)

    def finished_key(self, handshake_secret: bytes) -> bytes:
        """The HMAC key for verify data (bin_str7), from a request or response handshake secret."""
        return _hmac_digest(handshake_secret, self._bin.finished, self._hmac_name)

    def handshake(self, th1_digest: bytes) -> HandshakeSecrets:
        """Handshake keys and finished keys from Hash(TH1)."""
        bins, name = self._bin, self._hmac_name
        if len(th1_digest) != bins.hash_size:
            self._wrong_digest(th1_digest)
        context, secret = th1_digest + _FIRST_BLOCK, self.handshake_secret
        request = _hmac_digest(secret, bins.request_handshake + context, name)
        response = _hmac_digest(secret, bins.response_handshake + context, name)
        return _tuple_new(
            HandshakeSecrets,
            (
                _traffic_keys(request, bins, name),
                _traffic_keys(response, bins, name),
                _hmac_digest(request, bins.finished, name),
                _hmac_digest(response, bins.finished, name),
            ),
        )

    def data(self, th2_digest: bytes) -> DataSecrets:
        """Data keys from Hash(TH2)."""
        bins, name = self._bin, self._hmac_name
        if len(th2_digest) != bins.hash_size:
            self._wrong_digest(th2_digest)
        context, master = th2_digest + _FIRST_BLOCK, self.master_secret
        return _tuple_new(
            DataSecrets,
            (
                _traffic_keys(_hmac_digest(master, bins.request_data + context, name), bins, name),
                _traffic_keys(_hmac_digest(master, bins.response_data + context, name), bins, name),
                _hmac_digest(master, bins.export_master + context, name),
            ),
        )

    def update(self, keys: TrafficKeys) -> TrafficKeys:
        """KEY_UPDATE for one direction: the next data secret (bin_str9 "traffic upd") and its key and IV."""
        return self.traffic_keys(_hmac_digest(keys.secret, self._bin.traffic_update, self._hmac_name))

    def verify_data(self, finished_key: bytes, th_digest: bytes) -> bytes:
        """HMAC(finished_key, Hash(TH))."""
        return _hmac_digest(finished_key, th_digest, self._hmac_name)

    def check_verify_data(self, finished_key: bytes, th_digest: bytes, received: bytes) -> None:
        """Constant-time check of received verify data; `VerificationError` on a mismatch."""
        if not hmac.compare_digest(_hmac_digest(finished_key, th_digest, self._hmac_name), bytes(received)):
            raise VerificationError(_MISMATCH)

    def _wrong_digest(self, digest: bytes) -> NoReturn:
        raise ValueError(f"a {self.hash_suite.name} transcript hash is {self.hash_suite.size} bytes, got {len(digest)}")
