"""Orphans: segment objects at the destination that no manifest names (what a crash can leave).

A kill between deleting a vanished partition's manifests and its objects (``--retention mirror``), or
copies a killed sync made beyond its last commit and that the source has dropped since, leave objects no
manifest names: harmless to a restore, but paid for. :func:`find_orphans` lists them; ``verify`` reports
them (count, bytes), never as violations; ``sync --gc`` (and, with ``--gc-interval``, a periodic pass in
``--follow``) deletes those older than a grace period, so copies a running sync has not committed yet are
never touched. The same pass aborts multipart uploads started before the grace period (a kill during a
multipart copy or a streamed upload leaves one: invisible to listings, stored and billed).

Only keys that parse as a segment or companion (``.index``/``.tx``) key of either layout are candidates:
manifests, topic manifests, cluster metadata, group offsets and keys of layouts we do not know are never
orphans. A partition manifest that cannot be read makes the pass refuse to delete anything of its topic
(its segments might be named by it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.bucket import BucketListing, decode_partition_manifest, discover
from app.errors import ObjectMissing
from app.store import ObjectInfo, ObjectStore
from segment_format.errors import FormatError, ObjectKeyError
from segment_format.keys import parse_segment_key

__all__ = ["OrphanReport", "collect_orphans", "find_orphans", "named_objects"]


@dataclass(slots=True)
class OrphanReport:
    orphans: list[ObjectInfo] = field(default_factory=list)
    deleted: int = 0
    deleted_bytes: int = 0
    uploads_aborted: int = 0  # unfinished multipart uploads older than the grace (a killed copy or stream)
    unreadable_topics: set[tuple[str, str, str]] = field(default_factory=set)

    @property
    def bytes(self) -> int:
        return sum(i.size for i in self.orphans)

    def as_dict(self) -> dict[str, object]:
        return {"orphans": len(self.orphans), "orphan_bytes": self.bytes, "deleted": self.deleted,
                "deleted_bytes": self.deleted_bytes, "uploads_aborted": self.uploads_aborted,
                "skipped_topics": sorted("/".join(t) for t in self.unreadable_topics)}


async def named_objects(store: ObjectStore, listing: BucketListing, *, concurrency: int = 16
                        ) -> tuple[set[str], set[tuple[str, str, str]]]:
    """Every segment key (and its companions) any manifest of ``listing`` names, in every format present and
    every spillover manifest; plus the (label, namespace, topic) whose manifests could not be read."""
    named: set[str] = set()
    unreadable: set[tuple[str, str, str]] = set()
    sem = asyncio.Semaphore(concurrency)

    async def one(key: str, fmt: str, label: str) -> None:
        async with sem:
            try:
                body = (await store.get(key)).body
            except ObjectMissing:
                return
        m = decode_partition_manifest(body, fmt, label=label or None)  # FormatError: see the caller
        for meta in (*m.segments, *m.replaced):
            seg = m.segment_key(meta)
            named.update((seg, seg + ".index", seg + ".tx"))

    jobs = []
    owners = []
    for pid, objs in listing.partitions.items():
        for fmt, info in objs.manifests.items():
            jobs.append(one(info.key, fmt, pid.label))
            owners.append(pid)
        for key in objs.spillovers:
            jobs.append(one(key, "bin", pid.label))
            owners.append(pid)
    for pid, outcome in zip(owners, await asyncio.gather(*jobs, return_exceptions=True), strict=True):
        if isinstance(outcome, FormatError):
            unreadable.add((pid.label, pid.namespace, pid.topic))
        elif isinstance(outcome, BaseException):
            raise outcome
    return named, unreadable


def find_orphans(objects: dict[str, ObjectInfo], named: set[str], *,
                 include: Callable[[str, str, int], bool] | None = None,
                 skip: set[tuple[str, str, str]] = frozenset(),  # type: ignore[assignment]
                 older_than: datetime | None = None) -> list[ObjectInfo]:
    """Segment-shaped objects no manifest names (module doc), optionally only those last modified before
    ``older_than``."""
    out = []
    for key, info in sorted(objects.items()):
        if key in named:
            continue
        try:
            sk = parse_segment_key(key)
        except ObjectKeyError:
            continue  # not a segment or companion: never an orphan
        if include is not None and not include(sk.namespace, sk.topic, sk.partition):
            continue
        if (sk.cluster_uuid or "", sk.namespace, sk.topic) in skip:
            continue
        if older_than is not None and info.last_modified >= older_than:
            continue
        out.append(info)
    return out


async def collect_orphans(store: ObjectStore, *, grace_seconds: float, delete: bool,
                          include: Callable[[str, str, int], bool] | None = None,
                          cluster_uuids: tuple[str, ...] | None = None) -> OrphanReport:
    """List the bucket, find orphans older than ``grace_seconds`` (``include(namespace, topic, partition)``
    limits them, e.g. to a shard's partitions), delete them when ``delete``.

    Run it where no other writer commits old copies meanwhile (``sync --gc`` runs it after its own pass;
    a restarted sync commits only copies it made within the grace period or probed just now)."""
    # every manifest of every cluster names objects (a filter narrows the candidates, never the named set)
    listing = await discover(store, cluster_uuids=cluster_uuids, other_clusters=True)
    objects = {i.key: i async for i in store.list("")}
    if cluster_uuids:
        objects = {k: i for k, i in objects.items() if k.split("/", 1)[0] in cluster_uuids}
    named, unreadable = await named_objects(store, listing)
    cutoff = datetime.now(UTC).timestamp() - grace_seconds
    report = OrphanReport(unreadable_topics=unreadable)
    report.orphans = find_orphans(objects, named, include=include, skip=unreadable,
                                  older_than=datetime.fromtimestamp(cutoff, UTC))
    if delete and report.orphans:
        report.deleted = await store.delete_many([i.key for i in report.orphans])
        report.deleted_bytes = report.bytes
    if delete:  # a kill during a multipart copy or streamed upload leaves the upload: stored and billed
        async for key, upload_id, initiated in store.list_uploads():
            if initiated.timestamp() < cutoff:
                await store.abort_upload(key, upload_id)
                report.uploads_aborted += 1
    return report
