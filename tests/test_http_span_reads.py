"""Index-span reads (``granularity="span"``): the HTTP API's point queries read the ``.index`` object plus one
exact byte range, and return exactly what chunk reads (the Kafka path) return.

Against a seeded bucket on the S3 server process; S3 bytes are counted by ``store.stats``.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.cache import ChunkCache
from app.catalog import Catalog
from app.reader import PartitionReader
from app.store import ObjectStore
from app.tools.seed import seed_bucket
from app.tools.seedgen import SeedSpec, topic_name
from segment_format.remote_index import decode_remote_index

SPEC = SeedSpec(topics=2, partitions=1, total_bytes=2 * 1024 * 1024, segment_bytes=512 * 1024, seed=5)


@pytest.fixture
async def seeded(buckets, tmp_path: Path) -> AsyncIterator[tuple[ObjectStore, Catalog, PartitionReader]]:  # type: ignore[no-untyped-def]
    await seed_bucket(buckets.source, SPEC, progress=False, workers=0)
    async with ObjectStore(buckets.source) as store:
        catalog = Catalog(store)
        await catalog.refresh(discover=True)
        cache = await ChunkCache(store, tmp_path / "cache", chunk_size=4 * 1024 * 1024).open()
        yield store, catalog, PartitionReader(catalog, cache)
        await cache.close()


async def test_span_reads_return_what_chunk_reads_return(seeded) -> None:  # type: ignore[no-untyped-def]
    _store, catalog, reader = seeded
    for t in range(SPEC.topics):
        topic = topic_name(t)
        view = catalog.partition(topic, 0)
        for offset in range(view.log_start_offset, view.high_watermark, 97):
            a = await reader.read(topic, 0, offset, 1, max_batches=1, granularity="span")
            b = await reader.read(topic, 0, offset, 1, max_batches=1)
            assert [(x.kafka_offset, bytes(x.records)) for x in a.batches] == \
                   [(x.kafka_offset, bytes(x.records)) for x in b.batches]
            assert a.batches and a.batches[0].kafka_last_offset >= offset  # the batch holding it (or the next)
        # a long read crosses spans and segments the same way
        a = await reader.read(topic, 0, view.log_start_offset, 10**9, granularity="span")
        b = await reader.read(topic, 0, view.log_start_offset, 10**9)
        assert [x.kafka_offset for x in a.batches] == [x.kafka_offset for x in b.batches]
        assert a.next_offset == view.high_watermark
        ts = view.segments[-1].meta.base_timestamp
        assert await reader.offset_for_timestamp(topic, 0, ts, granularity="span") == \
            await reader.offset_for_timestamp(topic, 0, ts)


async def test_a_point_query_reads_the_index_and_one_range(seeded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, catalog, reader = seeded
    topic = topic_name(0)
    view = catalog.partition(topic, 0)
    seg = view.segments[-1]
    offset = (seg.meta.base_kafka_offset + seg.meta.next_kafka_offset) // 2
    index_size = (await store.head(seg.index_key)).size  # type: ignore[union-attr]
    store.stats.reset()
    r = await reader.read(topic, 0, offset, 1, max_batches=1, granularity="span")
    assert r.batches
    got = store.stats["GetObject"]
    assert got.requests == 2, store.stats.snapshot()  # the .index object, then one range
    idx = await reader.index(seg)
    assert idx is not None and len(idx) > 2
    spans = [b - a for a, b in zip((0, *idx.file_positions), (*idx.file_positions, seg.meta.size_bytes), strict=True)]
    ix = bisect.bisect_right(idx.file_positions, r.batches[0].position)
    span = spans[ix]
    assert got.bytes_in == index_size + span
    assert got.bytes_in < seg.meta.size_bytes / 3  # vs the whole segment (what chunk reads fetched here)

    # the same query again: nothing from S3 (index cached in the reader, span in the cache)
    store.stats.reset()
    again = await reader.read(topic, 0, offset, 1, max_batches=1, granularity="span")
    assert [b.kafka_offset for b in again.batches] == [b.kafka_offset for b in r.batches]
    assert store.stats.requests == 0

    # chunk reads of the same offset fetch the whole (small) segment in one aligned chunk
    cold = await ChunkCache(store, tmp_path / "cold", chunk_size=4 * 1024 * 1024).open()
    store.stats.reset()
    await PartitionReader(catalog, cold).read(topic, 0, offset, 1, max_batches=1)
    assert store.stats["GetObject"].bytes_in >= seg.meta.size_bytes
    await cold.close()


async def test_an_http_point_query_reads_the_index_and_one_range(s3_server: str, tmp_path: Path) -> None:
    """``GET .../records?offset=N&limit=1`` on a cold cache: S3 GETs = the segment's ``.index`` + one range."""
    from tests.http_fixtures import Seeded, drop_buckets, open_app, seed_pair

    pair: Seeded = await asyncio.to_thread(seed_pair, s3_server)
    try:
        async with open_app(pair, tmp_path, with_source=False) as t:
            while t.dest.catalog.stats.refreshes < 2:  # the refresh loop's first pass: then it sleeps
                await asyncio.sleep(0.01)
            view = t.dest.catalog.partition("orders", 1)
            seg = view.segments[-1]
            index = (await t.store.get(seg.index_key)).body
            offsets = range(seg.meta.base_kafka_offset + 5, seg.meta.next_kafka_offset, 97)
            seen: set[tuple[int, int]] = set()
            fetched = 0
            for n, offset in enumerate(offsets):
                t.store.stats.reset()
                resp = await t.client.get("/topics/orders/partitions/1/records", params={"offset": offset, "limit": 1})
                assert resp.status_code == 200
                rec = resp.json()["records"][0]
                assert rec["offset"] == offset
                got = t.store.stats["GetObject"]
                idx = decode_remote_index(index)
                ix = bisect.bisect_right(idx.file_positions, rec["batch"]["position"])
                start = idx.file_positions[ix - 1] if ix else 0
                end = idx.file_positions[ix] if ix < len(idx.file_positions) else seg.meta.size_bytes
                # the first query also fetches the .index (then cached by the reader); every query fetches
                # exactly the one range holding its batch, unless an earlier query fetched it already
                new_span = (start, end) not in seen
                seen.add((start, end))
                assert got.requests == (n == 0) + new_span, (offset, store_ops(t.store))
                assert got.bytes_in == (len(index) if n == 0 else 0) + (end - start if new_span else 0)
                assert t.store.stats.requests == got.requests  # nothing but those GETs
                fetched += got.bytes_in
            assert len(seen) >= 3 and len(offsets) > len(seen)  # several spans, and some queries hit the cache
            assert fetched == len(index) + sum(e - s for s, e in seen)  # each byte range fetched once at most
    finally:
        await asyncio.to_thread(drop_buckets, pair)


def store_ops(store: ObjectStore) -> dict[str, Any]:
    return store.stats.snapshot()
