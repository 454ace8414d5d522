"""GET_MEASUREMENTS/MEASUREMENTS against libspdm captures (hex from each folder's dump_full.txt).

The sample device also reports indices and value types defined after SPDM 1.1 (SVN at 0x10,
HEM at 0x11, manifest at 0xFD, device mode at 0xFE): they must decode like any other block.
"""

from __future__ import annotations

import pytest

from spdm.errors import DecodeError, EncodeError
from spdm.messages import CodecContext, decode, decode_as, decode_prefix, encode
from spdm.messages.measurements import DmtfMeasurement, GetMeasurements, MeasurementBlock, Measurements

SIGNED = CodecContext(hash_size=48, signature_size=96, signature_requested=True)
UNSIGNED = CodecContext(hash_size=48, signature_size=96)
NO_SIGNATURE_SIZE = CodecContext(signature_requested=True)
NONCE = bytes(32)
MEASUREMENT = "blocks.measurement"

# a_conn_ecdsap384_sha384_v11, record 27: operation 0 (count), unsigned
GET_MEASUREMENTS_COUNT = bytes.fromhex("11e00000")

# a_conn_ecdsap384_sha384_v11, record 535: signed, index 0xFE, SlotIDParam 0
GET_MEASUREMENTS_SIGNED = bytes.fromhex(
    "11e001fee4eab6cb645ef1b7d23fef5a8c57d9642549a598b640d2a209edd725e8a34d6700"
)

# a_conn_ecdsap384_sha384_v11, record 28: TotalNumberOfIndices 8, no blocks
MEASUREMENTS_COUNT = bytes.fromhex(
    "1160080000000000bddcb05935fdd7a12cd0739facb9bf9159b3b0c6a89a54a05212b6793c803e340000"
)

# a_conn_ecdsap384_sha384_v11, record 60: index 0x10 (SVN, raw), unsigned
MEASUREMENTS_SVN = bytes.fromhex(
    "11600000010f000010010b0087080007000000000000007a2467603f49f4963f3d569e0129765c3046da5521e2119477"
    "ea78450be8ec710000"
)

# a_conn_ecdsap384_sha384_v11, record 536: index 0xFE (device mode, raw), signed
MEASUREMENTS_DEVICE_MODE_SIGNED = bytes.fromhex(
    "1160000001170000fe0113008510003f000000040000001f0000001100000092e612fef44b5437638a87d5e266c542f6"
    "66f55391ecf6a5b871068516f9d04f000030a3af8d926e76e131504498e6dabb8af6c49d9e3b3b5ce73a86d09aede62a"
    "e692eb41e4be0d2e8186e101c2f3310a0a562cf961ebcec793389f17c8a19ba10ea343e1f3e0434c26001ce319e8d682"
    "8a5842c154e9209e607bb105b1226e51cb"
)

# f_conn_ecdsap384_sha384_v10, record 27: SPDM 1.0, signed, all: no SlotIDParam
GET_MEASUREMENTS_V10 = bytes.fromhex(
    "10e001ff12609f5dc01c630a3d743137c67f18406a8a99569bb0e35c7b9347972859387a"
)

# f_conn_ecdsap384_sha384_v10, record 28: SPDM 1.0, signed, 8 blocks, then 2 bytes of DOE padding
MEASUREMENTS_V10_DOE = bytes.fromhex(
    "1060000008c0010001013300003000a1d6755d00a66c12e3b5f8fe514441594ed86e8a821ddc55b2961fa71b6d8a12f8"
    "f42588b7c5d8362b22c6dd532950dc02013300013000542dd40a5c224dc4e705820d384f38c0d59b79e128e62a797232"
    "010b55425878172bedf268d74a0c689d9d7cbe33cf860301330002300095f85671912f24988951d81bb43744cf8ec33b"
    "0f86ca9d76484779385a822e9d81f14f4d5510894b44242b1b83a2a2c804013300033000cd4dda8eb05d30be810957e9"
    "4a9eb03e20704b88766c815e972fd974cf3ef2c289ec03508bde94453ff01b17c2698a9010010b008708000700000000"
    "00000011013300083000f0a9502bbdb057b94c26e8805c507d20dc7a4afc4f0fff25f6030126400c180b8fc041a92f12"
    "690fabf70d5615966e5bfd018300848000fdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfd"
    "fdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfd"
    "fdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfd"
    "fdfe0113008510003f000000040000001f0000001100000018c635353a77bab8204c27427cf1270f3ba26ee2e06bd726"
    "78f704a6fff8d0aa0000b30d94aae5dbf7dccbc26f328d4e986b2ff4e1a0b08cbc199ece75b25acf4a6163df02abb96c"
    "cf2b2e1d5bd38ae090714915894f882ec7e94900033b6370c17ccb619b1bb3fa0a8b55eff5a8aba679bc785d1961f5f2"
    "d21ea44bc9a7929eed490000"
)

