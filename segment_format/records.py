"""Kafka v2 records: zigzag varints, record bodies, headers, and the four compression codecs.

A records block is what follows the 61-byte batch header, identical in Redpanda segments and on the Kafka
wire (``src/v/model/record_utils.cc``: ``append_record_to_buffer`` / ``parse_one_record_from_buffer``)::

    Record =>
      length          varint     bytes after this field
      attributes      int8       unused, 0
      timestampDelta  varlong    from the batch's first_timestamp
      offsetDelta     varint     from the batch's base offset
      keyLength       varint     -1 = null key
      key             bytes
      valueLength     varint     -1 = null value
      value           bytes
      headerCount     varint
      Header => keyLength varint, key utf8, valueLength varint (-1 = null), value bytes

When the batch attributes name a codec (bits 0..2) the whole block of records is compressed as one unit:
gzip, snappy (Java clients use xerial framing, librdkafka raw blocks; both are read, xerial is written),
lz4 (the LZ4 frame format, KIP-57) or zstd. All through ``cramjam`` so no system libraries are needed.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import partial
from typing import Any

import cramjam

from segment_format.errors import CompressionError, RecordDecodeError

__all__ = [
    "Compression",
    "Record",
    "RecordHeader",
    "compress",
    "decode_records",
    "decode_varint",
    "decompress",
    "encode_record",
    "encode_records",
    "encode_varint",
]


class Compression(IntEnum):
    """Batch attribute bits 0..2."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


@dataclass(frozen=True, slots=True)
class RecordHeader:
    key: str
    value: bytes | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One decoded record; absolute offset/timestamp = batch base + delta."""

    offset_delta: int
    timestamp_delta: int
    key: bytes | None
    value: bytes | None
    headers: tuple[RecordHeader, ...] = ()
    attributes: int = 0


_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def encode_varint(value: int) -> bytes:
    """Zigzag-encode a signed 64-bit integer as a protobuf-style varint (``ValueError`` outside int64)."""
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"varint value {value} is outside the int64 range")
    z = ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def decode_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode a zigzag varint at ``pos``; returns ``(value, next_pos)``.

    At most 10 bytes, and the 10th may only carry the 64th bit: a longer or wider varint is an error
    rather than a value outside int64 (``utils/vint.h`` and Kafka's ``ByteUtils.readVarlong`` stop there).
    """
    result = 0
    shift = 0
    start = pos
    end = len(buf)
    while True:
        if pos >= end:
            raise RecordDecodeError("varint runs past the end of the records", position=start)
        b = buf[pos]
        pos += 1
        if shift == 63 and b > 1:
            raise RecordDecodeError("varint does not fit in 64 bits", position=start)
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
    return (result >> 1) ^ -(result & 1), pos


def _encode_bytes(value: bytes | None) -> bytes:
    if value is None:
        return encode_varint(-1)
    return encode_varint(len(value)) + value


def encode_record(record: Record) -> bytes:
    """Encode one record with its length prefix."""
    parts = [
        struct.pack(">b", record.attributes),
        encode_varint(record.timestamp_delta),
        encode_varint(record.offset_delta),
        _encode_bytes(record.key),
        _encode_bytes(record.value),
        encode_varint(len(record.headers)),
    ]
    for h in record.headers:
        parts.append(_encode_bytes(h.key.encode("utf-8")))
        parts.append(_encode_bytes(h.value))
    body = b"".join(parts)
    return encode_varint(len(body)) + body


def encode_records(records: Sequence[Record]) -> bytes:
    """Encode an uncompressed records block."""
    return b"".join(encode_record(r) for r in records)


def _varint_in(buf: bytes | memoryview, pos: int, end: int) -> tuple[int, int]:
    """:func:`decode_varint` of a field inside a record ending at ``end``, one-byte values (deltas, lengths
    and counts in almost every record) without its loop."""
    b = buf[pos] if pos < end else 0x80
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos + 1
    return decode_varint(buf, pos)


