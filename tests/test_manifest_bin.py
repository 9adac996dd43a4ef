"""segment_format.manifest_bin: manifest.bin decode/encode, checked against Redpanda-written objects.

The four ``manifest*.bin`` fixtures of ``tools/rp_storage_tool/resources/test`` are copied unchanged in
``tests/data/redpanda`` (see its README for their hashes); they drive the PartitionManifest → manifest.bin
tests at the end of this file. The older tests below do not read them:

* two fixtures of ``tools/rp_storage_tool/resources/test`` are *rebuilt* from the values our decoder read
  out of them (segment tables below) and the encoding is compared with the fixture's SHA-256: equal
  hashes mean the encoder reproduces Redpanda's bytes exactly, including columns, frames and hints;
* a 192-byte excerpt of ``manifest_with_replaced_segments.bin`` (its replaced-segment vector and the
  fields after it) is transcribed and decoded;
* the other bytes are derived by hand from the C++ layouts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import random
import struct
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_format import manifest as pm
from segment_format.deltafor import DeltaForStream
from segment_format.errors import FormatError, ManifestError, SerdeError
from segment_format.manifest_bin import (
    COLUMN_NAMES,
    CSTORE_MAX_FRAME_SIZE,
    Column,
    ColumnFrame,
    LwSegmentMeta,
    PartitionManifestBin,
    SegmentMeta,
    SegmentMetaCStore,
    StreamPos,
    build_segment_meta_cstore,
    decode_partition_manifest,
    decode_partition_manifest_bin,
    decode_segment_meta_cstore,
    encode_partition_manifest,
    encode_partition_manifest_bin,
    encode_segment_meta_cstore,
    manifest_to_json_dict,
    partition_manifest_to_bin,
)
from tests.hypothesis_support import examples

MIN = -(2**63)


def _env(body: bytes, version: int = 0, compat: int = 0) -> bytes:
    return struct.pack("<BBI", version, compat, len(body)) + body


def _str(s: str) -> bytes:
    return struct.pack("<I", len(s)) + s.encode()


def _iobuf(b: bytes) -> bytes:
    return struct.pack("<I", len(b)) + b


def _small_frame(values: list[int]) -> bytes:
    """A deltafor_frame holding < 16 values: head array, no tail, size, no last_row."""
    head = values + [0] * (16 - len(values))
    return _env(struct.pack("<I16q", 16, *head) + b"\x00" + struct.pack("<Q", len(values)) + b"\x00")


def _column(frames: list[bytes]) -> bytes:
    return _env(struct.pack("<I", len(frames)) + b"".join(frames))


def _segments(rows: Sequence[tuple[int, ...]]) -> list[SegmentMeta]:
    return [
        SegmentMeta(
            is_compacted=bool(r[0]),
            size_bytes=r[1],
            base_offset=r[2],
            committed_offset=r[3],
            base_timestamp=r[4],
            max_timestamp=r[5],
            delta_offset=r[6],
            ntp_revision=r[7],
            archiver_term=r[8],
            segment_term=r[9],
            delta_offset_end=r[10],
            sname_format=r[11],
            metadata_size_hint=r[12],
        )
        for r in rows
    ]


# -- hand-derived golden bytes -----------------------------------------------------------------------

SEG_A = SegmentMeta(
    is_compacted=False,
    size_bytes=4096,
    base_offset=0,
    committed_offset=99,
    base_timestamp=1700000000000,
    max_timestamp=1700000000500,
    delta_offset=1,
    ntp_revision=5,
    archiver_term=3,
    segment_term=2,
    delta_offset_end=2,
    sname_format=3,
    metadata_size_hint=0,
)
SEG_B = SegmentMeta(
    is_compacted=True,
    size_bytes=2048,
    base_offset=100,
    committed_offset=149,
    delta_offset=2,
    ntp_revision=6,
    segment_term=2,
)


def test_golden_manifest_v4() -> None:
    segs = [SEG_A, SEG_B]
    cstore = _env(  # segment_meta_cstore::impl
        _env(  # column_store: 13 columns, each one frame of 2 values, then the hint map
            b"".join(
                _column([_small_frame([a, b])])
                for a, b in zip(SEG_A.column_values(), SEG_B.column_values(), strict=True)
            )
            + struct.pack("<Iq", 1, 0)  # one hint, key base_offset 0 (element 0 of the store) ...
            + b"\x00"  # ... with no stream positions yet (the frame has no encoded row)
        )
    )
    empty_cstore = _env(_env(_column([]) * 13 + struct.pack("<I", 0)))
    lw = _env(struct.pack("<qqqqqQi", 4, 10, 20, 1, 1, 777, 3))  # lw_segment_meta
    body = (
        _str("kafka")
        + _str("orders")
        + struct.pack("<i", 7)  # model::ntp
        + struct.pack("<q", 5)  # _rev
        + _iobuf(cstore)  # _segments_serialized
        + struct.pack("<I", 1)
        + lw  # _replaced
        + struct.pack("<qqqq", 149, 0, MIN, 160)  # last, start, last_uploaded_compacted, insync
        + struct.pack("<Q", 6144)  # _cloud_log_size_bytes
        + struct.pack("<qqqq", MIN, MIN, MIN, MIN)  # archive start/delta/clean, start_kafka_offset
        + struct.pack("<Q", 0)  # archive_size_bytes
        + _iobuf(empty_cstore)  # _spillover_manifests_serialized
        + struct.pack("<q", -1)  # _last_partition_scrub (missing)
        + b"\x01"
        + struct.pack("<q", 140)  # _last_scrubbed_offset
        + struct.pack("<q", 42)  # _highest_producer_id
        + struct.pack("<q", 170)  # _applied_offset
    )
    expected = _env(body, version=4)
    m = PartitionManifestBin(
        namespace="kafka",
        topic="orders",
        partition=7,
        revision=5,
        segments=build_segment_meta_cstore(segs),
        replaced=(LwSegmentMeta(4, 10, 20, 1, 1, 777, 3),),
        last_offset=149,
        start_offset=0,
        insync_offset=160,
        cloud_log_size_bytes=6144,
        last_scrubbed_offset=140,
        highest_producer_id=42,
        applied_offset=170,
    )
    assert encode_partition_manifest_bin(m) == expected
    back = decode_partition_manifest_bin(expected)
    assert back == m
    assert back.segments.segments() == segs
    assert decode_partition_manifest(expected) == {
        "version": 1,
        "namespace": "kafka",
        "topic": "orders",
        "partition": 7,
        "revision": 5,
        "last_offset": 149,
        "insync_offset": 160,
        "start_offset": 0,
        "cloud_log_size_bytes": 6144,
        "last_scrubbed_offset": 140,
        "highest_producer_id": 42,
        "segments": {
            "0-2-v1.log": {
                "is_compacted": False,
                "size_bytes": 4096,
                "committed_offset": 99,
                "base_offset": 0,
                "base_timestamp": 1700000000000,
                "max_timestamp": 1700000000500,
                "delta_offset": 1,
                # ntp_revision 5 == manifest revision: omitted
                "archiver_term": 3,
                "segment_term": 2,
                "delta_offset_end": 2,
                "sname_format": 3,
                "metadata_size_hint": 0,
            },
            "100-2-v1.log": {
                "is_compacted": True,
                "size_bytes": 2048,
                "committed_offset": 149,
                "base_offset": 100,
                "delta_offset": 2,
                "ntp_revision": 6,
                "segment_term": 2,
                # v1 name: no delta_offset_end / sname_format / metadata_size_hint
            },
        },
        "replaced": {
            "10-1-v1.log": {
                "size_bytes": 777,
                "committed_offset": 20,
                "base_offset": 10,
                "ntp_revision": 4,
                "archiver_term": 1,
                "segment_term": 1,
                "sname_format": 3,
            }
        },
    }


def test_golden_frame_with_encoded_row() -> None:
    # 17 values in the counter (delta_delta, step 0) column: one encoded row + 1 buffered value
    values = [10 * i for i in range(17)]
    segs = [SegmentMeta(False, 1, v, v + 9) for v in values]
    store = build_segment_meta_cstore(segs)
    frame = store.columns[2].frames[0]
    row = bytes([4, 0xA0]) + b"\xaa" * 7  # nbits 4; deltas 0,10,10,..: nibbles 0,a,a,.. LE
    assert frame == ColumnFrame(
        head=(160, *values[1:16]),  # slot 0 overwritten by value 16, slots 1..15 keep row 0
        tail=DeltaForStream(initial=0, last=150, data=row, row_count=1),
        size=17,
        last_row=StreamPos(initial=0, offset=0, num_rows=0),  # position of row 0, taken before adding it
    )
    expected = _env(
        struct.pack("<I16q", 16, *frame.head)
        + b"\x01"
        + _env(struct.pack("<qq", 0, 150) + _iobuf(row) + struct.pack("<I", 1))  # optional<encoder>
        + struct.pack("<Q", 17)
        + b"\x01"
        + _env(struct.pack("<qII", 0, 0, 0))  # optional<stream_pos>
    )
    encoded = encode_segment_meta_cstore(store)
    assert _column([expected]) in encoded
    assert decode_segment_meta_cstore(encoded) == store
    assert decode_segment_meta_cstore(encoded).segments() == segs


def test_builder_frames_and_hints() -> None:
    n = CSTORE_MAX_FRAME_SIZE + 300
    segs = [SegmentMeta(False, 100, 10 * i, 10 * i + 9, segment_term=1) for i in range(n)]
    store = build_segment_meta_cstore(segs)
    assert [f.size for f in store.columns[0].frames] == [1024, 300]
    keys = [k for k, _ in store.hints]
    assert keys == sorted((10 * i for i in range(0, n, 128)), reverse=True)  # every 128th element
    hints = dict(store.hints)
    assert hints[0] is None  # first element of frame 0: no encoded row yet
    assert hints[10 * 1024] is None  # first element of frame 1
    h = hints[10 * 128]
    assert h is not None
    assert len(h) == len(COLUMN_NAMES)
    # element 128 starts row 8; the frame's last encoded row before it is row 7
    assert h[2].num_rows == 7
    assert h[2].initial == 10 * (7 * 16 - 1)  # the value the row is delta-coded against
    assert decode_segment_meta_cstore(encode_segment_meta_cstore(store)).segments() == segs
    with pytest.raises(ValueError, match="ascending"):
        build_segment_meta_cstore([segs[1], segs[0]])


# -- Redpanda fixtures, rebuilt from decoded values -------------------------------------------------

# tools/rp_storage_tool/resources/test/manifest_23_2_start_kafka_offset.bin (2210 bytes, envelope
# version 2 with 14 fields): column values per segment, in COLUMN_NAMES order.
START_KAFKA_OFFSET_SEGMENTS = [
    (0, 0, 0, 99, -1, -1, 0, 0, MIN, 1, MIN, 1, 0),
    (0, 0, 100, 199, -1, -1, 10, 0, MIN, 1, MIN, 1, 0),
    (0, 0, 200, 299, -1, -1, 20, 0, MIN, 2, MIN, 1, 0),
    (0, 0, 300, 399, -1, -1, 30, 0, MIN, 3, MIN, 1, 0),
]
START_KAFKA_OFFSET_SHA256 = "ea0b3d9ccf535c62edbcaef5bae2ee29d31d358effad1107fc94be25c73e31ff"

# tools/rp_storage_tool/resources/test/manifest_with_replaced_segments.bin (3191 bytes, version 2, 13
# fields): 18 segments, every one with ntp_revision 20, archiver/segment term 1, sname v3.
_REPLACED_FIXTURE_ROWS = [
    # size_bytes, base, committed, base_ts, max_ts, delta, delta_end
    (14393399, 0, 439, 1684422325400, 1684422326607, 0, 2),
    (12703165, 440, 833, 1684422326611, 1684422328115, 2, 10),
    (12637983, 834, 1228, 1684422328119, 1684422329615, 10, 21),
    (12737707, 1229, 1622, 1684422329618, 1684422331126, 21, 28),
    (12637597, 1623, 2015, 1684422331131, 1684422332627, 28, 37),
    (12900508, 2016, 2418, 1684422332630, 1684422334157, 37, 48),
    (12802716, 2419, 2816, 1684422334162, 1684422335677, 48, 57),
    (12637780, 2817, 3209, 1684422335682, 1684422337177, 57, 66),
    (12669580, 3210, 3602, 1684422337181, 1684422338681, 66, 74),
    (12632752, 3603, 3994, 1684422338685, 1684422340181, 74, 82),
    (12636804, 3995, 4387, 1684422340185, 1684422341681, 82, 91),
    (12835508, 4388, 4786, 1684422341685, 1684422343205, 91, 100),
    (12704419, 4787, 5182, 1684422343208, 1684422344712, 100, 110),
    (12638276, 5183, 5576, 1684422344716, 1684422346213, 110, 120),
    (12632771, 5577, 5968, 1684422346216, 1684422347712, 120, 128),
    (12702937, 5969, 6363, 1684422347716, 1684422349220, 128, 137),
    (12670652, 6364, 6755, 1684422349224, 1684422350724, 137, 144),
    (8423587, 6756, 7017, 1684422350728, 1684422351724, 144, 150),
]
REPLACED_SEGMENTS = [
    (0, s, b, c, bt, mt, d, 20, 1, 1, de, 3, 0) for s, b, c, bt, mt, d, de in _REPLACED_FIXTURE_ROWS
]
REPLACED_SHA256 = "315d5241367a1e9e9e45803ae92fe68d1b90cbdafae3839bc2ccbee3ce43bc05"

# Transcribed from manifest_with_replaced_segments.bin at byte 2999: the `_replaced` vector ...
REPLACED_EXCERPT = bytes.fromhex(
    "02000000"  # vector<lw_segment_meta>: 2 elements
    "000034000000"  # lw_segment_meta envelope v0 c0, 52 bytes
    "1400000000000000"
    "641a000000000000"
    "e81a000000000000"  # ntp_revision 20, base 6756, committed 6888
    "0100000000000000"
    "0100000000000000"  # archiver_term 1, segment_term 1
    "9e43400000000000"
    "03000000"  # size_bytes 4211614, sname_format v3 (enum as int32)
    "000034000000"
    "1400000000000000"
    "e91a000000000000"
    "691b000000000000"  # 20, 6889, 7017
    "0100000000000000"
    "0100000000000000"
    "0545400000000000"
    "03000000"  # 4211973, v3
    # ... and the nine scalars that end the 13-field body
    "691b000000000000"  # _last_offset 7017
    "0000000000000000"  # _start_offset 0
    "0000000000000080"  # _last_uploaded_compacted_offset: INT64_MIN (unset)
    "c31b000000000000"  # _insync_offset 7107
    "3d75780d00000000"  # _cloud_log_size_bytes 225998141
    "0000000000000080"
    "0000000000000080"
    "0000000000000080"  # archive start/delta/clean: unset
    "0000000000000080"  # _start_kafka_offset: unset
)


def test_rebuild_start_kafka_offset_fixture() -> None:
    m = PartitionManifestBin(
        namespace="test-ns",
        topic="test-topic",
        partition=42,
        revision=0,
        segments=build_segment_meta_cstore(_segments(START_KAFKA_OFFSET_SEGMENTS)),
        last_offset=399,
        start_offset=0,
        start_kafka_offset=80,
        serde_version=2,
        fields_present=14,  # ends with archive_size_bytes
    )
    data = encode_partition_manifest_bin(m)
    assert len(data) == 2210
    assert hashlib.sha256(data).hexdigest() == START_KAFKA_OFFSET_SHA256
    assert decode_partition_manifest_bin(data) == m
    d = decode_partition_manifest(data)
    # what rp_storage_tool's test_binary_manifest_decode_start_kafka_offset asserts
    assert (d["namespace"], d["topic"], d["partition"], d["revision"]) == ("test-ns", "test-topic", 42, 0)
    assert len(d["segments"]) == 4
    assert d["start_kafka_offset"] == 80
    assert d["segments"]["300-3-v1.log"] == {
        "is_compacted": False,
        "size_bytes": 0,
        "committed_offset": 399,
        "base_offset": 300,
        "delta_offset": 30,
        "segment_term": 3,
    }


def test_rebuild_replaced_segments_fixture() -> None:
    m = PartitionManifestBin(
        namespace="kafka",
        topic="test-topic",
        partition=0,
        revision=20,
        segments=build_segment_meta_cstore(_segments(REPLACED_SEGMENTS)),
        replaced=(
            LwSegmentMeta(20, 6756, 6888, 1, 1, 4211614, 3),
            LwSegmentMeta(20, 6889, 7017, 1, 1, 4211973, 3),
        ),
        last_offset=7017,
        start_offset=0,
        insync_offset=7107,
        cloud_log_size_bytes=225998141,
        serde_version=2,
        fields_present=13,
    )
    data = encode_partition_manifest_bin(m)
    assert len(data) == 3191
    assert hashlib.sha256(data).hexdigest() == REPLACED_SHA256
    assert data[2999 : 2999 + len(REPLACED_EXCERPT)] == REPLACED_EXCERPT
    assert data[2999 + len(REPLACED_EXCERPT) :] == b""
    d = decode_partition_manifest(data)
    # what rp_storage_tool's test_manifest_with_replaced_segments asserts
    assert d["replaced"]["6756-1-v1.log"]["base_offset"] == 6756
    assert d["replaced"]["6756-1-v1.log"]["sname_format"] == 3
    assert d["replaced"]["6889-1-v1.log"]["base_offset"] == 6889
    assert d["cloud_log_size_bytes"] == 225998141
    assert (d["start_offset"], d["last_offset"]) == (0, 7017)
    assert "last_uploaded_compacted_offset" not in d
    # self-consistency of what the decoder read
    segs = decode_partition_manifest_bin(data).segments.segments()
    assert all(a.committed_offset + 1 == b.base_offset for a, b in itertools.pairwise(segs))
    assert all(a.delta_offset_end == b.delta_offset for a, b in itertools.pairwise(segs))
    assert sum(s.size_bytes for s in segs) == d["cloud_log_size_bytes"]


def test_version_0_body_without_spillover_field() -> None:
    # The v23.2 pre-release fixtures (envelope version 0) stop after _start_kafka_offset.
    m = PartitionManifestBin("kafka", "t", 0, 8, last_offset=5, serde_version=0, fields_present=13)
    data = encode_partition_manifest_bin(m)
    assert data[0] == 0
    back = decode_partition_manifest_bin(data)
    assert back == m
    assert back.spillover == SegmentMetaCStore()
    assert back.archive_size_bytes == 0
    assert "spillover" not in decode_partition_manifest(data)


# -- JSON shape --------------------------------------------------------------------------------------


def test_spillover_json_shape() -> None:
    spill = SegmentMeta(False, 10_000, 0, 999, 1, 2, 0, 3, 4, 5, 7, 3, 123)
    m = PartitionManifestBin(
        "kafka",
        "t",
        1,
        3,
        spillover=build_segment_meta_cstore([spill]),
        last_offset=1999,
        archive_size_bytes=10_000,
    )
    d = decode_partition_manifest(encode_partition_manifest_bin(m))
    assert d["archive_size_bytes"] == 10_000
    assert d["spillover"] == [
        {
            "size_bytes": 10_000,
            "committed_offset": 999,
            "base_offset": 0,
            "base_timestamp": 1,
            "max_timestamp": 2,
            "delta_offset": 0,
            # ntp_revision 3 == revision: omitted
            "archiver_term": 4,
            "segment_term": 5,
            "delta_offset_end": 7,
            "metadata_size_hint": 123,
        }
    ]
    assert "segments" not in d


def test_json_omits_unset_values_like_serialize_json() -> None:
    m = PartitionManifestBin("kafka", "t", 0, 1, last_partition_scrub=99)
    d = manifest_to_json_dict(m)
    assert d == {
        "version": 1,
        "namespace": "kafka",
        "topic": "t",
        "partition": 0,
        "revision": 1,
        "last_offset": MIN,  # always written
        "cloud_log_size_bytes": 0,  # always written
        "last_partition_scrub": 99,
    }


def test_duplicate_segment_names_are_refused() -> None:
    a = SegmentMeta(False, 1, 5, 9, segment_term=1)
    store = build_segment_meta_cstore([a])
    # two frames holding the same segment: the store decodes, the JSON object cannot hold both
    cols = tuple(Column(c.frames * 2) for c in store.columns)
    m = PartitionManifestBin("kafka", "t", 0, 1, segments=SegmentMetaCStore(cols, store.hints))
    with pytest.raises(ManifestError, match=r"two segments named 5-1-v1\.log"):
        manifest_to_json_dict(m)
    lw = LwSegmentMeta(1, 5, 9, 1, 1, 0, 1)
    with pytest.raises(ManifestError, match="two replaced"):
        manifest_to_json_dict(PartitionManifestBin("kafka", "t", 0, 1, replaced=(lw, lw)))


def test_sname_format_is_an_int16() -> None:
    # static_cast<segment_name_format> of the int64 column value (int16 underlying type)
    cols = list(build_segment_meta_cstore([SegmentMeta(False, 1, 0, 1, segment_term=1)]).columns)
    frame = cols[11].frames[0]
    cols[11] = Column((ColumnFrame((65539, *frame.head[1:]), None, 1, None),))
    assert SegmentMetaCStore(tuple(cols)).segments()[0].sname_format == 3


# -- malformed input ---------------------------------------------------------------------------------


def test_ragged_columns_are_refused() -> None:
    store = build_segment_meta_cstore([SegmentMeta(False, 1, 0, 1), SegmentMeta(False, 1, 2, 3)])
    cols = list(store.columns)
    cols[5] = Column((ColumnFrame((1,) + (0,) * 15, None, 1, None),))
    data = encode_segment_meta_cstore(SegmentMetaCStore(tuple(cols), store.hints))
    with pytest.raises(ManifestError, match="max_timestamp has 1 values"):
        decode_segment_meta_cstore(data).segments()


def test_inconsistent_frame_is_refused() -> None:
    bad = _column([_env(struct.pack("<I16q", 16, *([0] * 16)) + b"\x00" + struct.pack("<Q", 20) + b"\x00")])
    data = _env(_env(bad * 13 + struct.pack("<I", 0)))
    with pytest.raises(ManifestError, match="no encoded rows") as e:
        decode_segment_meta_cstore(data, base_position=1000)
    assert e.value.position == 1000 + 6 + 6 + 6 + 4
    tail = _env(struct.pack("<qq", 0, 0) + _iobuf(b"\x00\x00") + struct.pack("<I", 2))
    bad = _column(
        [_env(struct.pack("<I16q", 16, *([0] * 16)) + b"\x01" + tail + struct.pack("<Q", 16) + b"\x00")]
    )
    with pytest.raises(ManifestError, match="2 encoded rows, expected 1"):
        decode_segment_meta_cstore(_env(_env(bad * 13 + struct.pack("<I", 0))))


def test_corrupt_row_data_is_reported_with_position() -> None:
    tail = _env(struct.pack("<qq", 0, 0) + _iobuf(b"\x05\x00") + struct.pack("<I", 1))  # 5 bits need 10 bytes
    frame = _env(struct.pack("<I16q", 16, *([0] * 16)) + b"\x01" + tail + struct.pack("<Q", 16) + b"\x00")
    data = _env(_env(_column([frame]) * 13 + struct.pack("<I", 0)))
    with pytest.raises(SerdeError, match="needs 10 bytes") as e:
        decode_segment_meta_cstore(data)
    data_pos = data.index(b"\x05\x00")
    assert e.value.position == data_pos + 1


def test_empty_cstore_iobuf_is_refused() -> None:
    good = encode_partition_manifest_bin(PartitionManifestBin("kafka", "t", 0, 1))
    # body: ntp (9 + 5 + 4) + rev 8, then the segments iobuf
    at = 6 + 9 + 5 + 4 + 8
    n = struct.unpack_from("<I", good, at)[0]
    body = good[6:at] + struct.pack("<I", 0) + good[at + 4 + n :]
    with pytest.raises(SerdeError, match="empty segment_meta_cstore"):
        decode_partition_manifest_bin(_env(body, version=4))


def test_unknown_trailing_fields_round_trip() -> None:
    m = PartitionManifestBin("kafka", "t", 0, 1, serde_version=5, unknown_trailer=b"\x01\x02")
    data = encode_partition_manifest_bin(m)
    assert decode_partition_manifest_bin(data) == m
    with pytest.raises(ValueError, match="trailing"):
        encode_partition_manifest_bin(
            PartitionManifestBin("kafka", "t", 0, 1, fields_present=3, unknown_trailer=b"x")
        )
    with pytest.raises(ValueError, match="fields_present"):
        encode_partition_manifest_bin(PartitionManifestBin("kafka", "t", 0, 1, fields_present=20))
    with pytest.raises(ValueError, match="13 columns"):
        encode_segment_meta_cstore(SegmentMetaCStore(columns=()))


def test_incompatible_manifest_version_is_refused() -> None:
    with pytest.raises(SerdeError, match="compat_version=5"):
        decode_partition_manifest_bin(_env(b"", version=5, compat=5))


# -- properties --------------------------------------------------------------------------------------

I64 = st.integers(-(2**63), 2**63 - 1)


@st.composite
def segment_lists(draw: st.DrawFn, max_size: int = 40) -> list[SegmentMeta]:
    n = draw(st.integers(0, max_size))
    base = draw(st.integers(-(2**40), 2**40))
    out = []
    for _ in range(n):
        base += draw(st.integers(1, 2**30))
        out.append(
            SegmentMeta(
                is_compacted=draw(st.booleans()),
                size_bytes=draw(st.integers(0, 2**63 - 1)),
                base_offset=base,
                committed_offset=draw(I64),
                base_timestamp=draw(I64),
                max_timestamp=draw(I64),
                delta_offset=draw(I64),
                ntp_revision=draw(I64),
                archiver_term=draw(I64),
                segment_term=draw(I64),
                delta_offset_end=draw(I64),
                sname_format=draw(st.integers(-(2**15), 2**15 - 1)),
                metadata_size_hint=draw(st.integers(0, 2**63 - 1)),
            )
        )
    return out


# partition_manifest_serde fields after (namespace, topic, partition) in serialization order; the
# ntp is one field, so field k (1-based) of the body is _BODY_FIELDS[k - 2] for k >= 2
_BODY_FIELDS = [
    "revision",
    "segments",
    "replaced",
    "last_offset",
    "start_offset",
    "last_uploaded_compacted_offset",
    "insync_offset",
    "cloud_log_size_bytes",
    "archive_start_offset",
    "archive_start_offset_delta",
    "archive_clean_offset",
    "start_kafka_offset",
    "archive_size_bytes",
    "spillover",
    "last_partition_scrub",
    "last_scrubbed_offset",
    "highest_producer_id",
    "applied_offset",
]


# built once (a strategy made inside a draw is built and checked anew for every value drawn)
_LW_METAS = st.lists(st.builds(LwSegmentMeta, I64, I64, I64, I64, I64, st.integers(0, 2**64 - 1),
                               st.integers(-(2**15), 2**15 - 1)), max_size=3)
_SEGMENT_LISTS, _SPILLOVER_LISTS = segment_lists(), segment_lists(max_size=5)
_OPT_I64 = st.one_of(st.none(), I64)


@st.composite
def manifests(draw: st.DrawFn) -> PartitionManifestBin:
    u64 = st.integers(0, 2**64 - 1)
    full = PartitionManifestBin(
        namespace=draw(st.text(max_size=10)),
        topic=draw(st.text(max_size=10)),
        partition=draw(st.integers(-(2**31), 2**31 - 1)),
        revision=draw(I64),
        segments=build_segment_meta_cstore(draw(_SEGMENT_LISTS)),
        replaced=tuple(draw(_LW_METAS)),
        last_offset=draw(I64),
        start_offset=draw(I64),
        last_uploaded_compacted_offset=draw(I64),
        insync_offset=draw(I64),
        cloud_log_size_bytes=draw(u64),
        archive_start_offset=draw(I64),
        archive_start_offset_delta=draw(I64),
        archive_clean_offset=draw(I64),
        start_kafka_offset=draw(I64),
        archive_size_bytes=draw(u64),
        spillover=build_segment_meta_cstore(draw(_SPILLOVER_LISTS)),
        last_partition_scrub=draw(I64),
        last_scrubbed_offset=draw(_OPT_I64),
        highest_producer_id=draw(I64),
        applied_offset=draw(I64),
        serde_version=draw(st.integers(0, 255)),
    )
    present = draw(st.integers(3, 19))  # ntp, revision and segments at least
    default = PartitionManifestBin("", "", 0, 0)
    absent = {name: getattr(default, name) for name in _BODY_FIELDS[present - 1 :]}
    return dataclasses.replace(full, fields_present=present, **absent)


@settings(max_examples=examples(100), deadline=None)
@given(manifests())
def test_round_trip(m: PartitionManifestBin) -> None:
    data = encode_partition_manifest_bin(m)
    back = decode_partition_manifest_bin(data)
    assert back == m
    assert encode_partition_manifest_bin(back) == data
    names = [s.name for s in m.segments.segments()]
    replaced = [lw.name for lw in m.replaced]
    if len(set(names)) == len(names) and len(set(replaced)) == len(replaced):
        d = decode_partition_manifest(data)
        assert list(d.get("segments", {})) == names


@settings(max_examples=examples(20), deadline=None)
@given(st.integers(1025, 2200), st.integers(0, 2**32))
def test_multi_frame_round_trip(n: int, seed: int) -> None:
    rnd = random.Random(seed)
    segs, base = [], rnd.randint(0, 2**40)
    for _ in range(n):
        size = rnd.randint(1, 2**40)
        segs.append(
            SegmentMeta(
                rnd.random() < 0.1,
                size,
                base,
                base + size - 1,
                rnd.randint(-1, 2**41),
                segment_term=rnd.randint(1, 9),
            )
        )
        base += size
    store = build_segment_meta_cstore(segs)
    assert len(store.columns[0].frames) == (n + 1023) // 1024
    assert decode_segment_meta_cstore(encode_segment_meta_cstore(store)) == store
    assert store.segments() == segs


@settings(max_examples=examples(400))
@given(st.binary(max_size=400))
def test_arbitrary_bytes_decode_or_format_error(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        decode_partition_manifest(data)


@settings(max_examples=examples(300), deadline=None)
@given(manifests(), st.data())
def test_corrupted_manifests_decode_or_format_error(m: PartitionManifestBin, data: st.DataObject) -> None:
    raw = bytearray(encode_partition_manifest_bin(m))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    with contextlib.suppress(FormatError):
        decode_partition_manifest(bytes(raw[:cut]))


# -- PartitionManifest → manifest.bin ----------------------------------------------------------------

DATA = Path(__file__).parent / "data" / "redpanda"
EMPTY_CSTORE = _env(_env(_column([]) * 13 + struct.pack("<I", 0)))  # 13 frame-less columns, no hints


def _parse(data: bytes) -> pm.PartitionManifest:
    return pm.parse_partition_manifest(decode_partition_manifest(data))


# file, envelope version, fields the body holds, segments, replaced segments
FIXTURES = [
    ("manifest_23_2_binary.bin", 0, 13, 3654, 0),
    ("manifest_23_2_binary_2.bin", 0, 13, 97, 0),
    ("manifest_23_2_start_kafka_offset.bin", 2, 14, 4, 0),
    ("manifest_with_replaced_segments.bin", 2, 13, 18, 2),
]


@pytest.mark.parametrize(("name", "version", "fields", "n_segments", "n_replaced"), FIXTURES)
def test_fixture_to_partition_manifest_and_back(
    name: str, version: int, fields: int, n_segments: int, n_replaced: int
) -> None:
    raw = (DATA / name).read_bytes()
    assert (raw[0], raw[1]) == (version, 0)
    m = _parse(raw)
    assert (len(m.segments), len(m.replaced)) == (n_segments, n_replaced)
    out = encode_partition_manifest(m)
    assert _parse(out) == m
    # what current Redpanda writes: envelope v4 c0 ...
    assert out[:6] == struct.pack("<BBI", 4, 0, len(out) - 6)
    # ... whose body starts with the fixture's body byte for byte (ntp, revision, the segment store with
    # its frames and hints, replaced, offsets): nothing Redpanda wrote is lost or re-encoded differently
    assert out[6 : len(raw)] == raw[6:]
    # ... followed by the fields the fixture's writer did not have yet, at Redpanda's "unset" values
    tail = [
        struct.pack("<Q", 0),  # archive_size_bytes
        _iobuf(EMPTY_CSTORE),  # _spillover_manifests_serialized
        struct.pack("<q", -1),  # _last_partition_scrub: timestamp::missing()
        b"\x00",  # _last_scrubbed_offset: nullopt
        struct.pack("<q", MIN),  # _highest_producer_id
        struct.pack("<q", MIN),  # _applied_offset
    ]
    assert out[len(raw) :] == b"".join(tail[fields - 13 :])


def test_partition_manifest_golden() -> None:
    # the manifest of test_golden_manifest_v4 as the JSON model holds it (no _applied_offset there)
    m = _parse(
        encode_partition_manifest_bin(
            PartitionManifestBin(
                namespace="kafka",
                topic="orders",
                partition=7,
                revision=5,
                segments=build_segment_meta_cstore([SEG_A, SEG_B]),
                replaced=(LwSegmentMeta(4, 10, 20, 1, 1, 777, 3),),
                last_offset=149,
                start_offset=0,
                insync_offset=160,
                cloud_log_size_bytes=6144,
                last_scrubbed_offset=140,
                highest_producer_id=42,
            )
        )
    )
    assert m.segments[0].ntp_revision is None  # == revision: the model leaves it implicit
    cstore = _env(
        _env(
            b"".join(
                _column([_small_frame([a, b])])
                for a, b in zip(SEG_A.column_values(), SEG_B.column_values(), strict=True)
            )
            + struct.pack("<Iq", 1, 0)
            + b"\x00"
        )
    )
    body = (
        _str("kafka")
        + _str("orders")
        + struct.pack("<i", 7)
        + struct.pack("<q", 5)
        + _iobuf(cstore)  # ntp_revision column holds 5 (filled from the manifest revision) and 6
        + struct.pack("<I", 1)
        + _env(struct.pack("<qqqqqQi", 4, 10, 20, 1, 1, 777, 3))
        + struct.pack("<qqqq", 149, 0, MIN, 160)
        + struct.pack("<Q", 6144)
        + struct.pack("<qqqq", MIN, MIN, MIN, MIN)
        + struct.pack("<Q", 0)
        + _iobuf(EMPTY_CSTORE)
        + struct.pack("<q", -1)
        + b"\x01"
        + struct.pack("<q", 140)
        + struct.pack("<q", 42)
        + struct.pack("<q", MIN)  # _applied_offset: unset
    )
    assert encode_partition_manifest(m) == _env(body, version=4)


def test_spillover_entries_are_written_as_redpanda_makes_them() -> None:
    spill = pm.SegmentMeta(
        base_offset=0,
        committed_offset=999,
        size_bytes=10_000,
        segment_term=5,
        is_compacted=True,  # make_manifest_metadata never sets it; the JSON reader drops it too
        base_timestamp=1,
        max_timestamp=2,
        delta_offset=0,
        archiver_term=4,
        delta_offset_end=7,
        sname_format=1,
        metadata_size_hint=123,
    )
    m = pm.PartitionManifest(
        namespace="kafka", topic="t", partition=1, revision=3, last_offset=1999, spillover=(spill,)
    )
    b = partition_manifest_to_bin(m)
    assert b.spillover.segments() == [
        SegmentMeta(False, 10_000, 0, 999, 1, 2, 0, 3, 4, 5, 7, 3, 123)  # sname v3, ntp_revision 3
    ]
    back = _parse(encode_partition_manifest(m))
    assert back.spillover == (dataclasses.replace(spill, is_compacted=False, sname_format=3),)
    assert back.spillover_key(back.spillover[0]) == m.manifest_prefix + "/manifest.bin.0.999.0.993.1.2"


def test_fields_without_a_binary_form_are_dropped() -> None:
    m = pm.PartitionManifest(namespace="kafka", topic="t", partition=0, revision=1, last_offset=0)
    odd = dataclasses.replace(m, extra={"x": 1}, version=2, remote_label="deadbeef-0000-0000-0000-000000000000")
    assert encode_partition_manifest(odd) == encode_partition_manifest(m)


OFFSET = st.integers(0, 2**62)
# built once: a strategy made inside a draw is built (and checked for emptiness) anew for every value drawn,
# most of this test's time when they were
_OPT_OFFSET = st.none() | OFFSET
_BASE = st.integers(0, 2**40)
_SIZE = st.integers(1, 2**30)
_DELTA = st.none() | st.integers(0, 2**20)
_SNAME = st.sampled_from([1, 2, 3])
_BYTES = st.integers(0, 2**40)
_TERM = st.integers(0, 2**20)
_TIMESTAMP = st.none() | st.integers(0, 2**45)
_REVISION = st.none() | st.integers(0, 2**40)
_ARCHIVER_TERM = st.none() | st.integers(0, 2**20)
_DELTA_END = st.integers(0, 50)
_SIZE_HINT = st.integers(0, 2**20)
_GAP = st.integers(0, 3)
_NAMESPACE = st.sampled_from(["kafka", "kafka_internal", "ns-1"])
_TOPIC = st.from_regex(r"[a-z0-9._\-]{2,12}", fullmatch=True).filter(lambda t: t not in (".", ".."))
_PARTITION = st.integers(0, 2**31 - 1)
_LOG_BYTES = st.integers(0, 2**50)
_SEGMENTS, _FEW = st.integers(0, 40), st.integers(0, 4)


@st.composite
def partition_manifests(draw: st.DrawFn) -> pm.PartitionManifest:
    rev = draw(_BASE)

    def metas(n: int, kind: str) -> list[pm.SegmentMeta]:
        out, base = [], draw(_BASE)
        for _ in range(n):
            size = draw(_SIZE)
            delta = draw(_DELTA)
            sname = draw(_SNAME)
            out.append(
                pm.SegmentMeta(
                    base_offset=base,
                    committed_offset=base + size - 1,
                    size_bytes=draw(_BYTES),
                    segment_term=draw(_TERM),
                    is_compacted=draw(st.booleans()),
                    base_timestamp=draw(_TIMESTAMP),
                    max_timestamp=draw(_TIMESTAMP),
                    delta_offset=delta,
                    ntp_revision=draw(_REVISION),
                    archiver_term=draw(_ARCHIVER_TERM),
                    delta_offset_end=None if delta is None else delta + draw(_DELTA_END),
                    sname_format=sname,
                    metadata_size_hint=draw(_SIZE_HINT),
                )
            )
            base += size + draw(_GAP)
        return out

    opt = _OPT_OFFSET
    raw = pm.PartitionManifest(
        namespace=draw(_NAMESPACE),
        topic=draw(_TOPIC),
        partition=draw(_PARTITION),
        revision=rev,
        last_offset=draw(OFFSET),
        insync_offset=draw(opt),
        start_offset=draw(opt),
        last_uploaded_compacted_offset=draw(opt),
        cloud_log_size_bytes=draw(_LOG_BYTES),
        archive_start_offset=draw(opt),
        archive_start_offset_delta=draw(opt),
        archive_clean_offset=draw(opt),
        start_kafka_offset=draw(opt),
        archive_size_bytes=draw(_LOG_BYTES),
        last_partition_scrub=draw(_TIMESTAMP),
        last_scrubbed_offset=draw(opt),
        highest_producer_id=draw(opt),
        segments=tuple(metas(draw(_SEGMENTS), "segment")),
        replaced=tuple(metas(draw(_FEW), "replaced")),
        spillover=tuple(metas(draw(_FEW), "spillover")),
    )
    # the JSON form is the model's canonical form (replaced entries are lw_segment_meta, spillover
    # entries v3 and not compacted)
    return pm.parse_partition_manifest(raw.to_dict())


@settings(max_examples=examples(150), deadline=None)
@given(partition_manifests())
def test_partition_manifest_round_trip(m: pm.PartitionManifest) -> None:
    data = encode_partition_manifest(m)
    assert _parse(data) == m
    assert encode_partition_manifest(_parse(data)) == data
