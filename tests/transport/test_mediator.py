"""One DOE mailbox shared by several clients through `DoeMediator`: policy as data, discovery from
the cache, bounded waits, aborts that never cut another client's exchange, protocol holds for
SPDM conversations, and many threads hammering one mailbox with mixed protocols."""

from __future__ import annotations

import asyncio
import random
import sys
import threading
import time
from collections.abc import Callable

import pytest
from mailbox_helpers import (
    ECHO,
    GET_VERSION,
    CountingRegisters,
    demo_cdat,
    echo,
    requester_config,
    spdm_device,
    status,
)

from spdm.aio import AsyncDoeTransport, AsyncRequester, ThreadedDoeLink
from spdm.cdat import (
    CXL_TABLE_ACCESS,
    CXL_VENDOR_ID,
    CdatResponder,
    decode_read_entry_response,
    encode_read_entry_request,
    read_cdat,
)
from spdm.errors import TransportError
from spdm.requester import Requester
from spdm.responder import ResponderConfig
from spdm.transport.doe import PCI_SIG_VENDOR_ID, DoeTransport, DoeType, encode_object
from spdm.transport.doe_host import DoeHostLink, exchange_payload
from spdm.transport.mailbox import DoeMailbox
from spdm.transport.mediator import CMA_GROUP, DoeAccessDenied, DoeMediator, MailboxBusy, MediatedLink

CDAT = (CXL_VENDOR_ID, CXL_TABLE_ACCESS)
CMA = (PCI_SIG_VENDOR_ID, int(DoeType.CMA_SPDM))
SECURED_CMA = (PCI_SIG_VENDOR_ID, int(DoeType.SECURED_CMA_SPDM))
DISCOVERY = (PCI_SIG_VENDOR_ID, int(DoeType.DISCOVERY))
POLICY = {
    "kernel": [CDAT, CMA, SECURED_CMA],
    "user-tool": [CMA, SECURED_CMA],
    "vendor-tool": [ECHO],
}
JOIN_TIMEOUT = 30.0


def shared_mailbox(
    echo_handler: Callable[[bytes], bytes | None] = echo,
) -> tuple[DoeMailbox, DoeHostLink, ResponderConfig]:
    responder, config = spdm_device()
    mailbox = DoeMailbox()
    mailbox.register_spdm(responder.respond)
    mailbox.register(*CDAT, CdatResponder(demo_cdat()))
    mailbox.register(*ECHO, echo_handler)
    return mailbox, DoeHostLink(mailbox, timeout=5.0), config


def mediated(
    echo_handler: Callable[[bytes], bytes | None] = echo, **settings: object
) -> tuple[DoeMediator, DoeMailbox, ResponderConfig]:
    mailbox, link, config = shared_mailbox(echo_handler)
    return DoeMediator(link, POLICY, **settings), mailbox, config  # type: ignore[arg-type]


def cdat_entry(handle: MediatedLink, entry_handle: int) -> bytes:
    payload = exchange_payload(handle, *CDAT, encode_read_entry_request(entry_handle))
    return decode_read_entry_response(payload, entry_handle)[1]


def run_threads(targets: dict[str, Callable[[], None]]) -> dict[str, BaseException]:
    """Run each target in its own thread; join with a bound; the failures by thread name."""
    failures: dict[str, BaseException] = {}

    def guarded(name: str, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # reported to the test, not lost in a thread
                failures[name] = exc

        return run

    threads = [
        threading.Thread(target=guarded(name, target), name=name, daemon=True) for name, target in targets.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0.0))
    hung = [thread.name for thread in threads if thread.is_alive()]
    assert not hung, f"threads still running after {JOIN_TIMEOUT} s: {hung}"
    return failures


# --- policy and discovery ---------------------------------------------------------------------


def test_policy_decides_who_uses_what() -> None:
    mediator, _, _ = mediated()
    kernel, tool, vendor = (mediator.client(name) for name in ("kernel", "user-tool", "vendor-tool"))
    assert kernel.protocols == (DISCOVERY, CMA, SECURED_CMA, CDAT)
    assert tool.protocols == (DISCOVERY, CMA, SECURED_CMA)
    assert vendor.protocols == (DISCOVERY, ECHO)
    assert read_cdat(kernel) == demo_cdat()
    with pytest.raises(
        DoeAccessDenied, match=r"'user-tool' may not use protocol 1e98:02 \(it may use: 0001:01, 0001:02\)"
    ):
        read_cdat(tool)
    with pytest.raises(DoeAccessDenied, match="'kernel' may not use protocol abcd:42"):
        exchange_payload(kernel, *ECHO, b"ping")
    assert exchange_payload(vendor, *ECHO, b"ping") == b"echoping"
    with pytest.raises(DoeAccessDenied, match="no DOE access policy names client 'setpci'"):
        mediator.client("setpci")
    assert mediator.allowed("setpci") == frozenset()
    with pytest.raises(TransportError, match="not listed"):
        exchange_payload(kernel, 0x5555, 1, b"")


