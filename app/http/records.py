"""Record queries: by offset, by timestamp, or by key within a bounded window, over the shared read path.

Theory of operation
-------------------
A query is resolved *before* any byte of the response is sent (:func:`plan_query`): the partition must
exist (404), the start offset must be inside ``[log_start_offset, high_watermark]`` (416 with the range),
and a timestamp is turned into the offset of the first record at or after it. Streaming (NDJSON) can then
only fail on data or S3 errors, which the NDJSON writer reports in a final ``{"error": ...}`` line.

:func:`iter_records` walks the partition with :meth:`PartitionReader.read` from the planned offset:

* The first read asks for one batch only; with ``granularity="span"`` (every query of at most
  ``http.span_read_max_records`` records) it costs the segment's ``.index`` (cached) plus one exact byte
  range — the batch's span between two index samples. Later reads take up to ``http.read_bytes`` per call.
  Large queries and key searches read cache-aligned chunks with read-ahead instead.
* Records before the start offset (inside the first batch) and control batches are skipped; transactional
  records are shown with ``batch.transactional``.
* ``next_offset`` is where the next page starts: after the last record returned when the limit was hit,
  else the end of what was scanned (the high watermark at the end of the log, the window's end for a key
  search), so paging never skips or repeats a record.

A key search scans at most ``window`` offsets (capped by ``HttpSettings.key_search_window``) and stops at
the first batch starting after ``until`` (a timestamp) when given — records after ``until`` inside an
earlier batch are skipped, so every record returned is at or before it; without a start it searches the
last ``window`` offsets of the partition.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from app.config import HttpSettings
from app.http.codec import Decode, record_dict
from app.reader import Granularity, PartitionReader, ServedBatch
from segment_format.records import Record

__all__ = ["Outcome", "Plan", "iter_records", "plan_query"]



@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A resolved query: where to start and stop, what to match."""

    topic: str
    partition: int
    start: int  # first Kafka offset to return
    end: int  # stop before this offset (high watermark, or the key-search window's end)
    limit: int
    decode: Decode
    key: bytes | None = None
    until: int | None = None
    read_committed: bool = False  # omit records of aborted transactions (they are flagged otherwise)
    granularity: Granularity = "span"
    log_start_offset: int
    high_watermark: int
    timestamp_match: tuple[int, int] | None = None  # (offset, timestamp) found for ?timestamp=
    read_bytes: int = 1024 * 1024  # http.read_bytes: per read after the first batch
    decode_in_thread_bytes: int = 256 * 1024  # http.decode_in_thread_bytes


@dataclass(slots=True)
class Outcome:
    """Filled in by :func:`iter_records` as it goes (complete once the iterator is exhausted)."""

    next_offset: int
    high_watermark: int
    log_start_offset: int
    count: int = 0
    scanned_to: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


async def plan_query(reader: PartitionReader, *, topic: str, partition: int, offset: int | None,
                     timestamp: int | None, key: bytes | None, until: int | None, window: int, limit: int,
                     decode: Decode, read_committed: bool = False, settings: HttpSettings | None = None) -> Plan:
    """Resolve a query against the current partition view (raises UnknownTopic/UnknownPartition/416)."""
    view = reader.catalog.partition(topic, partition)
    start_offset, hw = view.log_start_offset, view.high_watermark
    match: tuple[int, int] | None = None
    settings = settings or HttpSettings()
    granularity: Granularity = "span" if limit <= settings.span_read_max_records and key is None else "chunk"
    if offset is not None:
        reader.check_range(view, offset)
        start = offset
    elif timestamp is not None:
        match = await reader.offset_for_timestamp(topic, partition, timestamp, granularity=granularity)
        start = match[0] if match is not None else hw
    elif key is not None:
        start = max(start_offset, hw - window)
    else:
        start = start_offset
    end = min(hw, start + window) if key is not None else hw
    return Plan(topic=topic, partition=partition, start=start, end=end, limit=limit, decode=decode, key=key,
                until=until, read_committed=read_committed, granularity=granularity, log_start_offset=start_offset, high_watermark=hw,
                timestamp_match=match, read_bytes=settings.read_bytes,
                decode_in_thread_bytes=settings.decode_in_thread_bytes)


async def _decode(batch: ServedBatch, in_thread_above: int) -> list[Record]:
    if batch.header.size_bytes > in_thread_above:
        return await asyncio.to_thread(batch.decode)
    return batch.decode()


def _record_time(batch: ServedBatch, record: Record) -> int:
    h = batch.header
    return h.max_timestamp if h.is_log_append_time else h.first_timestamp + record.timestamp_delta


def _batch_start_time(batch: ServedBatch) -> int:
    h = batch.header
    return h.max_timestamp if h.is_log_append_time else h.first_timestamp


async def iter_records(reader: PartitionReader, plan: Plan, outcome: Outcome) -> AsyncIterator[dict[str, Any]]:
    """The plan's records as API dicts, in offset order; ``outcome`` is complete when this is exhausted."""
    offset = plan.start
    remaining = plan.limit
    first = True
    outcome.next_offset = offset
    outcome.scanned_to = offset
    while remaining > 0 and offset < plan.end:
        result = await reader.read(plan.topic, plan.partition, offset, 1 if first else plan.read_bytes,
                                   max_batches=1 if first else None, granularity=plan.granularity,
                                   with_aborted=True)
        first = False
        outcome.high_watermark = result.high_watermark
        outcome.log_start_offset = result.log_start_offset
        if not result.batches:
            offset = max(offset, min(result.high_watermark, plan.end))
            break
        for batch in result.batches:
            if batch.kafka_offset >= plan.end:
                offset = plan.end
                break
            if plan.until is not None and _batch_start_time(batch) > plan.until:
                outcome.extra["stopped_at_timestamp"] = plan.until
                outcome.next_offset = outcome.scanned_to = max(offset, batch.kafka_offset)
                return
            aborted = batch.kafka_offset in result.aborted_batches
            if not batch.header.is_control and not (aborted and plan.read_committed):
                for record in await _decode(batch, plan.decode_in_thread_bytes):
                    at = batch.kafka_offset + record.offset_delta
                    if at < offset:
                        continue
                    if at >= plan.end:
                        break
                    if plan.key is not None and record.key != plan.key:
                        continue
                    if plan.until is not None and _record_time(batch, record) > plan.until:
                        continue  # a batch that starts before `until` can hold records after it
                    yield record_dict(batch, record, plan.decode, aborted=aborted)
                    outcome.count += 1
                    remaining -= 1
                    if remaining == 0:
                        outcome.next_offset = at + 1
                        outcome.scanned_to = at + 1
                        return
            offset = min(batch.kafka_last_offset + 1, plan.end)
            if remaining == 0 or offset >= plan.end:
                break
    outcome.next_offset = offset
    outcome.scanned_to = offset
