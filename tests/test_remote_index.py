"""segment_format.remote_index: the `.index` object, its lookups and its builder."""

from __future__ import annotations

import contextlib
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_format.errors import FormatError, IndexFormatError, SerdeError
from segment_format.remote_index import (
    OFFSET_TRANSLATOR_BATCH_TYPES,
    SAMPLING_STEP_BYTES,
    BatchPosition,
    IndexEntry,
    RemoteSegmentIndex,
    build_remote_index,
    decode_remote_index,
    encode_remote_index,
    find_kafka_offset,
    find_rp_offset,
    find_timestamp,
)
from tests.hypothesis_support import examples

STEP = 65536


def _vec16(values: list[int]) -> bytes:
    """``std::vector<int64_t>`` of the 16-slot write buffer: u32 count + 16 x i64."""
    assert len(values) == 16
    return struct.pack("<I16q", 16, *values)


def _iobuf(b: bytes) -> bytes:
    return struct.pack("<I", len(b)) + b


def _envelope(version: int, compat: int, body: bytes) -> bytes:
    return struct.pack("<BBI", version, compat, len(body)) + body


# -- golden bytes, derived from offset_index::to_iobuf / offset_index_header -----------------------------


def test_golden_empty_index() -> None:
    ix = RemoteSegmentIndex(base_rp_offset=1000, base_kafka_offset=990, base_timestamp=5000)
    body = (
        struct.pack("<q", STEP)  # min_file_pos_step
        + struct.pack("<Q", 0)  # num_elements
        + struct.pack("<qq", 1000, 1000)  # base_rp, last_rp (no rows: last == initial)
        + struct.pack("<qq", 990, 990)  # base_kaf, last_kaf
        + struct.pack("<qq", 0, 0)  # base_file, last_file
        + _vec16([0] * 16) * 3  # rp/kaf/file write buffers, zero-initialized arrays
        + _iobuf(b"") * 3  # rp/kaf/file Delta-FOR streams: no rows
        + struct.pack("<qq", 5000, 5000)  # base_time, last_time (v2)
        + _vec16([0] * 16)  # time_write_buf
        + _iobuf(b"")  # time_index
    )
    expected = _envelope(2, 1, body)
    assert encode_remote_index(ix) == expected
    assert decode_remote_index(expected) == ix


def test_golden_seventeen_samples() -> None:
    # 16 samples fill one row (encoded as rows), the 17th stays in the write buffer, whose slots
    # 1..15 still hold row 0 (offset_index::add never clears the arrays).
    rp = [1000] * 16 + [1100]
    kaf = [990] * 16 + [1085]
    fpos = [STEP * (i + 1) for i in range(17)]
    times = [5000] * 16 + [5100]
    ix = RemoteSegmentIndex(1000, 990, 0, 5000, STEP, tuple(rp), tuple(kaf), tuple(fpos), tuple(times))
    body = (
        struct.pack("<qQ", STEP, 17)
        + struct.pack("<qq", 1000, 1000)  # last_rp = last value of the last full row
        + struct.pack("<qq", 990, 990)
        + struct.pack("<qq", 0, 16 * STEP)
        + _vec16([1100] + [1000] * 15)
        + _vec16([1085] + [990] * 15)
        + _vec16([17 * STEP] + [STEP * (i + 1) for i in range(1, 16)])
        # one row each: xor deltas against 1000 / 990 are all 0, file deltas (d - 65536) are all 0
        + _iobuf(b"\x00")
        + _iobuf(b"\x00")
        + _iobuf(b"\x00")
        + struct.pack("<qq", 5000, 5000)
        + _vec16([5100] + [5000] * 15)
        + _iobuf(b"\x00")
    )
    expected = _envelope(2, 1, body)
    assert encode_remote_index(ix) == expected
    assert decode_remote_index(expected) == ix
    assert find_kafka_offset(ix, 1085) == IndexEntry(1000, 990, 16 * STEP)
    assert find_kafka_offset(ix, 1086) == IndexEntry(1100, 1085, 17 * STEP)


def test_golden_version_1_layout() -> None:
    ix = RemoteSegmentIndex(
        7, 7, max_timestamps=None, rp_offsets=(70,), kafka_offsets=(70,), file_positions=(STEP,)
    )
    body = (
        struct.pack("<qQqqqqqq", STEP, 1, 7, 7, 7, 7, 0, 0)
        + _vec16([70] + [0] * 15)
        + _vec16([70] + [0] * 15)
        + _vec16([STEP] + [0] * 15)
        + _iobuf(b"") * 3
    )
    expected = _envelope(1, 1, body)  # version<1>, compat_version<1>: the pre-timestamp header
    assert encode_remote_index(ix) == expected
    back = decode_remote_index(expected)
    assert back == ix
    assert find_timestamp(back, 10**12) is None  # no time index
    assert find_rp_offset(back, 71) == IndexEntry(70, 70, STEP)


