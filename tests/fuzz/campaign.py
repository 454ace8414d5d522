"""A long responder fuzzing campaign outside pytest: mutated requests in every state, each answer
checked by the oracle (`oracle.Checked`: never raises, decodes, only allowed transitions).

    python tests/fuzz/campaign.py --inputs 1000000 --processes 2 [--seed N] [--scenarios all|1.3|before-1.3]

Each process cycles through scenarios (fresh connection, after GET_VERSION, after GET_CAPABILITIES,
negotiated at 1.1 and at 1.2 (with the 1.2 requests: GET_CSR, SET_CERTIFICATE, CHUNK_SEND,
CHUNK_GET), a DHE and a PSK handshake awaiting FINISH / PSK_FINISH, established DHE and PSK
sessions, tampered secured records; and at 1.3 (`campaign13`): a multi-key connection with every 1.3
capability (also with the responder's GET_ENDPOINT_INFO armed), a DHE session with an event
waiting (also with the ask armed), one awaiting its EVENT_ACK, a PSK session), picks a
valid request of the scenario, mutates it (bit flips, byte values, boundary values in 1- to 4-byte
fields, truncation, insertion, deletion, appended bytes) and sends it; in-session requests are
sealed with the session's current request key (so the responder opens them and parses the mutated
message). A scenario is rebuilt whenever a mutation moved it elsewhere. It prints the inputs per
message type, the failures (each with its scenario and hex reproducer) and the wall time, and exits
non-zero on any failure.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import random
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1] / "protocol")]

from campaign13 import negotiated_13, session_13  # noqa: E402
from oracle import Checked, shadow  # noqa: E402
from responder_peer import NONCE, Peer  # noqa: E402
from session_peer import PSK, PSK_HINT, SESSION_REQUESTER_FLAGS, SessionPeer, session_offer  # noqa: E402

from spdm.certs import CertChain  # noqa: E402
from spdm.crypto import dhe_suite, hash_suite  # noqa: E402
from spdm.messages import encode  # noqa: E402
from spdm.messages.certificates import GetCertificate, GetDigests  # noqa: E402
from spdm.messages.challenge import Challenge  # noqa: E402
from spdm.messages.chunk import ChunkGet, ChunkSend  # noqa: E402
from spdm.messages.codes import KeyUpdateOperation, OtherParams  # noqa: E402
from spdm.messages.error import RespondIfReady  # noqa: E402
from spdm.messages.key_exchange import KeyExchange  # noqa: E402
from spdm.messages.measurements import GetMeasurements  # noqa: E402
from spdm.messages.negotiation import GetCapabilities, GetVersion  # noqa: E402
from spdm.messages.opaque import version_list_opaque  # noqa: E402
from spdm.messages.provisioning import GetCsr, SetCertificate  # noqa: E402
from spdm.messages.psk import PskExchange  # noqa: E402
from spdm.messages.session_control import EndSession, Heartbeat, KeyUpdate  # noqa: E402
from spdm.messages.vendor import VendorDefinedRequest  # noqa: E402
from spdm.responder import Responder, SessionState, State, demo_config  # noqa: E402

CONFIG = demo_config(sessions=True, psks={PSK_HINT: PSK})
CONFIG_12 = demo_config(sessions=True, psks={PSK_HINT: PSK}, provisioning=True)
_BOUNDARY = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """1 to 3 random edits of `data` (never returns it unchanged unless every edit was a no-op)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(9)
        n = len(out)
        if op == 0 and n:
            i = rng.randrange(n)
            out[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            out[rng.randrange(n)] = rng.randrange(256)
        elif op == 2 and n:
            out[rng.randrange(n)] = rng.choice(_BOUNDARY)
        elif op == 3 and n:
            del out[rng.randrange(n) :]
        elif op == 4:
            i = rng.randrange(n + 1)
            out[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        elif op == 5 and n:
            i = rng.randrange(n)
            del out[i : i + rng.randint(1, 8)]
        elif op == 6:
            out += bytes(rng.randint(1, 8)) if rng.random() < 0.5 else bytes(rng.randrange(256) for _ in range(3))
        elif op == 7 and n >= 2:
            width = rng.choice([w for w in (1, 2, 4) if w <= n])
            i = rng.randrange(n - width + 1)
            value = rng.choice([0, 1, (1 << (8 * width)) - 1, (1 << (8 * width - 1)), n, n - i, rng.randrange(64)])
            out[i : i + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
        elif op == 8 and n >= 2:
            out[1] = rng.randrange(256)
    return bytes(out)


@dataclass
class Scenario:
    name: str
    checked: Checked
    seeds: list[tuple[str, bytes]]
    still: Callable[[], bool]
    session_id: int | None = None
    tamper: bool = False


def _fresh(steps: int) -> Scenario:
    checked = Checked(Responder(CONFIG))
    plain = Peer(checked)  # type: ignore[arg-type]
    expected = [State.EXPECT_GET_VERSION, State.EXPECT_GET_CAPABILITIES, State.EXPECT_NEGOTIATE_ALGORITHMS][steps]
    if steps >= 1:
        plain.get_version()
    if steps >= 2:
        plain.capabilities(0xF7C6)
    seeds = [
        ("GET_VERSION", encode(GetVersion())),
        ("GET_CAPABILITIES", encode(GetCapabilities(version=0x11, flags=SESSION_REQUESTER_FLAGS))),
        (
            "GET_CAPABILITIES",
            encode(
                GetCapabilities(
                    version=0x12, flags=SESSION_REQUESTER_FLAGS, data_transfer_size=0x1200, max_spdm_msg_size=0x1200
                )
            ),
        ),
        (
            "GET_CAPABILITIES",
            encode(GetCapabilities(version=0x10, reserved=None, ct_exponent=None, reserved2=None, flags=None)),
        ),
        ("NEGOTIATE_ALGORITHMS", encode(session_offer())),
        ("GET_DIGESTS", encode(GetDigests(version=0x11))),
    ]
    return Scenario(f"vca{steps}", checked, seeds, lambda: checked.responder.state is expected)


def _negotiated() -> Scenario:
    checked = Checked(Responder(CONFIG))
    peer = SessionPeer(checked)  # type: ignore[arg-type]
    ke, _ = peer.key_exchange_request()
    psk = PskExchange(
        version=0x11,
        summary_hash_type=0,
        req_session_id=7,
        psk_hint=PSK_HINT,
        requester_context=bytes(64),
        opaque_data=version_list_opaque((0x1100,)),
    )
    seeds = [
        ("GET_VERSION", encode(GetVersion())),
        ("GET_DIGESTS", encode(GetDigests(version=0x11))),
        ("GET_CERTIFICATE", encode(GetCertificate(version=0x11, offset=0, length=0x400))),
        ("GET_CERTIFICATE", encode(GetCertificate(version=0x11, offset=0x300, length=0xFFFF))),
        ("CHALLENGE", encode(Challenge(version=0x11, summary_hash_type=0xFF, nonce=NONCE))),
        ("GET_MEASUREMENTS", encode(GetMeasurements(version=0x11, operation=0))),
        ("GET_MEASUREMENTS", encode(GetMeasurements(version=0x11, operation=1))),
        (
            "GET_MEASUREMENTS",
            encode(GetMeasurements(version=0x11, attributes=1, operation=0xFF, nonce=NONCE, slot_id_param=0)),
        ),
        ("KEY_EXCHANGE", encode(ke)),
        ("PSK_EXCHANGE", encode(psk)),
        ("RESPOND_IF_READY", encode(RespondIfReady(version=0x11, request_code=0x81, token=0))),
        (
            "VENDOR_DEFINED_REQUEST",
            encode(VendorDefinedRequest(version=0x11, standard_id=3, vendor_id=b"\x01\x00", payload=b"\x00")),
        ),
        ("HEARTBEAT", encode(Heartbeat(version=0x11))),
    ]
    responder = checked.responder
    return Scenario(
        "negotiated",
        checked,
        seeds,
        lambda: responder.state in (State.NEGOTIATED, State.AUTHENTICATED) and len(responder.sessions) < 3,
    )


def _negotiated_12() -> Scenario:
    checked = Checked(Responder(CONFIG_12))
    peer = Peer(checked, version=0x12)  # type: ignore[arg-type]
    algorithms = replace(session_offer(), version=0x12, other_params_support=OtherParams.OPAQUE_DATA_FMT_1)
    negotiated = peer.vca(algorithms, flags=SESSION_REQUESTER_FLAGS)
    dhe = dhe_suite(negotiated.dhe_group)
    general = version_list_opaque((0x1100, 0x1200), general=True)
    chain = CertChain.build(CONFIG_12.slots[0].certificates, hash_suite(negotiated.base_hash_algo)).to_bytes()
    chunk = ChunkSend(handle=1, chunk_seq_no=0, large_message_size=64, chunk=bytes(32), attributes=0)
    seeds = [
        ("GET_DIGESTS", encode(GetDigests(version=0x12))),
        ("GET_CSR", encode(GetCsr(version=0x12, requester_info=b"", opaque_data=b""))),
        ("SET_CERTIFICATE", encode(SetCertificate(version=0x12, slot_param=0, cert_chain=chain))),
        ("GET_MEASUREMENTS", encode(GetMeasurements(version=0x12, attributes=2, operation=1))),
        (
            "KEY_EXCHANGE",
            encode(
                KeyExchange(
                    version=0x12,
                    req_session_id=9,
                    session_policy=1,
                    random_data=bytes(32),
                    exchange_data=dhe.public_bytes(dhe.generate()),
                    opaque_data=general,
                )
            ),
        ),
        (
            "PSK_EXCHANGE",
            encode(
                PskExchange(
                    version=0x12, req_session_id=7, psk_hint=PSK_HINT, requester_context=bytes(64), opaque_data=general
                )
            ),
        ),
        ("CHUNK_SEND", encode(chunk)),
        ("CHUNK_GET", encode(ChunkGet(version=0x12, handle=1, chunk_seq_no=0))),
        ("HEARTBEAT", encode(Heartbeat(version=0x12))),
    ]
    responder = checked.responder
    return Scenario(
        "negotiated-1.2",
        checked,
        seeds,
        lambda: responder.state in (State.NEGOTIATED, State.AUTHENTICATED) and len(responder.sessions) < 3,
    )


_IN_SESSION = [
    ("HEARTBEAT", encode(Heartbeat(version=0x11))),
    ("KEY_UPDATE", encode(KeyUpdate(version=0x11, operation=KeyUpdateOperation.UPDATE_KEY, tag=1))),
    ("KEY_UPDATE", encode(KeyUpdate(version=0x11, operation=KeyUpdateOperation.UPDATE_ALL_KEYS, tag=2))),
    ("KEY_UPDATE", encode(KeyUpdate(version=0x11, operation=KeyUpdateOperation.VERIFY_NEW_KEY, tag=3))),
    ("END_SESSION", encode(EndSession(version=0x11))),
    ("GET_DIGESTS", encode(GetDigests(version=0x11))),
    ("GET_CERTIFICATE", encode(GetCertificate(version=0x11, offset=0, length=0x200))),
    ("GET_MEASUREMENTS", encode(GetMeasurements(version=0x11, operation=0xFF))),
    (
        "GET_MEASUREMENTS",
        encode(GetMeasurements(version=0x11, attributes=1, operation=2, nonce=NONCE, slot_id_param=0)),
    ),
    ("GET_VERSION", encode(GetVersion())),
]


def _session(kind: str, *, tamper: bool = False) -> Scenario:
    checked = Checked(Responder(CONFIG))
    peer = SessionPeer(checked)  # type: ignore[arg-type]
    if kind.startswith("dhe"):
        session = peer.key_exchange()
        expected = SessionState.EXPECT_FINISH
        seeds = [("FINISH", encode(session.finish_request()[0])), *_IN_SESSION[:1]]
        if kind == "dhe":
            session.finish()
            expected, seeds = SessionState.ESTABLISHED, list(_IN_SESSION)
    else:
        session = peer.psk_exchange()
        expected = SessionState.EXPECT_PSK_FINISH
        seeds = [("PSK_FINISH", encode(session.psk_finish_request())), *_IN_SESSION[:1]]
        if kind == "psk":
            session.psk_finish()
            expected, seeds = SessionState.ESTABLISHED, list(_IN_SESSION)
    sid = session.session_id
    responder = checked.responder
    name = f"{kind}-records" if tamper else kind
    return Scenario(name, checked, seeds, lambda: responder.sessions.get(sid) is expected, sid, tamper)


def _negotiated_13(*, asked: bool = False) -> Scenario:
    checked, seeds, still = negotiated_13(asked=asked)
    return Scenario("negotiated-1.3-asked" if asked else "negotiated-1.3", checked, seeds, still)


def _session_13(kind: str) -> Scenario:
    checked, seeds, still, sid = session_13(kind)
    return Scenario(f"{kind}-1.3", checked, seeds, still, sid)


BUILDERS: list[Callable[[], Scenario]] = [
    lambda: _fresh(0),
    lambda: _fresh(1),
    lambda: _fresh(2),
    _negotiated,
    _negotiated_12,
    lambda: _session("dhe-handshake"),
    lambda: _session("psk-handshake"),
    lambda: _session("dhe"),
    lambda: _session("psk"),
    lambda: _session("dhe", tamper=True),
]
BUILDERS_13: list[Callable[[], Scenario]] = [
    _negotiated_13,
    lambda: _negotiated_13(asked=True),
    lambda: _session_13("dhe-events"),
    lambda: _session_13("dhe-asked"),
    lambda: _session_13("dhe-event-ack"),
    lambda: _session_13("psk"),
]
SCENARIOS = {"all": BUILDERS + BUILDERS_13, "1.3": BUILDERS_13, "before-1.3": BUILDERS}


def _one(scenario: Scenario, rng: random.Random) -> tuple[str, bytes]:
    label, seed = rng.choice(scenario.seeds)
    checked = scenario.checked
    if scenario.session_id is None:
        data = mutate(seed, rng)
        checked.respond(data, label=label)
        return label, data
    session = checked.responder._sessions.get(scenario.session_id)
    if scenario.tamper:
        record = shadow(session.channel.request).seal(seed)
        data = mutate(record, rng)
        if data == record:
            data = data + b"\x00"
        session_id = scenario.session_id if rng.random() < 0.9 else rng.randrange(1 << 32)
        checked.respond(data, session_id, label="secured record")
        return "secured record", data
    data = mutate(seed, rng)
    checked.respond(shadow(session.channel.request).seal(data), scenario.session_id, label=label)
    return label, data


def work(args: tuple[int, int, int, str]) -> tuple[collections.Counter[str], collections.Counter[str], list[str], int]:
    inputs, seed, per_scenario, which = args
    rng = random.Random(seed)
    counts: collections.Counter[str] = collections.Counter()
    accepted: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    done = rebuilt = 0
    while done < inputs:
        for build in SCENARIOS[which]:
            scenario = build()
            rebuilt += 1
            for _ in range(min(per_scenario, inputs - done)):
                label = "?"
                data = b""
                try:
                    label, data = _one(scenario, rng)
                except Exception:  # any escape is a finding
                    failures.append(f"{scenario.name} {label} {data.hex()}\n{traceback.format_exc()}")
                    scenario.still = lambda: False
                counts[label] += 1
                done += 1
                if not scenario.still():
                    accepted.update(scenario.checked.accepted)
                    scenario = build()
                    rebuilt += 1
            accepted.update(scenario.checked.accepted)
            if done >= inputs:
                break
    return counts, accepted, failures[:20], rebuilt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=100_000, help="responder inputs in total")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--scenarios", choices=sorted(SCENARIOS), default="all", help="which scenarios to cycle through"
    )
    parser.add_argument("--per-scenario", type=int, default=2000, help="inputs before moving to the next scenario")
    options = parser.parse_args()
    start = time.monotonic()
    shares = [options.inputs // options.processes] * options.processes
    shares[0] += options.inputs - sum(shares)
    jobs = [(share, options.seed * 1000 + i, options.per_scenario, options.scenarios) for i, share in enumerate(shares)]
    if options.processes > 1:
        with multiprocessing.Pool(options.processes) as pool:
            results = pool.map(work, jobs)
    else:
        results = [work(jobs[0])]
    counts: collections.Counter[str] = collections.Counter()
    accepted: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    rebuilt = 0
    for c, a, f, r in results:
        counts.update(c)
        accepted.update(a)
        failures.extend(f)
        rebuilt += r
    print(f"{'message type':28} {'inputs':>10} {'not ERROR':>10}")
    for label, count in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"{label:28} {count:>10} {accepted[label]:>10}")
    print(f"{'total inputs':28} {sum(counts.values()):>10}")
    print(f"scenario builds: {rebuilt}")
    print(f"failures: {len(failures)}")
    for failure in failures:
        print(failure)
    print(f"wall time: {time.monotonic() - start:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
