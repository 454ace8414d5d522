"""The requester's sessions against DMTF libspdm's recorded responses, byte for byte.

`spdm.testing.replay` serves each capture's responses (secured records included) in order and
refuses a request that differs from the recorded one. Everything the requester draws at random is
injected from the capture (ReqSessionID, RandomData, RequesterContext, KEY_UPDATE tags, nonces,
and over MCTP the random padding of each secured record, decrypted from the capture), so:

* PSK captures (d, j, u): PSK_EXCHANGE, PSK_FINISH, HEARTBEAT, KEY_UPDATE and END_SESSION records are
  byte-identical to libspdm's.
* DHE captures (e, h, i over MCTP, e4, p, t, t2 over MCTP): libspdm's ephemeral key cannot be
  reproduced, so a recorded key share sends the recorded ExchangeData and yields the manifest's
  shared secret; the responder's signature, ResponderVerifyData and every later record are then
  checked for real. Under mutual authentication libspdm's signatures (randomised ECDSA: the
  encapsulated CHALLENGE_AUTH, FINISH) are injected through the identity's `sign` hook, which
  first verifies each over the requester's own transcript digest: mut_B/mut_C and Hash(CM) are
  libspdm's. The encapsulated DIGESTS/CERTIFICATE answers, FINISH, in-session measurements and
  everything after are byte-identical.
* SPDM 1.2 chunking (v at DataTransferSize 256, v3 at 64), GET_CSR/SET_CERTIFICATE (x) and basic and
  session mutual authentication with the responder's own KEY_UPDATE through encapsulated requests (w)
  likewise.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from spdm.capture import CapturedMessage, CaptureSecrets, messages, read_pcap
from spdm.certs import load_certificates
from spdm.crypto import DheSuite, SignatureInput, asym_suite, hash_suite
from spdm.errors import NegotiationError, VerificationError
from spdm.flow import Direction
from spdm.limits import DEFAULT_LIMITS, Limits
from spdm.messages import Message, decode_prefix
from spdm.messages.certificates import Certificate, Digests, GetCertificate, GetDigests
from spdm.messages.challenge import Challenge, ChallengeAuth
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, CapabilityFlags, Code, OtherParams, SummaryHashType
from spdm.messages.encapsulated import DeliverEncapsulatedResponse
from spdm.messages.endpoint_info import EndpointInfo, GetEndpointInfo
from spdm.messages.key_exchange import Finish, KeyExchange, KeyExchangeRsp
from spdm.messages.measurements import GetMeasurements
from spdm.messages.negotiation import DEFAULT_TRANSFER_SIZE, SPDM_VERSIONS, GetCapabilities, NegotiateAlgorithms
from spdm.messages.opaque import decode_opaque, secured_message_versions
from spdm.messages.psk import PskExchange
from spdm.messages.session_control import KeyUpdate
from spdm.negotiated import Negotiated
from spdm.requester import (
    DheKeyShare,
    Requester,
    RequesterConfig,
    RequesterIdentity,
    Session,
    SessionClosedError,
    SessionDecryptError,
)
from spdm.session.secured import MCTP, DirectionState, secured_transport, session_id_of
from spdm.testing.replay import (
    MctpReplayTransport,
    ReplayTransport,
    recorded_key_shares,
    recorded_random,
    recorded_signer,
)
from spdm.verify import ReplayRecord, SessionReplayer

PSK = bytes.fromhex("5465737450736b4461746100")
PSK_HINT = bytes.fromhex("5465737450736b48696e7400")
CLOCK = datetime(2026, 11, 26, tzinfo=timezone.utc)
DOE_PADDING = 3


@dataclasses.dataclass(frozen=True)
class Capture:
    """A capture, decrypted once by the passive replayer, and what the requester must be fed."""

    name: str
    items: tuple[CapturedMessage, ...]
    records: tuple[ReplayRecord, ...]
    entry: dict[str, Any]
    negotiated: Negotiated
    paddings: tuple[bytes, ...]
    """The random padding of each secured request record (MCTP), in capture order."""

    def plain(self, kind: type[Any] | tuple[type[Any], ...]) -> list[Any]:
        """Every message of `kind` in capture order: clear or decrypted, sent whole or in chunks."""
        return [message for message in self.exchanged() if isinstance(message, kind)]

    def exchanged(self) -> Iterator[Message]:
        """Every message in capture order, each chunked large message after the chunk that completed it."""
        by_index = {record.index: record for record in self.records}
        for item in self.items:
            seen: CapturedMessage | ReplayRecord = by_index[item.index] if item.kind == "secured" else item
            if seen.message is not None:
                yield seen.message
            if seen.carried is not None:
                yield seen.carried.message

    def delivered(self, message: DeliverEncapsulatedResponse) -> Message:
        """The requester's answer to an encapsulated request (signed with ReqBaseAsymAlg; every encapsulated
        GET_ENDPOINT_INFO of the captures, y2_'s, asks for a signature)."""
        context = self.negotiated.codec_context(signature_requested=message.payload[1] == Code.ENDPOINT_INFO)
        requester_context = dataclasses.replace(context, signature_size=context.req_signature_size)
        return decode_prefix(message.payload, requester_context)[0]

    def requester_signatures(self) -> list[bytes]:
        """The requester's signatures in the order it makes them: encapsulated CHALLENGE_AUTHs and FINISHes."""
        signatures = []
        for message in self.exchanged():
            answer = self.delivered(message) if isinstance(message, DeliverEncapsulatedResponse) else None
            if isinstance(answer, ChallengeAuth):
                signatures.append(answer.signature)
            elif isinstance(message, Finish) and message.signature is not None:
                signatures.append(message.signature)
        return signatures

    def randoms(self) -> list[bytes]:
        """The requester's random draws in the order it makes them (the nonces of its encapsulated
        CHALLENGE_AUTH and signed ENDPOINT_INFO answers among them)."""
        drawn: list[bytes] = []
        for message in self.exchanged():
            if isinstance(message, DeliverEncapsulatedResponse):
                answer = self.delivered(message)
                if isinstance(answer, (ChallengeAuth, EndpointInfo)) and answer.nonce is not None:
                    drawn.append(answer.nonce)
            elif isinstance(message, (KeyExchange, PskExchange)):
                drawn.append(message.req_session_id.to_bytes(2, "little"))
                drawn.append(message.random_data if isinstance(message, KeyExchange) else message.requester_context)
            elif isinstance(message, KeyUpdate):
                drawn.append(bytes([message.tag]))
            elif isinstance(message, (Challenge, GetMeasurements)):
                drawn.extend(value for value in (message.nonce, message.requester_context) if value is not None)
            elif isinstance(message, GetEndpointInfo) and message.nonce is not None:
                drawn.append(message.nonce)
        return drawn


