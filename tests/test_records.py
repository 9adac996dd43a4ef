"""Specification of segment_format.records: zigzag varints, Kafka v2 records and the four codecs.

Golden bytes are written out by hand from the encoding in Redpanda's ``src/v/model/record_utils.cc``
(``append_record_to_buffer`` / ``parse_one_record_from_buffer``) and ``src/v/utils/vint.h`` (zigzag), which
is byte-for-byte Kafka's v2 record format; the one real record comes from the remote segment object
``tools/rp_storage_tool/resources/test/3676-7429-77-1-v1.log.1`` (see test_batch.py for the whole batch).
"""

from __future__ import annotations

import contextlib
import gzip
import struct
import tracemalloc

import cramjam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_format.errors import CompressionError, FormatError, RecordDecodeError
from segment_format.records import (
    Compression,
    Record,
    RecordHeader,
    compress,
    decode_record_columns,
    decode_records,
    decode_varint,
    decompress,
    encode_record,
    encode_records,
    encode_varint,
)
from tests.hypothesis_support import examples

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# ---------------------------------------------------------------- strategies (shared shape with test_batch)

int64s = st.integers(INT64_MIN, INT64_MAX)
maybe_bytes = st.none() | st.binary(max_size=40)
headers = st.lists(
    st.builds(RecordHeader, st.text(max_size=8), st.none() | st.binary(max_size=12)), max_size=3
).map(tuple)


@st.composite
def record_lists(draw: st.DrawFn, max_records: int = 6) -> list[Record]:
    n = draw(st.integers(1, max_records))
    deltas = sorted(draw(st.lists(st.integers(0, 2**31 - 1), min_size=n, max_size=n, unique=True)))
    return [
        Record(
            offset_delta=d,
            timestamp_delta=draw(st.integers(-(2**40), 2**40)),
            key=draw(maybe_bytes),
            value=draw(maybe_bytes),
            headers=draw(headers),
        )
        for d in deltas
    ]


# ---------------------------------------------------------------- varints


# (value, bytes): zigzag maps 0,-1,1,-2,2,… to 0,1,2,3,4,…; 7 bits per byte, low group first, MSB = "more".
VARINT_GOLDEN = [
    (0, b"\x00"),
    (-1, b"\x01"),  # the "null" length of keys, values and header values
    (1, b"\x02"),
    (-2, b"\x03"),
    (63, b"\x7e"),
    (-64, b"\x7f"),
    (64, b"\x80\x01"),  # zigzag 128 = 0b1_0000000 -> 0x80 (more), 0x01
    (15, b"\x1e"),  # the record length in the 77-byte golden segment
    (265, b"\x92\x04"),  # its offset_delta: zigzag 530 = 4*128 + 0x12
    (100, b"\xc8\x01"),  # value length of test_segment.bin's data record
    (113, b"\xe2\x01"),  # record length of test_segment.bin's raft_configuration record
    (INT64_MAX, b"\xfe" + b"\xff" * 8 + b"\x01"),  # zigzag 2^64-2: ten bytes
    (INT64_MIN, b"\xff" * 9 + b"\x01"),  # zigzag 2^64-1
]


@pytest.mark.parametrize(("value", "encoded"), VARINT_GOLDEN)
def test_varint_golden(value: int, encoded: bytes) -> None:
    assert encode_varint(value) == encoded
    assert decode_varint(encoded, 0) == (value, len(encoded))
    # decoding at an offset inside a larger buffer, memoryview too
    buf = b"\xaa\xbb" + encoded + b"\xcc"
    assert decode_varint(memoryview(buf), 2) == (value, 2 + len(encoded))


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(int64s, max_size=20))
def test_varint_round_trip_full_int64_range(values: list[int]) -> None:
    buf = b"".join(encode_varint(v) for v in values)
    pos, out = 0, []
    for _ in values:
        v, pos = decode_varint(buf, pos)
        out.append(v)
    assert out == values and pos == len(buf)
    for v in values:
        assert 1 <= len(encode_varint(v)) <= 10


@pytest.mark.parametrize("value", [INT64_MAX + 1, INT64_MIN - 1, 2**70])
def test_encode_varint_rejects_values_outside_int64(value: int) -> None:
    with pytest.raises(ValueError, match="int64"):
        encode_varint(value)


