"""Resource bounds (`spdm.limits.Limits`): each limit accepts its maximal value and refuses one more,
on the requester (driven by a responder sending over-limit data) and on the responder (over-limit requests)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from asn1crypto import csr as asn1_csr
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from spdm.errors import NegotiationError, PeerError, ProtocolError
from spdm.limits import DEFAULT_LIMITS, Limits
from spdm.measurements import StaticMeasurements
from spdm.messages import decode, encode
from spdm.messages.codes import BaseAsymAlgo, ErrorCode, MeasurementValueType
from spdm.messages.error import ErrorResponse
from spdm.messages.measurements import DmtfMeasurement, MeasurementBlock, Measurements
from spdm.messages.negotiation import DEFAULT_TRANSFER_SIZE
from spdm.messages.provisioning import GetCsr
from spdm.messages.vendor import VendorDefinedRequest
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, SlotIdentity, demo_config
from spdm.testing.pki import make_chain
from spdm.transport.loopback import LoopbackTransport

E = ErrorCode
PSK = b"\x5a" * 32
HINT = b"limits"
VENDOR = (3, b"\x01\x00")
_HEADER = 9 + len(VENDOR[1])  # VENDOR_DEFINED_* bytes before the payload


def _requester(responder: Responder, limits: Limits = DEFAULT_LIMITS, **settings: object) -> Requester:
    config = RequesterConfig(limits=limits, **settings)  # type: ignore[arg-type]
    requester = Requester(LoopbackTransport(responder.respond), config)
    requester.init_connection()
    return requester


def _over_response(check: Callable[[], object]) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        check()
    assert not isinstance(info.value, PeerError)
    assert info.value.error_code == E.InvalidResponseCode
    return info.value


def _peer_error(check: Callable[[], object], code: int) -> None:
    with pytest.raises(PeerError) as info:
        check()
    assert info.value.error_code == code


def _vendor_responder(answer_size: int, **config: object) -> Responder:
    responder = Responder(dataclasses.replace(demo_config(), **config))  # type: ignore[arg-type]
    responder.register_vendor_handler(*VENDOR, lambda request: b"\xa5" * answer_size)
    return responder


# --- the dataclass ------------------------------------------------------------------------------


def test_defaults_and_ranges() -> None:
    limits = Limits()
    assert limits.max_request_bytes == 4608 and limits.max_sessions == 4 and limits.max_opaque_bytes == 1024
    assert limits.max_chain_bytes == 0xFFFF and limits.max_measurement_blocks == 255
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.max_sessions = 5  # type: ignore[misc]
    for name, bad in [
        ("max_opaque_bytes", 1025),
        ("max_chain_bytes", 0x10000),
        ("max_sessions", 0),
        ("max_sessions", 256),
        ("max_request_bytes", 3),
        ("max_measurement_blocks", 256),
        ("max_measurement_record_bytes", 1 << 24),
        ("max_vendor_request_bytes", -1),
        ("max_requester_sessions", 0),
    ]:
        with pytest.raises(ValueError, match=name):
            Limits(**{name: bad})
    with pytest.raises(ValueError, match="limits"):
        RequesterConfig(limits=4)  # type: ignore[arg-type]


def test_responder_config_has_one_source_of_truth() -> None:
    """`limits` is the only place a responder's bounds are set: no shorthand field repeats them."""
    config = demo_config()
    assert config.limits == DEFAULT_LIMITS
    assert not {"max_sessions", "max_request_size"} & {f.name for f in dataclasses.fields(config)}
    sizes = {"data_transfer_size": 512, "max_spdm_msg_size": 512}
    short = dataclasses.replace(config, limits=Limits(max_sessions=2, max_request_bytes=512), **sizes)
    assert short.limits.max_sessions == 2 and short.limits.max_request_bytes == 512
    with pytest.raises(ValueError, match="limits"):
        dataclasses.replace(config, limits=4)


# --- message sizes --------------------------------------------------------------------------------


