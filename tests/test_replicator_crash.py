"""kill -9 the real `shadowreplica sync --once` process at random moments; after every kill the destination
must still be a valid tiered-storage bucket (the invariant checker finds nothing), and a final resume must
copy exactly what is missing and leave destination == source.

The sync runs as ``.venv/bin/shadowreplica`` (the console script) against moto's S3 server process. Kill
times are drawn from a seeded RNG across a run's whole life: interpreter start-up, discovery, the initial
manifest commits, copying, intermediate and final commits, topic manifests. The killed runs use a low
concurrency and a short commit interval so kills land between many commits; when a run finishes before
its kill, the test appends new segments to the source (as a live cluster would), so every run has work.

Checked after every kill (and every completed run):

* ``verify_bucket(dest, source)``: every object each destination manifest names exists, has the size the
  manifest says and is the same object as at the source;
* the restorable offset of every partition never goes backwards.

At the end: one unhurried resume (``--json``) whose CopyObject count equals the number of source objects
missing at the destination (nothing already copied is copied again, even objects a killed run copied but
never committed), then every object's size and MD5 and every manifest's bytes are equal on both sides.
"""

from __future__ import annotations

import pytest
from conftest import BucketPair

from tests.crash_support import kill_9_at_random_moments

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, `make test-fast` does not


async def test_kill_9_at_random_moments_never_breaks_the_destination(buckets: BucketPair) -> None:
    """A bucket in the hash-prefixed layout (20 kills); tests/test_replicator_crash_mixed.py: the mixed one."""
    await kill_9_at_random_moments(buckets, "prefixed")
