"""GET_DIGESTS/DIGESTS and GET_CERTIFICATE/CERTIFICATE, and the slot mask both DIGESTS and
CHALLENGE_AUTH carry (`slot_ids`, `slot_mask`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import construct as c

from spdm.messages._layout import field, length_of, negotiated_bytes, of, present_when, require
from spdm.messages.codec import Message, message
from spdm.messages.codes import CertificateInfo, Code

__all__ = [
    "CERTIFICATE_HEADER_SIZE",
    "CERT_MODELS",
    "CERT_MODEL_MASK",
    "PUBLIC_KEY_SLOT",
    "SLOT_COUNT",
    "SLOT_ID_MASK",
    "Certificate",
    "Digests",
    "GetCertificate",
    "GetDigests",
    "slot_ids",
    "slot_mask",
]

SLOT_COUNT = 8
"""Certificate slots 0..7: bit n of a slot mask stands for slot n."""
CERTIFICATE_HEADER_SIZE = 8
"""What a CERTIFICATE adds to its portion: the SPDM header, PortionLength and RemainderLength."""
SLOT_ID_MASK = 0x0F
"""SlotID is bits [3:0] of the byte that carries it; the high bits hold other attributes."""
PUBLIC_KEY_SLOT = 0xFF
"""The SlotID naming the pre-provisioned public key (PUB_KEY_ID_CAP) instead of a slot; a 4-bit
SlotID field (GET_MEASUREMENTS' SlotIDParam, KEY_EXCHANGE_RSP's ReqSlotIDParam, GET_ENDPOINT_INFO's
SlotID) holds its low nibble, `PUBLIC_KEY_SLOT & SLOT_ID_MASK` (0xF)."""


def slot_ids(mask: int) -> tuple[int, ...]:
    """The slots a slot mask names, in increasing order (bit n set: slot n holds a chain)."""
    return tuple(slot for slot in range(SLOT_COUNT) if mask >> slot & 1)


def slot_mask(slots: Iterable[int]) -> int:
    """The slot mask naming `slots` (each 0..7); the inverse of `slot_ids`."""
    mask = 0
    for slot in slots:
        if not 0 <= slot < SLOT_COUNT:
            raise ValueError(f"slot {slot} is not 0..{SLOT_COUNT - 1}")
        mask |= 1 << slot
    return mask


@message(Code.GET_DIGESTS, "param1" / c.Int8ul, "param2" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class GetDigests(Message):
    version: int = 0x11
    param1: int = 0
    param2: int = 0


_SLOT_COUNT_OF_MASK = of(lambda slot_mask: int(slot_mask).bit_count(), "slot_mask")
CERT_MODEL_MASK = 0x7
"""The certificate model's bits: CertificateInfo [2:0] (SPDM_CERTIFICATE_INFO_CERT_MODEL_MASK), and
the 3-bit model fields of GET_CSR and SET_CERTIFICATE."""
CERT_MODELS = frozenset({CertificateInfo.DEVICE_CERT, CertificateInfo.ALIAS_CERT, CertificateInfo.GENERIC_CERT})
"""The models a certificate may have: DeviceCert, AliasCert or GenericCert (0 names none, 4..7 are reserved)."""


@message(
    Code.DIGESTS,
    "param1" / c.Int8ul,
    "slot_mask" / c.Int8ul,
    "digests" / c.Array(_SLOT_COUNT_OF_MASK, negotiated_bytes("hash_size")),
    require(
        of(lambda digests: len({len(d) for d in digests}) <= 1, "digests"), "digests differ in size", field="digests"
    ),
    "key_pair_ids" / present_when("multi_key", c.Array(_SLOT_COUNT_OF_MASK, c.Int8ul)),
    "certificate_infos" / present_when("multi_key", c.Array(_SLOT_COUNT_OF_MASK, c.Int8ul)),
    "key_usage_masks" / present_when("multi_key", c.Array(_SLOT_COUNT_OF_MASK, c.Int16ul)),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class Digests(Message):
    """spdm_digest_response_t: one digest per set bit of `slot_mask` (Param2), in increasing slot order.

    On a 1.3 multi-key connection (`CodecContext.multi_key`) each slot also has a KeyPairID, a
    CertificateInfo and a KeyUsageMask; these are ``None`` otherwise.
    """

    version: int = 0x11
    param1: int = 0
    slot_mask: int
    digests: tuple[bytes, ...]
    key_pair_ids: tuple[int, ...] | None = None
    certificate_infos: tuple[int, ...] | None = None
    key_usage_masks: tuple[int, ...] | None = None

    @classmethod
    def for_version(
        cls,
        version: int,
        *,
        supported_slot_mask: int,
        slot_mask: int,
        digests: tuple[bytes, ...],
        key_pair_ids: tuple[int, ...] | None = None,
        certificate_infos: tuple[int, ...] | None = None,
        key_usage_masks: tuple[int, ...] | None = None,
    ) -> Digests:
        """DIGESTS at `version`: `supported_slot_mask` goes in Param1 from 1.3 only (reserved, 0, before)."""
        return cls(
            version=version,
            param1=supported_slot_mask if version >= 0x13 else 0,
            slot_mask=slot_mask,
            digests=digests,
            key_pair_ids=key_pair_ids,
            certificate_infos=certificate_infos,
            key_usage_masks=key_usage_masks,
        )

    @property
    def supported_slot_mask(self) -> int:
        """1.3 SupportedSlotMask (Param1; reserved before 1.3): the slots that exist, provisioned or not."""
        return self.param1 if self.version >= 0x13 else 0

    def by_slot(self) -> dict[int, bytes]:
        """Each populated slot's digest, by slot number (the codec made the counts agree)."""
        return dict(zip(slot_ids(self.slot_mask), self.digests, strict=True))


@message(
    Code.GET_CERTIFICATE,
    "slot_param" / c.Int8ul,
    "param2" / c.Int8ul,
    "offset" / c.Int16ul,
    "length" / c.Int16ul,
)
@dataclass(frozen=True, slots=True, kw_only=True)
class GetCertificate(Message):
    version: int = 0x11
    slot_param: int = 0
    param2: int = 0
    offset: int
    length: int

    @property
    def slot_id(self) -> int:
        return self.slot_param & SLOT_ID_MASK

    @property
    def slot_size_requested(self) -> bool:
        """1.3 SlotSizeRequested (Param2 bit 0; reserved before 1.3): only the chain's size is asked for."""
        return self.version >= 0x13 and bool(self.param2 & 0x1)


@message(
    Code.CERTIFICATE,
    "slot_param" / c.Int8ul,
    "param2" / c.Int8ul,
    "_portion_length" / c.Rebuild(c.Int16ul, length_of("portion")),
    "remainder_length" / c.Int16ul,
    "portion" / c.Bytes(field("_portion_length")),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class Certificate(Message):
    """One portion of a slot's certificate chain; PortionLength comes from `portion`."""

    version: int = 0x11
    slot_param: int = 0
    param2: int = 0
    remainder_length: int
    portion: bytes

    @property
    def slot_id(self) -> int:
        return self.slot_param & SLOT_ID_MASK

    @property
    def certificate_model(self) -> int:
        """1.3 CertificateInfo CertModel (Param2 bits [2:0]; reserved before 1.3): 0 none, 1 device,
        2 alias, 3 generic (SPDM_CERTIFICATE_INFO_CERT_MODEL_*)."""
        return self.param2 & CERT_MODEL_MASK if self.version >= 0x13 else 0
