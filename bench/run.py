"""Run every benchmark in one process and print a Markdown table of the figures against their targets.

Run: python bench/run.py [--json]
With --json, one JSON object with every figure follows the table, on the last line.
The codec rows from captures need ../shared/vectors/libspdm beside the repository; without it they
are left out (null in the JSON). Takes about a minute.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import auth
import chain
import codec
import codec_struct
import handshake
import memory
import secured
import server
import startup


@dataclass(frozen=True)
class Row:
    figure: str
    value: str
    baseline: str
    ratio: float | None
    target: str = "-"
    met: bool | None = None

    def cells(self) -> list[str]:
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}"
        met = "-" if self.met is None else ("yes" if self.met else "no")
        return [self.figure, self.value, self.baseline, ratio, self.target, met]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} us"


def _at_most(ratio: float, limit: float) -> tuple[str, bool]:
    return f"<= {limit:g}", ratio <= limit


def _timed(name: str, fn: Callable[[], dict[str, object]]) -> dict[str, object]:
    start = time.perf_counter()
    print(f"bench: {name} ...", file=sys.stderr, flush=True)
    figures = fn()
    print(f"bench: {name} done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return figures


def collect() -> tuple[list[Row], dict[str, object]]:
    """Run the benchmarks; the table rows and the flat JSON figures."""
    rows: list[Row] = []
    out: dict[str, object] = {}

    a = _timed("auth", auth.measure)
    target, met = _at_most(float(a["auth_vs_crypto"]), 1.5)
    rows.append(
        Row(
            "full authentication (P-384), in process",
            _ms(a["auth"]),
            _ms(a["auth_crypto"]) + " crypto only",
            float(a["auth_vs_crypto"]),
            target,
            met,
        )
    )
    out["auth_vs_crypto"] = a["auth_vs_crypto"]

    h = _timed("handshake", handshake.measure)
    for key, name in (("dhe", "DHE session (secp384r1, P-384)"), ("psk", "PSK session")):
        ratio = float(h[f"{key}_vs_crypto"])
        target, met = _at_most(ratio, handshake.TARGETS[key])
        rows.append(Row(name, _ms(h[key]), _ms(h[f"{key}_crypto"]) + " crypto only", ratio, target, met))
        out[f"{key}_vs_crypto"] = ratio

    s = _timed("secured", secured.measure)
    rate, raw_rate = secured.SIZE / float(s["secured"]) / 2**20, secured.SIZE / float(s["raw_aead"]) / 2**20
    ratio = float(s["secured_vs_raw_aead"])
    rows.append(
        Row(
            "secured message seal+open, 4 KiB",
            f"{rate:.0f} MiB/s",
            f"{raw_rate:.0f} MiB/s raw AESGCM",
            ratio,
        )
    )
    out["secured_vs_raw_aead"] = ratio
    floor_rate = secured.SIZE / float(s["framing_floor"]) / 2**20
    rows.append(
        Row(
            "DSP0277 framing floor, 4 KiB (no checks)",
            f"{floor_rate:.0f} MiB/s",
            f"{raw_rate:.0f} MiB/s raw AESGCM",
            float(s["floor_vs_raw_aead"]),
        )
    )
    out["secured_framing_floor_vs_raw_aead"] = s["floor_vs_raw_aead"]

    try:
        c = _timed("codec", codec.measure)
    except FileNotFoundError as exc:
        print(f"bench: codec rows from captures skipped: no {exc}", file=sys.stderr)
        out["codec_flow_vs_verify"] = out["doe_header_vs_struct"] = None
    else:
        ratio = float(c["codec_flow_vs_verify"])
        rows.append(
            Row(
                f"codec, connection flow ({c['flow_messages']} messages)",
                _us(c["flow"]),
                _us(c["verify"]) + " one P-384 verify",
                ratio,
                "< 1",
                ratio < 1,
            )
        )
        ratio = float(c["doe_header_vs_struct"])
        target, met = _at_most(ratio, 5)
        rows.append(
            Row(
                "DOE header decode",
                _us(c["doe_header"]),
                _us(c["doe_bare"]) + " struct.unpack_from",
                ratio,
                target,
                met,
            )
        )
        out["codec_flow_vs_verify"] = c["codec_flow_vs_verify"]
        out["doe_header_vs_struct"] = ratio
        per_message = c["per_message"]
        assert isinstance(per_message, dict)
        out["codec_round_trips_per_s"] = {name: 1 / t for name, (_, t) in per_message.items()}

    cs = _timed("codec vs struct", codec_struct.measure)
    per = cs["per_message"]
    assert isinstance(per, dict)
    for name, (size, t_codec, t_struct, ratio) in per.items():
        target, met = _at_most(ratio, codec_struct.TARGET)
        rows.append(Row(f"codec {name} ({size} B)", _us(t_codec), _us(t_struct) + " struct", ratio, target, met))
    worst = float(cs["codec_vs_struct_worst"])
    target, met = _at_most(worst, codec_struct.TARGET)
    rows.append(Row(f"codec, worst ({cs['worst_message']})", "-", "-", worst, target, met))
    out["codec_vs_struct"] = {name: values[3] for name, values in per.items()}
    out["codec_vs_struct_worst"] = worst

    v = _timed("chain", chain.measure)
    rows.append(
        Row(
            "verify_chain, 3 P-384 certificates",
            _ms(v["chain_validation"]),
            _ms(v["p384_verify"]) + " one verify",
            float(v["chain_vs_verify"]),
        )
    )
    out["chain_validation_ms"] = float(v["chain_validation"]) * 1e3
    out["chain_vs_verify"] = v["chain_vs_verify"]

    r = _timed("server", server.measure)
    rows.append(
        Row(
            "responder over TCP 127.0.0.1 (VCA + GET_DIGESTS)",
            f"{r['server_requests_per_s']:,.0f} requests/s",
            "-",
            None,
        )
    )
    out["server_requests_per_s"] = r["server_requests_per_s"]

    m = _timed("memory", memory.measure)
    n = int(m["sessions"])
    rows.append(
        Row(
            f"peak memory opening {n} PSK sessions (both ends)", f"{m['memory_peak_bytes'] / 2**10:,.0f} KiB", "-", None
        )
    )
    rows.append(Row("responder memory per open session", f"{m['responder_bytes_per_session']:,.0f} B", "-", None))
    out["memory_peak_bytes"] = m["memory_peak_bytes"]
    out["responder_bytes_per_session"] = m["responder_bytes_per_session"]
    out["sessions"] = n

    st = _timed("start-up", startup.measure)
    ratio = float(st["help_vs_dependencies"])
    target, met = _at_most(ratio, startup.HELP_TARGET)
    rows.append(
        Row(
            "`spdm --help`, whole-process CPU",
            _ms(st["help_cpu"]),
            _ms(st["dependencies_cpu"]) + " bare python importing the dependency modules",
            ratio,
            target,
            met,
        )
    )
    rows.append(
        Row(
            "`spdm --help` against an empty interpreter",
            _ms(st["help_cpu"]),
            _ms(st["bare_cpu"]) + " bare python importing nothing",
            float(st["help_vs_bare"]),
        )
    )
    decode_ms = float(st["import_decode_ms"])
    rows.append(
        Row(
            "`import spdm.messages` + decode one VERSION, CPU",
            f"{decode_ms:.1f} ms",
            "-",
            None,
            f"< {startup.DECODE_TARGET_MS:g} ms",
            decode_ms < startup.DECODE_TARGET_MS,
        )
    )
    out["help_vs_dependencies"] = ratio
    out["help_vs_bare"] = st["help_vs_bare"]
    out["import_decode_ms"] = decode_ms

    out["targets_met"] = {row.figure: row.met for row in rows if row.met is not None}
    return rows, out


def markdown(rows: list[Row]) -> str:
    header = ["figure", "value", "baseline", "ratio", "target", "met?"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print every figure as one JSON object on the last line")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows, figures = collect()
    print(markdown(rows))
    print(f"bench: all done in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
