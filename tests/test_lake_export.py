"""`export`: Iceberg tables from a seeded bucket on a real S3 server process, checked against the world.

Expected rows come from an independent decode (``tests/lake_support.py``: boto3 + struct + kafka-python);
tables are read back with pyiceberg's scan and DuckDB's ``iceberg_scan``; the schema and spec are checked
in the raw metadata JSON and the Parquet footers, not through our own model.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from app.config import CacheSettings, ExportSettings, S3Side, SqlSettings
from app.lake.export import Exporter, TableResult, progress_from_summary
from app.lake.options import LakeOptions, open_lake, topic_filter
from app.lake.sql import SqlEngine
from app.lake.warehouse import LakeError, Warehouse, open_catalog
from app.metrics import Metrics
from app.readpath import open_read_path
from tests.bucket_oracle import read_bucket_s3
from tests.conftest import BucketPair, Fault, make_side
from tests.lake_support import (
    SEGMENT,
    SPEC,
    Expected,
    expected_for,
    expected_records,
    export,
    list_keys,
    s3_client,
    seed_sync,
    segment_terms,
    table_rows,
    warehouse_side,
)

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, `make test-fast` does not

TOPICS = ("orders", "payments", "clickstream", "sensor-readings")
def lake_catalog(side: S3Side, tmp: Path, name: str = "catalog.db") -> Any:
    return open_catalog(Warehouse(warehouse_side(side)), uri=None, catalog_file=tmp / name)


def assert_table_equals(side: S3Side, tmp: Path, expected: Expected, topics: tuple[str, ...] = TOPICS) -> int:
    """pyiceberg scan == independent decode for every topic: each (partition, offset) once, rows byte-equal."""
    (tmp / "readback.db").unlink(missing_ok=True)  # a second catalog file, rebuilt from the warehouse each time
    catalog = lake_catalog(side, tmp, "readback.db")
    from app.lake.warehouse import find_tables, register_missing

    register_missing(catalog, asyncio.run(find_tables(Warehouse(warehouse_side(side)))))
    total = 0
    for topic in topics:
        got = table_rows(catalog.load_table(("redpanda", topic)).scan().to_arrow())
        want = {(p, o): row for (t, p), rows in expected.rows.items() if t == topic for o, row in rows.items()}
        assert got.keys() == want.keys(), f"{topic}: missing {sorted(want.keys() - got.keys())[:5]}, " \
                                          f"unexpected {sorted(got.keys() - want.keys())[:5]}"
        for ident, row in want.items():
            assert got[ident] == row, f"{topic} {ident}"
        total += len(got)
    return total


@pytest.fixture
def seeded(buckets: BucketPair) -> tuple[S3Side, Expected]:
    seed_sync(buckets.dest, **SPEC)
    return buckets.dest, expected_for(buckets.dest, **SPEC)


# ------------------------------------------------------------------------------------------- records


def test_export_equals_independent_decode_read_back_by_pyiceberg_and_duckdb(
        seeded: tuple[S3Side, Expected], tmp_path: Path) -> None:
    side, expected = seeded
    # the seed really has what the test is about (else it could not fail)
    assert expected.aborted_records > 0 and expected.control_batches > 0
    assert expected.codecs == {0, 1, 2, 3, 4} and expected.log_append_time_batches > 0
    assert len(segment_terms(side)) >= 3

    # the expected rows (aborts from the segments' .tx ranges) agree with tests/bucket_oracle.py, which applies
    # Kafka's read_committed rule to the control batches in the log instead
    assert side.endpoint_url is not None
    oracle = read_bucket_s3(side.endpoint_url, side.url.bucket, side.region)
    assert {(t, p): {r.offset: (r.key, r.value) for r in part.committed} for (_, t, p), part in oracle.items()} == \
        {tp: {o: (row.key, row.value) for o, row in rows.items()} for tp, rows in expected.rows.items()}
    assert sum(len(part.aborted) for part in oracle.values()) == expected.aborted_records

    results = asyncio.run(export(side, tmp_path, commit_bytes=256 * 1024))
    by_table = {r.table: r for r in results}
    assert sorted(by_table) == sorted(f"redpanda.{t}" for t in TOPICS)
    for topic in TOPICS:
        r = by_table[f"redpanda.{topic}"]
        assert r.error is None
        assert r.records == r.exported == sum(expected.count(topic).values())
        assert r.metadata_location.startswith(f"s3://{side.url.bucket}/lake/redpanda/{topic}/metadata/")
        assert all(p.lag == 0 for p in r.partitions)

    total = assert_table_equals(side, tmp_path, expected)
    assert total == sum(len(rows) for rows in expected.rows.values())

    # DuckDB's own Iceberg reader: counts per partition, distinct offsets, and the bytes of every value/key
    locations = {("redpanda", r.table.split(".", 1)[1]): r.metadata_location for r in results}
    engine = SqlEngine(Warehouse(warehouse_side(side)), locations, SqlSettings(max_rows=100_000, timeout=60))
    for topic in TOPICS:
        res = engine.query(f'SELECT redpanda.partition, count(*), count(DISTINCT redpanda.offset) FROM "{topic}" '
                           f"GROUP BY 1 ORDER BY 1")
        assert {p: (n, d) for p, n, d in res.rows} == {p: (n, n) for p, n in expected.count(topic).items()}
        res = engine.query(f'SELECT redpanda.partition, redpanda.offset, redpanda.key, value, '
                           f'epoch_ms(redpanda.timestamp) FROM redpanda."{topic}"')
        for p, o, key, value, ts in res.rows:
            want = expected.rows[(topic, p)][o]
            assert (key, value, ts) == (want.key, want.value, want.timestamp_ms)


def test_schema_and_partition_spec_field_ids_in_the_metadata_and_parquet_files(
        seeded: tuple[S3Side, Expected], tmp_path: Path) -> None:
    side, _ = seeded
    (result,) = [r for r in asyncio.run(export(side, tmp_path)) if r.table == "redpanda.orders"]
    s3 = s3_client(side)
    key = result.metadata_location.split(f"s3://{side.url.bucket}/", 1)[1]
    meta = json.loads(s3.get_object(Bucket=side.url.bucket, Key=key)["Body"].read())
    assert meta["format-version"] == 2
    (schema,) = meta["schemas"]
    # exactly src/v/datalake/table_definition.cc + record_translator.cc (key_value mode)
    assert schema == {
        "type": "struct", "schema-id": 0, "identifier-field-ids": [],
        "fields": [
            {"id": 1, "name": "redpanda", "required": True, "type": {"type": "struct", "fields": [
                {"id": 2, "name": "partition", "required": True, "type": "int"},
                {"id": 3, "name": "offset", "required": True, "type": "long"},
                {"id": 4, "name": "timestamp", "required": True, "type": "timestamp"},
                {"id": 5, "name": "headers", "required": False, "type": {
                    "type": "list", "element-id": 6, "element-required": True, "element": {
                        "type": "struct", "fields": [
                            {"id": 7, "name": "key", "required": False, "type": "binary"},
                            {"id": 8, "name": "value", "required": False, "type": "binary"}]}}},
                {"id": 9, "name": "key", "required": False, "type": "binary"}]}},
            {"id": 10, "name": "value", "required": False, "type": "binary"}]}
    assert meta["partition-specs"] == [{"spec-id": 0, "fields": [
        {"source-id": 4, "field-id": 1000, "transform": "hour", "name": "redpanda_timestamp_hour"}]}]
    assert meta["last-column-id"] == 10 and meta["last-partition-id"] == 1000
    assert meta["properties"]["write.parquet.compression-codec"] == "zstd"
    summary = meta["snapshots"][-1]["summary"]
    assert progress_from_summary(summary) == {p.partition: p.high_watermark for p in result.partitions}

    data_keys = [k for k in list_keys(side, "lake/redpanda/orders/data/") if k.endswith(".parquet")]
    assert len(data_keys) > 1  # one file per hour at least
    for k in data_keys:
        body = s3.get_object(Bucket=side.url.bucket, Key=k)["Body"].read()
        path = tmp_path / "f.parquet"
        path.write_bytes(body)
        f = pq.ParquetFile(path)
        assert {f.metadata.row_group(0).column(i).compression for i in range(f.metadata.num_columns)} == {"ZSTD"}
        arrow = f.schema_arrow
        ids = {arrow.field("value").metadata[b"PARQUET:field_id"]}
        rp = arrow.field("redpanda")
        ids |= {rp.metadata[b"PARQUET:field_id"]} | {rp.type.field(i).metadata[b"PARQUET:field_id"]
                                                      for i in range(rp.type.num_fields)}
        assert ids == {b"10", b"1", b"2", b"3", b"4", b"5", b"9"}
        hour = k.split("/redpanda_timestamp_hour=", 1)[1].split("/", 1)[0]  # e.g. 2026-01-01-02
        stamps = f.read().column("redpanda").combine_chunks().field("timestamp").to_pylist()
        assert {t.strftime("%Y-%m-%d-%H") for t in stamps} == {hour}  # the file holds exactly its hour


# ------------------------------------------------------------------------------------- incremental


def test_incremental_runs_and_catalog_rebuilt_from_the_warehouse(
        seeded: tuple[S3Side, Expected], tmp_path: Path) -> None:
    side, _ = seeded
    first = {r.table: r for r in asyncio.run(export(side, tmp_path))}
    again = {r.table: r for r in asyncio.run(export(side, tmp_path))}
    for name, r in again.items():  # nothing new: no commit, same snapshot
        assert (r.exported, r.commits, r.snapshot_id) == (0, 0, first[name].snapshot_id)
    (tmp_path / "catalog.db").unlink()  # the embedded catalog is a cache: rebuilt from the warehouse
    rebuilt = {r.table: r for r in asyncio.run(export(side, tmp_path))}
    for name, r in rebuilt.items():
        assert (r.exported, r.snapshot_id, r.metadata_location) == (0, first[name].snapshot_id,
                                                                    first[name].metadata_location)
    seed_sync(side, **{**SPEC, "total_bytes": 8 * 48 * 1024}, append=True)  # a new term of segments
    grown = {r.table: r for r in asyncio.run(export(side, tmp_path))}
    expected = expected_records(side)
    for topic in TOPICS:
        r = grown[f"redpanda.{topic}"]
        assert r.exported == sum(expected.count(topic).values()) - first[r.table].records > 0
    assert_table_equals(side, tmp_path, expected)


async def test_follow_exports_segments_appended_to_the_replica(seeded: tuple[S3Side, Expected],
                                                                tmp_path: Path) -> None:
    side, _ = seeded
    wh = Warehouse(warehouse_side(side))
    cache = CacheSettings(directory=tmp_path / "cache", manifest_refresh_interval=0.2)
    async with open_read_path(side, cache, metrics=Metrics()) as replica:
        assert replica.reader is not None
        lake = await open_lake(LakeOptions(wh, None, {}, tmp_path / "catalog.db"))
        exporter = Exporter(replica.catalog, replica.reader, lake, wh, source=str(side.url),
                            settings=ExportSettings(follow_interval=30.0, commit_interval=0.5),
                            topics=lambda t: t == "orders")
        rounds: list[list[TableResult]] = []
        stop = asyncio.Event()
        task = asyncio.create_task(exporter.follow(stop, on_round=rounds.append))
        while not rounds:
            await asyncio.sleep(0.05)
        before = rounds[-1][0].records
        await asyncio.to_thread(seed_sync, side, **{**SPEC, "total_bytes": 8 * 48 * 1024}, append=True)
        want = sum((await asyncio.to_thread(expected_records, side)).count("orders").values())
        deadline = time.monotonic() + 20  # well under follow_interval: the manifest change drives it
        while rounds[-1][0].records != want and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 10)
    assert want > before and rounds[-1][0].records == want
    assert exporter.metrics.lag[("orders", 0)] == 0 and exporter.metrics.records["orders"] == want
    await asyncio.to_thread(assert_table_equals, side, tmp_path, await asyncio.to_thread(expected_records, side),
                            ("orders",))


def _cli(*args: str, endpoint: str) -> list[str]:
    return [str(Path(sys.executable).parent / "shadowreplica"), *args, "--endpoint-url", endpoint]


def test_kill_9_during_export_then_resume(seeded: tuple[S3Side, Expected], tmp_path: Path) -> None:
    side, expected = seeded
    assert side.endpoint_url is not None
    cmd = _cli("export", "--bucket", str(side.url), "--warehouse", f"{side.url}/lake", "--topics", "orders",
               "--catalog-file", str(tmp_path / "catalog.db"), "--cache-dir", str(tmp_path / "cache"),
               "--commit-bytes", "4KiB", "--json", endpoint=side.endpoint_url)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    commits = 0
    while time.monotonic() < deadline and proc.poll() is None:
        commits = len([k for k in list_keys(side, "lake/redpanda/orders/metadata/") if k.endswith(".metadata.json")])
        if commits >= 4:  # a few commits in: kill it mid-way
            break
        time.sleep(0.05)
    assert proc.poll() is None, "export finished before it could be killed: make commits smaller"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the table as the kill left it: consistent (rows == what its progress says), and not complete
    table = lake_catalog(side, tmp_path).load_table(("redpanda", "orders"))
    progress = progress_from_summary(table.current_snapshot().summary.additional_properties)
    partial = table_rows(table.scan().to_arrow())
    want_partial = {(p, o) for (t, p), rows in expected.rows.items() if t == "orders"
                    for o in rows if o < progress.get(p, 0)}
    assert set(partial) == want_partial
    assert 0 < len(partial) < sum(expected.count("orders").values())

    resume = [a for a in cmd if a not in ("--commit-bytes", "4KiB")]  # resume in one commit
    done = subprocess.run(resume, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (report,) = json.loads(done.stdout)["tables"]
    assert report["exported"] == sum(expected.count("orders").values()) - len(partial)
    assert_table_equals(side, tmp_path, expected, ("orders",))


@pytest.mark.parametrize("orphan_uuid", ["00000000-0000-0000-0000-000000000000",
                                         "ffffffff-ffff-ffff-ffff-ffffffffffff"])
def test_a_killed_writers_orphan_metadata_never_hides_the_commit_after_it(
        seeded: tuple[S3Side, Expected], tmp_path: Path, orphan_uuid: str) -> None:
    """A writer killed after writing metadata file N but before its catalog pointed at it leaves an orphan N;
    the next run commits its own N from the same parent. Rebuilding the catalog from the warehouse (a new
    machine, a wiped cache) must find the later commit, whichever of the two lists first."""
    side, expected = seeded
    (result,) = [r for r in asyncio.run(export(side, tmp_path, topics="orders", commit_bytes=4096))
                 if r.table == "redpanda.orders"]
    s3, bucket = s3_client(side), side.url.bucket
    committed = result.metadata_location.split(f"s3://{bucket}/", 1)[1]
    version = int(committed.rsplit("/", 1)[1].split("-", 1)[0])
    assert version >= 3
    # the orphan: what the killed writer staged from the parent before the committed file was written
    # (a real metadata file of an earlier state, written earlier), under the committed file's version
    parent = json.loads(s3.get_object(Bucket=bucket, Key=committed)["Body"].read())["metadata-log"][-2]
    earlier = s3.get_object(Bucket=bucket, Key=parent["metadata-file"].split(f"s3://{bucket}/", 1)[1])
    orphan = f"{committed.rsplit('/', 1)[0]}/{version:05d}-{orphan_uuid}.metadata.json"
    s3.put_object(Bucket=bucket, Key=orphan, Body=earlier["Body"].read())

    assert_table_equals(side, tmp_path, expected, ("orders",))


# --------------------------------------------------------------------------------------- bad input


def test_corrupt_segment_stops_that_partition_only(seeded: tuple[S3Side, Expected], tmp_path: Path) -> None:
    side, expected = seeded
    s3 = s3_client(side)
    segs = sorted((int(m["base"]), k) for k in list_keys(side)
                  if (m := SEGMENT.match(k)) and m["topic"] == "orders" and m["p"] == "0")
    victim = segs[1][1]
    body = bytearray(s3.get_object(Bucket=side.url.bucket, Key=victim)["Body"].read())
    damage_at = len(body) // 2
    body[damage_at: damage_at + 64] = b"\xff" * 64
    s3.put_object(Bucket=side.url.bucket, Key=victim, Body=bytes(body))

    (orders,) = [r for r in asyncio.run(export(side, tmp_path)) if r.table == "redpanda.orders"]
    p0, p1 = orders.partitions
    assert p0.error is not None and p0.error["key"] == victim and p0.error["position"] is not None
    assert p0.error["position"] <= damage_at + 64 and p0.lag > 0
    assert p1.error is None and p1.lag == 0
    assert orders.error and "partition 0" in orders.error
    got = table_rows(lake_catalog(side, tmp_path).load_table(("redpanda", "orders")).scan().to_arrow())
    assert {o for p, o in got if p == 1} == set(expected.rows[("orders", 1)])
    exported_p0 = {o for p, o in got if p == 0}
    assert exported_p0 == {o for o in expected.rows[("orders", 0)] if o < p0.next_offset}
    assert exported_p0 and p0.next_offset == p0.error["offset"]


def test_refuses_a_table_with_another_schema_and_leaves_it_alone(seeded: tuple[S3Side, Expected],
                                                                  tmp_path: Path) -> None:
    from pyiceberg.io import load_file_io
    from pyiceberg.schema import Schema
    from pyiceberg.serializers import ToOutputFile
    from pyiceberg.types import LongType, NestedField, StringType

    from app.lake.schema import new_table_metadata

    side, _ = seeded
    catalog = lake_catalog(side, tmp_path)
    catalog.create_namespace_if_not_exists("redpanda")
    theirs = catalog.create_table(("redpanda", "orders"), Schema(
        NestedField(1, "id", LongType(), required=True), NestedField(2, "name", StringType())),
        location=f"{Warehouse(warehouse_side(side)).location}/redpanda/orders")
    # Redpanda's exact shape (as Redpanda itself would create it) but not ours: no shadowreplica.source
    location = f"{Warehouse(warehouse_side(side)).location}/redpanda/payments"
    io = load_file_io(Warehouse(warehouse_side(side)).fileio_properties(), location)
    ToOutputFile.table_metadata(new_table_metadata(location), io.new_output(f"{location}/metadata/00000-x.metadata.json"))
    same_shape = catalog.register_table(("redpanda", "payments"), f"{location}/metadata/00000-x.metadata.json")
    before = {t.name(): t.metadata_location for t in (theirs, same_shape)}
    results = {r.table: r for r in asyncio.run(export(side, tmp_path, catalog_file=tmp_path / "catalog.db"))}
    assert (results["redpanda.orders"].error or "").startswith(
        "refusing to write to table redpanda.orders: schema differs from Redpanda's key_value schema")
    assert (results["redpanda.payments"].error or "").startswith(
        "refusing to write to table redpanda.payments: it was not created by shadowreplica export")
    assert results["redpanda.clickstream"].error is None and results["redpanda.clickstream"].records > 0
    for ident, location in before.items():
        table = catalog.load_table(ident)
        assert table.metadata_location == location and table.current_snapshot() is None


def test_a_warehouse_that_is_not_writable_fails_before_any_work(buckets: BucketPair, tmp_path: Path) -> None:
    assert buckets.dest.endpoint_url is not None
    missing = make_side(buckets.dest.endpoint_url, "no-such-bucket-here", "eu-west-1", prefix="lake")
    with pytest.raises(LakeError, match="is not writable"):
        asyncio.run(Warehouse(missing).check_writable())
    done = subprocess.run(_cli("export", "--bucket", str(buckets.dest.url), "--warehouse", "s3://no-such-bucket-here/lake",
                               "--catalog-file", str(tmp_path / "c.db"), endpoint=buckets.dest.endpoint_url),
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: warehouse s3://no-such-bucket-here/lake is not writable")


async def test_a_denied_put_fails_the_write_probe(buckets: BucketPair, s3_fault_proxy: Any) -> None:
    assert buckets.dest.endpoint_url is not None
    proxy = await s3_fault_proxy(buckets.dest.endpoint_url)
    via_proxy = make_side(proxy.endpoint, buckets.dest.url.bucket, buckets.dest.region, prefix="lake", side="dest")
    proxy.faults.append(Fault(method="PUT", target="write-probe", status=403, code="AccessDenied"))
    with pytest.raises(LakeError, match="is not writable"):
        await Warehouse(via_proxy).check_writable()
    assert proxy.faults[0].hits == 1
    proxy.faults.clear()
    await Warehouse(via_proxy).check_writable()


def test_an_interrupted_commit_leaves_the_table_as_it_was(seeded: tuple[S3Side, Expected], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalog fails the second commit (SQLite "database is locked") after its data files were written:
    the table keeps its first snapshot and that snapshot's progress; the next run adds exactly the rest.
    (A process killed at a random point, commits included, is the kill -9 test.)"""
    import sqlalchemy.exc
    from pyiceberg.catalog.sql import SqlCatalog

    side, expected = seeded
    real_commit = SqlCatalog.commit_table
    calls = {"n": 0}

    def flaky_commit(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise sqlalchemy.exc.OperationalError("UPDATE iceberg_tables", {}, Exception("database is locked"))
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(SqlCatalog, "commit_table", flaky_commit)
    (failed,) = asyncio.run(export(side, tmp_path, topics="orders", commit_bytes=16 * 1024))
    assert failed.error is not None and "nothing was committed" in failed.error
    table = lake_catalog(side, tmp_path).load_table(("redpanda", "orders"))
    assert len(table.snapshots()) == 1
    progress = progress_from_summary(table.current_snapshot().summary.additional_properties)
    rows = table_rows(table.scan().to_arrow())
    assert set(rows) == {(p, o) for (t, p), offs in expected.rows.items() if t == "orders"
                         for o in offs if o < progress[p]}
    referenced = {f.file.file_path for f in table.scan().plan_files()}
    written = {f"s3://{side.url.bucket}/{k}" for k in list_keys(side, "lake/redpanda/orders/data/")}
    assert written > referenced  # the failed commit's files exist, and nothing reads them

    monkeypatch.setattr(SqlCatalog, "commit_table", real_commit)
    (done,) = asyncio.run(export(side, tmp_path, topics="orders"))
    assert done.error is None and done.exported == sum(expected.count("orders").values()) - len(rows)
    assert_table_equals(side, tmp_path, expected, ("orders",))


# ------------------------------------------------------------------------------------------ run


async def test_run_with_export_follows_the_replica_and_serves_sql_and_metrics(
        seeded: tuple[S3Side, Expected], tmp_path: Path) -> None:
    import httpx

    from tests.http_fixtures import running

    side, expected = seeded
    config = tmp_path / "shadowreplica.toml"
    config.write_text(f"""
[run]
dest = "{side.url}"
warehouse = "{side.url}/lake"
with = ["export"]
without = ["kafka"]

[dest]
endpoint_url = "{side.endpoint_url}"
region = "{side.region}"

[http]
listen = "127.0.0.1:0"

[cache]
directory = "{tmp_path / 'cache'}"
manifest_refresh_interval = 0.2

[export]
commit_interval = 0.5
""")
    want = {t: sum(expected.count(t).values()) for t in TOPICS}
    async with running("--config", str(config), "run", "--catalog-file", str(tmp_path / "catalog.db")) as url, \
            httpx.AsyncClient(base_url=url, timeout=30) as client:
        q = "SELECT count(*) FROM orders"
        deadline = time.monotonic() + 60
        while True:
            r = await client.get("/sql", params={"q": q})
            if r.status_code == 200 and r.json()["rows"] == [[want["orders"]]]:
                break
            assert time.monotonic() < deadline, r.text
            await asyncio.sleep(0.3)
        await asyncio.to_thread(seed_sync, side, **{**SPEC, "total_bytes": 8 * 48 * 1024}, append=True)
        grown = sum((await asyncio.to_thread(expected_records, side)).count("orders").values())
        while (await client.get("/sql", params={"q": q})).json()["rows"] != [[grown]]:
            assert time.monotonic() < deadline + 30, "export did not follow the appended segments"
            await asyncio.sleep(0.3)
        metrics = (await client.get("/metrics")).text
    assert 'shadowreplica_export_lag_offsets{partition="0",topic="orders"} 0' in metrics
    records = {line.split("{")[1].split('"')[1]: float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("shadowreplica_export_records_total{")}
    assert records["orders"] == grown and records["payments"] >= want["payments"]


def test_export_of_labeled_and_prefixed_topics_with_spillover_manifests(buckets: BucketPair, tmp_path: Path) -> None:
    """Current buckets: labeled topics ({cluster uuid}/...) beside hash-prefixed ones, older segments moved to
    spillover manifests; the export reads them through the catalog like any other."""
    side = buckets.dest
    seed_sync(side, **{**SPEC, "topics": 2, "layout": "mixed", "spillover": 1})
    expected = expected_records(side)
    keys = list_keys(side)
    assert any(k[8] == "-" for k in keys) and any(k[8] == "/" for k in keys)  # both layouts in the bucket
    assert any(re.search(r"/manifest\.bin\.\d+\.", k) for k in keys)  # spillover manifests
    results = asyncio.run(export(side, tmp_path))
    assert [r.error for r in results] == [None, None]
    assert assert_table_equals(side, tmp_path, expected, ("orders", "payments")) == \
        sum(len(rows) for rows in expected.rows.values())


def test_a_catalog_by_uri(seeded: tuple[S3Side, Expected], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--catalog URI`` goes to pyiceberg's ``load_catalog`` (here a SQL catalog by its SQLAlchemy URI; REST and
    Glue catalogs take the same path but need their services); ``sql --catalog`` asks it for the tables."""
    from app.cli import main

    side, expected = seeded
    assert side.endpoint_url is not None
    uri = f"sqlite:///{tmp_path / 'by-uri.db'}"
    wh = Warehouse(warehouse_side(side))

    async def run() -> list[TableResult]:
        cache = CacheSettings(directory=tmp_path / "cache")
        async with open_read_path(side, cache, metrics=Metrics()) as replica:
            assert replica.reader is not None
            lake = await open_lake(LakeOptions(wh, uri, {}, tmp_path / "unused.db"))
            return await Exporter(replica.catalog, replica.reader, lake, wh, source=str(side.url),
                                  topics=topic_filter("orders")).export_once()

    (result,) = asyncio.run(run())
    assert result.records == sum(expected.count("orders").values())
    assert not (tmp_path / "unused.db").exists()
    assert main(["sql", "--warehouse", wh.location, "--warehouse-endpoint-url", side.endpoint_url, "--catalog", uri,
                 "SELECT count(*) FROM orders", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == [[result.records]]


async def test_each_file_is_one_put_and_its_recorded_size_is_true(seeded: tuple[S3Side, Expected],
                                                                  tmp_path: Path) -> None:
    """Through a proxy counting what reaches the S3 server: every file the export writes (Parquet, Avro
    manifests, metadata JSON) is one PutObject, no multipart upload for these small files and no HEAD per data
    file; and the size each data file has in the table's manifests is the stored object's (boto3 HEAD)."""
    import dataclasses

    from localstack.faultproxy import CountingProxy

    side, _ = seeded
    assert side.endpoint_url is not None
    proxy = await CountingProxy.for_endpoint(side.endpoint_url).start()
    try:
        lake_side = dataclasses.replace(warehouse_side(side), endpoint_url=proxy.endpoint)
        results = await export(side, tmp_path, lake_side=lake_side)
    finally:
        await proxy.close()
    assert all(r.error is None for r in results)
    written = [k for k in list_keys(side, "lake/") if k.endswith((".parquet", ".avro", ".metadata.json"))]
    data_files = [k for k in written if k.endswith(".parquet")]
    assert proxy.requests["PutObject"] >= len(written) > len(data_files) > 0
    assert not {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"} & set(proxy.requests)
    assert not [s for s in proxy.seen if s.startswith("HeadObject ") and ".parquet" in s]  # sizes known, not asked
    s3 = s3_client(side)
    catalog = lake_catalog(side, tmp_path)
    checked = 0
    for topic in TOPICS:
        for task in catalog.load_table(("redpanda", topic)).scan().plan_files():
            key = task.file.file_path.split(f"s3://{side.url.bucket}/", 1)[1]
            assert task.file.file_size_in_bytes == s3.head_object(Bucket=side.url.bucket, Key=key)["ContentLength"]
            checked += 1
    assert checked == len(data_files)


def test_progress_over_a_trailing_commit_marker_is_committed(seeded: tuple[S3Side, Expected],
                                                            tmp_path: Path) -> None:
    """A round of records-less batches only (here the commit marker that ends partition 0 of sensor-readings,
    alone in the last round: one batch per partition a round, and a commit after every data round) still
    commits its progress: else the partition shows a lag of 1 for ever and every run reads the marker again."""
    side, expected = seeded
    # each commit also expires every older snapshot (max age 0): else each of its commits costs more than the last
    (result,) = asyncio.run(export(side, tmp_path, topics="sensor-readings", round_bytes=1, commit_bytes=200,
                                   snapshot_max_age=0))
    assert result.error is None and result.exported == sum(expected.count("sensor-readings").values())
    assert [(p.next_offset, p.lag) for p in result.partitions] == [(p.high_watermark, 0) for p in result.partitions]


def _metadata(side: S3Side, location: str) -> dict[str, Any]:
    """A table's metadata JSON as stored (boto3, not pyiceberg)."""
    bucket, _, key = location.removeprefix("s3://").partition("/")
    return json.loads(s3_client(side).get_object(Bucket=bucket, Key=key)["Body"].read())


def test_commits_expire_snapshots_by_the_tables_history_properties(seeded: tuple[S3Side, Expected],
                                                                   tmp_path: Path) -> None:
    """Each commit expires what ``history.expire.*`` lets go: created tables carry the setting's age; a value
    set on the table from elsewhere wins; expired manifest lists and old metadata files are deleted; the
    records stay exactly the independent decode's. Read from the raw metadata JSON and the bucket listing."""
    side, expected = seeded
    small = {"topics": "orders", "commit_bytes": 4096}
    (first,) = asyncio.run(export(side, tmp_path, snapshot_max_age=0, **small))
    assert first.commits > 3 and first.expired == first.commits - 1
    meta = _metadata(side, first.metadata_location)
    assert meta["properties"]["history.expire.max-snapshot-age-ms"] == "0"
    assert meta["properties"]["write.metadata.delete-after-commit.enabled"] == "true"
    assert [s["snapshot-id"] for s in meta["snapshots"]] == [meta["current-snapshot-id"]]
    assert [e["snapshot-id"] for e in meta["snapshot-log"]] == [meta["current-snapshot-id"]]
    lists = [k for k in list_keys(side, "lake/") if "/metadata/snap-" in k]
    assert [k.rsplit("/", 1)[1] for k in lists] == [meta["snapshots"][0]["manifest-list"].rsplit("/", 1)[1]]
    assert_table_equals(side, tmp_path, expected, ("orders",))

    # someone keeps a day of history and at least 3 snapshots, from another engine (here pyiceberg itself)
    table = lake_catalog(side, tmp_path).load_table(("redpanda", "orders"))
    table.transaction().set_properties({"history.expire.max-snapshot-age-ms": str(86_400_000),
                                        "history.expire.min-snapshots-to-keep": "3"}).commit_transaction()
    seed_sync(side, **{**SPEC, "total_bytes": 8 * 48 * 1024}, append=True)
    (second,) = asyncio.run(export(side, tmp_path, snapshot_max_age=0, **small))
    assert second.commits > 1 and second.expired == 0
    meta = _metadata(side, second.metadata_location)
    assert meta["properties"]["history.expire.max-snapshot-age-ms"] == "86400000"  # theirs, not the setting's
    assert len(meta["snapshots"]) == 1 + second.commits

    # down to three: the next commit keeps the three newest
    table = lake_catalog(side, tmp_path).load_table(("redpanda", "orders"))
    table.transaction().set_properties({"history.expire.max-snapshot-age-ms": "0"}).commit_transaction()
    newest = [s["snapshot-id"] for s in sorted(meta["snapshots"], key=lambda s: s["timestamp-ms"])][-2:]
    seed_sync(side, **{**SPEC, "total_bytes": 4 * 48 * 1024, "seed": 77}, append=True)
    (third,) = asyncio.run(export(side, tmp_path, snapshot_max_age=0, topics="orders"))
    assert third.commits == 1 and third.expired == len(meta["snapshots"]) - 2
    meta = _metadata(side, third.metadata_location)
    assert [s["snapshot-id"] for s in meta["snapshots"]] == [*newest, meta["current-snapshot-id"]]
    metadata_files = [k for k in list_keys(side, "lake/") if k.endswith(".metadata.json")]
    assert len(metadata_files) <= 1 + 100  # write.metadata.previous-versions-max (100), the rest deleted
    assert_table_equals(side, tmp_path, expected_records(side), ("orders",))
