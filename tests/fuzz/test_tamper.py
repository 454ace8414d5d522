"""The quick tamper campaign (ci): for every vector of both manifests, a deterministic sample of
single-byte changes of every RESPONSE record (plain and secured) goes through `spdm verify`.

The rule, and what "irrelevant by the spec" means, is `tamper_campaign`'s (see its docstring): a
change in a record some verified signature, MAC or AEAD tag covers (per the UNTAMPERED run's
`covered`) must make verification fail, unless it is a DOE padding byte, a reserved DOE header
field or an MCTP packet-header byte; a change elsewhere may be accepted (counted as
irrelevant-by-spec) but then must leave `covered` and the signature checks as they were. Any
accepted covered change, or a verify that raises, fails the test.

The sample (each byte XOR 0x01, `_positions`): bytes 0 and 4 of the transport header, the record's
last byte, and every byte of an SPDM / secured message of at most 16 bytes; of a longer one its
version, code and last bytes and one byte at an offset that moves from record to record (4 in the
dev profile, 16 in fuzz). A response byte-identical to an earlier one of the same vector (same
coverage) gets one byte, rotating through its positions, and only every 16th such repeat is tried
(a_conn answers 246 GET_MEASUREMENTS with the same ERROR). Of a chunked response's CHUNK_RESPONSE
records only the last and every 4th other one are sampled (each is the same kind of record; the
chunked captures hold hundreds). `python tests/fuzz/tamper_campaign.py`
tries every byte of every response. Counts are printed (run with -s) and carried in the assertion
message.
"""

from __future__ import annotations

import os

import pytest
from tamper_campaign import ACCEPTED, REJECTED, Tally, Target, all_vectors, baseline, mutate
from vectors_required import absent_param, vectors_absent

_VECTORS = [vector.name for vector in all_vectors()]
# message bytes at moving offsets per longer response: 1 in the ci profile (HYPOTHESIS_PROFILE), more in dev / fuzz
_ROTATING = {"dev": 4, "fuzz": 16}.get(os.environ.get("HYPOTHESIS_PROFILE", "ci"), 1)
_REPEAT_EVERY = 16
_CHUNK_EVERY = 4
_LAST_CHUNK = 0x01
_TOTAL = Tally()


