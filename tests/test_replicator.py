"""Replicator end to end against moto's S3 server process (two regions): ``sync --once``/``--follow``,
manifest-last commits, retention, topics filter, shards, multipart, source changes, throttling, resume.

The source bucket is never written: every test that syncs compares its listing (keys, sizes, ETags) before
and after, and the source store's counters show only reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import BucketPair, Fault, FaultProxy, make_side
from replicator_support import (
    WRITE_OPS,
    KiB,
    MiB,
    Recorder,
    assert_manifest_last,
    config,
    contents,
    listing,
    seed,
    sync_once,
)

from app import cli
from app.bucket import decode_partition_manifest
from app.replicator import Replicator, render_prometheus, verify_bucket
from app.replicator.checkpoint import Checkpoint
from app.replicator.model import Shard
from app.store import ObjectStore
from segment_format.keys import parse_segment_key
from segment_format.manifest import PartitionManifest

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, `make test-fast` does not

ProxyFactory = Callable[[str], Awaitable[FaultProxy]]


def data_keys(objs: dict[str, Any]) -> set[str]:
    return {k for k in objs if "/meta/" not in k}


async def read_manifest(side: Any, key: str) -> PartitionManifest:
    async with ObjectStore(side) as store:
        return decode_partition_manifest((await store.get(key)).body, key.rsplit(".", 1)[-1])


async def verify(pair: BucketPair, *, with_source: bool = True) -> list[str]:
    async with ObjectStore(pair.dest) as dst, ObjectStore(pair.source) as src:
        report = await verify_bucket(dst, src if with_source else None)
    return [str(v) for v in report.violations]


def partition_manifest_keys(objs: dict[str, Any]) -> list[str]:
    return sorted(k for k in objs if k.endswith(("/manifest.json", "/manifest.bin")))


async def test_sync_once_copies_every_object_one_request_each_manifest_last(buckets: BucketPair) -> None:
    await seed(buckets.source, topics=2, partitions=2, size=2 * MiB, segment=128 * KiB)
    source_before = await listing(buckets.source)
    recorder = Recorder()
    run = await sync_once(buckets, wrap_dest=recorder.install)

    assert run.report.ok and run.report.partitions == 4 and run.report.topics == 2
    src, dst = await contents(buckets.source), await contents(buckets.dest)
    assert dst == src  # every object: same keys, sizes and bytes (md5 of the content read back)
    assert await listing(buckets.source) == source_before  # the source was never written
    assert not set(run.source_ops) & WRITE_OPS, run.source_ops
    # server-side only, one request per object: one CopyObject per data object, no GET of any segment
    n_data = len(data_keys(src))
    assert run.dest_ops["CopyObject"] == n_data == run.metrics.total_copied_objects
    assert run.source_ops.get("GetObject", 0) == 4 + 2  # partition + topic manifests only
    assert "HeadObject" not in run.source_ops
    # commit order: each partition manifest written after every segment it names
    assert assert_manifest_last(recorder.events, set()) >= 4
    puts = [k for op, k, _ in recorder.events if op == "put"]
    for topic_key in (k for k in puts if k.endswith("topic_manifest.json")):
        topic = topic_key.split("/")[3]
        last_partition_put = max(i for i, k in enumerate(puts) if f"/{topic}/" in k and k.endswith("/manifest.json"))
        assert puts.index(topic_key) > last_partition_put
    assert await verify(buckets) == []
    # metrics: per-partition lag is zero, restorable offsets known, Prometheus text renders them
    lags = run.metrics.snapshot()["partitions"]
    assert len(lags) == 4 and all(p["state"] == "caught_up" and p["segments_behind"] == 0 for p in lags.values())
    assert all(p["restorable_offset"] > 0 for p in lags.values())
    text = render_prometheus(run.metrics)
    assert 'shadowreplica_replication_pending_seconds{namespace="kafka",partition="0",topic="orders"} 0.0' in text
    n_segments = sum(1 for k in data_keys(src) if parse_segment_key(k).suffix == "")
    assert f'shadowreplica_copied_objects_total{{kind="segment"}} {n_segments}' in text
    assert "shadowreplica_copied_bytes_total" in text and "shadowreplica_s3_requests_total" in text


async def test_second_sync_is_incremental_and_cheap(buckets: BucketPair) -> None:
    await seed(buckets.source, topics=1, partitions=3, size=1 * MiB, segment=64 * KiB)
    await sync_once(buckets)
    again = await sync_once(buckets)
    assert again.report.ok and again.metrics.total_copied_objects == 0
    assert "CopyObject" not in again.dest_ops and "PutObject" not in again.dest_ops
    # O(partitions), not O(objects): discovery lists the 16 hash roots, meta/ (labeled topic manifests) and
    # cluster_metadata/ (its cluster UUIDs); the cluster metadata worker 2 prefixes; a GET per manifest
    assert again.source_ops == {"ListObjectsV2": 20, "GetObject": 3}
    await seed(buckets.source, topics=1, partitions=3, size=192 * KiB, segment=64 * KiB, seed=7, append=True)
    third = await sync_once(buckets)
    new_segments = third.metrics.copied_objects["segment"]
    assert new_segments >= 3 and third.report.ok
    assert third.dest_ops["CopyObject"] == third.metrics.total_copied_objects
    assert await contents(buckets.dest) == await contents(buckets.source)


async def test_follow_picks_up_appended_segments_and_new_topics(buckets: BucketPair) -> None:
    await seed(buckets.source, topics=1, partitions=2, size=512 * KiB, segment=64 * KiB)
    # an idle partition's poll backs off (adaptive polling); capped low here so "a few polls" is a bound
    cfg = config(poll_interval=0.2, discovery_interval=0.5, max_poll_interval=0.4)
    stop = asyncio.Event()
    async with ObjectStore(buckets.source) as src, ObjectStore(buckets.dest) as dst:
        rep = Replicator(src, dst, cfg)
        task = asyncio.create_task(rep.run_forever(stop))

        async def caught_up(timeout: float) -> float:
            start = time.monotonic()
            want = None
            while time.monotonic() - start < timeout:
                want = await contents(buckets.source)
                if await contents(buckets.dest) == want:
                    return time.monotonic() - start
                await asyncio.sleep(0.1)
            raise AssertionError(f"destination not caught up after {timeout} s")

        await caught_up(20)
        await seed(buckets.source, topics=1, partitions=2, size=256 * KiB, segment=64 * KiB, seed=9, append=True)
        took = await caught_up(10)
        # a few polls at most plus copy time (generous: the suite runs in parallel workers on two cores)
        assert took < 10 * cfg.replicator.max_poll_interval + 4, took
        await seed(buckets.source, topics=2, partitions=2, size=512 * KiB, segment=64 * KiB, seed=11, append=True)
        await caught_up(15)  # a new topic (and its partitions) appeared: discovery starts workers for it
        assert any(p.topic == "payments" for p in rep.workers)
        assert all(lag.state == "caught_up" for lag in rep.metrics.partitions.values())
        stop.set()
        await asyncio.wait_for(task, 10)
    assert await verify(buckets) == []


async def test_multipart_copy_with_a_low_threshold(buckets: BucketPair) -> None:
    await seed(buckets.source, topics=1, partitions=1, size=12 * MiB, segment=6 * MiB)
    run = await sync_once(buckets, config(multipart_threshold=5 * MiB, multipart_part_size=5 * MiB))
    assert run.report.ok
    segments = run.metrics.copied_objects["segment"]
    assert segments >= 2
    assert run.dest_ops["UploadPartCopy"] == 2 * segments  # 6+ MiB in 5 MiB parts
    assert run.dest_ops["CreateMultipartUpload"] == run.dest_ops["CompleteMultipartUpload"] == segments
    assert run.source_ops["HeadObject"] == segments  # size + ETag for the conditional parts
    assert await contents(buckets.dest) == await contents(buckets.source)
    assert await verify(buckets) == []


async def drop_first_segments(side: Any, count: int) -> tuple[str, list[str]]:
    """Simulate source retention on the first partition: rewrite its manifest without its first ``count``
    segments, then delete them (test set-up writes the source; the replicator never does)."""
    async with ObjectStore(side) as store:
        key = sorted([i.key async for i in store.list("") if i.key.endswith("/manifest.json")])[0]
        m = decode_partition_manifest((await store.get(key)).body, "json")
        dropped = m.segments[:count]
        kept = m.with_segments(m.segments[count:], start_offset=m.segments[count].base_offset)
        await store.put(key, kept.to_json())
        doomed = [m.segment_key(s) + suffix for s in dropped for suffix in ("", ".index", ".tx")]
        await store.delete_many(doomed)
        return key, [m.segment_key(s) for s in dropped]


async def test_retention_mirror_deletes_after_the_manifest(buckets: BucketPair) -> None:
    await seed(buckets.source, topics=1, partitions=1, size=768 * KiB, segment=64 * KiB)
    await sync_once(buckets)
    key, dropped = await drop_first_segments(buckets.source, 3)
    recorder = Recorder()
    run = await sync_once(buckets, config(retention="mirror"), wrap_dest=recorder.install)
    assert run.report.ok and run.metrics.deleted_objects >= 3
    dst = await contents(buckets.dest)
    assert not set(dropped) & set(dst)
    assert dst == await contents(buckets.source)
    # manifest first, objects after
    ops = [(op, k) for op, k, _ in recorder.events]
    put_at = ops.index(("put", key))
    assert all(i > put_at for i, (op, k) in enumerate(ops) if op == "delete" and k in dropped)
    assert_manifest_last(recorder.events, set(dst) | set(dropped))
    assert await verify(buckets) == []


async def test_retention_keep_keeps_history_the_source_dropped(buckets: BucketPair) -> None:
    await seed(buckets.source, topics=1, partitions=1, size=768 * KiB, segment=64 * KiB)
    await sync_once(buckets)
    before = await read_manifest(buckets.dest, (await partition_keys(buckets.dest))[0])
    key, dropped = await drop_first_segments(buckets.source, 3)
    run = await sync_once(buckets, config(retention="keep"))
    assert run.report.ok and run.metrics.deleted_objects == 0
    dst = await contents(buckets.dest)
    assert set(dropped) <= set(dst)
    kept = await read_manifest(buckets.dest, key)
    source_m = await read_manifest(buckets.source, key)
    assert [s.base_offset for s in kept.segments] == [s.base_offset for s in before.segments]
    assert kept.segments[3:] == source_m.segments and kept.start_offset == before.segments[0].base_offset
    assert kept.last_offset == source_m.last_offset
    assert await verify(buckets) == [] and await verify(buckets, with_source=False) == []
    # appending at the source later still keeps the old history in front
    await seed(buckets.source, topics=1, partitions=1, size=128 * KiB, segment=64 * KiB, seed=3, append=True)
    await sync_once(buckets, config(retention="keep"))
    later = await read_manifest(buckets.dest, key)
    assert later.segments[0] == before.segments[0] and len(later.segments) > len(kept.segments)
    assert await verify(buckets) == []


async def partition_keys(side: Any) -> list[str]:
    return partition_manifest_keys(await listing(side))


async def test_topics_filter(buckets: BucketPair) -> None:
    await seed(buckets.source, topics=3, partitions=1, size=384 * KiB, segment=64 * KiB)
    run = await sync_once(buckets, config(topics="orders,clickstream"))
    assert run.report.ok and run.report.partitions == 2
    dst = await contents(buckets.dest)
    assert {k.split("/")[3] for k in dst if "/meta/" in k} == {"orders", "clickstream"}
    assert not any("/payments/" in k for k in dst)
    src = await contents(buckets.source)
    assert all(src[k] == v for k, v in dst.items())
    assert {k for k in src if "/payments/" not in k} == set(dst)


async def test_two_shards_cover_every_partition_exactly_once(buckets: BucketPair) -> None:
    await seed(buckets.source, topics=2, partitions=4, size=1 * MiB, segment=64 * KiB)
    runs = await asyncio.gather(*(sync_once(buckets, config(shard_index=i, shard_count=2)) for i in range(2)))
    owned = [set(r.replicator.workers) for r in runs]
    assert owned[0] and owned[1] and not owned[0] & owned[1]
    assert len(owned[0] | owned[1]) == 8
    assert all(r.report.ok for r in runs)
    assert sum(r.metrics.total_copied_objects for r in runs) == len(data_keys(await contents(buckets.source)))
    assert {(t.namespace, t.topic) for r in runs for t in r.replicator.topic_workers} == {("kafka", "orders"), ("kafka", "payments")}
    assert await contents(buckets.dest) == await contents(buckets.source)
    for pid in owned[0]:
        assert Shard(0, 2).owns(pid.namespace, pid.topic, pid.partition) and not Shard(1, 2).owns(
            pid.namespace, pid.topic, pid.partition)


async def test_source_manifest_rewritten_between_plan_and_copy(buckets: BucketPair) -> None:
    """The source compacts (merges two segments into a new object, rewrites the manifest, deletes the old
    ones) just as the replicator copies: the copy of a vanished object fails, the replicator re-plans from the
    fresh manifest, and no destination manifest ever names the old or a missing object."""
    await seed(buckets.source, topics=1, partitions=1, size=512 * KiB, segment=64 * KiB)
    key = (await partition_keys(buckets.source))[0]
    m = await read_manifest(buckets.source, key)
    first, second = m.segments[0], m.segments[1]
    assert first.segment_term == second.segment_term and not first.metadata_size_hint
    old_keys = {m.segment_key(first), m.segment_key(second)}
    state = {"compacted": False}

    async def compact(copy_key: str) -> None:
        if state["compacted"] or not any(copy_key.startswith(k) for k in old_keys):
            return
        state["compacted"] = True
        async with ObjectStore(buckets.source) as store:
            a = (await store.get(m.segment_key(first))).body
            b = (await store.get(m.segment_key(second))).body
            merged = m.segments[0].__class__(
                base_offset=first.base_offset, committed_offset=second.committed_offset, size_bytes=len(a) + len(b),
                segment_term=first.segment_term, base_timestamp=first.base_timestamp,
                max_timestamp=second.max_timestamp, delta_offset=first.delta_offset, archiver_term=first.archiver_term,
                delta_offset_end=second.delta_offset_end, sname_format=3, metadata_size_hint=0, is_compacted=True)
            await store.put(m.segment_key(merged), a + b)
            new = m.with_segments([merged, *m.segments[2:]])
            await store.put(key, new.to_json())
            await store.delete_many([k + s for k in old_keys for s in ("", ".index", ".tx")])

    recorder = Recorder(before_copy=compact)
    run = await sync_once(buckets, wrap_dest=recorder.install)
    assert state["compacted"] and run.report.ok
    assert run.metrics.errors["replans"] >= 1
    final = await read_manifest(buckets.dest, key)
    assert final == await read_manifest(buckets.source, key)
    assert final.segments[0].is_compacted
    assert_manifest_last(recorder.events, set())
    for op, k, body in recorder.events:  # no manifest ever named the vanished objects
        if op == "put" and k == key:
            named = {final.segment_key(s) for s in decode_partition_manifest(body or b"", "json").segments}
            assert not named & old_keys
    assert await verify(buckets) == []


async def test_throttling_backs_off_and_converges(buckets: BucketPair, s3_server: str,
                                                  s3_fault_proxy: ProxyFactory) -> None:
    await seed(buckets.source, topics=1, partitions=2, size=512 * KiB, segment=64 * KiB)
    proxy = await s3_fault_proxy(s3_server)
    # CopyObject is a PUT carrying x-amz-copy-source; answer 10 of them with 503 SlowDown
    proxy.faults.append(Fault(method="PUT", target=".log", status=503, code="SlowDown", times=10))
    # the store retries each throttled CopyObject on its own, as in `shadowreplica sync`; the limiter hears it
    throttled = BucketPair(buckets.source,
                           make_side(proxy.endpoint, buckets.dest.url.bucket, "eu-west-1", side="dest"))
    run = await sync_once(throttled, config(concurrency=8, max_retries=8, copy_mode="server"))
    assert run.report.ok
    # exactly one retry per injected fault, each of the failed request alone: nothing that succeeded was redone
    assert run.metrics.errors["throttled"] == 10 and run.metrics.retries == 10
    assert {op: s.retries for op, s in run.replicator.dest.stats.ops.items() if s.retries} == {"CopyObject": 10}
    assert run.replicator.limiter.cuts >= 1
    assert await contents(buckets.dest) == await contents(buckets.source)


async def test_restart_after_a_crash_copies_only_what_is_missing(buckets: BucketPair, tmp_path: Any) -> None:
    await seed(buckets.source, topics=1, partitions=2, size=1 * MiB, segment=64 * KiB)
    total = len(data_keys(await contents(buckets.source)))
    copied = 0
    killed = asyncio.Event()

    async def die_after_some(key: str) -> None:
        nonlocal copied
        copied += 1
        if copied > 12:
            killed.set()
            await asyncio.Event().wait()  # hang here until the "kill" (cancellation) arrives

    task = asyncio.create_task(sync_once(buckets, config(commit_interval=0.05),
                                         wrap_dest=Recorder(before_copy=die_after_some).install))
    await killed.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await verify(buckets) == []  # whatever was committed is consistent
    at_dest = data_keys(await listing(buckets.dest))
    assert 0 < len(at_dest) < total
    ckpt = tmp_path / "ckpt.json"
    run = await sync_once(buckets, config(checkpoint=str(ckpt)))
    assert run.report.ok
    assert run.dest_ops["CopyObject"] == total - len(at_dest)  # probes found the rest: nothing copied twice
    assert await contents(buckets.dest) == await contents(buckets.source)
    # with the checkpoint of a clean finish, a restart needs no probe, no dest GET beyond the manifests' state
    run2 = await sync_once(buckets, config(checkpoint=str(ckpt)))
    assert run2.report.ok and "CopyObject" not in run2.dest_ops and "PutObject" not in run2.dest_ops
    assert run2.dest_ops.get("HeadObject", 0) == 1  # the topic manifest only: no probe
    assert run2.source_ops.get("GetObject", 0) == 2  # two conditional GETs, both answered 304
    doc = json.loads(ckpt.read_text())
    assert all(e["clean"] for e in doc["partitions"].values()) and len(doc["partitions"]) == 2
    assert isinstance(Checkpoint(ckpt), Checkpoint)


async def test_spillover_manifests_are_followed(buckets: BucketPair) -> None:
    from segment_format import manifest_bin as mb

    await seed(buckets.source, topics=1, partitions=1, size=768 * KiB, segment=64 * KiB)
    key = (await partition_keys(buckets.source))[0]
    m = await read_manifest(buckets.source, key)
    spilled, main = m.segments[:4], m.segments[4:]

    def meta_bin(s: Any) -> mb.SegmentMeta:
        return mb.SegmentMeta(is_compacted=s.is_compacted, size_bytes=s.size_bytes, base_offset=s.base_offset,
                              committed_offset=s.committed_offset, base_timestamp=s.base_timestamp,
                              max_timestamp=s.max_timestamp, delta_offset=s.delta_offset, ntp_revision=m.revision,
                              archiver_term=s.archiver_term, segment_term=s.segment_term,
                              delta_offset_end=s.delta_offset_end, sname_format=s.sname_format,
                              metadata_size_hint=s.metadata_size_hint)

    body = mb.encode_partition_manifest_bin(mb.PartitionManifestBin(
        namespace=m.namespace, topic=m.topic, partition=m.partition, revision=m.revision,
        segments=mb.build_segment_meta_cstore([meta_bin(s) for s in spilled]),
        last_offset=spilled[-1].committed_offset, start_offset=spilled[0].base_offset,
        cloud_log_size_bytes=sum(s.size_bytes for s in spilled)))
    spill_meta = spilled[0].__class__(
        base_offset=spilled[0].base_offset, committed_offset=spilled[-1].committed_offset,
        size_bytes=sum(s.size_bytes for s in spilled), segment_term=spilled[0].segment_term,
        base_timestamp=spilled[0].base_timestamp, max_timestamp=spilled[-1].max_timestamp,
        delta_offset=spilled[0].delta_offset, delta_offset_end=spilled[-1].delta_offset_end,
        archiver_term=spilled[0].archiver_term, sname_format=3, metadata_size_hint=len(body))
    new_main = m.with_segments(main, spillover=(spill_meta,), start_offset=main[0].base_offset,
                               archive_start_offset=spilled[0].base_offset,
                               archive_start_offset_delta=spilled[0].delta_offset,
                               archive_size_bytes=spill_meta.size_bytes)
    async with ObjectStore(buckets.source) as store:
        await store.put(new_main.spillover_key(spill_meta), body)
        await store.put(key, new_main.to_json())
    recorder = Recorder()
    run = await sync_once(buckets, config(window=2), wrap_dest=recorder.install)  # tiny window: intermediates
    assert run.report.ok and run.metrics.manifest_commits["spillover"] == 1
    assert run.metrics.manifest_commits["partition_intermediate"] >= 1
    assert await contents(buckets.dest) == await contents(buckets.source)
    ops = [(op, k) for op, k, _ in recorder.events]
    spill_key = new_main.spillover_key(spill_meta)
    spill_at = ops.index(("put", spill_key))
    assert all(ops.index(("copy", new_main.segment_key(s))) < spill_at for s in spilled)
    assert_manifest_last(recorder.events, set())
    assert await verify(buckets) == []


async def test_cluster_metadata_objects_are_copied_manifest_last(buckets: BucketPair) -> None:
    await seed(buckets.source, topics=1, partitions=1, size=128 * KiB, segment=64 * KiB)
    uuid = "0b6b1c52-4c3a-4e0a-9a51-8f6e1a7b2c3d"
    objs = {
        f"cluster_metadata/{uuid}/manifests/3/cluster_manifest.json": b'{"version":0,"metadata_id":3}',
        f"cluster_metadata/{uuid}/42/controller.snapshot": b"snapshot-bytes" * 100,
        f"cluster_metadata/{uuid}/3/offsets/0/0.snapshot": b"offsets" * 50,
    }
    async with ObjectStore(buckets.source) as store:
        for k, v in objs.items():
            await store.put(k, v)
    recorder = Recorder()
    run = await sync_once(buckets, wrap_dest=recorder.install)
    assert run.report.ok and run.metrics.manifest_commits["cluster"] == 1
    dst = await contents(buckets.dest)
    src = await contents(buckets.source)
    assert all(dst[k] == src[k] for k in objs)
    copies = [k for op, k, _ in recorder.events if op == "copy" and k.startswith("cluster_metadata/")]
    assert copies[-1].endswith("cluster_manifest.json") and len(copies) == 3
    # mirror: a cluster manifest the source dropped goes, manifest first
    async with ObjectStore(buckets.source) as store:
        await store.delete_many(list(objs)[:2])
    await sync_once(buckets)
    assert not set(list(objs)[:2]) & set(await listing(buckets.dest))


async def test_cli_sync_verify_status(buckets: BucketPair, s3_server: str, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    await seed(buckets.source, topics=1, partitions=2, size=256 * KiB, segment=64 * KiB)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    cfg = tmp_path / "sr.toml"
    cfg.write_text('[replicator]\nconcurrency = 4\ncommit_interval = 1.5\n')
    monkeypatch.setenv("SHADOWREPLICA_REPLICATOR_POLL_INTERVAL", "0.3")
    src, dst = f"s3://{buckets.source.url.bucket}", f"s3://{buckets.dest.url.bucket}"

    def run(*argv: str) -> tuple[int, str]:
        code = await_in_thread(cli.main, list(argv))
        return code, capsys.readouterr().out

    code, out = run("status", "--dest", dst, "--source", src, "--dest-region", "eu-west-1")
    status = json.loads(out)
    assert code == 0 and status["caught_up"] is False and status["totals"]["partitions_behind"] == 2
    assert all(p["state"] == "behind" and p["segments_behind"] > 0 for p in status["partitions"])
    code, out = run("--config", str(cfg), "sync", "--source", src, "--dest", dst, "--source-region", "us-east-1",
                    "--dest-region", "eu-west-1", "--once", "--json")
    result = json.loads(out)
    assert code == 0 and result["ok"] and result["report"]["partitions"] == 2
    code, out = run("status", "--dest", dst, "--source", src)
    status = json.loads(out)
    assert status["caught_up"] is True and all(p["lag_seconds"] == 0 for p in status["partitions"])
    assert all(p["dest"]["restorable_offset"] > 0 for p in status["partitions"])
    code, out = run("verify", "--dest", dst, "--source", src)
    assert code == 0 and "restorable up to Kafka offset" in out and "OK" in out
    # break the destination: verify names the object and fails
    victim = sorted(k for k in await listing(buckets.dest) if k.endswith(".log.1") or k.endswith(".log.2"))[0]
    async with ObjectStore(buckets.dest) as store:
        await store.delete_many([victim])
    code, out = run("verify", "--dest", dst, "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"] and any(victim in v and "missing" in v for v in report["violations"])


def await_in_thread(fn: Callable[[list[str]], int], argv: list[str]) -> int:
    """Run a CLI entry point (which calls asyncio.run) from inside a running loop's test, in a thread."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, argv).result()


