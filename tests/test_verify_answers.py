"""`spdm verify` applies the requester's response checks and checks every signature a capture shows:
CAPABILITIES, CHALLENGE_AUTH's slot and RequesterContext (a forged answer re-signed with the
responder's sample key must still fail), MEASUREMENTS' RequesterContext, the requester's
CHALLENGE_AUTH of basic mutual authentication in the clear and its chain, ENCAPSULATED_RESPONSE_ACKs
(in the clear and in a session), KEY_EXCHANGE_RSP signatures without the session secrets, and CSR
self-signatures; on altered libspdm 1.2/1.3 captures in memory, and on one of our vectors built
with a misbehaving responder."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import load_der_private_key
from own_vectors import generate

from spdm.capture import CaptureSecrets, Pcap, PcapRecord, messages, read_pcap
from spdm.crypto import asym_suite, hash_suite
from spdm.messages.challenge import ChallengeAuth
from spdm.messages.codec import encode_record
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo
from spdm.messages.encapsulated import DeliverEncapsulatedResponse
from spdm.messages.key_exchange import KeyExchangeRsp
from spdm.messages.key_pairs import KeyPairInfo
from spdm.messages.measurements import Measurements
from spdm.messages.negotiation import SupportedAlgorithms
from spdm.negotiated import Negotiated
from spdm.requester import encapsulated as requester_encapsulated
from spdm.requester import key_pairs as requester_key_pairs
from spdm.responder import sessions as responder_sessions
from spdm.responder.key_pairs import KeyPairTable
from spdm.signing import SigningContext, signature_input
from spdm.verify import CaptureVerification, replay, verify_capture

Y = "y_conn_ecdsap384_sha384_v13"  # CHALLENGE slot 0 at 19/20 (1.3: RequesterContext), signed MEASUREMENTS at 28
W = "w_mutauth_encap_ecdsap384_v12"  # basic mutual authentication in the clear, records 21-28
T = "t_dhe_secp384_aes256gcm_v12"  # KEY_EXCHANGE_RSP at records 26 and 40
X = "x_csr_setcert_ecdsap384_v12"  # CSR at records 30 and 42

Edit = Callable[[bytearray], None]
_SIGNATURE = 96  # ECDSA P-384
_VCA = list(range(7, 13))
_SIGNED = {  # what the signed responses of Y sign: A, then B and C (M1/M2) or M (L1/L2)
    20: ([*_VCA, *range(13, 20)], SigningContext.CHALLENGE_AUTH),
    28: ([*_VCA, 27], SigningContext.MEASUREMENTS),
}


def _capture(vectors: Path, name: str) -> tuple[Pcap, dict[int, bytes]]:
    keys = vectors.parent / "libspdm" / "sample_key" / "ecp384"
    anchors = {0: (keys / "ca.cert.der").read_bytes(), 1: (keys / "ca1.cert.der").read_bytes()}
    return read_pcap(vectors / name / "requester.pcap"), anchors


def _edited(pcap: Pcap, record: int, edit: Edit) -> Pcap:
    """`pcap` with `edit` applied to the exact SPDM message of `record` (its transport framing kept)."""
    data = next(item.data for item in messages(pcap) if item.index == record)
    raw = bytearray(pcap.records[record - 1].data)
    start = bytes(raw).find(data)
    message = bytearray(data)
    edit(message)
    raw[start : start + len(data)] = message
    if len(message) != len(data):  # the DOE object's Length in DW, padding kept to a whole DW
        raw += bytes(-len(raw) % 4)
        raw[4:8] = (len(raw) // 4).to_bytes(4, "little")
    records = list(pcap.records)
    records[record - 1] = PcapRecord(index=record, timestamp=records[record - 1].timestamp, data=bytes(raw))
    return Pcap(link_type=pcap.link_type, snaplen=pcap.snaplen, records=tuple(records))


def _resigned(pcap: Pcap, record: int, edit: Edit, covered: list[int], context: SigningContext, key: Path) -> Pcap:
    """`pcap` with `edit` applied to the signed 1.3 ECDSA P-384 / SHA-384 response of `record`, then
    signed again with `key` over the transcript of the exact messages of the `covered` records and the
    edited response: only the rule `edit` breaks can catch it."""
    edited = _edited(pcap, record, edit)
    exact = {item.index: item.data for item in messages(edited)}
    hashes = hash_suite(BaseHashAlgo.SHA_384)
    unsigned = exact[record][:-_SIGNATURE]
    signed = signature_input(hashes, 0x13, context, hashes.digest(b"".join(exact[r] for r in covered) + unsigned))
    private = load_der_private_key(key.read_bytes(), None)
    new = asym_suite(BaseAsymAlgo.ECDSA_P384).sign(private, signed, hashes)

    def resign(message: bytearray) -> None:
        message[-_SIGNATURE:] = new

    return _edited(edited, record, resign)


def _failed(result: CaptureVerification) -> list[tuple[int, str, str]]:
    return [(c.record, c.name, c.detail) for c in result.checks if not c.ok]


@pytest.fixture
def responder_key(libspdm_v12_v13_vectors: Path) -> Path:
    return libspdm_v12_v13_vectors.parent / "libspdm" / "sample_key" / "ecp384" / "end_responder.key.der"


def test_challenge_auth_checks_pass_on_the_capture(libspdm_v12_v13_vectors: Path) -> None:
    result = verify_capture(*_capture(libspdm_v12_v13_vectors, Y))
    assert result.ok, result.first_failure
    passed = {(c.record, c.name) for c in result.checks if c.passed}
    assert (20, "CHALLENGE_AUTH answers the request (slot, RequesterContext, OpaqueData)") in passed
    assert (28, "MEASUREMENTS answers the request") in passed


_CAPABILITIES = "CAPABILITIES is valid (flags, transfer sizes, CTExponent, Supported Algorithms)"


def _listing_supported_algorithms(message: bytearray) -> None:
    """Param1 bit 0 and a Supported Algorithms block that GET_CAPABILITIES did not ask for."""
    message[2] |= 1
    message += encode_record(SupportedAlgorithms(base_asym_algo=0x80, base_hash_algo=0x02), "SupportedAlgorithms")


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda m: m.__setitem__(5, 32), "CTExponent 32 is over 31"),
        (lambda m: m.__setitem__(10, m[10] & ~2), "DataTransferSize"),  # CHUNK_CAP cleared, sizes unequal
        (_listing_supported_algorithms, "did not ask for"),
    ],
    ids=["ct_exponent", "sizes_without_chunk_cap", "unasked_supported_algorithms"],
)
def test_capabilities_are_checked_as_the_requester_checks_them(
    libspdm_v12_v13_vectors: Path, edit: Edit, reason: str
) -> None:
    pcap, anchors = _capture(libspdm_v12_v13_vectors, Y)
    assert (10, _CAPABILITIES) in {(c.record, c.name) for c in verify_capture(pcap, anchors).checks if c.passed}
    failed = _failed(verify_capture(_edited(pcap, 10, edit), anchors))
    assert failed, "an altered CAPABILITIES verified"
    assert failed[0][:2] == (10, _CAPABILITIES) and reason in failed[0][2], failed[0]


def test_a_challenge_auth_for_another_slot_fails(libspdm_v12_v13_vectors: Path, responder_key: Path) -> None:
    """CHALLENGE asked slot 0; the answer names slot 1 with slot 1's CertChainHash, signed by slot 1's key."""
    pcap, anchors = _capture(libspdm_v12_v13_vectors, Y)
    slot1_chain = next(item.message.portion for item in messages(pcap) if item.index == 18)  # type: ignore[union-attr]

    def for_slot_1(message: bytearray) -> None:
        message[2] = message[2] & 0xF0 | 1
        message[4:52] = hashlib.sha384(slot1_chain).digest()

    forged = _resigned(pcap, 20, for_slot_1, *_SIGNED[20], responder_key)
    answer = next(item.message for item in messages(forged) if item.index == 20)
    assert isinstance(answer, ChallengeAuth) and answer.slot_id == 1
    result = verify_capture(forged, anchors)
    assert not result.ok
    assert (
        20,
        "CHALLENGE_AUTH answers the request (slot, RequesterContext, OpaqueData)",
        "CHALLENGE_AUTH for slot 1, asked 0",
    ) in _failed(result)
    # CertChainHash is judged against the slot asked, as the requester judges it
    assert (20, "CHALLENGE_AUTH CertChainHash is the hash of slot 0's chain", "hash mismatch") in _failed(result)


@pytest.mark.parametrize(("record", "answer"), [(20, "CHALLENGE_AUTH"), (28, "MEASUREMENTS")])
def test_a_wrong_requester_context_echo_fails(
    libspdm_v12_v13_vectors: Path, responder_key: Path, record: int, answer: str
) -> None:
    """The last byte of RequesterContext (just before the signature) altered, and the answer signed again."""
    pcap, anchors = _capture(libspdm_v12_v13_vectors, Y)

    def echo(message: bytearray) -> None:
        message[-_SIGNATURE - 1] ^= 0x01

    forged = _resigned(pcap, record, echo, *_SIGNED[record], responder_key)
    decoded = next(item.message for item in messages(forged) if item.index == record)
    assert isinstance(decoded, (ChallengeAuth, Measurements)) and decoded.requester_context is not None
    result = verify_capture(forged, anchors)
    assert not result.ok
    failed = _failed(result)
    assert [(at, detail) for at, _, detail in failed] == [
        (record, f"{answer} does not echo the request's RequesterContext")
    ]
    assert all(c.ok for c in result.checks if "signature" in c.name)  # the forgery is signed well


# --- basic mutual authentication in the clear ---------------------------------------------------

_REQUESTER_SIGNATURE = "encapsulated CHALLENGE_AUTH signature by the requester over M1/M2 (A, mut B, mut C)"


def test_the_requesters_challenge_auth_is_checked(libspdm_v12_v13_vectors: Path) -> None:
    result = verify_capture(*_capture(libspdm_v12_v13_vectors, W))
    assert result.ok, result.first_failure
    passed = {(c.record, c.name) for c in result.checks if c.passed}
    assert {
        (25, "requester slot 0 certificate chain matches its encapsulated DIGESTS digest"),
        (27, "the requester's CHALLENGE_AUTH answers the encapsulated CHALLENGE (slot, RequesterContext)"),
        (27, "the requester's CHALLENGE_AUTH CertChainHash is the hash of its slot 0 chain"),
        (27, _REQUESTER_SIGNATURE),
    } <= passed
    assert not set(range(21, 29)) & result.covered  # the carriers' own fields are in no transcript


def _flip_last(message: bytearray) -> None:
    message[-1] ^= 0x01


@pytest.mark.parametrize(
    ("record", "failure"),
    [
        (27, (27, _REQUESTER_SIGNATURE)),  # the last byte of the requester's signature
        (25, (25, "requester slot 0 certificate chain matches its encapsulated DIGESTS digest")),  # of its leaf
    ],
    ids=["signature", "certificate"],
)
def test_an_altered_requester_signature_or_chain_fails(
    libspdm_v12_v13_vectors: Path, record: int, failure: tuple[int, str]
) -> None:
    pcap, anchors = _capture(libspdm_v12_v13_vectors, W)
    result = verify_capture(_edited(pcap, record, _flip_last), anchors)
    assert not result.ok
    assert failure in [(at, name) for at, name, _ in _failed(result)]
    assert (27, _REQUESTER_SIGNATURE) in [(at, name) for at, name, _ in _failed(result)]


def test_an_answer_the_responder_did_not_ask_for_fails(libspdm_v12_v13_vectors: Path) -> None:
    """The ACK before the CHALLENGE turned to PayloadType ABSENT (found by the tamper campaign): the flow
    is over, so the DELIVER_ENCAPSULATED_RESPONSE after it answers nothing. It passed, and the requester's
    signature check just vanished."""
    pcap, anchors = _capture(libspdm_v12_v13_vectors, W)

    def absent(message: bytearray) -> None:
        message[3] = 0  # Param2: PayloadType

    result = verify_capture(_edited(pcap, 26, absent), anchors)
    assert not result.ok
    name = "DELIVER_ENCAPSULATED_RESPONSE answers an encapsulated request the responder asked"
    assert (27, name, "no encapsulated request was outstanding") in _failed(result)


_ACK = "ENCAPSULATED_RESPONSE_ACK acknowledges the answer and carries what its PayloadType says"


def _slot_8(message: bytearray) -> None:
    message[3] = 2  # PayloadType REQ_SLOT_NUMBER
    message.append(8)


@pytest.mark.parametrize(
    ("record", "edit", "detail"),
    [
        (24, lambda m: m.__setitem__(4, 0), "ENCAPSULATED_RESPONSE_ACK acknowledges RequestID 0, not 1"),
        (26, lambda m: m.__setitem__(3, 5), "ENCAPSULATED_RESPONSE_ACK PayloadType 5 without a request"),
        (28, _slot_8, "ENCAPSULATED_RESPONSE_ACK names requester slot 8"),
    ],
    ids=["ack_request_id", "payload_type", "req_slot_number"],
)
def test_an_ack_the_requester_refuses_fails(
    libspdm_v12_v13_vectors: Path, record: int, edit: Edit, detail: str
) -> None:
    """The ACKs of basic mutual authentication in the clear, checked as libspdm_req_encap_request.c takes them."""
    pcap, anchors = _capture(libspdm_v12_v13_vectors, W)
    passed = {(c.record, c.name) for c in verify_capture(pcap, anchors).checks if c.passed}
    assert {(24, _ACK), (26, _ACK), (28, _ACK)} <= passed
    assert (record, _ACK, detail) in _failed(verify_capture(_edited(pcap, record, edit), anchors))


def _built_and_verified(name: str, out: Path) -> tuple[CaptureVerification, Pcap, CaptureSecrets]:
    """Our vector `name` built into `out` (by the responder and requester as the test patched them),
    and verified with its root and secrets."""
    generate._build(next(spec for spec in generate.SPECS if spec.name == name), out)
    folder = out / name
    pcap = read_pcap(folder / "requester.pcap")
    secrets = CaptureSecrets.from_json((folder / "secrets.json").read_bytes())
    return verify_capture(pcap, {0: (folder / "root.der").read_bytes()}, secrets=secrets), pcap, secrets


def test_an_ack_in_a_session_that_acknowledges_another_answer_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our 1.2 mutual-authentication vector built with the responder's in-session ACKs naming another
    RequestID (and our requester told to take them): verify fails each, inside the session."""
    acked = responder_sessions.response_ack

    def misacked(deliver: DeliverEncapsulatedResponse, *args: Any) -> bytes:
        ack = bytearray(acked(deliver, *args))
        ack[4] ^= 0x80  # AckRequestID
        return bytes(ack)

    monkeypatch.setattr(responder_sessions, "response_ack", misacked)
    monkeypatch.setattr(requester_encapsulated, "check_encapsulated_ack", lambda ack, request_id: None)
    result, _, _ = _built_and_verified("dhe_mutauth_encap_p384_sha384_v12", tmp_path)
    acks = [c for c in result.checks if c.name == _ACK]
    assert len(acks) == 3 and not any(c.ok for c in acks)
    assert all("ENCAPSULATED_RESPONSE_ACK acknowledges RequestID" in c.detail for c in acks)
    assert {c.name for c in result.checks if not c.ok} == {_ACK}  # keys and tags hold: ACKs are in no transcript


