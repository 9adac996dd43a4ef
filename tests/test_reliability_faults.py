"""Reliability under S3 faults: the fault proxy (``localstack/faultproxy.py``) between every service process and
moto's S3 server, injecting 503 SlowDown, 500, connection resets (before the request, and after it ran: a
lost answer), added latency and bodies cut short, at rates per operation.

* the proxy itself: injects what it counts, at the rates asked, per operation; a cut-short body is never
  returned as data by the store;
* ``shadowreplica sync --once`` through 10% faults: completes, destination equals source byte for byte, the
  invariant checker (run in a loop against the buckets directly while the sync runs) never finds anything,
  retries are bounded by the faults injected and visible in the JSON metrics;
* ``shadowreplica serve`` through faults, consumed by kafka-python: exactly the records of the bucket (an
  independent decode), no partial or wrong record; cut-short GETs are fetched again and never cached (every
  cache file equals the bucket's bytes);
* ``shadowreplica http`` through faults, read with httpx: every 200 carries exactly the bucket's records and
  segment bytes; failures are retriable 503s;
* SIGKILL of ``serve`` with a group's committed offsets: after each restart every committed offset is intact.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import BucketPair, FaultProxy, Rates
from replicator_support import KiB, MiB, contents, seed

from app.errors import StorageUnavailable
from app.replicator import verify_bucket
from app.store import ObjectStore, RequestRetry
from tests.kafka_support import PartitionTruth, Rec, new_bucket, read_object, read_truth, start_serve
from tests.kafka_support import seed as seed_cli
from tests.reliability_support import CLI, cli_env, fault_proxy_process

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

# ~10% of requests fail in one of five ways, a fifth more get up to 50 ms of latency
TEN_PERCENT = "503=0.03,500=0.02,reset=0.02,reset_after=0.01,truncate=0.02,latency=0.2"


# ------------------------------------------------------------------------------------------ the proxy


async def test_fault_proxy_process_injects_per_operation_and_counts(buckets: BucketPair) -> None:
    data = os.urandom(100_000)
    async with ObjectStore(buckets.source) as direct:
        await direct.put("obj.bin", data)
    rates = "GetObject:503=0.2,GetObject:truncate=0.2,GetObject:reset=0.1,HeadObject:500=0.3"
    with fault_proxy_process(buckets.source.endpoint_url or "", rates, seed=3) as proxy:
        side = dataclasses.replace(buckets.source, endpoint_url=proxy.endpoint, max_attempts=1)
        gets = failed = 0
        async with ObjectStore(side) as store:
            for _ in range(60):
                gets += 1
                try:
                    assert (await store.get("obj.bin")).body == data  # whole, or an error: never a prefix
                except StorageUnavailable:
                    failed += 1
            heads_failed = 0
            for _ in range(30):
                try:
                    await store.head("obj.bin")
                except StorageUnavailable:
                    heads_failed += 1
            for i in range(10):
                await store.put(f"p{i}", b"x")  # no rate for PutObject: never fails
        get_faults = proxy.injected("GetObject")
        stats = proxy.stats()
    # aiohttp sends a request again once when a connection resets before any answer (its own retry, below
    # botocore's): resets can be more requests than calls; 503s and cut bodies are one request each
    resent = get_faults.get("reset", 0)
    assert gets <= stats["requests"]["GetObject"] <= gets + resent and stats["requests"]["HeadObject"] == 30
    assert stats["requests"]["PutObject"] == 10 and "PutObject" not in stats["injected"]
    assert set(get_faults) == {"503", "truncate", "reset"}
    assert get_faults["503"] + get_faults["truncate"] <= failed <= sum(get_faults.values())
    assert 0.3 * gets <= failed <= 0.7 * gets
    assert heads_failed == proxy_injected_total(stats, "HeadObject") > 0


def proxy_injected_total(stats: dict[str, Any], op: str) -> int:
    return sum(stats["injected"].get(op, {}).values())


async def test_store_refetches_bodies_cut_short_and_never_returns_them(buckets: BucketPair) -> None:
    """A body that ends early is a retriable failure of that one GET: the store sends it again."""
    data = os.urandom(300_000)
    async with ObjectStore(buckets.source) as direct:
        await direct.put("cut.bin", data)
    proxy = await FaultProxy.for_endpoint(buckets.source.endpoint_url or "",
                                          rates=Rates.parse("GetObject:truncate=0.5"), seed=5).start()
    try:
        side = dataclasses.replace(buckets.source, endpoint_url=proxy.endpoint)
        # eight attempts in a row; short waits between them (the default's up to 5 s add ~15 s here, check nothing)
        async with ObjectStore(side, request_retry=RequestRetry(attempts=8, base=0.002, cap=0.02)) as store:
            for _ in range(20):
                assert (await store.get("cut.bin")).body == data
                assert await store.get_range("cut.bin", 1000, 200_000) == data[1000:201_000]
            stats = store.stats["GetObject"]
        truncated = proxy.injected[("GetObject", "truncate")]
        assert truncated > 0 and stats.retries == truncated and stats.requests == 40
        assert stats.errors["unavailable"] == truncated
    finally:
        await proxy.close()


# ------------------------------------------------------------------------------------------ replicator


async def test_sync_through_ten_percent_faults_converges_and_never_breaks_the_invariant(
        buckets: BucketPair, s3_server: str) -> None:
    await seed(buckets.source, topics=2, partitions=2, size=2 * MiB, segment=64 * KiB)
    proxy = await FaultProxy.for_endpoint(s3_server, rates=Rates.parse(TEN_PERCENT), seed=11).start()
    try:
        proc = await asyncio.create_subprocess_exec(
            CLI, "sync", "--source", str(buckets.source.url), "--source-region", "us-east-1",
            "--dest", str(buckets.dest.url), "--dest-region", "eu-west-1", "--once", "--json",
            "--concurrency", "8", "--max-retries", "8",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=cli_env(proxy.endpoint, SHADOWREPLICA_REPLICATOR_BACKOFF_BASE="0.02",
                        SHADOWREPLICA_REPLICATOR_BACKOFF_CAP="0.5"))
        done = asyncio.ensure_future(proc.communicate())
        checks, violations, states = 0, [], set()
        async with ObjectStore(buckets.dest) as dst, ObjectStore(buckets.source) as src:
            while True:  # the invariant checker, against the buckets directly, while the sync runs
                finished = done.done()
                report = await verify_bucket(dst, src)
                checks += 1
                violations += [str(v) for v in report.violations]
                states.add(tuple(p.restorable_offset for p in report.partitions))
                if finished:
                    break
        out, err = await done
        injected = proxy.injected_by_kind()
    finally:
        await proxy.close()
    assert proc.returncode == 0, err.decode()[-3000:]
    assert violations == [], violations[:5]
    assert checks >= 2 and len(states) >= 2, "the checker saw the destination only once"
    result = json.loads(out)
    metrics = result["metrics"]
    assert result["ok"] and result["report"]["caught_up"] == 4
    # every injected failure (not latency) is at most one failed attempt; each failed attempt one retry
    failures = sum(n for kind, n in injected.items() if kind != "latency")
    assert failures >= 10 and injected["truncate"] > 0 and injected["reset"] > 0 and injected["503"] > 0
    print(f"sync through faults: {checks} verify runs, injected {dict(injected)}, retries {metrics['retries']}, "
          f"errors {metrics['errors']}")
    assert 0 < metrics["retries"] <= failures
    assert metrics["errors"].get("throttled", 0) > 0 and metrics["errors"].get("unavailable", 0) > 0
    assert await contents(buckets.dest) == await contents(buckets.source)
    async with ObjectStore(buckets.dest) as dst, ObjectStore(buckets.source) as src:
        final = await verify_bucket(dst, src, deep=True)
    assert final.ok and final.objects_checked > 0, final.lines()


# ------------------------------------------------------------------------------------------ Kafka shim

KAFKA_FAULTS = ("GetObject:503=0.05,GetObject:500=0.03,GetObject:reset=0.06,GetObject:truncate=0.12,"
                "HeadObject:503=0.05,ListObjectsV2:503=0.05,latency=0.2")


def _consume_all(bootstrap: str, truth: dict[tuple[str, int], PartitionTruth]) -> list[Rec]:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=30000,
                      fetch_max_bytes=256 * 1024, max_partition_fetch_bytes=32 * 1024, retry_backoff_ms=20,
                      fetch_max_wait_ms=200)
    try:
        tps = [TopicPartition(t, p) for t, p in sorted(truth)]
        c.assign(tps)
        c.seek_to_beginning()
        want = sum(len(t.records) for t in truth.values())
        got: list[Rec] = []
        deadline = time.monotonic() + 120
        while len(got) < want:
            assert time.monotonic() < deadline, f"consumed {len(got)} of {want} records"
            for msgs in c.poll(timeout_ms=500).values():
                got += [Rec(m.topic, m.partition, m.offset, m.key, m.value, tuple((k, v) for k, v in m.headers),
                            m.timestamp) for m in msgs]
        got += [Rec(m.topic, m.partition, m.offset, m.key, m.value, tuple((k, v) for k, v in m.headers),
                    m.timestamp) for msgs in c.poll(timeout_ms=300).values() for m in msgs]  # nothing more
        return got
    finally:
        c.close()


def _cache_files_match_the_bucket(cache_dir: Path, side: Any, truth_segments: dict[str, int]) -> int:
    """Every chunk file in the cache holds exactly the bucket's bytes at its position (none is partial)."""
    names: dict[str, tuple[str, int]] = {}
    for key, size in truth_segments.items():
        names[hashlib.sha256(f"{key}\0{size}".encode()).hexdigest()[:40]] = (key, size)
    bodies: dict[str, bytes] = {}
    checked = 0
    (bucket_dir,) = cache_dir.iterdir()  # one directory per bucket under the cache root (app/readpath.py)
    for path in bucket_dir.iterdir():
        assert not path.name.endswith(".tmp"), path
        digest, rest = path.name.split(".", 1)
        key, size = names[digest]
        body = bodies.get(key) or bodies.setdefault(key, read_object(side, key))
        data = path.read_bytes()
        if ".span." in rest:
            start, end = map(int, rest.split(".span.", 1)[1].removesuffix(".chunk").split("-"))
        else:
            chunk, index = map(int, rest.removesuffix(".chunk").split("."))
            start, end = chunk * index, min(chunk * (index + 1), size)
        assert data == body[start:end], f"cache file {path.name} of {key} differs from the bucket"
        checked += 1
    return checked


