"""Specification of segment_format.manifest: partition and topic manifests (JSON), and offset lookups.

Inputs are Redpanda's own test literals (``src/v/cloud_storage/tests/partition_manifest_test.cc``,
``topic_manifest_test.cc``) and the real manifests of ``tools/rp_storage_tool/resources/test/``,
transcribed. What Redpanda reads follows ``partition_manifest_handler`` / ``do_update`` and
``topic_manifest_handler``; what it writes follows ``partition_manifest::serialize_begin`` /
``serialize_segment_meta`` / ``serialize_removed_segment_meta`` / ``serialize_spillover_manifest_meta`` and
``topic_manifest::serialize_v1_json`` -- re-implemented independently below as ``rp_serialize_*`` (field
order and omission rules read off those functions) to check that our writer emits the same bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_format.errors import FormatError, ManifestError
from segment_format.keys import segment_key, xxh32
from segment_format.manifest import (
    PartitionManifest,
    SegmentMeta,
    TopicManifest,
    parse_partition_manifest,
    parse_topic_manifest,
)
from tests.hypothesis_support import examples


def compact(doc: str | bytes) -> bytes:
    """What rapidjson's compact writer emits for the same document (key order kept)."""
    return json.dumps(json.loads(doc), separators=(",", ":")).encode()


# ================================================================ partition_manifest_test.cc literals

empty_manifest_json = """{
    "version": 1,
    "namespace": "test-ns",
    "topic": "test-topic",
    "partition": 42,
    "revision": 0,
    "insync_offset": 0,
    "last_offset": 0
}"""

complete_manifest_json = """{
    "version": 1,
    "namespace": "test-ns",
    "topic": "test-topic",
    "partition": 42,
    "revision": 1,
    "last_offset": 39,
    "segments": {
        "10-1-v1.log": {"is_compacted": false, "size_bytes": 1024, "base_offset": 10, "committed_offset": 19,
                        "base_timestamp": 123000, "max_timestamp": 123009},
        "20-1-v1.log": {"is_compacted": false, "size_bytes": 2048, "base_offset": 20, "committed_offset": 29,
                        "base_timestamp": 123010, "max_timestamp": 123019},
        "30-1-v1.log": {"is_compacted": false, "size_bytes": 4096, "base_offset": 30, "committed_offset": 39,
                        "base_timestamp": 123020, "max_timestamp": 123029, "delta_offset": 1},
        "40-11-v1.log": {"is_compacted": false, "size_bytes": 4096, "base_offset": 40, "committed_offset": 49,
                         "base_timestamp": 123030, "max_timestamp": 123039, "delta_offset": 2,
                         "archiver_term": 42, "segment_term": 11, "delta_offset_end": 9, "sname_format": 2},
        "50-11-v1.log": {"is_compacted": false, "size_bytes": 4096, "base_offset": 50, "committed_offset": 59,
                         "base_timestamp": 123040, "max_timestamp": 123049, "delta_offset": 9,
                         "archiver_term": 42, "segment_term": 11, "delta_offset_end": 10, "sname_format": 3,
                         "metadata_size_hint": 321}
    }
}"""

max_segment_meta_manifest_json = """{
    "version": 1,
    "namespace": "test-ns",
    "topic": "test-topic",
    "partition": 42,
    "revision": 1,
    "last_offset": 39,
    "segments": {
        "10-1-v1.log": {
            "is_compacted": false,
            "size_bytes": 1024,
            "base_offset": 10,
            "committed_offset": 19,
            "base_timestamp" : 123456,
            "max_timestamp": 123456789,
            "delta_offset": 12313,
            "ntp_revision": 3,
            "archiver_term" : 3
        }
    }
}"""

no_size_bytes_segment_meta = """{
    "version": 1, "namespace": "test-ns", "topic": "test-topic", "partition": 42, "revision": 1,
    "last_offset": 39,
    "segments": {"10-1-v1.log": {"is_compacted": false, "base_offset": 10, "committed_offset": 19}}
}"""

no_timestamps_segment_meta = """{
    "version": 1, "namespace": "test-ns", "topic": "test-topic", "partition": 42, "revision": 1,
    "last_offset": 39,
    "segments": {"10-1-v1.log": {"is_compacted": false, "size_bytes": 1024, "base_offset": 10,
                                 "committed_offset": 19}}
}"""

segment_meta_gets_smaller_manifest_json = """{
    "version": 1, "namespace": "test-ns", "topic": "test-topic", "partition": 42, "revision": 1,
    "last_offset": 39,
    "segments": {
        "10-1-v1.log": {"is_compacted": false, "size_bytes": 1024, "base_offset": 10, "committed_offset": 19,
                        "base_timestamp" : 123456, "max_timestamp": 123456789, "delta_offset": 12313,
                        "ntp_revision": 3, "archiver_term" : 3},
        "20-1-v1.log": {"is_compacted": false, "size_bytes": 2048, "base_offset": 20, "committed_offset": 29}
    }
}"""

no_closing_bracket_segment_meta = """{
    "version": 1, "namespace": "test-ns", "topic": "test-topic", "partition": 42, "revision": 1,
    "last_offset": 39,
    "segments": {
        "10-1-v1.log": {"is_compacted": false, "size_bytes": 1024, "base_offset": 10, "committed_offset": 19}
}"""

fields_after_segments_json = """{
    "segments": {
        "10-1-v1.log": {"is_compacted": false, "size_bytes": 1024, "base_offset": 10, "committed_offset": 19}
    },
    "version": 1, "namespace": "test-ns", "topic": "test-topic", "partition": 42, "revision": 1,
    "last_offset": 39
}"""

missing_last_offset_manifest_json = """{
    "version": 1, "namespace": "test-ns", "topic": "test-topic", "partition": 42, "revision": 1,
    "segments": {
        "10-1-v1.log": {"is_compacted": false, "size_bytes": 1024, "base_offset": 10, "committed_offset": 19}
    }
}"""

