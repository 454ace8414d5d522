"""The host DOE driver against the mailbox model: SPDM authentication and a session through
register accesses alone, the Linux sequence (abort on start, discovery, Busy, Go, polling, DW-by-DW
reads, draining, abort on failure), timeouts on a fake clock, and a dead mailbox."""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable

import pytest
from mailbox_helpers import (
    ABORT,
    BUSY,
    CONTROL,
    ECHO,
    ERROR,
    GET_VERSION,
    GO,
    INT_EN,
    READ,
    READY,
    STATUS,
    WRITE,
    CountingRegisters,
    FakeClock,
    demo_cdat,
    dwords,
    echo,
    requester_config,
    send,
    spdm_mailbox,
    status,
)

from spdm.cdat import CXL_TABLE_ACCESS, CXL_VENDOR_ID, CdatResponder, read_cdat
from spdm.errors import DecodeError, TransportError
from spdm.requester import Requester
from spdm.transport.doe import (
    CMA_PROTOCOLS,
    DISCOVERY_PROTOCOL,
    DoeTransport,
    DoeType,
    decode_object,
    discovery_response_object,
    encode_object,
    read_discovery_request,
)
from spdm.transport.doe_host import DoeHostLink, RegisterInterface, exchange_payload
from spdm.transport.mailbox import DoeMailbox

CDAT = (CXL_VENDOR_ID, CXL_TABLE_ACCESS)


def echo_mailbox(**settings: object) -> DoeMailbox:
    mailbox = DoeMailbox(**settings)  # type: ignore[arg-type]
    mailbox.register(*ECHO, echo)
    return mailbox


def echo_object(payload: bytes) -> bytes:
    return encode_object(ECHO[1], payload, ECHO[0])


def fake_link(mailbox: DoeMailbox, clock: FakeClock, **settings: object) -> DoeHostLink:
    """A link on a fake clock; a deferred mailbox is stepped while the link runs discovery."""
    clock.on_sleep.append(mailbox.step)
    try:
        return DoeHostLink(mailbox, clock=clock, sleep=clock.sleep, **settings)  # type: ignore[arg-type]
    finally:
        clock.on_sleep.remove(mailbox.step)


# --- end to end --------------------------------------------------------------------------------


def test_authentication_and_a_session_through_registers_alone() -> None:
    mailbox, config = spdm_mailbox()
    mailbox.register(*CDAT, CdatResponder(demo_cdat()))
    registers = CountingRegisters(mailbox)
    link = DoeHostLink(registers)
    assert link.protocols == (*CMA_PROTOCOLS, CDAT)
    requester = Requester(DoeTransport(link), requester_config(config))
    result = requester.authenticate()
    assert result.measurements is not None and result.measurements.signed
    with requester.key_exchange(0) as session:
        session.heartbeat()
        assert session.get_measurements(1).blocks[0].index == 1
        assert session.key_update(all_keys=True)
    assert session.closed
    assert read_cdat(link) == demo_cdat()
    assert registers.accesses > 1000
    assert {kind for kind, _, _ in registers.log} == {"r", "w"}


def test_a_slow_responder_answers_while_the_host_polls() -> None:
    mailbox, config = spdm_mailbox(deferred=True)
    clock = FakeClock()
    link = fake_link(mailbox, clock)
    clock.on_sleep.append(mailbox.step)  # the device finishes its work while the host sleeps
    requester = Requester(DoeTransport(link), requester_config(config))
    requester.authenticate()
    with requester.key_exchange(0) as session:
        session.heartbeat()
    assert clock.sleeps > 10  # one poll interval per object at least
    assert clock.now < 1.0


def test_capability_version_picks_the_discovery_version() -> None:
    for version, expected in ((1, 0), (2, 2), (3, 2)):
        mailbox = echo_mailbox(capability_version=version)
        link = DoeHostLink(mailbox)
        assert (link.capability_version, link.discovery_version) == (version, expected)
        assert mailbox.discovery_version == expected
    assert DoeHostLink(echo_mailbox(), discovery_version=0).discovery_version == 0


def test_registers_at_a_config_space_offset() -> None:
    mailbox = echo_mailbox()
    link = DoeHostLink(CountingRegisters(mailbox, base=0x150), base=0x150)
    assert exchange_payload(link, *ECHO, b"ping") == b"echoping"


