"""SPDM 1.2 chunking in both roles: our requester against our responder at libspdm's two capture
sizes, DataTransferSize 64 and 256 (in process, over sockets with both drivers and the CLI, in the
clear and in sessions), and malformed chunk sequences against the responder. libspdm's chunking
captures replay through our requester in tests/test_v12_vectors.py."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from spdm import cli
from spdm.aio import AsyncRequester, open_connection
from spdm.capture import CaptureWriter, RecordingTransport, messages, read_pcap
from spdm.chunking import CHUNK_HEADER
from spdm.errors import NegotiationError, PeerError, ProtocolError, VerificationError
from spdm.messages import Message, decode, encode
from spdm.messages.certificates import GetCertificate, GetDigests
from spdm.messages.chunk import LAST_CHUNK, ChunkGet, ChunkResponse, ChunkSend, ChunkSendAck
from spdm.messages.codes import CapabilityFlags, Code, ErrorCode
from spdm.messages.error import ErrorResponse, LargeResponse, RespondIfReady, ResponseTooLarge
from spdm.messages.measurements import GetMeasurements
from spdm.messages.negotiation import (
    SUPPORTED_ALGORITHMS,
    Algorithms,
    Capabilities,
    GetCapabilities,
    GetVersion,
    Version,
)
from spdm.messages.vendor import VendorDefinedRequest
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.responder.chunks import LargeMessages
from spdm.responder.config import ResponderConfig
from spdm.responder.state import State
from spdm.testing import MemoryDoeLink
from spdm.transport.base import Transport
from spdm.transport.doe import DoeMailboxResponder, DoeTransport
from spdm.transport.loopback import LoopbackTransport
from spdm.transport.socket import SocketLink, SocketServer
from spdm.verify import verify_capture

PSK, HINT = b"chunked pre-shared key", b"hint"
CHUNK = int(CapabilityFlags.CHUNK_CAP)


def _responder_config(dts: int, *, padding: int = 3, **changes: Any) -> ResponderConfig:
    base = demo_config(sessions=True, psks={HINT: PSK}, provisioning=True)
    return dataclasses.replace(
        base, capabilities=base.capabilities | CHUNK, data_transfer_size=dts, max_padding=padding, **changes
    )


def _requester_config(root: bytes, dts: int, max_size: int = 0x11000) -> RequesterConfig:
    config = RequesterConfig.with_sessions(trust_anchors={0: root}, psk=PSK, psk_hint=HINT)
    return dataclasses.replace(
        config, capabilities=config.capabilities | CHUNK, data_transfer_size=dts, max_spdm_msg_size=max_size
    )


@pytest.fixture
def chunk_calls() -> Iterator[Counter[tuple[str, bool]]]:
    """How often the responder served CHUNK_SEND and CHUNK_GET, in the clear (False) and in sessions (True)."""
    calls: Counter[tuple[str, bool]] = Counter()

    def spy(name: str) -> Any:
        real = getattr(LargeMessages, name)

        def wrapper(self: LargeMessages, request: Any, *args: Any) -> bytes:
            session_id = args[1] if name == "chunk_send" else args[0]
            calls[name, session_id is not None] += 1
            return bytes(real(self, request, *args))

        return wrapper

    with (
        mock.patch.object(LargeMessages, "chunk_get", spy("chunk_get")),
        mock.patch.object(LargeMessages, "chunk_send", spy("chunk_send")),
    ):
        yield calls


def _whole_flow(requester: Requester) -> None:
    """Certificates, signed measurements, PSK and DHE sessions, GET_CSR and SET_CERTIFICATE, each checked."""
    result = requester.authenticate(0, measurements=0xFF)
    assert result.measurements is not None and result.measurements.signed and result.measurements.blocks
    chain = [bytes(c) for c in demo_config().slots[0].certificates]
    assert requester.get_csr().startswith(b"\x30")
    with requester.psk_exchange() as session:
        assert session.get_measurements(0xFF).signed
    with requester.key_exchange(slot=0) as session:
        session.heartbeat()
        assert session.key_update(all_keys=True)
        assert session.get_measurements(0xFF).signed
        assert not session.set_certificate(0, chain).reset_required
    assert not requester.set_certificate(0, chain).reset_required
    assert requester.authenticate(0).chain is not None


@pytest.mark.parametrize("dts", [64, 256])
def test_our_requester_and_responder_chunk_everything_large(dts: int, chunk_calls: Counter[tuple[str, bool]]) -> None:
    config = _responder_config(dts)
    responder = Responder(config)
    requester = Requester(
        DoeTransport(MemoryDoeLink(responder.respond)), _requester_config(config.slots[0].certificates[0], dts)
    )
    _whole_flow(requester)
    assert set(chunk_calls) == {("chunk_get", False), ("chunk_get", True), ("chunk_send", False), ("chunk_send", True)}


def test_without_chunk_cap_on_one_side_nothing_is_chunked(chunk_calls: Counter[tuple[str, bool]]) -> None:
    config = _responder_config(0x1200)
    responder = Responder(dataclasses.replace(config, capabilities=config.capabilities & ~CHUNK))
    requester = Requester(
        DoeTransport(MemoryDoeLink(responder.respond)), _requester_config(config.slots[0].certificates[0], 64)
    )
    requester.authenticate(0, measurements=0xFF)
    assert not chunk_calls


def test_chunking_over_sockets_both_drivers() -> None:
    config = _responder_config(64)
    root = config.slots[0].certificates[0]
    server = SocketServer(DoeMailboxResponder(Responder(config).respond), host="127.0.0.1", port=0).start()
    try:
        link = SocketLink("127.0.0.1", server.port)
        requester = Requester(DoeTransport(link), _requester_config(root, 256))
        requester.authenticate(0, measurements=0xFF)
        with requester.key_exchange(slot=0) as session:
            assert session.get_measurements(0xFF).signed
        link.continue_()

        async def fetch() -> int:
            async with await open_connection("127.0.0.1", server.port, timeout=10) as transport:
                result = await AsyncRequester(transport, _requester_config(root, 64)).authenticate(0, measurements=0xFF)
                assert result.measurements is not None
                return len(result.measurements.blocks)

        assert asyncio.run(fetch()) > 0
    finally:
        server.stop(timeout=2)


def test_a_response_over_the_requesters_max_message_size_is_response_too_large() -> None:
    config = _responder_config(64)
    responder = Responder(config)
    requester = Requester(
        DoeTransport(MemoryDoeLink(responder.respond)), _requester_config(config.slots[0].certificates[0], 64, 200)
    )
    requester.init_connection()
    with pytest.raises(PeerError) as raised:  # every measurement block: no Length keeps it within 200 bytes
        requester.get_measurements(0xFF, signed=False)
    error = raised.value.response
    assert isinstance(error, ErrorResponse)
    assert error.error_code == ErrorCode.ResponseTooLarge
    assert isinstance(error.extended_data, ResponseTooLarge) and error.extended_data.response_size > 200


# --- malformed chunk sequences against the responder ----------------------------------------------


@pytest.fixture
def negotiated_responder() -> Responder:
    """A responder at DataTransferSize 64 after VCA with a CHUNK_CAP requester (no transport padding)."""
    config = _responder_config(64, padding=0)
    responder = Responder(config)
    Requester(
        LoopbackTransport(responder.respond), _requester_config(config.slots[0].certificates[0], 64)
    ).init_connection()
    return responder


def _ask(responder: Responder, message: Any) -> Any:
    return decode(responder.respond(encode(message)))


def _unchanged(responder: Responder) -> None:
    assert responder.state is State.NEGOTIATED and responder.negotiated is not None
    assert responder._large.buffered == 0


def _send(seq_no: int, chunk: bytes, *, handle: int = 0, size: int | None = None, last: bool = False) -> ChunkSend:
    return ChunkSend(
        version=0x13,
        attributes=LAST_CHUNK if last else 0,
        handle=handle,
        chunk_seq_no=seq_no,
        large_message_size=size,
        chunk=chunk,
    )


def _early_error(answer: Any, code: int = ErrorCode.InvalidRequest) -> None:
    assert isinstance(answer, ChunkSendAck) and answer.early_error_detected
    error = decode(answer.response)
    assert isinstance(error, ErrorResponse) and error.error_code == code


LARGE = encode(GetMeasurements(version=0x13, attributes=0, operation=0, requester_context=bytes(8))) + bytes(
    60
)  # trailing bytes: refused whole


@pytest.mark.parametrize(
    "sequence",
    [
        pytest.param([_send(1, LARGE[:48])], id="first chunk not ChunkSeqNo 0"),
        pytest.param([_send(0, LARGE[:48], size=0x10000)], id="LargeMessageSize over MaxSPDMmsgSize"),
        pytest.param([_send(0, LARGE[:48], size=4609)], id="LargeMessageSize one over MaxSPDMmsgSize (the limit)"),
        pytest.param([_send(0, LARGE[:49], size=len(LARGE))], id="chunk message over DataTransferSize"),
        pytest.param([_send(0, LARGE[:48], size=len(LARGE)), _send(2, LARGE[48:], last=True)], id="skipped seq"),
        pytest.param([_send(0, LARGE[:48], size=len(LARGE)), _send(0, LARGE[:48], size=len(LARGE))], id="repeated"),
        pytest.param([_send(0, LARGE[:48], size=len(LARGE)), _send(1, LARGE[48:], handle=1, last=True)], id="handle"),
        pytest.param([_send(0, LARGE[:48], size=len(LARGE)), _send(1, LARGE[48:60], last=True)], id="short last"),
        pytest.param([_send(0, LARGE[:48], size=50), _send(1, LARGE[48:52], last=True)], id="more than announced"),
        pytest.param([_send(0, LARGE[:46], size=46, last=True)], id="one chunk flagged last"),
        pytest.param([_send(0, LARGE[:26], size=42)], id="no large message"),
        pytest.param([_send(0, LARGE[:25], size=len(LARGE))], id="first ChunkSize under 26"),
        pytest.param([_send(0, LARGE[:48], size=len(LARGE)), _send(1, LARGE[48:50])], id="middle ChunkSize under 30"),
    ],
)
def test_a_bad_chunk_send_sequence_is_refused_in_its_ack(negotiated_responder: Responder, sequence: list[Any]) -> None:
    *good, bad = sequence
    for chunk in good:
        answer = _ask(negotiated_responder, chunk)
        assert isinstance(answer, ChunkSendAck) and not answer.early_error_detected and not answer.response
    _early_error(_ask(negotiated_responder, bad))
    _unchanged(negotiated_responder)
    served = _ask(negotiated_responder, GetDigests(version=0x13))  # the connection goes on
    assert isinstance(served, ErrorResponse) and isinstance(served.extended_data, LargeResponse)


def test_a_chunked_request_is_served_whole_and_may_not_be_interrupted(negotiated_responder: Responder) -> None:
    large = encode(GetDigests(version=0x13)) + bytes(48)  # served as it came: the trailing bytes are refused
    assert isinstance(_ask(negotiated_responder, _send(0, large[:48], size=len(large))), ChunkSendAck)
    interrupted = _ask(negotiated_responder, GetDigests(version=0x13))
    assert isinstance(interrupted, ErrorResponse) and interrupted.error_code == ErrorCode.UnexpectedRequest
    answer = _ask(negotiated_responder, _send(1, large[48:], last=True))
    assert isinstance(answer, ChunkSendAck) and not answer.early_error_detected
    error = decode(answer.response)
    assert isinstance(error, ErrorResponse) and error.error_code == ErrorCode.InvalidRequest
    _unchanged(negotiated_responder)


def test_a_chunk_request_may_not_carry_a_chunk_request(negotiated_responder: Responder) -> None:
    inner = encode(ChunkGet(version=0x13, handle=0, chunk_seq_no=0)) + bytes(60)
    assert isinstance(_ask(negotiated_responder, _send(0, inner[:48], size=len(inner))), ChunkSendAck)
    _early_error(_ask(negotiated_responder, _send(1, inner[48:], last=True)))
    _unchanged(negotiated_responder)


def test_chunk_get_rules(negotiated_responder: Responder) -> None:
    responder = negotiated_responder
    nothing = _ask(responder, ChunkGet(version=0x13, handle=1, chunk_seq_no=0))
    assert isinstance(nothing, ErrorResponse) and nothing.error_code == ErrorCode.UnexpectedRequest
    announce = _ask(responder, GetCertificate(version=0x13, offset=0, length=0x400))
    assert isinstance(announce.extended_data, LargeResponse)
    handle = announce.extended_data.handle
    for handle_change, seq_no in ((1, 0), (0, 1)):
        refused = _ask(responder, ChunkGet(version=0x13, handle=handle + handle_change, chunk_seq_no=seq_no))
        assert isinstance(refused, ErrorResponse) and refused.error_code == ErrorCode.InvalidRequest
        assert responder._large.buffered > 0
    other = _ask(responder, GetDigests(version=0x13))
    assert isinstance(other, ErrorResponse) and other.error_code == ErrorCode.UnexpectedRequest
    first = _ask(responder, ChunkGet(version=0x13, handle=handle, chunk_seq_no=0))
    assert isinstance(first, ChunkResponse) and first.large_message_size is not None
    assert isinstance(_ask(responder, GetVersion()), Version)
    assert responder._large.buffered == 0 and responder.state is State.EXPECT_GET_CAPABILITIES
    after = _ask(responder, ChunkGet(version=0x13, handle=handle, chunk_seq_no=1))
    assert isinstance(after, ErrorResponse)


def test_chunk_requests_need_chunk_cap_on_both_sides() -> None:
    """From a requester without CHUNK_CAP they are out of order (libspdm_rsp_chunk_send_ack.c, _chunk_response.c)."""
    config = _responder_config(0x1200, padding=0)
    responder = Responder(config)
    requester_config = dataclasses.replace(
        _requester_config(config.slots[0].certificates[0], 0x1200, 0x1200),
        capabilities=RequesterConfig.with_sessions().capabilities,
    )
    Requester(LoopbackTransport(responder.respond), requester_config).init_connection()
    for request in (ChunkGet(version=0x13, handle=0, chunk_seq_no=0), _send(0, LARGE[:48], size=len(LARGE))):
        answer = _ask(responder, request)
        assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.UnexpectedRequest
        assert answer.error_data == 0


# --- a responder that breaks the rules, seen by our requester ------------------------------------------


def test_the_requester_refuses_a_chunk_of_another_transfer() -> None:
    config = _responder_config(64, padding=0)
    responder = Responder(config)

    def tampered(request: bytes, session_id: int | None = None) -> bytes:
        response = responder.respond(request, session_id)
        if request[1] == Code.CHUNK_GET and request[4] == 1:
            chunk = decode(response)
            return encode(dataclasses.replace(chunk, handle=chunk.handle + 1))
        return response

    requester = Requester(LoopbackTransport(tampered), _requester_config(config.slots[0].certificates[0], 64))
    requester.init_connection()
    with pytest.raises(ProtocolError) as raised:
        requester.get_certificate(0)
    assert raised.value.error_code == ErrorCode.InvalidResponseCode


def test_a_sessions_large_response_is_not_served_in_the_clear() -> None:
    config = _responder_config(64, padding=0)
    responder = Responder(config)
    refusals: list[object] = []

    def respond(request: bytes, session_id: int | None = None) -> bytes:
        response = responder.respond(request, session_id)
        if session_id is not None and responder._large.buffered and not refusals:
            refusals.append(decode(responder.respond(encode(ChunkGet(version=0x13, handle=0, chunk_seq_no=0)))))
            refusals.append(decode(responder.respond(encode(GetDigests(version=0x13)))))
        return response

    requester = Requester(LoopbackTransport(respond), _requester_config(config.slots[0].certificates[0], 64))
    requester.authenticate(0)
    with requester.key_exchange(slot=0) as session:
        assert session.get_measurements(0xFF).signed  # the transfer went on undisturbed
    assert [(type(r), getattr(r, "error_code", None)) for r in refusals] == [
        (ErrorResponse, ErrorCode.UnexpectedRequest),
        (ErrorResponse, ErrorCode.UnexpectedRequest),
    ]


def test_cli_requester_chunks_with_data_transfer_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _responder_config(64)
    root = tmp_path / "root.der"
    root.write_bytes(config.slots[0].certificates[0])
    server = SocketServer(DoeMailboxResponder(Responder(config).respond), host="127.0.0.1", port=0).start()
    try:
        argv = ["requester", "--connect", f"127.0.0.1:{server.port}", "--root-cert", str(root)]
        assert cli.main([*argv, "--data-transfer-size", "64", "--session", "dhe", "--exe-mode", "continue"]) == 0
        assert capsys.readouterr().out.endswith("result: session completed\n")
        assert cli.main([*argv, "--data-transfer-size", "41"]) == 2
        assert "is not a DataTransferSize (42 or more)" in capsys.readouterr().err
    finally:
        server.stop(timeout=2)


def test_cli_data_transfer_size_over_the_limits_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A DataTransferSize over the largest message the side's limits take would advertise what it refuses."""
    root = tmp_path / "root.der"
    root.write_bytes(demo_config().slots[0].certificates[0])
    argv = ["requester", "--connect", "127.0.0.1:1", "--root-cert", str(root), "--data-transfer-size", "69633"]
    assert cli.main(argv) == 2
    assert "--data-transfer-size 69633 is over 69632, the largest message the limits take" in capsys.readouterr().err
    assert cli.main(["responder", "--listen", "127.0.0.1:1", "--data-transfer-size", "4609"]) == 2
    assert "--data-transfer-size 4609 is over 4608" in capsys.readouterr().err


