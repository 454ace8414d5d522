"""pyspdm's own regression captures (vectors/), and the recording pieces that wrote them.

Every vector the manifest lists (new ones are picked up from vectors/manifest.json):

* `spdm verify` passes with its root and secrets: every signature, MAC, verify data and AEAD tag;
* `spdm dump` decodes every record (and decrypts every secured one);
* the requester, fed the recorded responses and the recorded random values, sends byte-identical
  requests (secured records included) through the whole recorded flow;
* its secrets sidecar says what the manifest says.

A couple of vectors are tampered with byte by byte (verify must fail), and a few are regenerated
into a temporary folder to prove `vectors/generate.py` is deterministic.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from own_vectors import VECTORS, generate

from spdm import cli, dump
from spdm.capture import (
    LINKTYPE_MCTP,
    LINKTYPE_PCI_DOE,
    CapturedMessage,
    CaptureSecrets,
    CaptureWriter,
    RecordingLink,
    RecordingTransport,
    SecretsLog,
    messages,
    read_pcap,
    tap_objects,
)
from spdm.certs import load_certificates
from spdm.crypto import DheSuite, asym_suite, hash_suite
from spdm.errors import DecodeError, PeerError
from spdm.messages import Message
from spdm.messages.challenge import Challenge
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, CertificateInfo, ErrorCode
from spdm.messages.encapsulated import DeliverEncapsulatedResponse
from spdm.messages.endpoint_info import GetEndpointInfo
from spdm.messages.error import ErrorResponse
from spdm.messages.key_exchange import Finish, KeyExchange, KeyExchangeRsp
from spdm.messages.measurements import GetMeasurements
from spdm.messages.psk import PskExchange
from spdm.messages.session_control import KeyUpdate
from spdm.requester import DheKeyShare, Requester, RequesterConfig, RequesterIdentity, encapsulated
from spdm.responder import Responder, demo_config
from spdm.testing.replay import (
    MctpReplayTransport,
    ReplayTransport,
    recorded_key_shares,
    recorded_random,
    recorded_signer,
)
from spdm.transport.doe import DoeMailboxResponder, DoeTransport
from spdm.transport.loopback import LoopbackTransport
from spdm.transport.socket import SocketLink, SocketServer
from spdm.verify import ReplayRecord, SessionReplayer, verify_capture

ROOT = Path(__file__).resolve().parents[1]
MAX_TOTAL_BYTES = 2 * 1024 * 1024




def _manifest() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((VECTORS / "manifest.json").read_text())["vectors"]
    return entries


ENTRIES = {entry["name"]: entry for entry in _manifest()}
NAMES = sorted(ENTRIES)


@dataclasses.dataclass(frozen=True)
class Vector:
    """One vector: its manifest entry, records, secrets, and each request/response with its decrypted message."""

    entry: dict[str, Any]
    items: tuple[CapturedMessage, ...]
    secrets: CaptureSecrets
    root: bytes
    exchanges: tuple[tuple[CapturedMessage, Message | None, bytes, CapturedMessage, Message | None], ...]

    @property
    def name(self) -> str:
        return str(self.entry["name"])

    @property
    def path(self) -> Path:
        return VECTORS / self.name / "requester.pcap"

    @property
    def undecodable(self) -> frozenset[int]:
        return frozenset(self.entry.get("undecodable_records", ()))

    def plain(self, kind: type[Any]) -> list[Any]:
        """Every message of `kind` (clear or decrypted), requests and responses, in capture order."""
        found = []
        for _, request, _, _, response in self.exchanges:
            found += [m for m in (request, response) if isinstance(m, kind)]
        return found


def _stands_for(seen: CapturedMessage | ReplayRecord) -> Message | None:
    """The message a record is to the exchange: the large message its chunk completed, or the
    response its CHUNK_SEND_ACK carried, else its own."""
    return seen.carried.message if seen.carried is not None else seen.message


@functools.cache
def _vector(name: str) -> Vector:
    entry = ENTRIES[name]
    chain = entry.get("requester_chain")
    secrets = CaptureSecrets(
        dhe_secrets=tuple(bytes.fromhex(s) for s in entry["dhe_secrets"]),
        psk=None if entry["psk"] is None else bytes.fromhex(entry["psk"]),
        requester_chain=load_certificates(VECTORS / chain)
        if chain and not entry.get("requester_chain_on_wire")
        else (),
    )
    items = tuple(messages(read_pcap(VECTORS / name / "requester.pcap")))
    replayer = SessionReplayer(secrets)
    flow: list[tuple[CapturedMessage, Message | None, bytes]] = []
    for item in items:
        record = replayer.feed(item) if item.error is None else None
        if item.kind == "secured":
            assert record is not None and record.ok, f"{name}: record {item.index} does not open"
            flow.append((item, _stands_for(record), record.data))
        elif item.kind == "spdm":
            flow.append((item, _stands_for(item), item.data))
    exchanges = tuple((*q, r[0], r[1]) for q, r in zip(flow[::2], flow[1::2], strict=True))
    return Vector(
        entry=entry, items=items, secrets=secrets, root=(VECTORS / entry["root_cert"]).read_bytes(), exchanges=exchanges
    )


# --- the set ------------------------------------------------------------------------------------


def test_the_manifest_lists_every_vector_folder() -> None:
    folders = {path.parent.name for path in VECTORS.glob("*/requester.pcap")}
    assert folders == set(NAMES)
    assert len(NAMES) >= 20
    for entry in ENTRIES.values():
        assert (VECTORS / entry["root_cert"]).is_file()
        assert (VECTORS / entry["secrets"]).is_file()
    total = sum(path.stat().st_size for path in VECTORS.rglob("*") if path.is_file())
    assert total < MAX_TOTAL_BYTES


def test_the_set_covers_the_matrix() -> None:
    """A spread, not the product: every hash, signature, DHE group and AEAD suite appears somewhere."""
    seen: dict[str, set[str]] = {key: set() for key in ("Hash", "Asym", "DHE", "AEAD", "ReqAsym")}
    for entry in ENTRIES.values():
        for key, values in seen.items():
            values.add(entry["algorithms"][key])
    assert {"SHA_256", "SHA_384", "SHA_512"} <= seen["Hash"]
    assert {"ECDSA_P256", "ECDSA_P384", "ECDSA_P521", "RSASSA_2048", "RSASSA_3072", "RSAPSS_2048"} <= seen["Asym"]
    assert {"SECP_256_R1", "SECP_384_R1", "SECP_521_R1", "FFDHE_2048", "FFDHE_3072", "FFDHE_4096"} <= seen["DHE"]
    assert {"AES_128_GCM", "AES_256_GCM", "CHACHA20_POLY1305"} <= seen["AEAD"]
    transports = {entry["transport"] for entry in ENTRIES.values()}
    assert transports == {"pci-doe", "mctp"}
    versions = {entry["spdm_version"] for entry in ENTRIES.values()}
    assert versions == {"1.0", "1.1", "1.2", "1.3"}


# --- verify, dump, sidecar ----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_verify_passes(name: str) -> None:
    vector = _vector(name)
    result = verify_capture(read_pcap(vector.path), {0: vector.root}, secrets=vector.secrets)
    assert result.skipped_secured == 0
    failures = [check for check in result.checks if not check.ok]
    if vector.undecodable:
        # the malformed requests themselves, and the ERROR that answers each: nothing else may fail
        allowed = vector.undecodable | {index + 1 for index in vector.undecodable}
        assert failures and {check.record for check in failures} <= allowed, failures
        assert all(check.name in ("record decodes", "response follows a request") for check in failures)
        assert {check.record for check in failures if check.name == "record decodes"} == vector.undecodable
    else:
        assert result.ok, failures
    secured = [item.index for item in vector.items if item.kind == "secured"]
    opened = {check.record for check in result.checks if check.name.startswith("secured record opens") and check.ok}
    assert opened == set(secured)


@pytest.mark.parametrize("name", NAMES)
def test_key_schedule_matches_the_manifest(name: str) -> None:
    vector = _vector(name)
    replayer = SessionReplayer(vector.secrets)
    for item in vector.items:
        if item.error is None:
            replayer.feed(item)
    sessions = vector.entry["sessions"]
    assert len(replayer.sessions) == len(sessions)
    for replayed, expected in zip(replayer.sessions, sessions, strict=True):
        assert f"0x{replayed.session_id:08x}" == expected["session_id"]
        assert replayed.psk == expected["psk"]
        assert (replayed.th1 or b"").hex() == expected["th1"]
        assert (replayed.th2 or b"").hex() == expected["th2"]


@pytest.mark.parametrize("name", NAMES)
def test_dump_decodes_every_record(name: str) -> None:
    vector = _vector(name)
    out, err = io.StringIO(), io.StringIO()
    status = dump.run(vector.path, as_json=True, out=out, err=err, secrets=vector.secrets)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [record["index"] for record in records] == [item.index for item in vector.items]
    assert {record["index"] for record in records if "error" in record} == vector.undecodable
    assert status == (1 if vector.undecodable else 0), err.getvalue()
    assert not [record for record in records if record["code"] in ("SECURED_MESSAGE", "OTHER")]


@pytest.mark.parametrize("name", NAMES)
def test_the_secrets_sidecar_matches_the_manifest(name: str) -> None:
    entry = ENTRIES[name]
    sidecar = CaptureSecrets.load(VECTORS / entry["secrets"])
    assert [secret.hex() for secret in sidecar.dhe_secrets] == entry["dhe_secrets"]
    assert [f"0x{session_id:08x}" for session_id in sidecar.session_ids] == [
        session["session_id"] for session in entry["sessions"] if not session["psk"]
    ]
    assert (None if sidecar.psk is None else sidecar.psk.hex()) == entry["psk"]
    assert sidecar.psk_hint.hex() == entry["psk_hint"]
    chain = entry.get("requester_chain")
    if chain and not entry.get("requester_chain_on_wire"):
        assert sidecar.requester_chain == load_certificates(VECTORS / chain)
    else:
        assert sidecar.requester_chain == ()


# --- the requester reproduces every request -----------------------------------------------------


def _draws(vector: Vector) -> list[bytes]:
    """The requester's random draws, read back from the capture in the order it made them.

    A request repeated after ERROR Busy draws nothing new; nor do the flow's raw requests. From 1.3
    CHALLENGE and GET_MEASUREMENTS draw a RequesterContext after the nonce; a signed GET_ENDPOINT_INFO
    draws a nonce.
    """
    raw = {bytes.fromhex(step["request"]) for step in vector.entry["flow"] if step["op"] == "raw"}
    drawn: list[bytes] = []
    previous: bytes | None = None
    busy = False
    for recorded, message, data, _, answer in vector.exchanges:
        retry = busy and data == previous
        busy = isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.Busy
        previous = data
        if retry or recorded.data in raw or data in raw:
            continue
        if isinstance(message, (KeyExchange, PskExchange)):
            drawn.append(message.req_session_id.to_bytes(2, "little"))
            drawn.append(message.random_data if isinstance(message, KeyExchange) else message.requester_context)
        elif isinstance(message, KeyUpdate):
            drawn.append(bytes([message.tag]))
        elif isinstance(message, (Challenge, GetMeasurements, GetEndpointInfo)):
            drawn += [value for value in (message.nonce, getattr(message, "requester_context", None)) if value]
    return drawn


def _key_shares(vector: Vector) -> Callable[[DheSuite], DheKeyShare]:
    requests: list[KeyExchange] = []
    for message in vector.plain(KeyExchange):
        if not requests or message != requests[-1]:  # a Busy retry repeats the request
            requests.append(message)
    answered = [m.exchange_data for m in vector.plain(KeyExchangeRsp)]
    return recorded_key_shares([m.exchange_data for m in requests], answered, vector.secrets.dhe_secrets)


def _recorded_signer(vector: Vector, certificates: tuple[bytes, ...]) -> Callable[[bytes], bytes]:
    """The recorded FINISH signatures, each handed out only if it verifies over the digest asked for."""
    signatures = [m.signature for m in vector.plain(Finish) if m.signature is not None]
    public_key = x509.load_der_x509_certificate(certificates[-1]).public_key()
    algorithms = vector.entry["algorithms"]
    suite, hashes_ = asym_suite(BaseAsymAlgo[algorithms["ReqAsym"]]), hash_suite(BaseHashAlgo[algorithms["Hash"]])
    return recorded_signer(signatures, public_key, suite, hashes_)


def _replay_config(vector: Vector) -> RequesterConfig:
    entry = vector.entry
    identities = {}
    chain = entry.get("requester_chain")
    if chain:
        certificates = load_certificates(VECTORS / chain)
        identity = RequesterIdentity(certificates=certificates, sign=_recorded_signer(vector, certificates))
        identities = dict.fromkeys(entry["requester"]["identity_slots"], identity)
    config: RequesterConfig = generate.requester_config(
        entry["requester"],
        trust_anchors={0: vector.root},
        random=recorded_random(_draws(vector)),
        dhe_key_share=_key_shares(vector),
        identities=identities,
    )
    return config


@pytest.mark.parametrize("name", NAMES)
def test_the_requester_sends_the_recorded_requests(name: str) -> None:
    vector = _vector(name)
    kind = MctpReplayTransport if vector.entry["transport"] == "mctp" else ReplayTransport
    transport = kind((recorded, response) for recorded, _, _, response, _ in vector.exchanges)
    requester = Requester(transport, _replay_config(vector))
    sessions = generate.run_flow(requester, vector.entry["flow"])
    assert transport.done(), "the capture holds requests the requester did not send"
    assert [f"0x{s.session_id:08x}" for s in sessions] == [s["session_id"] for s in vector.entry["sessions"]]
    assert all(session.closed for session in sessions)


def test_the_requester_states_its_key_on_a_multi_key_connection() -> None:
    """Its encapsulated DIGESTS ends with KeyPairID 1, CertificateInfo DeviceCert and the four SPDM usages
    (KeyUsageMask 0x000f), and each CERTIFICATE portion names DeviceCert in Param2, as libspdm's requester."""
    answers = [m.payload for m in _vector("dhe_mutauth_multikey_p384_sha384_v13").plain(DeliverEncapsulatedResponse)]
    digests, *certificates = answers
    assert digests[:2] == b"\x13\x01" and len(digests) == 4 + 48 + 4
    assert digests[-4:] == bytes.fromhex("01010f00")
    assert len(certificates) == 2 and all(c[:2] == b"\x13\x02" and c[3] == 0x01 for c in certificates)


