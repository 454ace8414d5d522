"""Replay DMTF libspdm's PSK sessions against our responder, every record byte for byte.

A PSK session has no signature and no ephemeral key, so once the responder has libspdm's setup
(capabilities, algorithms, PSK, heartbeat period), the sample device's measurement blocks (for
the MeasurementSummaryHash) and, through `random`, the ResponderContext the capture carries, it
must answer every request of the capture with exactly the captured bytes: PSK_EXCHANGE_RSP in
the clear, then every secured record (PSK_FINISH_RSP under the handshake keys, HEARTBEAT_ACK,
both KEY_UPDATE_ACKs, END_SESSION_ACK under the data keys, the UpdateAllKeys ACK under the new
response key). Identical ciphertexts and tags mean identical keys, sequence numbers and key
update switch points.

The measurement blocks come from the connection captures of the same sample device (a_ for
SHA-384, b_ for SHA-256): the PSK captures carry no MEASUREMENTS.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from spdm.capture import CapturedMessage, read_pcap
from spdm.capture import messages as captured_messages
from spdm.certs import split_der
from spdm.crypto import SigningKey
from spdm.measurements import StaticMeasurements
from spdm.messages.codes import AlgType
from spdm.messages.measurements import MeasurementBlock, Measurements
from spdm.messages.negotiation import Algorithms, Capabilities, Version
from spdm.messages.psk import PskExchange, PskExchangeRsp
from spdm.responder import Responder, ResponderConfig, SessionState, SlotIdentity

PSK = bytes.fromhex("5465737450736b4461746100")
PSK_HINT = bytes.fromhex("5465737450736b48696e7400")

PSK_CAPTURES = {
    # capture: (sample key folder, connection capture holding the device's measurement blocks)
    "d_psk_sha384_aes256gcm_v11": ("ecp384", "a_conn_ecdsap384_sha384_v11"),
    "j_psk_nocontext_sha256_chacha_v11": ("ecp256", "b_conn_ecdsap256_sha256_v11"),
}


def records(vectors: Path, name: str) -> list[CapturedMessage]:
    """The SPDM and secured records of a capture, in order (DOE discovery left out)."""
    return [m for m in captured_messages(read_pcap(vectors / name / "requester.pcap")) if m.kind != "discovery"]


def blocks_of(vectors: Path, name: str) -> StaticMeasurements:
    found: dict[int, MeasurementBlock] = {}
    for item in records(vectors, name):
        if isinstance(item.message, Measurements):
            for block in item.message.blocks:
                found.setdefault(block.index, block)
    return StaticMeasurements(tuple(sorted(found.values(), key=lambda b: b.index)))


def first(items: list[CapturedMessage], cls: type) -> object:
    return next(m.message for m in items if isinstance(m.message, cls))


def config_for(vectors: Path, name: str) -> ResponderConfig:
    folder, measurements_from = PSK_CAPTURES[name]
    items = records(vectors, name)
    version, capabilities, algorithms = first(items, Version), first(items, Capabilities), first(items, Algorithms)
    exchange = first(items, PskExchangeRsp)
    assert isinstance(version, Version) and isinstance(capabilities, Capabilities)
    assert isinstance(algorithms, Algorithms) and isinstance(exchange, PskExchangeRsp)
    keys = vectors / "sample_key" / folder
    key = serialization.load_pem_private_key((keys / "end_responder.key").read_bytes(), password=None)
    contexts = [exchange.responder_context]

    def random(size: int) -> bytes:
        assert size == len(contexts[0]) == 64, "a PSK_EXCHANGE_RSP draws its ResponderContext, nothing else"
        return contexts.pop()

    return ResponderConfig(
        versions=tuple(entry >> 8 for entry in version.entries),
        capabilities=capabilities.flags,
        base_asym_priority=(algorithms.base_asym_sel,),
        base_hash_priority=(algorithms.base_hash_sel,),
        measurement_hash_priority=(algorithms.measurement_hash_algo,),
        dhe_priority=(algorithms.selected(AlgType.DHE),),
        aead_priority=(algorithms.selected(AlgType.AEAD),),
        req_base_asym_priority=(algorithms.selected(AlgType.REQ_BASE_ASYM_ALG),),
        slots={
            0: SlotIdentity(
                certificates=split_der((keys / "bundle_responder.certchain.der").read_bytes()),
                private_key=_signing_key(key),
            )
        },
        measurements=blocks_of(vectors, measurements_from),
        random=random,
        max_padding=3,
        psks={PSK_HINT: PSK},
        heartbeat_period=exchange.heartbeat_period,
    )


def _signing_key(key: object) -> SigningKey:
    return key  # type: ignore[return-value]


def padded(data: bytes) -> bytes:
    """A request as its DOE object's payload carries it: zero-padded to a DWORD."""
    return data + bytes(-len(data) % 4)


def replay(responder: Responder, items: list[CapturedMessage], check: Callable[[int], None] | None = None) -> int:
    """Feed every request; every response must be the captured one. Returns how many were secured."""
    secured = 0
    pending: CapturedMessage | None = None
    for item in items:
        if item.kind == "secured":
            is_request = pending is None  # secured records alternate: request, response
        else:
            assert item.message is not None, item.error
            is_request = item.message.code.is_request
        if is_request:
            pending = item
            continue
        assert pending is not None, f"record {item.index}: a response without a request"
        if pending.kind == "secured":
            session_id = int.from_bytes(pending.data[:4], "little")
            response = responder.respond(padded(pending.data), session_id)
            secured += 1
        else:
            response = responder.respond(padded(pending.data))
        assert response.hex() == item.data.hex(), f"record {item.index} answering record {pending.index}"
        if check is not None:
            check(item.index)
        pending = None
    return secured


@pytest.mark.parametrize("name", sorted(PSK_CAPTURES))
def test_psk_session_replays_byte_for_byte(libspdm_vectors: Path, name: str) -> None:
    items = records(libspdm_vectors, name)
    responder = Responder(config_for(libspdm_vectors, name))
    exchange = first(items, PskExchange)
    assert isinstance(exchange, PskExchange) and exchange.psk_hint == PSK_HINT
    secured = replay(responder, items)
    assert secured >= 4  # (PSK_FINISH,) HEARTBEAT, two KEY_UPDATEs, END_SESSION
    assert responder.sessions == {}  # END_SESSION freed it


def test_psk_replay_states(libspdm_vectors: Path) -> None:
    """The session moves through the states of the table as the capture goes."""
    name = "d_psk_sha384_aes256gcm_v11"
    responder = Responder(config_for(libspdm_vectors, name))
    seen: list[tuple[SessionState, ...]] = []
    replay(responder, records(libspdm_vectors, name), lambda _: seen.append(tuple(responder.sessions.values())))
    assert (SessionState.EXPECT_PSK_FINISH,) in seen
    assert (SessionState.ESTABLISHED,) in seen
    assert seen[-1] == ()
