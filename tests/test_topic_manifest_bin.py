"""segment_format.topic_manifest_bin: topic_manifest.bin against Redpanda's C++ definitions.

Expected bytes are assembled field by field from the serde definitions (``topic_manifest.cc``
``topic_manifest_state``, ``topic_configuration.cc`` ``serde_write``, ``topic_properties.h``
``serde_fields``, ``serde/rw/{tristate_rw,chrono,enum,optional,uuid,array}.h``, ``utils/xid.cc``), with
every envelope size counted by hand, never produced by our encoder. The configurations are the ones of
``src/v/cloud_storage/tests/topic_manifest_test.cc``.

Cross-check (run once, by hand, not part of the suite): ``tools/offline_log_viewer/topic_manifest.py``
at Redpanda 1c6cff34 decoded three objects written by this encoder (115, 295 and 319 bytes). All 38
topic_properties fields, the configuration fields and initial_revision it read were equal to ours for
the first two; it failed on the third (UnicodeDecodeError) because it reads ``leaders_preference.racks``
as an ``optional<vector>`` where C++ has a plain ``std::vector``. Its legacy-JSON view differs from
``serialize_v1_json`` in two ways, both the viewer's: it prints ``retention_duration`` in nanoseconds and
omits ``virtual_cluster_id``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_format import keys
from segment_format.errors import FormatError, ManifestError, SerdeError
from segment_format.manifest import TopicManifest, parse_topic_manifest
from segment_format.topic_manifest_bin import (
    DISABLED,
    EnvelopeInfo,
    LeadersPreference,
    RemoteLabel,
    RemoteTopicProperties,
    TopicConfiguration,
    TopicManifestState,
    TopicNamespace,
    TopicProperties,
    decode_topic_manifest,
    decode_topic_manifest_bin,
    encode_topic_manifest,
    encode_topic_manifest_bin,
    ms_to_ns,
    ns_to_ms,
    state_to_topic_manifest,
    topic_manifest_to_state,
    xid_from_string,
    xid_to_string,
)
from tests.hypothesis_support import examples

I64_MAX = 2**63 - 1
I64_MIN = -(2**63)


def env(body: bytes, version: int, compat: int = 0) -> bytes:
    return struct.pack("<BBI", version, compat, len(body)) + body


def sstr(s: str) -> bytes:
    return struct.pack("<I", len(s)) + s.encode()


def some(payload: bytes) -> bytes:
    """optional<T> present."""
    return b"\x01" + payload


NONE = b"\x00"  # optional<T> absent
TRI_DISABLED = b"\xff"  # tristate flag -1
TRI_EMPTY = b"\x00"  # tristate flag 0


def tri(payload: bytes) -> bytes:
    return b"\x01" + payload


def enum(v: int) -> bytes:
    return struct.pack("<i", v)


def i64(v: int) -> bytes:
    return struct.pack("<q", v)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)


# -- golden: test_topic_manifest_serde_feature_table --------------------------------------------------

# cluster::topic_properties{...} of topic_manifest_test.cc::test_topic_manifest_serde_feature_table, in
# serde_fields() order (the constructor takes remote_topic_namespace_override 12th; serde writes it
# 33rd, after remote_label, which the constructor does not take and leaves nullopt).
FEATURE_TABLE_PROPERTIES = [
    some(enum(1)),  # compression gzip
    NONE,  # cleanup_policy_bitflags
    some(enum(0)),  # compaction_strategy offset
    NONE,  # timestamp_type
    some(u64(42)),  # segment_size
    TRI_DISABLED,  # retention_bytes tristate<size_t>{} (default-constructed tristate = disabled)
    TRI_DISABLED,  # retention_duration
    some(b"\x00"),  # recovery false
    NONE,  # shadow_indexing
    some(b"\x01"),  # read_replica true
    some(sstr("rrr")),  # read_replica_bucket
    NONE,  # remote_topic_properties
    some(struct.pack("<I", 313)),  # batch_max_bytes
    TRI_DISABLED,  # retention_local_target_bytes
    tri(i64(20_000_000)),  # retention_local_target_ms 20ms, serialized as nanoseconds
    b"\x01",  # remote_delete true
    TRI_DISABLED,  # segment_ms
    some(b"\x01"),  # record_key_schema_id_validation true
    NONE,  # record_key_schema_id_validation_compat
    NONE,  # record_key_subject_name_strategy
    NONE,  # record_key_subject_name_strategy_compat
    some(b"\x00"),  # record_value_schema_id_validation false
    some(b"\x00"),  # record_value_schema_id_validation_compat false
    NONE,  # record_value_subject_name_strategy
    NONE,  # record_value_subject_name_strategy_compat
    TRI_DISABLED,  # initial_retention_local_target_bytes
    tri(i64(55_000_000)),  # initial_retention_local_target_ms 55ms
    some(struct.pack("<I", 12) + bytes([1, 2, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0])),  # xid{{1,2,4,5,6,7,8,9}}
    NONE,  # write_caching
    NONE,  # flush_ms
    NONE,  # flush_bytes
    NONE,  # remote_label
    NONE,  # remote_topic_namespace_override
    enum(0),  # iceberg_mode disabled (not optional)
    NONE,  # leaders_preference
    b"\x00",  # cloud_topic_enabled false
    TRI_DISABLED,  # delete_retention_ms tristate{}
    NONE,  # iceberg_delete
]

FEATURE_TABLE_STATE = TopicManifestState(
    cfg=TopicConfiguration(
        namespace="a_ns",
        topic="a_topic",
        partition_count=20,
        replication_factor=30,
        properties=TopicProperties(
            compression=1,
            compaction_strategy=0,
            segment_size=42,
            retention_bytes=DISABLED,
            retention_duration_ns=DISABLED,
            recovery=False,
            read_replica=True,
            read_replica_bucket="rrr",
            batch_max_bytes=313,
            retention_local_target_bytes=DISABLED,
            retention_local_target_ms_ns=20_000_000,
            remote_delete=True,
            segment_ms_ns=DISABLED,
            record_key_schema_id_validation=True,
            record_value_schema_id_validation=False,
            record_value_schema_id_validation_compat=False,
            initial_retention_local_target_bytes=DISABLED,
            initial_retention_local_target_ms_ns=55_000_000,
            mpx_virtual_cluster_id=bytes([1, 2, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0]),
            iceberg_mode=0,
            cloud_topic_enabled=False,
            delete_retention_ms_ns=DISABLED,
        ),
    ),
    initial_revision=0x0102030405060708,
)


def test_feature_table_golden_bytes() -> None:
    assert len(FEATURE_TABLE_PROPERTIES) == 38
    props = b"".join(FEATURE_TABLE_PROPERTIES)
    assert len(props) == 105  # counted by hand from the list above
    cfg_body = sstr("a_ns") + sstr("a_topic") + struct.pack("<ih", 20, 30) + env(props, 10) + b"\x00"
    assert len(cfg_body) == 8 + 11 + 4 + 2 + (6 + 105) + 1 == 137
    state_body = env(cfg_body, 2) + i64(0x0102030405060708)
    assert len(state_body) == 143 + 8 == 151
    expected = env(state_body, 0)
    assert expected[:6] == bytes.fromhex("000097000000")  # topic_manifest_state v0 c0, 151 bytes
    assert expected[6:12] == bytes.fromhex("020089000000")  # topic_configuration v2 c0, 137 bytes
    assert expected[37:43] == bytes.fromhex("0a0069000000")  # topic_properties v10 c0, 105 bytes
    assert len(expected) == 157

    assert encode_topic_manifest_bin(FEATURE_TABLE_STATE) == expected
    assert decode_topic_manifest_bin(expected) == FEATURE_TABLE_STATE


def test_feature_table_json_view() -> None:
    m = decode_topic_manifest(encode_topic_manifest_bin(FEATURE_TABLE_STATE))
    assert m.to_dict() == {
        "version": 1,
        "namespace": "a_ns",
        "topic": "a_topic",
        "partition_count": 20,
        "replication_factor": 30,
        "revision_id": 0x0102030405060708,
        "compression": "gzip",
        "cleanup_policy_bitflags": None,
        "compaction_strategy": "offset",
        "timestamp_type": None,
        "segment_size": 42,
        # retention_bytes / retention_duration are disabled: serialize_v1_json omits the keys
        "virtual_cluster_id": _cpp_xid_format(bytes([1, 2, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0])),
    }
    assert m.remote_label is None


# -- xid (utils/xid.cc) --------------------------------------------------------------------------------

_B32 = "0123456789abcdefghijklmnopqrstuv"


def _cpp_xid_format(d: bytes) -> str:
    """``fmt::formatter<xid>::format``, transcribed expression by expression (the oracle)."""
    m = 0x1F
    idx = [
        d[0] >> 3,
        ((d[1] >> 6) & m) | ((d[0] << 2) & m),
        (d[1] >> 1) & m,
        ((d[2] >> 4) & m) | ((d[1] << 4) & m),
        d[3] >> 7 | ((d[2] << 1) & m),
        (d[3] >> 2) & m,
        d[4] >> 5 | ((d[3] << 3) & m),
        d[4] & m,
        d[5] >> 3,
        ((d[6] >> 6) & m) | ((d[5] << 2) & m),
        (d[6] >> 1) & m,
        ((d[7] >> 4) & m) | ((d[6] << 4) & m),
        d[8] >> 7 | ((d[7] << 1) & m),
        (d[8] >> 2) & m,
        (d[9] >> 5) | ((d[8] << 3) & m),
        d[9] & m,
        d[10] >> 3,
        (((d[11] >> 6) & 0xFF) & m) | (((d[10] << 2) & 0xFF) & m),
        (d[11] >> 1) & m,
        (d[11] << 4) & m,
    ]
    return "".join(_B32[i] for i in idx)


def test_xid_string_matches_cpp_formatter() -> None:
    data = bytes([1, 2, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0])
    assert _cpp_xid_format(data) == "041081860s40i0000000"
    assert xid_to_string(data) == "041081860s40i0000000"
    assert xid_from_string("041081860s40i0000000") == data


@settings(max_examples=examples(300))
@given(st.binary(min_size=12, max_size=12))
def test_xid_round_trip(data: bytes) -> None:
    text = xid_to_string(data)
    assert text == _cpp_xid_format(data)
    assert xid_from_string(text) == data


def test_xid_validation_like_cpp() -> None:
    # xid_test.cc test_xid_string_validation
    for bad in ("ccc0a2mn6i1e6brmdbip0", "c0a2mn6i1e6brmdbip0", "cc0a2mn6i1e6brmdbipa"):
        with pytest.raises(ValueError):
            xid_from_string(bad)
    with pytest.raises(ValueError):
        xid_from_string("CC0A2MN6I1E6BRMDBIP0")  # the alphabet is lowercase
    with pytest.raises(ValueError):
        xid_to_string(b"\x00" * 11)


# -- durations (serde/rw/chrono.h) ---------------------------------------------------------------------


def test_durations_are_nanoseconds_clamped() -> None:
    assert ms_to_ns(36000000000) == 36_000_000_000_000_000  # full_topic_manifest_json's retention
    assert ms_to_ns(I64_MAX) == I64_MAX  # milliseconds::max() clamps to nanoseconds::max()
    assert ms_to_ns(I64_MIN) == I64_MIN
    assert ns_to_ms(I64_MAX) == 9_223_372_036_854  # duration_cast truncates
    assert ns_to_ms(-1_999_999) == -1  # ... towards zero
    assert ns_to_ms(1_999_999) == 1


# -- JSON vectors of topic_manifest_test.cc ------------------------------------------------------------

MIN_JSON = (
    '{"version": 1, "namespace": "test-namespace", "topic": "test-topic", "partition_count": 32,'
    ' "replication_factor": 3, "revision_id": 0, "compression": null, "cleanup_policy_bitflags": null,'
    ' "compaction_strategy": null, "timestamp_type": null, "segment_size": null}'
)
FULL_JSON = (
    '{"version": 1, "namespace": "full-test-namespace", "topic": "full-test-topic", "partition_count": 64,'
    ' "replication_factor": 6, "revision_id": 1, "compression": "snappy",'
    ' "cleanup_policy_bitflags": "compact,delete", "compaction_strategy": "offset",'
    ' "timestamp_type": "LogAppendTime", "segment_size": 1234, "retention_bytes": 42342,'
    ' "retention_duration": 36000000000}'
)


def _properties(first7: list[bytes]) -> bytes:
    """topic_properties{} with its first seven fields replaced, remote_label absent."""
    rest = [
        NONE, NONE, NONE, NONE, NONE, NONE,  # recovery .. batch_max_bytes
        TRI_EMPTY, TRI_EMPTY,  # retention_local_target_bytes/ms: {std::nullopt}
        b"\x01",  # remote_delete: ntp_config::default_remote_delete = true
        TRI_EMPTY,  # segment_ms
        NONE, NONE, NONE, NONE, NONE, NONE, NONE, NONE,  # schema id validation (8)
        TRI_EMPTY, TRI_EMPTY,  # initial_retention_local_target_bytes/ms
        NONE, NONE, NONE, NONE,  # mpx_virtual_cluster_id, write_caching, flush_ms, flush_bytes
        NONE, NONE,  # remote_label, remote_topic_namespace_override
        enum(0),  # iceberg_mode disabled
        NONE,  # leaders_preference
        b"\x00",  # cloud_topic_enabled false
        TRI_DISABLED,  # delete_retention_ms{disable_tristate}
        NONE,  # iceberg_delete
    ]  # fmt: skip
    assert len(first7) + len(rest) == 38
    return b"".join(first7 + rest)


def test_min_json_manifest_encodes_as_redpanda_serializes_it() -> None:
    # update(json) then serialize_buf(): the JSON handler starts from topic_properties{} with the two
    # retention tristates disabled (absent keys)
    props = _properties([NONE, NONE, NONE, NONE, NONE, TRI_DISABLED, TRI_DISABLED])
    assert len(props) == 5 + 2 + 6 + 2 + 1 + 1 + 8 + 2 + 4 + 2 + 4 + 1 + 1 + 1 + 1 == 41
    cfg = sstr("test-namespace") + sstr("test-topic") + struct.pack("<ih", 32, 3) + env(props, 10) + b"\x00"
    expected = env(env(cfg, 2) + i64(0), 0)
    assert len(expected) == 6 + 6 + (18 + 14 + 6 + 47 + 1) + 8 == 106
    m = parse_topic_manifest(MIN_JSON)
    assert encode_topic_manifest(m) == expected
    back = decode_topic_manifest(expected)
    assert back == m
    assert back.retention_bytes is TopicManifest.DISABLED


def test_full_json_manifest_encodes_as_redpanda_serializes_it() -> None:
    props = _properties(
        [
            some(enum(2)),  # snappy
            some(enum(3)),  # deletion | compaction
            some(enum(0)),  # offset
            some(enum(1)),  # append_time
            some(u64(1234)),
            tri(u64(42342)),
            tri(i64(36_000_000_000 * 1_000_000)),  # 36000000000 ms as ns
        ]
    )
    cfg = sstr("full-test-namespace") + sstr("full-test-topic") + struct.pack("<ih", 64, 6)
    expected = env(env(cfg + env(props, 10) + b"\x00", 2) + i64(1), 0)
    m = parse_topic_manifest(FULL_JSON)
    assert encode_topic_manifest(m) == expected
    assert decode_topic_manifest(expected) == m
    assert decode_topic_manifest(expected).retention_duration == 36000000000


def test_max_values_like_topic_manifest_max_serialization() -> None:
    m = dataclasses.replace(
        parse_topic_manifest(MIN_JSON),
        retention_bytes=2**64 - 1,
        retention_duration=I64_MAX,  # milliseconds::max()
        segment_size=2**64 - 1,
    )
    st_ = decode_topic_manifest_bin(encode_topic_manifest(m)).cfg.properties
    assert st_.retention_duration_ns == I64_MAX  # clamped to nanoseconds::max()
    back = decode_topic_manifest(encode_topic_manifest(m))
    assert back.retention_bytes == 2**64 - 1 and back.segment_size == 2**64 - 1
    assert back.retention_duration == I64_MAX // 1_000_000  # what Redpanda reads back too


# -- labels --------------------------------------------------------------------------------------------

LABEL = "deadbeef-0000-0000-0000-000000000000"  # remote_path_provider_test.cc


def test_remote_label_bytes_and_key() -> None:
    m = dataclasses.replace(parse_topic_manifest(MIN_JSON), remote_label=LABEL, revision_id=21)
    data = encode_topic_manifest(m)
    label_field = some(env(bytes.fromhex("deadbeef000000000000000000000000"), 0))
    assert len(label_field) == 1 + 6 + 16
    assert label_field in data
    props = decode_topic_manifest_bin(data).cfg.properties
    assert props.remote_label == RemoteLabel(cluster_uuid=LABEL)
    back = decode_topic_manifest(data)
    assert back == m
    assert back.remote_label == LABEL
    assert "remote_label" not in back.to_dict()  # JSON has no such key
    assert keys.labeled_topic_manifest_key(LABEL, m.namespace, m.topic, m.revision_id) == (
        "meta/test-namespace/test-topic/deadbeef-0000-0000-0000-000000000000/21/topic_manifest.bin"
    )
    for bad in ("DEADBEEF-0000-0000-0000-000000000000", "deadbeef000000000000000000000000", "x"):
        with pytest.raises(ValueError):
            encode_topic_manifest(dataclasses.replace(m, remote_label=bad))


def test_nested_envelopes_golden() -> None:
    props = TopicProperties(
        remote_topic_properties=RemoteTopicProperties(remote_revision=35, remote_partition_count=16),
        remote_topic_namespace_override=TopicNamespace("kafka", "src"),
        leaders_preference=LeadersPreference(type=1, racks=("r1", "r2")),
    )
    data = encode_topic_manifest_bin(TopicManifestState(cfg=TopicConfiguration(properties=props)))
    assert some(env(i64(35) + struct.pack("<i", 16), 0)) in data
    assert some(sstr("kafka") + sstr("src")) in data
    lp = env(enum(1) + struct.pack("<I", 2) + sstr("r1") + sstr("r2"), 0)
    assert len(lp) == 6 + 4 + 4 + 6 + 6 == 26
    assert some(lp) in data
    assert decode_topic_manifest_bin(data).cfg.properties == props


# -- envelope evolution ----------------------------------------------------------------------------------


def _state_bytes(
    props: bytes,
    props_version: int = 10,
    cfg_version: int = 2,
    cfg_tail: bytes = b"\x00",
    props_compat: int = 0,
) -> bytes:
    cfg = (
        sstr("kafka")
        + sstr("t")
        + struct.pack("<ih", 1, 1)
        + env(props, props_version, props_compat)
        + cfg_tail
    )
    return env(env(cfg, cfg_version) + i64(7), 0)


def test_older_writer_v9_properties_take_cpp_defaults() -> None:
    # a v24.1-era topic_properties (version 9) ends after remote_topic_namespace_override: 33 fields
    first33 = b"".join(FEATURE_TABLE_PROPERTIES[:33])
    data = _state_bytes(first33, props_version=9)
    state = decode_topic_manifest_bin(data)
    p = state.cfg.properties
    assert p.envelope == EnvelopeInfo(version=9, compat_version=0, fields_present=33)
    assert (p.iceberg_mode, p.leaders_preference, p.cloud_topic_enabled, p.iceberg_delete) == (
        0,
        None,
        False,
        None,
    )
    assert p.delete_retention_ms_ns is DISABLED  # topic_properties{}.delete_retention_ms{disable_tristate}
    assert p.batch_max_bytes == 313
    assert encode_topic_manifest_bin(state) == data


def test_older_topic_configuration_versions() -> None:
    props = b"".join(FEATURE_TABLE_PROPERTIES)
    v1 = _state_bytes(props, cfg_version=1, cfg_tail=b"")  # no is_migrated before version 2
    s1 = decode_topic_manifest_bin(v1)
    assert s1.cfg.envelope == EnvelopeInfo(1, 0, 4)
    assert s1.cfg.is_migrated is False
    assert s1.cfg.properties.remote_delete is True and s1.cfg.effective_remote_delete is True
    assert encode_topic_manifest_bin(s1) == v1
    v0 = _state_bytes(props, cfg_version=0, cfg_tail=b"")
    s0 = decode_topic_manifest_bin(v0)
    assert s0.cfg.effective_remote_delete is False  # serde_read: legacy_remote_delete for version < 1
    assert encode_topic_manifest_bin(s0) == v0
    # version 2 must carry is_migrated (read_nested<bool> past the body end throws)
    with pytest.raises(SerdeError):
        decode_topic_manifest_bin(_state_bytes(props, cfg_tail=b""))


def test_newer_writer_fields_are_kept_and_reemitted() -> None:
    props = b"".join(FEATURE_TABLE_PROPERTIES) + some(enum(5))  # a 39th field of a version-11 writer
    cfg = sstr("kafka") + sstr("t") + struct.pack("<ih", 1, 1) + env(props, 11) + b"\x01" + b"\xab\xcd"
    label = env(bytes(16) + b"\x07", 1)  # remote_label v1 with one more byte
    state_body = env(cfg, 3) + i64(7) + b"extra"
    data = env(state_body, 1)
    state = decode_topic_manifest_bin(data)
    assert state.envelope == EnvelopeInfo(1, 0, 2, b"extra")
    assert state.cfg.envelope == EnvelopeInfo(3, 0, 5, b"\xab\xcd")
    assert state.cfg.is_migrated is True
    assert state.cfg.properties.envelope == EnvelopeInfo(11, 0, 38, some(enum(5)))
    assert state.cfg.properties.batch_max_bytes == 313
    assert encode_topic_manifest_bin(state) == data
    # nested envelope with a trailer
    p = TopicProperties(remote_label=RemoteLabel(envelope=EnvelopeInfo(1, 0, 1, b"\x07")))
    data2 = encode_topic_manifest_bin(TopicManifestState(cfg=TopicConfiguration(properties=p)))
    assert some(label) in data2
    assert decode_topic_manifest_bin(data2).cfg.properties == p


def test_incompatible_envelopes_are_refused() -> None:
    props = b"".join(FEATURE_TABLE_PROPERTIES)
    with pytest.raises(SerdeError, match="compat_version=11"):
        decode_topic_manifest_bin(_state_bytes(props, props_version=12, props_compat=11))
    with pytest.raises(SerdeError, match="compat_version=3"):
        decode_topic_manifest_bin(env(env(b"", 3, 3), 0))
    with pytest.raises(SerdeError, match="compat_version=1"):
        decode_topic_manifest_bin(env(b"", 1, 1))


def test_envelope_info_misuse_is_refused() -> None:
    with pytest.raises(ValueError, match="trailing"):
        encode_topic_manifest_bin(TopicManifestState(envelope=EnvelopeInfo(0, 0, 1, b"x")))
    with pytest.raises(ValueError, match="fields_present"):
        encode_topic_manifest_bin(TopicManifestState(envelope=EnvelopeInfo(0, 0, 3)))
    with pytest.raises(ValueError, match="fields_present"):
        encode_topic_manifest_bin(TopicManifestState(cfg=TopicConfiguration(envelope=EnvelopeInfo(2, 0, 6))))


# -- malformed input -------------------------------------------------------------------------------------


def _with_field(i: int, raw: bytes) -> bytes:
    fields = list(FEATURE_TABLE_PROPERTIES)
    fields[i] = raw
    return _state_bytes(b"".join(fields))


def test_malformed_fields() -> None:
    with pytest.raises(SerdeError, match="tristate flag 2"):
        decode_topic_manifest_bin(_with_field(5, b"\x02"))
    with pytest.raises(SerdeError, match="enum value 256 too large"):
        decode_topic_manifest_bin(_with_field(0, some(enum(256))))
    with pytest.raises(SerdeError, match="enum value 128 too large"):  # compaction_strategy is int8
        decode_topic_manifest_bin(_with_field(2, some(enum(128))))
    with pytest.raises(SerdeError, match="array size mismatch"):
        decode_topic_manifest_bin(_with_field(27, some(struct.pack("<I", 11) + bytes(11))))
    with pytest.raises(SerdeError, match="trailing"):
        decode_topic_manifest_bin(encode_topic_manifest_bin(FEATURE_TABLE_STATE) + b"\x00")
    with pytest.raises(SerdeError):
        decode_topic_manifest_bin(encode_topic_manifest_bin(FEATURE_TABLE_STATE)[:-1])


def test_enum_casts_and_unknown_names() -> None:
    # a negative int32 passes serde's "too large" check and is static_cast to the uint8 enum: 255
    m = decode_topic_manifest(_with_field(0, some(enum(-1))))
    assert m.compression == "producer"
    with pytest.raises(ManifestError, match="unknown compression value 7"):
        decode_topic_manifest(_with_field(0, some(enum(7))))
    with pytest.raises(ManifestError, match="cleanup_policy_bitflags value 4"):
        decode_topic_manifest(_with_field(1, some(enum(4))))  # operator<< prints "" for it
    with pytest.raises(ManifestError, match="compaction_strategy value -1"):
        decode_topic_manifest(_with_field(2, some(enum(-1))))
    with pytest.raises(ManifestError, match="timestamp_type value 2"):
        decode_topic_manifest(_with_field(3, some(enum(2))))
    with pytest.raises(ManifestError, match="partition_count"):
        decode_topic_manifest(
            encode_topic_manifest_bin(
                TopicManifestState(cfg=TopicConfiguration(namespace="kafka", topic="t"))
            )
        )


def test_negative_sizes_read_like_the_json_reader() -> None:
    # retention_duration is a signed duration; serialize_v1_json writes the negative number and the JSON
    # reader turns any negative value into a disabled tristate (test_negative_property_manifest)
    p = dataclasses.replace(FEATURE_TABLE_STATE.cfg.properties, retention_duration_ns=-ms_to_ns(5))
    st_ = dataclasses.replace(
        FEATURE_TABLE_STATE, cfg=dataclasses.replace(FEATURE_TABLE_STATE.cfg, properties=p)
    )
    assert decode_topic_manifest(encode_topic_manifest_bin(st_)).retention_duration is TopicManifest.DISABLED


# -- properties ------------------------------------------------------------------------------------------

# topic_properties::serde_fields() as written in src/v/cluster/topic_properties.h; durations carry an
# "_ns" suffix here because they are held as the serialized nanoseconds
CPP_SERDE_FIELDS = [
    "compression",
    "cleanup_policy_bitflags",
    "compaction_strategy",
    "timestamp_type",
    "segment_size",
    "retention_bytes",
    "retention_duration",
    "recovery",
    "shadow_indexing",
    "read_replica",
    "read_replica_bucket",
    "remote_topic_properties",
    "batch_max_bytes",
    "retention_local_target_bytes",
    "retention_local_target_ms",
    "remote_delete",
    "segment_ms",
    "record_key_schema_id_validation",
    "record_key_schema_id_validation_compat",
    "record_key_subject_name_strategy",
    "record_key_subject_name_strategy_compat",
    "record_value_schema_id_validation",
    "record_value_schema_id_validation_compat",
    "record_value_subject_name_strategy",
    "record_value_subject_name_strategy_compat",
    "initial_retention_local_target_bytes",
    "initial_retention_local_target_ms",
    "mpx_virtual_cluster_id",
    "write_caching",
    "flush_ms",
    "flush_bytes",
    "remote_label",
    "remote_topic_namespace_override",
    "iceberg_mode",
    "leaders_preference",
    "cloud_topic_enabled",
    "delete_retention_ms",
    "iceberg_delete",
]
DURATIONS = {
    "retention_duration", "retention_local_target_ms", "segment_ms", "initial_retention_local_target_ms", "flush_ms",
    "delete_retention_ms",
}  # fmt: skip


def test_field_order_is_cpp_serde_order() -> None:
    ours = [f.name for f in dataclasses.fields(TopicProperties) if f.name != "envelope"]
    assert ours == [n + "_ns" if n in DURATIONS else n for n in CPP_SERDE_FIELDS]
    assert len(ours) == 38


U64 = st.integers(0, 2**64 - 1)
I64 = st.integers(I64_MIN, I64_MAX)
U8_ENUM = st.integers(-(2**31), 255)
BOOL = st.booleans()
TEXT = st.text(max_size=8)


def _opt(s: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.none() | s


def _tri(s: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.just(DISABLED) | st.none() | s


@st.composite
def envelope_infos(draw: st.DrawFn, version: int, n_fields: int) -> EnvelopeInfo | None:
    present = draw(st.integers(0, n_fields))
    info = EnvelopeInfo(
        version=draw(st.sampled_from([version, *range(0, 12)])),
        compat_version=draw(st.integers(0, version)),
        fields_present=present,
        unknown_trailer=draw(st.binary(max_size=5)) if present == n_fields else b"",
    )
    return None if info == EnvelopeInfo(version, 0, n_fields) else info


def _truncate(obj: object, info: EnvelopeInfo | None) -> object:
    """Absent fields of an older writer's body hold the C++ defaults."""
    if info is None:
        return obj
    names = [f.name for f in dataclasses.fields(obj) if f.name != "envelope"]
    default = type(obj)()
    absent = {n: getattr(default, n) for n in names[info.fields_present :]}
    return dataclasses.replace(obj, envelope=info, **absent)


