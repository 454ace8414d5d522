"""CHALLENGE/CHALLENGE_AUTH against libspdm captures (hex from each folder's dump_full.txt)."""

from __future__ import annotations

import pytest

from spdm.errors import DecodeError, EncodeError
from spdm.messages import CodecContext, decode, decode_as, decode_prefix, encode
from spdm.messages.challenge import Challenge, ChallengeAuth

P384 = CodecContext(hash_size=48, signature_size=96, measurement_summary_hash=True)
RSA3072 = CodecContext(hash_size=32, signature_size=384, measurement_summary_hash=True)

# a_conn_ecdsap384_sha384_v11, record 19
CHALLENGE = bytes.fromhex("118300ff76c437798946d885774e0f518537c6e8cdea06a18adb723050fa918c8f79e4b0")

# a_conn_ecdsap384_sha384_v11, record 20
CHALLENGE_AUTH_P384 = bytes.fromhex(
    "11030003dc024e78fa5e45d82e45c67fb5fce2b9987adfee9ea33e56d5ed8347e8aaa3d01891727f3c5dd7a2e1ab7fd3"
    "6138375df1db8d0b756d20fc1aa2ad77118f13219e1de05e8dd375c2af2329062e4c20aa3aef5b275a50e37446b64610"
    "a5da1d53755c89701026084a796f5ad87dca1841bd2f0670124eff5541c52d8719ad0e800000213162303f448c70d922"
    "c60cfeb0d45c0569d2d4abd72737f60b1be2fa9219972d4512f0a19fa80e5734f9ad0f0cb8ce7833b71af65b29eafe36"
    "39c6b421f62871f7c2cb7867a09681b342d8fd9d5e86a676294a5326419fdac58acf553d3c3c"
)

# c_conn_rsassa3072_sha256_v11, record 20
CHALLENGE_AUTH_RSA = bytes.fromhex(
    "11030003d274765bc3efb929c64146d75448b7e2d1e070847488d9e035361802c2103e62aef927264177f22ef409bea8"
    "e15a835fa3a40939d9c63e096fe678132daa98143079256b44a444f6a274c3bae0f77214a311446e9948f96d0e6e51ed"
    "bebb66390000974cc28a94fa07c2c75037c583745210483149a50134665581816d3b5d82fbeaadb62d2cf626b82a31de"
    "94178631027247ad623a601c456c4fd8c456a06f5b87f35b8434b677a4e82f82d45a0291104ee4e0d9f1f77a1e5d8a6a"
    "c4e2a78967ce7e2a65b850a6ea88c60b8208f02d312795525c863c3c590983259cbe1fcc75c639613215a9edfa9075f1"
    "c778162b071542b8e162dcd665cd917580cb6f7978a56b747ae0d6a3efa30b49c73fd6b09bb9ffd4766ace651620740c"
    "9feb874bd8beff99830896d3fbe5f5e0dc83e5d106d1262536f52d4b6cbb3a67deb1afd746d3cb169cb734b33e4a1de4"
    "618d9b0e023f63a4f21d78180597da2646a4860e74d51fe4ce31ee9cc32a96da0abea7d65f975044c72dfd4ab139bda6"
    "168c1fcff5aaf3ce01affc4fd539b26e00a86d12c407ee1a3f302298cf8515bf3cbb4f2839305061c4215e17d39f09a3"
    "acd5a703887df2909cfe9727f0e063f6c074db9e6049559a0f7c6745a8058de90e8016460960a1b3acb73860d018c31d"
    "aa5dc4adf06f"
)

# f_conn_ecdsap384_sha384_v10, record 20 (SPDM 1.0), with 2 bytes of DOE padding
CHALLENGE_AUTH_V10_DOE = bytes.fromhex(
    "10030003dc024e78fa5e45d82e45c67fb5fce2b9987adfee9ea33e56d5ed8347e8aaa3d01891727f3c5dd7a2e1ab7fd3"
    "6138375d2476eab3a0341f824e78fb8916afb876e226b50f43e3eb2f457393632ca8a4ad3aef5b275a50e37446b64610"
    "a5da1d53755c89701026084a796f5ad87dca1841bd2f0670124eff5541c52d8719ad0e80000082e190c6631c03a68d4f"
    "11692c9cd466453ec92050a23c7dc19d0cf1808d5283614688b1807b7fec9ef9bcf887c9de1b93e4c69d7201f012101c"
    "d5edabedd585c3513fa06104f8f72b03373a84a3bfb1838e6e68b56bceff6a644d64656268df0000"
)

CHALLENGE_AUTH_V10 = CHALLENGE_AUTH_V10_DOE[:-2]

# offsets in CHALLENGE_AUTH_P384: MeasurementSummaryHash at 84, OpaqueLength at 132
P384_WITHOUT_SUMMARY = CHALLENGE_AUTH_P384[:84] + CHALLENGE_AUTH_P384[132:]


def _rejected(data: bytes, context: CodecContext | None = None) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(data, context)
    return caught.value


def _with_opaque_length(length: int) -> bytes:
    return CHALLENGE_AUTH_P384[:132] + length.to_bytes(2, "little") + CHALLENGE_AUTH_P384[134:]