# --- a CHUNK_SEND that does not decode, requests over the sizes the responder gave ----------------------


def test_a_chunk_send_that_does_not_decode_is_refused_in_its_ack_and_ends_the_transfer(
    negotiated_responder: Responder,
) -> None:
    """libspdm_rsp_chunk_send_ack.c: ChunkSize over the bytes that follow is EarlyErrorDetected with
    ERROR InvalidRequest, its Handle and ChunkSeqNo read from the header, and the transfer is over."""
    first = _ask(negotiated_responder, _send(0, LARGE[:48], size=len(LARGE), handle=5))
    assert isinstance(first, ChunkSendAck) and not first.early_error_detected
    malformed = bytearray(encode(_send(1, LARGE[48:], handle=5, last=True)))
    malformed[8:12] = (100).to_bytes(4, "little")  # ChunkSize 100, 24 bytes follow
    answer = decode(negotiated_responder.respond(bytes(malformed)))
    _early_error(answer)
    assert (answer.handle, answer.chunk_seq_no) == (5, 1)
    _unchanged(negotiated_responder)
    served = _ask(negotiated_responder, GetDigests(version=0x13))
    assert isinstance(served, ErrorResponse) and isinstance(served.extended_data, LargeResponse)


def test_a_chunk_send_too_short_for_its_header_is_a_plain_error_and_the_transfer_goes_on(
    negotiated_responder: Responder,
) -> None:
    """libspdm_rsp_chunk_send_ack.c answers a CHUNK_SEND shorter than its header (than its header and
    LargeMessageSize, opening a transfer) with a plain ERROR and keeps the transfer."""
    short = encode(_send(0, LARGE[:48], size=len(LARGE)))[: CHUNK_HEADER + 3]
    refused = decode(negotiated_responder.respond(short))
    assert isinstance(refused, ErrorResponse) and refused.error_code == ErrorCode.InvalidRequest
    assert isinstance(_ask(negotiated_responder, _send(0, LARGE[:48], size=len(LARGE))), ChunkSendAck)
    refused = decode(negotiated_responder.respond(encode(_send(1, LARGE[48:], last=True))[: CHUNK_HEADER - 1]))
    assert isinstance(refused, ErrorResponse) and refused.error_code == ErrorCode.InvalidRequest
    answer = _ask(negotiated_responder, _send(1, LARGE[48:], last=True))
    assert isinstance(answer, ChunkSendAck) and not answer.early_error_detected and answer.response
    _unchanged(negotiated_responder)


