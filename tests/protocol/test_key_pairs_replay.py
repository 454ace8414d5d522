"""SPDM 1.3 multi-key connections against DMTF libspdm's recorded exchanges, byte for byte.

* x2_ through our requester: GET_CSR and SET_CERTIFICATE with KeyPairID and CertModel, in the clear
  and inside two DHE sessions (slot 0 and slot 4), the session transcripts holding message D.
* y2_'s key-pair part through our requester (GET_KEY_PAIR_INFO, SET_KEY_PAIR_INFO change and
  erase, as spdm-emu sends them) and through our responder configured like libspdm's sample device
  (its DIGESTS, CERTIFICATE and key-pair answers).
* `spdm verify` passes x2_ with the manifest's secrets.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from key_pair_fixtures import Y2, libspdm_sample_key_pairs
from test_requester_sessions_replay import _capture, _config, _key_shares
from test_responder_replay import config_for, load, padded

from spdm.capture import CaptureSecrets, Pcap, PcapRecord, messages, read_pcap
from spdm.certs import load_certificates, split_der
from spdm.limits import DEFAULT_LIMITS, Limits
from spdm.messages.certificates import Certificate, Digests
from spdm.messages.codes import CertificateInfo, KeyPairAsymAlgo, KeyPairOperation, KeyUsage
from spdm.messages.key_pairs import GetKeyPairInfo, KeyPairInfo, SetKeyPairInfo, SetKeyPairInfoAck
from spdm.messages.negotiation import GetCapabilities, NegotiateAlgorithms
from spdm.requester import Requester, RequesterConfig, Session
from spdm.responder import Responder, ResponderConfig, SlotIdentity
from spdm.testing.replay import ReplayTransport
from spdm.transport.doe import HEADER_SIZE
from spdm.verify import verify_capture

X2 = "x2_csr_setcert_multikey_ecdsap384_v13"


def _anchors(vectors: Path) -> dict[int, bytes]:
    keys = vectors / "../libspdm/sample_key/ecp384"
    root = (keys / "ca.cert.der").read_bytes()
    return {0: root, 1: (keys / "ca1.cert.der").read_bytes(), 4: root}


def _multi_key_connection(requester: Requester) -> None:
    """spdm-emu's flow before its sessions in a multi-key connection: DIGESTS, slots 0 and 4, DIGESTS,
    slot 0 again, DIGESTS."""
    negotiated = requester.init_connection()
    assert negotiated.version == 0x13 and negotiated.responder_multi_key
    requester.get_digests()
    assert {slot: (key.key_pair_id, key.cert_model) for slot, key in requester.connection.slot_keys.items()} == {
        0: (5, CertificateInfo.DEVICE_CERT),
        1: (5, CertificateInfo.DEVICE_CERT),
        4: (17, CertificateInfo.DEVICE_CERT),
    }
    for slot in (0, 4):
        requester.get_certificate(slot)
        requester.verify_certificate(slot)
    requester.get_digests()
    requester.get_certificate(0)
    requester.get_digests()


def _provision(requester: Requester, session: Session, chain: tuple[bytes, ...]) -> None:
    """GET_CSR(KeyPairID 1, DeviceCert) and SET_CERTIFICATE(slot 0, KeyPairID 1) in the clear, then
    SET_CERTIFICATE(slot 4, KeyPairID 1) in the session. As for x_, libspdm keeps the chains it
    verified (the sample device files the new chain away), ours forgets the slots: handed back."""
    held = (
        dict(requester.digests),
        dict(requester.chains),
        dict(requester.verified),
        dict(requester.connection.slot_keys),
    )
    assert requester.get_csr(key_pair_id=1)
    assert not requester.set_certificate(0, chain, key_pair_id=1).reset_required
    assert not session.set_certificate(4, chain, key_pair_id=1).reset_required
    states = (requester.digests, requester.chains, requester.verified, requester.connection.slot_keys)
    for kept, state in zip(held, states, strict=True):
        state.update(kept)  # type: ignore[arg-type]


def test_multi_key_provisioning_records_are_libspdms(libspdm_vectors: Path, libspdm_v12_v13_vectors: Path) -> None:
    capture = _capture(libspdm_v12_v13_vectors, X2)
    config = _config(
        capture,
        libspdm_v12_v13_vectors,
        dhe_key_share=_key_shares(capture),
        trust_anchors=_anchors(libspdm_v12_v13_vectors),
    )
    transport = ReplayTransport.from_messages(capture.items)
    requester = Requester(transport, config)
    chain = load_certificates(libspdm_vectors / "sample_key" / "ecp384" / "bundle_responder.certchain.der")
    _multi_key_connection(requester)
    for slot, expected in zip((0, 4), capture.entry["sessions_key_schedule"], strict=True):
        session = requester.key_exchange(slot, summary_hash_type=0xFF)
        assert session.th1 == bytes.fromhex(expected["th1"])  # A || D || Hash(Ct) || KEY_EXCHANGE ...
        assert session.th2 == bytes.fromhex(expected["th2"])
        _provision(requester, session, chain)
        session.close(clear_negotiated_state=True)
    assert transport.done(), "the capture holds records the requester did not send"


def test_x2_verifies_with_the_manifest_secrets(libspdm_v12_v13_vectors: Path) -> None:
    capture = _capture(libspdm_v12_v13_vectors, X2)
    secrets = CaptureSecrets(dhe_secrets=tuple(bytes.fromhex(s) for s in capture.entry["dhe_secrets"]))
    result = verify_capture(
        read_pcap(libspdm_v12_v13_vectors / X2 / "requester.pcap"), _anchors(libspdm_v12_v13_vectors), secrets=secrets
    )
    assert result.ok, result.first_failure
    assert result.skipped_secured == 0
    names = [check.name for check in result.checks]
    assert names.count("KEY_EXCHANGE_RSP signature") == 2 and names.count("ResponderVerifyData") == 2
    assert "DIGESTS multi-key fields (KeyPairID, CertificateInfo, KeyUsageMask)" in names


def _y2_clear(vectors: Path) -> list:  # type: ignore[type-arg]
    return [item for item in messages(read_pcap(vectors / Y2 / "requester.pcap")) if item.kind == "spdm"]


_KEY_PAIR_MESSAGES = (GetKeyPairInfo, KeyPairInfo, SetKeyPairInfo, SetKeyPairInfoAck)


def test_key_pair_requests_are_libspdms(libspdm_v12_v13_vectors: Path) -> None:
    """y2_: after VCA, GET_KEY_PAIR_INFO(1), SET_KEY_PAIR_INFO change (no usage, algorithm or slot) and
    erase, as spdm-emu sends them (the records between, MEL and endpoint info, left out of the replay)."""
    items = _y2_clear(libspdm_v12_v13_vectors)
    vca = items[:6]
    key_pairs = [item for item in items if isinstance(item.message, _KEY_PAIR_MESSAGES)]
    caps = next(item.message for item in vca if isinstance(item.message, GetCapabilities))
    offer = next(item.message for item in vca if isinstance(item.message, NegotiateAlgorithms))
    assert caps.data_transfer_size is not None and caps.max_spdm_msg_size is not None
    config = RequesterConfig(
        capabilities=caps.flags,
        data_transfer_size=caps.data_transfer_size,
        max_spdm_msg_size=caps.max_spdm_msg_size,
        # spdm-emu's requester states MaxSPDMmsgSize 0x28000: reading that much, as it does
        limits=Limits(max_response_bytes=max(DEFAULT_LIMITS.max_response_bytes, caps.max_spdm_msg_size)),
        base_asym_algo=offer.base_asym_algo,
        base_hash_algo=offer.base_hash_algo,
        alg_structs=offer.alg_structs,
        trust_anchors=_anchors(libspdm_v12_v13_vectors),
    )
    transport = ReplayTransport.from_messages(vca + key_pairs)
    requester = Requester(transport, config)
    assert requester.init_connection().responder_multi_key
    info = requester.get_key_pair_info(1)
    assert (info.total_key_pairs, info.current_asym_algo, info.assoc_cert_slots) == (
        24,
        KeyPairAsymAlgo.RSA2048,
        (0, 1),
    )
    assert info.current_key_usage == KeyUsage.KEY_EXCHANGE
    assert not requester.set_key_pair_info(1, KeyPairOperation.CHANGE).reset_required
    assert not requester.set_key_pair_info(1, KeyPairOperation.ERASE).reset_required
    assert transport.done(), "the capture holds requests the requester did not send"


def _sample_device(vectors: Path) -> ResponderConfig:
    """spdm_responder_emu of y2_ (`test_responder_replay.config_for`: slots 0 and 1 with one key), with
    slot 4 (another key) and libspdm's key-pair table."""
    keys = (vectors / "../libspdm/sample_key/ecp384").resolve()
    capture = load(vectors, Y2)
    config = config_for(dataclasses.replace(capture, sample_keys=keys))
    key4 = serialization.load_pem_private_key((keys / "end_responder4.key").read_bytes(), password=None)
    chain4 = split_der((keys / "bundle_responder.certchain4.der").read_bytes())
    slot4 = SlotIdentity(certificates=chain4, private_key=key4)  # type: ignore[arg-type]
    return dataclasses.replace(config, slots={**config.slots, 4: slot4}, key_pairs=libspdm_sample_key_pairs())


