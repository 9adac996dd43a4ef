"""Copies that cannot be server-side: the source and the destination on two different S3 server processes
(another provider or account: the destination's server cannot read the source's bucket). ``sync`` streams
the objects through itself (ranged GETs If-Match the source ETag, PUT or multipart upload with Content-MD5),
keeps the manifest-last order, and counts the bytes that passed through."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BucketPair, make_side
from replicator_support import KiB, MiB, config, contents, seed, sync_once

from app.errors import PreconditionFailed
from app.replicator import verify_bucket
from app.store import ObjectStore
from localstack.s3server import start_s3_server

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, `make test-fast` does not


@pytest.fixture(scope="module")
def other_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second moto process: its buckets are invisible to the first server's CopyObject."""
    with start_s3_server(0, buckets=(("far-dest", "eu-west-1"),), data_dir=tmp_path_factory.mktemp("far")) as srv:
        yield srv.endpoint


def far(pair: BucketPair, endpoint: str) -> BucketPair:
    return BucketPair(pair.source, make_side(endpoint, "far-dest", "eu-west-1", side="dest"))


async def _empty(side: object) -> None:
    async with ObjectStore(side) as store:  # type: ignore[arg-type]
        await store.delete_many([i.key async for i in store.list("")])


async def test_sync_streams_between_two_servers(buckets: BucketPair, other_server: str) -> None:
    pair = far(buckets, other_server)
    await _empty(pair.dest)
    await seed(pair.source, topics=2, partitions=1, size=768 * KiB, segment=64 * KiB, layout="mixed", spillover=1)
    run = await sync_once(pair, config(copy_mode="auto"))
    assert run.report.ok, run.report
    m = run.metrics.snapshot()
    assert m["copy_mode"] == "stream" and "CopyObject" not in run.dest_ops  # auto: different endpoints
    src, dst = await contents(pair.source), await contents(pair.dest)
    assert dst == src  # every object, manifests included, byte for byte (MD5 of what was read back)
    data_bytes = sum(size for key, (size, _) in src.items() if "meta/" not in key and not key.startswith("meta"))
    assert m["streamed_bytes"] == data_bytes > 0
    async with ObjectStore(pair.dest) as dst_store:
        report = await verify_bucket(dst_store, None)
    assert report.ok and report.partitions
    again = await sync_once(pair, config(copy_mode="auto"))  # nothing left to stream
    assert again.metrics.snapshot()["streamed_bytes"] == 0


async def test_server_mode_cannot_cross_servers_stream_mode_can(buckets: BucketPair, other_server: str) -> None:
    pair = far(buckets, other_server)
    await _empty(pair.dest)
    await seed(pair.source, topics=1, partitions=1, size=192 * KiB, segment=64 * KiB)
    refused = await sync_once(pair, config(copy_mode="server", max_retries=1, topic_wait=0.5))
    assert not refused.report.ok  # the far server does not have the source bucket
    streamed = await sync_once(pair, config(copy_mode="stream"))
    assert streamed.report.ok and await contents(pair.dest) == await contents(pair.source)