@pytest.mark.parametrize(
    ("data", "position"),
    [
        (b"", 0),  # nothing at all
        (b"\x80", 0),  # continuation bit, then the end
        (b"\xff" * 9, 0),  # nine bytes all saying "more"
        (b"\xff" * 10 + b"\x01", 0),  # eleven bytes
        (b"\xff" * 9 + b"\x02", 0),  # ten bytes, but the 10th carries bit 65
        (b"\xff" * 9 + b"\x7f", 0),
    ],
)
def test_decode_varint_errors(data: bytes, position: int) -> None:
    with pytest.raises(RecordDecodeError) as e:
        decode_varint(data, 0)
    assert e.value.position == position


# ---------------------------------------------------------------- records: golden bytes


def test_record_golden_from_real_remote_segment() -> None:
    # The records block of 3676-7429-77-1-v1.log.1 (bytes 61..77): one record left after compaction.
    block = (
        b"\x1e"  # length: varint 15 (bytes after this field)
        + b"\x00"  # attributes: int8 0
        + b"\x00"  # timestampDelta: varint 0
        + b"\x92\x04"  # offsetDelta: varint 265 (== last_offset_delta: the batch's last record survived)
        + b"\x01"  # keyLength: varint -1 -> null key
        + b"\x10"  # valueLength: varint 8
        + bytes.fromhex("c5cfc5a6a6f517fa")  # value
        + b"\x00"  # headerCount: varint 0
    )
    assert len(block) == 16
    (rec,) = decode_records(block, 1)
    assert rec == Record(
        offset_delta=265, timestamp_delta=0, key=None, value=bytes.fromhex("c5cfc5a6a6f517fa"), headers=()
    )
    assert encode_record(rec) == block
    assert encode_records([rec]) == block


def test_record_golden_hand_built_with_headers() -> None:
    rec = Record(
        offset_delta=3,
        timestamp_delta=-2,
        key=b"",  # empty, not null
        value=None,
        headers=(RecordHeader("trace", b"\x01\x02"), RecordHeader("h", None)),
        attributes=0,
    )
    body = (
        struct.pack(">b", 0)  # attributes
        + b"\x03"  # timestampDelta -2 (zigzag 3)
        + b"\x06"  # offsetDelta 3 (zigzag 6)
        + b"\x00"  # keyLength 0: empty key
        + b"\x01"  # valueLength -1: null value (a tombstone)
        + b"\x04"  # headerCount 2
        + b"\x0a" + b"trace"  # header key length 5, utf-8 key
        + b"\x04" + b"\x01\x02"  # header value length 2, value
        + b"\x02" + b"h"  # header key length 1
        + b"\x01"  # header value length -1: null header value
    )
    encoded = encode_varint(len(body)) + body
    assert encode_record(rec) == encoded
    assert decode_records(encoded, 1) == [rec]


def test_null_and_empty_are_distinct() -> None:
    recs = [
        Record(offset_delta=0, timestamp_delta=0, key=None, value=b""),
        Record(offset_delta=1, timestamp_delta=0, key=b"", value=None),
    ]
    assert decode_records(encode_records(recs), 2) == recs


def test_record_attributes_survive() -> None:
    rec = Record(offset_delta=0, timestamp_delta=0, key=None, value=b"v", attributes=-1)
    assert decode_records(encode_record(rec), 1)[0].attributes == -1


@given(record_lists(max_records=8), st.data())
def test_columns_hold_the_records_by_field(recs: list[Record], data: st.DataObject) -> None:
    """The columns the export builds Arrow arrays from are the hand-written records field by field (headers
    flattened in record order), and ``take`` keeps exactly the rows asked for with their headers."""
    cols = decode_record_columns(encode_records(recs), len(recs))
    assert cols.offset_deltas == [r.offset_delta for r in recs]
    assert cols.timestamp_deltas == [r.timestamp_delta for r in recs]
    assert (cols.keys, cols.values) == ([r.key for r in recs], [r.value for r in recs])
    assert cols.header_counts == [len(r.headers) for r in recs]
    assert list(zip(cols.header_keys, cols.header_values, strict=True)) == \
        [(h.key, h.value) for r in recs for h in r.headers]
    rows = data.draw(st.lists(st.integers(0, len(recs) - 1), unique=True))
    picked = cols.take(rows)
    assert picked.header_counts == [len(recs[i].headers) for i in rows]
    assert picked.header_keys == [h.key for i in rows for h in recs[i].headers]
    assert picked.records() == [recs[i] for i in rows]


