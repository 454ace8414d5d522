"""Our requester against ERROR ResponseTooLarge and LargeResponse without their ExtendedErrorData, as a
libspdm responder sends them: ResponseTooLarge answering a CHUNK_GET it cannot serve
(libspdm_rsp_chunk_response.c), LargeResponse from a build without LIBSPDM_ENABLE_CAPABILITY_CHUNK_CAP
(libspdm_rsp_receive_send.c). The first is the responder's error, its size unknown; the second leaves
nothing to fetch, and libspdm's requester refuses it (libspdm_handle_error_large_response)."""

from __future__ import annotations

import dataclasses

import pytest

from spdm.errors import PeerError, ProtocolError
from spdm.messages import encode
from spdm.messages.codes import CapabilityFlags, Code, ErrorCode
from spdm.messages.error import ErrorResponse, LargeResponse
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.transport.loopback import LoopbackTransport

CHUNK = int(CapabilityFlags.CHUNK_CAP)
TOO_LARGE_NO_SIZE = bytes.fromhex("137f0d00")
LARGE_NO_HANDLE = bytes.fromhex("137f0f00")


def _requester(answer_digests: bytes, answer_chunk_get: bytes | None = None) -> Requester:
    """A requester connected (SPDM 1.3, both with CHUNK_CAP) to our responder, whose GET_DIGESTS is
    answered with `answer_digests` and CHUNK_GET with `answer_chunk_get`."""
    base = demo_config()
    responder = Responder(dataclasses.replace(base, capabilities=base.capabilities | CHUNK))

    def respond(request: bytes, session_id: int | None = None) -> bytes:
        if request[1] == Code.GET_DIGESTS:
            return answer_digests
        if request[1] == Code.CHUNK_GET and answer_chunk_get is not None:
            return answer_chunk_get
        return responder.respond(request, session_id)

    config = RequesterConfig(trust_anchors={0: base.slots[0].certificates[0]})
    config = dataclasses.replace(config, capabilities=config.capabilities | CHUNK)
    requester = Requester(LoopbackTransport(respond), config)
    requester.init_connection()
    return requester


def test_response_too_large_without_its_size_is_the_responders_error() -> None:
    announce = encode(
        ErrorResponse(version=0x13, error_code=ErrorCode.LargeResponse, extended_data=LargeResponse(handle=1))
    )
    requester = _requester(announce, TOO_LARGE_NO_SIZE)
    with pytest.raises(PeerError) as raised:
        requester.get_digests()
    assert raised.value.error_code == ErrorCode.ResponseTooLarge
    assert raised.value.response == ErrorResponse(version=0x13, error_code=ErrorCode.ResponseTooLarge)


def test_large_response_without_its_handle_is_refused() -> None:
    requester = _requester(LARGE_NO_HANDLE)
    with pytest.raises(ProtocolError, match="ERROR\\(LargeResponse\\) without its Handle") as raised:
        requester.get_digests()
    assert not isinstance(raised.value, PeerError)
