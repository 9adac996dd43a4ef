"""The bucket model's key classification (``app.bucket.BucketListing.add``) and identities, on the exact keys
of Redpanda's ``remote_path_provider_test.cc`` (both layouts), plus keys it must report, never drop."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.bucket import (
    BucketListing,
    PartitionId,
    TopicId,
    decode_partition_manifest,
    encode_partition_manifest,
)
from app.store import ObjectInfo
from segment_format.manifest import PartitionManifest, SegmentMeta

UUID = "deadbeef-0000-0000-0000-000000000000"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def info(key: str) -> ObjectInfo:
    return ObjectInfo(key=key, size=1, etag="e", last_modified=T0)


def listing_of(*keys: str) -> BucketListing:
    out = BucketListing()
    for k in keys:
        out.add(info(k))
    return out


def test_prefixed_manifests_from_redpanda_vectors() -> None:
    # remote_path_provider_test.cc: prefixed partition manifest, spillover and topic manifest of kafka/tp/5_21
    got = listing_of("e0000000/meta/kafka/tp/5_21/manifest.bin", "e0000000/meta/kafka/tp/5_21/manifest.json",
                     "e0000000/meta/kafka/tp/5_21/manifest.bin.10.11.0.1.999.1000",
                     "e0000000/meta/kafka/tp/topic_manifest.bin", "e0000000/meta/kafka/tp/topic_manifest.json")
    pid = PartitionId("kafka", "tp", 5, 21)
    assert set(got.partitions) == {pid}
    objs = got.partitions[pid]
    assert set(objs.manifests) == {"bin", "json"} and objs.effective_fmt == "bin"
    assert list(objs.spillovers) == ["e0000000/meta/kafka/tp/5_21/manifest.bin.10.11.0.1.999.1000"]
    assert set(got.topics[TopicId("kafka", "tp")].manifests) == {"bin", "json"}
    assert not got.unsupported and not got.cluster_uuids
    assert pid.manifest_key("json") == "e0000000/meta/kafka/tp/5_21/manifest.json"
    assert pid.layout == "prefixed" and pid.cluster_uuid is None and str(pid) == "kafka/tp/5_21"


def test_labeled_manifests_from_redpanda_vectors() -> None:
    got = listing_of(f"{UUID}/meta/kafka/tp/5_21/manifest.bin",
                     f"{UUID}/meta/kafka/tp/5_21/manifest.bin.10.11.0.1.999.1000",
                     f"meta/kafka/tp/{UUID}/21/topic_manifest.bin",
                     f"meta/kafka/tp/{UUID}/21_lifecycle.bin")  # a lifecycle marker: known, not a manifest
    pid = PartitionId("kafka", "tp", 5, 21, UUID)
    assert set(got.partitions) == {pid} and got.partitions[pid].effective_fmt == "bin"
    assert len(got.partitions[pid].spillovers) == 1
    tid = TopicId("kafka", "tp", UUID)
    assert got.topics[tid].revision == 21 and set(got.topics[tid].manifests) == {"bin"}
    assert got.cluster_uuids == {UUID} and not got.unsupported
    assert pid.manifest_key("bin") == f"{UUID}/meta/kafka/tp/5_21/manifest.bin"
    with pytest.raises(ValueError, match="labeled"):
        pid.manifest_key("json")  # Redpanda reads no JSON manifest under a label
    assert pid.topic_id == tid and str(pid) == f"{UUID}/kafka/tp/5_21"


def test_newest_labeled_topic_revision_wins() -> None:
    got = listing_of(f"meta/kafka/tp/{UUID}/30/topic_manifest.bin", f"meta/kafka/tp/{UUID}/21/topic_manifest.bin")
    assert got.topics[TopicId("kafka", "tp", UUID)].revision == 30


@pytest.mark.parametrize("key", [
    "e0000000/meta/kafka/tp/5_21/manifest.xml",  # an unknown object under a partition prefix
    "a0000000/meta/kafka/tp/5_21/manifest.bin",  # a wrong hash prefix: not where Redpanda would look
    f"{UUID}/meta/kafka/tp/5_21/manifest.json",  # labeled manifests are serde only
    f"meta/kafka/tp/{UUID}/21/topic_manifest.json",
    "meta/kafka/tp/stray.json",
    f"{UUID}/meta/cloud_topics/l0/0001",
])
def test_unknown_shapes_are_counted_by_prefix(key: str) -> None:
    got = listing_of(key)
    assert not got.partitions and not got.topics
    assert sum(got.unsupported.values()) == 1
    prefix = next(iter(got.unsupported))
    assert key.startswith(prefix.rstrip("/"))


def test_filter_keeps_one_cluster_and_prefixed_topics() -> None:
    other = "0b9a8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"
    got = listing_of(f"{UUID}/meta/kafka/tp/0_1/manifest.bin", f"{other}/meta/kafka/tp/0_1/manifest.bin",
                     "e0000000/meta/kafka/tp/5_21/manifest.bin")
    got.filter(None, [UUID])
    assert {p.label for p in got.partitions} == {UUID, ""}
    got.filter(lambda ns, t: t != "tp", None)
    assert not got.partitions


def test_manifest_keeps_its_layout_through_decode_and_encode() -> None:
    seg = SegmentMeta(base_offset=10, committed_offset=11, size_bytes=1048576, segment_term=12, archiver_term=13,
                      sname_format=3, delta_offset=0, delta_offset_end=0, base_timestamp=1, max_timestamp=2)
    m = PartitionManifest(namespace="kafka", topic="tp", partition=5, revision=21, last_offset=11, segments=(seg,))
    body = encode_partition_manifest(m, "bin")
    labeled = decode_partition_manifest(body, "bin", label=UUID)
    # remote_path_provider_test.cc: the labeled and prefixed keys of this very segment
    assert labeled.segment_key(seg) == f"{UUID}/kafka/tp/5_21/10-11-1048576-12-v1.log.13"
    assert decode_partition_manifest(body, "bin").segment_key(seg) == "d13f1c8e/kafka/tp/5_21/10-11-1048576-12-v1.log.13"
    assert labeled.manifest_key("bin") == f"{UUID}/meta/kafka/tp/5_21/manifest.bin"
    assert labeled.spillover_key(seg).startswith(f"{UUID}/meta/kafka/tp/5_21/manifest.bin.10.11.")
    with pytest.raises(ValueError):
        encode_partition_manifest(labeled, "json")
