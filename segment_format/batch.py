"""Record batches: Redpanda's on-disk header ⇄ the Kafka v2 wire header, and both CRCs.

Redpanda stores each batch as a 61-byte **little-endian** header followed by the Kafka v2 records block,
byte for byte as the producer sent it (``src/v/model/record.h`` ``record_batch_header``,
``src/v/storage/record_batch_utils.cc``)::

    off size field               Redpanda (LE, on disk)        Kafka v2 wire (BE)
      0   4  header_crc  u32      crc32c(header[4:61])          baseOffset        i64  (8 bytes)
      4   4  size_bytes  i32      61 + len(records)             batchLength       i32  = size_bytes - 12
      8   8  base_offset i64      Redpanda (raft) offset        partitionLeaderEpoch i32
     16   1  type        i8       record_batch_type             magic             i8   = 2
     17   4  crc         u32      Kafka CRC, unchanged          crc               u32
     21  40  attrs … record_count (same fields, same order)     attributes … recordsCount

The Kafka CRC (crc32c over attributes..end of batch, ``record_utils.cc::crc_record_batch``) does not cover
the base offset, the leader epoch or the batch type, so converting a header between the two forms keeps
the CRC as stored and never touches the records: :func:`kafka_header` returns 61 new bytes and the caller
sends ``batch.records`` (a memoryview into the segment) after them.

Batch types (``src/v/model/record_batch_types.h``) are :class:`BatchType`; only ``raft_data`` batches are
ever served to Kafka clients, and the :data:`OFFSET_TRANSLATOR_TYPES` occupy Redpanda offsets but no Kafka
offsets (see :mod:`segment_format.offsets`).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import crc32c as _crc32c

from segment_format.errors import (
    CompressionError,
    CrcMismatchError,
    FormatError,
    RecordDecodeError,
    TruncatedError,
)
from segment_format.records import (
    Compression,
    Record,
    RecordColumns,
    compress,
    decode_record_columns,
    decompress,
    encode_records,
)

__all__ = [
    "HEADER_SIZE",
    "KAFKA_HEADER",
    "OFFSET_TRANSLATOR_TYPES",
    "RP_HEADER",
    "Attributes",
    "Batch",
    "BatchHeader",
    "BatchType",
    "build_batch",
    "crc32c",
    "decode_header",
    "encode_header",
    "from_kafka",
    "kafka_crc",
    "kafka_header",
]

HEADER_SIZE = 61

RP_HEADER = struct.Struct(
    "<"
    "I"  # header_crc        crc32c of bytes 4..61
    "i"  # size_bytes        header + records
    "q"  # base_offset       Redpanda offset
    "b"  # type              record_batch_type
    "I"  # crc               Kafka batch CRC
    "h"  # attrs
    "i"  # last_offset_delta
    "q"  # first_timestamp   ms
    "q"  # max_timestamp     ms
    "q"  # producer_id
    "h"  # producer_epoch
    "i"  # base_sequence
    "i"  # record_count
)
_RP_HEADER_NO_CRC = struct.Struct("<iqbIhiqqqhii")
KAFKA_HEADER = struct.Struct(
    ">"
    "q"  # baseOffset          Kafka offset
    "i"  # batchLength         bytes after this field
    "i"  # partitionLeaderEpoch
    "b"  # magic               2
    "I"  # crc                 crc32c of attributes..end
    "h"  # attributes
    "i"  # lastOffsetDelta
    "q"  # firstTimestamp
    "q"  # maxTimestamp
    "q"  # producerId
    "h"  # producerEpoch
    "i"  # baseSequence
    "i"  # recordsCount
)
_KAFKA_CRC_FIELDS = struct.Struct(">hiqqqhii")  # attributes..recordsCount: the CRC'd part of the header
_KAFKA_CRC_START = 21  # attributes start at byte 21 in both layouts
_SIZE_DIFF = 12  # Kafka batchLength excludes baseOffset (8) and batchLength (4)
assert RP_HEADER.size == KAFKA_HEADER.size == HEADER_SIZE


def crc32c(data: bytes | memoryview, value: int = 0) -> int:
    """CRC-32C (Castagnoli), continuing from ``value``."""
    return int(_crc32c.crc32c(data, value))


class BatchType(IntEnum):
    """``model::record_batch_type`` (src/v/model/record_batch_types.h)."""

    raft_data = 1
    raft_configuration = 2
    controller = 3
    kvstore = 4
    checkpoint = 5
    topic_management_cmd = 6
    ghost_batch = 7
    id_allocator = 8
    tx_prepare = 9
    tx_fence = 10
    tm_update = 11
    user_management_cmd = 12
    acl_management_cmd = 13
    group_prepare_tx = 14
    group_commit_tx = 15
    group_abort_tx = 16
    node_management_cmd = 17
    data_policy_management_cmd = 18
    archival_metadata = 19
    cluster_config_cmd = 20
    feature_update = 21
    cluster_bootstrap_cmd = 22
    version_fence = 23
    tx_tm_hosted_trasactions = 24  # sic, as spelled in Redpanda
    prefix_truncate = 25
    plugin_update = 26
    tx_registry = 27
    cluster_recovery_cmd = 28
    compaction_placeholder = 29
    role_management_cmd = 30
    client_quota = 31
    data_migration_cmd = 32
    group_fence_tx = 33
    partition_properties_update = 34
    datalake_coordinator = 35
    dl_placeholder = 36
    dl_stm_command = 37
    datalake_translation_state = 38


#: ``model::offset_translator_batch_types()``: batches that take Redpanda offsets but no Kafka offsets.
OFFSET_TRANSLATOR_TYPES: frozenset[int] = frozenset(
    {
        BatchType.raft_configuration,
        BatchType.archival_metadata,
        BatchType.version_fence,
        BatchType.prefix_truncate,
        BatchType.partition_properties_update,
        BatchType.datalake_translation_state,
    }
)


class Attributes:
    """Bits of the Kafka batch ``attributes`` field."""

    COMPRESSION_MASK = 0x07
    TIMESTAMP_TYPE = 0x08  # 1 = LogAppendTime
    TRANSACTIONAL = 0x10
    CONTROL = 0x20
    DELETE_HORIZON = 0x40


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchHeader:
    """The 13 fields shared by both layouts (the Redpanda form; Kafka-only fields are derived)."""

    header_crc: int
    size_bytes: int
    base_offset: int
    type: int
    crc: int
    attrs: int
    last_offset_delta: int
    first_timestamp: int
    max_timestamp: int
    producer_id: int = -1
    producer_epoch: int = -1
    base_sequence: int = -1
    record_count: int

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def records_size(self) -> int:
        return self.size_bytes - HEADER_SIZE

    @property
    def compression(self) -> int:
        return self.attrs & Attributes.COMPRESSION_MASK

    @property
    def is_log_append_time(self) -> bool:
        return bool(self.attrs & Attributes.TIMESTAMP_TYPE)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attrs & Attributes.TRANSACTIONAL)

    @property
    def is_control(self) -> bool:
        return bool(self.attrs & Attributes.CONTROL)

    @property
    def type_name(self) -> str:
        try:
            return BatchType(self.type).name
        except ValueError:
            return f"unknown({self.type})"

    def computed_header_crc(self) -> int:
        """crc32c of the little-endian header bytes 4..61 (``internal_header_only_crc``)."""
        return crc32c(
            _RP_HEADER_NO_CRC.pack(
                self.size_bytes,
                self.base_offset,
                self.type,
                self.crc,
                self.attrs,
                self.last_offset_delta,
                self.first_timestamp,
                self.max_timestamp,
                self.producer_id,
                self.producer_epoch,
                self.base_sequence,
                self.record_count,
            )
        )


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch inside a segment: its header, its records bytes (a zero-copy view) and where it starts."""

    header: BatchHeader
    records: memoryview
    position: int = 0

    @property
    def size(self) -> int:
        return self.header.size_bytes

    def verify_crc(self) -> None:
        """Check the Kafka CRC against the records bytes (the header CRC is checked on decode)."""
        actual = kafka_crc(self.header, self.records)
        if actual != self.header.crc:
            raise CrcMismatchError(
                "records do not match the batch CRC",
                which="crc",
                expected=self.header.crc,
                actual=actual,
                position=self.position,
                offset=self.header.base_offset,
            )

    def decode_records(self) -> list[Record]:
        """Decompress (if needed) and decode the records (see :meth:`decode_columns`)."""
        return self.decode_columns().records()

    def decode_columns(self) -> RecordColumns:
        """Decompress (if needed) and decode the records as columns; errors name this batch's offset.

        The error position is a position in the object: the byte of the bad record for an uncompressed
        batch, the start of the records block for a compressed one (positions inside the decompressed
        data name no byte of the object).
        """
        records_start = self.position + HEADER_SIZE
        try:
            data = decompress(self.header.compression, self.records)
        except CompressionError as e:
            raise CompressionError(
                f"batch at offset {self.header.base_offset}: {e.message}",
                position=records_start,
                offset=self.header.base_offset,
            ) from e
        try:
            return decode_record_columns(data, self.header.record_count)
        except RecordDecodeError as e:
            compressed = self.header.compression != Compression.NONE
            inner = "" if not compressed or e.position is None else f" (byte {e.position} of the decompressed records)"
            raise RecordDecodeError(
                f"batch at offset {self.header.base_offset}: {e.message}{inner}",
                position=records_start if compressed or e.position is None else records_start + e.position,
                offset=self.header.base_offset,
            ) from e


