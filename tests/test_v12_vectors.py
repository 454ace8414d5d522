"""The libspdm SPDM 1.2 captures (../shared/vectors/libspdm-v12-v13), walked as each part of 1.2 lands:
every message decodes and re-encodes byte for byte, `spdm dump` lists what DMTF's spdm_dump listed,
`spdm verify` passes with the manifest's secrets and fails when a covered byte changes, and the
requester reproduces libspdm's requests of the connection captures against their recorded answers."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from spdm_dump_listing import assert_dump_matches_spdm_dump

from spdm.capture import CaptureSecrets, Pcap, PcapRecord, messages, read_pcap
from spdm.certs import split_der
from spdm.limits import DEFAULT_LIMITS, Limits
from spdm.messages import encode
from spdm.messages.challenge import Challenge
from spdm.messages.chunk import ChunkSend
from spdm.messages.codes import SummaryHashType
from spdm.messages.encapsulated import DeliverEncapsulatedResponse
from spdm.messages.key_exchange import KeyExchange
from spdm.messages.measurements import GetMeasurements
from spdm.messages.negotiation import GetCapabilities, NegotiateAlgorithms
from spdm.requester import Requester, RequesterConfig
from spdm.testing.replay import ReplayTransport, recorded_random
from spdm.transport.doe import HEADER_SIZE
from spdm.verify import verify_capture

LANDED = (
    "r_conn_ecdsap384_sha384_v12",
    "s_conn_rsassa3072_sha256_v12",
    "t2_mctp_dhe_secp384_aes256gcm_v12",
    "t_dhe_secp384_aes256gcm_v12",
    "u_psk_sha384_aes256gcm_v12",
    "v3_chunk_dts64_dhe_psk_ecdsap384_v12",
    "v_chunk_dts256_ecdsap384_v12",
    "w_mutauth_encap_ecdsap384_v12",
    "x_csr_setcert_ecdsap384_v12",
)
"""The 1.2 captures, every part of them implemented."""

DECODED_13 = (
    "x2_csr_setcert_multikey_ecdsap384_v13",
    "y2_mel_epinfo_keypairinfo_multikey_v13",
    "y_conn_ecdsap384_sha384_v13",
    "z_dhe_secp384_aes256gcm_v13",
)
"""The 1.3 captures, every part of them implemented: multi-key, MEL, endpoint info, key pairs."""


def _entry(vectors: Path, capture: str) -> dict[str, Any]:
    document = json.loads((vectors / "manifest.json").read_text())
    entry: dict[str, Any] = next(e for e in document["vectors"] if e["name"] == capture)
    return entry


def _secrets(vectors: Path, capture: str) -> CaptureSecrets:
    entry = _entry(vectors, capture)
    chain = entry.get("requester_chain")
    return CaptureSecrets(
        dhe_secrets=tuple(bytes.fromhex(s) for s in entry["dhe_secrets"]),
        psk=bytes.fromhex(entry["psk"]),
        requester_chain=split_der((vectors / chain).read_bytes()) if chain else (),
    )


def _anchors(vectors: Path, capture: str) -> dict[int, bytes]:
    root = vectors / _entry(vectors, capture)["root_cert"]
    return {0: root.read_bytes(), 1: root.with_name("ca1.cert.der").read_bytes()}


@pytest.mark.parametrize("capture", LANDED + DECODED_13)
def test_every_clear_message_decodes_and_reencodes_exactly(libspdm_v12_v13_vectors: Path, capture: str) -> None:
    items = list(messages(read_pcap(libspdm_v12_v13_vectors / capture / "requester.pcap")))
    spdm_items = [item for item in items if item.kind == "spdm"]
    assert spdm_items
    for item in items:
        assert item.error is None, f"record {item.index}: {item.error}"
    for item in spdm_items:
        assert item.message is not None
        expected = 0x13 if capture in DECODED_13 else 0x12
        assert item.message.version == expected or item.code in ("GET_VERSION", "VERSION")
        assert encode(item.message) == item.data, f"record {item.index} ({item.code}) re-encodes differently"
    for large in (item.carried for item in items if item.carried is not None):  # what chunks reassembled
        assert encode(large.message) == large.data


@pytest.mark.parametrize("capture", LANDED)
def test_dump_lists_what_spdm_dump_listed(libspdm_v12_v13_vectors: Path, capture: str) -> None:
    assert_dump_matches_spdm_dump(libspdm_v12_v13_vectors / capture, _secrets(libspdm_v12_v13_vectors, capture))


@pytest.mark.parametrize("capture", LANDED + DECODED_13)
def test_verifies_with_the_manifest_secrets(libspdm_v12_v13_vectors: Path, capture: str) -> None:
    pcap = read_pcap(libspdm_v12_v13_vectors / capture / "requester.pcap")
    result = verify_capture(
        pcap, _anchors(libspdm_v12_v13_vectors, capture), secrets=_secrets(libspdm_v12_v13_vectors, capture)
    )
    assert result.ok, result.first_failure
    assert result.skipped_secured == 0
    names = {check.name for check in result.checks}
    if capture.startswith(("r_", "s_", "y")):  # 1.3: RequesterContext covered as it is on the wire
        assert {"CHALLENGE_AUTH signature over M1/M2 (A, B, C)", "MEASUREMENTS signature over L1/L2"} <= names
    if capture.startswith(("t", "v", "w_", "x", "y2_", "z_")):
        assert {"KEY_EXCHANGE_RSP signature", "ResponderVerifyData", "RequesterVerifyData"} <= names
    if capture.startswith("u_"):
        assert {"ResponderVerifyData", "RequesterVerifyData"} <= names


_CARRIER_HEADER = 4
"""SPDMVersion, code, RequestID and Param2 of DELIVER_ENCAPSULATED_RESPONSE, before the embedded response."""


@pytest.mark.parametrize(
    "capture",
    [
        "r_conn_ecdsap384_sha384_v12",
        "s_conn_rsassa3072_sha256_v12",
        "x2_csr_setcert_multikey_ecdsap384_v13",  # multi-key DIGESTS, GET_KEY_PAIR_INFO
        "y2_mel_epinfo_keypairinfo_multikey_v13",  # MEL portions, ENDPOINT_INFO both ways, KEY_PAIR_INFO
        "z_dhe_secp384_aes256gcm_v13",  # a 1.3 DHE session: every secured record
    ],
)
def test_any_altered_covered_byte_fails_verification(libspdm_v12_v13_vectors: Path, capture: str) -> None:
    """In y2_ the requester's encapsulated ENDPOINT_INFO (record 35) is covered by its signature, not
    the DELIVER_ENCAPSULATED_RESPONSE header around it; of that header the version, code and RequestID
    must still agree with the request it answers (`spdm verify` fails the pair otherwise), and only
    Param2 (Reserved) is left out."""
    pcap = read_pcap(libspdm_v12_v13_vectors / capture / "requester.pcap")
    anchors, secrets = _anchors(libspdm_v12_v13_vectors, capture), _secrets(libspdm_v12_v13_vectors, capture)
    baseline = verify_capture(pcap, anchors, secrets=secrets)
    assert baseline.ok
    items = {item.index: item for item in messages(pcap)}
    tried = 0
    for index in sorted(baseline.covered):
        record = pcap.records[index - 1]
        positions = {0, 1, 2, 3}
        start = 0
        if isinstance(items[index].message, DeliverEncapsulatedResponse):
            positions, start = {0, 1, 2}, _CARRIER_HEADER  # not 3: Param2, Reserved and in nothing signed
        size = len(items[index].data) - start
        for position in sorted(positions | {start + offset for offset in {0, 1, 3, size // 2, size - 1}}):
            data = bytearray(record.data)
            data[HEADER_SIZE + position] ^= 0x01
            records = list(pcap.records)
            records[index - 1] = PcapRecord(index=index, timestamp=record.timestamp, data=bytes(data))
            altered = Pcap(link_type=pcap.link_type, snaplen=pcap.snaplen, records=tuple(records))
            result = verify_capture(altered, anchors, secrets=secrets)
            assert not result.ok, f"record {index} byte {position} altered, still verifies"
            tried += 1
    assert tried > 50


@pytest.mark.parametrize(
    ("capture", "algorithm"),
    [
        ("r_conn_ecdsap384_sha384_v12", "ecp384"),
        ("s_conn_rsassa3072_sha256_v12", "rsa3072"),
        ("v_chunk_dts256_ecdsap384_v12", "ecp384"),  # CHUNK_GET for CERTIFICATE and MEASUREMENTS
        ("v3_chunk_dts64_dhe_psk_ecdsap384_v12", "ecp384"),  # and for DIGESTS and CHALLENGE_AUTH
        ("y_conn_ecdsap384_sha384_v13", "ecp384"),  # 1.3: RequesterContext, MELspecification, MULTI_KEY_CONN
    ],
)
def test_requester_reproduces_libspdm_requests(libspdm_v12_v13_vectors: Path, capture: str, algorithm: str) -> None:
    items = list(messages(read_pcap(libspdm_v12_v13_vectors / capture / "requester.pcap")))
    sessions = [n for n, i in enumerate(items) if isinstance(i.message, (KeyExchange, ChunkSend))]
    items = items[: sessions[0]] if sessions else items  # the chunking captures go on with sessions
    get_caps = next(i.message for i in items if isinstance(i.message, GetCapabilities))
    offer = next(i.message for i in items if isinstance(i.message, NegotiateAlgorithms))
    drawn = [
        value
        for i in items
        if isinstance(i.message, (Challenge, GetMeasurements))
        for value in (i.message.nonce, i.message.requester_context)
        if value
    ]  # in the order the requester draws them: each nonce, then (1.3) its RequesterContext
    root = (libspdm_v12_v13_vectors / "../libspdm/sample_key" / algorithm / "ca.cert.der").read_bytes()
    assert get_caps.flags is not None and get_caps.data_transfer_size is not None
    assert get_caps.max_spdm_msg_size is not None
    config = RequesterConfig(
        capabilities=get_caps.flags,
        data_transfer_size=get_caps.data_transfer_size,
        max_spdm_msg_size=get_caps.max_spdm_msg_size,
        # libspdm's requester states MaxSPDMmsgSize 0x28000: reading that much, as it does
        limits=Limits(max_response_bytes=max(DEFAULT_LIMITS.max_response_bytes, get_caps.max_spdm_msg_size)),
        base_asym_algo=offer.base_asym_algo,
        base_hash_algo=offer.base_hash_algo,
        alg_structs=offer.alg_structs,
        trust_anchors={0: root},
        certificate_portion=0xFFFF,
        random=recorded_random(drawn),
        clock=lambda: datetime(2026, 12, 7, tzinfo=timezone.utc),
    )
    transport = ReplayTransport.from_messages(items)
    requester = Requester(transport, config)
    assert requester.init_connection().version == (0x13 if capture in DECODED_13 else 0x12)
    digests = requester.get_digests()
    chain = requester.get_certificate(0)
    requester.get_certificate(1)
    assert len(requester.verify_certificate(0).certificates) == 3
    assert requester.challenge(0, SummaryHashType.ALL).measurement_summary_hash is not None
    assert requester.get_digests() == digests
    assert requester.get_certificate(0) == chain
    requester.get_digests()
    result = requester.get_measurements(0xFF, signed=True, slot=0)
    assert result.signed and result.blocks
    assert transport.done(), "the capture holds requests the requester did not send"


def test_a_key_exchange_whose_chain_never_completed_fails(libspdm_v12_v13_vectors: Path) -> None:
    """Found by the tamper campaign: with slot 1's CERTIFICATE claiming a remainder (so its chain never
    completes), the session with slot 1 was verified from the DIGESTS digest alone, its KEY_EXCHANGE_RSP
    signature silently unchecked. Now that is a failing check."""
    capture = "x_csr_setcert_ecdsap384_v12"
    pcap = read_pcap(libspdm_v12_v13_vectors / capture / "requester.pcap")
    record = pcap.records[17]  # CERTIFICATE of slot 1
    data = bytearray(record.data)
    data[HEADER_SIZE + 6] ^= 0x01  # RemainderLength
    records = list(pcap.records)
    records[17] = PcapRecord(index=record.index, timestamp=record.timestamp, data=bytes(data))
    altered = Pcap(link_type=pcap.link_type, snaplen=pcap.snaplen, records=tuple(records))
    anchors, secrets = _anchors(libspdm_v12_v13_vectors, capture), _secrets(libspdm_v12_v13_vectors, capture)
    result = verify_capture(altered, anchors, secrets=secrets)
    assert not result.ok
    failed = [check for check in result.checks if not check.ok]
    assert any(
        check.name == "KEY_EXCHANGE_RSP signature"
        and check.detail == "no complete certificate chain of slot 1 in the capture to verify it with"
        for check in failed
    ), failed


def test_a_chunk_transfer_cut_short_fails(libspdm_v12_v13_vectors: Path) -> None:
    """Found by the tamper campaign: with LAST_CHUNK cleared on the last CHUNK_RESPONSE of CHALLENGE_AUTH,
    the transfer never completed and the next request went by unremarked (no CHALLENGE_AUTH, no check)."""
    capture = "v3_chunk_dts64_dhe_psk_ecdsap384_v12"
    pcap = read_pcap(libspdm_v12_v13_vectors / capture / "requester.pcap")
    index = 158  # the last CHUNK_RESPONSE of CHALLENGE_AUTH
    record = pcap.records[index - 1]
    data = bytearray(record.data)
    data[HEADER_SIZE + 2] ^= 0x01  # Param1: LAST_CHUNK
    records = list(pcap.records)
    records[index - 1] = PcapRecord(index=index, timestamp=record.timestamp, data=bytes(data))
    altered = Pcap(link_type=pcap.link_type, snaplen=pcap.snaplen, records=tuple(records))
    anchors, secrets = _anchors(libspdm_v12_v13_vectors, capture), _secrets(libspdm_v12_v13_vectors, capture)
    result = verify_capture(altered, anchors, secrets=secrets)
    assert not result.ok
    assert "ChunkSize 26 of a chunk before the last is under 30" in str(result.first_failure)