def _read_bytes(buf: bytes | memoryview, pos: int, end: int, what: str) -> tuple[bytes | None, int]:
    length, pos = _varint_in(buf, pos, end)
    if length == -1:
        return None, pos
    if length < -1 or pos + length > end:
        raise RecordDecodeError(f"{what} length {length} runs past the record", position=pos)
    return bytes(buf[pos : pos + length]), pos + length


@dataclass(slots=True)
class RecordColumns:
    """The records of one block as columns, in record order: what a columnar writer (the Iceberg export)
    wants, without a :class:`Record` per row. ``header_counts[i]`` headers of record ``i`` follow those of
    the records before it in ``header_keys``/``header_values``."""

    attributes: list[int]
    timestamp_deltas: list[int]
    offset_deltas: list[int]
    keys: list[bytes | None]
    values: list[bytes | None]
    header_counts: list[int]
    header_keys: list[str]
    header_values: list[bytes | None]

    def take(self, rows: Sequence[int]) -> RecordColumns:
        """The columns of ``rows`` only (indexes, in the order given)."""
        starts = [0]
        for n in self.header_counts:
            starts.append(starts[-1] + n)
        header_rows = [h for i in rows for h in range(starts[i], starts[i + 1])]
        return RecordColumns(
            [self.attributes[i] for i in rows], [self.timestamp_deltas[i] for i in rows],
            [self.offset_deltas[i] for i in rows], [self.keys[i] for i in rows], [self.values[i] for i in rows],
            [self.header_counts[i] for i in rows], [self.header_keys[h] for h in header_rows],
            [self.header_values[h] for h in header_rows])

    def records(self) -> list[Record]:
        header_iter = iter(map(RecordHeader, self.header_keys, self.header_values))
        return [
            Record(offset_delta=o, timestamp_delta=t, key=k, value=v, attributes=a,
                   headers=tuple(next(header_iter) for _ in range(n)) if n else ())
            for a, t, o, k, v, n in zip(self.attributes, self.timestamp_deltas, self.offset_deltas, self.keys,
                                        self.values, self.header_counts, strict=True)
        ]


def decode_record_columns(buf: bytes | memoryview, count: int) -> RecordColumns:
    """Decode ``count`` records from an uncompressed block into columns; positions in errors are within
    ``buf``."""
    attributes: list[int] = []
    ts_deltas: list[int] = []
    off_deltas: list[int] = []
    keys: list[bytes | None] = []
    values: list[bytes | None] = []
    header_counts: list[int] = []
    header_keys: list[str] = []
    header_values: list[bytes | None] = []
    pos = 0
    total = len(buf)
    for i in range(count):
        start = pos
        length, pos = decode_varint(buf, pos)
        end = pos + length
        if length < 0 or end > total:
            raise RecordDecodeError(f"record {i} length {length} runs past the batch", position=start)
        if pos >= end:
            raise RecordDecodeError(f"record {i} is empty", position=start)
        attribute = buf[pos]
        attributes.append(attribute - 256 if attribute > 127 else attribute)  # int8
        pos += 1
        ts_delta, pos = _varint_in(buf, pos, end)
        ts_deltas.append(ts_delta)
        off_delta, pos = _varint_in(buf, pos, end)
        off_deltas.append(off_delta)
        key, pos = _read_bytes(buf, pos, end, "key")
        keys.append(key)
        value, pos = _read_bytes(buf, pos, end, "value")
        values.append(value)
        n_headers, pos = _varint_in(buf, pos, end)
        if n_headers < 0 or n_headers > length:
            raise RecordDecodeError(f"record {i} has {n_headers} headers", position=pos)
        header_counts.append(n_headers)
        for _ in range(n_headers):
            hkey, pos = _read_bytes(buf, pos, end, "header key")
            if hkey is None:
                raise RecordDecodeError("null header key", position=pos)
            hval, pos = _read_bytes(buf, pos, end, "header value")
            try:
                header_keys.append(hkey.decode("utf-8"))
            except UnicodeDecodeError as e:
                raise RecordDecodeError("header key is not UTF-8", position=pos) from e
            header_values.append(hval)
        if pos != end:
            raise RecordDecodeError(f"record {i} has {end - pos} unexpected trailing bytes", position=pos)
    if pos != total:
        raise RecordDecodeError(f"{total - pos} bytes left after {count} records", position=pos)
    return RecordColumns(attributes, ts_deltas, off_deltas, keys, values, header_counts, header_keys,
                         header_values)


