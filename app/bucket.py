"""The one bucket model: where a Redpanda tiered-storage bucket keeps what, for every command.

Every face (replicator, catalog of ``serve``/``http``, ``verify``, ``status``, ``inspect``) finds topics and
partitions here and decodes manifests here; nothing else lists manifest roots or picks a manifest format.

Layouts (``src/v/cloud_storage/remote_path_provider.cc``; keys built in :mod:`segment_format.keys`)
----------------------------------------------------------------------------------------------------
**Prefixed** — every topic before remote labels (Redpanda before v24.2, and topics created before an
upgrade). Sixteen roots ``{h}0000000/meta/`` hold the topic manifests
``{h}/meta/{ns}/{topic}/topic_manifest.{bin,json}``, the partition manifests
``{h}/meta/{ns}/{topic}/{p}_{rev}/manifest.{bin,json}`` with their spillovers, and lifecycle markers.

**Labeled** — every topic created since v24.2.1 on a cluster with the ``remote_labels`` feature (all of
them). The label is the cluster UUID: topic manifests ``meta/{ns}/{topic}/{uuid}/{rev}/topic_manifest.bin``
(``.bin`` only) under the root ``meta/``; partition manifests ``{uuid}/meta/{ns}/{topic}/{p}_{rev}/manifest.bin``
(``.bin`` only, spillovers beside); segments ``{uuid}/{ns}/{topic}/{p}_{rev}/{name}``.

A bucket may hold both (an upgraded cluster) and several clusters (``cloud_storage_cluster_name``): a topic
is identified by :class:`TopicId` = (namespace, topic, label), a partition by :class:`PartitionId`.

Discovery (:func:`discover`)
----------------------------
One LIST of each of the sixteen hash roots, of ``meta/``, and one delimiter LIST of ``cluster_metadata/``,
concurrently. The cluster UUIDs are those named by labeled topic manifests, by ``cluster_metadata/{uuid}/``
and by ``cluster_uuids`` (``--cluster-uuid``); each then costs one delimiter LIST of ``{uuid}/`` (its
children: ``meta/`` and namespaces) and one LIST of ``{uuid}/meta/``. No segment is ever listed. (Not a
delimiter LIST of the top level to skip absent hash roots: a prefixed segment key starts with the full 32-bit
hash of its path, so the top level holds a directory per segment.)

Keys that match no known shape under those roots (a newer layout, such as Redpanda's cloud topics, or
debris) are never dropped silently: they are counted by prefix in :attr:`BucketListing.unsupported`,
logged once per prefix, shown by ``/topics`` and reported by ``verify``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from app.store import ObjectInfo, ObjectStore
from segment_format import keys
from segment_format.errors import ObjectKeyError
from segment_format.manifest import (
    PartitionManifest,
    TopicManifest,
    parse_partition_manifest,
)

__all__ = [
    "HASH_ROOTS",
    "LABELED_TOPIC_ROOT",
    "BucketListing",
    "ManifestObject",
    "PartitionId",
    "PartitionObjects",
    "TopicId",
    "TopicObjects",
    "decode_partition_manifest",
    "decode_topic_manifest",
    "discover",
    "encode_partition_manifest",
    "list_partition",
]

log = logging.getLogger(__name__)

HASH_ROOTS: tuple[str, ...] = tuple(f"{h:x}0000000/meta/" for h in range(16))
LABELED_TOPIC_ROOT = "meta/"
CLUSTER_METADATA_ROOT = "cluster_metadata/"


# ---------------------------------------------------------------------------------------------- identity


class _Labeled:
    """What a topic's or partition's ``label`` says: its cluster UUID (labeled layout) or "" (prefixed)."""

    __slots__ = ()
    label: str

    @property
    def cluster_uuid(self) -> str | None:
        return self.label or None

    @property
    def layout(self) -> str:
        return "labeled" if self.label else "prefixed"


@dataclass(frozen=True, slots=True, order=True)
class TopicId(_Labeled):
    """A topic of one cluster: ``label`` is its cluster UUID (labeled layout) or "" (prefixed layout)."""

    namespace: str
    topic: str
    label: str = ""

    def __str__(self) -> str:
        return f"{self.namespace}/{self.topic}" + (f" (cluster {self.label})" if self.label else "")


@dataclass(frozen=True, slots=True, order=True)
class PartitionId(_Labeled):
    """One partition incarnation: namespace, topic, partition, the revision in its keys, and its label."""

    namespace: str
    topic: str
    partition: int
    revision: int
    label: str = ""

    @property
    def topic_id(self) -> TopicId:
        return TopicId(self.namespace, self.topic, self.label)

    @property
    def name(self) -> str:
        return f"{self.namespace}/{self.topic}/{self.partition}"

    def __str__(self) -> str:
        return (f"{self.label}/" if self.label else "") + f"{self.name}_{self.revision}"

    @property
    def formats(self) -> tuple[str, ...]:
        """Manifest formats Redpanda reads here, preferred first: a labeled partition has no JSON fallback."""
        return ("bin",) if self.label else ("bin", "json")

    @property
    def meta_prefix(self) -> str:
        """Where manifest.json, manifest.bin and the spillover manifests live."""
        if self.label:
            return keys.labeled_partition_manifest_prefix(self.label, self.namespace, self.topic, self.partition,
                                                          self.revision)
        return keys.partition_manifest_prefix(self.namespace, self.topic, self.partition, self.revision)

    def manifest_key(self, fmt: str) -> str:
        if fmt not in self.formats:
            raise ValueError(f"{self}: no manifest.{fmt} in the {self.layout} layout")
        return f"{self.meta_prefix}/manifest.{fmt}"


# ---------------------------------------------------------------------------------------------- listing


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

    @property
    def last_modified(self) -> datetime | None:
        times = [i.last_modified for i in self.manifests.values()]
        return max(times) if times else None


@dataclass(slots=True)
class TopicObjects:
    """A topic's manifest objects by format; ``revision`` is the labeled key's revision (None if prefixed)."""

    manifests: dict[str, ObjectInfo] = field(default_factory=dict)
    revision: int | None = None


_LABELED_LIFECYCLE = re.compile(r"^meta/[^/]+/[^/]+/[0-9a-f-]{36}/-?[0-9]+_lifecycle\.bin$")
_PREFIXED_LIFECYCLE = re.compile(r"^[0-9a-f]{8}/meta/[^/]+/[^/]+/-?[0-9]+_lifecycle\.bin$")


def _unsupported_prefix(key: str) -> str:
    """The prefix an unknown key is reported under: its first four path components."""
    parts = key.split("/")
    return "/".join(parts[:4]) + ("/" if len(parts) > 4 else "")


@dataclass(slots=True)
class BucketListing:
    """Every manifest a discovery found, by topic and partition, in both layouts."""

    topics: dict[TopicId, TopicObjects] = field(default_factory=dict)
    partitions: dict[PartitionId, PartitionObjects] = field(default_factory=dict)
    cluster_uuids: set[str] = field(default_factory=set)
    unsupported: dict[str, int] = field(default_factory=dict)
    """Keys that match no known shape, counted by prefix (see the module doc)."""

    def roots(self) -> set[str]:
        """The listing roots (``HASH_ROOTS``, ``meta/``, ``<uuid>/meta/``) holding at least one manifest here."""
        keys = [i.key for o in self.topics.values() for i in o.manifests.values()]
        keys += [i.key for o in self.partitions.values() for i in o.manifests.values()]
        return {_root_of(k) for k in keys}

    def partitions_of(self, topic: TopicId) -> list[PartitionId]:
        return sorted(p for p in self.partitions if p.topic_id == topic)

    def topic_ids(self) -> set[TopicId]:
        """Topics with a topic manifest or at least one partition manifest."""
        return set(self.topics) | {p.topic_id for p in self.partitions}

    def note_unsupported(self, key: str) -> None:
        prefix = _unsupported_prefix(key)
        self.unsupported[prefix] = self.unsupported.get(prefix, 0) + 1

    def add(self, info: ObjectInfo) -> None:
        """File one listed key: a manifest of either layout, a known marker, or an unsupported key."""
        key = info.key
        name = key.rsplit("/", 1)[-1]
        try:
            if name in ("manifest.json", "manifest.bin"):
                pk = keys.parse_partition_manifest_key(key)
                pid = PartitionId(pk.namespace, pk.topic, pk.partition, pk.revision, pk.cluster_uuid or "")
                self.partitions.setdefault(pid, PartitionObjects()).manifests[pk.fmt] = info
                return
            if name.startswith("manifest.bin."):
                prefix, _ = keys.parse_spillover_manifest_key(key)
                pk = keys.parse_partition_manifest_key(prefix + "/manifest.bin")
                pid = PartitionId(pk.namespace, pk.topic, pk.partition, pk.revision, pk.cluster_uuid or "")
                self.partitions.setdefault(pid, PartitionObjects()).spillovers[key] = info
                return
            if name in ("topic_manifest.json", "topic_manifest.bin"):
                ns, topic, fmt, label = keys.parse_topic_manifest_key(key)
                tid = TopicId(ns, topic, label or "")
                objs = self.topics.setdefault(tid, TopicObjects())
                if label is not None:
                    revision = int(key.split("/")[-2])
                    self.cluster_uuids.add(label)
                    if objs.revision is not None and revision < objs.revision:
                        return  # an older incarnation's manifest: the newest revision is the topic
                    objs.revision = revision
                objs.manifests[fmt] = info
                return
            if name.endswith("_lifecycle.bin") and (_LABELED_LIFECYCLE.match(key) or _PREFIXED_LIFECYCLE.match(key)):
                return  # topic lifecycle markers (deletion bookkeeping): known, not needed to read or restore
        except ObjectKeyError:
            pass
        self.note_unsupported(key)

    def filter(self, include: Callable[[str, str], bool] | None, cluster_uuids: Iterable[str] | None) -> None:
        """Keep the topics ``include(namespace, topic)`` accepts and, when ``cluster_uuids`` is given, only
        those clusters' labeled topics (prefixed topics carry no label and are kept)."""
        wanted = set(cluster_uuids) if cluster_uuids else None

        def keep(t: TopicId) -> bool:
            if wanted is not None and t.label and t.label not in wanted:
                return False
            return include is None or include(t.namespace, t.topic)

        self.topics = {k: v for k, v in self.topics.items() if keep(k)}
        self.partitions = {p: v for p, v in self.partitions.items() if keep(p.topic_id)}


