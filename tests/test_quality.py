"""The standing checks: ruff and mypy --strict stay clean, and no module imports one that imports it back.

ruff and mypy run from this interpreter (the `test` extra installs them), so neither can be skipped
for want of a command on PATH.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from spdm import responder

ROOT = Path(__file__).resolve().parents[1]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


# Each run keeps its own cache (or none): CI runs two suites at once, with different ruff and mypy versions.


def test_ruff_is_clean() -> None:
    result = _run(sys.executable, "-m", "ruff", "check", "--no-cache", "spdm", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean(tmp_path: Path) -> None:
    result = _run(sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path), "spdm")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_warning_attributed_to_our_code_is_an_error() -> None:
    """pyproject's filterwarnings: ours fail the test, a dependency's own stay warnings."""
    with pytest.raises(DeprecationWarning):
        warnings.warn_explicit("deprecated", DeprecationWarning, "spdm/crypto/dhe.py", 1, module="spdm.crypto.dhe")
    with pytest.warns(DeprecationWarning):
        warnings.warn_explicit("deprecated", DeprecationWarning, "construct/core.py", 1, module="construct.core")


def test_the_oldest_constraints_pin_exactly_the_lower_bounds() -> None:
    """.ci/oldest.txt (the second CI environment) pins each `>=` bound of pyproject.toml, no other."""
    bounds = {}
    for text in importlib.metadata.requires("pyspdm") or []:
        requirement = Requirement(text)
        lowest = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
        assert len(lowest) == 1, f"{text!r}: the oldest environment needs exactly one lower bound"
        bounds[requirement.name.lower()] = lowest[0]
    pins = {}
    for line in (ROOT / ".ci" / "oldest.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = Version(version.strip())
    assert pins == bounds


# Import cycles known and being removed, each as the (importer, imported) edge that closes it, with
# a comment saying why it is still there. The test fails when an entry closes no cycle any more, so
# the list only ever holds cycles that exist. (Empty since spdm.requester.session stopped importing
# spdm.requester.driver back, issue 13.)
KNOWN_CYCLES: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((ROOT / "spdm").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _import_graph() -> dict[str, set[str]]:
    """module -> the spdm modules it imports, from every import statement anywhere in its source
    (top level, functions, TYPE_CHECKING blocks); `from package import name` counts as an import
    of the submodule `name` when there is one, else of the package (whose own imports, re-exports
    included, are its edges)."""
    modules = _modules()

    def known(name: str) -> str:
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                for alias in node.names:
                    imported.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        ours = {known(name) for name in imported if name == "spdm" or name.startswith("spdm.")}
        graph[module] = ours - {module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_one_that_imports_it_back() -> None:
    """Imports go downward: no cycle, directly or through others. Imports inside functions and
    under TYPE_CHECKING count, so moving an import there does not hide a cycle."""
    graph = _import_graph()
    assert "spdm.messages.codec" in graph["spdm.messages"]  # a package's re-exports are its edges
    assert not graph["spdm.errors"]  # the bottom: every module may import it
    cycles = _cycles(graph)
    for importer, imported in sorted(KNOWN_CYCLES):
        closes = imported in graph[importer] and any({importer, imported} <= set(c) for c in cycles)
        assert closes, f"{importer} -> {imported} closes no cycle now: remove it from KNOWN_CYCLES"
    allowed = {module: graph[module] - {b for a, b in KNOWN_CYCLES if a == module} for module in graph}
    report = [", ".join(f"{m} -> {sorted(allowed[m] & set(c))}" for m in c) for c in _cycles(allowed)]
    assert not report, "import cycles:\n" + "\n".join(report)


def _private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split("."))


def test_public_objects_name_public_modules() -> None:
    """What a public module exports (and every base class of it) says it comes from a public
    module: reprs, tracebacks and help() show no private path a user could not import."""
    private: list[str] = []
    for module in sorted(_modules()):
        if _private(module):
            continue
        namespace = importlib.import_module(module)
        for name in getattr(namespace, "__all__", ()):
            obj = getattr(namespace, name)
            if isinstance(obj, type):
                shown = [base for base in obj.__mro__ if base.__module__.startswith("spdm")]
            elif callable(obj) and getattr(obj, "__module__", "").startswith("spdm"):
                shown = [obj]
            else:
                continue
            private += [f"{module}.{name}: {o.__module__}.{o.__qualname__}" for o in shown if _private(o.__module__)]
    assert not private, "\n".join(private)


def test_the_readme_state_diagrams_are_the_responders() -> None:
    """The README shows `state_diagram()` and `session_state_diagram()` as they print, so a state or
    request added to the responder's tables cannot leave the documented diagrams behind."""
    readme = (ROOT / "README.md").read_text()
    for diagram in (responder.state_diagram(), responder.session_state_diagram()):
        assert f"```mermaid\n{diagram.rstrip()}\n```" in readme


def _where_cells() -> list[tuple[str, int, str]]:
    """The cells of the rule maps' "where it lives" column (README.md, docs/*.md): (file, line, cell)."""
    cells = []
    for doc in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        header: list[str] | None = None
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            if not line.startswith("|"):
                header = None
                continue
            row = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
            if header is None:
                header = row
            elif len(row) > 1 and re.search(r"where|place", header[1]) and not row[0].startswith("---"):
                cells.append((doc.name, number, row[1]))
    return cells


def test_the_rule_maps_name_modules_and_names_that_exist() -> None:
    """Each module path the rule maps give exists, and each name they cite is a name in spdm/: a rule
    moved or renamed cannot leave its documented place behind."""
    package = ROOT / "spdm"
    words = {word for path in package.rglob("*.py") for word in re.findall(r"\w+", path.read_text())}
    basenames = {path.name for path in package.rglob("*.py")}
    cells = _where_cells()
    assert len(cells) > 100  # the tables were found
    stale = []
    for doc, number, cell in cells:
        for token in re.findall(r"`([^`]+)`", cell):
            if re.fullmatch(r"spdm/[\w/.]*", token):
                missing = not (ROOT / token).exists()
            elif re.fullmatch(r"\w+\.py", token):
                missing = token not in basenames
            elif re.fullmatch(r"\w+(\.\w+)*(\(\))?", token):
                missing = any(part not in words for part in token.removesuffix("()").split("."))
            else:
                continue
            if missing:
                stale.append(f"{doc}:{number}: {token}")
    assert stale == []
