"""Responses libspdm's requester refuses, refused by ours too: our requester against our responder,
one response rewritten on the way (GET_CSR, CAPABILITIES, ALGORITHMS, SET_CERTIFICATE's ResetRequired,
OpaqueData of CHALLENGE_AUTH and MEASUREMENTS, "all measurements" with no block, MEASUREMENTS' counts, blocks and
ContentChanged (and L1/L2 restarting after a refused answer), ResponseNotReady's RDTM, the
"nothing pending" answer to GET_ENCAPSULATED_REQUEST)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from spdm.errors import DecodeError, NegotiationError, PeerError, ProtocolError, VerificationError
from spdm.measurements import StaticMeasurements
from spdm.messages import Message, decode_prefix, encode
from spdm.messages.codes import CapabilityFlags, Code, ErrorCode
from spdm.messages.error import ErrorResponse
from spdm.messages.measurements import DmtfMeasurement, MeasurementBlock
from spdm.messages.negotiation import AlgStruct, ExtAlg, SupportedAlgorithms
from spdm.messages.opaque import version_list_opaque
from spdm.requester import Requester, RequesterConfig
from spdm.responder import PROVISIONING_CAPABILITIES, Responder, ResponderConfig, demo_config
from spdm.transport.loopback import LoopbackTransport

F = CapabilityFlags
Rewrite = Callable[[bytes, bytes], "bytes | None"]
"""`rewrite(request, response)`: the response to send instead, or None for the real one."""


class Tampered:
    """The demo responder behind a `rewrite` of its responses in the clear (set or changed any time)."""

    def __init__(self, config: ResponderConfig, rewrite: Rewrite | None = None) -> None:
        self.responder = Responder(config)
        self.rewrite = rewrite

    def respond(self, request: bytes, session_id: int | None) -> bytes:
        response = self.responder.respond(request, session_id)
        if self.rewrite is None or session_id is not None:
            return response
        changed = self.rewrite(request, response)
        return response if changed is None else changed


def _requester(
    config: ResponderConfig, rewrite: Rewrite | None = None, **changes: object
) -> tuple[Requester, Tampered]:
    peer = Tampered(config, rewrite)
    requester_config = RequesterConfig(trust_anchors={0: config.slots[0].certificates[0]})
    requester_config = dataclasses.replace(requester_config, **changes)  # type: ignore[arg-type]
    return Requester(LoopbackTransport(peer.respond), requester_config), peer


def _message(code: int, change: Callable[[Message], Message], requester: list[Requester]) -> Rewrite:
    """Rewrites the response with `code`, decoded in the negotiated context of `requester[0]`."""

    def rewrite(request: bytes, response: bytes) -> bytes | None:
        if response[1] != code:
            return None
        negotiated = requester[0].connection.channel.negotiated
        signed = request[1] == Code.CHALLENGE or (request[1] == Code.GET_MEASUREMENTS and request[2] & 1 == 1)
        context = negotiated.codec_context(signature_requested=signed) if negotiated else None
        message, _ = decode_prefix(response, context)
        return encode(change(message))

    return rewrite


def _rewriting(
    config: ResponderConfig, code: int, change: Callable[[Message], Message], **changes: object
) -> Requester:
    holder: list[Requester] = []
    requester, _ = _requester(config, _message(code, change, holder), **changes)
    holder.append(requester)
    return requester


def _answer_error(request_code: Code, version: int, code: ErrorCode) -> Rewrite:
    """Answers every `request_code` request with ERROR `code`."""
    error = encode(ErrorResponse(version=version, error_code=code))
    return lambda request, response: error if request[1] == request_code else None


# --- GET_CSR -------------------------------------------------------------------------------------


_EC_PUBLIC_KEY = bytes.fromhex("06072a8648ce3d0201")  # the OID id-ecPublicKey, DER
_VERSION_0 = bytes.fromhex("020100")  # CertificationRequestInfo version 0, DER


@pytest.mark.parametrize(
    "spoil",
    [
        lambda csr: csr.replace(_EC_PUBLIC_KEY, bytes.fromhex("06072a8648ce3d0209")),  # an unknown key type
        lambda csr: csr.replace(_VERSION_0, bytes.fromhex("020105"), 1),  # CSR version 5
    ],
    ids=["unknown key algorithm", "unknown version"],
)
def test_a_csr_the_library_cannot_read_is_an_invalid_response(spoil: Callable[[bytes], bytes]) -> None:
    config = demo_config(provisioning=True)
    requester, peer = _requester(config, versions=(0x12,))
    requester.init_connection()
    csr = requester.get_csr()
    assert _EC_PUBLIC_KEY in csr and _VERSION_0 in csr
    peer.rewrite = lambda request, response: (
        response[:4] + len(spoil(csr)).to_bytes(2, "little") + response[6:8] + spoil(csr)
        if response[1] == Code.CSR
        else None
    )
    with pytest.raises(ProtocolError, match="CSR is not a DER PKCS #10 request") as refused:
        requester.get_csr()
    assert refused.value.error_code == ErrorCode.InvalidResponseCode


# --- ALGORITHMS ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [0x11, 0x12, 0x13])
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda a: dataclasses.replace(a, ext_asym=(ExtAlg(registry_id=0, algorithm_id=1),)), "ExtAsymSelCount 1"),
        (lambda a: dataclasses.replace(a, ext_hash=(ExtAlg(registry_id=0, algorithm_id=1),)), "ExtHashSelCount 1"),
        (
            lambda a: dataclasses.replace(a, alg_structs=(*a.alg_structs, AlgStruct(alg_type=7, alg_supported=0))),
            "AlgType 7 is not defined",
        ),
        (
            lambda a: dataclasses.replace(
                a,
                alg_structs=(
                    dataclasses.replace(a.alg_structs[0], ext=(ExtAlg(registry_id=0, algorithm_id=1),)),
                    *a.alg_structs[1:],
                ),
            ),
            "AlgStruct DHE has ExtAlgCount 1",
        ),
    ],
    ids=["ext asym", "ext hash", "undefined AlgType", "AlgStruct ext"],
)
def test_algorithms_with_what_was_not_offered_are_refused(
    version: int, change: Callable[[Message], Message], reason: str
) -> None:
    config = demo_config(sessions=True)
    requester = _rewriting(config, Code.ALGORITHMS, change, versions=(version,), **_session_offer())
    with pytest.raises(NegotiationError, match=reason):
        requester.init_connection()


def test_supported_algorithms_not_asked_for_are_refused() -> None:
    """Our requester never sets GET_CAPABILITIES Param1 bit 0, so a 1.3 CAPABILITIES listing Supported
    Algorithms answers a question nobody asked: refused before it enters VCA."""
    listed = SupportedAlgorithms(base_asym_algo=0x80, base_hash_algo=0x02)
    requester = _rewriting(
        demo_config(),
        Code.CAPABILITIES,
        lambda c: dataclasses.replace(c, param1=c.param1 | 1, supported_algorithms=listed),
        versions=(0x13,),
    )
    with pytest.raises(ProtocolError, match="Supported Algorithms that GET_CAPABILITIES did not ask for") as refused:
        requester.init_connection()
    assert refused.value.error_code == ErrorCode.InvalidResponseCode
    assert requester.connection.channel.negotiated is None


def test_a_ct_exponent_over_the_limit_is_refused() -> None:
    requester = _rewriting(demo_config(), Code.CAPABILITIES, lambda c: dataclasses.replace(c, ct_exponent=32))
    with pytest.raises(NegotiationError, match="CTExponent 32 is over 31"):
        requester.init_connection()


def _session_offer() -> dict[str, object]:
    sessions = RequesterConfig.with_sessions()
    return {"capabilities": sessions.capabilities, "alg_structs": sessions.alg_structs}


_NO_MEASUREMENTS = dataclasses.replace(
    demo_config(), capabilities=int(F.CERT_CAP | F.CHAL_CAP), measurements=None, endpoint_info=None
)


def test_a_responder_without_meas_cap_selects_no_measurement_algorithms() -> None:
    negotiated = _requester(_NO_MEASUREMENTS)[0].init_connection()
    assert (negotiated.measurement_specification, negotiated.measurement_hash_algo) == (0, 0)
    for change, reason in (
        (lambda a: dataclasses.replace(a, measurement_specification_sel=1), "MeasurementSpecificationSel 0x01"),
        (lambda a: dataclasses.replace(a, measurement_hash_algo=2), "MeasurementHashAlgo 0x2 without MEAS_CAP"),
        (lambda a: dataclasses.replace(a, measurement_hash_algo=6), "MeasurementHashAlgo 0x6 is not one bit"),
    ):
        with pytest.raises(NegotiationError, match=reason):
            _rewriting(_NO_MEASUREMENTS, Code.ALGORITHMS, change).init_connection()


def test_no_measurement_specification_offered_none_selected() -> None:
    """A requester offering no measurement specification gets none selected, MEAS_CAP or not, as
    libspdm_req_negotiate_algorithms.c expects; one selected anyway is refused."""
    negotiated = _requester(demo_config(), measurement_specification=0)[0].init_connection()
    assert negotiated.responder_measurement_cap and negotiated.measurement_specification == 0
    selected = _rewriting(
        demo_config(),
        Code.ALGORITHMS,
        lambda a: dataclasses.replace(a, measurement_specification_sel=1),
        measurement_specification=0,
    )
    with pytest.raises(NegotiationError, match="no measurement specification offered"):
        selected.init_connection()


# --- SET_CERTIFICATE -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "reset_cap", "accepted"),
    [(0x12, False, True), (0x13, False, False), (0x13, True, True)],
)
def test_reset_required_from_1_3_needs_cert_install_reset_cap(version: int, reset_cap: bool, accepted: bool) -> None:
    """libspdm_req_handle_error_response.c: ResetRequired answers SET_CERTIFICATE at 1.2 (1.2.0 has no
    CERT_INSTALL_RESET_CAP) and from 1.3 only from a responder that sets it; else it is an error."""
    reset = F.CERT_INSTALL_RESET_CAP if reset_cap else 0
    capabilities = demo_config().capabilities | PROVISIONING_CAPABILITIES | reset
    config = dataclasses.replace(demo_config(), capabilities=capabilities)
    rewrite = _answer_error(Code.SET_CERTIFICATE, version, ErrorCode.ResetRequired)
    requester, _ = _requester(config, rewrite, versions=(version,))
    requester.init_connection()
    chain = list(config.slots[0].certificates)
    if accepted:
        assert requester.set_certificate(0, chain).reset_required
        return
    with pytest.raises(PeerError) as refused:
        requester.set_certificate(0, chain)
    assert refused.value.error_code == ErrorCode.ResetRequired


# --- OpaqueData of CHALLENGE_AUTH and MEASUREMENTS -----------------------------------------------


_TABLE = version_list_opaque((0x1100,), general=True)  # TotalElements 1, one 12-byte element
_REFUSED_OPAQUE = [
    (b"\x01\x02\x03", "not whole DWORDs"),
    (bytes(4), "TotalElements: no elements"),
    (bytes([2]) + _TABLE[1:], "elements.registry_id: truncated"),
    (_TABLE[:4] + b"\x0c" + _TABLE[5:], "12 names no registry"),
    (_TABLE[:-1] + b"\x01", "AlignPadding is not zero"),
    (_TABLE[:6] + b"\x09\x00" + _TABLE[8:], "elements.data: truncated"),  # OpaqueElementDataLen 9
]
_ACCEPTED_OPAQUE = [
    _TABLE,
    _TABLE + bytes(4),  # libspdm does not look past the last element
    _TABLE[:4] + b"\x0b" + _TABLE[5:],  # registry 0xB (DMTF DSP), the last defined
]


def _unsigned_measurements_with(opaque: bytes, version: int) -> Requester:
    return _rewriting(
        demo_config(), Code.MEASUREMENTS, lambda m: dataclasses.replace(m, opaque_data=opaque), versions=(version,)
    )


@pytest.mark.parametrize(("opaque", "reason"), _REFUSED_OPAQUE)
def test_measurements_opaque_data_must_be_a_general_table(opaque: bytes, reason: str) -> None:
    requester = _unsigned_measurements_with(opaque, 0x12)
    requester.init_connection()
    with pytest.raises(ProtocolError, match=f"MEASUREMENTS OpaqueData is not a general opaque data table: .*{reason}"):
        requester.get_measurements(signed=False)


@pytest.mark.parametrize("opaque", _ACCEPTED_OPAQUE)
def test_measurements_opaque_data_libspdm_accepts(opaque: bytes) -> None:
    requester = _unsigned_measurements_with(opaque, 0x13)
    assert requester.init_connection().general_opaque_data
    assert requester.get_measurements(signed=False).opaque_data == opaque


def test_measurements_opaque_data_before_1_2_is_not_a_table() -> None:
    requester = _unsigned_measurements_with(b"\x01\x02\x03", 0x11)
    requester.init_connection()
    assert requester.get_measurements(signed=False).opaque_data == b"\x01\x02\x03"


@pytest.mark.parametrize(
    ("opaque", "refusal"),
    [
        (bytes(4), ProtocolError),  # TotalElements 0: refused before the signature is checked
        (_TABLE, VerificationError),  # a table: taken, then the rewritten answer's signature fails
    ],
)
def test_challenge_auth_opaque_data_is_checked_before_its_signature(opaque: bytes, refusal: type[Exception]) -> None:
    config = demo_config()
    requester = _rewriting(
        config, Code.CHALLENGE_AUTH, lambda m: dataclasses.replace(m, opaque_data=opaque), versions=(0x12,)
    )
    requester.init_connection()
    requester.get_certificate(0)
    requester.verify_certificate(0)
    with pytest.raises(refusal) as refused:
        requester.challenge(0)
    assert type(refused.value) is refusal


# --- MEASUREMENTS of all: 1 to 254 blocks --------------------------------------------------------


@pytest.mark.parametrize("version", [0x10, 0x12, 0x13])
def test_all_measurements_with_no_block_is_refused(version: int) -> None:
    config = dataclasses.replace(demo_config(), measurements=StaticMeasurements(()))
    requester, _ = _requester(config, versions=(version,))
    requester.init_connection()
    with pytest.raises(ProtocolError, match="MEASUREMENTS of all measurements with NumberOfBlocks 0"):
        requester.get_measurements(signed=False)


def test_all_measurements_in_255_blocks_is_refused() -> None:
    raw = DmtfMeasurement(value_type=0x80, value=b"\x00")
    blocks = tuple(MeasurementBlock(index=index, measurement=raw) for index in range(1, 256))
    requester = _rewriting(demo_config(), Code.MEASUREMENTS, lambda m: dataclasses.replace(m, blocks=blocks))
    requester.init_connection()
    with pytest.raises(ProtocolError, match="NumberOfBlocks 255"):
        requester.get_measurements(signed=False)


# --- MEASUREMENTS: what libspdm_req_get_measurements.c refuses ----------------------------------

_FIRST_BLOCK = 8  # the first block of a MEASUREMENTS: after the header, NumberOfBlocks and MeasurementRecordLength


def _byte_set(code: int, offset: int, value: int) -> Rewrite:
    """Sets one byte of every `code` response (unsigned answers only: no signature to break)."""
    return lambda request, response: (
        response[:offset] + bytes([value]) + response[offset + 1 :] if response[1] == code else None
    )


@pytest.mark.parametrize(
    ("offset", "value", "reason"),
    [
        (_FIRST_BLOCK, 0x00, "block index 0: a block index is 1 to 254"),
        (_FIRST_BLOCK, 0xFF, "block index 255: a block index is 1 to 254"),
        (_FIRST_BLOCK + 1, 0x00, "MeasurementSpecification 0x00, not the negotiated 0x01"),
        (_FIRST_BLOCK + 1, 0x02, "MeasurementSpecification 0x02, not the negotiated 0x01"),
        (_FIRST_BLOCK + 1, 0x03, "MeasurementSpecification 0x03, not the negotiated 0x01"),
    ],
    ids=["index 0", "index 0xFF", "specification 0", "specification 2", "specification 3"],
)
def test_measurement_blocks_are_checked_as_libspdm_checks_them(offset: int, value: int, reason: str) -> None:
    requester, _ = _requester(demo_config(), _byte_set(Code.MEASUREMENTS, offset, value))
    requester.init_connection()
    with pytest.raises(ProtocolError, match=reason) as refused:
        requester.get_measurements(signed=False)
    assert refused.value.error_code == ErrorCode.InvalidResponseCode


@pytest.mark.parametrize("total", [0, 0xFF])
def test_a_count_of_0_or_255_measurements_is_refused(total: int) -> None:
    requester, _ = _requester(demo_config(), _byte_set(Code.MEASUREMENTS, 2, total))
    requester.init_connection()
    with pytest.raises(ProtocolError, match=f"MEASUREMENTS counts {total} measurements"):
        requester.get_measurements(0, signed=False)


def test_a_count_of_1_to_254_is_the_result() -> None:
    requester, _ = _requester(demo_config(), _byte_set(Code.MEASUREMENTS, 2, 0xFE))
    requester.init_connection()
    assert requester.get_measurements(0, signed=False).total_indices == 0xFE


@pytest.mark.parametrize(("version", "param2"), [(0x12, 0x10), (0x12, 0x20), (0x13, 0x20)])
def test_an_unsigned_answer_reports_no_content_change(version: int, param2: int) -> None:
    requester, _ = _requester(demo_config(), _byte_set(Code.MEASUREMENTS, 3, param2), versions=(version,))
    requester.init_connection()
    with pytest.raises(ProtocolError, match="an unsigned MEASUREMENTS reports a content change"):
        requester.get_measurements(signed=False)


def test_param2_of_an_unsigned_1_1_answer_is_not_read() -> None:
    requester, _ = _requester(demo_config(), _byte_set(Code.MEASUREMENTS, 3, 0x30), versions=(0x11,))
    requester.init_connection()
    assert requester.get_measurements(signed=False).content_changed == 0


@pytest.mark.parametrize(
    "spoil",
    [
        lambda response: response[:_FIRST_BLOCK] + response[_FIRST_BLOCK + 4 :],  # a block cut: does not decode
        lambda response: response[:-1] + bytes([response[-1] ^ 1]),  # a signature that does not verify
        lambda response: response[:2] + b"\x05" + response[3:],  # the answer of another slot
    ],
    ids=["undecodable", "bad signature", "other slot"],
)
def test_a_refused_measurements_answer_restarts_l1_l2(spoil: Callable[[bytes], bytes]) -> None:
    """libspdm_req_get_measurements.c resets M on every failure: the responder restarted its M when it
    signed, so the next signed read must start from an empty L1/L2 on both sides."""
    armed = [False]

    def rewrite(request: bytes, response: bytes) -> bytes | None:
        if response[1] != Code.MEASUREMENTS or not armed[0]:
            return None
        armed[0] = False
        return spoil(response)

    requester, _ = _requester(demo_config(), rewrite)
    requester.init_connection()
    requester.get_certificate(0)
    requester.verify_certificate(0)
    requester.get_measurements(1, signed=False)  # M now holds an unsigned pair
    armed[0] = True
    with pytest.raises((ProtocolError, VerificationError, DecodeError)):
        requester.get_measurements(signed=True)
    assert requester.get_measurements(signed=True).signed


# --- ResponseNotReady ----------------------------------------------------------------------------


@pytest.mark.parametrize("rdtm", [0, 1])
def test_response_not_ready_with_rdtm_under_2_is_refused(rdtm: int) -> None:
    slept: list[float] = []
    requester, peer = _requester(demo_config(), sleep=slept.append)
    requester.init_connection()
    peer.responder.answer_not_ready(1, rd_exponent=3, rdtm=rdtm)
    with pytest.raises(ProtocolError, match=f"RDTM {rdtm}: it must be over 1"):
        requester.get_digests()
    assert slept == []
    peer.responder.answer_not_ready(1, rd_exponent=3, rdtm=2)
    assert 0 in requester.get_digests()


# --- GET_ENCAPSULATED_REQUEST with nothing pending -----------------------------------------------


@pytest.mark.parametrize("version", [0x11, 0x12, 0x13])
@pytest.mark.parametrize("code", [ErrorCode.UnexpectedRequest, ErrorCode.NoPendingRequests])
def test_nothing_pending_is_one_error_per_version(version: int, code: ErrorCode) -> None:
    """libspdm_req_encap_request.c: NoPendingRequests from 1.3, UnexpectedRequest before; the other is
    an ERROR like any other."""
    config = dataclasses.replace(demo_config(), capabilities=demo_config().capabilities | F.ENCAP_CAP)
    rewrite = _answer_error(Code.GET_ENCAPSULATED_REQUEST, version, code)
    capabilities = RequesterConfig().capabilities | F.ENCAP_CAP
    requester, _ = _requester(config, rewrite, versions=(version,), capabilities=capabilities)
    requester.init_connection()
    idle = ErrorCode.NoPendingRequests if version >= 0x13 else ErrorCode.UnexpectedRequest
    if code == idle:
        assert requester.serve_encapsulated_requests() == 0
        return
    with pytest.raises(PeerError) as refused:
        requester.serve_encapsulated_requests()
    assert refused.value.error_code == code