async def test_prometheus_rendering_is_well_formed() -> None:
    from app.replicator.metrics import ReplicatorMetrics

    m = ReplicatorMetrics()
    m.copied("segment", 100)
    m.error("throttled")
    lag = m.partition("kafka", 'we"ird', 3, 10)
    lag.source_next_offset, lag.dest_next_offset, lag.behind_since = 50, 20, time.time() - 5
    text = render_prometheus(m)
    assert text.endswith("\n")
    lines = [x for x in text.splitlines() if x and not x.startswith("#")]
    assert 'shadowreplica_replication_lag_offsets{namespace="kafka",partition="3",topic="we\\"ird"} 30.0' in lines
    lag_line = next(x for x in lines if x.startswith("shadowreplica_replication_pending_seconds"))
    assert 4.5 < float(lag_line.rsplit(" ", 1)[1]) < 10
    assert 'shadowreplica_errors_total{kind="throttled"} 1.0' in lines
    for line in lines:
        name = line.split("{")[0].split(" ")[0]
        assert f"# TYPE {name} " in text


async def test_verify_cuts_restorable_at_the_first_violation(buckets: BucketPair) -> None:
    """A destination missing one middle segment restores only up to the segment before it; verify says so
    instead of claiming the whole range."""
    await seed(buckets.source, topics=1, partitions=1, size=512 * KiB, segment=64 * KiB)
    assert (await sync_once(buckets)).report.ok
    key = (await partition_keys(buckets.dest))[0]
    m = await read_manifest(buckets.dest, key)
    victim = m.segments[3]
    async with ObjectStore(buckets.dest) as dst:
        await dst.delete_many([m.segment_key(victim)])
        report = await verify_bucket(dst, None)
    part = report.partitions[0]
    assert not report.ok and part.restorable_cut
    assert part.restorable_offset == m.segments[2].next_kafka_offset - 1 == victim.base_kafka_offset - 1
    assert f"restorable only up to Kafka offset {part.restorable_offset}" in part.line()
    assert "violations after it" in part.line()