def _segments(side: Any) -> dict[str, int]:
    """Every segment object of the bucket (either layout) with its size, from the listing."""
    import boto3

    from tests.bucket_oracle import SEGMENT_KEY

    s3 = boto3.client("s3", endpoint_url=side.endpoint_url, region_name=side.region, aws_access_key_id="test",
                      aws_secret_access_key="test")
    return {o["Key"]: o["Size"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=side.url.bucket)
            for o in page.get("Contents", ()) if SEGMENT_KEY.match(o["Key"])}


def test_kafka_python_through_s3_faults_gets_exactly_the_records(s3_server: str, tmp_path: Path) -> None:
    side = new_bucket(s3_server)
    seed_cli(side, topics=2, partitions=2, size="1MiB", segment_size="96KiB")
    truth = read_truth(side)
    with fault_proxy_process(s3_server, KAFKA_FAULTS, seed=22) as proxy:
        through = dataclasses.replace(side, endpoint_url=proxy.endpoint)
        cache = tmp_path / "cache"
        # small chunks: many ranged GETs (about 130), so every kind of fault is met (with 32 KiB chunks, about
        # 65 GETs, no 503 at 5% happened in one CI run in twenty)
        server = start_serve(through, cache_dir=cache, env={"SHADOWREPLICA_CACHE_CHUNK_SIZE": "16384"})
        try:
            got = _consume_all(server.bootstrap, truth)
        finally:
            server.stop()
        injected = proxy.injected("GetObject")
    by_tp: dict[tuple[str, int], list[Rec]] = {}
    for r in got:
        by_tp.setdefault((r.topic, r.partition), []).append(r)
    assert {tp: sorted(rs, key=lambda r: r.offset) for tp, rs in by_tp.items()} == \
        {tp: t.records for tp, t in truth.items()}
    assert len(got) == sum(len(t.records) for t in truth.values())  # nothing twice
    assert injected.get("truncate", 0) > 0 and injected.get("503", 0) > 0 and injected.get("reset", 0) > 0
    refetched = server.log_text().count("GetObject s3://")  # each retried GET logs its error and "retry n"
    files = _cache_files_match_the_bucket(cache, side, _segments(side))
    print(f"kafka through faults: {len(got)} records, injected {injected}, {refetched} re-fetches, "
          f"{files} cache files checked")
    assert refetched > 0 and files > 0


