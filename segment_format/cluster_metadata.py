"""Redpanda's cluster metadata in tiered storage (whole-cluster restore): cluster manifests and the consumer
group offsets snapshots they name. Pure: build and parse keys, decode and encode objects.

Keys (``src/v/cluster/cloud_metadata/key_utils.cc``)::

    cluster_metadata/{uuid}/manifests/{meta_id}/cluster_manifest.json
    cluster_metadata/{uuid}/{controller offset}/controller.snapshot
    cluster_metadata/{uuid}/{meta_id}/offsets/{offsets topic partition}/{n}.snapshot

``cluster_manifest.json`` (``cluster_manifest.cc``, rapidjson, in this key order): ``version`` (0),
``compat_version`` (0), ``cluster_uuid``, ``upload_time_since_epoch`` (ms), ``metadata_id``,
``controller_snapshot_offset``, ``controller_snapshot_path``, ``offsets_snapshots_by_partition`` (for
each partition of the consumer offsets topic, the keys of its snapshots). Only ``version`` and
``compat_version`` are required by Redpanda's reader (early writers said 1 for both, with the same
fields); the newest ``metadata_id`` of a cluster wins.

An offsets snapshot (``offsets_snapshot.h``) is serde; envelopes ``u8 version, u8 compat_version, u32 size``,
little-endian integers, strings and vectors a u32 count::

    group_offsets_snapshot v0 { offsets_topic_pid: i32, groups: vector<group_offsets> }
    group_offsets          v0 { group_id: string, offsets: vector<topic_partitions> }
    topic_partitions       v0 { topic: string, partitions: vector<partition_offset> }
    partition_offset       v0 { partition: i32, offset: i64 (a Kafka offset: the next record to consume) }
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from segment_format.errors import ManifestError, SerdeError
from segment_format.keys import check_cluster_uuid
from segment_format.serde import SerdeReader, SerdeWriter

__all__ = [
    "ClusterManifest",
    "GroupOffsets",
    "OffsetsSnapshot",
    "cluster_manifest_key",
    "decode_offsets_snapshot",
    "encode_offsets_snapshot",
    "newest_manifests",
    "offsets_snapshot_key",
    "parse_cluster_manifest",
    "parse_cluster_manifest_key",
]

PREFIX = "cluster_metadata"
_NO_OFFSET = -(2**63)  # model::offset{} (no controller snapshot)
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_MANIFEST_KEY = re.compile(rf"^{PREFIX}/({_UUID})/manifests/([0-9]+)/cluster_manifest\.json$")
_INT64_MAX = 2**63 - 1


def cluster_manifest_key(cluster_uuid: str, metadata_id: int) -> str:
    return f"{PREFIX}/{check_cluster_uuid(cluster_uuid)}/manifests/{metadata_id}/cluster_manifest.json"


def offsets_snapshot_key(cluster_uuid: str, metadata_id: int, partition: int, index: int) -> str:
    return f"{PREFIX}/{check_cluster_uuid(cluster_uuid)}/{metadata_id}/offsets/{partition}/{index}.snapshot"


def controller_snapshot_key(cluster_uuid: str, offset: int) -> str:
    return f"{PREFIX}/{check_cluster_uuid(cluster_uuid)}/{offset}/controller.snapshot"


def parse_cluster_manifest_key(key: str) -> tuple[str, int] | None:
    """``(cluster_uuid, metadata_id)`` of a cluster manifest key, else None. As ``manifest_downloads.cc``
    matches them: ``\\d+`` ids (no sign) that ``std::stol`` can hold; others are not manifests to it."""
    m = _MANIFEST_KEY.match(key)
    digits = (m[2].lstrip("0") or "0") if m else ""
    if not m or len(digits) > 19 or int(digits) > _INT64_MAX:  # (19 digits first: int() refuses 4301)
        return None
    return m[1], int(digits)


def newest_manifests(keys: Iterable[str]) -> dict[str, str]:
    """The newest cluster manifest key of each cluster UUID (highest ``metadata_id``), clusters kept apart."""
    best: dict[str, tuple[int, str]] = {}
    for key in keys:
        parsed = parse_cluster_manifest_key(key)
        if parsed is not None:
            uuid, meta_id = parsed
            if uuid not in best or meta_id > best[uuid][0]:
                best[uuid] = (meta_id, key)
    return {uuid: key for uuid, (_, key) in best.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterManifest:
    cluster_uuid: str
    metadata_id: int
    upload_time_since_epoch: int = 0  # ms
    controller_snapshot_offset: int = _NO_OFFSET
    controller_snapshot_path: str = ""
    offsets_snapshots_by_partition: tuple[tuple[str, ...], ...] = ()
    version: int = 0
    compat_version: int = 0

    @property
    def key(self) -> str:
        return cluster_manifest_key(self.cluster_uuid, self.metadata_id)

    def to_json(self) -> bytes:
        """The bytes ``cluster_metadata_manifest::serialize`` writes (compact, its key order)."""
        doc = {"version": self.version, "compat_version": self.compat_version, "cluster_uuid": self.cluster_uuid,
               "upload_time_since_epoch": self.upload_time_since_epoch, "metadata_id": self.metadata_id,
               "controller_snapshot_offset": self.controller_snapshot_offset,
               "controller_snapshot_path": self.controller_snapshot_path,
               "offsets_snapshots_by_partition": [list(p) for p in self.offsets_snapshots_by_partition]}
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()  # rapidjson writes UTF-8


def _int(doc: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = doc.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ManifestError(f"cluster manifest: {name!r} must be an integer, got {value!r}")
    return value


def parse_cluster_manifest(data: bytes | str) -> ClusterManifest:
    """Parse and validate ``cluster_manifest.json`` (Redpanda's reader requires ``version`` and
    ``compat_version``, refuses a ``compat_version`` above what it supports: 0)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ManifestError(f"cluster manifest is not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ManifestError("cluster manifest must be a JSON object")
    for required in ("version", "compat_version"):
        if required not in doc:
            raise ManifestError(f"cluster manifest: missing {required!r}")
    compat = _int(doc, "compat_version")
    if compat > 1:  # current writers say 0; early ones (rp_storage_tool's fixture) said 1 for the same fields
        raise ManifestError(f"cluster manifest: compat_version {compat} is newer than this reader")
    uuid = doc.get("cluster_uuid")
    if not isinstance(uuid, str):
        raise ManifestError("cluster manifest: 'cluster_uuid' must be a string")
    try:
        check_cluster_uuid(uuid)
    except ValueError as e:
        raise ManifestError(f"cluster manifest: {e}") from e
    parts = doc.get("offsets_snapshots_by_partition", [])
    if not isinstance(parts, list) or not all(isinstance(p, list) and all(isinstance(k, str) for k in p)
                                              for p in parts):
        raise ManifestError("cluster manifest: 'offsets_snapshots_by_partition' must be a list of lists of keys")
    path = doc.get("controller_snapshot_path", "")
    if not isinstance(path, str):
        raise ManifestError("cluster manifest: 'controller_snapshot_path' must be a string")
    return ClusterManifest(
        version=_int(doc, "version"), compat_version=compat, cluster_uuid=uuid,
        metadata_id=_int(doc, "metadata_id", -1), upload_time_since_epoch=_int(doc, "upload_time_since_epoch", 0),
        controller_snapshot_offset=_int(doc, "controller_snapshot_offset", _NO_OFFSET),
        controller_snapshot_path=path, offsets_snapshots_by_partition=tuple(tuple(p) for p in parts))


@dataclass(frozen=True, slots=True)
class GroupOffsets:
    """One group's committed offsets: topic → partition → Kafka offset (the next record to consume)."""

    group_id: str
    offsets: Mapping[str, Mapping[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OffsetsSnapshot:
    offsets_topic_pid: int
    groups: tuple[GroupOffsets, ...] = ()


def decode_offsets_snapshot(data: bytes | bytearray | memoryview) -> OffsetsSnapshot:
    """Decode a ``group_offsets_snapshot``; :class:`ManifestError` names what is wrong."""
    r = SerdeReader(data)

    def partition(r: SerdeReader) -> tuple[int, int]:
        with r.envelope(0, 0, "partition_offset"):
            return r.read_i32(), r.read_i64()

    def topic(r: SerdeReader) -> tuple[str, dict[int, int]]:
        with r.envelope(0, 0, "topic_partitions"):
            name = r.read_string()
            return name, dict(r.read_vector(partition))

    def group(r: SerdeReader) -> GroupOffsets:
        with r.envelope(0, 0, "group_offsets"):
            gid = r.read_string()
            return GroupOffsets(gid, dict(r.read_vector(topic)))

    try:
        with r.envelope(0, 0, "group_offsets_snapshot"):
            pid = r.read_i32()
            groups = tuple(r.read_vector(group))
        r.expect_end("offsets snapshot")
    except (SerdeError, UnicodeDecodeError) as e:
        raise ManifestError(f"offsets snapshot: {e}") from e
    return OffsetsSnapshot(pid, groups)


def encode_offsets_snapshot(snapshot: OffsetsSnapshot) -> bytes:
    w = SerdeWriter()

    def partition(w: SerdeWriter, item: tuple[int, int]) -> None:
        with w.envelope(0, 0):
            w.write_i32(item[0])
            w.write_i64(item[1])

    def topic(w: SerdeWriter, item: tuple[str, Mapping[int, int]]) -> None:
        with w.envelope(0, 0):
            w.write_string(item[0])
            w.write_vector(sorted(item[1].items()), partition)

    def group(w: SerdeWriter, g: GroupOffsets) -> None:
        with w.envelope(0, 0):
            w.write_string(g.group_id)
            w.write_vector(sorted(g.offsets.items()), topic)

    with w.envelope(0, 0):
        w.write_i32(snapshot.offsets_topic_pid)
        w.write_vector(snapshot.groups, group)
    return w.getvalue()
