"""`python -m spdm` is the `spdm` command."""

from __future__ import annotations

import sys

from spdm.cli import main

sys.exit(main())