@pytest.mark.parametrize(
    ("data", "context"),
    [
        (CHALLENGE, None),
        (CHALLENGE_AUTH_P384, P384),
        (CHALLENGE_AUTH_RSA, RSA3072),
        (CHALLENGE_AUTH_V10, P384),
        (P384_WITHOUT_SUMMARY, CodecContext(hash_size=48, signature_size=96)),
    ],
    ids=["challenge", "auth_p384", "auth_rsa", "auth_v10", "auth_no_summary"],
)
def test_round_trip(data: bytes, context: CodecContext | None) -> None:
    assert encode(decode(data, context)) == data


def test_challenge() -> None:
    msg = decode(CHALLENGE)
    assert isinstance(msg, Challenge)
    assert (msg.version, msg.slot_id, msg.summary_hash_type) == (0x11, 0, 0xFF)
    assert msg.nonce.hex().startswith("76c43779") and len(msg.nonce) == 32


def test_challenge_auth_p384() -> None:
    msg = decode(CHALLENGE_AUTH_P384, P384)
    assert isinstance(msg, ChallengeAuth)
    assert (msg.slot_id, msg.slot_mask, msg.basic_mut_auth_requested) == (0, 0x03, False)
    # CertChainHash is slot 0's digest from DIGESTS
    assert msg.cert_chain_hash.hex().startswith("dc024e78") and len(msg.cert_chain_hash) == 48
    assert msg.nonce.hex().startswith("f1db8d0b")
    assert msg.measurement_summary_hash is not None
    assert msg.measurement_summary_hash.hex().startswith("3aef5b27")
    assert msg.opaque_data == b""
    assert len(msg.signature) == 96 and msg.signature.hex().endswith("3c3c")


def test_challenge_auth_rsa() -> None:
    msg = decode(CHALLENGE_AUTH_RSA, RSA3072)
    assert isinstance(msg, ChallengeAuth)
    assert msg.cert_chain_hash.hex().startswith("d274765b")
    assert msg.measurement_summary_hash is not None and len(msg.measurement_summary_hash) == 32
    assert len(msg.signature) == 384


def test_challenge_auth_v10_has_the_same_layout() -> None:
    msg, used = decode_prefix(CHALLENGE_AUTH_V10_DOE, P384)
    assert used == len(CHALLENGE_AUTH_V10)
    assert isinstance(msg, ChallengeAuth) and msg.version == 0x10
    assert msg.measurement_summary_hash == decode(CHALLENGE_AUTH_P384, P384).measurement_summary_hash


def test_measurement_summary_hash_absent() -> None:
    msg = decode(P384_WITHOUT_SUMMARY, CodecContext(hash_size=48, signature_size=96))
    assert isinstance(msg, ChallengeAuth)
    assert msg.measurement_summary_hash is None


def test_attributes_slot_and_mutual_auth() -> None:
    msg = ChallengeAuth(
        attributes=0x81, slot_mask=0x02, cert_chain_hash=bytes(48), nonce=bytes(32), signature=bytes(96)
    )
    data = encode(msg)
    assert data[2:4] == b"\x81\x02"
    back = decode(data, CodecContext(hash_size=48, signature_size=96))
    assert back == msg
    assert isinstance(back, ChallengeAuth)
    assert (back.slot_id, back.basic_mut_auth_requested) == (1, True)


P384_NO_SUMMARY = CodecContext(hash_size=48, signature_size=96)
P384_NO_SIGNATURE = CodecContext(hash_size=48, measurement_summary_hash=True)


@pytest.mark.parametrize(
    ("data", "context", "field", "reason"),
    [
        (CHALLENGE_AUTH_P384[:-1], P384, "signature", "truncated"),
        (CHALLENGE_AUTH_P384 + b"\x00", P384, "", "trailing"),
        (_with_opaque_length(2), P384, "signature", "truncated"),
        (_with_opaque_length(1025), P384, "opaque_data", "OpaqueLength over 1024"),
        (CHALLENGE_AUTH_P384, None, "cert_chain_hash", "needs a negotiation context (hash_size)"),
        (CHALLENGE_AUTH_P384, P384_NO_SIGNATURE, "signature", "no signature_size"),
        # a context that disagrees with the message misplaces OpaqueLength (0xef3a here)
        (CHALLENGE_AUTH_P384, P384_NO_SUMMARY, "opaque_data", "OpaqueLength over 1024"),
        (P384_WITHOUT_SUMMARY[:-1], P384_NO_SUMMARY, "signature", "truncated"),
    ],
    ids=["truncated", "trailing", "opaque_len", "opaque_max", "no_ctx", "no_sig", "summary", "no_summary"],
)
def test_challenge_auth_rejected(data: bytes, context: CodecContext | None, field: str, reason: str) -> None:
    error = _rejected(data, context)
    assert (error.message, error.field) == ("CHALLENGE_AUTH", field)
    assert reason in error.reason


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [(CHALLENGE[:-1], "nonce", "truncated"), (CHALLENGE + b"\x00", "", "trailing")],
    ids=["truncated", "trailing"],
)
def test_challenge_rejected(data: bytes, field: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_as(Challenge, data)
    assert (caught.value.message, caught.value.field) == ("CHALLENGE", field)
    assert reason in caught.value.reason


def test_encode_checks_sizes() -> None:
    with pytest.raises(EncodeError) as caught:
        encode(Challenge(nonce=bytes(31)))
    assert (caught.value.message, caught.value.field) == ("CHALLENGE", "nonce")
    auth = ChallengeAuth(
        slot_mask=1, cert_chain_hash=bytes(48), nonce=bytes(32), opaque_data=bytes(1025), signature=bytes(96)
    )
    with pytest.raises(EncodeError, match="OpaqueLength over 1024"):
        encode(auth)