def test_interrupt_enable_is_preserved_on_go() -> None:
    mailbox = echo_mailbox()
    mailbox.write32(CONTROL, INT_EN)
    link = DoeHostLink(mailbox)
    assert exchange_payload(link, *ECHO, b"ping") == b"echoping"
    assert mailbox.read32(CONTROL) == INT_EN
    assert mailbox.interrupts >= 1


# --- the Linux sequence ----------------------------------------------------------------------


def test_abort_on_start_clears_a_stale_error() -> None:
    mailbox = echo_mailbox()
    send(mailbox, encode_object(5, b"", 0x7777))  # leaves Error set
    registers = CountingRegisters(mailbox)
    DoeHostLink(registers)
    assert registers.log[1] == ("w", CONTROL, ABORT)  # header read, then Abort
    assert status(mailbox) == 0


def test_an_error_left_between_exchanges_is_aborted_first() -> None:
    mailbox = echo_mailbox()
    link = DoeHostLink(mailbox)
    mailbox.read32(READ)  # someone reads an empty mailbox: Error
    assert status(mailbox) == ERROR
    assert exchange_payload(link, *ECHO, b"ping") == b"echoping"


def test_undiscovered_protocols_are_refused_without_touching_the_mailbox() -> None:
    registers = CountingRegisters(echo_mailbox())
    link = DoeHostLink(registers)
    before = registers.accesses
    with pytest.raises(TransportError, match=r"1e98:02 was not listed.*abcd:42"):
        link.exchange_object(encode_object(CXL_TABLE_ACCESS, b"\0\0\0\0", CXL_VENDOR_ID))
    with pytest.raises(TransportError, match="does not list CMA/SPDM"):
        DoeTransport(link).exchange(GET_VERSION)  # its discovery walk is answered from the cache
    assert registers.accesses == before


@pytest.mark.parametrize(
    "obj",
    [echo_object(b"ping")[:-1], echo_object(b"ping")[:-4], b"\x01\x00"],
    ids=["partial-dw", "short", "no-header"],
)
def test_malformed_request_objects_are_refused(obj: bytes) -> None:
    link = DoeHostLink(echo_mailbox())
    with pytest.raises(TransportError, match="request object"):
        link.exchange_object(obj)


def test_no_response_times_out_then_aborts() -> None:
    mailbox = echo_mailbox(deferred=True)
    clock = FakeClock()
    link = fake_link(mailbox, clock, timeout=0.5)
    assert link.protocols[-1] == ECHO
    clock.now = 0.0
    send_nothing = echo_object(b"ping")
    with pytest.raises(TransportError, match=r"no DOE response within 0\.5 s"):
        link.exchange_object(send_nothing)
    assert not mailbox.pending and status(mailbox) == 0  # the Abort dropped the request
    assert 0.5 <= clock.now <= 0.5 + 2 * 0.5 / 128 + 1e-9
    clock.on_sleep.append(mailbox.step)
    assert decode_object(link.exchange_object(send_nothing)).payload == b"echoping"


def test_a_stalled_clock_still_ends_the_wait() -> None:
    mailbox = echo_mailbox(deferred=True)
    polls: list[float] = []
    answering = [True]

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if answering[0]:
            mailbox.step()

    link = DoeHostLink(mailbox, clock=lambda: 0.0, sleep=sleep, timeout=0.25, poll_interval=0.01)
    polls.clear()
    answering[0] = False  # the device stops answering, and the clock never moves
    with pytest.raises(TransportError, match="no DOE response"):
        link.exchange_object(echo_object(b"ping"))
    assert 25 <= len(polls) <= 30


def test_per_exchange_timeout() -> None:
    mailbox = echo_mailbox(deferred=True)
    clock = FakeClock()
    link = fake_link(mailbox, clock)
    with pytest.raises(TransportError, match=r"within 0\.1 s"):
        link.exchange_object(echo_object(b"ping"), timeout=0.1)
    with pytest.raises(ValueError, match="timeout"):
        link.exchange_object(echo_object(b"ping"), timeout=0)


def test_error_instead_of_an_answer_aborts() -> None:
    mailbox = DoeMailbox()

    def refuses(payload: bytes) -> bytes:
        raise DecodeError("TEST", "", "no")

    mailbox.register(*ECHO, refuses)
    registers = CountingRegisters(mailbox)
    link = DoeHostLink(registers)
    with pytest.raises(TransportError, match="set Error"):
        exchange_payload(link, *ECHO, b"ping")
    assert registers.log[-2][:2] == ("w", CONTROL) and registers.log[-2][2] == ABORT
    assert status(mailbox) == 0


