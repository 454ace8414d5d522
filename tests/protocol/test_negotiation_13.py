"""SPDM 1.3 negotiation in both roles: who makes a multi-key connection, the MEL specification, and
the RequesterContext that CHALLENGE_AUTH and MEASUREMENTS echo (libspdm_req_negotiate_algorithms.c,
libspdm_rsp_algorithms.c, libspdm_rsp_challenge_auth.c, libspdm_rsp_measurements.c)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from spdm.errors import NegotiationError, ProtocolError
from spdm.messages import decode, encode
from spdm.messages.challenge import ChallengeAuth
from spdm.messages.codes import CapabilityFlags, ErrorCode, MeasurementSpecification, OtherParams
from spdm.messages.error import ErrorResponse
from spdm.messages.measurements import Measurements
from spdm.messages.negotiation import Algorithms, GetCapabilities, GetVersion, NegotiateAlgorithms
from spdm.negotiated import check_multi_key_connection, mel_specification_selection, multi_key_connection
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.transport.loopback import LoopbackTransport

F = CapabilityFlags
DMTF = MeasurementSpecification.DMTF


@pytest.mark.parametrize(
    ("flags", "willing", "expected"),
    [
        (0, True, False),
        (F.MULTI_KEY_CAP_ONLY, False, True),
        (F.MULTI_KEY_CAP_NEG, True, True),
        (F.MULTI_KEY_CAP_NEG, False, False),
    ],
)
def test_who_makes_a_multi_key_connection(flags: int, willing: bool, expected: bool) -> None:
    assert multi_key_connection(flags, willing=willing) is expected


def test_both_multi_key_bits_are_reserved() -> None:
    with pytest.raises(NegotiationError, match="reserved"):
        multi_key_connection(F.MULTI_KEY_CAP_MASK, willing=True)


@pytest.mark.parametrize(
    ("own", "connection", "fits"),
    [
        (F.MULTI_KEY_CAP_ONLY, False, False),
        (F.MULTI_KEY_CAP_ONLY, True, True),
        (F.MULTI_KEY_CAP_NEG, False, True),
        (F.MULTI_KEY_CAP_NEG, True, True),
        (0, True, False),
        (0, False, True),
    ],
)
def test_a_multi_key_verdict_must_fit_ones_own_capability(own: int, connection: bool, fits: bool) -> None:
    if fits:
        check_multi_key_connection(own, connection)
    else:
        with pytest.raises(NegotiationError):
            check_multi_key_connection(own, connection)


def test_the_mel_specification_needs_mel_cap_and_an_offer() -> None:
    assert mel_specification_selection(F.MEL_CAP, DMTF) == DMTF
    assert mel_specification_selection(F.MEL_CAP, 0) == 0
    assert mel_specification_selection(0, DMTF) == 0


def _responder(**changes: object) -> Responder:
    return Responder(dataclasses.replace(demo_config(), **changes))  # type: ignore[arg-type]


def _requester(responder: Responder | Callable[[bytes, int | None], bytes], **changes: object) -> Requester:
    respond = responder.respond if isinstance(responder, Responder) else responder
    root = demo_config().slots[0].certificates[0]
    config = dataclasses.replace(RequesterConfig(trust_anchors={0: root}), **changes)  # type: ignore[arg-type]
    return Requester(LoopbackTransport(respond), config)


def test_both_roles_negotiate_13_by_default() -> None:
    result = _requester(_responder()).authenticate(0)
    assert result.negotiated.version == 0x13
    assert result.measurements is not None and result.measurements.signed
    assert not result.negotiated.requester_multi_key and not result.negotiated.responder_multi_key


def test_both_roles_hold_the_negotiated_values_as_plain_ints() -> None:
    """The responder answers with its config's enum members; what it keeps of them is the wire value,
    equal to what the requester decoded."""
    responder = _responder()
    requester_view = _requester(responder).init_connection()
    responder_view = responder.negotiated
    assert responder_view is not None and responder_view == requester_view
    for view in (requester_view, responder_view):
        for field in dataclasses.fields(view):
            value = getattr(view, field.name)
            if field.name != "_contexts" and not isinstance(value, bool) and value is not None:
                assert type(value) is int, field.name


@pytest.mark.parametrize("mel_cap", [True, False])
def test_mel_specification_is_selected_only_with_mel_cap(mel_cap: bool) -> None:
    caps = demo_config().capabilities
    responder = _responder(capabilities=caps | F.MEL_CAP if mel_cap else caps & ~F.MEL_CAP)
    assert _requester(responder).init_connection().mel_specification == (DMTF if mel_cap else 0)


@pytest.mark.parametrize(
    ("requester_cap", "responder_willing", "expected"),
    [(F.MULTI_KEY_CAP_NEG, True, True), (F.MULTI_KEY_CAP_NEG, False, False), (F.MULTI_KEY_CAP_ONLY, False, True)],
)
def test_the_responder_decides_the_requesters_multi_key_connection(
    requester_cap: int, responder_willing: bool, expected: bool
) -> None:
    responder = _responder(multi_key=responder_willing)
    requester = _requester(responder, capabilities=RequesterConfig().capabilities | requester_cap)
    negotiated = requester.init_connection()
    assert negotiated.requester_multi_key is expected
    assert responder.negotiated is not None and responder.negotiated.requester_multi_key is expected


def _vca(responder: Responder, offer: NegotiateAlgorithms) -> object:
    responder.respond(encode(GetVersion()))
    responder.respond(encode(GetCapabilities(version=0x13, data_transfer_size=0x1200, max_spdm_msg_size=0x1200)))
    return decode(responder.respond(encode(offer)))


def _offer(**changes: object) -> NegotiateAlgorithms:
    base = NegotiateAlgorithms(
        version=0x13,
        other_params_support=OtherParams.OPAQUE_DATA_FMT_1,
        measurement_specification=DMTF,
        base_asym_algo=RequesterConfig().base_asym_algo,
        base_hash_algo=RequesterConfig().base_hash_algo,
        mel_specification=DMTF,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_the_responder_refuses_multi_key_conn_it_cannot_make() -> None:
    refused = _vca(
        _responder(), _offer(other_params_support=OtherParams.OPAQUE_DATA_FMT_1 | OtherParams.MULTI_KEY_CONN)
    )
    assert isinstance(refused, ErrorResponse) and refused.error_code == ErrorCode.InvalidRequest


def test_a_multi_key_only_responder_refuses_a_requester_without_it() -> None:
    responder = _responder(capabilities=demo_config().capabilities | F.MULTI_KEY_CAP_ONLY | F.GET_KEY_PAIR_INFO_CAP)
    refused = _vca(responder, _offer())
    assert isinstance(refused, ErrorResponse) and refused.error_code == ErrorCode.InvalidRequest
    unwilling = _requester(responder, multi_key=False).init_connection()
    assert unwilling.responder_multi_key  # a MULTI_KEY_CAP_ONLY device is multi-key, whatever the requester prefers


def _rewriting(
    responder: Responder, code: int, change: Callable[[object], object]
) -> Callable[[bytes, int | None], bytes]:
    def respond(request: bytes, session_id: int | None = None) -> bytes:
        response = responder.respond(request, session_id)
        if response[1] != code:
            return response
        context = responder.negotiated.codec_context(signature_requested=True) if responder.negotiated else None
        return encode(change(decode(response, context)))  # type: ignore[arg-type]

    return respond


@pytest.mark.parametrize(
    "change",
    [
        lambda a: dataclasses.replace(a, mel_specification_sel=DMTF),  # the demo responder has no MEL_CAP
        lambda a: dataclasses.replace(a, other_params_selection=a.other_params_selection | OtherParams.MULTI_KEY_CONN),
    ],
    ids=["MEL without MEL_CAP", "MULTI_KEY_CONN for a requester without MULTI_KEY_CAP"],
)
def test_the_requester_refuses_a_selection_that_breaks_a_13_rule(change: Callable[[Algorithms], Algorithms]) -> None:
    responder = _responder(capabilities=demo_config().capabilities & ~F.MEL_CAP)
    requester = _requester(_rewriting(responder, 0x63, change))  # type: ignore[arg-type]
    with pytest.raises(NegotiationError):
        requester.init_connection()


@pytest.mark.parametrize("code", [0x03, 0x60], ids=["CHALLENGE_AUTH", "MEASUREMENTS"])
def test_the_requester_context_must_come_back(code: int) -> None:
    def other_context(answer: ChallengeAuth | Measurements) -> ChallengeAuth | Measurements:
        return dataclasses.replace(answer, requester_context=bytes(8))

    requester = _requester(_rewriting(_responder(), code, other_context))  # type: ignore[arg-type]
    requester.init_connection()
    requester.get_digests()
    requester.get_certificate(0)
    requester.verify_certificate(0)
    with pytest.raises(ProtocolError) as raised:
        if code == 0x03:
            requester.challenge(0)
        else:
            requester.get_measurements(0xFF)
    assert raised.value.error_code == ErrorCode.InvalidResponseCode


def test_the_responder_echoes_the_requester_context() -> None:
    seen: list[bytes | None] = []
    responder = _responder()

    def respond(request: bytes, session_id: int | None = None) -> bytes:
        response = responder.respond(request, session_id)
        if response[1] in (0x03, 0x60):
            answer = decode(response, responder.negotiated.codec_context(signature_requested=True))  # type: ignore[union-attr]
            assert isinstance(answer, (ChallengeAuth, Measurements))
            seen.append(answer.requester_context)
        return response

    contexts = iter([bytes(range(32)), b"ctx-chal", bytes(range(32, 64)), b"ctx-meas"])
    requester = _requester(respond, random=lambda size: next(contexts)[:size])
    requester.init_connection()
    requester.get_digests()
    requester.get_certificate(0)
    requester.verify_certificate(0)
    requester.challenge(0)
    requester.get_measurements(0xFF)
    assert seen == [b"ctx-chal", b"ctx-meas"]


def test_a_12_connection_has_no_13_fields() -> None:
    responder = _responder(capabilities=demo_config().capabilities | F.MEL_CAP)
    negotiated = _requester(responder, versions=(0x10, 0x11, 0x12)).init_connection()
    assert negotiated.version == 0x12 and negotiated.mel_specification == 0