@pytest.mark.parametrize("model", [CertificateInfo.NONE, CertificateInfo.GENERIC_CERT])
def test_the_responder_refuses_a_requester_chain_of_a_model_libspdm_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: CertificateInfo
) -> None:
    """The multi-key mutual-authentication vector with the requester stating model None (with a chain)
    or GenericCert for its slot 0: our responder ends the handshake with ERROR InvalidResponseCode, as
    libspdm's does (libspdm_rsp_encap_get_certificate.c)."""
    monkeypatch.setattr(encapsulated, "_CERT_MODEL", model)
    with pytest.raises(PeerError) as refused:
        generate.generate(tmp_path, ["dhe_mutauth_multikey_p384_sha384_v13"])
    assert refused.value.error_code == ErrorCode.InvalidResponseCode


# --- tampering ----------------------------------------------------------------------------------

_DOE_HEADER = 8
_IN_SESSION_TRANSCRIPTS = frozenset(
    {
        "GET_VERSION",
        "VERSION",
        "GET_CAPABILITIES",
        "CAPABILITIES",
        "NEGOTIATE_ALGORITHMS",
        "ALGORITHMS",
        "KEY_EXCHANGE",
        "PSK_EXCHANGE",
    }
)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.mark.parametrize("name", ["dhe_secp256r1_aes128gcm_p256_sha256", "psk_context_sha384_aes256gcm"])
def test_an_altered_byte_of_a_covered_record_fails_verify(name: str) -> None:
    vector = _vector(name)
    pcap = read_pcap(vector.path)
    baseline = verify_capture(pcap, {0: vector.root}, secrets=vector.secrets)
    assert baseline.ok and len(baseline.covered) >= 10
    by_index = {item.index: item for item in vector.items}
    # what verify names as covered, and what the session transcripts cover besides (VCA and the exchange request)
    hashed = {item.index for item in vector.items if item.code in _IN_SESSION_TRANSCRIPTS}
    for index in sorted(baseline.covered | hashed):
        item = by_index[index]
        size = len(item.data)
        if item.kind == "secured":
            size = 6 + int.from_bytes(item.data[4:6], "little")  # SessionID, Length, and what Length covers
        for offset in sorted({0, 1, size // 2, size - 1}):
            record = pcap.records[index - 1]
            altered = dataclasses.replace(record, data=_flip(record.data, _DOE_HEADER + offset))
            tampered = dataclasses.replace(pcap, records=(*pcap.records[: index - 1], altered, *pcap.records[index:]))
            result = verify_capture(tampered, {0: vector.root}, secrets=vector.secrets)
            assert not result.ok, f"record {index} ({item.code}) byte {offset} altered, and verify passed"


# --- determinism --------------------------------------------------------------------------------


def _deterministic_ecdsa() -> bool:
    key = ec.derive_private_key(1, ec.SECP256R1())
    try:
        key.sign(b"x", ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    except UnsupportedAlgorithm:
        return False
    return True




@pytest.mark.skipif(not _deterministic_ecdsa(), reason="this OpenSSL has no deterministic (RFC 6979) ECDSA")
def test_generate_is_deterministic(tmp_path: Path) -> None:
    """Every vector, regenerated (a few seconds), is byte for byte the committed one: a change of the
    requester's or the responder's behaviour cannot leave a vector recording the old one."""
    built = generate.generate(tmp_path, [entry["name"] for entry in _manifest()])
    for entry in built:
        assert entry == ENTRIES[entry["name"]]
        for path in sorted((VECTORS / entry["name"]).iterdir()):
            assert (tmp_path / entry["name"] / path.name).read_bytes() == path.read_bytes(), path
        assert sorted(p.name for p in (tmp_path / entry["name"]).iterdir()) == sorted(
            p.name for p in (VECTORS / entry["name"]).iterdir()
        )
    listed = json.loads((tmp_path / "manifest.json").read_text())["vectors"]
    assert listed == _manifest()


# --- the recording pieces -----------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


def test_capture_writer_streams_records(tmp_path: Path) -> None:
    path = tmp_path / "out.pcap"
    with CaptureWriter(path, LINKTYPE_MCTP, clock=_Clock()) as writer:
        assert path.stat().st_size == 24  # the header is out at once
        writer.write(b"\x00\x00\x00\xc0\x05\x10\x84\x00\x00")
        assert read_pcap(path).records[0].timestamp == 1000.5  # flushed: readable while still open
        writer.write(bytes.fromhex("000000c0051004000000010010"), timestamp=7.25)
        writer.write(bytes(70_000))  # over the snaplen: cut to it, as spdm-emu cuts it
        assert writer.records == 3
    assert writer.closed
    pcap = read_pcap(path)
    assert pcap.link_type == LINKTYPE_MCTP and [r.timestamp for r in pcap.records] == [1000.5, 7.25, 1001.0]
    assert [r.orig_len for r in pcap.records] == [None, None, 70_000]
    assert [m.code for m in messages(pcap)] == ["GET_VERSION", "VERSION", "OTHER"]
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"late")
    writer.close()


def test_capture_writer_is_thread_safe() -> None:
    buffer = io.BytesIO()
    writer = CaptureWriter(buffer, LINKTYPE_PCI_DOE, clock=lambda: 1.0)
    payloads = [bytes([n]) * (4 + n) for n in range(8)]

    def work(payload: bytes) -> None:
        for _ in range(50):
            writer.write(payload)

    threads = [threading.Thread(target=work, args=(payload,)) for payload in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()  # a file it did not open stays open
    records = read_pcap(buffer.getvalue()).records
    assert len(records) == 400 and {r.data for r in records} == set(payloads)


def test_recorders_refuse_the_wrong_link_type() -> None:
    mctp = CaptureWriter(io.BytesIO(), LINKTYPE_MCTP)
    with pytest.raises(ValueError, match="291"):
        RecordingLink(generate._MailboxLink(DoeMailboxResponder(Responder(demo_config()).respond)), mctp)
    other = CaptureWriter(io.BytesIO(), 1)
    with pytest.raises(ValueError):
        RecordingTransport(LoopbackTransport(lambda request, session_id: request), other)
    with pytest.raises(ValueError):
        tap_objects(lambda obj: obj, other)
    doe = CaptureWriter(io.BytesIO(), LINKTYPE_PCI_DOE)
    device = DoeMailboxResponder(Responder(demo_config()).respond)
    with pytest.raises(ValueError, match="RecordingLink"):
        RecordingTransport(DoeTransport(generate._MailboxLink(device)), doe)


@pytest.mark.parametrize("link_type", [LINKTYPE_PCI_DOE, LINKTYPE_MCTP])
def test_recording_transport_frames_as_spdm_emu(link_type: int) -> None:
    """A loopback recorded as DOE objects or MCTP records; a clear ERROR to a secured request stays clear."""
    responder = Responder(demo_config())
    buffer = io.BytesIO()
    writer = CaptureWriter(buffer, link_type, clock=lambda: 1_767_225_600.0)  # certificates are valid then
    transport = RecordingTransport(LoopbackTransport(responder.respond), writer)
    requester = Requester(transport, RequesterConfig(trust_anchors={0: demo_config().slots[0].certificates[0]}))
    requester.authenticate(0)
    transport.exchange(bytes.fromhex("01000000" + "0600") + bytes(6), session_id=1)  # no such session
    transport.close()
    items = list(messages(read_pcap(buffer.getvalue())))
    assert not [item for item in items if item.error is not None]
    assert [item.kind for item in items[-2:]] == ["secured", "spdm"]
    assert isinstance(items[-1].message, ErrorResponse)
    assert items[-1].message.error_code == ErrorCode.InvalidSession
    pcap = read_pcap(buffer.getvalue())
    authenticated = dataclasses.replace(pcap, records=pcap.records[:-2])
    assert verify_capture(authenticated, {0: demo_config().slots[0].certificates[0]}).ok


def test_a_socket_server_tap_and_a_recording_link_write_the_same_objects(tmp_path: Path) -> None:
    config = dataclasses.replace(demo_config(sessions=True), max_padding=3)
    anchor = config.slots[0].certificates[0]
    server_log = SecretsLog(tmp_path / "server.json")
    responder = Responder(dataclasses.replace(config, on_dhe_secret=server_log.add_dhe_secret))
    with CaptureWriter(tmp_path / "server.pcap") as server_writer:
        tapped = tap_objects(DoeMailboxResponder(responder.respond), server_writer)
        server = SocketServer(tapped, host="127.0.0.1", port=0).start()
        client_log = SecretsLog(tmp_path / "client.json")
        try:
            with CaptureWriter(tmp_path / "client.pcap") as client_writer:
                link = SocketLink("127.0.0.1", server.port, timeout=5)
                config_r = RequesterConfig.with_sessions(
                    trust_anchors={0: anchor}, on_dhe_secret=client_log.add_dhe_secret
                )
                requester = Requester(DoeTransport(RecordingLink(link, client_writer)), config_r)
                requester.authenticate(0)
                with requester.key_exchange(0) as session:
                    session.heartbeat()
                link.shutdown()
        finally:
            server.stop(timeout=2)
    client, served = read_pcap(tmp_path / "client.pcap"), read_pcap(tmp_path / "server.pcap")
    assert [r.data for r in client.records] == [r.data for r in served.records]
    assert client_log.secrets == server_log.secrets and len(client_log.secrets.dhe_secrets) == 1
    assert verify_capture(served, {0: anchor}, secrets=CaptureSecrets.load(tmp_path / "client.json")).ok


def test_capture_secrets_round_trip_and_refuse_garbage() -> None:
    secrets = CaptureSecrets(
        psk=b"k", psk_hint=b"h", dhe_secrets=(b"\x01", b"\x02"), session_ids=(1, 2), requester_chain=(b"\x30",)
    )
    assert CaptureSecrets.from_json(secrets.to_json()) == secrets
    assert "responder_chains" not in secrets.to_json()  # the sidecar a recording writes stays as it was
    stand_ins = dataclasses.replace(secrets, responder_chains={0: b"\x00\x01", 7: b"\x02"})
    assert CaptureSecrets.from_json(stand_ins.to_json()) == stand_ins
    assert CaptureSecrets.from_json("{}") == CaptureSecrets()
    garbage = ('{"responder_chains": {"8": "00"}}', '{"responder_chains": ["00"]}', '{"responder_chains": {"0": 1}}')
    for text in ("[", "[]", '{"psk": 1}', '{"dhe_secrets": ["zz"]}', '{"extra": 1}', '{"session_ids": [-1]}', *garbage):
        with pytest.raises(DecodeError):
            CaptureSecrets.from_json(text)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_cli_records_both_ends_with_their_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`spdm responder --pcap --secrets` and `spdm requester --pcap --secrets`: the same objects, the same
    secrets, and the capture verifies with them."""
    port = _free_port()
    command = [sys.executable, "-m", "spdm", "responder", "--listen", f"127.0.0.1:{port}"]
    command += ["--pcap", str(tmp_path / "rsp.pcap"), "--secrets", str(tmp_path / "rsp.json")]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root = None
    try:
        assert server.stdout is not None
        root = server.stdout.readline().split()[-1]  # demo identity: root certificate written to ...
        assert "listening on" in server.stdout.readline()
        arguments = ["requester", "--connect", f"127.0.0.1:{port}", "--root-cert", root, "--session", "dhe"]
        arguments += ["--pcap", str(tmp_path / "req.pcap"), "--secrets", str(tmp_path / "req.json")]
        assert cli.main(arguments) == 0
        assert server.wait(timeout=10) == 0  # the requester's SHUTDOWN
        assert server.stderr is not None and "anyone holding it can decrypt" in server.stderr.read()
        assert "anyone holding it can decrypt" in capsys.readouterr().err
        requester_side, responder_side = read_pcap(tmp_path / "req.pcap"), read_pcap(tmp_path / "rsp.pcap")
        assert [r.data for r in requester_side.records] == [r.data for r in responder_side.records]
        secrets = CaptureSecrets.load(tmp_path / "req.json")
        assert secrets == CaptureSecrets.load(tmp_path / "rsp.json") and len(secrets.dhe_secrets) == 1
        verify = ["verify", str(tmp_path / "rsp.pcap"), "--root-cert", root]
        assert cli.main([*verify, "--dhe-secret", secrets.dhe_secrets[0].hex()]) == 0
        assert cli.main([*verify, "--secrets", str(tmp_path / "req.json")]) == 0
    finally:
        server.kill()
        server.wait()
        if root is not None:
            Path(root).unlink(missing_ok=True)