@st.composite
def nested(draw: st.DrawFn, cls: type, values: dict[str, st.SearchStrategy[object]]) -> object:
    obj = cls(**{k: draw(v) for k, v in values.items()})
    return _truncate(obj, draw(envelope_infos(cls.VERSION, len(values))))


PROPERTY_STRATEGIES: dict[str, st.SearchStrategy[object]] = {
    "compression": _opt(U8_ENUM),
    "cleanup_policy_bitflags": _opt(U8_ENUM),
    "compaction_strategy": _opt(st.integers(-(2**31), 127)),
    "timestamp_type": _opt(U8_ENUM),
    "segment_size": _opt(U64),
    "retention_bytes": _tri(U64),
    "retention_duration_ns": _tri(I64),
    "recovery": _opt(BOOL),
    "shadow_indexing": _opt(U8_ENUM),
    "read_replica": _opt(BOOL),
    "read_replica_bucket": _opt(TEXT),
    "remote_topic_properties": _opt(
        nested(
            RemoteTopicProperties,
            {"remote_revision": I64, "remote_partition_count": st.integers(-(2**31), 2**31 - 1)},
        )
    ),
    "batch_max_bytes": _opt(st.integers(0, 2**32 - 1)),
    "retention_local_target_bytes": _tri(U64),
    "retention_local_target_ms_ns": _tri(I64),
    "remote_delete": BOOL,
    "segment_ms_ns": _tri(I64),
    "record_key_schema_id_validation": _opt(BOOL),
    "record_key_schema_id_validation_compat": _opt(BOOL),
    "record_key_subject_name_strategy": _opt(U8_ENUM),
    "record_key_subject_name_strategy_compat": _opt(U8_ENUM),
    "record_value_schema_id_validation": _opt(BOOL),
    "record_value_schema_id_validation_compat": _opt(BOOL),
    "record_value_subject_name_strategy": _opt(U8_ENUM),
    "record_value_subject_name_strategy_compat": _opt(U8_ENUM),
    "initial_retention_local_target_bytes": _tri(U64),
    "initial_retention_local_target_ms_ns": _tri(I64),
    "mpx_virtual_cluster_id": _opt(st.binary(min_size=12, max_size=12)),
    "write_caching": _opt(U8_ENUM),
    "flush_ms_ns": _opt(I64),
    "flush_bytes": _opt(U64),
    "remote_label": _opt(nested(RemoteLabel, {"cluster_uuid": st.uuids().map(str)})),
    "remote_topic_namespace_override": _opt(st.builds(TopicNamespace, TEXT, TEXT)),
    "iceberg_mode": U8_ENUM,
    "leaders_preference": _opt(
        nested(
            LeadersPreference,
            {"type": st.integers(-(2**31), 2**31 - 1), "racks": st.lists(TEXT, max_size=3).map(tuple)},
        )
    ),
    "cloud_topic_enabled": BOOL,
    "delete_retention_ms_ns": _tri(I64),
    "iceberg_delete": _opt(BOOL),
}


