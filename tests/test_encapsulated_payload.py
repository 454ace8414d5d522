"""An encapsulated carrier's payload: one SPDM message, then at most the transport's padding
(`spdm.messages.encapsulated.embedded_message`), read the same way by the requester, the responder,
the flow decoder, `spdm dump` and `spdm verify`.

Capture /work/shared/vectors/libspdm-v12-v13/y2_mel_epinfo_keypairinfo_multikey_v13 (record numbers as
in its dump_full.txt): the responder's encapsulated GET_ENDPOINT_INFO (ENCAPSULATED_REQUEST, record 34)
and the requester's signed ENDPOINT_INFO in DELIVER_ENCAPSULATED_RESPONSE (record 35), in the clear
over DOE; the capture's DOE padding is already cut from the records `spdm.capture.messages` yields.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from spdm.capture import LINKTYPE_PCI_DOE, CapturedMessage, CaptureSecrets, messages, read_pcap, write_pcap
from spdm.dump import describe, run
from spdm.errors import DecodeError
from spdm.flow import FlowDecoder
from spdm.messages import encode
from spdm.messages.codes import BaseAsymAlgo
from spdm.messages.encapsulated import DeliverEncapsulatedResponse, embedded_message
from spdm.messages.endpoint_info import EndpointInfo
from spdm.messages.negotiation import Algorithms, NegotiateAlgorithms
from spdm.negotiated import Negotiated
from spdm.transport.doe import DoeType, encode_object
from spdm.verify.endpoint_info import EndpointInfoWatch

FOLDER = "y2_mel_epinfo_keypairinfo_multikey_v13"
DELIVER = 35


def _records(folder: Path) -> dict[int, CapturedMessage]:
    return {item.index: item for item in messages(read_pcap(folder / "requester.pcap"))}


def _negotiated(records: dict[int, CapturedMessage]) -> Negotiated:
    flow = FlowDecoder()
    for index in range(7, 13):
        flow.decode(records[index].data)
    assert flow.negotiated is not None
    return flow.negotiated


def _padded_deliver(records: dict[int, CapturedMessage], padding: bytes) -> DeliverEncapsulatedResponse:
    deliver = records[DELIVER].message
    assert isinstance(deliver, DeliverEncapsulatedResponse)
    return replace(deliver, payload=deliver.payload + padding)


@pytest.fixture
def y2_records(libspdm_v12_v13_vectors: Path) -> dict[int, CapturedMessage]:
    return _records(libspdm_v12_v13_vectors / FOLDER)


def test_embedded_message_allows_only_the_transports_padding(y2_records: dict[int, CapturedMessage]) -> None:
    negotiated = _negotiated(y2_records)
    context = negotiated.requester_response_context(signature_requested=True)
    exact = _padded_deliver(y2_records, b"").payload
    answer, carried = embedded_message(exact + bytes(3), context, 3)
    assert isinstance(answer, EndpointInfo) and answer.signature is not None and carried == exact
    for payload, max_padding in ((exact + bytes(1), 0), (exact + bytes(4), 3), (exact + b"\x00\x01", 3)):
        with pytest.raises(DecodeError):
            embedded_message(payload, context, max_padding)


def test_verify_refuses_bytes_after_a_delivered_endpoint_info(y2_records: dict[int, CapturedMessage]) -> None:
    """The capture's padding is cut before `spdm verify` reads the record, and a secured record or an
    MCTP capture has none: a zero byte after the requester's signed ENDPOINT_INFO is not padding (the
    old check allowed DOE's 3 bytes everywhere)."""
    negotiated = _negotiated(y2_records)
    vca = b"".join(y2_records[index].data for index in range(7, 13))
    for padding, refused in ((b"", False), (bytes(1), True)):
        watch = EndpointInfoWatch()
        for index in (33, 34):
            item = y2_records[index]
            assert item.message is not None
            watch.observe(item.message, item.data, negotiated, vca)
        deliver = _padded_deliver(y2_records, padding)
        if refused:
            with pytest.raises(DecodeError, match="follow the embedded ENDPOINT_INFO"):
                watch.observe(deliver, encode(deliver), negotiated, vca)
        else:
            assert watch.observe(deliver, encode(deliver), negotiated, vca) is not None


def test_dump_shows_no_carried_message_with_bytes_after_it(y2_records: dict[int, CapturedMessage]) -> None:
    """`spdm dump` reads what a carrier holds as the roles do: zero bytes after the message that the
    capture's padding cut left are not the message's (the old reading took any number of them)."""
    context = _negotiated(y2_records).requester_response_context(signature_requested=True)
    item = y2_records[DELIVER]
    assert describe(item, None, context)["carried"]["code"] == "ENDPOINT_INFO"
    padded = replace(item, message=_padded_deliver(y2_records, bytes(4)))
    assert "carried" not in describe(padded, None, context)


def test_dump_reads_the_requesters_answer_with_its_signature_size(
    y2_records: dict[int, CapturedMessage], tmp_path: Path
) -> None:
    """`spdm dump` shows the ENDPOINT_INFO a requester delivers as the responder reads it, with
    ReqBaseAsymAlg's signature size (`FlowDecoder.carried_context`), not the responder's. y2's VCA
    (records 7..12) and encapsulated GET_ENDPOINT_INFO (33..36), with the responder's BaseAsymAlgo
    changed to ECDSA P-256 (64-byte signatures): the requester still signs with P-384 (96 bytes)."""
    sent: list[bytes] = []
    for index in (*range(7, 13), 33, 34, DELIVER, 36):
        message = y2_records[index].message
        if isinstance(message, NegotiateAlgorithms):
            message = replace(message, base_asym_algo=message.base_asym_algo | BaseAsymAlgo.ECDSA_P256)
        elif isinstance(message, Algorithms):
            message = replace(message, base_asym_sel=BaseAsymAlgo.ECDSA_P256)
        assert message is not None
        sent.append(encode(message) if index in (11, 12) else y2_records[index].data)
    path = tmp_path / "p256_responder.pcap"
    write_pcap(path, LINKTYPE_PCI_DOE, [(0.0, encode_object(DoeType.CMA_SPDM, data)) for data in sent])
    out, err = io.StringIO(), io.StringIO()
    assert run(path, as_json=True, out=out, err=err, secrets=CaptureSecrets()) == 0, err.getvalue()
    records = {record["code"]: record for record in map(json.loads, out.getvalue().splitlines())}
    carried = records["DELIVER_ENCAPSULATED_RESPONSE"]["carried"]
    assert carried["code"] == "ENDPOINT_INFO" and len(bytes.fromhex(carried["fields"]["signature"])) == 96
