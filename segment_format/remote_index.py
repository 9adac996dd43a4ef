"""The remote segment index object ``{segment_key}.index`` (``cloud_storage::offset_index``).

Theory of operation (``src/v/cloud_storage/remote_segment_index.{h,cc}``; uploads in
``src/v/cluster/archival/ntp_archiver_service.cc::make_segment_index`` and
``archiver_operations_impl.cc``; second reading ``tools/rp_storage_tool/deltafor/src/{lib,envelope}.rs``).

The index holds *samples* of a segment: one every >= 64 KiB of batches (``remote_segment_sampling_step_bytes``),
each sample a tuple (redpanda offset, kafka offset, file position, max timestamp) of a batch start. It is
four parallel columns, each a 16-slot write buffer plus a Delta-FOR stream of the full rows
(:mod:`segment_format.deltafor`)::

    offset_index_header  envelope(version 2, compat 1)         (version 1 objects stop after file_index)
      min_file_pos_step  i64     delta_delta step of the file-position column (= sampling step, 64 KiB)
      num_elements       u64     number of samples
      base_rp            i64     segment base offset          (initial value of the rp column)
      last_rp            i64     last value of the last full row (base_rp if there is none)
      base_kaf, last_kaf i64     same for kafka offsets       (base_kaf = base_rp - segment delta_offset)
      base_file, last_file i64   same for file positions      (base_file = 0)
      rp_write_buf       vector<i64>  the 16-slot write buffers, serialized whole: slots
      kaf_write_buf      vector<i64>  [0, num % 16) are the samples after the last full row, the other
      file_write_buf     vector<i64>  slots still hold the previous row (or 0)
      rp_index           iobuf   delta_xor rows (num // 16 of them)
      kaf_index          iobuf   delta_xor rows
      file_index         iobuf   delta_delta(min_file_pos_step) rows
      base_time          i64     (v2) segment base timestamp; -1 ("missing") disables time lookups
      last_time          i64     (v2)
      time_write_buf     vector<i64> (v2)
      time_index         iobuf   (v2) delta_xor rows of max_timestamp

Sampling (``remote_segment_index_builder::consume_batch_start``): walking the segment's batches with a
byte counter ``window`` starting at 0, a batch whose type is in the offset-translator set adds
``last_offset_delta + 1`` to the running delta (initially the segment's ``delta_offset``); any other batch
becomes a sample if ``window >= sampling_step`` (then ``window = 0``); every batch adds its ``size_bytes``
to ``window``. So the first batch is never sampled: a lookup that finds no sample starts at the segment
start. The set is empty for partitions outside the ``kafka`` namespace (``raft::offset_translator_batch_types``).

Lookups follow ``offset_index::maybe_find_offset``: they return the last sample whose key is **strictly
below** the bound (``find_rp_offset``/``find_kaf_offset``/``find_timestamp`` in C++, used by
``remote_segment::maybe_get_offsets`` with the wanted offset itself), scanning the encoded rows, then the
write buffer, exactly in Redpanda's order (which matters only for non-monotonic timestamps).

Decoding reads the version-2 fields one by one while the body lasts (serde's rule): a body that ends
before ``time_index`` decodes with ``max_timestamps = None`` (time lookups disabled, as for version 1). The
fourteen version-1 fields are required (Redpanda would default them to 0 — never written that way).

What is not reproduced: ``last_*`` fields and the stale write-buffer slots are derived, not stored, in
:class:`RemoteSegmentIndex`; the encoder recomputes them as Redpanda's ``add`` leaves them, so encoding is
byte-identical for every index Redpanda writes (no ``.index`` object is among Redpanda's test fixtures:
this is verified against the C++ code paths and the Delta-FOR characterization vectors, not a real object).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from segment_format.deltafor import ROW_WIDTH, DeltaAlgorithm, DeltaDelta, DeltaXor, decode_rows, encode_rows
from segment_format.errors import IndexFormatError
from segment_format.serde import SerdeReader, SerdeWriter

__all__ = [
    "INDEX_SERDE_COMPAT_VERSION",
    "INDEX_SERDE_VERSION",
    "OFFSET_TRANSLATOR_BATCH_TYPES",
    "SAMPLING_STEP_BYTES",
    "TIMESTAMP_MISSING",
    "BatchPosition",
    "IndexEntry",
    "RemoteSegmentIndex",
    "build_remote_index",
    "decode_remote_index",
    "encode_remote_index",
    "find_kafka_offset",
    "find_rp_offset",
    "find_timestamp",
]

INDEX_SERDE_VERSION = 2
INDEX_SERDE_COMPAT_VERSION = 1
SAMPLING_STEP_BYTES = 64 * 1024
"""``remote_segment_sampling_step_bytes``; also the index's ``min_file_pos_step``."""
TIMESTAMP_MISSING = -1
"""``model::timestamp::missing()``."""

