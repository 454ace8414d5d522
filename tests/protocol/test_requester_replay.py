"""The requester against DMTF libspdm's recorded responses: byte-identical requests, every check passes.

`spdm.testing.replay.ReplayTransport` serves the capture's responses in order and refuses any
request that is not the recorded one; the requester's nonces are injected from the capture.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from spdm.capture import CapturedMessage, messages, read_pcap
from spdm.messages.challenge import Challenge
from spdm.messages.codes import SummaryHashType
from spdm.messages.measurements import GetMeasurements
from spdm.messages.negotiation import NegotiateAlgorithms
from spdm.requester import Requester, RequesterConfig
from spdm.testing.replay import ReplayTransport, recorded_random


def _nonces(items: list[CapturedMessage]) -> Iterator[bytes]:
    for item in items:
        if isinstance(item.message, (Challenge, GetMeasurements)) and item.message.nonce is not None:
            yield item.message.nonce


def _config(items: list[CapturedMessage], root: bytes, **extra: object) -> RequesterConfig:
    """The requester settings the recorded requests reveal (libspdm's offer and flags)."""
    get_caps = next(i.message for i in items if i.code == "GET_CAPABILITIES")
    offer = next(i.message for i in items if isinstance(i.message, NegotiateAlgorithms))
    return RequesterConfig(
        versions=(0x10, 0x11),
        capabilities=getattr(get_caps, "flags", None) or 0,  # a 1.0 GET_CAPABILITIES carries none
        base_asym_algo=offer.base_asym_algo,
        base_hash_algo=offer.base_hash_algo,
        alg_structs=offer.alg_structs,
        trust_anchors={0: root},
        certificate_portion=0xFFFF,
        random=recorded_random(list(_nonces(items))),
        clock=lambda: datetime(2026, 11, 26, tzinfo=timezone.utc),
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("capture", "algorithm"),
    [
        ("b_conn_ecdsap256_sha256_v11", "ecp256"),
        ("c_conn_rsassa3072_sha256_v11", "rsa3072"),
        ("f_conn_ecdsap384_sha384_v10", "ecp384"),
        ("g_conn_ecdsap521_sha512_v11", "ecp521"),
    ],
)
def test_requester_reproduces_libspdm_requests(libspdm_vectors: Path, capture: str, algorithm: str) -> None:
    items = list(messages(read_pcap(libspdm_vectors / capture / "requester.pcap")))
    root = (libspdm_vectors / "sample_key" / algorithm / "ca.cert.der").read_bytes()
    transport = ReplayTransport.from_messages(items)
    requester = Requester(transport, _config(items, root))

    # the flow spdm_requester_emu ran (see the capture's README.txt)
    negotiated = requester.init_connection()
    assert negotiated.version == (0x10 if capture.endswith("v10") else 0x11)
    digests = requester.get_digests()
    assert 0 in digests
    chain = requester.get_certificate(0)
    if 1 in digests:
        requester.get_certificate(1)
    verified = requester.verify_certificate(0)
    assert len(verified.certificates) == 3
    challenge = requester.challenge(0, SummaryHashType.ALL)
    assert challenge.measurement_summary_hash is not None
    assert requester.get_digests() == digests
    assert requester.get_certificate(0) == chain
    requester.get_digests()
    result = requester.get_measurements(0xFF, signed=True, slot=0)
    assert result.signed and len(result.blocks) == 8
    assert transport.done(), "the capture holds requests the requester did not send"
