"""`export`: one Iceberg table per topic, in Redpanda's key_value shape, from the replica's segments.

Theory of operation
-------------------
* **Records** are what a read_committed Kafka consumer sees: the reader's data batches (the one read path:
  catalog → ``.index`` → cache → ranged GETs), minus control batches and minus transactional batches of
  aborted transactions (:func:`is_aborted`, against the segment's ``.tx`` ranges); each (partition, offset)
  once, in offset order.
* **The table is the state.** Every commit (one Iceberg append snapshot) carries, in its snapshot summary,
  ``shadowreplica.next-offset.<partition>`` for *every* partition of the topic, plus the source bucket. A
  run reads the current snapshot's summary and continues from there. Data files are written before the
  commit and only the commit makes them (and the new offsets) visible, atomically: a process killed at
  any point leaves either the old snapshot (its files are orphans, never read) or the new one. No gap, no
  duplicate.
* **Rounds**: a round reads, for every unfinished partition (``partition_concurrency`` at once), up to its
  share of ``commit_bytes`` of stored batches, decodes them into one Arrow table (in a worker thread),
  appends it (in a worker thread: pyiceberg writes Parquet/zstd, one file per hour partition, and commits),
  and repeats until every partition reached the high watermark it had when the run started. Memory stays
  around ``commit_bytes`` (times the compression ratio) whatever the bucket size.
* **Damage** (:class:`~app.errors.CorruptData`) stops that partition at the last good batch, with the object
  key and byte position in the result; the other partitions go on, and the exit code says so.
* **Someone else's table** (another schema or partition spec, or no ``shadowreplica.source`` property, or
  another source bucket) is refused and never written to.
* ``--follow``: after a round, wait for the replica's catalog to change (new manifests), then go again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.catalog import Catalog, PartitionView, SegmentRef
from app.config import ExportSettings
from app.errors import CorruptData, OffsetOutOfRange, StorageError
from app.lake.arrow_fix import keep_null_lists
from app.lake.schema import arrow_schema, new_table_metadata, schema_mismatch
from app.lake.warehouse import LakeError, Warehouse
from app.reader import PartitionReader, ServedBatch
from segment_format.batch import BatchHeader

log = logging.getLogger(__name__)
keep_null_lists()  # pyiceberg would write a record without headers as [] instead of null (arrow_fix.py)

__all__ = ["ExportMetrics", "Exporter", "PartitionState", "TableResult", "is_aborted", "progress_from_summary"]

NEXT_OFFSET = "shadowreplica.next-offset."
SOURCE = "shadowreplica.source"


def is_aborted(header: BatchHeader, aborted_ranges: Iterable[tuple[int, int, int]]) -> bool:
    """A transactional batch inside an aborted range of its producer: ``(producer_id, first, last)`` in
    Redpanda offsets, as the segment's ``.tx`` lists them (``PartitionReader.aborted_ranges``).

    TODO(lead): route through the reader's shared aborted-range helper once it lands; this is the same test
    the read_committed Fetch path makes (producer id + the batch's base offset within the range)."""
    if not header.is_transactional:
        return False
    return any(pid == header.producer_id and first <= header.base_offset <= last
               for pid, first, last in aborted_ranges)


def progress_from_summary(summary: dict[str, str] | None) -> dict[int, int]:
    """``{partition: next Kafka offset}`` from a snapshot summary's properties."""
    out: dict[int, int] = {}
    for k, v in (summary or {}).items():
        if k.startswith(NEXT_OFFSET):
            out[int(k[len(NEXT_OFFSET):])] = int(v)
    return out


@dataclass(slots=True)
class PartitionState:
    partition: int
    next_offset: int
    high_watermark: int
    records: int = 0  # exported by this process
    error: dict[str, Any] | None = None

    @property
    def lag(self) -> int:
        return max(0, self.high_watermark - self.next_offset)

    def to_dict(self) -> dict[str, Any]:
        return {"partition": self.partition, "next_offset": self.next_offset,
                "high_watermark": self.high_watermark, "lag": self.lag, "exported": self.records,
                "error": self.error}


@dataclass(slots=True)
class TableResult:
    table: str
    metadata_location: str
    records: int  # total records in the table (its snapshot summary)
    snapshot_id: int | None
    exported: int = 0  # records this run added
    commits: int = 0
    partitions: list[PartitionState] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "metadata_location": self.metadata_location, "records": self.records,
                "snapshot_id": self.snapshot_id, "exported": self.exported, "commits": self.commits,
                "partitions": [p.to_dict() for p in self.partitions], "error": self.error}


