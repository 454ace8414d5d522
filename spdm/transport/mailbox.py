"""A PCIe DOE mailbox, device side: the DOE extended capability as DWORD register accesses.

`DoeMailbox` is what a host driver sees in config space (PCIe r6.x §6.30 and §7.9.24): it
assembles request objects from Write Data Mailbox writes, runs them on Go, and hands the
response out one DW at a time through the Read Data Mailbox. It hosts any number of protocols:
Discovery (answered here), CMA/SPDM and secured CMA/SPDM (`register_spdm`, around a responder's
`respond` callable), and any `(vendor ID, object type) -> handler(payload) -> payload` (`register`;
`spdm.cdat.CdatResponder` is the worked example).

The rules it keeps, and where they come from:

* An object whose DW count does not match its header's Length is silently discarded (PCIe
  §6.30.1, quoted in QEMU ``hw/pci/pcie_doe.c``); so is one shorter than its protocol needs
  (discovery without its DW), while extra DWs and the request's reserved bits are ignored
  (`read_discovery_request`; the DOE ECN as quoted on qemu-devel). The header's reserved bits are
  ignored too (`read_object`; QEMU ignores DW1's, masking Length), and handlers get the object
  with them cleared.
  A handler returning None discards too. Discarding leaves Ready and Error clear: the host
  times out, as Linux ``drivers/pci/doe.c`` does, after 1 s.
* Error is set when the instance "is unable to provide a response" (the Error bit's definition,
  PCIe §7.9.24.4, as lowRISC OpenTitan ``hw/ip/mbx/doc/registers.md`` reproduces it): a type it
  does not host (QEMU discards those instead), a response larger than the read mailbox, a
  request larger than the write mailbox (bounded before anything is stored), a handler that
  fails with an `SpdmError`, and Go while an unread response is still in the read mailbox.
* Reading the read mailbox when no object is ready, or writing it to advance past the end, sets
  Error (QEMU sets Error on the advance past the end). PCIe itself says such reads return 0 and
  such writes have no effect; ``error_on_idle_access=False`` gives exactly that.
* Abort (Control bit 0) empties both mailboxes, drops a request being processed (its late answer
  is thrown away) and clears Error and Ready; it leaves Interrupt Status alone, which software
  clears by writing 1 (Lukas Wunner's reading of PCIe §6.30.2 on linux-pci). Busy clears at
  once, or, while a handler is still running the aborted request, when it returns: no second
  request runs beside it (a responder is not reentrant). Linux ``drivers/pci/doe.c``
  (`pci_doe_abort`) polls until Busy clears.
* Busy is set from Go until the answer is ready (or discarded); writes to the write mailbox while
  Busy are dropped, Go while Busy is ignored.
* With interrupt support advertised and Interrupt Enable set, Ready set, Error set and Busy
  cleared each set Interrupt Status; a message (`on_interrupt(vector)`, `interrupts`) is sent
  when Enable AND Status goes from false to true (PCIe §6.30.3).

The slow-responder model: by default a request runs on the thread that writes Go, inside that
write but with the mailbox lock released, so other threads see Busy meanwhile and an Abort from
another thread discards the late answer. With ``deferred=True`` Go only latches the request and
sets Busy; `step()` runs it (a test calls `step()` where a device would take its time, or a
device thread loops on it), which keeps every interleaving deterministic.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable

from spdm.errors import DecodeError, SpdmError
from spdm.transport.base import Respond
from spdm.transport.doe import (
    DISCOVERY_PROTOCOL,
    HEADER_SIZE,
    MAX_OBJECT_DWORDS,
    PCI_SIG_VENDOR_ID,
    DoeMailboxResponder,
    DoeType,
    decode_object,
    discovery_response_object,
    encode_object,
    is_protocol,
    read_discovery_request,
    read_object,
)
from spdm.transport.doe_regs import (
    CAPABILITY_SIZE,
    DOE_CAPABILITY_ID,
    INTERRUPT_MESSAGE_NUMBER_MASK,
    INTERRUPT_SUPPORT,
    DoeControl,
    DoeRegister,
    DoeStatus,
)

__all__ = [
    "CAPABILITY_SIZE",
    "DEFAULT_MAILBOX_DWORDS",
    "DOE_CAPABILITY_ID",
    "DoeControl",
    "DoeMailbox",
    "DoeRegister",
    "DoeStatus",
    "ObjectHandler",
    "PayloadHandler",
]

PayloadHandler = Callable[[bytes], "bytes | None"]
"""A protocol's device side: request payload (with its DW padding) -> response payload, or None to discard."""