# ------------------------------------------------------------------------------------------ HTTP


async def _get_retrying(client: httpx.AsyncClient, url: str, seen: dict[int, int], **kw: Any) -> httpx.Response:
    for _ in range(30):
        try:
            resp = await client.get(url, **kw)
        except httpx.TransportError:  # a download cut short past every re-fetch: detected, never accepted
            seen[-1] = seen.get(-1, 0) + 1
            continue
        seen[resp.status_code] = seen.get(resp.status_code, 0) + 1
        if resp.status_code == 503:
            assert resp.json()["retriable"] is True and resp.headers["retry-after"] == "1"
            continue
        return resp
    raise AssertionError(f"{url}: still failing after 30 tries")


def _b64(v: bytes | None) -> str | None:
    return None if v is None else base64.b64encode(v).decode()


async def test_http_through_s3_faults_serves_exact_records_and_bytes(s3_server: str, tmp_path: Path) -> None:
    side = await asyncio.to_thread(new_bucket, s3_server)
    await asyncio.to_thread(seed_cli, side, topics=2, partitions=1, size="640KiB", segment_size="96KiB")
    truth = await asyncio.to_thread(read_truth, side)
    segments = await asyncio.to_thread(_segments, side)
    from tests.http_fixtures import running

    with fault_proxy_process(s3_server, KAFKA_FAULTS, seed=31) as proxy:
        args = ["http", "--bucket", str(side.url), "--region", side.region, "--endpoint-url", proxy.endpoint,
                "--listen", "127.0.0.1:0", "--cache-dir", str(tmp_path / "cache")]
        seen: dict[int, int] = {}
        async with running(*args, env={"SHADOWREPLICA_CACHE_CHUNK_SIZE": "65536"}) as url, \
                httpx.AsyncClient(base_url=url, timeout=60) as client:
            for (topic, partition), t in sorted(truth.items()):
                want = {r.offset: r for r in t.records}
                offset, got = t.log_start, []
                while True:
                    resp = await _get_retrying(client, f"/topics/{topic}/partitions/{partition}/records", seen,
                                               params={"offset": offset, "limit": 200, "decode": "base64"})
                    assert resp.status_code == 200, resp.text
                    body = resp.json()
                    for r in body["records"]:
                        truth_rec = want[r["offset"]]
                        assert (r["key"], r["value"]) == (_b64(truth_rec.key), _b64(truth_rec.value)), r["offset"]
                        assert [(h["key"], h["value"]) for h in r["headers"]] == \
                            [(k, _b64(v)) for k, v in truth_rec.headers]
                        got.append(r["offset"])
                    if not body["records"] or body.get("next_offset") is None or body["next_offset"] >= \
                            t.high_watermark:
                        break
                    offset = body["next_offset"]
                assert got == [r.offset for r in t.records]
                listed = (await _get_retrying(client, f"/topics/{topic}/partitions/{partition}/segments",
                                              seen)).json()["segments"]
                for seg in listed[:3]:
                    key = next(k for k in segments if k.endswith("/" + seg["name"]))
                    resp = await _get_retrying(client, seg["download"], seen)
                    assert resp.status_code == 200 and resp.content == await asyncio.to_thread(read_object, side, key)
        injected = proxy.injected()
    print(f"http through faults: responses {seen}, injected {injected}")
    assert injected.get("truncate", 0) > 0 and injected.get("503", 0) > 0
    assert set(seen) <= {200, 503, -1}, seen


