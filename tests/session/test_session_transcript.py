"""TH1/TH2 construction on synthetic messages: exactly which bytes each digest covers, the misuse
the transcript refuses (padding passed in, Hash(CM) missing, twice or in a PSK session), and a side
that builds each handshake message agreeing with the side that receives it."""

from __future__ import annotations

import hashlib

import pytest

from spdm.crypto import SignatureInput, aead_suite, hash_suite
from spdm.errors import NegotiationError
from spdm.messages import encode
from spdm.messages.codes import AeadAlgorithm, BaseHashAlgo, CapabilityFlags
from spdm.messages.key_exchange import Finish, FinishRsp, KeyExchangeRsp
from spdm.messages.psk import PskExchangeRsp, PskFinish, PskFinishRsp
from spdm.session import KeySchedule, SessionTranscript
from spdm.transcript import ConnectionTranscript

SHA_256 = hash_suite(BaseHashAlgo.SHA_256)
A = b"VCA messages"
CT = hashlib.sha256(b"responder chain").digest()
CM = hashlib.sha256(b"requester chain").digest()
KE = b"\x11\xe4" + bytes(100)


def _h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def _key_exchange_rsp(verify_data: bytes | None) -> tuple[bytes, KeyExchangeRsp]:
    message = KeyExchangeRsp(
        rsp_session_id=0xFFFF,
        mut_auth_requested=1,
        random_data=bytes(32),
        exchange_data=bytes(range(64)),
        opaque_data=b"opaq",
        signature=bytes([7] * 64),
        responder_verify_data=verify_data,
    )
    return encode(message), message


def test_dhe_with_mutual_authentication() -> None:
    rsp, rsp_msg = _key_exchange_rsp(bytes([9] * 32))
    body, signature, verify_data = rsp[:-96], rsp[-96:-32], rsp[-32:]
    assert signature == bytes([7] * 64) and verify_data == bytes([9] * 32)
    transcript = SessionTranscript(SHA_256, A, responder_chain_hash=CT, spdm_version=0x11)
    transcript.add_exchange_request(KE)
    exchange = transcript.add_key_exchange_rsp(rsp, rsp_msg)
    assert exchange.signed == SignatureInput(_h(A, CT, KE, body), None)
    assert exchange.th1 == transcript.th1 == _h(A, CT, KE, body, signature)
    finish_msg = Finish(attributes=1, signature=bytes([3] * 64), requester_verify_data=bytes([4] * 32))
    finish = encode(finish_msg)
    with pytest.raises(ValueError, match="Hash\\(CM\\)"):
        transcript.add_finish(finish, finish_msg)
    transcript.add_requester_chain_hash(CM)
    with pytest.raises(ValueError):
        transcript.add_requester_chain_hash(CM)
    digests = transcript.add_finish(finish, finish_msg)
    k = (A, CT, KE, rsp)
    assert digests.signed == SignatureInput(_h(*k, CM, finish[:4]), None)
    assert digests.verify_digest == _h(*k, CM, finish[:4], bytes([3] * 64))
    assert transcript.add_finish_rsp(b"\x11\x65\x00\x00") is None
    assert transcript.th2 == _h(*k, CM, finish, b"\x11\x65\x00\x00")


def test_dhe_handshake_in_the_clear() -> None:
    rsp, rsp_msg = _key_exchange_rsp(None)
    transcript = SessionTranscript(SHA_256, A, responder_chain_hash=CT, spdm_version=0x11)
    transcript.add_exchange_request(KE)
    assert transcript.add_key_exchange_rsp(rsp, rsp_msg).th1 == _h(A, CT, KE, rsp)
    finish_msg = Finish(requester_verify_data=bytes([4] * 32))
    finish = encode(finish_msg)
    digests = transcript.add_finish(finish, finish_msg)
    assert digests.signed is None and digests.verify_digest == _h(A, CT, KE, rsp, finish[:4])
    finish_rsp_msg = FinishRsp(responder_verify_data=bytes([5] * 32))
    finish_rsp = encode(finish_rsp_msg)
    assert transcript.add_finish_rsp(finish_rsp, finish_rsp_msg) == _h(A, CT, KE, rsp, finish, finish_rsp[:4])
    assert transcript.th2 == _h(A, CT, KE, rsp, finish, finish_rsp)


