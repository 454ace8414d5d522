"""A responder's CAPABILITIES flags, checked as libspdm's requester checks them
(libspdm_req_get_capabilities.c validate_responder_capability), each rule from the version that brings
it: our requester refuses what it refuses and takes what it takes, and a `ResponderConfig` that would
send flags it refuses, at any of its versions, is refused when it is made."""

from __future__ import annotations

import dataclasses
import struct

import pytest

from spdm.errors import NegotiationError
from spdm.messages.codes import CapabilityFlags, Code
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config, session_capabilities
from spdm.transport.loopback import LoopbackTransport

F = CapabilityFlags
BASE = F.CERT_CAP | F.CHAL_CAP | F.MEAS_CAP_SIG | F.MEAS_FRESH_CAP
_FLAGS_AT = 8  # CAPABILITIES: SPDMVersion, code, Param1, Param2, Reserved, CTExponent, Reserved(2), Flags


def _requester_seeing(version: int, flags: int) -> Requester:
    """Our requester at `version` against the demo responder, its CAPABILITIES Flags rewritten to `flags`."""
    config = demo_config()
    responder = Responder(config)

    def respond(request: bytes, session_id: int | None) -> bytes:
        response = bytearray(responder.respond(request, session_id))
        if response[1] == Code.CAPABILITIES:
            struct.pack_into("<I", response, _FLAGS_AT, flags)
        return bytes(response)

    requester_config = RequesterConfig(trust_anchors={0: config.slots[0].certificates[0]}, versions=(version,))
    return Requester(LoopbackTransport(respond), requester_config)


@pytest.mark.parametrize(
    ("version", "flags", "reason"),
    [
        (0x10, F.CERT_CAP | F.MEAS_CAP_NO_SIG, "CERT_CAP and CHAL_CAP differ"),
        (0x10, F.CHAL_CAP | F.MEAS_CAP_SIG, "signed measurements without CERT_CAP"),
        (0x12, BASE | F.MEAS_CAP_NO_SIG, "MEAS_CAP 11b is reserved"),
        (0x11, F.CERT_CAP | F.CHAL_CAP | F.MEAS_FRESH_CAP, "MEAS_FRESH_CAP without MEAS_CAP"),
        (0x11, BASE | F.PSK_CAP_MASK | F.MAC_CAP, "PSK_CAP 11b is reserved"),
        (0x11, BASE | F.KEY_EX_CAP, "KEY_EX_CAP/PSK_CAP without MAC_CAP or ENCRYPT_CAP"),
        (0x11, BASE | F.MAC_CAP, "KEY_UPD_CAP without KEY_EX_CAP or PSK_CAP"),
        (0x12, BASE | F.HBEAT_CAP, "KEY_UPD_CAP without KEY_EX_CAP or PSK_CAP"),
        (0x13, BASE | F.EVENT_CAP, "EVENT_CAP without KEY_EX_CAP or PSK_CAP"),
        (0x12, BASE | F.PSK_CAP_NO_CONTEXT | F.MAC_CAP | F.HANDSHAKE_IN_THE_CLEAR_CAP, "PSK_CAP but no KEY_EX_CAP"),
        (0x11, BASE | F.PUB_KEY_ID_CAP, "CERT_CAP and PUB_KEY_ID_CAP together"),
        (0x12, F.CERT_CAP | F.MEAS_CAP_NO_SIG, "nothing uses the key"),
        (0x12, F.CHAL_CAP | F.MEAS_CAP_NO_SIG, "without CERT_CAP or PUB_KEY_ID_CAP"),
        (0x13, F.EP_INFO_CAP_SIG, "signed EP_INFO_CAP without CERT_CAP or PUB_KEY_ID_CAP"),
        (0x12, F.CERT_CAP | F.MEAS_CAP_SIG | F.MUT_AUTH_CAP, "MUT_AUTH_CAP without KEY_EX_CAP or CHAL_CAP"),
        (0x11, BASE | F.MUT_AUTH_CAP, "MUT_AUTH_CAP without ENCAP_CAP"),
        (0x12, F.MEAS_CAP_NO_SIG | F.ALIAS_CERT_CAP, "ALIAS_CERT_CAP without CERT_CAP"),
        (0x12, F.MEAS_CAP_NO_SIG | F.SET_CERT_CAP, "SET_CERT_CAP without CERT_CAP"),
        (0x12, BASE | F.CSR_CAP, "CSR_CAP without SET_CERT_CAP"),
        (0x12, BASE | F.CERT_INSTALL_RESET_CAP, "CERT_INSTALL_RESET_CAP without CSR_CAP or SET_CERT_CAP"),
        (0x13, BASE | F.EP_INFO_CAP_MASK, "EP_INFO_CAP 11b is reserved"),
        (0x13, BASE | F.MULTI_KEY_CAP_MASK | F.GET_KEY_PAIR_INFO_CAP, "MULTI_KEY_CAP 11b is reserved"),
        (0x13, BASE | F.MULTI_KEY_CAP_ONLY, "MULTI_KEY_CAP without CERT_CAP and GET_KEY_PAIR_INFO_CAP"),
        (0x13, F.PUB_KEY_ID_CAP | F.CHAL_CAP | F.GET_KEY_PAIR_INFO_CAP, "PUB_KEY_ID_CAP with MULTI_KEY_CAP"),
    ],
)
def test_the_requester_refuses_flags_libspdm_refuses(version: int, flags: int, reason: str) -> None:
    requester = _requester_seeing(version, flags)
    with pytest.raises(NegotiationError, match=reason):
        requester.init_connection()