def test_multi_byte_varints_in_every_field() -> None:
    """Deltas, lengths and header counts past one varint byte take the slow path and decode the same."""
    rec = Record(offset_delta=300, timestamp_delta=-(2**40), key=b"k" * 200, value=b"v" * 70_000,
                 headers=tuple(RecordHeader(f"h{i}", b"x" * 100) for i in range(70)), attributes=-128)
    assert decode_records(encode_record(rec) + encode_record(rec), 2) == [rec, rec]


# ---------------------------------------------------------------- records: errors


def _rec(body: bytes) -> bytes:
    return encode_varint(len(body)) + body


@pytest.mark.parametrize(
    ("block", "count", "match"),
    [
        (b"\x0a\x00", 1, "runs past the batch"),  # length 5, one byte present
        (b"\x00", 1, "is empty"),  # length 0
        (b"\x01", 1, "runs past the batch"),  # length -1
        (_rec(b"\x00\x00\x00\x01\x01\x00") + b"\x00", 1, "bytes left"),  # a trailing byte after the only record
        (_rec(b"\x00\x00\x00\x01\x01\x00\x00"), 1, "trailing"),  # a byte after the headers inside the record
        (_rec(b"\x00\x00\x00\x03\x01\x00"), 1, "length -2"),  # keyLength -2
        (_rec(b"\x00\x00\x00\x14ab\x01\x00"), 1, "key length 10"),  # key longer than the record
        (_rec(b"\x00\x00\x00\x01\x01\x01"), 1, "headers"),  # headerCount -1
        (_rec(b"\x00\x00\x00\x01\x01\x02\x01\x00"), 1, "null header key"),
        (_rec(b"\x00\x00\x00\x01\x01\x02\x02\xff\x00"), 1, "UTF-8"),  # header key b"\xff"
        (_rec(b"\x00\x00\x00\x01\x01\x00"), 2, "varint runs past"),  # record_count says 2, one present
    ],
)
def test_decode_records_errors(block: bytes, count: int, match: str) -> None:
    with pytest.raises(RecordDecodeError, match=match) as e:
        decode_records(block, count)
    assert e.value.position is not None and 0 <= e.value.position <= len(block)


def test_decode_zero_records() -> None:
    assert decode_records(b"", 0) == []
    with pytest.raises(RecordDecodeError, match="bytes left"):
        decode_records(b"\x00", 0)


@settings(max_examples=examples(150), deadline=None)
@given(record_lists())
def test_records_round_trip(records: list[Record]) -> None:
    block = encode_records(records)
    assert decode_records(block, len(records)) == records
    assert decode_records(memoryview(block), len(records)) == records


@settings(max_examples=examples(400), deadline=None)
@given(st.binary(max_size=200), st.integers(-3, 40))
def test_decode_records_arbitrary_bytes_only_format_errors(data: bytes, count: int) -> None:
    try:
        out = decode_records(data, count)
    except FormatError:
        return
    assert len(out) == max(count, 0)


@settings(max_examples=examples(200), deadline=None)
@given(record_lists(), st.data())
def test_decode_records_mutated_only_format_errors(records: list[Record], data: st.DataObject) -> None:
    block = bytearray(encode_records(records))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(block) - 1))
        block[i] = data.draw(st.integers(0, 255))
    with contextlib.suppress(FormatError):
        decode_records(bytes(block), len(records))


# ---------------------------------------------------------------- compression


PAYLOAD = encode_records(
    [Record(offset_delta=i, timestamp_delta=i, key=b"k%d" % i, value=b"v" * (i * 7)) for i in range(50)]
)


def test_compress_codec_values() -> None:
    assert decompress(1, compress(1, PAYLOAD)) == PAYLOAD  # the attribute bits as a plain int work too
    for bad in (5, 6, 7, -1):
        with pytest.raises(CompressionError, match=f"unknown compression codec {bad}"):
            compress(bad, b"x")


