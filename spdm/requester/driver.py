"""`Requester`: the sans-IO `spdm.requester.connection.Connection` driven over a blocking `Transport`.

Each method runs one of the connection's operations to its end: a `Send` goes through
`transport.exchange` (DOE over a socket, a DOE mailbox, an in-memory loopback), a `Wait` (the
device answered ResponseNotReady) through `RequesterConfig.sleep`. The rules themselves (what is
asked, how every answer is checked) are the connection's; see its module for the flow and
`spdm.requester.session_core` for the sessions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TypeVar

from spdm.measurements import ReferenceValues
from spdm.messages.codes import KeyPairOperation, SummaryHashType
from spdm.messages.measurements import ALL_MEASUREMENTS
from spdm.negotiated import Negotiated
from spdm.requester.config import RequesterConfig
from spdm.requester.connection import Connection, ConnectionView
from spdm.requester.endpoint_info import EndpointInfoResult
from spdm.requester.events import Done, Operation, Wait
from spdm.requester.key_pairs import KeyPairInfoResult, SetKeyPairInfoResult
from spdm.requester.provisioning import ChainSource
from spdm.requester.results import (
    AuthenticationResult,
    ChallengeResult,
    MeasurementResult,
    MelResult,
    SetCertificateResult,
)
from spdm.requester.session import Session
from spdm.requester.session_core import SessionCore
from spdm.transport.base import Transport

__all__ = ["Requester"]

T = TypeVar("T")


class Requester(ConnectionView[Session]):
    """One SPDM connection to one device, driven over `transport`.

    Besides the steps below it exposes the connection's state (`negotiated`, `version`,
    `digests`, `chains`, `verified`, `sessions`, `transcript`, `config`) and the sans-IO
    `connection` itself. Threads may share it (a heartbeat timer beside the main flow): each
    call, on the connection or on one of its sessions, waits for the one before it to end, since
    SPDM allows one outstanding request and each record takes the next sequence number.
    """

    def __init__(self, transport: Transport, config: RequesterConfig | None = None) -> None:
        super().__init__(Connection(config, max_padding=transport.max_padding))
        self.transport = transport
        self._turn = threading.Lock()

    def _run(self, operation: Operation[T]) -> T:
        """Run `operation` to its end over the transport, when no other operation of the connection runs."""
        with self._turn:
            event = operation.next_event()
            while not isinstance(event, Done):
                try:
                    if isinstance(event, Wait):
                        self.config.sleep(event.seconds)
                        response = None
                    else:
                        response = self.transport.exchange(
                            event.request, session_id=event.session_id, timeout=event.timeout
                        )
                except BaseException as error:
                    event = operation.fail(error)
                    continue
                event = operation.resume() if response is None else operation.receive(response)
            return event.result

    def _session(self, core: SessionCore) -> Session:
        return self._adopt(Session(core, self._run))

    def init_connection(self) -> Negotiated:
        """GET_VERSION, GET_CAPABILITIES, NEGOTIATE_ALGORITHMS: the highest common version and the algorithms."""
        return self._run(self.connection.init_connection())

    def get_digests(self) -> dict[int, bytes]:
        """The digest of each populated slot's certificate chain."""
        return self._run(self.connection.get_digests())

    def get_certificate(self, slot: int = 0) -> bytes:
        """The slot's whole SPDM-format certificate chain, read portion by portion."""
        return self._run(self.connection.get_certificate(slot))

    def challenge(self, slot: int | None = None, summary_hash_type: int = SummaryHashType.NONE) -> ChallengeResult:
        """CHALLENGE: the device proves it holds the slot's private key, over the whole transcript."""
        return self._run(self.connection.challenge(slot, summary_hash_type))

    def get_measurements(
        self, operation: int = ALL_MEASUREMENTS, *, signed: bool = True, slot: int | None = None
    ) -> MeasurementResult:
        """GET_MEASUREMENTS of one index (1..0xFE), all (0xFF) or just the count (0)."""
        return self._run(self.connection.get_measurements(operation, signed=signed, slot=slot))

    def get_measurement_extension_log(self) -> MelResult:
        """The device's whole measurement extension log, parsed (see `Connection.get_measurement_extension_log`)."""
        return self._run(self.connection.get_measurement_extension_log())

    def vendor_defined(self, standard_id: int, vendor_id: bytes, payload: bytes) -> bytes:
        """VENDOR_DEFINED_REQUEST outside a session: the payload of the VENDOR_DEFINED_RESPONSE."""
        return self._run(self.connection.vendor_defined(standard_id, vendor_id, payload))

    def serve_encapsulated_requests(self) -> int:
        """Answer the responder's pending encapsulated requests outside any session (its GET_ENDPOINT_INFO
        among them); how many were answered (see `Connection.serve_encapsulated_requests`)."""
        return self._run(self.connection.serve_encapsulated_requests())

    def get_endpoint_info(self, *, signed: bool = True, slot: int = 0) -> EndpointInfoResult:
        """GET_ENDPOINT_INFO (SPDM 1.3): the device's EPInfo, its signature checked when `signed`."""
        return self._run(self.connection.get_endpoint_info(signed=signed, slot=slot))

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
        """GET_CSR: the device's DER PKCS #10 request for its key; `CsrResetRequired` when the device
        makes it only after a reset (see `Connection.get_csr`)."""
        operation = self.connection.get_csr(
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
        """SET_CERTIFICATE: install `chain` into `slot`; ResetRequired is `reset_required` (from 1.3
        only with CERT_INSTALL_RESET_CAP; see `Connection.set_certificate`)."""
        return self._run(self.connection.set_certificate(slot, chain, key_pair_id=key_pair_id, cert_model=cert_model))

    def get_key_pair_info(self, key_pair_id: int) -> KeyPairInfoResult:
        """GET_KEY_PAIR_INFO: one of the device's key pairs (see `Connection.get_key_pair_info`)."""
        return self._run(self.connection.get_key_pair_info(key_pair_id))

    def set_key_pair_info(
        self,
        key_pair_id: int,
        operation: KeyPairOperation = KeyPairOperation.CHANGE,
        *,
        key_usage: int = 0,
        asym_algo: int = 0,
        slots: Iterable[int] = (),
    ) -> SetKeyPairInfoResult:
        """SET_KEY_PAIR_INFO: change, erase or generate a key pair (see `Connection.set_key_pair_info`)."""
        operation_ = self.connection.set_key_pair_info(
            key_pair_id, operation, key_usage=key_usage, asym_algo=asym_algo, slots=slots
        )
        return self._run(operation_)

    def authenticate(
        self,
        slot: int | None = None,
        *,
        measurements: int | None = ALL_MEASUREMENTS,
        summary_hash_type: int = SummaryHashType.NONE,
        reference: ReferenceValues | None = None,
    ) -> AuthenticationResult:
        """VCA, digests, the slot's chain (validated), CHALLENGE, and signed measurements (see
        `Connection.authenticate`)."""
        operation = self.connection.authenticate(
            slot, measurements=measurements, summary_hash_type=summary_hash_type, reference=reference
        )
        return self._run(operation)

    def key_exchange(
        self, slot: int | None = None, *, summary_hash_type: int = SummaryHashType.NONE, fetch_certificate: bool = True
    ) -> Session:
        """KEY_EXCHANGE/FINISH with the certificate chain of `slot`: an established `Session` (see
        `Connection.key_exchange`)."""
        operation = self.connection.key_exchange(
            slot, summary_hash_type=summary_hash_type, fetch_certificate=fetch_certificate
        )
        return self._session(self._run(operation))

    def psk_exchange(self, *, summary_hash_type: int = SummaryHashType.NONE) -> Session:
        """PSK_EXCHANGE (and PSK_FINISH) with `config.psk`: an established `Session` (see
        `Connection.psk_exchange`)."""
        return self._session(self._run(self.connection.psk_exchange(summary_hash_type=summary_hash_type)))
