"""The field kinds message layouts are declared with, beyond construct's own.

Layouts are construct fields; these add what SPDM needs (sizes fixed by negotiation, rules over
fields already read, regions that must be filled exactly) and the pieces the generated parse
and build functions share: runs of fixed-size fields packed with one `struct.Struct`, the
context that rules see, and the generated source.
"""

from __future__ import annotations

import linecache
import operator
import os
import struct
from collections.abc import Callable
from typing import Any, ClassVar

import construct as c

from spdm.messages.context import CodecContext

__all__ = [
    "SOURCE_DIR_VARIABLE",
    "Context",
    "FieldRef",
    "Generator",
    "LengthOf",
    "Of",
    "OrNothing",
    "Presence",
    "Run",
    "Source",
    "Test",
    "absent_when",
    "exactly",
    "field",
    "length_of",
    "negotiated_bytes",
    "of",
    "only_when",
    "or_nothing",
    "packable",
    "present_when",
    "require",
    "root_context",
    "when",
]


class Context(dict):  # type: ignore[type-arg]
    """construct's context (`this.name` and `this["name"]`), without Container's cost."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    __setattr__ = dict.__setitem__


def _new_root(codec_context: CodecContext | None) -> Context:
    root = Context(ctx=codec_context, _parsing=True, _building=False, _sizing=False)
    root["_params"] = root
    return root


_NO_CONTEXT = _new_root(None)


def root_context(codec_context: CodecContext | None) -> Context:
    """What rules see as `this._params` (`_params.ctx` is the negotiation context).

    Parsers only read it, so the one without a negotiation context is shared.
    """
    return _NO_CONTEXT if codec_context is None else _new_root(codec_context)


class NegotiatedBytes(c.Construct):  # type: ignore[misc]
    """Bytes whose size (and presence) negotiation fixes: read by the context, written as given."""

    def __init__(self, size_key: str, present_key: str | None) -> None:
        super().__init__()
        self.size_key = size_key
        self.present_key = present_key


def negotiated_bytes(size_key: str, present_key: str | None = None) -> c.Construct:
    """Bytes of the context's `size_key` size; with `present_key`, present only when it is true.

    Decoding reads the size from the `CodecContext`; encoding writes the object's bytes as they
    are (``None`` writes nothing when the field is optional).
    """
    return NegotiatedBytes(size_key, present_key)


class AbsentWhen(c.Subconstruct):  # type: ignore[misc]
    """`subcon`, absent (``None``) when the negotiation context's `key` is `absent_if`."""

    def __init__(self, key: str, subcon: c.Construct, absent_if: bool = True) -> None:
        super().__init__(subcon)
        self.key = key
        self.absent_if = absent_if


def absent_when(key: str, subcon: c.Construct) -> c.Construct:
    """`subcon` that the wire omits when negotiation set `key` (e.g. HANDSHAKE_IN_THE_CLEAR)."""
    return AbsentWhen(key, subcon)


def present_when(key: str, subcon: c.Construct) -> c.Construct:
    """`subcon` that the wire carries only when negotiation set `key` (e.g. a multi-key connection);
    absent without a negotiation context."""
    return AbsentWhen(key, subcon, absent_if=False)


class Require(c.Construct):  # type: ignore[misc]
    """A rule over already-read fields, checked when reading and when writing."""

    def __init__(self, predicate: Callable[[Any], bool], reason: str, field: str | None) -> None:
        super().__init__()
        self.predicate = predicate
        self.reason = reason
        self.field = field

    def fail(self, path: str) -> None:
        raise c.ExplicitError(self.reason, path=f"{path} -> {self.field}" if self.field else path)


def require(predicate: Callable[[Any], bool], reason: str, *, field: str | None = None) -> c.Construct:
    """A layout rule (count bounds, length consistency) that fails with `reason`.

    `field` names the field the rule is about, for the error's `field`.
    """
    return Require(predicate, reason, field)