def test_discovery_comes_from_the_cache_filtered_by_policy() -> None:
    _, link, config = shared_mailbox()
    mediator = DoeMediator(link, POLICY)
    tool = mediator.client("user-tool")
    transport = DoeTransport(tool)
    assert transport.protocols == (DISCOVERY, CMA, SECURED_CMA)
    vendor = DoeTransport(mediator.client("vendor-tool"))
    with pytest.raises(TransportError, match="does not list CMA/SPDM"):
        vendor.exchange(bytes.fromhex("10840000"))
    assert Requester(transport, requester_config(config)).init_connection().version == 0x13


def test_client_discovery_never_reaches_the_mailbox() -> None:
    responder, _ = spdm_device()
    mailbox = DoeMailbox()
    mailbox.register_spdm(responder.respond)
    registers = CountingRegisters(mailbox)
    mediator = DoeMediator(DoeHostLink(registers), POLICY)
    before = registers.accesses
    for name in ("kernel", "user-tool", "vendor-tool"):
        assert DoeTransport(mediator.client(name)).protocols[0] == DISCOVERY
    assert registers.accesses == before


@pytest.mark.parametrize(
    ("policy", "groups"),
    [
        ({"": [CMA]}, (CMA_GROUP,)),
        ({"kernel": [(1, 256)]}, (CMA_GROUP,)),
        ({"kernel": [(1, True)]}, (CMA_GROUP,)),
        ({"kernel": [CMA]}, (CMA_GROUP, [CMA])),
    ],
)
def test_policy_validation(policy: dict[str, list[tuple[int, int]]], groups: tuple[object, ...]) -> None:
    _, link, _ = shared_mailbox()
    with pytest.raises(ValueError):
        DoeMediator(link, policy, groups=groups)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="wait_timeout"):
        DoeMediator(link, POLICY, wait_timeout=0)


def test_closing() -> None:
    mediator, _, _ = mediated()
    kernel, other = mediator.client("kernel"), mediator.client("kernel")
    kernel.close()
    with pytest.raises(TransportError, match="'kernel' is closed"):
        read_cdat(kernel)
    assert read_cdat(other) == demo_cdat()  # the mailbox stays open for the others
    mediator.close()
    with pytest.raises(TransportError, match="mediator is closed"):
        read_cdat(other)
    with pytest.raises(TransportError, match="mediator is closed"):
        other.abort()


# --- bounded waits, holds and aborts ------------------------------------------------------------