def test_newer_version_trailing_fields_are_skipped() -> None:
    data = encode_remote_index(
        RemoteSegmentIndex(
            1,
            1,
            rp_offsets=(5,),
            kafka_offsets=(5,),
            file_positions=(STEP,),
            max_timestamps=(9,),
            base_timestamp=0,
        )
    )
    body = data[6:] + b"\x01\x02\x03"  # a version-3 field
    newer = _envelope(3, 1, body)
    assert decode_remote_index(newer) == decode_remote_index(data)


def test_incompatible_version_is_refused() -> None:
    data = encode_remote_index(RemoteSegmentIndex(1, 1))
    with pytest.raises(SerdeError, match="compat_version=3"):
        decode_remote_index(b"\x03\x03" + data[2:])


def test_write_buffer_too_short_for_samples() -> None:
    good = encode_remote_index(
        RemoteSegmentIndex(
            1, 1, rp_offsets=(5,), kafka_offsets=(5,), file_positions=(STEP,), max_timestamps=(9,)
        )
    )
    # replace rp_write_buf (16 slots) by an empty vector and fix the envelope size
    head = good[6 : 6 + 64]
    rest = good[6 + 64 + 4 + 128 :]
    body = head + struct.pack("<I", 0) + rest
    with pytest.raises(IndexFormatError, match="write buffer has 0 slots"):
        decode_remote_index(_envelope(2, 1, body))


def test_trailing_bytes_after_object_are_refused() -> None:
    with pytest.raises(SerdeError, match="trailing"):
        decode_remote_index(encode_remote_index(RemoteSegmentIndex(1, 1)) + b"\x00")


def test_dataclass_validates_parallel_columns() -> None:
    with pytest.raises(ValueError, match="same length"):
        RemoteSegmentIndex(0, 0, rp_offsets=(1,))
    with pytest.raises(ValueError, match="one value per sample"):
        RemoteSegmentIndex(
            0, 0, rp_offsets=(1,), kafka_offsets=(1,), file_positions=(STEP,), max_timestamps=()
        )
    with pytest.raises(ValueError, match="version-1"):
        RemoteSegmentIndex(0, 0, base_timestamp=5, max_timestamps=None)


def test_encode_rejects_file_positions_closer_than_step() -> None:
    n = 16
    ix = RemoteSegmentIndex(
        0, 0, 0, 0, STEP, tuple(range(n)), tuple(range(n)), tuple(1000 * (i + 1) for i in range(n)), (0,) * n
    )
    with pytest.raises(ValueError, match="step"):
        encode_remote_index(ix)


# -- lookups -----------------------------------------------------------------------------------------


def test_redpanda_search_test() -> None:
    """src/v/cloud_storage/tests/remote_segment_index_test.cc::remote_segment_index_search_test."""
    rnd = random.Random(1023)
    rp, kaf, fpos, ts = 1234, 1210, rnd.randint(1000, 2000), 123456
    rps, kafs, fps, tss = [], [], [], []
    is_config = False
    for _ in range(1023):  # 63 full rows plus a 15-slot buffer (minus the config batches)
        if not is_config:
            rps.append(rp)
            kafs.append(kaf)
            fps.append(fpos)
            tss.append(ts)
        batch_size = rnd.randint(2, 100)
        is_config = rnd.randint(0, 20) == 0
        rp += batch_size
        kaf += batch_size - 1 if is_config else batch_size
        fpos += rnd.randint(1000, 2000)
        ts += 1
    ix = RemoteSegmentIndex(1234, 1210, 0, 0xDEADBEEF, 1000, tuple(rps), tuple(kafs), tuple(fps), tuple(tss))
    index = decode_remote_index(encode_remote_index(ix))
    assert index == ix
    assert find_rp_offset(index, 1233) is None
    assert find_kafka_offset(index, 1209) is None
    for i in range(len(rps)):
        assert find_rp_offset(index, rps[i] + 1) == (rps[i], kafs[i], fps[i])
        assert find_kafka_offset(index, kafs[i] + 1) == (rps[i], kafs[i], fps[i])
        assert find_timestamp(index, tss[i] + 1) == (rps[i], kafs[i], fps[i])
        # strictly below: the exact key returns the previous sample
        expected_prev = (rps[i - 1], kafs[i - 1], fps[i - 1]) if i else None
        assert find_kafka_offset(index, kafs[i]) == expected_prev
    last = (rps[-1], kafs[-1], fps[-1])
    assert find_rp_offset(index, rps[-1] + 10**6) == last
    assert find_kafka_offset(index, kafs[-1] + 10**6) == last


