"""DSP0277 secured messages: one AEAD context per direction, sealing and opening records.

Record layout (DSP0277 1.1, the secured message and its AEAD), N = 0 bytes of sequence number for
PCI DOE, 2 for MCTP::

    ENC+AUTH   SessionID u32 | Seq[N] | Length u16 | AEAD(AppDataLength u16 | AppData | padding) | MAC[16]
    AUTH only  SessionID u32 | Seq[N] | Length u16 | AppData | MAC[16]      (MAC over everything before it)

AppData is the SPDM message itself over DOE and 0x05 (the MCTP type of SPDM) then the message over
MCTP, where the sender also adds 1..32 random padding bytes (libspdm's choice), drawn from the
injected random source (`random_padding`) or given by a padding source.

The nonce is the direction's IV with the 64-bit sequence number XORed in little-endian at the low
indices (libspdm's default and the rule of DSP0277 1.2; confirmed against every libspdm capture).
Each direction counts from 0 per key; a KEY_UPDATE or the switch from handshake to data keys
installs a new `DirectionState` (`rekeyed`).

Every check runs before any state changes: a record that fails to open (wrong session, bad
framing, stale or replayed sequence number, bad tag) raises and leaves the context as it was, so
the next genuine record still opens. Framing is hand-written with precompiled `struct.Struct`s:
this is the data path.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final, Literal

from cryptography.exceptions import InvalidTag

from spdm.crypto.aead import AEAD_TAG_SIZE, AeadSuite
from spdm.errors import DecodeError, EncodeError, ProtocolError, VerificationError
from spdm.messages.codes import Code, ErrorCode
from spdm.session.keys import TrafficKeys
from spdm.transport.mctp import MCTP_TYPE_SPDM

__all__ = [
    "CLEAR_HANDSHAKE",
    "MAX_SEQUENCE_NUMBER",
    "MCTP",
    "PCI_DOE",
    "SECURED_MESSAGE_VERSIONS",
    "SECURED_TRANSPORTS",
    "DirectionState",
    "PaddingSource",
    "Role",
    "SecuredSession",
    "SecuredSessions",
    "SecuredTransport",
    "SequenceNumberExhausted",
    "check_secured_message_versions",
    "joined_session_id",
    "random_padding",
    "secured_transport",
    "session_id_halves",
    "session_id_of",
    "travels_in_the_clear",
]

_NAME = "SECURED_MESSAGE"

SECURED_MESSAGE_VERSIONS = (0x1000, 0x1100, 0x1200)
"""The DSP0277 versions (version number entries: 0x1100 is 1.1) both roles offer and select among by
default, as libspdm does (it selects 1.2 even at SPDM 1.1)."""


def check_secured_message_versions(versions: tuple[int, ...]) -> None:
    """`ValueError` unless `versions` (a configuration's) lists one or more u16 version number entries."""
    if not versions or any(not 0 < v <= 0xFFFF for v in versions):
        raise ValueError(f"secured_message_versions {versions!r}: give u16 version entries")


CLEAR_HANDSHAKE: frozenset[Code] = frozenset(
    {Code.FINISH, Code.GET_ENCAPSULATED_REQUEST, Code.DELIVER_ENCAPSULATED_RESPONSE}
)
"""The handshake requests of a session that negotiated HANDSHAKE_IN_THE_CLEAR, which travel in the clear
(DSP0274 "HANDSHAKE_IN_THE_CLEAR_CAP": FINISH and the encapsulated mutual-authentication flow)."""


_CLEAR_HANDSHAKE_MESSAGES = CLEAR_HANDSHAKE | {request.response_code for request in CLEAR_HANDSHAKE}


def travels_in_the_clear(code: Code) -> bool:
    """Whether a message of a HANDSHAKE_IN_THE_CLEAR session's handshake travels in the clear: the
    requests of `CLEAR_HANDSHAKE` and their responses."""
    return code in _CLEAR_HANDSHAKE_MESSAGES


MAX_SEQUENCE_NUMBER = (1 << 64) - 1
"""A context refuses to seal or open at this sequence number (libspdm's limit): a KEY_UPDATE or a new session is due."""

PaddingSource = Callable[[], bytes]
"""Returns the random padding for one record (MCTP: 1..32 bytes)."""

Role = Literal["requester", "responder"]

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_SIMPLE_OVERHEAD = 2 + AEAD_TAG_SIZE  # AppDataLength and MAC around the message
_MAX_SIMPLE_APP_SIZE = 0xFFFF - _SIMPLE_OVERHEAD


class SequenceNumberExhausted(ProtocolError):
    """The direction's 64-bit sequence number reached 2^64 - 1: no record may be sealed or opened with this key."""

    def __init__(self, operation: str) -> None:
        super().__init__(
            ErrorCode.DecryptError if operation == "open" else ErrorCode.Unspecified,
            f"cannot {operation} a secured message: the sequence number reached 2^64-1, so this key carries no "
            "more records (a KEY_UPDATE must come before; now only a new session)",
        )


_SEQUENCE_NUMBER_FORMATS = {0: "", 2: "H"}
"""The sequence number in a secured-message header, by its size N (DSP0277 "Secured Messages")."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SecuredTransport:
    """How a transport frames secured messages.

    `sequence_number_size` is N (low bytes of the counter on the wire), `message_type` the
    bytes before the SPDM message inside AppData, `max_random_padding` the most random bytes a
    sender adds (at least one when non-zero), `alignment` the transport's padding granularity:
    `open` accepts only zero bytes up to the next multiple of it after the record (DOE objects
    are whole DWORDs). `header` follows from N: SessionID u32, the sequence number's low N bytes, Length u16.
    """

    name: str
    sequence_number_size: int
    message_type: bytes
    max_random_padding: int
    alignment: int
    header: struct.Struct = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sequence = _SEQUENCE_NUMBER_FORMATS.get(self.sequence_number_size)
        if sequence is None:
            raise ValueError("a secured-message header carries 0 or 2 bytes of sequence number")
        if self.alignment < 1 or not 0 <= self.max_random_padding <= 0xFF:
            raise ValueError("alignment must be at least 1 and random padding at most 255 bytes")
        object.__setattr__(self, "header", struct.Struct(f"<I{sequence}H"))

    @property
    def header_size(self) -> int:
        """SessionID, sequence number and Length: the AAD of ENC+AUTH."""
        return self.header.size


PCI_DOE = SecuredTransport(name="pci-doe", sequence_number_size=0, message_type=b"", max_random_padding=0, alignment=4)
MCTP = SecuredTransport(
    name="mctp",
    sequence_number_size=2,
    message_type=bytes([MCTP_TYPE_SPDM]),
    max_random_padding=32,
    alignment=1,
)
SECURED_TRANSPORTS: dict[str, SecuredTransport] = {PCI_DOE.name: PCI_DOE, MCTP.name: MCTP}

_DOE_HEADER = PCI_DOE.header
_DOE_HEADER_SIZE = _DOE_HEADER.size
_MIN_SIMPLE_RECORD = _DOE_HEADER_SIZE + _SIMPLE_OVERHEAD  # a DOE record of an empty message


def secured_transport(name: str) -> SecuredTransport:
    """The framing for a transport name ("pci-doe" or "mctp", as `spdm.capture` names them)."""
    try:
        return SECURED_TRANSPORTS[name]
    except KeyError:
        raise ValueError(f"no secured-message framing for transport {name!r}") from None


def _no_padding() -> bytes:
    """The padding source of a framing without random padding (PCI DOE): never asked for bytes."""
    return b""


def random_padding(maximum: int = 32, random: Callable[[int], bytes] = os.urandom) -> PaddingSource:
    """A padding source that draws each record's padding from `random` as libspdm does
    (libspdm_secmes_encode_decode.c libspdm_encode_secured_message): a 4-byte little-endian count,
    then (count % maximum) + 1 random bytes. A role passes its configured `random`, so that a
    fixed source gives the same records every run."""
    if not 1 <= maximum <= 255:
        raise ValueError(f"random padding of 1..{maximum} bytes is not supported")

    def pad() -> bytes:
        count = int.from_bytes(random(4), "little") % maximum + 1
        return bytes(random(count))

    return pad


def joined_session_id(rsp_session_id: int, req_session_id: int) -> int:
    """SessionID = RspSessionID << 16 | ReqSessionID: the two halves KEY_EXCHANGE(_RSP) and PSK_EXCHANGE(_RSP) carry."""
    return rsp_session_id << 16 | req_session_id


def session_id_halves(session_id: int) -> tuple[int, int]:
    """(RspSessionID, ReqSessionID) of a SessionID: `joined_session_id` undone."""
    return session_id >> 16, session_id & 0xFFFF


def session_id_of(data: bytes) -> int:
    """The SessionID of a secured record, to find its session; `DecodeError` if there are not 4 bytes."""
    try:
        session_id: int = _U32.unpack_from(data)[0]
    except struct.error:
        truncated = f"truncated: {len(data)} bytes, a secured message starts with 4"
        raise DecodeError(_NAME, "SessionID", truncated) from None
    return session_id


class _Framing:
    """What every context of one session shares: checked once, when its first context is made, and
    never changed, so a key change copies this one reference."""

    __slots__ = ("aead", "encrypt", "factory", "session_id", "simple", "sizes", "transport")

    def __init__(self, session_id: int, aead: AeadSuite, transport: SecuredTransport, encrypt: bool) -> None:
        if not 0 <= session_id <= 0xFFFF_FFFF:
            raise ValueError(f"a SessionID is 32 bits, got {session_id}")
        self.session_id: Final = session_id
        self.aead: Final = aead
        self.transport: Final = transport
        self.encrypt: Final = encrypt
        # what every key change reads: the AEAD's (key size, IV size) and its context factory
        self.sizes: Final = (aead.key_size, aead.iv_size)
        self.factory: Final = aead.factory
        # ENC+AUTH with no sequence bytes, message type or padding (PCI DOE): the path bench/run.py's
        # "secured message seal+open, 4 KiB" figure measures, framed in a few operations.
        self.simple: Final = encrypt and not (
            transport.sequence_number_size or transport.message_type or transport.max_random_padding
        )


class DirectionState:
    """One direction of one session: AEAD key, IV and the 64-bit sequence number of the next record.

    The same object seals (the sender's copy) or opens (the receiver's, or an observer's).
    `encrypt` False is AUTH-only (MAC_CAP without ENCRYPT_CAP). `keys` keeps the `TrafficKeys`
    it was made from, which KEY_UPDATE derives the next ones from. `padding` gives each sealed
    record's random padding when the framing has some; without it the padding is drawn from
    `random` (`random_padding`).
    """

    __slots__ = ("_cipher", "_framing", "_iv", "_padding", "_sequence_number", "keys")

    def __init__(
        self,
        *,
        session_id: int,
        aead: AeadSuite,
        key: bytes,
        iv: bytes,
        transport: SecuredTransport = PCI_DOE,
        encrypt: bool = True,
        padding: PaddingSource | None = None,
        random: Callable[[int], bytes] = os.urandom,
        sequence_number: int = 0,
        keys: TrafficKeys | None = None,
    ) -> None:
        self._framing = _Framing(session_id, aead, transport, encrypt)
        if not 0 <= sequence_number <= MAX_SEQUENCE_NUMBER:
            raise ValueError(f"a sequence number is 64 bits, got {sequence_number}")
        if padding is None:
            maximum = transport.max_random_padding
            padding = random_padding(maximum, random) if maximum else _no_padding
        self._padding = padding
        self._set_keys(key, iv, keys, sequence_number)

    def _set_keys(self, key: bytes, iv: bytes, keys: TrafficKeys | None, sequence_number: int) -> None:
        """The AEAD key, IV and first sequence number: what a key change replaces. Only the bound
        `encrypt` / `decrypt` of `cryptography`'s cipher are kept (no `AeadCipher` wrapper: the data path)."""
        framing = self._framing
        if (len(key), len(iv)) != framing.sizes:
            aead = framing.aead
            raise ValueError(f"{aead.name} needs a {aead.key_size}-byte key and a {aead.iv_size}-byte IV")
        self._cipher = framing.factory(bytes(key))
        self.keys = keys
        self._iv = int.from_bytes(iv, "little")
        self._sequence_number = sequence_number

    @classmethod
    def from_keys(
        cls,
        keys: TrafficKeys,
        *,
        session_id: int,
        aead: AeadSuite,
        transport: SecuredTransport = PCI_DOE,
        encrypt: bool = True,
        padding: PaddingSource | None = None,
        random: Callable[[int], bytes] = os.urandom,
    ) -> DirectionState:
        """A fresh context (sequence number 0) for a direction's handshake or data keys."""
        return cls(
            session_id=session_id,
            aead=aead,
            key=keys.key,
            iv=keys.iv,
            transport=transport,
            encrypt=encrypt,
            padding=padding,
            random=random,
            keys=keys,
        )

    def rekeyed(self, keys: TrafficKeys) -> DirectionState:
        """The context that replaces this one after a key change (KEY_UPDATE, or handshake to data): sequence 0.

        The session's framing and padding source are shared as they are (checked when the first
        context was made); only the keys are new.
        """
        state = DirectionState.__new__(DirectionState)
        state._framing = self._framing
        state._padding = self._padding
        state._set_keys(keys.key, keys.iv, keys, 0)
        return state

    @property
    def session_id(self) -> int:
        """The session's, like `aead`, `transport` and `encrypt`: read from the shared framing."""
        return self._framing.session_id

    @property
    def aead(self) -> AeadSuite:
        return self._framing.aead

    @property
    def transport(self) -> SecuredTransport:
        return self._framing.transport

    @property
    def encrypt(self) -> bool:
        return self._framing.encrypt

    @property
    def sequence_number(self) -> int:
        """The sequence number the next record sealed or opened with this context uses."""
        return self._sequence_number

    def skip(self) -> None:
        """Count one record as gone without opening it: an observer's resynchronisation after a record
        of the capture failed to open (its sender still used the sequence number). Never for a peer."""
        if self._sequence_number >= MAX_SEQUENCE_NUMBER:
            raise SequenceNumberExhausted("open")
        self._sequence_number += 1

    def nonce(self, sequence_number: int) -> bytes:
        """IV XOR the sequence number, little-endian at the low indices (iv[i] ^= seq >> 8i for i < 8)."""
        return (self._iv ^ sequence_number).to_bytes(12, "little")

    # --- sending ----------------------------------------------------------------------------

    def seal(self, app_message: bytes) -> bytes:
        """The secured record carrying `app_message` (one SPDM message); the sequence number advances."""
        sequence_number = self._sequence_number
        if sequence_number >= MAX_SEQUENCE_NUMBER:
            raise SequenceNumberExhausted("seal")
        if self._framing.simple:
            size = len(app_message)
            if size > _MAX_SIMPLE_APP_SIZE:
                raise EncodeError(_NAME, "Length", f"{size} bytes of application data do not fit a secured message")
            aad = _DOE_HEADER.pack(self._framing.session_id, size + _SIMPLE_OVERHEAD)
            sealed = aad + self._cipher.encrypt(
                (self._iv ^ sequence_number).to_bytes(12, "little"), _U16.pack(size) + app_message, aad
            )
        else:
            sealed = self._seal_framed(app_message, sequence_number)
        self._sequence_number = sequence_number + 1
        return sealed

    def _seal_framed(self, app_message: bytes, sequence_number: int) -> bytes:
        """MCTP framing (sequence bytes, message type, random padding) and AUTH-only."""
        framing = self._framing
        transport = framing.transport
        prefix = transport.message_type
        size = len(prefix) + len(app_message)
        encrypt = framing.encrypt
        padding = b""
        maximum = transport.max_random_padding
        if encrypt and maximum:
            padding = self._padding()
            if not 1 <= len(padding) <= maximum:
                raise EncodeError(
                    _NAME, "RandomData", f"{len(padding)} bytes of padding; {transport.name} allows 1..{maximum}"
                )
        length = (2 + size + len(padding) if encrypt else size) + AEAD_TAG_SIZE
        if length > 0xFFFF:
            raise EncodeError(_NAME, "Length", f"{size} bytes of application data do not fit a secured message")
        if transport.sequence_number_size:
            head = transport.header.pack(framing.session_id, sequence_number & 0xFFFF, length)
        else:
            head = transport.header.pack(framing.session_id, length)
        nonce = (self._iv ^ sequence_number).to_bytes(12, "little")
        if encrypt:
            return head + self._cipher.encrypt(nonce, b"".join((_U16.pack(size), prefix, app_message, padding)), head)
        authenticated = b"".join((head, prefix, app_message))
        return authenticated + self._cipher.encrypt(nonce, b"", authenticated)

    # --- receiving --------------------------------------------------------------------------

    def open(self, data: bytes) -> bytes:
        """The SPDM message in a secured record; nothing changes unless it opens.

        `ProtocolError(InvalidSession)` for another session's record, `DecodeError` for framing
        (truncation, lengths, transport padding, AppDataLength, MCTP message type),
        `VerificationError` for a sequence number other than the expected one (MCTP) or a bad
        tag, `SequenceNumberExhausted` at 2^64-1.
        """
        size = len(data)
        if self._framing.simple and size >= _MIN_SIMPLE_RECORD:
            # The common DOE record (exact size, no padding): every check of `_open_framed` in
            # a few operations; anything else takes the general path, which explains the fault.
            sequence_number = self._sequence_number
            if (
                _DOE_HEADER.unpack_from(data) == (self._framing.session_id, size - _DOE_HEADER_SIZE)
                and sequence_number < MAX_SEQUENCE_NUMBER
            ):
                try:
                    plaintext = self._cipher.decrypt(
                        (self._iv ^ sequence_number).to_bytes(12, "little"),
                        data[_DOE_HEADER_SIZE:],
                        data[:_DOE_HEADER_SIZE],
                    )
                except InvalidTag:
                    raise VerificationError(f"secured message: the {self.aead.name} tag does not verify") from None
                if _U16.unpack_from(plaintext)[0] == size - _MIN_SIMPLE_RECORD:
                    self._sequence_number = sequence_number + 1
                    return plaintext[2:]
        return self._open_framed(data)

    def _open_framed(self, data: bytes) -> bytes:
        """Every record: MCTP framing, AUTH-only, DOE padding, and the exact reason a record is refused."""
        framing = self._framing
        transport = framing.transport
        header = transport.header
        header_size = header.size
        total = len(data)
        if total < header_size:
            raise DecodeError(_NAME, "header", f"truncated: {total} bytes, the header needs {header_size}")
        if transport.sequence_number_size:
            session_id, wire_sequence, length = header.unpack_from(data)
        else:
            session_id, length = header.unpack_from(data)
            wire_sequence = 0
        if session_id != framing.session_id:
            raise ProtocolError(
                ErrorCode.InvalidSession,
                f"secured message for session 0x{session_id:08x}, expected 0x{framing.session_id:08x}",
            )
        encrypt = framing.encrypt
        if length < (AEAD_TAG_SIZE + 2 if encrypt else AEAD_TAG_SIZE):
            raise DecodeError(_NAME, "Length", f"{length} bytes cannot hold the record's fixed fields and MAC")
        end = header_size + length
        if total != end:
            if total < end:
                raise DecodeError(
                    _NAME, "Length", f"truncated: Length says {length} bytes, {total - header_size} follow"
                )
            self._check_transport_padding(data, end)
        sequence_number = self._sequence_number
        if sequence_number >= MAX_SEQUENCE_NUMBER:
            raise SequenceNumberExhausted("open")
        if transport.sequence_number_size and wire_sequence != sequence_number & 0xFFFF:
            raise VerificationError(
                f"secured message sequence number 0x{wire_sequence:04x}, expected 0x{sequence_number & 0xFFFF:04x}: "
                "replayed, reordered or lost"
            )
        nonce = (self._iv ^ sequence_number).to_bytes(12, "little")
        try:
            if encrypt:
                plaintext = self._cipher.decrypt(nonce, data[header_size:end], data[:header_size])
            else:
                mac_at = end - AEAD_TAG_SIZE
                self._cipher.decrypt(nonce, data[mac_at:end], data[:mac_at])
        except InvalidTag:
            raise VerificationError(f"secured message: the {framing.aead.name} tag does not verify") from None
        if encrypt:
            (size,) = _U16.unpack_from(plaintext)
            if size > len(plaintext) - 2:
                raise DecodeError(
                    _NAME, "ApplicationDataLength", f"{size} exceeds the {len(plaintext) - 2} decrypted bytes"
                )
            source, start, stop = plaintext, 2, 2 + size
        else:
            source, start, stop = data, header_size, end - AEAD_TAG_SIZE
        prefix = transport.message_type
        if prefix:
            if source[start : start + len(prefix)] != prefix or stop - start < len(prefix):
                kind = source[start : start + 1].hex() or "missing"
                raise DecodeError(_NAME, "MessageType", f"application data is not an SPDM message (type {kind})")
            start += len(prefix)
        app = bytes(source[start:stop])
        self._sequence_number = sequence_number + 1
        return app

    def _check_transport_padding(self, data: bytes, end: int) -> None:
        """Only zero bytes up to the transport's alignment may follow the record (DOE DWORD padding)."""
        alignment = self.transport.alignment
        if len(data) != -(-end // alignment) * alignment or any(data[end:]):
            raise DecodeError(
                _NAME, "", f"{len(data) - end} bytes after the secured message are not {self.transport.name} padding"
            )


class SecuredSession:
    """Both directions of one session as one side sees it: `request` (requester to responder) and `response`.

    A requester seals with `request` and opens with `response`, a responder the reverse
    (`seal`/`open` pick by `role`); an observer opens both directly. `rekey` (data keys after
    FINISH), `rekey_request` and `rekey_response` (KEY_UPDATE) swap in new contexts.
    """

    __slots__ = ("request", "response", "role", "session_id")

    def __init__(self, *, role: Role, request: DirectionState, response: DirectionState) -> None:
        session_id = request._framing.session_id
        if response._framing.session_id != session_id:
            raise ValueError("both directions of a session share its SessionID")
        self.role = role
        self.session_id = session_id
        self.request = request
        self.response = response

    @classmethod
    def from_keys(
        cls,
        *,
        role: Role,
        session_id: int,
        aead: AeadSuite,
        request: TrafficKeys,
        response: TrafficKeys,
        transport: SecuredTransport = PCI_DOE,
        encrypt: bool = True,
        padding: PaddingSource | None = None,
        random: Callable[[int], bytes] = os.urandom,
    ) -> SecuredSession:
        """Contexts for a key pair (handshake or data) at sequence number 0; both directions share
        the framing and the padding source (`padding`, else drawn from `random`)."""
        first = DirectionState(
            session_id=session_id,
            aead=aead,
            key=request.key,
            iv=request.iv,
            transport=transport,
            encrypt=encrypt,
            padding=padding,
            random=random,
            keys=request,
        )
        return cls(role=role, request=first, response=first.rekeyed(response))

    @property
    def outbound(self) -> DirectionState:
        """The direction this side seals with: the requester's requests, the responder's responses."""
        return self.request if self.role == "requester" else self.response

    @property
    def inbound(self) -> DirectionState:
        """The direction this side opens: the peer's."""
        return self.response if self.role == "requester" else self.request

    def seal(self, app_message: bytes) -> bytes:
        """A record from this side."""
        return self.outbound.seal(app_message)

    def open(self, data: bytes) -> bytes:
        """A record from the peer."""
        return self.inbound.open(data)

    def rekey(self, request: TrafficKeys, response: TrafficKeys) -> None:
        """Both directions at once: the switch from handshake to data keys."""
        self.request = self.request.rekeyed(request)
        self.response = self.response.rekeyed(response)

    def rekey_request(self, keys: TrafficKeys) -> None:
        self.request = self.request.rekeyed(keys)

    def rekey_response(self, keys: TrafficKeys) -> None:
        self.response = self.response.rekeyed(keys)


class SecuredSessions:
    """The sessions one side has open, by SessionID: where incoming records are dispatched."""

    __slots__ = ("_sessions",)

    def __init__(self) -> None:
        self._sessions: dict[int, SecuredSession] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[SecuredSession]:
        return iter(tuple(self._sessions.values()))

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions

    def add(self, session: SecuredSession) -> None:
        if session.session_id in self._sessions:
            raise ValueError(f"session 0x{session.session_id:08x} is already open")
        self._sessions[session.session_id] = session

    def remove(self, session_id: int) -> SecuredSession | None:
        return self._sessions.pop(session_id, None)

    def get(self, session_id: int) -> SecuredSession:
        """The session; `ProtocolError(InvalidSession)` when there is none with this ID."""
        session = self._sessions.get(session_id)
        if session is None:
            raise ProtocolError(ErrorCode.InvalidSession, f"no session 0x{session_id:08x}")
        return session

    def seal(self, session_id: int, app_message: bytes) -> bytes:
        return self.get(session_id).seal(app_message)

    def open(self, data: bytes) -> tuple[int, bytes]:
        """(SessionID, SPDM message) of a record from a peer."""
        session = self.get(session_id_of(data))
        return session.session_id, session.open(data)