_VENDOR = (4, b"\x01\x02\x03\x04")


def _vendor_request(size: int, last: int = 1) -> bytes:
    """A VENDOR_DEFINED_REQUEST of `size` bytes (13 of them fields), its last byte `last`."""
    payload = b"\x01" * (size - 14) + bytes([last])
    return encode(VendorDefinedRequest(version=0x13, standard_id=_VENDOR[0], vendor_id=_VENDOR[1], payload=payload))


@pytest.mark.parametrize(
    ("responder_changes", "requester_chunks", "refusal"),
    [
        pytest.param({"max_spdm_msg_size": 300}, True, "over the responder's MaxSPDMmsgSize 300", id="MaxSPDMmsgSize"),
        pytest.param({}, False, "over the responder's DataTransferSize 64", id="DataTransferSize without chunking"),
    ],
)
def test_the_requester_refuses_a_request_the_responder_cannot_take_before_sending_it(
    responder_changes: dict[str, int], requester_chunks: bool, refusal: str
) -> None:
    """libspdm_req_send_receive.c libspdm_send_spdm_request: PEER_BUFFER_TOO_SMALL, nothing sent."""
    config = _responder_config(64, padding=0, **responder_changes)
    responder = Responder(config)
    responder.register_vendor_handler(*_VENDOR, lambda request: b"ok")
    sent: list[bytes] = []

    def respond(request: bytes, session_id: int | None = None) -> bytes:
        sent.append(request)
        return responder.respond(request, session_id)

    requester_config = _requester_config(config.slots[0].certificates[0], 64)
    if not requester_chunks:  # without CHUNK_CAP its DataTransferSize is its MaxSPDMmsgSize
        requester_config = dataclasses.replace(
            _requester_config(config.slots[0].certificates[0], 0x1200, 0x1200),
            capabilities=requester_config.capabilities & ~CHUNK,
        )
    requester = Requester(LoopbackTransport(respond), requester_config)
    requester.init_connection()
    sent.clear()
    with pytest.raises(NegotiationError, match=refusal):
        requester.vendor_defined(*_VENDOR, bytes(1000))
    assert not sent and requester.connection.channel.chunk_handle == 0
    assert requester.vendor_defined(*_VENDOR, bytes(20)) == b"ok"