MEASUREMENTS_V10 = MEASUREMENTS_V10_DOE[:-2]


def _rejected(data: bytes, context: CodecContext | None = None) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(data, context)
    return caught.value


def _patched(data: bytes, offset: int, value: str) -> bytes:
    patch = bytes.fromhex(value)
    return data[:offset] + patch + data[offset + len(patch) :]


@pytest.mark.parametrize(
    ("data", "context"),
    [
        (GET_MEASUREMENTS_COUNT, None),
        (GET_MEASUREMENTS_SIGNED, None),
        (GET_MEASUREMENTS_V10, None),
        (MEASUREMENTS_COUNT, UNSIGNED),
        (MEASUREMENTS_SVN, UNSIGNED),
        (MEASUREMENTS_DEVICE_MODE_SIGNED, SIGNED),
        (MEASUREMENTS_V10, SIGNED),
    ],
    ids=["get_count", "get_signed", "get_v10", "count", "svn", "device_mode_signed", "v10"],
)
def test_round_trip(data: bytes, context: CodecContext | None) -> None:
    assert encode(decode(data, context)) == data


def test_get_measurements_unsigned_is_the_header_only() -> None:
    msg = decode(GET_MEASUREMENTS_COUNT)
    assert msg == GetMeasurements(version=0x11, attributes=0, operation=0)
    assert isinstance(msg, GetMeasurements) and not msg.signature_requested


def test_get_measurements_signed() -> None:
    msg = decode(GET_MEASUREMENTS_SIGNED)
    assert isinstance(msg, GetMeasurements) and msg.signature_requested
    assert msg.operation == 0xFE
    assert msg.nonce is not None and msg.nonce.hex().startswith("e4eab6cb")
    assert msg.slot_id_param == 0


def test_get_measurements_v10_has_no_slot_id_param() -> None:
    msg = decode(GET_MEASUREMENTS_V10)
    assert isinstance(msg, GetMeasurements)
    assert (msg.version, msg.operation, msg.slot_id_param) == (0x10, 0xFF, None)
    assert msg.nonce is not None and len(msg.nonce) == 32


def test_get_measurements_for_version_carries_slot_id_param_from_11_when_signed() -> None:
    """The codec's rule builds the request: SlotIDParam only in a signed request from 1.1, and the
    slot that signs reads back as `slot_id` (slot 0 for 1.0, which has no SlotIDParam)."""
    v10 = decode_as(GetMeasurements, GET_MEASUREMENTS_V10)
    assert v10.slot_id == 0
    assert encode(GetMeasurements.for_version(0x10, operation=0xFF, nonce=v10.nonce, slot=3)) == GET_MEASUREMENTS_V10
    signed = GetMeasurements.for_version(0x11, operation=0xFE, nonce=bytes(32), slot=3)
    assert (signed.attributes, signed.slot_id_param, signed.slot_id) == (1, 3, 3)
    assert decode(encode(signed)) == signed
    unsigned = GetMeasurements.for_version(0x12, operation=0, slot=3)
    assert (unsigned.attributes, unsigned.nonce, unsigned.slot_id_param, unsigned.slot_id) == (0, None, None, 0)


def test_measurements_slot_id_is_param2_from_11() -> None:
    nonce = bytes(32)
    assert Measurements(version=0x11, slot_param=0x23, nonce=nonce).slot_id == 3
    assert Measurements(version=0x10, slot_param=0x03, nonce=nonce).slot_id == 0  # reserved in 1.0


