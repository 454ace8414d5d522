"""`Session`: one established session of a blocking `spdm.requester.Requester`.

Its state and rules are a `spdm.requester.session_core.SessionCore`; each method runs one of the
core's operations through the requester that opened it, so the session's messages travel over
the requester's transport.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from types import TracebackType
from typing import Protocol, TypeVar

from spdm.errors import SpdmError
from spdm.messages import Message
from spdm.messages.codes import KeyPairOperation
from spdm.messages.events import Event, EventGroup
from spdm.messages.measurements import ALL_MEASUREMENTS
from spdm.requester.endpoint_info import EndpointInfoResult
from spdm.requester.events import Operation
from spdm.requester.key_pairs import KeyPairInfoResult, SetKeyPairInfoResult
from spdm.requester.provisioning import ChainSource
from spdm.requester.results import MeasurementResult, MelResult, SetCertificateResult
from spdm.requester.session_core import SessionCore, SessionView

__all__ = ["Runner", "Session"]

T = TypeVar("T")


class Runner(Protocol):
    """Runs an operation to its end over a transport (`Requester` gives its sessions its own)."""

    def __call__(self, operation: Operation[T], /) -> T: ...


class Session(SessionView):
    """One established SPDM session of a `Requester` (from `key_exchange` or `psk_exchange`).

    Requests travel as DSP0277 secured messages under the session's data keys; each direction
    counts its own sequence numbers from 0 per key and never reuses one. `send` carries any
    request (application messages, VENDOR_DEFINED, GET_MEASUREMENTS...) and returns the decoded
    response (an ERROR raises `PeerError`); `heartbeat`, `key_update`,
    `serve_encapsulated_requests`, `get_measurements`, `get_measurement_extension_log`, `get_endpoint_info`,
    `get_csr`, `set_certificate`, `get_key_pair_info`, `set_key_pair_info`, the SPDM 1.3 events
    (`get_supported_event_types`, `subscribe_event_types`, `poll_events`) and `close` are
    the session's own operations. As a context
    manager the session ends (END_SESSION) on exit. After `close`, a teardown
    (`SessionDecryptError`, ERROR DecryptError) or a new GET_VERSION on the connection, every call
    raises `SessionClosedError`.

    Attributes (read-only, see `SessionCore`): `session_id`, `psk`, `slot`, `requester_slot`,
    `mut_auth_requested`, `heartbeat_period`, `measurement_summary_hash`,
    `secured_message_version`, `encrypted`, `closed_reason`, `phase`, `established`, `closed`,
    `th1`, `th2`, `sequence_numbers`.
    """

    __slots__ = ("_run",)

    def __init__(self, core: SessionCore, run: Runner) -> None:
        super().__init__(core)
        self._run = run

    def send(self, request: Message) -> Message:
        """Send one SPDM request in the session and return its decoded response (see `SessionCore.send`)."""
        return self._run(self.core.send(request))

    def heartbeat(self) -> None:
        """HEARTBEAT: keeps the session alive (the responder's watchdog is twice `heartbeat_period`)."""
        self._run(self.core.heartbeat())

    def key_update(self, all_keys: bool = False) -> bool:
        """KEY_UPDATE, then VerifyNewKey; whether the responder's key changed too (see `SessionCore.key_update`)."""
        return self._run(self.core.key_update(all_keys))

    def serve_encapsulated_requests(self) -> int:
        """Answer the responder's pending encapsulated requests (its own KEY_UPDATE among them); how
        many were answered (see `SessionCore.serve_encapsulated_requests`)."""
        return self._run(self.core.serve_encapsulated_requests())

    def get_supported_event_types(self) -> tuple[EventGroup, ...]:
        """The event groups (and types) the responder can notify (SPDM 1.3; `SessionCore.get_supported_event_types`)."""
        return self._run(self.core.get_supported_event_types())

    def subscribe_event_types(self, *groups: EventGroup) -> None:
        """Subscribe to the events of `groups`, replacing the subscription; none unsubscribes (see
        `SessionCore.subscribe_event_types`)."""
        self._run(self.core.subscribe_event_types(*groups))

    def poll_events(self) -> tuple[Event, ...]:
        """Fetch and acknowledge the responder's waiting events (see `SessionCore.poll_events`)."""
        return self._run(self.core.poll_events())

    def get_measurements(
        self, operation: int = ALL_MEASUREMENTS, *, signed: bool = True, slot: int | None = None
    ) -> MeasurementResult:
        """GET_MEASUREMENTS in the session, over its own L1/L2 (see `SessionCore.get_measurements`)."""
        return self._run(self.core.get_measurements(operation, signed=signed, slot=slot))

    def get_measurement_extension_log(self) -> MelResult:
        """The measurement extension log, read in the session (see `Connection.get_measurement_extension_log`)."""
        return self._run(self.core.get_measurement_extension_log())

    def get_endpoint_info(self, *, signed: bool = True, slot: int | None = None) -> EndpointInfoResult:
        """GET_ENDPOINT_INFO in the session (see `SessionCore.get_endpoint_info`)."""
        return self._run(self.core.get_endpoint_info(signed=signed, slot=slot))

    def get_csr(
        self,
        requester_info: bytes = b"",
        opaque_data: bytes = b"",
        *,
        key_pair_id: int = 0,
        cert_model: int | None = None,
        csr_tracking_tag: int = 0,
        overwrite: bool = False,
    ) -> bytes:
        """GET_CSR in the session: the device's DER CSR; `CsrResetRequired` when the device makes it
        only after a reset (see `Connection.get_csr`)."""
        operation = self.core.get_csr(
            requester_info,
            opaque_data,
            key_pair_id=key_pair_id,
            cert_model=cert_model,
            csr_tracking_tag=csr_tracking_tag,
            overwrite=overwrite,
        )
        return self._run(operation)

    def set_certificate(
        self, slot: int, chain: ChainSource, *, key_pair_id: int = 0, cert_model: int | None = None
    ) -> SetCertificateResult:
        """SET_CERTIFICATE in the session (any slot; see `Connection.set_certificate`)."""
        return self._run(self.core.set_certificate(slot, chain, key_pair_id=key_pair_id, cert_model=cert_model))

    def get_key_pair_info(self, key_pair_id: int) -> KeyPairInfoResult:
        """GET_KEY_PAIR_INFO in the session (see `Connection.get_key_pair_info`)."""
        return self._run(self.core.get_key_pair_info(key_pair_id))

    def set_key_pair_info(
        self,
        key_pair_id: int,
        operation: KeyPairOperation = KeyPairOperation.CHANGE,
        *,
        key_usage: int = 0,
        asym_algo: int = 0,
        slots: Iterable[int] = (),
    ) -> SetKeyPairInfoResult:
        """SET_KEY_PAIR_INFO in the session (see `Connection.set_key_pair_info`)."""
        steps = self.core.set_key_pair_info(
            key_pair_id, operation, key_usage=key_usage, asym_algo=asym_algo, slots=slots
        )
        return self._run(steps)

    def close(self, *, clear_negotiated_state: bool = False) -> None:
        """END_SESSION, then the keys are discarded (see `SessionCore.close`)."""
        self._run(self.core.close(clear_negotiated_state=clear_negotiated_state))

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
            return
        with contextlib.suppress(SpdmError):  # the error already on its way out is the one that matters
            self.close()
