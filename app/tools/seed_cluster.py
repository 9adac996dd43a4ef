"""What Redpanda uploads for whole-cluster restore, as far as consumer groups go (``cluster_metadata/``):
offsets snapshots and the cluster manifest naming them, for the sample buckets of :mod:`app.tools.seed`."""

from __future__ import annotations

from app.tools.seedgen import BASE_TIMESTAMP, SeedObject, SeedSpec, topic_name

__all__ = ["SEED_GROUPS", "cluster_objects"]


SEED_GROUPS = ("dashboard", "billing", "laggard")


def cluster_objects(spec: SeedSpec, high_watermarks: dict[tuple[int, int], int], *, metadata_id: int = 1,
                    upload_time_ms: int = BASE_TIMESTAMP) -> list[SeedObject]:
    """What Redpanda uploads for whole-cluster restore, as far as consumer groups go: offsets snapshots (one
    per consumer-offsets partition holding groups) and then the ``cluster_manifest.json`` naming them.

    ``dashboard`` is half way through every partition of the first topic; ``billing`` at the end of the
    second topic's partitions and on a topic the bucket does not have (``retired``); ``laggard`` beyond the
    high watermark of the first topic's partition 0 (the source had data the bucket never got): a restore
    must clamp it."""
    from segment_format.cluster_metadata import (
        ClusterManifest,
        GroupOffsets,
        OffsetsSnapshot,
        encode_offsets_snapshot,
        offsets_snapshot_key,
    )

    label = spec.label
    first = topic_name(0)
    groups = [GroupOffsets("dashboard", {first: {p: high_watermarks[(0, p)] // 2 for p in range(spec.partitions)}})]
    if spec.topics > 1:
        groups.append(GroupOffsets("billing", {topic_name(1): {p: high_watermarks[(1, p)]
                                                               for p in range(spec.partitions)},
                                               "retired": {0: 42}}))
    groups.append(GroupOffsets("laggard", {first: {0: high_watermarks[(0, 0)] + 1000}}))
    snapshots = [OffsetsSnapshot(0, tuple(groups[:2])), OffsetsSnapshot(1, tuple(groups[2:]))]
    objects = [SeedObject(offsets_snapshot_key(label, metadata_id, s.offsets_topic_pid, 0),
                          encode_offsets_snapshot(s), "offsets_snapshot") for s in snapshots]
    manifest = ClusterManifest(cluster_uuid=label, metadata_id=metadata_id, upload_time_since_epoch=upload_time_ms,
                               controller_snapshot_offset=-1, controller_snapshot_path="",
                               offsets_snapshots_by_partition=tuple((o.key,) for o in objects))
    return [*objects, SeedObject(manifest.key, manifest.to_json(), "cluster_manifest")]
