"""More of the HTTP API against its spec: key searches bounded by time, timestamps as people type them,
and catalog figures that add up. Same seeded buckets and app as ``tests/test_http_api.py``; expected
values come from the read path's own batches, not from the API's output.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.http.routes.records import parse_timestamp
from app.reader import ServedBatch
from tests.http_fixtures import Seeded, drop_buckets, open_app, seed_pair


@pytest.fixture(scope="module")
def seeded(s3_server: str) -> Iterator[Seeded]:
    pair = seed_pair(s3_server)
    yield pair
    drop_buckets(pair)


def record_times(batch: ServedBatch) -> list[tuple[int, int, bytes | None]]:
    """(offset, timestamp, key) of a batch's records."""
    h = batch.header
    return [(batch.kafka_offset + r.offset_delta,
             h.max_timestamp if h.is_log_append_time else h.first_timestamp + r.timestamp_delta, r.key)
            for r in batch.decode()]


async def test_key_search_until_never_returns_a_record_after_it(seeded: Seeded, tmp_path: Path) -> None:
    """``until`` bounds the key search in time: a batch that starts before it may hold later records, and
    those are not returned (the search still stops at the first batch starting after it)."""
    async with open_app(seeded, tmp_path) as t:
        topic, partition = "orders", 0
        view = t.dest.catalog.partition(topic, partition)
        # a batch whose first record is at `until` and holds a keyed record after it
        found = None
        offset = view.log_start_offset
        while found is None and offset < view.high_watermark:
            result = await t.reader.read(topic, partition, offset, 1 << 20)
            for b in result.batches:
                if b.header.is_control or b.header.is_log_append_time:
                    continue
                rows = record_times(b)
                later = [r for r in rows if r[1] > b.header.first_timestamp and r[2] is not None]
                if later:
                    found = b, later[-1]
                    break
            offset = result.next_offset or view.high_watermark
        assert found is not None, "the seed has multi-record batches with keys"
        batch, (late_offset, late_ts, key) = found
        until = batch.header.first_timestamp
        assert key is not None and late_ts > until

        url = f"/topics/{topic}/partitions/{partition}/records"
        unbounded = (await t.client.get(url, params={"key": key.decode(), "offset": batch.kafka_offset,
                                                     "window": 1000, "limit": 1000})).json()
        assert late_offset in [r["offset"] for r in unbounded["records"]]  # found without a time bound

        bounded = (await t.client.get(url, params={"key": key.decode(), "offset": batch.kafka_offset,
                                                   "window": 1000, "limit": 1000, "until": until})).json()
        assert all(r["timestamp"] <= until for r in bounded["records"]), bounded["records"]
        assert late_offset not in [r["offset"] for r in bounded["records"]]
        # every record with this key at or before `until`, from the batches the search went through
        expected = []
        offset = batch.kafka_offset
        while offset < bounded["scanned"]["to"]:
            result = await t.reader.read(topic, partition, offset, 1 << 20)
            for b in result.batches:
                if b.kafka_offset >= bounded["scanned"]["to"]:
                    break
                if not b.header.is_control:
                    expected += [o for o, ts, k in record_times(b) if k == key and ts <= until and
                                 o >= batch.kafka_offset]
            offset = result.next_offset or view.high_watermark
        assert [r["offset"] for r in bounded["records"]] == expected
        assert bounded.get("stopped_at_timestamp") == until and bounded["next_offset"] == bounded["scanned"]["to"]


def test_timestamps_as_typed() -> None:
    ms = 1_767_225_605_000  # 2026-01-01T00:00:05Z
    for text in ("1767225605000", "2026-01-01T00:00:05Z", "2026-01-01T00:00:05+00:00", "2026-01-01T00:00:05",
                 "2026-01-01T01:00:05+01:00", "2026-01-01T01:00:05 01:00", "2026-01-01T01:00:05 0100",
                 " 2026-01-01T00:00:05.000Z ", "2026-01-01 00:00:05", "2026-01-01 01:00:05 01:00",
                 "2026-01-01T01:00:05.000 01:00"):
        assert parse_timestamp(text, "timestamp") == ms, text
    assert parse_timestamp("2025-12-31T23:00:05-01:00", "timestamp") == ms
    assert parse_timestamp("2026-01-01 10", "timestamp") == ms - 5000 + 10 * 3_600_000  # a date and an hour


async def test_an_unencoded_plus_in_the_query_string(seeded: Seeded, tmp_path: Path) -> None:
    """``?timestamp=2026-01-01T01:00:05+01:00`` typed into a browser's address bar: the ``+`` arrives as a space."""
    async with open_app(seeded, tmp_path) as t:
        url = "/topics/payments/partitions/1/records"
        typed = await t.client.get(url + "?timestamp=2026-01-01T01:00:05+01:00&limit=2")
        assert typed.status_code == 200, typed.text
        utc = (await t.client.get(url, params={"timestamp": "2026-01-01T00:00:05Z", "limit": 2})).json()
        assert typed.json()["records"] == utc["records"] and utc["records"]


async def test_catalog_figures_add_up(seeded: Seeded, tmp_path: Path) -> None:
    """Topic totals are their partitions' sums; segments tile each partition's Kafka offsets and their time
    ranges are ordered, matching the partition's own figures."""
    async with open_app(seeded, tmp_path) as t:
        for topic in (await t.client.get("/topics")).json()["topics"]:
            one = (await t.client.get(f"/topics/{topic['name']}")).json()
            assert one["size_bytes"] == sum(p["size_bytes"] for p in one["partitions"]) > 0
            assert one["segments"] == sum(p["segments"] for p in one["partitions"])
            for p in one["partitions"]:
                base = f"/topics/{topic['name']}/partitions/{p['partition']}"
                part = (await t.client.get(base)).json()
                segs = (await t.client.get(base + "/segments")).json()["segments"]
                assert part["segments"] == len(segs) == p["segments"]
                assert part["size_bytes"] == sum(s["size_bytes"] for s in segs)
                assert segs[0]["kafka_start_offset"] == part["log_start_offset"]
                assert segs[-1]["kafka_next_offset"] == part["high_watermark"]
                for a, b in itertools.pairwise(segs):
                    assert a["kafka_next_offset"] == b["kafka_start_offset"]
                    assert a["base_offset"] < b["base_offset"] and a["committed_offset"] < b["base_offset"]
                    assert a["base_timestamp"] <= b["base_timestamp"]
                assert part["first_timestamp"] == segs[0]["base_timestamp"]
                assert part["last_timestamp"] == max(s["max_timestamp"] for s in segs)