@pytest.mark.parametrize("in_session", [False, True], ids=["in the clear", "in a session"])
def test_a_request_refused_before_sending_moves_no_transcript(in_session: bool) -> None:
    """The responder never sees it, so L1/L2 must not restart: a signed read after unsigned ones still verifies."""
    config = _responder_config(64, padding=0, max_spdm_msg_size=300)
    responder = Responder(config)
    responder.register_vendor_handler(*_VENDOR, lambda request: b"ok")
    root = config.slots[0].certificates[0]
    requester = Requester(LoopbackTransport(responder.respond), _requester_config(root, 64))
    requester.authenticate(0)
    if in_session:
        session = requester.psk_exchange()
        session.get_measurements(1, signed=False)
        large = VendorDefinedRequest(version=0x13, standard_id=_VENDOR[0], vendor_id=_VENDOR[1], payload=bytes(1000))
        with pytest.raises(NegotiationError, match="MaxSPDMmsgSize 300"):
            session.send(large)
        assert session.get_measurements(2, signed=True).signed
    else:
        requester.get_measurements(1, signed=False)
        with pytest.raises(NegotiationError, match="MaxSPDMmsgSize 300"):
            requester.vendor_defined(*_VENDOR, bytes(1000))
        assert requester.get_measurements(2, signed=True).signed


