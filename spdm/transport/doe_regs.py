"""The DOE extended capability's register layout, shared by the mailbox model and the host driver.

PCIe r6.x §7.9.24 (as Linux ``include/uapi/linux/pci_regs.h`` and QEMU ``hw/pci/pcie_doe.c``
spell it). Offsets are from the start of the capability; every access is one whole DWORD.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = [
    "CAPABILITY_SIZE",
    "DOE_CAPABILITY_ID",
    "INTERRUPT_MESSAGE_NUMBER_MASK",
    "INTERRUPT_SUPPORT",
    "DoeControl",
    "DoeRegister",
    "DoeStatus",
]

DOE_CAPABILITY_ID = 0x002E
"""Extended capability ID of DOE, bits [15:0] of the header at +0x00 (version in [19:16])."""

CAPABILITY_SIZE = 0x18
"""Bytes of the capability: six DWORD registers."""


class DoeRegister(IntEnum):
    """Register offsets from the capability start."""

    HEADER = 0x00
    CAPABILITIES = 0x04
    CONTROL = 0x08
    STATUS = 0x0C
    WRITE_MAILBOX = 0x10
    READ_MAILBOX = 0x14


INTERRUPT_SUPPORT = 0x0000_0001
"""Capabilities [0]: the instance can raise an MSI/MSI-X for DOE events."""

INTERRUPT_MESSAGE_NUMBER_MASK = 0x0000_0FFE
"""Capabilities [11:1]: which MSI/MSI-X vector the instance uses."""


class DoeControl(IntFlag):
    """Control register bits; ABORT and GO are write-1 actions and always read as 0."""

    ABORT = 0x0000_0001
    INTERRUPT_ENABLE = 0x0000_0002
    GO = 0x8000_0000


class DoeStatus(IntFlag):
    """Status register bits; INTERRUPT_STATUS is write-1-to-clear, the rest read-only."""

    BUSY = 0x0000_0001
    INTERRUPT_STATUS = 0x0000_0002
    ERROR = 0x0000_0004
    DATA_OBJECT_READY = 0x8000_0000
