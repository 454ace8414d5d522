"""Sharing one DOE mailbox among several software users without their disrupting each other.

The question (Jonathan Cameron's 2021 Linux Plumbers planning mail on DOE, CDAT and CMA): the
kernel's CDAT reader, CMA, user-space tools and firmware may all want the same DOE instance, and
it is not safe for them to use it unmediated; even running discovery can disrupt another user.
Who may use a mailbox, and how can they share it? This module's answer, as code:

* **One owner drives the registers.** `DoeMediator` wraps the one host link (the only code that
  touches the mailbox, as the PCI core owns it in Linux); every other user gets a `MediatedLink`
  handle from it, a `DoeLink` like any other (``DoeTransport(mediator.client("kernel"))`` for
  SPDM, `spdm.cdat.read_cdat` for CDAT).
* **Access is per client and per protocol, as plain data.** The policy maps a client name to the
  (vendor ID, type) pairs it may use, e.g. ``{"kernel": [CDAT, CMA, SECURED_CMA], "user-tool":
  [CMA]}``; anyone not named gets nothing. This answers "are there valid reasons for user space
  to access a DOE, and does a per-protocol approach make sense": user space can be granted CMA
  (or a vendor protocol) without CDAT, and a denial is a clear `DoeAccessDenied`. A protocol that
  firmware or a TEE keeps for itself is simply named for no OS client.
* **Discovery runs once, at the owner.** The host link walks discovery when it is made; a client's
  discovery objects are answered from that cache, filtered to what its policy allows, and never
  reach the mailbox.
* **One object in flight.** Exchanges are serialized by the mediator; each waits a bounded time
  (`wait_timeout`) and fails with `MailboxBusy` rather than hang.
* **Stateful protocols keep their conversation.** Objects of different protocols may interleave
  (a CDAT read between two SPDM messages disturbs nothing), but an SPDM connection is state in
  the device shared by types 1 and 2: `hold` reserves a protocol group for one client's whole
  sequence (VCA, authentication, a session), so another client's GET_VERSION cannot reset it
  half-way; other protocol groups go on meanwhile. A hold belongs to the client's handle, not to
  a thread: the handle's own exchanges pass from any thread (an asyncio requester runs them in
  worker threads), another handle waits even when it runs in the holder's thread.
* **An abort never cuts another client's exchange.** `MediatedLink.abort` waits until the mailbox
  is idle between exchanges, then aborts; the host link aborts on its own only inside the failing
  exchange. Busy found set before writing (someone outside the mediator) is reported, not
  aborted (see `spdm.transport.doe_host`).
* **What it cannot do.** Software that writes the registers directly (setpci, another driver,
  firmware without an agreement with the OS) bypasses any mediator; hardening against it is best
  effort, as the mail says. Locking those out, and telling the OS to keep off a DOE, needs the
  platform: here, a mailbox the OS must not touch is one it never creates a host link for.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Protocol

from spdm.errors import TransportError
from spdm.transport.doe import CMA_PROTOCOLS, DISCOVERY_PROTOCOL, PCI_SIG_VENDOR_ID, DoeType, is_protocol
from spdm.transport.doe_host import answer_discovery, check_request_object

__all__ = [
    "CMA_GROUP",
    "DoeAccessDenied",
    "DoeMediator",
    "MailboxBusy",
    "MediatedLink",
    "SharedLink",
]

CMA_GROUP: frozenset[tuple[int, int]] = frozenset(CMA_PROTOCOLS) - {DISCOVERY_PROTOCOL}
"""CMA/SPDM and secured CMA/SPDM: one SPDM connection in the device, hence one conversation."""


class DoeAccessDenied(TransportError):
    """The access policy does not let this client use this protocol."""


class MailboxBusy(TransportError):
    """The mailbox (or a protocol another client holds) did not become free within the wait."""


class SharedLink(Protocol):
    """What the mediator needs of the one link that drives the mailbox (`DoeHostLink` is one)."""

    @property
    def protocols(self) -> tuple[tuple[int, int], ...]: ...

    def exchange_object(self, obj: bytes, *, timeout: float | None = None) -> bytes: ...

    def abort(self) -> None: ...

    def close(self) -> None: ...


def _name(key: tuple[int, int]) -> str:
    return f"{key[0]:04x}:{key[1]:02x}"


def _protocol(pair: object) -> tuple[int, int]:
    if not isinstance(pair, tuple) or len(pair) != 2 or not is_protocol(*pair):
        raise ValueError(f"a protocol is a (vendor ID, object type) pair of ints, got {pair!r}")
    return int(pair[0]), int(pair[1])


class DoeMediator:
    """The one owner of a DOE mailbox, handing out policy-checked `MediatedLink`s. Thread-safe.

    `policy` maps each client name to the protocols it may use (discovery is always answered, from
    the cache). `groups` lists protocols that share device state and so one conversation
    (`CMA_GROUP` by default); every other protocol is its own group. `wait_timeout` bounds how
    long an exchange, `hold` or `abort` waits for its turn.
    """

    def __init__(
        self,
        link: SharedLink,
        policy: Mapping[str, Iterable[tuple[int, int]]],
        *,
        wait_timeout: float = 2.0,
        groups: Iterable[Collection[tuple[int, int]]] = (CMA_GROUP,),
    ) -> None:
        if isinstance(wait_timeout, bool) or not isinstance(wait_timeout, (int, float)) or not wait_timeout > 0:
            raise ValueError(f"wait_timeout must be a positive number of seconds, got {wait_timeout!r}")
        self._link = link
        self._wait = float(wait_timeout)
        self._protocols = tuple(link.protocols)
        self._policy: dict[str, frozenset[tuple[int, int]]] = {}
        for client, allowed in policy.items():
            if not isinstance(client, str) or not client:
                raise ValueError(f"client names are non-empty strings, got {client!r}")
            self._policy[client] = frozenset(_protocol(pair) for pair in allowed)
        group_of: dict[tuple[int, int], frozenset[tuple[int, int]]] = {}
        for group in groups:
            members = frozenset(_protocol(pair) for pair in group)
            for key in members:
                if key in group_of:
                    raise ValueError(f"protocol {_name(key)} is in two groups")
                group_of[key] = members
        self._conversations: dict[tuple[int, int], _Conversation] = {}
        shared: dict[frozenset[tuple[int, int]], _Conversation] = {}
        for key in self._protocols:
            group = group_of.get(key, frozenset({key}))
            self._conversations[key] = shared.setdefault(group, _Conversation())
        self._mailbox = threading.Lock()
        self._closed = False

    @property
    def protocols(self) -> tuple[tuple[int, int], ...]:
        """The mailbox's discovery table, cached by the host link."""
        return self._protocols

    @property
    def wait_timeout(self) -> float:
        return self._wait

    def allowed(self, client: str) -> frozenset[tuple[int, int]]:
        """What `client` may use: its policy entry (empty for a client the policy does not name)."""
        return self._policy.get(client, frozenset())

    def client(self, name: str) -> MediatedLink:
        """A handle for `name`; refused for a client the policy does not name."""
        if name not in self._policy:
            raise DoeAccessDenied(f"no DOE access policy names client {name!r}")
        return MediatedLink(self, name)

    def close(self) -> None:
        """Close the mailbox's link; every handle fails from now on."""
        if not self._closed:
            self._closed = True
            self._link.close()

    # --- for handles -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError("the DOE mediator is closed")

    def _exchange(self, client: MediatedLink, key: tuple[int, int], obj: bytes, timeout: float | None) -> bytes:
        deadline = time.monotonic() + self._wait
        with (
            self._conversations[key].held(client, deadline, f"protocol {_name(key)} is held by another client"),
            _acquire(self._mailbox, deadline, "the DOE mailbox stayed busy with other clients' exchanges"),
        ):
            self._check_open()
            return self._link.exchange_object(obj, timeout=timeout)

    def _abort(self) -> None:
        with _acquire(self._mailbox, time.monotonic() + self._wait, "the DOE mailbox stayed busy; no abort"):
            self._check_open()
            self._link.abort()


