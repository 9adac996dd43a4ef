"""How many examples a property test runs: its own count in ``make test`` and CI, at most the fast profile's
in ``make test-fast`` (``HYPOTHESIS_PROFILE=fast``), so that a test which raises its count for the full suite
does not also raise it for the inner loop."""

from __future__ import annotations

import os

FAST_EXAMPLES = 20  # the `fast` profile registered in tests/conftest.py
FAST = os.environ.get("HYPOTHESIS_PROFILE") == "fast"


def examples(n: int) -> int:
    """``n`` in the full suite; ``min(n, FAST_EXAMPLES)`` in the inner loop."""
    return min(n, FAST_EXAMPLES) if FAST else n
