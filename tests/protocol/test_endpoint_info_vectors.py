"""What a signed ENDPOINT_INFO signs (SPDM 1.3), proved on libspdm's own signatures.

Capture /work/shared/vectors/libspdm-v12-v13/y2_mel_epinfo_keypairinfo_multikey_v13 (record
numbers as in its dump_full.txt): the responder's signed ENDPOINT_INFO in the clear (records 31/32)
and the requester's, answering the responder's encapsulated GET_ENDPOINT_INFO (records 34/35; its
chain never crossed the wire: req_slot0_certchain_raw.der). Inside the two sessions the same
exchanges travel encrypted; their plaintext is in requester.log (libspdm's Debug build prints every
SPDM message it sends and receives), with the IL hash libspdm computed for each signature.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from spdm.capture import CaptureSecrets, messages, read_pcap
from spdm.certs import CertChain, load_certificate, load_certificates
from spdm.crypto import asym_suite, hash_suite
from spdm.errors import VerificationError
from spdm.flow import FlowDecoder
from spdm.messages import decode
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo
from spdm.messages.endpoint_info import EndpointInfo
from spdm.requester import RequesterConfig, RequesterIdentity
from spdm.requester.encapsulated import EncapsulatedAnswers
from spdm.testing.replay import recorded_random, recorded_signer
from spdm.transcript import endpoint_info_digest
from spdm.verify import verify_capture

FOLDER = "y2_mel_epinfo_keypairinfo_multikey_v13"
SHA384 = hash_suite(BaseHashAlgo.SHA_384)
P384 = asym_suite(BaseAsymAlgo.ECDSA_P384)
SIGNATURE = 96
# libspdm's "il1il2 hash" lines in requester.log, in order: clear (responder, requester), session 1, session 2
LOGGED_IL = (
    "1f2c3f53e76be11674e5d937a0b1835f",
    "d6f58fec328b6dde3f1afb4627219bf8",
    "3c67a2123407d1176cc57e2de100a981",
    "c6ddd6ced5f4d71c68c3be0529b3118d",
    "58d49fbea83b0ccba94c36e9f8daf114",
    "54db3b1b7443021357e3db5f1a1325f3",
)


@pytest.fixture
def y2(libspdm_v12_v13_vectors: Path) -> Path:
    return libspdm_v12_v13_vectors / FOLDER


def _records(folder: Path) -> dict[int, bytes]:
    return {item.index: item.data for item in messages(read_pcap(folder / "requester.pcap"))}


def _vca(records: dict[int, bytes]) -> bytes:
    return b"".join(records[index] for index in range(7, 13))


def _responder_key(folder: Path, slot: int = 0) -> PublicKeyTypes:
    """Slot 0's leaf as read from the wire; slot 4's from libspdm's sample bundle (the chain y2's slot 4 served)."""
    if slot == 4:
        bundle = folder.parents[1] / "libspdm" / "sample_key" / "ecp384" / "bundle_responder.certchain4.der"
        return load_certificate(load_certificates(bundle.read_bytes())[-1]).public_key()
    chain = (folder / "rsp_slot0_certchain_from_wire.bin").read_bytes()
    return load_certificate(CertChain.from_bytes(chain, SHA384.size).leaf).public_key()


def _requester_key(folder: Path) -> PublicKeyTypes:
    return load_certificate(load_certificates((folder / "req_slot0_certchain_raw.der").read_bytes())[-1]).public_key()


def _logged_exchanges(folder: Path, name: str) -> list[bytes]:
    """The messages `name` (SPDM_GET_ENDPOINT_INFO, ...) requester.log shows, in order, as bytes."""
    text = (folder / "requester.log").read_text(errors="replace")
    found = []
    for match in re.finditer(rf"msg {name}\(0x[0-9a-f]+\), size \(0x([0-9a-f]+)\): \n((?:[0-9a-f]{{4}}: .*\n)+)", text):
        size = int(match.group(1), 16)
        data = bytes.fromhex("".join(line[6:] for line in match.group(2).splitlines()))
        assert len(data) == size
        found.append(data)
    return found


def test_clear_responder_signature(y2: Path) -> None:
    """IL = A || GET_ENDPOINT_INFO || ENDPOINT_INFO without its signature, "responder-endpoint_info signing"."""
    records = _records(y2)
    request, response = records[31], records[32]
    unsigned, signature = response[:-SIGNATURE], response[-SIGNATURE:]
    assert SHA384.digest(_vca(records) + request + unsigned).hex()[:32] == LOGGED_IL[0]
    signed = endpoint_info_digest(SHA384, 0x13, _vca(records), request, unsigned)
    P384.verify(_responder_key(y2), signed, signature, SHA384)
    tampered = bytearray(unsigned)
    tampered[-1] ^= 1  # the last EPInfo byte
    with pytest.raises(VerificationError):
        P384.verify(
            _responder_key(y2),
            endpoint_info_digest(SHA384, 0x13, _vca(records), request, bytes(tampered)),
            signature,
            SHA384,
        )
    with pytest.raises(VerificationError):  # the requester's context string does not verify the responder's signature
        P384.verify(
            _responder_key(y2),
            endpoint_info_digest(SHA384, 0x13, _vca(records), request, unsigned, requester_signs=True),
            signature,
            SHA384,
        )


def test_encapsulated_requester_signature(y2: Path) -> None:
    """The requester's answer: the same IL over the encapsulated request and its answer, signed under
    "requester-endpoint_info signing"."""
    records = _records(y2)
    request = records[34][4:]  # ENCAPSULATED_REQUEST's payload
    response = records[35][4:]  # DELIVER_ENCAPSULATED_RESPONSE's payload
    unsigned, signature = response[:-SIGNATURE], response[-SIGNATURE:]
    assert SHA384.digest(_vca(records) + request + unsigned).hex()[:32] == LOGGED_IL[1]
    signed = endpoint_info_digest(SHA384, 0x13, _vca(records), request, unsigned, requester_signs=True)
    P384.verify(_requester_key(y2), signed, signature, SHA384)
    flipped = bytearray(signature)
    flipped[10] ^= 0x80
    with pytest.raises(VerificationError):
        P384.verify(_requester_key(y2), signed, bytes(flipped), SHA384)


def test_in_session_signatures(y2: Path) -> None:
    """In both sessions IL is the same A and the exchange: no session transcript, no session key (the
    second session asks slot 4's key, the slot its KEY_EXCHANGE used)."""
    records = _records(y2)
    vca = _vca(records)
    requests = _logged_exchanges(y2, "SPDM_GET_ENDPOINT_INFO")
    answers = _logged_exchanges(y2, "SPDM_ENDPOINT_INFO")
    encapsulated = _logged_exchanges(y2, "SPDM_ENCAPSULATED_REQUEST")
    delivered = _logged_exchanges(y2, "SPDM_DELIVER_ENCAPSULATED_RESPONSE")
    assert len(requests) == len(answers) == len(encapsulated) == len(delivered) == 3  # clear, session 1, session 2
    assert (requests[0], answers[0]) == (records[31], records[32])
    for session in (1, 2):
        request, response = requests[session], answers[session]
        unsigned = response[:-SIGNATURE]
        assert SHA384.digest(vca + request + unsigned).hex()[:32] == LOGGED_IL[2 * session]
        slot = response[3] & 0xF
        assert (request[3], slot) == ((0, 0), (4, 4))[session - 1]
        signed = endpoint_info_digest(SHA384, 0x13, vca, request, unsigned)
        P384.verify(_responder_key(y2, slot), signed, response[-SIGNATURE:], SHA384)
        request, response = encapsulated[session][4:], delivered[session][4:]
        unsigned = response[:-SIGNATURE]
        assert SHA384.digest(vca + request + unsigned).hex()[:32] == LOGGED_IL[2 * session + 1]
        signed = endpoint_info_digest(SHA384, 0x13, vca, request, unsigned, requester_signs=True)
        P384.verify(_requester_key(y2), signed, response[-SIGNATURE:], SHA384)


def test_spdm_verify_checks_both_directions(y2: Path) -> None:
    anchor = (y2.parents[1] / "libspdm" / "sample_key" / "ecp384" / "ca.cert.der").read_bytes()
    requester = tuple(load_certificates((y2 / "req_slot0_certchain_raw.der").read_bytes()))
    pcap = read_pcap(y2 / "requester.pcap")
    result = verify_capture(pcap, {0: anchor, 4: anchor}, secrets=CaptureSecrets(requester_chain=requester))
    named = {(c.record, c.name.split(" over")[0]): c for c in result.checks if "ENDPOINT_INFO" in c.name}
    assert set(named) == {
        (32, "ENDPOINT_INFO signature"),
        (35, "encapsulated ENDPOINT_INFO signature by the requester"),
    }
    assert all(check.passed for check in named.values())
    assert {31, 32, 35} <= result.covered

    # without the requester's chain (it never crosses the wire) its signature is a check not made
    result = verify_capture(pcap, {0: anchor, 4: anchor})
    unsigned = next(c for c in result.checks if c.record == 35 and "ENDPOINT_INFO" in c.name)
    assert unsigned.ok and not unsigned.checked
    assert unsigned.detail == "the requester's certificate chain is not given"
    assert 35 not in result.covered


def test_spdm_verify_fails_a_tampered_signature(y2: Path) -> None:
    anchor = (y2.parents[1] / "libspdm" / "sample_key" / "ecp384" / "ca.cert.der").read_bytes()
    requester = tuple(load_certificates((y2 / "req_slot0_certchain_raw.der").read_bytes()))
    pcap = read_pcap(y2 / "requester.pcap")
    for index in (32, 35):  # the responder's ENDPOINT_INFO, the requester's DELIVER_ENCAPSULATED_RESPONSE
        record = pcap.records[index - 1]
        data = bytearray(record.data)
        data[-5] ^= 0x01  # in the signature (DOE adds no padding to either)
        records = list(pcap.records)
        records[index - 1] = replace(record, data=bytes(data))
        tampered = replace(pcap, records=tuple(records))
        result = verify_capture(
            tampered, {0: anchor, 4: anchor}, secrets=CaptureSecrets(requester_chain=requester)
        )
        failed = [c for c in result.checks if not c.ok]
        assert failed and failed[0].record == index and "ENDPOINT_INFO" in failed[0].name


def test_the_requester_answers_the_encapsulated_request_as_libspdm_did(y2: Path) -> None:
    """Our requester's answer to y2's encapsulated GET_ENDPOINT_INFO (record 34), given libspdm's nonce
    and EPInfo, is its DELIVERed ENDPOINT_INFO (record 35) byte for byte; the recorded signature is only
    handed out if it verifies over the IL our requester asks to have signed."""
    records = _records(y2)
    flow = FlowDecoder()
    for index in range(7, 13):
        flow.decode(records[index])
    negotiated = flow.negotiated
    assert negotiated is not None and negotiated.version == 0x13
    delivered = records[35][4:]
    signed = negotiated.codec_context(signature_requested=True)
    answer = decode(delivered, replace(signed, signature_size=negotiated.req_signature_size))
    assert isinstance(answer, EndpointInfo) and answer.nonce is not None and answer.signature is not None
    certificates = tuple(load_certificates((y2 / "req_slot0_certchain_raw.der").read_bytes()))
    signer = recorded_signer([answer.signature], _requester_key(y2), P384, SHA384)
    config = RequesterConfig(
        identities={0: RequesterIdentity(certificates=certificates, sign=signer)},
        endpoint_info=answer.ep_info,
        random=recorded_random([answer.nonce]),
    )
    answers = EncapsulatedAnswers(negotiated=negotiated, config=config, max_padding=0, vca=_vca(records))
    assert answers.answer(records[34][4:], 0x13) == delivered
