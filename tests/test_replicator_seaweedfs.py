"""The replicator's conditional copies on SeaweedFS (``weed mini``), which enforces copy preconditions that
moto ignores (``CopySourceIfUnmodifiedSince``, ``CopySourceIfMatch``, also on ``UploadPartCopy`` parts).

* a plain ``sync --once`` leaves destination == source (bytes) and passes the invariant checker;
* a segment re-uploaded at the source (same key and size, other bytes) after its manifest was read: the
  copy conditional on the manifest's ``Last-Modified`` gets 412, the replicator re-plans from a fresh
  manifest, copies that exact version (HEAD + ``CopySourceIfMatch``), and no destination manifest ever names
  the old bytes or a missing object;
* the multipart path: every ``UploadPartCopy`` is conditional on the source ETag; a source re-uploaded
  between two parts fails the second part with 412, the upload is aborted (no half-copied object appears),
  and the re-plan copies the new version whole.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import BucketPair
from replicator_support import (
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

from app.bucket import decode_partition_manifest
from app.replicator import verify_bucket
from app.store import ObjectStore
from segment_format.manifest import PartitionManifest

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, `make test-fast` does not


async def verify(pair: BucketPair) -> list[str]:
    async with ObjectStore(pair.dest) as dst, ObjectStore(pair.source) as src:
        report = await verify_bucket(dst, src)
    return [str(v) for v in report.violations]


def data_keys(objs: dict[str, Any]) -> set[str]:
    return {k for k in objs if "/meta/" not in k}


async def first_manifest(side: Any) -> tuple[str, PartitionManifest]:
    async with ObjectStore(side) as store:
        key = sorted([i.key async for i in store.list("") if i.key.endswith("/manifest.json")])[0]
        return key, decode_partition_manifest((await store.get(key)).body, "json")


def flipped(body: bytes) -> bytes:
    """Same length, other bytes (a re-upload under the same size-pinning name)."""
    return bytes(b ^ 0xFF for b in body[:64]) + body[64:]


async def reupload(side: Any, key: str) -> str:
    """Overwrite ``key`` at the source with other bytes of the same size, strictly later (by Last-Modified
    seconds) than anything written before; returns the new MD5."""
    async with ObjectStore(side) as store:
        old = await store.head(key)
        assert old is not None and old.last_modified is not None
        while datetime.now(UTC).replace(microsecond=0) <= old.last_modified.replace(microsecond=0):
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.05)  # HTTP dates have one-second precision: be a whole second later
        body = flipped((await store.get(key)).body)
        await store.put(key, body)
        return hashlib.md5(body).hexdigest()


async def test_sync_once_on_seaweedfs_copies_everything(seaweedfs_buckets: BucketPair) -> None:
    pair = seaweedfs_buckets
    await seed(pair.source, topics=1, partitions=2, size=512 * KiB, segment=64 * KiB)
    source_before = await listing(pair.source)
    run = await sync_once(pair)
    assert run.report.ok and run.report.partitions == 2
    src, dst = await contents(pair.source), await contents(pair.dest)
    assert dst == src
    assert await listing(pair.source) == source_before
    n_data = len(data_keys(src))
    assert run.metrics.total_copied_objects == n_data
    # one conditional CopyObject per object and no false 412: segments uploaded in the same second as the
    # manifest (the condition is the manifest's Last-Modified) pass CopySourceIfUnmodifiedSince
    assert run.dest_ops["CopyObject"] == n_data and not run.metrics.errors.get("source_changed")
    assert "HeadObject" not in run.source_ops
    assert await verify(pair) == []


async def test_segment_reuploaded_after_the_manifest_was_read_is_caught_by_412(seaweedfs_buckets: BucketPair) -> None:
    pair = seaweedfs_buckets
    await seed(pair.source, topics=1, partitions=1, size=512 * KiB, segment=64 * KiB)
    _, m = await first_manifest(pair.source)
    victim = m.segment_key(m.segments[3])
    old_md5 = (await contents(pair.source))[victim][1]
    state: dict[str, Any] = {"new_md5": None, "attempts": 0}

    async def before_copy(key: str) -> None:
        if key != victim:
            return
        state["attempts"] += 1
        if state["new_md5"] is None:  # the manifest has been read and planned from: now the source moves
            state["new_md5"] = await reupload(pair.source, victim)

    recorder = Recorder(before_copy=before_copy)
    run = await sync_once(pair, config(), wrap_dest=recorder.install)
    assert run.report.ok
    assert state["attempts"] >= 2  # the first copy was refused, a second one made after the re-plan
    assert run.metrics.errors["source_changed"] >= 1 and run.metrics.errors["replans"] >= 1
    assert run.source_ops["HeadObject"] >= 1  # strict mode: HEAD the source, copy that exact ETag
    dst = await contents(pair.dest)
    assert dst[victim][1] == state["new_md5"] != old_md5  # the destination has the version the source has now
    assert dst == await contents(pair.source)
    # the refused copy wrote nothing; no manifest was ever written naming a segment not copied before it
    copies = [k for op, k, _ in recorder.events if op == "copy" and k == victim]
    assert len(copies) == 1
    assert_manifest_last(recorder.events, set())
    assert await verify(pair) == []


async def test_multipart_copy_parts_are_conditional(seaweedfs_buckets: BucketPair) -> None:
    pair = seaweedfs_buckets
    await seed(pair.source, topics=1, partitions=1, size=12 * MiB, segment=6 * MiB)
    _, m = await first_manifest(pair.source)
    victim = m.segment_key(m.segments[0])
    state: dict[str, Any] = {"parts": 0, "new_md5": None, "refused": 0}

    def wrap(store: ObjectStore) -> None:
        client = store._client
        upload_part_copy = client.upload_part_copy

        async def hooked(**params: Any) -> Any:
            is_victim = params["Key"].endswith(victim)
            if is_victim and state["new_md5"] is None and state["parts"] == 1:
                state["new_md5"] = await reupload(pair.source, victim)  # between part 1 and part 2
            try:
                resp = await upload_part_copy(**params)
            except Exception:
                if is_victim:
                    state["refused"] += 1
                raise
            if is_victim:
                state["parts"] += 1
            return resp

        client.upload_part_copy = hooked

    cfg = config(multipart_threshold=5 * MiB, multipart_part_size=5 * MiB, concurrency=1)
    run = await sync_once(pair, cfg, wrap_dest=wrap)
    assert run.report.ok
    segments = len(m.segments)
    assert segments >= 2
    assert state["refused"] >= 1 and state["new_md5"] is not None  # SeaweedFS refused the stale part (412)
    assert run.metrics.errors["source_changed"] >= 1 and run.metrics.errors["replans"] >= 1
    assert run.dest_ops["AbortMultipartUpload"] >= 1  # the half-done upload was aborted, never completed
    assert run.dest_ops["CompleteMultipartUpload"] == segments  # one completed upload per segment
    dst = await contents(pair.dest)
    assert dst[victim][1] == state["new_md5"]
    assert dst == await contents(pair.source)
    assert await verify(pair) == []  # multipart copies are tied to their source by the recorded ETag