def test_responder_max_request_bytes() -> None:
    limit = 100
    responder = _vendor_responder(
        1, limits=Limits(max_request_bytes=limit), data_transfer_size=limit, max_spdm_msg_size=limit
    )
    requester = _requester(responder)
    assert requester.vendor_defined(*VENDOR, b"\x00" * (limit - _HEADER)) == b"\xa5"
    with pytest.raises(NegotiationError, match="over the responder's MaxSPDMmsgSize 100"):  # not sent
        requester.vendor_defined(*VENDOR, b"\x00" * (limit - _HEADER + 1))
    version = requester.negotiated.version
    payload = bytes(limit - _HEADER + 1)
    over = VendorDefinedRequest(version=version, standard_id=VENDOR[0], vendor_id=VENDOR[1], payload=payload)
    answer = decode(responder.respond(encode(over)))  # the responder refuses it too
    assert isinstance(answer, ErrorResponse) and answer.error_code == E.InvalidRequest


def test_responder_takes_the_request_size_it_advertises() -> None:
    """The default responder advertises MaxSPDMmsgSize 4608 at 1.2 and reads a GET_CSR of 4097..4608 bytes."""
    config = dataclasses.replace(demo_config(provisioning=True), versions=(0x10, 0x11, 0x12))
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "many names")])
    )
    names = [x509.DNSName(f"device-{n:04d}.example") for n in range(200)]
    builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    der = builder.sign(config.slots[0].private_key, hashes.SHA384()).public_bytes(Encoding.DER)  # type: ignore[arg-type]
    info = bytes(asn1_csr.CertificationRequest.load(der)["certification_request_info"].dump())
    assert 4096 < len(encode(GetCsr(requester_info=info))) <= DEFAULT_TRANSFER_SIZE
    requester = _requester(Responder(config), trust_anchors={0: config.slots[0].certificates[0]})
    assert requester.negotiated.responder_max_spdm_msg_size == DEFAULT_TRANSFER_SIZE
    csr = x509.load_der_x509_csr(requester.get_csr(info))
    assert csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value == x509.SubjectAlternativeName(
        names
    )


def test_configs_refuse_a_max_spdm_msg_size_their_limits_refuse() -> None:
    """Each role advertises as MaxSPDMmsgSize at most the largest message its limits let it read."""
    with pytest.raises(ValueError, match=r"max_spdm_msg_size 4608 is over limits\.max_request_bytes 4096"):
        dataclasses.replace(demo_config(), limits=Limits(max_request_bytes=4096))
    with pytest.raises(ValueError, match=r"max_spdm_msg_size 4097 is over limits\.max_response_bytes 4096"):
        RequesterConfig(max_spdm_msg_size=4097, limits=Limits(max_response_bytes=4096))
    fits = RequesterConfig(data_transfer_size=4096, max_spdm_msg_size=4096, limits=Limits(max_response_bytes=4096))
    assert fits.max_spdm_msg_size == 4096


def test_requester_max_response_bytes() -> None:
    limit = 100
    for size, ok in ((limit - _HEADER, True), (limit - _HEADER + 1, False)):
        # SPDM 1.1: no MaxSPDMmsgSize on the wire, so the responder sends the oversized answer
        sizes = {"data_transfer_size": limit, "max_spdm_msg_size": limit, "versions": (0x11,)}
        requester = _requester(_vendor_responder(size), Limits(max_response_bytes=limit), **sizes)
        if ok:
            assert len(requester.vendor_defined(*VENDOR, b"")) == size
        else:
            error = _over_response(lambda r=requester: r.vendor_defined(*VENDOR, b""))  # type: ignore[misc]
            assert "response" in str(error)


# --- measurement records --------------------------------------------------------------------------


def _block(index: int, value_size: int) -> MeasurementBlock:
    raw_bit_stream = MeasurementValueType.IMMUTABLE_ROM | 0x80
    value = DmtfMeasurement(value_type=raw_bit_stream, value=b"\x11" * value_size)
    return MeasurementBlock(index=index, measurement=value)


def _measuring(*blocks: MeasurementBlock) -> Responder:
    return Responder(dataclasses.replace(demo_config(), measurements=StaticMeasurements(measured=blocks)))


