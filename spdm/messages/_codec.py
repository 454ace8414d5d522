"""The one generic adapter between construct layouts and typed message objects.

Every message module declares a frozen dataclass and the construct fields of its layout; the
`message` decorator ties the two, checks that the dataclass fields are exactly the layout's
non-derived fields, and registers the class under its RequestResponseCode. `decode` and
`encode` are the only doors into construct, and the only place a construct error becomes a
`DecodeError`/`EncodeError`.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import construct as c

from spdm.errors import DecodeError, EncodeError
from spdm.messages.codes import Code
from spdm.messages.context import CodecContext

__all__ = [
    "Message",
    "Record",
    "decode",
    "decode_as",
    "decode_prefix",
    "encode",
    "layout_fields",
    "message",
    "negotiated_bytes",
    "record",
    "registry",
    "require",
]


class Record:
    """Base of typed structures nested in messages (AlgStructs, measurement blocks, ...)."""

    __slots__ = ()
    layout: ClassVar[c.Construct]


class Message(Record):
    """Base of every typed SPDM message; `version` is the SPDMVersion header byte."""

    __slots__ = ()
    code: ClassVar[Code]
    name: ClassVar[str]
    open_layout: ClassVar[c.Construct]
    version: int


_REGISTRY: dict[int, type[Message]] = {}

R = TypeVar("R", bound=Record)
M = TypeVar("M", bound=Message)


def registry() -> dict[Code, type[Message]]:
    """Every registered message class, by code."""
    return {Code(k): v for k, v in sorted(_REGISTRY.items())}


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(value)
    return value


class _DataclassAdapter(c.Adapter):  # type: ignore[misc]
    """Container <-> dataclass, field by field, by name."""

    def __init__(self, subcon: c.Construct, cls: type[Record]) -> None:
        super().__init__(subcon)
        self.cls = cls
        self.names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    def _decode(self, obj: Any, context: Any, path: str) -> Record:
        return self.cls(**{n: _freeze(obj[n]) for n in self.names})

    def _encode(self, obj: Any, context: Any, path: str) -> dict[str, Any]:
        if not isinstance(obj, self.cls):
            raise c.ExplicitError(f"expected {self.cls.__name__}, got {type(obj).__name__}", path=path)
        return {n: getattr(obj, n) for n in self.names}


_DERIVED = (c.Const, c.Rebuild, c.Computed, c.Check)


def layout_fields(struct: c.Construct) -> tuple[str, ...]:
    """Names of a Struct's fields that a message object carries (not derived, not private)."""
    names = []
    for sub in struct.subcons:
        name = getattr(sub, "name", None)
        inner = sub.subcon if isinstance(sub, c.Renamed) else sub
        if name and not name.startswith("_") and not isinstance(inner, _DERIVED):
            names.append(name)
    return tuple(names)


def _bind(cls: type[R], struct: c.Struct) -> type[R]:
    fields = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    wire = layout_fields(struct)
    if fields != wire:
        raise TypeError(f"{cls.__name__}: dataclass fields {fields} differ from layout fields {wire}")
    cls.layout = _DataclassAdapter(struct, cls)
    return cls


def record(*fields: c.Construct) -> Callable[[type[R]], type[R]]:
    """Bind a nested structure's dataclass to its layout (a Struct of `fields`)."""

    def bind(cls: type[R]) -> type[R]:
        return _bind(cls, c.Struct(*fields))

    return bind


def message(code: Code, *fields: c.Construct) -> Callable[[type[M]], type[M]]:
    """Bind and register a message: header version and code, then `fields`, then end of data.

    `fields` start at header byte 2 (Param1).
    """

    def bind(cls: type[M]) -> type[M]:
        if code in _REGISTRY:
            raise TypeError(f"code 0x{code:02x} registered twice")
        head = ("version" / c.Int8ul, "_code" / c.Const(int(code), c.Int8ul))
        cls.code = code
        cls.name = code.name
        _bind(cls, c.Struct(*head, *fields, c.Terminated))
        cls.open_layout = _DataclassAdapter(c.Struct(*head, *fields), cls)
        _REGISTRY[code] = cls
        return cls

    return bind


def _codec_context(context: Any) -> CodecContext | None:
    params = context.get("_params")
    return None if params is None else params.get("ctx")


def _context_value(context: Any, key: str, path: str) -> Any:
    ctx = _codec_context(context)
    if ctx is None:
        raise c.ExplicitError(f"needs a negotiation context ({key})", path=path)
    value = getattr(ctx, key)
    if value is None:
        raise c.ExplicitError(f"the negotiation context has no {key}", path=path)
    return value