def test_a_whole_request_over_the_responders_data_transfer_size_is_invalid_request() -> None:
    """libspdm_rsp_receive_send.c trims a request to its DataTransferSize, so a larger one does not
    parse, trailing zeros that could be padding included; transport padding after one that fits is no
    part of it."""
    config = _responder_config(64, padding=3)
    responder = Responder(config)
    responder.register_vendor_handler(*_VENDOR, lambda request: b"ok")
    Requester(
        DoeTransport(MemoryDoeLink(responder.respond)), _requester_config(config.slots[0].certificates[0], 64)
    ).init_connection()
    fits = decode(responder.respond(_vendor_request(64) + bytes(3)))
    assert type(fits).__name__ == "VendorDefinedResponse"
    for request in (_vendor_request(65), _vendor_request(65, last=0), _vendor_request(1013)):
        refused = decode(responder.respond(request))
        assert isinstance(refused, ErrorResponse) and refused.error_code == ErrorCode.InvalidRequest


# --- requests that would interrupt a transfer, as the responder and spdm verify see them ---------------------


def _recording(responder: Responder, respond: Any = None) -> tuple[io.BytesIO, RecordingTransport]:
    buffer = io.BytesIO()
    return buffer, RecordingTransport(LoopbackTransport(respond or responder.respond), CaptureWriter(buffer))


