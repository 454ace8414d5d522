"""`spdm.testing.replay`: a requester replayed against a recording sends what was recorded, and
every way it can do something else is a `ReplayDivergence` naming what differed."""

from __future__ import annotations

import functools
import io

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from spdm.capture import LINKTYPE_PCI_DOE, CapturedMessage, CaptureWriter, RecordingTransport, messages, read_pcap
from spdm.crypto import asym_suite, dhe_suite, hash_suite
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, DheGroup
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.testing.replay import (
    ReplayDivergence,
    ReplayTransport,
    recorded_key_shares,
    recorded_random,
    recorded_signer,
)
from spdm.transport.loopback import LoopbackTransport


def _record(config: RequesterConfig) -> list[CapturedMessage]:
    """A live connection (VCA, digests, certificate) recorded as spdm-emu would."""
    buffer = io.BytesIO()
    writer = CaptureWriter(buffer, link_type=LINKTYPE_PCI_DOE)
    responder = Responder(demo_config())
    requester = Requester(RecordingTransport(LoopbackTransport(responder.respond), writer), config)
    requester.init_connection()
    requester.get_digests()
    requester.get_certificate(0)
    return list(messages(read_pcap(buffer.getvalue())))


def _config(**changes: object) -> RequesterConfig:
    root = demo_config().slots[0].certificates[0]
    return RequesterConfig(trust_anchors={0: root}, **changes)  # type: ignore[arg-type]


def test_the_same_requester_replays_the_recording() -> None:
    transport = ReplayTransport.from_messages(_record(_config()))
    requester = Requester(transport, _config())
    requester.init_connection()
    assert not transport.done()
    requester.get_digests()
    requester.get_certificate(0)
    assert transport.done()
    with pytest.raises(ReplayDivergence, match="after the last recorded request"):
        requester.get_digests()


def test_a_different_request_is_a_divergence() -> None:
    transport = ReplayTransport.from_messages(_record(_config()))
    with pytest.raises(ReplayDivergence, match="record 3: sent 10e1"):  # GET_CAPABILITIES at 1.0
        Requester(transport, _config(versions=(0x10,))).init_connection()
    assert not transport.done()


def test_not_strict_serves_the_recording_whatever_is_sent() -> None:
    flow = [i for i in _record(_config()) if i.kind == "spdm"]
    transport = ReplayTransport.from_messages(flow, strict=False, alter=lambda item: b"altered " + item.data)
    assert transport.exchange(b"anything") == b"altered " + flow[1].data


@functools.cache
def _decoded() -> CapturedMessage:
    return next(i for i in _record(_config()) if i.kind == "spdm")


def _item(index: int, kind: str, data: bytes, *, decoded: bool) -> CapturedMessage:
    recorded = _decoded()  # a decoded message to borrow
    return CapturedMessage(
        index=index,
        timestamp=0.0,
        transport="pci-doe",
        kind=kind,  # type: ignore[arg-type]
        direction="request",
        data=data,
        message=recorded.message if decoded else None,
    )


def test_padding_is_tolerated_only_where_the_capture_could_not_strip_it() -> None:
    answer = _item(2, "secured", b"answer", decoded=False)
    record = ReplayTransport([(_item(1, "secured", b"record\x00\x00", decoded=False), answer)])
    assert record.exchange(b"record", session_id=1) == b"answer"
    dirty = ReplayTransport([(_item(1, "secured", b"record\x00\x01", decoded=False), answer)])
    with pytest.raises(ReplayDivergence, match="record 1"):
        dirty.exchange(b"record", session_id=1)
    clear = ReplayTransport([(_item(1, "spdm", b"\x11\x84\x00\x00\x00", decoded=True), answer)])
    with pytest.raises(ReplayDivergence, match="record 1"):
        clear.exchange(b"\x11\x84\x00\x00")


def test_secured_and_clear_must_match() -> None:
    answer = _item(2, "spdm", b"answer", decoded=False)
    transport = ReplayTransport([(_item(1, "spdm", b"request", decoded=False), answer)])
    with pytest.raises(ReplayDivergence, match="secured request, not a spdm one"):
        transport.exchange(b"request", session_id=7)


def test_an_unanswered_request_at_the_end() -> None:
    items = _record(_config())
    flow = [i for i in items if i.kind in ("spdm", "secured")]
    with pytest.raises(ReplayDivergence, match="unanswered request"):
        ReplayTransport.from_messages(flow[:-1])


def test_recorded_random() -> None:
    draw = recorded_random([b"\x01\x02", bytes(32)])
    assert draw(2) == b"\x01\x02"
    with pytest.raises(ReplayDivergence, match="drew 16 random bytes where the recording drew 32"):
        draw(16)
    with pytest.raises(ReplayDivergence, match="after the last recorded draw"):
        recorded_random([])(4)


def test_recorded_key_shares() -> None:
    suite = dhe_suite(DheGroup.SECP_256_R1)
    shares = recorded_key_shares([b"mine"], [b"theirs"], [b"secret"])
    share = shares(suite)
    assert share.exchange_data == b"mine"
    assert share.shared_secret(b"theirs") == b"secret"
    with pytest.raises(ReplayDivergence, match="ExchangeData is not the recorded one"):
        share.shared_secret(b"other")
    with pytest.raises(ReplayDivergence, match="more DHE exchanges"):
        shares(suite)
    with pytest.raises(ValueError, match="1 KEY_EXCHANGE, 0 KEY_EXCHANGE_RSP"):
        recorded_key_shares([b"mine"], [], [b"secret"])


def test_recorded_signer_hands_out_only_signatures_over_the_digest() -> None:
    asym, hashes = asym_suite(BaseAsymAlgo.ECDSA_P256), hash_suite(BaseHashAlgo.SHA_256)
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashes.digest(b"the transcript")
    signature = asym.sign(key, digest, hashes)
    sign = recorded_signer([signature, signature], key.public_key(), asym, hashes)
    assert sign(digest) == signature
    with pytest.raises(ReplayDivergence, match="does not cover the digest"):
        sign(hashes.digest(b"another transcript"))
    with pytest.raises(ReplayDivergence, match="signed more often"):
        sign(digest)
