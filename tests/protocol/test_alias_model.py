"""The alias certificate model (SPDM 1.2, ALIAS_CERT_CAP): our requester against our responder with real
chains from spdm.testing.pki: authentication, the wrong model refused, and SET_CERTIFICATE of a chain
that ends in the device certificate, to which the responder appends its alias certificate."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest

from spdm.certs import SPDM_HARDWARE_IDENTITY_OID, CertChain, CertModel
from spdm.crypto import asym_suite, hash_suite
from spdm.errors import PeerError, ProtocolError, VerificationError
from spdm.limits import DEFAULT_LIMITS
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, CapabilityFlags, ErrorCode
from spdm.requester import Requester, RequesterConfig
from spdm.responder import DEFAULT_CAPABILITIES, Responder, ResponderConfig, SlotIdentity, demo_config
from spdm.responder.provisioning import certified_identity
from spdm.testing import MemoryDoeLink
from spdm.testing.pki import IssuedChain, cached_key, make_chain
from spdm.transport.doe import DoeTransport

F = CapabilityFlags
P384 = BaseAsymAlgo.ECDSA_P384
SHA384 = hash_suite(BaseHashAlgo.SHA_384)
ALIAS_CAPABILITIES = DEFAULT_CAPABILITIES | F.SET_CERT_CAP | F.ALIAS_CERT_CAP
NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)


def _chain(root_key: int, device_key: int = 81, **options: Any) -> IssuedChain:
    keys = [cached_key(P384, root_key), cached_key(P384, device_key), cached_key(P384, 82)]
    return make_chain(P384, hash_algo=BaseHashAlgo.SHA_384, keys=keys, name="aliased", alias=True, **options)


DEVICE = _chain(80)
REISSUED = _chain(83)  # another root certifies the same device key under the same name
OTHER_DEVICE_KEY = _chain(83, device_key=84)


def _identity(chain: IssuedChain, alias_certificates: int = 1) -> SlotIdentity:
    return SlotIdentity(
        certificates=chain.certificates_der, private_key=chain.leaf_key, alias_certificates=alias_certificates
    )


def _config(chain: IssuedChain = DEVICE, **changes: Any) -> ResponderConfig:
    settings: dict[str, Any] = {
        "capabilities": ALIAS_CAPABILITIES,
        "slots": {0: _identity(chain)},
        "base_hash_priority": (BaseHashAlgo.SHA_384,),
        "max_padding": 3,
        **changes,
    }
    return dataclasses.replace(demo_config(), **settings)


def _connect(
    responder: Responder, root: bytes = DEVICE.root_der, versions: tuple[int, ...] = (0x10, 0x11, 0x12)
) -> Requester:
    config = RequesterConfig(trust_anchors={0: root}, versions=versions)
    requester = Requester(DoeTransport(MemoryDoeLink(responder.respond)), config)
    requester.init_connection()
    return requester


def _authenticate(requester: Requester) -> str:
    requester.get_digests()
    requester.get_certificate(0)
    leaf = requester.verify_certificate(0).leaf
    requester.challenge(0)
    return leaf.subject.rfc4514_string()


def test_an_alias_chain_authenticates_under_alias_cert_cap() -> None:
    requester = _connect(Responder(_config()))
    assert requester.negotiated is not None and requester.negotiated.certificate_model is CertModel.ALIAS
    assert _authenticate(requester) == "CN=aliased alias"


def test_a_leaf_claiming_the_hardware_identity_is_refused_under_alias_cert_cap() -> None:
    """A device-model leaf (it names the hardware identity) where ALIAS_CERT_CAP promises an alias leaf."""
    claiming = _chain(80, spdm_extension_oids=[SPDM_HARDWARE_IDENTITY_OID])
    requester = _connect(Responder(_config(claiming)))
    requester.get_digests()
    requester.get_certificate(0)
    with pytest.raises(VerificationError, match=r"CN=aliased alias\): is the leaf of the alias certificate model"):
        requester.verify_certificate(0)
    # at 1.1 ALIAS_CERT_CAP is not defined: the device model, which lets the leaf name it
    assert _authenticate(_connect(Responder(_config(claiming)), versions=(0x11,))) == "CN=aliased alias"


def test_an_alias_chain_without_alias_cert_cap_authenticates_as_the_device_model() -> None:
    """libspdm cannot tell an alias leaf from a device leaf at GET_CERTIFICATE, and does not refuse it."""
    plain = SlotIdentity(certificates=DEVICE.certificates_der, private_key=DEVICE.leaf_key)
    responder = Responder(_config(capabilities=DEFAULT_CAPABILITIES | F.SET_CERT_CAP, slots={0: plain}))
    requester = _connect(responder)
    assert requester.negotiated is not None and requester.negotiated.certificate_model is CertModel.DEVICE
    assert _authenticate(requester) == "CN=aliased alias"
    # but SET_CERTIFICATE of a chain ending in the device certificate, a CA, is refused in the device model
    with pytest.raises(PeerError) as refused:
        requester.set_certificate(0, REISSUED.certificates_der[:-1])
    assert refused.value.error_code == ErrorCode.Unspecified  # as libspdm_rsp_set_certificate_rsp.c answers


def test_set_certificate_installs_the_device_certificate_and_appends_the_alias_leaf() -> None:
    responder = Responder(_config())
    requester = _connect(responder)
    _authenticate(requester)
    assert not requester.set_certificate(0, REISSUED.certificates_der[:-1]).reset_required
    served = (*REISSUED.certificates_der[:-1], DEVICE.leaf_der)
    assert responder.slots[0].certificates == served
    assert responder.slots[0].alias_certificates == 1
    requester.config.trust_anchors[0] = REISSUED.root_der
    assert _authenticate(requester) == "CN=aliased alias"
    assert requester.chains[0] == CertChain.build(served, SHA384).to_bytes()
    fresh = _connect(responder, REISSUED.root_der)
    assert _authenticate(fresh) == "CN=aliased alias"


@pytest.mark.parametrize(
    "certificates",
    [DEVICE.certificates_der, OTHER_DEVICE_KEY.certificates_der[:-1]],
    ids=["ends-in-a-leaf", "another-device-key"],
)
def test_set_certificate_in_the_alias_model_refuses(certificates: tuple[bytes, ...]) -> None:
    responder = Responder(_config())
    requester = _connect(responder)
    with pytest.raises(PeerError) as refused:
        requester.set_certificate(0, certificates)
    assert refused.value.error_code == ErrorCode.Unspecified
    assert responder.slots[0].certificates == DEVICE.certificates_der
    assert _authenticate(requester) == "CN=aliased alias"


def _install(certificates: tuple[bytes, ...]) -> SlotIdentity:
    return certified_identity(
        CertChain.build(certificates, SHA384).to_bytes(),
        _identity(DEVICE),
        hash_suite=SHA384,
        asym=asym_suite(P384),
        limits=DEFAULT_LIMITS,
        now=NOW,
        version=0x12,
    )


def test_the_refusals_name_the_rule() -> None:
    with pytest.raises(ProtocolError, match=r"CN=aliased alias\): is the device certificate the alias model installs"):
        _install(DEVICE.certificates_der)
    with pytest.raises(
        ProtocolError, match=r"alias certificates appended: certificate 2 \(CN=aliased alias\): not signed"
    ):
        _install(OTHER_DEVICE_KEY.certificates_der[:-1])


# --- the configuration ---------------------------------------------------------------------------


def test_alias_cert_cap_needs_alias_certificates_in_every_slot() -> None:
    plain = SlotIdentity(certificates=DEVICE.certificates_der, private_key=DEVICE.leaf_key)
    with pytest.raises(ValueError, match="slot 0 has no alias certificates"):
        _config(slots={0: plain})
    with pytest.raises(ValueError, match="lack ALIAS_CERT_CAP"):
        _config(capabilities=DEFAULT_CAPABILITIES)
    with pytest.raises(ValueError, match="CSR_CAP with ALIAS_CERT_CAP"):
        _config(capabilities=ALIAS_CAPABILITIES | F.CSR_CAP)


def test_the_certificate_before_the_alias_certificates_must_be_a_ca() -> None:
    not_ca = make_chain(P384, hash_algo=BaseHashAlgo.SHA_384, ca_on_intermediates=False)
    with pytest.raises(ValueError, match="must be a CA"):
        SlotIdentity(certificates=not_ca.certificates_der, private_key=not_ca.leaf_key, alias_certificates=1)
    with pytest.raises(ValueError, match="a device certificate must come before"):
        _identity(DEVICE, alias_certificates=3)
