"""Typed messages on construct layouts: the registry and the only doors in and out.

Every message module declares a frozen dataclass and the construct fields of its layout; the
`message` decorator ties the two, checks that the dataclass fields are exactly the layout's
non-derived fields, and registers the class under its RequestResponseCode. `decode` and
`encode` are the only doors into construct, and the only place a construct error becomes a
`DecodeError`/`EncodeError`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any, ClassVar, NoReturn, TypeVar, cast

import construct as c

from spdm.errors import DecodeError, EncodeError
from spdm.messages._layout import Layout
from spdm.messages.codes import Code
from spdm.messages.context import CodecContext

__all__ = [
    "Message",
    "Record",
    "decode",
    "decode_as",
    "decode_prefix",
    "decode_record",
    "decode_record_prefix",
    "decode_records",
    "encode",
    "encode_record",
    "encode_records",
    "is_padding",
    "layout_fields",
    "message",
    "record",
    "registry",
]


class Record:
    """Base of typed structures nested in messages (AlgStructs, measurement blocks, ...)."""

    __slots__ = ()
    layout: ClassVar[Layout]


class Message(Record):
    """Base of every typed SPDM message; `version` is the SPDMVersion header byte."""

    __slots__ = ()
    code: ClassVar[Code]
    name: ClassVar[str]
    open_layout: ClassVar[Layout]
    version: int


FAMILIES: dict[str, tuple[Code, ...]] = {
    "negotiation": (
        Code.GET_VERSION,
        Code.VERSION,
        Code.GET_CAPABILITIES,
        Code.CAPABILITIES,
        Code.NEGOTIATE_ALGORITHMS,
        Code.ALGORITHMS,
    ),
    "certificates": (Code.GET_DIGESTS, Code.DIGESTS, Code.GET_CERTIFICATE, Code.CERTIFICATE),
    "challenge": (Code.CHALLENGE, Code.CHALLENGE_AUTH),
    "measurements": (Code.GET_MEASUREMENTS, Code.MEASUREMENTS),
    "key_exchange": (Code.KEY_EXCHANGE, Code.KEY_EXCHANGE_RSP, Code.FINISH, Code.FINISH_RSP),
    "psk": (Code.PSK_EXCHANGE, Code.PSK_EXCHANGE_RSP, Code.PSK_FINISH, Code.PSK_FINISH_RSP),
    "session_control": (
        Code.HEARTBEAT,
        Code.HEARTBEAT_ACK,
        Code.KEY_UPDATE,
        Code.KEY_UPDATE_ACK,
        Code.END_SESSION,
        Code.END_SESSION_ACK,
    ),
    "encapsulated": (
        Code.GET_ENCAPSULATED_REQUEST,
        Code.ENCAPSULATED_REQUEST,
        Code.DELIVER_ENCAPSULATED_RESPONSE,
        Code.ENCAPSULATED_RESPONSE_ACK,
    ),
    "vendor": (Code.VENDOR_DEFINED_REQUEST, Code.VENDOR_DEFINED_RESPONSE),
    "error": (Code.ERROR, Code.RESPOND_IF_READY),
    "chunk": (Code.CHUNK_SEND, Code.CHUNK_SEND_ACK, Code.CHUNK_GET, Code.CHUNK_RESPONSE),
    "provisioning": (Code.GET_CSR, Code.CSR, Code.SET_CERTIFICATE, Code.SET_CERTIFICATE_RSP),
    "endpoint_info": (Code.GET_ENDPOINT_INFO, Code.ENDPOINT_INFO),
    "mel": (Code.GET_MEASUREMENT_EXTENSION_LOG, Code.MEASUREMENT_EXTENSION_LOG),
    "key_pairs": (Code.GET_KEY_PAIR_INFO, Code.KEY_PAIR_INFO, Code.SET_KEY_PAIR_INFO, Code.SET_KEY_PAIR_INFO_ACK),
    "events": (
        Code.GET_SUPPORTED_EVENT_TYPES,
        Code.SUPPORTED_EVENT_TYPES,
        Code.SUBSCRIBE_EVENT_TYPES,
        Code.SUBSCRIBE_EVENT_TYPES_ACK,
        Code.SEND_EVENT,
        Code.EVENT_ACK,
    ),
}
"""The module of `spdm.messages` that declares each message. A module is imported the first time
one of its codes is decoded, so that a program pays at start-up only for the messages it meets."""

_FAMILY_OF_CODE = {int(code): family for family, codes in FAMILIES.items() for code in codes}
_REGISTRY: dict[int, type[Message]] = {}


def message_class(code: int) -> type[Message]:
    """The message class registered under `code`, importing its module on first use."""
    cls = _REGISTRY.get(code)
    if cls is None:
        family = _FAMILY_OF_CODE.get(code)
        if family is None:
            raise DecodeError("SPDM", "code", f"unknown RequestResponseCode 0x{code:02x}")
        importlib.import_module(f"spdm.messages.{family}")
        cls = _REGISTRY[code]
    return cls


R = TypeVar("R", bound=Record)
M = TypeVar("M", bound=Message)


def registry() -> dict[Code, type[Message]]:
    """Every message class, by code."""
    return {Code(code): message_class(code) for code in sorted(_FAMILY_OF_CODE)}


_DERIVED = (c.Const, c.Rebuild, c.Computed, c.Check)


def layout_fields(layout: Layout) -> tuple[str, ...]:
    """Names of a layout's fields that a message object carries (not derived, not private)."""
    names = []
    for sub in layout.subcons:
        name = getattr(sub, "name", None)
        inner = sub.subcon if isinstance(sub, c.Renamed) else sub
        if name and not name.startswith("_") and not isinstance(inner, _DERIVED):
            names.append(name)
    return tuple(names)


