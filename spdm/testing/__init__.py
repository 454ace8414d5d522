"""Public testing helpers for property tests and fuzzing of code built on `spdm`.

`spdm.testing.strategies` holds Hypothesis strategies for every SPDM message, the records nested
in them and the DSP0277 opaque data, plus `mutations` of valid wire bytes. Importing it needs
`hypothesis` (``pip install pyspdm[fuzz]``); the rest of `spdm` never imports this package.
"""

from __future__ import annotations

__all__: list[str] = []
