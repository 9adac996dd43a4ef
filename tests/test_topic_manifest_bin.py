"""``topic_manifest.bin`` against vectors built here by hand from Redpanda's C++ definitions, field by field
with ``struct`` (not with ``segment_format.serde``): ``topic_manifest_state`` (topic_manifest.cc),
``topic_configuration::serde_write`` (v2), ``topic_properties::serde_fields`` (v10), ``remote_label``,
``serde/rw/tristate_rw.h`` (int8 -1/0/1), enums as int32, optionals as a bool flag. Plus round trips,
older and newer writers, and malformed input."""

from __future__ import annotations

import contextlib
import dataclasses
import struct
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_format.errors import FormatError, ManifestError
from segment_format.manifest import TopicManifest
from segment_format.topic_manifest_bin import (
    DISABLED,
    TopicManifestBin,
    decode_topic_manifest_bin,
    encode_topic_manifest_bin,
)

LABEL = "deadbeef-0000-0000-0000-000000000000"


def env(version: int, body: bytes, compat: int = 0) -> bytes:
    return struct.pack("<BBI", version, compat, len(body)) + body


def s(text: str) -> bytes:
    return struct.pack("<I", len(text)) + text.encode()


def none() -> bytes:
    return b"\x00"


def some(value: bytes) -> bytes:
    return b"\x01" + value


def enum(v: int) -> bytes:
    return struct.pack("<i", v)


def tri(value: int | str | None) -> bytes:
    if value == "disabled":
        return struct.pack("<b", -1)
    if value is None:
        return struct.pack("<b", 0)
    assert isinstance(value, int)
    return struct.pack("<bq", 1, value)


def properties_v10(*, label: str | None) -> bytes:
    """A topic created by `rpk topic create orders -c retention.ms=604800000` on a v24.3 cluster."""
    body = b"".join([
        some(enum(255)),  # compression: producer
        some(enum(1)),  # cleanup.policy: delete
        none(),  # compaction_strategy
        some(enum(0)),  # timestamp type: CreateTime
        some(struct.pack("<Q", 134217728)),  # segment.bytes
        tri(None),  # retention.bytes: empty (cluster default)
        tri(604800000),  # retention.ms
        none(), some(enum(3)),  # recovery, shadow_indexing (full)
        none(), none(), none(),  # read_replica, read_replica_bucket, remote_topic_properties
        none(),  # batch_max_bytes
        tri(None), tri(None), b"\x01",  # retention.local.target.bytes/ms, remote_delete
        tri(None),  # segment.ms
        none() * 8,  # schema id validation (4 bools, 4 strategies)
        tri(None), tri(None),  # initial retention local target
        none(),  # mpx_virtual_cluster_id
        none(), none(), none(),  # write_caching, flush_ms, flush_bytes
        some(env(0, uuid.UUID(label).bytes)) if label else none(),  # remote_label
        none(),  # remote_topic_namespace_override
        enum(0), none(), b"\x00", tri("disabled"), none(),  # iceberg_mode .. iceberg_delete
    ])
    return env(10, body)


def manifest_bytes(*, label: str | None = LABEL, revision: int = 21) -> bytes:
    cfg = env(2, s("kafka") + s("orders") + struct.pack("<ih", 12, 3) + properties_v10(label=label) + b"\x00")
    return env(0, cfg + struct.pack("<q", revision))


def test_decodes_a_labeled_topic_manifest_field_by_field() -> None:
    m = decode_topic_manifest_bin(manifest_bytes())
    assert (m.namespace, m.topic, m.partition_count, m.replication_factor, m.initial_revision) == (
        "kafka", "orders", 12, 3, 21)
    p = m.properties
    assert p.remote_label == LABEL and p.shadow_indexing == 3 and p.remote_delete is True
    assert p.retention_bytes is None and p.retention_duration == 604800000 and p.delete_retention_ms is DISABLED
    tm = m.to_topic_manifest()
    assert tm == TopicManifest(namespace="kafka", topic="orders", partition_count=12, replication_factor=3,
                               revision_id=21, compression="producer", cleanup_policy_bitflags="delete",
                               timestamp_type="CreateTime", segment_size=134217728, retention_bytes=None,
                               retention_duration=604800000, remote_label=LABEL)
    assert tm.key("bin") == f"meta/kafka/orders/{LABEL}/21/topic_manifest.bin"  # remote_path_provider_test.cc
    # the JSON form Redpanda would write for it (topic_manifest::serialize_v1_json) has no label
    assert tm.to_dict()["retention_bytes"] is None and "remote_label" not in tm.to_dict()


def test_encodes_what_was_built_by_hand() -> None:
    data = manifest_bytes()
    assert encode_topic_manifest_bin(decode_topic_manifest_bin(data)) == data
    # and from the common model: what Redpanda writes for a new labeled topic is the same bytes
    tm = decode_topic_manifest_bin(data).to_topic_manifest()
    rebuilt = TopicManifestBin.from_topic_manifest(tm)
    props = dataclasses.replace(rebuilt.properties, shadow_indexing=3)
    assert encode_topic_manifest_bin(TopicManifestBin(
        namespace="kafka", topic="orders", partition_count=12, replication_factor=3, properties=props,
        initial_revision=21)) == data


