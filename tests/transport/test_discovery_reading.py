"""DOE discovery as devices and hosts read it: a request or response of at least 1 DW, read from its
first; a request's reserved bits and any further DWs are ignored (QEMU hw/pci/pcie_doe.c, libspdm
libspdm_doe_pcidoe.c, Linux drivers/pci/doe.c). Captures are still checked strictly."""

from __future__ import annotations

import socket
import struct

import pytest
from mailbox_helpers import READY, read_object, send, status

from spdm.errors import DecodeError, TransportError
from spdm.transport.doe import (
    CMA_PROTOCOLS,
    DiscoveryRequest,
    DiscoveryResponse,
    DoeMailboxResponder,
    DoeTransport,
    DoeType,
    decode_discovery_request,
    decode_discovery_response,
    decode_object,
    discovery_response_object,
    encode_discovery_request,
    encode_discovery_response,
    encode_object,
    read_discovery_request,
    read_discovery_response,
)
from spdm.transport.doe_host import DoeHostLink, answer_discovery
from spdm.transport.mailbox import DoeMailbox
from spdm.transport.socket import Command, SocketServer, SocketTransportType, frame, unpack_header

WAIT = 2.0


def unanswerable(request: bytes, session_id: int | None) -> bytes:
    raise AssertionError("discovery must not reach the SPDM responder")


def request_object(*dwords: int) -> bytes:
    return encode_object(DoeType.DISCOVERY, struct.pack(f"<{len(dwords)}I", *dwords))


# Requests QEMU and libspdm answer as a plain request for index 1, version 2 where given.
LENIENT_REQUESTS = [
    pytest.param(request_object(1, 0), 0, id="extra-dw"),
    pytest.param(request_object(1, 0xFFFF_FFFF, 0xFFFF_FFFF), 0, id="two-extra-dws"),
    pytest.param(request_object(1 | 1 << 24), 0, id="reserved-byte-3"),
    pytest.param(request_object(1 | 0xFFFF << 16), 0, id="all-reserved-bits"),
    pytest.param(request_object(1 | 2 << 8 | 1 << 16, 7), 2, id="version-2-reserved-and-extra"),
]
INDEX_1_ANSWER = discovery_response_object(CMA_PROTOCOLS, 1)


# --- the rule -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("01020000", DiscoveryRequest(index=1, version=2)),
        ("0102ffff", DiscoveryRequest(index=1, version=2)),
        ("01020000 ffffffff", DiscoveryRequest(index=1, version=2)),
    ],
)
def test_read_discovery_request(payload: str, expected: DiscoveryRequest) -> None:
    assert read_discovery_request(bytes.fromhex(payload)) == expected


def test_read_discovery_response_reads_the_first_dw() -> None:
    payload = encode_discovery_response(1, 2, 0) + encode_discovery_response(0xFFFF, 0xFF, 0xFF)
    assert read_discovery_response(payload) == DiscoveryResponse(vendor_id=1, object_type=2, next_index=0)


@pytest.mark.parametrize("size", [0, 1, 3])
def test_less_than_one_dw_is_refused(size: int) -> None:
    for read in (read_discovery_request, read_discovery_response):
        with pytest.raises(DecodeError) as info:
            read(bytes(size))
        assert info.value.field == "length"


def test_captures_are_still_decoded_strictly() -> None:
    with pytest.raises(DecodeError, match="exactly 1 DW"):
        decode_discovery_request(encode_discovery_request(1) + bytes(4))
    with pytest.raises(DecodeError, match=r"\[31:16\]"):
        decode_discovery_request(struct.pack("<I", 1 | 1 << 24))
    with pytest.raises(DecodeError, match="exactly 1 DW"):
        decode_discovery_response(encode_discovery_response(1, 0, 1) + bytes(4))


# --- requests: the device, the mailbox model, a host's cache -------------------------------------