def _positions(target: Target) -> list[int]:
    """Bytes 0 and 4 of the transport header, the record's last byte (DOE padding, if any), and every
    byte of a message of at most 16 bytes; of a longer one its first two (version, code) and last
    bytes and `_ROTATING` bytes whose offsets move with the record index."""
    length = target.end - target.start
    picks = {0, 4, target.start, target.start + 1, target.end - 1, target.size - 1}
    if length <= 16:
        return sorted(picks | set(range(target.start, target.end)))
    picks |= {target.start + (target.index * 37 + k * length // _ROTATING) % length for k in range(_ROTATING)}
    return sorted(picks)


def _sample(name: str) -> list[tuple[Target, list[int]]]:
    base = baseline(name)
    seen: dict[tuple[bytes, bool], int] = {}
    picks = []
    chunks = 0
    for target in base.targets:
        data = base.pcap.records[target.index - 1].data
        if target.code == "CHUNK_RESPONSE" and not data[target.start + 2] & _LAST_CHUNK:
            chunks += 1
            if chunks % _CHUNK_EVERY:
                continue
        key = (data, target.index in base.result.covered)
        repeats = seen.get(key)
        seen[key] = 0 if repeats is None else repeats + 1
        if repeats is None:
            picks.append((target, _positions(target)))
        elif repeats % _REPEAT_EVERY == 0:
            picks.append((target, [repeats // _REPEAT_EVERY % target.size]))
    return picks


@pytest.mark.parametrize("name", _VECTORS or [absent_param("", "no vectors")])
def test_every_response_tamper_is_rejected_or_irrelevant(name: str) -> None:
    base = baseline(name)
    assert base.result.checks and base.targets
    tally = Tally()
    sample = _sample(name)
    for target, picks in sample:
        for position in picks:
            tally.count(name, target.index, position, 0x01, *mutate(name, target.index, position, 0x01))
    _TOTAL.add(tally)
    report = f"{name}: {tally.line()}"
    print(f"\n{report}  [all so far: {_TOTAL.line()}]")
    assert not tally.findings, report + "\n" + "\n".join(tally.findings)
    assert sample and tally.tried >= len(sample)
    assert tally.rejected > 0


def test_a_covered_change_counts_as_rejected_and_an_uncovered_one_may_pass() -> None:
    """The classifier itself: a changed CHALLENGE_AUTH signature byte is rejected; an accepted change
    is only ever counted in a record outside `covered`, or in DOE padding / reserved fields."""
    name = next((n for n in _VECTORS if n == "conn_ecdsap256_sha256"), None)
    if name is None:
        vectors_absent("own vectors absent")
    base = baseline(name)
    covered = [t for t in base.targets if t.index in base.result.covered]
    last = max(covered, key=lambda t: t.index)
    assert mutate(name, last.index, last.end - 1, 0x01)[0] == REJECTED  # the last signature's last byte
    assert mutate(name, last.index, last.start + 1, 0x01)[0] == REJECTED  # its response code
    assert mutate(name, last.index, 0, 0x01)[0] == REJECTED  # DOE vendor ID: no longer an SPDM record
    for target in covered:
        assert mutate(name, target.index, target.start, 0x01)[0] != ACCEPTED


# Findings of the campaign, each fixed in spdm/verify/connection.py: (vector, record, byte) that used to be
# accepted or crash
_REGRESSIONS = [
    # ResponseNotReady (0x42) turned into another error code: the RESPOND_IF_READY that followed then paired
    # with the CHALLENGE_AUTH / signed MEASUREMENTS, which went unchecked while verify passed
    ("err_not_ready_p384_sha384", 20, 10),
    ("err_not_ready_p384_sha384", 24, 10),
    # a certificate altered so that cryptography raised (InvalidVersion, UnsupportedAlgorithm) out of verify
    ("libspdm/i_mctp_dhe_secp384_aes256gcm_v11", 12, 1030),
    ("libspdm/i_mctp_dhe_secp384_aes256gcm_v11", 12, 1180),
    ("libspdm/i_mctp_dhe_secp384_aes256gcm_v11", 16, 1189),
    # MCTP message type 0x06 -> 0x07 in a secured response: the record silently dropped out of verification
    ("libspdm/i_mctp_dhe_secp384_aes256gcm_v11", 46, 4),
    # DOE vendor ID 0x0001 -> 0x0000 in the last signed MEASUREMENTS: likewise, and its signature check vanished
    ("conn_ecdsap256_sha256", 22, 0),
    ("conn_ecdsap256_sha256", 24, 1),
    # ENCAPSULATED_REQUEST's code turned into ENCAPSULATED_RESPONSE_ACK's: the requester's signed encapsulated
    # ENDPOINT_INFO that followed went unchecked while verify passed (now: "the response answers its request")
    ("libspdm-v12/y2_mel_epinfo_keypairinfo_multikey_v13", 34, 9),
]


@pytest.mark.parametrize(("name", "index", "position"), _REGRESSIONS)
def test_campaign_findings_are_rejected(name: str, index: int, position: int) -> None:
    if name not in _VECTORS:
        vectors_absent(f"{name} absent")
    assert mutate(name, index, position, 0x01) == (REJECTED, "")


# Findings of the campaign with mask 0xff (vector, record, byte)
_REGRESSIONS_FF = [
    # ALGORITHMS at version 0x13 ^ 0xff: the session replay built its transcript's signing prefix for "SPDM 14.12" and
    # verify raised ValueError (now spdm/negotiated.py: Negotiated.from_vca refuses a version that is no SPDM version)
    ("libspdm-v12/x2_csr_setcert_multikey_ecdsap384_v13", 12, 8),
    ("libspdm-v12/z_dhe_secp384_aes256gcm_v13", 12, 8),
    # the code of the GET_ENDPOINT_INFO that ENCAPSULATED_REQUEST carries, altered: the requester's signed answer
    # went unchecked while verify passed (now spdm/verify/endpoint_info.py: the delivered answer must answer it)
    ("libspdm-v12/y2_mel_epinfo_keypairinfo_multikey_v13", 34, 13),
]


@pytest.mark.parametrize(("name", "index", "position"), _REGRESSIONS_FF)
def test_campaign_findings_with_mask_ff_are_rejected(name: str, index: int, position: int) -> None:
    if name not in _VECTORS:
        vectors_absent(f"{name} absent")
    assert mutate(name, index, position, 0xFF) == (REJECTED, "")


def test_an_own_mctp_secured_response_with_another_message_type_is_rejected() -> None:
    name = "mctp_dhe_secp384r1_aes256gcm_p384_sha384"
    if name not in _VECTORS:
        vectors_absent(f"{name} absent")
    base = baseline(name)
    secured = [t for t in base.targets if base.pcap.records[t.index - 1].data[4] == 0x06]
    assert secured and all(t.index in base.result.covered for t in secured)
    for target in secured:
        assert mutate(name, target.index, 4, 0x01)[0] == REJECTED
