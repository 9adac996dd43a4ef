"""``shadowreplica status``: where a destination stands, from the buckets alone (no replicator state needed).

For each partition of the destination (and of the source, with ``--source``): its effective manifest, the
restorable Kafka offset and timestamp, and — against the source — segments, bytes and Kafka offsets
behind; ``lag_seconds``, the data time the destination is behind (newest source record's timestamp − newest
destination record's, from the manifests: the same meaning as ``/replication`` and the metrics); and
``pending_seconds``: 0 when the destination holds every source segment, else the seconds since the source
published the manifest the destination has not caught up with (a lower bound of the wall-time delay).
A running replicator exposes the same figures live through :class:`~app.replicator.metrics.ReplicatorMetrics`.

Cost: two discoveries (the bucket model's manifest roots: 16 + 2 LISTs, plus 2 per cluster UUID each) and one GET per partition manifest on each side.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from app.bucket import (
    HASH_ROOTS,
    BucketListing,
    ManifestObject,
    PartitionId,
    decode_partition_manifest,
    discover,
)
from app.config import EventsSettings
from app.errors import ObjectMissing
from app.polling import events_following_cost, idle_following_cost, request_costs
from app.replicator.plan import named_keys, restorable
from app.store import ObjectStore
from segment_format.errors import FormatError
from segment_format.manifest import PartitionManifest

__all__ = ["bucket_status"]


async def _manifests(store: ObjectStore, listing: BucketListing, concurrency: int = 16
                     ) -> dict[PartitionId, ManifestObject | str]:
    sem = asyncio.Semaphore(concurrency)

    async def one(pid: PartitionId, fmt: str) -> tuple[PartitionId, ManifestObject | str]:
        key = pid.manifest_key(fmt)
        async with sem:
            try:
                got = await store.get(key)
            except ObjectMissing:
                return pid, f"{key} disappeared while reading"
        try:
            m = decode_partition_manifest(got.body, fmt, label=pid.cluster_uuid)
        except FormatError as e:
            return pid, f"unreadable {key}: {e}"
        return pid, ManifestObject(key=key, fmt=fmt, etag=got.etag, last_modified=got.last_modified, body=got.body,
                                   manifest=m)

    jobs = [one(pid, objs.effective_fmt) for pid, objs in listing.partitions.items() if objs.effective_fmt]
    return dict(await asyncio.gather(*jobs))


def _iso(ms: int | None) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds") if ms is not None else None


async def bucket_status(dest: ObjectStore, source: ObjectStore | None = None, *,
                        include: Callable[[str, str], bool] | None = None,
                        cluster_uuids: Iterable[str] | None = None, max_poll_interval: float = 30.0,
                        discovery_max_interval: float = 900.0) -> dict[str, Any]:
    """A JSON-ready description of the destination (compared with ``source`` when given)."""
    now = time.time()
    dest_listing, source_listing = await asyncio.gather(
        discover(dest, include=include, cluster_uuids=cluster_uuids),
        discover(source, include=include, cluster_uuids=cluster_uuids) if source is not None else _none())
    dest_m = await _manifests(dest, dest_listing)
    src_m = await _manifests(source, source_listing) if source is not None and source_listing is not None else {}
    pids = sorted(set(dest_m) | set(src_m))
    partitions: list[dict[str, Any]] = []
    totals = {"segments_behind": 0, "bytes_behind": 0, "offsets_behind": 0, "partitions_behind": 0}
    max_lag = max_pending = 0.0
    for pid in pids:
        d = dest_m.get(pid)
        s = src_m.get(pid)
        row: dict[str, Any] = {"partition": pid.name, "revision": pid.revision, "layout": pid.layout}
        if pid.label:
            row["cluster_uuid"] = pid.label
        if isinstance(d, str) or isinstance(s, str):
            row["error"] = d if isinstance(d, str) else s
            partitions.append(row)
            continue
        if d is not None:
            off, ts = restorable(d.manifest)
            row["dest"] = {"manifest": d.key, "segments": len(d.manifest.segments),
                           "spillovers": len(d.manifest.spillover),
                           "bytes": sum(x.size_bytes for x in d.manifest.segments),
                           "next_offset": d.manifest.kafka_next_offset, "restorable_offset": off,
                           "restorable_timestamp_ms": ts, "restorable_timestamp": _iso(ts),
                           "committed_at": d.last_modified.isoformat()}
        if source is not None:
            if s is None:
                row["state"] = "not_at_source"
            else:
                named = named_keys(d.manifest) if d is not None else set()
                missing = [x for x in s.manifest.segments if s.manifest.segment_key(x) not in named]
                dest_spills = ({d.manifest.spillover_key(x) for x in d.manifest.spillover} if d is not None else set())
                missing_spills = [x for x in s.manifest.spillover if s.manifest.spillover_key(x) not in dest_spills]
                behind_offsets = max(0, s.manifest.kafka_next_offset - (d.manifest.kafka_next_offset if d else 0))
                behind = bool(missing or missing_spills or d is None)
                pending = max(0.0, now - s.last_modified.timestamp()) if behind else 0.0
                lag = _data_lag_seconds(s.manifest, d.manifest if d is not None else None) if behind else 0.0
                row["source"] = {"manifest": s.key, "segments": len(s.manifest.segments),
                                 "next_offset": s.manifest.kafka_next_offset}
                row.update(state="behind" if behind else "caught_up", segments_behind=len(missing),
                           spillovers_behind=len(missing_spills),
                           bytes_behind=sum(x.size_bytes for x in missing), offsets_behind=behind_offsets,
                           lag_seconds=round(lag, 3), pending_seconds=round(pending, 3))
                if behind:
                    totals["partitions_behind"] += 1
                totals["segments_behind"] += len(missing)
                totals["bytes_behind"] += sum(x.size_bytes for x in missing)
                totals["offsets_behind"] += behind_offsets
                max_lag = max(max_lag, lag)
                max_pending = max(max_pending, pending)
        partitions.append(row)
    out: dict[str, Any] = {
        "dest": str(dest.side.url),
        "partitions": partitions,
        "topics": sorted(str(t) for t in dest_listing.topics),
    }
    if dest_listing.unsupported:
        out["unsupported"] = dict(dest_listing.unsupported)
    stores = {"dest": dest, **({"source": source} if source is not None else {})}
    followed = source_listing if source_listing is not None else dest_listing
    events = EventsSettings()
    out["cost"] = {
        # what this status run itself cost, and what following the bucket costs while idle (adaptive polling)
        "this_run": request_costs({side: {op: st.requests for op, st in s.stats.ops.items()}
                                   for side, s in stores.items()}, seconds=max(time.time() - now, 1e-3)),
        "following_idle_per_hour": idle_following_cost(
            len(followed.partitions), max_poll_interval=max_poll_interval,
            discovery_listings=len(HASH_ROOTS) + 2 + 2 * len(followed.cluster_uuids),
            discovery_max_interval=discovery_max_interval),
        "following_by_events_per_hour": events_following_cost(
            known_roots=len(followed.roots()), all_listings=len(HASH_ROOTS) + 2 + 2 * len(followed.cluster_uuids),
            safety_interval=events.safety_interval, full_interval=events.full_listing_interval,
            wait_seconds=events.wait_seconds),
    }
    if source is not None:
        assert source_listing is not None
        out["source"] = str(source.side.url)
        out["topics_missing"] = sorted(str(t) for t in set(source_listing.topics) - set(dest_listing.topics))
        if source_listing.unsupported:
            out["source_unsupported"] = dict(source_listing.unsupported)
        out["totals"] = {**totals, "max_lag_seconds": round(max_lag, 3), "max_pending_seconds": round(max_pending, 3)}
        out["caught_up"] = totals["partitions_behind"] == 0 and not out["topics_missing"]
    return out


async def _none() -> None:
    return None


def _data_lag_seconds(source: PartitionManifest, dest: PartitionManifest | None) -> float:
    """Newest source record's timestamp − newest destination record's, from the manifests' max timestamps."""
    def newest(m: PartitionManifest | None) -> int | None:
        stamps = [x.max_timestamp for x in m.segments if x.max_timestamp is not None] if m is not None else []
        return max(stamps) if stamps else None

    src, dst = newest(source), newest(dest)
    if src is None:
        return 0.0
    if dst is None:
        dst = min((x.base_timestamp for x in source.segments if x.base_timestamp is not None), default=src)
    return max(0.0, (src - dst) / 1000.0)
