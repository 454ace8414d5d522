"""Parse functions generated from layouts: straight-line Python over (bytes, offset, limit).

Each bound layout gets ``parse(data, offset, limit, ctx, path) -> (obj, offset)``, `ctx` being the
`CodecContext` (or ``None``). Fields are
read into local variables, runs of fixed-size fields with one `struct` call, sizes and counts
from earlier fields are the locals themselves, nested records are direct calls of their own
parse functions, and the object is filled through its slots. Every read is checked against
`limit` (the end of the data, or of the region an `exactly` field must fill) before it is made,
and every failure is the construct error (with its field path) that `construct.Struct` would
raise, so `DecodeError`s name the same fields. Rules and conditions written as functions of
`this` see a context holding the fields read so far and ``_params`` (the root context). Lengths read
from unsigned fields need no check that they are not negative, and the negotiation context is
checked for ``None`` once on a straight path. Each read leaves the new offset in a fresh local
(``offset`` is assigned only where paths join: before branches and loops, and after nested reads).
"""

from __future__ import annotations

import struct
import types
from typing import Any

import construct as c

from spdm.messages._fields import (
    AbsentWhen,
    Context,
    Exactly,
    Generator,
    NegotiatedBytes,
    OrNothing,
    Presence,
    Run,
    packable,
    relocate,
    root_context,
    short,
)

__all__ = ["CHECK", "FIELD", "RUN", "compile_parser"]

RUN, CHECK, FIELD = range(3)


def _const_error(expected: int, got: int, path: str) -> c.ConstError:
    return c.ConstError(f"parsing expected {expected!r} but parsed {got!r}", path=path)


def _negative(what: str, value: int, path: str) -> c.ConstructError:
    if what == "count":
        return c.RangeError(f"invalid count {value}", path=path)
    return c.StreamError(f"length must be non-negative, found {value}", path=path)


def _no_context(key: str, path: str) -> c.ExplicitError:
    return c.ExplicitError(f"needs a negotiation context ({key})", path=path)


def _no_value(key: str, path: str) -> c.ExplicitError:
    return c.ExplicitError(f"the negotiation context has no {key}", path=path)


_NAMES = {
    "Context": Context,
    "_root_context": root_context,
    "ConstructError": c.ConstructError,
    "TerminatedError": c.TerminatedError,
    "_relocate": relocate,
    "_short": short,
    "_const_error": _const_error,
    "_negative": _negative,
    "_no_context": _no_context,
    "_no_value": _no_value,
    "_from_bytes": int.from_bytes,
    "_unpack_from": struct.unpack_from,
    "_new": object.__new__,
}