def test_find_timestamp_disabled_without_base_timestamp() -> None:
    ix = RemoteSegmentIndex(0, 0, 0, -1, STEP, (10,), (10,), (STEP,), (99,))
    assert find_timestamp(ix, 1000) is None
    assert find_kafka_offset(ix, 11) == (10, 10, STEP)


def _times_index(row: list[int], buffered: list[int]) -> RemoteSegmentIndex:
    n = len(row) + len(buffered)
    return RemoteSegmentIndex(
        0,
        0,
        0,
        1,
        STEP,
        tuple(range(n)),
        tuple(range(n)),
        tuple(STEP * (i + 1) for i in range(n)),
        tuple(row + buffered),
    )


def test_lookup_follows_redpanda_scan_order_for_unordered_timestamps() -> None:
    # the encoded part's first value is >= bound, so maybe_find_offset scans the write buffer and
    # returns its sample 16 even though sample 0 already stopped the encoded-part scan
    ix = _times_index([100] * 16, [50])
    assert find_timestamp(ix, 60) == (16, 16, 17 * STEP)
    # a candidate in the middle of the encoded part is returned without looking at the buffer
    ix = _times_index([10] * 8 + [100] * 8, [5])
    assert find_timestamp(ix, 50) == (7, 7, 8 * STEP)
    # candidate at the last encoded slot: the buffer continues the scan, stopping at its first >= bound
    ix = _times_index([10] * 16, [20, 99, 30])
    assert find_timestamp(ix, 50) == (16, 16, 17 * STEP)


@given(st.lists(st.integers(1, 500), max_size=60), st.integers(-10, 20_000))
def test_monotonic_lookup_is_last_sample_strictly_below(gaps: list[int], bound: int) -> None:
    vals, v = [], 0
    for g in gaps:
        v += g
        vals.append(v)
    n = len(vals)
    ix = RemoteSegmentIndex(
        0, 0, 0, 0, STEP, tuple(vals), tuple(vals), tuple(STEP * (i + 1) for i in range(n)), tuple(vals)
    )
    below = [i for i in range(n) if vals[i] < bound]
    expected = IndexEntry(vals[below[-1]], vals[below[-1]], STEP * (below[-1] + 1)) if below else None
    assert find_rp_offset(ix, bound) == expected
    assert find_kafka_offset(ix, bound) == expected
    assert find_timestamp(ix, bound) == expected


# -- builder -----------------------------------------------------------------------------------------


def _batches(spec: list[tuple[int, int, int, int]]) -> list[BatchPosition]:
    """(base_offset, type, last_offset_delta, size) -> BatchPosition laid out back to back from 0."""
    out, pos = [], 0
    for base, btype, lod, size in spec:
        out.append(BatchPosition(base, btype, lod, size, pos, 1000 + base))
        pos += size
    return out


def test_builder_follows_consume_batch_start() -> None:
    batches = _batches(
        [
            (0, 2, 0, 100),  # raft_configuration: running delta 0 -> 1, never sampled
            (1, 1, 9, 40000),  # window 100: no sample
            (11, 1, 9, 40000),  # window 40100: no sample
            (21, 1, 9, 40000),  # window 80100 >= 64 KiB: sample (21, 21 - 1, pos 80100)
            (31, 19, 0, 200),  # archival_metadata: running delta 2
            (32, 1, 9, 40000),  # window 40200: no sample
            (42, 1, 9, 40000),  # window 80200: sample (42, 40, pos 160300)
        ]
    )
    ix = build_remote_index(batches, delta_offset=0, base_timestamp=777)
    assert ix == RemoteSegmentIndex(
        base_rp_offset=0,
        base_kafka_offset=0,
        base_file_pos=0,
        base_timestamp=777,
        min_file_pos_step=SAMPLING_STEP_BYTES,
        rp_offsets=(21, 42),
        kafka_offsets=(20, 40),
        file_positions=(80100, 160300),
        max_timestamps=(1021, 1042),
    )
    assert decode_remote_index(encode_remote_index(ix)) == ix
    assert find_kafka_offset(ix, 40) == (21, 20, 80100)  # strictly below 40
    assert find_kafka_offset(ix, 41) == (42, 40, 160300)
    assert find_kafka_offset(ix, 20) is None  # before the first sample: read from the segment start
    assert find_timestamp(ix, 1043) == (42, 40, 160300)


