"""SPDM 1.3 key pairs, the requester's side: GET_KEY_PAIR_INFO, SET_KEY_PAIR_INFO, and what a
multi-key DIGESTS says of each slot (its KeyPairID, CertificateInfo and KeyUsageMask), which
picks the slot that CHALLENGE, signed measurements and KEY_EXCHANGE use.

The checks on KEY_PAIR_INFO and on the multi-key DIGESTS fields are libspdm's requester's
(libspdm_req_get_key_pair_info.c, libspdm_req_get_digests.c). Key usage is this library's own
rule: libspdm's requester stores the responder's KeyUsageMask but never consults it (only its
responder refuses, with InvalidRequest, a CHALLENGE, signed GET_MEASUREMENTS or KEY_EXCHANGE
naming a slot whose mask lacks the usage: libspdm_rsp_challenge_auth.c, _measurements.c,
_key_exchange.c), so here a caller that names such a slot gets `KeyUsageError` before anything is
sent, and one that names none gets the lowest slot whose mask allows the usage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from spdm._checks import check_key_pair_info, check_multi_key_digests
from spdm.errors import PeerError
from spdm.messages.certificates import CERT_MODEL_MASK, Digests, slot_ids, slot_mask
from spdm.messages.codes import (
    CapabilityFlags,
    CertificateInfo,
    Code,
    ErrorCode,
    KeyPairAsymAlgo,
    KeyPairCapability,
    KeyPairOperation,
    KeyUsage,
)
from spdm.messages.key_pairs import (
    MAX_KEY_PAIRS,
    GetKeyPairInfo,
    KeyPairInfo,
    KeyPairSettings,
    SetKeyPairInfo,
    SetKeyPairInfoAck,
)
from spdm.negotiated import Negotiated
from spdm.requester.channel import Transact
from spdm.requester.errors import KeyUsageError
from spdm.requester.events import Steps
from spdm.requester.support import require_support

__all__ = [
    "KeyPairInfoResult",
    "SetKeyPairInfoResult",
    "SlotKey",
    "choose_slot",
    "get_key_pair_info",
    "set_key_pair_info",
    "slot_keys",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotKey:
    """What a 1.3 multi-key DIGESTS says of one provisioned slot."""

    slot: int
    key_pair_id: int
    certificate_info: int
    """The whole CertificateInfo byte; `cert_model` is its model."""
    key_usage: KeyUsage

    @property
    def cert_model(self) -> CertificateInfo:
        return CertificateInfo(self.certificate_info & CERT_MODEL_MASK)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPairInfoResult:
    """KEY_PAIR_INFO of one key pair, checked as libspdm's requester checks it."""

    total_key_pairs: int
    key_pair_id: int
    capabilities: KeyPairCapability
    key_usage_capabilities: KeyUsage
    current_key_usage: KeyUsage
    asym_algo_capabilities: KeyPairAsymAlgo
    current_asym_algo: KeyPairAsymAlgo
    assoc_cert_slot_mask: int
    public_key_info: bytes
    """The DER AlgorithmIdentifier of the key, as the device reports it."""

    @property
    def assoc_cert_slots(self) -> tuple[int, ...]:
        """The certificate slots associated with the key pair."""
        return slot_ids(self.assoc_cert_slot_mask)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetKeyPairInfoResult:
    """SET_KEY_PAIR_INFO's outcome: `reset_required` when the device answered ERROR ResetRequired
    (SET_KEY_PAIR_RESET_CAP: the change takes effect after a reset), else it took effect."""

    key_pair_id: int
    operation: KeyPairOperation
    reset_required: bool


def slot_keys(answer: Digests) -> dict[int, SlotKey]:
    """Each provisioned slot's key pair, model and usages from a multi-key DIGESTS (empty for any
    other), refused as libspdm_req_get_digests.c refuses them (`check_multi_key_digests`)."""
    if answer.key_pair_ids is None or answer.certificate_infos is None or answer.key_usage_masks is None:
        return {}
    check_multi_key_digests(answer)
    slots = slot_ids(answer.slot_mask)
    rows = zip(slots, answer.key_pair_ids, answer.certificate_infos, answer.key_usage_masks, strict=True)
    return {
        slot: SlotKey(slot=slot, key_pair_id=key_pair_id, certificate_info=info, key_usage=KeyUsage(usage))
        for slot, key_pair_id, info, usage in rows
    }


