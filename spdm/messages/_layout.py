"""Layout: the construct Struct that message codecs are declared with, made fast.

Same semantics as `construct.Struct` in plain mode (every read bounds-checked, errors carrying
the field path), but runs of fixed-size fields are read and written with one precompiled
`struct.Struct`, rules are checked inline, and a layout bound to a dataclass builds the object
directly. SPDM messages are mostly small integers, and construct's per-field machinery cost
more than the rest of the codec together.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import construct as c

from spdm.messages.context import CodecContext

__all__ = ["Context", "Layout", "negotiated_bytes", "require", "root_context"]


class Context(dict):  # type: ignore[type-arg]
    """construct's context (`this.name` and `this["name"]`), without Container's cost."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def root_context(codec_context: CodecContext | None, stream: Any, *, parsing: bool) -> Context:
    """The top context of one decode or encode; `_params.ctx` is the negotiation context."""
    root = Context(ctx=codec_context, _parsing=parsing, _building=not parsing, _sizing=False, _io=stream)
    root["_params"] = root
    return root


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


def negotiated_bytes(size_key: str, present_key: str | None = None) -> c.Construct:
    """Bytes of the context's `size_key` size; with `present_key`, present only when it is true.

    Decoding reads the size from the `CodecContext`; encoding writes the object's bytes as they
    are (``None`` writes nothing when the field is optional).
    """
    return _NegotiatedBytes(size_key, present_key)


class _Require(c.Construct):  # type: ignore[misc]
    """A rule over already-read fields, checked when reading and when writing."""

    def __init__(self, predicate: Callable[[Any], bool], reason: str, field: str | None) -> None:
        super().__init__()
        self.predicate = predicate
        self.reason = reason
        self.field = field
        self.flagbuildnone = True

    def check(self, context: Any, path: str) -> None:
        if not self.predicate(context):
            raise c.ExplicitError(self.reason, path=f"{path} -> {self.field}" if self.field else path)

    def _parse(self, stream: Any, context: Any, path: str) -> None:
        self.check(context, path)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> None:
        self.check(context, path)

    def _sizeof(self, context: Any, path: str) -> int:
        return 0


def require(predicate: Callable[[Any], bool], reason: str, *, field: str | None = None) -> c.Construct:
    """A layout rule (count bounds, length consistency) that fails with `reason`.

    `field` names the field the rule is about, for the error's `field`.
    """
    return _Require(predicate, reason, field)


class _Run:
    """Consecutive fixed-size fields read and written with one precompiled struct.Struct."""

    __slots__ = ("consts", "fields", "names", "offsets", "packer", "size")

    def __init__(self, fields: list[tuple[str | None, str, Any, str]]) -> None:
        # each field: (name, kind, argument, struct format); kind in "int", "bytes", "const", "rebuild"
        self.fields = fields
        self.packer = struct.Struct("<" + "".join(f[3] for f in fields))
        self.size = self.packer.size
        offsets, at = [], 0
        for f in fields:
            offsets.append(at)
            at += struct.calcsize("<" + f[3])
        self.offsets = offsets
        self.consts = [(i, f[2]) for i, f in enumerate(fields) if f[1] == "const"]
        # unnamed fields (none in practice) are read into a throwaway key
        self.names = [f[0] or "_unnamed" for f in fields]

    def parse(self, stream: Any, context: Any, path: str) -> None:
        raw = stream.read(self.size)
        if len(raw) < self.size:
            self._short(raw, path)
        values = self.packer.unpack(raw)
        for i, expected in self.consts:
            if values[i] != expected:
                where = f"{path} -> {self.fields[i][0]}"
                raise c.ConstError(f"parsing expected {expected!r} but parsed {values[i]!r}", path=where)
        context.update(zip(self.names, values, strict=True))

    def _short(self, raw: bytes, path: str) -> None:
        for (name, _, _, fmt), at in zip(self.fields, self.offsets, strict=True):
            need = struct.calcsize("<" + fmt)
            if at + need > len(raw):
                raise c.StreamError(
                    f"stream read less than specified amount, expected {need}, found {max(0, len(raw) - at)}",
                    path=f"{path} -> {name}",
                )

    def build(self, stream: Any, context: Any, path: str) -> None:
        values = []
        for name, kind, arg, fmt in self.fields:
            if kind == "const":
                value = arg
            elif kind == "rebuild":
                value = c.evaluate(arg, context)
            elif name not in context:
                raise c.ExplicitError("missing field", path=f"{path} -> {name}")
            else:
                value = context[name]
            if kind == "bytes":
                if not isinstance(value, bytes) or len(value) != arg:
                    raise c.StringError(f"expected {arg} bytes, got {value!r:.40}", path=f"{path} -> {name}")
            else:
                try:
                    struct.pack("<" + fmt, value)
                except struct.error as error:
                    raise c.FormatFieldError(
                        f"{value!r:.40} does not fit: {error}", path=f"{path} -> {name}"
                    ) from None
            if name:
                context[name] = value
            values.append(value)
        stream.write(self.packer.pack(*values))


