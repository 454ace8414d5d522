"""Layout: the construct Struct that message codecs are declared with, made fast.

Same semantics as `construct.Struct` in plain mode (every read bounds-checked, errors carrying
the field path), but runs of fixed-size fields are read and written with one precompiled
`struct.Struct`, rules are checked inline, and a layout bound to a dataclass builds the object
directly. SPDM messages are mostly small integers, and construct's per-field machinery cost
more than the rest of the codec together.
"""

from __future__ import annotations

import io
import operator
import struct
from collections.abc import Callable
from typing import Any

import construct as c

from spdm.messages.context import CodecContext

__all__ = ["Context", "Layout", "exactly", "field", "length_of", "negotiated_bytes", "require", "root_context"]


class Context(dict):  # type: ignore[type-arg]
    """construct's context (`this.name` and `this["name"]`), without Container's cost."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    __setattr__ = dict.__setitem__


def root_context(codec_context: CodecContext | None, *, parsing: bool) -> Context:
    """The top context of one decode or encode; `_params.ctx` is the negotiation context."""
    root = Context(ctx=codec_context, _parsing=parsing, _building=not parsing, _sizing=False)
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
            self.fail(path)

    def fail(self, path: str) -> None:
        raise c.ExplicitError(self.reason, path=f"{path} -> {self.field}" if self.field else path)

    def _parse(self, stream: Any, context: Any, path: str) -> None:
        self.check(context, path)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> None:
        self.check(context, path)

    def _sizeof(self, context: Any, path: str) -> int:
        return 0


class _Exactly(c.Subconstruct):  # type: ignore[misc]
    """`subcon` filling a region of exactly `length` bytes: no more, no less, no padding."""

    def __init__(self, length: Callable[[Any], int], subcon: c.Construct) -> None:
        super().__init__(subcon)
        self.length = length

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        length = self.length(context)
        region = io.BytesIO(c.stream_read(stream, length, path))
        obj = self.subcon._parsereport(region, context, path)
        left = length - region.tell()
        if left:
            raise c.TerminatedError(f"{left} bytes left over in its {length}-byte region", path=path)
        return obj

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        region = io.BytesIO()
        built = self.subcon._build(obj, region, context, path)
        data = region.getvalue()
        length = self.length(context)
        if len(data) != length:
            raise c.ExplicitError(f"{len(data)} bytes written for a {length}-byte region", path=path)
        stream.write(data)
        return built

    def _sizeof(self, context: Any, path: str) -> int:
        raise c.SizeofError("variable size", path=path)


def exactly(length: Callable[[Any], int], subcon: c.Construct) -> c.Construct:
    """`subcon` that must use up exactly `length(this)` bytes (a FixedSized that pads nothing)."""
    return _Exactly(length, subcon)


def field(name: str) -> Callable[[Any], Any]:
    """The value of an already-read field, as a size or count (a C-level `this.name`)."""
    return operator.itemgetter(name)


def length_of(name: str) -> Callable[[Any], int]:
    """For `Rebuild`: the length of field `name` (construct's `len_(this.name)`, without its cost)."""
    get = operator.itemgetter(name)
    return lambda this: len(get(this))


def require(predicate: Callable[[Any], bool], reason: str, *, field: str | None = None) -> c.Construct:
    """A layout rule (count bounds, length consistency) that fails with `reason`.

    `field` names the field the rule is about, for the error's `field`.
    """
    return _Require(predicate, reason, field)


class _Run:
    """Consecutive fixed-size fields read and written with one precompiled struct.Struct."""

    __slots__ = ("fields", "offsets", "packer", "size")

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

    def short(self, raw: bytes, path: str) -> None:
        """Name the field where the data ran out."""
        for (name, _, _, fmt), at in zip(self.fields, self.offsets, strict=True):
            need = struct.calcsize("<" + fmt)
            if at + need > len(raw):
                raise c.StreamError(
                    f"stream read less than specified amount, expected {need}, found {max(0, len(raw) - at)}",
                    path=f"{path} -> {name}",
                )

    def misfit(self, values: list[Any], path: str) -> None:
        """Name the first value that does not fit its field."""
        for (name, _, _, fmt), value in zip(self.fields, values, strict=True):
            try:
                struct.pack("<" + fmt, value)
            except struct.error as error:
                raise c.FormatFieldError(f"{value!r:.40} does not fit: {error}", path=f"{path} -> {name}") from None
        raise c.FormatFieldError("values do not fit", path=path)


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


_RUN, _CHECK, _FIELD = range(3)


def _relocate(error: c.ConstructError, path: str, name: str | None) -> None:
    """Put field `name` into the path of an error raised below it (fields get the bare path)."""
    where = getattr(error, "path", None)
    if name and isinstance(where, str) and where.startswith(path):
        error.path = f"{path} -> {name}{where[len(path):]}"


def _const_error(expected: int, got: int, path: str, name: str) -> c.ConstError:
    return c.ConstError(f"parsing expected {expected!r} but parsed {got!r}", path=f"{path} -> {name}")


def _type_error(cls: type, obj: Any, path: str) -> c.ExplicitError:
    return c.ExplicitError(f"expected {cls.__name__}, got {type(obj).__name__}", path=path)


def _bytes_error(size: int, value: Any, path: str, name: str) -> c.StringError:
    return c.StringError(f"expected {size} bytes, got {value!r:.40}", path=f"{path} -> {name}")


def _freeze(value: Any) -> Any:
    """Arrays parse as lists; frozen messages hold tuples."""
    return tuple(value) if type(value) is c.ListContainer or isinstance(value, list) else value


class _Source:
    """Python source being generated, with the objects it refers to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "Context": Context,
            "ConstructError": c.ConstructError,
            "TerminatedError": c.TerminatedError,
            "StructError": struct.error,
            "_relocate": _relocate,
            "_const_error": _const_error,
            "_type_error": _type_error,
            "_bytes_error": _bytes_error,
            "_freeze": _freeze,
        }

    def ref(self, obj: Any) -> str:
        name = f"_o{len(self.names)}"
        self.names[name] = obj
        return name

    def add(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def function(self, name: str) -> Any:
        namespace = dict(self.names)
        exec("\n".join(self.lines), namespace)  # our own generated source; no input reaches it
        return namespace[name]


class Layout(c.Construct):  # type: ignore[misc]
    """A Struct of `subcons`, bound (`bind`) to the dataclass whose instances it reads and writes.

    `bind` generates a parse and a build function for the layout: each run of fixed-size fields
    becomes one `struct` call with its length check, each rule an inline test, each other field a
    direct call of its construct with the error path completed on the way out. Same checks as
    `construct.Struct` in plain mode, a fraction of the interpretive cost.
    """

    def __init__(self, *subcons: c.Construct) -> None:
        super().__init__()
        self.subcons = list(subcons)
        self.flagbuildnone = all(sc.flagbuildnone for sc in self.subcons)
        plan: list[tuple[int, Any, str | None]] = []
        run: list[tuple[str | None, str, Any, str]] = []
        deferred: list[tuple[int, Any, str | None]] = []  # rules met inside a run, checked after it
        for sub in self.subcons:
            packed = _packable(sub)
            if packed is not None:
                run.append(packed)
                continue
            if isinstance(sub, _Require):
                (deferred if run else plan).append((_CHECK, sub, None))
                continue
            if run:
                plan.append((_RUN, _Run(run), None))
                plan.extend(deferred)
                run, deferred = [], []
            if isinstance(sub, c.Renamed):
                plan.append((_FIELD, sub.subcon, sub.name))
            else:
                plan.append((_FIELD, sub, sub.name))
        if run:
            plan.append((_RUN, _Run(run), None))
            plan.extend(deferred)
        self.plan = plan

    def bind(self, cls: type, names: tuple[str, ...]) -> None:
        """Read into and write from instances of `cls`, whose fields are `names`."""
        sequences = {
            sub.name for sub in self.subcons if sub.name in names and not isinstance(_packable(sub), tuple)
        }
        self._parse = self._generate_parse(cls, names, sequences)  # type: ignore[method-assign]
        self._build = self._generate_build(cls, names)  # type: ignore[method-assign]

    def _generate_parse(self, cls: type, names: tuple[str, ...], sequences: set[str]) -> Any:
        src = _Source()
        src.add(0, "def parse(stream, context, path):")
        src.add(1, 'inner = Context(_=context, _params=context["_params"])')
        for kind, step, name in self.plan:
            if kind == _RUN:
                run, count = src.ref(step), len(step.fields)
                values = [f"v{i}" for i in range(count)]
                src.add(1, f"raw = stream.read({step.size})")
                src.add(1, f"if len(raw) < {step.size}:")
                src.add(2, f"{run}.short(raw, path)")
                src.add(1, f"{', '.join(values)}, = {src.ref(step.packer.unpack)}(raw)")
                for value, (field_name, field_kind, arg, _) in zip(values, step.fields, strict=True):
                    if field_kind == "const":
                        src.add(1, f"if {value} != {arg!r}:")
                        src.add(2, f"raise _const_error({arg!r}, {value}, path, {field_name!r})")
                    src.add(1, f"inner[{field_name or '_unnamed'!r}] = {value}")
            elif kind == _CHECK:
                src.add(1, f"if not {src.ref(step.predicate)}(inner):")
                src.add(2, f"{src.ref(step)}.fail(path)")
            elif isinstance(step, c.Terminated.__class__):
                src.add(1, "if stream.read(1):")
                src.add(2, 'raise TerminatedError("expected end of stream", path=path)')
            else:
                target = f"inner[{name!r}] = " if name else ""
                src.add(1, "try:")
                src.add(2, f"{target}{src.ref(step)}._parse(stream, inner, path)")
                src.add(1, "except ConstructError as error:")
                src.add(2, f"_relocate(error, path, {name!r})")
                src.add(2, "raise")
        fields = ", ".join(
            f"{n}=_freeze(inner[{n!r}])" if n in sequences else f"{n}=inner[{n!r}]" for n in names
        )
        src.add(1, f"return {src.ref(cls)}({fields})")
        return src.function("parse")

    def _generate_build(self, cls: type, names: tuple[str, ...]) -> Any:
        src = _Source()
        klass = src.ref(cls)
        src.add(0, "def build(obj, stream, context, path):")
        src.add(1, f"if not isinstance(obj, {klass}):")
        src.add(2, f"raise _type_error({klass}, obj, path)")
        src.add(1, 'inner = Context(_=context, _params=context["_params"])')
        for n in names:
            src.add(1, f"inner[{n!r}] = obj.{n}")
        for kind, step, name in self.plan:
            if kind == _RUN:
                values = []
                for field_name, field_kind, arg, _ in step.fields:
                    key = repr(field_name or "_unnamed")
                    if field_kind == "const":
                        values.append(repr(arg))
                        continue
                    if field_kind == "rebuild":
                        rebuilt = f"{src.ref(arg)}(inner)" if callable(arg) else repr(arg)
                        src.add(1, f"inner[{key}] = {rebuilt}")
                    elif field_kind == "bytes":
                        src.add(1, f"value = inner[{key}]")
                        src.add(1, f"if not isinstance(value, bytes) or len(value) != {arg}:")
                        src.add(2, f"raise _bytes_error({arg}, value, path, {key})")
                    values.append(f"inner[{key}]")
                listed = ", ".join(values)
                src.add(1, "try:")
                src.add(2, f"stream.write({src.ref(step.packer.pack)}({listed}))")
                src.add(1, "except StructError:")
                src.add(2, f"{src.ref(step)}.misfit([{listed}], path)")
            elif kind == _CHECK:
                src.add(1, f"if not {src.ref(step.predicate)}(inner):")
                src.add(2, f"{src.ref(step)}.fail(path)")
            elif isinstance(step, c.Terminated.__class__):
                continue
            else:
                target = f"inner[{name!r}] = " if name else ""
                given = f"inner.get({name!r})" if name else "None"
                src.add(1, "try:")
                src.add(2, f"{target}{src.ref(step)}._build({given}, stream, inner, path)")
                src.add(1, "except ConstructError as error:")
                src.add(2, f"_relocate(error, path, {name!r})")
                src.add(2, "raise")
        src.add(1, "return obj")
        return src.function("build")

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        raise c.ExplicitError("layout used before it was bound to a dataclass", path=path)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        raise c.ExplicitError("layout used before it was bound to a dataclass", path=path)

    def _sizeof(self, context: Any, path: str) -> int:
        raise c.SizeofError("variable size", path=path)