def choose_slot(negotiated: Negotiated, keys: Mapping[int, SlotKey], usage: KeyUsage, slot: int | None) -> int:
    """The slot a request signed for `usage` (every bit of it) names: `slot` if given (refused with
    `KeyUsageError` when a multi-key DIGESTS said its key may not be used for that), else on a
    multi-key connection the lowest slot whose KeyUsageMask allows it, else 0. Before any multi-key
    DIGESTS nothing is known of the usages: the slot given, or 0."""
    if not negotiated.responder_multi_key or not keys:
        return 0 if slot is None else slot
    if slot is None:
        allowed = [number for number, key in sorted(keys.items()) if key.key_usage & usage == usage]
        if not allowed:
            raise KeyUsageError(f"no slot's KeyUsageMask allows {_names(usage)}")
        return allowed[0]
    key = keys.get(slot)
    if key is not None and key.key_usage & usage != usage:
        raise KeyUsageError(f"slot {slot}'s KeyUsageMask 0x{int(key.key_usage):04x} does not allow {_names(usage)}")
    return slot


def _names(usage: KeyUsage) -> str:
    return " and ".join(str(bit.name) for bit in _USAGE_BITS if bit in usage)


_USAGE_BITS = (KeyUsage.KEY_EXCHANGE, KeyUsage.CHALLENGE, KeyUsage.MEASUREMENT, KeyUsage.ENDPOINT_INFO)


def _check_key_pair_id(key_pair_id: int) -> None:
    if not 1 <= key_pair_id <= MAX_KEY_PAIRS:
        raise ValueError(f"KeyPairID {key_pair_id} is not 1..{MAX_KEY_PAIRS}")


def get_key_pair_info(transact: Transact, negotiated: Negotiated, key_pair_id: int) -> Steps[KeyPairInfoResult]:
    """GET_KEY_PAIR_INFO of `key_pair_id` (1..TotalKeyPairs)."""
    require_support(negotiated, Code.GET_KEY_PAIR_INFO)
    _check_key_pair_id(key_pair_id)
    ask = GetKeyPairInfo(version=negotiated.version, key_pair_id=key_pair_id)
    answer, _, _ = yield from transact(ask, KeyPairInfo)
    check_key_pair_info(answer, key_pair_id, settable=negotiated.responder_has(CapabilityFlags.SET_KEY_PAIR_INFO_CAP))
    return _result(answer)


def _result(answer: KeyPairInfo) -> KeyPairInfoResult:
    """KEY_PAIR_INFO as typed values, reserved bits dropped (`check_key_pair_info` accepted it)."""
    return KeyPairInfoResult(
        total_key_pairs=answer.total_key_pairs,
        key_pair_id=answer.key_pair_id,
        capabilities=KeyPairCapability(answer.capabilities & KeyPairCapability.DEFINED),
        key_usage_capabilities=KeyUsage(answer.key_usage_capabilities & KeyUsage.DEFINED),
        current_key_usage=KeyUsage(answer.current_key_usage & KeyUsage.DEFINED),
        asym_algo_capabilities=KeyPairAsymAlgo(answer.asym_algo_capabilities & KeyPairAsymAlgo.DEFINED),
        current_asym_algo=KeyPairAsymAlgo(answer.current_asym_algo & KeyPairAsymAlgo.DEFINED),
        assoc_cert_slot_mask=answer.assoc_cert_slot_mask,
        public_key_info=answer.public_key_info,
    )


def set_key_pair_info(
    transact: Transact,
    negotiated: Negotiated,
    key_pair_id: int,
    operation: KeyPairOperation,
    *,
    key_usage: int = 0,
    asym_algo: int = 0,
    slots: Iterable[int] = (),
) -> Steps[SetKeyPairInfoResult]:
    """SET_KEY_PAIR_INFO: change (0 leaves usage and algorithm as they are; the slots are set as
    given), erase (no settings) or generate key pair `key_pair_id`."""
    require_support(negotiated, Code.SET_KEY_PAIR_INFO)
    _check_key_pair_id(key_pair_id)
    operation = KeyPairOperation(operation)
    mask = slot_mask(slots)
    if not 0 <= key_usage <= 0xFFFF or not 0 <= asym_algo <= 0xFFFF_FFFF:
        raise ValueError("key_usage is a u16 and asym_algo a u32")
    erase = operation == KeyPairOperation.ERASE
    if erase and (key_usage or asym_algo or mask):
        raise ValueError("an erase carries no key usage, algorithm or slots")
    desired = None if erase else KeyPairSettings(key_usage=key_usage, asym_algo=asym_algo, assoc_cert_slot_mask=mask)
    ask = SetKeyPairInfo(version=negotiated.version, operation=operation, key_pair_id=key_pair_id, desired=desired)
    try:
        yield from transact(ask, SetKeyPairInfoAck)
    except PeerError as error:
        if error.error_code != ErrorCode.ResetRequired:
            raise
        return SetKeyPairInfoResult(key_pair_id=key_pair_id, operation=operation, reset_required=True)
    return SetKeyPairInfoResult(key_pair_id=key_pair_id, operation=operation, reset_required=False)
