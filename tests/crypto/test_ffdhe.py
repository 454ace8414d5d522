"""The two FFDHE backends: `cryptography`'s `dh` and Python integers agree byte for byte on every RFC 7919
group, refuse the same peer values, the integers take over when `dh` is gone, and importing spdm never
reads `dh` (nor lets its deprecation warning out)."""

from __future__ import annotations

import functools
import hashlib
import importlib
import subprocess
import sys
import textwrap
import types
import warnings
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spdm.crypto import DHE_SUITES, dhe_suite, ffdhe, ffdhe_backend_name
from spdm.crypto.dhe import FfdheSuite
from spdm.crypto.ffdhe import (
    FFDHE2048,
    FFDHE3072,
    FFDHE4096,
    FfdheBackend,
    FfdheGroup,
    FfdhePrivateKey,
    ffdhe_backend,
)
from spdm.errors import VerificationError
from spdm.messages.codes import DheGroup

GROUPS = (FFDHE2048, FFDHE3072, FFDHE4096)
GROUP_IDS = [group.name for group in GROUPS]
BACKEND_NAMES = ("cryptography", "integers")
DH_MODULE = "cryptography.hazmat.primitives.asymmetric.dh"
DH_CLASSES = ("DHParameterNumbers", "DHPublicNumbers", "DHPrivateNumbers")
INTEGERS = ffdhe_backend("integers")


def _dh_is_present() -> bool:
    """Whether this `cryptography` still has FFDH, asked without spdm (its warning silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module = importlib.import_module(DH_MODULE)
        except ImportError:
            return False
        return all(hasattr(module, name) for name in DH_CLASSES)


DH_PRESENT = _dh_is_present()


def _backend(name: str) -> FfdheBackend:
    """One backend by name; `cryptography`'s is skipped, with the reason, on the day it has no `dh`."""
    if name == "cryptography" and not DH_PRESENT:
        pytest.skip("cryptography has no dh any more: nothing to compare the integer backend with")
    return ffdhe_backend(name)


def _exchange(backend: FfdheBackend, group: FfdheGroup, a: int, b: int) -> tuple[bytes, bytes, bytes]:
    """ExchangeData of private values a and b on one backend, and the secret (the same from both sides)."""
    key_a = backend.from_private_value(group, a)
    key_b = backend.from_private_value(group, b)
    public_a = key_a.public_value.to_bytes(group.size, "big")
    public_b = key_b.public_value.to_bytes(group.size, "big")
    secret = key_a.exchange(public_b)
    assert key_b.exchange(public_a) == secret
    return public_a, public_b, secret


def _agreed(group: FfdheGroup, a: int, b: int) -> tuple[bytes, bytes, bytes]:
    """What both backends give for private values a and b, after checking that they give the same."""
    ours = _exchange(INTEGERS, group, a, b)
    assert ours == _exchange(_backend("cryptography"), group, a, b)
    return ours


def _wide_value(group: FfdheGroup, label: str) -> int:
    """A fixed private value as wide as p, in 2..p-2."""
    digest = hashlib.shake_256(f"{group.name}/{label}".encode()).digest(group.size)
    return int.from_bytes(digest, "big") % (group.prime - 3) + 2


@functools.cache
def _outside_the_subgroup(group: FfdheGroup) -> tuple[int, int]:
    """The smallest quadratic non-residue and p - 4 (-1 is a non-residue, as p = 3 mod 4): values
    in 2..p-2 of order 2q, so y^q mod p is p - 1, not 1. Found and checked here, not trusted."""
    p, q = group.prime, group.order
    smallest = next(y for y in range(2, 1000) if pow(y, q, p) != 1)
    for y in (smallest, p - 4):
        assert pow(y, q, p) == p - 1
    return smallest, p - 4


def test_the_automatic_choice_is_cryptography_while_it_has_dh() -> None:
    assert ffdhe_backend_name() == ("cryptography" if DH_PRESENT else "integers")
    assert ffdhe_backend() is ffdhe_backend(ffdhe_backend_name())
    assert ffdhe_backend("integers").name == "integers"
    with pytest.raises(LookupError):
        ffdhe_backend("openssl")


