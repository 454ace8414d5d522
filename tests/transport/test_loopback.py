"""The Transport interface and the in-memory loopback transport."""

from __future__ import annotations

import pytest

from spdm.errors import TransportError
from spdm.transport import LoopbackTransport, Transport
from spdm.transport.base import check_session_prefix

GET_VERSION = bytes.fromhex("10840000")
VERSION = bytes.fromhex("10040000000200100011")
SECURED = bytes.fromhex("78563412") + b"ciphertext"


class Recorder:
    """A fake responder: answers GET_VERSION with VERSION and echoes anything else."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, int | None]] = []

    def __call__(self, request: bytes, session_id: int | None) -> bytes:
        self.calls.append((request, session_id))
        return VERSION if request == GET_VERSION else request


def test_transport_is_abstract() -> None:
    with pytest.raises(TypeError):
        Transport()  # type: ignore[abstract]


def test_exchange_calls_respond() -> None:
    responder = Recorder()
    transport = LoopbackTransport(responder)
    assert transport.exchange(GET_VERSION) == VERSION
    assert transport.exchange(SECURED, session_id=0x12345678, timeout=0.5) == SECURED
    assert responder.calls == [(GET_VERSION, None), (SECURED, 0x12345678)]
    assert transport.max_padding == 0


def test_session_prefix_must_match() -> None:
    responder = Recorder()
    transport = LoopbackTransport(responder)
    with pytest.raises(ValueError, match="session ID 0x12345679"):
        transport.exchange(SECURED, session_id=0x12345679)
    with pytest.raises(ValueError, match="32-bit"):
        check_session_prefix(SECURED, 1 << 32)
    with pytest.raises(ValueError):
        check_session_prefix(b"\x78\x56", 0x5678)
    assert responder.calls == []


def test_closed_transport_refuses() -> None:
    responder = Recorder()
    with LoopbackTransport(responder) as transport:
        assert transport.exchange(GET_VERSION) == VERSION
    with pytest.raises(TransportError, match="closed"):
        transport.exchange(GET_VERSION)
    transport.close()  # idempotent
    assert len(responder.calls) == 1
