"""Specification of segment_format.offsets: Kafka offset = Redpanda offset - delta.

From ``src/v/storage/offset_translator_state.h`` and the cloud reader ``src/v/cloud_storage/remote_segment.cc``
(``_cur_delta += last_offset_delta + 1`` for every batch of ``model::offset_translator_batch_types()``;
only raft_data batches go to clients). The segment metadata invariant ``next.delta_offset ==
prev.delta_offset_end`` is the one Redpanda's manifests carry (e.g. the fixture manifest.json of
``tools/rp_storage_tool``: segments 3795.. (1 -> 1), 7605.. (1 -> 3), 11508.. (3 -> 3)).
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from segment_format.batch import OFFSET_TRANSLATOR_TYPES, BatchType, build_batch
from segment_format.manifest import PartitionManifest, SegmentMeta
from segment_format.offsets import OffsetTranslator, TranslatedBatch, translate
from segment_format.records import Record
from segment_format.segment import SegmentWriter, iter_batches
from tests.hypothesis_support import examples


def _batch(base: int, type_: int, n: int) -> bytes:
    recs = [Record(offset_delta=i, timestamp_delta=0, key=None, value=b"x") for i in range(n)]
    return build_batch(recs, base_offset=base, first_timestamp=1, type=type_)


def _segment(spec: list[tuple[int, int]], base: int = 0) -> bytes:
    w = SegmentWriter()
    for type_, n in spec:
        w.append(_batch(base, type_, n))
        base += n
    return w.getvalue()


def test_golden_partition_start() -> None:
    """A fresh partition: raft configuration at offset 0, data from 1; archival metadata and a tx fence."""
    seg = _segment(
        [
            (BatchType.raft_configuration, 1),  # rp 0        -> no kafka offset, delta 0 -> 1
            (BatchType.raft_data, 3),  # rp 1..3     -> kafka 0..2
            (BatchType.archival_metadata, 2),  # rp 4..5     -> none, delta 1 -> 3
            (BatchType.tx_fence, 1),  # rp 6        -> kafka 3 (hidden from clients, but takes an offset)
            (BatchType.raft_data, 2),  # rp 7..8     -> kafka 4..5
            (BatchType.version_fence, 1),  # rp 9        -> none, delta 3 -> 4
            (BatchType.prefix_truncate, 1),  # rp 10       -> none, delta 4 -> 5
            (BatchType.partition_properties_update, 1),  # rp 11 -> none, delta 5 -> 6
            (BatchType.datalake_translation_state, 1),  # rp 12  -> none, delta 6 -> 7
            (BatchType.raft_data, 1),  # rp 13       -> kafka 6
        ]
    )
    out = list(translate(iter_batches(seg), 0))
    assert [t.kafka_base_offset for t in out] == [None, 0, None, 3, 4, None, None, None, None, 6]
    assert [t.kafka_last_offset for t in out] == [None, 2, None, 3, 5, None, None, None, None, 6]
    assert [t.is_data for t in out] == [False, True, False, False, True, False, False, False, False, True]


def test_translator_state() -> None:
    t = OffsetTranslator(5)
    seg = _segment([(BatchType.raft_data, 2), (BatchType.raft_configuration, 3), (BatchType.raft_data, 1)], 100)
    hs = [b.header for b in iter_batches(seg)]
    assert t.advance(hs[0]) == 95 and t.delta == 5
    assert t.to_kafka(101) == 96
    assert t.advance(hs[1]) is None and t.delta == 8  # last_offset_delta 2 + 1
    assert t.advance(hs[2]) == 105 - 8


def test_non_kafka_namespace_is_not_translated() -> None:
    """``raft::offset_translator_batch_types(ntp)`` is empty outside the kafka namespace."""
    seg = _segment([(BatchType.raft_configuration, 1), (BatchType.raft_data, 2)])
    out = list(translate(iter_batches(seg), 0, namespace="redpanda"))
    assert [t.kafka_base_offset for t in out] == [0, 1]
    assert OffsetTranslator(namespace="kafka_internal").translating is False


def test_translated_batch_of_a_control_batch() -> None:
    (b,) = iter_batches(_batch(10, BatchType.raft_data, 1))
    tb = TranslatedBatch(b, None)
    assert tb.kafka_last_offset is None and tb.is_data


# ---------------------------------------------------------------- properties

batch_types = st.sampled_from(
    [BatchType.raft_data] * 4
    + [BatchType.tx_fence, BatchType.checkpoint]
    + sorted(OFFSET_TRANSLATOR_TYPES, key=int)  # type: ignore[arg-type]
)


@st.composite
def logs(draw: st.DrawFn) -> tuple[list[tuple[int, int]], list[int]]:
    """A log as (type, record count) pairs, and the cut points that split it into segments."""
    spec = draw(st.lists(st.tuples(batch_types, st.integers(1, 5)), min_size=1, max_size=25))
    cuts = sorted(set(draw(st.lists(st.integers(1, len(spec)), max_size=4))) - {len(spec)})
    return spec, cuts


@settings(max_examples=examples(150), deadline=None)
@given(logs(), st.integers(0, 1000), st.integers(0, 50))
def test_translation_invariants(log: tuple[list[tuple[int, int]], list[int]], base: int, delta0: int) -> None:
    spec, cuts = log
    bounds = [0, *cuts, len(spec)]
    delta = delta0
    rp = base
    kafka_seen: list[int] = []
    metas: list[SegmentMeta] = []
    for lo, hi in itertools.pairwise(bounds):
        seg_spec = spec[lo:hi]
        seg = _segment(seg_spec, rp)
        start_delta = delta
        out = list(translate(iter_batches(seg), start_delta))
        for tb in out:
            h = tb.batch.header
            if h.type in OFFSET_TRANSLATOR_TYPES:
                assert tb.kafka_base_offset is None
                delta += h.last_offset_delta + 1  # grows by exactly the offsets the batch occupies
            else:
                assert tb.kafka_base_offset == h.base_offset - delta
                assert tb.kafka_last_offset == h.last_offset - delta
                kafka_seen.extend(range(tb.kafka_base_offset, tb.kafka_last_offset + 1))
        n = sum(c for _, c in seg_spec)
        metas.append(
            SegmentMeta(base_offset=rp, committed_offset=rp + n - 1, size_bytes=len(seg), segment_term=1,
                        delta_offset=start_delta, delta_offset_end=delta, sname_format=3)
        )  # fmt: skip
        rp += n
    # kafka offsets of the batches that take them: strictly increasing and gapless
    assert kafka_seen == list(range(base - delta0, base - delta0 + len(kafka_seen)))
    # delta = translator offsets so far
    assert delta - delta0 == sum(c for t, c in spec if t in OFFSET_TRANSLATOR_TYPES)
    # segment chain: each segment starts with the delta the previous one ended with
    for prev, cur in itertools.pairwise(metas):
        assert cur.delta_offset == prev.delta_offset_end
        assert cur.base_kafka_offset == prev.next_kafka_offset
    m = PartitionManifest(namespace="kafka", topic="t", partition=0, revision=1,
                          last_offset=rp - 1).with_segments(metas)  # fmt: skip
    assert m.anomalies() == []
    assert m.kafka_next_offset == base - delta0 + len(kafka_seen)
    # every kafka offset maps to the segment whose translated batches hold it
    for k in kafka_seen:
        meta = m.find_by_kafka_offset(k)
        assert meta is not None and meta.base_kafka_offset <= k < meta.next_kafka_offset
    assert m.find_by_kafka_offset(m.kafka_next_offset) is None
