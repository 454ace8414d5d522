"""SPDM 1.1 sessions: the key schedule, the transcripts TH1/TH2 and DSP0277 secured messages.

* `KeySchedule` turns the DHE secret (or PSK) and the transcript hashes into `TrafficKeys`;
  `bin_str`, `verify_data` and `check_verify_data` are its pure building blocks.
* `SessionTranscript` hashes A, Hash(Ct), K, Hash(CM) and F in order and hands out the digests
  that signatures, verify data and the key schedule need.
* `DirectionState` is one direction's AEAD context (key, IV, sequence number) that seals and
  opens records; `SecuredSession` pairs the two directions of a session for one side and
  `SecuredSessions` dispatches records by SessionID. `PCI_DOE` and `MCTP` describe the framing.
"""

from __future__ import annotations

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
from spdm.session.transcript import ExchangeDigests, FinishDigests, SessionTranscript

__all__ = [
    "MAX_SEQUENCE_NUMBER",
    "MCTP",
    "PCI_DOE",
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
    "SequenceNumberExhausted",
    "SessionTranscript",
    "TrafficKeys",
    "bin_str",
    "check_verify_data",
    "expand_label",
    "random_padding",
    "secured_transport",
    "session_id_of",
    "verify_data",
]
