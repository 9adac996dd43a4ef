"""segment_format.index: seeks through Redpanda's ``.index`` land where a full scan would.

Property: for a random segment (data batches mixed with translator batches that take no Kafka offsets,
batches of random sizes so the 64 KiB sampling falls anywhere), for every Kafka offset and every timestamp,
reading from the ``ReadStart`` the index gives — with an ``OffsetTranslator`` started at its delta — reaches
the same batch a scan from position 0 finds, never starts after it, and translates offsets identically.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from segment_format.batch import BatchType, build_batch
from segment_format.index import (
    ReadStart,
    batch_positions,
    build_index,
    build_index_object,
    seek_kafka_offset,
    seek_timestamp,
)
from segment_format.offsets import OffsetTranslator
from segment_format.records import Record
from segment_format.remote_index import decode_remote_index
from segment_format.segment import BatchReader, SegmentWriter
from tests.hypothesis_support import examples


@dataclass(frozen=True)
class Scanned:
    position: int
    kafka_base: int
    kafka_last: int
    max_timestamp: int


def make_segment(spec: list[tuple[bool, int, int]], base_offset: int, base_ts: int) -> bytes:
    """``spec``: (is_data, record count, value size) per batch; timestamps rise from batch to batch (a
    timestamp seek, Redpanda's as ours, assumes max timestamps that do not go backwards)."""
    w = SegmentWriter()
    offset, ts = base_offset, base_ts
    for is_data, count, size in spec:
        records = [Record(offset_delta=i, timestamp_delta=i, key=None, value=bytes([i % 251]) * size)
                   for i in range(count)]
        w.append(build_batch(records, base_offset=offset, first_timestamp=ts,
                             type=BatchType.raft_data if is_data else BatchType.archival_metadata))
        offset += count
        ts += count + 10
    return w.getvalue()


def scan(segment: bytes, delta: int, start: ReadStart | None = None) -> list[Scanned]:
    """Data batches with Kafka offsets, reading from ``start`` (default: the segment's beginning)."""
    position = start.position if start else 0
    t = OffsetTranslator(start.delta if start else delta)
    out = []
    for b in BatchReader(memoryview(segment)[position:]):
        kafka = t.advance(b.header)
        if kafka is not None and b.header.type == BatchType.raft_data:
            out.append(Scanned(position + b.position, kafka, kafka + b.header.last_offset_delta, b.header.max_timestamp))
    return out


batches = st.lists(st.tuples(st.booleans() | st.just(True), st.integers(1, 20), st.integers(0, 9000)),
                   min_size=1, max_size=60).filter(lambda s: any(d for d, _, _ in s))


@settings(max_examples=examples(60), deadline=None)
@given(spec=batches, base_offset=st.integers(0, 10**9), delta=st.integers(0, 1000), base_ts=st.integers(0, 2**40))
def test_seeks_agree_with_a_full_scan(spec: list[tuple[bool, int, int]], base_offset: int, delta: int,
                                      base_ts: int) -> None:
    delta = min(delta, base_offset)
    segment = make_segment(spec, base_offset, base_ts)
    truth = scan(segment, delta)
    index = decode_remote_index(build_index_object(segment, delta, base_offset, base_timestamp=base_ts))
    assert index == build_index(segment, delta, base_offset, base_timestamp=base_ts)  # object round trip
    for batch in truth:
        for kafka_offset in {batch.kafka_base, batch.kafka_last}:
            start = seek_kafka_offset(index, kafka_offset, base_offset=base_offset, delta_offset=delta)
            assert start.position <= batch.position
            from_there = scan(segment, delta, start)
            assert batch in from_there  # same position, same Kafka offsets as the full scan
    for target in sorted({b.max_timestamp for b in truth} | {base_ts - 1, truth[-1].max_timestamp + 1}):
        want = next((b for b in truth if b.max_timestamp >= target), None)
        start = seek_timestamp(index, target, base_offset=base_offset, delta_offset=delta)
        from_there = scan(segment, delta, start)
        got = next((b for b in from_there if b.max_timestamp >= target), None)
        assert got == want


def test_without_an_index_reads_from_the_segment_start() -> None:
    assert seek_kafka_offset(None, 50, base_offset=100, delta_offset=7) == ReadStart(0, 100, 7)
    assert seek_timestamp(None, 50, base_offset=100, delta_offset=7) == ReadStart(0, 100, 7)


def test_batch_positions_are_header_facts_in_order() -> None:
    segment = make_segment([(True, 3, 10), (False, 1, 0), (True, 2, 100)], 40, 1000)
    positions = list(batch_positions(segment, verify_crc=True))
    assert [p.file_pos for p in positions] == [b.position for b in BatchReader(segment)]
    assert [p.base_offset for p in positions] == [40, 43, 44]
    assert positions[1].batch_type == BatchType.archival_metadata
    assert sum(p.size_bytes for p in positions) == len(segment)
