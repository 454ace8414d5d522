"""DMTF libspdm's SPDM 1.3 capture y2_ replayed whole through our requester, byte for byte.

y2_ (spdm-emu at 1.3, a multi-key connection, slots 0 and 4 with their own keys): the clear part
(DIGESTS, CERTIFICATE of slots 0 and 4, CHALLENGE, MEASUREMENTS, MEASUREMENT_EXTENSION_LOG, signed
ENDPOINT_INFO, the responder's encapsulated GET_ENDPOINT_INFO answered by our requester, KEY_PAIR_INFO,
SET_KEY_PAIR_INFO change and erase), then two DHE sessions (slot 0, slot 4) each with the MEL, signed
endpoint info both ways and KEY_PAIR_INFO, closed with END_SESSION. `spdm.testing.replay` serves the
recorded responses and refuses any request that differs from libspdm's. What libspdm drew at random
(nonces, RequesterContexts, ReqSessionID, RandomData) is injected; its ephemeral DHE key through the
recorded key share; its requester signatures (randomised ECDSA over the encapsulated ENDPOINT_INFO's
IL, key ecp384/end_requester.key, chain req_slot0_certchain_raw.der) are handed out only if they
verify over the IL our requester asks to have signed. So every request record, the session
transcripts (TH1/TH2 with message D) and the requester's three ENDPOINT_INFO answers are libspdm's.

One setting differs from our defaults: the requester's first GET_MEASUREMENT_EXTENSION_LOG asks for
as much as one response may carry, its MaxSPDMmsgSize less 12, bounded by the largest response it
decodes (`Limits.max_response_bytes`, 0x11000 by default); spdm-emu's requester takes whole
0x28000-byte messages (its MaxSPDMmsgSize, Length 0x27FF4), so the replay raises that bound to match.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from key_pair_fixtures import Y2
from test_key_pairs_replay import _anchors
from test_requester_sessions_replay import Capture, _capture, _config, _key_shares

from spdm.certs import load_certificate, load_certificates
from spdm.crypto import asym_suite, hash_suite
from spdm.limits import DEFAULT_LIMITS
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, KeyPairOperation, SummaryHashType
from spdm.messages.encapsulated import DeliverEncapsulatedResponse
from spdm.messages.endpoint_info import EndpointInfo
from spdm.requester import Requester, RequesterIdentity
from spdm.testing.replay import ReplayTransport, recorded_signer

MAX_SPDM_MSG_SIZE = 0x28000
"""spdm-emu's MaxSPDMmsgSize (libspdm's Debug build), in y2_'s GET_CAPABILITIES."""


def _requester_answers(capture: Capture) -> list[EndpointInfo]:
    """The requester's signed ENDPOINT_INFO answers (clear, session 1, session 2), decoded."""
    answers = [capture.delivered(message) for message in capture.plain(DeliverEncapsulatedResponse)]
    return [answer for answer in answers if isinstance(answer, EndpointInfo)]


def _identity(capture: Capture, keys: Path, folder: Path) -> RequesterIdentity:
    """spdm-emu's requester identity in slot 0: its chain (never on the wire) and libspdm's signatures."""
    certificates = load_certificates((folder / "req_slot0_certchain_raw.der").read_bytes())
    leaf = load_certificate(certificates[-1]).public_key()
    key = serialization.load_pem_private_key((keys / "end_requester.key").read_bytes(), password=None)
    assert key.public_key() == leaf  # the chain is the one of spdm-emu's requester key
    signatures = [answer.signature for answer in _requester_answers(capture) if answer.signature is not None]
    p384, sha384 = asym_suite(BaseAsymAlgo.ECDSA_P384), hash_suite(BaseHashAlgo.SHA_384)
    return RequesterIdentity(certificates=certificates, sign=recorded_signer(signatures, leaf, p384, sha384))


def test_y2_replays_whole_through_the_requester(libspdm_vectors: Path, libspdm_v12_v13_vectors: Path) -> None:
    folder = libspdm_v12_v13_vectors / Y2
    capture = _capture(libspdm_v12_v13_vectors, Y2)
    ep_info = _requester_answers(capture)[0].ep_info
    config = _config(
        capture,
        libspdm_v12_v13_vectors,
        dhe_key_share=_key_shares(capture),
        trust_anchors=_anchors(libspdm_v12_v13_vectors),
        identities={0: _identity(capture, libspdm_vectors / "sample_key" / "ecp384", folder)},
        endpoint_info=ep_info,
        limits=dataclasses.replace(DEFAULT_LIMITS, max_response_bytes=MAX_SPDM_MSG_SIZE),
    )
    transport = ReplayTransport.from_messages(capture.items)
    requester = Requester(transport, config)

    negotiated = requester.init_connection()
    assert negotiated.version == 0x13 and negotiated.responder_multi_key and negotiated.requester_multi_key
    requester.get_digests()
    for slot in (0, 4):
        requester.get_certificate(slot)
        requester.verify_certificate(slot)
    assert requester.challenge(0, SummaryHashType.ALL).measurement_summary_hash is not None
    requester.get_digests()
    requester.get_certificate(0)
    requester.get_digests()
    assert requester.get_measurements(0xFF, signed=True, slot=0).signed
    assert len(requester.get_measurement_extension_log().log.entries) == 3
    assert requester.get_endpoint_info(signed=True, slot=0).ep_info
    assert requester.serve_encapsulated_requests() == 1  # the responder's GET_ENDPOINT_INFO
    assert requester.get_key_pair_info(1).total_key_pairs == 24
    assert not requester.set_key_pair_info(1, KeyPairOperation.CHANGE).reset_required
    assert not requester.set_key_pair_info(1, KeyPairOperation.ERASE).reset_required
    for slot, expected in zip((0, 4), capture.entry["sessions_key_schedule"], strict=True):
        session = requester.key_exchange(slot, summary_hash_type=0xFF)
        assert session.th1 == bytes.fromhex(expected["th1"])  # A || D || Hash(Ct) || KEY_EXCHANGE ...
        assert session.th2 == bytes.fromhex(expected["th2"])
        assert len(session.get_measurement_extension_log().log.entries) == 3
        assert session.get_endpoint_info(signed=True, slot=slot).ep_info
        assert session.serve_encapsulated_requests() == 1
        assert session.get_key_pair_info(1).total_key_pairs == 24
        session.close(clear_negotiated_state=True)  # spdm-emu's END_SESSION sets PreserveStateClear
    assert transport.done(), "the capture holds records the requester did not send"