def test_a_response_too_large_for_the_host_is_drained() -> None:
    mailbox = echo_mailbox()
    link = DoeHostLink(mailbox, max_response_dwords=4)
    assert exchange_payload(link, *ECHO, b"ping") == b"echoping"  # 4 DW
    with pytest.raises(TransportError, match="5 DW exceeds this link's 4-DW limit"):
        exchange_payload(link, *ECHO, b"ping!")
    assert status(mailbox) == 0
    assert exchange_payload(link, *ECHO, b"pong") == b"echopong"


def test_a_response_too_large_for_the_device_is_an_error() -> None:
    link = DoeHostLink(echo_mailbox(read_mailbox_dwords=4))
    with pytest.raises(TransportError, match="set Error"):
        exchange_payload(link, *ECHO, b"ping!")
    assert exchange_payload(link, *ECHO, b"ping") == b"echoping"


class AbortAfterReads:
    """Registers that let someone else Abort the mailbox after `reads` read-mailbox reads."""

    def __init__(self, mailbox: DoeMailbox, reads: int) -> None:
        self.mailbox = mailbox
        self.reads = reads
        self.armed = False

    def read32(self, offset: int) -> int:
        value = self.mailbox.read32(offset)
        if self.armed and offset == READ:
            self.reads -= 1
            if self.reads == 0:
                self.mailbox.write32(CONTROL, ABORT)
        return value

    def write32(self, offset: int, value: int) -> None:
        self.mailbox.write32(offset, value)


def test_ready_lost_before_the_last_dw() -> None:
    mailbox = echo_mailbox()
    registers = AbortAfterReads(mailbox, reads=4)
    link = DoeHostLink(registers)
    registers.armed = True
    with pytest.raises(TransportError, match="Ready cleared before the last DW"):
        exchange_payload(link, *ECHO, b"ping")  # 4 DW: the 4th read is the last
    registers.armed = False
    assert exchange_payload(link, *ECHO, b"pong") == b"echopong"


def test_error_while_reading_is_caught_at_the_end() -> None:
    mailbox = echo_mailbox()
    registers = AbortAfterReads(mailbox, reads=2)
    link = DoeHostLink(registers)
    registers.armed = True
    with pytest.raises(TransportError):
        exchange_payload(link, *ECHO, b"a longer request")
    registers.armed = False
    assert exchange_payload(link, *ECHO, b"pong") == b"echopong"


def test_busy_at_the_start_is_reported_not_aborted() -> None:
    mailbox = echo_mailbox(deferred=True)
    clock = FakeClock()
    link = fake_link(mailbox, clock, timeout=0.2)
    send(mailbox, echo_object(b"other agent"))  # another agent's request in progress
    assert status(mailbox) == BUSY
    with pytest.raises(TransportError, match="another agent"):
        exchange_payload(link, *ECHO, b"ping")
    assert mailbox.pending  # untouched: no Abort
    mailbox.step()
    assert status(mailbox) == READY


def test_a_type_1_answer_to_a_secured_request_comes_through() -> None:
    mailbox = DoeMailbox()
    mailbox.register_spdm(lambda request, session_id: bytes.fromhex("117f0200"))  # ERROR InvalidSession
    link = DoeHostLink(mailbox)
    secured = (0xFFFE0001).to_bytes(4, "little") + bytes(12)
    answer = decode_object(link.exchange_object(encode_object(DoeType.SECURED_CMA_SPDM, secured)))
    assert answer.object_type == DoeType.CMA_SPDM
    with pytest.raises(TransportError, match="the answer is 0001:01"):
        exchange_payload(link, 1, DoeType.SECURED_CMA_SPDM, secured)


class CorruptedHeader:
    """Registers that change header DW `index` of the next response as it is read (a faulty device),
    and note how many response DWs the host had read when it wrote Abort."""

    def __init__(self, mailbox: DoeMailbox, index: int, corrupt: Callable[[int], int]) -> None:
        self.mailbox = mailbox
        self.index = index
        self.corrupt = corrupt
        self.armed = False
        self.read = 0
        self.read_before_abort: int | None = None

    def read32(self, offset: int) -> int:
        value = self.mailbox.read32(offset)
        if self.armed and offset == READ:
            if self.read == self.index:
                value = self.corrupt(value)
            self.read += 1
        return value

    def write32(self, offset: int, value: int) -> None:
        if self.armed and offset == CONTROL and value & ABORT:
            self.read_before_abort = self.read
            self.armed = False
        self.mailbox.write32(offset, value)