manifest_with_gaps = """{
    "version": 1, "namespace": "test-ns", "topic": "test-topic", "partition": 42, "revision": 1,
    "last_offset": 59,
    "segments": {
        "10-1-v1.log": {"is_compacted": false, "size_bytes": 1024, "base_offset": 10, "committed_offset": 19,
                        "base_timestamp": 123001, "max_timestamp": 123020},
        "20-1-v1.log": {"is_compacted": false, "size_bytes": 2048, "base_offset": 20, "committed_offset": 29,
                        "base_timestamp": 123021, "max_timestamp": 123030},
        "30-1-v1.log": {"is_compacted": false, "size_bytes": 4096, "base_offset": 30, "committed_offset": 39,
                        "base_timestamp": 123031, "max_timestamp": 123040},
        "50-1-v1.log": {"is_compacted": false, "size_bytes": 4096, "base_offset": 50, "committed_offset": 59,
                        "base_timestamp": 123051, "max_timestamp": 123060}
    }
    }"""

# test_deserialize_v1_manifest: the complete manifest without its v3 segment
v1_manifest_json = json.dumps(
    {**json.loads(complete_manifest_json),
     "segments": {k: v for k, v in json.loads(complete_manifest_json)["segments"].items() if k != "50-11-v1.log"}}
)  # fmt: skip

# test_last_partition_scrub_json_serde
manifest_v3 = """{
    "version": 3,
    "namespace": "test-ns",
    "topic": "test-topic",
    "partition": 42,
    "revision": 0,
    "insync_offset": 0,
    "last_offset": 0,
    "last_partition_scrub": 100,
    "last_scrubbed_offset": 10
}"""


def test_empty_manifest() -> None:
    m = parse_partition_manifest(empty_manifest_json)
    assert (m.namespace, m.topic, m.partition, m.revision, m.last_offset, m.insync_offset) == (
        "test-ns", "test-topic", 42, 0, 0, 0
    )
    assert m.segments == () and m.cloud_log_size_bytes == 0
    assert m.manifest_key("bin") == "20000000/meta/test-ns/test-topic/42_0/manifest.bin"  # test_empty_manifest_update
    assert m.kafka_start_offset == 0 == m.kafka_next_offset
    assert m.find_by_offset(0) is None and m.find_by_kafka_offset(0) is None and m.find_by_timestamp(0) is None


def test_complete_manifest() -> None:
    m = parse_partition_manifest(complete_manifest_json)
    assert m.manifest_key("bin") == "60000000/meta/test-ns/test-topic/42_1/manifest.bin"
    assert len(m.segments) == 5
    s10, _s20, s30, s40, s50 = m.segments
    # segment_term and ntp_revision are propagated from the key and the manifest
    assert s10 == SegmentMeta(base_offset=10, committed_offset=19, size_bytes=1024, segment_term=1,
                              base_timestamp=123000, max_timestamp=123009)  # fmt: skip
    assert s30.delta_offset == 1 and s30.delta_offset_end is None and s30.sname_format == 1
    assert s40 == SegmentMeta(base_offset=40, committed_offset=49, size_bytes=4096, segment_term=11,
                              base_timestamp=123030, max_timestamp=123039, delta_offset=2, archiver_term=42,
                              delta_offset_end=9, sname_format=2)  # fmt: skip
    assert (s50.sname_format, s50.metadata_size_hint, s50.delta_offset_end) == (3, 321, 10)
    # cloud_log_size() == 15360 in test_cloud_log_size_truncate_twice: absent, so the segments' sum
    assert m.cloud_log_size_bytes == 1024 + 2048 + 4096 * 3 == 15360
    # object keys as the archiver names them (v1 name without a term suffix; v2/v3 long names)
    assert m.segment_key(s10) == segment_key("test-ns", "test-topic", 42, 1, "10-1-v1.log")
    assert m.segment_key(s40) == segment_key("test-ns", "test-topic", 42, 1, "40-49-4096-11-v1.log", 42)
    assert m.index_key(s50) == segment_key("test-ns", "test-topic", 42, 1, "50-59-4096-11-v1.log", 42) + ".index"
    assert m.tx_key(s50).endswith("/42_1/50-59-4096-11-v1.log.42.tx")
    assert (s40.local_name, s40.remote_name) == ("40-11-v1.log", "40-49-4096-11-v1.log")


def test_max_segment_meta_and_metas_get_smaller() -> None:
    (m,) = parse_partition_manifest(max_segment_meta_manifest_json).segments
    assert m == SegmentMeta(base_offset=10, committed_offset=19, size_bytes=1024, segment_term=1,
                            base_timestamp=123456, max_timestamp=123456789, delta_offset=12313, ntp_revision=3,
                            archiver_term=3)  # fmt: skip
    pm = parse_partition_manifest(max_segment_meta_manifest_json)
    assert pm.segment_key(m) == segment_key("test-ns", "test-topic", 42, 3, "10-1-v1.log", 3)  # its own revision
    a, b = parse_partition_manifest(segment_meta_gets_smaller_manifest_json).segments
    assert a == m
    assert b == SegmentMeta(base_offset=20, committed_offset=29, size_bytes=2048, segment_term=1)


def test_timestamps_and_fields_after_segments() -> None:
    (s,) = parse_partition_manifest(no_timestamps_segment_meta).segments
    assert s.base_timestamp is None and s.max_timestamp is None
    m = parse_partition_manifest(fields_after_segments_json)
    assert m.manifest_key("bin") == "60000000/meta/test-ns/test-topic/42_1/manifest.bin"
    assert m.segments == (SegmentMeta(base_offset=10, committed_offset=19, size_bytes=1024, segment_term=1),)


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        (no_size_bytes_segment_meta, "size_bytes"),  # "Missing size_bytes value in 10-1-v1.log segment meta"
        (missing_last_offset_manifest_json, "last_offset"),  # "Missing last_offset value in partition manifest"
        (no_closing_bracket_segment_meta, "not valid JSON"),
    ],
)
def test_negative_partition_manifests(doc: str, match: str) -> None:
    with pytest.raises(ManifestError, match=match):
        parse_partition_manifest(doc)


def test_no_closing_bracket_position() -> None:
    with pytest.raises(ManifestError) as e:
        parse_partition_manifest(no_closing_bracket_segment_meta)
    assert e.value.position == len(no_closing_bracket_segment_meta)  # rapidjson: "... at offset <end>"


