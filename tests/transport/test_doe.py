"""PCIe DOE data objects and discovery payloads: layout, strict decoding, real spdm-emu objects."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spdm.capture import LINKTYPE_PCI_DOE, read_pcap
from spdm.errors import DecodeError, EncodeError
from spdm.transport import doe
from spdm.transport.doe import (
    MAX_OBJECT_DWORDS,
    MAX_PAYLOAD_BYTES,
    PCI_SIG_VENDOR_ID,
    DataObject,
    DiscoveryRequest,
    DiscoveryResponse,
    DoeHeader,
    DoeType,
    decode_discovery_request,
    decode_discovery_response,
    decode_header,
    decode_object,
    encode_discovery_request,
    encode_discovery_response,
    encode_object,
    expect_type,
    read_header,
    read_object,
)

# GET_VERSION in a CMA/SPDM object, as spdm-emu sends it (record 7 of every DOE capture).
GET_VERSION_OBJECT = bytes.fromhex("01000100 03000000 10840000")


def _decode_error(data: bytes, field: str) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode_object(data)
    assert info.value.message == "DOE"
    assert info.value.field == field, info.value
    return info.value


# --- constants --------------------------------------------------------------------------------


def test_constants() -> None:
    assert PCI_SIG_VENDOR_ID == 0x0001
    assert MAX_OBJECT_DWORDS == 1 << 18
    assert MAX_PAYLOAD_BYTES == (1 << 20) - 8
    assert (DoeType.DISCOVERY, DoeType.CMA_SPDM, DoeType.SECURED_CMA_SPDM) == (0, 1, 2)


# --- encoding -------------------------------------------------------------------------------


def test_encode_layout() -> None:
    assert encode_object(DoeType.CMA_SPDM, bytes.fromhex("10840000")) == GET_VERSION_OBJECT
    assert encode_object(0xAB, b"", vendor_id=0x1234) == bytes.fromhex("3412ab00 02000000")


@pytest.mark.parametrize(("size", "length_dw"), [(0, 2), (1, 3), (2, 3), (3, 3), (4, 3), (5, 4), (8, 4)])
def test_encode_pads_to_dword(size: int, length_dw: int) -> None:
    payload = bytes(range(1, size + 1))
    data = encode_object(DoeType.CMA_SPDM, payload)
    assert len(data) == 4 * length_dw
    assert data[4:8] == length_dw.to_bytes(4, "little")
    assert data[8:] == payload + bytes(4 * length_dw - 8 - size)
    assert decode_object(data) == DataObject(
        vendor_id=PCI_SIG_VENDOR_ID, object_type=1, payload=payload + bytes(-size % 4)
    )


def test_encode_accepts_bytearray_and_memoryview() -> None:
    payload = bytes.fromhex("10840000")
    assert encode_object(1, bytearray(payload)) == GET_VERSION_OBJECT  # type: ignore[arg-type]
    assert encode_object(1, memoryview(payload)) == GET_VERSION_OBJECT  # type: ignore[arg-type]


def test_largest_object_writes_length_zero() -> None:
    payload = b"\xa5" * MAX_PAYLOAD_BYTES
    data = encode_object(DoeType.SECURED_CMA_SPDM, payload)
    assert len(data) == 4 * MAX_OBJECT_DWORDS
    assert data[4:8] == bytes(4)
    assert decode_header(data) == DoeHeader(vendor_id=1, object_type=2, length_dw=MAX_OBJECT_DWORDS)
    assert decode_object(data).payload == payload


def test_one_dword_below_maximum() -> None:
    data = encode_object(1, bytes(MAX_PAYLOAD_BYTES - 4))
    assert data[4:8] == (MAX_OBJECT_DWORDS - 1).to_bytes(4, "little")
    assert decode_header(data).length_dw == MAX_OBJECT_DWORDS - 1


@pytest.mark.parametrize("size", [MAX_PAYLOAD_BYTES + 1, MAX_PAYLOAD_BYTES + 4])
def test_encode_over_maximum(size: int) -> None:
    with pytest.raises(EncodeError) as info:
        encode_object(1, bytes(size))
    assert (info.value.message, info.value.field) == ("DOE", "length")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"object_type": 256}, "object_type"),
        ({"object_type": -1}, "object_type"),
        ({"vendor_id": 0x10000}, "vendor_id"),
        ({"vendor_id": -1}, "vendor_id"),
        ({"vendor_id": True}, "vendor_id"),
        ({"payload": "text"}, "payload"),
    ],
)
def test_encode_out_of_range(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"object_type": 1, "payload": b"", "vendor_id": 1, **kwargs}
    with pytest.raises(EncodeError) as info:
        encode_object(**args)  # type: ignore[arg-type]
    assert (info.value.message, info.value.field) == ("DOE", field)


# --- decoding -------------------------------------------------------------------------------


def test_decode_real_object() -> None:
    assert decode_object(GET_VERSION_OBJECT) == DataObject(
        vendor_id=1, object_type=DoeType.CMA_SPDM, payload=bytes.fromhex("10840000")
    )
    header = decode_header(GET_VERSION_OBJECT)
    assert header == DoeHeader(vendor_id=1, object_type=1, length_dw=3)
    assert header.size == 12


def test_decode_header_at_offset() -> None:
    assert decode_header(b"\xff\xff" + GET_VERSION_OBJECT, offset=2).length_dw == 3
    with pytest.raises(DecodeError) as info:
        decode_header(GET_VERSION_OBJECT, offset=len(GET_VERSION_OBJECT) - 7)
    assert info.value.field == "header"
    with pytest.raises(DecodeError):
        decode_header(GET_VERSION_OBJECT, offset=100)
    with pytest.raises(ValueError):
        decode_header(GET_VERSION_OBJECT, offset=-1)


def test_decode_header_only_reads_the_header() -> None:
    """A mailbox reader decodes the first two DW to learn the size of the rest."""
    assert decode_header(GET_VERSION_OBJECT[:8]).size == 12


def test_length_zero_means_maximum() -> None:
    header = bytes.fromhex("01000100 00000000")
    assert decode_header(header).length_dw == MAX_OBJECT_DWORDS
    _decode_error(header + bytes(4), "length")


@pytest.mark.parametrize(
    ("hex_data", "field"),
    [
        ("", "header"),
        ("01", "header"),
        ("01000100 030000", "header"),
        ("01000101 02000000", "reserved"),  # DW0 [31:24]
        ("010001ff 02000000", "reserved"),
        ("01000100 02000400", "reserved"),  # DW1 bit 18
        ("01000100 02000080", "reserved"),  # DW1 bit 31
        ("01000100 01000000", "length"),  # shorter than the header
        ("01000100 01000000 00000000", "length"),
        ("01000100 03000000", "length"),  # says 3 DW, holds 2
        ("01000100 02000000 00000000", "length"),  # says 2 DW, holds 3
        ("01000100 03000000 108400", "length"),  # not a whole DW
        ("01000100 02000000 00", "length"),
        ("01000100 ffff0300 00000000", "length"),  # 2^18 - 1 DW
    ],
)
def test_decode_malformed(hex_data: str, field: str) -> None:
    _decode_error(bytes.fromhex(hex_data), field)


@pytest.mark.parametrize(
    "hex_header",
    ["01000101 03000000", "010001ff 03000000", "01000100 03000400", "01000100 03000080", "010001ff 0300fcff"],
    ids=["dw0-bit-24", "dw0-byte", "dw1-bit-18", "dw1-bit-31", "all-reserved"],
)
def test_a_live_reader_ignores_reserved_bits_a_capture_check_refuses_them(hex_header: str) -> None:
    """`read_header` / `read_object` read the fields alone, as Linux's pci_doe_recv_resp and
    QEMU's pcie_doe_get_obj_len do; `decode_header` / `decode_object` check a capture as libspdm's
    libspdm_doe_pcidoe.c does."""
    data = bytes.fromhex(hex_header) + bytes.fromhex("10840000")
    assert read_header(data) == (1, 1, 3)
    assert read_object(data) == decode_object(GET_VERSION_OBJECT)
    _decode_error(data, "reserved")
    with pytest.raises(DecodeError, match="reserved"):
        decode_header(data)


@pytest.mark.parametrize(
    ("hex_data", "field"),
    [
        ("010001ff 01000400 10840000", "length"),  # Length 1 under reserved bits: shorter than the header
        ("01000100 00000400 10840000", "length"),  # Length 0 (2^18 DW) under a reserved bit, 3 DW held
        ("01000100 030000", "header"),
        ("01000100 04000000 10840000", "length"),
    ],
)
def test_a_live_reader_still_refuses_a_bad_length(hex_data: str, field: str) -> None:
    with pytest.raises(DecodeError) as info:
        read_object(bytes.fromhex(hex_data))
    assert (info.value.message, info.value.field) == ("DOE", field)
    with pytest.raises(ValueError):
        read_header(GET_VERSION_OBJECT, offset=-1)


def test_decode_reason_is_explicit() -> None:
    error = _decode_error(bytes.fromhex("01000100 04000000 10840000"), "length")
    assert "4 DW" in error.reason and "12 bytes" in error.reason


def test_decode_every_truncation_of_a_real_object() -> None:
    """Fed byte by byte and DW by DW: every proper prefix is refused."""
    data = encode_object(DoeType.CMA_SPDM, bytes(range(37)))
    for size in range(len(data)):
        _decode_error(data[:size], "header" if size < 8 else "length")
    assert decode_object(data).payload[:37] == bytes(range(37))


@pytest.mark.parametrize("extra", [b"\x00", b"\x00\x00\x00\x00", GET_VERSION_OBJECT])
def test_decode_trailing_data(extra: bytes) -> None:
    _decode_error(GET_VERSION_OBJECT + extra, "length")


def test_decode_accepts_any_vendor_and_type() -> None:
    data = bytes.fromhex("3412ab00 03000000 deadbeef")
    assert decode_object(data) == DataObject(
        vendor_id=0x1234, object_type=0xAB, payload=bytes.fromhex("deadbeef")
    )


def test_expect_type() -> None:
    obj = decode_object(GET_VERSION_OBJECT)
    assert expect_type(obj, DoeType.CMA_SPDM) == bytes.fromhex("10840000")
    with pytest.raises(DecodeError) as info:
        expect_type(obj, DoeType.SECURED_CMA_SPDM)
    assert (info.value.message, info.value.field) == ("DOE", "object_type")
    with pytest.raises(DecodeError) as info:
        expect_type(obj, DoeType.CMA_SPDM, vendor_id=0x8086)
    assert (info.value.message, info.value.field) == ("DOE", "vendor_id")


@given(st.binary(max_size=64))
def test_fuzz_decode_raises_only_decode_error(data: bytes) -> None:
    for decode in (decode_object, decode_header, decode_discovery_request, decode_discovery_response):
        with contextlib.suppress(DecodeError):
            decode(data)


@given(st.binary(min_size=8, max_size=8), st.binary(max_size=24))
def test_fuzz_headers_raise_only_decode_error(header: bytes, rest: bytes) -> None:
    try:
        read_object(header + rest)
        obj = decode_object(header + rest)
    except DecodeError:
        return
    assert encode_object(obj.object_type, obj.payload, obj.vendor_id) == header + rest


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.binary(max_size=64))
def test_fuzz_round_trip(vendor_id: int, object_type: int, payload: bytes) -> None:
    data = encode_object(object_type, payload, vendor_id)
    obj = decode_object(data)
    assert (obj.vendor_id, obj.object_type) == (vendor_id, object_type)
    assert obj.payload == payload + bytes(-len(payload) % 4)
    assert encode_object(obj.object_type, obj.payload, obj.vendor_id) == data


# --- discovery --------------------------------------------------------------------------------


def test_discovery_request_layout() -> None:
    assert encode_discovery_request(0) == bytes(4)
    assert encode_discovery_request(1) == bytes.fromhex("01000000")
    assert encode_discovery_request(0x12, version=2) == bytes.fromhex("12020000")
    assert encode_object(DoeType.DISCOVERY, encode_discovery_request(0)) == bytes.fromhex(
        "01000000 03000000 00000000"
    )


@pytest.mark.parametrize(("index", "version"), [(0, 0), (1, 0), (2, 2), (255, 255)])
def test_discovery_request_round_trip(index: int, version: int) -> None:
    payload = encode_discovery_request(index, version)
    assert decode_discovery_request(payload) == DiscoveryRequest(index=index, version=version)


def test_discovery_response_layout() -> None:
    assert encode_discovery_response(1, 2, 0) == bytes.fromhex("01000200")
    assert encode_discovery_response(0xFFFF, 0xFF, 0xFF) == bytes.fromhex("ffffffff")


@pytest.mark.parametrize(
    ("vendor", "object_type", "next_index"), [(1, 0, 1), (1, 1, 2), (1, 2, 0), (0x1E0F, 7, 3)]
)
def test_discovery_response_round_trip(vendor: int, object_type: int, next_index: int) -> None:
    payload = encode_discovery_response(vendor, object_type, next_index)
    assert decode_discovery_response(payload) == DiscoveryResponse(
        vendor_id=vendor, object_type=object_type, next_index=next_index
    )


@pytest.mark.parametrize("size", [0, 3, 5, 8])
def test_discovery_payload_must_be_one_dword(size: int) -> None:
    for decode, name in (
        (decode_discovery_request, "DOE_DISCOVERY_REQUEST"),
        (decode_discovery_response, "DOE_DISCOVERY_RESPONSE"),
    ):
        with pytest.raises(DecodeError) as info:
            decode(bytes(size))
        assert (info.value.message, info.value.field) == (name, "length")


@pytest.mark.parametrize("hex_payload", ["00000100", "00000080"])
def test_discovery_request_reserved(hex_payload: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_discovery_request(bytes.fromhex(hex_payload))
    assert info.value.field == "reserved"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: encode_discovery_request(256), "index"),
        (lambda: encode_discovery_request(0, version=-1), "version"),
        (lambda: encode_discovery_response(0x10000, 0, 0), "vendor_id"),
        (lambda: encode_discovery_response(1, 256, 0), "object_type"),
        (lambda: encode_discovery_response(1, 0, 256), "next_index"),
    ],
)
def test_discovery_encode_out_of_range(call: object, field: str) -> None:
    with pytest.raises(EncodeError) as info:
        call()  # type: ignore[operator]
    assert info.value.field == field


# --- real spdm-emu objects --------------------------------------------------------------------


def _doe_records(libspdm_vectors: Path, libspdm_doe_capture: str) -> list[bytes]:
    pcap = read_pcap(libspdm_vectors / libspdm_doe_capture / "requester.pcap")
    assert pcap.link_type == LINKTYPE_PCI_DOE
    return [record.data for record in pcap.records]


def test_real_objects_decode_and_rebuild(libspdm_vectors: Path, libspdm_doe_capture: str) -> None:
    for data in _doe_records(libspdm_vectors, libspdm_doe_capture):
        obj = decode_object(data)
        assert obj.vendor_id == PCI_SIG_VENDOR_ID
        assert obj.object_type in set(DoeType)
        assert encode_object(obj.object_type, obj.payload, obj.vendor_id) == data


def test_real_discovery_exchange(libspdm_vectors: Path, libspdm_doe_capture: str) -> None:
    """spdm-emu walks the protocol table: 0001:00 (discovery), 0001:01 (CMA), 0001:02 (secured)."""
    records = _doe_records(libspdm_vectors, libspdm_doe_capture)
    objects = [decode_object(data) for data in records[:6]]
    assert all(obj.object_type == DoeType.DISCOVERY for obj in objects)
    requests = [decode_discovery_request(obj.payload) for obj in objects[0::2]]
    responses = [decode_discovery_response(obj.payload) for obj in objects[1::2]]
    assert requests == [DiscoveryRequest(index=i, version=0) for i in range(3)]
    assert responses == [
        DiscoveryResponse(vendor_id=1, object_type=0, next_index=1),
        DiscoveryResponse(vendor_id=1, object_type=1, next_index=2),
        DiscoveryResponse(vendor_id=1, object_type=2, next_index=0),
    ]
    for data, obj in zip(records[:6], objects, strict=True):
        assert len(data) == 12
        assert encode_object(DoeType.DISCOVERY, obj.payload) == data


def test_real_object_truncated_dword_by_dword(libspdm_vectors: Path, libspdm_doe_capture: str) -> None:
    records = _doe_records(libspdm_vectors, libspdm_doe_capture)
    data = max(records, key=len)
    for size in range(0, len(data), 4):
        _decode_error(data[:size], "header" if size < 8 else "length")
    for extra in (b"\x00", bytes(4), data[:8]):
        _decode_error(data + extra, "length")


def test_module_exports() -> None:
    assert set(doe.__all__) <= set(dir(doe))
