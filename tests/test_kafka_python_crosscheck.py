"""Cross-check against an independent Kafka implementation: kafka-python's v2 record batch code.

* Kafka-wire batches we serve (``kafka_header(...)`` + the stored records) decode with kafka-python's
  ``DefaultRecordBatch`` / ``MemoryRecords``: offsets, timestamps, keys, values, headers, attributes,
  producer fields, every codec, and ``validate_crc()``.
* Batches built by kafka-python's ``DefaultRecordBatchBuilder`` (what a Python producer sends) convert
  with ``from_kafka`` and decode with our code to the same records, and convert back byte-identically.

kafka-python needs the ``python-snappy``, ``lz4`` and ``zstandard`` packages for three of the codecs. When
they are not installed, :func:`kafka_codecs` gives kafka-python stand-ins backed by ``cramjam`` (the
library our codec uses); kafka-python's own framing code (xerial snappy blocks, LZ4 frames, zstd frames)
still does the parsing. With the real packages importable the check is fully independent.
"""

from __future__ import annotations

import io
import struct
import sys
import types
from collections.abc import Iterator
from typing import Any

import cramjam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka import codec as kcodec
from kafka.record import default_records as kdr
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

from segment_format.batch import Attributes, BatchType, build_batch, decode_header, from_kafka, kafka_header
from segment_format.offsets import translate
from segment_format.records import Compression, Record, RecordHeader
from segment_format.segment import SegmentWriter, iter_batches
from tests.hypothesis_support import examples

CODECS = list(Compression)


class _ZstdReader(io.BytesIO):
    def __enter__(self) -> _ZstdReader:
        return self


class _Zstd:
    class ZstdCompressor:
        def compress(self, data: bytes) -> bytes:
            return bytes(cramjam.zstd.compress(bytes(data)))

    class ZstdDecompressor:
        def stream_reader(self, source: io.BytesIO, read_across_frames: bool = True) -> _ZstdReader:
            return _ZstdReader(bytes(cramjam.zstd.decompress(source.getvalue())))


def _lz4_decode(data: bytes) -> bytes:
    return bytes(cramjam.lz4.decompress(bytes(data)))


def _lz4_encode(data: bytes) -> bytes:
    return bytes(cramjam.lz4.compress(bytes(data)))


