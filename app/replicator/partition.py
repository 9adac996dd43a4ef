"""One partition's replication: :class:`PartitionWorker` (a pass: fetch the source manifest, plan, copy
units, commit intermediate manifests, the final manifest, then mirror deletions). The theory of operation
is :mod:`app.replicator.loop`'s."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from app.bucket import (
    ManifestObject,
    PartitionId,
    PartitionObjects,
    decode_partition_manifest,
    encode_partition_manifest,
    list_partition,
)
from app.errors import ObjectMissing, PreconditionFailed, ShadowReplicaError
from app.replicator.checkpoint import CheckpointEntry
from app.replicator.context import ReplicatorContext
from app.replicator.copier import CopyOutcome, SourceChanged
from app.replicator.metrics import PartitionLag
from app.replicator.plan import PartitionPlan, Unit, plan_partition, restorable
from app.store import GetResult, NotModified
from segment_format.errors import FormatError
from segment_format.manifest import PartitionManifest, SegmentMeta

log = logging.getLogger(__name__)

__all__ = ["DestState", "PartitionWorker", "ReplicationError"]


T = TypeVar("T")

_CONTENT_TYPE = {"json": "application/json", "bin": "application/octet-stream"}


class _Unchanged:
    """The source manifest still has the checkpoint's ETag (a 304 with nothing cached to return)."""


UNCHANGED = _Unchanged()


class ReplicationError(ShadowReplicaError):
    """A partition could not be brought up to date in this pass (the message says why)."""


@dataclass(frozen=True, slots=True)
class DestState:
    """The destination as a worker last saw it: effective manifest, manifest ETags by format, spillovers.
    A value: each change makes a new one."""

    manifest: ManifestObject | None
    etags: Mapping[str, str] = field(default_factory=dict)
    spills: frozenset[str] = frozenset()

    def with_etag(self, fmt: str, etag: str | None) -> DestState:
        """``fmt``'s manifest now has ``etag`` (None: it is gone)."""
        etags = {f: e for f, e in self.etags.items() if f != fmt}
        if etag is not None:
            etags[fmt] = etag
        return replace(self, etags=etags)


@dataclass(frozen=True, slots=True)
class PartitionCursor:
    """What a worker knows of its partition between passes, as one value that each step replaces. It is a
    cache: :meth:`PartitionWorker.forget` drops it and the next pass re-derives it from the buckets."""

    source_fmt: str | None = None  # the source manifest's format (json/bin), once known
    source: ManifestObject | None = None  # the source's effective manifest, last read
    hint_source_etag: str | None = None  # from the checkpoint, until the first source read
    dest: DestState | None = None
    caught_up_etag: str | None = None  # source manifest ETag the destination fully reflects
    needs_probe: bool = True  # copies past the destination manifest may exist (a crash): probe before copying
    verified: frozenset[str] = frozenset()  # object keys at the destination beyond the committed manifest
    absent: frozenset[str] = frozenset()  # optional companions the source does not have
    strict: frozenset[str] = frozenset()  # keys to copy with HEAD + CopySourceIfMatch


def _now() -> datetime:
    return datetime.now(UTC)



# ---------------------------------------------------------------------------------------------- partition