def decode_header(
    buf: bytes | memoryview, pos: int = 0, *, verify: bool = True, base_position: int = 0
) -> BatchHeader:
    """Decode the Redpanda header at ``pos``; checks header_crc and the size field when ``verify``.

    ``base_position`` is the object position of ``buf[0]`` (for a ranged read): errors report
    ``base_position + pos``.
    """
    where = base_position + pos
    if pos < 0 or len(buf) - pos < HEADER_SIZE:
        raise TruncatedError(f"batch header needs {HEADER_SIZE} bytes, {len(buf) - pos} left", position=where)
    f = RP_HEADER.unpack_from(buf, pos)
    header = BatchHeader(
        header_crc=f[0],
        size_bytes=f[1],
        base_offset=f[2],
        type=f[3],
        crc=f[4],
        attrs=f[5],
        last_offset_delta=f[6],
        first_timestamp=f[7],
        max_timestamp=f[8],
        producer_id=f[9],
        producer_epoch=f[10],
        base_sequence=f[11],
        record_count=f[12],
    )
    if verify:
        actual = crc32c(memoryview(buf)[pos + 4 : pos + HEADER_SIZE])
        if actual != header.header_crc:
            raise CrcMismatchError(
                "batch header is corrupt",
                which="header_crc",
                expected=header.header_crc,
                actual=actual,
                position=where,
                offset=header.base_offset,
            )
        if header.size_bytes < HEADER_SIZE:
            raise FormatError(
                f"batch size_bytes {header.size_bytes} is below {HEADER_SIZE}",
                position=where,
                offset=header.base_offset,
            )
    return header


