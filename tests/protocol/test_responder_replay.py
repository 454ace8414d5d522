"""Replay DMTF libspdm's connections against our responder, byte for byte.

For each connection capture (VCA, certificates, CHALLENGE, measurements), the responder gets the
identity libspdm's emulator used (sample_key/<alg>/), the capabilities and algorithms the capture
shows, the measurement blocks its MEASUREMENTS carried and, through `random`, the nonces its
responses carried. Every request of the capture, padded to a DWORD as DOE carries it, must then
draw exactly the captured response. ECDSA signatures are randomized: there everything before the
signature must match, and our exchange, re-recorded as a pcap, must pass `spdm verify` (which
checks every signature over its transcript and every chain against the sample roots). RSASSA is
deterministic, so the c_ capture matches whole.
"""

from __future__ import annotations

import io
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from spdm.capture import LINKTYPE_PCI_DOE, CapturedMessage, read_pcap, write_pcap
from spdm.capture import messages as captured_messages
from spdm.certs import split_der
from spdm.crypto import SignatureScheme, SigningKey, asym_suite
from spdm.measurements import StaticMeasurements
from spdm.messages.challenge import ChallengeAuth
from spdm.messages.codes import BaseAsymAlgo
from spdm.messages.endpoint_info import EndpointInfo
from spdm.messages.measurements import MeasurementBlock, Measurements
from spdm.messages.negotiation import Algorithms, Capabilities, Version
from spdm.responder import Responder, ResponderConfig, SlotIdentity
from spdm.transport import doe
from spdm.verify import verify_capture

CONNECTIONS = (
    "a_conn_ecdsap384_sha384_v11",
    "b_conn_ecdsap256_sha256_v11",
    "c_conn_rsassa3072_sha256_v11",
    "f_conn_ecdsap384_sha384_v10",
    "g_conn_ecdsap521_sha512_v11",
)

KEY_FOLDERS = {
    BaseAsymAlgo.ECDSA_P256: "ecp256",
    BaseAsymAlgo.ECDSA_P384: "ecp384",
    BaseAsymAlgo.ECDSA_P521: "ecp521",
    BaseAsymAlgo.RSASSA_3072: "rsa3072",
}


@dataclass(frozen=True)
class Capture:
    name: str
    pairs: tuple[tuple[CapturedMessage, CapturedMessage], ...]
    records: tuple[tuple[float, bytes], ...]
    sample_keys: Path

    def first(self, cls: type) -> object:
        return next(rsp.message for _, rsp in self.pairs if isinstance(rsp.message, cls))


def load(vectors: Path, name: str) -> Capture:
    pcap = read_pcap(vectors / name / "requester.pcap")
    pairs: list[tuple[CapturedMessage, CapturedMessage]] = []
    request: CapturedMessage | None = None
    for item in captured_messages(pcap):
        if item.kind != "spdm":
            continue
        assert item.message is not None, item.error
        if item.message.code.is_request:
            request = item
        else:
            assert request is not None
            pairs.append((request, item))
            request = None
    records = tuple((r.timestamp, r.data) for r in pcap.records)
    algorithms = next(rsp.message for _, rsp in pairs if isinstance(rsp.message, Algorithms))
    assert isinstance(algorithms, Algorithms)
    keys = vectors / "sample_key" / KEY_FOLDERS[BaseAsymAlgo(algorithms.base_asym_sel)]
    return Capture(name=name, pairs=tuple(pairs), records=records, sample_keys=keys)


def sample_key(folder: Path) -> SigningKey:
    key = serialization.load_pem_private_key((folder / "end_responder.key").read_bytes(), password=None)
    assert not isinstance(key, str)
    return key  # type: ignore[return-value]