ObjectHandler = Callable[[bytes], "bytes | None"]
"""Whole request object -> whole response object, or None to discard (for bindings such as CMA
whose answer may change the object type)."""

DEFAULT_MAILBOX_DWORDS = 4096
"""Default size of each mailbox (16 KiB): far above any SPDM 1.1 message this library sends."""

_MAX_PROTOCOLS = 256  # the discovery index is 8 bits wide
_U32 = 0xFFFF_FFFF


_Job = tuple[ObjectHandler, bytes]  # (handler, request object)


def _check_range(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _check_offset(offset: int) -> None:
    if isinstance(offset, bool) or not isinstance(offset, int) or offset % 4 or not 0 <= offset < CAPABILITY_SIZE:
        raise ValueError(f"DOE register offset must be a DW-aligned offset below {CAPABILITY_SIZE:#x}, got {offset!r}")


def _payload_route(vendor_id: int, object_type: int, handler: PayloadHandler) -> ObjectHandler:
    """An object handler around a payload handler: the answer goes back in an object of the request's type."""

    def route(obj: bytes) -> bytes | None:
        response = handler(obj[HEADER_SIZE:])
        return None if response is None else encode_object(object_type, response, vendor_id)

    return route


class DoeMailbox:
    """One DOE instance as registers: `read32(offset)` / `write32(offset, value)` at capability offsets.

    Thread-safe: register accesses are serialized by a lock, which handlers run outside of.
    """

    def __init__(
        self,
        *,
        capability_version: int = 2,
        interrupt_support: bool = True,
        interrupt_message_number: int = 0,
        write_mailbox_dwords: int = DEFAULT_MAILBOX_DWORDS,
        read_mailbox_dwords: int = DEFAULT_MAILBOX_DWORDS,
        deferred: bool = False,
        error_on_idle_access: bool = True,
        on_interrupt: Callable[[int], None] | None = None,
        next_capability_offset: int = 0,
    ) -> None:
        _check_range("capability_version", capability_version, 1, 0xF)
        _check_range("interrupt_message_number", interrupt_message_number, 0, INTERRUPT_MESSAGE_NUMBER_MASK >> 1)
        _check_range("write_mailbox_dwords", write_mailbox_dwords, 3, MAX_OBJECT_DWORDS)
        _check_range("read_mailbox_dwords", read_mailbox_dwords, 3, MAX_OBJECT_DWORDS)
        _check_range("next_capability_offset", next_capability_offset, 0, 0xFFC)
        if next_capability_offset % 4:
            raise ValueError(f"next_capability_offset must be DW-aligned, got {next_capability_offset:#x}")
        self._header = DOE_CAPABILITY_ID | capability_version << 16 | next_capability_offset << 20
        self._capabilities = (INTERRUPT_SUPPORT if interrupt_support else 0) | interrupt_message_number << 1
        self._interrupt_support = interrupt_support
        self._message_number = interrupt_message_number
        self._write_capacity = write_mailbox_dwords
        self._read_capacity = read_mailbox_dwords
        self._deferred = deferred
        self._strict = error_on_idle_access
        self._on_interrupt = on_interrupt
        self._lock = threading.Lock()
        self._table: tuple[tuple[int, int], ...] = (DISCOVERY_PROTOCOL,)
        self._routes: dict[tuple[int, int], ObjectHandler] = {}
        self._write: list[int] = []
        self._write_count = 0
        self._read: tuple[int, ...] = ()
        self._read_index = 0
        self._busy = self._ready = self._error = False
        self._interrupt_enable = self._interrupt_status = self._irq_level = False
        self._pending: _Job | None = None
        self._handling = False  # a handler is running the request (Busy stays set until it returns)
        self._aborting = False  # ... and that request was aborted: its answer is thrown away
        self._unsent_interrupts = 0
        self._interrupts = 0
        self._discarded = 0
        self._discovery_version: int | None = None

    # --- protocols -------------------------------------------------------------------------

    @property
    def protocols(self) -> tuple[tuple[int, int], ...]:
        """The discovery table: (vendor ID, object type) by index, discovery itself first."""
        return self._table

    def register(self, vendor_id: int, object_type: int, handler: PayloadHandler) -> None:
        """Host a protocol whose answers travel in objects of the request's own type."""
        self.register_object_handler(vendor_id, object_type, _payload_route(vendor_id, object_type, handler))

    def register_object_handler(self, vendor_id: int, object_type: int, handler: ObjectHandler) -> None:
        """Host a protocol at the object level (the handler builds whole response objects)."""
        if not is_protocol(vendor_id, object_type):
            raise ValueError(f"vendor_id and object_type must fit 16 and 8 bits, got {vendor_id!r}, {object_type!r}")
        vendor_id, object_type = int(vendor_id), int(object_type)
        key = (vendor_id, object_type)
        with self._lock:
            if key == DISCOVERY_PROTOCOL or key in self._routes:
                raise ValueError(f"protocol {vendor_id:04x}:{object_type:02x} is already hosted")
            if len(self._table) >= _MAX_PROTOCOLS:
                raise ValueError(f"a DOE instance lists at most {_MAX_PROTOCOLS} protocols (8-bit discovery index)")
            self._routes[key] = handler
            self._table = (*self._table, key)

    def register_spdm(self, respond: Respond, *, secured: bool = True) -> None:
        """Host CMA/SPDM (type 1) and, when `secured`, secured CMA/SPDM (type 2) around `respond`.

        The binding is `DoeMailboxResponder`'s: type-2 payloads go to `respond` with their
        session ID, and a clear answer to a secured request comes back as type 1.
        """
        binding = DoeMailboxResponder(respond, secured=secured)
        self.register_object_handler(PCI_SIG_VENDOR_ID, DoeType.CMA_SPDM, binding)
        if secured:
            self.register_object_handler(PCI_SIG_VENDOR_ID, DoeType.SECURED_CMA_SPDM, binding)

    # --- observation -----------------------------------------------------------------------

    @property
    def pending(self) -> bool:
        """A deferred request is latched and waits for `step()`."""
        return self._pending is not None

    @property
    def interrupts(self) -> int:
        """Interrupt messages sent so far."""
        return self._interrupts

    @property
    def discarded(self) -> int:
        """Objects silently discarded so far (length mismatch, too short, no answer)."""
        return self._discarded

    @property
    def discovery_version(self) -> int | None:
        """The DiscoveryVersion byte of the last discovery request (0, or 2 from PCIe 6.1 hosts)."""
        return self._discovery_version

    # --- registers -------------------------------------------------------------------------

    def read32(self, offset: int) -> int:
        """The DW register at `offset`; reading the read mailbox does not advance it."""
        _check_offset(offset)
        with self._lock:
            if offset == DoeRegister.READ_MAILBOX:
                value = self._read_mailbox()
            elif offset == DoeRegister.STATUS:
                value = (
                    (DoeStatus.BUSY if self._busy else 0)
                    | (DoeStatus.INTERRUPT_STATUS if self._interrupt_status else 0)
                    | (DoeStatus.ERROR if self._error else 0)
                    | (DoeStatus.DATA_OBJECT_READY if self._ready else 0)
                )
            elif offset == DoeRegister.CONTROL:
                value = DoeControl.INTERRUPT_ENABLE if self._interrupt_enable else 0
            elif offset == DoeRegister.CAPABILITIES:
                value = self._capabilities
            elif offset == DoeRegister.HEADER:
                value = self._header
            else:  # the write mailbox reads as 0
                value = 0
            notify = self._take_interrupts()
        self._send_interrupts(notify)
        return value

    def write32(self, offset: int, value: int) -> None:
        """Write the DW register at `offset`; with Go, the request may run before this returns."""
        _check_offset(offset)
        _check_range("value", value, 0, _U32)
        job: _Job | None = None
        with self._lock:
            if offset == DoeRegister.WRITE_MAILBOX:
                self._write_dword(value)
            elif offset == DoeRegister.READ_MAILBOX:
                self._advance()
            elif offset == DoeRegister.CONTROL:
                job = self._write_control(value)
            elif offset == DoeRegister.STATUS and value & DoeStatus.INTERRUPT_STATUS:
                self._interrupt_status = False
                self._update_irq()
            notify = self._take_interrupts()
        self._send_interrupts(notify)
        if job is not None:
            self._run(job)

    def step(self) -> bool:
        """Process the latched request (deferred mode); False when there was none."""
        with self._lock:
            job, self._pending = self._pending, None
            if job is None:
                return False
            self._handling = True
        self._run(job)
        return True

    # --- register behaviour (lock held) ----------------------------------------------------

    def _write_dword(self, value: int) -> None:
        if self._busy:
            return  # temporarily unable to receive a new data object
        if self._write_count >= self._write_capacity:
            self._write_count = self._write_capacity + 1  # stays bounded
            self._set_error()
            return
        self._write_count += 1
        self._write.append(value)

    def _read_mailbox(self) -> int:
        if self._ready and not self._error:
            return self._read[self._read_index]
        if self._strict and not self._error:
            self._set_error()
        return 0

    def _advance(self) -> None:
        if self._ready and not self._error:
            self._read_index += 1
            if self._read_index >= len(self._read):
                self._ready = False
                self._read = ()
                self._read_index = 0
        elif self._strict and not self._error:
            self._set_error()

    def _write_control(self, value: int) -> _Job | None:
        if value & DoeControl.ABORT:
            self._abort()
            return None
        if self._interrupt_support:
            self._interrupt_enable = bool(value & DoeControl.INTERRUPT_ENABLE)
            self._update_irq()
        return self._go() if value & DoeControl.GO else None

    def _abort(self) -> None:
        self._pending = None
        self._ready = self._error = False
        self._write = []
        self._write_count = 0
        self._read = ()
        self._read_index = 0
        if self._handling:  # Busy clears when the handler returns (`_complete`)
            self._aborting = True
            return
        self._busy = False
        self._event()  # abort handling done: Busy is clear

    def _go(self) -> _Job | None:
        if self._busy or self._error:
            return None
        if self._ready:  # the previous answer was not read: no room for another
            self._set_error()
            return None
        dwords, count = self._write, self._write_count
        self._write = []
        self._write_count = 0
        if count != len(dwords):
            self._discard()
            return None
        try:
            request = read_object(struct.pack(f"<{count}I", *dwords))
        except DecodeError:
            self._discard()
            return None
        key = (request.vendor_id, request.object_type)
        handler = self._discovery if key == DISCOVERY_PROTOCOL else self._routes.get(key)
        if handler is None:
            self._set_error()
            return None
        self._busy = True
        job = (handler, encode_object(request.object_type, request.payload, request.vendor_id))
        if self._deferred:
            self._pending = job
            return None
        self._handling = True
        return job

    def _discard(self) -> None:
        self._discarded += 1

    def _set_error(self) -> None:
        if not self._error:
            self._error = True
            self._event()

    def _event(self) -> None:
        """Ready set, Error set or Busy cleared: an interrupt event when interrupts are enabled."""
        if self._interrupt_support and self._interrupt_enable:
            self._interrupt_status = True
            self._update_irq()

    def _update_irq(self) -> None:
        level = self._interrupt_enable and self._interrupt_status
        if level and not self._irq_level:
            self._interrupts += 1
            self._unsent_interrupts += 1
        self._irq_level = level

    def _take_interrupts(self) -> int:
        count, self._unsent_interrupts = self._unsent_interrupts, 0
        return count

    def _send_interrupts(self, count: int) -> None:
        if self._on_interrupt is not None:
            for _ in range(count):
                self._on_interrupt(self._message_number)

    # --- processing (lock released) --------------------------------------------------------

    def _run(self, job: _Job) -> None:
        handler, obj = job
        response: bytes | None = None
        failed = True
        try:
            response = handler(obj)
            failed = False
        except SpdmError:
            response = None  # the instance could not provide a response: Error, below
        finally:  # also when the handler raised something else, which then propagates
            with self._lock:
                self._complete(response, failed)
                notify = self._take_interrupts()
            self._send_interrupts(notify)

    def _complete(self, response: bytes | None, failed: bool) -> None:
        self._handling = self._busy = False
        if self._aborting:  # the late answer to an aborted request: dropped, and the abort is done
            self._aborting = False
            self._event()
        elif failed or (response is not None and not self._publish(response)):
            self._set_error()
        elif response is None:
            self._discard()
            self._event()
        else:
            self._event()

    def _publish(self, response: bytes) -> bool:
        """Put `response` in the read mailbox; False if it is no valid object or does not fit."""
        size = len(response)
        if size // 4 > self._read_capacity:
            return False
        try:
            decode_object(response)
        except DecodeError:
            return False
        self._read = struct.unpack(f"<{size // 4}I", response)
        self._read_index = 0
        self._ready = True
        return True

    def _discovery(self, obj: bytes) -> bytes | None:
        try:
            request = read_discovery_request(obj[HEADER_SIZE:])
        except DecodeError:
            return None
        self._discovery_version = request.version
        return discovery_response_object(self._table, request.index)
