"""SPDM 1.1 sessions: the key schedule, the transcripts TH1/TH2, KEY_UPDATE and DSP0277 secured messages.

Every rule of a session is written here once, for the requester, the responder and capture replay:

* `KeySchedule` turns the DHE secret (or PSK) and the transcript hashes into `TrafficKeys`;
  `bin_str`, `expand_label`, `verify_data` and `check_verify_data` are its pure building blocks.
* `SessionTranscript` hashes A, Hash(Ct), K, Hash(CM) and F in order: its `add_*` methods take a
  received handshake message and hand out the digests to check it with, its `build_*` methods
  make the signed and MACed parts of a message being sent.
* `SentKeyUpdate` (the side that sends KEY_UPDATE, or an observer) and `AnsweredKeyUpdate` (the
  side that answers it) say which key changes when, and which keys open a record meanwhile.
* `DirectionState` is one direction's AEAD context (key, IV, sequence number) that seals and
  opens records; `SecuredSession` pairs the two directions of a session for one side and
  `SecuredSessions` dispatches records by SessionID. `PCI_DOE` and `MCTP` describe the framing.
"""

from __future__ import annotations

from spdm.session.key_update import AnsweredKeyUpdate, SentKeyUpdate, next_keys
from spdm.session.keys import (
    DataSecrets,
    HandshakeSecrets,
    KeySchedule,
    TrafficKeys,
    bin_str,
    check_verify_data,
    expand_label,
    verify_data,
)
from spdm.session.secured import (
    MAX_SEQUENCE_NUMBER,
    MCTP,
    PCI_DOE,
    DirectionState,
    PaddingSource,
    Role,
    SecuredSession,
    SecuredSessions,
    SecuredTransport,
    SequenceNumberExhausted,
    random_padding,
    secured_transport,
    session_id_of,
)
from spdm.session.transcript import ExchangeDigests, FinishDigests, SessionTranscript, Signer

__all__ = [
    "MAX_SEQUENCE_NUMBER",
    "MCTP",
    "PCI_DOE",
    "AnsweredKeyUpdate",
    "DataSecrets",
    "DirectionState",
    "ExchangeDigests",
    "FinishDigests",
    "HandshakeSecrets",
    "KeySchedule",
    "PaddingSource",
    "Role",
    "SecuredSession",
    "SecuredSessions",
    "SecuredTransport",
    "SentKeyUpdate",
    "SequenceNumberExhausted",
    "SessionTranscript",
    "Signer",
    "TrafficKeys",
    "bin_str",
    "check_verify_data",
    "expand_label",
    "next_keys",
    "random_padding",
    "secured_transport",
    "session_id_of",
    "verify_data",
]
