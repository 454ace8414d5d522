"""SPDM 1.3 key pairs, the responder's side: the device's key-pair table (`KeyPair`, configured as
`ResponderConfig.key_pairs`, KeyPairID = position + 1), GET_KEY_PAIR_INFO answered from it,
SET_KEY_PAIR_INFO changing it, and what a multi-key DIGESTS says of each slot.

The checks and the order they are made in are libspdm's (libspdm_rsp_key_pair_info.c,
libspdm_rsp_set_key_pair_info_ack.c); what a change, an erase and a generation do to the table is
libspdm's sample device's (os_stub/spdm_device_secret_lib_sample/key_pair.c
`libspdm_write_key_pair_info`): a change sets the usage and the algorithm when given (0 keeps
them) and the slot mask always, an erase clears all three, a generation sets all three. Every
refusal leaves the table as it was. The table describes key pairs; the keys that sign are the
slots' (`SlotIdentity`), so a generation records the new settings but makes no key. The requests
reach the table only from 1.3: their capabilities are checked before (`spdm.responder.state.CAPABILITY_OF`),
and an earlier CAPABILITIES cannot carry them (`DEFINED_RESPONDER_FLAGS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from asn1crypto import keys
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from spdm.errors import ErrorCode, ProtocolError
from spdm.messages.certificates import SLOT_COUNT, slot_ids, slot_mask
from spdm.messages.codes import (
    CapabilityFlags,
    KeyPairAsymAlgo,
    KeyPairCapability,
    KeyPairOperation,
    KeyUsage,
    key_pair_asym_algo,
)
from spdm.messages.key_pairs import MAX_PUBLIC_KEY_INFO_LENGTH, KeyPairInfo, SetKeyPairInfo, wrong_key_pair_fields
from spdm.messages.provisioning import GetCsr, SetCertificate
from spdm.negotiated import Negotiated
from spdm.responder._common import invalid_request

__all__ = ["KeyPair", "KeyPairTable", "key_pair_algo", "key_pairs_for_slots"]



@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPair:
    """One key pair as KEY_PAIR_INFO reports it. `capabilities` (`KeyPairCapability`) say what
    SET_KEY_PAIR_INFO may do to it; usages are `KeyUsage` bits, algorithms `KeyPairAsymAlgo` bits
    (one current one at most); `assoc_cert_slot_mask` names the certificate slots it backs;
    `public_key_info` is the key's DER AlgorithmIdentifier."""

    capabilities: int = 0
    key_usage_capabilities: int
    current_key_usage: int = 0
    asym_algo_capabilities: int
    current_asym_algo: int = 0
    assoc_cert_slot_mask: int = 0
    public_key_info: bytes = b""

    def __post_init__(self) -> None:
        if self.capabilities & ~KeyPairCapability.DEFINED:
            raise ValueError(f"capabilities 0x{self.capabilities:x} has undefined bits")
        if not self.key_usage_capabilities or self.key_usage_capabilities & ~KeyUsage.DEFINED:
            raise ValueError(f"key_usage_capabilities 0x{self.key_usage_capabilities:x}: give defined KeyUsage bits")
        if self.current_key_usage & ~self.key_usage_capabilities:
            raise ValueError("current_key_usage is outside key_usage_capabilities")
        if not self.asym_algo_capabilities or self.asym_algo_capabilities & ~KeyPairAsymAlgo.DEFINED:
            raise ValueError(f"asym_algo_capabilities 0x{self.asym_algo_capabilities:x}: give KeyPairAsymAlgo bits")
        if self.current_asym_algo.bit_count() > 1 or self.current_asym_algo & ~self.asym_algo_capabilities:
            raise ValueError("current_asym_algo is one bit of asym_algo_capabilities, or 0")
        if not 0 <= self.assoc_cert_slot_mask < 1 << SLOT_COUNT:
            raise ValueError(f"assoc_cert_slot_mask 0x{self.assoc_cert_slot_mask:x} is not a slot mask")
        if len(self.public_key_info) > MAX_PUBLIC_KEY_INFO_LENGTH:
            raise ValueError("public_key_info is longer than PublicKeyInfoLen can say")


def key_pair_algo(key: PublicKeyTypes) -> KeyPairAsymAlgo:
    """The KeyPairAsymAlgo bit of a public key (its type and size), 0 for a key SPDM has no bit for."""
    if isinstance(key, rsa.RSAPublicKey):
        return _RSA_ALGOS.get(key.key_size, KeyPairAsymAlgo(0))
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _EC_ALGOS.get(key.curve.name, KeyPairAsymAlgo(0))
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyPairAsymAlgo.ED25519
    if isinstance(key, ed448.Ed448PublicKey):
        return KeyPairAsymAlgo.ED448
    return KeyPairAsymAlgo(0)


_RSA_ALGOS = {2048: KeyPairAsymAlgo.RSA2048, 3072: KeyPairAsymAlgo.RSA3072, 4096: KeyPairAsymAlgo.RSA4096}
_EC_ALGOS = {
    "secp256r1": KeyPairAsymAlgo.ECC256,
    "secp384r1": KeyPairAsymAlgo.ECC384,
    "secp521r1": KeyPairAsymAlgo.ECC521,
}


