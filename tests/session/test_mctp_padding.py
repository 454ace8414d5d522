"""MCTP secured records' random padding comes from the role's injected `random`, drawn as libspdm
draws it (libspdm_encode_secured_message: a 4-byte count, then count % 32 + 1 bytes), so a fixed
source gives the same records every run."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from spdm.crypto import aead_suite
from spdm.messages.codes import AeadAlgorithm
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.session import MCTP, DirectionState
from spdm.transport.loopback import LoopbackTransport

PSK = bytes(range(32))
HINT = b"padding-hint"
KEY = bytes(range(32))
IV = bytes(range(0xA0, 0xAC))
SESSION = 0xFFFE_FFFD
HEARTBEAT = bytes.fromhex("11e80000")


def _seeded(seed: str) -> Callable[[int], bytes]:
    """SHAKE-256 of (seed, counter): the same seed gives the same draws."""
    counter = itertools.count()
    return lambda size: hashlib.shake_256(f"{seed}/{next(counter)}".encode()).digest(size)


def _records(requester_seed: str, responder_seed: str) -> tuple[list[bytes], list[bytes]]:
    """(requests, responses): the secured records of one MCTP PSK session with both roles'
    default padding (no padding source given), each role drawing from its own seeded `random`."""
    responder_config = dataclasses.replace(
        demo_config(sessions=True, psks={HINT: PSK}), secured_transport=MCTP, random=_seeded(responder_seed)
    )
    responder = Responder(responder_config)
    requests: list[bytes] = []
    responses: list[bytes] = []

    def respond(request: bytes, session_id: int | None) -> bytes:
        response = responder.respond(request, session_id)
        if session_id is not None:
            requests.append(request)
            responses.append(response)
        return response

    config = RequesterConfig.with_sessions(
        psk=PSK, psk_hint=HINT, secured_transport=MCTP, random=_seeded(requester_seed)
    )
    requester = Requester(LoopbackTransport(respond), config)
    requester.init_connection()
    with requester.psk_exchange() as session:
        for _ in range(4):
            session.heartbeat()
    return requests, responses


def test_fixed_random_sources_give_identical_mctp_records() -> None:
    requests, responses = _records("requester", "responder")
    again_requests, again_responses = _records("requester", "responder")
    assert requests == again_requests  # the requester's padding, secured_padding unset
    assert responses == again_responses  # the responder's


def test_another_random_source_gives_other_padding() -> None:
    """The same messages in each run: the records' lengths differ only by their padding."""
    requests, responses = _records("requester", "responder")
    other_requests, other_responses = _records("requester-2", "responder-2")
    assert [len(r) for r in requests] != [len(r) for r in other_requests]
    assert [len(r) for r in responses] != [len(r) for r in other_responses]


def test_padding_is_drawn_as_libspdm_draws_it() -> None:
    """Each record draws a 4-byte little-endian count, then count % 32 + 1 padding bytes."""
    sender = DirectionState(
        session_id=SESSION,
        aead=aead_suite(AeadAlgorithm.AES_256_GCM),
        key=KEY,
        iv=IV,
        transport=MCTP,
        random=_seeded("padding"),
    )
    expected = _seeded("padding")
    for sequence_number in range(8):
        record = sender.seal(HEARTBEAT)
        header = record[:8]
        nonce = (int.from_bytes(IV, "little") ^ sequence_number).to_bytes(12, "little")
        plaintext = AESGCM(KEY).decrypt(nonce, record[8:], header)
        count = int.from_bytes(expected(4), "little") % 32 + 1
        assert plaintext == len(b"\x05" + HEARTBEAT).to_bytes(2, "little") + b"\x05" + HEARTBEAT + expected(count)
