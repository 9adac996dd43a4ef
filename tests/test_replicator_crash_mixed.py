"""kill -9 of `shadowreplica sync --once` at random moments (tests/crash_support.py, whose docstring and
tests/test_replicator_crash.py's say what is checked) on an upgraded cluster's bucket: one topic
hash-prefixed with .bin manifests and one labeled ({cluster_uuid}/ keys, manifest.bin only), so the
intermediate commits of the labeled topic are .bin. Its own file so that a second worker runs it beside
the prefixed one."""

from __future__ import annotations

import pytest
from conftest import BucketPair

from tests.crash_support import kill_9_at_random_moments

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, `make test-fast` does not


async def test_kill_9_at_random_moments_in_a_mixed_bucket_never_breaks_the_destination(buckets: BucketPair) -> None:
    await kill_9_at_random_moments(buckets, "mixed")