def test_psk_with_and_without_psk_finish() -> None:
    rsp_msg = PskExchangeRsp(rsp_session_id=1, responder_context=bytes(8), responder_verify_data=bytes([6] * 32))
    rsp = encode(rsp_msg)
    request = b"\x11\xe6" + bytes(30)
    transcript = SessionTranscript.for_psk(SHA_256, A)
    transcript.add_exchange_request(request)
    exchange = transcript.add_psk_exchange_rsp(rsp, rsp_msg)
    assert exchange.signed is None and exchange.th1 == _h(A, request, rsp[:-32])
    no_finish = SessionTranscript.for_psk(SHA_256, A)
    no_finish.add_exchange_request(request)
    no_finish.add_psk_exchange_rsp(rsp, rsp_msg)
    assert no_finish.mark_th2() == _h(A, request, rsp)
    finish_msg = PskFinish(requester_verify_data=bytes([2] * 32))
    finish = encode(finish_msg)
    assert transcript.add_psk_finish(finish, finish_msg).verify_digest == _h(A, request, rsp, finish[:4])
    transcript.add_finish_rsp(b"\x11\x67\x00\x00")
    assert transcript.th2 == _h(A, request, rsp, finish, b"\x11\x67\x00\x00")
    with pytest.raises(ValueError):
        transcript.add_requester_chain_hash(CM)


@pytest.mark.parametrize("with_context", [True, False])
def test_th2_after_psk_exchange_rsp_follows_the_responders_psk_cap(with_context: bool) -> None:
    """PSK_CAP 10b: PSK_FINISH follows and TH2 waits for its response; 01b: TH2 = TH1 || verify data at once."""
    rsp_msg = PskExchangeRsp(rsp_session_id=1, responder_verify_data=bytes([6] * 32))
    rsp = encode(rsp_msg)
    request = b"\x11\xe6" + bytes(30)
    transcript = SessionTranscript.for_psk(SHA_256, A)
    transcript.add_exchange_request(request)
    transcript.add_psk_exchange_rsp(rsp, rsp_msg)
    flags = CapabilityFlags.PSK_CAP_WITH_CONTEXT if with_context else CapabilityFlags.PSK_CAP_NO_CONTEXT
    th2 = transcript.mark_th2_after_psk_exchange(int(flags))
    assert (th2, transcript.th2) == ((None, None) if with_context else (_h(A, request, rsp),) * 2)
    dhe = SessionTranscript(SHA_256, A, responder_chain_hash=CT, spdm_version=0x11)
    with pytest.raises(ValueError):
        dhe.mark_th2_after_psk_exchange(int(flags))


def test_exact_bytes_only() -> None:
    """Transport padding handed in with a message would shift every field: refused, never hashed."""
    rsp, rsp_msg = _key_exchange_rsp(None)
    transcript = SessionTranscript(SHA_256, A, responder_chain_hash=CT, spdm_version=0x11)
    transcript.add_exchange_request(KE)
    with pytest.raises(ValueError):
        transcript.add_key_exchange_rsp(rsp + b"\x00\x00", rsp_msg)
    finish_msg = Finish(requester_verify_data=bytes([4] * 32))
    with pytest.raises(ValueError):
        transcript.add_finish(encode(finish_msg) + b"\x00", finish_msg)
    with pytest.raises(ValueError):
        transcript.add_finish_rsp(b"\x11\x65\x00\x00\x00")
    with pytest.raises(ValueError):
        SessionTranscript(SHA_256, A, responder_chain_hash=CT[:-1], spdm_version=0x11)
    psk_rsp = PskExchangeRsp(rsp_session_id=1, responder_verify_data=bytes(32))
    with pytest.raises(ValueError):
        transcript.add_psk_exchange_rsp(encode(psk_rsp), psk_rsp)


