"""Every caller of `verify_chain` says whose chain it checks and at which SPDM version, as libspdm does
(libspdm_verify_peer_cert_chain_buffer_integrity: is_requester_cert and the connection's version): the
requester and `spdm verify` check a responder's chain, the responder a requester's under mutual
authentication, and SET_CERTIFICATE a chain the responder will serve. Real exchanges between our
requester and responder, with chains from the test PKI."""

from __future__ import annotations

import dataclasses
import datetime
import io
import re

import pytest

from spdm.capture import LINKTYPE_PCI_DOE, CaptureWriter, RecordingTransport, read_pcap
from spdm.certs import SPDM_REQUESTER_AUTH_OID, SPDM_RESPONDER_AUTH_OID, CertChain
from spdm.crypto import asym_suite, hash_suite
from spdm.errors import PeerError, ProtocolError, VerificationError
from spdm.limits import DEFAULT_LIMITS
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, ErrorCode
from spdm.requester import Requester, RequesterConfig, RequesterIdentity, session_alg_structs
from spdm.responder import Responder, SlotIdentity, demo_config
from spdm.responder.provisioning import certified_identity
from spdm.testing import MemoryDoeLink
from spdm.testing.pki import IssuedChain, make_chain
from spdm.transport.doe import DoeTransport
from spdm.transport.loopback import LoopbackTransport
from spdm.verify import verify_capture

P256 = BaseAsymAlgo.ECDSA_P256
SHA_256 = hash_suite(BaseHashAlgo.SHA_256)
NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
REQUESTER_ONLY = make_chain(P256, extended_key_usages=[SPDM_REQUESTER_AUTH_OID])
NO_BASIC_CONSTRAINTS = make_chain(P256, leaf_basic_constraints=False)
LEAF = r"certificate 2 \(CN=pyspdm test leaf\): "
EKU_REFUSAL = LEAF + rf"lists SPDM EKUs \['{SPDM_REQUESTER_AUTH_OID}'\] but not {SPDM_RESPONDER_AUTH_OID}"
BASIC_CONSTRAINTS_REFUSAL = r"is the leaf but has no basicConstraints \(cA FALSE\), which SPDM 1.3 requires"


def _served(pki: IssuedChain, version: int = 0x13) -> tuple[Requester, io.BytesIO]:
    """Our requester (default checks, the PKI's root as slot 0's anchor, speaking `version`), connected to
    our responder serving `pki`'s chain and recorded, with the chain read."""
    identity = SlotIdentity(certificates=pki.certificates_der, private_key=pki.leaf_key)
    responder = Responder(dataclasses.replace(demo_config(), slots={0: identity}, base_asym_priority=(P256,)))
    buffer = io.BytesIO()
    writer = CaptureWriter(buffer, LINKTYPE_PCI_DOE, clock=NOW.timestamp)
    config = RequesterConfig(versions=(version,), trust_anchors={0: pki.root_der}, clock=lambda: NOW)
    requester = Requester(RecordingTransport(LoopbackTransport(responder.respond), writer), config)
    requester.init_connection()
    assert requester.version == version
    requester.get_digests()
    requester.get_certificate(0)
    return requester, buffer


def _chain_check(buffer: io.BytesIO, pki: IssuedChain) -> tuple[bool, str]:
    """`spdm verify`'s verdict on the recorded chain: (passed, detail)."""
    result = verify_capture(read_pcap(buffer.getvalue()), {0: pki.root_der})
    (check,) = [check for check in result.checks if check.name.endswith("validates to its trust anchor")]
    return check.ok, check.detail


def test_the_requester_and_spdm_verify_expect_the_responders_eku() -> None:
    """libspdm's requester checks with is_requester_cert false: a leaf with the requester's EKU alone is refused."""
    requester, buffer = _served(REQUESTER_ONLY)
    with pytest.raises(VerificationError, match=EKU_REFUSAL):
        requester.verify_certificate(0)
    ok, detail = _chain_check(buffer, REQUESTER_ONLY)
    assert not ok
    assert re.search(EKU_REFUSAL, detail), detail


@pytest.mark.parametrize("version", [0x12, 0x13])
def test_the_requester_and_spdm_verify_apply_the_negotiated_versions_rules(version: int) -> None:
    """From 1.3 a leaf must state basicConstraints (libspdm_x509_certificate_check)."""
    requester, buffer = _served(NO_BASIC_CONSTRAINTS, version)
    ok, detail = _chain_check(buffer, NO_BASIC_CONSTRAINTS)
    if version < 0x13:
        requester.verify_certificate(0)
        assert ok, detail
    else:
        with pytest.raises(VerificationError, match=LEAF + BASIC_CONSTRAINTS_REFUSAL):
            requester.verify_certificate(0)
        assert not ok
        assert re.search(LEAF + BASIC_CONSTRAINTS_REFUSAL, detail), detail


@pytest.mark.parametrize("version", [0x12, 0x13])
def test_the_responder_checks_the_requesters_chain_at_the_negotiated_version(version: int) -> None:
    """Mutual authentication (encapsulated): the requester's leaf without basicConstraints passes at 1.2
    and is refused from 1.3, as libspdm's responder refuses it (the same check, is_requester_cert true)."""
    pki = make_chain(
        P256, name="pyspdm requester", extended_key_usages=[SPDM_REQUESTER_AUTH_OID], leaf_basic_constraints=False
    )
    config = dataclasses.replace(
        demo_config(sessions=True),
        max_padding=3,  # DOE pads requests to whole DWORDs
        mutual_auth="encapsulated",
        requester_trust_anchors={0: pki.root_der},
    )
    requester = Requester(
        DoeTransport(MemoryDoeLink(Responder(config).respond)),
        RequesterConfig.with_sessions(
            versions=(version,),
            trust_anchors={0: config.slots[0].certificates[0]},
            identities={0: RequesterIdentity(certificates=pki.certificates_der, private_key=pki.leaf_key)},
            alg_structs=session_alg_structs(P256),
        ),
    )
    requester.authenticate(0)
    if version < 0x13:
        with requester.key_exchange(0) as session:
            session.heartbeat()
    else:
        with pytest.raises(PeerError) as refused:
            requester.key_exchange(0)
        assert refused.value.error_code == ErrorCode.InvalidResponseCode


def _install(device: IssuedChain, version: int) -> SlotIdentity:
    """SET_CERTIFICATE's checks on `device`'s chain up to its device certificate, into a slot that holds
    `device`'s alias certificate."""
    slot = SlotIdentity(certificates=device.certificates_der, private_key=device.leaf_key, alias_certificates=1)
    return certified_identity(
        CertChain.build(device.certificates_der[:-1], SHA_256).to_bytes(),
        slot,
        hash_suite=SHA_256,
        asym=asym_suite(P256),
        limits=DEFAULT_LIMITS,
        now=NOW,
        version=version,
    )


def test_set_certificate_checks_the_chain_it_will_serve_at_the_negotiated_version() -> None:
    """In the alias model the installed chain, the alias certificate appended, is checked as GET_CERTIFICATE
    will serve it: at 1.3 the alias leaf must state basicConstraints."""
    device = make_chain(P256, alias=True, leaf_basic_constraints=False)
    assert _install(device, 0x12).certificates == device.certificates_der
    with pytest.raises(ProtocolError, match="alias certificates appended: .*" + BASIC_CONSTRAINTS_REFUSAL):
        _install(device, 0x13)