def _bind(cls: type[R], layout: Layout, label: str = "") -> Layout:
    fields = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    wire = layout_fields(layout)
    if fields != wire:
        raise TypeError(f"{cls.__name__}: dataclass fields {fields} differ from layout fields {wire}")
    layout.bind(cls, fields, label)
    return layout


def record(*fields: c.Construct) -> Callable[[type[R]], type[R]]:
    """Bind a nested structure's dataclass to its layout (a Layout of `fields`)."""

    def bind(cls: type[R]) -> type[R]:
        cls.layout = _bind(cls, Layout(*fields))
        return cls

    return bind


def message(code: Code, *fields: c.Construct) -> Callable[[type[M]], type[M]]:
    """Bind and register a message: header version and code, then `fields`, then end of data.

    `fields` start at header byte 2 (Param1). The open layout (`decode_prefix`'s) leaves the code
    byte unchecked: that byte is what picked it.
    """

    def bind(cls: type[M]) -> type[M]:
        if code in _REGISTRY:
            raise TypeError(f"code 0x{code:02x} registered twice")
        head = ("version" / c.Int8ul, "_code" / c.Const(int(code), c.Int8ul))
        open_head = ("version" / c.Int8ul, "_code" / c.Rebuild(c.Int8ul, int(code)))
        cls.code = code
        cls.name = code.name
        cls.layout = _bind(cls, Layout(*head, *fields, c.Terminated))
        cls.open_layout = _bind(cls, Layout(*open_head, *fields), "open")
        _REGISTRY[code] = cls
        return cls

    return bind


def _split(error: c.ConstructError) -> tuple[str, str]:
    path = getattr(error, "path", None) or ""
    field = ".".join(p.strip() for p in path.split("->")[1:])
    text = str(error)
    reason = text.split("\n", 1)[1] if "\n" in text else text
    if isinstance(error, c.TerminatedError):
        reason = f"trailing bytes after the end of {field or 'the message'}"
    elif isinstance(error, c.StreamError) and "stream read less" in reason:
        reason = f"truncated: {reason}"
    return field, reason


def _decode_error(name: str, error: c.ConstructError) -> DecodeError:
    field, reason = _split(error)
    return DecodeError(name, field, reason)


def _encode_error(name: str, error: Exception) -> EncodeError:
    if isinstance(error, c.ConstructError):
        field, reason = _split(error)
        return EncodeError(name, field, reason)
    return EncodeError(name, "", f"malformed field value: {error}")


_MALFORMED = (c.ConstructError, TypeError, AttributeError, KeyError, ValueError, OverflowError)


def _parse(name: str, layout: Layout, data: bytes, context: CodecContext | None) -> tuple[Any, int]:
    try:
        return layout.parse_at(data, 0, len(data), context, "(parsing)")
    except c.ConstructError as error:
        raise _decode_error(name, error) from None


