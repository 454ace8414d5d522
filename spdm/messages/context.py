"""What a decoder must know that the bytes of one message do not say."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CodecContext"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CodecContext:
    """Sizes and presence rules fixed by negotiation and by the request being answered.

    Only decoding needs this: encoding takes every size from the message object itself.
    A size of ``None`` means "not negotiated": decoding a message that needs it fails with a
    `DecodeError` saying so.

    `measurement_summary_hash` says whether CHALLENGE_AUTH, KEY_EXCHANGE_RSP and
    PSK_EXCHANGE_RSP carry a MeasurementSummaryHash (the request asked for one and the responder
    has MEAS_CAP); `signature_requested` whether MEASUREMENTS or ENDPOINT_INFO carries a signature
    (the request asked for one); `handshake_in_the_clear` whether both sides set
    HANDSHAKE_IN_THE_CLEAR_CAP (it moves ResponderVerifyData from KEY_EXCHANGE_RSP to FINISH_RSP);
    `multi_key` whether the sender of DIGESTS has a 1.3 multi-key connection (MULTI_KEY_CONN: DIGESTS then carries
    KeyPairID, CertificateInfo and KeyUsageMask per slot).
    """

    hash_size: int | None = None
    signature_size: int | None = None
    req_signature_size: int | None = None
    dhe_size: int | None = None
    measurement_summary_hash: bool = False
    signature_requested: bool = False
    handshake_in_the_clear: bool = False
    multi_key: bool = False
