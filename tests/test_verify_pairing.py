"""`RequestPairing`, the one rule by which `spdm verify` and the session replay pair a request with its
final answer: a request stays pending after ERROR ResponseNotReady, the RESPOND_IF_READY that follows
is not a new request, and any other request starts afresh."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

from spdm.capture import LINKTYPE_PCI_DOE, CaptureSecrets, CaptureWriter, RecordingTransport, read_pcap
from spdm.messages.certificates import Digests, GetCertificate, GetDigests
from spdm.messages.codes import Code, ErrorCode
from spdm.messages.error import ErrorResponse, RespondIfReady, ResponseNotReady
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.transport.loopback import LoopbackTransport
from spdm.verify import verify_capture
from spdm.verify.pairing import RequestPairing

_NOT_READY = ErrorResponse(
    error_code=ErrorCode.ResponseNotReady,
    extended_data=ResponseNotReady(rd_exponent=1, request_code=Code.GET_DIGESTS, token=0, rdtm=2),
)
_RESPOND_IF_READY = RespondIfReady(request_code=Code.GET_DIGESTS, token=0)
_DIGESTS = Digests(slot_mask=1, digests=(bytes(48),))
_VECTOR = Path(__file__).resolve().parents[1] / "vectors" / "err_not_ready_p384_sha384"


def test_the_answer_respond_if_ready_fetches_answers_the_pending_request() -> None:
    pairing: RequestPairing[str] = RequestPairing()
    assert pairing.request(GetDigests(), "GET_DIGESTS")
    assert pairing.response(_NOT_READY) is None and pairing.pending == "GET_DIGESTS"
    assert not pairing.request(_RESPOND_IF_READY, "RESPOND_IF_READY")
    assert pairing.response(_NOT_READY) is None  # not ready again: asked again
    assert not pairing.request(_RESPOND_IF_READY, "RESPOND_IF_READY")
    assert pairing.response(_DIGESTS) == "GET_DIGESTS"
    assert pairing.pending is None and pairing.response(_DIGESTS) is None


def test_a_respond_if_ready_no_response_not_ready_asked_for_is_a_request_of_its_own() -> None:
    pairing: RequestPairing[str] = RequestPairing()
    assert pairing.request(_RESPOND_IF_READY, "RESPOND_IF_READY")
    assert pairing.response(_DIGESTS) == "RESPOND_IF_READY"
    # another request after ResponseNotReady abandons the pending one (our responder drops it too)
    assert pairing.request(GetDigests(), "GET_DIGESTS")
    assert pairing.response(_NOT_READY) is None
    assert pairing.request(GetCertificate(slot_param=0, offset=0, length=0x400), "GET_CERTIFICATE")
    assert pairing.request(_RESPOND_IF_READY, "RESPOND_IF_READY")
    assert pairing.response(_DIGESTS) == "RESPOND_IF_READY"


def test_verify_refuses_a_respond_if_ready_after_a_new_request() -> None:
    """err_not_ready: CHALLENGE (19) answered ResponseNotReady (20), RESPOND_IF_READY (21) fetches
    CHALLENGE_AUTH (22). With CHALLENGE sent again before the RESPOND_IF_READY, no ResponseNotReady
    asked for that one, and a CHALLENGE_AUTH must not answer it."""
    pcap = read_pcap(_VECTOR / "requester.pcap")
    anchors = {0: (_VECTOR / "root.der").read_bytes()}
    assert verify_capture(pcap, anchors).ok
    records = list(pcap.records)
    records.insert(20, records[18])
    renumbered = tuple(dataclasses.replace(record, index=index) for index, record in enumerate(records, 1))
    result = verify_capture(dataclasses.replace(pcap, records=renumbered), anchors)
    assert not result.ok
    failure = result.first_failure
    assert failure is not None and failure.record == 23
    assert failure.name == "only an ERROR answers a RESPOND_IF_READY that no ResponseNotReady asked for"



@pytest.mark.parametrize("all_keys", [False, True], ids=["update-key", "update-all-keys"])
def test_a_key_update_answered_response_not_ready_stays_in_flight(all_keys: bool) -> None:
    """libspdm's responder may answer KEY_UPDATE ResponseNotReady (libspdm_rsp_key_update_ack.c); the
    KEY_UPDATE_ACK RESPOND_IF_READY fetches then completes the update, which the replay must follow."""
    psk, hint = b"pairing psk value", b"hint"
    config = demo_config(sessions=True, psks={hint: psk})
    responder = Responder(config)
    root = config.slots[0].certificates[0]
    out = io.BytesIO()
    recording = RecordingTransport(LoopbackTransport(responder.respond), CaptureWriter(out, link_type=LINKTYPE_PCI_DOE))
    waits: list[float] = []
    settings = RequesterConfig.with_sessions(trust_anchors={0: root}, psk=psk, psk_hint=hint, sleep=waits.append)
    requester = Requester(recording, settings)
    requester.init_connection()
    session = requester.psk_exchange()
    responder.answer_not_ready(1)
    session.key_update(all_keys=all_keys)
    assert len(waits) == 1  # the KEY_UPDATE was answered ResponseNotReady
    session.heartbeat()
    session.close()
    report = verify_capture(read_pcap(out.getvalue()), {0: root}, secrets=CaptureSecrets(psk=psk))
    assert report.ok, report.first_failure
