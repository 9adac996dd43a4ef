"""Specification of segment_format.segment: zero-copy batch iteration, the three tails, ranged reads, writer.

The golden local segment is the start of Redpanda's ``tools/rp_storage_tool/resources/test/test_segment.bin``
(a 4096-byte file: a raft_configuration batch at offset 4, raft_data batches from offset 5, then the zero
bytes of the fallocated tail). Only its first two batches are transcribed here, field by field; the tail
handling follows ``tools/offline_log_viewer/storage.py`` (``Batch.from_stream`` stops at an all-zero
header or a short read).
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_format.batch import HEADER_SIZE, BatchType, build_batch, decode_header, encode_header
from segment_format.errors import CrcMismatchError, FormatError
from segment_format.records import Compression, Record, RecordHeader
from segment_format.segment import BatchReader, SegmentWriter, Tail, iter_batches
from tests.hypothesis_support import examples

# ---------------------------------------------------------------- golden: test_segment.bin, bytes 0..349

CONFIG_VALUE = (  # adl-encoded raft group_configuration, as Redpanda 22.x wrote it (not decoded by us)
    bytes.fromhex("04")  # configuration version
    + bytes.fromhex("0100000000000000")
    + bytes.fromhex("0100000000000000")
    + struct.pack("<i", 13) + b"192.168.1.100" + struct.pack("<H", 9092)  # kafka listener host:port
    + struct.pack("<i", 13) + b"192.168.1.100" + struct.pack("<H", 33145)  # rpc host:port
    + bytes.fromhex("00040000001000000" "0dc01000000000000000000000100000000000000")
    + bytes.fromhex("2e0000000000000000000000002e0000000000000000")
)
assert len(CONFIG_VALUE) == 106

CONFIG_BATCH = (
    struct.pack("<I", 0xAA4E9C92)  # header_crc
    + struct.pack("<i", 176)  # size_bytes: 61 + 115
    + struct.pack("<q", 4)  # base_offset 4
    + struct.pack("<b", 2)  # type: raft_configuration
    + struct.pack("<I", 0x4E36657F)  # crc (Kafka CRC of the records)
    + struct.pack("<h", 0)  # attrs: no codec, CreateTime
    + struct.pack("<i", 0)  # last_offset_delta
    + struct.pack("<q", 1667070813398)  # first_timestamp
    + struct.pack("<q", 1667070813398)  # max_timestamp
    + struct.pack("<q", -1)  # producer_id: none
    + struct.pack("<h", -1)  # producer_epoch
    + struct.pack("<i", -1)  # base_sequence
    + struct.pack("<i", 1)  # record_count
    # records
    + b"\xe2\x01"  # record length 113
    + b"\x00\x00\x00"  # attributes, timestampDelta 0, offsetDelta 0
    + b"\x00"  # keyLength 0: an empty (not null) key
    + b"\xd4\x01" + CONFIG_VALUE  # valueLength 106, value
    + b"\x00"  # headerCount 0
)
DATA_BATCH = (
    struct.pack("<I", 0x6D476845)  # header_crc
    + struct.pack("<i", 173)  # size_bytes: 61 + 112
    + struct.pack("<q", 5)  # base_offset 5
    + struct.pack("<b", 1)  # type: raft_data
    + struct.pack("<I", 0x7F83B651)  # crc
    + struct.pack("<h", 0)  # attrs
    + struct.pack("<i", 0)  # last_offset_delta
    + struct.pack("<q", 1667070816964)  # first_timestamp
    + struct.pack("<q", 1667070816964)  # max_timestamp
    + struct.pack("<q", 6001)  # producer_id (idempotent producer)
    + struct.pack("<h", 0)  # producer_epoch
    + struct.pack("<i", 0)  # base_sequence
    + struct.pack("<i", 1)  # record_count
    # records
    + b"\xdc\x01"  # record length 110
    + b"\x00\x00\x00"  # attributes, timestampDelta, offsetDelta
    + b"\x06" + b"KEY"  # key
    + b"\xc8\x01" + bytes(range(100))  # value: 100 bytes 00..63
    + b"\x00"  # no headers
)
# first bytes of the file as its hex dump shows them (a spot check of the transcription)
CONFIG_BATCH_HEAD_HEX = "929c4eaab00000000400000000000000027f65364e000000000000d6e4292584010000"
DATA_BATCH_HEAD_HEX = "4568476dad00000005000000000000000151b6837f000000000000c4f2292584010000"

LOCAL_SEGMENT = CONFIG_BATCH + DATA_BATCH + bytes(4096 - 349)  # the fallocated zero tail


def test_transcription_spot_checks() -> None:
    assert CONFIG_BATCH.hex().startswith(CONFIG_BATCH_HEAD_HEX) and len(CONFIG_BATCH) == 176
    assert DATA_BATCH.hex().startswith(DATA_BATCH_HEAD_HEX) and len(DATA_BATCH) == 173


def test_local_segment_with_zero_tail() -> None:
    reader = iter_batches(LOCAL_SEGMENT)  # verifies both CRCs of each batch
    batches = list(reader)
    assert reader.tail is Tail.ZERO_FILLED
    assert reader.position == reader.absolute_position == 349
    assert [b.position for b in batches] == [0, 176]
    cfg, data = batches
    assert (cfg.header.base_offset, cfg.header.type, cfg.size) == (4, BatchType.raft_configuration, 176)
    assert (data.header.base_offset, data.header.type, data.size) == (5, BatchType.raft_data, 173)
    assert (data.header.producer_id, data.header.first_timestamp) == (6001, 1667070816964)
    assert cfg.decode_records() == [Record(offset_delta=0, timestamp_delta=0, key=b"", value=CONFIG_VALUE)]
    assert data.decode_records() == [Record(offset_delta=0, timestamp_delta=0, key=b"KEY", value=bytes(range(100)))]
    # zero copy: the records are views into the file buffer
    assert cfg.records.obj is LOCAL_SEGMENT and data.records.obj is LOCAL_SEGMENT
    assert bytes(data.records) == DATA_BATCH[61:]


def test_build_batch_reproduces_the_data_batch() -> None:
    assert (
        build_batch(
            [Record(offset_delta=0, timestamp_delta=0, key=b"KEY", value=bytes(range(100)))],
            base_offset=5,
            first_timestamp=1667070816964,
            producer_id=6001,
            producer_epoch=0,
            base_sequence=0,
        )
        == DATA_BATCH
    )


# ---------------------------------------------------------------- tails


def test_tail_end_and_empty() -> None:
    r = iter_batches(CONFIG_BATCH + DATA_BATCH)
    assert len(list(r)) == 2 and r.tail is Tail.END
    r = iter_batches(b"")
    assert list(r) == [] and r.tail is Tail.END


@pytest.mark.parametrize("cut", [1, 30, 60, 61, 62, 175, 176 + 1, 176 + 61, 348])
def test_tail_truncated(cut: int) -> None:
    r = iter_batches((CONFIG_BATCH + DATA_BATCH)[:cut])
    got = list(r)
    assert r.tail is Tail.TRUNCATED
    assert len(got) == (1 if cut >= 176 else 0)
    assert r.position == (176 if cut >= 176 else 0)  # where a continuation read must restart


@pytest.mark.parametrize("zeros", [1, 10, 60, 61, 62, 5000])
def test_tail_zero_filled_any_length(zeros: int) -> None:
    r = iter_batches(CONFIG_BATCH + bytes(zeros))
    assert len(list(r)) == 1 and r.tail is Tail.ZERO_FILLED and r.position == 176


def test_short_nonzero_remainder_is_truncated() -> None:
    r = iter_batches(CONFIG_BATCH + b"\x00\x00\x01")
    assert len(list(r)) == 1 and r.tail is Tail.TRUNCATED


def test_start_and_base_position() -> None:
    r = iter_batches(LOCAL_SEGMENT, start=176, base_position=10_000)
    (b,) = list(r)
    assert b.position == 10_176 and b.header.base_offset == 5
    assert r.absolute_position == 10_349 and r.base_position == 10_000


# ---------------------------------------------------------------- corruption


def test_header_corruption_raises_with_object_position() -> None:
    bad = bytearray(CONFIG_BATCH + DATA_BATCH)
    bad[176 + 30] ^= 0x04  # first_timestamp of the second batch
    r = iter_batches(bytes(bad), base_position=4096)
    assert next(r).header.base_offset == 4
    with pytest.raises(CrcMismatchError) as e:
        next(r)
    assert (e.value.which, e.value.position, e.value.offset) == ("header_crc", 4096 + 176, 5)
    assert f"byte {4096 + 176}" in str(e.value)


def test_records_corruption_raises_crc() -> None:
    bad = bytearray(CONFIG_BATCH + DATA_BATCH)
    bad[176 + 61 + 20] ^= 0x80
    with pytest.raises(CrcMismatchError) as e:
        list(iter_batches(bytes(bad), base_position=7))
    assert (e.value.which, e.value.position, e.value.offset) == ("crc", 7 + 176, 5)
    # without the records check the batch is returned as stored
    assert len(list(iter_batches(bytes(bad), verify_crc=False))) == 2


def test_size_below_header_is_an_error_not_a_loop() -> None:
    fields = dict(size_bytes=0, base_offset=9, type=1, crc=0, attrs=0, last_offset_delta=0, first_timestamp=0,
                  max_timestamp=0, record_count=0)  # fmt: skip
    for size in (0, 60, -5):
        hdr = encode_header(**{**fields, "size_bytes": size})  # a correct header_crc over a bad size
        with pytest.raises(FormatError, match="below 61") as e:
            list(iter_batches(CONFIG_BATCH + hdr + bytes(100)))
        assert e.value.position == 176 and e.value.offset == 9
        # with both checks off nothing else stops a size of 0 from yielding the same batch forever
        with pytest.raises(FormatError, match="below 61"):
            list(BatchReader(CONFIG_BATCH + hdr + bytes(100), verify_header=False, verify_crc=False))


def test_reader_without_header_check() -> None:
    bad = bytearray(CONFIG_BATCH)
    bad[40] ^= 1  # max_timestamp
    (b,) = list(BatchReader(bytes(bad), verify_header=False, verify_crc=False))
    assert b.header.header_crc != b.header.computed_header_crc()


# ---------------------------------------------------------------- writer


def test_segment_writer() -> None:
    w = SegmentWriter()
    assert w.append(CONFIG_BATCH) == 0
    assert w.append(DATA_BATCH) == 176
    assert w.size == 349
    assert w.getvalue() == CONFIG_BATCH + DATA_BATCH
    assert w.getvalue(pad_to=4096) == LOCAL_SEGMENT
    assert w.getvalue(pad_to=10) == CONFIG_BATCH + DATA_BATCH  # never shortened


# ---------------------------------------------------------------- properties


# built once: a strategy made inside a draw is built (and checked for emptiness) anew for every value drawn
_KEY = st.none() | st.binary(max_size=10)
_VALUE = st.none() | st.binary(max_size=60)
_HEADERS = st.lists(st.builds(RecordHeader, st.text(max_size=4), st.none() | st.binary(max_size=4)), max_size=2)
_BATCH_TYPE = st.sampled_from([BatchType.raft_data, BatchType.raft_configuration, BatchType.archival_metadata,
                               BatchType.tx_fence])
_COMPRESSION = st.sampled_from(list(Compression))


@st.composite
def segments(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """A segment of 1..6 batches of mixed types and codecs; returns it with the batch positions."""
    w = SegmentWriter()
    positions = []
    offset = draw(st.integers(0, 10**6))
    for _ in range(draw(st.integers(1, 6))):
        n = draw(st.integers(1, 4))
        recs = [
            Record(
                offset_delta=i,
                timestamp_delta=i,
                key=draw(_KEY),
                value=draw(_VALUE),
                headers=tuple(draw(_HEADERS)),
            )
            for i in range(n)
        ]  # fmt: skip
        batch = build_batch(
            recs,
            base_offset=offset,
            first_timestamp=draw(st.integers(0, 2**41)),
            type=draw(_BATCH_TYPE),
            compression=draw(_COMPRESSION),
        )  # fmt: skip
        positions.append(w.append(batch))
        offset += n
    return w.getvalue(), positions


def _read_chunked(data: bytes, cuts: list[int]) -> tuple[list[tuple[int, int, bytes]], list[Tail]]:
    """Read ``data`` as ranged GETs: each chunk ends at the next cut; a chunk that stops short is re-read
    from the reader's absolute position together with the next range (as a streaming reader would)."""
    out: list[tuple[int, int, bytes]] = []
    tails: list[Tail] = []
    pos = 0
    for end in [*sorted(set(cuts)), len(data)]:
        if end <= pos:
            continue
        chunk = data[pos:end]
        r = iter_batches(chunk, base_position=pos)
        for b in r:
            assert b.records.obj is chunk
            out.append((b.position, b.header.base_offset, bytes(b.records)))
        assert r.tail is not None
        tails.append(r.tail)
        pos = r.absolute_position
    return out, tails


