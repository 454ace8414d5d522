"""Where the DMTF libspdm reference captures live, and what a test does when they are absent.

The captures sit in the repository's sibling folder ``shared/`` (CI clones the repository with
``shared/`` beside the clone), so they are located relative to this file, never the working
directory. Away from CI a test that needs them is skipped; in CI (``CI=true``), where they are
always there, their absence fails the test with a message that says so, instead of a quiet skip.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

LIBSPDM_VECTORS = Path(__file__).resolve().parents[1].parent / "shared" / "vectors" / "libspdm"
LIBSPDM_V12_V13_VECTORS = LIBSPDM_VECTORS.with_name("libspdm-v12-v13")
"""The SPDM 1.2 and 1.3 captures, kept apart so that the walks over `LIBSPDM_VECTORS` stay at 1.0/1.1."""

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def vectors_absent(reason: str) -> NoReturn:
    """Skip the running test for want of vectors; fail it in CI."""
    if IN_CI:
        pytest.fail(f"{reason}: CI runs with ../shared/vectors beside the clone, so this is a broken set-up")
    pytest.skip(reason)


def absent_param(value: object, reason: str) -> object:
    """The one parameter of a test parametrized over vectors when there are none (see `vectors_absent`)."""
    return pytest.param(value, id="no-vectors", marks=pytest.mark.vectors_absent(reason))