def key_pairs_for_slots(slots: Mapping[int, SlotKeyHolder]) -> tuple[KeyPair, ...]:
    """A key-pair table that describes the slots' own keys: one key pair per distinct key (in slot
    order), backing the slots that hold it, every SET_KEY_PAIR_INFO capability, the slots' usages as
    current usage and the key's algorithm; `public_key_info` is the key's DER AlgorithmIdentifier."""
    by_key: dict[bytes, list[int]] = {}
    for slot in sorted(slots):
        spki = slots[slot].public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        by_key.setdefault(spki, []).append(slot)
    pairs = []
    for spki, held in by_key.items():
        algo = key_pair_algo(slots[held[0]].public_key)
        if not algo:
            continue
        usage = 0
        for slot in held:
            usage |= slots[slot].key_usage
        pairs.append(
            KeyPair(
                capabilities=KeyPairCapability.DEFINED,
                key_usage_capabilities=KeyUsage.ALL_SPDM | usage,
                current_key_usage=usage,
                asym_algo_capabilities=algo,
                current_asym_algo=algo,
                assoc_cert_slot_mask=slot_mask(held),
                public_key_info=keys.PublicKeyInfo.load(spki)["algorithm"].dump(),
            )
        )
    return tuple(pairs)


class SlotKeyHolder(Protocol):
    """What `key_pairs_for_slots` reads of a slot (`SlotIdentity` has both)."""

    @property
    def public_key(self) -> PublicKeyTypes: ...

    @property
    def key_usage(self) -> int: ...


