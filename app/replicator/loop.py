"""The replication loop: follow a source bucket's manifests and make the destination catch up, manifest last.

Theory of operation
-------------------
**The destination bucket is the state.** A :class:`PartitionWorker` keeps a *cursor* — the destination's
effective manifest (as last read or written, with ETags), the source manifest it last reflected, and the
keys it verified beyond the committed manifest — only as a cache, and as one frozen value
(:class:`~app.replicator.partition.PartitionCursor`) that each step replaces. Any error forgets it
(:meth:`PartitionWorker.forget`) and the next pass re-derives it from the buckets: one LIST of the
partition's ``meta/`` prefix and one GET of its effective manifest. Resume is a value, not a log.

**One pass** (:meth:`PartitionWorker.sync`): conditional GET of the source manifest (``If-None-Match``: an
unchanged partition costs one 304) → plan (``plan.py``: source minus destination) → copy the units in
offset order, at most ``window`` ahead of the contiguous done frontier → write each source spillover
manifest once its units are done → intermediate commits of the longest fully-copied prefix every
``window/2`` units or ``commit_interval`` seconds → the final commit (the target's bytes) → with
``--retention mirror``, delete what only the old manifest named (manifest first, objects after).

**Crash safety.** Every manifest we write names only objects verified at the destination, so the
destination is a valid Redpanda bucket at every instant, whatever moment a kill -9 lands. Before a
partition's first copy we commit its *initial* manifest (the source's log with no segment yet: a real
state, "everything before the first segment was removed"), so a partition without a destination manifest
provably has no copies, and copies beyond the committed manifest are at most ``2 × window`` units. After a
restart those units are *probed* (HEAD, skip if present) instead of copied again, unless the optional
checkpoint says the partition was clean. Nothing else is needed to resume.

**Source changes** between read and copy (a 412 on ``CopySourceIfUnmodifiedSince``/``CopySourceIfMatch``, a
required object gone, a size mismatch) abort the pass: nothing more is committed from that plan, the
source manifest is read again unconditionally and the plan rebuilt, the object that failed is copied in
strict mode (HEAD + ``CopySourceIfMatch``) from then on.

**Topic manifests** are written (verbatim) by the owner of the topic's partition 0 once every source
partition of the topic has a destination manifest naming data; **cluster_metadata/** (whole-cluster
restore) objects are copied by shard 0, each ``cluster_manifest.json`` after the other objects.

**Tasks** (``--follow``): one per partition (poll, plan, copy; sleep ``poll_interval`` with jitter), one
for discovery (every ``discovery_interval``: new topics/partitions start workers), topic manifests and
cluster metadata, and checkpoint flushing. A failing task logs and retries later; it never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from app.bucket import (
    BucketListing,
    ManifestObject,
    PartitionId,
    PartitionObjects,
    TopicId,
    changed_object_kind,
    discover,
    listed_etags,
)
from app.errors import ShadowReplicaError, StorageUnavailable
from app.polling import AdaptiveInterval, FullListings
from app.replicator.checkpoint import Checkpoint
from app.replicator.copier import Copier
from app.replicator.gc import OrphanReport, collect_orphans
from app.replicator.limiter import AdaptiveLimiter, RetryPolicy, error_kind, limited
from app.replicator.metrics import ReplicatorMetrics
from app.replicator.options import SyncConfig
from app.replicator.partition import PartitionWorker
from app.replicator.topics import ClusterMetadataWorker, TopicWorker, _topic_formats
from app.store import ObjectStore, RequestRetry
from segment_format.errors import FormatError

__all__ = ["PartitionWorker", "ProgressSink", "Replicator", "SyncReport"]

T = TypeVar("T")


class ProgressSink(Protocol):
    """Where a sync reports bytes copied (the CLI's progress bar, ``app/tools/progress.py``)."""

    total: int
    done: int

    def advance(self, nbytes: int, items: int = 1) -> None: ...

log = logging.getLogger(__name__)


async def _no_listing() -> BucketListing | None:
    return None


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one ``--once`` run did."""

    partitions: int
    caught_up: int
    failed: tuple[str, ...]
    topics: int
    topics_failed: tuple[str, ...]
    copied_objects: int
    copied_bytes: int
    seconds: float
    gc: dict[str, Any] | None = None  # --gc: orphans found and deleted (gc.OrphanReport.as_dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.topics_failed


# -------------------------------------------------------------------------------------------- replicator


class Replicator:
    """Replicates ``source`` into ``dest`` (two open :class:`ObjectStore` s) as ``config`` says.

    ``await run_once()`` brings every owned partition up to date once; ``await run_forever(stop)`` follows.
    """

    def __init__(self, source: ObjectStore, dest: ObjectStore, config: SyncConfig | None = None, *,
                 metrics: ReplicatorMetrics | None = None, progress: ProgressSink | None = None,
                 checkpoint: Checkpoint | None = None, rng: random.Random | None = None,
                 create_dest: bool = False) -> None:
        self.source = source
        self._create_dest = create_dest  # the first destination discovery creates its bucket when missing
        self.dest = dest
        self.config = config or SyncConfig()
        r = self.config.replicator
        self.metrics = metrics or ReplicatorMetrics()
        self.progress = progress
        self.checkpoint = checkpoint or Checkpoint(self.config.checkpoint_path,
                                                   identity=f"{source.side.url} -> {dest.side.url} "
                                                            f"shard {self.config.shard}")
        self.rng = rng or random.Random()
        self.limiter = AdaptiveLimiter(r.concurrency)
        # partition manifest commits (one at a time per partition) have slots of their own: taking a copy slot,
        # the commit that is in flight nearly all of a long pass kept one of the copies' slots idle (a single
        # partition's bulk copy ran 15 copies at concurrency 16); throttling cuts both limits
        self.commit_limiter = AdaptiveLimiter(max(1, r.concurrency // 4))
        self.metrics.concurrency_limit = self.limiter.limit
        self.policy = RetryPolicy(attempts=r.max_retries, base=r.backoff_base, cap=r.backoff_cap, rng=self.rng)
        for store in (source, dest):  # every S3 request retried on its own (list page, GET, part...), this policy
            store.request_retry = RequestRetry(attempts=r.max_retries, base=r.backoff_base, cap=r.backoff_cap,
                                               on_failure=self._page_failed, on_success=self._page_recovered)
        self.copier = Copier(source, dest, limiter=self.limiter, metrics=self.metrics,
                             multipart_threshold=r.multipart_threshold, part_size=r.multipart_part_size,
                             verify=self.config.options.verify, copy_mode=self.config.options.copy_mode,
                             stream_part_size=self.config.options.stream_part_size,
                             stream_concurrency=self.config.options.stream_concurrency,
                             stream_memory_bytes=self.config.options.stream_memory_bytes)
        self.workers: dict[PartitionId, PartitionWorker] = {}
        self.topic_workers: dict[TopicId, TopicWorker] = {}
        self.cluster = ClusterMetadataWorker(self)
        self.listing: BucketListing | None = None
        self.dest_listing: BucketListing | None = None
        self.activity = False  # a partition changed since the last discovery (its backoff snaps back)
        self.on_commit: Callable[[PartitionId, ManifestObject], None] | None = None
        """Called after every destination manifest commit (``run``: the catalog learns it in process)."""
        self.on_source: Callable[[PartitionId, ManifestObject], None] | None = None
        """Called with every new source manifest a worker reads (``run``: the source catalog learns it)."""
        self.on_listing: Callable[[BucketListing], None] | None = None
        """Called with every discovery of the source (``run``: the source catalog need not list it)."""
        self._checkpoint_loaded = False
        self._tasks: dict[PartitionId, asyncio.Task[None]] = {}
        # following by events (app/events.py): partitions sleep until woken, discovery is the safety net
        self.hinted = False
        self.safety_interval = 300.0
        self._wake: dict[PartitionId, asyncio.Event] = {}
        self._meta_wake = asyncio.Event()
        self._by_manifest_key: dict[str, PartitionId] = {}
        self._full = FullListings()  # hinted: every root listed hourly, or when an event names something new

    def _page_failed(self, error: StorageUnavailable) -> None:
        self.metrics.error(error_kind(error))
        self.metrics.retries += 1
        self.limiter.on_throttle()
        self.commit_limiter.on_throttle()
        self.metrics.concurrency_limit = self.limiter.limit

    def _page_recovered(self) -> None:
        self.limiter.on_success()
        self.commit_limiter.on_success()
        self.metrics.concurrency_limit = self.limiter.limit

    async def retry(self, call: Callable[[], Awaitable[T]], what: str, *, slots: int = 1) -> T:
        """``call`` under the limiter, once: the stores retry each S3 request inside it on its own
        (``store.request_retry``), so nothing that succeeded is done again (the name stays for its callers)."""
        return await limited(call, limiter=self.limiter, slots=slots)

    async def commit_call(self, call: Callable[[], Awaitable[T]]) -> T:
        """A partition manifest commit's request, under the commit slots (not a copy's), once."""
        return await limited(call, limiter=self.commit_limiter)

    # -- progress --

    def add_progress_total(self, nbytes: int) -> None:
        if self.progress is not None and nbytes:
            if self.progress.done == 0 and self.progress.total <= 1:
                self.progress.total = nbytes
            else:
                self.progress.total += nbytes

    def advance_progress(self, nbytes: int) -> None:
        if self.progress is not None:
            self.progress.advance(nbytes, 1)

    def update_request_metrics(self) -> None:
        for side, store in (("source", self.source), ("dest", self.dest)):
            self.metrics.set_requests(side, {op: s.requests for op, s in store.stats.ops.items()})

    # -- events --

    def set_hinted(self, hinted: bool, safety_interval: float | None = None,
                   full_interval: float | None = None) -> None:
        """Events arrive (``True``): partition manifests are not polled; a discovery every ``safety_interval``
        compares listed ETags instead. ``False`` (the queue stopped answering): poll adaptively again, now."""
        if safety_interval is not None:
            self.safety_interval = safety_interval
        if full_interval is not None:
            self._full.interval = full_interval
        was, self.hinted = self.hinted, hinted
        if was and not hinted:
            for event in self._wake.values():
                event.set()
            self._meta_wake.set()

    def on_bucket_event(self, key: str) -> None:
        """An object changed in the source (``key`` relative to its layout root): wake the partition whose
        manifest it is, or the discovery when it names something new (a topic, a partition, cluster metadata)."""
        self.metrics.events += 1
        kind = changed_object_kind(key)
        pid = self._by_manifest_key.get(key)
        if kind == "partition" and pid is not None and pid in self._wake:
            self._wake[pid].set()
        elif kind in ("partition", "topic", "cluster"):
            self._full.ask()
            self._meta_wake.set()

    def _wake_moved(self, listing: BucketListing) -> None:
        """Wake the workers whose listed source manifest ETag differs from the one they last read."""
        etags = listed_etags(listing)
        for pid, worker in self.workers.items():
            key = pid.manifest_key(worker.source_fmt) if worker.source_fmt else None
            if key is None:
                continue
            self._by_manifest_key[key] = pid
            seen = worker.source.etag if worker.source is not None else None
            if etags.get(key) != seen and pid in self._wake:
                self._wake[pid].set()

    async def _sleep(self, wake: asyncio.Event, seconds: float) -> None:
        """Sleep ``seconds`` (forever while hinted: an event or the safety net wakes it) or until woken."""
        timeout = 3600.0 if self.hinted else seconds
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await wake.wait()
        wake.clear()

    # -- discovery --

    async def discover(self, *, with_dest: bool, full: bool = True) -> BucketListing:
        """Discover the source's manifests (both layouts, :mod:`app.bucket`); start workers for owned partitions
        and topics not seen before. Not ``full``: a light pass over the roots known to hold manifests."""
        include = self.config.topics
        uuids = self.config.cluster_uuids
        # no retry around the whole discovery: each listing page is retried on its own (request_retry), so a
        # fault never restarts listings that succeeded; the checkpoint and both sides are read side by side
        known = self.listing if not full and self.listing is not None and self.listing.partitions else None
        with self._full.listing(known is None):
            listing, dest_listing, _ = await asyncio.gather(
                discover(self.source, include=include, cluster_uuids=uuids, known=known),
                self._discover_dest() if with_dest else _no_listing(),
                self._load_checkpoint(),
            )
        if dest_listing is not None:
            self.dest_listing = dest_listing
        shard = self.config.shard
        for pid, objs in listing.partitions.items():
            fmt = objs.effective_fmt
            if fmt is None or not shard.owns(pid.namespace, pid.topic, pid.partition):
                continue
            worker = self.workers.get(pid)
            if worker is None:
                seed = None
                if dest_listing is not None:
                    seed = dest_listing.partitions.get(pid, PartitionObjects())
                self.workers[pid] = PartitionWorker(self, pid, source_fmt=fmt, dest_listing=seed)
            else:
                worker.use_format(fmt)
        for tid in listing.topics:
            if shard.owns_topic(tid.namespace, tid.topic) and tid not in self.topic_workers:
                self.topic_workers[tid] = TopicWorker(self, tid)
        if dest_listing is not None and self.config.replicator.retention == "mirror":
            # partitions and topics the source no longer has (a deleted topic): their workers delete them
            for pid, objs in dest_listing.partitions.items():
                if pid not in listing.partitions and pid not in self.workers and \
                        shard.owns(pid.namespace, pid.topic, pid.partition):
                    self.workers[pid] = PartitionWorker(self, pid, source_fmt=objs.effective_fmt or "json",
                                                        dest_listing=objs)
            for tid in dest_listing.topics:
                if tid not in listing.topics and shard.owns_topic(tid.namespace, tid.topic) and \
                        tid not in self.topic_workers:
                    self.topic_workers[tid] = TopicWorker(self, tid)
        self.listing = listing
        if self.on_listing is not None:
            self.on_listing(listing)
        return listing

    async def _discover_dest(self) -> BucketListing | None:
        if self._create_dest:  # beside the source's listings, not one round trip before them
            await self.dest.ensure_bucket()
            self._create_dest = False
        return await discover(self.dest, include=self.config.topics, cluster_uuids=self.config.cluster_uuids)

    async def _load_checkpoint(self) -> None:
        if not self._checkpoint_loaded:
            await self.checkpoint.load()
            self._checkpoint_loaded = True

    # -- once --

    async def _partition_once(self, worker: PartitionWorker) -> bool:
        for attempt in range(self.policy.attempts):
            try:
                await worker.sync()
                return True
            except (ShadowReplicaError, FormatError) as e:
                message = e.message if isinstance(e, ShadowReplicaError) else str(e)
                self._failed(worker, message)
                if isinstance(e, StorageUnavailable):  # one request failed --max-retries times in a row: done
                    return False
                if attempt + 1 < self.policy.attempts:
                    await asyncio.sleep(self.policy.delay(attempt + 1))
        return False

    def _failed(self, worker: PartitionWorker, message: str) -> None:
        log.warning("%s: %s", worker.pid, message)
        self.metrics.error("partition_pass")
        worker.lag.state = "error"
        worker.lag.last_error = message
        worker.forget()

    async def run_once(self) -> SyncReport:
        """Discover, bring every owned partition up to date, then topic manifests and cluster metadata."""
        started = time.monotonic()
        listing = await self.discover(with_dest=True)
        workers = sorted(self.workers.values(), key=lambda w: w.pid)
        results = await asyncio.gather(*(self._partition_once(w) for w in workers))
        failed = tuple(str(w.pid) for w, ok in zip(workers, results, strict=True) if not ok)
        # a topic with a partition of ours that failed cannot get its manifest in this run: no point waiting
        # topic_wait for it (the wait is for other shards' partitions)
        blocked = {w.pid.topic_id for w, ok in zip(workers, results, strict=True) if not ok}
        topics_failed: list[str] = []
        deadline = time.monotonic() + self.config.options.topic_wait
        for tid, tw in self.topic_workers.items():
            if tid in blocked:
                topics_failed.append(tw.name)
                continue
            while True:
                try:
                    if await tw.sync(listing, self.dest_listing):
                        break
                except (ShadowReplicaError, FormatError) as e:
                    log.warning("topic %s: %s", tw.name, e)
                if time.monotonic() >= deadline:
                    topics_failed.append(tw.name)
                    break
                await asyncio.sleep(self.config.replicator.poll_interval)
        if self.config.shard.owns_cluster_metadata and not failed:
            try:
                await self.cluster.sync()
            except ShadowReplicaError as e:
                log.warning("cluster metadata: %s", e.message)
                topics_failed.append("cluster_metadata")
        gc = None
        if self.config.options.gc and not failed:
            gc = (await self.collect_orphans()).as_dict()
        await self.checkpoint.flush()
        self.update_request_metrics()
        return SyncReport(
            partitions=len(workers), caught_up=len(workers) - len(failed), failed=failed,
            topics=len(self.topic_workers), topics_failed=tuple(topics_failed),
            copied_objects=self.metrics.total_copied_objects, copied_bytes=self.metrics.total_copied_bytes,
            seconds=time.monotonic() - started, gc=gc,
        )

    async def collect_orphans(self) -> OrphanReport:
        """Delete this shard's destination segment objects no manifest names, older than the grace period."""
        topics, shard = self.config.topics, self.config.shard

        def mine(namespace: str, topic: str, partition: int) -> bool:
            return topics(namespace, topic) and shard.owns(namespace, topic, partition)

        report = await collect_orphans(self.dest, grace_seconds=self.config.options.gc_grace, delete=True,
                                       include=mine, cluster_uuids=self.config.cluster_uuids)
        self.metrics.deleted_objects += report.deleted
        if report.deleted:
            log.info("gc: deleted %d orphan object(s), %d bytes, that no manifest names", report.deleted,
                     report.deleted_bytes)
        return report

    # -- follow --

    async def _partition_loop(self, worker: PartitionWorker) -> None:
        """Poll one partition: fast while it changes, slower and slower while idle (``max_poll_interval``);
        while hinted (events), only when woken. A failed pass is retried after a back-off, hinted or not."""
        failures = 0
        r = self.config.replicator
        pacing = AdaptiveInterval(r.poll_interval, max(r.poll_interval, r.max_poll_interval))
        wake = self._wake.setdefault(worker.pid, asyncio.Event())
        while True:
            wake.clear()
            try:
                await worker.sync()
                failures = 0
                if worker.changed:
                    self.activity = True
                await self._sleep(wake, pacing.next(worker.changed) * self.rng.uniform(0.9, 1.1))
                continue
            except (ShadowReplicaError, FormatError) as e:
                self._failed(worker, e.message if isinstance(e, ShadowReplicaError) else str(e))
            except Exception:  # a bug: say so loudly, keep the other partitions going
                log.exception("%s: replication pass crashed", worker.pid)
                self._failed(worker, "internal error (see log)")
            failures += 1
            await asyncio.sleep(max(r.poll_interval, self.policy.delay(min(failures, 8))))

    def _discovery_changed(self, before: BucketListing | None, after: BucketListing) -> bool:
        if before is None:
            return True
        return (set(before.partitions) != set(after.partitions) or set(before.topics) != set(after.topics)
                or any(before.topics[t].manifests.keys() != o.manifests.keys() for t, o in after.topics.items()
                       if t in before.topics))

    async def _meta_loop(self) -> None:
        """Discovery, topic manifests, cluster metadata, orphans (``gc_interval``), checkpoint and metrics."""
        o = self.config.options
        pacing = AdaptiveInterval(o.discovery_interval, max(o.discovery_interval, o.discovery_max_interval))
        interval = o.discovery_interval
        first = True
        last_gc = time.monotonic()
        while True:
            self._meta_wake.clear()  # before the pass: an event during it wakes the next one
            try:
                before = None if first else self.listing
                # hinted (events), the safety-net passes are light (known roots only) and skip the cluster
                # metadata; everything is listed every discovery_max_interval or when an event asks for it
                full = self._full.due(self.hinted)
                listing = self.listing if first else await self.discover(with_dest=False, full=full)
                first = False
                assert listing is not None
                # listings back off like partitions; any change (or a partition that moved) snaps them back
                interval = pacing.next(self._discovery_changed(before, listing) or self.activity)
                if self.hinted:
                    interval = self.safety_interval
                self.activity = False
                for pid, worker in list(self.workers.items()):
                    if pid not in self._tasks:
                        self._wake.setdefault(pid, asyncio.Event())
                        self._tasks[pid] = asyncio.create_task(self._partition_loop(worker), name=f"sync {pid}")
                self._wake_moved(listing)  # a discovery is also one poll of every partition (listed ETags)
                for tw in self.topic_workers.values():
                    try:
                        await tw.sync(listing, self.dest_listing)
                    except (ShadowReplicaError, FormatError) as e:
                        log.warning("topic %s: %s", tw.name, e)
                if self.config.shard.owns_cluster_metadata and full:
                    await self.cluster.sync()
                gc_every = self.config.options.gc_interval
                if gc_every > 0 and time.monotonic() - last_gc >= gc_every:
                    last_gc = time.monotonic()
                    await self.collect_orphans()
            except ShadowReplicaError as e:
                log.warning("discovery: %s", e.message)
            except Exception:
                log.exception("discovery pass crashed")
            await self.checkpoint.flush()
            self.update_request_metrics()
            # topic manifests wait for partitions: look again soon while any is pending
            pending = any(tw.done_etags.keys() != _topic_formats(self.listing, tw.topic)
                          for tw in self.topic_workers.values()) if self.listing else False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(interval, self.config.replicator.poll_interval * 2) if pending
                                           else interval):
                    await self._meta_wake.wait()
            if pending or self._meta_wake.is_set():
                pacing.reset()

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        """Follow the source until ``stop`` is set (or the task is cancelled)."""
        stop = stop or asyncio.Event()
        await self.discover(with_dest=True)
        meta = asyncio.create_task(self._meta_loop(), name="replicator-meta")
        try:
            await stop.wait()
        finally:
            meta.cancel()
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(meta, *self._tasks.values(), return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.checkpoint.flush()
            self.update_request_metrics()

