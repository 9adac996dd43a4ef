"""The source bucket changes under a following replicator (``--follow``), per retention mode.

While the replicator follows, the source: drops its oldest segments (retention: manifest rewritten, then the
objects deleted), appends new segments (manifests rewritten), and has a whole topic deleted (segments first,
then its partition and topic manifests — the order that leaves the source's own manifests dangling for a
while). The invariant checker runs in a loop against the destination the whole time: no destination
manifest ever names an object that is not there. Then:

* ``mirror``: the destination converges to exactly the source (same keys, sizes, ETags): the dropped
  segments and the deleted topic are gone, manifests before objects;
* ``keep``: the destination keeps the history the source dropped (its manifest still starts at the old
  start) and the deleted topic (manifests and every object they name), and has everything the source has.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
from conftest import BucketPair
from replicator_support import KiB, config, listing, seed

from app.bucket import decode_partition_manifest
from app.replicator import Replicator, verify_bucket
from app.store import ObjectStore

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, `make test-fast` does not


async def _drop_oldest(store: ObjectStore, topic: str, count: int) -> list[str]:
    key = next(k for k in sorted([i.key async for i in store.list("")])
               if k.endswith("/manifest.json") and f"/{topic}/" in k)
    m = decode_partition_manifest((await store.get(key)).body, "json")
    kept = m.with_segments(m.segments[count:], start_offset=m.segments[count].base_offset)
    await store.put(key, kept.to_json())  # manifest first, as Redpanda's retention does
    dropped = [m.segment_key(s) for s in m.segments[:count]]
    await store.delete_many([k + sfx for k in dropped for sfx in ("", ".index", ".tx")])
    return dropped


async def _delete_topic(store: ObjectStore, topic: str) -> None:
    keys = [i.key async for i in store.list("") if f"/{topic}/" in i.key]
    meta = [k for k in keys if "/meta/" in k]
    await store.delete_many([k for k in keys if k not in meta])  # data first: the manifests dangle a while
    await store.delete_many(meta)


async def _converge(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"{what}: not reached within {timeout} s"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("retention", ["mirror", "keep"])
async def test_source_changes_under_a_following_replicator(buckets: BucketPair, retention: str) -> None:
    await seed(buckets.source, topics=2, partitions=1, size=640 * KiB, segment=64 * KiB)
    # idle polls and listings back off (app/polling.py); capped at 1 s here, so how long the initial sync took
    # on a loaded machine does not decide when the changes below are seen (CI once waited past the 60 s)
    cfg = config(retention=retention, poll_interval=0.1, discovery_interval=0.3, commit_interval=0.2,
                 max_poll_interval=1.0, discovery_max_interval=1.0)
    violations: list[str] = []
    checks = 0
    async with ObjectStore(buckets.source) as src, ObjectStore(buckets.dest) as dst, \
            ObjectStore(buckets.dest) as checker_store:
        rep = Replicator(src, dst, cfg)
        stop = asyncio.Event()
        follow = asyncio.create_task(rep.run_forever(stop))

        async def check_forever() -> None:
            nonlocal checks
            while True:
                report = await verify_bucket(checker_store)
                violations.extend(str(v) for v in report.violations)
                checks += 1
                await asyncio.sleep(0)

        checker = asyncio.create_task(check_forever())
        try:
            async def same() -> bool:
                return await listing(buckets.dest) == await listing(buckets.source)

            async def superset() -> bool:
                """Every source object is at the destination, and each partition manifest is as far."""
                s, d = await listing(buckets.source), await listing(buckets.dest)
                if not all(d.get(k) == v for k, v in s.items() if "/meta/" not in k):
                    return False
                for k in s:
                    if k.endswith("/manifest.json"):
                        if k not in d:
                            return False
                        ends = [decode_partition_manifest((await store.get(k)).body, "json").last_offset
                                for store in (src, dst)]
                        if ends[0] != ends[1]:
                            return False
                return True

            await _converge(superset, "initial sync")
            before = {k: v for k, v in (await listing(buckets.dest)).items()}
            orders_manifest = next(k for k in before if k.endswith("/manifest.json") and "/orders/" in k)
            old_start = decode_partition_manifest((await dst.get(orders_manifest)).body, "json").start_offset
            dropped = await _drop_oldest(src, "orders", 3)
            await seed(buckets.source, topics=2, partitions=1, size=192 * KiB, segment=64 * KiB, seed=9,
                       append=True)
            await _delete_topic(src, "payments")
            payments = {k for k in before if "/payments/" in k}

            if retention == "mirror":
                await _converge(same, "mirror of the changed source")
                after = await listing(buckets.dest)
                assert not set(dropped) & set(after) and not payments & set(after)
                assert rep.metrics.deleted_objects >= len(dropped) + len(payments)
            else:
                await _converge(superset, "keep: everything the source has")
                after = await listing(buckets.dest)
                assert set(dropped) <= set(after) and payments <= set(after)  # history and the deleted topic
                kept = decode_partition_manifest((await dst.get(orders_manifest)).body, "json")
                assert kept.start_offset == old_start and rep.metrics.deleted_objects == 0
            await asyncio.sleep(0.5)  # a few more passes of both loops over the final state
        finally:
            stop.set()
            await follow
            checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checker
        final = await verify_bucket(checker_store)
    print(f"{retention}: {checks} verify runs while following, violations {violations[:3]}")
    assert violations == [], violations[:5]
    assert final.ok and checks >= 3