@pytest.mark.parametrize(
    ("version", "flags"),
    [
        (0x10, BASE | F.MAC_CAP),  # the session rules start at 1.1
        (0x12, BASE | F.MUT_AUTH_CAP),  # MUT_AUTH_CAP needs ENCAP_CAP at 1.1 only
        (0x12, BASE | F.EVENT_CAP),  # EVENT_CAP is a 1.3 flag: no 1.3 rule applies at 1.2
        (0x13, F.CERT_CAP | F.MEAS_CAP_NO_SIG | F.EP_INFO_CAP_SIG),  # from 1.3 signed EPInfo uses the key
    ],
)
def test_the_requester_takes_flags_libspdm_takes(version: int, flags: int) -> None:
    assert _requester_seeing(version, flags).init_connection().responder_flags == flags


def test_a_configuration_is_checked_at_each_of_its_versions() -> None:
    """CERT_CAP without CHAL_CAP (unsigned measurements, sessions using the key) is a 1.1 device; its
    1.0 CAPABILITIES breaks 1.0's rule, so a configuration that also speaks 1.0 is refused."""
    capabilities = (demo_config().capabilities & ~(F.CHAL_CAP | F.MEAS_CAP_SIG)) | F.MEAS_CAP_NO_SIG
    config = dataclasses.replace(
        demo_config(sessions=True), capabilities=capabilities | session_capabilities(psk=False), versions=(0x11,)
    )
    with pytest.raises(ValueError, match=r"CERT_CAP and CHAL_CAP differ.* at SPDM 1\.0: a requester refuses it"):
        dataclasses.replace(config, versions=(0x10, 0x11))


@pytest.mark.parametrize(
    ("capabilities", "reason"),
    [
        (BASE | F.MAC_CAP, r"without KEY_EX_CAP or PSK_CAP at SPDM 1\.1"),
        (BASE | F.CSR_CAP, r"CSR_CAP without SET_CERT_CAP at SPDM 1\.2"),
        (BASE | F.MUT_AUTH_CAP, r"MUT_AUTH_CAP without ENCAP_CAP \(SPDM 1\.1\) at SPDM 1\.1"),
    ],
)
def test_a_configuration_libspdm_would_refuse_is_refused(capabilities: int, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        dataclasses.replace(demo_config(), capabilities=capabilities)


def test_a_requester_configuration_a_responder_refuses_is_refused() -> None:
    """The rule our responder answers GET_CAPABILITIES by (libspdm_check_request_flag_compatibility)
    also checks a requester's configuration, at each version it offers."""
    flags = F.CERT_CAP | F.CHAL_CAP | F.MUT_AUTH_CAP
    with pytest.raises(ValueError, match=r"MUT_AUTH_CAP without ENCAP_CAP \(SPDM 1.1\) at SPDM 1.1"):
        RequesterConfig(versions=(0x11, 0x12), capabilities=flags)
    assert RequesterConfig(versions=(0x12,), capabilities=flags).capabilities == flags
    with pytest.raises(ValueError, match=r"KEY_EX_CAP/PSK_CAP without ENCRYPT_CAP or MAC_CAP at SPDM 1\.2"):
        RequesterConfig(versions=(0x12,), capabilities=F.KEY_EX_CAP)