def test_builder_initial_delta_and_explicit_base() -> None:
    batches = _batches([(500, 1, 0, 70000), (501, 1, 0, 10)])
    ix = build_remote_index(batches, delta_offset=7, base_rp_offset=499)
    assert (ix.base_rp_offset, ix.base_kafka_offset) == (499, 492)
    assert ix.rp_offsets == (501,)
    assert ix.kafka_offsets == (494,)


def test_builder_outside_kafka_namespace_translates_nothing() -> None:
    batches = _batches([(0, 2, 0, 70000), (1, 1, 0, 10)])
    ix = build_remote_index(batches, delta_offset=0, namespace="kafka_internal")
    assert ix.kafka_offsets == (1,)  # the configuration batch still counts as a kafka offset
    ix = build_remote_index(batches, delta_offset=0)
    assert ix.kafka_offsets == (0,)


def test_builder_with_sampling_step_zero_samples_every_data_batch() -> None:
    # as remote_segment_index_test.cc::test_remote_segment_index_builder (sampling step 0)
    spec, base = [], 100
    rnd = random.Random(7)
    for _ in range(100):
        n = rnd.randint(1, 20)
        spec.append((base, 1, n - 1, rnd.randint(61, 2000)))
        base += n
    batches = _batches(spec)
    ix = build_remote_index(batches, delta_offset=0, sampling_step=0, base_timestamp=0xDEADBEEF)
    assert ix.rp_offsets == tuple(b.base_offset for b in batches)
    assert ix.min_file_pos_step == 0
    back = decode_remote_index(encode_remote_index(ix))
    for b in batches:
        assert find_rp_offset(back, b.base_offset + 1) == (b.base_offset, b.base_offset, b.file_pos)


def test_builder_of_nothing() -> None:
    ix = build_remote_index([], delta_offset=3)
    assert (ix.base_rp_offset, ix.base_kafka_offset, len(ix)) == (0, -3, 0)


def test_offset_translator_types() -> None:
    # raft_configuration, archival_metadata, version_fence, prefix_truncate,
    # partition_properties_update, datalake_translation_state (src/v/model/record_batch_types.h)
    assert frozenset({2, 19, 23, 25, 34, 38}) == OFFSET_TRANSLATOR_BATCH_TYPES


# -- properties --------------------------------------------------------------------------------------

I64 = st.integers(-(2**63), 2**63 - 1)


@st.composite
def indexes(draw: st.DrawFn) -> RemoteSegmentIndex:
    n = draw(st.integers(0, 40))
    step = draw(st.integers(0, 2**20))
    base_file = draw(st.integers(0, 2**30))
    fpos, p = [], base_file
    for _ in range(n):
        p += step + draw(st.integers(0, 2**24))
        fpos.append(p)
    v1 = draw(st.booleans())
    return RemoteSegmentIndex(
        base_rp_offset=draw(I64),
        base_kafka_offset=draw(I64),
        base_file_pos=base_file,
        base_timestamp=-1 if v1 else draw(I64),
        min_file_pos_step=step,
        rp_offsets=tuple(draw(st.lists(I64, min_size=n, max_size=n))),
        kafka_offsets=tuple(draw(st.lists(I64, min_size=n, max_size=n))),
        file_positions=tuple(fpos),
        max_timestamps=None if v1 else tuple(draw(st.lists(I64, min_size=n, max_size=n))),
    )


@settings(max_examples=examples(200))
@given(indexes())
def test_round_trip(ix: RemoteSegmentIndex) -> None:
    data = encode_remote_index(ix)
    back = decode_remote_index(data)
    assert back == ix
    assert encode_remote_index(back) == data


@settings(max_examples=examples(500))
@given(st.binary(max_size=600))
def test_arbitrary_bytes_decode_or_format_error(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        decode_remote_index(data)


@settings(max_examples=examples(500))
@given(indexes(), st.data())
def test_corrupted_objects_decode_or_format_error(ix: RemoteSegmentIndex, data: st.DataObject) -> None:
    raw = bytearray(encode_remote_index(ix))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        back = decode_remote_index(bytes(raw[:cut]))
    except FormatError:
        return
    find_kafka_offset(back, 0)
    find_timestamp(back, 0)
