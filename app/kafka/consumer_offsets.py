"""The read-only ``__consumer_offsets`` topic: every group commit this instance sees, as Kafka writes it.

Burrow-style lag monitors and ``kafka-console-consumer --formatter ...OffsetsMessageFormatter`` read
``__consumer_offsets`` rather than asking for offsets. The log is built in memory:

* at start, one ``OffsetCommit`` record per (group, topic, partition) with its current committed offset
  (groups in name order), so a reader starting at the beginning knows every position;
* then one record per committed partition, in commit order, for every commit through this instance: a
  client's OffsetCommit, ``groups import`` seen at the next start, the bucket-snapshot seeding; and one
  ``GroupMetadata`` record whenever a group completes a rebalance or becomes empty.

Records are encoded by :mod:`app.kafka.protocol.consumer_offsets` (Kafka's formats), one record per batch,
placed by Kafka's partitioning rule (``kafka.consumer_offsets_partitions``, 16 like Redpanda). A bounded
number of records is kept (``kafka.consumer_offsets_max_records``); older ones are dropped and the log start
moves, as retention would. Readers see only records of groups their ACL lets them use (a filtered fetch
has offset gaps, as a compacted topic does). With ``--peers`` each instance's log holds what it saw.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from app.group_offsets import CommittedOffset, TopicPartition
from app.kafka.protocol import RecordPiece
from app.kafka.protocol.consumer_offsets import (
    CONSUMER_OFFSETS,
    GroupMember,
    encode_group_metadata_key,
    encode_group_metadata_value,
    encode_offset_commit_key,
    encode_offset_commit_value,
    partition_for_group,
)
from segment_format.batch import HEADER_SIZE, decode_header, kafka_header
from segment_format.batch import build_batch as build_stored_batch
from segment_format.records import Record

__all__ = ["CONSUMER_OFFSETS", "ConsumerOffsetsLog", "OffsetsRead"]


@dataclass(frozen=True, slots=True)
class _Entry:
    offset: int
    group: str
    timestamp: int
    piece: RecordPiece
    size: int


@dataclass(frozen=True, slots=True)
class OffsetsRead:
    pieces: list[RecordPiece]
    sizes: list[int]
    high_watermark: int
    log_start_offset: int


class ConsumerOffsetsLog:
    """Partitions of ``__consumer_offsets`` in memory (see the module docstring)."""

    def __init__(self, partitions: int = 16, *, max_records: int = 100_000) -> None:
        if partitions < 1:
            raise ValueError("__consumer_offsets needs at least one partition")
        self.partitions = partitions
        self.max_records = max_records
        self._logs: list[deque[_Entry]] = [deque() for _ in range(partitions)]
        self._next = [0] * partitions
        self._start = [0] * partitions
        self._count = 0

    def high_watermark(self, partition: int) -> int:
        return self._next[partition]

    def log_start_offset(self, partition: int) -> int:
        return self._start[partition]

    def _append(self, group: str, key: bytes, value: bytes, timestamp: int) -> None:
        p = partition_for_group(group, self.partitions)
        offset = self._next[p]
        stored = build_stored_batch([Record(offset_delta=0, timestamp_delta=0, key=key, value=value)],
                                    base_offset=offset, first_timestamp=timestamp)
        header = decode_header(stored, 0)
        piece = (kafka_header(header, base_offset=offset, leader_epoch=0), stored[HEADER_SIZE:])
        self._logs[p].append(_Entry(offset, group, timestamp, piece, len(stored)))
        self._next[p] = offset + 1
        self._count += 1
        while self._count > self.max_records:
            oldest = max(range(self.partitions), key=lambda i: len(self._logs[i]))
            dropped = self._logs[oldest].popleft()
            self._start[oldest] = dropped.offset + 1
            self._count -= 1

    def commit(self, group: str, offsets: Mapping[TopicPartition, CommittedOffset]) -> None:
        """One record per committed partition (topic, partition order), as Kafka writes a commit."""
        for (topic, partition), c in sorted(offsets.items()):
            ts = c.commit_timestamp or int(time.time() * 1000)
            self._append(group, encode_offset_commit_key(group, topic, partition),
                         encode_offset_commit_value(c.offset, c.leader_epoch, c.metadata, ts), ts)

    def group_changed(self, group: str, *, protocol_type: str, generation: int, protocol: str | None,
                      leader: str | None, members: list[GroupMember]) -> None:
        now = int(time.time() * 1000)
        self._append(group, encode_group_metadata_key(group),
                     encode_group_metadata_value(protocol_type, generation, protocol, leader, now, members), now)

    def read(self, partition: int, offset: int, max_bytes: int, may_see: Callable[[str], bool]) -> OffsetsRead:
        """Batches from ``offset`` (the first whole even past ``max_bytes``), only of groups ``may_see``."""
        log = self._logs[partition]
        pieces: list[RecordPiece] = []
        sizes: list[int] = []
        total = 0
        first = self._start[partition]
        for entry in itertools.islice(log, max(offset - first, 0), None):
            if not may_see(entry.group):
                continue
            if pieces and total + entry.size > max_bytes:
                break
            pieces.append(entry.piece)
            sizes.append(entry.size)
            total += entry.size
        return OffsetsRead(pieces, sizes, self._next[partition], self._start[partition])

    def offset_for_timestamp(self, partition: int, timestamp: int) -> tuple[int, int] | None:
        for entry in self._logs[partition]:
            if entry.timestamp >= timestamp:
                return entry.offset, entry.timestamp
        return None
