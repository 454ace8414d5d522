"""PSK_EXCHANGE/PSK_EXCHANGE_RSP and PSK_FINISH/PSK_FINISH_RSP: the pre-shared-key session handshake.

Bounds on the variable fields (the spec sets none beyond their u16 lengths): PSKHint at most 32
bytes (libspdm's limit; its 1.1-era releases used 16), each context and the OpaqueData at most
1024 bytes (the OpaqueData limit of the other 1.1 messages; libspdm sends 64-byte contexts).
"""

from __future__ import annotations

from dataclasses import dataclass

import construct as c

from spdm.messages._layout import field, length_of, negotiated_bytes, require, when
from spdm.messages.bounds import opaque_length_bound
from spdm.messages.codec import Message, message
from spdm.messages.codes import Code

__all__ = [
    "MAX_PSK_CONTEXT_LENGTH",
    "MAX_PSK_HINT_SIZE",
    "PSK_CONTEXT_SIZE",
    "PskExchange",
    "PskExchangeRsp",
    "PskFinish",
    "PskFinishRsp",
    "check_psk",
]

MAX_PSK_HINT_SIZE = 32
"""The longest PSKHint either side takes (libspdm's limit, as the module docstring says)."""
PSK_CONTEXT_SIZE = 64
"""The RequesterContext and ResponderContext both roles send: libspdm's LIBSPDM_PSK_CONTEXT_LENGTH
(LIBSPDM_MAX_HASH_SIZE in spdm_lib_config.h; libspdm_req_psk_exchange.c wants at least 32)."""
MAX_PSK_CONTEXT_LENGTH = 1024
"""The longest RequesterContext or ResponderContext either message carries."""


def check_psk(hint: bytes, psk: bytes) -> None:
    """`ValueError` unless a configured PSK can be used: its PSKHint fits `MAX_PSK_HINT_SIZE` and the key
    is not empty."""
    if len(hint) > MAX_PSK_HINT_SIZE:
        raise ValueError(f"a PSKHint is at most {MAX_PSK_HINT_SIZE} bytes, got {len(hint)}")
    if not psk:
        raise ValueError("a pre-shared key must not be empty")


@message(
    Code.PSK_EXCHANGE,
    "summary_hash_type" / c.Int8ul,
    "session_policy" / c.Int8ul,
    "req_session_id" / c.Int16ul,
    "_psk_hint_length" / c.Rebuild(c.Int16ul, length_of("psk_hint")),
    "_context_length" / c.Rebuild(c.Int16ul, length_of("requester_context")),
    "_opaque_length" / c.Rebuild(c.Int16ul, length_of("opaque_data")),
    require(when("_psk_hint_length", "<=", MAX_PSK_HINT_SIZE), "PSKHintLength over 32", field="psk_hint"),
    require(
        when("_context_length", "<=", MAX_PSK_CONTEXT_LENGTH),
        "RequesterContextLength over 1024",
        field="requester_context",
    ),
    opaque_length_bound(),
    "psk_hint" / c.Bytes(field("_psk_hint_length")),
    "requester_context" / c.Bytes(field("_context_length")),
    "opaque_data" / c.Bytes(field("_opaque_length")),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class PskExchange(Message):
    """`psk_hint` names the PSK (empty when the responder knows which); `opaque_data` holds the
    DSP0277 version offer; `session_policy` (Param2; 1.2: bit 0 TerminationPolicy) is reserved before 1.2."""

    version: int = 0x11
    summary_hash_type: int = 0
    session_policy: int = 0
    req_session_id: int
    psk_hint: bytes = b""
    requester_context: bytes
    opaque_data: bytes = b""


@message(
    Code.PSK_EXCHANGE_RSP,
    "heartbeat_period" / c.Int8ul,
    "param2" / c.Int8ul,
    "rsp_session_id" / c.Int16ul,
    "reserved" / c.Int16ul,
    "_context_length" / c.Rebuild(c.Int16ul, length_of("responder_context")),
    "_opaque_length" / c.Rebuild(c.Int16ul, length_of("opaque_data")),
    require(
        when("_context_length", "<=", MAX_PSK_CONTEXT_LENGTH),
        "ResponderContextLength over 1024",
        field="responder_context",
    ),
    opaque_length_bound(),
    "measurement_summary_hash" / negotiated_bytes("hash_size", "measurement_summary_hash"),
    "responder_context" / c.Bytes(field("_context_length")),
    "opaque_data" / c.Bytes(field("_opaque_length")),
    "responder_verify_data" / negotiated_bytes("hash_size"),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class PskExchangeRsp(Message):
    """An empty `responder_context` (PSK_CAP 01b) means no PSK_FINISH: the session is up at once.

    `measurement_summary_hash` is ``None`` when none was asked for or MEAS_CAP is 0.
    """

    version: int = 0x11
    heartbeat_period: int = 0
    param2: int = 0
    rsp_session_id: int
    reserved: int = 0
    measurement_summary_hash: bytes | None = None
    responder_context: bytes = b""
    opaque_data: bytes = b""
    responder_verify_data: bytes


@message(
    Code.PSK_FINISH,
    "param1" / c.Int8ul,
    "param2" / c.Int8ul,
    "requester_verify_data" / negotiated_bytes("hash_size"),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class PskFinish(Message):
    version: int = 0x11
    param1: int = 0
    param2: int = 0
    requester_verify_data: bytes


@message(Code.PSK_FINISH_RSP, "param1" / c.Int8ul, "param2" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class PskFinishRsp(Message):
    version: int = 0x11
    param1: int = 0
    param2: int = 0