def test_measurements_count_still_carries_nonce_and_opaque_length() -> None:
    msg = decode(MEASUREMENTS_COUNT, UNSIGNED)
    assert isinstance(msg, Measurements)
    assert (msg.total_indices, msg.blocks, msg.opaque_data, msg.signature) == (8, (), b"", None)
    assert msg.nonce.hex().startswith("bddcb059")


def test_measurements_raw_svn_block() -> None:
    msg = decode(MEASUREMENTS_SVN, UNSIGNED)
    assert isinstance(msg, Measurements)
    (block,) = msg.blocks
    assert block == MeasurementBlock(
        index=0x10, specification=1, measurement=DmtfMeasurement(value_type=0x87, value=bytes([7]) + bytes(7))
    )
    assert isinstance(block.measurement, DmtfMeasurement)
    assert (block.measurement.is_raw_bit_stream, block.measurement.kind) == (True, 7)


def test_measurements_signed_device_mode() -> None:
    msg = decode(MEASUREMENTS_DEVICE_MODE_SIGNED, SIGNED)
    assert isinstance(msg, Measurements)
    assert msg.slot_param == 0
    (block,) = msg.blocks
    assert block.index == 0xFE
    assert isinstance(block.measurement, DmtfMeasurement)
    assert (block.measurement.kind, len(block.measurement.value)) == (5, 16)
    assert msg.signature is not None and len(msg.signature) == 96


def test_measurements_v10_has_nonce_and_opaque_length_like_v11() -> None:
    msg, used = decode_prefix(MEASUREMENTS_V10_DOE, SIGNED)
    assert used == len(MEASUREMENTS_V10)
    assert isinstance(msg, Measurements) and msg.version == 0x10
    assert [b.index for b in msg.blocks] == [1, 2, 3, 4, 0x10, 0x11, 0xFD, 0xFE]
    values = [b.measurement for b in msg.blocks]
    kinds = [(v.value_type, len(v.value)) for v in values if isinstance(v, DmtfMeasurement)]
    assert kinds == [(0, 48), (1, 48), (2, 48), (3, 48), (0x87, 8), (0x08, 48), (0x84, 0x80), (0x85, 16)]
    assert msg.nonce.hex().startswith("18c63535")
    assert msg.opaque_data == b""
    assert msg.signature is not None and msg.signature.hex().endswith("ed49")


def test_non_dmtf_block_is_raw_bytes() -> None:
    block = MeasurementBlock(index=5, specification=0x80, measurement=b"abc")
    msg = Measurements(nonce=bytes(32), blocks=(block,))
    data = encode(msg)
    # NumberOfBlocks 1, MeasurementRecordLength 7, Index 5, specification 0x80, MeasurementSize 3
    assert data[4:15] == bytes.fromhex("0107000005800300616263")
    assert decode(data, UNSIGNED) == msg


