"""Shared pieces of the DOE mailbox, host driver and mediator tests: raw register sequences, a
fake clock, an access-counting register wrapper, a demo CDAT and an SPDM device."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from spdm.cdat import build_cdat, dslbis, dsmas
from spdm.requester import RequesterConfig
from spdm.responder import Responder, ResponderConfig, demo_config
from spdm.transport.doe import read_header
from spdm.transport.doe_host import RegisterInterface
from spdm.transport.mailbox import DoeControl, DoeMailbox, DoeRegister, DoeStatus

CONTROL = DoeRegister.CONTROL
STATUS = DoeRegister.STATUS
WRITE = DoeRegister.WRITE_MAILBOX
READ = DoeRegister.READ_MAILBOX
GO = int(DoeControl.GO)
ABORT = int(DoeControl.ABORT)
INT_EN = int(DoeControl.INTERRUPT_ENABLE)
BUSY = int(DoeStatus.BUSY)
INT_STATUS = int(DoeStatus.INTERRUPT_STATUS)
ERROR = int(DoeStatus.ERROR)
READY = int(DoeStatus.DATA_OBJECT_READY)

GET_VERSION = bytes.fromhex("10840000")
ECHO = (0xABCD, 0x42)
"""A vendor protocol for tests: the answer is b"echo" + the request payload."""


def echo(payload: bytes) -> bytes:
    return b"echo" + payload


def dwords(data: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(data) // 4}I", data)


def write_object(registers: RegisterInterface, obj: bytes) -> None:
    for dword in dwords(obj):
        registers.write32(WRITE, dword)


def send(registers: RegisterInterface, obj: bytes) -> None:
    write_object(registers, obj)
    registers.write32(CONTROL, GO)


def status(registers: RegisterInterface) -> int:
    return registers.read32(STATUS)


def read_object(registers: RegisterInterface) -> bytes:
    """The ready response, DW by DW (reading, then writing the read mailbox to advance)."""
    values = []
    for _ in range(2):
        values.append(registers.read32(READ))
        registers.write32(READ, 0)
    length = read_header(struct.pack("<2I", *values))[2]
    for _ in range(length - 2):
        values.append(registers.read32(READ))
        registers.write32(READ, 0)
    return struct.pack(f"<{len(values)}I", *values)


@dataclass
class FakeClock:
    """Monotonic seconds that move only when slept; `on_sleep` runs on every sleep (a device step)."""

    now: float = 0.0
    sleeps: int = 0
    on_sleep: list[Callable[[], object]] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        for action in self.on_sleep:
            action()


class CountingRegisters:
    """A register interface that counts accesses and can sit at a config-space offset."""

    def __init__(self, inner: RegisterInterface, base: int = 0) -> None:
        self.inner = inner
        self.base = base
        self.reads = 0
        self.writes = 0
        self.log: list[tuple[str, int, int]] = []

    @property
    def accesses(self) -> int:
        return self.reads + self.writes

    def read32(self, offset: int) -> int:
        self.reads += 1
        value = self.inner.read32(offset - self.base)
        self.log.append(("r", offset - self.base, value))
        return value

    def write32(self, offset: int, value: int) -> None:
        self.writes += 1
        self.log.append(("w", offset - self.base, value))
        self.inner.write32(offset - self.base, value)


def demo_cdat(count: int = 6) -> bytes:
    """A CDAT of `count` distinct DSMAS and DSLBIS structures."""
    structures = []
    for index in range(count):
        if index % 2:
            structures.append(
                dslbis(handle=index, data_type=index % 6, entry_base_unit=1000 + index, entries=(index, 0, 0))
            )
        else:
            structures.append(dsmas(handle=index, dpa_base=index << 30, dpa_length=1 << 28))
    return build_cdat(structures, revision=1, sequence=7)


def spdm_device() -> tuple[Responder, ResponderConfig]:
    config = dataclasses.replace(demo_config(sessions=True), max_padding=3)
    return Responder(config), config


def requester_config(config: ResponderConfig) -> RequesterConfig:
    return RequesterConfig.with_sessions(trust_anchors={0: config.slots[0].certificates[0]})


def spdm_mailbox(**settings: object) -> tuple[DoeMailbox, ResponderConfig]:
    responder, config = spdm_device()
    mailbox = DoeMailbox(**settings)  # type: ignore[arg-type]
    mailbox.register_spdm(responder.respond)
    return mailbox, config
