"""A host-side DOE driver: whole data objects over the DOE capability's registers.

`DoeHostLink` is a `DoeLink` (so ``DoeTransport(DoeHostLink(registers))`` is an SPDM `Transport`)
that drives any `RegisterInterface` (``read32(offset)`` / ``write32(offset, value)``: the
`spdm.transport.mailbox.DoeMailbox` model, a config-space accessor, a fake) the way Linux
``drivers/pci/doe.c`` does:

* on creation: check the capability ID, Abort, then walk discovery once and cache the protocols
  (DiscoveryVersion 2 when the capability version is 2 or more, as Linux sends since PCIe 6.1);
  later discovery requests (`DoeTransport` walks it too) are answered from that cache, and
  objects of a protocol discovery did not list are refused with `TransportError`;
* per object: wait (bounded) for Busy to clear; if Error or Data Object Ready (an answer nobody
  read) is set, Abort first; write the DWs to the Write Data Mailbox, then Go; poll Status every
  ``timeout / 128`` until Data Object Ready or Error, for at most ``timeout`` (1 s, PCIe
  §6.30.2); read the answer DW by DW, writing the Read Data Mailbox after each; check Ready
  before the last acknowledgement and Error after it;
* a response longer than ``max_response_dwords`` is drained (read and acknowledged to its end, so
  the mailbox stays in step) and refused;
* on Error, timeout or a malformed answer: Abort (write Abort, poll until Busy and Error clear
  within ``timeout``), then raise `TransportError`; a malformed header (a Length below 2; its
  reserved bits are ignored) is refused as soon as its two DW are read, the Abort discarding the
  rest. Any other exception mid-exchange (the register accessor's OSError, KeyboardInterrupt)
  aborts too, then propagates. An Abort that does not complete marks the mailbox dead: every
  later call fails at once.

One deliberate departure: Linux aborts when it finds Busy set before writing anything (another
agent's exchange in progress). Here that raises `TransportError` without an Abort, because an
Abort would destroy the other agent's exchange: the disruption `spdm.transport.mediator` exists
to prevent. `abort()` is there for a caller that knows better.

Time is injected (``clock``, ``sleep``), so tests drive timeouts deterministically.
"""

from __future__ import annotations

import contextlib
import math
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from spdm.errors import DecodeError, EncodeError, TransportError
from spdm.transport.doe import (
    DISCOVERY_PROTOCOL,
    HEADER_SIZE,
    MAX_OBJECT_DWORDS,
    DoeLink,
    decode_object,
    discovery_response_object,
    discovery_walk,
    encode_discovery_request,
    encode_object,
    read_discovery_request,
    read_header,
)
from spdm.transport.doe_regs import DOE_CAPABILITY_ID, DoeControl, DoeRegister, DoeStatus

__all__ = [
    "DEFAULT_TIMEOUT",
    "DoeHostLink",
    "RegisterInterface",
    "answer_discovery",
    "check_request_object",
    "exchange_payload",
]

DEFAULT_TIMEOUT = 1.0
"""Seconds a DOE instance has to answer, and to complete an Abort (PCIe r6.0 §6.30.2)."""


class RegisterInterface(Protocol):
    """DWORD access to one DOE capability, offsets relative to its start (or to `base`)."""

    def read32(self, offset: int) -> int: ...

    def write32(self, offset: int, value: int) -> None: ...


def check_request_object(obj: bytes) -> tuple[int, int]:
    """(vendor ID, type) of a request object that is whole and exactly as long as its header says."""
    try:
        request = decode_object(obj)
    except DecodeError as exc:
        raise TransportError(f"request object: {exc}") from exc
    return request.vendor_id, request.object_type


def answer_discovery(table: tuple[tuple[int, int], ...], obj: bytes) -> bytes:
    """The discovery response object to the request object `obj`, from a cached `table`.

    What a driver that already walked discovery answers instead of asking the device again
    (`discovery_response_object`), to any request a device answers (`read_discovery_request`).
    """
    try:
        index = read_discovery_request(obj[HEADER_SIZE:]).index
    except DecodeError as exc:
        raise TransportError(f"DOE discovery request: {exc}") from exc
    return discovery_response_object(table, index)


def exchange_payload(
    link: DoeLink, vendor_id: int, object_type: int, payload: bytes, *, timeout: float | None = None
) -> bytes:
    """One request payload to `link` in an object of (`vendor_id`, `object_type`); the answer's payload.

    The answer must be one object of the same vendor and type; its payload keeps the DW padding.
    """
    try:
        request = encode_object(object_type, payload, vendor_id)
    except EncodeError as exc:
        raise TransportError(f"request object: {exc}") from exc
    response = link.exchange_object(request, timeout=timeout)
    try:
        obj = decode_object(response)
    except DecodeError as exc:
        raise TransportError(f"{vendor_id:04x}:{object_type:02x} response: {exc}") from exc
    if (obj.vendor_id, obj.object_type) != (vendor_id, object_type):
        raise TransportError(
            f"asked {vendor_id:04x}:{object_type:02x}, the answer is {obj.vendor_id:04x}:{obj.object_type:02x}"
        )
    return obj.payload


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