def test_manifest_with_gaps() -> None:
    """test_segment_contains, and the gap shows up as an anomaly rather than an error."""
    m = parse_partition_manifest(manifest_with_gaps)
    s = m.segments
    expect = {9: None, 90: None, 39: s[2], 10: s[0], 15: s[0], 22: s[1], 38: s[2], 42: None, 50: s[3],
              52: s[3], 59: s[3]}  # fmt: skip
    for offset, seg in expect.items():
        assert m.find_by_offset(offset) == seg, offset
    assert m.anomalies() == ["gap between offsets 39 and 50"]
    # timestamp lookup: the first segment that may hold a timestamp >= t
    assert m.find_by_timestamp(0) == s[0]
    assert m.find_by_timestamp(123021) == s[1]
    assert m.find_by_timestamp(123045) == s[3]
    assert m.find_by_timestamp(123061) is None
    # kafka offsets past a gap: the next segment
    assert m.find_by_kafka_offset(45) == s[3]


def test_v1_manifest_and_manifest_v3() -> None:
    m = parse_partition_manifest(v1_manifest_json)
    assert m.cloud_log_size_bytes == 11264  # test_deserialize_v1_manifest
    assert len(m.segments) == 4
    m3 = parse_partition_manifest(manifest_v3)
    assert (m3.version, m3.last_partition_scrub, m3.last_scrubbed_offset) == (3, 100, 10)
    assert parse_partition_manifest(m3.to_json()) == m3  # the round trip of that test


def test_segment_containing_by_kafka_offset() -> None:
    """test_segment_contains_by_kafka_offset: rp 0/10/20/30 <-> kafka 0/5/10/15."""

    def manifest_for(points: list[tuple[int, int]]) -> PartitionManifest:
        segs = [
            SegmentMeta(base_offset=o, committed_offset=n - 1, size_bytes=1024, segment_term=1,
                        delta_offset=o - k, delta_offset_end=n - nk)
            for (o, k), (n, nk) in itertools.pairwise(points)
        ]  # fmt: skip
        return PartitionManifest(namespace="test-ns", topic="test-topic", partition=42, revision=0,
                                 last_offset=0).with_segments(segs)  # fmt: skip

    full = manifest_for([(0, 0), (10, 5), (20, 10), (30, 15)])
    for ko, base in [(0, 0), (4, 0), (5, 10), (9, 10), (10, 20), (14, 20)]:
        seg = full.find_by_kafka_offset(ko)
        assert seg is not None and seg.base_offset == base and seg.base_kafka_offset <= ko < seg.next_kafka_offset
    assert full.find_by_kafka_offset(15) is None
    assert (full.kafka_start_offset, full.kafka_next_offset, full.cloud_log_size_bytes) == (0, 15, 3072)
    truncated = manifest_for([(10, 5), (20, 10), (30, 15)])
    assert truncated.find_by_kafka_offset(0) is None  # below the start: no segment
    assert truncated.find_by_kafka_offset(4) is None
    for ko, base in [(5, 10), (9, 10), (10, 20), (14, 20)]:
        assert truncated.find_by_kafka_offset(ko).base_offset == base  # type: ignore[union-attr]
    assert truncated.find_by_kafka_offset(15) is None
    assert truncated.kafka_start_offset == 5


def test_start_offsets() -> None:
    m = parse_partition_manifest(REAL_MANIFEST)
    assert m.kafka_start_offset == 3795 - 1 and m.kafka_next_offset == 15482 + 1 - 3
    later = PartitionManifest(**{**_fields(m), "start_offset": 7605, "start_kafka_offset": 9000})
    assert later.kafka_start_offset == 9000  # DeleteRecords override wins when it is higher
    later = PartitionManifest(**{**_fields(m), "start_offset": 7605})
    assert later.kafka_start_offset == 7604
    outside = PartitionManifest(**{**_fields(m), "start_offset": 20000})  # in no segment: the first one's start
    assert outside.kafka_start_offset == 3794
    empty = PartitionManifest(namespace="kafka", topic="t", partition=0, revision=1, last_offset=5,
                              start_kafka_offset=3)  # fmt: skip
    assert empty.kafka_start_offset == 3 == empty.kafka_next_offset


def _fields(m: PartitionManifest) -> dict[str, Any]:
    return {f: getattr(m, f) for f in PartitionManifest.__dataclass_fields__}


# ================================================================ real manifests (rp_storage_tool fixtures)

REAL_MANIFEST = (  # tools/rp_storage_tool/resources/test/manifest.json (Redpanda ~22.3, no cloud_log_size_bytes)
    '{"version":1,"namespace":"kafka","topic":"tiered","partition":4,"revision":35,"last_offset":15482,'
    '"insync_offset":15584,"start_offset":3795,"last_uploaded_compacted_offset":15482,"segments":{'
    '"3795-1-v1.log":{"is_compacted":true,"size_bytes":466,"committed_offset":7604,"base_offset":3795,'
    '"base_timestamp":1668768681645,"max_timestamp":1668768681645,"delta_offset":1,"archiver_term":1,'
    '"segment_term":1,"delta_offset_end":1,"sname_format":2},'
    '"7605-1-v1.log":{"is_compacted":true,"size_bytes":854,"committed_offset":11507,"base_offset":7605,'
    '"base_timestamp":1668768681875,"max_timestamp":1668768742534,"delta_offset":1,"archiver_term":1,'
    '"segment_term":1,"delta_offset_end":3,"sname_format":2},'
    '"11508-1-v1.log":{"is_compacted":true,"size_bytes":438,"committed_offset":15482,"base_offset":11508,'
    '"base_timestamp":1668768742767,"max_timestamp":1668768742767,"delta_offset":3,"archiver_term":1,'
    '"segment_term":1,"delta_offset_end":3,"sname_format":2}}}'
)
REAL_MANIFEST_SHORT = (  # manifest_short.json
    '{"version":1,"namespace":"kafka","topic":"si_test_topic","partition":0,"revision":6,"last_offset":0,'
    '"cloud_log_size_bytes":0}'
)
REAL_MANIFEST_EMPTY = (  # manifest_empty.json
    '{"version":1,"namespace":"kafka","topic":"acme-ticker-cd-s","partition":9,"revision":29,"last_offset":31,'
    '"insync_offset":40,"last_uploaded_compacted_offset":31}'
)
REAL_MANIFEST_NOCOMPACT = (  # manifest_nocompact.json
    '{"version":1,"namespace":"kafka","topic":"acme-ticker-d-d","partition":15,"revision":19,"last_offset":30,'
    '"insync_offset":32,"start_offset":0,"segments":{'
    '"0-1-v1.log":{"is_compacted":false,"size_bytes":33702,"committed_offset":20,"base_offset":0,'
    '"base_timestamp":1671718173567,"max_timestamp":1671718226606,"delta_offset":0,"archiver_term":2,'
    '"segment_term":1,"delta_offset_end":1,"sname_format":2},'
    '"21-2-v1.log":{"is_compacted":false,"size_bytes":7204,"committed_offset":26,"base_offset":21,'
    '"base_timestamp":1671718234375,"max_timestamp":1671718238653,"delta_offset":1,"archiver_term":3,'
    '"segment_term":2,"delta_offset_end":2,"sname_format":2},'
    '"27-3-v1.log":{"is_compacted":false,"size_bytes":533,"committed_offset":28,"base_offset":27,'
    '"base_timestamp":1671789411491,"max_timestamp":1671789411491,"delta_offset":3,"archiver_term":4,'
    '"segment_term":3,"delta_offset_end":4,"sname_format":2},'
    '"29-4-v1.log":{"is_compacted":false,"size_bytes":533,"committed_offset":30,"base_offset":29,'
    '"base_timestamp":1671789737037,"max_timestamp":1671789737037,"delta_offset":5,"archiver_term":5,'
    '"segment_term":4,"delta_offset_end":6,"sname_format":2}}}'
)


