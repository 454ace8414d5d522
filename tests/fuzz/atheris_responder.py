"""Coverage-guided fuzzing of the responder with atheris (libFuzzer), beside the hypothesis machines
and the mutation campaign:

    pip install atheris
    python tests/fuzz/atheris_responder.py -runs=200000 -max_len=1024 [corpus directory ...]

The first byte of an input picks one of the campaign's scenarios (fresh connection, partly or fully
negotiated, a DHE or PSK handshake awaiting FINISH, established DHE and PSK sessions, raw secured
records; the SPDM 1.3 ones of `campaign13`); the rest is one request. In a session scenario it is
sealed with the session's request key, so the responder opens it and parses the fuzzed message; in
the raw-records scenario it is the
record itself. The oracle (`oracle.Checked`) checks every answer: never raises, decodes, moves only
as the spec allows. A scenario is kept while it is where it was (inputs are cheap) and rebuilt when
an input moved it, so a finding may depend on earlier inputs: the report names the scenario.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1] / "protocol")]

with atheris.instrument_imports(include=["spdm"]):
    from campaign import SCENARIOS, Scenario
    from oracle import shadow

_scenarios: dict[int, Scenario] = {}


def _scenario(index: int) -> Scenario:
    scenario = _scenarios.get(index)
    if scenario is None or not scenario.still():
        scenario = _scenarios[index] = SCENARIOS["all"][index]()
    return scenario


def test_one_input(data: bytes) -> None:
    if not data:
        return
    scenario = _scenario(data[0] % len(SCENARIOS["all"]))
    request = data[1:]
    checked = scenario.checked
    if scenario.session_id is None:
        checked.respond(request, label="fuzzed")
    elif scenario.tamper:
        checked.respond(request, scenario.session_id, label="secured record")
    else:
        session = checked.responder._sessions.get(scenario.session_id)
        checked.respond(shadow(session.channel.request).seal(request), scenario.session_id, label="fuzzed")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
