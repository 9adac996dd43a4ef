"""Specification of segment_format.batch: the 61-byte Redpanda header, the Kafka v2 wire header, both CRCs.

Layouts from Redpanda's sources: ``src/v/model/record.h`` (record_batch_header, packed size 61),
``src/v/storage/record_batch_utils.cc`` (header written little-endian), ``src/v/model/record_utils.cc``
(``internal_header_only_crc``: crc32c of the LE header bytes 4..61; ``crc_record_batch``: crc32c of the
big-endian attributes..record_count followed by the records, i.e. Kafka's CRC), and
``src/v/kafka/protocol/kafka_batch_adapter.cc`` / ``wire.h`` for the Kafka form. The golden batch is the
real 77-byte remote segment object ``tools/rp_storage_tool/resources/test/3676-7429-77-1-v1.log.1``,
transcribed field by field below (base 3676, committed 7429, 77 bytes, term 1, archiver term 1).
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_format.batch import (
    HEADER_SIZE,
    KAFKA_HEADER,
    OFFSET_TRANSLATOR_TYPES,
    RP_HEADER,
    Attributes,
    Batch,
    BatchHeader,
    BatchType,
    build_batch,
    crc32c,
    decode_header,
    encode_header,
    from_kafka,
    kafka_crc,
    kafka_header,
)
from segment_format.errors import (
    CompressionError,
    CrcMismatchError,
    FormatError,
    RecordDecodeError,
    TruncatedError,
)
from segment_format.records import Compression, Record, RecordHeader, compress, encode_records
from segment_format.segment import iter_batches
from tests.hypothesis_support import examples


def crc32c_reference(data: bytes, crc: int = 0) -> int:
    """Bitwise CRC-32C (Castagnoli, reflected poly 0x82F63B78): independent of the crc32c package."""
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def test_crc32c_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283 == crc32c_reference(b"123456789")
    assert crc32c(b"56789", crc32c(b"1234")) == 0xE3069283  # continuation


# ---------------------------------------------------------------- the real 77-byte segment, field by field

GOLDEN_RECORDS = bytes.fromhex("1e00009204011" "0c5cfc5a6a6f517fa00")  # see test_records.py for the record
GOLDEN_FIELDS = dict(
    size_bytes=77,
    base_offset=7164,
    type=1,  # raft_data
    crc=0xD065DEEB,
    attrs=0x0008,  # timestamp type LogAppendTime, no codec
    last_offset_delta=265,  # 7164 + 265 = 7429, the committed offset in the object name
    first_timestamp=1668768681523,
    max_timestamp=1668768681527,
    producer_id=2,
    producer_epoch=0,
    base_sequence=0,
    record_count=1,  # 266 offsets, one record left: a compacted segment
)
GOLDEN_77 = (
    struct.pack("<I", 0x139048B8)  # header_crc      u32 LE  crc32c(bytes[4:61])
    + struct.pack("<i", 77)  # size_bytes      i32 LE  61 + 16 bytes of records
    + struct.pack("<q", 7164)  # base_offset     i64 LE  Redpanda offset
    + struct.pack("<b", 1)  # type            i8      raft_data
    + struct.pack("<I", 0xD065DEEB)  # crc             u32 LE  Kafka CRC (stored LE, computed over BE)
    + struct.pack("<h", 0x0008)  # attrs           i16 LE  LogAppendTime
    + struct.pack("<i", 265)  # last_offset_delta i32 LE
    + struct.pack("<q", 1668768681523)  # first_timestamp i64 LE  ms
    + struct.pack("<q", 1668768681527)  # max_timestamp   i64 LE  ms
    + struct.pack("<q", 2)  # producer_id     i64 LE
    + struct.pack("<h", 0)  # producer_epoch  i16 LE
    + struct.pack("<i", 0)  # base_sequence   i32 LE
    + struct.pack("<i", 1)  # record_count    i32 LE
    + GOLDEN_RECORDS  # records (Kafka v2 encoding, uncompressed)
)
# the object as the hex dump of the fixture shows it
GOLDEN_77_HEX = (
    "b84890134d000000fc1b00000000000001ebde65d008000901000033"
    "4e5d8a84010000374e5d8a840100000200000000000000000000000000"
    "01000000" + "1e0000920401" + "10c5cfc5a6a6f517fa00"
)


def test_golden_transcription_matches_the_fixture_bytes() -> None:
    assert bytes.fromhex(GOLDEN_77_HEX) == GOLDEN_77
    assert len(GOLDEN_77) == 77


def test_golden_header_decodes_and_both_crcs_verify() -> None:
    h = decode_header(GOLDEN_77)  # verify=True checks header_crc
    assert h == BatchHeader(header_crc=0x139048B8, **GOLDEN_FIELDS)
    # header_crc: crc32c over the 57 LE bytes after the field, independently computed
    assert crc32c_reference(GOLDEN_77[4:61]) == 0x139048B8 == h.computed_header_crc()
    # Kafka CRC: crc32c over BE attrs..record_count, then the records
    be = struct.pack(">hiqqqhii", 0x0008, 265, 1668768681523, 1668768681527, 2, 0, 0, 1)
    assert crc32c_reference(be + GOLDEN_RECORDS) == 0xD065DEEB == kafka_crc(h, GOLDEN_RECORDS)
    batch = Batch(h, memoryview(GOLDEN_77)[61:], 0)
    batch.verify_crc()
    assert batch.size == 77
    (rec,) = batch.decode_records()
    assert (rec.offset_delta, rec.key, rec.value) == (265, None, bytes.fromhex("c5cfc5a6a6f517fa"))


def test_golden_header_properties() -> None:
    h = decode_header(GOLDEN_77)
    assert h.last_offset == 7429
    assert h.records_size == 16
    assert h.compression == Compression.NONE
    assert h.is_log_append_time and not h.is_transactional and not h.is_control
    assert h.type_name == "raft_data"
    assert BatchHeader(**{**GOLDEN_FIELDS, "type": 99}, header_crc=0).type_name == "unknown(99)"


def test_golden_encode_header_reproduces_the_bytes() -> None:
    assert encode_header(**GOLDEN_FIELDS) == GOLDEN_77[:61]
    assert RP_HEADER.size == KAFKA_HEADER.size == HEADER_SIZE == 61


def test_golden_kafka_wire_form() -> None:
    h = decode_header(GOLDEN_77)
    wire = kafka_header(h, base_offset=7164 - 1, leader_epoch=1)  # kafka offset = rp offset - delta (1)
    assert wire == (
        struct.pack(">q", 7163)  # baseOffset            i64 BE  Kafka offset
        + struct.pack(">i", 77 - 12)  # batchLength           i32 BE  bytes after this field
        + struct.pack(">i", 1)  # partitionLeaderEpoch  i32 BE
        + struct.pack(">b", 2)  # magic                 i8      2
        + struct.pack(">I", 0xD065DEEB)  # crc                   u32 BE  the stored CRC, unchanged
        + struct.pack(">h", 0x0008)  # attributes            i16 BE
        + struct.pack(">i", 265)  # lastOffsetDelta       i32 BE
        + struct.pack(">q", 1668768681523)  # firstTimestamp
        + struct.pack(">q", 1668768681527)  # maxTimestamp
        + struct.pack(">q", 2)  # producerId
        + struct.pack(">h", 0)  # producerEpoch
        + struct.pack(">i", 0)  # baseSequence
        + struct.pack(">i", 1)  # recordsCount
    )
    full = wire + GOLDEN_RECORDS
    # Kafka's own check: crc32c of everything from attributes (byte 21) to the end of the batch
    assert crc32c_reference(full[21:]) == 0xD065DEEB
    # and back: the Redpanda form is byte-identical to the object
    assert from_kafka(full, base_offset=7164, type=BatchType.raft_data) == GOLDEN_77


# ---------------------------------------------------------------- test_segment.bin's raft_data batch

# Second batch of tools/rp_storage_tool/resources/test/test_segment.bin (position 176, 173 bytes).
SEG_DATA_RECORDS = (
    b"\xdc\x01"  # length 110
    + b"\x00"  # attributes
    + b"\x00"  # timestampDelta 0
    + b"\x00"  # offsetDelta 0
    + b"\x06" + b"KEY"  # key length 3, key
    + b"\xc8\x01" + bytes(range(100))  # value length 100, value 00 01 .. 63
    + b"\x00"  # no headers
)
SEG_DATA_FIELDS = dict(
    size_bytes=173,
    base_offset=5,
    type=1,
    crc=0x7F83B651,
    attrs=0,
    last_offset_delta=0,
    first_timestamp=1667070816964,
    max_timestamp=1667070816964,
    producer_id=6001,  # an idempotent producer
    producer_epoch=0,
    base_sequence=0,
    record_count=1,
)


def test_build_batch_reproduces_a_real_redpanda_batch() -> None:
    """Our writer produces exactly what Redpanda stored for the same producer input."""
    built = build_batch(
        [Record(offset_delta=0, timestamp_delta=0, key=b"KEY", value=bytes(range(100)))],
        base_offset=5,
        first_timestamp=1667070816964,
        producer_id=6001,
        producer_epoch=0,
        base_sequence=0,
    )
    expected = struct.pack("<I", 0x6D476845) + encode_header(**SEG_DATA_FIELDS)[4:] + SEG_DATA_RECORDS
    assert built == expected
    assert encode_header(**SEG_DATA_FIELDS)[:4] == struct.pack("<I", 0x6D476845)  # header_crc from the file


# ---------------------------------------------------------------- batch types


def test_batch_type_table_matches_record_batch_types_h() -> None:
    expected = {
        "raft_data": 1, "raft_configuration": 2, "controller": 3, "kvstore": 4, "checkpoint": 5,
        "topic_management_cmd": 6, "ghost_batch": 7, "id_allocator": 8, "tx_prepare": 9, "tx_fence": 10,
        "tm_update": 11, "user_management_cmd": 12, "acl_management_cmd": 13, "group_prepare_tx": 14,
        "group_commit_tx": 15, "group_abort_tx": 16, "node_management_cmd": 17,
        "data_policy_management_cmd": 18, "archival_metadata": 19, "cluster_config_cmd": 20,
        "feature_update": 21, "cluster_bootstrap_cmd": 22, "version_fence": 23,
        "tx_tm_hosted_trasactions": 24, "prefix_truncate": 25, "plugin_update": 26, "tx_registry": 27,
        "cluster_recovery_cmd": 28, "compaction_placeholder": 29, "role_management_cmd": 30,
        "client_quota": 31, "data_migration_cmd": 32, "group_fence_tx": 33,
        "partition_properties_update": 34, "datalake_coordinator": 35, "dl_placeholder": 36,
        "dl_stm_command": 37, "datalake_translation_state": 38,
    }  # fmt: skip
    assert {t.name: t.value for t in BatchType} == expected
    # model::offset_translator_batch_types()
    assert frozenset({2, 19, 23, 25, 34, 38}) == OFFSET_TRANSLATOR_TYPES


def test_attribute_bits() -> None:
    assert (Attributes.COMPRESSION_MASK, Attributes.TIMESTAMP_TYPE) == (0x07, 0x08)
    assert (Attributes.TRANSACTIONAL, Attributes.CONTROL, Attributes.DELETE_HORIZON) == (0x10, 0x20, 0x40)


# ---------------------------------------------------------------- build_batch


def test_build_batch_fields() -> None:
    recs = [
        Record(offset_delta=0, timestamp_delta=0, key=b"a", value=b"1"),
        Record(offset_delta=4, timestamp_delta=9, key=None, value=None, headers=(RecordHeader("x", None),)),
    ]
    raw = build_batch(
        recs,
        base_offset=100,
        first_timestamp=1000,
        type=BatchType.tx_fence,
        compression=Compression.ZSTD,
        attrs=Attributes.TRANSACTIONAL | Attributes.CONTROL | Compression.GZIP,  # codec bits of attrs are ignored
        producer_id=7,
        producer_epoch=3,
        base_sequence=11,
        last_offset_delta=6,  # larger than the last record's delta, as after compaction
    )
    h = decode_header(raw)
    assert h.type == BatchType.tx_fence
    assert h.attrs == Attributes.TRANSACTIONAL | Attributes.CONTROL | Compression.ZSTD
    assert (h.last_offset_delta, h.record_count, h.first_timestamp, h.max_timestamp) == (6, 2, 1000, 1009)
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (7, 3, 11)
    assert h.size_bytes == len(raw)
    (b,) = iter_batches(raw)
    assert b.decode_records() == recs


def test_build_batch_explicit_max_timestamp_and_empty() -> None:
    raw = build_batch([Record(offset_delta=0, timestamp_delta=5, key=None, value=b"")], base_offset=0,
                      first_timestamp=10, max_timestamp=99)  # fmt: skip
    assert decode_header(raw).max_timestamp == 99
    with pytest.raises(ValueError, match="at least one record"):
        build_batch([], base_offset=0, first_timestamp=0)


# ---------------------------------------------------------------- decode_header / from_kafka errors


def test_decode_header_errors() -> None:
    with pytest.raises(TruncatedError) as t:
        decode_header(GOLDEN_77[:60])
    assert t.value.position == 0
    with pytest.raises(TruncatedError) as t:
        decode_header(GOLDEN_77, 20, base_position=1000)
    assert t.value.position == 1020
    bad = bytearray(GOLDEN_77)
    bad[30] ^= 0x01
    with pytest.raises(CrcMismatchError) as e:
        decode_header(b"\x00" * 5 + bytes(bad), 5, base_position=100)
    assert (e.value.which, e.value.position, e.value.offset) == ("header_crc", 105, 7164)
    assert e.value.expected == 0x139048B8 and e.value.actual == crc32c(bytes(bad[4:61]))
    assert "byte 105" in str(e.value) and "offset 7164" in str(e.value)
    # a header that is not checked is decoded as stored
    assert decode_header(bytes(bad), verify=False).first_timestamp != GOLDEN_FIELDS["first_timestamp"]
    # a size below the header size, with a correct header_crc
    small = encode_header(**{**GOLDEN_FIELDS, "size_bytes": 60})
    with pytest.raises(FormatError, match="below 61"):
        decode_header(small)


def test_from_kafka_errors() -> None:
    wire = kafka_header(decode_header(GOLDEN_77), base_offset=0) + GOLDEN_RECORDS
    with pytest.raises(TruncatedError):
        from_kafka(wire[:60], base_offset=0)
    with pytest.raises(TruncatedError, match="batchLength"):
        from_kafka(wire[:-1], base_offset=0)
    magic1 = wire[:16] + b"\x01" + wire[17:]
    with pytest.raises(FormatError, match="magic 1"):
        from_kafka(magic1, base_offset=0)
    flipped = wire[:-2] + bytes([wire[-2] ^ 0x40]) + wire[-1:]
    with pytest.raises(CrcMismatchError) as e:
        from_kafka(flipped, base_offset=0)
    assert e.value.which == "crc"
    assert from_kafka(flipped, base_offset=0, verify=False)[61:] == flipped[61:]
    # trailing bytes after the batch (the next batch in a produce request) are not part of it
    assert from_kafka(wire + b"next batch", base_offset=7164) == GOLDEN_77


def test_decode_records_errors_name_the_batch() -> None:
    bad_records = b"\x0a\x00"  # a record claiming 5 bytes
    h = BatchHeader(**{**GOLDEN_FIELDS, "size_bytes": 63}, header_crc=0)
    with pytest.raises(RecordDecodeError) as e:
        Batch(h, memoryview(bad_records), 1000).decode_records()
    assert (e.value.offset, e.value.position) == (7164, 1061)  # object position of the bad record
    zh = BatchHeader(**{**GOLDEN_FIELDS, "attrs": Compression.ZSTD, "size_bytes": 63}, header_crc=0)
    with pytest.raises(CompressionError) as c:
        Batch(zh, memoryview(b"\x00\x00"), 1000).decode_records()
    assert (c.value.offset, c.value.position) == (7164, 1061)
    # a valid zstd frame holding garbage records: position = start of the records block
    payload = compress(Compression.ZSTD, b"\x0a\x00")
    zh = BatchHeader(**{**GOLDEN_FIELDS, "attrs": Compression.ZSTD, "size_bytes": 61 + len(payload)}, header_crc=0)
    with pytest.raises(RecordDecodeError, match="decompressed") as r:
        Batch(zh, memoryview(payload), 1000).decode_records()
    assert (r.value.offset, r.value.position) == (7164, 1061)


# ---------------------------------------------------------------- properties

maybe_bytes = st.none() | st.binary(max_size=30)
rec_headers = st.lists(
    st.builds(RecordHeader, st.text(max_size=6), st.none() | st.binary(max_size=8)), max_size=2
).map(tuple)


@st.composite
def record_lists(draw: st.DrawFn) -> list[Record]:
    n = draw(st.integers(1, 5))
    deltas = sorted(draw(st.lists(st.integers(0, 1000), min_size=n, max_size=n, unique=True)))
    return [
        Record(
            offset_delta=d,
            timestamp_delta=draw(st.integers(0, 10**6)),
            key=draw(maybe_bytes),
            value=draw(maybe_bytes),
            headers=draw(rec_headers),
        )
        for d in deltas
    ]


batch_kwargs = st.fixed_dictionaries(
    {
        "base_offset": st.integers(0, 2**62),
        "first_timestamp": st.integers(-1, 2**45),
        "type": st.sampled_from(list(BatchType)),
        "compression": st.sampled_from(list(Compression)),
        "attrs": st.sampled_from([0, Attributes.TIMESTAMP_TYPE, Attributes.TRANSACTIONAL,
                                  Attributes.TRANSACTIONAL | Attributes.CONTROL]),
        "producer_id": st.integers(-1, 2**40),
        "producer_epoch": st.integers(-1, 2**15 - 1),
        "base_sequence": st.integers(-1, 2**31 - 1),
    }
)  # fmt: skip


@settings(max_examples=examples(150), deadline=None)
@given(record_lists(), batch_kwargs)
def test_batch_round_trip_every_codec_type_and_attrs(records: list[Record], kw: dict[str, int]) -> None:
    raw = build_batch(records, **kw)  # type: ignore[arg-type]
    (b,) = iter_batches(raw)  # verifies header_crc and the Kafka CRC
    h = b.header
    assert h.header_crc == crc32c_reference(raw[4:61])
    assert h.crc == crc32c_reference(struct.pack(">hiqqqhii", *RP_HEADER.unpack_from(raw)[5:]) + raw[61:])
    assert (h.base_offset, h.type, h.compression) == (kw["base_offset"], kw["type"], kw["compression"])
    assert h.attrs & ~Attributes.COMPRESSION_MASK == kw["attrs"]
    assert h.record_count == len(records) and h.last_offset_delta == records[-1].offset_delta
    assert b.decode_records() == records
    if kw["compression"] == Compression.NONE:
        assert bytes(b.records) == encode_records(records)


@settings(max_examples=examples(150), deadline=None)
@given(record_lists(), batch_kwargs, st.integers(0, 2**40), st.integers(-1, 2**31 - 1))
def test_redpanda_kafka_redpanda_identity_zero_copy(
    records: list[Record], kw: dict[str, int], delta: int, epoch: int
) -> None:
    segment = build_batch(records, **kw) + build_batch(records, **{**kw, "base_offset": kw["base_offset"] + 5000})  # type: ignore[arg-type]
    for b in iter_batches(segment):
        assert b.records.obj is segment  # a view into the segment buffer, never a copy
        kafka_offset = max(b.header.base_offset - delta, 0)
        wire_header = kafka_header(b.header, base_offset=kafka_offset, leader_epoch=epoch)
        f = KAFKA_HEADER.unpack(wire_header)
        assert (f[0], f[1], f[2], f[3], f[4]) == (kafka_offset, b.size - 12, epoch, 2, b.header.crc)
        assert wire_header[21:] == struct.pack(">hiqqqhii", *RP_HEADER.unpack_from(segment, b.position)[5:])
        wire = wire_header + b.records
        assert crc32c_reference(wire[21:]) == b.header.crc  # what a Kafka client verifies
        back = from_kafka(wire, base_offset=b.header.base_offset, type=b.header.type)
        assert back == segment[b.position : b.position + b.size]


@settings(max_examples=examples(200), deadline=None)
@given(st.binary(min_size=61, max_size=200), st.integers(0, 10**9), st.sampled_from([True, False]))
def test_from_kafka_arbitrary_bytes_only_format_errors(data: bytes, base: int, verify: bool) -> None:
    try:
        out = from_kafka(data, base_offset=base, verify=verify)
    except FormatError:
        return
    h = decode_header(out)
    assert h.base_offset == base and h.size_bytes == len(out)


# ---------------------------------------------------------------- the error hierarchy (segment_format.errors)


def test_error_hierarchy_and_messages() -> None:
    from segment_format import errors

    subclasses = [errors.TruncatedError, errors.CrcMismatchError, errors.RecordDecodeError,
                  errors.CompressionError, errors.ManifestError, errors.ObjectKeyError,
                  errors.IndexFormatError, errors.SerdeError]  # fmt: skip
    for cls in subclasses:
        assert issubclass(cls, errors.FormatError)
    assert issubclass(errors.FormatError, ValueError)  # callers that only know ValueError still catch them
    e = errors.SerdeError("bad envelope", position=12, offset=None)
    assert (str(e), e.message, e.position, e.offset) == ("bad envelope (at byte 12)", "bad envelope", 12, None)
    assert str(errors.IndexFormatError("x")) == "x"
    assert str(errors.TruncatedError("short", position=3, offset=7)) == "short (at offset 7, byte 3)"
    c = errors.CrcMismatchError("m", which="crc", expected=1, actual=0xABCDEF01, position=0, offset=-1)
    assert str(c) == "m: crc stored 0x00000001, computed 0xabcdef01 (at offset -1, byte 0)"
    assert (c.which, c.expected, c.actual) == ("crc", 1, 0xABCDEF01)


def test_kafka_offset_outside_int64_is_a_format_error() -> None:
    h = decode_header(GOLDEN_77)
    assert len(kafka_header(h, base_offset=2**63 - 1 - h.last_offset_delta)) == HEADER_SIZE
    for bad in (2**63 - h.last_offset_delta, -(2**63) - 1):
        with pytest.raises(FormatError, match="outside int64"):
            kafka_header(h, base_offset=bad)
