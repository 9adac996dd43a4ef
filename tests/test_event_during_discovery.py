"""An event that names something new while a discovery is already listing is never lost.

Regression (seen in CI under load): following by events, the events of a new topic's two partitions arrived one
during the discovery the first had started. That discovery had listed the second partition's root before its
manifest existed, and on finishing it cleared the "a full discovery is needed" mark the second event had just
set: the partition waited for the safety-net listing (minutes). Both followers of a bucket had the race, the
replicator (``Replicator.on_bucket_event``) and the catalog (``Catalog.on_bucket_event``).

Here every listing of one discovery is taken before the new topic is written and held until its event has
arrived, so the discovery in flight cannot see it; the follower must list again on its own, well before the
300 s safety net.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

from conftest import BucketPair
from replicator_support import KiB, config, seed

from app.bucket import changed_object_kind
from app.catalog import Catalog
from app.replicator import Replicator
from app.store import ObjectInfo, ObjectStore

DISCOVERY_ROOT = re.compile(r"[0-9a-f]{8}/meta/")
SAFETY_NET = 300.0  # hinted: the next listing without an event; the test fails long before it


class HeldListings:
    """The real store; once armed, every listing of a discovery root (``{hash}/meta/``) is read at once but
    handed out only after ``release``."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.armed = False
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def list(self, prefix: str = "", **kw: Any) -> AsyncIterator[ObjectInfo]:
        items = [info async for info in self.store.list(prefix, **kw)]
        if self.armed and DISCOVERY_ROOT.fullmatch(prefix):
            self.entered.set()
            await self.release.wait()
        for info in items:
            yield info


async def _new_partition_manifests(side: Any, before: set[str]) -> list[str]:
    async with ObjectStore(side) as store:
        keys = [i.key async for i in store.list("")]
    return sorted(k for k in keys if k not in before and changed_object_kind(k) == "partition")


async def _keys(side: Any) -> set[str]:
    async with ObjectStore(side) as store:
        return {i.key async for i in store.list("")}


async def _mid_discovery_event(buckets: BucketPair, held: HeldListings, ask_discovery: Any,
                               on_event: Any) -> list[str]:
    """Start a discovery (``ask_discovery``), write a new topic while its listings are held, deliver the new
    partitions' events, release. Returns the new partition manifest keys."""
    before = await _keys(buckets.source)
    held.armed = True
    ask_discovery()
    await asyncio.wait_for(held.entered.wait(), 10)
    await seed(buckets.source, topics=2, partitions=2, size=64 * KiB, segment=32 * KiB, seed=8, append=True)
    new = await _new_partition_manifests(buckets.source, before)
    assert len(new) == 3, new  # orders/1 and payments/0-1
    for key in new:
        on_event(key)
    held.armed = False
    held.release.set()
    return new


async def _until(check: Any, timeout: float = 15.0) -> bool:
    for _ in range(int(timeout / 0.05)):
        if check():
            return True
        await asyncio.sleep(0.05)
    return bool(check())


async def test_the_replicator_lists_again_for_an_event_that_arrived_during_its_discovery(
        buckets: BucketPair) -> None:
    await seed(buckets.source, topics=1, partitions=1, size=64 * KiB, segment=32 * KiB)
    stop = asyncio.Event()
    async with ObjectStore(buckets.source) as src, ObjectStore(buckets.dest) as dst:
        held = HeldListings(src)
        rep = Replicator(held, dst, config(discovery_interval=SAFETY_NET))  # type: ignore[arg-type]
        rep.set_hinted(True, safety_interval=SAFETY_NET)
        task = asyncio.create_task(rep.run_forever(stop))
        try:
            assert await _until(lambda: len(rep.workers) == 1), "the first discovery never ran"
            await asyncio.sleep(0.2)  # the meta loop is now asleep until an event
            # an event starts a full discovery; the new partitions' events land while it lists
            topic_manifest = next(k for k in await _keys(buckets.source) if changed_object_kind(k) == "topic")
            await _mid_discovery_event(buckets, held, lambda: rep.on_bucket_event(topic_manifest),
                                       rep.on_bucket_event)
            assert await _until(lambda: len(rep.workers) == 4), \
                f"a partition whose event arrived mid-discovery was not found: {sorted(map(str, rep.workers))}"
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def test_the_catalog_lists_again_for_an_event_that_arrived_during_its_discovery(
        buckets: BucketPair) -> None:
    await seed(buckets.source, topics=1, partitions=1, size=64 * KiB, segment=32 * KiB)
    async with ObjectStore(buckets.source) as store:
        held = HeldListings(store)
        catalog = Catalog(held, refresh_interval=SAFETY_NET, discovery_interval=SAFETY_NET)  # type: ignore[arg-type]
        catalog.set_hinted(True, safety_interval=SAFETY_NET)
        await catalog.start()
        try:
            assert len(catalog.partitions()) == 1
            await _mid_discovery_event(buckets, held, lambda: catalog.poke(None), catalog.on_bucket_event)
            assert await _until(lambda: len(catalog.partitions()) == 4), \
                f"a partition whose event arrived mid-discovery was not found: {len(catalog.partitions())}"
        finally:
            await catalog.stop()