def test_a_running_hash_of_a_continues_like_a_itself() -> None:
    """The connection hashes A once and hands each session a copy; the copy is the session's own."""
    connection = ConnectionTranscript()
    connection.add_vca(A[:5], A[5:])
    connection.set_hash(SHA_256, 0x11)
    first = SessionTranscript.for_psk(SHA_256, connection.vca_hash())
    second = SessionTranscript(SHA_256, connection.vca_hash(), responder_chain_hash=CT, spdm_version=0x11)
    first.add_exchange_request(b"K")
    assert first.mark_th1() == _h(A, b"K")
    assert second.mark_th1() == _h(A, CT)
    assert SessionTranscript.for_psk(SHA_256, connection.vca_hash()).mark_th1() == _h(A)
    with pytest.raises(ValueError, match="48-byte digests"):
        SessionTranscript.for_psk(SHA_256, hashlib.sha384())


def test_the_running_hash_of_a_follows_a() -> None:
    connection = ConnectionTranscript()
    connection.add_vca(A)
    connection.set_hash(SHA_256, 0x11)
    assert SessionTranscript.for_psk(SHA_256, connection.vca_hash()).mark_th1() == _h(A)
    connection.add_vca(b"more")
    assert SessionTranscript.for_psk(SHA_256, connection.vca_hash()).mark_th1() == _h(A, b"more")
    connection.set_hash(hash_suite(BaseHashAlgo.SHA_384), 0x11)
    assert connection.vca_hash().digest() == hashlib.sha384(A + b"more").digest()
    connection.restart()
    connection.add_vca(b"new")
    with pytest.raises(NegotiationError):
        connection.vca_hash()
    connection.set_hash(SHA_256, 0x11)
    assert connection.vca_hash().digest() == _h(b"new")


# --- the side that builds each message and the side that receives it agree ---------------------------


def _schedule(secret: bytes) -> KeySchedule:
    return KeySchedule(SHA_256, aead_suite(AeadAlgorithm.AES_128_GCM), secret, spdm_version=0x11)


@pytest.mark.parametrize("in_the_clear", [False, True], ids=["encrypted", "in-the-clear"])
def test_dhe_built_and_received_agree(in_the_clear: bool) -> None:
    """The responder's `build_key_exchange_rsp`/`build_finish_rsp` and the requester's `build_finish`
    meet the other side's `add_*` methods: every signature, verify data and TH2 checks, with mutual
    authentication, ResponderVerifyData in KEY_EXCHANGE_RSP or (in the clear) in FINISH_RSP."""
    responder = SessionTranscript(SHA_256, A, responder_chain_hash=CT, spdm_version=0x11)
    requester = SessionTranscript(SHA_256, A, responder_chain_hash=CT, spdm_version=0x11)
    for side in (responder, requester):
        side.add_exchange_request(KE)
    schedule = _schedule(b"dhe secret")
    template = KeyExchangeRsp(
        rsp_session_id=0xFFFF,
        mut_auth_requested=1,
        random_data=bytes(32),
        exchange_data=bytes(range(64)),
        opaque_data=b"opaq",
        signature=b"",
        responder_verify_data=None,
    )
    unsigned = encode(template)
    signed: list[bytes] = []

    def sign(digest: bytes) -> bytes:
        signed.append(digest)
        return bytes([7] * 64)

    response, handshake = responder.build_key_exchange_rsp(
        unsigned, sign=sign, schedule=schedule, verify_data=not in_the_clear
    )
    verify = None if in_the_clear else response[-32:]
    message = KeyExchangeRsp(**{**_fields(template), "signature": bytes([7] * 64), "responder_verify_data": verify})
    assert encode(message) == response
    digests = requester.add_key_exchange_rsp(response, message)
    assert signed == [digests.signed] and digests.th1 == responder.th1
    assert handshake == schedule.handshake(digests.th1)
    if verify is not None:
        schedule.check_verify_data(handshake.response_finished_key, digests.th1, verify)

    requester.add_requester_chain_hash(CM)
    responder.add_requester_chain_hash(CM)
    header = encode(Finish(attributes=1, signature=bytes(64), requester_verify_data=bytes(32)))[:4]
    finish_signed: list[bytes] = []
    request = requester.build_finish(
        header,
        finished_key=handshake.request_finished_key,
        sign=lambda digest: finish_signed.append(digest) or bytes([3] * 64),
    )
    finish = Finish(attributes=1, signature=request[4:68], requester_verify_data=request[68:])
    received = responder.add_finish(request, finish)
    assert finish_signed == [received.signed]
    schedule.check_verify_data(handshake.request_finished_key, received.verify_digest, finish.requester_verify_data)

    rsp_header = encode(FinishRsp(responder_verify_data=None))
    finished_key = handshake.response_finished_key if in_the_clear else None
    finish_rsp = responder.build_finish_rsp(rsp_header, finished_key=finished_key)
    answer = FinishRsp(responder_verify_data=finish_rsp[4:] if in_the_clear else None)
    verify_digest = requester.add_finish_rsp(finish_rsp, answer)
    assert requester.th2 == responder.th2 is not None
    if in_the_clear:
        assert verify_digest is not None and answer.responder_verify_data is not None
        schedule.check_verify_data(handshake.response_finished_key, verify_digest, answer.responder_verify_data)
    else:
        assert verify_digest is None and finish_rsp == rsp_header