def encode_header(
    *,
    size_bytes: int,
    base_offset: int,
    type: int,
    crc: int,
    attrs: int,
    last_offset_delta: int,
    first_timestamp: int,
    max_timestamp: int,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    record_count: int,
) -> bytes:
    """Build a Redpanda header, computing header_crc."""
    body = _RP_HEADER_NO_CRC.pack(
        size_bytes,
        base_offset,
        type,
        crc,
        attrs,
        last_offset_delta,
        first_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        record_count,
    )
    return struct.pack("<I", crc32c(body)) + body


def kafka_crc(header: BatchHeader, records: bytes | memoryview) -> int:
    """The Kafka v2 batch CRC: crc32c over big-endian attributes..record_count, then the records."""
    head = _KAFKA_CRC_FIELDS.pack(
        header.attrs,
        header.last_offset_delta,
        header.first_timestamp,
        header.max_timestamp,
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
        header.record_count,
    )
    return crc32c(records, crc32c(head))


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def kafka_header(header: BatchHeader, *, base_offset: int, leader_epoch: int = 0) -> bytes:
    """The 61-byte Kafka v2 header for a stored batch; ``base_offset`` is the Kafka offset.

    The stored CRC is reused: it covers only fields that are the same in both forms. A Kafka offset outside
    int64 (a hostile manifest's delta can put it there) is a :class:`FormatError`, not a ``struct.error``.
    """
    if not _INT64_MIN <= base_offset <= _INT64_MAX - max(header.last_offset_delta, 0):
        raise FormatError(f"Kafka offset {base_offset} of the batch at Redpanda offset {header.base_offset} "
                          "is outside int64 (bad delta in the manifest?)", offset=header.base_offset)
    return KAFKA_HEADER.pack(
        base_offset,
        header.size_bytes - _SIZE_DIFF,
        leader_epoch,
        2,
        header.crc,
        header.attrs,
        header.last_offset_delta,
        header.first_timestamp,
        header.max_timestamp,
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
        header.record_count,
    )


