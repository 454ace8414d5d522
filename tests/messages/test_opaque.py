"""DSP0277 secured-message opaque data (1.1 format: the version negotiation elements), from libspdm captures."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spdm.errors import DecodeError, EncodeError
from spdm.messages.opaque import (
    OpaqueElement,
    OpaqueTable,
    SupportedVersionList,
    VersionSelection,
    decode_opaque,
    encode_opaque,
    has_secured_message_version,
    secured_message_versions,
    selected_secured_message_version,
    version_list_opaque,
    version_selection_opaque,
)

# KEY_EXCHANGE and PSK_EXCHANGE OpaqueData of every session capture (--sec_ver 1.1: 1.1 alone offered)
OFFER_11 = bytes.fromhex("46544d44 01010000 00000500 0101010011 000000")
# KEY_EXCHANGE_RSP and PSK_EXCHANGE_RSP OpaqueData of every session capture
SELECT_11 = bytes.fromhex("46544d44 01010000 00000400 01000011")
# libspdm's default offer, 1.0 and 1.1 (the SupportedVersionList of its KEY_EXCHANGE and PSK_EXCHANGE)
OFFER_10_11 = bytes.fromhex("46544d44 01010000 00000700 01010200100011 00")


def test_requester_offer_from_the_captures() -> None:
    table = decode_opaque(OFFER_11)
    assert table == OpaqueTable(elements=(OpaqueElement(data=bytes.fromhex("0101010011")),))
    assert secured_message_versions(table) == (0x1100,)
    assert encode_opaque(table) == OFFER_11
    assert version_list_opaque([0x1100]) == OFFER_11


def test_responder_selection_from_the_captures() -> None:
    table = decode_opaque(SELECT_11)
    assert table == OpaqueTable(elements=(OpaqueElement(data=bytes.fromhex("01000011")),))
    assert selected_secured_message_version(table) == 0x1100
    assert encode_opaque(table) == SELECT_11
    assert version_selection_opaque(0x1100) == SELECT_11


def test_libspdm_default_offer() -> None:
    assert version_list_opaque((0x1000, 0x1100)) == OFFER_10_11
    assert secured_message_versions(decode_opaque(OFFER_10_11)) == (0x1000, 0x1100)


def test_selection_of_1_2() -> None:
    data = version_selection_opaque(0x1200)
    assert data == SELECT_11[:-1] + b"\x12"
    assert selected_secured_message_version(decode_opaque(data)) == 0x1200


def test_padding_aligns_whole_elements() -> None:
    vendor = OpaqueElement(registry_id=3, vendor_id=b"\x01\x00", data=b"\xaa")
    table = OpaqueTable(elements=(vendor, OpaqueElement(data=bytes.fromhex("0101010011"))))
    data = encode_opaque(table)
    # vendor element: ID, VendorLen, VendorID(2), DataLen(2), Data(1) = 7 bytes, 1 of padding
    assert data[8:16] == bytes.fromhex("0302010001 00aa 00")
    assert data[16:] == OFFER_11[8:]
    assert decode_opaque(data) == table
    # other registries' elements are skipped when looking for the version list
    assert secured_message_versions(decode_opaque(data)) == (0x1100,)


def test_records_encode_to_element_data() -> None:
    assert SupportedVersionList.layout.build(SupportedVersionList(versions=(0x1100,))) == bytes.fromhex(
        "0101010011"
    )
    assert VersionSelection.layout.build(VersionSelection(selected_version=0x1100)) == bytes.fromhex(
        "01000011"
    )


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        pytest.param(b"", "spec_id", "truncated", id="empty"),
        pytest.param(OFFER_11[:-1], "elements._padding", "truncated", id="truncated"),
        pytest.param(OFFER_11[:14], "elements.data", "truncated", id="truncated-data"),
        pytest.param(OFFER_11 + b"\x00", "", "trailing", id="trailing"),
        pytest.param(b"\x00" + OFFER_11[1:], "spec_id", "", id="spec-id"),
        pytest.param(OFFER_11[:4] + b"\x02" + OFFER_11[5:], "opaque_version", "", id="opaque-version"),
        pytest.param(OFFER_11[:-1] + b"\x01", "elements", "AlignPadding is not zero", id="padding"),
        pytest.param(OFFER_11[:5] + b"\x02" + OFFER_11[6:], "elements.registry_id", "truncated", id="count"),
        # the SPDM 1.2 "general opaque data format 1" header has no SpecID
        pytest.param(bytes.fromhex("01000000 00000500 0101010011 000000"), "spec_id", "", id="1.2-format"),
    ],
)
def test_malformed_tables(data: bytes, field: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_opaque(data)
    assert (caught.value.message, caught.value.field) == ("OPAQUE_DATA", field)
    assert reason in caught.value.reason


def _offer(element_data: str) -> OpaqueTable:
    return OpaqueTable(elements=(OpaqueElement(data=bytes.fromhex(element_data)),))


@pytest.mark.parametrize(
    ("table", "field", "reason"),
    [
        pytest.param(_offer("010100"), "elements.data.versions", "VersionCount is 0", id="no-versions"),
        pytest.param(_offer("0101020011"), "elements.data.versions", "truncated", id="short-list"),
        pytest.param(_offer("010101001100"), "elements.data", "trailing", id="long-list"),
        pytest.param(_offer("0201010011"), "elements.data.sm_data_version", "", id="sm-data-version"),
        pytest.param(decode_opaque(SELECT_11), "elements", "0 SupportedVersionList", id="selection"),
        pytest.param(OpaqueTable(), "elements", "0 SupportedVersionList", id="empty"),
        pytest.param(
            OpaqueTable(elements=decode_opaque(OFFER_11).elements * 2),
            "elements",
            "2 SupportedVersionList",
            id="two",
        ),
        pytest.param(
            OpaqueTable(elements=(OpaqueElement(vendor_id=b"\x01", data=bytes.fromhex("0101010011")),)),
            "elements",
            "0 SupportedVersionList",
            id="vendor-id",
        ),
    ],
)
def test_offer_without_exactly_one_well_formed_list(table: OpaqueTable, field: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        secured_message_versions(table)
    assert (caught.value.message, caught.value.field) == ("OPAQUE_DATA", field)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("table", "field", "reason"),
    [
        pytest.param(decode_opaque(OFFER_11), "elements", "0 VersionSelection", id="offer"),
        pytest.param(_offer("0100001100"), "elements.data", "trailing", id="long"),
        pytest.param(_offer("010000"), "elements.data.selected_version", "truncated", id="short"),
    ],
)
def test_selection_must_be_one_well_formed_element(table: OpaqueTable, field: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        selected_secured_message_version(table)
    assert (caught.value.message, caught.value.field) == ("OPAQUE_DATA", field)
    assert reason in caught.value.reason


def test_encode_errors() -> None:
    with pytest.raises(EncodeError, match="VersionCount is 0"):
        version_list_opaque([])
    with pytest.raises(EncodeError) as caught:
        version_selection_opaque(0x10000)
    assert (caught.value.message, caught.value.field) == ("OPAQUE_DATA", "selected_version")
    with pytest.raises(EncodeError):
        encode_opaque(OpaqueTable(elements=(OpaqueElement(data="0101"),)))  # type: ignore[arg-type]


@given(st.binary(max_size=64) | st.binary(max_size=56).map(lambda tail: OFFER_11[:8] + tail))
def test_decoding_raises_only_decode_error(data: bytes) -> None:
    try:
        table = decode_opaque(data)
    except DecodeError:
        return
    assert encode_opaque(table) == data
    for query in (secured_message_versions, selected_secured_message_version):
        with contextlib.suppress(DecodeError):
            query(table)


def test_secured_message_versions_match_on_major_minor() -> None:
    """The update and alpha nibbles of a version number entry take no part in the match."""
    assert has_secured_message_version((0x1000, 0x1100), 0x1105)
    assert not has_secured_message_version((0x1000, 0x1100), 0x1200)
    assert not has_secured_message_version((), 0x1100)