class DoeHostLink:
    """A `DoeLink` over DOE registers, as Linux drives a DOE mailbox; one object in flight at a time."""

    def __init__(
        self,
        registers: RegisterInterface,
        *,
        base: int = 0,
        timeout: float = DEFAULT_TIMEOUT,
        poll_interval: float | None = None,
        max_response_dwords: int = MAX_OBJECT_DWORDS,
        lock_timeout: float = 10.0,
        discovery_version: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if isinstance(base, bool) or not isinstance(base, int) or base < 0 or base % 4:
            raise ValueError(f"base must be a DW-aligned offset, got {base!r}")
        if isinstance(max_response_dwords, bool) or not 2 <= max_response_dwords <= MAX_OBJECT_DWORDS:
            raise ValueError(f"max_response_dwords must be in [2, {MAX_OBJECT_DWORDS}], got {max_response_dwords!r}")
        self._registers = registers
        self._base = base
        self._timeout = _positive("timeout", timeout)
        self._poll = _positive("poll_interval", self._timeout / 128 if poll_interval is None else poll_interval)
        self._max_response = max_response_dwords
        self._lock_timeout = _positive("lock_timeout", lock_timeout)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._dead = False
        self._closed = False
        header = self._read(DoeRegister.HEADER)
        if header & 0xFFFF != DOE_CAPABILITY_ID:
            found = header & 0xFFFF
            raise TransportError(f"no DOE capability here: capability ID {found:#06x}, not {DOE_CAPABILITY_ID:#06x}")
        self._capability_version = (header >> 16) & 0xF
        if discovery_version is None:
            discovery_version = 2 if self._capability_version >= 2 else 0
        encode_discovery_request(0, discovery_version)  # range check
        self._discovery_version = discovery_version
        self._protocols: tuple[tuple[int, int], ...] = (DISCOVERY_PROTOCOL,)
        with self._locked():
            self._abort()
            self._protocols = self._discover()

    # --- what the instance offers ----------------------------------------------------------

    @property
    def capability_version(self) -> int:
        return self._capability_version

    @property
    def discovery_version(self) -> int:
        return self._discovery_version

    @property
    def protocols(self) -> tuple[tuple[int, int], ...]:
        """(vendor ID, type) by discovery index, as cached when the link was made."""
        return self._protocols

    @property
    def dead(self) -> bool:
        """An Abort did not complete: the mailbox is unusable until the device is reset."""
        return self._dead

    def supports(self, vendor_id: int, object_type: int) -> bool:
        return (vendor_id, object_type) in self._protocols

    # --- DoeLink -------------------------------------------------------------------------------

    def exchange_object(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        """Send one whole request object and return the whole response object.

        The response is returned whatever its type (the caller checks it: CMA answers a secured
        request it cannot open in a clear object); it is one well-formed object. Discovery
        requests are answered from the cache, without touching the mailbox.
        """
        self._check_open()
        key = check_request_object(obj)
        if key == DISCOVERY_PROTOCOL:
            return answer_discovery(self._protocols, obj)
        if key not in self._protocols:
            listed = ", ".join(f"{vendor:04x}:{kind:02x}" for vendor, kind in self._protocols)
            raise TransportError(
                f"protocol {key[0]:04x}:{key[1]:02x} was not listed by DOE discovery (listed: {listed})"
            )
        wait = self._timeout if timeout is None else _positive("timeout", timeout)
        with self._locked():
            return self._exchange(obj, wait)

    def abort(self) -> None:
        """Abort whatever the instance is doing and wait (bounded) until it is idle."""
        self._check_open()
        with self._locked():
            self._abort()

    def close(self) -> None:
        self._closed = True

    # --- the sequence ----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError("DOE host link is closed")
        if self._dead:
            raise TransportError("the DOE mailbox is dead (an Abort did not complete)")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if not self._lock.acquire(timeout=self._lock_timeout):
            raise TransportError(f"DOE host link: another exchange held the mailbox for {self._lock_timeout} s")
        try:
            yield
        finally:
            self._lock.release()

    def _read(self, register: int) -> int:
        return self._registers.read32(self._base + register) & 0xFFFF_FFFF

    def _write(self, register: int, value: int) -> None:
        self._registers.write32(self._base + register, value)

    def _exchange(self, obj: bytes, timeout: float) -> bytes:
        if self._dead:
            raise TransportError("the DOE mailbox is dead (an Abort did not complete)")
        self._prepare()
        try:
            self._send(obj)
            self._wait_for_response(timeout)
            return self._receive()
        except TransportError as exc:
            try:
                self._abort()
            except TransportError as abort_failure:
                raise TransportError(f"{exc}; {abort_failure}") from exc
            raise
        except BaseException:
            # An accessor's OSError, a KeyboardInterrupt in a poll: the exchange is cut off all the
            # same, and Linux ends every failure with pci_doe_abort. Best effort: what the caller
            # sees is the original exception; an unread answer left by a failed abort is aborted
            # before the next Go (`_prepare`), and one that did not complete marks the link dead.
            with contextlib.suppress(TransportError, OSError):
                self._abort()
            raise

    def _polls(self, timeout: float) -> range:
        """How many times a wait of `timeout` may poll: the bound that holds even if the clock stalls."""
        return range(math.ceil(timeout / self._poll) + 2)

    def _prepare(self) -> None:
        """Busy must clear before writing (bounded wait, no Abort); a stale Error or an unread
        answer (Data Object Ready) left by an exchange cut off is aborted first, or a device that
        appends to its read mailbox, as QEMU's hw/pci/pcie_doe.c does, would hand it to this one."""
        start = self._clock()
        for _ in self._polls(self._timeout):
            status = self._read(DoeRegister.STATUS)
            if not status & DoeStatus.BUSY:
                if status & (DoeStatus.ERROR | DoeStatus.DATA_OBJECT_READY):
                    self._abort()
                return
            if self._clock() - start >= self._timeout:
                break
            self._sleep(self._poll)
        raise TransportError(f"DOE Busy did not clear within {self._timeout} s: another agent may be using the mailbox")

    def _send(self, obj: bytes) -> None:
        for dword in struct.unpack(f"<{len(obj) // 4}I", obj):
            self._write(DoeRegister.WRITE_MAILBOX, dword)
        keep = self._read(DoeRegister.CONTROL) & DoeControl.INTERRUPT_ENABLE
        self._write(DoeRegister.CONTROL, keep | DoeControl.GO)

    def _wait_for_response(self, timeout: float) -> None:
        start = self._clock()
        for _ in self._polls(timeout):
            status = self._read(DoeRegister.STATUS)
            if status & DoeStatus.ERROR:
                raise TransportError("the DOE instance set Error instead of answering")
            if status & DoeStatus.DATA_OBJECT_READY:
                return
            if self._clock() - start >= timeout:
                break
            self._sleep(self._poll)
        raise TransportError(f"no DOE response within {timeout} s")

    def _next_dword(self) -> int:
        value = self._read(DoeRegister.READ_MAILBOX)
        self._write(DoeRegister.READ_MAILBOX, 0)
        return value

    def _receive(self) -> bytes:
        """The response, DW by DW; its header is read (`read_header`: the fields alone, reserved bits
        ignored) before the rest, as `pci_doe_recv_resp` in Linux drivers/pci/doe.c reads it. The
        object returned carries those fields only, its reserved bits 0."""
        header = struct.pack("<2I", self._next_dword(), self._next_dword())
        try:
            vendor_id, object_type, length = read_header(header)
        except DecodeError as exc:
            raise TransportError(f"DOE response: {exc}") from exc
        if length > self._max_response:
            for _ in range(length - 2):  # drain: read and acknowledge the rest, at most 2^18 DW
                self._next_dword()
            raise TransportError(f"DOE response of {length} DW exceeds this link's {self._max_response}-DW limit")
        dwords: list[int] = []
        last = length - 3
        for index in range(length - 2):
            value = self._read(DoeRegister.READ_MAILBOX)
            if index == last and not self._read(DoeRegister.STATUS) & DoeStatus.DATA_OBJECT_READY:
                raise TransportError("DOE Data Object Ready cleared before the last DW of the response")
            self._write(DoeRegister.READ_MAILBOX, 0)
            dwords.append(value)
        if self._read(DoeRegister.STATUS) & DoeStatus.ERROR:
            raise TransportError("the DOE instance set Error while the response was read")
        return encode_object(object_type, struct.pack(f"<{length - 2}I", *dwords), vendor_id)

    def _abort(self) -> None:
        self._write(DoeRegister.CONTROL, DoeControl.ABORT)
        start = self._clock()
        for _ in self._polls(self._timeout):
            if not self._read(DoeRegister.STATUS) & (DoeStatus.BUSY | DoeStatus.ERROR):
                return
            if self._clock() - start >= self._timeout:
                break
            self._sleep(self._poll)
        self._dead = True
        raise TransportError(f"DOE Abort did not complete within {self._timeout} s: the mailbox is dead")

    def _discover(self) -> tuple[tuple[int, int], ...]:
        walk = discovery_walk(self._discovery_version)
        request = next(walk)
        while True:
            try:
                request = walk.send(self._exchange(request, self._timeout))
            except StopIteration as done:
                protocols: tuple[tuple[int, int], ...] = done.value
                return protocols
