"""The SPDM requester: authenticate a device, read its signed measurements, open sessions.

`Requester` runs the connection flow over any `Transport` (see `spdm.requester.driver`);
`Session` carries the secured messages of one session (`spdm.requester.session`).
"""

from __future__ import annotations

from spdm.requester.driver import (
    MUTUAL_AUTH_CAPABILITIES,
    SECURED_MESSAGE_VERSIONS,
    SESSION_CAPABILITIES,
    AuthenticationResult,
    ChallengeResult,
    MeasurementResult,
    Requester,
    RequesterConfig,
    session_alg_structs,
)
from spdm.requester.session import DheKeyShare, RequesterIdentity, Session, SessionClosedError, SessionDecryptError

__all__ = [
    "MUTUAL_AUTH_CAPABILITIES",
    "SECURED_MESSAGE_VERSIONS",
    "SESSION_CAPABILITIES",
    "AuthenticationResult",
    "ChallengeResult",
    "DheKeyShare",
    "MeasurementResult",
    "Requester",
    "RequesterConfig",
    "RequesterIdentity",
    "Session",
    "SessionClosedError",
    "SessionDecryptError",
    "session_alg_structs",
]
