"""The requester's one rule for whether a request may be sent (`spdm.requester.support`): every
request that needs an SPDM version and a responder capability refuses with the same words, before
anything is sent; and the version gates the shared checks apply by themselves."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from typing import Any

import pytest

from spdm._checks import check_certificate_info, check_transfer_sizes
from spdm.errors import NegotiationError, ProtocolError
from spdm.messages import decode, encode
from spdm.messages.certificates import Certificate
from spdm.messages.codes import REQUEST_NEEDS, Code, KeyPairOperation
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.negotiation import Capabilities
from spdm.negotiated import Negotiated
from spdm.requester import Requester, RequesterConfig
from spdm.requester.endpoint_info import get_endpoint_info
from spdm.requester.event_recipient import get_supported_event_types, subscribe_event_types
from spdm.requester.handshake import check_key_exchange
from spdm.requester.key_pairs import get_key_pair_info, set_key_pair_info
from spdm.requester.mel import get_measurement_extension_log
from spdm.requester.provisioning import get_csr, set_certificate
from spdm.requester.support import require_support, supports
from spdm.responder import Responder, demo_config
from spdm.testing import MemoryDoeLink
from spdm.transport.doe import MAX_DW_PADDING, DoeTransport


def _unsent(*_: Any, **__: Any) -> Any:
    pytest.fail("the request was sent")


_REQUESTS: dict[str, Callable[[Negotiated], Generator[Any, Any, Any]]] = {
    "GET_CSR": lambda n: get_csr(_unsent, n, b"", b""),
    "SET_CERTIFICATE": lambda n: set_certificate(_unsent, n, 0, [b"\x30\x00"]),
    "GET_KEY_PAIR_INFO": lambda n: get_key_pair_info(_unsent, n, 1),
    "SET_KEY_PAIR_INFO": lambda n: set_key_pair_info(_unsent, n, 1, KeyPairOperation.ERASE),
    "GET_SUPPORTED_EVENT_TYPES": lambda n: get_supported_event_types(_unsent, n),
    "SUBSCRIBE_EVENT_TYPES": lambda n: subscribe_event_types(_unsent, n, ()),
    "GET_MEASUREMENT_EXTENSION_LOG": lambda n: get_measurement_extension_log(_unsent, n, RequesterConfig()),
    "GET_ENDPOINT_INFO": lambda n: get_endpoint_info(
        _unsent, negotiated=n, vca=b"", verified={}, random=bytes, signed=False, slot=0
    ),
}
_NEEDS = {
    "GET_CSR": (0x12, "CSR_CAP"),
    "SET_CERTIFICATE": (0x12, "SET_CERT_CAP"),
    "GET_KEY_PAIR_INFO": (0x13, "GET_KEY_PAIR_INFO_CAP"),
    "SET_KEY_PAIR_INFO": (0x13, "SET_KEY_PAIR_INFO_CAP"),
    "GET_SUPPORTED_EVENT_TYPES": (0x13, "EVENT_CAP"),
    "SUBSCRIBE_EVENT_TYPES": (0x13, "EVENT_CAP"),
    "GET_MEASUREMENT_EXTENSION_LOG": (0x13, "MEL_CAP"),
    "GET_ENDPOINT_INFO": (0x13, "EP_INFO_CAP_MASK"),
}


@pytest.mark.parametrize("what", sorted(_REQUESTS))
def test_a_request_before_its_version_is_refused_in_one_format(what: str) -> None:
    version, _ = _NEEDS[what]
    earlier = version - 1
    refused = f"{what} needs SPDM {version >> 4}.{version & 0xF}; the connection runs 1.{earlier & 0xF}$"
    with pytest.raises(NegotiationError, match=refused):
        next(_REQUESTS[what](Negotiated(version=earlier, responder_flags=0xFFFF_FFFF)))


@pytest.mark.parametrize("what", sorted(_REQUESTS))
def test_a_request_without_the_responders_flag_is_refused_in_one_format(what: str) -> None:
    version, flag = _NEEDS[what]
    everything_else = 0xFFFF_FFFF & ~F[flag]
    with pytest.raises(NegotiationError, match=f"^{what} needs the responder's {flag}, which the device does not set$"):
        next(_REQUESTS[what](Negotiated(version=version, responder_flags=everything_else)))


def test_a_session_before_1_1_is_refused_in_the_same_format() -> None:
    with pytest.raises(NegotiationError, match=r"^KEY_EXCHANGE needs SPDM 1\.1; the connection runs 1\.0$"):
        check_key_exchange(Negotiated(version=0x10))


def test_a_connection_request_without_the_flag_is_refused_in_the_same_format() -> None:
    config = demo_config()
    responder = Responder(dataclasses.replace(config, capabilities=config.capabilities & ~F.CHAL_CAP))
    requester = Requester(DoeTransport(MemoryDoeLink(responder.respond)), RequesterConfig())
    requester.init_connection()
    requester.get_digests()
    refused = r"^CHALLENGE needs the responder's CHAL_CAP, which the device does not set$"
    with pytest.raises(NegotiationError, match=refused):
        requester.challenge(0)


@pytest.mark.parametrize("code", sorted(code for code, needs in REQUEST_NEEDS.items() if needs.requester))
def test_a_session_feature_needs_the_requesters_flag_too(code: Code) -> None:
    """The same table the responder serves by: a session feature is in effect only when both set it."""
    flag = REQUEST_NEEDS[code].requester
    negotiated = Negotiated(version=0x13, responder_flags=0xFFFF_FFFF, requester_flags=0xFFFF_FFFF & ~flag)
    assert not supports(negotiated, code)
    refused = f"^{code.name} needs the requester's {flag.name}, which this requester does not set$"
    with pytest.raises(NegotiationError, match=refused.replace("|", r"\|")):
        require_support(negotiated, code)
    assert supports(dataclasses.replace(negotiated, requester_flags=0xFFFF_FFFF), code)


def test_a_session_without_heartbeat_on_the_requesters_side_sends_none() -> None:
    config = demo_config(sessions=True)
    assert config.capabilities & F.HBEAT_CAP
    responder = Responder(dataclasses.replace(config, max_padding=MAX_DW_PADDING))
    sessions = RequesterConfig.with_sessions(trust_anchors={0: config.slots[0].certificates[0]})
    without = dataclasses.replace(sessions, capabilities=sessions.capabilities & ~F.HBEAT_CAP)
    requester = Requester(DoeTransport(MemoryDoeLink(responder.respond)), without)
    requester.init_connection()
    session = requester.key_exchange(0)
    with pytest.raises(NegotiationError, match=r"^HEARTBEAT needs the requester's HBEAT_CAP"):
        session.heartbeat()


@pytest.mark.parametrize(
    ("version", "flags", "offered"),
    [(0x13, F.EVENT_CAP, True), (0x12, F.EVENT_CAP, False), (0x13, F.MEL_CAP, False)],
)
def test_events_are_offered_at_1_3_with_event_cap(version: int, flags: F, offered: bool) -> None:
    """`supports` answers by the same rule the event requests apply."""
    negotiated = Negotiated(version=version, responder_flags=flags)
    assert supports(negotiated, Code.GET_SUPPORTED_EVENT_TYPES) is offered
    if not offered:
        with pytest.raises(NegotiationError):
            next(get_supported_event_types(_unsent, negotiated))


def test_transfer_sizes_are_checked_from_1_2_only() -> None:
    """Before 1.2 CAPABILITIES has no DataTransferSize or MaxSPDMmsgSize: nothing to compare."""
    unequal = {"data_transfer_size": 0x100, "max_spdm_msg_size": 0x200}
    check_transfer_sizes(Capabilities(version=0x11, **unequal), 0)
    with pytest.raises(NegotiationError, match="DataTransferSize 256 is not MaxSPDMmsgSize 512"):
        check_transfer_sizes(Capabilities(version=0x12, **unequal), 0)
    check_transfer_sizes(Capabilities(version=0x12, **unequal), F.CHUNK_CAP)


@pytest.mark.parametrize("version", [0x10, 0x11, 0x12])
def test_certificate_info_before_1_3_passes_whatever_param2_holds(version: int) -> None:
    """Param2 is reserved before 1.3, so the check needs no version gate of its own at its callers."""
    data = encode(Certificate(version=version, param2=0x03, remainder_length=0, portion=b"\x30\x00"))
    answer = decode(data)
    assert isinstance(answer, Certificate) and answer.param2 == 0x03
    check_certificate_info(answer, multi_key=False, digests_model=None)


def test_certificate_info_at_1_3_refuses_a_model_outside_a_multi_key_connection() -> None:
    answer = decode(encode(Certificate(version=0x13, param2=0x03, remainder_length=0, portion=b"\x30\x00")))
    assert isinstance(answer, Certificate)
    with pytest.raises(ProtocolError, match="model 3 outside a multi-key connection"):
        check_certificate_info(answer, multi_key=False, digests_model=None)
