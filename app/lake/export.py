"""`export`: one Iceberg table per topic, in Redpanda's key_value shape, from the replica's segments.

Theory of operation
-------------------
* **Records** are what a read_committed Kafka consumer sees: the reader's data batches (the one read path:
  catalog → ``.index`` → cache → ranged GETs), minus control batches and minus the batches the reader marks
  as aborted (``read(..., with_aborted=True).aborted_batches``: its ``AbortedMatcher`` over the segments'
  ``.tx`` ranges, the same one Kafka Fetch and HTTP use); each (partition, offset) once, in offset order.
* **The table is the state.** Every commit (one Iceberg append snapshot) carries, in its snapshot summary,
  ``shadowreplica.next-offset.<partition>`` for *every* partition of the topic, plus the source bucket. A
  run reads the current snapshot's summary and continues from there. Data files are written before the
  commit and only the commit makes them (and the new offsets) visible, atomically: a process killed at
  any point leaves either the old snapshot (its files are orphans, never read) or the new one. No gap, no
  duplicate.
* **Rounds**: a round reads, for every unfinished partition (``partition_concurrency`` at once), up to its
  share of ``round_bytes`` of stored batches, decodes them into Arrow tables by hour (a worker thread) and
  writes them (a worker thread: pyiceberg writes Parquet/zstd, one file per hour partition) while the next
  rounds are read and decoded; a commit names the files of the rounds written since the last one once
  ``commit_bytes`` gathered or ``commit_interval`` passed, and repeats until every partition reached the high
  watermark it had when the run started. Memory stays around three rounds (times the decoded size) whatever
  the bucket size. Each commit also expires old snapshots (:mod:`app.lake.history`).
* **Damage** (:class:`~app.errors.CorruptData`) stops that partition at the last good batch, with the object
  key and byte position in the result; the other partitions go on, and the exit code says so.
* **Someone else's table** (another schema or partition spec, or no ``shadowreplica.source`` property, or
  another source bucket) is refused and never written to.
* ``--follow``: after a round, wait for the replica's catalog to change (new manifests), then go again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, repeat
from typing import Any

from app.catalog import Catalog, PartitionView
from app.config import ExportSettings
from app.errors import CorruptData, OffsetOutOfRange, StorageError
from app.lake.arrow_fix import keep_null_lists
from app.lake.history import commit_data_files, retention_properties
from app.lake.schema import arrow_schema, new_table_metadata, schema_mismatch
from app.lake.warehouse import LakeError, Warehouse
from app.reader import PartitionReader, ServedBatch
from segment_format.records import RecordColumns

log = logging.getLogger(__name__)
keep_null_lists()  # pyiceberg would write a record without headers as [] instead of null (arrow_fix.py)

__all__ = ["ExportMetrics", "Exporter", "PartitionState", "TableResult", "batches_to_hour_tables",
           "progress_from_summary", "write_hour_files"]

NEXT_OFFSET = "shadowreplica.next-offset."
SOURCE = "shadowreplica.source"


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
    expired: int = 0  # snapshots this run expired (app/lake/history.py)
    partitions: list[PartitionState] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "metadata_location": self.metadata_location, "records": self.records,
                "snapshot_id": self.snapshot_id, "exported": self.exported, "commits": self.commits,
                "expired": self.expired,
                "partitions": [p.to_dict() for p in self.partitions], "error": self.error}


class ExportMetrics:
    """Records and bytes exported per topic, lag (offsets) behind the replica per partition."""

    def __init__(self) -> None:
        self.records: dict[str, int] = {}
        self.bytes: dict[str, int] = {}
        self.commits: dict[str, int] = {}
        self.expired: dict[str, int] = {}
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
        expired = CounterMetricFamily("shadowreplica_export_snapshots_expired",
                                      "Iceberg snapshots expired by the tables' history properties", labels=["topic"])
        for topic, n in self.expired.items():
            expired.add_metric([topic], n)
        lag = GaugeMetricFamily("shadowreplica_export_lag_offsets",
                                "Offsets in the replica not yet in the table, per partition",
                                labels=["topic", "partition"])
        for (topic, partition), n in sorted(self.lag.items()):
            lag.add_metric([topic, str(partition)], n)
        failed = GaugeMetricFamily("shadowreplica_export_partition_failed",
                                   "1 while a partition's export is stopped by damaged data", labels=["topic", "partition"])
        for (topic, partition) in sorted(self.lag):
            failed.add_metric([topic, str(partition)], 1 if (topic, partition) in self.errors else 0)
        return [records, nbytes, commits, expired, lag, failed]


@dataclass(slots=True)
class _Chunk:
    """What one round read from one partition: kept batches and where the partition now stands."""

    partition: int
    batches: list[ServedBatch]
    next_offset: int
    stored_bytes: int
    error: dict[str, Any] | None = None


@dataclass(slots=True)
class _Round:
    """One round decoded: every partition's read position after it, its Arrow tables by hour, and per chunk
    (partition, next offset, records) for the states (the batches themselves are not kept)."""

    offsets: dict[int, int]
    tables: dict[int, Any]
    moves: list[tuple[int, int, int]]
    stored_bytes: int


@dataclass(slots=True)
class _Pending:
    """Rounds whose files are written and not yet committed (the next commit names them all)."""

    files: list[Any] = field(default_factory=list)
    moves: list[tuple[int, int, int]] = field(default_factory=list)
    offsets: dict[int, int] = field(default_factory=dict)
    records: int = 0
    stored_bytes: int = 0
    since: float = field(default_factory=time.monotonic)  # the run's start or its last commit

    def add(self, done: _Round, files: list[Any]) -> None:
        self.files.extend(files)
        self.moves.extend(done.moves)
        self.offsets = done.offsets
        self.records += sum(t.num_rows for t in done.tables.values())
        self.stored_bytes += done.stored_bytes

    def clear(self) -> None:
        self.files, self.moves, self.records, self.stored_bytes = [], [], 0, 0
        self.since = time.monotonic()


HOUR_US = 3_600_000_000


class _HourColumns:
    """Column lists of one hour's rows (the table's partition), headers as flat key/value lists + offsets."""

    __slots__ = ("header_keys", "header_null", "header_offsets", "header_values", "keys", "offsets", "partitions",
                 "stamps", "values")

    def __init__(self) -> None:
        self.partitions: list[int] = []
        self.offsets: list[int] = []
        self.stamps: list[int] = []
        self.keys: list[bytes | None] = []
        self.values: list[bytes | None] = []
        self.header_offsets: list[int] = [0]
        self.header_null: list[bool] = []
        self.header_keys: list[bytes] = []
        self.header_values: list[bytes | None] = []

    def extend(self, partition: int, base_offset: int, records: RecordColumns, stamps: list[int]) -> None:
        self.partitions.extend(repeat(partition, len(stamps)))
        self.offsets.extend([base_offset + delta for delta in records.offset_deltas])
        self.stamps.extend(stamps)
        self.keys.extend(records.keys)
        self.values.extend(records.values)
        self.header_null.extend([n == 0 for n in records.header_counts])
        if records.header_keys:
            self.header_keys.extend([k.encode() for k in records.header_keys])
            self.header_values.extend(records.header_values)
            self.header_offsets.extend(accumulate(records.header_counts, initial=self.header_offsets[-1]))
            del self.header_offsets[-len(stamps) - 1]  # accumulate repeats the starting value
        else:
            self.header_offsets.extend(repeat(self.header_offsets[-1], len(stamps)))

    def to_arrow(self, schema: Any) -> Any:
        import pyarrow as pa

        rp_type = schema.field("redpanda").type
        headers_type = rp_type.field("headers").type
        element = headers_type.value_type
        header_structs = pa.StructArray.from_arrays(
            [pa.array(self.header_keys, element.field("key").type),
             pa.array(self.header_values, element.field("value").type)], fields=list(element))
        headers = pa.LargeListArray.from_arrays(pa.array(self.header_offsets, pa.int64()), header_structs,
                                                type=headers_type, mask=pa.array(self.header_null, pa.bool_()))
        redpanda = pa.StructArray.from_arrays(
            [pa.array(self.partitions, pa.int32()), pa.array(self.offsets, pa.int64()),
             pa.array(self.stamps, pa.timestamp("us")), headers, pa.array(self.keys, rp_type.field("key").type)],
            fields=list(rp_type))
        return pa.Table.from_arrays([redpanda, pa.array(self.values, schema.field("value").type)], schema=schema)


def batches_to_hour_tables(partition_batches: Sequence[tuple[int, Sequence[ServedBatch]]]) -> dict[int, Any]:
    """Decode batches into Arrow tables of Redpanda's key_value schema, one per hour since the epoch (the
    ``hour(redpanda.timestamp)`` partition value), so no table-wide filter is needed to split them (CPU: run
    it in a thread). An empty header list is null, as Redpanda writes it.

    Records are decoded as columns (no object per record) and columns grow a batch at a time (a batch almost
    always lies within one hour): this is most of the export's CPU."""
    hours: dict[int, _HourColumns] = {}

    def columns(hour: int) -> _HourColumns:
        cols = hours.get(hour)
        if cols is None:
            cols = hours[hour] = _HourColumns()
        return cols

    for partition, batches in partition_batches:
        for batch in batches:
            records = batch.decode_columns()
            if not records.keys:
                continue
            first_ms = batch.header.first_timestamp
            stamps = [(first_ms + delta) * 1000 for delta in records.timestamp_deltas]  # Kafka ms → Iceberg µs
            first_hour, last_hour = min(stamps) // HOUR_US, max(stamps) // HOUR_US
            if first_hour == last_hour:
                columns(first_hour).extend(partition, batch.kafka_offset, records, stamps)
            else:  # a batch across an hour boundary: split it
                by_hour: dict[int, list[int]] = {}
                for i, stamp in enumerate(stamps):
                    by_hour.setdefault(stamp // HOUR_US, []).append(i)
                for hour, picked in by_hour.items():
                    columns(hour).extend(partition, batch.kafka_offset, records.take(picked),
                                         [stamps[i] for i in picked])
    schema = arrow_schema()
    return {hour: cols.to_arrow(schema) for hour, cols in hours.items()}


def write_hour_files(table: Any, hour_tables: dict[int, Any]) -> list[Any]:
    """One round's Parquet files, one per hour (pyiceberg's writer: field ids, zstd, column stats), not
    committed: until a snapshot names them no reader sees them (blocking)."""
    import uuid

    from pyiceberg.io.pyarrow import write_file
    from pyiceberg.partitioning import PartitionFieldValue, PartitionKey
    from pyiceberg.table import WriteTask

    metadata = table.metadata
    spec, schema = metadata.spec(), metadata.schema()
    (hour_field,) = spec.fields
    write_uuid = uuid.uuid4()
    tasks = (WriteTask(write_uuid=write_uuid, task_id=i, schema=schema, record_batches=data.to_batches(),
                       partition_key=PartitionKey([PartitionFieldValue(hour_field, hour)], spec, schema))
             for i, (hour, data) in enumerate(sorted(hour_tables.items())))
    return list(write_file(table.io, metadata, tasks))


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
        self.last_commit = -math.inf  # monotonic time of the last commit to any table (--follow paces rounds by it)

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
            metadata = new_table_metadata(location, properties={
                SOURCE: self.source, "shadowreplica.topic": topic,
                **retention_properties(self.settings.snapshot_max_age)})
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
        chunk = _Chunk(view.partition, [], start, 0)
        offset = start
        while offset < target and chunk.stored_bytes < budget:
            try:
                got = await self.reader.read(view.topic, view.partition, offset, with_aborted=True,
                                             max_bytes=min(self.settings.read_bytes, budget - chunk.stored_bytes))
            except CorruptData as e:
                chunk.error = {"message": e.message, "key": e.key, "position": e.position, "offset": offset}
                break
            if not got.batches:
                break  # only non-data batches (a trailing tx fence) until the high watermark
            for batch in got.batches:
                chunk.stored_bytes += batch.size
                if batch.kafka_last_offset < offset or batch.header.is_control or \
                        batch.kafka_offset in got.aborted_batches:  # the reader's AbortedMatcher (.tx ranges)
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
        round_bytes = max(1, min(self.settings.round_bytes, self.settings.commit_bytes))
        pending = _Pending()

        async def read(p: int, start: int, share: int) -> _Chunk:
            async with sem:
                return await self._read_chunk(views[p], start, states[p].high_watermark, share)

        async def decode(chunks: list[_Chunk], offsets: dict[int, int]) -> _Round:
            tables = await asyncio.to_thread(batches_to_hour_tables, [(c.partition, c.batches) for c in chunks])
            moves = [(c.partition, c.next_offset, sum(b.header.record_count for b in c.batches)) for c in chunks]
            return _Round(offsets, tables, moves, sum(c.stored_bytes for c in chunks))

        async def commit() -> None:
            props = {SOURCE: self.source, **{f"{NEXT_OFFSET}{p}": str(o) for p, o in sorted(pending.offsets.items())}}
            expired = await asyncio.to_thread(self._guarded, table, functools.partial(
                commit_data_files, snapshot_max_age=self.settings.snapshot_max_age), table, pending.files, props)
            self.last_commit = time.monotonic()
            stored = pending.stored_bytes
            for partition, next_offset, records in pending.moves:  # in round order: the last one stands
                states[partition].records += records
                states[partition].next_offset = next_offset
            result.exported += pending.records
            result.commits += 1
            result.expired += expired
            self.metrics.expired[topic] = self.metrics.expired.get(topic, 0) + expired
            self.metrics.records[topic] = self.metrics.records.get(topic, 0) + pending.records
            self.metrics.bytes[topic] = self.metrics.bytes.get(topic, 0) + stored
            self.metrics.commits[topic] = self.metrics.commits.get(topic, 0) + 1
            self._update_metrics(topic, states)
            if self.on_progress is not None:
                self.on_progress(stored, pending.records)
            pending.clear()

        async def write(done: _Round) -> None:
            """Files of one round (while the next round decodes); a commit once ``commit_bytes`` are written."""
            files = await asyncio.to_thread(self._guarded, table, write_hour_files, table, done.tables)
            pending.add(done, files)
            if pending.stored_bytes >= self.settings.commit_bytes or \
                    time.monotonic() - pending.since >= self.settings.commit_interval:
                await commit()

        # A pipeline of rounds of ``round_bytes``: round k+2 is read while round k+1 is decoded (a thread) and
        # round k's Parquet files are written (a thread; pyarrow and the PUTs mostly outside the GIL). Commits
        # gather rounds up to ``commit_bytes``, so the file count and the commit cost do not grow with the
        # pipeline's depth; at most three rounds are in memory.
        read_pos = {p: st.next_offset for p, st in states.items()}
        decoding: asyncio.Task[_Round] | None = None
        writing: asyncio.Task[None] | None = None

        async def hand_over() -> asyncio.Task[None]:
            """The decoded round goes to the writer once it finished the round before (rounds stay in order)."""
            assert decoding is not None
            done = await decoding
            if writing is not None:
                await writing
            return asyncio.create_task(write(done))

        try:
            while True:
                active = [p for p, st in states.items()
                          if p in views and st.error is None and read_pos[p] < st.high_watermark]
                if not active:
                    break
                share = max(1, round_bytes // len(active))  # a read returns one batch at least
                chunks = await asyncio.gather(*(read(p, read_pos[p], share) for p in active))
                moved = False
                for c in chunks:
                    if c.error is not None:
                        states[c.partition].error = c.error
                        self.metrics.errors[(topic, c.partition)] = c.error["message"]
                        log.error("%s/%d: export stopped at offset %d: %s (object %s, byte %s)", topic,
                                  c.partition, c.error["offset"], c.error["message"], c.error["key"],
                                  c.error["position"])
                    if c.next_offset > read_pos[c.partition]:
                        moved = True
                        read_pos[c.partition] = c.next_offset
                if not moved:
                    break  # nothing readable left below the high watermarks (trailing non-data batches, damage)
                if decoding is not None:
                    writing = await hand_over()
                decoding = asyncio.create_task(decode(list(chunks), dict(read_pos)))
            if decoding is not None:
                writing = await hand_over()
            if writing is not None:
                await writing
            if pending.moves:  # also progress over records-less batches (a trailing commit marker)
                await commit()
        finally:
            unfinished = [t for t in (decoding, writing) if t is not None and not t.done()]
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        final = self._result(table, name)
        result.metadata_location, result.records, result.snapshot_id = (
            final.metadata_location, final.records, final.snapshot_id)
        errors = [st for st in states.values() if st.error is not None]
        if errors:
            result.error = "; ".join(f"partition {st.partition}: {st.error['message']}" for st in errors if st.error)
        return result

    @staticmethod
    def _guarded(table: Any, step: Callable[..., Any], *args: Any) -> Any:
        """A blocking write or commit step; any failure is one :class:`LakeError`."""
        try:
            return step(*args)
        except Exception as e:  # pyarrow OSError, pyiceberg CommitFailedException, SQLAlchemy errors, ...
            raise LakeError(f"commit to table {'.'.join(table.name())} failed ({type(e).__name__}: {e}); "
                            f"nothing was committed: the next run exports the same records again",
                            table=".".join(table.name())) from e

    def _update_metrics(self, topic: str, states: dict[int, PartitionState]) -> None:
        for p, st in states.items():
            self.metrics.lag[(topic, p)] = st.lag
            if st.error is None:
                self.metrics.errors.pop((topic, p), None)

    async def follow(self, stop: asyncio.Event, *, on_round: Callable[[list[TableResult]], None] | None = None
                     ) -> None:
        """Export, then wait for the replica's manifests to change (or ``follow_interval``) and for
        ``commit_interval`` since the last commit, until ``stop``."""
        while not stop.is_set():
            version = self.catalog.version
            try:
                results = await self.export_once()
                if on_round is not None:
                    on_round(results)
            except (StorageError, OffsetOutOfRange) as e:
                log.warning("export round failed, retrying after the next change: %s", e.message)
            await _unless_stopped(stop, self.catalog.wait_for_change(version, self.settings.follow_interval))
            pause = self.last_commit + self.settings.commit_interval - time.monotonic()
            if pause > 0:  # a commit at most every commit_interval: the table's snapshot count stays bounded
                await _unless_stopped(stop, asyncio.sleep(pause))


async def _unless_stopped(stop: asyncio.Event, awaitable: Coroutine[Any, Any, Any]) -> None:
    """Await ``awaitable`` or ``stop``, whichever comes first (the other is cancelled)."""
    waiter = asyncio.create_task(awaitable)
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for task in (waiter, stopper):
        task.cancel()
    await asyncio.gather(waiter, stopper, return_exceptions=True)