def decode_records(buf: bytes | memoryview, count: int) -> list[Record]:
    """Decode ``count`` records from an uncompressed block; positions in errors are within ``buf``."""
    return decode_record_columns(buf, count).records()


_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = struct.Struct(">8sii")  # magic, version=1, compatible version=1
_XERIAL_BLOCK = 32 * 1024


def _xerial_decompress(data: bytes | memoryview, limit: int) -> bytes:
    """Java clients' framing: 32 KiB raw snappy blocks, each with its length; the output is cut at ``limit``."""
    if len(data) < _XERIAL_HEADER.size:
        raise CompressionError("xerial snappy header cut short", position=len(data))
    pos = _XERIAL_HEADER.size
    out = bytearray()
    while pos < len(data):
        if pos + 4 > len(data):
            raise CompressionError("xerial snappy block header cut short", position=pos)
        (length,) = struct.unpack_from(">i", data, pos)
        pos += 4
        if length < 0 or pos + length > len(data):
            raise CompressionError("xerial snappy block runs past the data", position=pos)
        out += _snappy_into(data[pos : pos + length], limit - len(out))
        pos += length
        if len(out) >= limit:
            break
    return bytes(out)


def _snappy(data: bytes | memoryview, limit: int) -> bytes:
    """Snappy as Kafka clients send it: xerial-framed (Java) or one raw block (librdkafka)."""
    return _xerial_decompress(data, limit) if bytes(data[:8]) == _XERIAL_MAGIC else _snappy_into(data, limit)


# A records block may not decompress to more than this: a few bytes of zstd or gzip can inflate to
# gigabytes (a "decompression bomb"), and a decoder must fail with a typed error, not exhaust memory.
# Kafka's and Redpanda's batch limits are 1 MiB by default; real codecs reach ~10-50x on such data.
MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024


class _TooLarge(Exception):
    """The output would not fit in the limit (known before decompressing)."""


def _too_small(error: Exception) -> bool:
    """cramjam's words for "the output buffer is full" (gzip, lz4, zstd: "failed to write whole buffer";
    snappy: "output buffer (size = N) is smaller than required"), as opposed to damaged input."""
    return isinstance(error, _TooLarge) or "buffer" in str(error)


# A snappy element never writes more than 64 bytes for 3 bytes of input (a copy with a 2-byte offset).
_SNAPPY_MAX_EXPANSION = 22


def _snappy_declared(data: bytes | memoryview) -> int | None:
    """The uncompressed length a raw snappy block declares in its varint preamble (None: unreadable)."""
    value = shift = 0
    for byte in bytes(data[:5]):
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value
    return None


def _snappy_into(data: bytes | memoryview, limit: int) -> bytes:
    """Raw snappy into one buffer of the size the block declares: no growing buffers, and a declaration no
    valid block can meet (damaged or hostile data) fails before anything is allocated."""
    declared = _snappy_declared(data)
    if declared is None:
        raise ValueError("corrupt input: no uncompressed length at the start of the block")
    if declared > _SNAPPY_MAX_EXPANSION * len(data) + 64:
        raise ValueError(f"corrupt input: the block declares {declared} bytes from {len(data)}")
    if declared > limit:
        raise _TooLarge(f"the block declares {declared} bytes")
    buffer = bytearray(declared)
    n = cramjam.snappy.decompress_raw_into(data, buffer)
    return bytes(memoryview(buffer)[:n])


# The most output one byte of each codec's input can produce: deflate 258 bytes per 2 bits (1032:1), LZ4 a
# match length extended 255 at a time (255:1), zstd a 4-byte RLE block of at most 128 KiB (32768:1). Measured
# on zeros with cramjam: 1029, 239 and 32451. Output that would need more is damaged data, however large the
# limit: the buffer stops growing there instead of at the limit (256 MiB, ~0.4 s per damaged zstd block).
_GZIP_MAX_RATIO, _LZ4_MAX_RATIO, _ZSTD_MAX_RATIO = 1032, 255, 32768


