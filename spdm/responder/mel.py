"""GET_MEASUREMENT_EXTENSION_LOG (SPDM 1.3): which portion of the configured log answers, or which ERROR.

As libspdm_rsp_measurement_extension_log.c answers: a connection that negotiated no MEL format or
no measurement hash is UnexpectedRequest; an Offset not inside the log is InvalidRequest. Length
is cut to what one response may carry (without chunking the DataTransferSize in effect, ours and
the requester's, less the 12-byte header; with it the requester's MaxSPDMmsgSize less the header)
and to the end of the log. MEL_CAP itself is checked before (`spdm.responder.state.CAPABILITY_OF`):
the request is UnsupportedRequest without it, and so below 1.3, whose CAPABILITIES cannot carry
MEL_CAP (`DEFINED_RESPONDER_FLAGS`).
"""

from __future__ import annotations

from spdm.chunking import transfer_size
from spdm.mel import mel_portion
from spdm.messages.mel import PORTION_HEADER_SIZE, GetMeasurementExtensionLog, MeasurementExtensionLog
from spdm.negotiated import Negotiated
from spdm.responder._common import invalid_request, unexpected

__all__ = ["answer_mel"]


def answer_mel(
    ask: GetMeasurementExtensionLog, log: bytes, negotiated: Negotiated, data_transfer_size: int
) -> MeasurementExtensionLog:
    """The portion of `log` that answers `ask`; `ProtocolError` (the ERROR to answer) otherwise.

    `data_transfer_size` is this responder's own DataTransferSize."""
    if not negotiated.mel_specification or not negotiated.measurement_hash_algo:
        raise unexpected("no MEL format or measurement hash was negotiated")
    if transfer_size(negotiated) is not None and negotiated.requester_max_spdm_msg_size is not None:
        largest = negotiated.requester_max_spdm_msg_size
    else:
        largest = min(data_transfer_size, negotiated.requester_data_transfer_size or data_transfer_size)
    try:
        return mel_portion(log, ask, largest - PORTION_HEADER_SIZE)
    except ValueError as error:
        raise invalid_request(str(error)) from None