class KeyPairTable:
    """The device's key pairs as they stand now (`ResponderConfig.key_pairs`, as SET_KEY_PAIR_INFO changed them)."""

    def __init__(self, key_pairs: tuple[KeyPair, ...]) -> None:
        self.key_pairs = list(key_pairs)

    def _key_pair(self, key_pair_id: int) -> KeyPair:
        """The key pair a request names (InvalidRequest unless 1..TotalKeyPairs)."""
        if not 1 <= key_pair_id <= len(self.key_pairs):
            raise invalid_request(f"KeyPairID {key_pair_id} is not 1..{len(self.key_pairs)}")
        return self.key_pairs[key_pair_id - 1]

    def info(self, negotiated: Negotiated, key_pair_id: int) -> KeyPairInfo:
        """KEY_PAIR_INFO; without SET_KEY_PAIR_INFO_CAP its Capabilities are 0 (nothing may be set)."""
        pair = self._key_pair(key_pair_id)
        settable = negotiated.responder_has(CapabilityFlags.SET_KEY_PAIR_INFO_CAP)
        return KeyPairInfo(
            version=negotiated.version,
            total_key_pairs=len(self.key_pairs),
            key_pair_id=key_pair_id,
            capabilities=pair.capabilities if settable else 0,
            key_usage_capabilities=pair.key_usage_capabilities,
            current_key_usage=pair.current_key_usage,
            asym_algo_capabilities=pair.asym_algo_capabilities,
            current_asym_algo=pair.current_asym_algo,
            assoc_cert_slot_mask=pair.assoc_cert_slot_mask,
            public_key_info=pair.public_key_info,
        )

    def apply(self, ask: SetKeyPairInfo) -> None:
        """SET_KEY_PAIR_INFO, checked in libspdm's order; the table changes only if every check passes."""
        pair = self._key_pair(ask.key_pair_id)
        operation = ask.operation
        desired = ask.desired
        usage = desired.key_usage if desired is not None else 0
        algo = desired.asym_algo if desired is not None else 0
        mask = desired.assoc_cert_slot_mask if desired is not None else 0
        caps = KeyPairCapability(pair.capabilities)
        refusals = (
            (operation == KeyPairOperation.GENERATE and KeyPairCapability.GEN_KEY not in caps, "no GenKeyCap"),
            (operation == KeyPairOperation.ERASE and KeyPairCapability.ERASABLE not in caps, "no ErasableCap"),
            (
                KeyPairCapability.CERT_ASSOC not in caps and mask not in (0, pair.assoc_cert_slot_mask),
                "no CertAssocCap: the slots cannot change",
            ),
            (KeyPairCapability.KEY_USAGE not in caps and usage != 0, "no KeyUsageCap"),
            (usage & ~pair.key_usage_capabilities != 0, "DesiredKeyUsage outside KeyUsageCapabilities"),
            (KeyPairCapability.ASYM_ALGO not in caps and algo != 0, "no AsymAlgoCap"),
            (algo.bit_count() > 1, "DesiredAsymAlgo names more than one algorithm"),
            (algo & ~pair.asym_algo_capabilities != 0, "DesiredAsymAlgo outside AsymAlgoCapabilities"),
            (KeyPairCapability.SHAREABLE not in caps and mask.bit_count() > 1, "no ShareableCap: one slot at most"),
            (operation > KeyPairOperation.GENERATE, f"Operation {operation} is not defined"),
        )
        for broken, reason in refusals:
            if broken:
                raise invalid_request(f"SET_KEY_PAIR_INFO of key pair {ask.key_pair_id}: {reason}")
        if operation != KeyPairOperation.CHANGE and pair.assoc_cert_slot_mask:
            raise ProtocolError(
                ErrorCode.OperationFailed, f"key pair {ask.key_pair_id} still backs certificate slots: no erase"
            )
        if operation == KeyPairOperation.CHANGE:
            changed = replace(
                pair,
                current_key_usage=usage or pair.current_key_usage,
                current_asym_algo=algo or pair.current_asym_algo,
                assoc_cert_slot_mask=mask,
            )
        else:  # erase clears, generate sets (usage, algorithm and slots)
            changed = replace(pair, current_key_usage=usage, current_asym_algo=algo, assoc_cert_slot_mask=mask)
        self.key_pairs[ask.key_pair_id - 1] = changed

    def _check_key_pair_fields(
        self, negotiated: Negotiated, key_pair_id: int, model: int, *, model_required: bool
    ) -> None:
        """KeyPairID and the certificate model of a 1.3 GET_CSR or SET_CERTIFICATE: named on a multi-key
        connection (a key pair of the table, a defined model), 0 otherwise (libspdm_rsp_csr.c,
        libspdm_rsp_set_certificate_rsp.c)."""
        wrong = wrong_key_pair_fields(negotiated.responder_multi_key, key_pair_id, model, model_required=model_required)
        if wrong is not None:
            raise invalid_request(wrong)
        if negotiated.responder_multi_key:
            self._key_pair(key_pair_id)

    def csr_slots(self, negotiated: Negotiated, ask: GetCsr, usable: list[int]) -> list[int]:
        """A 1.3 GET_CSR's checks (libspdm_rsp_csr.c), then the slots whose key the CSR may be for: on a
        multi-key connection those the named key pair backs, in the device's own certificate model
        (this responder makes CSRs for the keys its slots hold).

        This responder answers every GET_CSR with the CSR, never ResetRequired, so no CSR is ever
        pending and any CSRTrackingTag names none: InvalidRequest, as libspdm_rsp_csr.c answers when
        libspdm_gen_csr finds no pending request for the tag (and, before that, for a tag with
        Overwrite or without CERT_INSTALL_RESET_CAP)."""
        if ask.csr_tracking_tag:
            raise invalid_request(f"CSRTrackingTag {ask.csr_tracking_tag} names no pending CSR")
        self._check_key_pair_fields(negotiated, ask.key_pair_id, ask.cert_model, model_required=True)
        if not negotiated.responder_multi_key:
            return usable
        if ask.cert_model != negotiated.certificate_info:
            raise invalid_request(f"a CSR for certificate model {ask.cert_model}, not the device's")
        backed = slot_ids(self.key_pairs[ask.key_pair_id - 1].assoc_cert_slot_mask)
        slots = [slot for slot in usable if slot in backed]
        if not slots:
            raise invalid_request(f"key pair {ask.key_pair_id} backs no slot whose key signs the negotiated algorithm")
        return slots

    def check_set_certificate(self, negotiated: Negotiated, ask: SetCertificate) -> None:
        """A 1.3 SET_CERTIFICATE's KeyPairID and SetCertModel (libspdm_rsp_set_certificate_rsp.c: no model with
        Erase). Erase itself is refused with OperationFailed: a slot here is a chain and its key together."""
        erase = ask.erase
        if erase and ask.cert_model:
            raise invalid_request("SET_CERTIFICATE with Erase names a certificate model")
        self._check_key_pair_fields(negotiated, ask.key_pair_id, ask.cert_model, model_required=not erase)
        if erase:
            raise ProtocolError(
                ErrorCode.OperationFailed, f"slot {ask.slot_id}: erasing a certificate slot is not supported"
            )

    def slot_key_pair(self, base_asym_algo: int, slot: int) -> int:
        """The KeyPairID a multi-key DIGESTS names for `slot`: the first key pair that backs the slot with
        the negotiated algorithm, 0 for none (key_pair.c `libspdm_get_key_pair_id_by_slot`)."""
        algo = key_pair_asym_algo(base_asym_algo)
        for key_pair_id, pair in enumerate(self.key_pairs, start=1):
            if slot in slot_ids(pair.assoc_cert_slot_mask) and algo and pair.current_asym_algo == algo:
                return key_pair_id
        return 0


def digests_key_fields(
    table: KeyPairTable, negotiated: Negotiated, slot_usages: Mapping[int, int], cert_info: int
) -> dict[str, tuple[int, ...]]:
    """The multi-key DIGESTS fields of the slots `slot_usages` lists (in slot order): KeyPairID from the
    table, the connection's certificate model, each slot's KeyUsageMask."""
    slots = sorted(slot_usages)
    return {
        "key_pair_ids": tuple(table.slot_key_pair(negotiated.base_asym_algo, slot) for slot in slots),
        "certificate_infos": (cert_info,) * len(slots),
        "key_usage_masks": tuple(slot_usages[slot] for slot in slots),
    }
