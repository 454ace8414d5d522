"""Our requester against our responder for every DHE group x AEAD suite x hash, over DOE in memory:
a KEY_EXCHANGE session (with a heartbeat, both key updates and a signed in-session measurement read)
per combination, and a PSK session per AEAD x hash."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from spdm.crypto import AEAD_SUITES, DHE_SUITES, HASH_SUITES
from spdm.messages.codes import AeadAlgorithm, BaseAsymAlgo, BaseHashAlgo, DheGroup
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, SlotIdentity, demo_config
from spdm.testing import MemoryDoeLink
from spdm.testing.pki import make_chain
from spdm.transport.doe import DoeTransport

PSK, HINT = b"matrix pre-shared key", b"matrix"


def _requester(dhe: int, aead: int, hashes: int) -> Requester:
    chain = make_chain(BaseAsymAlgo.ECDSA_P256, hash_algo=BaseHashAlgo.SHA_256)
    config = dataclasses.replace(
        demo_config(sessions=True, psks={HINT: PSK}),
        slots={0: SlotIdentity(certificates=chain.certificates_der, private_key=chain.leaf_key)},
        base_hash_priority=(hashes,),
        dhe_priority=(dhe,),
        aead_priority=(aead,),
        max_padding=3,
    )
    settings = RequesterConfig.with_sessions(trust_anchors={0: chain.root_der}, psk=PSK, psk_hint=HINT)
    return Requester(DoeTransport(MemoryDoeLink(Responder(config).respond)), settings)


_DHE_GROUPS = [DheGroup(suite.bit) for suite in DHE_SUITES]
_AEADS = [AeadAlgorithm(suite.bit) for suite in AEAD_SUITES]
_HASHES = [BaseHashAlgo(suite.bit) for suite in HASH_SUITES]
"""Every algorithm with a cryptographic backend (the SM ones of 1.2 are named only)."""


@pytest.mark.parametrize(
    ("dhe", "aead", "hashes"),
    list(itertools.product(_DHE_GROUPS, _AEADS, _HASHES)),
    ids=lambda v: v.name,
)
def test_dhe_session(dhe: DheGroup, aead: AeadAlgorithm, hashes: BaseHashAlgo) -> None:
    requester = _requester(dhe, aead, hashes)
    requester.authenticate(0)
    negotiated = requester.negotiated
    assert negotiated is not None
    assert (negotiated.dhe_group, negotiated.aead_suite, negotiated.base_hash_algo) == (dhe, aead, hashes)
    with requester.key_exchange(0) as session:
        session.heartbeat()
        session.key_update()
        session.key_update(all_keys=True)
        assert session.get_measurements(0xFF).signed
    assert session.closed


@pytest.mark.parametrize(
    ("aead", "hashes"), list(itertools.product(_AEADS, _HASHES)), ids=lambda v: v.name
)
def test_psk_session(aead: AeadAlgorithm, hashes: BaseHashAlgo) -> None:
    requester = _requester(DheGroup.SECP_256_R1, aead, hashes)
    requester.init_connection()
    with requester.psk_exchange() as session:
        session.heartbeat()
        session.key_update(all_keys=True)
    assert session.closed