def test_the_responder_answers_y2s_key_pair_requests_as_libspdm(libspdm_v12_v13_vectors: Path) -> None:
    """Our responder, set up as y2_'s sample device, answers its multi-key DIGESTS (KeyPairIDs 5, 5, 17 from
    the table, DeviceCert, the slots' usages), both CERTIFICATEs, GET_KEY_PAIR_INFO and both
    SET_KEY_PAIR_INFOs byte for byte."""
    items = _y2_clear(libspdm_v12_v13_vectors)
    responder = Responder(_sample_device(libspdm_v12_v13_vectors))
    wanted = (Digests, Certificate, *_KEY_PAIR_MESSAGES[1::2])
    pairs = list(zip(items[::2], items[1::2], strict=True))
    for request, _ in pairs[:3]:  # VCA
        responder.respond(padded(request.data))
    compared = []
    for request, response in pairs[3:]:
        if isinstance(response.message, wanted):  # the others (CHALLENGE, MEL, endpoint info, ...) left out
            assert responder.respond(padded(request.data)).hex() == response.data.hex(), f"record {response.index}"
            compared.append(response.code)
    assert compared.count("DIGESTS") == 3 and compared.count("CERTIFICATE") == 3
    assert compared[-3:] == ["KEY_PAIR_INFO", "SET_KEY_PAIR_INFO_ACK", "SET_KEY_PAIR_INFO_ACK"]


def test_verify_checks_y2s_key_pair_info_and_an_altered_one_fails(libspdm_v12_v13_vectors: Path) -> None:
    pcap = read_pcap(libspdm_v12_v13_vectors / Y2 / "requester.pcap")
    anchors = _anchors(libspdm_v12_v13_vectors)
    name = "KEY_PAIR_INFO of key pair 1 is well formed"
    checks = [check for check in verify_capture(pcap, anchors).checks if check.name == name]
    assert [(check.record, check.ok) for check in checks] == [(38, True)]
    record = pcap.records[37]
    data = bytearray(record.data)
    data[HEADER_SIZE + 16] |= 0x02  # CurrentAsymAlgo: RSA2048 and RSA3072 at once
    records = list(pcap.records)
    records[37] = PcapRecord(index=record.index, timestamp=record.timestamp, data=bytes(data))
    altered = Pcap(link_type=pcap.link_type, snaplen=pcap.snaplen, records=tuple(records))
    failed = [check for check in verify_capture(altered, anchors).checks if check.name == name]
    assert len(failed) == 1 and not failed[0].ok and "more than one algorithm" in failed[0].detail
