"""Helpers shared by the replicator tests (``tests/test_replicator*.py``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from conftest import BucketPair

from app.bucket import decode_partition_manifest
from app.config import S3Side
from app.replicator import Replicator, ReplicatorMetrics, SyncConfig, SyncReport, load_sync_config
from app.store import ObjectStore
from app.tools.seed import seed_bucket
from app.tools.seedgen import SeedSpec
from segment_format.manifest import PartitionManifest

KiB = 1024
MiB = 1024 * KiB
WRITE_OPS = frozenset({"PutObject", "CopyObject", "DeleteObjects", "DeleteObject", "CreateMultipartUpload",
                       "UploadPartCopy", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload"})


async def seed(side: S3Side, *, topics: int = 2, partitions: int = 2, size: int = 2 * MiB,
               segment: int = 128 * KiB, seed: int = 42, append: bool = False, layout: str = "prefixed",
               spillover: int = 0, cluster_uuid: str = "") -> None:
    spec = SeedSpec(topics=topics, partitions=partitions, total_bytes=size, segment_bytes=segment, seed=seed,
                    layout=layout, spillover=spillover, cluster_uuid=cluster_uuid)
    await seed_bucket(side, spec, append=append, progress=False, workers=0)


async def contents(side: S3Side) -> dict[str, tuple[int, str]]:
    """key -> (size, md5 of the bytes actually read)."""
    async with ObjectStore(side) as store:
        keys = [i.key async for i in store.list("")]
        out = {}
        for key in keys:
            body = (await store.get(key)).body
            out[key] = (len(body), hashlib.md5(body).hexdigest())
        return out


async def listing(side: S3Side) -> dict[str, tuple[int, str]]:
    """key -> (size, ETag) from ListObjectsV2."""
    async with ObjectStore(side) as store:
        return {i.key: (i.size, i.etag) async for i in store.list("")}


def config(**flags: Any) -> SyncConfig:
    flags.setdefault("concurrency", 8)
    flags.setdefault("poll_interval", 0.2)
    flags.setdefault("backoff_base", 0.01)
    flags.setdefault("backoff_cap", 0.2)
    return load_sync_config({}, environ={}, **flags)


@dataclass
class Run:
    report: SyncReport
    metrics: ReplicatorMetrics
    source_ops: dict[str, int]
    dest_ops: dict[str, int]
    replicator: Replicator


Wrap = Callable[[ObjectStore], None]


async def sync_once(pair: BucketPair, cfg: SyncConfig | None = None, *, wrap_dest: Wrap | None = None,
                    wrap_source: Wrap | None = None) -> Run:
    async with ObjectStore(pair.source) as src, ObjectStore(pair.dest) as dst:
        if wrap_dest:
            wrap_dest(dst)
        if wrap_source:
            wrap_source(src)
        rep = Replicator(src, dst, cfg or config())
        report = await rep.run_once()
        return Run(report, rep.metrics, {k: v.requests for k, v in src.stats.ops.items()},
                   {k: v.requests for k, v in dst.stats.ops.items()}, rep)


@dataclass
class Recorder:
    """Wraps a destination store's writes and records them in order: ("copy"|"put"|"delete", key, body)."""

    events: list[tuple[str, str, bytes | None]] = field(default_factory=list)
    before_copy: Callable[[str], Awaitable[None]] | None = None

    def install(self, store: ObjectStore) -> None:
        copy_from, multipart, put, delete_many = (store.copy_from, store.multipart_copy_from, store.put,
                                                  store.delete_many)

        async def rec_copy(source: ObjectStore, key: str, **kw: Any) -> str:
            if self.before_copy is not None:
                await self.before_copy(key)
            etag = await copy_from(source, key, **kw)
            self.events.append(("copy", key, None))
            return etag

        async def rec_multipart(source: ObjectStore, key: str, size: int, **kw: Any) -> str:
            etag = await multipart(source, key, size, **kw)
            self.events.append(("copy", key, None))
            return etag

        async def rec_put(key: str, body: bytes, **kw: Any) -> str:
            etag = await put(key, body, **kw)
            self.events.append(("put", key, body))
            return etag

        async def rec_delete(keys: Any) -> int:
            keys = list(keys)
            n = await delete_many(keys)
            self.events.extend(("delete", k, None) for k in keys)
            return n

        store.copy_from = rec_copy  # type: ignore[method-assign]
        store.multipart_copy_from = rec_multipart  # type: ignore[method-assign]
        store.put = rec_put  # type: ignore[method-assign]
        store.delete_many = rec_delete  # type: ignore[method-assign]


def manifest_of(key: str, body: bytes) -> PartitionManifest | None:
    name = key.rsplit("/", 1)[-1]
    if name == "manifest.json":
        return decode_partition_manifest(body, "json")
    if name == "manifest.bin":
        return decode_partition_manifest(body, "bin")
    return None


def assert_manifest_last(events: list[tuple[str, str, bytes | None]], present_before: set[str]) -> int:
    """Every partition manifest written names only segments copied before it (or there beforehand), and no
    object a written manifest names is deleted while that manifest is current. Returns manifests checked."""
    there = set(present_before)
    checked = 0
    current: dict[str, set[str]] = {}  # manifest prefix -> segment keys named by its current manifest
    for op, key, body in events:
        if op == "copy":
            there.add(key)
        elif op == "delete":
            for named in current.values():
                assert key not in named, f"deleted {key} while a current manifest names it"
            there.discard(key)
        elif op == "put":
            there.add(key)
            m = manifest_of(key, body or b"")
            if m is None:
                continue
            named = {m.segment_key(s) for s in m.segments}
            missing = sorted(named - there)
            assert not missing, f"{key} was written naming {len(missing)} objects not copied yet: {missing[:3]}"
            current[key.rsplit("/", 1)[0]] = named
            checked += 1
    return checked


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, default=str)
