"""SPDM over DOE in memory: `DoeTransport` (discovery, wrapping, strict responses) and
`DoeMailboxResponder` (discovery answers, unwrapping, silent discards)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spdm.errors import DecodeError, EncodeError, TransportError
from spdm.testing import MemoryDoeLink
from spdm.transport.doe import (
    CMA_PROTOCOLS,
    DoeMailboxResponder,
    DoeTransport,
    DoeType,
    decode_object,
    discovery_response_object,
    encode_discovery_request,
    encode_discovery_response,
    encode_object,
)
from spdm.transport.doe_host import answer_discovery

GET_VERSION = bytes.fromhex("10840000")
VERSION = bytes.fromhex("10040000000200100011")  # 10 bytes: 2 bytes of DW padding over DOE
SESSION_ID = 0xFFFE0001
SECURED = SESSION_ID.to_bytes(4, "little") + bytes(range(13))


def fake_respond(request: bytes, session_id: int | None) -> bytes:
    """GET_VERSION (padded or not) -> VERSION; a secured message is echoed."""
    if session_id is not None:
        return request
    return VERSION if request.rstrip(b"\0") == GET_VERSION.rstrip(b"\0") else bytes.fromhex("107f0700")


def discovery(index: int) -> bytes:
    return encode_object(DoeType.DISCOVERY, encode_discovery_request(index))


def discovery_answer(vendor_id: int, object_type: int, next_index: int) -> bytes:
    return encode_object(DoeType.DISCOVERY, encode_discovery_response(vendor_id, object_type, next_index))


# --- DoeTransport ------------------------------------------------------------------------------


def test_discovery_then_spdm_in_type_1() -> None:
    link = MemoryDoeLink(fake_respond, record=True)
    transport = DoeTransport(link)
    assert transport.max_padding == 3
    assert transport.exchange(GET_VERSION, timeout=0.25) == VERSION + b"\0\0"
    assert link.sent == [discovery(0), discovery(1), discovery(2), encode_object(DoeType.CMA_SPDM, GET_VERSION)]
    assert link.timeouts[-1] == 0.25
    assert transport.protocols == CMA_PROTOCOLS
    transport.exchange(GET_VERSION)
    assert len(link.sent) == 5  # discovery ran once


def test_secured_message_in_type_2() -> None:
    link = MemoryDoeLink(fake_respond, record=True)
    transport = DoeTransport(link)
    assert transport.exchange(SECURED, session_id=SESSION_ID) == SECURED + b"\0\0\0"
    assert link.sent[-1] == encode_object(DoeType.SECURED_CMA_SPDM, SECURED)
    with pytest.raises(ValueError, match="session ID"):
        transport.exchange(SECURED, session_id=SESSION_ID + 1)


def test_refuses_spdm_when_type_1_is_not_listed() -> None:
    def discovery_only(obj: bytes) -> bytes:
        return discovery_answer(1, 0, 0)

    link = MemoryDoeLink(device=discovery_only, record=True)
    transport = DoeTransport(link)
    with pytest.raises(TransportError, match=r"does not list CMA/SPDM \(0001:01\).*0001:00"):
        transport.exchange(GET_VERSION)
    assert link.sent == [discovery(0)]


def test_refuses_secured_when_type_2_is_not_listed() -> None:
    link = MemoryDoeLink(fake_respond, secured=False, record=True)
    transport = DoeTransport(link)
    with pytest.raises(TransportError, match="secured CMA/SPDM"):
        transport.exchange(SECURED, session_id=SESSION_ID)
    assert transport.exchange(GET_VERSION) == VERSION + b"\0\0"


def test_discovery_version_is_sent_and_checked() -> None:
    link = MemoryDoeLink(fake_respond, record=True)
    assert DoeTransport(link, discovery_version=2).protocols == CMA_PROTOCOLS
    assert link.sent[0] == encode_object(DoeType.DISCOVERY, encode_discovery_request(0, 2))
    with pytest.raises(EncodeError):
        DoeTransport(link, discovery_version=256)


@pytest.mark.parametrize(
    ("response", "match"),
    [
        (encode_object(DoeType.CMA_SPDM, VERSION, vendor_id=0x1E98), "vendor_id"),
        (encode_object(DoeType.SECURED_CMA_SPDM, VERSION), "object_type"),
        (encode_object(DoeType.CMA_SPDM, VERSION)[:-4], "length"),
        (encode_object(DoeType.CMA_SPDM, VERSION) + b"\0\0\0\0", "length"),
        (encode_object(DoeType.CMA_SPDM, VERSION)[:-1], "length"),
        (b"\x01\x00", "header"),
    ],
)
def test_bad_response_objects(response: bytes, match: str) -> None:
    def device(obj: bytes) -> bytes | None:
        if decode_object(obj).object_type == DoeType.DISCOVERY:
            return DoeMailboxResponder(fake_respond)(obj)
        return response

    transport = DoeTransport(MemoryDoeLink(device=device))
    with pytest.raises(TransportError, match=match) as info:
        transport.exchange(GET_VERSION)
    assert isinstance(info.value.__cause__, DecodeError)


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (encode_object(DoeType.DISCOVERY, b""), "at least 1 DW"),
        (encode_object(DoeType.CMA_SPDM, b"\x01\x00\x00\x01"), "object_type"),
        (discovery_answer(1, 0, 0)[:-4], "length"),
    ],
)
def test_bad_discovery_answers(answer: bytes, match: str) -> None:
    transport = DoeTransport(MemoryDoeLink(device=lambda obj: answer))
    with pytest.raises(TransportError, match=match):
        _ = transport.protocols


def test_discovery_must_move_forward() -> None:
    link = MemoryDoeLink(device=lambda obj: discovery_answer(1, 1, 1), record=True)  # index 1 says "next: 1" forever
    transport = DoeTransport(link)
    with pytest.raises(TransportError, match="does not move forward"):
        _ = transport.protocols
    assert len(link.sent) == 2


def test_discovery_walks_a_full_table() -> None:
    def device(obj: bytes) -> bytes:
        index = decode_object(obj).payload[0]
        return discovery_answer(0x1E98, index, (index + 1) % 256)

    transport = DoeTransport(MemoryDoeLink(device=device))
    assert len(transport.protocols) == 256


def test_close() -> None:
    link = MemoryDoeLink(fake_respond, record=True)
    with DoeTransport(link) as transport:
        assert transport.link is link
    assert link.closed
    with pytest.raises(TransportError, match="closed"):
        transport.exchange(GET_VERSION)
    with pytest.raises(TransportError, match="closed"):
        _ = transport.protocols
    transport.close()


# --- DoeMailboxResponder ---------------------------------------------------------------------


def test_discovery_answers() -> None:
    device = DoeMailboxResponder(fake_respond)
    assert device.protocols == CMA_PROTOCOLS
    assert device(discovery(0)) == discovery_answer(1, 0, 1)
    assert device(discovery(1)) == discovery_answer(1, 1, 2)
    assert device(discovery(2)) == discovery_answer(1, 2, 0)
    assert device(discovery(3)) == discovery_answer(0xFFFF, 0xFF, 0)
    assert device(encode_object(DoeType.DISCOVERY, encode_discovery_request(1, 2))) == discovery_answer(1, 1, 2)
    plain = DoeMailboxResponder(fake_respond, secured=False)
    assert plain(discovery(1)) == discovery_answer(1, 1, 0)
    assert plain(discovery(2)) == discovery_answer(0xFFFF, 0xFF, 0)


def test_a_host_answers_discovery_from_its_cached_table_as_the_device_does() -> None:
    device = DoeMailboxResponder(fake_respond)
    for index in (0, 1, 2, 3, 255):
        answer = discovery_response_object(CMA_PROTOCOLS, index)
        assert answer_discovery(CMA_PROTOCOLS, discovery(index)) == device(discovery(index)) == answer


def test_spdm_payload_is_passed_with_its_padding() -> None:
    calls: list[tuple[bytes, int | None]] = []

    def respond(request: bytes, session_id: int | None) -> bytes:
        calls.append((request, session_id))
        return b"\x11\x04\x00"

    device = DoeMailboxResponder(respond)
    assert device(encode_object(DoeType.CMA_SPDM, b"\x11\x84\x00")) == encode_object(DoeType.CMA_SPDM, b"\x11\x04\x00")
    assert calls == [(b"\x11\x84\x00\x00", None)]


def test_secured_payload_and_session_id() -> None:
    calls: list[tuple[bytes, int | None]] = []

    def respond(request: bytes, session_id: int | None) -> bytes:
        calls.append((request, session_id))
        return request[:4] + b"reply"

    device = DoeMailboxResponder(respond)
    response = device(encode_object(DoeType.SECURED_CMA_SPDM, SECURED))
    assert response == encode_object(DoeType.SECURED_CMA_SPDM, SECURED[:4] + b"reply")
    assert calls == [(SECURED + b"\0\0\0", SESSION_ID)]


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(encode_object(DoeType.CMA_SPDM, GET_VERSION)[:-4], id="short"),
        pytest.param(encode_object(DoeType.CMA_SPDM, GET_VERSION) + b"\0\0\0\0", id="trailing"),
        pytest.param(encode_object(DoeType.CMA_SPDM, GET_VERSION) + b"\0", id="not-whole-dw"),
        pytest.param(b"\x01\x00\x01\x80" + encode_object(DoeType.CMA_SPDM, GET_VERSION)[4:], id="reserved"),
        pytest.param(encode_object(DoeType.CMA_SPDM, GET_VERSION, vendor_id=0x1E98), id="other-vendor"),
        pytest.param(encode_object(3, GET_VERSION), id="type-3"),
        pytest.param(encode_object(DoeType.CMA_SPDM, b""), id="empty-spdm"),
        pytest.param(encode_object(DoeType.SECURED_CMA_SPDM, SECURED[:4]), id="session-id-only"),
        pytest.param(encode_object(DoeType.DISCOVERY, b""), id="discovery-empty"),
        pytest.param(b"", id="nothing"),
    ],
)
def test_malformed_objects_are_discarded(obj: bytes) -> None:
    def respond(request: bytes, session_id: int | None) -> bytes:
        raise AssertionError("respond must not be called")

    assert DoeMailboxResponder(respond)(obj) is None


def test_unlisted_secured_type_is_discarded() -> None:
    assert DoeMailboxResponder(fake_respond, secured=False)(encode_object(DoeType.SECURED_CMA_SPDM, SECURED)) is None


def test_empty_answer_is_a_discard_and_errors_propagate() -> None:
    assert DoeMailboxResponder(lambda request, session_id: b"")(encode_object(1, GET_VERSION)) is None

    def broken(request: bytes, session_id: int | None) -> bytes:
        raise RuntimeError("responder bug")

    with pytest.raises(RuntimeError, match="responder bug"):
        DoeMailboxResponder(broken)(encode_object(1, GET_VERSION))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64) | st.builds(encode_object, st.integers(0, 3), st.binary(max_size=24)))
def test_any_input_is_answered_with_one_object_or_discarded(data: bytes) -> None:
    response = DoeMailboxResponder(fake_respond)(data)
    if response is not None:
        decode_object(response)


# --- spdm.testing.MemoryDoeLink ----------------------------------------------------------------


def test_memory_doe_link_records_alters_and_refuses_a_discard() -> None:
    link = MemoryDoeLink(fake_respond, record=True)
    request, answer = encode_object(DoeType.CMA_SPDM, GET_VERSION), encode_object(DoeType.CMA_SPDM, VERSION)
    assert link.exchange_object(request, timeout=0.5) == answer
    link.alter = lambda obj, answer: answer[:-1] + b"\x01"
    assert link.exchange_object(request) == answer[:-1] + b"\x01"
    assert link.sent == [request, request] and link.timeouts == [0.5, None]
    assert link.received == [answer, answer[:-1] + b"\x01"]
    with pytest.raises(TransportError, match="discarded"):
        link.exchange_object(b"\x01\x00")  # not an object: the DOE instance drops it
    quiet = MemoryDoeLink(device=lambda obj: obj)
    assert quiet.exchange_object(request) == request and quiet.sent == []
    with pytest.raises(TypeError):
        MemoryDoeLink()
    with pytest.raises(TypeError):
        MemoryDoeLink(fake_respond, device=lambda obj: obj)
