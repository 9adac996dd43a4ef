"""The catalog fed by an in-process replicator (``run``): a handed-over commit is served at once, whatever the
refresh loop is doing when it arrives.

Regression: a commit handed over while the loop's own GET of that manifest was in flight waited for the next
slow poll (``cache.fed_refresh_interval``, 300 s): the poll rescheduled the key and the pass cleared the poke.
"""

from __future__ import annotations

import asyncio
from typing import Any

from app.bucket import ManifestObject
from app.catalog import Catalog
from app.store import ObjectStore
from app.tools.seed import seed_bucket
from app.tools.seedgen import SeedSpec, topic_name

SPEC = SeedSpec(topics=1, partitions=1, total_bytes=256 * 1024, segment_bytes=64 * 1024, seed=5)


class GatedStore:
    """The real store, with GETs of one key held until released (to land a commit mid-poll)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.key: str | None = None
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def get(self, key: str, **kw: Any) -> Any:
        if key == self.key:
            self.entered.set()
            await self.release.wait()
        return await self.store.get(key, **kw)


async def test_a_commit_handed_over_during_a_poll_of_its_manifest_is_served_at_once(buckets) -> None:  # type: ignore[no-untyped-def]
    await seed_bucket(buckets.source, SPEC, progress=False, workers=0)
    async with ObjectStore(buckets.source) as store:
        gated = GatedStore(store)
        catalog = Catalog(gated, refresh_interval=300, discovery_interval=300)  # type: ignore[arg-type]
        await catalog.start()
        try:
            view = catalog.partition(topic_name(0), 0)
            raw = await store.get(view.manifest_key)
            gated.key = view.manifest_key
            catalog.poke(view.manifest_key)  # the loop polls the manifest and blocks in the GET
            await asyncio.wait_for(gated.entered.wait(), 10)
            committed = ManifestObject(key=view.manifest_key, fmt="bin" if view.manifest_key.endswith(".bin")
                                       else "json", etag='"handed-over"', last_modified=raw.last_modified,
                                       body=raw.body, manifest=view.manifest)
            pid = next(p for p in catalog._listing.partitions if p.manifest_key(committed.fmt) == committed.key)
            catalog.accept_commit(pid, committed)
            gated.release.set()
            for _ in range(100):
                if catalog.partition(topic_name(0), 0).etag == committed.etag:
                    break
                await asyncio.sleep(0.05)
            assert catalog.partition(topic_name(0), 0).etag == committed.etag, "commit not served within 5 s"
            assert catalog.stats.commits_accepted == 1
        finally:
            await catalog.stop()
