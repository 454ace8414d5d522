"""Sizes and bounds that several SPDM messages share, each stated once (DSP0274).

The 32-byte Nonce of CHALLENGE, GET_MEASUREMENTS and GET_ENDPOINT_INFO (and their responses), and
the bound of 1024 bytes on every OpaqueLength / OpaqueDataLength field ("Opaque data" in the
specification; libspdm's SPDM_MAX_OPAQUE_DATA_SIZE).
"""

from __future__ import annotations

import construct as c

from spdm.messages._layout import require, when

__all__ = ["MAX_OPAQUE_LENGTH", "NONCE_SIZE", "opaque_length_bound"]

NONCE_SIZE = 32
MAX_OPAQUE_LENGTH = 1024


def opaque_length_bound(length_name: str = "OpaqueDataLength") -> c.Construct:
    """The rule after a message's `_opaque_length` field: at most `MAX_OPAQUE_LENGTH` bytes of
    `opaque_data`. `length_name` is the field's name in the specification, for the error."""
    return require(
        when("_opaque_length", "<=", MAX_OPAQUE_LENGTH), f"{length_name} over {MAX_OPAQUE_LENGTH}", field="opaque_data"
    )
