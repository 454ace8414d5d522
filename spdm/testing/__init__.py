"""Public testing helpers for tests, examples and fuzzing of code built on `spdm`.

* `MemoryDoeLink` (`spdm.testing.doe`): an in-memory DOE link over a responder's `respond` (or any
  DOE instance as a function), optionally recording the objects it carries.
* `spdm.testing.pki`: a throwaway test PKI (`make_chain`).
* `spdm.testing.replay`: the regression check for capture vectors.
* `spdm.testing.strategies`: Hypothesis strategies for every SPDM message, the records nested in
  them and the DSP0277 opaque data, plus `mutations` of valid wire bytes. Importing it needs
  `hypothesis` (``pip install pyspdm[fuzz]``).

The rest of `spdm` never imports this package.
"""

from __future__ import annotations

from spdm.testing.doe import MemoryDoeLink

__all__ = ["MemoryDoeLink"]