@settings(max_examples=examples(120), deadline=None)
@given(segments(), st.lists(st.integers(0, 5000), max_size=6))
def test_ranged_chunks_equal_whole_buffer(seg: tuple[bytes, list[int]], cuts: list[int]) -> None:
    data, positions = seg
    cuts = [c % (len(data) + 1) for c in cuts]
    whole_reader = iter_batches(data)
    whole = [(b.position, b.header.base_offset, bytes(b.records)) for b in whole_reader]
    assert whole_reader.tail is Tail.END
    assert [p for p, _, _ in whole] == positions
    chunked, tails = _read_chunked(data, cuts)
    assert chunked == whole  # same batches, same absolute positions
    assert tails[-1] is Tail.END
    for t in tails[:-1]:
        assert t in (Tail.END, Tail.TRUNCATED, Tail.ZERO_FILLED)


@settings(max_examples=examples(120), deadline=None)
@given(segments(), st.data())
def test_cut_inside_a_batch_is_truncated(seg: tuple[bytes, list[int]], data: st.DataObject) -> None:
    raw, positions = seg
    cut = data.draw(st.integers(1, len(raw) - 1))
    if cut in positions:
        return
    r = iter_batches(raw[:cut])
    got = list(r)
    last_start = max(p for p in positions if p < cut)
    assert [b.position for b in got] == [p for p in positions if p < last_start]
    assert r.position == last_start
    # A cut inside a header whose first bytes happen to be zero cannot be told from a zero tail
    # shorter than a header; every other cut says TRUNCATED.
    partial = raw[last_start:cut]
    expected = Tail.ZERO_FILLED if len(partial) < HEADER_SIZE and not any(partial) else Tail.TRUNCATED
    assert r.tail is expected


