"""The DOE mailbox model through raw register accesses: discovery, SPDM and CDAT objects, silent
discards, Error, Abort at every stage, Busy in the deferred model, interrupts, and a fuzz of
arbitrary register traffic."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mailbox_helpers import (
    ABORT,
    BUSY,
    CONTROL,
    ECHO,
    ERROR,
    GET_VERSION,
    GO,
    INT_EN,
    INT_STATUS,
    READ,
    READY,
    STATUS,
    WRITE,
    demo_cdat,
    echo,
    read_object,
    send,
    spdm_mailbox,
    status,
    write_object,
)

from spdm.cdat import (
    CXL_TABLE_ACCESS,
    CXL_VENDOR_ID,
    LAST_ENTRY,
    CdatResponder,
    decode_read_entry_response,
    encode_read_entry_request,
)
from spdm.errors import DecodeError
from spdm.transport.doe import (
    CMA_PROTOCOLS,
    DoeType,
    decode_discovery_response,
    decode_object,
    encode_discovery_request,
    encode_object,
)
from spdm.transport.mailbox import DoeMailbox, DoeRegister

CDAT = (CXL_VENDOR_ID, CXL_TABLE_ACCESS)


def discovery(index: int, version: int = 0) -> bytes:
    return encode_object(DoeType.DISCOVERY, encode_discovery_request(index, version))


def echo_mailbox(**settings: object) -> DoeMailbox:
    mailbox = DoeMailbox(**settings)  # type: ignore[arg-type]
    mailbox.register(*ECHO, echo)
    return mailbox


def echo_request(payload: bytes) -> bytes:
    return encode_object(ECHO[1], payload, ECHO[0])


# --- registers at rest -------------------------------------------------------------------------


def test_capability_registers() -> None:
    mailbox = DoeMailbox(capability_version=2, interrupt_message_number=5, next_capability_offset=0x200)
    assert mailbox.read32(DoeRegister.HEADER) == 0x002E | 2 << 16 | 0x200 << 20
    assert mailbox.read32(DoeRegister.CAPABILITIES) == 1 | 5 << 1
    assert DoeMailbox(interrupt_support=False).read32(DoeRegister.CAPABILITIES) == 0
    assert status(mailbox) == 0
    assert mailbox.read32(CONTROL) == 0
    assert mailbox.read32(WRITE) == 0
    mailbox.write32(DoeRegister.HEADER, 0xFFFF_FFFF)  # read-only registers ignore writes
    mailbox.write32(DoeRegister.CAPABILITIES, 0)
    mailbox.write32(STATUS, 0xFFFF_FFFF & ~INT_STATUS)
    assert mailbox.read32(DoeRegister.HEADER) == 0x002E | 2 << 16 | 0x200 << 20
    assert status(mailbox) == 0


@pytest.mark.parametrize("offset", [-4, 1, 0x18, 0x100])
def test_register_offsets_are_checked(offset: int) -> None:
    mailbox = DoeMailbox()
    with pytest.raises(ValueError, match="offset"):
        mailbox.read32(offset)
    with pytest.raises(ValueError, match="offset"):
        mailbox.write32(offset, 0)


def test_register_values_are_checked() -> None:
    with pytest.raises(ValueError, match="value"):
        DoeMailbox().write32(WRITE, 1 << 32)


@pytest.mark.parametrize(
    "settings",
    [
        {"capability_version": 0},
        {"interrupt_message_number": 0x800},
        {"write_mailbox_dwords": 2},
        {"read_mailbox_dwords": (1 << 18) + 1},
        {"next_capability_offset": 0x102},
    ],
)
def test_constructor_checks(settings: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        DoeMailbox(**settings)  # type: ignore[arg-type]


def test_registration_rules() -> None:
    mailbox = echo_mailbox()
    with pytest.raises(ValueError, match="already hosted"):
        mailbox.register(*ECHO, echo)
    with pytest.raises(ValueError, match="already hosted"):
        mailbox.register(1, 0, echo)
    with pytest.raises(ValueError, match="vendor_id"):
        mailbox.register(0x10000, 1, echo)
    for object_type in range(254):
        mailbox.register(0x1234, object_type, echo)
    assert len(mailbox.protocols) == 256
    with pytest.raises(ValueError, match="at most 256"):
        mailbox.register(0x1234, 254, echo)


# --- discovery, SPDM, CDAT ---------------------------------------------------------------------


def test_discovery_table() -> None:
    mailbox, _ = spdm_mailbox()
    mailbox.register(*CDAT, CdatResponder(demo_cdat()))
    assert mailbox.protocols == (*CMA_PROTOCOLS, CDAT)
    entries = []
    for index in range(5):
        send(mailbox, discovery(index, version=2))
        entry = decode_discovery_response(decode_object(read_object(mailbox)).payload)
        entries.append((entry.vendor_id, entry.object_type, entry.next_index))
    assert entries == [(1, 0, 1), (1, 1, 2), (1, 2, 3), (CXL_VENDOR_ID, 2, 0), (0xFFFF, 0xFF, 0)]
    assert mailbox.discovery_version == 2


def test_discovery_with_extra_dwords_is_answered_and_without_its_dword_discarded() -> None:
    mailbox = DoeMailbox()
    send(mailbox, encode_object(DoeType.DISCOVERY, encode_discovery_request(0) + b"\xff" * 8))
    assert decode_discovery_response(decode_object(read_object(mailbox)).payload).object_type == 0
    send(mailbox, encode_object(DoeType.DISCOVERY, b""))
    assert status(mailbox) == 0 and mailbox.discarded == 1


def test_spdm_over_registers() -> None:
    mailbox, _ = spdm_mailbox()
    send(mailbox, encode_object(DoeType.CMA_SPDM, GET_VERSION))
    assert status(mailbox) == READY
    answer = decode_object(read_object(mailbox))
    assert answer.object_type == DoeType.CMA_SPDM and answer.payload[:2] == b"\x10\x04"
    assert status(mailbox) == 0


def test_secured_type_is_optional() -> None:
    mailbox = DoeMailbox()
    mailbox.register_spdm(lambda request, session_id: request, secured=False)
    assert mailbox.protocols == CMA_PROTOCOLS[:2]
    send(mailbox, encode_object(DoeType.SECURED_CMA_SPDM, b"\x01\x00\x00\x00payload!"))
    assert status(mailbox) == ERROR  # a type this instance does not host


def test_cdat_entries_over_registers() -> None:
    table = demo_cdat(3)
    responder = CdatResponder(table)
    mailbox = DoeMailbox()
    mailbox.register(*CDAT, responder)
    handle, entries = 0, []
    while handle != LAST_ENTRY:
        send(mailbox, encode_object(CXL_TABLE_ACCESS, encode_read_entry_request(handle), CXL_VENDOR_ID))
        obj = decode_object(read_object(mailbox))
        assert (obj.vendor_id, obj.object_type) == CDAT
        next_handle, entry = decode_read_entry_response(obj.payload, handle)
        entries.append(entry)
        handle = next_handle
    assert b"".join(entries) == table and tuple(entries) == responder.entries
    send(mailbox, encode_object(CXL_TABLE_ACCESS, encode_read_entry_request(99), CXL_VENDOR_ID))
    assert status(mailbox) == 0 and mailbox.discarded == 1  # past the table: discarded, as QEMU does


# --- silent discards ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        echo_request(b"ping")[:-4],  # one DW short of its header's Length
        echo_request(b"ping") + b"\0\0\0\0",  # one DW more
        bytes.fromhex("cdab4200 01000000"),  # Length 1: less than the header
        bytes.fromhex("cdab4200 01000400"),  # Length 1 under a reserved bit
        bytes.fromhex("cdab4200"),  # no DW1
        b"",  # Go with nothing written
    ],
    ids=["short", "long", "length-1", "length-1-reserved", "one-dw", "empty"],
)
def test_malformed_objects_are_silently_discarded(obj: bytes) -> None:
    mailbox = echo_mailbox()
    send(mailbox, obj)
    assert status(mailbox) == 0
    assert mailbox.discarded == 1
    send(mailbox, echo_request(b"ping"))  # the write mailbox starts afresh
    assert decode_object(read_object(mailbox)).payload == b"echoping"


@pytest.mark.parametrize(
    "header",
    ["cdab4200 03000400", "cdab4200 03000080", "cdab4201 03000000", "cdab42ff 030004fc"],
    ids=["dw1-bit-18", "dw1-bit-31", "dw0-reserved", "all-reserved"],
)
def test_reserved_bits_of_a_request_header_are_ignored(header: str) -> None:
    """As a host reads a response (Linux's pci_doe_recv_resp) and QEMU reads Length (masked):
    the request is answered, and its handler gets it with the reserved bits 0."""
    seen: list[bytes] = []

    def handler(obj: bytes) -> bytes:
        seen.append(obj)
        return echo_request(echo(obj[8:]))

    mailbox = DoeMailbox()
    mailbox.register_object_handler(*ECHO, handler)
    send(mailbox, bytes.fromhex(header + "70696e67"))
    assert decode_object(read_object(mailbox)).payload == b"echoping"
    assert seen == [echo_request(b"ping")] and mailbox.discarded == 0


def test_a_handler_without_answer_discards() -> None:
    mailbox = DoeMailbox()
    mailbox.register(*ECHO, lambda payload: None)
    send(mailbox, echo_request(b"ping"))
    assert status(mailbox) == 0 and mailbox.discarded == 1


# --- Error ---------------------------------------------------------------------------------------


def test_unknown_protocol_sets_error_until_abort() -> None:
    mailbox = echo_mailbox()
    send(mailbox, encode_object(7, b"what", 0x1234))
    assert status(mailbox) == ERROR
    send(mailbox, echo_request(b"ping"))  # Go is ignored while Error is set
    assert status(mailbox) == ERROR
    mailbox.write32(CONTROL, ABORT)
    assert status(mailbox) == 0
    send(mailbox, echo_request(b"ping"))
    assert decode_object(read_object(mailbox)).payload == b"echoping"


def test_reading_when_nothing_is_ready_sets_error() -> None:
    mailbox = echo_mailbox()
    assert mailbox.read32(READ) == 0
    assert status(mailbox) == ERROR
    mailbox.write32(CONTROL, ABORT)
    mailbox.write32(READ, 0)  # advancing with nothing ready
    assert status(mailbox) == ERROR


def test_reading_past_the_end_sets_error() -> None:
    mailbox = echo_mailbox()
    send(mailbox, echo_request(b"ping"))
    read_object(mailbox)
    assert status(mailbox) == 0
    assert mailbox.read32(READ) == 0
    assert status(mailbox) == ERROR


def test_pcie_idle_access_is_harmless_when_asked() -> None:
    mailbox = echo_mailbox(error_on_idle_access=False)
    assert mailbox.read32(READ) == 0
    mailbox.write32(READ, 0)
    assert status(mailbox) == 0


def test_response_larger_than_the_read_mailbox_sets_error() -> None:
    mailbox = echo_mailbox(read_mailbox_dwords=4)
    send(mailbox, echo_request(b"1234"))  # answer: 2 + 2 DW, fits
    assert len(read_object(mailbox)) == 16
    send(mailbox, echo_request(b"12345"))  # answer: 2 + 3 DW
    assert status(mailbox) == ERROR
    assert mailbox.read32(READ) == 0


def test_request_larger_than_the_write_mailbox_sets_error_and_stores_nothing_more() -> None:
    mailbox = echo_mailbox(write_mailbox_dwords=4)
    write_object(mailbox, echo_request(b"12345678"))  # 4 DW: full
    assert status(mailbox) == 0
    mailbox.write32(WRITE, 0)
    assert status(mailbox) == ERROR
    for _ in range(10_000):
        mailbox.write32(WRITE, 0)
    mailbox.write32(CONTROL, GO)
    assert status(mailbox) == ERROR
    mailbox.write32(CONTROL, ABORT)
    send(mailbox, echo_request(b"12345678"))
    assert decode_object(read_object(mailbox)).payload == b"echo12345678"


def test_go_with_an_unread_response_sets_error() -> None:
    mailbox = echo_mailbox()
    send(mailbox, echo_request(b"ping"))
    send(mailbox, echo_request(b"pong"))
    assert status(mailbox) == READY | ERROR
    assert mailbox.read32(READ) == 0


def test_handler_failures() -> None:
    mailbox = DoeMailbox()

    def decode_fails(payload: bytes) -> bytes:
        raise DecodeError("TEST", "", "cannot answer")

    def bug(payload: bytes) -> bytes:
        raise RuntimeError("handler bug")

    mailbox.register(0x1111, 1, decode_fails)
    mailbox.register(0x1111, 2, bug)
    send(mailbox, encode_object(1, b"", 0x1111))
    assert status(mailbox) == ERROR
    mailbox.write32(CONTROL, ABORT)
    write_object(mailbox, encode_object(2, b"", 0x1111))
    with pytest.raises(RuntimeError, match="handler bug"):  # a bug is not swallowed...
        mailbox.write32(CONTROL, GO)
    assert status(mailbox) == ERROR  # ...and the instance is left in Error, not Busy


def test_a_handler_returning_a_malformed_object_sets_error() -> None:
    mailbox = DoeMailbox()
    mailbox.register_object_handler(0x1111, 1, lambda obj: obj + b"\0")
    send(mailbox, encode_object(1, b"", 0x1111))
    assert status(mailbox) == ERROR


# --- Abort ------------------------------------------------------------------------------------------


def test_abort_mid_request() -> None:
    mailbox = echo_mailbox()
    write_object(mailbox, echo_request(b"first request")[:12])
    mailbox.write32(CONTROL, ABORT)
    send(mailbox, echo_request(b"ping"))
    assert decode_object(read_object(mailbox)).payload == b"echoping"
    assert mailbox.discarded == 0


def test_abort_mid_response() -> None:
    mailbox = echo_mailbox()
    send(mailbox, echo_request(b"a longer answer"))
    for _ in range(3):
        mailbox.read32(READ)
        mailbox.write32(READ, 0)
    mailbox.write32(CONTROL, ABORT)
    assert status(mailbox) == 0
    send(mailbox, echo_request(b"ping"))
    assert decode_object(read_object(mailbox)).payload == b"echoping"


def test_abort_while_processing_drops_the_late_answer() -> None:
    mailbox = echo_mailbox(deferred=True)
    send(mailbox, echo_request(b"ping"))
    assert status(mailbox) == BUSY and mailbox.pending
    mailbox.write32(CONTROL, ABORT)
    assert status(mailbox) == 0 and not mailbox.pending
    assert not mailbox.step()
    assert status(mailbox) == 0


def test_abort_from_another_thread_during_an_immediate_handler() -> None:
    mailbox = DoeMailbox()

    def aborted_meanwhile(payload: bytes) -> bytes:
        assert status(mailbox) == BUSY  # processing runs with the lock released
        mailbox.write32(CONTROL, ABORT)
        return payload

    mailbox.register(*ECHO, aborted_meanwhile)
    send(mailbox, echo_request(b"ping"))
    assert status(mailbox) == 0  # the answer came after the abort: dropped


@pytest.mark.parametrize("deferred", [False, True])
def test_abort_waits_for_the_running_handler(deferred: bool) -> None:
    """Abort while a handler runs the request: Busy stays set until it returns, so another
    agent's request cannot start a second handler beside it (an SPDM responder is not
    reentrant); the late answer is dropped, and the interrupt comes when Busy clears."""
    started, release = threading.Event(), threading.Event()
    running: list[bytes] = []
    most = 0

    def slow(payload: bytes) -> bytes:
        nonlocal most
        running.append(payload)
        most = max(most, len(running))
        if payload == b"AAAA":
            started.set()
            assert release.wait(10)
        running.remove(payload)
        return echo(payload)

    mailbox = DoeMailbox(deferred=deferred)
    mailbox.register(*ECHO, slow)
    write_object(mailbox, echo_request(b"AAAA"))

    def go() -> None:
        mailbox.write32(CONTROL, GO | INT_EN)

    first = threading.Thread(target=mailbox.step if deferred else go)
    if deferred:
        go()
    first.start()
    assert started.wait(10)
    mailbox.write32(CONTROL, ABORT)
    assert status(mailbox) == BUSY and mailbox.interrupts == 0  # the abort is not done yet
    write_object(mailbox, echo_request(b"BBBB"))  # another agent's request: ignored while Busy
    go()
    assert not mailbox.step()
    assert status(mailbox) == BUSY
    release.set()
    first.join(10)
    assert status(mailbox) == INT_STATUS and mailbox.interrupts == 1  # Busy clear, the answer dropped
    assert most == 1
    send(mailbox, echo_request(b"CCCC"))
    mailbox.step()
    assert decode_object(read_object(mailbox)).payload == b"echoCCCC"


def test_abort_and_go_in_one_write_is_an_abort() -> None:
    mailbox = echo_mailbox()
    write_object(mailbox, echo_request(b"ping"))
    mailbox.write32(CONTROL, ABORT | GO)
    assert status(mailbox) == 0


# --- Busy: the deferred (slow responder) model -----------------------------------------------------------


def test_busy_while_processing() -> None:
    mailbox = echo_mailbox(deferred=True)
    assert not mailbox.step()
    send(mailbox, echo_request(b"ping"))
    assert status(mailbox) == BUSY
    mailbox.write32(WRITE, 0xDEAD)  # the instance takes no new object while Busy
    mailbox.write32(CONTROL, GO)  # nor a second Go
    assert mailbox.step()
    assert status(mailbox) == READY
    assert decode_object(read_object(mailbox)).payload == b"echoping"
    send(mailbox, echo_request(b"pong"))  # nothing of 0xDEAD was kept
    mailbox.step()
    assert decode_object(read_object(mailbox)).payload == b"echopong"


def test_deferred_discard_clears_busy() -> None:
    mailbox = DoeMailbox(deferred=True)
    mailbox.register(*ECHO, lambda payload: None)
    send(mailbox, echo_request(b"ping"))
    assert status(mailbox) == BUSY
    mailbox.step()
    assert status(mailbox) == 0 and mailbox.discarded == 1


# --- interrupts -----------------------------------------------------------------------------------


def test_interrupt_on_ready_then_rw1c() -> None:
    vectors: list[int] = []
    mailbox = echo_mailbox(interrupt_message_number=3, on_interrupt=vectors.append)
    mailbox.write32(CONTROL, INT_EN)
    assert mailbox.read32(CONTROL) == INT_EN
    write_object(mailbox, echo_request(b"ping"))
    mailbox.write32(CONTROL, INT_EN | GO)
    assert status(mailbox) == READY | INT_STATUS
    assert vectors == [3] and mailbox.interrupts == 1
    read_object(mailbox)
    mailbox.write32(STATUS, INT_STATUS)  # write 1 to clear
    assert status(mailbox) == 0
    write_object(mailbox, echo_request(b"ping"))
    mailbox.write32(CONTROL, INT_EN | GO)
    assert mailbox.interrupts == 2


def test_interrupt_on_error_and_status_survives_abort() -> None:
    mailbox = echo_mailbox()
    mailbox.write32(CONTROL, INT_EN)
    write_object(mailbox, encode_object(9, b"", 0x9999))
    mailbox.write32(CONTROL, INT_EN | GO)
    assert status(mailbox) == ERROR | INT_STATUS and mailbox.interrupts == 1
    mailbox.write32(CONTROL, ABORT)
    assert status(mailbox) == INT_STATUS  # software clears it, not Abort
    assert mailbox.read32(CONTROL) == INT_EN  # an Abort write does not touch Interrupt Enable


def test_one_message_while_status_stays_set() -> None:
    mailbox = echo_mailbox(deferred=True)
    mailbox.write32(CONTROL, INT_EN)
    write_object(mailbox, echo_request(b"ping"))
    mailbox.write32(CONTROL, INT_EN | GO)
    mailbox.step()  # Busy cleared and Ready set: one message
    assert status(mailbox) == READY | INT_STATUS and mailbox.interrupts == 1
    mailbox.read32(READ)
    mailbox.write32(READ, 0)
    mailbox.write32(READ, 0)
    assert mailbox.interrupts == 1


def test_re_enabling_with_status_set_sends_a_message() -> None:
    mailbox = echo_mailbox()
    mailbox.write32(CONTROL, INT_EN)
    write_object(mailbox, echo_request(b"ping"))
    mailbox.write32(CONTROL, INT_EN | GO)
    assert mailbox.interrupts == 1
    mailbox.write32(CONTROL, 0)  # disable: Enable AND Status falls
    assert status(mailbox) == READY | INT_STATUS
    mailbox.write32(CONTROL, INT_EN)  # and rises again
    assert mailbox.interrupts == 2


def test_no_interrupts_when_disabled() -> None:
    mailbox = echo_mailbox()
    send(mailbox, echo_request(b"ping"))  # Go without INT_EN
    assert status(mailbox) == READY and mailbox.interrupts == 0


def test_no_interrupts_when_unsupported() -> None:
    mailbox = echo_mailbox(interrupt_support=False)
    mailbox.write32(CONTROL, INT_EN)
    assert mailbox.read32(CONTROL) == 0  # hardwired to 0
    write_object(mailbox, echo_request(b"ping"))
    mailbox.write32(CONTROL, INT_EN | GO)
    assert status(mailbox) == READY and mailbox.interrupts == 0


# --- fuzz: arbitrary register traffic ------------------------------------------------------------------

_OPS = st.one_of(
    st.tuples(st.just("r"), st.sampled_from([0, 4, 8, 12, 16, 20]), st.just(0)),
    st.tuples(
        st.just("w"), st.sampled_from([8, 12, 16, 20]), st.sampled_from([0, 1, 2, GO, GO | 2, 0x0001_ABCD, 0x0042_ABCD])
    ),
    st.tuples(st.just("w"), st.just(16), st.integers(0, 0xFFFF_FFFF)),
    st.tuples(st.just("s"), st.just(0), st.just(0)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_OPS, max_size=60), st.booleans())
def test_any_register_traffic_keeps_the_instance_consistent(ops: list[tuple[str, int, int]], deferred: bool) -> None:
    mailbox = echo_mailbox(deferred=deferred, write_mailbox_dwords=16, read_mailbox_dwords=8)
    for kind, offset, value in ops:
        if kind == "r":
            mailbox.read32(offset)
        elif kind == "w":
            mailbox.write32(offset, value)
        else:
            mailbox.step()
        flags = status(mailbox)
        assert not (flags & BUSY and flags & READY)
        assert flags & ~(BUSY | INT_STATUS | ERROR | READY) == 0
    mailbox.write32(CONTROL, ABORT)  # Abort always brings it back
    assert status(mailbox) & ~INT_STATUS == 0
    send(mailbox, echo_request(b"ping"))
    mailbox.step()
    assert decode_object(read_object(mailbox)).payload == b"echoping"