def test_a_malformed_response_header_is_refused_before_the_rest() -> None:
    """As Linux's pci_doe_recv_resp: the header is checked once read, and the Abort discards the rest."""
    mailbox = echo_mailbox()
    registers = CorruptedHeader(mailbox, 1, lambda dw: 1)  # Length 1: shorter than the header
    link = DoeHostLink(registers)
    registers.armed = True
    with pytest.raises(TransportError, match="DOE response"):
        exchange_payload(link, *ECHO, b"a longer request")  # a 7-DW answer
    assert registers.read_before_abort == 2
    assert status(mailbox) == 0
    assert exchange_payload(link, *ECHO, b"pong") == b"echopong"


@pytest.mark.parametrize(
    ("index", "corrupt"),
    [
        pytest.param(0, lambda dw: dw | 0xFF << 24, id="dw0-reserved"),
        pytest.param(1, lambda dw: dw | 1 << 18, id="dw1-bit-18"),
        pytest.param(1, lambda dw: dw | 1 << 31, id="dw1-bit-31"),
    ],
)
def test_reserved_bits_of_a_response_header_are_ignored(index: int, corrupt: Callable[[int], int]) -> None:
    """As Linux's pci_doe_recv_resp, which takes vendor ID, type and Length by their masks: the
    answer comes through, handed on with its reserved bits 0."""
    mailbox = echo_mailbox()
    registers = CorruptedHeader(mailbox, index, corrupt)
    link = DoeHostLink(registers)
    registers.armed = True
    assert link.exchange_object(echo_object(b"a longer request")) == echo_object(b"echoa longer request")
    assert registers.read_before_abort is None
    assert exchange_payload(link, *ECHO, b"pong") == b"echopong"


# --- an exchange cut off by something other than the DOE instance ------------------------------------


class QemuLikeMailbox:
    """The registers of QEMU's hw/pci/pcie_doe.c, where it matters here: Go while an answer is
    still unread appends the new answer behind it, Data Object Ready staying set
    (pcie_doe_set_rsp); Abort empties both mailboxes. It hosts discovery and `ECHO`."""

    def __init__(self) -> None:
        self.written: list[int] = []
        self.unread: list[int] = []
        self.index = 0
        self.error = False

    def read32(self, offset: int) -> int:
        if offset == 0x00:
            return 0x0001_002E  # DOE capability, version 1
        if offset == STATUS:
            return (READY if self.unread else 0) | (ERROR if self.error else 0)
        if offset == READ and self.unread and not self.error:
            return self.unread[self.index]
        return 0

    def write32(self, offset: int, value: int) -> None:
        if offset == CONTROL and value & ABORT:
            self.written, self.unread, self.index, self.error = [], [], 0, False
        elif offset == CONTROL and value & GO and not self.error:
            self.unread += dwords(self.answer(struct.pack(f"<{len(self.written)}I", *self.written)))
            self.written = []
        elif offset == WRITE:
            self.written.append(value)
        elif offset == READ:
            self.index += 1
            if self.index == len(self.unread):
                self.unread, self.index = [], 0
            elif self.index > len(self.unread):
                self.error = True

    @staticmethod
    def answer(obj: bytes) -> bytes:
        request = decode_object(obj)
        if (request.vendor_id, request.object_type) == DISCOVERY_PROTOCOL:
            return discovery_response_object((DISCOVERY_PROTOCOL, ECHO), read_discovery_request(request.payload).index)
        return echo_object(echo(request.payload))


class Outage:
    """Registers whose accessor fails (OSError, as a config-space access can) `count` times in a
    row, starting right after the next Go."""

    def __init__(self, target: RegisterInterface, count: int) -> None:
        self.target = target
        self.count = count
        self.armed = False
        self.failing = 0

    def read32(self, offset: int) -> int:
        self._fail()
        return self.target.read32(offset)

    def write32(self, offset: int, value: int) -> None:
        self._fail()
        self.target.write32(offset, value)
        if self.armed and offset == CONTROL and value & GO:
            self.armed = False
            self.failing = self.count

    def _fail(self) -> None:
        if self.failing:
            self.failing -= 1
            raise OSError(errno.EIO, "config space access failed")