@pytest.mark.parametrize("codec", list(Compression))
def test_compress_round_trip_every_codec(codec: Compression) -> None:
    for data in (b"", b"x", PAYLOAD, bytes(range(256)) * 300):
        packed = compress(codec, data)
        assert decompress(codec, packed) == data
        assert decompress(int(codec), memoryview(packed)) == data


def test_compressed_framing_golden() -> None:
    # gzip: RFC 1952 magic 1f 8b, method 8 (deflate)
    assert compress(Compression.GZIP, PAYLOAD)[:3] == b"\x1f\x8b\x08"
    assert gzip.decompress(compress(Compression.GZIP, PAYLOAD)) == PAYLOAD  # the standard library agrees
    # lz4: the LZ4 *frame* format (KIP-57), magic 0x184D2204 little-endian
    assert compress(Compression.LZ4, PAYLOAD)[:4] == struct.pack("<I", 0x184D2204)
    # zstd: frame magic 0xFD2FB528 little-endian
    assert compress(Compression.ZSTD, PAYLOAD)[:4] == struct.pack("<I", 0xFD2FB528)
    # snappy: the xerial (snappy-java) framing that Java producers write and Redpanda expects
    packed = compress(Compression.SNAPPY, PAYLOAD)
    assert packed[:16] == (
        b"\x82SNAPPY\x00"  # magic: 0x82 'SNAPPY' 0x00
        + struct.pack(">i", 1)  # version 1
        + struct.pack(">i", 1)  # minimum compatible version 1
    )
    (block_len,) = struct.unpack_from(">i", packed, 16)  # then [i32 BE length][raw snappy block]...
    assert len(packed) == 20 + block_len
    assert bytes(cramjam.snappy.decompress_raw(packed[20:])) == PAYLOAD


def test_xerial_snappy_splits_into_32k_blocks() -> None:
    data = bytes(range(256)) * 520  # 133120 bytes -> 5 blocks of at most 32 KiB uncompressed
    packed = compress(Compression.SNAPPY, data)
    pos, blocks = 16, 0
    while pos < len(packed):
        (n,) = struct.unpack_from(">i", packed, pos)
        assert len(bytes(cramjam.snappy.decompress_raw(packed[pos + 4 : pos + 4 + n]))) <= 32 * 1024
        pos += 4 + n
        blocks += 1
    assert blocks == 5 and pos == len(packed)
    assert decompress(Compression.SNAPPY, packed) == data


def test_raw_snappy_is_read_too() -> None:
    # librdkafka (and so many non-Java producers) send a bare snappy block without the xerial framing
    raw = bytes(cramjam.snappy.compress_raw(PAYLOAD))
    assert raw[:8] != b"\x82SNAPPY\x00"
    assert decompress(Compression.SNAPPY, raw) == PAYLOAD


def test_a_snappy_block_declaring_more_than_snappy_can_encode_fails_before_allocating() -> None:
    """A raw snappy block starts with its uncompressed length; a copy element writes at most 64 bytes for 3
    of input, so a declaration past ~21x the block is damage (before: buffers grown up to 256 MiB first)."""
    densest = bytes(cramjam.snappy.compress_raw(b"\0" * 5_000_000))  # snappy's best ratio, ~21.3x
    assert decompress(Compression.SNAPPY, densest) == b"\0" * 5_000_000
    claims_256_mib = b"\xff\xff\xff\x7f" + bytes(range(50))
    tracemalloc.start()
    try:
        with pytest.raises(CompressionError, match="declares 268435455 bytes from 54"):
            decompress(Compression.SNAPPY, claims_256_mib)
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()
    with pytest.raises(CompressionError, match="more than 1000 bytes"):  # a plausible size above the limit
        decompress(Compression.SNAPPY, bytes(cramjam.snappy.compress_raw(b"\0" * 2000)), max_size=1000)


