"""Typed messages on construct layouts: the registry and the only doors in and out.

Every message module declares a frozen dataclass and the construct fields of its layout; the
`message` decorator ties the two, checks that the dataclass fields are exactly the layout's
non-derived fields, and registers the class under its RequestResponseCode. `decode` and
`encode` are the only doors into construct, and the only place a construct error becomes a
`DecodeError`/`EncodeError`.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
from collections.abc import Callable
from typing import Any, ClassVar, NoReturn, TypeVar, cast

import construct as c

from spdm.errors import DecodeError, EncodeError
from spdm.messages._fields import Source
from spdm.messages._layout import Layout, negotiated_bytes, require
from spdm.messages.codes import Code
from spdm.messages.context import CodecContext

__all__ = [
    "Layout",
    "Message",
    "Record",
    "decode",
    "decode_as",
    "decode_prefix",
    "decode_record",
    "encode",
    "encode_record",
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
    layout: ClassVar[Layout]


class Message(Record):
    """Base of every typed SPDM message; `version` is the SPDMVersion header byte."""

    __slots__ = ()
    code: ClassVar[Code]
    name: ClassVar[str]
    open_layout: ClassVar[Layout]
    version: int


_REGISTRY: dict[int, type[Message]] = {}


def _unknown_code(data: bytes, offset: int, limit: int, context: CodecContext | None, path: str) -> NoReturn:
    """Stands in for the parse function of a code no message is registered under."""
    raise DecodeError("SPDM", "code", f"unknown RequestResponseCode 0x{data[1]:02x}")


class _Builders(dict[type, Callable[[Any, str], bytes]]):
    """The build function of each registered message class; any other class is not a message."""

    def __missing__(self, cls: type) -> NoReturn:
        raise EncodeError(cls.__name__, "", "not a registered SPDM message")


# Looked up once per decode, decode_prefix and encode, by code byte and by class: no miss to test for.
_PARSERS: list[Callable[[bytes, int, int, CodecContext | None, str], tuple[Message, int]]] = [_unknown_code] * 256
_PREFIX_PARSERS = list(_PARSERS)
_BUILDERS = _Builders()

R = TypeVar("R", bound=Record)
M = TypeVar("M", bound=Message)


def registry() -> dict[Code, type[Message]]:
    """Every registered message class, by code."""
    return {Code(k): v for k, v in sorted(_REGISTRY.items())}


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


def _bind(cls: type[R], layout: Layout) -> Layout:
    fields = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    wire = layout_fields(layout)
    if fields != wire:
        raise TypeError(f"{cls.__name__}: dataclass fields {fields} differ from layout fields {wire}")
    layout.bind(cls, fields)
    return layout


def _slot_init(cls: type) -> None:
    """Give a frozen, slotted dataclass an `__init__` that fills each slot through its descriptor.

    The dataclass's own calls ``object.__setattr__`` by name per field, and messages are made per
    request. Same parameters, defaults and annotations; a class with `__post_init__`, a default
    factory, an init-only or non-init field keeps its own.
    """
    init: Any = cls.__dict__["__init__"]
    fields = dataclasses.fields(cls)
    slots = [cls.__dict__.get(f.name) for f in fields]
    code = init.__code__
    params = code.co_varnames[1 : code.co_argcount + code.co_kwonlyargcount]
    plain = all(f.init and f.default_factory is dataclasses.MISSING for f in fields)
    if (
        hasattr(cls, "__post_init__")
        or not plain
        or code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)
        or sorted(params) != sorted(f.name for f in fields)
        or not all(isinstance(s, types.MemberDescriptorType) for s in slots)
    ):
        return
    positional = ", ".join(("self", *params[: code.co_argcount - 1]))
    keywords = "".join(f", {p}" for p in params[code.co_argcount - 1 :])
    src = Source({})
    src.add(0, f"def __init__({positional}{', *' + keywords if keywords else ''}):")
    for f, slot in zip(fields, slots, strict=True):
        src.add(1, f"{src.ref(slot.__set__)}(self, {f.name})")  # type: ignore[union-attr]
    if not fields:
        src.add(1, "pass")
    fast = src.function("__init__")
    fast.__defaults__ = init.__defaults__
    fast.__kwdefaults__ = init.__kwdefaults__
    fast.__annotations__ = init.__annotations__
    fast.__qualname__ = init.__qualname__
    fast.__module__ = init.__module__
    fast.__doc__ = init.__doc__
    cls.__init__ = fast  # type: ignore[misc]


def record(*fields: c.Construct) -> Callable[[type[R]], type[R]]:
    """Bind a nested structure's dataclass to its layout (a Layout of `fields`)."""

    def bind(cls: type[R]) -> type[R]:
        cls.layout = _bind(cls, Layout(*fields))
        _slot_init(cls)
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
        cls.open_layout = _bind(cls, Layout(*open_head, *fields))
        _slot_init(cls)
        _REGISTRY[code] = cls
        _PARSERS[code] = cls.layout.parse_at
        _PREFIX_PARSERS[code] = cls.open_layout.parse_at
        _BUILDERS[cls] = cls.layout.build_bytes
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
    size = len(data)
    if size < 4:
        _short_header(data)
    try:
        obj, _ = _PARSERS[data[1]](data, 0, size, context, "(parsing)")
    except c.ConstructError as error:
        raise _decode_error(_REGISTRY[data[1]].name, error) from None
    return obj


def decode_prefix(data: bytes, context: CodecContext | None = None) -> tuple[Message, int]:
    """Decode the SPDM message at the start of `data`; return it and its length.

    For transports that pad (DOE pads to DWORDs): the message's own fields say where it ends,
    and the caller decides what the bytes after it may be. (`_parse` inlined, the parse function
    looked up by code: this is the decode of every request and response.)
    """
    data = bytes(data)
    size = len(data)
    if size < 4:
        _short_header(data)
    try:
        return _PREFIX_PARSERS[data[1]](data, 0, size, context, "(parsing)")
    except c.ConstructError as error:
        raise _decode_error(_REGISTRY[data[1]].name, error) from None


def encode(msg: Message) -> bytes:
    """The wire bytes of `msg` (`_build` inlined, the build function looked up by class)."""
    build = _BUILDERS[type(msg)]
    try:
        return build(msg, "(building)")
    except _MALFORMED as error:
        raise _encode_error(type(msg).name, error) from None
