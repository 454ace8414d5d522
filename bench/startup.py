"""Start-up cost: whole-process CPU of `spdm --help` against a bare interpreter importing the
dependency modules the stack uses (what `spdm --help` used to import, issue 12's baseline) and
against a bare interpreter importing nothing; and the in-process CPU of `import spdm.messages` plus
decoding one VERSION.

Each child is a fresh interpreter; CPU is user + system time from the children's rusage. The two
sides of the ratio run in alternating rounds and the median of each is kept. Children run with
bytecode writing allowed (PYTHONDONTWRITEBYTECODE removed) after one warm-up, as an installed
package has its .pyc files: otherwise every run would time the compiler.

Run: python bench/startup.py
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROUNDS = 15
DEPENDENCIES = ("cryptography", "construct", "asn1crypto")
"""The runtime dependencies' top-level packages (pyproject.toml)."""

_DEPENDENCY_MODULES = (
    "cryptography.x509",
    "cryptography.x509.verification",
    "cryptography.hazmat.primitives.asymmetric.ec",
    "cryptography.hazmat.primitives.ciphers.aead",
    "construct",
    "asn1crypto.x509",
)
"""What the stack imports of its dependencies for a real job (and `spdm --help` imported before its
subcommands became lazy): the baseline of the `spdm --help` target."""

HELP_TARGET = 1.3
DECODE_TARGET_MS = 50.0

_LOADED_BY_HELP = """
import contextlib, io, json, sys
from spdm.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["--help"])
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in {deps!r})))
"""

_IMPORT_AND_DECODE = """
import time
start = time.process_time()
import spdm.messages
spdm.messages.decode(bytes.fromhex("10040000000200101100"))
print((time.process_time() - start) * 1e3)
"""


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _spdm_command() -> list[str]:
    """The installed `spdm` console script beside this interpreter, else `python -m spdm`."""
    script = Path(sys.executable).parent / "spdm"
    if script.exists():
        return [str(script)]
    found = shutil.which("spdm")
    return [found] if found else [sys.executable, "-m", "spdm"]


def _cpu(command: list[str]) -> float:
    """Seconds of CPU (user + system) the child running `command` used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=_environment())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _output(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=_environment())
    return done.stdout


def dependency_modules_of_help() -> list[str]:
    """The dependency modules that `spdm --help` imports (none, when subcommands import lazily)."""
    loaded: list[str] = json.loads(_output(_LOADED_BY_HELP.format(deps=set(DEPENDENCIES))))
    return loaded


def measure(rounds: int = ROUNDS) -> dict[str, object]:
    spdm_help = [*_spdm_command(), "--help"]
    dependencies = [sys.executable, "-c", "; ".join(f"import {name}" for name in _DEPENDENCY_MODULES)]
    bare = [sys.executable, "-c", "pass"]
    for command in (spdm_help, dependencies, bare):
        _cpu(command)  # warm-up: writes the .pyc files
    help_cpu, dependencies_cpu, bare_cpu = [], [], []
    for _ in range(rounds):
        help_cpu.append(_cpu(spdm_help))
        dependencies_cpu.append(_cpu(dependencies))
        bare_cpu.append(_cpu(bare))
    _output(_IMPORT_AND_DECODE)
    decode_ms = [float(_output(_IMPORT_AND_DECODE)) for _ in range(rounds)]
    help_s = statistics.median(help_cpu)
    dependencies_s, bare_s = statistics.median(dependencies_cpu), statistics.median(bare_cpu)
    return {
        "help_modules": dependency_modules_of_help(),
        "help_cpu": help_s,
        "dependencies_cpu": dependencies_s,
        "help_vs_dependencies": help_s / dependencies_s,
        "bare_cpu": bare_s,
        "help_vs_bare": help_s / bare_s,
        "import_decode_ms": statistics.median(decode_ms),
    }


def main() -> int:
    figures = measure()
    modules = ", ".join(figures["help_modules"]) or "none"  # type: ignore[arg-type]
    print(f"spdm --help imports these dependency modules: {modules}")
    print(
        f"spdm --help CPU: {figures['help_cpu'] * 1e3:.1f} ms; bare python importing the dependency modules: "
        f"{figures['dependencies_cpu'] * 1e3:.1f} ms, ratio {figures['help_vs_dependencies']:.2f} "
        f"(target <= {HELP_TARGET:g}); bare python importing nothing: {figures['bare_cpu'] * 1e3:.1f} ms, "
        f"ratio {figures['help_vs_bare']:.2f}"
    )
    print(
        f"import spdm.messages + decode VERSION: {figures['import_decode_ms']:.1f} ms CPU "
        f"(target < {DECODE_TARGET_MS:g} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