def changed_object_kind(key: str) -> str:
    """What an event for ``key`` (relative to the layout root) can change (pure): ``"partition"`` (a partition
    manifest), ``"spillover"``, ``"topic"`` (a topic manifest), ``"cluster"`` (``cluster_metadata/``,
    ``cluster_name/``) or ``""`` (segments, indexes, tx objects: named by a manifest written after them)."""
    if key.startswith((CLUSTER_METADATA_ROOT, "cluster_name/")):
        return "cluster"
    name = key.rsplit("/", 1)[-1]
    try:
        if name in ("manifest.json", "manifest.bin"):
            keys.parse_partition_manifest_key(key)
            return "partition"
        if name.startswith("manifest.bin."):
            keys.parse_spillover_manifest_key(key)
            return "spillover"
        if name in ("topic_manifest.json", "topic_manifest.bin"):
            keys.parse_topic_manifest_key(key)
            return "topic"
    except ObjectKeyError:
        pass
    return ""


def listed_etags(listing: BucketListing) -> dict[str, str]:
    """Every partition manifest key of ``listing`` with its listed ETag: a discovery doubles as one poll of
    every partition (the catalog and the replicator re-read only those whose ETag moved)."""
    return {info.key: info.etag for objs in listing.partitions.values() for info in objs.manifests.values()}