@pytest.mark.parametrize(
    "interruption",
    [GetDigests(version=0x13), RespondIfReady(version=0x13, request_code=Code.GET_DIGESTS, token=0)],
    ids=["GET_DIGESTS", "RESPOND_IF_READY"],
)
def test_spdm_verify_follows_a_transfer_a_refused_request_did_not_interrupt(interruption: Message) -> None:
    config = _responder_config(64, padding=0)
    root = config.slots[0].certificates[0]
    buffer, transport = _recording(Responder(config))
    Requester(transport, _requester_config(root, 64)).authenticate(0)
    announce = decode(transport.exchange(encode(GetDigests(version=0x13))))
    assert isinstance(announce.extended_data, LargeResponse)
    handle, seq_no, part = announce.extended_data.handle, 0, None
    while part is None or not part.last_chunk:
        part = decode(transport.exchange(encode(ChunkGet(version=0x13, handle=handle, chunk_seq_no=seq_no))))
        seq_no += 1
        if seq_no == 1:
            refused = decode(transport.exchange(encode(interruption)))
            assert isinstance(refused, ErrorResponse) and refused.error_code == ErrorCode.UnexpectedRequest
    result = verify_capture(read_pcap(buffer.getvalue()), {0: root})
    assert result.ok, result.first_failure