def test_a_key_pair_info_in_a_session_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Our 1.3 vector that reads KEY_PAIR_INFO in the clear and in a session, built with the responder
    stating TotalKeyPairs 0 (and our requester told to take it): verify fails both answers."""
    info = KeyPairTable.info

    def none_in_total(table: KeyPairTable, negotiated: Negotiated, key_pair_id: int) -> KeyPairInfo:
        return dataclasses.replace(info(table, negotiated, key_pair_id), total_key_pairs=0)

    monkeypatch.setattr(KeyPairTable, "info", none_in_total)
    monkeypatch.setattr(requester_key_pairs, "check_key_pair_info", lambda answer, key_pair_id, settable: None)
    result, pcap, secrets = _built_and_verified("mel_epinfo_keypair_events_p256_sha256_v13", tmp_path)
    failed = [(record, detail) for record, name, detail in _failed(result) if name.startswith("KEY_PAIR_INFO")]
    assert failed == [(record, "KEY_PAIR_INFO: KeyPairID 1 over TotalKeyPairs") for record in (24, 44)]
    assert 44 in {r.index for r in replay(pcap, secrets) if r.secured}


# --- KEY_EXCHANGE_RSP without the session secrets ------------------------------------------------


def test_key_exchange_rsp_signatures_are_checked_without_secrets(libspdm_v12_v13_vectors: Path) -> None:
    pcap, anchors = _capture(libspdm_v12_v13_vectors, T)
    result = verify_capture(pcap, anchors)
    assert result.ok, result.first_failure
    assert [c.record for c in result.checks if c.name == "KEY_EXCHANGE_RSP signature" and c.passed] == [26, 40]
    skipped = [str(c) for c in result.checks if not c.checked and c.record == 26]
    assert skipped == ["skip record 26: session keys and verify data: no DHE secret for session 0 (no secrets given)"]

    def flip_signature(message: bytearray) -> None:
        answer = next(item.message for item in messages(pcap) if item.index == 26)
        assert isinstance(answer, KeyExchangeRsp)
        message[bytes(message).rfind(answer.signature)] ^= 0x01

    result = verify_capture(_edited(pcap, 26, flip_signature), anchors)
    assert not result.ok
    assert [(at, name) for at, name, _ in _failed(result)] == [(26, "KEY_EXCHANGE_RSP signature")]


# --- CSR --------------------------------------------------------------------------------------------

_CSR = "CSR is a PKCS #10 request signed by the key it names"


def test_a_csr_with_an_altered_signature_fails(libspdm_v12_v13_vectors: Path) -> None:
    pcap, anchors = _capture(libspdm_v12_v13_vectors, X)
    result = verify_capture(pcap, anchors)
    assert result.ok, result.first_failure
    assert [c.record for c in result.checks if c.name == _CSR and c.passed] == [30, 42]
    result = verify_capture(_edited(pcap, 30, _flip_last), anchors)  # the CSR's signature ends the message
    assert _failed(result) == [
        (30, _CSR, "the CSR's signature does not verify with the public key it names"),
    ]