def _with_size_after(doc: str, key: str, size: int) -> bytes:
    """``doc`` as current Redpanda re-serialises it: cloud_log_size_bytes (always written) after ``key``."""
    d = json.loads(doc)
    out: dict[str, Any] = {}
    for k, v in d.items():
        out[k] = v
        if k == key:
            out["cloud_log_size_bytes"] = size
    return json.dumps(out, separators=(",", ":")).encode()


def test_real_manifest() -> None:
    m = parse_partition_manifest(REAL_MANIFEST)
    a, b, c = m.segments
    assert (b.base_offset, b.committed_offset, b.delta_offset, b.delta_offset_end) == (7605, 11507, 1, 3)
    assert (b.base_kafka_offset, b.next_kafka_offset) == (7604, 11505)
    assert m.anomalies() == []
    assert m.cloud_log_size_bytes == 466 + 854 + 438
    # the object key of the first segment, built from its fields (sname v2 -> long name, archiver term 1)
    path = "kafka/tiered/4_35/3795-7604-466-1-v1.log"
    assert m.segment_key(a) == f"{xxh32(path):08x}/{path}.1"
    # Kafka offset lookups over the real translation (deltas 1 -> 1 -> 3 -> 3)
    assert m.find_by_kafka_offset(3794) == a and m.find_by_kafka_offset(7603) == a
    assert m.find_by_kafka_offset(7604) == b and m.find_by_kafka_offset(11504) == b
    assert m.find_by_kafka_offset(11505) == c and m.find_by_kafka_offset(15479) == c
    assert m.find_by_kafka_offset(15480) is None and m.find_by_kafka_offset(3793) is None
    assert m.find_by_offset(7605) == b and m.find_by_offset(3794) is None
    # re-serialised exactly as Redpanda's writer would, cloud_log_size_bytes now present
    assert m.to_json() == _with_size_after(REAL_MANIFEST, "last_uploaded_compacted_offset", 1758)
    assert parse_partition_manifest(m.to_json()) == m


def test_real_manifests_round_trip_byte_exact() -> None:
    assert parse_partition_manifest(REAL_MANIFEST_SHORT).to_json() == REAL_MANIFEST_SHORT.encode()
    empty = parse_partition_manifest(REAL_MANIFEST_EMPTY)
    assert empty.to_json() == _with_size_after(REAL_MANIFEST_EMPTY, "last_uploaded_compacted_offset", 0)
    nocompact = parse_partition_manifest(REAL_MANIFEST_NOCOMPACT)
    size = 33702 + 7204 + 533 + 533
    assert nocompact.to_json() == _with_size_after(REAL_MANIFEST_NOCOMPACT, "start_offset", size)
    # this real bucket has delta discontinuities (offset-translator state re-seeded across terms)
    assert nocompact.anomalies() == [
        "delta_offset_end 2 of segment 21-2-v1.log differs from delta_offset 3 of 27-3-v1.log",
        "delta_offset_end 4 of segment 27-3-v1.log differs from delta_offset 5 of 29-4-v1.log",
    ]


def test_remote_path_provider_spillover_and_segment_meta() -> None:
    """remote_path_provider_test.cc's test_smeta as a manifest entry."""
    m = PartitionManifest(namespace="kafka", topic="tp", partition=5, revision=21, last_offset=11)
    smeta = SegmentMeta(base_offset=10, committed_offset=11, size_bytes=1024 * 1024, segment_term=12,
                        base_timestamp=999, max_timestamp=1000, delta_offset=10, ntp_revision=21,
                        archiver_term=13, delta_offset_end=11, sname_format=3)  # fmt: skip
    assert m.segment_key(smeta) == "d13f1c8e/kafka/tp/5_21/10-11-1048576-12-v1.log.13"
    assert m.spillover_key(smeta) == "e0000000/meta/kafka/tp/5_21/manifest.bin.10.11.0.1.999.1000"
    assert m.manifest_prefix == "e0000000/meta/kafka/tp/5_21"
    assert m.manifest_key() == "e0000000/meta/kafka/tp/5_21/manifest.json"
    no_ts = SegmentMeta(base_offset=10, committed_offset=11, size_bytes=1, segment_term=12)
    assert m.spillover_key(no_ts).endswith("/manifest.bin.10.11.10.12.-1.-1")


# ================================================================ what Redpanda's serializer writes


