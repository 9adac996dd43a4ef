"""The invariant checker: is the destination a valid, restorable Redpanda tiered-storage bucket?

For every partition manifest the bucket model finds, in both layouts (hash-prefixed and labeled; both
``manifest.json`` and ``manifest.bin`` when both exist: a reader may use either), every spillover manifest
it lists and every segment they name:

* the object exists and its size is the manifest's ``size_bytes`` (segments), the spillover manifest exists
  and parses, the ``.tx`` object exists when an ``sname_format`` v3 entry says it has one
  (``metadata_size_hint > 0``);
* with ``--source``: each of those objects that the source still has is the same object there (same size
  and ETag; for a multipart copy, whose ETag cannot equal a single-part source's, the source ETag the
  copier recorded in the object's metadata), and an ``.index`` the source has is at the destination too;
* every topic manifest parses (``topic_manifest.json`` and the serde ``topic_manifest.bin``);
* keys under the manifest roots that match no known layout are listed as not checked (they make the
  report say what it could not check, not fail).
* with ``deep`` (``verify --deep``): every segment is read and walked batch by batch — both CRCs (the
  Redpanda header CRC and the Kafka batch CRC), batches cut short, a zero-filled or early end before the
  manifest's last offset, a size other than the manifest's — each violation naming the key and the byte
  position (``Violation.position``).

Safe to run while a sync writes the destination: the listing is taken before the manifests are read, so
an object a manifest names but the listing lacks is looked up again (HEAD) before it counts as missing,
and when it is still missing the manifest is read again — a manifest that moved on meanwhile (a newer
commit, a mirror deletion after it) is checked afresh instead of being reported against its old self.

Sizes and ETags come from one full listing of each bucket (``ListObjectsV2``, 1000 keys a request), which is
far cheaper than a HEAD per object and equally strongly consistent on S3. Each partition gets a
"restorable up to Kafka offset X / timestamp T" line from its effective manifest (``manifest.bin`` if
present, as Redpanda reads). Violations make ``shadowreplica verify`` exit 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.bucket import BucketListing, PartitionId, decode_partition_manifest, decode_topic_manifest, discover
from app.errors import ObjectMissing
from app.replicator.gc import find_orphans
from app.replicator.plan import restorable
from app.store import ObjectInfo, ObjectStore
from segment_format.errors import FormatError
from segment_format.manifest import PartitionManifest, SegmentMeta

__all__ = ["PartitionReport", "VerifyReport", "Violation", "verify_bucket"]


@dataclass(frozen=True, slots=True)
class Violation:
    where: str  # "kafka/orders/0" or a topic
    key: str
    problem: str
    position: int | None = None  # byte position of damage inside the object (deep checks)

    def __str__(self) -> str:
        at = f" at byte {self.position}" if self.position is not None else ""
        return f"{self.where}: {self.key}{at}: {self.problem}"


@dataclass(slots=True)
class PartitionReport:
    pid: PartitionId
    manifest_key: str | None
    segments: int = 0
    spillovers: int = 0
    bytes: int = 0
    restorable_offset: int = -1
    restorable_timestamp_ms: int | None = None
    objects_checked: int = 0
    violations: list[Violation] = field(default_factory=list)
    segment_keys: dict[str, SegmentMeta] = field(default_factory=dict)  # key of each segment checked
    restorable_cut: bool = False  # violations cut the restorable range short

    @property
    def where(self) -> str:
        return self.pid.name + (f" (cluster {self.pid.label})" if self.pid.label else "")

    def line(self) -> str:
        if self.manifest_key is None:
            return f"{self.where}: no readable manifest"
        if self.restorable_offset < 0:
            if self.restorable_cut:
                return f"{self.where}: nothing restorable (the first segment has violations)"
            return f"{self.where}: nothing restorable yet (manifest names no segment)"
        ts = self.restorable_timestamp_ms
        when = datetime.fromtimestamp(ts / 1000, UTC).isoformat(timespec="milliseconds") if ts is not None else "?"
        only = "only " if self.restorable_cut else ""
        cut = " — violations after it" if self.restorable_cut else ""
        return (f"{self.where}: restorable {only}up to Kafka offset {self.restorable_offset} / timestamp {when}"
                f" ({self.segments} segments, {self.spillovers} spillovers, {self.bytes} bytes){cut}")

    def cut_at_violations(self) -> None:
        """A restore stops at the first segment with a violation: restorable only up to the segment before."""
        bad_keys = {v.key for v in self.violations}
        bad = [m for key, m in self.segment_keys.items()
               if key in bad_keys or key + ".index" in bad_keys or key + ".tx" in bad_keys]
        if not bad or self.restorable_offset < 0:
            return
        first = min(bad, key=lambda m: m.base_offset)
        earlier = [m for m in self.segment_keys.values() if m.base_offset < first.base_offset]
        last = max(earlier, key=lambda m: m.base_offset) if earlier else None
        offset = last.next_kafka_offset - 1 if last is not None else -1
        if offset < self.restorable_offset:
            self.restorable_offset = offset
            self.restorable_timestamp_ms = last.max_timestamp if last is not None else None
            self.restorable_cut = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "partition": self.pid.name, "revision": self.pid.revision, "layout": self.pid.layout,
            "cluster_uuid": self.pid.cluster_uuid, "manifest": self.manifest_key,
            "segments": self.segments, "spillovers": self.spillovers, "bytes": self.bytes,
            "restorable_offset": self.restorable_offset, "restorable_timestamp_ms": self.restorable_timestamp_ms,
            "restorable_cut_by_violations": self.restorable_cut,
            "objects_checked": self.objects_checked, "violations": [str(v) for v in self.violations],
        }


@dataclass(slots=True)
class VerifyReport:
    partitions: list[PartitionReport] = field(default_factory=list)
    topic_violations: list[Violation] = field(default_factory=list)
    topics: int = 0
    unchecked: dict[str, int] = field(default_factory=dict)
    """Keys in no known layout, by prefix: what this check could not check."""
    orphans: int = 0
    orphan_bytes: int = 0
    """Segment objects no manifest names (not violations: ``sync --gc`` deletes them)."""

    @property
    def violations(self) -> list[Violation]:
        return [v for p in self.partitions for v in p.violations] + self.topic_violations

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def objects_checked(self) -> int:
        return sum(p.objects_checked for p in self.partitions)

    def lines(self) -> list[str]:
        out = [p.line() for p in self.partitions]
        out.extend(f"VIOLATION {v}" for v in self.violations)
        out.extend(f"NOT CHECKED {prefix}: {n} object(s) or folder(s) in no known tiered-storage layout"
                   for prefix, n in sorted(self.unchecked.items()))
        if self.orphans:
            out.append(f"ORPHANS {self.orphans} segment object(s), {self.orphan_bytes} bytes, that no manifest "
                       "names (not a violation; `sync --gc` deletes them)")
        verdict = "OK" if self.ok else f"{len(self.violations)} violation(s)"
        out.append(f"{len(self.partitions)} partitions, {self.topics} topic manifests, "
                   f"{self.objects_checked} objects checked: {verdict}")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "partitions": [p.as_dict() for p in self.partitions], "topics": self.topics,
                "objects_checked": self.objects_checked, "violations": [str(v) for v in self.violations],
                "unchecked": dict(self.unchecked), "orphans": self.orphans, "orphan_bytes": self.orphan_bytes}


async def _full_listing(store: ObjectStore) -> dict[str, ObjectInfo]:
    return {info.key: info async for info in store.list("")}


_RECHECKS = 3  # times a partition whose manifest moved during the check is checked again


class _Checker:
    def __init__(self, dest: ObjectStore, dest_objects: dict[str, ObjectInfo],
                 source_objects: dict[str, ObjectInfo] | None, *, deep: bool = False) -> None:
        self.dest = dest
        self.objects = dest_objects
        self.source = source_objects
        self.deep = deep
        self.multipart: list[tuple[PartitionReport, str, str, str]] = []
        self.missing: dict[int, list[tuple[Violation, str, int | None, str]]] = {}  # id(report) -> candidates
        self.deep_todo: dict[int, list[tuple[str, SegmentMeta]]] = {}

    def check_object(self, report: PartitionReport, key: str, *, size: int | None, required: bool, what: str) -> None:
        report.objects_checked += 1
        there = self.objects.get(key)
        src = self.source.get(key) if self.source is not None else None
        where = report.where
        if there is None:
            if required or src is not None:
                note = " (also missing at the source)" if self.source is not None and src is None else ""
                v = Violation(where, key, f"{what} missing{note}")
                report.violations.append(v)
                self.missing.setdefault(id(report), []).append((v, key, size, what))
            return
        if size is not None and there.size != size:
            report.violations.append(Violation(where, key, f"{what} is {there.size} bytes, the manifest says {size}"))
        if src is not None and (src.size != there.size or not _same_etag(src.etag, there.etag)):
            report.violations.append(Violation(where, key, f"{what} differs from the source "
                                                           f"({there.size}/{there.etag} vs {src.size}/{src.etag})"))
        elif src is not None and src.etag != there.etag:
            self.multipart.append((report, key, src.etag, what))  # ETags of different kinds: HEAD it

    async def check_multipart(self, sem: asyncio.Semaphore) -> None:
        """A multipart copy's ETag is not its source's: compare the source ETag it recorded instead (one
        HEAD each, as many at once as the manifests were checked)."""
        async def one(report: PartitionReport, key: str, etag: str, what: str) -> None:
            async with sem:
                info = await self.dest.head(key)
            if info is not None and info.source_etag is not None and info.source_etag != etag:
                report.violations.append(Violation(report.where, key, f"{what} was copied from another "
                                                   f"version of the source ({info.source_etag} vs {etag})"))

        await asyncio.gather(*(one(*item) for item in self.multipart))

    def check_segment(self, report: PartitionReport, m: PartitionManifest, meta: SegmentMeta) -> None:
        key = m.segment_key(meta)
        report.segment_keys[key] = meta
        self.check_object(report, key, size=meta.size_bytes, required=True, what="segment")
        if self.deep:
            self.deep_todo.setdefault(id(report), []).append((key, meta))
        self.check_object(report, key + ".index", size=None, required=False, what="index")
        if meta.sname_format != 3 or meta.metadata_size_hint > 0:
            self.check_object(report, key + ".tx", size=None, required=meta.sname_format == 3, what="tx manifest")
        report.segments += 1
        report.bytes += meta.size_bytes

    async def check_manifest(self, pid: PartitionId, fmt: str, effective: bool) -> PartitionReport:
        """One manifest; checked again (up to ``_RECHECKS`` times) while it moves under a concurrent sync."""
        for attempt in range(_RECHECKS + 1):
            report, etag = await self._check_manifest_once(pid, fmt, effective)
            if not await self._confirm_missing(report) or etag is None or attempt == _RECHECKS:
                break
            now = await self.dest.head(pid.manifest_key(fmt))
            if now is not None and now.etag == etag:
                break  # the same manifest still names objects that are not there: real violations
            self.multipart = [t for t in self.multipart if t[0] is not report]
            self.deep_todo.pop(id(report), None)
        if self.deep:
            await self._deep(report)
        report.cut_at_violations()
        return report

    async def _confirm_missing(self, report: PartitionReport) -> bool:
        """HEAD what the (older) listing lacked; drop the violations of objects that exist after all.
        True when some object is still missing."""
        still = False
        for v, key, size, what in self.missing.pop(id(report), []):
            info = await self.dest.head(key)
            if info is None:
                still = True
                continue
            report.violations.remove(v)
            self.objects[key] = info
            if size is not None and info.size != size:
                report.violations.append(Violation(v.where, key, f"{what} is {info.size} bytes, the manifest "
                                                                 f"says {size}"))
        return still

    async def _deep(self, report: PartitionReport) -> None:
        """Read every present segment and walk it: both CRCs, cut-short batches, early ends, size."""
        from segment_format.inspect import inspect_segment

        for key, meta in self.deep_todo.pop(id(report), []):
            if key not in self.objects:
                continue  # reported missing already
            try:
                body = (await self.dest.get(key)).body
            except ObjectMissing:
                report.violations.append(Violation(report.where, key, "segment missing"))
                continue
            rep = inspect_segment(body, delta_offset=meta.delta_offset, namespace=report.pid.namespace,
                                  committed_offset=meta.committed_offset, expected_size=meta.size_bytes)
            for position, problem in rep.damage:
                report.violations.append(Violation(report.where, key, f"segment damaged: {problem}", position))

    async def _check_manifest_once(self, pid: PartitionId, fmt: str,
                                   effective: bool) -> tuple[PartitionReport, str | None]:
        key = pid.manifest_key(fmt)
        report = PartitionReport(pid, key)
        self.deep_todo.pop(id(report), None)  # a new report may reuse a freed one's id()
        try:
            got = await self.dest.get(key)
        except ObjectMissing:  # deleted since the listing (a mirror deletion, a dropped format)
            report.manifest_key = None
            return report, None
        try:
            body = got.body
            m = decode_partition_manifest(body, fmt, label=pid.cluster_uuid)
        except FormatError as e:
            report.violations.append(Violation(report.where, key, f"unreadable manifest: {e}"))
            report.manifest_key = None
            return report, None
        for meta in m.segments:
            self.check_segment(report, m, meta)
        for spill in m.spillover:
            skey = m.spillover_key(spill)
            report.objects_checked += 1
            report.spillovers += 1
            try:
                spm = decode_partition_manifest((await self.dest.get(skey)).body, "bin", label=pid.cluster_uuid)
            except ObjectMissing:
                v = Violation(report.where, skey, "spillover manifest missing")
                report.violations.append(v)
                self.missing.setdefault(id(report), []).append((v, skey, None, "spillover manifest"))
                continue
            except FormatError as e:
                report.violations.append(Violation(report.where, skey, f"unreadable spillover manifest: {e}"))
                continue
            for meta in spm.segments:
                self.check_segment(report, m, meta)
        if effective:
            report.restorable_offset, report.restorable_timestamp_ms = restorable(m)
        return report, got.etag


async def verify_bucket(dest: ObjectStore, source: ObjectStore | None = None, *,
                        include: Callable[[str, str], bool] | None = None, concurrency: int = 16,
                        deep: bool = False, cluster_uuids: Iterable[str] | None = None) -> VerifyReport:
    """Check every manifest of ``dest`` (see the module doc; ``deep`` reads every segment). Never writes."""
    listing_task = asyncio.gather(_full_listing(dest), _full_listing(source) if source is not None else _none())
    (dest_objects, source_objects), listing = await asyncio.gather(
        listing_task, discover(dest, include=include, cluster_uuids=cluster_uuids))
    checker = _Checker(dest, dest_objects, source_objects, deep=deep)
    sem = asyncio.Semaphore(concurrency)
    report = VerifyReport(unchecked=dict(listing.unsupported))

    async def one(pid: PartitionId, fmt: str, effective: bool) -> PartitionReport:
        async with sem:
            return await checker.check_manifest(pid, fmt, effective)

    jobs = []
    for pid, objs in sorted(listing.partitions.items()):
        eff = objs.effective_fmt
        if eff is None:
            continue
        for fmt in sorted(objs.manifests, key=lambda f: f != eff):
            jobs.append(one(pid, fmt, fmt == eff))
    results = await asyncio.gather(*jobs)
    named = {k + suffix for r in results for k in r.segment_keys for suffix in ("", ".index", ".tx")}
    skip = {(r.pid.label, r.pid.namespace, r.pid.topic) for r in results if r.manifest_key is None}
    objects = dest_objects
    if cluster_uuids:
        objects = {k: i for k, i in objects.items() if k.split("/", 1)[0] in cluster_uuids}
    orphans = find_orphans(objects, named, skip=skip,
                           include=(lambda ns, t, _p: include(ns, t)) if include is not None else None)
    report.orphans, report.orphan_bytes = len(orphans), sum(i.size for i in orphans)
    by_pid: dict[PartitionId, PartitionReport] = {}
    for r in results:
        main = by_pid.get(r.pid)
        if main is None:
            by_pid[r.pid] = r  # the effective manifest comes first
        else:
            main.violations.extend(r.violations)
            main.objects_checked += r.objects_checked
    report.partitions = list(by_pid.values())
    await checker.check_multipart(sem)
    await _check_topics(dest, listing, report)
    return report


async def _check_topics(dest: ObjectStore, listing: BucketListing, report: VerifyReport) -> None:
    for tid, objs in sorted(listing.topics.items()):
        report.topics += 1
        for fmt, info in sorted(objs.manifests.items()):
            try:
                decode_topic_manifest((await dest.get(info.key)).body, fmt)
            except ObjectMissing:
                continue  # deleted since the listing (a topic deleted with --retention mirror)
            except FormatError as e:
                report.topic_violations.append(Violation(str(tid), info.key, f"unreadable topic manifest: {e}"))


def _same_etag(a: str, b: str) -> bool:
    """Equal ETags, or ETags that cannot be compared: a multipart ETag (``md5-of-md5s-N``) depends on the
    part size, so a multipart copy of a single-part object (or one copied with other parts) differs."""
    return a == b or "-" in a or "-" in b


async def _none() -> None:
    return None