class Gate:
    """An echo handler that, for payload b"slow", signals it started and waits to be released."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()

    def __call__(self, payload: bytes) -> bytes:
        if payload == b"slow":
            self.started.set()
            if not self.release.wait(JOIN_TIMEOUT):
                raise AssertionError("the gate was never opened")
            self.finished.set()
        return echo(payload)


def test_a_client_that_cannot_get_the_mailbox_gets_a_clear_error() -> None:
    gate = Gate()
    mediator, _, _ = mediated(gate, wait_timeout=0.05)
    vendor, kernel = mediator.client("vendor-tool"), mediator.client("kernel")
    answers: list[bytes] = []

    def slow() -> None:
        answers.append(exchange_payload(vendor, *ECHO, b"slow"))

    def blocked() -> None:
        assert gate.started.wait(JOIN_TIMEOUT)
        with pytest.raises(MailboxBusy, match=r"mailbox stayed busy.*waited 0\.05"):
            cdat_entry(kernel, 0)
        gate.release.set()

    assert run_threads({"slow": slow, "blocked": blocked}) == {}
    assert answers == [b"echoslow"]
    assert len(cdat_entry(kernel, 0)) == 16  # free again


def test_one_clients_abort_waits_for_anothers_exchange() -> None:
    gate = Gate()
    mediator, mailbox, _ = mediated(gate, wait_timeout=JOIN_TIMEOUT)
    vendor, kernel = mediator.client("vendor-tool"), mediator.client("kernel")
    answers: list[bytes] = []

    def slow() -> None:
        answers.append(exchange_payload(vendor, *ECHO, b"slow"))

    def aborter() -> None:
        assert gate.started.wait(JOIN_TIMEOUT)
        release = threading.Timer(0.05, gate.release.set)  # the exchange ends while abort() waits
        release.start()
        kernel.abort()
        assert gate.finished.is_set()  # the abort came after the answer, not inside the exchange
        release.join(JOIN_TIMEOUT)

    assert run_threads({"slow": slow, "abort": aborter}) == {}
    assert answers == [b"echoslow"]
    assert status(mailbox) == 0


def test_abort_gives_up_with_a_clear_error_when_the_mailbox_stays_busy() -> None:
    gate = Gate()
    mediator, _, _ = mediated(gate, wait_timeout=0.05)
    vendor, kernel = mediator.client("vendor-tool"), mediator.client("kernel")

    def slow() -> None:
        exchange_payload(vendor, *ECHO, b"slow")

    def aborter() -> None:
        assert gate.started.wait(JOIN_TIMEOUT)
        with pytest.raises(MailboxBusy, match="no abort"):
            kernel.abort()
        gate.release.set()

    assert run_threads({"slow": slow, "abort": aborter}) == {}


def test_hold_keeps_an_spdm_conversation_and_lets_other_protocols_through() -> None:
    mediator, _, config = mediated(wait_timeout=0.05)
    kernel, tool = mediator.client("kernel"), mediator.client("user-tool")
    kernel_spdm = Requester(DoeTransport(kernel), requester_config(config))
    tool_transport = DoeTransport(tool)
    held = threading.Event()
    done = threading.Event()

    def conversation() -> None:
        with kernel.hold():
            kernel_spdm.init_connection()
            held.set()
            assert done.wait(JOIN_TIMEOUT)
            kernel_spdm.get_digests()  # still our connection: nobody reset it meanwhile

    def others() -> None:
        assert held.wait(JOIN_TIMEOUT)
        with pytest.raises(MailboxBusy, match="protocol 0001:01 is held"):
            tool_transport.exchange(bytes.fromhex("10840000"))
        with pytest.raises(MailboxBusy, match="0001:02 is held"):
            tool_transport.exchange((1).to_bytes(4, "little") + bytes(8), session_id=1)
        assert len(cdat_entry(kernel, 1)) == 24  # another protocol goes on meanwhile
        done.set()

    assert run_threads({"conversation": conversation, "others": others}) == {}
    assert tool_transport.exchange(bytes.fromhex("10840000"))[:2] == b"\x10\x04"
    with pytest.raises(DoeAccessDenied), tool.hold(*CDAT):
        pass


def test_a_hold_belongs_to_its_handle_not_to_its_thread() -> None:
    """Two clients in one thread (any asyncio program): the other's GET_VERSION waits out its
    bound instead of resetting the held connection."""
    mediator, _, config = mediated(wait_timeout=0.05)
    kernel, tool, second_kernel = mediator.client("kernel"), mediator.client("user-tool"), mediator.client("kernel")
    kernel_spdm = Requester(DoeTransport(kernel), requester_config(config))
    tool_transport = DoeTransport(tool)
    with kernel.hold():
        kernel_spdm.init_connection()
        with pytest.raises(MailboxBusy, match=r"protocol 0001:01 is held by another client \(waited 0\.050 s\)"):
            tool_transport.exchange(GET_VERSION)
        with pytest.raises(MailboxBusy, match="protocol 0001:01 is held"), second_kernel.hold():
            pass
        with kernel.hold():  # taken again by its owner
            assert set(kernel_spdm.get_digests()) == {0}  # still our connection
    assert tool_transport.exchange(GET_VERSION)[:2] == b"\x10\x04"  # released


def test_a_holders_exchanges_pass_from_worker_threads() -> None:
    """An `AsyncRequester` over `ThreadedDoeLink`: the hold is taken on the event loop's thread,
    the exchanges run in worker threads, and they are the holder's own."""
    mediator, _, config = mediated(wait_timeout=0.05)
    kernel, tool = mediator.client("kernel"), mediator.client("user-tool")

    async def conversation() -> None:
        requester = AsyncRequester(AsyncDoeTransport(ThreadedDoeLink(kernel)), requester_config(config))
        with kernel.hold():
            assert (await requester.init_connection()).version == 0x13
            with pytest.raises(MailboxBusy, match="held by another client"):
                await asyncio.to_thread(DoeTransport(tool).exchange, GET_VERSION)
            assert set(await requester.get_digests()) == {0}

    asyncio.run(conversation())