def test_spdm_verify_refuses_any_other_answer_to_a_request_that_would_interrupt_a_transfer() -> None:
    config = _responder_config(64, padding=0)
    root = config.slots[0].certificates[0]
    responder = Responder(config)

    def served_anyway(request: bytes, session_id: int | None = None) -> bytes:
        answer = responder.respond(request, session_id)
        return encode(ErrorResponse(version=0x13, error_code=ErrorCode.Busy)) if answer[1:3] == b"\x7f\x04" else answer

    buffer, transport = _recording(responder, served_anyway)
    Requester(transport, _requester_config(root, 64)).init_connection()
    handle = decode(transport.exchange(encode(GetDigests(version=0x13)))).extended_data.handle
    transport.exchange(encode(ChunkGet(version=0x13, handle=handle, chunk_seq_no=0)))
    assert decode(transport.exchange(encode(GetDigests(version=0x13)))).error_code == ErrorCode.Busy
    failure = verify_capture(read_pcap(buffer.getvalue()), {0: root}).first_failure
    assert failure is not None and "only ERROR UnexpectedRequest may" in failure.detail


def test_a_refused_interruption_leaves_the_measurement_transcript_alone() -> None:
    """The refusal comes before any handler (libspdm_rsp_receive_send.c): L1/L2 goes on, and the signed
    MEASUREMENTS after it verifies over the unsigned one before."""
    config = _responder_config(64, padding=0)
    responder = Responder(config)
    armed: list[bool] = []

    def respond(request: bytes, session_id: int | None = None) -> bytes:
        response = responder.respond(request, session_id)
        if armed == [True] and request[1] == Code.CHUNK_GET:
            armed[0] = False
            refused = decode(responder.respond(encode(GetDigests(version=0x13))))
            assert isinstance(refused, ErrorResponse) and refused.error_code == ErrorCode.UnexpectedRequest
        return response

    requester = Requester(LoopbackTransport(respond), _requester_config(config.slots[0].certificates[0], 64))
    requester.authenticate(0)
    armed.append(True)
    assert requester.get_measurements(0xFF, signed=False).blocks
    assert armed == [False]
    try:
        assert requester.get_measurements(0xFF).signed
    except VerificationError as error:
        pytest.fail(f"L1/L2 differ: {error}")


# --- chunking from CAPABILITIES on, down to DataTransferSize 42 ----------------------------------------------


def _fetched(transport: Transport, request: bytes) -> tuple[bytes, int]:
    """The answer to `request` and the chunks it came in: fetched with CHUNK_GET when ERROR(LargeResponse)
    announces it."""
    raw = transport.exchange(request)
    answer = decode(raw)
    if not isinstance(answer, ErrorResponse) or not isinstance(answer.extended_data, LargeResponse):
        return raw, 0
    parts: list[ChunkResponse] = []
    while not parts or not parts[-1].last_chunk:
        ask = ChunkGet(version=answer.version, handle=answer.extended_data.handle, chunk_seq_no=len(parts))
        parts.append(decode(transport.exchange(encode(ask))))
    return b"".join(part.chunk for part in parts), len(parts)


def test_a_capabilities_listing_supported_algorithms_is_chunked_and_spdm_verify_follows_it() -> None:
    """libspdm_rsp_capabilities.c lists them, libspdm_rsp_receive_send.c chunks the CAPABILITIES by the
    DataTransferSize and CHUNK_CAP of the GET_CAPABILITIES just taken (and the ALGORITHMS after it)."""
    config = _responder_config(0x1200, padding=0)
    root = config.slots[0].certificates[0]
    requester_config = _requester_config(root, 0x1200)
    offers: list[bytes] = []
    first = Responder(config)

    def spy(request: bytes, session_id: int | None = None) -> bytes:
        offers.extend([request] if request[1] == Code.NEGOTIATE_ALGORITHMS else [])
        return first.respond(request, session_id)

    Requester(LoopbackTransport(spy), requester_config).init_connection()
    buffer, transport = _recording(Responder(config))
    assert isinstance(decode(transport.exchange(encode(GetVersion()))), Version)
    ask = GetCapabilities(
        version=0x13,
        param1=SUPPORTED_ALGORITHMS,
        ct_exponent=requester_config.ct_exponent,
        flags=requester_config.capabilities,
        data_transfer_size=42,
        max_spdm_msg_size=0x1200,
    )
    capabilities, chunks = _fetched(transport, encode(ask))
    listed = decode(capabilities)
    assert isinstance(listed, Capabilities) and listed.supported_algorithms is not None and chunks > 1
    algorithms, chunks = _fetched(transport, offers[0])  # 52 bytes, over the requester's 42
    assert isinstance(decode(algorithms), Algorithms) and chunks > 1
    result = verify_capture(read_pcap(buffer.getvalue()), {0: root})
    assert result.ok, result.first_failure
    assert {
        "CAPABILITIES is valid (flags, transfer sizes, CTExponent, Supported Algorithms)",
        "ALGORITHMS selects one offered algorithm of each kind",
    } <= {check.name for check in result.checks if check.passed}


