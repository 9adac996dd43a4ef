"""Cluster metadata codec against Redpanda: the real ``cluster_manifest.json`` fixture of its
``rp_storage_tool``, key shapes of ``key_utils.cc``, and an offsets snapshot built here field by field with
``struct`` from ``offsets_snapshot.h`` (envelopes v0/c0 with their sizes); round trips and fuzzing."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_format.cluster_metadata import (
    ClusterManifest,
    GroupOffsets,
    OffsetsSnapshot,
    cluster_manifest_key,
    decode_offsets_snapshot,
    encode_offsets_snapshot,
    newest_manifests,
    offsets_snapshot_key,
    parse_cluster_manifest,
)
from segment_format.errors import FormatError, ManifestError
from tests.hypothesis_support import examples

UUID = "19fd9bd7-29e9-4da4-85cf-7199b2997ad3"


def env(body: bytes) -> bytes:
    return struct.pack("<BBI", 0, 0, len(body)) + body


def s(text: str) -> bytes:
    return struct.pack("<I", len(text)) + text.encode()


def vec(items: list[bytes]) -> bytes:
    return struct.pack("<I", len(items)) + b"".join(items)


def test_real_cluster_manifest_fixture() -> None:
    m = parse_cluster_manifest((Path(__file__).parent / "data" / "redpanda" / "cluster_manifest.json").read_bytes())
    assert (m.cluster_uuid, m.metadata_id, m.upload_time_since_epoch, m.controller_snapshot_offset) == (
        UUID, 3, 1668768681875, 380)
    assert m.controller_snapshot_path == f"cluster_metadata/{UUID}/380/controller.snapshot"
    assert m.offsets_snapshots_by_partition == ()


def test_keys_follow_key_utils() -> None:
    assert cluster_manifest_key(UUID, 3) == f"cluster_metadata/{UUID}/manifests/3/cluster_manifest.json"
    assert offsets_snapshot_key(UUID, 3, 2, 0) == f"cluster_metadata/{UUID}/3/offsets/2/0.snapshot"
    other = "0b9a8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"
    keys = [cluster_manifest_key(UUID, 3), cluster_manifest_key(UUID, 12), cluster_manifest_key(UUID, 9),
            cluster_manifest_key(other, 1), f"cluster_metadata/{UUID}/12/offsets/0/0.snapshot", "x/y"]
    assert newest_manifests(keys) == {UUID: cluster_manifest_key(UUID, 12), other: cluster_manifest_key(other, 1)}


def test_manifest_writes_redpandas_key_order_and_round_trips() -> None:
    m = ClusterManifest(cluster_uuid=UUID, metadata_id=7, upload_time_since_epoch=1_700_000_000_000,
                        controller_snapshot_offset=42, controller_snapshot_path="p",
                        offsets_snapshots_by_partition=(("a", "b"), ()))
    text = m.to_json().decode()
    assert text.startswith('{"version":0,"compat_version":0,"cluster_uuid":"' + UUID + '","upload_time_since_epoch":')
    assert parse_cluster_manifest(text) == m


@pytest.mark.parametrize("body,what", [
    (b"{", "not JSON"), (b"[]", "object"), (b'{"compat_version":0}', "version"),
    (b'{"version":0,"compat_version":5,"cluster_uuid":"' + UUID.encode() + b'"}', "compat_version"),
    (b'{"version":0,"compat_version":0,"cluster_uuid":"nope"}', "uuid"),
    (b'{"version":0,"compat_version":0,"cluster_uuid":"' + UUID.encode() + b'","offsets_snapshots_by_partition":[1]}',
     "offsets_snapshots_by_partition"),
])
def test_bad_manifests_are_clear_errors(body: bytes, what: str) -> None:
    with pytest.raises(ManifestError, match=what):
        parse_cluster_manifest(body)


def test_offsets_snapshot_field_by_field() -> None:
    data = env(struct.pack("<i", 3) + vec([
        env(s("billing") + vec([
            env(s("orders") + vec([env(struct.pack("<iq", 0, 1200)), env(struct.pack("<iq", 2, 77))])),
            env(s("payments") + vec([env(struct.pack("<iq", 1, 5))])),
        ])),
        env(s("audit") + vec([])),
    ]))
    snap = decode_offsets_snapshot(data)
    assert snap == OffsetsSnapshot(3, (GroupOffsets("billing", {"orders": {0: 1200, 2: 77}, "payments": {1: 5}}),
                                       GroupOffsets("audit", {})))
    assert encode_offsets_snapshot(snap) == data
    for cut in (0, 5, 6, 10, len(data) - 1):
        with pytest.raises(ManifestError, match="offsets snapshot"):
            decode_offsets_snapshot(data[:cut])


_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)


@settings(max_examples=examples(150), deadline=None)
@given(pid=st.integers(-(2**31), 2**31 - 1), groups=st.lists(st.tuples(_names, st.dictionaries(
    _names, st.dictionaries(st.integers(0, 2**31 - 1), st.integers(-(2**63), 2**63 - 1), max_size=4), max_size=3)),
    max_size=4))
def test_snapshot_round_trip(pid: int, groups: list[tuple[str, dict[str, dict[int, int]]]]) -> None:
    snap = OffsetsSnapshot(pid, tuple(GroupOffsets(g, o) for g, o in groups))
    assert decode_offsets_snapshot(encode_offsets_snapshot(snap)) == snap


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=200))
def test_garbage_snapshots_are_format_errors(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        decode_offsets_snapshot(data)


# -- vectors of src/v/cluster/cloud_metadata/tests/cluster_manifest_test.cc and key_utils.cc ---------------

CC_UUID = "01234567-89ab-cdef-0123-456789abcdef"
SIMPLE_MANIFEST_JSON = """{
    "version": 0,
    "compat_version": 0,
    "upload_time_since_epoch": 100,
    "cluster_uuid": "01234567-89ab-cdef-0123-456789abcdef",
    "metadata_id": 7,
    "controller_snapshot_offset": 42,
    "controller_snapshot_path": "cluster_metadata/01234567-89ab-cdef-0123-456789abcdef/0/controller.snapshot",
    "offsets_snapshots_by_partition": [["path0"], ["path1"], [], ["path2", "path3"]]
}"""


def test_cluster_manifest_test_cc_basic_serialization() -> None:
    m = parse_cluster_manifest(SIMPLE_MANIFEST_JSON)
    assert (m.upload_time_since_epoch, m.cluster_uuid, m.metadata_id, m.controller_snapshot_offset) == (
        100, CC_UUID, 7, 42)
    assert m.controller_snapshot_path == f"cluster_metadata/{CC_UUID}/0/controller.snapshot"
    assert m.offsets_snapshots_by_partition == (("path0",), ("path1",), (), ("path2", "path3"))
    assert m.key == f"cluster_metadata/{CC_UUID}/manifests/7/cluster_manifest.json"  # get_manifest_path()
    # to_json(): rapidjson's compact writer, keys in its order
    assert m.to_json() == (
        b'{"version":0,"compat_version":0,"cluster_uuid":"01234567-89ab-cdef-0123-456789abcdef",'
        b'"upload_time_since_epoch":100,"metadata_id":7,"controller_snapshot_offset":42,'
        b'"controller_snapshot_path":"cluster_metadata/01234567-89ab-cdef-0123-456789abcdef/0/controller.snapshot",'
        b'"offsets_snapshots_by_partition":[["path0"],["path1"],[],["path2","path3"]]}')
    # test_extra_field: unknown keys are ignored
    assert parse_cluster_manifest(SIMPLE_MANIFEST_JSON.replace('"version": 0,', '"version": 0, "foo": "bar",')) == m
    # test_bad_compat_serialization (999) and test_bad_uuid
    with pytest.raises(ManifestError):
        parse_cluster_manifest(SIMPLE_MANIFEST_JSON.replace('"compat_version": 0', '"compat_version": 999'))
    with pytest.raises(ManifestError):
        parse_cluster_manifest(SIMPLE_MANIFEST_JSON.replace(CC_UUID + '",', '1-877-kars4kids",', 1))
    # test_max_vals / test_min_vals
    for v in (2**63 - 1, -(2**63)):
        e = ClusterManifest(cluster_uuid=CC_UUID, metadata_id=v, upload_time_since_epoch=v, controller_snapshot_offset=v)
        assert parse_cluster_manifest(e.to_json()) == e


def test_to_json_writes_utf8_like_rapidjson() -> None:
    m = ClusterManifest(cluster_uuid=UUID, metadata_id=1, controller_snapshot_path="é")
    assert '"controller_snapshot_path":"é"'.encode() in m.to_json()
    assert parse_cluster_manifest(m.to_json()) == m


def test_newest_manifest_keys_as_manifest_downloads_matches_them() -> None:
    sample = "6e94ccdc-443a-4807-b105-0bb86e8f97f7"  # tests/rptest/utils/si_utils.py
    assert cluster_manifest_key(sample, 0) == f"cluster_metadata/{sample}/manifests/0/cluster_manifest.json"
    keys = [
        cluster_manifest_key(sample, 9),
        cluster_manifest_key(sample, 10),  # numeric order: 10 > 9
        f"cluster_metadata/{sample}/manifests/-11/cluster_manifest.json",  # \d+: no sign
        f"cluster_metadata/{sample}/manifests/9223372036854775808/cluster_manifest.json",  # std::stol overflows
        f"cluster_metadata/{sample}/manifests/{'9' * 5000}/cluster_manifest.json",
        f"cluster_metadata/{sample.upper()}/manifests/99/cluster_manifest.json",  # [a-z0-9-]+
        f"cluster_metadata/{sample}/manifests/99/cluster_manifest.json.part",
        f"cluster_metadata/{sample}/12/offsets/0/0.snapshot",
    ]
    assert newest_manifests(keys) == {sample: cluster_manifest_key(sample, 10)}


def test_offsets_snapshot_envelope_sizes_counted_by_hand() -> None:
    # partition_offset {i32 partition, i64 kafka::offset}: body 12 bytes
    po = bytes.fromhex("00000c000000") + struct.pack("<iq", 1, 2**33 + 7)
    # topic_partitions {"t", [po]}: body 4 + 1 + 4 + 18 = 27 = 0x1b
    tp = bytes.fromhex("00001b000000") + struct.pack("<I", 1) + b"t" + struct.pack("<I", 1) + po
    # group_offsets {"g", [tp]}: body 5 + 4 + 33 = 42 = 0x2a
    go = bytes.fromhex("00002a000000") + struct.pack("<I", 1) + b"g" + struct.pack("<I", 1) + tp
    # group_offsets_snapshot {pid 4, [go]}: body 4 + 4 + 48 = 56 = 0x38
    data = bytes.fromhex("000038000000") + struct.pack("<iI", 4, 1) + go
    assert len(data) == 62
    snap = OffsetsSnapshot(4, (GroupOffsets("g", {"t": {1: 2**33 + 7}}),))
    assert encode_offsets_snapshot(snap) == data
    assert decode_offsets_snapshot(data) == snap
