"""The one read path: Kafka offset or timestamp → batches, for the Kafka shim and the HTTP API alike.

``read(topic, partition, offset, max_bytes)`` finds the segment through the catalog, the start position
through the segment's ``.index`` (cached; a missing or damaged index means "read from the segment start",
as Redpanda's legacy path does), reads chunk-aligned ranges through the cache, and walks the batches with
an :class:`~segment_format.offsets.OffsetTranslator` started at the index sample's delta. Only
``raft_data`` batches are returned (control batches included, as Kafka does); the first batch is always
whole even past ``max_bytes`` (KIP-74). Batches are returned with their stored records bytes untouched:
callers send ``kafka_header()`` + ``records`` (the stored CRC stays valid).

Read granularity: the default (``"chunk"``) reads cache-aligned chunks with read-ahead, right for
sequential consumers (the Kafka shim). ``granularity="span"`` reads only the span between two ``.index``
samples holding the wanted batch, with one exact ranged GET per span (:meth:`ChunkCache.read_span`): a
point query then costs the index object plus one range (the HTTP API). Segments without an index fall back
to chunks.

Errors: an offset outside ``[log_start, high_watermark]`` raises :class:`OffsetOutOfRange` with the range;
a damaged batch raises :class:`CorruptData` with the object key and byte position (a read that already has
batches before the damage returns those instead, so the next read starts at the damage and gets the
error); an object shorter than its manifest entry, or zero-filled before the entry's last offset, is
damage too; S3 failures surface as
:class:`StorageError` subclasses (retriable ones marked).
"""

from __future__ import annotations

import bisect
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from app.batch_runs import BatchRuns
from app.cache import ChunkCache
from app.catalog import Catalog, PartitionView, SegmentRef
from app.errors import CorruptData, ObjectMissing, OffsetOutOfRange
from segment_format.batch import BatchHeader, BatchType, kafka_header
from segment_format.errors import FormatError
from segment_format.index import ReadStart, seek_kafka_offset, seek_timestamp
from segment_format.offsets import OffsetTranslator
from segment_format.records import Record, RecordColumns
from segment_format.remote_index import RemoteSegmentIndex, decode_remote_index
from segment_format.segment import BatchReader, Tail

log = logging.getLogger(__name__)

Granularity = Literal["chunk", "span"]


@dataclass(frozen=True, slots=True)
class ServedBatch:
    """A data batch ready to serve: Kafka base offset, stored header, records view, epoch (segment term)."""

    kafka_offset: int
    header: BatchHeader
    records: memoryview | bytes
    leader_epoch: int
    segment_key: str
    position: int

    @property
    def kafka_last_offset(self) -> int:
        return self.kafka_offset + self.header.last_offset_delta

    @property
    def size(self) -> int:
        return self.header.size_bytes

    def kafka_header(self) -> bytes:
        return kafka_header(self.header, base_offset=self.kafka_offset, leader_epoch=self.leader_epoch)

    def decode(self) -> list[Record]:
        return self.decode_columns().records()

    def decode_columns(self) -> RecordColumns:
        """The records as columns (the Iceberg export builds Arrow arrays from them)."""
        from segment_format.batch import Batch

        try:
            return Batch(self.header, memoryview(self.records), self.position).decode_columns()
        except FormatError as e:
            raise CorruptData(f"records of batch at offset {self.kafka_offset} do not decode: {e.message}",
                              key=self.segment_key, position=e.position) from e


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    producer_id: int
    first_offset: int  # Kafka offset


AbortedRange = tuple[int, int, int]
"""An aborted transaction as a segment's ``.tx`` object records it: (producer id, first, last Redpanda offset)."""


class AbortedMatcher:
    """The one place batches are matched with aborted transactions (Kafka Fetch and HTTP alike).

    Kafka's read_committed contract: the response lists every aborted transaction with a batch in the
    answered span, each with a first offset at or before its first batch there; the client drops a
    producer's batches from that offset up to its abort marker. A producer id is reused across
    transactions, so the unit is the *range*, not the producer: two aborts of one producer are two entries
    (listing one per producer leaked the second abort's records). A transaction spanning segments appears in
    each segment's ``.tx``; it is listed once.
    """

    __slots__ = ("_seen", "aborted")

    def __init__(self) -> None:
        self.aborted: list[AbortedTxn] = []
        self._seen: set[AbortedRange] = set()

    def match(self, ranges: list[AbortedRange], producer_id: int, rp_offset: int, kafka_offset: int) -> bool:
        """Whether the batch (producer id, Redpanda base offset) belongs to an aborted transaction; the first
        batch of each such transaction adds its entry at ``kafka_offset``."""
        for r in ranges:
            pid, first, last = r
            if pid == producer_id and first <= rp_offset <= last:
                if r not in self._seen:
                    self._seen.add(r)
                    self.aborted.append(AbortedTxn(producer_id, kafka_offset))
                return True
        return False