@contextlib.contextmanager
def _acquire(lock: threading.Lock, deadline: float, reason: str) -> Iterator[None]:
    """Hold `lock`, waited for until `deadline` (monotonic seconds) at most."""
    wait = deadline - time.monotonic()
    if not lock.acquire(timeout=max(wait, 0.0)):
        raise MailboxBusy(f"{reason} (waited {max(wait, 0.0):.3f} s)")
    try:
        yield
    finally:
        lock.release()


class _Conversation:
    """One protocol group's conversation: which client handle has it, and how many times over.

    Owned by a handle, not by a thread (as a lock would be): two handles in one thread must not
    pass through each other's hold, and one handle's exchanges may come from any thread.
    """

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._owner: MediatedLink | None = None
        self._depth = 0

    @contextlib.contextmanager
    def held(self, client: MediatedLink, deadline: float, reason: str) -> Iterator[None]:
        """Keep the conversation to `client` for the block, waited for until `deadline` at most."""
        wait = max(deadline - time.monotonic(), 0.0)
        with self._turn:
            if not self._turn.wait_for(lambda: self._owner in (None, client), timeout=wait):
                raise MailboxBusy(f"{reason} (waited {wait:.3f} s)")
            self._owner = client
            self._depth += 1
        try:
            yield
        finally:
            with self._turn:
                self._depth -= 1
                if not self._depth:
                    self._owner = None
                    self._turn.notify_all()


