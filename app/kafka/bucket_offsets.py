"""Consumer positions from the bucket itself: Redpanda's cluster-metadata offsets snapshots → the shim's groups.

In a real disaster the source cluster is gone, so no export can be taken from it; but Redpanda uploads
every consumer group's committed offsets for whole-cluster restore (``cluster_metadata/``, copied by the
replicator), and its own restore clamps each offset to the restored partition's high watermark. We do
the same:

* :func:`read_bucket_offsets`: the newest ``cluster_manifest.json`` (highest ``metadata_id``) of the chosen
  cluster (``--cluster-uuid``, else the cluster that uploaded last) and every offsets snapshot it names;
* :func:`plan_seed`: per group, topic and partition: the offset, **clamped** to the replica's high watermark
  (and raised to its log start), or **skipped** when the replica has no such partition;
* :func:`seed_groups`: writes each group's planned offsets, except for groups that have committed through
  the shim: those keep their own. Seeded offsets carry ``metadata = "shadowreplica:bucket:<meta_id>"`` so
  a newer snapshot replaces them and nothing else does.

``serve``/``run`` call :class:`BucketOffsetsFollower` at start and every ``group_seed_interval``; ``groups
import --from-bucket`` does it on demand and prints every decision.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from app.background import Background, every
from app.catalog import Catalog
from app.errors import NotFound, ObjectMissing
from app.group_offsets import BUCKET_MARK, CommittedOffset, OffsetStore
from app.store import ObjectStore
from segment_format.cluster_metadata import (
    PREFIX,
    ClusterManifest,
    GroupOffsets,
    decode_offsets_snapshot,
    newest_manifests,
    parse_cluster_manifest,
)
from segment_format.errors import FormatError

__all__ = ["BucketOffsetsFollower", "SeedDecision", "plan_seed", "read_bucket_offsets", "seed_groups"]

log = logging.getLogger(__name__)

MARK = BUCKET_MARK


@dataclass(frozen=True, slots=True)
class SeedDecision:
    group: str
    topic: str
    partition: int
    offset: int  # as in the snapshot
    applied: int | None  # what the group gets (None: skipped)
    action: str  # "set", "clamped", "skipped", "kept"
    reason: str = ""

    def line(self) -> str:
        what = {"set": f"set to {self.applied}", "clamped": f"clamped {self.offset} -> {self.applied}",
                "skipped": f"skipped {self.offset}", "kept": f"kept the group's own (snapshot {self.offset})"}
        return f"{self.group} {self.topic}/{self.partition}: {what[self.action]}" + (
            f" ({self.reason})" if self.reason else "")


async def read_bucket_offsets(store: ObjectStore, *, cluster_uuid: str | None = None,
                              problems: list[str] | None = None, unless: dict[str, str] | None = None,
                              newest_etags: dict[str, str] | None = None,
                              ) -> tuple[ClusterManifest | None, list[GroupOffsets]]:
    """The newest cluster manifest of the chosen cluster and the groups of the snapshots it names. An unusable
    manifest or snapshot is logged, added to ``problems`` (``"<key>: <why>"``) and skipped: its groups are
    left as they are, the other snapshots still count.

    ``newest_etags`` receives the newest manifests' keys and ETags; when they equal ``unless`` (what a
    follower applied last time) nothing is read and ``(None, [])`` is returned: one LIST per check while idle."""
    problems = [] if problems is None else problems
    etags: dict[str, str] = {}
    async for info in store.list(f"{PREFIX}/"):
        if info.key.endswith("/cluster_manifest.json"):
            etags[info.key] = info.etag
    newest = newest_manifests(list(etags))
    if cluster_uuid is not None:
        newest = {u: k for u, k in newest.items() if u == cluster_uuid}
    current = {k: etags[k] for k in newest.values()}
    if newest_etags is not None:
        newest_etags.update(current)
    if unless is not None and current == unless:
        return None, []
    manifests = []
    for key in newest.values():
        try:
            manifests.append(parse_cluster_manifest((await store.get(key)).body))
        except (ObjectMissing, FormatError) as e:
            log.warning("cluster manifest %s not usable: %s", key, e)
            problems.append(f"{key}: cluster manifest not usable: {e}")
    if not manifests:
        return None, []
    manifest = max(manifests, key=lambda m: (m.upload_time_since_epoch, m.metadata_id))
    groups: dict[str, GroupOffsets] = {}
    for snapshot_keys in manifest.offsets_snapshots_by_partition:
        for key in snapshot_keys:
            try:
                snapshot = decode_offsets_snapshot((await store.get(key)).body)
            except (ObjectMissing, FormatError) as e:  # one bad snapshot does not hide the others
                log.warning("offsets snapshot %s not usable: %s", key, e)
                problems.append(f"{key}: offsets snapshot not usable (its groups are left as they are): {e}")
                continue
            for g in snapshot.groups:
                merged = {t: dict(p) for t, p in groups.get(g.group_id, GroupOffsets(g.group_id)).offsets.items()}
                for topic, parts in g.offsets.items():
                    merged.setdefault(topic, {}).update(parts)
                groups[g.group_id] = GroupOffsets(g.group_id, merged)
    return manifest, sorted(groups.values(), key=lambda g: g.group_id)


def plan_seed(groups: Iterable[GroupOffsets], catalog: Catalog) -> list[SeedDecision]:
    """Clamp each offset to ``[log start, high watermark]`` of the replica; skip partitions it lacks."""
    out = []
    for g in groups:
        for topic, parts in sorted(g.offsets.items()):
            for partition, offset in sorted(parts.items()):
                try:
                    view = catalog.partition(topic, partition)
                except NotFound:
                    out.append(SeedDecision(g.group_id, topic, partition, offset, None, "skipped",
                                            "the replica has no such partition"))
                    continue
                lo, hi = view.log_start_offset, view.high_watermark
                applied = min(max(offset, lo), hi)
                if applied != offset:
                    out.append(SeedDecision(g.group_id, topic, partition, offset, applied, "clamped",
                                            f"replica range [{lo}, {hi}]"))
                else:
                    out.append(SeedDecision(g.group_id, topic, partition, offset, applied, "set"))
    return out


async def seed_groups(offsets: OffsetStore, decisions: list[SeedDecision], *, metadata_id: int,
                      dry_run: bool = False) -> list[SeedDecision]:
    """Write the decisions group by group; a group with commits of its own (not from the bucket) keeps them.
    Returns the decisions as applied (``kept`` where the group's own offsets stayed)."""
    by_group: dict[str, list[SeedDecision]] = {}
    for d in decisions:
        by_group.setdefault(d.group, []).append(d)
    now_ms = int(time.time() * 1000)
    out: list[SeedDecision] = []
    for group, items in by_group.items():
        current = await offsets.fetch(group)
        own = [c for c in current.values() if not (c.metadata or "").startswith(MARK)]
        if own:
            out.extend(SeedDecision(d.group, d.topic, d.partition, d.offset, None, "kept",
                                    "the group committed through the replica") if d.applied is not None else d
                       for d in items)
            continue
        updates = {(d.topic, d.partition): CommittedOffset(d.applied, -1, f"{MARK}{metadata_id}", now_ms,
                                                           "bucket")
                   for d in items if d.applied is not None}
        if updates and not dry_run:
            await offsets.commit(group, updates)
        out.extend(items)
    for d in out:
        if d.action in ("clamped", "skipped"):
            log.info("group offsets from the bucket: %s", d.line())
    return out


class BucketOffsetsFollower:
    """Seeds the shim's groups from the newest snapshot at start and whenever a newer one arrives."""

    def __init__(self, store: ObjectStore, catalog: Catalog, offsets: OffsetStore, *, interval: float,
                 cluster_uuid: str | None = None) -> None:
        self.store = store
        self.catalog = catalog
        self.offsets = offsets
        self.interval = interval
        self.cluster_uuid = cluster_uuid
        self.applied_metadata_id: int | None = None
        self.counts = {"set": 0, "clamped": 0, "skipped": 0, "kept": 0}
        self._task = Background("bucket-group-offsets")
        self._seen: dict[str, str] = {}  # the newest cluster manifests read, by key: their ETags

    async def check(self) -> list[SeedDecision]:
        current: dict[str, str] = {}
        manifest, groups = await read_bucket_offsets(self.store, cluster_uuid=self.cluster_uuid, unless=self._seen,
                                                     newest_etags=current)
        if manifest is None or manifest.metadata_id == self.applied_metadata_id:
            self._seen = current if manifest is not None else self._seen
            return []
        decisions = await seed_groups(self.offsets, plan_seed(groups, self.catalog),
                                      metadata_id=manifest.metadata_id)
        self.applied_metadata_id = manifest.metadata_id
        self._seen = current  # only once applied: a failed read or seed is tried again next time
        for d in decisions:
            self.counts[d.action] += 1
        log.info("consumer group offsets from cluster %s metadata %d: %d groups; %s", manifest.cluster_uuid,
                 manifest.metadata_id, len(groups), ", ".join(f"{n} {k}" for k, n in self.counts.items()))
        return decisions

    def start(self) -> None:
        if self.interval > 0:
            self._task.start(every(self.interval, self.check, what="group offsets from the bucket", log=log))

    async def stop(self) -> None:
        await self._task.stop()
