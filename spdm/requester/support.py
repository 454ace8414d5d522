"""Whether a connection supports a request: the SPDM version that defines it and the responder's
capability flag for it, both checked before anything is sent.

libspdm's requester refuses such a request before sending it too (LIBSPDM_STATUS_UNSUPPORTED_CAP in
libspdm_req_get_csr.c, libspdm_req_get_key_pair_info.c, libspdm_req_get_endpoint_info.c, ...): a
responder need not answer a request its version does not define or its CAPABILITIES did not offer.
"""

from __future__ import annotations

from spdm.errors import NegotiationError
from spdm.messages.codes import REQUEST_NEEDS, Code
from spdm.messages.negotiation import version_text
from spdm.negotiated import Negotiated

__all__ = ["require_support", "require_version", "supports"]


def supports(negotiated: Negotiated, code: Code, *, signed: bool = False) -> bool:
    """The connection may carry `code`: see `require_support`."""
    return _missing(negotiated, code, signed) is None


def require_version(negotiated: Negotiated, code: Code) -> None:
    """`NegotiationError` unless the connection runs the SPDM version that defines `code`."""
    version = REQUEST_NEEDS[code].version
    if negotiated.version < version:
        running = version_text(negotiated.version)
        raise NegotiationError(f"{code.name} needs SPDM {version_text(version)}; the connection runs {running}")


def require_support(negotiated: Negotiated, code: Code, *, signed: bool = False) -> None:
    """`NegotiationError`, naming what is missing, unless the connection may carry `code`
    (`spdm.messages.codes.REQUEST_NEEDS`): its version, the responder's capability, the requester's
    for a session feature and, `signed`, the responder's capability to sign the answer."""
    require_version(negotiated, code)
    missing = _missing(negotiated, code, signed)
    if missing is not None:
        raise NegotiationError(f"{code.name} needs {missing}")


def _missing(negotiated: Negotiated, code: Code, signed: bool) -> str | None:
    needs = REQUEST_NEEDS[code]
    if negotiated.version < needs.version:
        return f"SPDM {version_text(needs.version)}"
    if needs.responder and not negotiated.responder_has(needs.responder):
        return f"the responder's {needs.responder.name}, which the device does not set"
    if needs.requester and not negotiated.requester_has(needs.requester):
        return f"the requester's {needs.requester.name}, which this requester does not set"
    if signed and not negotiated.responder_has(needs.signed):
        return f"the responder's {needs.signed.name} to sign, which the device does not set"
    return None

