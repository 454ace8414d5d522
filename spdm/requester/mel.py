"""GET_MEASUREMENT_EXTENSION_LOG (SPDM 1.3): the rule the connection and its sessions share.

The log is read portion by portion (`spdm.mel.MelPortions`) up to `Limits.max_mel_bytes`: the
first request asks for as much as one response may carry, MaxSPDMmsgSize less the 12-byte header,
as libspdm's requester does (libspdm_req_get_measurement_extension_log.c); the next ones for at
most what remains. The device must set MEL_CAP and the connection must run 1.3 with the DMTF MEL
format selected; the whole log must then parse as that format.
"""

from __future__ import annotations

from spdm._checks import invalid_response
from spdm.errors import DecodeError, NegotiationError
from spdm.mel import MelPortions
from spdm.messages.codes import Code, MeasurementSpecification
from spdm.messages.mel import PORTION_HEADER_SIZE, GetMeasurementExtensionLog, MeasurementExtensionLog, decode_mel
from spdm.negotiated import Negotiated
from spdm.requester.channel import Transact
from spdm.requester.config import RequesterConfig
from spdm.requester.events import Steps
from spdm.requester.results import MelResult
from spdm.requester.support import require_support

__all__ = ["get_measurement_extension_log"]


def get_measurement_extension_log(
    transact: Transact, negotiated: Negotiated, config: RequesterConfig
) -> Steps[MelResult]:
    """The device's whole MEL, parsed (see the module docstring for the rules)."""
    version = negotiated.version
    require_support(negotiated, Code.GET_MEASUREMENT_EXTENSION_LOG)
    if negotiated.mel_specification != MeasurementSpecification.DMTF:  # the one MEL format (0x01)
        raise NegotiationError("ALGORITHMS selected no MEL format (MELspecificationSel is not DMTF)")
    limits = config.limits
    portions = MelPortions(max_size=limits.max_mel_bytes)
    largest = min(config.max_spdm_msg_size, limits.max_response_bytes) - PORTION_HEADER_SIZE
    log: bytes | None = None
    while log is None:
        remaining = largest if portions.total is None else portions.total - portions.offset
        ask = GetMeasurementExtensionLog(version=version, offset=portions.offset, length=min(largest, remaining))
        answer, _, _ = yield from transact(ask, MeasurementExtensionLog)
        try:
            log = portions.add(ask, answer)
        except ValueError as error:
            raise invalid_response(str(error)) from None
    try:
        parsed = decode_mel(log)
    except DecodeError as error:
        raise invalid_response(f"the measurement extension log does not parse: {error}") from None
    return MelResult(log=parsed, raw=log, measurement_hash_algo=negotiated.measurement_hash_algo)