@pytest.mark.parametrize("device", [echo_mailbox, QemuLikeMailbox], ids=["model", "qemu-like"])
@pytest.mark.parametrize("count", [1, 2], ids=["abort-after", "abort-before-next-go"])
def test_an_exchange_cut_off_by_the_accessor_leaves_no_stale_answer(
    device: Callable[[], RegisterInterface], count: int
) -> None:
    """The status read after Go fails: the OSError propagates, and the answer the device gave
    meanwhile never reaches a later request. With one failure the exchange's own Abort removes
    it; with two that Abort fails as well, and the next exchange finds Data Object Ready set and
    aborts before its Go (QEMU would otherwise append, and hand each request the previous answer)."""
    mailbox = device()
    registers = Outage(mailbox, count)
    link = DoeHostLink(registers)
    assert exchange_payload(link, *ECHO, b"one!") == b"echoone!"
    registers.armed = True
    with pytest.raises(OSError, match="config space access failed"):
        exchange_payload(link, *ECHO, b"two!")
    assert status(mailbox) == (READY if count == 2 else 0)
    assert exchange_payload(link, *ECHO, b"3rd!") == b"echo3rd!"
    assert exchange_payload(link, *ECHO, b"4th!") == b"echo4th!"
    assert not link.dead


def test_an_interrupt_while_polling_aborts_the_exchange() -> None:
    mailbox = echo_mailbox(deferred=True)
    clock = FakeClock()
    link = fake_link(mailbox, clock)
    interrupted: list[bool] = []

    def control_c() -> None:
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt

    clock.on_sleep.extend((control_c, mailbox.step))
    with pytest.raises(KeyboardInterrupt):
        exchange_payload(link, *ECHO, b"two!")
    assert status(mailbox) == 0 and not mailbox.pending  # aborted before it propagated
    assert exchange_payload(link, *ECHO, b"3rd!") == b"echo3rd!"


# --- failure modes of the mailbox itself --------------------------------------------------------------


class StuckRegisters:
    """A DOE capability whose Error never clears: every Abort times out."""

    def __init__(self) -> None:
        self.aborts = 0

    def read32(self, offset: int) -> int:
        return {0x00: 0x0001_002E, STATUS: ERROR}.get(offset, 0)

    def write32(self, offset: int, value: int) -> None:
        if offset == CONTROL and value & ABORT:
            self.aborts += 1


def test_an_abort_that_never_completes_kills_the_mailbox() -> None:
    clock = FakeClock()
    with pytest.raises(TransportError, match="mailbox is dead"):
        DoeHostLink(StuckRegisters(), clock=clock, sleep=clock.sleep)
    assert clock.now >= 1.0


class Switch:
    """Registers that can be swapped for others under a live link."""

    def __init__(self, target: RegisterInterface) -> None:
        self.target = target

    def read32(self, offset: int) -> int:
        return self.target.read32(offset)

    def write32(self, offset: int, value: int) -> None:
        self.target.write32(offset, value)


def test_a_dead_mailbox_fails_fast() -> None:
    registers = Switch(echo_mailbox())
    clock = FakeClock()
    link = DoeHostLink(registers, clock=clock, sleep=clock.sleep)
    stuck = StuckRegisters()
    registers.target = stuck  # the device wedges after discovery
    with pytest.raises(TransportError, match="mailbox is dead"):
        exchange_payload(link, *ECHO, b"ping")
    assert link.dead
    aborts = stuck.aborts
    with pytest.raises(TransportError, match="dead"):
        exchange_payload(link, *ECHO, b"ping")
    with pytest.raises(TransportError, match="dead"):
        link.abort()
    assert stuck.aborts == aborts


def test_not_a_doe_capability() -> None:
    class Other:
        def read32(self, offset: int) -> int:
            return 0x0001_0001  # AER

        def write32(self, offset: int, value: int) -> None:
            raise AssertionError("must not write")

    with pytest.raises(TransportError, match="no DOE capability"):
        DoeHostLink(Other())


def test_closed_link() -> None:
    link = DoeHostLink(echo_mailbox())
    link.close()
    with pytest.raises(TransportError, match="closed"):
        exchange_payload(link, *ECHO, b"ping")


@pytest.mark.parametrize(
    "settings",
    [{"base": 2}, {"timeout": 0}, {"poll_interval": -1.0}, {"max_response_dwords": 1}, {"lock_timeout": float("inf")}],
)
def test_constructor_checks(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        DoeHostLink(echo_mailbox(), **settings)  # type: ignore[arg-type]


def test_explicit_abort() -> None:
    mailbox = echo_mailbox()
    link = DoeHostLink(mailbox)
    send(mailbox, echo_object(b"ping"))
    assert status(mailbox) == READY
    link.abort()
    assert status(mailbox) == 0