@functools.cache
def _manifest(vectors: Path) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in json.loads((vectors / "manifest.json").read_text())["vectors"]}


def _capture(vectors: Path, name: str) -> Capture:
    entry = _manifest(vectors)[name]
    items = tuple(messages(read_pcap(vectors / name / "requester.pcap")))
    chain = entry.get("requester_chain")
    secrets = CaptureSecrets(
        dhe_secrets=tuple(bytes.fromhex(s) for s in entry["dhe_secrets"]),
        psk=PSK,
        requester_chain=load_certificates(vectors / chain) if chain else (),
    )
    replayer = SessionReplayer(secrets)
    records, paddings = [], []
    for item in items:
        if item.kind == "secured" and item.direction is Direction.REQUEST and entry["transport"] == "mctp":
            paddings.append(_random_padding(replayer.context(session_id_of(item.data), Direction.REQUEST), item.data))
        if (record := replayer.feed(item)) is not None:
            records.append(record)
    assert all(record.ok for record in records), "the passive replay of the capture must succeed first"
    assert replayer.negotiated is not None
    return Capture(
        name=name,
        items=items,
        records=tuple(records),
        entry=entry,
        negotiated=replayer.negotiated,
        paddings=tuple(paddings),
    )


def _random_padding(state: DirectionState | None, record: bytes) -> bytes:
    """The random bytes libspdm put after the message in an MCTP record, under the keys the passive replayer holds."""
    assert state is not None and state.keys is not None and state.transport is MCTP
    header = state.transport.header_size
    aead = AESGCM(state.keys.key)  # AES-256-GCM: the captures' AEAD
    plaintext = aead.decrypt(state.nonce(state.sequence_number), record[header:], record[:header])
    return plaintext[2 + int.from_bytes(plaintext[:2], "little") :]


