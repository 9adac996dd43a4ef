"""Discovery: which topics and partitions a bucket holds, from its manifests only.

Redpanda puts every topic manifest, partition manifest and spillover manifest of the prefixed layout
under one of sixteen roots, ``{h}0000000/meta/`` (the top four bits of an XXH32 hash,
``segment_format.keys``). Listing those sixteen prefixes therefore finds every manifest in
O(manifests / 1000) requests and never lists a segment. A partition's own
``{hash}/meta/{ns}/{topic}/{p}_{rev}/`` prefix (one LIST) gives its manifests in both formats and its
spillover manifests, with ETags, which is how a worker learns the destination's state on (re)start.

Names come only from keys that parse (``segment_format.keys``); anything else under ``meta/`` is ignored.
Labeled layouts (``remote_label``, ``{uuid}/meta/...``) are not followed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from app.replicator.model import PartitionId
from app.store import ObjectInfo, ObjectStore
from segment_format.errors import ObjectKeyError
from segment_format.keys import (
    parse_partition_manifest_key,
    parse_spillover_manifest_key,
    parse_topic_manifest_key,
)

__all__ = ["HASH_ROOTS", "BucketListing", "PartitionObjects", "discover", "list_partition"]

HASH_ROOTS: tuple[str, ...] = tuple(f"{h:x}0000000/meta/" for h in range(16))


@dataclass(slots=True)
class PartitionObjects:
    """The manifest objects of one partition: ``manifest.{json,bin}`` by format, spillovers by key."""

    manifests: dict[str, ObjectInfo] = field(default_factory=dict)
    spillovers: dict[str, ObjectInfo] = field(default_factory=dict)

    @property
    def effective_fmt(self) -> str | None:
        """The format Redpanda reads: ``bin`` when present, else ``json``, else None."""
        if "bin" in self.manifests:
            return "bin"
        if "json" in self.manifests:
            return "json"
        return None


@dataclass(slots=True)
class BucketListing:
    """Everything found under the sixteen roots."""

    topics: dict[tuple[str, str], dict[str, ObjectInfo]] = field(default_factory=dict)  # (ns, topic) -> fmt -> info
    partitions: dict[PartitionId, PartitionObjects] = field(default_factory=dict)

    def partitions_of(self, namespace: str, topic: str) -> list[PartitionId]:
        return sorted(p for p in self.partitions if (p.namespace, p.topic) == (namespace, topic))

    def add(self, info: ObjectInfo) -> None:
        """File one listed key (ignored unless it parses as a manifest key)."""
        key = info.key
        name = key.rsplit("/", 1)[-1]
        try:
            if name in ("manifest.json", "manifest.bin"):
                pk = parse_partition_manifest_key(key)
                if pk.cluster_uuid is None:
                    pid = PartitionId(pk.namespace, pk.topic, pk.partition, pk.revision)
                    self.partitions.setdefault(pid, PartitionObjects()).manifests[pk.fmt] = info
            elif name.startswith("manifest.bin."):
                prefix, _ = parse_spillover_manifest_key(key)
                pk = parse_partition_manifest_key(prefix + "/manifest.bin")
                pid = PartitionId(pk.namespace, pk.topic, pk.partition, pk.revision)
                self.partitions.setdefault(pid, PartitionObjects()).spillovers[key] = info
            elif name in ("topic_manifest.json", "topic_manifest.bin"):
                ns, topic, fmt, uuid = parse_topic_manifest_key(key)
                if uuid is None:
                    self.topics.setdefault((ns, topic), {})[fmt] = info
        except ObjectKeyError:
            return


async def discover(store: ObjectStore, *, include: Callable[[str, str], bool] | None = None) -> BucketListing:
    """List the sixteen hash roots (concurrently) and file every manifest found.

    ``include(namespace, topic)`` drops topics early (``--topics``).
    """
    listing = BucketListing()

    async def one_root(root: str) -> list[ObjectInfo]:
        return [info async for info in store.list(root)]

    for infos in await asyncio.gather(*(one_root(r) for r in HASH_ROOTS)):
        for info in infos:
            listing.add(info)
    if include is not None:
        listing.topics = {k: v for k, v in listing.topics.items() if include(*k)}
        listing.partitions = {p: v for p, v in listing.partitions.items() if include(p.namespace, p.topic)}
    return listing


async def list_partition(store: ObjectStore, pid: PartitionId) -> PartitionObjects:
    """One LIST of the partition's meta prefix: its manifests in both formats and its spillovers."""
    listing = BucketListing()
    async for info in store.list(pid.meta_prefix + "/"):
        listing.add(info)
    return listing.partitions.get(pid, PartitionObjects())
