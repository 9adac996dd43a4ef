"""Value types the replicator passes around: partition identity, manifests as read, topic filter, shard.

All frozen: a worker's view of a bucket is a value it replaces, never a structure it patches.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from datetime import datetime

from app.errors import ConfigError
from segment_format import keys
from segment_format.manifest import PartitionManifest, parse_partition_manifest

__all__ = [
    "ManifestObject",
    "PartitionId",
    "Shard",
    "TopicFilter",
    "decode_partition_manifest",
]


@dataclass(frozen=True, slots=True, order=True)
class PartitionId:
    """One partition incarnation: namespace, topic, partition and the topic revision in its keys."""

    namespace: str
    topic: str
    partition: int
    revision: int

    @property
    def name(self) -> str:
        return f"{self.namespace}/{self.topic}/{self.partition}"

    def __str__(self) -> str:
        return f"{self.name}_{self.revision}"

    @property
    def meta_prefix(self) -> str:
        """``{hash}/meta/{ns}/{topic}/{partition}_{rev}``: manifest.json, manifest.bin and spillovers live below."""
        return keys.partition_manifest_prefix(self.namespace, self.topic, self.partition, self.revision)

    def manifest_key(self, fmt: str) -> str:
        return keys.partition_manifest_key(self.namespace, self.topic, self.partition, self.revision, fmt=fmt)


def decode_partition_manifest(body: bytes, fmt: str) -> PartitionManifest:
    """Parse ``manifest.json`` or a serde ``manifest.bin`` (main or spillover) into one value type."""
    if fmt == "json":
        return parse_partition_manifest(body)
    from segment_format.manifest_bin import decode_partition_manifest as decode_bin

    return parse_partition_manifest(decode_bin(body))


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestObject:
    """A manifest object exactly as read: its bytes (re-written verbatim), ETag, mtime, and parsed value."""

    key: str
    fmt: str  # "json" | "bin"
    etag: str
    last_modified: datetime
    body: bytes
    manifest: PartitionManifest


@dataclass(frozen=True, slots=True)
class TopicFilter:
    """``--topics``: comma-separated fnmatch patterns matched against ``topic`` and ``namespace/topic``;
    a pattern starting with ``!`` excludes. ``"*"`` (the default) takes everything."""

    patterns: tuple[str, ...] = ("*",)

    @classmethod
    def parse(cls, text: str) -> TopicFilter:
        pats = tuple(p.strip() for p in text.split(",") if p.strip())
        if not pats:
            raise ConfigError("--topics needs at least one pattern")
        return cls(pats)

    def __call__(self, namespace: str, topic: str) -> bool:
        include = [p for p in self.patterns if not p.startswith("!")] or ["*"]
        exclude = [p[1:] for p in self.patterns if p.startswith("!")]
        names = (topic, f"{namespace}/{topic}")

        def hit(patterns: list[str]) -> bool:
            return any(fnmatch.fnmatchcase(n, p) for p in patterns for n in names)

        return hit(include) and not hit(exclude)


@dataclass(frozen=True, slots=True)
class Shard:
    """``--shard i/n``: this instance owns the partitions whose stable hash is ``i`` modulo ``n``.

    The hash is BLAKE2b of ``namespace/topic/partition`` (not Python's salted ``hash``), so every
    instance, on every machine, agrees without talking to the others. Topic-level objects (topic
    manifests) belong to the owner of the topic's partition 0; ``cluster_metadata/`` to shard 0.
    """

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ConfigError(f"bad shard {self.index}/{self.count} (expected i/n with 0 <= i < n)")

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise ConfigError(f"bad --shard {text!r} (expected i/n, e.g. 0/2)") from None
        return cls(i, n)

    @staticmethod
    def bucket_of(namespace: str, topic: str, partition: int, count: int) -> int:
        digest = hashlib.blake2b(f"{namespace}/{topic}/{partition}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % count

    def owns(self, namespace: str, topic: str, partition: int) -> bool:
        return self.count == 1 or self.bucket_of(namespace, topic, partition, self.count) == self.index

    def owns_topic(self, namespace: str, topic: str) -> bool:
        return self.owns(namespace, topic, 0)

    @property
    def owns_cluster_metadata(self) -> bool:
        return self.index == 0

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