async def test_gc_collects_what_a_kill_in_the_deletion_window_leaves(buckets: BucketPair) -> None:
    """A partition deleted at the source; the sync that mirrors it is killed after the manifests and before
    the objects: verify reports orphans (not violations), `--gc` deletes them once older than the grace."""
    await seed(buckets.source, topics=1, partitions=2, size=512 * KiB, segment=64 * KiB, layout="labeled")
    assert (await sync_once(buckets)).report.ok
    gone = [k for k in await listing(buckets.source) if "/orders/1_" in k]
    async with ObjectStore(buckets.source) as src, ObjectStore(buckets.dest) as dst:
        await src.delete_many(gone)
        await dst.delete_many([k for k in gone if k.endswith("/manifest.bin") or "/manifest.bin." in k])
        report = await verify_bucket(dst, src)
    orphans = [k for k in gone if "/meta/" not in k]
    assert report.ok and report.orphans == len(orphans) > 3 and report.orphan_bytes > 0
    assert any(line.startswith(f"ORPHANS {len(orphans)} ") for line in report.lines())
    young = await sync_once(buckets, config(gc=True, gc_grace=3600))
    assert young.report.ok and young.report.gc is not None and young.report.gc["deleted"] == 0
    run = await sync_once(buckets, config(gc=True, gc_grace=0))
    assert run.report.gc is not None and run.report.gc["deleted"] == len(orphans)
    assert set(await listing(buckets.dest)) == set(await listing(buckets.source))
    async with ObjectStore(buckets.dest) as dst:
        final = await verify_bucket(dst, None)
    assert final.ok and final.orphans == 0