def config_for(capture: Capture, *, padding: int = 3) -> ResponderConfig:
    """The emulator's setup, as far as the capture shows it."""
    version = capture.first(Version)
    capabilities = capture.first(Capabilities)
    algorithms = capture.first(Algorithms)
    assert isinstance(version, Version) and isinstance(capabilities, Capabilities)
    assert isinstance(algorithms, Algorithms)
    blocks: dict[int, MeasurementBlock] = {}
    nonces: deque[bytes] = deque()
    for _, rsp in capture.pairs:
        if isinstance(rsp.message, Measurements):
            for block in rsp.message.blocks:
                assert blocks.setdefault(block.index, block) == block
        if isinstance(rsp.message, (Measurements, ChallengeAuth)):
            nonces.append(rsp.message.nonce)

    def random(size: int) -> bytes:
        assert size == 32
        return nonces.popleft()

    ep_info = next((rsp.message.ep_info for _, rsp in capture.pairs if isinstance(rsp.message, EndpointInfo)), None)
    key = sample_key(capture.sample_keys)
    slots = {
        0: SlotIdentity(
            certificates=split_der((capture.sample_keys / "bundle_responder.certchain.der").read_bytes()),
            private_key=key,
        ),
        # libspdm's sample_key/readme.txt: slot 1's leaf certifies the same key.
        1: SlotIdentity(
            certificates=split_der((capture.sample_keys / "bundle_responder.certchain1.der").read_bytes()),
            private_key=key,
        ),
    }
    return ResponderConfig(
        versions=tuple(entry >> 8 for entry in version.entries),
        capabilities=capabilities.flags,
        ct_exponent=capabilities.ct_exponent,
        base_asym_priority=(algorithms.base_asym_sel,),
        base_hash_priority=(algorithms.base_hash_sel,),
        measurement_hash_priority=(algorithms.measurement_hash_algo,),
        slots=slots,
        measurements=StaticMeasurements(tuple(blocks.values())),
        endpoint_info=ep_info,  # the device's EPInfo, where the capture asked for it
        random=random,
        max_padding=padding,
    )


def padded(data: bytes) -> bytes:
    """The request as a DOE object's payload carries it: zero-padded to a DWORD."""
    return data + bytes(-len(data) % 4)


def signature_size(capture: Capture) -> int:
    algorithms = capture.first(Algorithms)
    assert isinstance(algorithms, Algorithms)
    return asym_suite(algorithms.base_asym_sel).signature_size


def signed(message: object) -> bool:
    return isinstance(message, ChallengeAuth) or (isinstance(message, Measurements) and message.signature is not None)


@pytest.mark.parametrize("name", CONNECTIONS)
def test_replay_matches_libspdm(libspdm_vectors: Path, name: str) -> None:
    capture = load(libspdm_vectors, name)
    responder = Responder(config_for(capture))
    algorithms = capture.first(Algorithms)
    assert isinstance(algorithms, Algorithms)
    deterministic = asym_suite(algorithms.base_asym_sel).scheme is not SignatureScheme.ECDSA
    size = signature_size(capture)
    ours: dict[int, bytes] = {}
    for request, expected in capture.pairs:
        response = responder.respond(padded(request.data))
        where = f"{name} record {expected.index} ({expected.code})"
        ours[expected.index] = response
        if signed(expected.message) and not deterministic:
            assert len(response) == len(expected.data), where
            assert response[:-size] == expected.data[:-size], where
        else:
            assert response.hex() == expected.data.hex(), where
    assert len(ours) == len(capture.pairs)

    # Our exchange, recorded as the emulator records it, verifies as a whole.
    replaced = []
    index_of = {rsp.index: rsp for _, rsp in capture.pairs}
    for number, (timestamp, data) in enumerate(capture.records, start=1):
        if number in index_of:
            data = doe.encode_object(doe.DoeType.CMA_SPDM, ours[number])
        replaced.append((timestamp, data))
    buffer = io.BytesIO()
    write_pcap(buffer, LINKTYPE_PCI_DOE, replaced)
    roots = {
        0: (capture.sample_keys / "ca.cert.der").read_bytes(),
        1: (capture.sample_keys / "ca1.cert.der").read_bytes(),
    }
    result = verify_capture(read_pcap(buffer.getvalue()), roots)
    assert result.ok, result.first_failure
    signatures = [c for c in result.checks if "signature" in c.name]
    assert len(signatures) == sum(signed(rsp.message) for _, rsp in capture.pairs)


@pytest.mark.parametrize("name", CONNECTIONS)
def test_replay_without_padding(libspdm_vectors: Path, name: str) -> None:
    """Exact requests need no padding allowance, and VCA is transport-independent."""
    capture = load(libspdm_vectors, name)
    responder = Responder(config_for(capture, padding=0))
    for request, expected in capture.pairs[:3]:
        assert responder.respond(request.data) == expected.data


def test_libspdm_captures_verify_as_recorded(libspdm_vectors: Path) -> None:
    """The baseline: the captures themselves pass `spdm verify` with the sample roots."""
    for name in CONNECTIONS:
        capture = load(libspdm_vectors, name)
        roots = {
            0: (capture.sample_keys / "ca.cert.der").read_bytes(),
            1: (capture.sample_keys / "ca1.cert.der").read_bytes(),
        }
        result = verify_capture(read_pcap(libspdm_vectors / name / "requester.pcap"), roots)
        assert result.ok, (name, result.first_failure)
