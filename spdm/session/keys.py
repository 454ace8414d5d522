"""The SPDM 1.1 key schedule (DSP0274 1.1 section "Key schedule").

Pure functions (`bin_str`, `expand_label`, `verify_data`, `check_verify_data`) and one small
class, `KeySchedule`, that holds the handshake secret and the master secret derived from it and
turns transcript hashes into per-direction `TrafficKeys`. Nothing here sees a message: callers
pass Hash(TH1) and Hash(TH2) from `spdm.session.transcript`.

Derivation (HKDF per RFC 5869 with the negotiated hash)::

    HandshakeSecret = HKDF-Extract(Salt_0, DHE secret or PSK)   Salt_0 = 0^H (1.3 PSK: 0xFF^H)
    {req,rsp}_hs    = HKDF-Expand(HandshakeSecret, bin_str1/2 with Hash(TH1), H)
    MasterSecret    = HKDF-Extract(HKDF-Expand(HandshakeSecret, bin_str0, H), 0^H)
    {req,rsp}_data  = HKDF-Expand(MasterSecret, bin_str3/4 with Hash(TH2), H)
    key, iv         = HKDF-Expand(secret, bin_str5, key size), HKDF-Expand(secret, bin_str6, 12)
    finished_key    = HKDF-Expand(X_hs, bin_str7, H)
    KEY_UPDATE      : secret' = HKDF-Expand(secret, bin_str9, H), then key and iv again

`bin_str` is little-endian and carries the SPDM version ("spdm1.1 " with a trailing space), not
the DSP0277 version, and not TLS 1.3's big-endian HkdfLabel. libspdm keeps the same labels for
every 1.x version.
"""

from __future__ import annotations

import hmac
import struct
from typing import NamedTuple

from spdm.crypto.aead import AeadSuite
from spdm.crypto.hashes import HashSuite
from spdm.crypto.kdf import hkdf_expand, hkdf_extract
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
    "salt_0",
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


_VERSION_LABELS = {version: b"spdm%d.%d " % (version >> 4, version & 0xF) for version in range(0x10, 0x100)}
"""The version prefix of each SPDMVersion byte, major.minor from its two nibbles."""


def version_label(spdm_version: int) -> bytes:
    """The 8-byte version prefix of every bin_str: 0x11 gives b"spdm1.1 " (trailing space included)."""
    label = _VERSION_LABELS.get(spdm_version)
    if label is None:
        raise ValueError(f"an SPDM version byte such as 0x11, got {spdm_version!r}")
    return label


def bin_str(length: int, label: bytes, context: bytes = b"", *, spdm_version: int) -> bytes:
    """BinConcat: u16 LE Length || "spdm1.1 " || Label || Context (DSP0274 1.1 section "Key schedule")."""
    if not 0 <= length <= 0xFFFF:
        raise ValueError(f"bin_str Length must fit 16 bits, got {length}")
    return _LENGTH.pack(length) + version_label(spdm_version) + label + context


def expand_label(
    hash_suite: HashSuite, secret: bytes, label: bytes, length: int, context: bytes = b"", *, spdm_version: int
) -> bytes:
    """HKDF-Expand(secret, bin_str(length, label, context), length): every derivation step of the schedule."""
    return hkdf_expand(hash_suite, secret, bin_str(length, label, context, spdm_version=spdm_version), length)


def salt_0(hash_suite: HashSuite, spdm_version: int, *, psk: bool) -> bytes:
    """The salt HandshakeSecret is extracted with: H zero bytes, except for a PSK from 1.3, where it
    is H bytes of 0xFF (DSP0274 1.3 "Key schedule"; libspdm_crypt_key_schedule.c and the sample
    device's libspdm_psk_handshake_secret_hkdf_expand)."""
    return bytes([0xFF if psk and spdm_version >= 0x13 else 0]) * hash_suite.size


def verify_data(hash_suite: HashSuite, finished_key: bytes, th_digest: bytes) -> bytes:
    """RequesterVerifyData / ResponderVerifyData = HMAC(finished_key, Hash(TH))."""
    return hash_suite.hmac(finished_key, th_digest)


def check_verify_data(hash_suite: HashSuite, finished_key: bytes, th_digest: bytes, received: bytes) -> None:
    """Compare received verify data with the expected HMAC in constant time; `VerificationError` if they differ."""
    if not hmac.compare_digest(verify_data(hash_suite, finished_key, th_digest), bytes(received)):
        raise VerificationError("the verify data (HMAC of the transcript hash) does not match")


def _sizes(**secrets: bytes) -> str:
    """Each secret's size only, for a repr: a log line or a traceback must not carry keys."""
    return ", ".join(f"{name}=<{len(value)} bytes>" for name, value in secrets.items())


class TrafficKeys(NamedTuple):
    """One direction's secret of one phase, and the AEAD key and IV derived from it."""

    secret: bytes
    key: bytes
    iv: bytes

    def __repr__(self) -> str:
        return f"TrafficKeys({_sizes(secret=self.secret, key=self.key, iv=self.iv)})"


class HandshakeSecrets(NamedTuple):
    """What Hash(TH1) unlocks: handshake traffic keys (FINISH, PSK_FINISH, encapsulated mut auth) and finished keys."""

    request: TrafficKeys
    response: TrafficKeys
    request_finished_key: bytes
    response_finished_key: bytes

    def __repr__(self) -> str:
        finished = _sizes(
            request_finished_key=self.request_finished_key, response_finished_key=self.response_finished_key
        )
        return f"HandshakeSecrets(request={self.request!r}, response={self.response!r}, {finished})"


class DataSecrets(NamedTuple):
    """What Hash(TH2) unlocks: the application-phase traffic keys."""

    request: TrafficKeys
    response: TrafficKeys