async def test_a_long_pass_keeps_the_cursor_as_small_as_the_copy_window(buckets: BucketPair) -> None:
    """The keys a pass has copied beyond the destination manifest leave the cursor as each intermediate
    commit lands: a pass over N objects must not carry N keys (each step copies those sets: quadratic)."""
    from app.replicator.partition import PartitionWorker

    await seed(buckets.source, topics=1, partitions=1, size=1 * MiB, segment=4 * KiB)
    largest = 0
    step = PartitionWorker._step

    def watching(self: PartitionWorker, **changes: Any) -> None:
        nonlocal largest
        step(self, **changes)
        largest = max(largest, len(self.cursor.verified) + len(self.cursor.absent))

    PartitionWorker._step = watching  # type: ignore[method-assign]
    try:
        run = await sync_once(buckets, config(window=4, concurrency=4))
    finally:
        PartitionWorker._step = step  # type: ignore[method-assign]
    copied = run.report.copied_objects
    assert run.report.ok and copied > 120, copied
    assert run.metrics.manifest_commits["partition_intermediate"] >= 10
    # at most the units of three windows (in flight, committed but not yet landed) with their companions
    assert largest <= 3 * 4 * 3, (largest, copied)
    assert await contents(buckets.dest) == await contents(buckets.source)