def test_psk_built_and_received_agree() -> None:
    responder = SessionTranscript.for_psk(SHA_256, A)
    requester = SessionTranscript.for_psk(SHA_256, A)
    for side in (responder, requester):
        side.add_exchange_request(KE)
    schedule = _schedule(b"psk")
    template = PskExchangeRsp(rsp_session_id=1, responder_context=bytes(64), responder_verify_data=b"")
    response, handshake = responder.build_psk_exchange_rsp(encode(template), schedule=schedule)
    message = PskExchangeRsp(rsp_session_id=1, responder_context=bytes(64), responder_verify_data=response[-32:])
    digests = requester.add_psk_exchange_rsp(response, message)
    assert digests.th1 == responder.th1
    schedule.check_verify_data(handshake.response_finished_key, digests.th1, message.responder_verify_data)
    header = encode(PskFinish(requester_verify_data=bytes(32)))[:4]
    request = requester.build_psk_finish(header, finished_key=handshake.request_finished_key)
    finish = PskFinish(requester_verify_data=request[4:])
    checked = responder.copy()
    received = checked.add_psk_finish(request, finish)
    assert responder.th2 is None and checked.copy().mark_th2() != responder.copy().mark_th2()  # the copy moved on alone
    schedule.check_verify_data(handshake.request_finished_key, received.verify_digest, finish.requester_verify_data)
    psk_finish_rsp = checked.build_finish_rsp(encode(PskFinishRsp()))
    requester.add_finish_rsp(psk_finish_rsp)
    assert requester.th2 == checked.th2 is not None


def test_builders_refuse_misuse() -> None:
    dhe = SessionTranscript(SHA_256, A, responder_chain_hash=CT, spdm_version=0x11)
    psk = SessionTranscript.for_psk(SHA_256, A)
    schedule = _schedule(b"x")
    with pytest.raises(ValueError, match="PSK"):
        psk.build_key_exchange_rsp(b"\x11\x64\x00\x00", sign=lambda digest: b"", schedule=schedule)
    with pytest.raises(ValueError, match="certificate-based"):
        dhe.build_psk_exchange_rsp(b"\x11\x66\x00\x00", schedule=schedule)
    with pytest.raises(ValueError, match="Hash\\(CM\\)"):
        dhe.build_finish(b"\x11\xe5\x01\x00", finished_key=bytes(32), sign=lambda digest: bytes(64))
    with pytest.raises(ValueError, match="header"):
        dhe.build_finish(b"\x11\xe5\x00\x00\x00", finished_key=bytes(32))
    with pytest.raises(ValueError, match="header"):
        dhe.build_finish_rsp(b"\x11\x65\x00")


def _fields(message: KeyExchangeRsp) -> dict[str, object]:
    return {name: getattr(message, name) for name in message.__dataclass_fields__}