def _key_shares(capture: Capture) -> Callable[[DheSuite], DheKeyShare]:
    secrets = [bytes.fromhex(s) for s in capture.entry["dhe_secrets"]]
    sent = [m.exchange_data for m in capture.plain(KeyExchange)]
    return recorded_key_shares(sent, [m.exchange_data for m in capture.plain(KeyExchangeRsp)], secrets)


def _config(capture: Capture, vectors: Path, **extra: Any) -> RequesterConfig:
    """libspdm's offer as the capture shows it (capabilities, sizes, algorithms, SessionPolicy, the
    secured-message versions of its first exchange: 1.1 alone in the 1.1 captures, --sec_ver 1.1),
    its random values, and the manifest's roots of slots 0 and 1."""
    caps = next(i.message for i in capture.items if isinstance(i.message, GetCapabilities))
    offer = next(i.message for i in capture.items if isinstance(i.message, NegotiateAlgorithms))
    portions = [i.message.length for i in capture.items if isinstance(i.message, GetCertificate)]
    exchange = next(m for m in capture.plain((KeyExchange, PskExchange)))
    general = offer.version >= 0x12 and bool(offer.other_params_support & OtherParams.OPAQUE_DATA_FMT_1)
    root = vectors / capture.entry["root_cert"]
    settings: dict[str, Any] = {
        "versions": tuple(v for v in SPDM_VERSIONS if v <= offer.version),
        "capabilities": caps.flags,
        "data_transfer_size": caps.data_transfer_size or DEFAULT_TRANSFER_SIZE,
        "max_spdm_msg_size": caps.max_spdm_msg_size or DEFAULT_TRANSFER_SIZE,
        # libspdm's requester states MaxSPDMmsgSize 0x28000 from 1.2: reading that much, as it does
        "limits": Limits(max_response_bytes=max(DEFAULT_LIMITS.max_response_bytes, caps.max_spdm_msg_size or 0)),
        "base_asym_algo": offer.base_asym_algo,
        "base_hash_algo": offer.base_hash_algo,
        "alg_structs": offer.alg_structs,
        "random": recorded_random(capture.randoms()),
        "secured_message_versions": secured_message_versions(decode_opaque(exchange.opaque_data, general=general)),
        "session_policy": exchange.session_policy,
        "psk": PSK,
        "psk_hint": PSK_HINT,
        "trust_anchors": {0: root.read_bytes(), 1: root.with_name("ca1.cert.der").read_bytes()},
        "certificate_portion": portions[0] if portions else 0x400,
        "clock": lambda: CLOCK,
        "secured_transport": secured_transport(capture.entry["transport"]),
        "secured_padding": iter(capture.paddings).__next__,
    }
    settings.update(extra)
    return RequesterConfig(**settings)


# --- PSK -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["d_psk_sha384_aes256gcm_v11", "j_psk_nocontext_sha256_chacha_v11"])
def test_psk_session_records_are_libspdms(libspdm_vectors: Path, name: str) -> None:
    _replay_psk(libspdm_vectors, name, with_context=name.startswith("d_"))  # j: no PSK_FINISH at all


def test_psk_session_records_are_libspdms_at_12(libspdm_v12_v13_vectors: Path) -> None:
    _replay_psk(libspdm_v12_v13_vectors, "u_psk_sha384_aes256gcm_v12", with_context=True)


def _replay_psk(vectors: Path, name: str, *, with_context: bool) -> None:
    capture = _capture(vectors, name)
    transport = ReplayTransport.from_messages(capture.items)
    config = _config(capture, vectors)
    requester = Requester(transport, config)
    negotiated = requester.init_connection()
    session = requester.psk_exchange(summary_hash_type=0xFF)
    assert session.established and session.psk and session.session_id == 0xFFFFFFFF
    assert session.secured_message_version == max(config.secured_message_versions)
    assert session.measurement_summary_hash is not None
    key_schedule = capture.entry["sessions_key_schedule"]
    if key_schedule:
        assert session.th1 == bytes.fromhex(key_schedule[0]["th1"])
        assert session.th2 == bytes.fromhex(key_schedule[0]["th2"])
    assert bool(negotiated.responder_flags & CapabilityFlags.PSK_CAP_WITH_CONTEXT) == with_context
    session.heartbeat()
    assert session.key_update(all_keys=True)  # libspdm's responder answers under its new key
    assert session.sequence_numbers == (1, 2)  # both directions restarted at 0 under their new keys
    session.close(clear_negotiated_state=True)  # spdm-emu sets END_SESSION bit 0 (CACHE_CAP responder)
    assert session.closed and not requester.sessions
    assert transport.done(), "the capture holds records the requester did not send"


