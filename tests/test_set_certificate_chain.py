"""Where SET_CERTIFICATE's CertChain ends (`spdm.certs.chain_end`): at its 2-byte Length, the rest being
the transport's padding. The responder (`unpadded_chain`) and a capture's reader (`spdm.flow`) cut it
the same way; they used to differ for a 1-byte chain."""

from __future__ import annotations

import pytest

from spdm.flow import FlowDecoder
from spdm.messages.codes import Code
from spdm.messages.provisioning import SetCertificate
from spdm.responder.provisioning import unpadded_chain

_CHAIN = (8 + 3).to_bytes(2, "little") + bytes(2) + bytes(4) + b"\x30\x01\x00"  # Length 11: header, a root hash, DER
DOE_PADDING = 3


@pytest.mark.parametrize(
    ("sent", "chain"),
    [
        (b"", b""),  # 1.3 Erase
        (b"\x00", b""),  # Erase and one byte of padding
        (bytes(3), b""),
        (_CHAIN, _CHAIN),
        (_CHAIN + bytes(1), _CHAIN),
        (b"\x01", b"\x01"),  # a 1-byte chain: not padding, for the chain's format check to refuse
        (b"\x20\x00\x00\x00", b"\x20\x00\x00\x00"),  # a Length past the end: whole
    ],
)
def test_the_responder_and_the_flow_cut_the_chain_alike(sent: bytes, chain: bytes) -> None:
    assert unpadded_chain(sent, DOE_PADDING) == chain
    header = bytes([0x13, Code.SET_CERTIFICATE, 0x80 if not sent else 0x01, 0])  # Erase when nothing follows
    decoded, exact = FlowDecoder().decode(header + sent, max_padding=DOE_PADDING)
    assert isinstance(decoded, SetCertificate) and decoded.cert_chain == chain
    assert exact == header + chain


def test_without_padding_a_zero_byte_is_the_chain() -> None:
    """In a session or over MCTP nothing may follow the chain: the byte stays, for the check to refuse."""
    assert unpadded_chain(b"\x00", 0) == b"\x00"
