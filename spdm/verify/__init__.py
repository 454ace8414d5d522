"""Verifying recorded exchanges: a captured connection checked as the requester would have
(`spdm.verify.connection`), and its sessions replayed with known secrets (`spdm.verify.sessions`).
Both report each verdict as one `Check` (`spdm.verify.check`).
"""

from __future__ import annotations

from spdm.verify.check import Check
from spdm.verify.connection import CaptureVerification, verify_capture
from spdm.verify.sessions import (
    KeyPhase,
    MissingSecretError,
    ReplayedSession,
    ReplayRecord,
    SessionReplayer,
    replay,
)

__all__ = [
    "CaptureVerification",
    "Check",
    "KeyPhase",
    "MissingSecretError",
    "ReplayRecord",
    "ReplayedSession",
    "SessionReplayer",
    "replay",
    "verify_capture",
]
