"""Whether a connection supports a request: the SPDM version that defines it and the responder's
capability flag for it, both checked before anything is sent.

libspdm's requester refuses such a request before sending it too (LIBSPDM_STATUS_UNSUPPORTED_CAP in
libspdm_req_get_csr.c, libspdm_req_get_key_pair_info.c, libspdm_req_get_endpoint_info.c, ...): a
responder need not answer a request its version does not define or its CAPABILITIES did not offer.
"""

from __future__ import annotations

from spdm.errors import NegotiationError
from spdm.messages.codes import CapabilityFlags
from spdm.negotiated import Negotiated

__all__ = ["require_support", "supports"]


def supports(negotiated: Negotiated, *, version: int, flag: CapabilityFlags | None = None) -> bool:
    """The connection runs SPDM `version` or later and the responder set (some bit of) `flag`."""
    return negotiated.version >= version and (flag is None or negotiated.responder_has(flag))


def require_support(negotiated: Negotiated, what: str, *, version: int, flag: CapabilityFlags | None = None) -> None:
    """`NegotiationError`, naming what is missing, unless `supports(negotiated, version=, flag=)`."""
    if negotiated.version < version:
        running = _dotted(negotiated.version)
        raise NegotiationError(f"{what} needs SPDM {_dotted(version)}; the connection runs {running}")
    if flag is not None and not negotiated.responder_has(flag):
        raise NegotiationError(f"{what} needs the responder's {flag.name}, which the device does not set")


def _dotted(version: int) -> str:
    return f"{version >> 4}.{version & 0xF}"
