"""The shared read path (catalog → index → cache → batches) against a seeded bucket on the S3 server process.

What every consumer of the replica relies on: Kafka offsets equal ``redpanda offset − delta`` exactly,
non-data batches are never returned, record bytes and CRCs are untouched, a read starting anywhere returns
the batch holding that offset first, timestamps seek to the first record at or after them, damaged data is
reported with its key and position, and a malformed manifest never replaces the last good one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cache import ChunkCache
from app.catalog import Catalog
from app.errors import CorruptData, OffsetOutOfRange, UnknownPartition, UnknownTopic
from app.reader import PartitionReader
from app.store import ObjectStore
from app.tools.seed import seed_bucket
from app.tools.seedgen import SeedSpec, topic_name
from segment_format.batch import BatchType, kafka_crc
from segment_format.offsets import translate
from segment_format.segment import iter_batches

SPEC = SeedSpec(topics=2, partitions=2, total_bytes=3 * 1024 * 1024, segment_bytes=256 * 1024, seed=11)


async def expected_batches(store: ObjectStore, catalog: Catalog, topic: str, partition: int) -> list[tuple[int, bytes]]:
    """(Kafka base offset, stored batch bytes) of every data batch, decoded straight from the segments."""
    view = catalog.partition(topic, partition)
    out = []
    for seg in view.segments:
        body = (await store.get(seg.key)).body
        for t in translate(iter_batches(body), seg.meta.delta_offset or 0):
            if t.kafka_base_offset is not None and t.batch.header.type == BatchType.raft_data:
                out.append((t.kafka_base_offset, bytes(t.batch.records)))
    return out


@pytest.fixture
async def seeded(buckets, tmp_path: Path):  # type: ignore[no-untyped-def]
    await seed_bucket(buckets.source, SPEC, progress=False, workers=0)
    async with ObjectStore(buckets.source) as store:
        catalog = Catalog(store)
        await catalog.refresh(discover=True)
        cache = await ChunkCache(store, tmp_path / "cache", chunk_size=64 * 1024, max_bytes=1024 * 1024).open()
        yield store, catalog, PartitionReader(catalog, cache, read_size=64 * 1024)
        await cache.close()


async def test_reads_every_batch_with_exact_kafka_offsets(seeded) -> None:  # type: ignore[no-untyped-def]
    store, catalog, reader = seeded
    assert sorted(catalog.topics) == sorted(topic_name(i) for i in range(SPEC.topics))
    for topic in catalog.topics:
        for p in (0, 1):
            expected = await expected_batches(store, catalog, topic, p)
            got = []
            offset = catalog.partition(topic, p).log_start_offset
            while True:
                r = await reader.read(topic, p, offset, 100 * 1024)
                if not r.batches:
                    assert offset == r.high_watermark
                    break
                for b in r.batches:
                    assert b.header.type == BatchType.raft_data
                    assert kafka_crc(b.header, b.records) == b.header.crc
                    got.append((b.kafka_offset, bytes(b.records)))
                offset = r.next_offset
            assert got == expected
            assert got[0][0] == 0


async def test_read_from_the_middle_of_a_batch_and_limits(seeded) -> None:  # type: ignore[no-untyped-def]
    store, catalog, reader = seeded
    topic = topic_name(1)
    expected = await expected_batches(store, catalog, topic, 0)
    base, _ = expected[len(expected) // 2]
    r = await reader.read(topic, 0, base + 1, 1)  # inside a batch; max_bytes=1 still returns one whole batch
    assert len(r.batches) == 1 and r.batches[0].kafka_offset <= base + 1 <= r.batches[0].kafka_last_offset
    r = await reader.read(topic, 0, base, 200 * 1024)
    assert sum(b.size for b in r.batches[:-1]) < 200 * 1024 <= r.size + 1 or r.size <= 200 * 1024
    view = catalog.partition(topic, 0)
    with pytest.raises(OffsetOutOfRange) as e:
        await reader.read(topic, 0, view.high_watermark + 1, 1024)
    assert (e.value.start, e.value.end) == (view.log_start_offset, view.high_watermark)
    empty = await reader.read(topic, 0, view.high_watermark, 1024)
    assert empty.batches == [] and empty.high_watermark == view.high_watermark
    with pytest.raises(UnknownTopic):
        await reader.read("nope", 0, 0, 10)
    with pytest.raises(UnknownPartition):
        await reader.read(topic, 99, 0, 10)


async def test_timestamp_seek_finds_first_record_at_or_after(seeded) -> None:  # type: ignore[no-untyped-def]
    store, catalog, reader = seeded
    topic = topic_name(0)
    view = catalog.partition(topic, 1)
    seg = view.segments[len(view.segments) // 2]
    records = []
    for t in translate(iter_batches((await store.get(seg.key)).body), seg.meta.delta_offset or 0):
        if t.kafka_base_offset is not None and t.batch.header.type == BatchType.raft_data:
            for r in t.batch.decode_records():
                records.append((t.kafka_base_offset + r.offset_delta, t.batch.header.first_timestamp + r.timestamp_delta))
    target_offset, target_ts = records[len(records) // 2]
    found = await reader.offset_for_timestamp(topic, 1, target_ts)
    assert found is not None
    first_at_or_after = min(o for o, ts in records if ts >= target_ts)
    assert found[0] <= target_offset and found == (first_at_or_after, dict(records)[first_at_or_after])
    assert await reader.offset_for_timestamp(topic, 1, 10**15) is None


async def test_corrupt_segment_names_key_and_position(seeded) -> None:  # type: ignore[no-untyped-def]
    store, catalog, reader = seeded
    topic = topic_name(0)
    view = catalog.partition(topic, 0)
    seg = view.segments[0]
    body = bytearray((await store.get(seg.key)).body)
    batches = list(iter_batches(body))
    victim = batches[3]
    body[victim.position + 61 + 5] ^= 0xFF
    await store.put(seg.key, bytes(body))
    fresh = PartitionReader(catalog, await ChunkCache(store, Path(reader.cache.directory) / "fresh",
                                                       chunk_size=64 * 1024).open())
    with pytest.raises(CorruptData) as e:
        offset = 0
        while True:
            r = await fresh.read(topic, 0, offset, 64 * 1024)
            offset = r.next_offset
    assert e.value.key == seg.key and e.value.position == victim.position


async def test_malformed_manifest_keeps_last_good(seeded) -> None:  # type: ignore[no-untyped-def]
    store, catalog, _reader = seeded
    topic = topic_name(1)
    view = catalog.partition(topic, 1)
    good_hwm = view.high_watermark
    await store.put(view.manifest_key, b'{"version": 1, "namespace": "kafka", "topic": ')
    await catalog.refresh()
    assert catalog.partition(topic, 1).high_watermark == good_hwm
    assert view.manifest_key in catalog.errors
    assert catalog.stats.manifest_errors == 1
    # offsets going backwards are rejected too
    doc = view.manifest.to_dict()
    names = list(doc["segments"])
    doc["segments"][names[0]]["committed_offset"] = doc["segments"][names[1]]["base_offset"] + 5
    import json

    await store.put(view.manifest_key, json.dumps(doc).encode())
    await catalog.refresh()
    assert catalog.partition(topic, 1).high_watermark == good_hwm
    assert catalog.stats.manifest_errors == 2
    assert "offsets go backwards" in catalog.errors[view.manifest_key]
    await catalog.refresh()
    assert catalog.stats.manifest_errors == 2, "an unchanged bad manifest is not fetched and parsed again"
    # a good manifest again is picked up, and unchanged manifests cost a 304
    await store.put(view.manifest_key, view.manifest.to_json())
    await catalog.refresh()
    assert view.manifest_key not in catalog.errors
    before = catalog.stats.not_modified
    await catalog.refresh()
    assert catalog.stats.not_modified > before