# ------------------------------------------------------------------------------------------ SIGKILL


def test_sigkill_of_serve_keeps_every_committed_offset(s3_server: str, tmp_path: Path) -> None:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    side = new_bucket(s3_server)
    seed_cli(side, topics=2, partitions=3, size="384KiB", segment_size="64KiB")
    truth = read_truth(side)
    tps = [TopicPartition(t, p) for t, p in sorted(truth)]
    expected: dict[Any, int] = {}
    port = None
    kills = 0
    for cycle in range(3):
        server = start_serve(side, cache_dir=tmp_path / "cache", port=port)
        port = server.port
        try:
            c = KafkaConsumer(bootstrap_servers=server.bootstrap, group_id="survivors", enable_auto_commit=False,
                              request_timeout_ms=20000)
            try:
                for tp in tps:  # what was committed before the last kill is all still there
                    assert c.committed(tp) == expected.get(tp), (cycle, tp)
                for i, tp in enumerate(tps):
                    hw = truth[(tp.topic, tp.partition)].high_watermark
                    expected[tp] = (cycle * 37 + i * 11) % hw
                    c.commit({tp: OffsetAndMetadata(expected[tp], f"cycle {cycle}", -1)})  # acked, one by one
                c.commit({tp: OffsetAndMetadata(expected[tp] + 1, "", -1) for tp in tps[:2]})  # and in one request
                for tp in tps[:2]:
                    expected[tp] += 1
            finally:
                c.close(autocommit=False)
        finally:
            server.proc.send_signal(signal.SIGKILL)  # no shutdown path runs
            server.proc.wait(10)
            kills += 1
            server.stop()
    server = start_serve(side, cache_dir=tmp_path / "cache", port=port)
    try:
        c = KafkaConsumer(bootstrap_servers=server.bootstrap, group_id="survivors", enable_auto_commit=False)
        try:
            assert {tp: c.committed(tp) for tp in tps} == expected
        finally:
            c.close(autocommit=False)
    finally:
        server.stop()
    assert kills == 3