def _bounded(into: Callable[[Any, bytearray], int], max_ratio: int, data: bytes | memoryview, limit: int) -> bytes:
    """Decompress with ``into(data, buffer)`` into buffers that grow (x8) up to ``limit`` bytes, or up to what
    ``max_ratio`` lets ``data`` produce if that is less, so memory stays proportional to the real output; the
    result is cut at ``limit`` (callers refuse that size)."""
    if limit <= 0:
        return b""
    most = max_ratio * len(data) + 1024
    cap = min(limit, most)
    size = min(cap, max(64 * 1024, 8 * len(data)))
    while True:
        buffer = bytearray(size)
        try:
            n = into(data, buffer)
        except Exception as e:
            if not _too_small(e):
                raise  # damaged data
            if size >= limit:
                raise  # more output than the limit allows
            if size >= cap:
                raise ValueError(f"corrupt input: it claims more output than {len(data)} bytes of this codec "
                                 f"can produce (at most {most})") from None
            size = min(cap, size * 8)
            continue
        if n < size or size >= cap:
            return bytes(memoryview(buffer)[:n])
        size = min(cap, size * 8)  # filled exactly: there may be more


def _xerial_compress(data: bytes) -> bytes:
    parts = [_XERIAL_HEADER.pack(_XERIAL_MAGIC, 1, 1)]
    for i in range(0, len(data), _XERIAL_BLOCK) or [0]:
        block = bytes(cramjam.snappy.compress_raw(data[i : i + _XERIAL_BLOCK]))
        parts.append(struct.pack(">i", len(block)))
        parts.append(block)
    return b"".join(parts)


def compress(codec: Compression | int, data: bytes) -> bytes:
    """Compress a records block the way Kafka's Java producer does (``codec``: a Compression or its value)."""
    try:
        codec = Compression(codec)
    except ValueError:
        raise CompressionError(f"unknown compression codec {codec}") from None
    if codec is Compression.NONE:
        return data
    if codec is Compression.GZIP:
        return bytes(cramjam.gzip.compress(data))
    if codec is Compression.SNAPPY:
        return _xerial_compress(data)
    if codec is Compression.LZ4:
        return bytes(cramjam.lz4.compress(data))
    return bytes(cramjam.zstd.compress(data))


# each decoder takes (data, limit) and cuts its output at ``limit`` bytes
_DECODERS: dict[int, Callable[[bytes | memoryview, int], bytes]] = {
    Compression.GZIP: partial(_bounded, cramjam.gzip.decompress_into, _GZIP_MAX_RATIO),
    Compression.SNAPPY: _snappy,
    Compression.LZ4: partial(_bounded, cramjam.lz4.decompress_into, _LZ4_MAX_RATIO),
    Compression.ZSTD: partial(_bounded, cramjam.zstd.decompress_into, _ZSTD_MAX_RATIO),
}


def decompress(codec: int, data: bytes | memoryview, *, max_size: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """Decompress a records block; any codec failure, or an output above ``max_size`` bytes, becomes a
    :class:`CompressionError`."""
    if codec == Compression.NONE:
        return bytes(data)
    decoder = _DECODERS.get(codec)
    if decoder is None:
        raise CompressionError(f"unknown compression codec {codec}")
    name = Compression(codec).name.lower()
    try:
        out = decoder(data, max_size + 1)
    except CompressionError:
        raise
    except Exception as e:  # cramjam raises its own DecompressionError / ValueError types
        if _too_small(e):  # the output did not fit in max_size
            raise CompressionError(f"{name} data decompresses to more than {max_size} bytes") from e
        raise CompressionError(f"{name} data does not decompress: {e}") from e
    if len(out) > max_size:
        raise CompressionError(f"{name} data decompresses to more than {max_size} bytes")
    return out
