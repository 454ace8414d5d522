"""TH1/TH2 construction on synthetic messages: exactly which bytes each digest covers, and the
misuse the transcript refuses (padding passed in, Hash(CM) missing, twice or in a PSK session)."""

from __future__ import annotations

import hashlib

import pytest

from spdm.crypto import hash_suite
from spdm.errors import NegotiationError
from spdm.messages import encode
from spdm.messages.codes import BaseHashAlgo
from spdm.messages.key_exchange import Finish, FinishRsp, KeyExchangeRsp
from spdm.messages.psk import PskExchangeRsp, PskFinish
from spdm.session import SessionTranscript
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
    transcript = SessionTranscript(SHA_256, A, responder_chain_hash=CT)
    transcript.add_exchange_request(KE)
    exchange = transcript.add_key_exchange_rsp(rsp, rsp_msg)
    assert exchange.signature_digest == _h(A, CT, KE, body)
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
    assert digests.signature_digest == _h(*k, CM, finish[:4])
    assert digests.verify_digest == _h(*k, CM, finish[:4], bytes([3] * 64))
    assert transcript.add_finish_rsp(b"\x11\x65\x00\x00") is None
    assert transcript.th2 == _h(*k, CM, finish, b"\x11\x65\x00\x00")


def test_dhe_handshake_in_the_clear() -> None:
    rsp, rsp_msg = _key_exchange_rsp(None)
    transcript = SessionTranscript(SHA_256, A, responder_chain_hash=CT)
    transcript.add_exchange_request(KE)
    assert transcript.add_key_exchange_rsp(rsp, rsp_msg).th1 == _h(A, CT, KE, rsp)
    finish_msg = Finish(requester_verify_data=bytes([4] * 32))
    finish = encode(finish_msg)
    digests = transcript.add_finish(finish, finish_msg)
    assert digests.signature_digest is None and digests.verify_digest == _h(A, CT, KE, rsp, finish[:4])
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
    assert exchange.signature_digest is None and exchange.th1 == _h(A, request, rsp[:-32])
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


def test_exact_bytes_only() -> None:
    """Transport padding handed in with a message would shift every field: refused, never hashed."""
    rsp, rsp_msg = _key_exchange_rsp(None)
    transcript = SessionTranscript(SHA_256, A, responder_chain_hash=CT)
    transcript.add_exchange_request(KE)
    with pytest.raises(ValueError):
        transcript.add_key_exchange_rsp(rsp + b"\x00\x00", rsp_msg)
    finish_msg = Finish(requester_verify_data=bytes([4] * 32))
    with pytest.raises(ValueError):
        transcript.add_finish(encode(finish_msg) + b"\x00", finish_msg)
    with pytest.raises(ValueError):
        transcript.add_finish_rsp(b"\x11\x65\x00\x00\x00")
    with pytest.raises(ValueError):
        SessionTranscript(SHA_256, A, responder_chain_hash=CT[:-1])
    psk_rsp = PskExchangeRsp(rsp_session_id=1, responder_verify_data=bytes(32))
    with pytest.raises(ValueError):
        transcript.add_psk_exchange_rsp(encode(psk_rsp), psk_rsp)


def test_a_running_hash_of_a_continues_like_a_itself() -> None:
    """The connection hashes A once and hands each session a copy; the copy is the session's own."""
    connection = ConnectionTranscript()
    connection.add_vca(A[:5], A[5:])
    connection.set_hash(SHA_256.new)
    first = SessionTranscript.for_psk(SHA_256, connection.vca_hash())
    second = SessionTranscript(SHA_256, connection.vca_hash(), responder_chain_hash=CT)
    first.append(b"K")
    assert first.mark_th1() == _h(A, b"K")
    assert second.mark_th1() == _h(A, CT)
    assert SessionTranscript.for_psk(SHA_256, connection.vca_hash()).mark_th1() == _h(A)
    with pytest.raises(ValueError, match="48-byte digests"):
        SessionTranscript.for_psk(SHA_256, hashlib.sha384())


def test_the_running_hash_of_a_follows_a() -> None:
    connection = ConnectionTranscript()
    connection.add_vca(A)
    connection.set_hash(SHA_256.new)
    assert SessionTranscript.for_psk(SHA_256, connection.vca_hash()).mark_th1() == _h(A)
    connection.add_vca(b"more")
    assert SessionTranscript.for_psk(SHA_256, connection.vca_hash()).mark_th1() == _h(A, b"more")
    connection.set_hash(hash_suite(BaseHashAlgo.SHA_384).new)
    assert connection.vca_hash().digest() == hashlib.sha384(A + b"more").digest()
    connection.restart()
    connection.add_vca(b"new")
    with pytest.raises(NegotiationError):
        connection.vca_hash()
    connection.set_hash(SHA_256.new)
    assert connection.vca_hash().digest() == _h(b"new")