class OrNothing(c.Subconstruct):  # type: ignore[misc]
    """`subcon`, or nothing (the value ``b""``) when the data ends where it would start."""


def or_nothing(subcon: c.Construct) -> c.Construct:
    """`subcon` that a sender may leave out at the end of the message: decoded as ``b""`` when no
    data is left, and ``b""`` encodes as nothing."""
    return OrNothing(subcon)


class Exactly(c.Subconstruct):  # type: ignore[misc]
    """`subcon` filling a region of exactly `length` bytes: no more, no less, no padding."""

    def __init__(self, length: Callable[[Any], int], subcon: c.Construct) -> None:
        super().__init__(subcon)
        self.length = length


def exactly(length: Callable[[Any], int], subcon: c.Construct) -> c.Construct:
    """`subcon` that must use up exactly `length(this)` bytes (a FixedSized that pads nothing)."""
    return Exactly(length, subcon)


class FieldRef:
    """The value of an already-read field (a C-level `this.name`); parsers read their local copy."""

    __slots__ = ("_get", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._get = operator.itemgetter(name)

    def __call__(self, this: Any) -> Any:
        return self._get(this)


def field(name: str) -> Callable[[Any], Any]:
    """The value of an already-read field, as a size or count."""
    return FieldRef(name)


class LengthOf:
    """The length of an already-read field (a C-level `len_(this.name)`); builders take it of their local."""

    __slots__ = ("_get", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._get = operator.itemgetter(name)

    def __call__(self, this: Any) -> int:
        return len(self._get(this))


def length_of(name: str) -> Callable[[Any], int]:
    """For `Rebuild`: the length of field `name` (construct's `len_(this.name)`, without its cost)."""
    return LengthOf(name)


class Of:
    """`fn` of already-read fields `names`, as a function of `this`; builders call it on their locals."""

    __slots__ = ("fn", "names")

    def __init__(self, fn: Callable[..., Any], names: tuple[str, ...]) -> None:
        self.fn = fn
        self.names = names

    def __call__(self, this: Any) -> Any:
        return self.fn(*[this[name] for name in self.names])


def of(fn: Callable[..., Any], *names: str) -> Callable[[Any], Any]:
    """``fn(this.a, this.b, ...)`` for fields `names` (a rebuild, rule or count that builders inline)."""
    return Of(fn, names)


class Test:
    """A condition on one already-read field, ``this.name <op> value``, that parsers inline."""

    __slots__ = ("_apply", "name", "op", "value")

    _OPERATORS: ClassVar[dict[str, Callable[[Any, Any], Any]]] = {
        "==": operator.eq,
        "<=": operator.le,
        ">=": operator.ge,
        "&": operator.and_,
    }

    def __init__(self, name: str, op: str, value: int) -> None:
        if op not in self._OPERATORS:
            raise ValueError(f"operator {op!r} is not one of {sorted(self._OPERATORS)}")
        self.name, self.op, self.value = name, op, int(value)  # an enum member is written as its number
        self._apply = self._OPERATORS[op]

    def __call__(self, this: Any) -> bool:
        return bool(self._apply(this[self.name], self.value))

    def source(self, variable: str) -> str:
        """The test as a Python expression on `variable` (the field's value)."""
        return f"({variable} {self.op} {self.value!r})"


def when(name: str, op: str, value: int) -> Test:
    """``this.name <op> value`` (op one of ``== <= >= &``): a condition or rule the parser inlines."""
    return Test(name, op, value)


class Presence:
    """The rule that field `name` is there (not ``None``) exactly when `condition` holds; builders
    inline it, and parsers need not check it: they read the field exactly then."""

    __slots__ = ("condition", "name")

    def __init__(self, name: str, condition: Callable[[Any], Any]) -> None:
        self.name = name
        self.condition = condition

    def __call__(self, this: Any) -> bool:
        return (this[self.name] is not None) == bool(self.condition(this))


def only_when(name: str, condition: Callable[[Any], Any], subcon: c.Construct, reason: str) -> list[c.Construct]:
    """Field `name`, on the wire only when `condition` (on fields before it) holds, else ``None``, and
    the rule that its value is there exactly then, failing with `reason`: encoding refuses a value the
    wire would drop (``None`` where the field is due is refused by `subcon` itself)."""
    return [name / c.If(condition, subcon), require(Presence(name, condition), reason, field=name)]


class Run:
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
                raise short(need, max(0, len(raw) - at), f"{path} -> {name}")

    def misfit(self, values: list[Any], path: str) -> None:
        """Name the first value that does not fit its field."""
        for (name, _, _, fmt), value in zip(self.fields, values, strict=True):
            try:
                struct.pack("<" + fmt, value)
            except struct.error as error:
                raise c.FormatFieldError(f"{value!r:.40} does not fit: {error}", path=f"{path} -> {name}") from None
        raise c.FormatFieldError("values do not fit", path=path)


def packable(sub: c.Construct) -> tuple[str | None, str, Any, str] | None:
    """(name, kind, argument, format) when `sub` is a fixed-size little-endian field."""
    name = getattr(sub, "name", None)
    inner = sub.subcon if isinstance(sub, c.Renamed) else sub
    kind, arg = "int", None
    if isinstance(inner, c.Const):
        kind, arg, inner = "const", inner.value, inner.subcon
    elif isinstance(inner, c.Rebuild):
        kind, arg, inner = "rebuild", inner.func, inner.subcon
    little = isinstance(inner, c.FormatField) and inner.fmtstr[0] == "<"
    if little and inner.fmtstr[1:] in {"B", "H", "I", "L", "Q"}:
        return (name, kind, arg, inner.fmtstr[1:])
    if kind == "int" and type(inner) is c.Bytes and isinstance(inner.length, int):
        return (name, "bytes", inner.length, f"{inner.length}s")
    return None


def short(need: int, found: int, path: str) -> c.StreamError:
    """The error of a read past the end of the data (or of the region being read)."""
    return c.StreamError(f"stream read less than specified amount, expected {need}, found {found}", path=path)


def relocate(error: c.ConstructError, path: str, name: str | None) -> None:
    """Put field `name` into the path of an error raised below it (nested layouts get the bare path)."""
    where = getattr(error, "path", None)
    if name and isinstance(where, str) and where.startswith(path):
        error.path = f"{path} -> {name}{where[len(path):]}"


class Source:
    """Python source being generated, with the objects it refers to.

    `function` compiles it under a file name of its own and puts its lines in `linecache`, so a
    traceback through a generated function shows the generated line.
    """

    def __init__(self, names: dict[str, Any]) -> None:
        self.lines: list[str] = []
        self.names = dict(names)

    def ref(self, obj: Any) -> str:
        name = f"_o{len(self.names)}"
        self.names[name] = obj
        return name

    def add(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def function(self, name: str, filename: str) -> Any:
        """The function `name` the source defines, compiled under `filename` (made distinct)."""
        text = "\n".join(self.lines) + "\n"
        filename = _register(filename, text)
        namespace = dict(self.names)
        exec(compile(text, filename, "exec"), namespace)  # our own generated source; no input reaches it
        return namespace[name]


SOURCE_DIR_VARIABLE = "SPDM_CODEC_SOURCE_DIR"
"""When this environment variable names a directory, each generated function is written there as a
file and compiled under its path, so that coverage measures the generated code line by line."""


def _register(filename: str, text: str) -> str:
    """Put `text` in `linecache` under `filename`, or under ``filename #2``, ... when another text
    holds that name; return the name to compile under: that name (the ``<...>`` form, as attrs names
    its generated methods), or the path of the file `_write_source` made of it."""
    lines = text.splitlines(keepends=True)
    used, number = filename, 1
    while used in linecache.cache and linecache.getlines(used) != lines:
        number += 1
        used = f"{filename[:-1]} #{number}>"
    linecache.cache[used] = (len(text), None, lines, used)  # no mtime: checkcache() keeps it
    directory = os.environ.get(SOURCE_DIR_VARIABLE)
    return _write_source(directory, used, text) if directory else used


def _write_source(directory: str, name: str, text: str) -> str:
    """`text` as a file of `directory` named after `name` (``parse-spdm.messages.psk.PskExchange.py``
    for ``<spdm generated parse spdm.messages.psk.PskExchange>``); a file that already holds it is
    left as it is, any other is replaced whole, so concurrent processes never see a partial one."""
    stem = "-".join(name[1:-1].replace("#", "").split()[2:])
    directory = os.path.abspath(directory)
    path = os.path.join(directory, f"{stem}.py")
    try:
        with open(path, encoding="utf-8") as existing:
            if existing.read() == text:
                return path
    except FileNotFoundError:
        pass
    os.makedirs(directory, exist_ok=True)
    partial = f"{path}.{os.getpid()}.tmp"
    with open(partial, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(partial, path)
    return path


class Generator:
    """What the parse and build generators share: fresh local names, a size, count or condition as
    source (inlined when it reads fields already in locals), and generating a second time, keeping
    the `this` context up to date, when some rule turns out to need it."""

    names: ClassVar[dict[str, Any]]
    function: ClassVar[str]

    def __init__(self, plan: list[tuple[int, Any, str | None]], keep_context: bool) -> None:
        self.plan = plan
        self.keep_context = keep_context
        self.uses_context = False
        self.src = Source(self.names)
        self.locals: dict[str, str] = {}
        self.counter = 0

    @classmethod
    def compile(cls, plan: list[tuple[int, Any, str | None]], klass: type, names: tuple[str, ...], label: str) -> Any:
        """The generated function for instances of `klass` (fields `names`).

        Its source shows in tracebacks under ``<spdm generated parse MODULE.CLASS LABEL>``
        (`label` tells apart the layouts of one class), or, with ``SPDM_CODEC_SOURCE_DIR`` set,
        under the path of the file ``parse-MODULE.CLASS-LABEL.py`` in that directory.
        """
        generator = cls(plan, keep_context=False)
        generator.generate(klass, names)
        if generator.uses_context:
            generator = cls(plan, keep_context=True)
            generator.generate(klass, names)
        suffix = f" {label}" if label else ""
        filename = f"<spdm generated {cls.function} {klass.__module__}.{klass.__qualname__}{suffix}>"
        return generator.src.function(cls.function, filename)

    def generate(self, cls: type, names: tuple[str, ...]) -> None:
        raise NotImplementedError

    def fresh(self, base: str) -> str:
        self.counter += 1
        return f"{base}{self.counter}"

    def value(self, fn: Any) -> str:
        """Source of a size, count, condition or rebuilt value: a literal, a local, or a call on the context."""
        if isinstance(fn, (bool, int)):
            return repr(fn)
        if isinstance(fn, FieldRef) and fn.name in self.locals:
            return self.locals[fn.name]
        if isinstance(fn, LengthOf) and fn.name in self.locals:
            return f"len({self.locals[fn.name]})"
        if isinstance(fn, Test) and fn.name in self.locals:
            return fn.source(self.locals[fn.name])
        if isinstance(fn, Of) and all(name in self.locals for name in fn.names):
            return f"{self.src.ref(fn.fn)}({', '.join(self.locals[name] for name in fn.names)})"
        if isinstance(fn, Presence) and fn.name in self.locals:
            return f"(({self.locals[fn.name]} is not None) == bool({self.value(fn.condition)}))"
        self.uses_context = True
        return f"{self.src.ref(fn)}(inner)"