def test_requester_max_measurement_record_bytes() -> None:
    limit = 300  # one block: 4-byte block header, 3-byte DMTF header, the value
    limits = Limits(max_measurement_record_bytes=limit)
    fits = _requester(_measuring(_block(1, limit - 7)), limits).get_measurements(signed=False)
    assert len(fits.blocks) == 1
    over = _requester(_measuring(_block(1, limit - 6)), limits)
    assert "MeasurementRecordLength 301" in str(_over_response(lambda: over.get_measurements(signed=False)))


def test_requester_max_measurement_blocks() -> None:
    limits = Limits(max_measurement_blocks=3)
    fits = _requester(_measuring(*(_block(i, 4) for i in (1, 2, 3))), limits).get_measurements(signed=False)
    assert [b.index for b in fits.blocks] == [1, 2, 3]
    over = _requester(_measuring(*(_block(i, 4) for i in (1, 2, 3, 4))), limits)
    assert "NumberOfBlocks 4" in str(_over_response(lambda: over.get_measurements(signed=False)))


# --- certificate chains ---------------------------------------------------------------------------


def test_requester_max_chain_bytes() -> None:
    chain = make_chain(BaseAsymAlgo.ECDSA_P256, depth=6)
    identity = SlotIdentity(certificates=chain.certificates_der, private_key=chain.leaf_key)
    config = dataclasses.replace(demo_config(), slots={0: identity}, base_asym_priority=(BaseAsymAlgo.ECDSA_P256,))
    responder = Responder(config)
    size = len(_requester(responder).get_certificate(0))
    assert size > 6 * 200
    fits = _requester(responder, Limits(max_chain_bytes=size), certificate_portion=0x100)
    assert len(fits.get_certificate(0)) == size
    over = _requester(responder, Limits(max_chain_bytes=size - 1), certificate_portion=0x100)
    assert "certificate chain" in str(_over_response(lambda: over.get_certificate(0)))
    assert 0 not in over.chains


# --- opaque data ----------------------------------------------------------------------------------


def _with_opaque(responder: Responder, size: int) -> Callable[[bytes, int | None], bytes]:
    """The responder, with `size` bytes of OpaqueData put in its (unsigned) MEASUREMENTS: a general
    opaque data table of one empty element, then zeros (as libspdm checks it, nothing after the last
    element is looked at)."""

    def respond(request: bytes, session_id: int | None) -> bytes:
        response = responder.respond(request, session_id)
        if response[1] != 0x60:
            return response
        message = decode(response, responder.negotiated.codec_context())  # type: ignore[union-attr]
        assert isinstance(message, Measurements)
        return encode(dataclasses.replace(message, opaque_data=b"\x01" + b"\x00" * (size - 1)))

    return respond


def test_requester_max_opaque_bytes() -> None:
    limit = 16
    for size, ok in ((limit, True), (limit + 1, False)):
        transport = LoopbackTransport(_with_opaque(Responder(demo_config()), size))
        requester = Requester(transport, RequesterConfig(limits=Limits(max_opaque_bytes=limit)))
        requester.init_connection()
        if ok:
            assert len(requester.get_measurements(signed=False).opaque_data) == limit
        else:
            assert "OpaqueData" in str(_over_response(lambda r=requester: r.get_measurements(signed=False)))  # type: ignore[misc]


def _session_pair(responder_limits: Limits, requester_limits: Limits = DEFAULT_LIMITS) -> Requester:
    responder = Responder(dataclasses.replace(demo_config(sessions=True, psks={HINT: PSK}), limits=responder_limits))
    config = RequesterConfig.with_sessions(psk=PSK, psk_hint=HINT, limits=requester_limits)
    requester = Requester(LoopbackTransport(responder.respond), config)
    requester.init_connection()
    return requester


