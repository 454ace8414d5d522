"""No repr of a configuration, a session or a capture's secrets shows a PSK or a session key: reprs
end up in logs and tracebacks, which must not be enough to decrypt a session."""

from __future__ import annotations

from dataclasses import replace

import pytest

from spdm.capture import CaptureSecrets
from spdm.errors import DecodeError
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.session import TrafficKeys
from spdm.testing import MemoryDoeLink
from spdm.transport.doe import DoeTransport

PSK, HINT = bytes.fromhex("5465737450736b4461746100"), b"hint"


def shown(secret: bytes, text: str) -> bool:
    return repr(secret) in text or secret.hex() in text


def test_a_psk_session_leaves_no_secret_in_any_repr() -> None:
    config = replace(demo_config(sessions=True, psks={HINT: PSK}), max_padding=3)
    responder = Responder(config)
    requester_config = RequesterConfig.with_sessions(
        trust_anchors={0: config.slots[0].certificates[0]}, psk=PSK, psk_hint=HINT
    )
    requester = Requester(DoeTransport(MemoryDoeLink(responder.respond)), requester_config)
    requester.init_connection()
    with requester.psk_exchange():
        (session,) = responder._sessions._sessions.values()
        assert session.data is not None
        keys: list[TrafficKeys] = [
            session.handshake.request, session.handshake.response, session.data.request, session.data.response
        ]
        secrets = [PSK, session.handshake.request_finished_key, session.handshake.response_finished_key]
        secrets += [value for direction in keys for value in direction]
        for text in (repr(config), repr(requester_config), repr(session)):
            assert not [secret for secret in secrets if shown(secret, text)]
        size = len(keys[0].secret)
        assert repr(keys[0]) == f"TrafficKeys(secret=<{size} bytes>, key=<32 bytes>, iv=<12 bytes>)"


def test_capture_secrets_show_no_key() -> None:
    secrets = CaptureSecrets(psk=PSK, psk_hint=HINT, dhe_secrets=(bytes(range(48)),))
    assert not shown(PSK, repr(secrets)) and not shown(bytes(range(48)), repr(secrets))
    assert "psk_hint=b'hint'" in repr(secrets)


def test_a_malformed_sidecar_psk_is_not_echoed() -> None:
    with pytest.raises(DecodeError, match="psk: is not a hex string") as caught:
        CaptureSecrets.from_json('{"psk": "5465737450736b44617461000"}')
    assert "5465737450736b" not in str(caught.value)