@st.composite
def states(draw: st.DrawFn) -> TopicManifestState:
    props = draw(nested(TopicProperties, PROPERTY_STRATEGIES))
    cfg_version = draw(st.sampled_from([2, 0, 1, 3, 200]))
    cfg_info: EnvelopeInfo | None = EnvelopeInfo(
        cfg_version,
        draw(st.integers(0, 2)),
        5 if cfg_version >= 2 else 4,
        draw(st.binary(max_size=4)),
    )
    if cfg_info == EnvelopeInfo(2, 0, 5):
        cfg_info = None
    cfg = TopicConfiguration(
        namespace=draw(TEXT),
        topic=draw(TEXT),
        partition_count=draw(st.integers(-(2**31), 2**31 - 1)),
        replication_factor=draw(st.integers(-(2**15), 2**15 - 1)),
        properties=props,
        is_migrated=draw(BOOL) and cfg_version >= 2,
        envelope=cfg_info,
    )
    state = TopicManifestState(cfg=cfg, initial_revision=draw(I64))
    return _truncate(state, draw(envelope_infos(0, 2)))


@settings(max_examples=examples(200), deadline=None)
@given(states())
def test_state_round_trip_is_byte_exact(state: TopicManifestState) -> None:
    data = encode_topic_manifest_bin(state)
    back = decode_topic_manifest_bin(data)
    assert back == state
    assert encode_topic_manifest_bin(back) == data