def test_the_ffdhe_suites_use_the_rfc7919_groups() -> None:
    suites = [suite for suite in DHE_SUITES if isinstance(suite, FfdheSuite)]
    assert [suite.group for suite in suites] == list(GROUPS)
    for suite in suites:
        assert (suite.group.name, suite.group.size) == (suite.name, suite.exchange_size)
        assert suite.group.order * 2 + 1 == suite.prime
        assert pow(suite.generator, suite.group.order, suite.prime) == 1


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_the_backends_agree_on_fixed_private_values(group: FfdheGroup) -> None:
    """Tiny results, all left-padded (2 and q + 1 give Y = 4 and 2, and the secret 4), the top of
    2..p-2 (q - 1 and p - 2 both give Y = 1/2 mod p, and the secret 2), and two values as wide as p."""
    p, q = group.prime, group.order

    def padded(value: int) -> bytes:
        return value.to_bytes(group.size, "big")

    assert _agreed(group, 2, q + 1) == (padded(4), padded(2), padded(4))
    assert _agreed(group, q - 1, p - 2) == (padded((p + 1) // 2), padded((p + 1) // 2), padded(2))
    _agreed(group, _wide_value(group, "a"), _wide_value(group, "b"))


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_the_backends_agree_on_any_private_values(group: FfdheGroup, data: st.DataObject) -> None:
    values = st.integers(min_value=2, max_value=group.prime - 2)
    _agreed(group, data.draw(values, label="a"), data.draw(values, label="b"))


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_generated_keys_of_the_two_backends_agree(group: FfdheGroup) -> None:
    ours = INTEGERS.generate(group)
    theirs = _backend("cryptography").generate(group)
    our_data = ours.public_value.to_bytes(group.size, "big")
    their_data = theirs.public_value.to_bytes(group.size, "big")
    assert group.peer_value(our_data) == ours.public_value
    assert group.peer_value(their_data) == theirs.public_value
    assert ours.exchange(their_data) == theirs.exchange(our_data)
    assert INTEGERS.generate(group).public_value != ours.public_value


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_both_backends_refuse_bad_peer_values(group: FfdheGroup, backend_name: str) -> None:
    key = _backend(backend_name).from_private_value(group, 5)
    p, size = group.prime, group.size
    assert key.exchange((4).to_bytes(size, "big")) == pow(4, 5, p).to_bytes(size, "big")
    for y in (0, 1, p - 1, p, 2 ** (8 * size) - 1):
        with pytest.raises(VerificationError, match=r"not in 2\.\.p-2"):
            key.exchange(y.to_bytes(size, "big"))
    for data in (b"", (4).to_bytes(size - 1, "big"), (4).to_bytes(size + 1, "big")):
        with pytest.raises(VerificationError, match=f"must be {size} bytes"):
            key.exchange(data)
    for y in _outside_the_subgroup(group):
        with pytest.raises(VerificationError, match="not in the subgroup"):
            key.exchange(y.to_bytes(size, "big"))


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_bad_private_values_are_value_errors(group: FfdheGroup, backend_name: str) -> None:
    """Outside 2..p-2, and q (whose public value is 1): local mistakes, so `ValueError`."""
    backend = _backend(backend_name)
    p = group.prime
    for value in (-1, 0, 1, p - 1, p):
        with pytest.raises(ValueError, match=r"2\.\.p-2"):
            backend.from_private_value(group, value)
    with pytest.raises(ValueError, match="public value is 1"):
        backend.from_private_value(group, group.order)
    assert backend.from_private_value(group, 2).public_value == 4
    assert backend.from_private_value(group, p - 2).public_value == (p + 1) // 2  # 2^(p-2) is 1/2 mod p


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
def test_a_key_of_one_suite_is_refused_by_another(backend_name: str) -> None:
    backend = _backend(backend_name)
    for suite in DHE_SUITES:
        if not isinstance(suite, FfdheSuite):
            continue
        key = backend.from_private_value(suite.group, 5)
        assert suite.public_bytes(key) == (32).to_bytes(suite.exchange_size, "big")
        for other in DHE_SUITES:
            if other is suite:
                continue
            with pytest.raises(ValueError, match="not a private key"):
                other.public_bytes(key)
            with pytest.raises(ValueError, match="not a private key"):
                other.shared_secret(key, other.public_bytes(other.from_private_value(7)))
        with pytest.raises(ValueError, match="not a private key"):
            suite.public_bytes(dhe_suite(DheGroup.SECP_256_R1).from_private_value(5))


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
def test_a_key_does_not_show_its_private_value(backend_name: str) -> None:
    value = 0x5EED_1234_5678_9ABC_DEF0
    text = repr(_backend(backend_name).from_private_value(FFDHE2048, value))
    assert "FFDHE_2048" in text
    assert str(value) not in text
    assert f"{value:x}" not in text.lower()


@pytest.fixture
def without_dh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`cryptography` as it will be: importing its `dh` module fails. The backend cache is emptied
    on the way in, and on the way out (before `sys.modules` is restored), so later tests load it again."""
    monkeypatch.setitem(sys.modules, DH_MODULE, None)
    ffdhe._cryptography_backend.cache_clear()
    yield
    ffdhe._cryptography_backend.cache_clear()


@pytest.mark.usefixtures("without_dh")
def test_without_dh_the_integers_take_over() -> None:
    assert ffdhe_backend_name() == "integers"
    with pytest.raises(LookupError):
        ffdhe_backend("cryptography")
    suite = dhe_suite(DheGroup.FFDHE_2048)
    requester = suite.generate()
    responder = suite.from_private_value(0x5EED)
    assert isinstance(suite, FfdheSuite)
    assert isinstance(requester, FfdhePrivateKey)
    secret = suite.shared_secret(requester, suite.public_bytes(responder))
    assert secret == suite.shared_secret(responder, suite.public_bytes(requester))
    assert secret == pow(requester.public_value, 0x5EED, suite.prime).to_bytes(suite.exchange_size, "big")
    with pytest.raises(VerificationError):
        suite.shared_secret(requester, (suite.prime - 4).to_bytes(suite.exchange_size, "big"))


def test_a_dh_module_without_its_classes_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    hollow = types.ModuleType(DH_MODULE)
    hollow.DHParameterNumbers = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, DH_MODULE, hollow)
    ffdhe._cryptography_backend.cache_clear()
    try:
        assert ffdhe_backend_name() == "integers"
    finally:
        ffdhe._cryptography_backend.cache_clear()


def _run_silently(code: str) -> str:
    """Run `code` in a fresh interpreter with every warning an error ( `-W error`, since
    CryptographyDeprecationWarning is a UserWarning in cryptography 51); its stdout, stderr empty."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def test_importing_spdm_never_reads_dh() -> None:
    """`cryptography` imports `dh` itself (for its key type unions), so it is in sys.modules anyway:
    watch every attribute read on it and require that no spdm code made one."""
    output = _run_silently(
        f"""
        import sys
        import cryptography.hazmat.primitives.asymmetric.types

        dh = sys.modules[{DH_MODULE!r}]
        reads = []

        class Watched(type(dh)):
            def __getattribute__(self, name):
                if sys._getframe(1).f_globals.get("__name__", "").startswith("spdm"):
                    reads.append(name)
                return super().__getattribute__(name)

        dh.__class__ = Watched
        import spdm
        import spdm.crypto
        from spdm.crypto import ffdhe

        assert ffdhe._cryptography_backend.cache_info().currsize == 0
        print(reads)
        """
    )
    assert output.strip() == "[]"


def test_the_first_ffdhe_use_is_silent() -> None:
    output = _run_silently(
        """
        from spdm.crypto import dhe_suite, ffdhe_backend_name
        from spdm.messages.codes import DheGroup

        suite = dhe_suite(DheGroup.FFDHE_2048)
        ours, theirs = suite.generate(), suite.from_private_value(7)
        secret = suite.shared_secret(ours, suite.public_bytes(theirs))
        assert secret == suite.shared_secret(theirs, suite.public_bytes(ours))
        print(ffdhe_backend_name())
        """
    )
    assert output.strip() == ("cryptography" if DH_PRESENT else "integers")