async def _collect(store: ObjectStore, prefix: str) -> list[ObjectInfo]:
    return [info async for info in store.list(prefix)]


async def _prefixes(store: ObjectStore, prefix: str) -> list[str]:
    return [p async for p in store.list_prefixes(prefix)]


_reported: set[tuple[str, str]] = set()


def _report_unsupported(store: ObjectStore, listing: BucketListing) -> None:
    for prefix, count in sorted(listing.unsupported.items()):
        if (str(store.side.url), prefix) not in _reported:
            _reported.add((str(store.side.url), prefix))
            log.warning("%s: %d key(s) under %s match no known tiered-storage layout; not read, not copied",
                        store.side.url, count, prefix)


def _root_of(key: str) -> str:
    """``a0000000/meta/``, ``meta/`` or ``<uuid>/meta/``: the listing root a manifest key was found under."""
    head, _, rest = key.partition("/")
    if head == "meta":
        return LABELED_TOPIC_ROOT
    return f"{head}/meta/" if rest.startswith("meta/") else f"{head}/"


async def discover(store: ObjectStore, *, include: Callable[[str, str], bool] | None = None,
                   cluster_uuids: Iterable[str] | None = None, other_clusters: bool = False,
                   known: BucketListing | None = None) -> BucketListing:
    """List every manifest root of both layouts (module doc) and file what is found.

    ``include(namespace, topic)`` drops topics (``--topics``); ``cluster_uuids`` (``--cluster-uuid``) adds
    those roots even when nothing else names them and, unless ``other_clusters``, drops other clusters'
    labeled topics (a reader that serves one cluster still wants to know what else is there).

    ``known`` (a previous full listing) makes this a *light* pass: only the roots that held manifests then
    are listed, with the cluster UUIDs known then (no ``cluster_metadata/`` listing): every known manifest's
    current ETag for a few requests. Followers told of changes by events use it as their frequent safety
    net and list everything less often (a new topic in an empty root is seen by the next full pass, or at
    once through its event).
    """
    listing = BucketListing()
    wanted = {keys.check_cluster_uuid(u) for u in cluster_uuids} if cluster_uuids else set()
    if known is not None:
        return await _discover_known(store, known, include, wanted, other_clusters)
    roots = [*HASH_ROOTS, LABELED_TOPIC_ROOT]
    found, cluster_dirs = await asyncio.gather(
        asyncio.gather(*(_collect(store, r) for r in roots)), _prefixes(store, CLUSTER_METADATA_ROOT))
    for infos in found:
        for info in infos:
            listing.add(info)
    for d in cluster_dirs:
        uuid = d[len(CLUSTER_METADATA_ROOT):].rstrip("/")
        if keys.is_cluster_uuid(uuid):
            listing.cluster_uuids.add(uuid)
    listing.cluster_uuids |= wanted
    uuids = sorted(listing.cluster_uuids if other_clusters else (wanted or listing.cluster_uuids))

    async def one_cluster(uuid: str) -> tuple[list[str], list[ObjectInfo]]:
        return await asyncio.gather(_prefixes(store, f"{uuid}/"), _collect(store, f"{uuid}/meta/"))

    namespaces_with_data: set[tuple[str, str]] = set()
    for uuid, (children, infos) in zip(uuids, await asyncio.gather(*(one_cluster(u) for u in uuids)), strict=True):
        for info in infos:
            listing.add(info)
        namespaces_with_data |= {(p.label, p.namespace) for p in listing.partitions if p.label == uuid}
        for child in children:
            name = child[len(uuid) + 1:].rstrip("/")
            if name == "meta" or (uuid, name) in namespaces_with_data:
                continue
            # a namespace directory no manifest names, or a layout we do not know (e.g. cloud topics)
            listing.note_unsupported(child)
    listing.filter(include, None if other_clusters else (wanted or None))
    _report_unsupported(store, listing)
    return listing


