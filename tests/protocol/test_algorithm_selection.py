"""What ALGORITHMS must select, given both sides' capabilities: one rule (`required_selections`) that
the responder selects by and the requester checks by, as libspdm_rsp_algorithms.c and
libspdm_req_negotiate_algorithms.c apply it. A selection no capability needs may be zero."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from spdm.errors import NegotiationError
from spdm.messages import decode, encode
from spdm.messages.codes import AlgType, BaseAsymAlgo, BaseHashAlgo, CapabilityFlags, Code
from spdm.messages.negotiation import Algorithms
from spdm.negotiated import required_selections
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config, session_capabilities
from spdm.transport.loopback import LoopbackTransport

F = CapabilityFlags
_REQ_ASYM = AlgType.REQ_BASE_ASYM_ALG


@pytest.mark.parametrize(
    ("requester", "responder", "hash_", "asym", "structs"),
    [
        (0, F.MEAS_CAP_NO_SIG, False, False, set()),
        (0, F.MEAS_CAP_SIG, True, True, set()),
        (0, F.CHAL_CAP, True, True, set()),
        (F.PSK_CAP_NO_CONTEXT, F.PSK_CAP_WITH_CONTEXT | F.MAC_CAP, True, False, {AlgType.KEY_SCHEDULE}),
        (F.KEY_EX_CAP | F.ENCRYPT_CAP, F.KEY_EX_CAP | F.MAC_CAP, True, True, {AlgType.DHE, AlgType.KEY_SCHEDULE}),
        (F.MAC_CAP | F.MUT_AUTH_CAP, F.MAC_CAP | F.MUT_AUTH_CAP, False, False, {AlgType.AEAD, _REQ_ASYM}),
        (F.ENCRYPT_CAP, F.MAC_CAP, False, False, set()),
    ],
    ids=["unsigned measurements", "signed measurements", "challenge", "psk", "key exchange", "mac, mut auth", "no mac"],
)
def test_what_algorithms_must_select(
    requester: int, responder: int, hash_: bool, asym: bool, structs: set[int]
) -> None:
    """PSK_CAP counts whichever PSK bits each side uses (the requester's one, the responder's with
    context); ENCRYPT_CAP on one side and MAC_CAP on the other need no AEAD."""
    required = required_selections(requester, responder)
    assert (required.base_hash, required.base_asym, set(required.alg_structs)) == (hash_, asym, structs)


def test_a_responder_that_neither_signs_nor_keys_selects_no_hash_or_signature_algorithm() -> None:
    """A device with unsigned measurements only, sharing no hash or signature algorithm with the
    requester: it selects neither and our requester takes that, then reads the measurements."""
    config = dataclasses.replace(
        demo_config(),
        capabilities=F.MEAS_CAP_NO_SIG,
        slots={},
        base_asym_priority=(BaseAsymAlgo.ECDSA_P384,),
        base_hash_priority=(BaseHashAlgo.SHA_384,),
    )
    requester_config = RequesterConfig(base_asym_algo=BaseAsymAlgo.RSASSA_2048, base_hash_algo=BaseHashAlgo.SHA_256)
    requester = Requester(LoopbackTransport(Responder(config).respond), requester_config)
    negotiated = requester.init_connection()
    assert (negotiated.base_hash_algo, negotiated.base_asym_algo) == (0, 0)
    result = requester.get_measurements(signed=False)
    assert not result.signed and result.blocks


def _without_dhe(responder: Responder) -> Callable[[bytes, int | None], bytes]:
    def respond(request: bytes, session_id: int | None) -> bytes:
        response = responder.respond(request, session_id)
        if response[1] != Code.ALGORITHMS:
            return response
        answer = decode(response)
        assert isinstance(answer, Algorithms)
        structs = tuple(s for s in answer.alg_structs if s.alg_type != AlgType.DHE)
        return encode(dataclasses.replace(answer, alg_structs=structs))

    return respond


def test_an_algorithms_without_a_needed_dhe_group_is_refused_at_negotiation() -> None:
    """Both sides set KEY_EX_CAP: an ALGORITHMS with no DHE group is refused when it arrives (as
    libspdm does), not at the first KEY_EXCHANGE."""
    config = demo_config(sessions=True)
    assert config.capabilities & session_capabilities() & F.KEY_EX_CAP
    root = config.slots[0].certificates[0]
    requester = Requester(
        LoopbackTransport(_without_dhe(Responder(config))), RequesterConfig.with_sessions(trust_anchors={0: root})
    )
    with pytest.raises(NegotiationError, match="no DHE selected"):
        requester.init_connection()