@settings(max_examples=examples(150), deadline=None)
@given(segments(), st.data())
def test_bit_flip_names_the_batch(seg: tuple[bytes, list[int]], data: st.DataObject) -> None:
    raw, positions = seg
    i = data.draw(st.integers(0, len(raw) - 1))
    bad = bytearray(raw)
    bad[i] ^= 1 << data.draw(st.integers(0, 7))
    start = max(p for p in positions if p <= i)
    base = data.draw(st.integers(0, 10**9))
    with pytest.raises(CrcMismatchError) as e:
        list(iter_batches(bytes(bad), base_position=base))
    assert e.value.position == base + start
    if i - start < HEADER_SIZE:
        assert e.value.which == "header_crc"
        assert e.value.offset == decode_header(bytes(bad), start, verify=False).base_offset
        if not 8 <= i - start < 16:  # outside the base_offset field the offset is the batch's own
            assert e.value.offset == decode_header(raw, start).base_offset
    else:
        assert e.value.which == "crc"
        assert e.value.offset == decode_header(raw, start).base_offset


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=400), st.integers(0, 10**6))
def test_arbitrary_bytes_only_format_errors(data: bytes, base: int) -> None:
    try:
        r = iter_batches(data, base_position=base)
        for b in r:
            b.decode_records()
    except FormatError:
        return
    assert r.tail is not None


@settings(max_examples=examples(150), deadline=None)
@given(segments(), st.data())
def test_mutated_segments_only_format_errors(seg: tuple[bytes, list[int]], data: st.DataObject) -> None:
    raw = bytearray(seg[0])
    for _ in range(data.draw(st.integers(1, 5))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    verify = data.draw(st.booleans())
    try:
        for b in BatchReader(bytes(raw[:cut]), verify_crc=verify, verify_header=verify):
            b.decode_records()
    except FormatError:
        pass
