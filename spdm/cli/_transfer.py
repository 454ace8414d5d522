"""`--data-transfer-size`, which `spdm responder` and `spdm requester` share."""

from __future__ import annotations

import argparse
from typing import TypedDict

from spdm.cli._common import Usage
from spdm.messages.codes import CapabilityFlags
from spdm.messages.negotiation import transfer_sizes_fit

__all__ = ["TransferSettings", "transfer_settings"]


class TransferSettings(TypedDict, total=False):
    """The fields of a requester's or responder's configuration that chunking changes."""

    capabilities: int
    data_transfer_size: int
    max_spdm_msg_size: int


def transfer_settings(args: argparse.Namespace, capabilities: int, largest: int) -> TransferSettings:
    """The configuration changes --data-transfer-size asks for: CHUNK_CAP, that DataTransferSize, and
    as MaxSPDMmsgSize `largest` (the largest message the side's limits take), which chunking makes
    reachable; none without the option. A DataTransferSize over `largest` is a `Usage` error: the
    side would advertise messages it refuses."""
    size: int | None = args.data_transfer_size
    if size is None:
        return TransferSettings()
    if not transfer_sizes_fit(size, largest):  # the option's parser already refused a size under 42
        raise Usage(f"--data-transfer-size {size} is over {largest}, the largest message the limits take")
    return TransferSettings(
        capabilities=capabilities | CapabilityFlags.CHUNK_CAP,
        data_transfer_size=size,
        max_spdm_msg_size=largest,
    )
