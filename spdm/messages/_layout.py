"""Layout: the construct Struct that message codecs are declared with, made fast.

Same semantics as `construct.Struct` in plain mode (every read bounds-checked, every write checked,
errors carrying the field path), but binding a layout to its dataclass generates its parse function
(see `_parser`) and its build function (see `_builder`): runs of fixed-size fields are one
precompiled `struct.Struct`, rules are inline tests, and objects are read and written directly.
SPDM messages are mostly small integers, and construct's per-field machinery cost more than the
rest of the codec together.
"""

from __future__ import annotations

from typing import Any

import construct as c

from spdm.messages._builder import compile_builder
from spdm.messages._fields import (
    Context,
    Require,
    Run,
    absent_when,
    exactly,
    field,
    length_of,
    negotiated_bytes,
    of,
    only_when,
    or_nothing,
    packable,
    present_when,
    require,
    root_context,
    when,
)
from spdm.messages._parser import CHECK, FIELD, RUN, compile_parser
from spdm.messages.context import CodecContext

__all__ = [
    "Context",
    "Layout",
    "absent_when",
    "exactly",
    "field",
    "length_of",
    "negotiated_bytes",
    "of",
    "only_when",
    "or_nothing",
    "present_when",
    "require",
    "root_context",
    "when",
]


class Layout(c.Construct):  # type: ignore[misc]
    """A Struct of `subcons`, bound (`bind`) to the dataclass whose instances it reads and writes.

    After `bind`, ``parse_at(data, offset, limit, ctx, path)`` reads one instance from
    ``data[offset:limit]`` (`ctx` is the `CodecContext`, or ``None``) and returns it with the offset
    after it, and ``build_bytes(obj, path)`` returns the bytes of one (construct's `build` calls it too).
    """

    def __init__(self, *subcons: c.Construct) -> None:
        super().__init__()
        self.subcons = list(subcons)
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

    def bind(self, cls: type, names: tuple[str, ...], label: str = "") -> None:
        """Read into and write from instances of `cls`, whose fields are `names`.

        The parse and build functions are generated on first use, not here: binding happens at
        import for every message, and a program that decodes one message should not pay for all.
        `label` tells this layout apart from another one of `cls` in the generated functions'
        file names (``<spdm generated parse MODULE.CLASS LABEL>``, which tracebacks show).
        """
        self._bound = (cls, names, label)
        self._parser: Any = None
        self._builder: Any = None

    def parser(self) -> Any:
        """The generated parse function (see `parse_at`), made on the first call."""
        if self._parser is None:
            self._parser = compile_parser(self.plan, *self._target())
        return self._parser

    def builder(self) -> Any:
        """The generated build function (see `build_bytes`), made on the first call."""
        if self._builder is None:
            self._builder = compile_builder(self.plan, *self._target())
        return self._builder

    def _target(self) -> tuple[type, tuple[str, ...], str]:
        bound: tuple[type, tuple[str, ...], str] | None = getattr(self, "_bound", None)
        if bound is None:
            raise c.ExplicitError("layout used before it was bound to a dataclass")
        return bound

    def parse_at(self, data: bytes, offset: int, limit: int, ctx: CodecContext | None, path: str) -> tuple[Any, int]:
        return self.parser()(data, offset, limit, ctx, path)  # type: ignore[no-any-return]

    def build_bytes(self, obj: Any, path: str) -> bytes:
        return self.builder()(obj, path)  # type: ignore[no-any-return]

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        raise c.ExplicitError("layouts are read with parse_at (spdm.messages.decode), not construct's parse", path=path)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        stream.write(self.build_bytes(obj, path))
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise c.SizeofError("variable size", path=path)
