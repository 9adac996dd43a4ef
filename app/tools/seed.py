"""`shadowreplica seed`: write a realistic Redpanda tiered-storage layout into a bucket.

Generation is CPU work (records, compression, CRCs) and runs in a process pool, one segment per task,
while earlier segments upload; uploads are bounded by ``concurrency``. Per partition the order is
Redpanda's: segments and their companions first, the partition manifest after them, topic manifests last,
so a reader never sees a manifest naming a missing object. ``append=True`` continues existing partitions
from their manifests (new term, offsets and deltas carried on) instead of starting fresh.
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from app.bucket import decode_partition_manifest
from app.config import S3Side
from app.errors import ObjectMissing
from app.store import ObjectStore, ensure_bucket
from app.tools.progress import Progress
from app.tools.seed_cluster import cluster_objects
from app.tools.seedgen import (
    PartitionState,
    SeedSpec,
    generate_segment,
    manifest_objects,
    partition_manifest,
    resume_state,
    segment_objects,
    topic_manifest_object,
    topic_name,
)


@dataclass(frozen=True, slots=True)
class SeedReport:
    objects: int
    bytes: int
    seconds: float
    partitions: int
    high_watermarks: dict[tuple[str, int], int] = field(default_factory=dict)
    """(topic, partition) -> the Kafka high watermark the manifest written for it states: what the writer
    wrote, so tests can expect it without reading the bucket back through the code under test."""

    @property
    def mib_per_second(self) -> float:
        return self.bytes / (1024 * 1024) / max(self.seconds, 1e-9)


def _segment_task(spec: SeedSpec, topic_index: int, partition: int, state: PartitionState
                  ) -> tuple[list[tuple[str, bytes]], PartitionState, int]:
    body, meta, tx_body, new_state = generate_segment(spec, topic_index, partition, state)
    skeleton = partition_manifest(spec, topic_index, partition, new_state)
    objs = segment_objects(skeleton, body, meta, tx_body)
    return [(o.key, o.body) for o in objs], new_state, len(body)


async def seed_bucket(side: S3Side, spec: SeedSpec, *, append: bool = False, concurrency: int = 16,
                      workers: int | None = None, progress: bool = True) -> SeedReport:
    """Write ``spec`` into the bucket of ``side`` (created if missing)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    await ensure_bucket(side)
    sem = asyncio.Semaphore(concurrency)
    bar = Progress(spec.total_bytes, "seed", enabled=progress)
    totals = {"objects": 0, "bytes": 0}
    workers = workers or max(1, min(os.cpu_count() or 1, 4))

    high_watermarks: dict[tuple[int, int], int] = {}
    async with ObjectStore(side) as store:

        async def put(key: str, body: bytes) -> None:
            async with sem:
                await store.put(key, body)
            totals["objects"] += 1
            totals["bytes"] += len(body)

        async def one_partition(pool: ProcessPoolExecutor, t: int, p: int) -> None:
            state = PartitionState()
            skeleton = partition_manifest(spec, t, p, state)
            if append:
                fmt = spec.manifest_format(t)
                try:
                    got = await store.get(skeleton.manifest_key(fmt))
                    state = resume_state(decode_partition_manifest(got.body, fmt, label=skeleton.remote_label))
                except ObjectMissing:
                    pass
            written = 0
            uploads: list[asyncio.Task[None]] = []
            while written < spec.partition_bytes:
                objs, state, seg_bytes = await loop.run_in_executor(pool, _segment_task, spec, t, p, state)
                written += seg_bytes
                uploads.extend(asyncio.create_task(put(k, b)) for k, b in objs)
                bar.advance(seg_bytes, len(objs))
                # keep at most a few segments in flight per partition (memory stays bounded)
                pending = [u for u in uploads if not u.done()]
                if len(pending) > 8:
                    await asyncio.gather(*pending[:-4])
            await asyncio.gather(*uploads)  # every segment exists before the manifest names it
            for obj in manifest_objects(spec, t, p, state):  # spillover manifests, then the main one
                await put(obj.key, obj.body)
            high_watermarks[(t, p)] = state.next_offset - state.delta

        with ProcessPoolExecutor(max_workers=workers) as pool:
            for t in range(spec.topics):
                await asyncio.gather(*(one_partition(pool, t, p) for p in range(spec.partitions)))
                obj = topic_manifest_object(spec, t)
                await put(obj.key, obj.body)
        if spec.groups:  # snapshots first, the cluster manifest naming them last
            now = time.time()  # an append uploads newer metadata (higher id) than the first seed
            extra = {"metadata_id": int(now), "upload_time_ms": int(now * 1000)} if append else {}
            for obj in cluster_objects(spec, high_watermarks, **extra):
                await put(obj.key, obj.body)
    bar.close()
    return SeedReport(totals["objects"], totals["bytes"], loop.time() - started, spec.topics * spec.partitions,
                      {(topic_name(t), p): hwm for (t, p), hwm in high_watermarks.items()})