class ExportMetrics:
    """Records and bytes exported per topic, lag (offsets) behind the replica per partition."""

    def __init__(self) -> None:
        self.records: dict[str, int] = {}
        self.bytes: dict[str, int] = {}
        self.commits: dict[str, int] = {}
        self.lag: dict[tuple[str, int], int] = {}
        self.errors: dict[tuple[str, int], str] = {}

    def families(self) -> list[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        records = CounterMetricFamily("shadowreplica_export_records", "Records exported to Iceberg tables",
                                      labels=["topic"])
        nbytes = CounterMetricFamily("shadowreplica_export_bytes", "Stored batch bytes exported",
                                     labels=["topic"])
        commits = CounterMetricFamily("shadowreplica_export_commits", "Iceberg snapshots committed",
                                      labels=["topic"])
        for topic, n in self.records.items():
            records.add_metric([topic], n)
        for topic, n in self.bytes.items():
            nbytes.add_metric([topic], n)
        for topic, n in self.commits.items():
            commits.add_metric([topic], n)
        lag = GaugeMetricFamily("shadowreplica_export_lag_offsets",
                                "Offsets in the replica not yet in the table, per partition",
                                labels=["topic", "partition"])
        for (topic, partition), n in sorted(self.lag.items()):
            lag.add_metric([topic, str(partition)], n)
        failed = GaugeMetricFamily("shadowreplica_export_partition_failed",
                                   "1 while a partition's export is stopped by damaged data", labels=["topic", "partition"])
        for (topic, partition) in sorted(self.lag):
            failed.add_metric([topic, str(partition)], 1 if (topic, partition) in self.errors else 0)
        return [records, nbytes, commits, lag, failed]


@dataclass(slots=True)
class _Chunk:
    """What one round read from one partition: kept batches and where the partition now stands."""

    partition: int
    batches: list[ServedBatch]
    next_offset: int
    stored_bytes: int
    error: dict[str, Any] | None = None


def batches_to_arrow(partition_batches: Sequence[tuple[int, Sequence[ServedBatch]]]) -> Any:
    """Decode batches into one Arrow table of Redpanda's key_value schema (CPU: run it in a thread)."""
    import pyarrow as pa

    parts: list[int] = []
    offsets: list[int] = []
    stamps: list[int] = []
    headers: list[list[dict[str, bytes | None]] | None] = []
    keys: list[bytes | None] = []
    values: list[bytes | None] = []
    for partition, batches in partition_batches:
        for batch in batches:
            first_ts = batch.header.first_timestamp
            for r in batch.decode():
                parts.append(partition)
                offsets.append(batch.kafka_offset + r.offset_delta)
                stamps.append((first_ts + r.timestamp_delta) * 1000)  # Kafka ms → Iceberg µs
                headers.append([{"key": h.key.encode(), "value": h.value} for h in r.headers] or None)
                keys.append(r.key)
                values.append(r.value)
    schema = arrow_schema()
    rp_type = schema.field("redpanda").type
    redpanda = pa.StructArray.from_arrays(
        [pa.array(parts, pa.int32()), pa.array(offsets, pa.int64()), pa.array(stamps, pa.timestamp("us")),
         pa.array(headers, rp_type.field("headers").type), pa.array(keys, rp_type.field("key").type)],
        fields=list(rp_type),
    )
    return pa.Table.from_arrays([redpanda, pa.array(values, schema.field("value").type)], schema=schema)


class Exporter:
    """Exports the topics of one replica (``catalog`` + ``reader``) into tables of one pyiceberg catalog."""

    def __init__(self, catalog: Catalog, reader: PartitionReader, lake: Any, warehouse: Warehouse, *,
                 source: str, settings: ExportSettings | None = None, topics: Callable[[str], bool] | None = None,
                 metrics: ExportMetrics | None = None,
                 on_progress: Callable[[int, int], None] | None = None) -> None:
        self.catalog = catalog
        self.reader = reader
        self.lake = lake
        self.warehouse = warehouse
        self.source = source
        self.settings = settings or ExportSettings()
        self.topics = topics
        self.metrics = metrics or ExportMetrics()
        self.on_progress = on_progress  # (stored bytes, records) after each commit

    # ------------------------------------------------------------------ tables
    def _open_table(self, topic: str) -> Any:
        """Load the topic's table, or create it with Redpanda's exact ids; refuse someone else's (blocking)."""
        import uuid

        from pyiceberg.exceptions import NoSuchTableError
        from pyiceberg.io import load_file_io
        from pyiceberg.serializers import ToOutputFile

        ns = self.settings.namespace
        ident = (ns, topic)
        try:
            table = self.lake.load_table(ident)
        except NoSuchTableError:
            location = self.warehouse.table_location(ns, topic)
            metadata = new_table_metadata(location, properties={SOURCE: self.source, "shadowreplica.topic": topic})
            metadata_location = f"{location}/metadata/00000-{uuid.uuid4()}.metadata.json"
            io = load_file_io(self.warehouse.fileio_properties(), metadata_location)
            ToOutputFile.table_metadata(metadata, io.new_output(metadata_location))
            self.lake.create_namespace_if_not_exists(ns)
            return self.lake.register_table(ident, metadata_location)
        why = schema_mismatch(table.schema(), table.spec())
        if why is None and table.properties.get(SOURCE) is None:
            why = "it was not created by shadowreplica export (no shadowreplica.source property)"
        if why is None and table.properties.get(SOURCE) != self.source:
            why = f"it holds the history of {table.properties.get(SOURCE)}, not of {self.source}"
        if why is not None:
            raise LakeError(f"refusing to write to table {ns}.{topic}: {why}", table=f"{ns}.{topic}")
        return table

    @staticmethod
    def _result(table: Any, name: str) -> TableResult:
        snap = table.current_snapshot()
        total = int(snap.summary.additional_properties.get("total-records", 0)) if snap else 0
        return TableResult(name, table.metadata_location, total, snap.snapshot_id if snap else None)

    # ------------------------------------------------------------------ reading
    async def _read_chunk(self, view: PartitionView, start: int, target: int, budget: int) -> _Chunk:
        """Kept batches of one partition from ``start``, up to ``budget`` stored bytes or ``target``."""
        segments: dict[str, SegmentRef] = {s.key: s for s in view.segments}
        chunk = _Chunk(view.partition, [], start, 0)
        offset = start
        while offset < target and chunk.stored_bytes < budget:
            try:
                got = await self.reader.read(view.topic, view.partition, offset,
                                             max_bytes=min(self.settings.read_bytes, budget - chunk.stored_bytes))
            except CorruptData as e:
                chunk.error = {"message": e.message, "key": e.key, "position": e.position, "offset": offset}
                break
            if not got.batches:
                break  # only non-data batches (a trailing tx fence) until the high watermark
            for batch in got.batches:
                chunk.stored_bytes += batch.size
                if batch.kafka_last_offset < offset or batch.header.is_control:
                    continue
                seg = segments.get(batch.segment_key)
                ranges = await self.reader.aborted_ranges(seg) if seg is not None else []
                if is_aborted(batch.header, ranges):
                    continue
                chunk.batches.append(batch)
            assert got.next_offset is not None
            offset = got.next_offset
        chunk.next_offset = offset
        return chunk

    # ------------------------------------------------------------------ export
    def _topic_names(self) -> list[str]:
        return sorted(t for t in self.catalog.topics if self.topics is None or self.topics(t))

    async def export_once(self) -> list[TableResult]:
        """Bring every table up to the replica's current high watermarks (one or more commits each)."""
        results = []
        for topic in self._topic_names():
            try:
                results.append(await self.export_topic(topic))
            except LakeError as e:  # someone else's table, a failed commit: this table only
                log.error("%s", e.message)
                results.append(TableResult(f"{self.settings.namespace}.{topic}", "", 0, None, error=e.message))
        return results

    async def export_topic(self, topic: str) -> TableResult:
        ns = self.settings.namespace
        name = f"{ns}.{topic}"
        table = await asyncio.to_thread(self._open_table, topic)
        result = self._result(table, name)
        snap = table.current_snapshot()
        progress = progress_from_summary(snap.summary.additional_properties if snap else None)
        views = dict(sorted(self.catalog.topic(topic).partitions.items()))
        states: dict[int, PartitionState] = {}
        for p, view in views.items():
            start = progress.get(p, 0)
            if start < view.log_start_offset:
                if p in progress:
                    log.warning("%s/%d: offsets %d..%d left the replica before they were exported", topic, p,
                                start, view.log_start_offset - 1)
                start = view.log_start_offset
            states[p] = PartitionState(p, start, view.high_watermark)
        for p in progress.keys() - states.keys():  # a partition that left the bucket keeps its progress
            states[p] = PartitionState(p, progress[p], progress[p])
        result.partitions = [states[p] for p in sorted(states)]
        self._update_metrics(topic, states)
        sem = asyncio.Semaphore(max(1, self.settings.partition_concurrency))

        async def read(p: int) -> _Chunk:
            st = states[p]
            budget = max(1, self.settings.commit_bytes // max(1, len(active)))  # a read returns one batch at least
            async with sem:
                return await self._read_chunk(views[p], st.next_offset, st.high_watermark, budget)

        while True:
            active = [p for p, st in states.items()
                      if p in views and st.error is None and st.next_offset < st.high_watermark]
            if not active:
                break
            chunks = await asyncio.gather(*(read(p) for p in active))
            moved = False
            for c in chunks:
                if c.error is not None:
                    states[c.partition].error = c.error
                    self.metrics.errors[(topic, c.partition)] = c.error["message"]
                    log.error("%s/%d: export stopped at offset %d: %s (object %s, byte %s)", topic, c.partition,
                              c.error["offset"], c.error["message"], c.error["key"], c.error["position"])
                if c.next_offset > states[c.partition].next_offset:
                    moved = True
            if not moved:
                break  # nothing readable left below the high watermarks (trailing non-data batches, damage)
            new_offsets = {p: st.next_offset for p, st in states.items()}
            for c in chunks:
                new_offsets[c.partition] = c.next_offset
            records, table = await self._commit(table, chunks, new_offsets)
            stored = sum(c.stored_bytes for c in chunks)
            for c in chunks:
                st = states[c.partition]
                st.records += sum(len_records(b) for b in c.batches)
                st.next_offset = c.next_offset
            result.exported += records
            result.commits += 1
            self.metrics.records[topic] = self.metrics.records.get(topic, 0) + records
            self.metrics.bytes[topic] = self.metrics.bytes.get(topic, 0) + stored
            self.metrics.commits[topic] = self.metrics.commits.get(topic, 0) + 1
            self._update_metrics(topic, states)
            if self.on_progress is not None:
                self.on_progress(stored, records)
        final = self._result(table, name)
        result.metadata_location, result.records, result.snapshot_id = (
            final.metadata_location, final.records, final.snapshot_id)
        errors = [st for st in states.values() if st.error is not None]
        if errors:
            result.error = "; ".join(f"partition {st.partition}: {st.error['message']}" for st in errors if st.error)
        return result

    async def _commit(self, table: Any, chunks: list[_Chunk], new_offsets: dict[int, int]) -> tuple[int, Any]:
        """Decode and append in a worker thread; the snapshot summary carries every partition's progress."""
        props = {SOURCE: self.source, **{f"{NEXT_OFFSET}{p}": str(o) for p, o in sorted(new_offsets.items())}}

        def work() -> tuple[int, Any]:
            data = batches_to_arrow([(c.partition, c.batches) for c in chunks])
            try:
                table.append(data, snapshot_properties=props)
            except Exception as e:  # pyarrow OSError, pyiceberg CommitFailedException, SQLAlchemy errors, ...
                raise LakeError(f"commit to table {'.'.join(table.name())} failed ({type(e).__name__}: {e}); "
                                f"nothing was committed: the next run exports the same records again",
                                table=".".join(table.name())) from e
            return data.num_rows, table

        return await asyncio.to_thread(work)

    def _update_metrics(self, topic: str, states: dict[int, PartitionState]) -> None:
        for p, st in states.items():
            self.metrics.lag[(topic, p)] = st.lag
            if st.error is None:
                self.metrics.errors.pop((topic, p), None)

    async def follow(self, stop: asyncio.Event, *, on_round: Callable[[list[TableResult]], None] | None = None
                     ) -> None:
        """Export, then wait for the replica's manifests to change (or ``follow_interval``), until ``stop``."""
        while not stop.is_set():
            version = self.catalog.version
            try:
                results = await self.export_once()
                if on_round is not None:
                    on_round(results)
            except (StorageError, OffsetOutOfRange) as e:
                log.warning("export round failed, retrying after the next change: %s", e.message)
            waiter = asyncio.create_task(self.catalog.wait_for_change(version, self.settings.follow_interval))
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (waiter, stopper):
                task.cancel()
            await asyncio.gather(waiter, stopper, return_exceptions=True)


def len_records(batch: ServedBatch) -> int:
    return batch.header.record_count