@dataclass(slots=True)
class Span:
    """One partition's part of a Kafka Fetch: (Kafka header, records view) per batch, whole batches only."""

    pieces: list[tuple[bytes | bytearray | memoryview, bytes | bytearray | memoryview]]
    sizes: list[int]  # batch sizes (header + records)
    aborted: list[AbortedTxn]
    high_watermark: int

    @property
    def size(self) -> int:
        return sum(self.sizes)


@dataclass(slots=True)
class ReadResult:
    batches: list[ServedBatch]
    high_watermark: int
    log_start_offset: int
    aborted: list[AbortedTxn] = field(default_factory=list)
    aborted_batches: set[int] = field(default_factory=set)
    """Kafka base offsets of the returned batches that belong to aborted transactions (``with_aborted``)."""

    @property
    def next_offset(self) -> int | None:
        return self.batches[-1].kafka_last_offset + 1 if self.batches else None

    @property
    def size(self) -> int:
        return sum(b.size for b in self.batches)


class PartitionReader:
    """Reads partitions of one catalog through one cache."""

    def __init__(self, catalog: Catalog, cache: ChunkCache, *, read_size: int = 1024 * 1024,
                 index_cache_entries: int = 4096, runs: BatchRuns | None = None) -> None:
        self.catalog = catalog
        self.cache = cache
        self.runs = runs if runs is not None else BatchRuns()
        """Stretches already served (:mod:`app.batch_runs`): a hot :meth:`span` skips the batch walk."""
        self.read_size = read_size
        self._indexes: OrderedDict[str, RemoteSegmentIndex | None] = OrderedDict()
        self._txs: OrderedDict[str, list[tuple[int, int, int]]] = OrderedDict()
        self.index_cache_entries = index_cache_entries

    # ------------------------------------------------------------------ companions
    async def index(self, seg: SegmentRef) -> RemoteSegmentIndex | None:
        """The segment's decoded ``.index`` (None when absent or damaged: read from the segment start)."""
        if seg.index_key in self._indexes:
            self._indexes.move_to_end(seg.index_key)
            return self._indexes[seg.index_key]
        idx: RemoteSegmentIndex | None
        try:
            idx = decode_remote_index((await self.cache.store.get(seg.index_key)).body)
        except ObjectMissing:
            idx = None
        except FormatError as e:
            log.warning("ignoring damaged index %s: %s", seg.index_key, e)
            idx = None
        self._indexes[seg.index_key] = idx
        while len(self._indexes) > self.index_cache_entries:
            self._indexes.popitem(last=False)
        return idx

    async def aborted_ranges(self, seg: SegmentRef) -> list[AbortedRange]:
        """Aborted transactions overlapping a segment: (producer_id, first_rp, last_rp) from its ``.tx``."""
        meta = seg.meta
        if meta.is_compacted or (meta.sname_format == 3 and meta.metadata_size_hint == 0):
            return []
        if seg.tx_key in self._txs:
            return self._txs[seg.tx_key]
        ranges: list[tuple[int, int, int]] = []
        try:
            doc = json.loads((await self.cache.store.get(seg.tx_key)).body)
            ranges = [(int(r["pid.id"]), int(r["first"]), int(r["last"])) for r in doc.get("ranges", [])]
        except ObjectMissing:
            pass
        except (ValueError, KeyError, TypeError) as e:
            raise CorruptData(f"tx range manifest is malformed: {e}", key=seg.tx_key) from e
        self._txs[seg.tx_key] = ranges
        while len(self._txs) > self.index_cache_entries:
            self._txs.popitem(last=False)
        return ranges

    # ------------------------------------------------------------------ Kafka Fetch
    async def span(self, topic: str, partition: int, offset: int, max_bytes: int, *,
                   with_aborted: bool = False) -> Span:
        """What a Kafka Fetch sends for one partition from ``offset``: :meth:`read` the first time, then from
        the run of batches it remembered (:mod:`app.batch_runs`: bytes straight from the chunk cache, no
        parsing). Same range check, same aborted-transaction matching either way."""
        view = self.catalog.partition(topic, partition)
        self.check_range(view, offset)
        entries = self.runs.lookup(view, offset, max_bytes)
        if entries is None:
            result = await self.read(topic, partition, offset, max_bytes, with_aborted=with_aborted)
            self.runs.record(view, offset, result)
            return Span([(b.kafka_header(), b.records) for b in result.batches], [b.size for b in result.batches],
                        list(result.aborted), result.high_watermark)
        cs = self.cache.chunk_size
        chunks: dict[tuple[str, int], bytes] = {}
        pieces: list[tuple[bytes | bytearray | memoryview, bytes | bytearray | memoryview]] = []
        for e in entries:
            lo, hi = e.records_start, e.position + e.size
            index = lo // cs
            records: memoryview | bytes
            if lo == hi:
                records = b""
            elif (hi - 1) // cs == index:
                chunk = chunks.get((e.segment_key, index))
                if chunk is None:
                    chunk = chunks[(e.segment_key, index)] = await self.cache.chunk(e.segment_key, index,
                                                                                    object_size=e.object_size)
                records = memoryview(chunk)[lo - index * cs : hi - index * cs]
            else:  # a batch across two chunks
                records = await self.cache.read(e.segment_key, lo, hi - lo, object_size=e.object_size)
            pieces.append((e.header, records))
        matcher = AbortedMatcher()
        if with_aborted:
            for e in entries:
                if e.transactional:
                    seg = view.segment_for_kafka_offset(e.kafka_offset)
                    if seg is not None:
                        matcher.match(await self.aborted_ranges(seg), e.producer_id, e.rp_offset, e.kafka_offset)
        return Span(pieces, [e.size for e in entries], matcher.aborted, view.high_watermark)

    # ------------------------------------------------------------------ reads
    def check_range(self, view: PartitionView, offset: int) -> None:
        """The one range check of every read (Fetch, HTTP): ``OffsetOutOfRange`` outside [log start, high
        watermark] with the range."""
        start, end = view.log_start_offset, view.high_watermark
        if offset < start or offset > end:
            raise OffsetOutOfRange(
                f"offset {offset} is outside {view.topic}/{view.partition}'s range [{start}, {end})",
                start=start, end=end, topic=view.topic, partition=view.partition,
            )

    async def read(self, topic: str, partition: int, offset: int, max_bytes: int, *,
                   max_batches: int | None = None, with_aborted: bool = False,
                   granularity: Granularity = "chunk") -> ReadResult:
        view = self.catalog.partition(topic, partition)
        self.check_range(view, offset)
        result = ReadResult([], view.high_watermark, view.log_start_offset)
        matcher = AbortedMatcher()
        seg = view.segment_for_kafka_offset(offset)
        first = True
        total = 0
        while seg is not None:
            meta = seg.meta
            start = seek_kafka_offset(await self.index(seg), offset, base_offset=meta.base_offset,
                                      delta_offset=meta.delta_offset or 0) if first else \
                ReadStart(0, meta.base_offset, meta.delta_offset or 0)
            aborted = await self.aborted_ranges(seg) if with_aborted else []
            done = False
            try:
                async for batch in self._scan(seg, start, view.namespace, granularity):
                    if batch.kafka_last_offset < offset:
                        continue
                    if not first and total + batch.size > max_bytes:
                        done = True
                        break
                    result.batches.append(batch)
                    h = batch.header
                    if aborted and h.is_transactional and not h.is_control and \
                            matcher.match(aborted, h.producer_id, h.base_offset, batch.kafka_offset):
                        result.aborted_batches.add(batch.kafka_offset)
                    total += batch.size
                    first = False
                    if total >= max_bytes or (max_batches is not None and len(result.batches) >= max_batches):
                        done = True
                        break
            except CorruptData as e:
                if not result.batches:
                    raise
                # the good batches before the damage are served; the read that starts at it gets the error
                log.warning("%s/%d: stopping before damaged data: %s", topic, partition, e.message)
                break
            if done:
                break
            seg = view.next_segment(seg)
            first = False if result.batches else first
        result.aborted = matcher.aborted
        return result

    async def _scan(self, seg: SegmentRef, start: ReadStart, namespace: str,
                    granularity: Granularity = "chunk") -> AsyncIterator[ServedBatch]:
        """Data batches of a segment from a start position, chunk (or index span) by chunk, with Kafka offsets."""
        size = seg.meta.size_bytes
        translator = OffsetTranslator(start.delta, namespace=namespace)
        pos = start.position
        epoch = int(max(min(seg.meta.segment_term, 2**31 - 1), 0))
        samples = (await self.index(seg)) if granularity == "span" else None
        last_offset = start.rp_offset - 1  # Redpanda offset of the last batch walked
        while pos < size:
            if samples is not None:
                # the span up to the next sample: batches are contiguous and samples are batch starts, so it
                # ends on a batch boundary (a batch that still overruns it is handled below like any other)
                ix = bisect.bisect_right(samples.file_positions, pos)
                end = samples.file_positions[ix] if ix < len(samples.file_positions) else size
                data = await self.cache.read_span(seg.key, pos, end, object_size=size)
            else:
                length = max(self.read_size, self.cache.chunk_size - pos % self.cache.chunk_size)
                data = await self.cache.read(seg.key, pos, length, object_size=size)
            reader = BatchReader(data, base_position=pos)
            try:
                for b in reader:
                    last_offset = b.header.base_offset + b.header.last_offset_delta
                    kafka = translator.advance(b.header)
                    if kafka is None or b.header.type != BatchType.raft_data:
                        continue
                    yield ServedBatch(kafka, b.header, b.records, epoch, seg.key, b.position)
            except FormatError as e:
                raise CorruptData(f"segment {seg.key} is damaged: {e.message}", key=seg.key,
                                  position=e.position, offset=e.offset) from e
            if reader.tail is Tail.ZERO_FILLED:
                if last_offset < seg.meta.committed_offset:  # zeros where the manifest says batches are
                    raise CorruptData(f"segment {seg.key} is zero-filled from byte {reader.absolute_position}, "
                                      f"before its last offset {seg.meta.committed_offset} (last batch read ends "
                                      f"at {last_offset})", key=seg.key, position=reader.absolute_position)
                return
            if reader.position == 0:
                # one batch larger than what we read: read exactly that batch next time
                if reader.tail is Tail.TRUNCATED and len(data) >= 61:
                    from segment_format.batch import decode_header

                    need = decode_header(data, 0).size_bytes
                    if pos + need > size:
                        raise CorruptData(f"segment {seg.key} ends inside a batch at position {pos}",
                                          key=seg.key, position=pos)
                    data = await self.cache.read(seg.key, pos, need, object_size=size)
                    reader = BatchReader(data, base_position=pos)
                    for b in reader:
                        last_offset = b.header.base_offset + b.header.last_offset_delta
                        kafka = translator.advance(b.header)
                        if kafka is not None and b.header.type == BatchType.raft_data:
                            yield ServedBatch(kafka, b.header, b.records, epoch, seg.key, b.position)
                    pos += reader.position
                    continue
                raise CorruptData(f"segment {seg.key} ends inside a batch at position {pos}", key=seg.key,
                                  position=pos)
            pos = reader.absolute_position

    async def offset_for_timestamp(self, topic: str, partition: int, timestamp: int, *,
                                   granularity: Granularity = "chunk") -> tuple[int, int] | None:
        """The first record with timestamp >= ``timestamp``: (Kafka offset, its timestamp), or None."""
        view = self.catalog.partition(topic, partition)
        seg = view.segment_for_timestamp(timestamp)
        while seg is not None:
            meta = seg.meta
            start = seek_timestamp(await self.index(seg), timestamp, base_offset=meta.base_offset,
                                   delta_offset=meta.delta_offset or 0)
            async for batch in self._scan(seg, start, view.namespace, granularity):
                if batch.header.max_timestamp < timestamp or batch.header.is_control:
                    continue
                if batch.kafka_offset < view.log_start_offset:
                    continue
                if batch.header.is_log_append_time:
                    return batch.kafka_offset, batch.header.max_timestamp
                for r in batch.decode():
                    ts = batch.header.first_timestamp + r.timestamp_delta
                    if ts >= timestamp:
                        return batch.kafka_offset + r.offset_delta, ts
            seg = view.next_segment(seg)
        return None
