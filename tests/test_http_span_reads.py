"""Index-span reads (``granularity="span"``): the HTTP API's point queries read the ``.index`` object plus one
exact byte range, and return exactly what chunk reads (the Kafka path) return.

Against a seeded bucket on the S3 server process; S3 bytes are counted by ``store.stats``.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.cache import ChunkCache
from app.catalog import Catalog
from app.reader import PartitionReader
from app.seed import seed_bucket
from app.seedgen import SeedSpec, topic_name
from app.store import ObjectStore

SPEC = SeedSpec(topics=2, partitions=1, total_bytes=2 * 1024 * 1024, segment_bytes=512 * 1024, seed=5)


@pytest.fixture
async def seeded(buckets, tmp_path: Path) -> AsyncIterator[tuple[ObjectStore, Catalog, PartitionReader]]:  # type: ignore[no-untyped-def]
    await seed_bucket(buckets.source, SPEC, progress=False)
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