class _NegotiatedBytes(c.Construct):  # type: ignore[misc]
    """Bytes whose size (and presence) negotiation fixes: read by the context, written as given."""

    def __init__(self, size_key: str, present_key: str | None) -> None:
        super().__init__()
        self.size_key = size_key
        self.present_key = present_key
        self.flagbuildnone = present_key is not None

    def _parse(self, stream: Any, context: Any, path: str) -> bytes | None:
        if self.present_key is not None and not _context_value(context, self.present_key, path):
            return None
        size: int = _context_value(context, self.size_key, path)
        return bytes(c.stream_read(stream, size, path))

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        if obj is None and self.present_key is not None:
            return None
        if not isinstance(obj, bytes):
            raise c.ExplicitError(f"expected bytes, got {type(obj).__name__}", path=path)
        c.stream_write(stream, obj, len(obj), path)
        return obj


class _Require(c.Construct):  # type: ignore[misc]
    """A rule over already-read fields, checked when reading and when writing."""

    def __init__(self, predicate: Callable[[Any], bool], reason: str) -> None:
        super().__init__()
        self.predicate = predicate
        self.reason = reason
        self.flagbuildnone = True

    def _check(self, context: Any, path: str) -> None:
        if not self.predicate(context):
            raise c.ExplicitError(self.reason, path=path)

    def _parse(self, stream: Any, context: Any, path: str) -> None:
        self._check(context, path)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> None:
        self._check(context, path)

    def _sizeof(self, context: Any, path: str) -> int:
        return 0


def require(predicate: Callable[[Any], bool], reason: str) -> c.Construct:
    """A layout rule (count bounds, length consistency) that fails with `reason`."""
    return _Require(predicate, reason)


def negotiated_bytes(size_key: str, present_key: str | None = None) -> c.Construct:
    """Bytes of the context's `size_key` size; with `present_key`, present only when it is true.

    Decoding reads the size from the `CodecContext`; encoding writes the object's bytes as they
    are (``None`` writes nothing when the field is optional).
    """
    return _NegotiatedBytes(size_key, present_key)


def _split(error: c.ConstructError) -> tuple[str, str]:
    path = getattr(error, "path", None) or ""
    field = ".".join(p.strip() for p in path.split("->")[1:])
    text = str(error)
    reason = text.split("\n", 1)[1] if "\n" in text else text
    if isinstance(error, c.TerminatedError):
        reason = "trailing bytes after the end of the message"
    elif isinstance(error, c.StreamError) and "stream read less" in reason:
        reason = f"truncated: {reason}"
    return field, reason


def decode_as(cls: type[M], data: bytes, context: CodecContext | None = None) -> M:
    """Decode `data` as one message of class `cls`."""
    try:
        obj: M = cls.layout.parse(data, ctx=context)
    except c.ConstructError as error:
        field, reason = _split(error)
        raise DecodeError(cls.name, field, reason) from None
    return obj


def _class_of(data: bytes) -> type[Message]:
    if len(data) < 4:
        raise DecodeError("SPDM", "header", f"truncated: {len(data)} bytes, a message has at least 4")
    cls = _REGISTRY.get(data[1])
    if cls is None:
        raise DecodeError("SPDM", "code", f"unknown RequestResponseCode 0x{data[1]:02x}")
    return cls


def decode(data: bytes, context: CodecContext | None = None) -> Message:
    """Decode one SPDM message (header included, nothing after it)."""
    data = bytes(data)
    return decode_as(_class_of(data), data, context)


def decode_prefix(data: bytes, context: CodecContext | None = None) -> tuple[Message, int]:
    """Decode the SPDM message at the start of `data`; return it and its length.

    For transports that pad (DOE pads to DWORDs): the message's own fields say where it ends,
    and the caller decides what the bytes after it may be.
    """
    data = bytes(data)
    cls = _class_of(data)
    stream = io.BytesIO(data)
    try:
        obj: Message = cls.open_layout.parse_stream(stream, ctx=context)
    except c.ConstructError as error:
        field, reason = _split(error)
        raise DecodeError(cls.name, field, reason) from None
    return obj, stream.tell()


def encode(msg: Message) -> bytes:
    """The wire bytes of `msg`."""
    cls = type(msg)
    if not isinstance(msg, Message) or _REGISTRY.get(cls.code) is not cls:
        raise EncodeError(type(msg).__name__, "", "not a registered SPDM message")
    try:
        data: bytes = cls.layout.build(msg)
    except c.ConstructError as error:
        field, reason = _split(error)
        raise EncodeError(cls.name, field, reason) from None
    except (TypeError, AttributeError, KeyError, ValueError, OverflowError) as error:
        raise EncodeError(cls.name, "", f"malformed field value: {error}") from None
    return data