@pytest.fixture(autouse=True)
def kafka_codecs(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Make every codec available to kafka-python (see the module docstring)."""
    used = []
    if not kcodec.has_snappy():
        snappy = types.SimpleNamespace(
            compress=lambda b: bytes(cramjam.snappy.compress_raw(bytes(b))),
            decompress=lambda b: bytes(cramjam.snappy.decompress_raw(bytes(b))),
        )
        monkeypatch.setattr(kcodec, "snappy", snappy)
        used.append("snappy")
    if not kcodec.has_zstd():
        monkeypatch.setattr(kcodec, "zstd", _Zstd)
        used.append("zstd")
    if not kcodec.has_lz4():
        monkeypatch.setattr(kcodec, "lz4", types.SimpleNamespace())
        monkeypatch.setattr(kdr, "lz4_encode", _lz4_encode)
        monkeypatch.setattr(kdr, "lz4_decode", _lz4_decode)
        used.append("lz4")
    yield ",".join(used)


def test_which_codec_libraries(kafka_codecs: str) -> None:
    """Not a check: records in the test log whether the real codec packages were used."""
    sys.stdout.write(f"kafka-python codecs backed by cramjam stand-ins: {kafka_codecs or 'none'}\n")


# ---------------------------------------------------------------- helpers


def kafka_python_records(buf: bytes) -> tuple[DefaultRecordBatch, list[Any]]:
    batch = DefaultRecordBatch(bytes(buf))
    assert batch.validate_crc()
    return batch, list(batch)


def _control_record(commit: bool, offset_delta: int = 0) -> Record:
    return Record(
        offset_delta=offset_delta,
        timestamp_delta=0,
        key=struct.pack(">hh", 0, 1 if commit else 0),  # control record key: version 0, type commit/abort
        value=struct.pack(">hi", 0, 5),  # version 0, coordinator epoch 5
    )


# ---------------------------------------------------------------- our Kafka-wire batches -> kafka-python


@pytest.mark.parametrize("codec", CODECS)
def test_our_wire_batches_decode_with_kafka_python(codec: Compression) -> None:
    records = [
        Record(offset_delta=0, timestamp_delta=0, key=b"k0", value=b"v0" * 50),
        Record(offset_delta=1, timestamp_delta=7, key=None, value=b"", headers=(RecordHeader("h", b"x"),)),
        Record(offset_delta=2, timestamp_delta=3, key=b"", value=None,
               headers=(RecordHeader("tr\u00e4ce", None), RecordHeader("", b""))),
    ]  # fmt: skip
    seg = build_batch(records, base_offset=1000, first_timestamp=1_700_000_000_000, compression=codec,
                      producer_id=42, producer_epoch=3, base_sequence=17)  # fmt: skip
    (b,) = iter_batches(seg)
    wire = kafka_header(b.header, base_offset=900, leader_epoch=6) + b.records
    kb, recs = kafka_python_records(wire)
    assert (kb.base_offset, kb.magic, kb.leader_epoch, kb.compression_type) == (900, 2, 6, int(codec))
    assert (kb.producer_id, kb.producer_epoch, kb.base_sequence) == (42, 3, 17)
    assert (kb.last_offset_delta, kb.records_count, kb.crc) == (2, 3, b.header.crc)
    assert (kb.first_timestamp, kb.max_timestamp) == (1_700_000_000_000, 1_700_000_000_007)
    assert not kb.is_transactional and not kb.is_control_batch
    assert [r.offset for r in recs] == [900, 901, 902]
    assert [r.timestamp for r in recs] == [1_700_000_000_000, 1_700_000_000_007, 1_700_000_000_003]
    assert [(r.key, r.value) for r in recs] == [(b"k0", b"v0" * 50), (None, b""), (b"", None)]
    assert [r.headers for r in recs] == [[], [("h", b"x")], [("tr\u00e4ce", None), ("", b"")]]


def test_log_append_time_and_transactions() -> None:
    records = [Record(offset_delta=i, timestamp_delta=i, key=None, value=b"%d" % i) for i in range(3)]
    seg = build_batch(records, base_offset=0, first_timestamp=100, max_timestamp=555,
                      attrs=Attributes.TIMESTAMP_TYPE | Attributes.TRANSACTIONAL, producer_id=9,
                      producer_epoch=1, base_sequence=0)  # fmt: skip
    (b,) = iter_batches(seg)
    kb, recs = kafka_python_records(kafka_header(b.header, base_offset=10) + b.records)
    assert kb.timestamp_type == 1 and kb.is_transactional
    assert [r.timestamp for r in recs] == [555, 555, 555]  # LogAppendTime: the batch's max timestamp
    assert [r.offset for r in recs] == [10, 11, 12]


@pytest.mark.parametrize("commit", [True, False])
def test_control_batch(commit: bool) -> None:
    seg = build_batch([_control_record(commit)], base_offset=50, first_timestamp=1, type=BatchType.raft_data,
                      attrs=Attributes.TRANSACTIONAL | Attributes.CONTROL, producer_id=9, producer_epoch=1)  # fmt: skip
    (b,) = iter_batches(seg)
    kb, recs = kafka_python_records(kafka_header(b.header, base_offset=48) + b.records)
    assert kb.is_control_batch and kb.is_transactional
    (r,) = recs
    assert (r.offset, r.commit, r.abort, r.version) == (48, commit, not commit, 0)


def test_segment_served_as_memory_records() -> None:
    """A whole segment translated to Kafka offsets and concatenated, as a fetch response carries it."""
    w = SegmentWriter()
    base = 0
    spec = [(BatchType.raft_configuration, 1, Compression.NONE), (BatchType.raft_data, 3, Compression.GZIP),
            (BatchType.archival_metadata, 2, Compression.NONE), (BatchType.raft_data, 2, Compression.ZSTD),
            (BatchType.raft_data, 1, Compression.SNAPPY), (BatchType.raft_data, 4, Compression.LZ4)]  # fmt: skip
    for t, n, c in spec:
        recs = [Record(offset_delta=i, timestamp_delta=i, key=b"%d" % (base + i), value=b"v" * i) for i in range(n)]
        w.append(build_batch(recs, base_offset=base, first_timestamp=1000 + base, type=t, compression=c))
        base += n
    seg = w.getvalue()
    wire = b"".join(
        kafka_header(tb.batch.header, base_offset=tb.kafka_base_offset) + tb.batch.records
        for tb in translate(iter_batches(seg), 0)
        if tb.is_data and tb.kafka_base_offset is not None
    )
    mr = MemoryRecords(wire)
    offsets, keys, batches = [], [], 0
    while mr.has_next():
        kb = mr.next_batch()
        assert kb.validate_crc()
        batches += 1
        for r in kb:
            offsets.append(r.offset)
            keys.append(r.key)
    assert batches == 4
    assert offsets == list(range(10))  # kafka offsets: contiguous once the two non-data batches are removed
    assert keys == [b"1", b"2", b"3", b"6", b"7", b"8", b"9", b"10", b"11", b"12"]  # rp offsets as keys


# ---------------------------------------------------------------- kafka-python's producer batches -> ours


def kafka_python_batch(records: list[dict[str, Any]], codec: int, transactional: bool = False,
                       pid: int = -1, epoch: int = -1, seq: int = -1) -> bytes:  # fmt: skip
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=transactional,
                                        producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                                        batch_size=1 << 30)  # fmt: skip
    for i, r in enumerate(records):
        assert builder.append(i, timestamp=r["ts"], key=r["key"], value=r["value"], headers=r["headers"]) is not None
    return bytes(builder.build())


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_batches_convert_and_decode(codec: Compression) -> None:
    produced = [
        {"ts": 1_700_000_000_000, "key": b"a", "value": b"1" * 300, "headers": [("h1", b"x"), ("h2", None)]},
        {"ts": 1_699_999_999_999, "key": None, "value": None, "headers": []},
        {"ts": 1_700_000_000_050, "key": b"", "value": b"", "headers": [("", b"")]},
    ]
    wire = kafka_python_batch(produced, int(codec), pid=77, epoch=2, seq=5)
    seg = from_kafka(wire, base_offset=12345, type=BatchType.raft_data)
    (b,) = iter_batches(seg)  # our reader verifies both CRCs
    h = b.header
    assert (h.base_offset, h.compression, h.record_count, h.last_offset_delta) == (12345, codec, 3, 2)
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (77, 2, 5)
    assert (h.first_timestamp, h.max_timestamp) == (1_700_000_000_000, 1_700_000_000_050)
    ours = b.decode_records()
    assert [(h.first_timestamp + r.timestamp_delta, r.key, r.value) for r in ours] == [
        (p["ts"], p["key"], p["value"]) for p in produced
    ]
    assert [[(x.key, x.value) for x in r.headers] for r in ours] == [p["headers"] for p in produced]
    assert [r.offset_delta for r in ours] == [0, 1, 2]
    # and back to the wire byte-identically (leader epoch and base offset are broker-set, 0 from a producer)
    assert kafka_header(h, base_offset=0, leader_epoch=0) + bytes(b.records) == wire


# ---------------------------------------------------------------- properties

hdrs = st.lists(st.tuples(st.text(max_size=5), st.none() | st.binary(max_size=6)), max_size=2)


@settings(max_examples=examples(60), deadline=None)
@given(
    st.lists(st.tuples(st.none() | st.binary(max_size=20), st.none() | st.binary(max_size=40), hdrs,
                       st.integers(0, 10_000)), min_size=1, max_size=5),
    st.sampled_from(CODECS), st.integers(0, 2**40), st.integers(0, 2**40), st.booleans(),
)  # fmt: skip
def test_both_directions_property(
    rows: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]], int]],
    codec: Compression, rp_base: int, delta: int, transactional: bool,
) -> None:  # fmt: skip
    first_ts = 1_600_000_000_000
    # ours -> kafka-python
    records = [
        Record(offset_delta=i, timestamp_delta=ts, key=k, value=v,
               headers=tuple(RecordHeader(a, b) for a, b in hs))
        for i, (k, v, hs, ts) in enumerate(rows)
    ]  # fmt: skip
    attrs = Attributes.TRANSACTIONAL if transactional else 0
    seg = build_batch(records, base_offset=rp_base, first_timestamp=first_ts, compression=codec, attrs=attrs,
                      producer_id=5 if transactional else -1, producer_epoch=0 if transactional else -1)  # fmt: skip
    (b,) = iter_batches(seg)
    kafka_base = max(rp_base - delta, 0)
    kb, recs = kafka_python_records(kafka_header(b.header, base_offset=kafka_base) + b.records)
    assert kb.is_transactional == transactional and kb.compression_type == int(codec)
    assert [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in recs] == [
        (kafka_base + i, first_ts + ts, k, v, hs) for i, (k, v, hs, ts) in enumerate(rows)
    ]
    # kafka-python -> ours
    wire = kafka_python_batch(
        [{"ts": first_ts + ts, "key": k, "value": v, "headers": hs} for k, v, hs, ts in rows], int(codec),
        transactional=transactional, pid=5 if transactional else -1, epoch=0 if transactional else -1,
    )  # fmt: skip
    (ob,) = iter_batches(from_kafka(wire, base_offset=rp_base))
    ours = ob.decode_records()
    kfirst = decode_header(from_kafka(wire, base_offset=rp_base)).first_timestamp
    assert [(kfirst + r.timestamp_delta, r.key, r.value, [(x.key, x.value) for x in r.headers]) for r in ours] == [
        (first_ts + ts, k, v, hs) for k, v, hs, ts in rows
    ]
