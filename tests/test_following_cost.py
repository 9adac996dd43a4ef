"""What following an idle bucket costs, through a request-counting proxy in front of the S3 server process
(tests/following_support.py): `shadowreplica run` over 6 caught-up partitions, every interval scaled 300x
down (the fixed 1 s poll 15x), in three modes side by side (a bucket pair and a proxy each), against the
issue's targets as ratios to a Redpanda read replica (120 requests per partition-hour): adaptive polling at most 1.25x idle with its lag at most the cap (plus a copy); events at
most 200 S3 requests an hour in all, whatever the number of partitions; the fixed 1 s poll (a setting) many
times dearer. ``python -m bench following`` measures the same over longer windows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from conftest import BucketPair, FaultProxy
from replicator_support import KiB, seed, sync_once

from localstack.s3server import configure_events
from tests.following_support import REDPANDA_READ_REPLICA, FollowingCost, measure_following

# timing: request counts over a time window: alone, after the parallel part
pytestmark = [pytest.mark.slow, pytest.mark.timing]

SCALE = 300.0  # a 30 s poll cap becomes 0.1 s, a 15-minute listing period 3 s
WINDOW = 12.0  # an hour scaled: four 15-minute listing periods, one full listing of every root


async def _follow_one_mode(pair: BucketPair, s3_server: str, cache_dir: Path, mode: str, n: int) -> FollowingCost:
    """One mode over a pair of its own (own proxy, own counts), so the three modes run side by side."""
    await seed(pair.source, topics=2, partitions=3, size=384 * KiB, segment=64 * KiB)
    assert (await sync_once(pair)).report.ok
    queue = configure_events(s3_server, pair.source.url.bucket, "us-east-1") if mode == "events" else None
    proxy = await FaultProxy.for_endpoint(s3_server).start()
    try:
        # the fixed 1 s poll cannot be scaled 300x (3 ms polls): 15x, over a shorter window
        scale, window = (15.0, 3.0) if mode == "fixed" else (SCALE, WINDOW)
        return await measure_following(pair.source, pair.dest, proxy, cache_dir, mode=mode, scale=scale,
                                       window=window, partitions=6, queue=queue, append_seed=90 + n)
    finally:
        await proxy.close()


async def test_following_costs_what_a_read_replica_costs_and_events_less(
        buckets: BucketPair, bucket_pairs: Callable[[], Awaitable[BucketPair]], s3_server: str,
        tmp_path: Path) -> None:
    modes = ("fixed", "adaptive", "events")
    pairs = [buckets, await bucket_pairs(), await bucket_pairs()]
    found = await asyncio.gather(*(_follow_one_mode(pair, s3_server, tmp_path / mode, mode, n)
                                   for n, (mode, pair) in enumerate(zip(modes, pairs, strict=True))))
    costs = dict(zip(modes, found, strict=True))
    print("\n" + "\n".join(c.line() + f"  {c.by_operation}" for c in costs.values()))
    fixed, adaptive, events = costs["fixed"], costs["adaptive"], costs["events"]
    assert adaptive.per_partition_hour <= 1.25 * REDPANDA_READ_REPLICA, adaptive.line()
    assert adaptive.lag < 30.0 / SCALE + 3.0, adaptive.line()  # at most one idle interval, then a copy and a commit
    assert events.per_hour <= 200, events.line()
    assert events.lag < 3.0, events.line()
    assert fixed.per_partition_hour > 10 * adaptive.per_partition_hour, (fixed.line(), adaptive.line())