def _build(name: str, layout: Layout, obj: Record) -> bytes:
    try:
        return layout.build_bytes(obj, "(building)")
    except _MALFORMED as error:
        raise _encode_error(name, error) from None


def decode_record(cls: type[R], data: bytes, name: str, context: CodecContext | None = None) -> R:
    """Decode `data` as exactly one `cls` (a structure that is not itself an SPDM message).

    `name` is what errors call the structure (e.g. ``OPAQUE_DATA``).
    """
    data = bytes(data)
    obj, size = _parse(name, cls.layout, data, context)
    if size != len(data):
        raise DecodeError(name, "", f"{len(data) - size} trailing bytes after the end")
    return cast(R, obj)


def decode_record_prefix(cls: type[R], data: bytes, name: str) -> tuple[R, int]:
    """One `cls` at the start of `data`, and the bytes it takes: what follows is the caller's to read
    or to ignore (a general opaque data table, whose elements end before the OpaqueData may)."""
    obj, size = _parse(name, cls.layout, bytes(data), None)
    return cast(R, obj), size


def decode_records(cls: type[R], data: bytes, count: int, name: str) -> tuple[R, ...]:
    """Decode `data` as exactly `count` consecutive `cls` (a list whose count the message keeps elsewhere)."""
    data = bytes(data)
    found: list[R] = []
    offset = 0
    for index in range(count):
        if offset == len(data):
            raise DecodeError(name, "", f"{count} entries announced, the data ends after {index}")
        try:
            obj, offset = cls.layout.parse_at(data, offset, len(data), None, "(parsing)")
        except c.ConstructError as error:
            field, reason = _split(error)
            raise DecodeError(name, f"[{index}]{'.' + field if field else ''}", reason) from None
        found.append(cast(R, obj))
    if offset != len(data):
        raise DecodeError(name, "", f"{len(data) - offset} trailing bytes after {count} entries")
    return tuple(found)


def encode_records(objs: tuple[Record, ...], name: str) -> bytes:
    """The bytes of consecutive structures (the inverse of `decode_records`)."""
    return b"".join(encode_record(obj, name) for obj in objs)


def encode_record(obj: Record, name: str) -> bytes:
    """The bytes of a structure that is not itself an SPDM message."""
    if not isinstance(obj, Record) or not hasattr(type(obj), "layout"):
        raise EncodeError(name, "", f"{type(obj).__name__} is not a record")
    return _build(name, type(obj).layout, obj)


def decode_as(cls: type[M], data: bytes, context: CodecContext | None = None) -> M:
    """Decode `data` as one message of class `cls`."""
    obj, _ = _parse(cls.name, cls.layout, bytes(data), context)
    return cast(M, obj)


def _short_header(data: bytes) -> NoReturn:
    raise DecodeError("SPDM", "header", f"truncated: {len(data)} bytes, a message has at least 4")


def decode(data: bytes, context: CodecContext | None = None) -> Message:
    """Decode one SPDM message (header included, nothing after it)."""
    data = bytes(data)
    if len(data) < 4:
        _short_header(data)
    cls = message_class(data[1])
    obj, _ = _parse(cls.name, cls.layout, data, context)
    return cast(Message, obj)


def decode_prefix(data: bytes, context: CodecContext | None = None) -> tuple[Message, int]:
    """Decode the SPDM message at the start of `data`; return it and its length.

    For transports that pad (DOE pads to DWORDs): the message's own fields say where it ends,
    and the caller decides what the bytes after it may be (`is_padding`).
    """
    data = bytes(data)
    if len(data) < 4:
        _short_header(data)
    cls = message_class(data[1])
    obj, size = _parse(cls.name, cls.open_layout, data, context)
    return cast(Message, obj), size


def is_padding(tail: bytes, max_padding: int) -> bool:
    """Whether the bytes after a decoded message are transport padding: at most `max_padding`
    zero bytes (DOE pads each object to whole DWORDs, so up to 3)."""
    return len(tail) <= max_padding and not any(tail)


def encode(msg: Message) -> bytes:
    """The wire bytes of `msg`."""
    cls = type(msg)
    if _REGISTRY.get(getattr(cls, "code", -1)) is not cls:
        raise EncodeError(cls.__name__, "", "not a registered SPDM message")
    return _build(cls.name, cls.layout, msg)