# --- DHE -------------------------------------------------------------------------------------------


def _recorded_signer(capture: Capture, certificates: tuple[bytes, ...]) -> Callable[[SignatureInput], bytes]:
    """libspdm's requester signatures (encapsulated CHALLENGE_AUTH, FINISH), each handed out only if it
    verifies over what is to be signed: the requester's transcripts (mut_B/mut_C, Hash(CM)) must be
    the ones libspdm signed."""
    signatures = capture.requester_signatures()
    public_key = x509.load_der_x509_certificate(certificates[-1]).public_key()
    suite, hashes = asym_suite(BaseAsymAlgo.ECDSA_P384), hash_suite(BaseHashAlgo.SHA_384)
    return recorded_signer(signatures, public_key, suite, hashes)


def _spdm_emu_connection(requester: Requester, *, challenge: bool = False) -> None:
    """spdm-emu's flow before its sessions (README.txt): DIGESTS, both slots' chains, (with CHAL in
    --exe_conn: CHALLENGE with the summary of all measurements,) DIGESTS, slot 0 again, DIGESTS."""
    requester.init_connection()
    requester.get_digests()
    requester.get_certificate(0)
    requester.get_certificate(1)
    requester.verify_certificate(0)
    requester.verify_certificate(1)
    if challenge:
        assert requester.challenge(0, SummaryHashType.ALL).measurement_summary_hash is not None
    requester.get_digests()
    requester.get_certificate(0)
    requester.get_digests()


@pytest.mark.parametrize(
    ("name", "requester_slots"),
    [
        ("e_dhe_secp384_aes256gcm_v11", ()),
        ("h_dhe_ffdhe3072_aes128gcm_rsassa3072_v11", ()),
        ("i_mctp_dhe_secp384_aes256gcm_v11", ()),  # MCTP: sequence numbers, libspdm's random padding
        ("e4_dhe_secp384_aes256gcm_mutauth_encap_v11", (0, 1, 2)),  # spdm-emu provisions 3 slots
        ("p_dhe_secp384_mutauth_wo_encap_v11", (0,)),
    ],
)
def test_dhe_session_records_are_libspdms(libspdm_vectors: Path, name: str, requester_slots: tuple[int, ...]) -> None:
    _replay_dhe(libspdm_vectors, libspdm_vectors, name, requester_slots)


def test_dhe_session_records_are_libspdms_at_12(libspdm_vectors: Path, libspdm_v12_v13_vectors: Path) -> None:
    """The 1.2 signing prefix on KEY_EXCHANGE_RSP, the 1.2 opaque data, SessionPolicy, "spdm1.2 " labels,
    UpdateAllKeys (--key_upd ALL), in-session measurements over A || M."""
    _replay_dhe(libspdm_v12_v13_vectors, libspdm_vectors, "t_dhe_secp384_aes256gcm_v12", (), all_keys=True)


def test_dhe_session_records_are_libspdms_over_mctp(libspdm_vectors: Path, libspdm_v12_v13_vectors: Path) -> None:
    """t2_: the t_ flow over MCTP, each secured record with its 2-byte sequence number and libspdm's random
    padding (recovered from the capture and handed to the requester as `secured_padding`)."""
    _replay_dhe(libspdm_v12_v13_vectors, libspdm_vectors, "t2_mctp_dhe_secp384_aes256gcm_v12", (), all_keys=True)


