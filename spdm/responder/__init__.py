"""The SPDM responder: a bytes-in, bytes-out state machine that a device emulator embeds.

`Responder(config).respond(request, session_id=None)` (`spdm.responder.machine`) answers every
request; its sessions are a component, `spdm.responder.sessions.SessionTable`. `ResponderConfig`
(`spdm.responder.config`) is what it serves, and `demo_config()` a ready device with a throwaway
identity. The state tables are in `spdm.responder.state`; SPDM 1.3 key pairs in `spdm.responder.key_pairs`.
"""

from __future__ import annotations

from spdm.responder.config import (
    DEFAULT_CAPABILITIES,
    DEMO_ENDPOINT_INFO,
    KEY_PAIR_CAPABILITIES,
    PROVISIONING_CAPABILITIES,
    RESPONDER_SESSION_CAPABILITIES,
    MutualAuth,
    ResponderConfig,
    SlotIdentity,
    demo_config,
    session_capabilities,
)
from spdm.responder.key_pairs import KeyPair, key_pairs_for_slots
from spdm.responder.machine import Responder, VendorHandler
from spdm.responder.state import SessionState, State, session_state_diagram, state_diagram

__all__ = [
    "DEFAULT_CAPABILITIES",
    "DEMO_ENDPOINT_INFO",
    "KEY_PAIR_CAPABILITIES",
    "PROVISIONING_CAPABILITIES",
    "RESPONDER_SESSION_CAPABILITIES",
    "KeyPair",
    "MutualAuth",
    "Responder",
    "ResponderConfig",
    "SessionState",
    "SlotIdentity",
    "State",
    "VendorHandler",
    "demo_config",
    "key_pairs_for_slots",
    "session_capabilities",
    "session_state_diagram",
    "state_diagram",
]