async def test_a_slow_copy_at_the_front_does_not_stall_the_copies_behind_it(buckets: BucketPair) -> None:
    """One slow copy (here the first segment's, held while the copies behind it go on) must not stall the pass
    after the few units behind it: copies go on up to two windows past the last written manifest, the bound a
    restart probes, and no further (with one window of lookahead, a straggler at S3's tail latency left most
    of the concurrency idle)."""
    await seed(buckets.source, topics=1, partitions=1, size=512 * KiB, segment=8 * KiB)
    window = 4
    recorder = Recorder()
    held: list[str] = []

    def unit_of(key: str) -> str:
        return key.removesuffix(".index").removesuffix(".tx")

    def copied_ahead(events: list[tuple[str, str, bytes | None]]) -> set[str]:
        """The units other than the held one with a copy among ``events``."""
        return {unit_of(key) for op, key, _ in events if op == "copy"} - {unit_of(held[0])}

    async def before_copy(key: str) -> None:
        if held or key.endswith((".index", ".tx")):
            return
        held.append(key)
        deadline = time.monotonic() + 10  # held until the units up to the bound are copied (or 10 s) ...
        while len(copied_ahead(recorder.events)) < 2 * window - 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # ... and a little longer: a unit past the bound would be copied by now

    recorder.before_copy = before_copy
    run = await sync_once(buckets, config(window=window, concurrency=8), wrap_dest=recorder.install)
    assert run.report.ok and run.report.copied_objects > 40
    held_at = next(i for i, (op, key, _) in enumerate(recorder.events) if key == held[0])
    ahead = copied_ahead(recorder.events[:held_at])
    # while it was held, every unit up to two windows past the manifest (which names none yet), no more
    assert len(ahead) == 2 * window - 1, sorted(ahead)
    assert await contents(buckets.dest) == await contents(buckets.source)