def _replay_dhe(
    vectors: Path,
    keys: Path,
    name: str,
    requester_slots: tuple[int, ...],
    *,
    all_keys: bool = False,
    certificates_in_session: bool = False,
) -> None:
    capture = _capture(vectors, name)
    identities = {}
    if requester_slots:
        certificates = load_certificates(keys / "sample_key" / "ecp384" / "bundle_requester.certchain.der")
        identity = RequesterIdentity(certificates=certificates, sign=_recorded_signer(capture, certificates))
        identities = dict.fromkeys(requester_slots, identity)
    config = _config(capture, vectors, dhe_key_share=_key_shares(capture), identities=identities)
    replay = MctpReplayTransport if capture.entry["transport"] == "mctp" else ReplayTransport
    transport = replay.from_messages(capture.items)
    requester = Requester(transport, config)

    _spdm_emu_connection(requester)
    has_key_update = bool(capture.plain(KeyUpdate))
    for slot, expected in zip((0, 1), capture.entry["sessions_key_schedule"], strict=True):
        with requester.key_exchange(slot, summary_hash_type=0xFF) as session:
            assert session.th1 == bytes.fromhex(expected["th1"])
            assert session.th2 == bytes.fromhex(expected["th2"])
            assert session.slot == slot and session.heartbeat_period == 240
            if requester_slots:
                assert session.mut_auth_requested in (0x01, 0x02) and session.requester_slot == 0
            session.heartbeat()
            if has_key_update:
                assert session.key_update(all_keys=all_keys) == all_keys  # UpdateKey: only the request key
            measured = session.get_measurements(0xFF)
            assert measured.signed and measured.slot == slot and len(measured.blocks) == 8
            if certificates_in_session:  # spdm-emu at 1.3 also asks DIGESTS and the slot's chain inside
                digests = session.send(GetDigests(version=requester.version))
                assert isinstance(digests, Digests) and digests.digests == tuple(requester.digests.values())
                portion = session.send(
                    GetCertificate(version=requester.version, slot_param=slot, offset=0, length=0xFFFF)
                )
                assert isinstance(portion, Certificate) and portion.portion == requester.chains[slot]
            # END_SESSION with bit 0, as spdm-emu sends it (the context manager would send 0)
            session.close(clear_negotiated_state=True)
    assert transport.done(), "the capture holds records the requester did not send"


# --- SPDM 1.2: chunking, provisioning, mutual authentication ------------------------------------------


def _provision(requester: Requester, session: Session, chain: tuple[bytes, ...]) -> None:
    """spdm-emu's GET_CSR and SET_CERTIFICATE of slot 0 in the clear, then SET_CERTIFICATE of slot 1 in the session.

    Our requester forgets a slot it wrote (its chain no longer describes the device); libspdm keeps
    the chain it verified (spdm-emu's sample responder files the new chain away and keeps serving
    its own), and opens the next session on slot 1 with it. So the earlier validation is handed back.
    """
    held = dict(requester.digests), dict(requester.chains), dict(requester.verified)
    assert requester.get_csr()
    assert not requester.set_certificate(0, chain).reset_required
    assert not session.set_certificate(1, chain).reset_required
    for kept, state in zip(held, (requester.digests, requester.chains, requester.verified), strict=True):
        state.update(kept)


def test_provisioning_records_are_libspdms(libspdm_vectors: Path, libspdm_v12_v13_vectors: Path) -> None:
    """x_: GET_CSR, SET_CERTIFICATE (the chain in the SPDM format, RootHash first) in clear and in session."""
    capture = _capture(libspdm_v12_v13_vectors, "x_csr_setcert_ecdsap384_v12")
    transport = ReplayTransport.from_messages(capture.items)
    requester = Requester(transport, _config(capture, libspdm_v12_v13_vectors, dhe_key_share=_key_shares(capture)))
    chain = load_certificates(libspdm_vectors / "sample_key" / "ecp384" / "bundle_responder.certchain.der")
    _spdm_emu_connection(requester)
    for slot in (0, 1):
        session = requester.key_exchange(slot, summary_hash_type=0xFF)
        _provision(requester, session, chain)
        session.close(clear_negotiated_state=True)
    assert transport.done(), "the capture holds records the requester did not send"


