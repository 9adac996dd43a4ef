"""Iceberg export and SQL benchmark, against a real moto S3 server process; baselines measured in the same run.

* **export throughput** (stored segment MiB/s): ``Exporter.export_once`` of a seeded bucket (decode,
  read_committed filtering, Arrow, Parquet/zstd, commits to S3) against the project's own scan+decode rate
  over the same data through the same read path (``PartitionReader.read`` + ``ServedBatch.decode`` of every
  batch, nothing written). Target: ratio >= 0.5. Also shown against the 5 MiB/s per shard that Redpanda
  documents for its Iceberg translation.
* **one-hour query**: ``SELECT ... WHERE redpanda.timestamp`` within one hour, through DuckDB's
  ``iceberg_scan`` with S3 traffic going through the counting proxy (``localstack.faultproxy``, no faults):
  Parquet files fetched against the number of files in that hour's partition (from a listing of the
  warehouse), and its latency against a full scan of the table (same engine, same proxy).

``BENCH_LAKE_MIB`` (default 32) sizes the bucket (1 topic, 4 partitions, 1 MiB segments, about two days of
records); ``BENCH_LAKE_COMMIT_MIB`` sets ``ExportSettings.commit_bytes`` (default: the setting's default);
``BENCH_LAKE_ROUNDS`` (default 3): baseline and export alternate, each figure the best of that many runs.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import statistics
import tempfile
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

from app.config import CacheSettings, ExportSettings, S3Side, SqlSettings, s3_side
from app.lake.export import Exporter
from app.lake.options import LakeOptions, open_lake
from app.lake.sql import SqlEngine
from app.lake.warehouse import Warehouse
from app.metrics import Metrics
from app.readpath import open_read_path
from app.tools.seed import seed_bucket
from app.tools.seedgen import BASE_TIMESTAMP, SeedSpec
from localstack.faultproxy import FaultProxy
from localstack.s3server import start_s3_server

MiB = 1024 * 1024
ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
BUCKET = "lakebench"
REDPANDA_MIB_PER_SHARD = 5.0
ROUNDS = int(os.environ.get("BENCH_LAKE_ROUNDS", "3"))  # Redpanda docs: Iceberg translation throughput per shard


async def scan_and_decode(side: S3Side, cache_dir: Path) -> tuple[int, int, float]:
    """Baseline: every batch of every partition read and decoded through the read path (stored bytes, records, s)."""
    cache = CacheSettings(directory=cache_dir)
    async with open_read_path(side, cache, metrics=Metrics()) as replica:
        assert replica.reader is not None
        reader = replica.reader
        started = time.perf_counter()
        stored = records = 0

        async def one(topic: str, partition: int) -> None:
            nonlocal stored, records
            view = replica.catalog.partition(topic, partition)
            offset = view.log_start_offset
            while offset < view.high_watermark:
                got = await reader.read(topic, partition, offset, 4 * MiB)
                if not got.batches:
                    break
                for b in got.batches:
                    stored += b.size
                    records += len(b.decode())
                assert got.next_offset is not None
                offset = got.next_offset

        await asyncio.gather(*(one(p.topic, p.partition) for p in replica.catalog.partitions()))
        return stored, records, time.perf_counter() - started


async def export(side: S3Side, lake: Warehouse, cache_dir: Path, catalog_file: Path) -> tuple[int, int, float, str]:
    cache = CacheSettings(directory=cache_dir)
    async with open_read_path(side, cache, metrics=Metrics()) as replica:
        assert replica.reader is not None
        catalog = await open_lake(LakeOptions(lake, None, {}, catalog_file))
        commit_mib = os.environ.get("BENCH_LAKE_COMMIT_MIB")
        settings = ExportSettings(commit_bytes=int(commit_mib) * MiB) if commit_mib else ExportSettings()
        exporter = Exporter(replica.catalog, replica.reader, catalog, lake, source=str(side.url), settings=settings)
        started = time.perf_counter()
        (result,) = await exporter.export_once()
        elapsed = time.perf_counter() - started
        return exporter.metrics.bytes["orders"], result.records, elapsed, result.metadata_location


def main() -> None:
    size_mib = int(os.environ.get("BENCH_LAKE_MIB", "32"))
    work = Path(tempfile.mkdtemp(prefix="bench-lake-", dir=os.environ.get("BENCH_TMP")))
    os.environ.update(ENV)
    with start_s3_server(port=0, buckets=[(BUCKET, "eu-west-1")]) as s3:
        side = s3_side(f"s3://{BUCKET}", side="dest", environ=ENV, region="eu-west-1", endpoint_url=s3.endpoint)
        # records over about two days whatever the size (a stored batch is ~15 KB: 32-64 records of ~512 B)
        batches_per_partition = max(1, size_mib * MiB // 4 // 15_000)
        gap = 48 * 3600 * 1000 // batches_per_partition
        spec = SeedSpec(topics=1, partitions=4, total_bytes=size_mib * MiB, segment_bytes=1 * MiB,
                        batch_gap_ms=gap)
        asyncio.run(seed_bucket(side, spec, progress=False))
        # each figure the best of ROUNDS runs, alternating (moto and this machine's load move single runs by
        # +-30%); every export run writes fresh tables under its own warehouse prefix
        base_s = exp_s = float("inf")
        for i in range(ROUNDS):
            lake = Warehouse(s3_side(f"s3://{BUCKET}/lake{i}", side="dest", environ=ENV, region="eu-west-1",
                                     endpoint_url=s3.endpoint))
            base_bytes, base_records, seconds = asyncio.run(scan_and_decode(side, work / f"cache-scan{i}"))
            base_s = min(base_s, seconds)
            exp_bytes, exp_records, seconds, metadata_location = asyncio.run(
                export(side, lake, work / f"cache-export{i}", work / f"catalog{i}.db"))
            exp_s = min(exp_s, seconds)
        base_rate = base_bytes / MiB / base_s
        exp_rate = exp_bytes / MiB / exp_s
        print(f"data: {base_bytes / MiB:.1f} MiB stored in 4 partitions, {base_records} records decoded; "
              f"{exp_records} exported (read_committed)")
        print(f"scan+decode (baseline): {base_rate:6.1f} MiB/s  ({base_s:.2f} s, best of {ROUNDS})")
        print(f"export:                 {exp_rate:6.1f} MiB/s  ({exp_s:.2f} s, best of {ROUNDS})  ratio {exp_rate / base_rate:.2f} "
              f"(target >= 0.5)  vs Redpanda's {REDPANDA_MIB_PER_SHARD:g} MiB/s per shard: "
              f"{exp_rate / REDPANDA_MIB_PER_SHARD:.1f}x")
        asyncio.run(query_bench(side, lake, metadata_location))


def _files_in_hour(lake: Warehouse, hour: datetime.datetime) -> list[str]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=lake.side.endpoint_url, region_name=lake.side.region)
    prefix = f"{lake.url.prefix}/redpanda/orders/data/redpanda_timestamp_hour={hour:%Y-%m-%d-%H}/"
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=lake.url.bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".parquet")]


class CountingProxy(FaultProxy):
    """The counting proxy (no faults) that also adds up response body bytes per object key."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.body_bytes: Counter[str] = Counter()

    async def _forward(self, method: str, target: str, headers: list[str], body: bytes) -> tuple[str, list[str], bytes]:
        status, resp_headers, resp_body = await super()._forward(method, target, headers, body)
        if method == "GET":
            self.body_bytes[urllib.parse.unquote(target.split("?", 1)[0])] += len(resp_body)
        return status, resp_headers, resp_body

    def parquet(self) -> tuple[set[str], int]:
        files = {k for k in self.body_bytes if k.endswith(".parquet")}
        return files, sum(self.body_bytes[k] for k in files)


