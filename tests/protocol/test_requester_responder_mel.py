"""The measurement extension log (SPDM 1.3) between our requester and our responder, in memory: in
the clear, in a session, in several portions, through the asyncio driver; the binding to the
measurements; the responder's refusals; and y2's recorded request answered byte for byte."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from v12_captures import clear_messages

from spdm.aio import AsyncDoeTransport, AsyncRequester, ThreadedDoeLink
from spdm.errors import NegotiationError, PeerError, ProtocolError, VerificationError
from spdm.limits import Limits
from spdm.measurements import StaticMeasurements
from spdm.messages import Code, decode, encode
from spdm.messages.codes import ErrorCode
from spdm.messages.context import CodecContext
from spdm.messages.error import ErrorResponse
from spdm.messages.measurements import DmtfMeasurement, Measurements
from spdm.messages.mel import (
    GetMeasurementExtensionLog,
    MeasurementExtensionLog,
    MelEntry,
    MelLog,
    decode_mel,
    encode_mel,
)
from spdm.messages.negotiation import Algorithms, Capabilities, GetCapabilities, NegotiateAlgorithms
from spdm.negotiated import Negotiated
from spdm.requester import Connection, Done, MeasurementResult, Requester, RequesterConfig, Send
from spdm.responder import Responder, ResponderConfig, demo_config
from spdm.responder.demo import DEMO_MEL_INDEX, demo_measurements, demo_mel
from spdm.testing import MemoryDoeLink
from spdm.transport.doe import DoeTransport

Y2 = "y2_mel_epinfo_keypairinfo_multikey_v13"
_VCA = (Code.GET_CAPABILITIES, Code.CAPABILITIES, Code.NEGOTIATE_ALGORITHMS, Code.ALGORITHMS)


def _config(**changes: Any) -> ResponderConfig:
    return dataclasses.replace(demo_config(sessions=True, mel=True), max_padding=3, **changes)


def _requester(responder: Responder, **changes: Any) -> Requester:
    config = RequesterConfig.with_sessions(trust_anchors={0: responder.config.slots[0].certificates[0]})
    return Requester(DoeTransport(MemoryDoeLink(responder.respond)), dataclasses.replace(config, **changes))


def test_read_in_the_clear_and_checked() -> None:
    requester = _requester(Responder(_config()))
    result = requester.authenticate(0)
    assert result.negotiated.version == 0x13 and result.measurements is not None
    mel = requester.get_measurement_extension_log()
    assert mel.log == demo_mel() and mel.raw == encode_mel(demo_mel())
    assert mel.check(result.measurements) == (DEMO_MEL_INDEX,)


def test_read_in_a_session() -> None:
    requester = _requester(Responder(_config()))
    requester.authenticate(0, measurements=None)
    with requester.key_exchange(0) as session:
        measured = session.get_measurements(0xFF)
        mel = session.get_measurement_extension_log()
    assert mel.log == demo_mel() and mel.check(measured) == (DEMO_MEL_INDEX,)


def _large_log(entries: int, size: int) -> MelLog:
    def entry(n: int) -> MelEntry:
        measurement = DmtfMeasurement(value_type=0x89, value=bytes([n]) * size)
        return MelEntry(mel_index=n, meas_index=DEMO_MEL_INDEX, measurement=measurement)

    return MelLog(entries=tuple(entry(n) for n in range(1, entries + 1)))


def test_read_in_portions() -> None:
    """A 6.6 KiB log through a 4608-byte DataTransferSize: two portions, then the check."""
    log = _large_log(30, 210)
    responder = Responder(_config(measurement_extension_log=log, measurements=demo_measurements(log)))
    link = MemoryDoeLink(responder.respond, record=True)
    anchors = {0: responder.config.slots[0].certificates[0]}
    requester = Requester(DoeTransport(link), RequesterConfig(trust_anchors=anchors))
    result = requester.authenticate(0)
    mel = requester.get_measurement_extension_log()
    assert mel.log == log and result.measurements is not None and mel.check(result.measurements) == (0x11,)
    asked = [decode(sent[8:20]) for sent in link.sent if sent[9] == Code.GET_MEASUREMENT_EXTENSION_LOG]
    size = len(encode_mel(log))
    assert [(a.offset, a.length) for a in asked if isinstance(a, GetMeasurementExtensionLog)] == [
        (0, 4596),
        (4596, size - 4596),
    ]


def test_a_log_over_the_limit_is_refused() -> None:
    log = _large_log(30, 210)
    responder = Responder(_config(measurement_extension_log=log, measurements=demo_measurements(log)))
    requester = _requester(responder, limits=Limits(max_mel_bytes=4096))
    requester.init_connection()
    with pytest.raises(ProtocolError, match="over the 4096 bytes allowed") as caught:
        requester.get_measurement_extension_log()
    assert caught.value.error_code == ErrorCode.InvalidResponseCode


def test_an_inconsistent_log_fails_the_check() -> None:
    """The device serves a log one entry longer than what its hash-extended block extends."""
    log = demo_mel()
    grown = dataclasses.replace(log, entries=(*log.entries, dataclasses.replace(log.entries[0], mel_index=4)))
    requester = _requester(Responder(_config(measurement_extension_log=grown)))
    result = requester.authenticate(0)
    assert result.measurements is not None
    mel = requester.get_measurement_extension_log()
    with pytest.raises(VerificationError, match="index 17 is not the extension"):
        mel.check(result.measurements)
    one = requester.get_measurements(1)
    with pytest.raises(VerificationError, match="every measurement block"):
        mel.check(one)


def test_no_mel_cap_no_request() -> None:
    responder = Responder(dataclasses.replace(demo_config(), max_padding=3))
    requester = _requester(responder)
    requester.init_connection()
    with pytest.raises(NegotiationError, match="MEL_CAP"):
        requester.get_measurement_extension_log()
    response = responder.respond(encode(GetMeasurementExtensionLog(length=100)))
    assert decode(response) == ErrorResponse(
        version=0x13, error_code=ErrorCode.UnsupportedRequest, error_data=Code.GET_MEASUREMENT_EXTENSION_LOG
    )


def test_mel_cap_without_a_log_is_operation_failed() -> None:
    """A raw replay's flags may advertise MEL_CAP with no log: libspdm's answer, OperationFailed."""
    config = dataclasses.replace(_config(), measurement_extension_log=None)
    requester = _requester(Responder(config))
    requester.init_connection()
    with pytest.raises(PeerError) as caught:
        requester.get_measurement_extension_log()
    assert caught.value.error_code == ErrorCode.OperationFailed


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        (0, 1, ("portion", 1)),
        (5, 0, ("portion", 0)),
        (0, 0xFFFFFFFF, ("portion", None)),
        (None, 1, ("error", ErrorCode.InvalidRequest)),  # Offset = the log's size
        (0xFFFFFFFF, 1, ("error", ErrorCode.InvalidRequest)),
    ],
    ids=["one_byte", "zero_length", "all", "offset_at_end", "offset_huge"],
)
def test_responder_portions_and_refusals(offset: int | None, length: int, expected: tuple[str, Any]) -> None:
    responder = Responder(_config())
    requester = _requester(responder)
    requester.init_connection()
    log = encode_mel(demo_mel())
    at = len(log) if offset is None else offset
    before = responder.state
    answer = decode(responder.respond(encode(GetMeasurementExtensionLog(offset=at, length=length))))
    kind, value = expected
    if kind == "error":
        assert isinstance(answer, ErrorResponse) and answer.error_code == value
    else:
        size = len(log) - at if value is None else value
        assert answer == MeasurementExtensionLog(remainder_length=len(log) - at - size, portion=log[at : at + size])
    assert responder.state is before
    assert requester.get_measurement_extension_log().log == demo_mel()  # nothing changed


def test_asyncio_driver() -> None:
    responder = Responder(_config())

    async def main() -> tuple[MelLog, MelLog]:
        transport = AsyncDoeTransport(ThreadedDoeLink(MemoryDoeLink(responder.respond)))
        anchors = {0: responder.config.slots[0].certificates[0]}
        requester = AsyncRequester(transport, RequesterConfig.with_sessions(trust_anchors=anchors))
        await requester.authenticate(0)
        clear = await requester.get_measurement_extension_log()
        async with await requester.key_exchange(0) as session:
            inside = await session.get_measurement_extension_log()
        return clear.log, inside.log

    assert asyncio.run(asyncio.wait_for(main(), timeout=60)) == (demo_mel(), demo_mel())


def test_y2_request_answered_byte_for_byte(libspdm_v12_v13_vectors: Path) -> None:
    """Configured with y2's log, the responder answers y2's recorded GET_MEASUREMENT_EXTENSION_LOG
    (Length 0x27FF4, as libspdm's requester asks) with y2's MEASUREMENT_EXTENSION_LOG exactly."""
    pcap = libspdm_v12_v13_vectors / Y2 / "requester.pcap"
    (_, request), (_, expected) = clear_messages(
        pcap, {Code.GET_MEASUREMENT_EXTENSION_LOG, Code.MEASUREMENT_EXTENSION_LOG}
    )
    recorded = decode(expected)
    assert isinstance(recorded, MeasurementExtensionLog)
    log = decode_mel(recorded.portion)
    responder = Responder(_config(measurement_extension_log=log, measurements=StaticMeasurements(())))
    _requester(responder).init_connection()
    assert responder.respond(request + bytes(-len(request) % 4)) == expected


def test_requester_asks_as_libspdm_does_and_checks_y2(libspdm_v12_v13_vectors: Path) -> None:
    """The sans-IO requester, negotiated as y2's connection was (with y2's 0x28000 MaxSPDMmsgSize),
    sends y2's GET_MEASUREMENT_EXTENSION_LOG byte for byte, takes y2's answer, and finds the log
    consistent with y2's signed MEASUREMENTS of every block."""
    pcap = libspdm_v12_v13_vectors / Y2 / "requester.pcap"
    vca = {data[1]: decode(data) for _, data in clear_messages(pcap, set(_VCA))}
    asked, capabilities, offer, algorithms = (vca[code] for code in _VCA)
    assert isinstance(asked, GetCapabilities) and isinstance(capabilities, Capabilities)
    assert isinstance(offer, NegotiateAlgorithms) and isinstance(algorithms, Algorithms)
    negotiated = Negotiated.from_vca(0x13, asked, capabilities, algorithms, offer)
    mel_codes = {Code.GET_MEASUREMENT_EXTENSION_LOG, Code.MEASUREMENT_EXTENSION_LOG}
    (_, request), (_, response) = clear_messages(pcap, mel_codes)
    context = CodecContext(signature_size=96, signature_requested=True)
    ((_, measured),) = clear_messages(pcap, {Code.MEASUREMENTS}, context)
    blocks = decode(measured, context)
    assert isinstance(blocks, Measurements)
    config = RequesterConfig(
        capabilities=negotiated.requester_flags,
        data_transfer_size=0x1200,
        max_spdm_msg_size=0x28000,
        limits=Limits(max_response_bytes=0x28000),
    )
    connection = Connection(config, max_padding=3)
    connection.channel.negotiated = negotiated
    operation = connection.get_measurement_extension_log()
    event = operation.next_event()
    assert isinstance(event, Send) and event.request == request
    done = operation.receive(response + bytes(-len(response) % 4))
    assert isinstance(done, Done)
    result = done.result
    assert result.raw == decode(response).portion  # type: ignore[attr-defined]
    measurements = MeasurementResult(
        operation=0xFF,
        blocks=blocks.blocks,
        total_indices=None,
        signed=True,
        slot=0,
        requester_nonce=None,
        responder_nonce=blocks.nonce,
        opaque_data=b"",
    )
    assert result.check(measurements) == (0x11,)