@pytest.mark.parametrize(("obj", "version"), LENIENT_REQUESTS)
def test_the_device_answers(obj: bytes, version: int) -> None:
    assert DoeMailboxResponder(unanswerable)(obj) == INDEX_1_ANSWER


@pytest.mark.parametrize(("obj", "version"), LENIENT_REQUESTS)
def test_the_mailbox_model_answers(obj: bytes, version: int) -> None:
    mailbox = DoeMailbox()
    mailbox.register_spdm(unanswerable)
    send(mailbox, obj)
    assert status(mailbox) & READY
    assert read_object(mailbox) == INDEX_1_ANSWER
    assert mailbox.discovery_version == version


@pytest.mark.parametrize(("obj", "version"), LENIENT_REQUESTS)
def test_a_hosts_cache_answers(obj: bytes, version: int) -> None:
    assert answer_discovery(CMA_PROTOCOLS, obj) == INDEX_1_ANSWER
    mailbox = DoeMailbox()
    mailbox.register_spdm(unanswerable)
    assert DoeHostLink(mailbox).exchange_object(obj) == INDEX_1_ANSWER


def test_a_request_without_its_dw_is_still_discarded_or_refused() -> None:
    empty = encode_object(DoeType.DISCOVERY, b"")
    assert DoeMailboxResponder(unanswerable)(empty) is None
    mailbox = DoeMailbox()
    send(mailbox, empty)
    assert status(mailbox) == 0 and mailbox.discarded == 1
    with pytest.raises(TransportError, match="at least 1 DW"):
        answer_discovery(CMA_PROTOCOLS, empty)


@pytest.mark.parametrize(("obj", "version"), LENIENT_REQUESTS)
def test_the_socket_server_answers_as_spdm_responder_emu_does(obj: bytes, version: int) -> None:
    """What `spdm responder` serves: the raw spdm-emu socket protocol on 127.0.0.1."""
    with (
        SocketServer(DoeMailboxResponder(unanswerable), port=0).start() as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock,
    ):
        sock.sendall(frame(Command.NORMAL, SocketTransportType.PCI_DOE, obj))
        reply = sock.makefile("rb")
        command, _, size = unpack_header(reply.read(12))
        assert (command, reply.read(size)) == (Command.NORMAL, INDEX_1_ANSWER)
        reply.close()


# --- responses: the host's walk --------------------------------------------------------------------


def padded(answer: bytes, extra: bytes = bytes(4)) -> bytes:
    """A discovery response object with `extra` after its DW."""
    return encode_object(DoeType.DISCOVERY, decode_object(answer).payload + extra)


class PaddedLink:
    """A `DoeLink` to a device whose discovery responses carry one extra DW."""

    def __init__(self) -> None:
        self.device = DoeMailboxResponder(unanswerable)

    def exchange_object(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        answer = self.device(obj)
        assert answer is not None
        return padded(answer, b"\xff\xff\xff\xff")

    def close(self) -> None:
        pass


class PaddedDiscoveryMailbox(DoeMailbox):
    """A device whose discovery responses carry one extra (zero) DW."""

    def _discovery(self, obj: bytes) -> bytes | None:
        answer = super()._discovery(obj)
        return None if answer is None else padded(answer)


def test_doe_transport_reads_a_longer_response() -> None:
    assert DoeTransport(PaddedLink()).protocols == CMA_PROTOCOLS


def test_doe_host_link_reads_a_longer_response() -> None:
    mailbox = PaddedDiscoveryMailbox()
    mailbox.register_spdm(unanswerable)
    assert DoeHostLink(mailbox).protocols == CMA_PROTOCOLS


class EmptyDiscoveryLink(PaddedLink):
    """A device whose discovery response has no DW at all."""

    def exchange_object(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        return encode_object(DoeType.DISCOVERY, b"")


def test_a_response_without_its_dw_is_refused() -> None:
    with pytest.raises(TransportError, match="at least 1 DW"):
        _ = DoeTransport(EmptyDiscoveryLink()).protocols