OFFSET_TRANSLATOR_BATCH_TYPES = frozenset({2, 19, 23, 25, 34, 38})
"""``model::offset_translator_batch_types()``: raft_configuration, archival_metadata, version_fence,
prefix_truncate, partition_properties_update, datalake_translation_state (``record_batch_types.h``)."""

_XOR = DeltaXor()


class BatchPosition(NamedTuple):
    """What the builder needs of one batch of a segment (its header fields and where it starts)."""

    base_offset: int
    batch_type: int
    last_offset_delta: int
    size_bytes: int
    file_pos: int
    max_timestamp: int


class IndexEntry(NamedTuple):
    """``offset_index::find_result``."""

    rp_offset: int
    kafka_offset: int
    file_pos: int


@dataclass(frozen=True, slots=True)
class RemoteSegmentIndex:
    """A decoded ``.index`` object: the base values and every sample, in sampling order."""

    base_rp_offset: int
    base_kafka_offset: int
    base_file_pos: int = 0
    base_timestamp: int = TIMESTAMP_MISSING
    min_file_pos_step: int = SAMPLING_STEP_BYTES
    rp_offsets: tuple[int, ...] = ()
    kafka_offsets: tuple[int, ...] = ()
    file_positions: tuple[int, ...] = ()
    max_timestamps: tuple[int, ...] | None = ()
    """None for a version-1 object, which has no time index."""

    def __post_init__(self) -> None:
        n = len(self.rp_offsets)
        if len(self.kafka_offsets) != n or len(self.file_positions) != n:
            raise ValueError("rp_offsets, kafka_offsets and file_positions must have the same length")
        if self.max_timestamps is not None and len(self.max_timestamps) != n:
            raise ValueError("max_timestamps must have one value per sample")
        if self.max_timestamps is None and self.base_timestamp != TIMESTAMP_MISSING:
            raise ValueError("a version-1 index (no max_timestamps) has no base_timestamp")

    def __len__(self) -> int:
        return len(self.rp_offsets)


# ---------------------------------------------------------------------------------------------------
# decode


def _decode_column(
    r_pos: int,
    initial: int,
    rows: int,
    data: bytes,
    write_buf: list[int],
    num: int,
    alg: DeltaAlgorithm,
    name: str,
) -> tuple[int, ...]:
    values, _ = decode_rows(initial, rows, data, alg, position=r_pos)
    tail = num % ROW_WIDTH
    if len(write_buf) > ROW_WIDTH or len(write_buf) < tail:
        raise IndexFormatError(
            f"{name} write buffer has {len(write_buf)} slots; needs {tail}..{ROW_WIDTH} for {num} samples",
            position=r_pos,
        )
    return tuple(values + write_buf[:tail])