@pytest.mark.parametrize(
    ("codec", "data", "match"),
    [
        (Compression.GZIP, b"not gzip", "gzip"),
        (Compression.SNAPPY, b"\xff\xff\xff\xff\x0f", "snappy"),
        (Compression.LZ4, b"\x04\x22\x4d\x18garbage", "lz4"),
        (Compression.ZSTD, b"\x28\xb5\x2f\xfdgarbage", "zstd"),
        (Compression.SNAPPY, b"\x82SNAPPY\x00\x00\x00", "header cut short"),  # xerial magic, 10 bytes
        (Compression.SNAPPY, b"\x82SNAPPY\x00" + b"\x00\x00\x00\x01" * 2 + b"\x00\x00", "block header"),
        (Compression.SNAPPY, b"\x82SNAPPY\x00" + b"\x00\x00\x00\x01" * 2 + b"\x00\x00\x00\x09ab", "runs past"),
        (5, b"", "unknown compression codec 5"),
        (7, b"abc", "unknown compression codec 7"),
    ],
)
def test_decompress_errors(codec: int, data: bytes, match: str) -> None:
    with pytest.raises(CompressionError, match=match):
        decompress(codec, data)


@settings(max_examples=examples(300), deadline=None)
@given(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7]), st.binary(max_size=120))
def test_decompress_arbitrary_bytes_only_compression_errors(codec: int, data: bytes) -> None:
    try:
        out = decompress(codec, data)
    except CompressionError:
        return
    assert isinstance(out, bytes)


@settings(max_examples=examples(100), deadline=None)
@given(st.sampled_from(list(Compression)), st.binary(max_size=3000))
def test_compress_round_trip_property(codec: Compression, data: bytes) -> None:
    assert decompress(codec, compress(codec, data)) == data


# found by tests/test_fuzz.py (records_block): a damaged zstd frame that libzstd answers with "Destination
# buffer is too small" at every size; the buffer grew to the 256 MiB limit (~0.4 s of CPU per block) first
DAMAGED_ZSTD = bytes.fromhex("28b52ffd2057050200e4021c00000001107b226e223a20307d00b1b148000e02086b332d3120317d04"
                             "02680276086e756c6c01e7001c043230320006006003c8170c8654a82ba4a4a4a4a4a465c3c403")


def test_a_damaged_block_that_asks_for_more_room_is_refused_at_what_its_size_can_produce() -> None:
    """Output beyond what the input's codec can produce per byte (zstd 32768:1) is damage, not a bigger
    buffer's worth: refused as data that does not decompress, long before the limit."""
    with pytest.raises(CompressionError, match=r"does not decompress: corrupt input: it claims more output than "
                                               r"80 bytes of this codec can produce \(at most 2622464\)"):
        decompress(Compression.ZSTD, DAMAGED_ZSTD)


@pytest.mark.parametrize("codec", [Compression.GZIP, Compression.LZ4, Compression.ZSTD])
def test_the_most_compressible_data_still_decompresses_whole(codec: Compression) -> None:
    """The per-byte bounds (deflate 1032, LZ4 255, zstd 32768) are the formats' own: zeros, which each codec
    compresses about as far as it can (1029, 239 and 32451 at 64 MiB here), come back whole."""
    zeros = b"\0" * (16 * 1024 * 1024)
    packed = compress(codec, zeros)
    assert len(zeros) / len(packed) > {Compression.GZIP: 1000, Compression.LZ4: 230, Compression.ZSTD: 30000}[codec]
    assert decompress(codec, packed) == zeros


@pytest.mark.parametrize("codec", [Compression.GZIP, Compression.SNAPPY, Compression.LZ4, Compression.ZSTD])
def test_decompression_is_bounded(codec: Compression) -> None:
    """A block that inflates past the limit is a CompressionError (a bomb never exhausts memory); output
    of exactly the limit, and output much larger than the first buffer guess, decode whole."""
    limit = 4 * 1024 * 1024
    exact = bytes(range(256)) * (limit // 256)  # exactly the limit
    assert decompress(codec, compress(codec, exact), max_size=limit) == exact
    zeros = b"\0" * (limit + 1)  # compresses ~1000x: far beyond the 8x first guess
    with pytest.raises(CompressionError, match="more than"):
        decompress(codec, compress(codec, zeros), max_size=limit)
    assert decompress(codec, compress(codec, zeros)) == zeros  # the default limit is far higher
    with pytest.raises(CompressionError, match=r"does not decompress|runs past"):  # damaged, not too big
        decompress(codec, compress(codec, exact)[:-7], max_size=limit)