def _packable(sub: c.Construct) -> tuple[str | None, str, Any, str] | None:
    """(name, kind, argument, format) when `sub` is a fixed-size little-endian field."""
    name = getattr(sub, "name", None)
    inner = sub.subcon if isinstance(sub, c.Renamed) else sub
    kind, arg = "int", None
    if isinstance(inner, c.Const):
        kind, arg, inner = "const", inner.value, inner.subcon
    elif isinstance(inner, c.Rebuild):
        kind, arg, inner = "rebuild", inner.func, inner.subcon
    little = isinstance(inner, c.FormatField) and inner.fmtstr[0] == "<"
    if little and inner.fmtstr[1:] in {"B", "H", "I", "Q"}:
        return (name, kind, arg, inner.fmtstr[1:])
    if kind == "int" and type(inner) is c.Bytes and isinstance(inner.length, int):
        return (name, "bytes", inner.length, f"{inner.length}s")
    return None


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class Layout(c.Construct):  # type: ignore[misc]
    """A Struct of `subcons`; bound to a dataclass (`bind`) it reads and writes instances of it."""

    def __init__(self, *subcons: c.Construct) -> None:
        super().__init__()
        self.subcons = list(subcons)
        self.flagbuildnone = all(sc.flagbuildnone for sc in self.subcons)
        self.cls: type | None = None
        self.names: tuple[str, ...] = ()
        self.sequences: tuple[str, ...] = ()
        steps: list[Any] = []
        run: list[tuple[str | None, str, Any, str]] = []
        for sub in self.subcons:
            packed = _packable(sub)
            if packed is not None:
                run.append(packed)
                continue
            if run:
                steps.append(_Run(run))
                run = []
            steps.append(sub)
        if run:
            steps.append(_Run(run))
        self.steps = steps

    def bind(self, cls: type, names: tuple[str, ...]) -> None:
        """Read into and write from instances of `cls`, whose fields are `names`."""
        self.cls = cls
        self.names = names
        self.sequences = tuple(
            sub.name for sub in self.subcons if sub.name in names and not isinstance(_packable(sub), tuple)
        )

    @staticmethod
    def _inner(context: Any, stream: Any) -> Context:
        return Context(
            _=context,
            _params=context["_params"],
            _parsing=context["_parsing"],
            _building=context["_building"],
            _sizing=False,
            _io=stream,
            _index=context.get("_index"),
        )

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        inner = self._inner(context, stream)
        for step in self.steps:
            if type(step) is _Run:
                step.parse(stream, inner, path)
            elif type(step) is _Require:
                step.check(inner, path)
            else:
                value = step._parsereport(stream, inner, path)
                if step.name:
                    inner[step.name] = value
        if self.cls is None:
            return inner
        obj = {n: inner[n] for n in self.names}
        for n in self.sequences:
            obj[n] = _freeze(obj[n])
        return self.cls(**obj)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        inner = self._inner(context, stream)
        if self.cls is not None:
            if not isinstance(obj, self.cls):
                raise c.ExplicitError(f"expected {self.cls.__name__}, got {type(obj).__name__}", path=path)
            for n in self.names:
                inner[n] = getattr(obj, n)
        elif obj is not None:
            inner.update(obj)
        for step in self.steps:
            if type(step) is _Run:
                step.build(stream, inner, path)
                continue
            name = step.name
            if name and not step.flagbuildnone and name not in inner:
                raise c.ExplicitError("missing field", path=f"{path} -> {name}")
            built = step._build(inner.get(name) if name else None, stream, inner, path)
            if name:
                inner[name] = built
        return obj if self.cls is not None else inner

    def _sizeof(self, context: Any, path: str) -> int:
        raise c.SizeofError("variable size", path=path)