def decode_remote_index(data: bytes | bytearray | memoryview) -> RemoteSegmentIndex:
    """Decode a ``.index`` object (version 1 or 2); raises a FormatError subclass if it is malformed."""
    r = SerdeReader(data)
    i64 = SerdeReader.read_i64
    with r.envelope(INDEX_SERDE_VERSION, INDEX_SERDE_COMPAT_VERSION, "offset_index_header"):
        step = r.read_i64()
        num = r.read_u64()
        base_rp = r.read_i64()
        r.read_i64()  # last_rp: derived
        base_kaf = r.read_i64()
        r.read_i64()  # last_kaf
        base_file = r.read_i64()
        r.read_i64()  # last_file
        bufs = [r.read_vector(i64) for _ in range(3)]
        streams = []
        for _ in range(3):
            pos = r.position + 4
            streams.append((pos, bytes(r.read_iobuf())))
        base_time = TIMESTAMP_MISSING
        time_buf: list[int] = []
        time_stream: tuple[int, bytes] | None = None
        # version-2 fields, read one by one while the body lasts (serde's rule)
        if r.remaining():
            base_time = r.read_i64()
        if r.remaining():
            r.read_i64()  # last_time
        if r.remaining():
            time_buf = r.read_vector(i64)
        if r.remaining():
            time_stream = (r.position + 4, bytes(r.read_iobuf()))
    r.expect_end("offset_index")
    rows = num // ROW_WIDTH  # decode_rows fails at the end of a stream: a huge num cannot loop long
    names = ("rp_offsets", "kafka_offsets", "file_positions")
    initials = (base_rp, base_kaf, base_file)
    algs: tuple[DeltaAlgorithm, ...] = (_XOR, _XOR, DeltaDelta(step))
    cols = [
        _decode_column(streams[i][0], initials[i], rows, streams[i][1], bufs[i], num, algs[i], names[i])
        for i in range(3)
    ]
    times: tuple[int, ...] | None = None
    if time_stream is not None:
        times = _decode_column(
            time_stream[0], base_time, rows, time_stream[1], time_buf, num, _XOR, "max_timestamps"
        )
    return RemoteSegmentIndex(
        base_rp_offset=base_rp,
        base_kafka_offset=base_kaf,
        base_file_pos=base_file,
        base_timestamp=base_time if times is not None else TIMESTAMP_MISSING,
        min_file_pos_step=step,
        rp_offsets=cols[0],
        kafka_offsets=cols[1],
        file_positions=cols[2],
        max_timestamps=times,
    )


# ---------------------------------------------------------------------------------------------------
# encode


def _column_state(initial: int, values: tuple[int, ...], alg: DeltaAlgorithm) -> tuple[int, list[int], bytes]:
    """(last, 16-slot write buffer, encoded rows) as ``offset_index::add`` leaves them."""
    full = len(values) - len(values) % ROW_WIDTH
    data = encode_rows(initial, values[:full], alg)
    last = values[full - 1] if full else initial
    buf = list(values[full - ROW_WIDTH : full]) if full else [0] * ROW_WIDTH
    buf[: len(values) - full] = values[full:]
    return last, buf, data


def encode_remote_index(index: RemoteSegmentIndex) -> bytes:
    """Serialize exactly as ``offset_index::to_iobuf`` does after ``add`` of every sample.

    Version 2 unless ``max_timestamps`` is None (then the version-1 layout an older Redpanda wrote).
    Raises ``ValueError`` where Redpanda would assert (file positions closer than ``min_file_pos_step``).
    """
    rp = _column_state(index.base_rp_offset, index.rp_offsets, _XOR)
    kaf = _column_state(index.base_kafka_offset, index.kafka_offsets, _XOR)
    fil = _column_state(index.base_file_pos, index.file_positions, DeltaDelta(index.min_file_pos_step))
    w = SerdeWriter()
    version = 1 if index.max_timestamps is None else INDEX_SERDE_VERSION
    with w.envelope(version, INDEX_SERDE_COMPAT_VERSION):
        w.write_i64(index.min_file_pos_step)
        w.write_u64(len(index))
        w.write_i64(index.base_rp_offset)
        w.write_i64(rp[0])
        w.write_i64(index.base_kafka_offset)
        w.write_i64(kaf[0])
        w.write_i64(index.base_file_pos)
        w.write_i64(fil[0])
        for col in (rp, kaf, fil):
            w.write_vector(col[1], SerdeWriter.write_i64)
        for col in (rp, kaf, fil):
            w.write_iobuf(col[2])
        if index.max_timestamps is not None:
            tm = _column_state(index.base_timestamp, index.max_timestamps, _XOR)
            w.write_i64(index.base_timestamp)
            w.write_i64(tm[0])
            w.write_vector(tm[1], SerdeWriter.write_i64)
            w.write_iobuf(tm[2])
    return w.getvalue()


# ---------------------------------------------------------------------------------------------------
# lookups


def _maybe_find(values: tuple[int, ...], upper_bound: int) -> int | None:
    """``offset_index::maybe_find_offset`` over one column: the sample index to use, or None."""
    compressed = len(values) - len(values) % ROW_WIDTH
    candidate: int | None = None
    for ix in range(compressed):  # _find_under: stop at the first value >= bound
        if values[ix] >= upper_bound:
            break
        candidate = ix
    if candidate is None or candidate == compressed - 1:
        in_buffer: int | None = None
        for ix in range(compressed, len(values)):
            if values[ix] < upper_bound:
                in_buffer = ix
            else:
                break
        if in_buffer is not None:
            return in_buffer
    return candidate