def rp_serialize_partition(m: dict[str, Any]) -> bytes:
    """partition_manifest::serialize_json, from a dict of Redpanda field values (None = unset)."""
    rev = m["revision"]
    out: dict[str, Any] = {"version": 1}
    for k in ("namespace", "topic", "partition", "revision", "last_offset"):
        out[k] = m[k]
    for k in ("insync_offset", "start_offset", "last_uploaded_compacted_offset"):
        if m.get(k) is not None:
            out[k] = m[k]
    out["cloud_log_size_bytes"] = m["cloud_log_size_bytes"]
    for k in ("archive_start_offset", "archive_start_offset_delta", "archive_clean_offset", "start_kafka_offset"):
        if m.get(k) is not None:
            out[k] = m[k]
    if m.get("archive_size_bytes"):
        out["archive_size_bytes"] = m["archive_size_bytes"]
    for k in ("last_partition_scrub", "last_scrubbed_offset", "highest_producer_id"):
        if m.get(k) is not None:
            out[k] = m[k]

    def common(s: dict[str, Any], d: dict[str, Any], with_ts: bool) -> None:
        d["size_bytes"] = s["size_bytes"]
        d["committed_offset"] = s["committed_offset"]
        d["base_offset"] = s["base_offset"]
        if with_ts:
            for k in ("base_timestamp", "max_timestamp", "delta_offset"):
                if s.get(k) is not None:
                    d[k] = s[k]
        if s.get("ntp_revision", rev) != rev:
            d["ntp_revision"] = s["ntp_revision"]
        if s.get("archiver_term") is not None:
            d["archiver_term"] = s["archiver_term"]
        d["segment_term"] = s["segment_term"]

    if m["segments"]:
        segs: dict[str, Any] = {}
        for s in m["segments"]:  # serialize_segment_meta
            d: dict[str, Any] = {"is_compacted": s["is_compacted"]}
            common(s, d, True)
            if s["sname_format"] >= 2 and s.get("delta_offset_end") is not None:
                d["delta_offset_end"] = s["delta_offset_end"]
            if s["sname_format"] != 1:
                d["sname_format"] = s["sname_format"]
            if s["sname_format"] == 3:
                d["metadata_size_hint"] = s["metadata_size_hint"]
            segs[f"{s['base_offset']}-{s['segment_term']}-v1.log"] = d
        out["segments"] = segs
    if m["replaced"]:
        rep: dict[str, Any] = {}
        for s in m["replaced"]:  # serialize_removed_segment_meta
            d = {}
            common(s, d, False)
            d["sname_format"] = s["sname_format"]
            rep[f"{s['base_offset']}-{s['segment_term']}-v1.log"] = d
        out["replaced"] = rep
    if m["spillover"]:
        spill = []
        for s in m["spillover"]:  # serialize_spillover_manifest_meta
            d = {}
            common(s, d, True)
            if s.get("delta_offset_end") is not None:
                d["delta_offset_end"] = s["delta_offset_end"]
            d["metadata_size_hint"] = s["metadata_size_hint"]
            spill.append(d)
        out["spillover"] = spill
    return json.dumps(out, separators=(",", ":")).encode()


u63 = st.integers(0, 2**63 - 1)
small = st.integers(0, 10**6)
# built once: a strategy made inside a draw is built (and checked for emptiness) anew for every value drawn
_OPT_U63 = st.none() | u63
_OPT_SMALL = st.none() | small
_DELTA = st.none() | st.integers(0, 50)
_SNAME = st.sampled_from([1, 2, 3])
_NAMESPACE = st.sampled_from(["kafka", "kafka_internal", "test-ns"])
_TOPIC = st.from_regex(r"\A[a-zA-Z0-9._\-]{1,30}\Z").filter(lambda s: s not in (".", ".."))


@st.composite
def rp_partition_manifests(draw: st.DrawFn) -> dict[str, Any]:
    """Field values of a Redpanda in-memory partition_manifest that its JSON writer accepts."""
    rev = draw(st.integers(0, 10**6))

    def entries(kind: str) -> list[dict[str, Any]]:
        out = []
        base = draw(small)
        for _ in range(draw(st.integers(0, 4))):
            n = draw(st.integers(0, 1000))
            fmt = 3 if kind == "spillover" else draw(_SNAME)
            size = draw(small)
            if kind == "replaced" and fmt == 1:
                size = 0  # lw_segment_meta::convert drops the size of v1 entries
            delta = draw(_DELTA)
            e = {
                "is_compacted": draw(st.booleans()) if kind == "segment" else False,
                "size_bytes": size,
                "base_offset": base,
                "committed_offset": base + n,
                "base_timestamp": None if kind == "replaced" else draw(_OPT_U63),
                "max_timestamp": None if kind == "replaced" else draw(_OPT_U63),
                "delta_offset": None if kind == "replaced" else delta,
                "ntp_revision": draw(st.sampled_from([rev, rev + 1])),
                "archiver_term": draw(_OPT_SMALL),
                "segment_term": draw(st.integers(0, 100)),
                "delta_offset_end": (None if kind == "replaced" or (kind == "segment" and fmt == 1)
                                     else draw(st.none() | st.integers(delta or 0, (delta or 0) + 50))),
                "sname_format": fmt,
                "metadata_size_hint": draw(small) if fmt == 3 and kind != "replaced" else 0,
            }  # fmt: skip
            out.append(e)
            base += n + 1 + draw(st.integers(0, 3))
        return out

    opt = _OPT_U63
    return {
        "namespace": draw(_NAMESPACE),
        "topic": draw(_TOPIC),
        "partition": draw(st.integers(0, 2**31 - 1)),
        "revision": rev,
        "last_offset": draw(u63),
        **{k: draw(opt) for k in ("insync_offset", "start_offset", "last_uploaded_compacted_offset",
                                   "archive_start_offset", "archive_start_offset_delta", "archive_clean_offset",
                                   "start_kafka_offset", "last_partition_scrub", "last_scrubbed_offset",
                                   "highest_producer_id")},
        "cloud_log_size_bytes": draw(st.integers(0, 2**64 - 1)),
        "archive_size_bytes": draw(st.integers(0, 2**63 - 1)),
        "segments": entries("segment"),
        "replaced": entries("replaced"),
        "spillover": entries("spillover"),
    }  # fmt: skip


@settings(max_examples=examples(150), deadline=None)
@given(rp_partition_manifests())
def test_redpanda_shaped_json_round_trips_byte_exact(fields: dict[str, Any]) -> None:
    doc = rp_serialize_partition(fields)
    m = parse_partition_manifest(doc)
    assert m.to_json() == doc == compact(doc)
    assert parse_partition_manifest(m.to_json()) == m
    assert parse_partition_manifest(json.loads(doc)) == m  # an already-decoded mapping
    assert len(m.segments) == len(fields["segments"]) and len(m.spillover) == len(fields["spillover"])
    for meta, f in zip(m.segments, fields["segments"], strict=True):
        assert meta.segment_term == f["segment_term"] and meta.sname_format == f["sname_format"]
        assert meta.ntp_revision == (None if f["ntp_revision"] == fields["revision"] else f["ntp_revision"])


