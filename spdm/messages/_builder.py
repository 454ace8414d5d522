"""Build functions generated from layouts: straight-line Python from an object to its bytes.

Each bound layout gets ``build(obj, path) -> bytes``. The object's fields are read once into
locals, runs of fixed-size fields are one precompiled `struct` pack, derived lengths and counts are
``len()`` of those locals, nested records are direct calls of their own build functions, and the
pieces are joined once at the end. Every check construct's fields make when building is made, with
the construct error (and field path) they raise, so `EncodeError`s name the same fields. Sizes,
counts, rules and rebuilds declared with `field`, `length_of`, `when` or `of` are inlined on the
locals; other functions of `this` see a context holding the object's fields and the values derived
so far.
"""

from __future__ import annotations

import struct
from types import SimpleNamespace
from typing import Any

import construct as c
from construct.lib import integer2bytes

from spdm.messages._fields import (
    AbsentWhen,
    Exactly,
    Generator,
    LengthOf,
    NegotiatedBytes,
    OrNothing,
    Run,
    relocate,
)
from spdm.messages._parser import CHECK, RUN

__all__ = ["compile_builder"]


def _type_error(cls: type, obj: Any, path: str) -> c.ExplicitError:
    return c.ExplicitError(f"expected {cls.__name__}, got {type(obj).__name__}", path=path)


def _bytes_error(size: int, value: Any, path: str) -> c.StringError:
    return c.StringError(f"expected {size} bytes, got {value!r:.40}", path=path)


def _not_bytes(value: Any, path: str) -> c.ExplicitError:
    return c.ExplicitError(f"expected bytes, got {type(value).__name__}", path=path)


def _format_error(fmtstr: str, value: Any, path: str) -> c.FormatFieldError:
    return c.FormatFieldError(f"struct {fmtstr!r} error during building, given value {value!r}", path=path)


def _items_misfit(fmtstr: str, items: Any, path: str) -> c.FormatFieldError:
    """The error of the first array element that does not pack alone (as construct packs them)."""
    for item in items:
        try:
            struct.pack(fmtstr, item)
        except (struct.error, TypeError):
            return _format_error(fmtstr, item, path)
    return c.FormatFieldError("values do not fit", path=path)


def _count_error(count: int, items: Any, path: str) -> c.RangeError:
    if count < 0:
        return c.RangeError(f"invalid count {count}", path=path)
    return c.RangeError(f"expected {count} elements, found {len(items)}", path=path)


def _region_error(written: int, length: int, path: str) -> c.ExplicitError:
    return c.ExplicitError(f"{written} bytes written for a {length}-byte region", path=path)


def _written(data: Any, length: int, path: str) -> bytes:
    """construct's checks of a write (bytes, of `length`), for values off the fast path."""
    if not isinstance(data, bytes):
        raise c.StringError(f"given non-bytes value, perhaps unicode? {data!r}", path=path)
    if length < 0:
        raise c.StreamError(f"length must be non-negative, found {length}", path=path)
    if len(data) != length:
        raise c.StreamError(f"bytes object of wrong length, expected {length}, found {len(data)}", path=path)
    return data


def _bytes_value(value: Any, length: int, path: str) -> bytes:
    """construct's `Bytes`: an int is written big-endian, a bytearray as bytes, then checked."""
    data = integer2bytes(value, length) if isinstance(value, int) else value
    return _written(bytes(data) if type(data) is bytearray else data, length, path)


def _greedy_value(value: Any, path: str) -> bytes:
    """construct's `GreedyBytes`: a bytearray is written as bytes; anything else must be bytes."""
    data = bytes(value) if type(value) is bytearray else value
    return _written(data, len(data), path)


def _integer_bytes(value: Any, length: int, signed: bool, swapped: bool, path: str) -> bytes:
    """construct's `BytesInteger` (Int24ul): `length` bytes, little-endian when `swapped`."""
    if not isinstance(value, int):
        raise c.IntegerError(f"value {value} is not an integer", path=path)
    try:
        data: bytes = integer2bytes(value, length, signed)
    except ValueError as error:
        raise c.IntegerError(str(error), path=path) from None
    return data[::-1] if swapped else data


