"""Shared test fixtures: the DMTF libspdm reference captures (see `vectors_required`) and the
hypothesis profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from vectors_required import LIBSPDM_V12_V13_VECTORS, LIBSPDM_VECTORS, absent_param, vectors_absent


def libspdm_capture_names(link_type: int | None = None) -> list[str]:
    """Vector folders holding a requester.pcap (found by globbing, so new captures count),
    optionally only those of one pcap link type (292 PCI DOE, 291 MCTP)."""
    if not LIBSPDM_VECTORS.is_dir():
        return []
    names = []
    for pcap in sorted(LIBSPDM_VECTORS.glob("*/requester.pcap")):
        if link_type is None or _link_type(pcap) == link_type:
            names.append(pcap.parent.name)
    return names


def _link_type(pcap: Path) -> int | None:
    """The link type in a little-endian classic pcap header (all spdm-emu writes), else None."""
    with pcap.open("rb") as f:
        header = f.read(24)
    if len(header) < 24 or header[:4] != b"\xd4\xc3\xb2\xa1":
        return None
    return int.from_bytes(header[20:24], "little")


@pytest.fixture(scope="session")
def libspdm_vectors() -> Path:
    """The libspdm vector folder; skips the test when it is absent (fails it in CI)."""
    if not LIBSPDM_VECTORS.is_dir():
        vectors_absent(f"libspdm vectors not found at {LIBSPDM_VECTORS}")
    return LIBSPDM_VECTORS


@pytest.fixture(scope="session")
def libspdm_v12_v13_vectors() -> Path:
    """The libspdm SPDM 1.2/1.3 vector folder; skips the test when it is absent (fails it in CI)."""
    if not LIBSPDM_V12_V13_VECTORS.is_dir():
        vectors_absent(f"libspdm 1.2/1.3 vectors not found at {LIBSPDM_V12_V13_VECTORS}")
    return LIBSPDM_V12_V13_VECTORS


# parameter name -> pcap link type of the captures it runs over (None: every capture)
_CAPTURE_PARAMETERS: dict[str, int | None] = {
    "libspdm_capture": None,
    "libspdm_doe_capture": 292,
    "libspdm_mctp_capture": 291,
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test once per vector folder when it takes `libspdm_capture` (every capture),
    `libspdm_doe_capture` (PCI DOE ones) or `libspdm_mctp_capture` (MCTP ones): the folder's
    name, to join to the `libspdm_vectors` fixture."""
    for parameter, link_type in _CAPTURE_PARAMETERS.items():
        if parameter in metafunc.fixturenames:
            names = libspdm_capture_names(link_type)
            params: list[object] = list(names) or [absent_param("", f"no libspdm captures for {parameter}")]
            metafunc.parametrize(parameter, params)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test parametrized over vectors that are absent: skipped, or failed in CI."""
    marker = item.get_closest_marker("vectors_absent")
    if marker is not None:
        vectors_absent(marker.args[0])


# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE: "ci" (the default) keeps the whole suite
# within a couple of minutes, "dev" looks harder, "fuzz" is for long unattended runs.
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=25_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
