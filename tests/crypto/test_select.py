"""select_algorithm: the responder's choice from the requester's offer, by the responder's priority."""

from __future__ import annotations

from spdm.crypto import select_algorithm
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo


def test_first_priority_bit_that_was_offered() -> None:
    offered = BaseAsymAlgo.ECDSA_P256 | BaseAsymAlgo.ECDSA_P384 | BaseAsymAlgo.RSASSA_3072
    priority = [BaseAsymAlgo.ECDSA_P521, BaseAsymAlgo.ECDSA_P384, BaseAsymAlgo.ECDSA_P256]
    assert select_algorithm(offered, priority) == BaseAsymAlgo.ECDSA_P384


def test_priority_order_wins_over_bit_order() -> None:
    offered = BaseHashAlgo.SHA_256 | BaseHashAlgo.SHA_512
    assert select_algorithm(offered, [BaseHashAlgo.SHA_256, BaseHashAlgo.SHA_512]) == BaseHashAlgo.SHA_256
    assert select_algorithm(offered, [BaseHashAlgo.SHA_512, BaseHashAlgo.SHA_256]) == BaseHashAlgo.SHA_512


def test_nothing_in_common_is_zero() -> None:
    assert select_algorithm(BaseHashAlgo.SHA3_256, [BaseHashAlgo.SHA_256, BaseHashAlgo.SHA_384]) == 0
    assert select_algorithm(0, [BaseHashAlgo.SHA_256]) == 0
    assert select_algorithm(0xFF, []) == 0


def test_priority_entries_must_be_single_bits() -> None:
    # a multi-bit or zero entry is never a selection, even when the offer overlaps it
    assert select_algorithm(0x3, [0x3, 0, 0x2]) == 0x2