def test_prefixed_topic_has_no_label() -> None:
    m = decode_topic_manifest_bin(manifest_bytes(label=None))
    assert m.properties.remote_label is None
    assert m.to_topic_manifest().key("bin").endswith("0000000/meta/kafka/orders/topic_manifest.bin")


def test_an_older_writer_stops_early_and_round_trips() -> None:
    # topic_properties v2 (Redpanda 22.x): fields up to batch_max_bytes; topic_configuration v1 (no is_migrated)
    props = env(2, some(enum(4)) + none() * 3 + none() + tri("disabled") + tri("disabled") + none() * 2
                + none() * 3 + some(struct.pack("<I", 1048576)))
    data = env(0, env(1, s("kafka") + s("t") + struct.pack("<ih", 1, 1) + props) + struct.pack("<q", 7))
    m = decode_topic_manifest_bin(data)
    assert m.properties.batch_max_bytes == 1048576 and m.properties.compression == 4
    assert m.properties.remote_delete is False  # legacy topics keep their data on deletion
    assert m.properties.retention_bytes is DISABLED and m.to_topic_manifest().retention_bytes is TopicManifest.DISABLED
    assert encode_topic_manifest_bin(m) == data


def test_a_newer_writer_keeps_its_unknown_fields() -> None:
    base = manifest_bytes()
    # a v11 topic_properties with one more field, a v3 config with one more byte, a v1 state with a trailer
    props = properties_v10(label=LABEL)
    newer_props = env(11, props[6:] + b"\x01")
    cfg = env(3, s("kafka") + s("orders") + struct.pack("<ih", 12, 3) + newer_props + b"\x00" + b"\x2a")
    data = env(1, cfg + struct.pack("<q", 21) + b"more")
    m = decode_topic_manifest_bin(data)
    assert m.properties.trailer == b"\x01" and m.config_trailer == b"\x2a" and m.state_trailer == b"more"
    assert m.to_topic_manifest() == decode_topic_manifest_bin(base).to_topic_manifest()
    assert encode_topic_manifest_bin(m) == data


@pytest.mark.parametrize("cut", [0, 5, 6, 30, 100, -9, -1])
def test_truncated_input_is_a_clear_error(cut: int) -> None:
    data = manifest_bytes()
    with pytest.raises(ManifestError, match=r"topic_manifest\.bin"):
        decode_topic_manifest_bin(data[:cut])


def test_incompatible_version_and_bad_values_are_errors() -> None:
    data = bytearray(manifest_bytes())
    data[1] = 1  # compat_version 1 of topic_manifest_state: written by an incompatible future format
    with pytest.raises(ManifestError, match="compat_version"):
        decode_topic_manifest_bin(bytes(data))
    zero = env(0, env(2, s("kafka") + s("t") + struct.pack("<ih", 0, 1) + properties_v10(label=None) + b"\x00")
               + struct.pack("<q", 1))
    with pytest.raises(ManifestError, match="partition_count"):
        decode_topic_manifest_bin(zero)


_names = st.from_regex(r"[a-z][a-z0-9._-]{0,30}", fullmatch=True)
_tristate = st.one_of(st.just(DISABLED), st.none(), st.integers(0, 2**62))


@settings(max_examples=200, deadline=None)
@given(ns=_names, topic=_names, partitions=st.integers(1, 2**31 - 1), rf=st.integers(1, 2**15 - 1),
       rev=st.integers(-(2**63), 2**63 - 1), label=st.one_of(st.none(), st.uuids().map(str)),
       retention=_tristate, ms=_tristate, compression=st.sampled_from([None, "none", "gzip", "zstd", "producer"]))
def test_round_trip(ns: str, topic: str, partitions: int, rf: int, rev: int, label: str | None, retention: object,
                    ms: object, compression: str | None) -> None:
    tm = TopicManifest(namespace=ns, topic=topic, partition_count=partitions, replication_factor=rf, revision_id=rev,
                       compression=compression, retention_bytes=retention, retention_duration=ms, remote_label=label)
    data = encode_topic_manifest_bin(tm)
    assert decode_topic_manifest_bin(data).to_topic_manifest() == tm
    assert encode_topic_manifest_bin(decode_topic_manifest_bin(data)) == data


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), flip=st.integers(0, 10_000))
def test_garbage_is_a_format_error(data: bytes, flip: int) -> None:
    good = bytearray(manifest_bytes())
    good[flip % len(good)] ^= 0xFF
    for candidate in (data, bytes(good)):
        with contextlib.suppress(FormatError):  # any other exception fails the test
            decode_topic_manifest_bin(candidate)