@settings(max_examples=examples(100), deadline=None)
@given(rp_partition_manifests(), st.dictionaries(st.from_regex(r"\Afuture_[a-z]{1,8}\Z"),
                                                  st.integers() | st.text(max_size=5) | st.none(), max_size=2))
def test_unknown_top_level_fields_are_kept(fields: dict[str, Any], extra: dict[str, Any]) -> None:
    m = parse_partition_manifest(rp_serialize_partition(fields))
    m2 = PartitionManifest(**{**_fields(m), "extra": extra})
    assert parse_partition_manifest(m2.to_json()) == m2


def test_replaced_and_spillover_read_as_redpanda_reads_them() -> None:
    doc = {
        "version": 1, "namespace": "kafka", "topic": "t", "partition": 0, "revision": 7, "last_offset": 100,
        "replaced": {
            # lw_segment_meta: no timestamps/deltas; v1 with a size is read as v2 (lw_segment_meta::convert)
            "0-1-v1.log": {"size_bytes": 10, "committed_offset": 9, "base_offset": 0, "segment_term": 1,
                           "base_timestamp": 5, "delta_offset": 0, "is_compacted": True},
            "10-1-v1.log": {"size_bytes": 0, "committed_offset": 19, "base_offset": 10, "segment_term": 1,
                            "sname_format": 1, "ntp_revision": 7},
        },
        "spillover": [  # always sname v3, never compacted (the handler's EndObject)
            {"size_bytes": 1, "committed_offset": 50, "base_offset": 20, "segment_term": 2, "is_compacted": True},
        ],
    }  # fmt: skip
    m = parse_partition_manifest(json.dumps(doc))
    r0, r1 = m.replaced
    assert r0 == SegmentMeta(base_offset=0, committed_offset=9, size_bytes=10, segment_term=1, sname_format=2)
    assert r1 == SegmentMeta(base_offset=10, committed_offset=19, size_bytes=0, segment_term=1)
    (sp,) = m.spillover
    assert (sp.sname_format, sp.is_compacted) == (3, False)
    assert parse_partition_manifest(m.to_json()) == m


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"version": 5}, "unsupported version 5"),
        ({"version": "1"}, "must be an integer"),
        ({"namespace": 1}, "must be a string"),
        ({"topic": "a/b"}, "invalid topic"),
        ({"partition": -1}, "negative partition"),
        ({"partition": True}, "must be an integer"),
        ({"last_offset": 1.5}, "must be an integer"),
        ({"last_offset": 2**64}, "out of range"),
        ({"segments": []}, "'segments' must be an object"),
        ({"replaced": []}, "'replaced' must be an object"),
        ({"spillover": {}}, "'spillover' must be an array"),
        ({"segments": {"10-1-v1.log": 5}}, "must be an object"),
        ({"segments": {"10-1-v1.log": {"size_bytes": 1, "base_offset": 11, "committed_offset": 12}}},
         "name says base offset 10"),
        ({"segments": {"x.log": {"size_bytes": 1, "base_offset": 11, "committed_offset": 12}}}, "segment_term"),
        ({"segments": {"x.log": {"size_bytes": 1, "base_offset": 11, "committed_offset": 12, "segment_term": 1}}},
         "not a segment name"),
        ({"segments": {"10-1-v1.log": {"size_bytes": 1, "base_offset": 10, "committed_offset": 9}}},
         "committed_offset 9 < base_offset 10"),
        ({"segments": {"10-1-v1.log": {"size_bytes": -1, "base_offset": 10, "committed_offset": 19}}},
         "negative size_bytes"),
        ({"segments": {"10-1-v1.log": {"size_bytes": 1, "base_offset": 10, "committed_offset": 19,
                                       "sname_format": 4}}}, "unknown sname_format 4"),
        ({"segments": {"10-1-v1.log": {"size_bytes": 1, "base_offset": 10, "committed_offset": 19,
                                       "is_compacted": 1}}}, "is_compacted"),
        ({"segments": {"10-1-v1.log": {"size_bytes": 1, "base_offset": 10, "committed_offset": 19,
                                       "delta_offset": -5}}}, "negative delta_offset"),
        ({"segments": {"10-1-v1.log": {"size_bytes": 1, "base_offset": 10, "committed_offset": 19,
                                       "delta_offset": 5, "delta_offset_end": 4, "sname_format": 2}}},
         "delta_offset_end 4 < delta_offset 5"),
        ({"segments": {"10-1-v1.log": {"size_bytes": 1, "base_offset": 10, "committed_offset": 19},
                       "15-1-v1.log": {"size_bytes": 1, "base_offset": 15, "committed_offset": 30}}},
         "offsets go backwards"),
        ({"spillover": [{"size_bytes": 1, "base_offset": 10, "committed_offset": 19}]}, "segment_term"),
    ],
)  # fmt: skip
def test_partition_manifest_validation(patch: dict[str, Any], match: str) -> None:
    doc = {"version": 1, "namespace": "kafka", "topic": "t", "partition": 0, "revision": 1, "last_offset": 0}
    with pytest.raises(ManifestError, match=match):
        parse_partition_manifest(json.dumps({**doc, **patch}))


def test_redpanda_sentinels_read_as_unset() -> None:
    """A decoded manifest.bin carries -1 timestamps and INT64_MIN deltas/terms for "missing"."""
    d = {"version": 4, "namespace": "kafka", "topic": "t", "partition": 0, "revision": 1, "last_offset": 9,
         "segments": {"0-1-v1.log": {"size_bytes": 1, "base_offset": 0, "committed_offset": 9,
                                     "base_timestamp": -1, "max_timestamp": -1, "delta_offset": -(2**63),
                                     "archiver_term": -(2**63), "delta_offset_end": -(2**63)}}}  # fmt: skip
    (s,) = parse_partition_manifest(d).segments
    assert (s.base_timestamp, s.max_timestamp, s.delta_offset, s.archiver_term, s.delta_offset_end) == (None,) * 5