class MediatedLink:
    """One client's `DoeLink` to a shared mailbox: discovery from the cache, the rest policy-checked."""

    def __init__(self, mediator: DoeMediator, name: str) -> None:
        self._mediator = mediator
        self._name = name
        allowed = mediator.allowed(name)
        visible = dict.fromkeys(key for key in mediator.protocols if key != DISCOVERY_PROTOCOL and key in allowed)
        self._protocols: tuple[tuple[int, int], ...] = (DISCOVERY_PROTOCOL, *visible)
        self._closed = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def protocols(self) -> tuple[tuple[int, int], ...]:
        """The discovery table this client sees: discovery, then what it may use, in mailbox order."""
        return self._protocols

    def exchange_object(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        """One object to the mailbox and its answer; discovery is answered here, from the cache.

        Raises `DoeAccessDenied` for a protocol the policy withholds, `MailboxBusy` when the turn
        does not come within the mediator's `wait_timeout`, `TransportError` otherwise.
        """
        self._check_open()
        key = check_request_object(obj)
        if key == DISCOVERY_PROTOCOL:
            return answer_discovery(self._protocols, obj)
        self._check_allowed(key)
        return self._mediator._exchange(self, key, obj, timeout)

    @contextlib.contextmanager
    def hold(self, vendor_id: int = PCI_SIG_VENDOR_ID, object_type: int = DoeType.CMA_SPDM) -> Iterator[None]:
        """Keep a protocol's conversation (its whole group) to this client for the `with` block.

        The hold is this handle's, from whatever thread: its own exchanges pass (also from an
        asyncio requester's worker threads), and it may be taken again inside the block. Every
        other handle's objects of the group wait (bounded), even in this thread; other protocols
        go on. Hold one group at a time (nested holds of two groups by two clients in opposite
        orders would only end by `MailboxBusy`).
        """
        self._check_open()
        key = _protocol((vendor_id, int(object_type)))
        self._check_allowed(key)
        conversation = self._mediator._conversations[key]
        with conversation.held(self, time.monotonic() + self._mediator.wait_timeout, f"protocol {_name(key)} is held"):
            yield

    def abort(self) -> None:
        """Abort the mailbox once it is idle (never in the middle of another client's exchange)."""
        self._check_open()
        self._mediator._abort()

    def close(self) -> None:
        """Give the handle back; the mailbox stays open for the others."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError(f"DOE handle of client {self._name!r} is closed")
        self._mediator._check_open()

    def _check_allowed(self, key: tuple[int, int]) -> None:
        if key not in self._mediator.protocols:
            raise TransportError(f"protocol {_name(key)} is not listed by the mailbox's discovery")
        if key not in self._protocols:
            allowed = ", ".join(_name(k) for k in self._protocols[1:]) or "none"
            raise DoeAccessDenied(f"client {self._name!r} may not use protocol {_name(key)} (it may use: {allowed})")