async def test_auto_streams_once_the_destination_is_refused_the_source(buckets: BucketPair,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """One endpoint, but a destination principal that may not read the source (simulated: moto enforces no
    IAM, so the destination store's CopyObject answers AccessDenied as S3 would): auto switches to
    streaming after the first refusal, once, and the copy completes."""
    from app.errors import StorageError

    await seed(buckets.source, topics=1, partitions=2, size=256 * KiB, segment=64 * KiB)

    def deny(store: ObjectStore) -> None:
        async def copy_from(*_a: object, **_k: object) -> str:
            raise StorageError("CopyObject: access denied by S3 (AccessDenied)", code="AccessDenied")
        store.copy_from = copy_from  # type: ignore[method-assign]

    run = await sync_once(buckets, config(copy_mode="auto"), wrap_dest=deny)
    assert run.report.ok and run.metrics.snapshot()["copy_mode"] == "stream"
    assert await contents(buckets.dest) == await contents(buckets.source)
    assert sum("copying through this process from now on" in r.message for r in caplog.records) == 1


async def test_multipart_stream_and_a_source_replaced_mid_copy(buckets: BucketPair, other_server: str,
                                                               tmp_path: Path) -> None:
    dest = make_side(other_server, "far-dest", "eu-west-1", side="dest")
    body = bytes(range(256)) * (12 * MiB // 256)  # 12 MiB: three 5 MiB parts (the last one shorter)
    async with ObjectStore(buckets.source) as src, ObjectStore(dest) as dst:
        etag = await src.put("big/object.bin", body)
        got = await dst.stream_from(src, "big/object.bin", len(body), if_match_etag=etag, part_size=5 * MiB,
                                    concurrency=2)
        assert "-" in got  # a multipart ETag
        assert hashlib.md5((await dst.get("big/object.bin")).body).digest() == hashlib.md5(body).digest()
        assert (await dst.head("big/object.bin")).source_etag == etag  # type: ignore[union-attr]
        assert dst.stats["UploadPart"].bytes_out == len(body)
        await src.put("big/object.bin", body[::-1])  # replaced: the stale ETag no longer matches
        with pytest.raises(PreconditionFailed):
            await dst.stream_from(src, "big/object.bin", len(body), if_match_etag=etag, part_size=5 * MiB)
        uploads = await dst._client.list_multipart_uploads(Bucket=dst.bucket)
        assert not uploads.get("Uploads"), "the failed stream left a multipart upload behind"


async def test_kill_9_during_a_multipart_stream_then_sync_gc_completes_and_aborts_the_upload(
        buckets: BucketPair, other_server: str) -> None:
    """SIGKILL while a streamed multipart upload is in flight: the destination stays valid (no manifest names
    the half-copied object) and the unfinished upload is left behind; the next `sync --gc --gc-grace 0`
    completes the copy and aborts the upload."""
    import asyncio
    import json
    import signal

    from reliability_support import CLI, cli_env

    from localstack.faultproxy import Fault, FaultProxy, Rates

    pair = far(buckets, other_server)
    await _empty(pair.dest)
    async with ObjectStore(pair.dest) as dst:
        for key, upload_id, _ in [u async for u in dst.list_uploads()]:
            await dst.abort_upload(key, upload_id)
    await seed(pair.source, topics=1, partitions=1, size=18 * MiB, segment=9 * MiB)
    proxy = await FaultProxy.for_endpoint(other_server, rates=Rates.parse(""), seed=1).start()
    proxy.faults.append(Fault(method="PUT", target="partNumber=", delay=1.0))  # slow parts: the kill lands inside
    args = ["sync", "--source", str(pair.source.url), "--source-endpoint-url", pair.source.endpoint_url or "",
            "--dest", str(pair.dest.url), "--dest-region", "eu-west-1", "--dest-endpoint-url", proxy.endpoint,
            "--once", "--json", "--copy-mode", "stream", "--concurrency", "1"]
    env = cli_env(pair.source.endpoint_url or "", SHADOWREPLICA_REPLICATOR_STREAM_PART_SIZE=str(5 * MiB),
                  SHADOWREPLICA_REPLICATOR_STREAM_CONCURRENCY="1")
    try:
        proc = await asyncio.create_subprocess_exec(CLI, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        for _ in range(1200):
            if any("partNumber=" in seen for seen in proxy.seen):
                break
            await asyncio.sleep(0.05)
        assert any("partNumber=" in seen for seen in proxy.seen), "the sync never reached a multipart upload"
        proc.send_signal(signal.SIGKILL)
        await proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        async with ObjectStore(pair.dest) as dst:
            assert len([u async for u in dst.list_uploads()]) >= 1  # what the kill left
            assert (await verify_bucket(dst, None)).ok  # never a manifest naming a missing or partial object
        proxy.faults.clear()
        rerun = await asyncio.create_subprocess_exec(CLI, *args, "--gc", "--gc-grace", "0", env=env,
                                                     stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await rerun.communicate()
    finally:
        await proxy.close()
    assert rerun.returncode == 0, err.decode()[-2000:]
    result = json.loads(out)
    assert result["report"]["gc"]["uploads_aborted"] >= 1, result["report"]["gc"]
    async with ObjectStore(pair.dest) as dst:
        assert [u async for u in dst.list_uploads()] == []
    assert await contents(pair.dest) == await contents(pair.source)


@pytest.mark.parametrize("fault_seed", [1, 2])
async def test_streamed_sync_through_ten_percent_faults_on_both_servers(buckets: BucketPair, other_server: str,
                                                                        fault_seed: int) -> None:
    """The issue's 10 % mix on both servers during a streamed sync: each ranged GET and each part is retried
    on its own (a failed part never restarts the object), the copy is exact."""
    import dataclasses

    from localstack.faultproxy import FaultProxy, Rates

    pair = far(buckets, other_server)
    await _empty(pair.dest)
    await seed(pair.source, topics=1, partitions=2, size=16 * MiB, segment=6 * MiB)
    rates = Rates.parse("503=0.04,500=0.02,reset=0.02,truncate=0.02")
    src_proxy = await FaultProxy.for_endpoint(pair.source.endpoint_url or "", rates=rates, seed=fault_seed).start()
    dst_proxy = await FaultProxy.for_endpoint(other_server, rates=rates, seed=fault_seed + 100).start()
    try:
        faulty = BucketPair(dataclasses.replace(pair.source, endpoint_url=src_proxy.endpoint),
                            dataclasses.replace(pair.dest, endpoint_url=dst_proxy.endpoint))
        run = await sync_once(faulty, config(copy_mode="stream", stream_part_size=5 * MiB))
        injected = sum(src_proxy.injected.values()) + sum(dst_proxy.injected.values())
    finally:
        await src_proxy.close()
        await dst_proxy.close()
    print(f"streamed sync seed {fault_seed}: {injected} faults injected, {run.metrics.retries} retries")
    assert run.report.ok, run.report
    assert injected > 0 and run.metrics.retries > 0
    source = await contents(pair.source)
    assert await contents(pair.dest) == source
    # every part was sent as one request (its retries are attempts, not requests): no object was restarted
    expected_parts = sum(-(-size // (5 * MiB)) for size, _ in source.values() if size > 5 * MiB)
    assert run.replicator.dest.stats["UploadPart"].requests == expected_parts > 0


async def test_streamed_copies_share_one_memory_budget(buckets: BucketPair, other_server: str) -> None:
    """Eight copies at once, each object 2 MiB, a 5 MiB budget: never more than 5 MiB held (two objects), and
    still every object byte for byte."""
    pair = far(buckets, other_server)
    await _empty(pair.dest)
    await _empty(pair.source)
    await seed(pair.source, topics=1, partitions=2, size=24 * MiB, segment=2 * MiB, layout="labeled")
    run = await sync_once(pair, config(copy_mode="stream", concurrency=8, stream_part_size=5 * MiB,
                                       stream_memory_bytes=5 * MiB))
    assert run.report.ok, run.report
    budget = run.replicator.copier.stream_budget
    assert budget.limit == 5 * MiB and 2 * MiB <= budget.peak <= 5 * MiB and budget.in_use == 0
    assert await contents(pair.dest) == await contents(pair.source)