def test_with_segments_and_anomalies() -> None:
    m = PartitionManifest(namespace="kafka", topic="t", partition=0, revision=1, last_offset=0)
    a = SegmentMeta(base_offset=0, committed_offset=9, size_bytes=100, segment_term=1, delta_offset=0,
                    delta_offset_end=1, sname_format=2)  # fmt: skip
    b = SegmentMeta(base_offset=10, committed_offset=19, size_bytes=50, segment_term=1, delta_offset=2,
                    delta_offset_end=2, sname_format=2)  # fmt: skip
    m2 = m.with_segments([b, a], last_offset=19)
    assert m2.segments == (a, b) and m2.cloud_log_size_bytes == 150 and m2.last_offset == 19
    assert m2.anomalies() == ["delta_offset_end 1 of segment 0-1-v1.log differs from delta_offset 2 of 10-1-v1.log"]
    m3 = PartitionManifest(**{**_fields(m2), "cloud_log_size_bytes": 7})
    assert m3.anomalies()[-1] == "cloud_log_size_bytes 7 != sum of segment sizes 150"
    assert a.to_dict(1) == {"is_compacted": False, "size_bytes": 100, "committed_offset": 9, "base_offset": 0,
                            "delta_offset": 0, "segment_term": 1, "delta_offset_end": 1, "sname_format": 2}  # fmt: skip
    assert m2.to_dict()["segments"]["0-1-v1.log"] == a.to_dict(1)


# ---------------------------------------------------------------- robustness

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bytes_only_manifest_errors(data: bytes) -> None:
    for parse in (parse_partition_manifest, parse_topic_manifest):
        with contextlib.suppress(ManifestError):
            parse(data)


@settings(max_examples=examples(200), deadline=None)
@given(rp_partition_manifests(), st.data())
def test_mutated_partition_manifests_only_manifest_errors(fields: dict[str, Any], data: st.DataObject) -> None:
    doc = json.loads(rp_serialize_partition(fields))
    for _ in range(data.draw(st.integers(1, 3))):
        target = doc
        segs = doc.get("segments")
        if isinstance(segs, dict) and segs and data.draw(st.booleans()):
            entry = segs[data.draw(st.sampled_from(sorted(segs)))]
            if isinstance(entry, dict):
                target = entry
        names = st.sampled_from(sorted(target)) | st.text(max_size=8) if target else st.text(max_size=8)
        key = data.draw(names)  # an entry mutated into {} earlier has no names to pick from
        if data.draw(st.booleans()):
            target[key] = data.draw(json_values)
        else:
            target.pop(key, None)
    raw = json.dumps(doc).encode()
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(raw)))
        raw = raw[:cut]
    try:
        m = parse_partition_manifest(raw)
    except ManifestError:
        return
    # Whatever was accepted re-serialises to a fixed point. (Not necessarily to ``m`` itself: like
    # Redpanda's writer, ours drops fields a v1 entry cannot carry, e.g. delta_offset_end.)
    out = m.to_json()
    assert parse_partition_manifest(out).to_json() == out


@pytest.mark.parametrize(
    "doc",
    [
        b"[" * 100_000 + b"]" * 100_000,  # nesting past the recursion limit
        b'{"version": 1' + b"0" * 5000 + b"}",  # an integer past Python's 4300-digit limit
        b'{"version": 1e999}',
        b"\xff\xfe{}",
        b"\xef\xbb\xbf{}",  # a UTF-8 BOM
        b"",
        b"null",
        b'"x"',
    ],
)
def test_pathological_json(doc: bytes) -> None:
    for parse in (parse_partition_manifest, parse_topic_manifest):
        with pytest.raises(ManifestError):
            parse(doc)


# ================================================================ topic manifests

min_topic_manifest_json = """{
    "version": 1,
    "namespace": "test-namespace",
    "topic": "test-topic",
    "partition_count": 32,
    "replication_factor": 3,
    "revision_id": 0,
    "compression": null,
    "cleanup_policy_bitflags": null,
    "compaction_strategy": null,
    "timestamp_type": null,
    "segment_size": null
}"""

full_topic_manifest_json = """{
    "version": 1,
    "namespace": "full-test-namespace",
    "topic": "full-test-topic",
    "partition_count": 64,
    "replication_factor": 6,
    "revision_id": 1,
    "compression": "snappy",
    "cleanup_policy_bitflags": "compact,delete",
    "compaction_strategy": "offset",
    "timestamp_type": "LogAppendTime",
    "segment_size": 1234,
    "retention_bytes": 42342,
    "retention_duration": 36000000000
}"""

missing_partition_count = """{
    "version": 1,
    "namespace": "test-namespace",
    "namespace": "test-namespace1",
    "namespace": "test-namespace2",
    "topic": "test-topic",
    "replication_factor": 3,
    "revision_id": 0
}"""

wrong_version = full_topic_manifest_json.replace('"version": 1,', '"version": 99,')
wrong_compaction_strategy = full_topic_manifest_json.replace('"offset"', '"wrong_value"')
negative_properties_manifest = (
    full_topic_manifest_json.replace("full-test-namespace", "negative-test-namespace")
    .replace("1234", "-1234").replace("42342", "-42342").replace("36000000000", "-36000000000")
)  # fmt: skip

REAL_TOPIC_MANIFEST = (  # tools/rp_storage_tool/resources/test/topic_manifest.json
    '{"version":1,"namespace":"kafka","topic":"acme-ticker-cd-s","partition_count":16,"replication_factor":3,'
    '"revision_id":29,"compression":null,"cleanup_policy_bitflags":"compact,delete","compaction_strategy":null,'
    '"timestamp_type":null,"segment_size":null,"retention_bytes":null,"retention_duration":3600000}'
)


def test_min_topic_manifest() -> None:
    t = parse_topic_manifest(min_topic_manifest_json)
    assert t == TopicManifest(namespace="test-namespace", topic="test-topic", partition_count=32,
                              replication_factor=3, revision_id=0)  # fmt: skip
    assert t.retention_bytes is TopicManifest.DISABLED and t.retention_duration is TopicManifest.DISABLED
    assert repr(TopicManifest.DISABLED) == "TopicManifest.DISABLED"
    assert "DISABLED" not in {f.name for f in dataclasses.fields(TopicManifest)}  # a class constant, not a field
    assert t.key("bin") == "70000000/meta/test-namespace/test-topic/topic_manifest.bin"  # update_..._correct_path
    assert t.to_json() == compact(min_topic_manifest_json)  # what serialize_v1_json writes back