def from_kafka(
    buf: bytes | memoryview, *, base_offset: int, type: int = BatchType.raft_data, verify: bool = True
) -> bytes:
    """Convert one Kafka v2 batch (wire form) to Redpanda's on-disk form at Redpanda ``base_offset``.

    This is what Redpanda does on produce: the CRC and records are kept, the header is rewritten.
    """
    if len(buf) < HEADER_SIZE:
        raise TruncatedError("Kafka batch shorter than its header", position=0)
    f = KAFKA_HEADER.unpack_from(buf, 0)
    _, batch_length, _, magic, crc, attrs, lod, first_ts, max_ts, pid, pepoch, bseq, count = f
    if magic != 2:
        raise FormatError(f"Kafka batch magic {magic}, only v2 (magic 2) is supported", position=16)
    size = batch_length + _SIZE_DIFF
    if size < HEADER_SIZE or size > len(buf):
        raise TruncatedError(f"Kafka batchLength {batch_length} does not fit in {len(buf)} bytes", position=8)
    records = memoryview(buf)[HEADER_SIZE:size]
    header = encode_header(
        size_bytes=size,
        base_offset=base_offset,
        type=type,
        crc=crc,
        attrs=attrs,
        last_offset_delta=lod,
        first_timestamp=first_ts,
        max_timestamp=max_ts,
        producer_id=pid,
        producer_epoch=pepoch,
        base_sequence=bseq,
        record_count=count,
    )
    if verify:
        actual = crc32c(records, crc32c(memoryview(buf)[_KAFKA_CRC_START:HEADER_SIZE]))
        if actual != crc:
            raise CrcMismatchError("Kafka batch CRC mismatch", which="crc", expected=crc, actual=actual, position=0)
    return header + bytes(records)


def build_batch(
    records: Sequence[Record],
    *,
    base_offset: int,
    first_timestamp: int,
    max_timestamp: int | None = None,
    type: int = BatchType.raft_data,
    compression: Compression = Compression.NONE,
    attrs: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    last_offset_delta: int | None = None,
) -> bytes:
    """Build a batch in Redpanda's on-disk form, as a producer + Redpanda would have stored it.

    ``attrs`` carries the non-codec bits (timestamp type, transactional, control); the codec bits come from
    ``compression``. ``last_offset_delta`` defaults to the last record's offset delta (it can be larger after
    compaction).
    """
    if not records:
        raise ValueError("a batch needs at least one record")
    body = compress(compression, encode_records(records))
    lod = records[-1].offset_delta if last_offset_delta is None else last_offset_delta
    max_ts = max_timestamp if max_timestamp is not None else first_timestamp + max(r.timestamp_delta for r in records)
    full_attrs = (attrs & ~Attributes.COMPRESSION_MASK) | int(compression)
    provisional = BatchHeader(
        header_crc=0,
        size_bytes=HEADER_SIZE + len(body),
        base_offset=base_offset,
        type=type,
        crc=0,
        attrs=full_attrs,
        last_offset_delta=lod,
        first_timestamp=first_timestamp,
        max_timestamp=max_ts,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        record_count=len(records),
    )
    header = encode_header(
        size_bytes=provisional.size_bytes,
        base_offset=base_offset,
        type=type,
        crc=kafka_crc(provisional, body),
        attrs=full_attrs,
        last_offset_delta=lod,
        first_timestamp=first_timestamp,
        max_timestamp=max_ts,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        record_count=len(records),
    )
    return header + body
