"""Plan = source manifest minus destination manifest. Pure: values in, a plan out, no I/O.

Theory of operation
-------------------
A partition at the source is its main manifest plus the spillover manifests it lists (older segments
moved out of the main manifest). Every segment named there is a *unit*: the segment object and its
companions ``.index`` (optional: old segments have none) and ``.tx`` (absent when an ``sname_format`` v3
entry says ``metadata_size_hint == 0``).

The **target** is the destination manifest we are heading for:

* ``mirror``: the source main manifest itself, written as the exact bytes we read (JSON or serde);
* ``keep``: the source manifest with the destination's older history in front of it (segments and
  spillovers whose offsets end before the source's log start), written as JSON. When the source has
  spillovers *and* older main segments must be kept, the source spillovers' segments move into the main
  manifest (main segments may not precede spillover ranges).

The **units** are the target's segments that are not at the destination yet: a segment is there when the
destination's effective manifest names its key, or when a spillover manifest naming it is already at the
destination (we only ever write a spillover manifest after its segments, so its presence proves theirs).

Commit rules (the invariant: a destination manifest never names a missing object):

1. a spillover manifest is written (verbatim bytes) after every unit it names is done, in order;
2. an *intermediate* main manifest (:meth:`PartitionPlan.intermediate`) names the target's spillovers
   already at the destination and, as plain main segments, the longest run of target segments after them
   that are all at the destination: a real, earlier state of the log, never a half-updated one;
3. the final commit writes the target; with ``mirror`` the objects only the old manifest named are deleted
   *after* it (manifest first, objects after) and only when the target does not name them.

A manifest in the other format left at the destination (``manifest.bin`` shadows ``manifest.json`` for
Redpanda's reader) is deleted right after the commit that makes it stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from app.bucket import ManifestObject, PartitionId, encode_partition_manifest
from segment_format.manifest import PartitionManifest, SegmentMeta

__all__ = [
    "ObjectCopy",
    "PartitionPlan",
    "SpillWrite",
    "Unit",
    "keep_target",
    "log_start",
    "named_keys",
    "plan_partition",
    "unit_for",
]

Retention = Literal["mirror", "keep"]


@dataclass(frozen=True, slots=True)
class ObjectCopy:
    """One object to copy. ``size`` is known for segments (the manifest's ``size_bytes``); ``size_in_key``
    says the key itself pins the size (sname_format v2/v3), so a byte-exact copy of it has that size."""

    key: str
    role: Literal["segment", "index", "tx"]
    required: bool
    size: int | None = None
    size_in_key: bool = False


@dataclass(frozen=True, slots=True)
class Unit:
    """A segment and its companions; done when all of them are at the destination (or absent at the source)."""

    meta: SegmentMeta
    key: str
    objects: tuple[ObjectCopy, ...]
    spill_key: str | None = None  # the source spillover manifest that names it (None: main manifest)

    @property
    def size(self) -> int:
        return self.meta.size_bytes


@dataclass(frozen=True, slots=True)
class SpillWrite:
    """A source spillover manifest to write at the destination, verbatim, once its units are done."""

    key: str
    meta: SegmentMeta  # its entry in the target's spillover list
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionPlan:
    pid: PartitionId
    retention: Retention
    target: PartitionManifest
    target_fmt: str
    target_body: bytes
    target_is_source: bool  # the target's bytes are the source manifest's bytes
    source_etag: str
    units: tuple[Unit, ...]
    spill_writes: tuple[SpillWrite, ...]
    spill_segments: Mapping[str, tuple[SegmentMeta, ...]]  # every target spillover's segments we know
    spills_at_dest: frozenset[str]
    dest_named: frozenset[str]  # segment keys the current destination manifest names
    target_named: frozenset[str] = frozenset()  # segment keys the target names (main + known spillovers)
    deletions: tuple[str, ...] = ()  # mirror: object keys to delete after the final commit
    dropped_spills: tuple[str, ...] = ()  # mirror: destination spillover manifests the target no longer lists
    stale_fmt: str | None = None  # the other manifest format at the destination, to delete after commit
    unchanged: bool = False  # the destination already holds exactly the target

    @property
    def bytes_to_copy(self) -> int:
        return sum(u.size for u in self.units)

    def spill_key(self, meta: SegmentMeta) -> str:
        return self.target.spillover_key(meta)

    def may_delete(self, meta: SegmentMeta, key: str) -> bool:
        """Mirror: may a segment the old destination named be deleted? Not if the target names it, nor if it
        falls in a target spillover whose segment list we did not read (it might name it)."""
        if key in self.target_named:
            return False
        for sp in self.target.spillover:
            overlaps = sp.base_offset <= meta.committed_offset and sp.committed_offset >= meta.base_offset
            if overlaps and self.spill_key(sp) not in self.spill_segments:
                return False
        return True

    def intermediate(self, available: Callable[[str], bool], spills_at_dest: Iterable[str]) -> PartitionManifest:
        """The largest valid manifest naming only objects at the destination (rule 2 of the module doc).

        ``available(segment_key)`` says a target segment (with companions) is at the destination;
        ``spills_at_dest`` are spillover keys present there.
        """
        t = self.target
        present = set(spills_at_dest)
        k = 0
        while k < len(t.spillover) and self.spill_key(t.spillover[k]) in present:
            k += 1
        tail: list[SegmentMeta] = []
        for meta in t.spillover[k:]:
            tail.extend(self.spill_segments.get(self.spill_key(meta), ()))
        tail.extend(t.segments)
        prefix: list[SegmentMeta] = []
        for meta in tail:
            if not available(t.segment_key(meta)):
                break
            prefix.append(meta)
        return compose(t, k, prefix)


def compose(t: PartitionManifest, k: int, segments: list[SegmentMeta]) -> PartitionManifest:
    """``t`` cut down to its first ``k`` spillovers plus ``segments`` as main segments (rule 2)."""
    spills = t.spillover[:k]
    if segments:
        last = segments[-1].committed_offset
    elif spills:
        last = spills[-1].committed_offset
    else:
        last = log_start(t) - 1
    all_spilled = k == len(t.spillover)
    if all_spilled and segments and t.segments and segments[0] == t.segments[0]:
        start = t.start_offset
    else:
        start = segments[0].base_offset if segments else last + 1
    compacted = t.last_uploaded_compacted_offset
    changes: dict[str, object] = {
        "spillover": tuple(spills),
        "replaced": (),
        "last_offset": last,
        "start_offset": start,
        "last_uploaded_compacted_offset": compacted if compacted is not None and compacted <= last else None,
        "archive_size_bytes": sum(s.size_bytes for s in spills),
    }
    if k == 0:
        changes.update(archive_start_offset=None, archive_start_offset_delta=None, archive_clean_offset=None)
    if t.insync_offset is not None and t.insync_offset > last and not (all_spilled and segments == list(t.segments)):
        changes["insync_offset"] = last
    return t.with_segments(segments, **changes)


def log_start(m: PartitionManifest) -> int:
    """The lowest Redpanda offset a manifest covers (its first spillover, else its first segment)."""
    if m.spillover:
        return m.spillover[0].base_offset
    if m.segments:
        return m.segments[0].base_offset
    if m.start_offset is not None:
        return m.start_offset
    return m.last_offset + 1


def unit_for(m: PartitionManifest, meta: SegmentMeta, spill_key: str | None = None) -> Unit:
    """The objects of one segment entry (see the module doc for which companions exist)."""
    key = m.segment_key(meta)
    objs = [
        ObjectCopy(key, "segment", True, meta.size_bytes, size_in_key=meta.sname_format in (2, 3)),
        ObjectCopy(key + ".index", "index", False),
    ]
    if not (meta.sname_format == 3 and meta.metadata_size_hint == 0):
        objs.append(ObjectCopy(key + ".tx", "tx", False))
    return Unit(meta, key, tuple(objs), spill_key)


def named_keys(m: PartitionManifest, spill_segments: Mapping[str, Iterable[SegmentMeta]] | None = None) -> set[str]:
    """Segment keys a manifest names: main segments, plus the segments of its spillovers we know."""
    out = {m.segment_key(s) for s in m.segments}
    if spill_segments:
        for meta in m.spillover:
            out.update(m.segment_key(s) for s in spill_segments.get(m.spillover_key(meta), ()))
    return out


def keep_target(dest: PartitionManifest, source: PartitionManifest,
                source_spills: Mapping[str, tuple[SegmentMeta, ...]]) -> PartitionManifest:
    """``--retention keep``: the source manifest with the destination's older history kept in front."""
    start = log_start(source)
    extra_spills = [s for s in dest.spillover if s.committed_offset < start]
    extra_segs = [s for s in dest.segments if s.committed_offset < start]
    if not extra_spills and not extra_segs:
        return source
    if source.spillover and extra_segs:
        moved: list[SegmentMeta] = []
        for meta in source.spillover:
            moved.extend(source_spills[source.spillover_key(meta)])
        spills: list[SegmentMeta] = extra_spills
        segments = [*extra_segs, *moved, *source.segments]
    else:
        spills = [*extra_spills, *source.spillover]
        segments = [*extra_segs, *source.segments]
    changes: dict[str, object] = {
        "spillover": tuple(spills),
        "start_kafka_offset": None,
        "archive_size_bytes": sum(s.size_bytes for s in spills),
    }
    if spills:
        changes.update(archive_start_offset=spills[0].base_offset, archive_start_offset_delta=spills[0].delta_offset)
    else:
        changes.update(archive_start_offset=None, archive_start_offset_delta=None, archive_clean_offset=None)
    if extra_segs:
        changes["start_offset"] = extra_segs[0].base_offset
    elif not source.segments or (source.start_offset is not None and segments and
                                 source.start_offset < segments[0].base_offset):
        changes["start_offset"] = segments[0].base_offset if segments else source.start_offset
    return source.with_segments(segments, **changes)


@dataclass(slots=True)
class _Builder:
    units: list[Unit] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def add(self, u: Unit) -> None:
        if u.key not in self.seen:
            self.seen.add(u.key)
            self.units.append(u)


def plan_partition(
    *,
    pid: PartitionId,
    source: ManifestObject,
    source_spills: Mapping[str, tuple[SegmentMeta, ...]],
    source_spill_bodies: Mapping[str, bytes],
    dest: ManifestObject | None,
    dest_manifest_fmts: Iterable[str] = (),
    dest_spills: Iterable[str] = (),
    retention: Retention = "mirror",
) -> PartitionPlan:
    """Compare one partition's source and destination and say what to copy, write and delete.

    ``source_spills``/``source_spill_bodies``: the source's spillover manifests by key (all that the source
    main manifest lists). ``dest``: the destination's effective manifest (None: none yet);
    ``dest_manifest_fmts``: every format present at the destination; ``dest_spills``: spillover keys present there.
    """
    src = source.manifest
    spills_at_dest = frozenset(dest_spills)
    dm = dest.manifest if dest is not None else None
    target = keep_target(dm, src, source_spills) if retention == "keep" and dm is not None else src
    target_is_source = target is src
    if target_is_source:
        target_fmt, target_body = source.fmt, source.body
    else:
        # a merged manifest of our own: JSON where Redpanda reads JSON, .bin where it reads only that (labeled)
        target_fmt = pid.formats[-1]
        target_body = encode_partition_manifest(target, target_fmt)

    dest_named: set[str] = set(named_keys(dm)) if dm is not None else set()
    # spillovers of the target: those not at the destination must be written, after their units
    spill_segments: dict[str, tuple[SegmentMeta, ...]] = {}
    writes: list[SpillWrite] = []
    b = _Builder()
    for meta in target.spillover:
        skey = target.spillover_key(meta)
        segs = source_spills.get(skey)
        if segs is not None:
            spill_segments[skey] = segs
        if skey in spills_at_dest:
            continue  # present: every segment it names is at the destination already
        if segs is None or skey not in source_spill_bodies:
            raise ValueError(f"{pid}: spillover manifest {skey} is neither at the destination nor supplied")
        for s in segs:
            if target.segment_key(s) not in dest_named:
                b.add(unit_for(target, s, skey))
        writes.append(SpillWrite(skey, meta, source_spill_bodies[skey]))
    for s in target.segments:
        if target.segment_key(s) not in dest_named:
            b.add(unit_for(target, s))

    fmts = set(dest_manifest_fmts)
    stale = next((f for f in sorted(fmts) if f != target_fmt), None)
    unchanged = (dest is not None and dest.fmt == target_fmt and dest.body == target_body and not b.units
                 and not writes and stale is None)

    plan = PartitionPlan(
        pid=pid,
        retention=retention,
        target=target,
        target_fmt=target_fmt,
        target_body=target_body,
        target_is_source=target_is_source,
        source_etag=source.etag,
        units=tuple(b.units),
        spill_writes=tuple(writes),
        spill_segments=spill_segments,
        spills_at_dest=spills_at_dest,
        dest_named=frozenset(dest_named),
        target_named=frozenset(named_keys(target, spill_segments)),
        stale_fmt=stale,
        unchanged=unchanged,
    )
    if retention != "mirror" or dm is None:
        return plan
    deletions: list[str] = []
    for s in dm.segments:
        key = dm.segment_key(s)
        if plan.may_delete(s, key):
            deletions.extend((key, key + ".index", key + ".tx"))
    target_spills = {target.spillover_key(m) for m in target.spillover}
    dropped = [dm.spillover_key(m) for m in dm.spillover if dm.spillover_key(m) not in target_spills]
    return replace(plan, deletions=tuple(deletions), dropped_spills=tuple(dropped))


def restorable(m: PartitionManifest) -> tuple[int, int | None]:
    """(last Kafka offset, its segment's max timestamp) a restore from ``m`` gets; (-1, None) when empty."""
    if not m.segments:
        if m.spillover:
            last = m.spillover[-1]
            return last.next_kafka_offset - 1, last.max_timestamp
        return -1, None
    last_seg = m.segments[-1]
    return m.kafka_next_offset - 1, last_seg.max_timestamp