def test_chunked_records_are_libspdms_at_256(libspdm_vectors: Path, libspdm_v12_v13_vectors: Path) -> None:
    """v_ (DataTransferSize 256): CHUNK_GET for CERTIFICATE, MEASUREMENTS, KEY_EXCHANGE_RSP, CSR and the
    in-session MEASUREMENTS; CHUNK_SEND for SET_CERTIFICATE in clear and in session."""
    capture = _capture(libspdm_v12_v13_vectors, "v_chunk_dts256_ecdsap384_v12")
    transport = ReplayTransport.from_messages(capture.items)
    requester = Requester(transport, _config(capture, libspdm_v12_v13_vectors, dhe_key_share=_key_shares(capture)))
    chain = load_certificates(libspdm_vectors / "sample_key" / "ecp384" / "bundle_responder.certchain.der")
    _spdm_emu_connection(requester, challenge=True)
    assert requester.get_measurements(0xFF, signed=True, slot=0).signed
    for slot in (0, 1):
        session = requester.key_exchange(slot, summary_hash_type=0xFF)
        session.heartbeat()
        assert session.get_measurements(0xFF).signed
        _provision(requester, session, chain)
        session.close(clear_negotiated_state=True)
    assert transport.done(), "the capture holds records the requester did not send"


def test_chunked_records_are_libspdms_at_64(libspdm_v12_v13_vectors: Path) -> None:
    """v3_ (DataTransferSize 64): DIGESTS and CHALLENGE_AUTH chunked too, KEY_EXCHANGE and PSK_EXCHANGE
    sent with CHUNK_SEND and answered by a bare ERROR(LargeResponse), then PSK_EXCHANGE_RSP through CHUNK_GET."""
    capture = _capture(libspdm_v12_v13_vectors, "v3_chunk_dts64_dhe_psk_ecdsap384_v12")
    transport = ReplayTransport.from_messages(capture.items)
    requester = Requester(transport, _config(capture, libspdm_v12_v13_vectors, dhe_key_share=_key_shares(capture)))
    _spdm_emu_connection(requester, challenge=True)
    assert requester.get_measurements(0xFF, signed=True, slot=0).signed
    for open_session in (
        lambda: requester.key_exchange(0, summary_hash_type=0xFF),
        lambda: requester.psk_exchange(summary_hash_type=0xFF),
        lambda: requester.key_exchange(1, summary_hash_type=0xFF),
    ):
        session = open_session()
        session.heartbeat()
        assert session.key_update(all_keys=True)
        assert session.get_measurements(0xFF).signed
        session.close(clear_negotiated_state=True)
    assert transport.done(), "the capture holds records the requester did not send"


def test_mutual_authentication_records_are_libspdms_at_12(libspdm_vectors: Path, libspdm_v12_v13_vectors: Path) -> None:
    """w_: basic mutual authentication after CHALLENGE_AUTH (encapsulated GET_DIGESTS, GET_CERTIFICATE,
    CHALLENGE in the clear), then two sessions with MutAuthRequested 2 and a signed FINISH, in each the
    responder's own KEY_UPDATE (UpdateKey, VerifyNewKey) as encapsulated requests: the responses
    after its ACK open only under the responder's new key."""
    capture = _capture(libspdm_v12_v13_vectors, "w_mutauth_encap_ecdsap384_v12")
    certificates = load_certificates(libspdm_vectors / "sample_key" / "ecp384" / "bundle_requester.certchain.der")
    identity = RequesterIdentity(certificates=certificates, sign=_recorded_signer(capture, certificates))
    identities = dict.fromkeys((0, 1, 2), identity)  # spdm-emu provisions 3 slots
    config = _config(capture, libspdm_v12_v13_vectors, dhe_key_share=_key_shares(capture), identities=identities)
    transport = ReplayTransport.from_messages(capture.items)
    requester = Requester(transport, config)
    _spdm_emu_connection(requester, challenge=True)
    for slot in (0, 1):
        session = requester.key_exchange(slot, summary_hash_type=0xFF)
        assert session.mut_auth_requested == 0x02 and session.requester_slot == 0
        assert session.th2 == bytes.fromhex(capture.entry["sessions_key_schedule"][slot]["th2"])
        session.heartbeat()
        assert session.serve_encapsulated_requests() == 2  # UpdateKey, then VerifyNewKey
        assert session.sequence_numbers == (4, 2)  # the response key is new: its two ACKs counted from 0
        assert session.get_measurements(0xFF).signed
        session.close(clear_negotiated_state=True)
    assert transport.done(), "the capture holds records the requester did not send"