async def query_bench(side: S3Side, lake: Warehouse, metadata_location: str) -> None:
    assert side.endpoint_url is not None
    host, _, port = side.endpoint_url.split("://", 1)[1].rpartition(":")
    proxy = CountingProxy(host, int(port))
    await proxy.start()
    try:
        via_proxy = Warehouse(s3_side(str(lake.url), side="dest", environ=ENV, region="eu-west-1",
                                      endpoint_url=proxy.endpoint))
        engine = SqlEngine(via_proxy, {("redpanda", "orders"): metadata_location}, SqlSettings(timeout=600))
        hour = datetime.datetime.fromtimestamp(BASE_TIMESTAMP / 1000, datetime.UTC).replace(tzinfo=None) \
            + datetime.timedelta(hours=5)
        end = hour + datetime.timedelta(hours=1)
        in_hour = {f"/{lake.url.bucket}/{k}" for k in _files_in_hour(lake, hour)}
        one_hour = (f"SELECT count(*), sum(octet_length(value)) FROM orders WHERE redpanda.timestamp >= '{hour}' "
                    f"AND redpanda.timestamp < '{end}'")
        full = "SELECT count(*), sum(octet_length(value)) FROM orders"

        async def duckdb(sql: str) -> tuple[float, Any, set[str], int]:
            proxy.body_bytes.clear()
            t = time.perf_counter()
            rows = (await engine.run(sql)).rows
            elapsed = time.perf_counter() - t
            return (elapsed, rows[0], *proxy.parquet())

        def pyiceberg_scan(row_filter: Any) -> tuple[float, int, set[str], int]:
            from pyiceberg.table import StaticTable

            proxy.body_bytes.clear()
            t = time.perf_counter()
            table = StaticTable.from_metadata(metadata_location.replace(str(lake.url), str(via_proxy.url)),
                                              properties=via_proxy.fileio_properties())
            rows = table.scan(row_filter=row_filter, selected_fields=("value",)).to_arrow().num_rows
            return (time.perf_counter() - t, rows, *proxy.parquet())

        from pyiceberg.expressions import AlwaysTrue, And, GreaterThanOrEqual, LessThan

        hour_filter = And(GreaterThanOrEqual("redpanda.timestamp", hour.isoformat()),
                          LessThan("redpanda.timestamp", end.isoformat()))
        d_hour = [await duckdb(one_hour) for _ in range(3)]
        d_full = [await duckdb(full) for _ in range(3)]
        p_hour = [await asyncio.to_thread(pyiceberg_scan, hour_filter) for _ in range(3)]
        p_full = [await asyncio.to_thread(pyiceberg_scan, AlwaysTrue()) for _ in range(3)]
        n_files = len(d_full[0][2])
        print(f"one-hour query ({hour:%Y-%m-%d %H}:00-{end:%H}:00, {d_hour[0][1][0]} of {d_full[0][1][0]} records; "
              f"that hour's partition has {len(in_hour)} of the table's {n_files} Parquet files):")
        for name, h, f in (("DuckDB (sql, pruned)", d_hour, d_full), ("pyiceberg scan", p_hour, p_full)):
            files, nbytes = h[0][2], h[0][3]
            only = files <= in_hour
            h_s = statistics.median(r[0] for r in h)
            f_s = statistics.median(r[0] for r in f)
            print(f"  {name:20s} files fetched {len(files):3d} (only that hour's: {only}), Parquet bytes "
                  f"{nbytes / 1024:8.1f} KiB vs full scan {f[0][3] / 1024:8.1f} KiB ({nbytes / max(1, f[0][3]):.3f}); "
                  f"latency {h_s * 1000:5.0f} ms vs full scan {f_s * 1000:5.0f} ms ({h_s / f_s:.2f})")
        if p_hour[0][1] != d_hour[0][1][0]:
            raise AssertionError(f"pyiceberg counted {p_hour[0][1]} records in the hour, DuckDB {d_hour[0][1][0]}")
    finally:
        await proxy.close()