class KeySchedule:
    """The secrets of one session, from the DHE shared secret (or the PSK) to the data keys.

    Construct it with the shared secret as soon as it is known; `handshake(th1)` and `data(th2)`
    may each be called when the transcript hash is ready. `update(keys)` is KEY_UPDATE for one
    direction. The object holds only the handshake and master secrets; traffic keys are returned.
    Every step is `expand_label` with the label the module docstring lists, and only what a session
    uses is derived (`export_master_secret`, which neither role needs, on request).

    The object holds nothing of one session: from a PSK it is the same for every PSK session of a
    connection (the PSK and the negotiated hash, AEAD and version fix it), so each side makes it once
    per connection and PSK, and every handshake starts from its handshake and master secrets.
    """

    __slots__ = (
        "_master_secret",
        "aead",
        "handshake_secret",
        "hash_suite",
        "spdm_version",
    )

    def __init__(
        self, hash_suite: HashSuite, aead: AeadSuite, shared_secret: bytes, *, spdm_version: int, psk: bool = False
    ) -> None:
        """`shared_secret` is the DHE secret (ECDH X coordinate, or the left-padded FFDHE value) or,
        with `psk`, the PSK."""
        version_label(spdm_version)  # a version byte that names no SPDM version fails here, not at the first key
        self.hash_suite = hash_suite
        self.aead = aead
        self.spdm_version = spdm_version
        self.handshake_secret = hkdf_extract(
            hash_suite, salt_0(hash_suite, spdm_version, psk=psk), bytes(shared_secret)
        )
        self._master_secret: bytes | None = None

    @property
    def master_secret(self) -> bytes:
        """MasterSecret = HKDF-Extract(salt = HKDF-Expand(HandshakeSecret, bin_str0, H), IKM = 0^H)."""
        if self._master_secret is None:
            suite = self.hash_suite
            salt = expand_label(suite, self.handshake_secret, LABEL_DERIVED, suite.size, spdm_version=self.spdm_version)
            self._master_secret = hkdf_extract(suite, salt, bytes(suite.size))
        return self._master_secret

    def traffic_keys(self, secret: bytes) -> TrafficKeys:
        """The AEAD key (bin_str5) and IV (bin_str6) of a handshake or data secret."""
        suite, version = self.hash_suite, self.spdm_version
        key = expand_label(suite, secret, LABEL_KEY, self.aead.key_size, spdm_version=version)
        iv = expand_label(suite, secret, LABEL_IV, self.aead.iv_size, spdm_version=version)
        return TrafficKeys(secret, key, iv)

    def finished_key(self, handshake_secret: bytes) -> bytes:
        """The HMAC key for verify data (bin_str7), from a request or response handshake secret."""
        suite = self.hash_suite
        return expand_label(suite, handshake_secret, LABEL_FINISHED, suite.size, spdm_version=self.spdm_version)

    def handshake(self, th1_digest: bytes) -> HandshakeSecrets:
        """Handshake keys and finished keys from Hash(TH1)."""
        self._check_digest(th1_digest)
        suite, version, secret = self.hash_suite, self.spdm_version, self.handshake_secret
        request = expand_label(suite, secret, LABEL_REQUEST_HANDSHAKE, suite.size, th1_digest, spdm_version=version)
        response = expand_label(suite, secret, LABEL_RESPONSE_HANDSHAKE, suite.size, th1_digest, spdm_version=version)
        return HandshakeSecrets(
            request=self.traffic_keys(request),
            response=self.traffic_keys(response),
            request_finished_key=self.finished_key(request),
            response_finished_key=self.finished_key(response),
        )

    def data(self, th2_digest: bytes) -> DataSecrets:
        """Data keys from Hash(TH2)."""
        self._check_digest(th2_digest)
        suite, version, master = self.hash_suite, self.spdm_version, self.master_secret
        request = expand_label(suite, master, LABEL_REQUEST_DATA, suite.size, th2_digest, spdm_version=version)
        response = expand_label(suite, master, LABEL_RESPONSE_DATA, suite.size, th2_digest, spdm_version=version)
        return DataSecrets(request=self.traffic_keys(request), response=self.traffic_keys(response))

    def export_master_secret(self, th2_digest: bytes) -> bytes:
        """libspdm's export master secret (bin_str8 "exp master" with Hash(TH2)), for exporting keys."""
        self._check_digest(th2_digest)
        suite = self.hash_suite
        return expand_label(
            suite, self.master_secret, LABEL_EXPORT_MASTER, suite.size, th2_digest, spdm_version=self.spdm_version
        )

    def update(self, keys: TrafficKeys) -> TrafficKeys:
        """KEY_UPDATE for one direction: the next data secret (bin_str9 "traffic upd") and its key and IV."""
        suite = self.hash_suite
        secret = expand_label(suite, keys.secret, LABEL_TRAFFIC_UPDATE, suite.size, spdm_version=self.spdm_version)
        return self.traffic_keys(secret)

    def verify_data(self, finished_key: bytes, th_digest: bytes) -> bytes:
        """HMAC(finished_key, Hash(TH))."""
        return verify_data(self.hash_suite, finished_key, th_digest)

    def check_verify_data(self, finished_key: bytes, th_digest: bytes, received: bytes) -> None:
        """Constant-time check of received verify data; `VerificationError` on a mismatch."""
        check_verify_data(self.hash_suite, finished_key, th_digest, received)

    def _check_digest(self, digest: bytes) -> None:
        if len(digest) != self.hash_suite.size:
            raise ValueError(
                f"a {self.hash_suite.name} transcript hash is {self.hash_suite.size} bytes, got {len(digest)}"
            )