# MEASUREMENTS_SVN: NumberOfBlocks at 4, MeasurementRecordLength at 5, MeasurementSize at 10,
# ValueSize at 13, OpaqueLength at 55
@pytest.mark.parametrize(
    ("data", "context", "field", "reason"),
    [
        (MEASUREMENTS_SVN[:-1], UNSIGNED, "_opaque_length", "truncated"),
        (MEASUREMENTS_SVN + b"\x00", UNSIGNED, "", "trailing"),
        (_patched(MEASUREMENTS_SVN, 4, "02"), UNSIGNED, "blocks.index", "truncated"),
        (_patched(MEASUREMENTS_SVN, 4, "00"), UNSIGNED, "blocks", "trailing"),
        (_patched(MEASUREMENTS_SVN, 5, "10"), UNSIGNED, "blocks", "trailing"),
        (_patched(MEASUREMENTS_SVN, 5, "0e"), UNSIGNED, MEASUREMENT, "truncated"),
        (_patched(MEASUREMENTS_SVN, 5, "ffffff"), UNSIGNED, "blocks", "truncated"),
        (_patched(MEASUREMENTS_SVN, 10, "0c00"), UNSIGNED, MEASUREMENT, "truncated"),
        (_patched(MEASUREMENTS_SVN, 13, "0700"), UNSIGNED, MEASUREMENT, "trailing"),
        (_patched(MEASUREMENTS_SVN, 13, "0900"), UNSIGNED, f"{MEASUREMENT}.value", "truncated"),
        (_patched(MEASUREMENTS_SVN, 55, "0104"), UNSIGNED, "opaque_data", "OpaqueLength over 1024"),
        (_patched(MEASUREMENTS_SVN, 55, "0100"), UNSIGNED, "opaque_data", "truncated"),
        (MEASUREMENTS_SVN, None, "signature", "needs a negotiation context (signature_requested)"),
        (MEASUREMENTS_SVN, SIGNED, "signature", "truncated"),
        (MEASUREMENTS_DEVICE_MODE_SIGNED, UNSIGNED, "", "trailing"),
        (MEASUREMENTS_DEVICE_MODE_SIGNED, NO_SIGNATURE_SIZE, "signature", "no signature_size"),
        (MEASUREMENTS_V10[:-1], SIGNED, "signature", "truncated"),
    ],
    ids=[
        "truncated",
        "trailing",
        "blocks_over",
        "blocks_under",
        "record_over",
        "record_under",
        "record_huge",
        "size_over",
        "value_under",
        "value_over",
        "opaque_max",
        "opaque_len",
        "no_ctx",
        "sig_missing",
        "sig_extra",
        "no_sig_size",
        "v10_truncated",
    ],
)
def test_measurements_rejected(data: bytes, context: CodecContext | None, field: str, reason: str) -> None:
    error = _rejected(data, context)
    assert (error.message, error.field) == ("MEASUREMENTS", field)
    assert reason in error.reason


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        (GET_MEASUREMENTS_COUNT[:-1], "operation", "truncated"),
        (GET_MEASUREMENTS_COUNT + b"\x00", "", "trailing"),
        (GET_MEASUREMENTS_SIGNED[:-1], "slot_id_param", "truncated"),
        (GET_MEASUREMENTS_SIGNED + b"\x00", "", "trailing"),
        (GET_MEASUREMENTS_V10[:-1], "nonce", "truncated"),
        (GET_MEASUREMENTS_V10 + b"\x00", "", "trailing"),
    ],
    ids=["count_truncated", "count_trailing", "truncated", "trailing", "v10_truncated", "v10_trailing"],
)
def test_get_measurements_rejected(data: bytes, field: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_as(GetMeasurements, data)
    assert (caught.value.message, caught.value.field) == ("GET_MEASUREMENTS", field)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        (GetMeasurements(operation=1, nonce=bytes(32)), "Nonce present without SignatureRequested"),
        (GetMeasurements(version=0x10, attributes=1, operation=1, nonce=NONCE, slot_id_param=0), "SlotID"),
        (GetMeasurements(attributes=1, operation=1, slot_id_param=0), ""),
        (Measurements(nonce=bytes(31)), ""),
        (Measurements(nonce=bytes(32), opaque_data=bytes(1025)), "OpaqueLength over 1024"),
        (Measurements(nonce=NONCE, blocks=(MeasurementBlock(index=1, measurement=b"raw"),)), "Dmtf"),
    ],
    ids=["nonce_unrequested", "slot_v10", "nonce_missing", "nonce_size", "opaque_max", "dmtf_bytes"],
)
def test_encode_rejects(msg: GetMeasurements | Measurements, reason: str) -> None:
    with pytest.raises(EncodeError) as caught:
        encode(msg)
    assert caught.value.message == msg.name
    assert reason in caught.value.reason


def _mutations(data: bytes) -> list[bytes]:
    """Every prefix, and every byte set to 0x00 and to 0xFF."""
    out = [data[:n] for n in range(len(data))]
    for i in range(len(data)):
        out += [data[:i] + bytes([v]) + data[i + 1 :] for v in (0x00, 0xFF)]
    return out


@pytest.mark.parametrize("context", [None, UNSIGNED, SIGNED], ids=["none", "unsigned", "signed"])
def test_mangled_bytes_raise_only_decode_error(context: CodecContext | None) -> None:
    for data in _mutations(MEASUREMENTS_SVN) + _mutations(GET_MEASUREMENTS_SIGNED):
        try:
            msg = decode(data, context)
        except DecodeError:
            continue
        assert encode(msg) == data
