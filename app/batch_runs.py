"""Runs of batches already served: a hot Fetch answered without parsing the segment again.

Theory of operation
-------------------
The first Fetch of a stretch of a partition goes through the shared read path
(:meth:`app.reader.PartitionReader.read`: index seek, batch walk, both CRCs checked, offset translation).
What it returns is remembered here as a *run*: the reader guarantees that its batches are every data batch
from the requested offset up to ``next_offset``, so a run ``[start, end)`` with its batches' places
(segment key, position, size) and rewritten Kafka headers describes that stretch completely. Consecutive
reads of a sequential consumer extend the same run.

The reader owns the runs (:meth:`app.reader.PartitionReader.span`, what a Kafka Fetch reads). A later
Fetch at an offset inside a run takes its batches from the run (a bisect) and their bytes straight
from the chunk cache, skipping the per-batch parsing and CRC work (the bytes are the same immutable
objects, checked when the run was made); profiling showed that per-batch work capped a hot partition at
~700 MiB/s in this process. A run is tied to the partition view it was made from; when the catalog
replaces the view (new segments, retention), the run is kept only if the segments it names are still in
the manifest. Memory is bounded: at most ``max_entries`` batches overall (least recently used
partitions' runs go first) and ``runs_per_partition`` runs per partition.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from segment_format.batch import HEADER_SIZE, BatchHeader

if TYPE_CHECKING:
    from app.catalog import PartitionView


class _Batch(Protocol):
    """What a run remembers of a batch the reader served (``app.reader.ServedBatch``)."""

    @property
    def kafka_offset(self) -> int: ...
    @property
    def kafka_last_offset(self) -> int: ...
    @property
    def segment_key(self) -> str: ...
    @property
    def position(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def header(self) -> BatchHeader: ...
    def kafka_header(self) -> bytes: ...


class _Read(Protocol):
    """A read of consecutive batches (``app.reader.ReadResult``): this module sits below the reader."""

    @property
    def batches(self) -> Sequence[_Batch]: ...
    @property
    def next_offset(self) -> int | None: ...

__all__ = ["BatchRuns", "Entry"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One served data batch: where its records are and its Kafka header."""

    kafka_offset: int
    kafka_last: int
    segment_key: str
    object_size: int
    position: int  # of the batch (header included) in the segment object
    size: int  # header + records
    header: bytes  # the 61-byte Kafka v2 header (stored CRC)
    producer_id: int
    rp_offset: int  # Redpanda base offset (aborted-transaction ranges are in Redpanda offsets)
    transactional: bool

    @property
    def records_start(self) -> int:
        return self.position + HEADER_SIZE


@dataclass(slots=True)
class _Run:
    start: int
    end: int  # exclusive
    view: PartitionView
    entries: list[Entry] = field(default_factory=list)
    lasts: list[int] = field(default_factory=list)


class BatchRuns:
    def __init__(self, *, max_entries: int = 100_000, runs_per_partition: int = 8) -> None:
        self.max_entries = max_entries
        self.runs_per_partition = runs_per_partition
        self._runs: OrderedDict[tuple[str, int, int], list[_Run]] = OrderedDict()
        self._count = 0
        self.hits = 0
        self.misses = 0

    @property
    def entries(self) -> int:
        return self._count

    def _valid(self, run: _Run, view: PartitionView) -> bool:
        if run.view is view:
            return True
        keys = {s.key for s in view.segments}
        if all(e.segment_key in keys for e in run.entries):
            run.view = view
            return True
        return False

    def lookup(self, view: PartitionView, offset: int, max_bytes: int) -> list[Entry] | None:
        """The batches from the one holding ``offset`` while they fit in ``max_bytes`` (the first always),
        or None when no run covers ``offset``. May return fewer bytes than asked at a run's end."""
        pkey = (view.topic, view.partition, view.revision)
        runs = self._runs.get(pkey)
        if not runs:
            self.misses += 1
            return None
        for run in runs:
            if run.start <= offset < run.end:
                if not self._valid(run, view):
                    self._drop(pkey, run)
                    break
                self._runs.move_to_end(pkey)
                i = bisect.bisect_left(run.lasts, offset)
                out: list[Entry] = []
                total = 0
                for e in run.entries[i:]:
                    if out and total + e.size > max_bytes:
                        break
                    out.append(e)
                    total += e.size
                    if total >= max_bytes:
                        break
                if out:
                    self.hits += 1
                    return out
                break
        self.misses += 1
        return None

    def record(self, view: PartitionView, start: int, result: _Read) -> None:
        """Remember what :meth:`PartitionReader.read` returned for a read starting at ``start``."""
        end = result.next_offset
        if end is None:
            return
        entries = []
        for b in result.batches:
            seg = view.segment_for_kafka_offset(b.kafka_offset)
            if seg is None or seg.key != b.segment_key:
                return  # the view moved on since the read: remember nothing
            h = b.header
            entries.append(Entry(b.kafka_offset, b.kafka_last_offset, b.segment_key, seg.meta.size_bytes, b.position,
                                 b.size, b.kafka_header(), h.producer_id, h.base_offset, h.is_transactional))
        pkey = (view.topic, view.partition, view.revision)
        runs = self._runs.setdefault(pkey, [])
        self._runs.move_to_end(pkey)
        for run in runs:
            if run.end == start and self._valid(run, view):
                run.entries.extend(entries)
                run.lasts.extend(e.kafka_last for e in entries)
                run.end = end
                self._count += len(entries)
                break
            if run.start <= start < run.end:
                return  # already covered
        else:
            runs.append(_Run(start, end, view, entries, [e.kafka_last for e in entries]))
            self._count += len(entries)
            if len(runs) > self.runs_per_partition:
                self._drop(pkey, runs[0])
        while self._count > self.max_entries and self._runs:
            oldest_key, oldest = next(iter(self._runs.items()))
            if not oldest:
                del self._runs[oldest_key]
                continue
            self._drop(oldest_key, oldest[0])

    def _drop(self, pkey: tuple[str, int, int], run: _Run) -> None:
        runs = self._runs.get(pkey)
        if runs is None or run not in runs:
            return
        runs.remove(run)
        self._count -= len(run.entries)
        if not runs:
            del self._runs[pkey]