@pytest.mark.parametrize(("responder_dts", "requester_dts"), [(42, 42), (42, 4096), (4096, 42)])
def test_our_requester_and_responder_chunk_at_the_smallest_data_transfer_size(
    responder_dts: int, requester_dts: int, chunk_calls: Counter[tuple[str, bool]]
) -> None:
    """NEGOTIATE_ALGORITHMS (48 bytes) and ALGORITHMS (52) are large at 42 too: they travel in chunks,
    as libspdm sends them (libspdm_req_send_receive.c, libspdm_rsp_receive_send.c), and spdm verify
    follows them."""
    config = _responder_config(responder_dts, padding=0)
    root = config.slots[0].certificates[0]
    buffer, transport = _recording(Responder(config))
    _whole_flow(Requester(transport, _requester_config(root, requester_dts)))
    assert ("chunk_send", False) in chunk_calls and ("chunk_get", False) in chunk_calls
    result = verify_capture(read_pcap(buffer.getvalue()), {0: root})
    assert result.ok, result.first_failure


def test_a_small_response_to_a_chunked_request_comes_in_chunks_at_42() -> None:
    """A 40-byte response does not fit a DataTransferSize of 42 in its CHUNK_SEND_ACK: it comes alone in
    chunks, smaller than MinDataTransferSize, which the requester and spdm verify take
    (libspdm_req_handle_error_response.c response_from_chunk)."""
    config = _responder_config(42, padding=0)
    root = config.slots[0].certificates[0]
    responder = Responder(config)
    responder.register_vendor_handler(*_VENDOR, lambda request: bytes(27))  # a 40-byte VENDOR_DEFINED_RESPONSE
    buffer, transport = _recording(responder)
    requester = Requester(transport, _requester_config(root, 42))
    requester.init_connection()
    assert requester.vendor_defined(*_VENDOR, bytes(100)) == bytes(27)
    pcap = read_pcap(buffer.getvalue())
    firsts = [item.message for item in messages(pcap) if isinstance(item.message, ChunkResponse)]
    assert [chunk.large_message_size for chunk in firsts if chunk.chunk_seq_no == 0][-1] == 40
    result = verify_capture(pcap, {0: root})
    assert result.ok, result.first_failure


def test_the_requester_refuses_chunks_under_the_minimum_size() -> None:
    """A responder that serves a large DIGESTS in one-byte CHUNK_RESPONSEs: libspdm's requester
    refuses a first ChunkSize under 26 (libspdm_req_handle_error_response.c), so does ours."""
    config = _responder_config(64, padding=0)
    responder = Responder(config)
    whole: list[bytes] = []

    def tiny_chunks(request: bytes, session_id: int | None = None) -> bytes:
        if request[1] == Code.GET_DIGESTS and responder.negotiated is not None:
            digests, chunks = _fetched(LoopbackTransport(responder.respond), request)
            whole.append(digests)
            assert chunks > 1
            large = LargeResponse(handle=7)
            return encode(ErrorResponse(version=0x13, error_code=ErrorCode.LargeResponse, extended_data=large))
        if request[1] == Code.CHUNK_GET:
            seq_no = int.from_bytes(request[4:6], "little")
            size = len(whole[0])
            part = ChunkResponse(
                version=0x13,
                attributes=LAST_CHUNK if seq_no == size - 1 else 0,
                handle=7,
                chunk_seq_no=seq_no,
                large_message_size=size if seq_no == 0 else None,
                chunk=whole[0][seq_no : seq_no + 1],
            )
            return encode(part)
        return responder.respond(request, session_id)

    requester = Requester(LoopbackTransport(tiny_chunks), _requester_config(config.slots[0].certificates[0], 64))
    requester.init_connection()
    with pytest.raises(ProtocolError, match="the first ChunkSize 1 is under 26") as raised:
        requester.get_digests()
    assert raised.value.error_code == ErrorCode.InvalidResponseCode
