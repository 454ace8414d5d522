"""A secured request answered in the clear: only the ERRORs a responder sends for a record it
cannot open (InvalidSession, DecryptError) are acted on; any other clear answer is unauthenticated
and counts as a response that does not open, as libspdm_receive_response fails when a secured
message was expected and the answer is not one."""

from __future__ import annotations

import dataclasses

import pytest

from spdm.errors import PeerError
from spdm.messages import encode
from spdm.messages.codes import CapabilityFlags, Code, ErrorCode
from spdm.messages.error import ErrorResponse, LargeResponse, ResponseNotReady
from spdm.requester import Requester, RequesterConfig, Session, SessionDecryptError
from spdm.responder import Responder, demo_config
from spdm.transport.loopback import LoopbackTransport

CHUNK = CapabilityFlags.CHUNK_CAP
TRANSFER_SIZE = 64  # both sides chunk: a LargeResponse would be followed with CHUNK_GET


class Forger:
    """Our responder behind a transport that, once armed, answers the next secured request with
    `forged` in the clear; `sent` counts the requests that reached it after that."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.forged: bytes | None = None
        self.sent = 0

    def respond(self, request: bytes, session_id: int | None) -> bytes:
        forged = self.forged
        if forged is None:
            return self.responder.respond(request, session_id)
        self.sent += 1
        if session_id is None:
            return self.responder.respond(request, session_id)
        return forged


def _session(forged: ErrorResponse) -> tuple[Requester, Session, Forger, list[float]]:
    """A DHE session at version 1.2 with chunking on both sides, then the forgery armed."""
    base = demo_config(sessions=True)
    responder_config = dataclasses.replace(
        base, capabilities=base.capabilities | CHUNK, data_transfer_size=TRANSFER_SIZE
    )
    forger = Forger(Responder(responder_config))
    slept: list[float] = []
    config = RequesterConfig.with_sessions(trust_anchors={0: base.slots[0].certificates[0]}, sleep=slept.append)
    config = dataclasses.replace(
        config, versions=(0x12,), capabilities=config.capabilities | CHUNK, data_transfer_size=TRANSFER_SIZE
    )
    requester = Requester(LoopbackTransport(forger.respond), config)
    requester.init_connection()
    session = requester.key_exchange(0)
    session.heartbeat()
    forger.forged = encode(dataclasses.replace(forged, version=0x12))
    return requester, session, forger, slept


NOT_READY = ResponseNotReady(rd_exponent=31, request_code=Code.HEARTBEAT, token=1, rdtm=2)


@pytest.mark.parametrize(
    "forged",
    [
        ErrorResponse(error_code=ErrorCode.ResponseNotReady, extended_data=NOT_READY),
        ErrorResponse(error_code=ErrorCode.Busy),
        ErrorResponse(error_code=ErrorCode.LargeResponse, extended_data=LargeResponse(handle=1)),
        ErrorResponse(error_code=ErrorCode.Unspecified),
    ],
    ids=["response-not-ready", "busy", "large-response", "unspecified"],
)
def test_a_clear_error_answering_a_record_tears_the_session_down(forged: ErrorResponse) -> None:
    """No wait, no retry, no CHUNK_GET: the session is torn down at once."""
    requester, session, forger, slept = _session(forged)
    with pytest.raises(SessionDecryptError, match="torn down"):
        session.heartbeat()
    assert slept == [] and forger.sent == 1
    assert session.closed and not requester.sessions


@pytest.mark.parametrize(
    "error_code", [ErrorCode.InvalidSession, ErrorCode.DecryptError], ids=["invalid-session", "decrypt-error"]
)
def test_the_errors_for_a_record_that_did_not_open_are_acted_on(error_code: ErrorCode) -> None:
    """The responder's own clear answers to a record: InvalidSession leaves the session as it is,
    DecryptError ends it (libspdm frees a session on ERROR DecryptError)."""
    _, session, forger, slept = _session(ErrorResponse(error_code=error_code))
    with pytest.raises(PeerError) as refused:
        session.heartbeat()
    assert refused.value.error_code == error_code and slept == [] and forger.sent == 1
    assert session.closed is (error_code == ErrorCode.DecryptError)
