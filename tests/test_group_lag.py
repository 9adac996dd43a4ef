"""Consumer-group lag as a DR operator reads it: `run` over a replica whose bucket carries Redpanda's offsets
snapshots (seeded groups, one clamped), plus a kafka-python consumer that commits through the shim.

Expected values come from the independent oracle (`tests/bucket_oracle.py`: high watermarks and every
record's timestamp from kafka-python's batch reader) and the seed's documented groups, never from the
service: lag in offsets = high watermark - committed; lag in time = newest record's timestamp - timestamp of
the record at the committed offset."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition

from app.config import S3Side
from tests.bucket_oracle import OraclePartition, read_bucket_s3
from tests.http_fixtures import running
from tests.kafka_support import free_port, new_bucket, run_cli, seed

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

PARTITIONS = 2


@pytest.fixture(scope="module")
def replica(s3_server: str) -> Iterator[S3Side]:
    source, dest = new_bucket(s3_server, "us-east-1"), new_bucket(s3_server)
    seed(source, topics=2, partitions=PARTITIONS, size="512KiB", segment_size="64KiB", groups=True)
    done = run_cli(source, ["sync", "--source", str(source.url), "--source-region", source.region,
                            "--dest", str(dest.url), "--dest-region", dest.region, "--once", "--no-progress"])
    assert done.returncode == 0, done.stderr[-2000:]
    yield dest


@pytest.fixture(scope="module")
def truth(replica: S3Side) -> dict[tuple[str, int], OraclePartition]:
    return {(t, p): part for (_, t, p), part in read_bucket_s3(replica.endpoint_url or "", replica.url.bucket,
                                                                replica.region).items()}


def expected_lag(part: OraclePartition, committed: int) -> tuple[int, float]:
    """(offsets, seconds) by the definition, from the oracle's records."""
    hwm = part.high_watermark
    if committed >= hwm:
        return 0, 0.0
    newest = max(r.timestamp for r in part.records)
    at = next(r.timestamp for r in part.records if r.offset >= committed)
    return hwm - committed, max(newest - at, 0) / 1000


def _config(tmp_path: Path, replica: S3Side, kafka_port: int) -> Path:
    config = tmp_path / "shadowreplica.toml"
    config.write_text(f"""
[run]
dest = "{replica.url}"

[dest]
endpoint_url = "{replica.endpoint_url}"
region = "{replica.region}"

[kafka]
listen = "127.0.0.1:{kafka_port}"

[http]
listen = "127.0.0.1:0"
group_lag_interval = 0.3

[cache]
directory = "{tmp_path / 'cache'}"
manifest_refresh_interval = 0.3
""")
    return config


