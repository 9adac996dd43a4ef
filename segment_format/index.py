"""Segment index: where to start reading a segment for a Kafka offset or a timestamp.

The bucket's own index is Redpanda's ``{segment_key}.index`` object (:mod:`segment_format.remote_index`):
samples taken every 64 KiB of batches, each (Redpanda offset, Kafka offset, file position, max timestamp)
of a batch start. This module connects it to segments:

* :func:`batch_positions` walks a segment's headers (no records decoded, no copy) for the builder;
* :func:`build_index_object` produces the exact ``.index`` bytes Redpanda's archiver would upload;
* :func:`seek_kafka_offset` / :func:`seek_timestamp` turn an index (or its absence) into a
  :class:`ReadStart`: the file position to read from and the running delta there, so a ranged read
  of ``[position, …)`` plus :class:`~segment_format.offsets.OffsetTranslator` (started at ``delta``) yields
  exact Kafka offsets without reading the segment from its start.

Segments without an index object (sname_format v1/v2, or a bucket that lacks them) are read from position
0 with the manifest's ``delta_offset``, which is what Redpanda's legacy read path does too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from segment_format.remote_index import (
    SAMPLING_STEP_BYTES,
    BatchPosition,
    RemoteSegmentIndex,
    build_remote_index,
    encode_remote_index,
    find_kafka_offset,
    find_timestamp,
)
from segment_format.segment import BatchReader

__all__ = ["ReadStart", "batch_positions", "build_index", "build_index_object", "seek_kafka_offset",
           "seek_timestamp"]


def batch_positions(segment: bytes | bytearray | memoryview, *, verify_crc: bool = False) -> Iterator[BatchPosition]:
    """Header facts of every batch, in order (header CRCs are checked; record CRCs only if asked)."""
    for b in BatchReader(segment, verify_crc=verify_crc):
        h = b.header
        yield BatchPosition(h.base_offset, h.type, h.last_offset_delta, h.size_bytes, b.position, h.max_timestamp)


def build_index(segment: bytes | bytearray | memoryview, delta_offset: int, base_offset: int | None = None, *,
                namespace: str = "kafka", base_timestamp: int | None = None,
                sampling_step: int = SAMPLING_STEP_BYTES) -> RemoteSegmentIndex:
    """Index a segment as Redpanda's archiver does before uploading it."""
    positions = list(batch_positions(segment))
    if base_timestamp is None:
        base_timestamp = min((p.max_timestamp for p in positions), default=-1)
    return build_remote_index(positions, delta_offset, sampling_step, base_rp_offset=base_offset,
                              base_timestamp=base_timestamp, namespace=namespace)


def build_index_object(segment: bytes | bytearray | memoryview, delta_offset: int, base_offset: int | None = None,
                       *, namespace: str = "kafka", base_timestamp: int | None = None) -> bytes:
    """The ``.index`` object body for a segment."""
    return encode_remote_index(build_index(segment, delta_offset, base_offset, namespace=namespace,
                                           base_timestamp=base_timestamp))


@dataclass(frozen=True, slots=True)
class ReadStart:
    """Start reading at ``position``; the batch there has Redpanda offset ``rp_offset`` and the running delta
    is ``delta`` (so its Kafka offset is ``rp_offset - delta``)."""

    position: int
    rp_offset: int
    delta: int


def _segment_start(base_offset: int, delta_offset: int) -> ReadStart:
    return ReadStart(0, base_offset, delta_offset)


def seek_kafka_offset(index: RemoteSegmentIndex | None, kafka_offset: int, *, base_offset: int,
                      delta_offset: int) -> ReadStart:
    """Where to start reading for the batch holding ``kafka_offset`` (the last sample at or before it)."""
    if index is None:
        return _segment_start(base_offset, delta_offset)
    entry = find_kafka_offset(index, kafka_offset + 1)
    if entry is None:
        return _segment_start(base_offset, delta_offset)
    return ReadStart(entry.file_pos, entry.rp_offset, entry.rp_offset - entry.kafka_offset)


def seek_timestamp(index: RemoteSegmentIndex | None, timestamp: int, *, base_offset: int,
                   delta_offset: int) -> ReadStart:
    """Where to start reading for the first record with timestamp >= ``timestamp``.

    Redpanda's ``find_timestamp`` returns the last sample whose max timestamp is below the target: every
    batch before that sample ends earlier, so the answer is at or after it.
    """
    if index is None:
        return _segment_start(base_offset, delta_offset)
    entry = find_timestamp(index, timestamp)
    if entry is None:
        return _segment_start(base_offset, delta_offset)
    return ReadStart(entry.file_pos, entry.rp_offset, entry.rp_offset - entry.kafka_offset)