def test_a_failed_exchange_aborts_only_itself() -> None:
    def flaky(payload: bytes) -> bytes | None:
        return None if payload == b"drop" else echo(payload)

    mailbox, _, _ = shared_mailbox(flaky)
    link = DoeHostLink(mailbox, timeout=0.05)
    mediator = DoeMediator(link, POLICY)
    vendor, kernel = mediator.client("vendor-tool"), mediator.client("kernel")
    with pytest.raises(TransportError, match="no DOE response"):
        exchange_payload(vendor, *ECHO, b"drop")
    assert read_cdat(kernel) == demo_cdat()
    assert exchange_payload(vendor, *ECHO, b"ping") == b"echoping"


def test_a_raw_request_object_is_checked() -> None:
    mediator, _, _ = mediated()
    with pytest.raises(TransportError, match="request object"):
        mediator.client("kernel").exchange_object(encode_object(1, b"1234")[:-4])


# --- many clients, one mailbox --------------------------------------------------------------------


def test_many_clients_share_one_mailbox() -> None:
    """Six threads, four client names, CMA/SPDM conversations, CDAT reads, a vendor protocol,
    policy denials and periodic aborts on one mailbox: every exchange gets its own answer."""
    mediator, mailbox, config = mediated(wait_timeout=10.0)
    entries = CdatResponder(demo_cdat()).entries
    rounds = 1000
    counts: dict[str, int] = {}
    denials: dict[str, int] = {}

    def cdat_reader(name: str, seed: int) -> Callable[[], None]:
        def run() -> None:
            handle = mediator.client("kernel")
            pick = random.Random(seed)
            done = 0
            for index in range(rounds):
                entry_handle = pick.randrange(len(entries))
                assert cdat_entry(handle, entry_handle) == entries[entry_handle]
                done += 1
                if index % 100 == 0:
                    assert read_cdat(handle) == demo_cdat()
                    done += len(entries)
            counts[name] = done

        return run

    def spdm_client(client: str, name: str) -> Callable[[], None]:
        def run() -> None:
            handle = mediator.client(client)
            requester = Requester(DoeTransport(handle), requester_config(config))
            done = 0
            for _ in range(rounds // 10):
                with handle.hold():
                    negotiated = requester.init_connection()  # GET_VERSION, CAPABILITIES, ALGORITHMS
                    assert negotiated.version == 0x13
                    assert set(requester.get_digests()) == {0}
                done += 4
            counts[name] = done

        return run

    def vendor_client(name: str) -> Callable[[], None]:
        def run() -> None:
            handle = mediator.client("vendor-tool")
            done = denied = 0
            for index in range(rounds):
                unique = f"{name}:{index}".encode()
                assert exchange_payload(handle, *ECHO, unique).rstrip(b"\0") == b"echo" + unique
                done += 1
                if index % 10 == 0:
                    with pytest.raises(DoeAccessDenied):
                        cdat_entry(handle, 0)
                    denied += 1
            counts[name] = done
            denials[name] = denied

        return run

    def tool_client() -> None:
        handle = mediator.client("user-tool")
        transport = DoeTransport(handle)
        done = denied = 0
        for index in range(rounds):
            with handle.hold():
                assert transport.exchange(bytes.fromhex("10840000"))[:2] == b"\x10\x04"  # VERSION
            done += 1
            if index % 10 == 0:
                with pytest.raises(DoeAccessDenied, match="'user-tool' may not use protocol 1e98:02"):
                    read_cdat(handle)
                denied += 1
            if index % 50 == 0:
                handle.abort()  # between exchanges, never inside another client's
        counts["tool"] = done
        denials["tool"] = denied

    started = time.monotonic()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # let the threads interleave inside exchanges, not only between them
    try:
        failures = run_threads(
            {
                "cdat-1": cdat_reader("cdat-1", 1),
                "cdat-2": cdat_reader("cdat-2", 2),
                "spdm-kernel": spdm_client("kernel", "spdm-kernel"),
                "spdm-tool": spdm_client("user-tool", "spdm-tool"),
                "vendor-1": vendor_client("vendor-1"),
                "vendor-2": vendor_client("vendor-2"),
                "tool": tool_client,
            }
        )
    finally:
        sys.setswitchinterval(switch)
    elapsed = time.monotonic() - started
    assert failures == {}, failures
    cdat_reads = rounds + (rounds // 100) * len(entries)
    spdm_exchanges = 4 * (rounds // 10)
    assert counts == {
        "cdat-1": cdat_reads,
        "cdat-2": cdat_reads,
        "spdm-kernel": spdm_exchanges,
        "spdm-tool": spdm_exchanges,
        "vendor-1": rounds,
        "vendor-2": rounds,
        "tool": rounds,
    }
    assert sum(counts.values()) > 5000
    assert sum(denials.values()) == 3 * rounds // 10
    assert status(mailbox) == 0
    assert elapsed < 20.0
