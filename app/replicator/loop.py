"""The replication loop: follow a source bucket's manifests and make the destination catch up, manifest last.

Theory of operation
-------------------
**The destination bucket is the state.** A :class:`PartitionWorker` keeps a *cursor* — the destination's
effective manifest (as last read or written, with ETags), the source manifest it last reflected, and the
keys it verified beyond the committed manifest — only as a cache. Any error forgets it
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from app.bucket import (
    BucketListing,
    ManifestObject,
    PartitionId,
    PartitionObjects,
    TopicId,
    decode_partition_manifest,
    discover,
    encode_partition_manifest,
    list_partition,
)
from app.errors import ObjectMissing, PreconditionFailed, ShadowReplicaError, StorageUnavailable
from app.polling import AdaptiveInterval
from app.replicator.checkpoint import Checkpoint, CheckpointEntry
from app.replicator.copier import Copier, CopyOutcome, SourceChanged
from app.replicator.gc import OrphanReport, collect_orphans
from app.replicator.limiter import AdaptiveLimiter, RetryPolicy, error_kind, limited
from app.replicator.metrics import PartitionLag, ReplicatorMetrics
from app.replicator.options import SyncConfig
from app.replicator.plan import PartitionPlan, Unit, plan_partition, restorable
from app.store import GetResult, NotModified, ObjectInfo, ObjectStore, RequestRetry
from segment_format.errors import FormatError
from segment_format.manifest import PartitionManifest, SegmentMeta

__all__ = ["PartitionWorker", "ProgressSink", "Replicator", "SyncReport"]


class ProgressSink(Protocol):
    """Where a sync reports bytes copied (the CLI's progress bar, ``app/tools/progress.py``)."""

    total: int
    done: int

    def advance(self, nbytes: int, items: int = 1) -> None: ...

log = logging.getLogger(__name__)
T = TypeVar("T")

_CONTENT_TYPE = {"json": "application/json", "bin": "application/octet-stream"}


class _Unchanged:
    """The source manifest still has the checkpoint's ETag (a 304 with nothing cached to return)."""


UNCHANGED = _Unchanged()


class ReplicationError(ShadowReplicaError):
    """A partition could not be brought up to date in this pass (the message says why)."""


@dataclass(slots=True)
class DestState:
    """The destination as a worker last saw it: effective manifest, manifest ETags by format, spillovers."""

    manifest: ManifestObject | None
    etags: dict[str, str] = field(default_factory=dict)
    spills: set[str] = field(default_factory=set)


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


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------- partition


class PartitionWorker:
    """Replicates one partition. :meth:`sync` is one pass; the cursor is a cache (module doc)."""

    def __init__(self, rep: Replicator, pid: PartitionId, *, source_fmt: str | None = None,
                 dest_listing: PartitionObjects | None = None) -> None:
        self.rep = rep
        self.pid = pid
        self.source_fmt = source_fmt
        self.lag: PartitionLag = rep.metrics.partition(pid.namespace, pid.topic, pid.partition, pid.revision)
        self.source: ManifestObject | None = None
        self.dest: DestState | None = None
        self.spills: dict[str, tuple[tuple[SegmentMeta, ...], bytes]] = {}  # source spillovers (immutable)
        self.verified: set[str] = set()  # object keys at the destination beyond the committed manifest
        self.absent: set[str] = set()  # optional companions the source does not have
        self.strict: set[str] = set()  # keys to copy with HEAD + CopySourceIfMatch
        self.needs_probe = True
        self.caught_up_etag: str | None = None  # source manifest ETag the destination fully reflects
        self.hint_source_etag: str | None = None  # from the checkpoint, until the first source read
        self._dest_listing = dest_listing  # from the start-up discovery, used once
        self.passes = 0
        self.changed = False  # the last pass read a new source manifest (adaptive polling snaps back)

    @property
    def name(self) -> str:
        return self.pid.name

    def forget(self) -> None:
        """Drop the cursor: the next pass re-derives everything from the buckets."""
        self.source = None
        self.dest = None
        self.verified.clear()
        self.absent.clear()
        self.needs_probe = True
        self.caught_up_etag = None
        self.hint_source_etag = None
        self._dest_listing = None

    async def _retry(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        return await self.rep.retry(call, f"{self.pid}: {what}")

    # -- reading --

    async def _fetch_source(self, *, force: bool) -> ManifestObject | _Unchanged | None:
        """The source's effective manifest; the cached one when the conditional GET says 304;
        :data:`UNCHANGED` when it still has the checkpoint's ETag; None when the partition is gone."""
        for _ in range(2):
            fmt = self.source_fmt or self.pid.formats[-1]
            key = self.pid.manifest_key(fmt)
            etag = None
            if not force:
                etag = self.source.etag if self.source is not None and self.source.fmt == fmt else self.hint_source_etag
            try:
                got = await self._retry(partial(self.rep.source.get, key, if_none_match=etag), f"GET {key}")
            except ObjectMissing:
                objs = await list_partition(self.rep.source, self.pid)
                new_fmt = objs.effective_fmt
                if new_fmt is None:
                    return None  # the partition is gone from the source
                self.source_fmt, self.source, self.hint_source_etag = new_fmt, None, None
                continue
            if isinstance(got, NotModified):
                return self.source if self.source is not None else UNCHANGED
            self.hint_source_etag = None
            previous = self.source.etag if self.source is not None else None
            self.source = self._parse(got, fmt, "source")
            self.changed = self.changed or got.etag != previous
            return self.source
        raise ReplicationError(f"{self.pid}: source manifest keeps moving between formats")

    def _parse(self, got: GetResult, fmt: str, side: str) -> ManifestObject:
        try:
            manifest = decode_partition_manifest(got.body, fmt, label=self.pid.cluster_uuid)
        except FormatError as e:
            self.rep.metrics.error("bad_manifest")
            raise ReplicationError(f"{self.pid}: unreadable {side} manifest {got.key}: {e}") from e
        p = self.pid
        if (manifest.namespace, manifest.topic, manifest.partition) != (p.namespace, p.topic, p.partition):
            self.rep.metrics.error("bad_manifest")
            raise ReplicationError(f"{self.pid}: {side} manifest {got.key} describes "
                                   f"{manifest.namespace}/{manifest.topic}/{manifest.partition}")
        return ManifestObject(key=got.key, fmt=fmt, etag=got.etag, last_modified=got.last_modified, body=got.body,
                              manifest=manifest)

    async def _load_dest(self) -> DestState:
        objs = self._dest_listing
        self._dest_listing = None
        if objs is None:
            objs = await list_partition(self.rep.dest, self.pid)
        state = DestState(None, {f: i.etag for f, i in objs.manifests.items()}, set(objs.spillovers))
        fmt = objs.effective_fmt
        if fmt is not None:
            key = self.pid.manifest_key(fmt)
            got = await self._retry(partial(self.rep.dest.get, key), f"GET dest {key}")
            state.manifest = self._parse(got, fmt, "destination")
            state.etags[fmt] = got.etag
        entry = self.rep.checkpoint.get(str(self.pid))
        if state.manifest is None:
            self.needs_probe = False  # nothing is ever copied before the initial manifest exists
        elif entry is not None and entry.clean and entry.dest_etag == state.manifest.etag:
            self.needs_probe = False
            self.hint_source_etag = entry.source_etag
        else:
            self.needs_probe = True
        return state

    async def _ensure_spills(self, src: ManifestObject, dest: DestState) -> None:
        """Read the source spillover manifests the plan needs (cached: their keys name their ranges)."""
        m = src.manifest
        need = [m.spillover_key(s) for s in m.spillover]
        older_kept = (self.rep.config.replicator.retention == "keep" and dest.manifest is not None
                      and any(s.committed_offset < (m.spillover[0].base_offset if m.spillover else 0)
                              for s in dest.manifest.manifest.segments))
        if not older_kept:
            need = [k for k in need if k not in dest.spills]
        for key in need:
            if key in self.spills:
                continue
            try:
                got = await self._retry(partial(self.rep.source.get, key), f"GET {key}")
            except ObjectMissing:
                raise SourceChanged(f"{key}: the source manifest lists it but it is gone", key=key,
                                    reason="missing") from None
            try:
                spm = decode_partition_manifest(got.body, "bin", label=self.pid.cluster_uuid)
            except FormatError as e:
                self.rep.metrics.error("bad_manifest")
                raise ReplicationError(f"{self.pid}: unreadable spillover manifest {key}: {e}") from e
            self.spills[key] = (spm.segments, got.body)

    # -- one pass --

    async def sync(self) -> bool:
        """Bring the destination up to the source's current manifest. True when it holds it."""
        self.passes += 1
        self.changed = False
        attempts = self.rep.policy.attempts
        for attempt in range(attempts):
            if self.dest is None:
                self.dest = await self._load_dest()
            src = await self._fetch_source(force=attempt > 0)
            if isinstance(src, _Unchanged):
                return self._caught_up_from_checkpoint()
            if src is None:
                if self.rep.config.replicator.retention == "mirror":
                    await self._drop_partition()
                self.lag.state = "source_gone"
                return True
            if self.caught_up_etag == src.etag:
                self._set_caught_up(src)
                return True
            dest = self.dest
            try:
                await self._ensure_spills(src, dest)
                plan = plan_partition(
                    pid=self.pid, source=src,
                    source_spills={k: v[0] for k, v in self.spills.items()},
                    source_spill_bodies={k: v[1] for k, v in self.spills.items()},
                    dest=dest.manifest, dest_manifest_fmts=dest.etags.keys(), dest_spills=dest.spills,
                    retention=self.rep.config.replicator.retention,  # type: ignore[arg-type]
                )
                self._update_lag(plan, src)
                if not plan.unchanged:
                    await self._execute(plan, src)
            except SourceChanged as e:
                self.strict.add(e.key)
                self.rep.metrics.error("replans")
                log.info("%s: %s; re-planning from a fresh source manifest", self.pid, e.message)
                continue
            self.caught_up_etag = src.etag
            self._set_caught_up(src)
            assert self.dest is not None and self.dest.manifest is not None
            await self.rep.checkpoint.put(str(self.pid), CheckpointEntry(self.dest.manifest.etag, src.etag, True))
            return True
        raise ReplicationError(f"{self.pid}: the source kept changing under {attempts} plans in a row")

    def _caught_up_from_checkpoint(self) -> bool:
        """Source 304 against the checkpoint's ETag and the destination clean at its commit: nothing to do."""
        assert self.dest is not None and self.dest.manifest is not None
        self.caught_up_etag = self.hint_source_etag
        m = self.dest.manifest.manifest
        self.lag.source_next_offset = self.lag.dest_next_offset = m.kafka_next_offset
        self.lag.segments_behind = self.lag.bytes_behind = 0
        self.lag.behind_since = None
        self.lag.restorable_offset, self.lag.restorable_timestamp_ms = restorable(m)
        self.lag.state = "caught_up"
        return True

    def _set_caught_up(self, src: ManifestObject) -> None:
        self.lag.segments_behind = self.lag.bytes_behind = 0
        self.lag.behind_since = None
        self.lag.source_next_offset = src.manifest.kafka_next_offset
        if self.dest is not None and self.dest.manifest is not None:
            m = self.dest.manifest.manifest
            self.lag.dest_next_offset = m.kafka_next_offset
            self.lag.restorable_offset, self.lag.restorable_timestamp_ms = restorable(m)
        self.lag.state = "caught_up"
        self.lag.last_error = None

    def _update_lag(self, plan: PartitionPlan, src: ManifestObject) -> None:
        lag = self.lag
        lag.source_next_offset = src.manifest.kafka_next_offset
        dm = self.dest.manifest.manifest if self.dest is not None and self.dest.manifest is not None else None
        lag.dest_next_offset = dm.kafka_next_offset if dm is not None else 0
        lag.segments_behind = len(plan.units)
        lag.bytes_behind = plan.bytes_to_copy
        if plan.unchanged:
            lag.behind_since = None
        elif lag.behind_since is None:
            lag.behind_since = src.last_modified.timestamp()
        lag.state = "caught_up" if plan.unchanged else "copying"

    # -- commits --

    async def _put_manifest(self, fmt: str, body: bytes, kind: str) -> str:
        assert self.dest is not None
        key = self.pid.manifest_key(fmt)
        etag = self.dest.etags.get(fmt)
        try:
            new = await self._retry(
                partial(self.rep.dest.put, key, body, if_match=etag, if_none_match=etag is None,
                        content_type=_CONTENT_TYPE[fmt]), f"PUT {key}")
        except PreconditionFailed as e:
            self.rep.metrics.error("concurrent_writer")
            raise ReplicationError(f"{self.pid}: {key} changed at the destination under us (another writer?)") from e
        self.dest.etags[fmt] = new
        self.rep.metrics.manifest_commits[kind] += 1
        self.lag.last_commit = time.time()
        return new

    async def _delete_manifest(self, fmt: str) -> None:
        assert self.dest is not None
        key = self.pid.manifest_key(fmt)
        await self._retry(partial(self.rep.dest.delete_many, [key]), f"DELETE {key}")
        self.dest.etags.pop(fmt, None)

    async def _commit(self, manifest: PartitionManifest, fmt: str, body: bytes, kind: str) -> None:
        """Write ``manifest`` as the destination's effective manifest, then drop the other format."""
        assert self.dest is not None
        etag = await self._put_manifest(fmt, body, kind)
        for other in [f for f in self.dest.etags if f != fmt]:
            await self._delete_manifest(other)  # manifest.bin would shadow manifest.json for Redpanda
        self.dest.manifest = ManifestObject(key=self.pid.manifest_key(fmt), fmt=fmt, etag=etag, last_modified=_now(),
                                            body=body, manifest=manifest)
        if self.rep.on_commit is not None:
            self.rep.on_commit(self.pid, self.dest.manifest)
        self.lag.dest_next_offset = manifest.kafka_next_offset
        self.lag.restorable_offset, self.lag.restorable_timestamp_ms = restorable(manifest)

    async def _commit_intermediate(self, plan: PartitionPlan, units_done: set[str], spills: set[str], *,
                                   initial: bool = False) -> bool:
        assert self.dest is not None
        named = plan.dest_named

        def available(key: str) -> bool:
            return key in named or key in units_done

        m = plan.intermediate(available, spills)
        current = self.dest.manifest.manifest if self.dest.manifest is not None else None
        if current is not None and (m.last_offset < current.last_offset or m == current):
            return False  # never move the destination back in time, never rewrite the same state
        if not initial and current is None and not m.segments and not m.spillover:
            return False
        fmt = self.pid.formats[-1]  # JSON where Redpanda falls back to it; a labeled partition reads only .bin
        await self._commit(m, fmt, encode_partition_manifest(m, fmt),
                           "partition_initial" if initial else "partition_intermediate")
        await self.rep.checkpoint.put(str(self.pid), CheckpointEntry(self.dest.etags[fmt], plan.source_etag, False))
        return True

    # -- copying --

    async def _copy_unit(self, unit: Unit, src: ManifestObject, probe: bool) -> None:
        async def one(obj_index: int) -> None:
            obj = unit.objects[obj_index]
            if obj.key in self.verified or obj.key in self.absent:
                return
            outcome = await self.rep.copier.copy(obj, unmodified_since=src.last_modified,
                                                 strict=obj.key in self.strict, probe=probe)
            if outcome is CopyOutcome.ABSENT:
                self.absent.add(obj.key)
            else:
                self.verified.add(obj.key)
                if outcome is CopyOutcome.COPIED:
                    self.rep.advance_progress(obj.size or 0)

        await asyncio.gather(*(one(i) for i in range(len(unit.objects))))

    def _unit_done(self, unit: Unit) -> bool:
        return all(o.key in self.verified or o.key in self.absent for o in unit.objects)

    async def _execute(self, plan: PartitionPlan, src: ManifestObject) -> None:
        assert self.dest is not None
        units = plan.units
        n = len(units)
        window = self.rep.config.window
        done = [self._unit_done(u) for u in units]
        units_done = {u.key for u, d in zip(units, done, strict=True) if d}
        spills_written = set(self.dest.spills)
        pending_spills = list(plan.spill_writes)
        last_index = {sw.key: max((i for i, u in enumerate(units) if u.spill_key == sw.key), default=-1)
                      for sw in pending_spills}
        self.rep.add_progress_total(plan.bytes_to_copy)
        if self.dest.manifest is None and n:
            await self._commit_intermediate(plan, units_done, spills_written, initial=True)
        elif n and self.dest.manifest is not None:
            etag = self.dest.manifest.etag
            await self.rep.checkpoint.put(str(self.pid), CheckpointEntry(etag, plan.source_etag, False))
        probe_upto = 2 * window if self.needs_probe else 0
        # frontier: units [0, frontier) are all copied; committed: the frontier of the newest intermediate
        # commit started; landed: of the newest one written. Intermediate commits run beside the copies (one
        # at a time), and no unit at or beyond landed + 2 * window is started, so after a crash at most two
        # windows past the destination manifest can hold copies (what a restart probes).
        frontier = committed = landed = 0
        last_commit = time.monotonic()
        next_i = 0
        inflight: dict[asyncio.Task[None], int] = {}
        commit: tuple[asyncio.Task[bool], int] | None = None
        commit_interval = self.rep.config.options.commit_interval
        try:
            while True:
                while frontier < n and done[frontier]:
                    frontier += 1
                if commit is not None and commit[0].done():
                    commit[0].result()  # raises a failed commit
                    landed, commit = commit[1], None
                while pending_spills and last_index[pending_spills[0].key] < frontier:
                    sw = pending_spills.pop(0)
                    await self._retry(partial(self.rep.dest.put, sw.key, sw.body), f"PUT {sw.key}")
                    self.rep.metrics.manifest_commits["spillover"] += 1
                    spills_written.add(sw.key)
                    self.dest.spills.add(sw.key)
                if frontier == n and not inflight:
                    break
                if commit is None and frontier > committed and (
                        frontier - committed >= max(1, window // 2)
                        or time.monotonic() - last_commit >= commit_interval):
                    # the manifest is built now, from the units done now; only its PUT runs on
                    commit = (asyncio.create_task(self._commit_intermediate(plan, units_done, spills_written)),
                              frontier)
                    committed, last_commit = frontier, time.monotonic()
                while (next_i < n and len(inflight) < window and next_i < frontier + window
                       and next_i < landed + 2 * window):
                    if not done[next_i]:
                        task = asyncio.create_task(self._copy_unit(units[next_i], src, next_i < probe_upto))
                        inflight[task] = next_i
                    next_i += 1
                waiting: set[asyncio.Task[Any]] = set(inflight)
                if commit is not None:
                    waiting.add(commit[0])
                if not waiting:
                    continue
                finished, _ = await asyncio.wait(waiting, timeout=commit_interval,
                                                 return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    if task not in inflight:
                        continue  # the commit: handled at the top of the loop
                    i = inflight.pop(task)
                    task.result()  # raises SourceChanged & co.
                    done[i] = True
                    units_done.add(units[i].key)
        finally:
            for task in inflight:
                task.cancel()
            # a commit in flight names only copied objects: let it land (or fail) so self.dest stays true
            await asyncio.gather(*inflight, *([commit[0]] if commit is not None else []), return_exceptions=True)
        if commit is not None:
            commit[0].result()
        for sw in pending_spills:  # spillovers with no units left to copy
            await self._retry(partial(self.rep.dest.put, sw.key, sw.body), f"PUT {sw.key}")
            self.rep.metrics.manifest_commits["spillover"] += 1
            self.dest.spills.add(sw.key)
        old = self.dest.manifest
        await self._commit(plan.target, plan.target_fmt, plan.target_body, "partition")
        self.verified.clear()
        self.needs_probe = False
        if plan.retention == "mirror" and old is not None:
            await self._delete_dropped(plan)

    async def _drop_partition(self) -> None:
        """Mirror retention, the partition is gone from the source (its topic was deleted): delete it here
        too — every manifest format first, then its spillover manifests, then the objects they named — so
        no destination manifest ever names a deleted object. A crash midway leaves unnamed objects at
        worst, never a dangling manifest."""
        dest = self.rep.dest
        objs = await list_partition(dest, self.pid)
        if not objs.manifests and not objs.spillovers:
            return
        doomed: list[str] = []

        async def named_by(key: str, fmt: str) -> None:
            try:
                got = await self._retry(partial(dest.get, key), f"GET {key}")
                m = decode_partition_manifest(got.body, fmt, label=self.pid.cluster_uuid)
            except (ObjectMissing, FormatError):
                return  # gone meanwhile, or unreadable: its objects stay (unnamed), the manifest goes
            doomed.extend(m.segment_key(meta) + suffix for meta in m.segments for suffix in ("", ".index", ".tx"))

        for fmt in sorted(objs.manifests):
            await named_by(self.pid.manifest_key(fmt), fmt)
        manifests = [self.pid.manifest_key(fmt) for fmt in sorted(objs.manifests, key=lambda f: f != "bin")]
        if manifests:  # manifest.bin first: it shadows manifest.json for readers
            await self._retry(partial(dest.delete_many, manifests), "DELETE manifests of a deleted partition")
            self.rep.metrics.deleted_objects += len(manifests)
        for skey in sorted(objs.spillovers):
            await named_by(skey, "bin")
        if objs.spillovers:
            await self._retry(partial(dest.delete_many, sorted(objs.spillovers)), "DELETE spillovers")
            self.rep.metrics.deleted_objects += len(objs.spillovers)
        if doomed:
            await self._retry(partial(dest.delete_many, doomed), "DELETE segments of a deleted partition")
            self.rep.metrics.deleted_objects += len(doomed)
        log.info("%s: gone from the source; deleted at the destination (%d manifests, %d spillovers, %d objects)",
                 self.pid, len(manifests), len(objs.spillovers), len(doomed))
        self.dest = DestState(None)
        self.verified.clear()

    async def _delete_dropped(self, plan: PartitionPlan) -> None:
        """Mirror retention, after the commit: spillover manifests first, then the objects only they named."""
        assert self.dest is not None
        doomed = list(plan.deletions)
        for skey in plan.dropped_spills:
            try:
                got = await self._retry(partial(self.rep.dest.get, skey), f"GET {skey}")
            except ObjectMissing:
                continue
            try:
                spm = decode_partition_manifest(got.body, "bin", label=self.pid.cluster_uuid)
            except FormatError:
                continue  # unreadable: delete the manifest only, leave its segments
            for meta in spm.segments:
                key = plan.target.segment_key(meta)
                if plan.may_delete(meta, key):
                    doomed.extend((key, key + ".index", key + ".tx"))
        if plan.dropped_spills:
            await self._retry(partial(self.rep.dest.delete_many, plan.dropped_spills), "DELETE spillovers")
            self.dest.spills.difference_update(plan.dropped_spills)
        if doomed:
            await self._retry(partial(self.rep.dest.delete_many, doomed), "DELETE dropped segments")
            self.rep.metrics.deleted_objects += len(doomed)


# ------------------------------------------------------------------------------------------------ topics


class TopicWorker:
    """Copies a topic's manifests (verbatim, same keys: a copy keeps its layout) once its partitions are at
    the destination."""

    def __init__(self, rep: Replicator, topic: TopicId) -> None:
        self.rep = rep
        self.topic = topic
        self.done_etags: dict[str, str] = {}  # fmt -> source ETag already at the destination

    @property
    def name(self) -> str:
        return str(self.topic)

    async def _partition_ready(self, pid: PartitionId) -> bool:
        worker = self.rep.workers.get(pid)
        if worker is not None and worker.dest is not None and worker.caught_up_etag is not None:
            return True
        objs = await list_partition(self.rep.dest, pid)
        fmt = objs.effective_fmt
        if fmt is None:
            return False
        got = await self.rep.retry(partial(self.rep.dest.get, pid.manifest_key(fmt)), f"{pid}: GET dest manifest")
        m = decode_partition_manifest(got.body, fmt, label=pid.cluster_uuid)
        if m.segments or m.spillover:
            return True
        src_objs = await list_partition(self.rep.source, pid)
        sfmt = src_objs.effective_fmt
        if sfmt is None:
            return True
        sgot = await self.rep.retry(partial(self.rep.source.get, pid.manifest_key(sfmt)), f"{pid}: GET manifest")
        sm = decode_partition_manifest(sgot.body, sfmt, label=pid.cluster_uuid)
        return not sm.segments and not sm.spillover

    async def _drop(self, dest_listing: BucketListing | None) -> None:
        """Mirror retention, the topic is gone from the source: delete its destination topic manifests."""
        from segment_format.keys import topic_manifest_key

        t = self.topic
        doomed: list[str] = []
        if t.label:  # every revision the destination listing saw (labeled keys carry the revision)
            there = dest_listing.topics.get(t) if dest_listing is not None else None
            doomed.extend(i.key for i in (there.manifests.values() if there is not None else ()))
        else:
            for fmt in ("bin", "json"):
                key = topic_manifest_key(t.namespace, t.topic, fmt=fmt)
                if await self.rep.retry(partial(self.rep.dest.head, key), f"HEAD {key}") is not None:
                    doomed.append(key)
        if doomed:
            await self.rep.retry(partial(self.rep.dest.delete_many, doomed), f"DELETE topic manifests of {self.name}")
            self.rep.metrics.deleted_objects += len(doomed)
            log.info("topic %s: gone from the source; deleted its destination topic manifests", self.name)
        self.done_etags.clear()

    async def sync(self, listing: BucketListing, dest_listing: BucketListing | None = None) -> bool:
        """True when the destination has the source's topic manifests (or there are none)."""
        found = listing.topics.get(self.topic)
        infos = found.manifests if found is not None else {}
        if not infos and self.rep.config.replicator.retention == "mirror" and \
                not listing.partitions_of(self.topic):
            await self._drop(dest_listing)
            return True
        todo = {fmt: info for fmt, info in infos.items() if self.done_etags.get(fmt) != info.etag}
        if not todo:
            return True
        for pid in listing.partitions_of(self.topic):
            if not await self._partition_ready(pid):
                return False
        for fmt, info in sorted(todo.items()):
            there = await self.rep.retry(partial(self.rep.dest.head, info.key), f"HEAD {info.key}")
            if there is None or there.etag != info.etag or there.size != info.size:
                got = await self.rep.retry(partial(self.rep.source.get, info.key), f"GET {info.key}")
                try:
                    await self.rep.retry(
                        partial(self.rep.dest.put, got.key, got.body, if_match=there.etag if there else None,
                                if_none_match=there is None, content_type=_CONTENT_TYPE[fmt]),
                        f"PUT {info.key}")
                except PreconditionFailed:
                    self.rep.metrics.error("concurrent_writer")
                    return False
                self.rep.metrics.manifest_commits["topic"] += 1
                self.done_etags[fmt] = got.etag
            else:
                self.done_etags[fmt] = info.etag
        return True


# --------------------------------------------------------------------------------------- cluster metadata

CLUSTER_PREFIXES = ("cluster_metadata/", "cluster_name/")


def _is_cluster_manifest(key: str) -> bool:
    return "/manifests/" in key and key.endswith("/cluster_manifest.json")


class ClusterMetadataWorker:
    """Copies ``cluster_metadata/`` (whole-cluster restore): snapshots first, ``cluster_manifest.json`` last.

    A whole-cluster restore brings back every topic the controller snapshot names, so the metadata is copied
    only when the copy is whole: no ``--topics`` filter, and only after every partition of the pass caught
    up (:meth:`Replicator.run_once`). With ``--cluster-uuid`` only that cluster's metadata is copied.
    """

    def __init__(self, rep: Replicator) -> None:
        self.rep = rep
        self._said_partial = False

    def _wanted(self, key: str) -> bool:
        uuids = self.rep.config.cluster_uuids
        if uuids is None:
            return True
        if key.startswith("cluster_metadata/"):
            return key.split("/", 2)[1] in uuids
        return key.rsplit("/", 1)[-1] in uuids  # cluster_name/{name}/uuid/{uuid}

    async def _list(self, store: ObjectStore) -> dict[str, ObjectInfo]:
        out: dict[str, ObjectInfo] = {}
        for prefix in CLUSTER_PREFIXES:
            infos = await _collect(store, prefix)  # each page is retried on its own (ObjectStore.request_retry)
            out.update((i.key, i) for i in infos if self._wanted(i.key))
        return out

    async def sync(self) -> int:
        """Copy what differs; returns how many objects were copied."""
        if self.rep.config.topics.patterns != ("*",):
            if not self._said_partial:
                self._said_partial = True
                log.info("cluster metadata not copied: --topics copies part of the cluster, and a whole-cluster "
                         "restore from the destination would bring back topics whose data is not there")
            return 0
        src = await self._list(self.rep.source)
        if not src and self.rep.config.replicator.retention == "keep":
            return 0
        dst = await self._list(self.rep.dest)
        todo = [i for k, i in sorted(src.items()) if k not in dst or (dst[k].size, dst[k].etag) != (i.size, i.etag)]
        data = [i for i in todo if not _is_cluster_manifest(i.key)]
        manifests = [i for i in todo if _is_cluster_manifest(i.key)]
        await asyncio.gather(*(self.rep.copier.copy_listed(i, "cluster_metadata") for i in data))
        for info in manifests:  # each manifest names snapshots copied above
            await self.rep.copier.copy_listed(info, "cluster_manifest")
            self.rep.metrics.manifest_commits["cluster"] += 1
        if self.rep.config.replicator.retention == "mirror":
            gone = [k for k in dst if k not in src]
            first = [k for k in gone if _is_cluster_manifest(k)]
            rest = [k for k in gone if not _is_cluster_manifest(k)]
            for batch in (first, rest):
                if batch:
                    await self.rep.retry(partial(self.rep.dest.delete_many, batch), "DELETE cluster metadata")
                    self.rep.metrics.deleted_objects += len(batch)
        return len(todo)


def _topic_formats(listing: BucketListing, topic: TopicId) -> set[str]:
    there = listing.topics.get(topic)
    return set(there.manifests) if there is not None else set()


async def _collect(store: ObjectStore, prefix: str) -> list[ObjectInfo]:
    return [i async for i in store.list(prefix)]


# -------------------------------------------------------------------------------------------- replicator


class Replicator:
    """Replicates ``source`` into ``dest`` (two open :class:`ObjectStore` s) as ``config`` says.

    ``await run_once()`` brings every owned partition up to date once; ``await run_forever(stop)`` follows.
    """

    def __init__(self, source: ObjectStore, dest: ObjectStore, config: SyncConfig | None = None, *,
                 metrics: ReplicatorMetrics | None = None, progress: ProgressSink | None = None,
                 checkpoint: Checkpoint | None = None, rng: random.Random | None = None) -> None:
        self.source = source
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
        self.metrics.concurrency_limit = self.limiter.limit
        self.policy = RetryPolicy(attempts=r.max_retries, base=r.backoff_base, cap=r.backoff_cap, rng=self.rng)
        for store in (source, dest):  # every S3 request retried on its own (list page, GET, part...), this policy
            store.request_retry = RequestRetry(attempts=r.max_retries, base=r.backoff_base, cap=r.backoff_cap,
                                               on_failure=self._page_failed, on_success=self._page_recovered)
        self.copier = Copier(source, dest, limiter=self.limiter, metrics=self.metrics,
                             multipart_threshold=r.multipart_threshold, part_size=r.multipart_part_size,
                             verify=self.config.options.verify, copy_mode=self.config.options.copy_mode,
                             stream_part_size=self.config.options.stream_part_size,
                             stream_concurrency=self.config.options.stream_concurrency)
        self.workers: dict[PartitionId, PartitionWorker] = {}
        self.topic_workers: dict[TopicId, TopicWorker] = {}
        self.cluster = ClusterMetadataWorker(self)
        self.listing: BucketListing | None = None
        self.dest_listing: BucketListing | None = None
        self.activity = False  # a partition changed since the last discovery (its backoff snaps back)
        self.on_commit: Callable[[PartitionId, ManifestObject], None] | None = None
        """Called after every destination manifest commit (``run``: the catalog learns it in process)."""
        self._checkpoint_loaded = False
        self._tasks: dict[PartitionId, asyncio.Task[None]] = {}

    def _page_failed(self, error: StorageUnavailable) -> None:
        self.metrics.error(error_kind(error))
        self.metrics.retries += 1
        self.limiter.on_throttle()
        self.metrics.concurrency_limit = self.limiter.limit

    def _page_recovered(self) -> None:
        self.limiter.on_success()
        self.metrics.concurrency_limit = self.limiter.limit

    async def retry(self, call: Callable[[], Awaitable[T]], what: str, *, slots: int = 1) -> T:
        """``call`` under the limiter, once: the stores retry each S3 request inside it on its own
        (``store.request_retry``), so nothing that succeeded is done again (the name stays for its callers)."""
        return await limited(call, limiter=self.limiter, slots=slots)

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

    # -- discovery --

    async def discover(self, *, with_dest: bool) -> BucketListing:
        """Discover the source's manifests (both layouts, :mod:`app.bucket`); start workers for owned partitions
        and topics not seen before."""
        if not self._checkpoint_loaded:
            await self.checkpoint.load()
            self._checkpoint_loaded = True
        include = self.config.topics
        uuids = self.config.cluster_uuids
        # no retry around the whole discovery: each listing page is retried on its own (request_retry), so a
        # fault never restarts listings that succeeded
        listing = await discover(self.source, include=include, cluster_uuids=uuids)
        dest_listing: BucketListing | None = None
        if with_dest:
            dest_listing = await discover(self.dest, include=include, cluster_uuids=uuids)
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
            elif worker.source_fmt != fmt:
                worker.source_fmt = fmt
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
        return listing

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
        """Poll one partition: fast while it changes, slower and slower while idle (``max_poll_interval``)."""
        failures = 0
        r = self.config.replicator
        pacing = AdaptiveInterval(r.poll_interval, max(r.poll_interval, r.max_poll_interval))
        while True:
            interval = r.poll_interval
            try:
                await worker.sync()
                failures = 0
                interval = pacing.next(worker.changed)
                if worker.changed:
                    self.activity = True
            except (ShadowReplicaError, FormatError) as e:
                failures += 1
                self._failed(worker, e.message if isinstance(e, ShadowReplicaError) else str(e))
                await asyncio.sleep(self.policy.delay(min(failures, 8)))
            except Exception:  # a bug: say so loudly, keep the other partitions going
                failures += 1
                log.exception("%s: replication pass crashed", worker.pid)
                self._failed(worker, "internal error (see log)")
                await asyncio.sleep(self.policy.delay(min(failures, 8)))
            await asyncio.sleep(interval * self.rng.uniform(0.9, 1.1))

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
            try:
                before = None if first else self.listing
                listing = self.listing if first else await self.discover(with_dest=False)
                first = False
                assert listing is not None
                # listings back off like partitions; any change (or a partition that moved) snaps them back
                interval = pacing.next(self._discovery_changed(before, listing) or self.activity)
                self.activity = False
                for pid, worker in list(self.workers.items()):
                    if pid not in self._tasks:
                        self._tasks[pid] = asyncio.create_task(self._partition_loop(worker), name=f"sync {pid}")
                for tw in self.topic_workers.values():
                    try:
                        await tw.sync(listing, self.dest_listing)
                    except (ShadowReplicaError, FormatError) as e:
                        log.warning("topic %s: %s", tw.name, e)
                if self.config.shard.owns_cluster_metadata:
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
            await asyncio.sleep(min(interval, self.config.replicator.poll_interval * 2) if pending else interval)
            if pending:
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