async def _discover_known(store: ObjectStore, known: BucketListing, include: Callable[[str, str], bool] | None,
                          wanted: set[str], other_clusters: bool) -> BucketListing:
    listing = BucketListing(cluster_uuids=set(known.cluster_uuids) | wanted)
    roots = known.roots()
    for uuid in listing.cluster_uuids:
        roots.add(f"{uuid}/meta/")  # a labeled cluster's partition manifests, even before its first one
    found = await asyncio.gather(*(_collect(store, r) for r in sorted(roots)))
    for infos in found:
        for info in infos:
            listing.add(info)
    listing.filter(include, None if other_clusters else (wanted or None))
    return listing


async def list_partition(store: ObjectStore, pid: PartitionId) -> PartitionObjects:
    """One LIST of the partition's meta prefix: its manifests in every format and its spillovers."""
    listing = BucketListing()
    async for info in store.list(pid.meta_prefix + "/"):
        listing.add(info)
    return listing.partitions.get(pid, PartitionObjects())


# ---------------------------------------------------------------------------------------------- manifests


def decode_partition_manifest(body: bytes, fmt: str, *, label: str | None = None) -> PartitionManifest:
    """Parse ``manifest.json`` or a serde ``manifest.bin`` (main or spillover) into one value type, in the
    layout (``label``) of where it was found, so the keys it derives are the bucket's own."""
    if fmt == "json":
        m = parse_partition_manifest(body)
    elif fmt == "bin":
        from segment_format.manifest_bin import decode_partition_manifest as decode_bin

        m = parse_partition_manifest(decode_bin(body))
    else:
        raise ValueError(fmt)
    if label:
        from dataclasses import replace

        m = replace(m, remote_label=label)
    return m


def encode_partition_manifest(m: PartitionManifest, fmt: str) -> bytes:
    """The bytes of ``m`` as ``manifest.json`` or ``manifest.bin`` (a labeled partition reads only .bin)."""
    if fmt == "json":
        if m.remote_label is not None:
            raise ValueError("a labeled partition manifest is manifest.bin only")
        return m.to_json()
    if fmt == "bin":
        from segment_format.manifest_bin import encode_partition_manifest as encode_bin

        return encode_bin(m)
    raise ValueError(fmt)


def decode_topic_manifest(body: bytes, fmt: str) -> TopicManifest:
    """``topic_manifest.json`` or the serde ``topic_manifest.bin`` current Redpanda writes."""
    from segment_format.topic_manifest_bin import decode_topic_manifest_as

    return decode_topic_manifest_as(body, fmt)


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestObject:
    """A manifest object exactly as read: its bytes (re-written verbatim), ETag, mtime, and parsed value."""

    key: str
    fmt: str  # "json" | "bin"
    etag: str
    last_modified: datetime
    body: bytes
    manifest: PartitionManifest