class PartitionWorker:
    """Replicates one partition. :meth:`sync` is one pass; the cursor is a cache (module doc)."""

    def __init__(self, rep: ReplicatorContext, pid: PartitionId, *, source_fmt: str | None = None,
                 dest_listing: PartitionObjects | None = None) -> None:
        self.rep = rep
        self.pid = pid
        self.lag: PartitionLag = rep.metrics.partition(pid.namespace, pid.topic, pid.partition, pid.revision)
        self.cursor = PartitionCursor(source_fmt=source_fmt)
        # source spillover manifests by key: immutable objects (their keys name their ranges), kept across passes
        self.spills: dict[str, tuple[tuple[SegmentMeta, ...], bytes]] = {}
        self._dest_listing = dest_listing  # from the start-up discovery, used once
        self.passes = 0
        self.changed = False  # the last pass read a new source manifest (adaptive polling snaps back)

    @property
    def name(self) -> str:
        return self.pid.name

    # the cursor's parts, read-only: a step changes them with _step
    @property
    def source_fmt(self) -> str | None:
        return self.cursor.source_fmt

    @property
    def source(self) -> ManifestObject | None:
        return self.cursor.source

    @property
    def dest(self) -> DestState | None:
        return self.cursor.dest

    @property
    def caught_up_etag(self) -> str | None:
        return self.cursor.caught_up_etag

    def _step(self, **changes: Any) -> None:
        """Replace the cursor by one with ``changes`` (no await in between: safe beside concurrent copies)."""
        self.cursor = replace(self.cursor, **changes)

    def use_format(self, fmt: str) -> None:
        """The source manifest is now ``fmt`` (discovery saw it change): read that one from now on."""
        if fmt != self.cursor.source_fmt:
            self._step(source_fmt=fmt)

    def forget(self) -> None:
        """Drop the cursor: the next pass re-derives everything from the buckets."""
        self.cursor = PartitionCursor(source_fmt=self.cursor.source_fmt, strict=self.cursor.strict)
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
                etag = (self.source.etag if self.source is not None and self.source.fmt == fmt
                        else self.cursor.hint_source_etag)
            try:
                got = await self._retry(partial(self.rep.source.get, key, if_none_match=etag), f"GET {key}")
            except ObjectMissing:
                objs = await list_partition(self.rep.source, self.pid)
                new_fmt = objs.effective_fmt
                if new_fmt is None:
                    return None  # the partition is gone from the source
                self._step(source_fmt=new_fmt, source=None, hint_source_etag=None)
                continue
            if isinstance(got, NotModified):
                return self.source if self.source is not None else UNCHANGED
            previous = self.source.etag if self.source is not None else None
            source = self._parse(got, fmt, "source")
            self._step(source=source, hint_source_etag=None)
            self.changed = self.changed or got.etag != previous
            if self.rep.on_source is not None and got.etag != previous:
                self.rep.on_source(self.pid, source)
            return source
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
        state = DestState(None, {f: i.etag for f, i in objs.manifests.items()}, frozenset(objs.spillovers))
        fmt = objs.effective_fmt
        if fmt is not None:
            key = self.pid.manifest_key(fmt)
            got = await self._retry(partial(self.rep.dest.get, key), f"GET dest {key}")
            state = replace(state.with_etag(fmt, got.etag), manifest=self._parse(got, fmt, "destination"))
        entry = self.rep.checkpoint.get(str(self.pid))
        if state.manifest is None:
            self._step(needs_probe=False)  # nothing is ever copied before the initial manifest exists
        elif entry is not None and entry.clean and entry.dest_etag == state.manifest.etag:
            self._step(needs_probe=False, hint_source_etag=entry.source_etag)
        else:
            self._step(needs_probe=True)
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
                self._step(dest=await self._load_dest())
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
            assert dest is not None
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
                self._step(strict=self.cursor.strict | {e.key})
                self.rep.metrics.error("replans")
                log.info("%s: %s; re-planning from a fresh source manifest", self.pid, e.message)
                continue
            self._step(caught_up_etag=src.etag)
            self._set_caught_up(src)
            assert self.dest is not None and self.dest.manifest is not None
            await self.rep.checkpoint.put(str(self.pid), CheckpointEntry(self.dest.manifest.etag, src.etag, True))
            return True
        raise ReplicationError(f"{self.pid}: the source kept changing under {attempts} plans in a row")

    def _caught_up_from_checkpoint(self) -> bool:
        """Source 304 against the checkpoint's ETag and the destination clean at its commit: nothing to do."""
        assert self.dest is not None and self.dest.manifest is not None
        self._step(caught_up_etag=self.cursor.hint_source_etag)
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
            new = await self.rep.commit_call(partial(self.rep.dest.put, key, body, if_match=etag,
                                                     if_none_match=etag is None, content_type=_CONTENT_TYPE[fmt]))
        except PreconditionFailed as e:
            self.rep.metrics.error("concurrent_writer")
            raise ReplicationError(f"{self.pid}: {key} changed at the destination under us (another writer?)") from e
        self._step(dest=self.dest.with_etag(fmt, new))
        self.rep.metrics.manifest_commits[kind] += 1
        self.lag.last_commit = time.time()
        return new

    async def _delete_manifest(self, fmt: str) -> None:
        assert self.dest is not None
        key = self.pid.manifest_key(fmt)
        await self._retry(partial(self.rep.dest.delete_many, [key]), f"DELETE {key}")
        assert self.dest is not None
        self._step(dest=self.dest.with_etag(fmt, None))

    async def _commit(self, manifest: PartitionManifest, fmt: str, body: bytes, kind: str) -> None:
        """Write ``manifest`` as the destination's effective manifest, then drop the other format."""
        assert self.dest is not None
        etag = await self._put_manifest(fmt, body, kind)
        for other in [f for f in self.dest.etags if f != fmt]:
            await self._delete_manifest(other)  # manifest.bin would shadow manifest.json for Redpanda
        assert self.dest is not None
        committed = ManifestObject(key=self.pid.manifest_key(fmt), fmt=fmt, etag=etag, last_modified=_now(),
                                   body=body, manifest=manifest)
        self._step(dest=replace(self.dest, manifest=committed))
        if self.rep.on_commit is not None:
            self.rep.on_commit(self.pid, committed)
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
            if obj.key in self.cursor.verified or obj.key in self.cursor.absent:
                return
            outcome = await self.rep.copier.copy(obj, unmodified_since=src.last_modified,
                                                 strict=obj.key in self.cursor.strict, probe=probe)
            if outcome is CopyOutcome.ABSENT:
                self._step(absent=self.cursor.absent | {obj.key})
            else:
                self._step(verified=self.cursor.verified | {obj.key})
                if outcome is CopyOutcome.COPIED:
                    self.rep.advance_progress(obj.size or 0)

        await asyncio.gather(*(one(i) for i in range(len(unit.objects))))

    def _forget_committed(self, units: Sequence[Unit]) -> None:
        """The destination manifest now names ``units``: their keys leave ``verified``/``absent``, which hold only
        what lies beyond it. This keeps each step's copy of those sets as small as the copy window; without it a
        pass over N objects would copy sets of up to N keys N times (quadratic: 47 s of CPU at 40,000 keys)."""
        keys = {o.key for u in units for o in u.objects}
        if keys:
            self._step(verified=self.cursor.verified - keys, absent=self.cursor.absent - keys)

    def _unit_done(self, unit: Unit) -> bool:
        return all(o.key in self.cursor.verified or o.key in self.cursor.absent for o in unit.objects)

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
        probe_upto = 2 * window if self.cursor.needs_probe else 0
        # frontier: units [0, frontier) are all copied; committed: the frontier of the newest intermediate
        # commit started; landed: of the newest one written. Intermediate commits run beside the copies (one
        # at a time), and no unit at or beyond landed + 2 * window is started, so after a crash at most two
        # windows past the destination manifest can hold copies (what a restart probes). That bound is the
        # only lookahead: a slow copy at the frontier (S3's tail latency) lets `window` units run on past it
        # instead of stalling the pass after one window.
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
                    if commit[0].result():  # raises a failed commit; False: nothing new was written
                        self._forget_committed(units[landed:commit[1]])
                    landed, commit = commit[1], None
                while pending_spills and last_index[pending_spills[0].key] < frontier:
                    sw = pending_spills.pop(0)
                    await self._retry(partial(self.rep.dest.put, sw.key, sw.body), f"PUT {sw.key}")
                    self.rep.metrics.manifest_commits["spillover"] += 1
                    spills_written.add(sw.key)
                    self._step(dest=replace(self.dest, spills=self.dest.spills | {sw.key}))
                if frontier == n and not inflight:
                    break
                if commit is None and frontier > committed and (
                        frontier - committed >= max(1, window // 2)
                        or time.monotonic() - last_commit >= commit_interval):
                    # the manifest is built now, from the units done now; only its PUT runs on
                    commit = (asyncio.create_task(self._commit_intermediate(plan, units_done, spills_written)),
                              frontier)
                    committed, last_commit = frontier, time.monotonic()
                while next_i < n and len(inflight) < window and next_i < landed + 2 * window:
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
            self._step(dest=replace(self.dest, spills=self.dest.spills | {sw.key}))
        old = self.dest.manifest
        await self._commit(plan.target, plan.target_fmt, plan.target_body, "partition")
        self._step(verified=frozenset(), needs_probe=False)
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
        self._step(dest=DestState(None), verified=frozenset())

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
            self._step(dest=replace(self.dest, spills=self.dest.spills - set(plan.dropped_spills)))
        if doomed:
            await self._retry(partial(self.rep.dest.delete_many, doomed), "DELETE dropped segments")
            self.rep.metrics.deleted_objects += len(doomed)