async def test_groups_routes_and_metrics_show_lag_from_every_source(
        replica: S3Side, truth: dict[tuple[str, int], OraclePartition], tmp_path: Path) -> None:
    kafka_port = free_port()
    config = _config(tmp_path, replica, kafka_port)
    async with running("--config", str(config), "run") as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        # the seeded groups (app/tools/seed_cluster.py): dashboard at half of orders, billing at
        # payments' end, laggard beyond orders/0's end (clamped to it); their source is the bucket snapshot
        deadline = time.monotonic() + 30  # the Kafka face seeds them from the snapshot as it starts
        while True:
            listed = (await client.get("/groups")).json()["groups"]
            if len(listed) >= 3 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        by_name = {g["group"]: g for g in listed}
        assert set(by_name) >= {"dashboard", "billing", "laggard"}, listed
        dashboard = (await client.get("/groups/dashboard")).json()
        assert dashboard["state"] == "Empty" and dashboard["members"] == []
        rows = {(p["topic"], p["partition"]): p for p in dashboard["partitions"]}
        assert set(rows) == {("orders", p) for p in range(PARTITIONS)}
        for (topic, p), row in rows.items():
            part = truth[(topic, p)]
            committed = part.high_watermark // 2
            offsets, seconds = expected_lag(part, committed)
            assert row["source"] == "bucket"
            assert (row["committed_offset"], row["high_watermark"], row["lag_offsets"]) == (
                committed, part.high_watermark, offsets)
            assert row["lag_seconds"] == pytest.approx(seconds, abs=0.001)
            assert offsets > 0 and seconds > 0
        assert dashboard["lag_offsets"] == sum(r["lag_offsets"] for r in rows.values())
        for group in ("billing", "laggard"):  # at the end (laggard clamped there): no lag
            assert by_name[group]["lag_offsets"] == 0 and by_name[group]["lag_seconds"] == 0.0, by_name[group]

        # a consumer commits through the shim: source "commit", lag from its committed offset
        part = truth[("payments", 1)]
        target = min(7, part.high_watermark - 1)
        consumer = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{kafka_port}", group_id="reporting",
                                 enable_auto_commit=False, auto_offset_reset="earliest", consumer_timeout_ms=8000)
        try:
            tp = TopicPartition("payments", 1)
            consumer.assign([tp])
            for m in consumer:
                if m.offset + 1 >= target:
                    break
            consumer.commit({tp: __import__("kafka").OffsetAndMetadata(target, "", -1)})
        finally:
            consumer.close()
        reporting = (await client.get("/groups/reporting")).json()
        (row,) = reporting["partitions"]
        offsets, seconds = expected_lag(part, target)
        assert (row["topic"], row["partition"], row["committed_offset"], row["source"]) == ("payments", 1, target,
                                                                                            "commit")
        assert row["lag_offsets"] == offsets and row["lag_seconds"] == pytest.approx(seconds, abs=0.001)

        # Prometheus: one series per (group, topic, partition), same values
        deadline = time.monotonic() + 20
        while True:
            text = (await client.get("/metrics")).text
            got = re.search(r'shadowreplica_group_lag_offsets\{group="reporting",partition="1",topic="payments"\} '
                            r'(\S+)', text)
            if got is not None or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert got is not None, [line for line in text.splitlines() if "group_lag" in line][:20]
        assert float(got.group(1)) == offsets
        for p in range(PARTITIONS):
            want = expected_lag(truth[("orders", p)], truth[("orders", p)].high_watermark // 2)
            m = re.search(rf'shadowreplica_group_lag_seconds\{{group="dashboard",partition="{p}",topic="orders"\}} '
                          r'(\S+)', text)
            assert m is not None and float(m.group(1)) == pytest.approx(want[1], abs=0.001)
        history = (await client.get("/groups/reporting")).json()["history"]
        assert history["series"] and history["series"][0]["points"][-1][1] == offsets

        # bad input: a group with no offsets is a 404 in the error shape; an over-long name a 422
        missing = await client.get("/groups/nobody-here")
        assert missing.status_code == 404 and missing.json()["error"] == "NotFound"
        assert "nobody-here" in missing.json()["message"]
        too_long = await client.get("/groups/" + "x" * 300)
        assert too_long.status_code == 422

        await _page_shows_the_groups(url, tmp_path, truth)


async def _page_shows_the_groups(url: str, tmp_path: Path, truth: dict[tuple[str, int], OraclePartition]) -> None:
    """The page's "Consumer groups" view in Debian's Chromium: the groups table, then one group's partitions
    with the lag the oracle gives, and its lag-over-time chart."""
    import os

    from playwright.async_api import async_playwright, expect

    from tests.browser_support import CHROMIUM_FLAGS, OUTPUT, ensure_chromium

    chromium = ensure_chromium()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_FLAGS,
                                           env={**os.environ, "HOME": str(tmp_path)})
        page = await browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            await page.goto(url + "/#/groups")
            await expect(page.locator("#groups-table")).to_contain_text("dashboard")
            await page.click("#groups-table a:text-is('dashboard')")
            await expect(page.locator("#group-detail h2").first).to_contain_text("dashboard:")
            await expect(page.locator("#group-partitions tbody tr")).to_have_count(PARTITIONS)
            table = await page.eval_on_selector_all(  # one read of the rendered rows (the view refreshes)
                "#group-partitions tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
            assert len(table) == PARTITIONS
            for cells in table:
                topic, partition = cells[0].split(" / ")
                part = truth[(topic, int(partition))]
                committed = part.high_watermark // 2
                offsets, _seconds = expected_lag(part, committed)
                assert topic == "orders" and [c.replace(",", "") for c in cells[1:4]] == [
                    str(committed), str(part.high_watermark), str(offsets)] and cells[5] == "bucket", cells
            await expect(page.locator("#group-chart svg")).to_be_visible()
            OUTPUT.mkdir(exist_ok=True)
            await page.screenshot(path=str(OUTPUT / "group_lag_view.png"), full_page=True)
            assert errors == []
        finally:
            await browser.close()