def _entry(index: RemoteSegmentIndex, ix: int | None) -> IndexEntry | None:
    if ix is None:
        return None
    return IndexEntry(index.rp_offsets[ix], index.kafka_offsets[ix], index.file_positions[ix])


def find_rp_offset(index: RemoteSegmentIndex, upper_bound: int) -> IndexEntry | None:
    """The last sample with redpanda offset < ``upper_bound`` (``offset_index::find_rp_offset``)."""
    return _entry(index, _maybe_find(index.rp_offsets, upper_bound))


def find_kafka_offset(index: RemoteSegmentIndex, kafka_offset: int) -> IndexEntry | None:
    """Where to start reading for ``kafka_offset``: the last sample with kafka offset **<** it.

    Same contract as ``offset_index::find_kaf_offset``, which ``remote_segment::maybe_get_offsets`` calls
    with the requested offset: a sample exactly at ``kafka_offset`` is *not* returned (the previous one is),
    so pass ``kafka_offset + 1`` to get "the last sample at or before". None means: no sample is below it,
    start at the segment start.
    """
    return _entry(index, _maybe_find(index.kafka_offsets, kafka_offset))


def find_timestamp(index: RemoteSegmentIndex, timestamp: int) -> IndexEntry | None:
    """The last sample with max_timestamp < ``timestamp`` (``offset_index::find_timestamp``).

    None for an index without timestamps (version 1) or whose ``base_timestamp`` is missing (-1), as in
    Redpanda.
    """
    if index.max_timestamps is None or index.base_timestamp == TIMESTAMP_MISSING:
        return None
    return _entry(index, _maybe_find(index.max_timestamps, timestamp))


# ---------------------------------------------------------------------------------------------------
# builder


def build_remote_index(
    batches: Iterable[BatchPosition],
    delta_offset: int,
    sampling_step: int = SAMPLING_STEP_BYTES,
    *,
    base_rp_offset: int | None = None,
    base_timestamp: int = TIMESTAMP_MISSING,
    min_file_pos_step: int | None = None,
    namespace: str = "kafka",
) -> RemoteSegmentIndex:
    """Index a segment as ``remote_segment_index_builder::consume_batch_start`` does.

    ``delta_offset`` is the segment's ``segment_meta.delta_offset`` (the running delta's start);
    ``base_rp_offset`` defaults to the first batch's base offset (the segment's base offset) and the base
    kafka offset is ``base_rp_offset - delta_offset``, as the archiver constructs the index.
    ``base_timestamp`` is ``segment_meta.base_timestamp``; left at -1 (missing), time lookups are disabled,
    as in Redpanda. ``min_file_pos_step`` defaults to ``sampling_step`` (Redpanda passes the same 64 KiB
    constant for both). Only partitions in the ``kafka`` namespace translate offsets.
    """
    filt = OFFSET_TRANSLATOR_BATCH_TYPES if namespace == "kafka" else frozenset()
    running_delta = delta_offset
    window = 0
    first: int | None = None
    rp: list[int] = []
    kaf: list[int] = []
    fpos: list[int] = []
    times: list[int] = []
    for b in batches:
        if first is None:
            first = b.base_offset
        if b.batch_type in filt:
            running_delta += b.last_offset_delta + 1
        elif window >= sampling_step:
            rp.append(b.base_offset)
            kaf.append(b.base_offset - running_delta)
            fpos.append(b.file_pos)
            times.append(b.max_timestamp)
            window = 0
        window += b.size_bytes
    base = base_rp_offset if base_rp_offset is not None else (first if first is not None else 0)
    return RemoteSegmentIndex(
        base_rp_offset=base,
        base_kafka_offset=base - delta_offset,
        base_file_pos=0,
        base_timestamp=base_timestamp,
        min_file_pos_step=sampling_step if min_file_pos_step is None else min_file_pos_step,
        rp_offsets=tuple(rp),
        kafka_offsets=tuple(kaf),
        file_positions=tuple(fpos),
        max_timestamps=tuple(times),
    )