NAMES = st.from_regex(r"[a-zA-Z0-9._\-]{1,20}", fullmatch=True).filter(lambda s: s not in (".", ".."))
MS = st.integers(0, I64_MAX // 1_000_000)


@st.composite
def topic_manifests(draw: st.DrawFn) -> TopicManifest:
    return TopicManifest(
        namespace=draw(NAMES),
        topic=draw(NAMES),
        partition_count=draw(st.integers(1, 2**31 - 1)),
        replication_factor=draw(st.integers(-(2**15), 2**15 - 1)),
        revision_id=draw(I64),
        compression=draw(_opt(st.sampled_from(["none", "gzip", "snappy", "lz4", "zstd", "producer"]))),
        cleanup_policy_bitflags=draw(_opt(st.sampled_from(["none", "delete", "compact", "compact,delete"]))),
        compaction_strategy=draw(_opt(st.sampled_from(["offset", "timestamp", "header"]))),
        timestamp_type=draw(_opt(st.sampled_from(["CreateTime", "LogAppendTime"]))),
        segment_size=draw(_opt(U64)),
        retention_bytes=draw(_tri(U64)),
        retention_duration=draw(_tri(MS)),
        virtual_cluster_id=draw(_opt(st.binary(min_size=12, max_size=12).map(xid_to_string))),
        remote_label=draw(_opt(st.uuids().map(str))),
    )


@settings(max_examples=examples(200), deadline=None)
@given(topic_manifests())
def test_topic_manifest_round_trip(m: TopicManifest) -> None:
    data = encode_topic_manifest(m)
    assert decode_topic_manifest(data) == m
    assert state_to_topic_manifest(topic_manifest_to_state(m)) == m
    # the JSON form of the decoded manifest is one Redpanda's JSON reader accepts, and it reads the same
    assert (
        dataclasses.replace(
            parse_topic_manifest(decode_topic_manifest(data).to_json()), remote_label=m.remote_label
        )
        == m
    )


@settings(max_examples=examples(500))
@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_or_format_error(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        decode_topic_manifest(data)


@settings(max_examples=examples(300), deadline=None)
@given(states(), st.data())
def test_corrupted_objects_decode_or_format_error(state: TopicManifestState, data: st.DataObject) -> None:
    raw = bytearray(encode_topic_manifest_bin(state))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    with contextlib.suppress(FormatError):
        decode_topic_manifest(bytes(raw[:cut]))


def test_real_topic_manifest_json_fixture() -> None:
    # tools/rp_storage_tool/resources/test/topic_manifest.json; Redpanda's update(json) + serialize_buf()
    raw = (Path(__file__).parent / "data" / "redpanda" / "topic_manifest.json").read_bytes()
    m = parse_topic_manifest(raw)
    props = _properties(
        [
            NONE,  # compression null
            some(enum(3)),  # "compact,delete"
            NONE,
            NONE,
            NONE,  # segment_size null
            TRI_EMPTY,  # "retention_bytes": null → enabled, empty
            tri(i64(3_600_000 * 1_000_000)),  # "retention_duration": 3600000 ms
        ]
    )
    cfg = sstr("kafka") + sstr("acme-ticker-cd-s") + struct.pack("<ih", 16, 3) + env(props, 10) + b"\x00"
    expected = env(env(cfg, 2) + i64(29), 0)
    assert len(expected) == 6 + 6 + 9 + 20 + 6 + (6 + 19 + 34) + 1 + 8 == 115  # first 7 fields: 19 bytes
    assert encode_topic_manifest(m) == expected
    assert decode_topic_manifest(expected) == m
    assert decode_topic_manifest(expected).to_json() == raw.strip()