class _This(SimpleNamespace):
    """The `this` that rules and rebuilds see: ``this.name`` at attribute speed, and ``this["name"]``."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        return self.__dict__[key]


_NAMES = {
    "_This": _This,
    "ConstructError": c.ConstructError,
    "StructError": struct.error,
    "_relocate": relocate,
    "_type_error": _type_error,
    "_bytes_error": _bytes_error,
    "_not_bytes": _not_bytes,
    "_format_error": _format_error,
    "_items_misfit": _items_misfit,
    "_count_error": _count_error,
    "_region_error": _region_error,
    "_bytes_value": _bytes_value,
    "_greedy_value": _greedy_value,
    "_integer_bytes": _integer_bytes,
    "_pack": struct.pack,
}


class _Generator(Generator):
    """One layout's build function."""

    names = _NAMES
    function = "build"

    def __init__(self, plan: list[tuple[int, Any, str | None]], keep_context: bool) -> None:
        super().__init__(plan, keep_context)
        self.lengths: dict[str, str] = {}  # a local holding len() of another local -> that local

    def local(self, ind: int, expression: str, base: str) -> str:
        """`expression` as a name: itself when it is one, else a fresh local assigned once."""
        if expression.isidentifier() or expression.isdigit():
            return expression
        name = self.fresh(base)
        self.src.add(ind, f"{name} = {expression}")
        return name

    def derive(self, ind: int, name: str | None, fn: Any) -> str:
        """The local holding derived field `name` (a rebuild), computed here."""
        if name is None or ind != 1:
            raise TypeError(f"rebuilt field {name!r}: layouts build only named, unconditional rebuilds")
        var = f"f_{name}"
        self.src.add(ind, f"{var} = {self.value(fn)}")
        if isinstance(fn, LengthOf) and fn.name in self.locals:
            self.lengths[var] = self.locals[fn.name]
        self.locals[name] = var
        if self.keep_context:
            self.src.add(ind, f"inner.{name} = {var}")
        return var

    @staticmethod
    def need(value: str | None, name: str | None) -> str:
        if value is None:
            raise TypeError(f"field {name!r} is not a field of the object: layouts cannot build it")
        return value

    @staticmethod
    def where(name: str | None) -> str:
        return f"path + {' -> ' + name!r}" if name else "path"

    def generate(self, cls: type, names: tuple[str, ...]) -> None:
        src = self.src
        klass = src.ref(cls)
        src.add(0, "def build(obj, path):")
        src.add(1, f"if not isinstance(obj, {klass}):")
        src.add(2, f"raise _type_error({klass}, obj, path)")
        for n in names:
            self.locals[n] = f"f_{n}"
            src.add(1, f"f_{n} = obj.{n}")
        body_start = len(src.lines)
        pieces, packed = [], set()
        for kind, step, name in self.plan:
            if kind == RUN:
                pieces.append(self.run(step))
                packed.add(pieces[-1])
            elif kind == CHECK:
                src.add(1, f"if not {self.value(step.predicate)}:")
                src.add(2, f"{src.ref(step)}.fail(path)")
            elif not isinstance(step, type(c.Terminated)):
                piece = self.fresh("p")
                self.emit(step, self.locals.get(name) if name else None, piece, 1, name)
                pieces.append(piece)
        if self.keep_context:
            fields = ", ".join(f"{n}=f_{n}" for n in names)
            src.lines.insert(body_start, f"    inner = _This({fields})")
        if len(pieces) == 1 and pieces[0] in packed:  # already a new bytes object
            src.add(1, f"return {pieces[0]}")
        else:
            src.add(1, f"return b''.join(({''.join(p + ', ' for p in pieces)}))")

    def run(self, step: Run) -> str:
        """One pack of the run's fields, after the checks construct makes before writing them."""
        src = self.src
        values = []
        for name, kind, arg, _ in step.fields:
            if kind == "const":
                values.append(repr(arg))
            elif kind == "rebuild":
                values.append(self.derive(1, name, arg))
            else:
                var = self.need(self.locals.get(name) if name else None, name)
                if kind == "bytes":
                    src.add(1, f"if not isinstance({var}, bytes) or len({var}) != {arg}:")
                    src.add(2, f"raise _bytes_error({arg}, {var}, {self.where(name)})")
                values.append(var)
        listed = ", ".join(values)
        piece = self.fresh("p")
        src.add(1, "try:")
        src.add(2, f"{piece} = {src.ref(step.packer.pack)}({listed})")
        src.add(1, "except StructError:")
        src.add(2, f"{src.ref(step)}.misfit([{listed}], path)")
        return piece

    def emit(self, sub: Any, value: str | None, target: str, ind: int, name: str | None) -> None:
        """Lines that set `target` to the bytes of `sub` written from `value` (errors at field `name`)."""
        src = self.src
        where = self.where(name)
        if isinstance(sub, c.FormatField):
            src.add(ind, "try:")
            src.add(ind + 1, f"{target} = {src.ref(struct.Struct(sub.fmtstr).pack)}({self.need(value, name)})")
            src.add(ind, "except (StructError, TypeError):")
            src.add(ind + 1, f"raise _format_error({sub.fmtstr!r}, {value}, {where}) from None")
        elif isinstance(sub, c.Const):
            self.emit(sub.subcon, repr(sub.value), target, ind, name)
        elif isinstance(sub, c.Rebuild):
            self.emit(sub.subcon, self.derive(ind, name, sub.func), target, ind, name)
        elif isinstance(sub, c.BytesInteger) and isinstance(sub.length, int) and sub.length > 0:
            args = f"{self.need(value, name)}, {sub.length}, {bool(sub.signed)}, {bool(sub.swapped)}, {where}"
            src.add(ind, f"{target} = _integer_bytes({args})")
        elif type(sub) is c.Bytes:
            value = self.need(value, name)
            length = self.local(ind, self.value(sub.length), "n")
            src.add(ind, f"{target} = {value}")
            if self.lengths.get(length) == value:  # its length is len() of this very value
                src.add(ind, f"if {target}.__class__ is not bytes:")
            else:
                src.add(ind, f"if {target}.__class__ is not bytes or len({target}) != {length}:")
            src.add(ind + 1, f"{target} = _bytes_value({target}, {length}, {where})")
        elif sub is c.GreedyBytes:
            src.add(ind, f"{target} = {self.need(value, name)}")
            src.add(ind, f"if {target}.__class__ is not bytes:")
            src.add(ind + 1, f"{target} = _greedy_value({target}, {where})")
        elif sub is c.Pass:
            src.add(ind, f"{target} = b''")
        elif isinstance(sub, NegotiatedBytes):
            value = self.need(value, name)
            if sub.present_key is not None:
                src.add(ind, f"if {value} is None:")
                src.add(ind + 1, f"{target} = b''")
                src.add(ind, "else:")
                ind += 1
            src.add(ind, f"if not isinstance({value}, bytes):")
            src.add(ind + 1, f"raise _not_bytes({value}, {where})")
            src.add(ind, f"{target} = {value}")
        elif isinstance(sub, AbsentWhen):
            src.add(ind, f"if {self.need(value, name)} is None:")
            src.add(ind + 1, f"{target} = b''")
            src.add(ind, "else:")
            self.emit(sub.subcon, value, target, ind + 1, name)
        elif isinstance(sub, OrNothing):
            src.add(ind, f"if {self.need(value, name)} == b'':")
            src.add(ind + 1, f"{target} = b''")
            src.add(ind, "else:")
            self.emit(sub.subcon, value, target, ind + 1, name)
        elif isinstance(sub, c.IfThenElse):
            src.add(ind, f"if {self.value(sub.condfunc)}:")
            self.emit(sub.thensubcon, value, target, ind + 1, name)
            src.add(ind, "else:")
            self.emit(sub.elsesubcon, value, target, ind + 1, name)
        elif isinstance(sub, c.Array):
            self.array(sub, self.need(value, name), target, ind, name)
        elif isinstance(sub, Exactly):
            self.emit(sub.subcon, value, target, ind, name)
            length = self.value(sub.length)  # after the content, as construct's region did
            src.add(ind, f"if len({target}) != {length}:")
            src.add(ind + 1, f"raise _region_error(len({target}), {length}, {where})")
        elif callable(getattr(sub, "builder", None)):
            self.nested(f"{src.ref(sub.builder())}({self.need(value, name)}, path)", target, ind, name)
        else:
            raise TypeError(f"field {name!r}: {type(sub).__name__} is not a field kind layouts can build")

    def nested(self, call: str, target: str, ind: int, name: str | None) -> None:
        """`target` = `call` of nested build functions, their errors moved under field `name`."""
        src = self.src
        src.add(ind, "try:")
        src.add(ind + 1, f"{target} = {call}")
        src.add(ind, "except ConstructError as error:")
        src.add(ind + 1, f"_relocate(error, path, {name!r})")
        src.add(ind + 1, "raise")

    def array(self, sub: c.Array, value: str, target: str, ind: int, name: str | None) -> None:
        src = self.src
        where = self.where(name)
        count = self.local(ind, self.value(sub.count), "count")
        if self.lengths.get(count) != value:  # unless the count is len() of these very items
            src.add(ind, f"if not 0 <= {count} or len({value}) != {count}:")
            src.add(ind + 1, f"raise _count_error({count}, {value}, {where})")
        element = sub.subcon
        if isinstance(element, c.FormatField):
            fmt = element.fmtstr
            src.add(ind, "try:")
            src.add(ind + 1, f"{target} = _pack({fmt[0] + '%d' + fmt[1:]!r} % {count}, *{value})")
            src.add(ind, "except (StructError, TypeError):")
            src.add(ind + 1, f"raise _items_misfit({fmt!r}, {value}, {where}) from None")
        elif callable(getattr(element, "builder", None)):
            item = self.fresh("item")
            call = f"b''.join([{src.ref(element.builder())}({item}, path) for {item} in {value}]) if {count} else b''"
            self.nested(call, target, ind, name)
        else:
            items, item, piece = self.fresh("items"), self.fresh("item"), self.fresh("p")
            src.add(ind, f"{items} = []")
            src.add(ind, f"for {item} in {value}:")
            self.emit(element, item, piece, ind + 1, name)
            src.add(ind + 1, f"{items}.append({piece})")
            src.add(ind, f"{target} = b''.join({items})")


def compile_builder(plan: list[tuple[int, Any, str | None]], cls: type, names: tuple[str, ...], label: str = "") -> Any:
    """The build function of a layout's `plan`, writing instances of `cls` (fields `names`)."""
    return _Generator.compile(plan, cls, names, label)
