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

UUID = "19fd9bd7-29e9-4da4-85cf-7199b2997ad3"


def env(body: bytes) -> bytes:
    return struct.pack("<BBI", 0, 0, len(body)) + body


def s(text: str) -> bytes:
    return struct.pack("<I", len(text)) + text.encode()


def vec(items: list[bytes]) -> bytes:
    return struct.pack("<I", len(items)) + b"".join(items)


def test_real_cluster_manifest_fixture() -> None:
    m = parse_cluster_manifest((Path(__file__).parent / "data" / "cluster_manifest.json").read_bytes())
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


@settings(max_examples=150, deadline=None)
@given(pid=st.integers(-(2**31), 2**31 - 1), groups=st.lists(st.tuples(_names, st.dictionaries(
    _names, st.dictionaries(st.integers(0, 2**31 - 1), st.integers(-(2**63), 2**63 - 1), max_size=4), max_size=3)),
    max_size=4))
def test_snapshot_round_trip(pid: int, groups: list[tuple[str, dict[str, dict[int, int]]]]) -> None:
    snap = OffsetsSnapshot(pid, tuple(GroupOffsets(g, o) for g, o in groups))
    assert decode_offsets_snapshot(encode_offsets_snapshot(snap)) == snap


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_snapshots_are_format_errors(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        decode_offsets_snapshot(data)