def test_responder_max_opaque_bytes() -> None:
    from spdm.messages.opaque import version_list_opaque
    from spdm.requester import SECURED_MESSAGE_VERSIONS

    size = len(version_list_opaque(SECURED_MESSAGE_VERSIONS, general=True))  # PSK_EXCHANGE's OpaqueData (1.2)
    assert _session_pair(Limits(max_opaque_bytes=size)).psk_exchange().established
    over = _session_pair(Limits(max_opaque_bytes=size - 1))
    _peer_error(over.psk_exchange, E.InvalidRequest)


# --- vendor payloads ------------------------------------------------------------------------------


def test_responder_max_vendor_request_bytes() -> None:
    limit = 64
    requester = _requester(_vendor_responder(1, limits=Limits(max_vendor_request_bytes=limit)))
    assert requester.vendor_defined(*VENDOR, b"\x00" * limit) == b"\xa5"
    _peer_error(lambda: requester.vendor_defined(*VENDOR, b"\x00" * (limit + 1)), E.InvalidRequest)


def test_responder_refuses_raw_oversized_vendor_request() -> None:
    """The limit is read from ReqLength before the payload is decoded, whatever the requester is."""
    responder = _vendor_responder(1, limits=Limits(max_vendor_request_bytes=8))
    negotiated = _requester(responder).negotiated
    assert negotiated is not None
    version = negotiated.version
    for size, code in ((8, 0x7E), (9, 0x7F)):
        raw = encode(
            VendorDefinedRequest(version=version, standard_id=VENDOR[0], vendor_id=VENDOR[1], payload=b"\x00" * size)
        )
        response = responder.respond(raw, None)
        assert response[1] == code
        if code == 0x7F:
            assert response[2] == E.InvalidRequest


def test_responder_max_vendor_response_bytes() -> None:
    limit = 64
    fits = _requester(_vendor_responder(limit, limits=Limits(max_vendor_response_bytes=limit)))
    assert len(fits.vendor_defined(*VENDOR, b"")) == limit
    over = _requester(_vendor_responder(limit + 1, limits=Limits(max_vendor_response_bytes=limit)))
    _peer_error(lambda: over.vendor_defined(*VENDOR, b""), E.Unspecified)


def test_requester_max_vendor_response_bytes() -> None:
    limit = 64
    limits = Limits(max_vendor_response_bytes=limit)
    assert len(_requester(_vendor_responder(limit), limits).vendor_defined(*VENDOR, b"")) == limit
    over = _requester(_vendor_responder(limit + 1), limits)
    assert "vendor-defined payload" in str(_over_response(lambda: over.vendor_defined(*VENDOR, b"")))


def test_requester_max_vendor_request_bytes() -> None:
    limit = 64
    sent: list[bytes] = []
    responder = _vendor_responder(1)

    def respond(request: bytes, session_id: int | None) -> bytes:
        sent.append(request)
        return responder.respond(request, session_id)

    requester = Requester(LoopbackTransport(respond), RequesterConfig(limits=Limits(max_vendor_request_bytes=limit)))
    requester.init_connection()
    assert requester.vendor_defined(*VENDOR, b"\x00" * limit) == b"\xa5"
    count = len(sent)
    with pytest.raises(ProtocolError) as info:
        requester.vendor_defined(*VENDOR, b"\x00" * (limit + 1))
    assert info.value.error_code == E.InvalidRequest and len(sent) == count


# --- session tables -------------------------------------------------------------------------------


def test_responder_max_sessions() -> None:
    requester = _session_pair(Limits(max_sessions=2))
    opened = [requester.psk_exchange() for _ in range(2)]
    assert all(session.established for session in opened)
    _peer_error(requester.psk_exchange, E.SessionLimitExceeded)
    opened[0].close()
    assert requester.psk_exchange().established


def test_requester_max_requester_sessions() -> None:
    requester = _session_pair(Limits(max_sessions=8), Limits(max_requester_sessions=2))
    opened = [requester.psk_exchange() for _ in range(2)]
    with pytest.raises(ProtocolError) as info:
        requester.psk_exchange()
    assert info.value.error_code == E.SessionLimitExceeded and not isinstance(info.value, PeerError)
    assert len(requester.sessions) == 2
    opened[1].close()
    assert requester.psk_exchange().established
