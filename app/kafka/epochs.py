"""Leader epochs of a replica: each partition's epochs are the Raft terms of its segments.

The batches the shim serves carry their segment's term as ``partitionLeaderEpoch`` (:mod:`app.reader`), so
every epoch a client sees (Metadata, ListOffsets, Fetch batches, OffsetForLeaderEpoch) comes from the same
place: the ``segment_term`` of the manifests' segments, clamped to int32 as on the wire.

* **Latest epoch** (Metadata, Fetch's ``current_leader_epoch`` check): the last segment's term.
* **Epoch start offsets**: the first Kafka offset of each term's first segment, in log order.
* **End offset of an epoch** (OffsetForLeaderEpoch; Kafka's ``LeaderEpochFileCache.endOffsetFor``): for the
  latest epoch the high watermark; otherwise the largest known epoch <= the requested one and the start of
  the first epoch above it; an epoch above every known one is (-1, -1); below every known one it is the
  requested epoch with the first epoch's start offset.
* **Fencing** (Kafka's ``Partition.checkCurrentLeaderEpoch``): a client's current epoch below ours is
  FENCED_LEADER_EPOCH, above ours UNKNOWN_LEADER_EPOCH, -1 means "do not check".
"""

from __future__ import annotations

from app.catalog import Catalog, PartitionView
from app.errors import NotFound
from app.kafka.protocol import ErrorCode

__all__ = ["NO_EPOCH", "check_current_epoch", "end_offset_for_epoch", "epoch_at", "epoch_starts", "fencing_error", "latest_epoch"]

NO_EPOCH = -1


def _term(value: int) -> int:
    return int(max(min(value, 2**31 - 1), 0))


def latest_epoch(view: PartitionView) -> int:
    """The partition's current leader epoch: the term of its last segment (0 when it has none)."""
    return _term(view.segments[-1].meta.segment_term) if view.segments else 0


def epoch_starts(view: PartitionView) -> list[tuple[int, int]]:
    """(epoch, first Kafka offset) per epoch, ascending; a term that comes back lower than one before it
    (never written by Redpanda) does not start an epoch."""
    starts: list[tuple[int, int]] = []
    for seg in view.segments:
        term = _term(seg.meta.segment_term)
        if not starts or term > starts[-1][0]:
            starts.append((term, max(seg.meta.base_kafka_offset, view.log_start_offset)))
    return starts


def epoch_at(view: PartitionView, offset: int) -> int:
    """The epoch of the batch holding ``offset`` (of the last segment past the end; -1 when empty)."""
    seg = view.segment_for_kafka_offset(offset)
    if seg is None:
        return latest_epoch(view) if view.segments else NO_EPOCH
    return _term(seg.meta.segment_term)


def end_offset_for_epoch(view: PartitionView, requested: int) -> tuple[int, int]:
    """(epoch, end offset) as Kafka's leader answers OffsetForLeaderEpoch."""
    starts = epoch_starts(view)
    if requested == NO_EPOCH or not starts:
        return NO_EPOCH, -1
    if requested == starts[-1][0]:
        return requested, view.high_watermark
    higher = next(((e, o) for e, o in starts if e > requested), None)
    if higher is None:
        return NO_EPOCH, -1
    floor = [e for e, _ in starts if e <= requested]
    return (floor[-1] if floor else requested), higher[1]


def check_current_epoch(view: PartitionView, current: int) -> ErrorCode:
    """NONE, FENCED_LEADER_EPOCH (the client's epoch is older) or UNKNOWN_LEADER_EPOCH (newer than ours)."""
    if current == NO_EPOCH:
        return ErrorCode.NONE
    ours = latest_epoch(view)
    if current < ours:
        return ErrorCode.FENCED_LEADER_EPOCH
    if current > ours:
        return ErrorCode.UNKNOWN_LEADER_EPOCH
    return ErrorCode.NONE


def fencing_error(catalog: Catalog, topic: str, partition: int, current: int) -> ErrorCode:
    """:func:`check_current_epoch` for a partition by name (NONE when it is unknown: that error comes later)."""
    if current == NO_EPOCH:
        return ErrorCode.NONE
    try:
        view = catalog.partition(topic, partition)
    except NotFound:
        return ErrorCode.NONE
    return check_current_epoch(view, current)