# --- what a bad capture does ------------------------------------------------------------------------


def _psk_requester(vectors: Path, **extra: Any) -> tuple[Requester, ReplayTransport]:
    capture = _capture(vectors, "d_psk_sha384_aes256gcm_v11")
    transport = ReplayTransport.from_messages(capture.items, strict=not extra)
    requester = Requester(transport, _config(capture, vectors, **extra))
    requester.init_connection()
    return requester, transport


def test_a_response_that_does_not_open_tears_the_session_down(libspdm_vectors: Path) -> None:
    requester, transport = _psk_requester(libspdm_vectors)
    session = requester.psk_exchange(summary_hash_type=0xFF)

    def flip_last_byte(item: CapturedMessage) -> bytes:
        return item.data[:-1] + bytes([item.data[-1] ^ 1])

    transport.alter = flip_last_byte  # the HEARTBEAT_ACK's tag
    with pytest.raises(SessionDecryptError) as failure:
        session.heartbeat()
    assert failure.value.session_id == session.session_id
    assert session.closed and session.sequence_numbers == (0, 0)
    assert not requester.sessions
    with pytest.raises(SessionClosedError):
        session.heartbeat()
    session.close()  # closing a torn-down session does nothing


def test_a_wrong_psk_fails_responder_verify_data(libspdm_vectors: Path) -> None:
    requester, _ = _psk_requester(libspdm_vectors, psk=b"not the psk")
    with pytest.raises(VerificationError, match="verify data"):
        requester.psk_exchange(summary_hash_type=0xFF)
    assert not requester.sessions


def test_the_selected_secured_message_version_must_have_been_offered(libspdm_vectors: Path) -> None:
    requester, _ = _psk_requester(libspdm_vectors, secured_message_versions=(0x1000, 0x1200))
    with pytest.raises(NegotiationError, match="not offered"):
        requester.psk_exchange(summary_hash_type=0xFF)


def test_a_forged_key_exchange_rsp_signature_is_refused(libspdm_vectors: Path) -> None:
    capture = _capture(libspdm_vectors, "e_dhe_secp384_aes256gcm_v11")
    config = _config(capture, libspdm_vectors, dhe_key_share=_key_shares(capture))
    transport = ReplayTransport.from_messages(capture.items)
    requester = Requester(transport, config)
    _spdm_emu_connection(requester)
    verify_size = len(capture.plain(KeyExchangeRsp)[0].responder_verify_data or b"")

    def forge(item: CapturedMessage) -> bytes:
        at = len(item.data) - verify_size - 1  # the last byte of the signature
        return item.data[:at] + bytes([item.data[at] ^ 0x80]) + item.data[at + 1 :]

    transport.alter = forge
    with pytest.raises(VerificationError, match="signature"):
        requester.key_exchange(0, summary_hash_type=0xFF)
    assert not requester.sessions


def test_mutual_authentication_is_refused_without_an_identity(libspdm_vectors: Path) -> None:
    capture = _capture(libspdm_vectors, "p_dhe_secp384_mutauth_wo_encap_v11")
    config = _config(capture, libspdm_vectors, dhe_key_share=_key_shares(capture))
    requester = Requester(ReplayTransport.from_messages(capture.items), config)
    _spdm_emu_connection(requester)
    with pytest.raises(NegotiationError, match="no requester identity"):
        requester.key_exchange(0, summary_hash_type=0xFF)
    assert not requester.sessions


def test_dhe_session_records_are_libspdms_at_13(libspdm_vectors: Path, libspdm_v12_v13_vectors: Path) -> None:
    """z_: the t_ flow at 1.3: the "dmtf-spdm-v1.3.*" signing prefix, "spdm1.3 " labels, MELspecification
    and MULTI_KEY_CONN in VCA, RequesterContext in the in-session GET_MEASUREMENTS."""
    _replay_dhe(
        libspdm_v12_v13_vectors,
        libspdm_vectors,
        "z_dhe_secp384_aes256gcm_v13",
        (),
        all_keys=True,
        certificates_in_session=True,
    )