async def test_sync_creates_a_missing_destination_bucket_in_its_region(buckets: BucketPair) -> None:
    """``sync`` to a bucket that does not exist yet creates it, in ``--dest-region`` (boto3 reads the location
    back), beside the source's discovery, and copies everything into it."""
    import boto3

    from app.replicator.cli import run_sync
    from tests.conftest import unique_bucket

    await seed(buckets.source, topics=1, partitions=2, size=256 * KiB, segment=64 * KiB)
    dest = make_side(buckets.dest.endpoint_url or "", unique_bucket("new"), "eu-west-1", side="dest")
    code, out = await run_sync(buckets.source, dest, config(), follow=False, progress=False)
    assert code == 0, out
    s3 = boto3.client("s3", endpoint_url=dest.endpoint_url, region_name="eu-west-1",
                      aws_access_key_id=dest.access_key_id, aws_secret_access_key=dest.secret_access_key)
    assert s3.get_bucket_location(Bucket=dest.url.bucket)["LocationConstraint"] == "eu-west-1"
    assert await contents(dest) == await contents(buckets.source)
    requests = out["metrics"]["requests"]["dest"]
    assert (requests.get("HeadBucket"), requests.get("CreateBucket")) == (1, 1), requests


async def test_manifest_commits_never_take_a_copy_slot(buckets: BucketPair) -> None:
    """A long pass over one partition keeps ``--concurrency`` copies in flight while its intermediate commit
    is: each commit's PUT here waits until it sees 4 copies running beside it (concurrency 4), unless fewer
    than 4 are left to start. When a commit took one of the copies' slots (the old code), at most 3 could run
    beside it: the bulk copy of one partition ran 15 of 16 copies nearly all of its pass."""
    await seed(buckets.source, topics=1, partitions=1, size=1 * MiB, segment=32 * KiB)
    to_copy = len([k for k in await listing(buckets.source) if "/meta/" not in k])
    in_flight = started = 0
    full = asyncio.Event()
    commits: list[tuple[bool, int]] = []  # (saw 4 copies beside it, copies not yet started then)

    def wrap(store: ObjectStore) -> None:
        copy_from, put = store.copy_from, store.put

        async def counted_copy(*args: Any, **kw: Any) -> str:
            nonlocal in_flight, started
            in_flight += 1
            started += 1
            if in_flight == 4:
                full.set()
            try:
                await asyncio.sleep(0.02)  # copies overlap the commit like real ones do
                return await copy_from(*args, **kw)
            finally:
                in_flight -= 1

        async def watched_put(key: str, *args: Any, **kw: Any) -> str:
            if key.endswith(("manifest.json", "manifest.bin")) and kw.get("if_match"):  # an intermediate commit
                left = to_copy - started
                full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(full.wait(), 2)
                commits.append((full.is_set(), left))
            return await put(key, *args, **kw)

        store.copy_from = counted_copy  # type: ignore[method-assign]
        store.put = watched_put  # type: ignore[method-assign]

    run = await sync_once(buckets, config(concurrency=4, window=4), wrap_dest=wrap)
    assert run.report.ok
    assert await contents(buckets.dest) == await contents(buckets.source)
    middle = [saw for saw, left in commits if left >= 4]
    assert len(middle) >= 3 and all(middle), commits
