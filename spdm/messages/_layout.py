"""Layout: the construct Struct that message codecs are declared with, made fast.

Same semantics as `construct.Struct` in plain mode (every read bounds-checked, errors carrying
the field path), but binding a layout to its dataclass generates its parse function (see
`_parser`) and its build function: runs of fixed-size fields are one precompiled
`struct.Struct`, rules are inline tests, and objects are read and written directly. SPDM
messages are mostly small integers, and construct's per-field machinery cost more than the
rest of the codec together.
"""

from __future__ import annotations

import struct
from typing import Any

import construct as c

from spdm.messages._fields import (
    Context,
    Require,
    Run,
    Source,
    absent_when,
    exactly,
    field,
    length_of,
    negotiated_bytes,
    packable,
    relocate,
    require,
    root_context,
    when,
)
from spdm.messages._parser import CHECK, FIELD, RUN, compile_parser

__all__ = [
    "Context",
    "Layout",
    "absent_when",
    "exactly",
    "field",
    "length_of",
    "negotiated_bytes",
    "require",
    "root_context",
    "when",
]


def _type_error(cls: type, obj: Any, path: str) -> c.ExplicitError:
    return c.ExplicitError(f"expected {cls.__name__}, got {type(obj).__name__}", path=path)


def _bytes_error(size: int, value: Any, path: str, name: str) -> c.StringError:
    return c.StringError(f"expected {size} bytes, got {value!r:.40}", path=f"{path} -> {name}")


_BUILD_NAMES = {
    "Context": Context,
    "ConstructError": c.ConstructError,
    "StructError": struct.error,
    "_relocate": relocate,
    "_type_error": _type_error,
    "_bytes_error": _bytes_error,
}


class Layout(c.Construct):  # type: ignore[misc]
    """A Struct of `subcons`, bound (`bind`) to the dataclass whose instances it reads and writes.

    After `bind`, ``parse_at(data, offset, limit, params, path)`` reads one instance from
    ``data[offset:limit]`` and returns it with the offset after it; construct's `build` writes one.
    """

    def __init__(self, *subcons: c.Construct) -> None:
        super().__init__()
        self.subcons = list(subcons)
        self.flagbuildnone = all(sc.flagbuildnone for sc in self.subcons)
        plan: list[tuple[int, Any, str | None]] = []
        run: list[tuple[str | None, str, Any, str]] = []
        deferred: list[tuple[int, Any, str | None]] = []  # rules met inside a run, checked after it
        for sub in self.subcons:
            packed = packable(sub)
            if packed is not None:
                run.append(packed)
                continue
            if isinstance(sub, Require):
                (deferred if run else plan).append((CHECK, sub, None))
                continue
            if run:
                plan.append((RUN, Run(run), None))
                plan.extend(deferred)
                run, deferred = [], []
            if isinstance(sub, c.Renamed):
                plan.append((FIELD, sub.subcon, sub.name))
            else:
                plan.append((FIELD, sub, sub.name))
        if run:
            plan.append((RUN, Run(run), None))
            plan.extend(deferred)
        self.plan = plan

    def bind(self, cls: type, names: tuple[str, ...]) -> None:
        """Read into and write from instances of `cls`, whose fields are `names`."""
        self.parse_at = compile_parser(self.plan, cls, names)  # type: ignore[method-assign]
        self._build = self._generate_build(cls, names)  # type: ignore[method-assign]

    def parse_at(self, data: bytes, offset: int, limit: int, params: Context, path: str) -> tuple[Any, int]:
        raise c.ExplicitError("layout used before it was bound to a dataclass", path=path)

    def _generate_build(self, cls: type, names: tuple[str, ...]) -> Any:
        src = Source(_BUILD_NAMES)
        klass = src.ref(cls)
        src.add(0, "def build(obj, stream, context, path):")
        src.add(1, f"if not isinstance(obj, {klass}):")
        src.add(2, f"raise _type_error({klass}, obj, path)")
        src.add(1, 'inner = Context(_=context, _params=context["_params"])')
        for n in names:
            src.add(1, f"inner[{n!r}] = obj.{n}")
        for kind, step, name in self.plan:
            if kind == RUN:
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
            elif kind == CHECK:
                src.add(1, f"if not {src.ref(step.predicate)}(inner):")
                src.add(2, f"{src.ref(step)}.fail(path)")
            elif isinstance(step, type(c.Terminated)):
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
        raise c.ExplicitError("layouts are read with parse_at (spdm.messages.decode), not construct's parse", path=path)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        raise c.ExplicitError("layout used before it was bound to a dataclass", path=path)

    def _sizeof(self, context: Any, path: str) -> int:
        raise c.SizeofError("variable size", path=path)