def test_full_topic_manifest() -> None:
    t = parse_topic_manifest(full_topic_manifest_json)
    assert (t.partition_count, t.replication_factor, t.revision_id) == (64, 6, 1)
    assert (t.compression, t.cleanup_policy_bitflags, t.compaction_strategy, t.timestamp_type) == (
        "snappy", "compact,delete", "offset", "LogAppendTime"
    )
    assert (t.segment_size, t.retention_bytes, t.retention_duration) == (1234, 42342, 36000000000)
    assert t.to_json() == compact(full_topic_manifest_json)
    assert parse_topic_manifest(t.to_json()) == t


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        (missing_partition_count, "partition_count"),
        (wrong_version, "unsupported version 99"),
        (wrong_compaction_strategy, "invalid compaction_strategy 'wrong_value'"),
    ],
)
def test_negative_topic_manifests(doc: str, match: str) -> None:
    with pytest.raises(ManifestError, match=match):
        parse_topic_manifest(doc)


def test_negative_properties_read_as_unset() -> None:
    """test_negative_property_manifest: old writers' negative values mean unset / disabled."""
    t = parse_topic_manifest(negative_properties_manifest)
    assert t.segment_size is None
    assert t.retention_bytes is TopicManifest.DISABLED and t.retention_duration is TopicManifest.DISABLED


def test_topic_manifest_extremes_round_trip() -> None:
    """topic_manifest_max_serialization: size_t max and milliseconds::max survive."""
    doc = json.loads(min_topic_manifest_json)
    doc.update(segment_size=2**64 - 1, retention_bytes=2**64 - 1, retention_duration=2**63 - 1)
    t = parse_topic_manifest(json.dumps(doc))
    assert (t.segment_size, t.retention_bytes, t.retention_duration) == (2**64 - 1, 2**64 - 1, 2**63 - 1)
    assert t.to_json() == compact(json.dumps(doc))


def test_real_topic_manifest() -> None:
    t = parse_topic_manifest(REAL_TOPIC_MANIFEST)
    assert t.retention_bytes is None  # present and null: enabled, no value
    assert t.retention_duration == 3600000
    assert t.to_json() == REAL_TOPIC_MANIFEST.encode()
    assert t.key() == f"{xxh32('kafka/acme-ticker-cd-s') & 0xF0000000:08x}/meta/kafka/acme-ticker-cd-s/topic_manifest.json"


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"partition_count": 0}, "must be positive"),
        ({"compression": "brotli"}, "invalid compression"),
        ({"cleanup_policy_bitflags": "compact;delete"}, "invalid cleanup_policy_bitflags"),
        ({"timestamp_type": "create_time"}, "invalid timestamp_type"),
        ({"virtual_cluster_id": 5}, "virtual_cluster_id"),
        ({"segment_size": "big"}, "must be an integer"),
        ({"namespace": "../x"}, "invalid namespace"),
    ],
)
def test_topic_manifest_validation(patch: dict[str, Any], match: str) -> None:
    with pytest.raises(ManifestError, match=match):
        parse_topic_manifest(json.dumps({**json.loads(min_topic_manifest_json), **patch}))


def rp_serialize_topic(f: dict[str, Any]) -> bytes:
    """topic_manifest::serialize_v1_json: nulls for unset optionals, tristates omitted when disabled."""
    out: dict[str, Any] = {"version": 1}
    for k in ("namespace", "topic", "partition_count", "replication_factor", "revision_id", "compression",
              "cleanup_policy_bitflags", "compaction_strategy", "timestamp_type", "segment_size"):
        out[k] = f[k]
    for k in ("retention_bytes", "retention_duration"):
        if f[k] != "disabled":
            out[k] = f[k]
    if f["virtual_cluster_id"] is not None:
        out["virtual_cluster_id"] = f["virtual_cluster_id"]
    return json.dumps(out, separators=(",", ":")).encode()


rp_topic_manifests = st.fixed_dictionaries(
    {
        "namespace": st.sampled_from(["kafka", "kafka_internal"]),
        "topic": st.from_regex(r"\A[a-z0-9_\-]{1,20}\Z"),
        "partition_count": st.integers(1, 2**31 - 1),
        "replication_factor": st.integers(1, 2**15 - 1),
        "revision_id": st.integers(0, 2**63 - 1),
        "compression": st.sampled_from([None, "none", "gzip", "snappy", "lz4", "zstd", "producer"]),
        "cleanup_policy_bitflags": st.sampled_from([None, "none", "delete", "compact", "compact,delete"]),
        "compaction_strategy": st.sampled_from([None, "offset", "timestamp", "header"]),
        "timestamp_type": st.sampled_from([None, "CreateTime", "LogAppendTime"]),
        "segment_size": st.none() | st.integers(0, 2**64 - 1),
        "retention_bytes": st.sampled_from(["disabled", None]) | st.integers(0, 2**64 - 1),
        "retention_duration": st.sampled_from(["disabled", None]) | st.integers(0, 2**63 - 1),
        "virtual_cluster_id": st.none() | st.from_regex(r"\A[0-9a-v]{20}\Z"),
    }
)


@settings(max_examples=examples(150), deadline=None)
@given(rp_topic_manifests)
def test_topic_manifest_round_trip(fields: dict[str, Any]) -> None:
    doc = rp_serialize_topic(fields)
    t = parse_topic_manifest(doc)
    assert t.to_json() == doc
    assert parse_topic_manifest(t.to_json()) == t
    assert t.to_dict() == json.loads(doc)


@settings(max_examples=examples(200), deadline=None)
@given(rp_topic_manifests, st.data())
def test_mutated_topic_manifests_only_manifest_errors(fields: dict[str, Any], data: st.DataObject) -> None:
    doc = json.loads(rp_serialize_topic(fields))
    key = data.draw(st.sampled_from(sorted(doc)))
    doc[key] = data.draw(json_values)
    try:
        t = parse_topic_manifest(json.dumps(doc))
    except ManifestError:
        return
    except FormatError as e:  # pragma: no cover
        raise AssertionError(type(e).__name__) from e
    assert parse_topic_manifest(t.to_json()) == t