class _Generator(Generator):
    """One layout's parse function."""

    names = _NAMES
    function = "parse"

    def __init__(self, plan: list[tuple[int, Any, str | None]], keep_context: bool) -> None:
        super().__init__(plan, keep_context)
        self.unsigned: set[str] = set()  # locals read from unsigned integer fields
        self.ctx_checked = False  # `ctx is None` already ruled out on every path from here on
        self.at = "offset"  # the local holding the current offset

    def advance(self) -> tuple[str, str]:
        """(start, end) of the next read: the current offset's local and a fresh one, made current."""
        start, self.at = self.at, self.fresh("at")
        return start, self.at

    def settle(self, ind: int) -> None:
        """Put the current offset in ``offset``, where paths that read different amounts join."""
        if self.at != "offset":
            self.src.add(ind, f"offset = {self.at}")
            self.at = "offset"

    def store(self, ind: int, name: str | None, var: str) -> None:
        if name is None:
            return
        self.locals[name] = var
        if self.keep_context:
            self.src.add(ind, f"inner[{name!r}] = {var}")

    def generate(self, cls: type, names: tuple[str, ...]) -> None:
        src = self.src
        body_start = len(src.lines)
        for kind, step, name in self.plan:
            if kind == RUN:
                self.run(step)
            elif kind == CHECK:
                if isinstance(step.predicate, Presence):  # holds as read: the field was read exactly then
                    continue
                src.add(1, f"if not {self.value(step.predicate)}:")
                src.add(2, f"{src.ref(step)}.fail(path)")
            elif isinstance(step, type(c.Terminated)):
                src.add(1, f"if {self.at} != limit:")
                src.add(2, 'raise TerminatedError("expected end of stream", path=path)')
            else:
                var = f"f_{name}" if name else "_"
                self.emit(step, var, "limit", 1, name)
                self.store(1, name, var)
                packed = packable(step)
                if packed is not None and packed[1] in ("int", "rebuild"):
                    self.unsigned.add(var)
        if self.keep_context:
            src.lines.insert(body_start, "    inner = Context(_params=_root_context(ctx))")
        self.construct(cls, names)
        src.lines.insert(0, "def parse(data, offset, limit, ctx, path):")

    def construct(self, cls: type, names: tuple[str, ...]) -> None:
        src = self.src
        values = [self.locals[n] for n in names]
        slots = [cls.__dict__.get(n) for n in names]
        if hasattr(cls, "__post_init__") or not all(isinstance(s, types.MemberDescriptorType) for s in slots):
            listed = ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))
            src.add(1, f"return {src.ref(cls)}({listed}), {self.at}")
            return
        src.add(1, f"obj = _new({src.ref(cls)})")
        for slot, value in zip(slots, values, strict=True):
            src.add(1, f"{src.ref(slot.__set__)}(obj, {value})")  # type: ignore[union-attr]
        src.add(1, f"return obj, {self.at}")

    def run(self, step: Run) -> None:
        src = self.src
        variables = [f"f_{n}" if n else "_" for n, _, _, _ in step.fields]
        start, end = self.advance()
        src.add(1, f"{end} = {start} + {step.size}")
        src.add(1, f"if {end} > limit:")
        src.add(2, f"{src.ref(step)}.short(data[{start}:limit], path)")
        src.add(1, f"{', '.join(variables)}, = {src.ref(step.packer.unpack_from)}(data, {start})")
        for var, (name, kind, arg, _) in zip(variables, step.fields, strict=True):
            if kind == "const":
                src.add(1, f"if {var} != {arg!r}:")
                src.add(2, f"raise _const_error({arg!r}, {var}, path + {' -> ' + str(name)!r})")
            elif kind != "bytes":  # every run format is unsigned
                self.unsigned.add(var)
            self.store(1, name, var)

    def count(self, ind: int, fn: Any, base: str, what: str, where: str) -> str:
        """A length or count as a local, checked not negative unless it was read unsigned."""
        value = self.value(fn)
        if value in self.unsigned:
            return value
        local = self.fresh(base)
        self.src.add(ind, f"{local} = {value}")
        self.src.add(ind, f"if {local} < 0:")
        self.src.add(ind + 1, f"raise _negative({what!r}, {local}, {where})")
        return local

    def check_ctx(self, ind: int, key: str, where: str) -> None:
        """Fail without a negotiation context, unless a check on every path here already did."""
        if self.ctx_checked:
            return
        self.src.add(ind, "if ctx is None:")
        self.src.add(ind + 1, f"raise _no_context({key!r}, {where})")
        self.ctx_checked = ind == 1

    def read(self, ind: int, target: str, size: str, limit: str, where: str) -> None:
        """`target` = the next `size` bytes (`size` known not to be negative)."""
        src = self.src
        start, end = self.advance()
        src.add(ind, f"{end} = {start} + {size}")
        src.add(ind, f"if {end} > {limit}:")
        src.add(ind + 1, f"raise _short({size}, {limit} - {start}, {where})")
        src.add(ind, f"{target} = data[{start}:{end}]")

    def emit(self, sub: Any, target: str, limit: str, ind: int, name: str | None) -> None:
        """Lines that read `sub` into `target` and advance `offset` (errors at field `name`)."""
        src = self.src
        where = f"path + {' -> ' + name!r}" if name else "path"
        if isinstance(sub, c.Renamed):
            sub = sub.subcon
        packed = packable(sub)
        if packed is not None:
            _, kind, arg, fmt = packed
            size = struct.calcsize("<" + fmt)
            if kind == "bytes":
                self.read(ind, target, str(size), limit, where)
                return
            start, end = self.advance()
            src.add(ind, f"{end} = {start} + {size}")
            src.add(ind, f"if {end} > {limit}:")
            src.add(ind + 1, f"raise _short({size}, {limit} - {start}, {where})")
            src.add(ind, f"{target}, = {src.ref(struct.Struct('<' + fmt).unpack_from)}(data, {start})")
            if kind == "const":
                src.add(ind, f"if {target} != {arg!r}:")
                src.add(ind + 1, f"raise _const_error({arg!r}, {target}, {where})")
        elif isinstance(sub, c.Const):
            self.emit(sub.subcon, target, limit, ind, name)
            src.add(ind, f"if {target} != {sub.value!r}:")
            src.add(ind + 1, f"raise _const_error({sub.value!r}, {target}, {where})")
        elif isinstance(sub, c.Rebuild):
            self.emit(sub.subcon, target, limit, ind, name)
        elif isinstance(sub, c.BytesInteger) and isinstance(sub.length, int):
            raw = self.fresh("raw")
            self.read(ind, raw, str(sub.length), limit, where)
            order = "little" if sub.swapped else "big"
            src.add(ind, f"{target} = _from_bytes({raw}, {order!r}, signed={sub.signed!r})")
        elif type(sub) is c.Bytes:
            if isinstance(sub.length, int):
                length = str(sub.length)
            else:
                length = self.count(ind, sub.length, "n", "length", where)
            self.read(ind, target, length, limit, where)
        elif sub is c.GreedyBytes:
            src.add(ind, f"{target} = data[{self.at}:{limit}]")
            self.at = limit
        elif sub is c.Pass:
            src.add(ind, f"{target} = None")
        elif isinstance(sub, NegotiatedBytes):
            self.negotiated(sub, target, limit, ind, where)
        elif isinstance(sub, AbsentWhen):
            if sub.absent_if:
                self.check_ctx(ind, sub.key, where)
            self.settle(ind)
            absent = f"ctx.{sub.key}" if sub.absent_if else f"ctx is None or not ctx.{sub.key}"
            src.add(ind, f"if {absent}:")
            src.add(ind + 1, f"{target} = None")
            src.add(ind, "else:")
            self.emit(sub.subcon, target, limit, ind + 1, name)
            self.settle(ind + 1)
        elif isinstance(sub, OrNothing):
            self.settle(ind)
            src.add(ind, f"if offset == {limit}:")
            src.add(ind + 1, f"{target} = b''")
            src.add(ind, "else:")
            self.emit(sub.subcon, target, limit, ind + 1, name)
            self.settle(ind + 1)
        elif isinstance(sub, c.IfThenElse):
            self.settle(ind)
            src.add(ind, f"if {self.value(sub.condfunc)}:")
            self.emit(sub.thensubcon, target, limit, ind + 1, name)
            self.settle(ind + 1)
            src.add(ind, "else:")
            self.emit(sub.elsesubcon, target, limit, ind + 1, name)
            self.settle(ind + 1)
        elif isinstance(sub, c.Array):
            self.array(sub, target, limit, ind, name, where)
        elif isinstance(sub, Exactly):
            length = self.count(ind, sub.length, "n", "length", where)
            region = self.fresh("region")
            src.add(ind, f"{region} = {self.at} + {length}")
            src.add(ind, f"if {region} > {limit}:")
            src.add(ind + 1, f"raise _short({length}, {limit} - {self.at}, {where})")
            self.emit(sub.subcon, target, region, ind, name)
            at = self.at
            src.add(ind, f"if {at} != {region}:")
            src.add(ind + 1, "raise TerminatedError(")
            src.add(ind + 2, f'f"{{{region} - {at}}} bytes left over in its {{{length}}}-byte region", path={where}')
            src.add(ind + 1, ")")
        elif callable(getattr(sub, "parser", None)):
            start, self.at = self.at, "offset"
            src.add(ind, "try:")
            src.add(ind + 1, f"{target}, offset = {src.ref(sub.parser())}(data, {start}, {limit}, ctx, path)")
            src.add(ind, "except ConstructError as error:")
            src.add(ind + 1, f"_relocate(error, path, {name!r})")
            src.add(ind + 1, "raise")
        else:
            raise TypeError(f"field {name!r}: {type(sub).__name__} is not a field kind layouts can parse")

    def negotiated(self, sub: NegotiatedBytes, target: str, limit: str, ind: int, where: str) -> None:
        src = self.src
        self.check_ctx(ind, sub.present_key or sub.size_key, where)
        if sub.present_key is not None:
            present = self.fresh("present")
            src.add(ind, f"{present} = ctx.{sub.present_key}")
            src.add(ind, f"if {present} is None:")
            src.add(ind + 1, f"raise _no_value({sub.present_key!r}, {where})")
            self.settle(ind)
            src.add(ind, f"if not {present}:")
            src.add(ind + 1, f"{target} = None")
            src.add(ind, "else:")
            ind += 1
        size = self.fresh("n")
        src.add(ind, f"{size} = ctx.{sub.size_key}")
        src.add(ind, f"if {size} is None:")
        src.add(ind + 1, f"raise _no_value({sub.size_key!r}, {where})")
        self.read(ind, target, size, limit, where)
        if sub.present_key is not None:
            self.settle(ind)

    def array(self, sub: c.Array, target: str, limit: str, ind: int, name: str | None, where: str) -> None:
        src = self.src
        count = self.count(ind, sub.count, "count", "count", where)
        element = sub.subcon
        packed = packable(element)
        if packed is not None and packed[1] == "int":
            size = struct.calcsize("<" + packed[3])
            start, end = self.advance()
            src.add(ind, f"{end} = {start} + {size} * {count}")
            src.add(ind, f"if {end} > {limit}:")
            src.add(ind + 1, f"raise _short({size} * {count}, {limit} - {start}, {where})")
            src.add(ind, f'{target} = _unpack_from(f"<{{{count}}}{packed[3]}", data, {start})')
            return
        items, item = self.fresh("items"), self.fresh("item")
        self.settle(ind)
        src.add(ind, f"{items} = []")
        src.add(ind, f"for _ in range({count}):")
        self.emit(element, item, limit, ind + 1, name)
        self.settle(ind + 1)
        src.add(ind + 1, f"{items}.append({item})")
        src.add(ind, f"{target} = tuple({items})")


def compile_parser(plan: list[tuple[int, Any, str | None]], cls: type, names: tuple[str, ...], label: str = "") -> Any:
    """The parse function of a layout's `plan`, building instances of `cls` (fields `names`)."""
    return _Generator.compile(plan, cls, names, label)
