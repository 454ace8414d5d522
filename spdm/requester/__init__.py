"""The SPDM requester: authenticate a device, read its signed measurements, open sessions.

Layers, bottom to top: `events` (what an operation asks of its driver), `config`, `identity`,
`results` and `errors` (plain values), `channel` (how every request travels), `support` (which
requests the connection allows), `measurements`, `mel`, `provisioning`, `key_pairs` and
`encapsulated` (rules shared by the connection and its sessions), `session_core` and
`handshake` (a session without I/O), `connection` (the sans-IO requester, `Connection`), and the
blocking driver: `Requester` (`driver`) with its `Session` (`session`). The asyncio driver is
`spdm.aio`.
"""

from __future__ import annotations

from spdm.requester.config import (
    MUTUAL_AUTH_CAPABILITIES,
    REQUESTER_SESSION_CAPABILITIES,
    SECURED_MESSAGE_VERSIONS,
    RequesterConfig,
    session_alg_structs,
)
from spdm.requester.connection import Connection
from spdm.requester.driver import Requester
from spdm.requester.endpoint_info import EndpointInfoResult
from spdm.requester.errors import KeyUsageError, SessionClosedError, SessionDecryptError
from spdm.requester.events import Done, Operation, Send, Wait
from spdm.requester.identity import DheKeyShare, RequesterIdentity
from spdm.requester.key_pairs import KeyPairInfoResult, SetKeyPairInfoResult, SlotKey
from spdm.requester.provisioning import ChainSource
from spdm.requester.results import (
    AuthenticationResult,
    ChallengeResult,
    MeasurementResult,
    MelResult,
    SetCertificateResult,
)
from spdm.requester.session import Session
from spdm.requester.session_core import SessionCore

__all__ = [
    "MUTUAL_AUTH_CAPABILITIES",
    "REQUESTER_SESSION_CAPABILITIES",
    "SECURED_MESSAGE_VERSIONS",
    "AuthenticationResult",
    "ChainSource",
    "ChallengeResult",
    "Connection",
    "DheKeyShare",
    "Done",
    "EndpointInfoResult",
    "KeyPairInfoResult",
    "KeyUsageError",
    "MeasurementResult",
    "MelResult",
    "Operation",
    "Requester",
    "RequesterConfig",
    "RequesterIdentity",
    "Send",
    "Session",
    "SessionClosedError",
    "SessionCore",
    "SessionDecryptError",
    "SetCertificateResult",
    "SetKeyPairInfoResult",
    "SlotKey",
    "Wait",
    "session_alg_structs",
]