LIST_FAULTS = "ListObjectsV2:503=0.12,ListObjectsV2:500=0.1,ListObjectsV2:reset=0.04,ListObjectsV2:truncate=0.04"


async def _sync_cli(pair: BucketPair, endpoint: str, *extra: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        CLI, "sync", "--source", str(pair.source.url), "--source-region", "us-east-1", "--dest", str(pair.dest.url),
        "--dest-region", "eu-west-1", "--once", "--json", "--no-progress", *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=cli_env(endpoint, SHADOWREPLICA_REPLICATOR_BACKOFF_BASE="0.01", SHADOWREPLICA_REPLICATOR_BACKOFF_CAP="0.1"))
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_discovery_retries_each_listing_page_on_its_own(buckets: BucketPair, s3_server: str) -> None:
    """30% of every listing fails (a mixed bucket: 16 hash roots, meta/, cluster_metadata/ and the cluster's
    roots). Retried as one unit, a discovery of ~20 listings almost never succeeds (0.7^20 < 0.1%); each page
    retried on its own, sync finishes and the destination equals the source."""
    await seed(buckets.source, topics=2, partitions=2, size=512 * KiB, segment=64 * KiB, layout="mixed")
    proxy = await FaultProxy.for_endpoint(s3_server, rates=Rates.parse(LIST_FAULTS), seed=5).start()
    try:
        code, out, err = await _sync_cli(buckets, proxy.endpoint, "--max-retries", "8")
        injected = {kind: n for (op, kind), n in proxy.injected.items() if op == "ListObjectsV2"}
    finally:
        await proxy.close()
    assert code == 0, err[-3000:]
    assert sum(injected.values()) >= 5, injected
    assert json.loads(out)["metrics"]["retries"] >= sum(injected.values()) // 2  # each fault one retry (botocore may absorb some)
    assert await contents(buckets.dest) == await contents(buckets.source)


async def test_a_request_failing_every_time_ends_sync_naming_it(buckets: BucketPair, s3_server: str) -> None:
    await seed(buckets.source, topics=1, partitions=1, size=128 * KiB, segment=64 * KiB)
    proxy = await FaultProxy.for_endpoint(s3_server, rates=Rates.parse("ListObjectsV2:503=1"), seed=1).start()
    try:
        code, _, err = await _sync_cli(buckets, proxy.endpoint, "--max-retries", "3")
    finally:
        await proxy.close()
    assert code != 0
    assert "ListObjectsV2 s3://" in err and "3 attempts in a row" in err, err[-2000:]
