"""Topic manifests and cluster metadata: copied verbatim once what they describe is at the destination
(:class:`TopicWorker`, :class:`ClusterMetadataWorker`)."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from app.bucket import (
    BucketListing,
    PartitionId,
    TopicId,
    decode_partition_manifest,
    list_partition,
)
from app.errors import PreconditionFailed
from app.replicator.context import ReplicatorContext
from app.replicator.partition import _CONTENT_TYPE
from app.store import ObjectInfo, ObjectStore
from segment_format.manifest import PartitionManifest

log = logging.getLogger(__name__)

__all__ = ["ClusterMetadataWorker", "TopicWorker"]


# ------------------------------------------------------------------------------------------------ topics


class TopicWorker:
    """Copies a topic's manifests (verbatim, same keys: a copy keeps its layout) once its partitions are at
    the destination."""

    def __init__(self, rep: ReplicatorContext, topic: TopicId) -> None:
        self.rep = rep
        self.topic = topic
        self.done_etags: dict[str, str] = {}  # fmt -> source ETag already at the destination

    @property
    def name(self) -> str:
        return str(self.topic)

    async def _partition_ready(self, pid: PartitionId) -> bool:
        worker = self.rep.workers.get(pid)
        if worker is not None and worker.dest is not None and worker.caught_up_etag is not None:
            return True
        dest = await self._manifest(self.rep.dest, pid, "dest manifest")
        if dest is None:
            return False
        if dest.segments or dest.spillover:
            return True
        source = await self._manifest(self.rep.source, pid, "manifest")
        return source is None or (not source.segments and not source.spillover)

    async def _manifest(self, store: ObjectStore, pid: PartitionId, what: str) -> PartitionManifest | None:
        """The partition's effective manifest in ``store`` (None when it has none)."""
        fmt = (await list_partition(store, pid)).effective_fmt
        if fmt is None:
            return None
        got = await self.rep.retry(partial(store.get, pid.manifest_key(fmt)), f"{pid}: GET {what}")
        return decode_partition_manifest(got.body, fmt, label=pid.cluster_uuid)

    async def _drop(self, dest_listing: BucketListing | None) -> None:
        """Mirror retention, the topic is gone from the source: delete its destination topic manifests."""
        from segment_format.keys import topic_manifest_key

        t = self.topic
        doomed: list[str] = []
        if t.label:  # every revision the destination listing saw (labeled keys carry the revision)
            there = dest_listing.topics.get(t) if dest_listing is not None else None
            doomed.extend(i.key for i in (there.manifests.values() if there is not None else ()))
        else:
            for fmt in ("bin", "json"):
                key = topic_manifest_key(t.namespace, t.topic, fmt=fmt)
                if await self.rep.retry(partial(self.rep.dest.head, key), f"HEAD {key}") is not None:
                    doomed.append(key)
        if doomed:
            await self.rep.retry(partial(self.rep.dest.delete_many, doomed), f"DELETE topic manifests of {self.name}")
            self.rep.metrics.deleted_objects += len(doomed)
            log.info("topic %s: gone from the source; deleted its destination topic manifests", self.name)
        self.done_etags.clear()

    async def sync(self, listing: BucketListing, dest_listing: BucketListing | None = None) -> bool:
        """True when the destination has the source's topic manifests (or there are none)."""
        found = listing.topics.get(self.topic)
        infos = found.manifests if found is not None else {}
        if not infos and self.rep.config.replicator.retention == "mirror" and \
                not listing.partitions_of(self.topic):
            await self._drop(dest_listing)
            return True
        todo = {fmt: info for fmt, info in infos.items() if self.done_etags.get(fmt) != info.etag}
        if not todo:
            return True
        for pid in listing.partitions_of(self.topic):
            if not await self._partition_ready(pid):
                return False
        for fmt, info in sorted(todo.items()):
            there = await self.rep.retry(partial(self.rep.dest.head, info.key), f"HEAD {info.key}")
            if there is None or there.etag != info.etag or there.size != info.size:
                got = await self.rep.retry(partial(self.rep.source.get, info.key), f"GET {info.key}")
                try:
                    await self.rep.retry(
                        partial(self.rep.dest.put, got.key, got.body, if_match=there.etag if there else None,
                                if_none_match=there is None, content_type=_CONTENT_TYPE[fmt]),
                        f"PUT {info.key}")
                except PreconditionFailed:
                    self.rep.metrics.error("concurrent_writer")
                    return False
                self.rep.metrics.manifest_commits["topic"] += 1
                self.done_etags[fmt] = got.etag
            else:
                self.done_etags[fmt] = info.etag
        return True


# --------------------------------------------------------------------------------------- cluster metadata

CLUSTER_PREFIXES = ("cluster_metadata/", "cluster_name/")


def _is_cluster_manifest(key: str) -> bool:
    return "/manifests/" in key and key.endswith("/cluster_manifest.json")


class ClusterMetadataWorker:
    """Copies ``cluster_metadata/`` (whole-cluster restore): snapshots first, ``cluster_manifest.json`` last.

    A whole-cluster restore brings back every topic the controller snapshot names, so the metadata is copied
    only when the copy is whole: no ``--topics`` filter, and only after every partition of the pass caught
    up (:meth:`Replicator.run_once`). With ``--cluster-uuid`` only that cluster's metadata is copied.
    """

    def __init__(self, rep: ReplicatorContext) -> None:
        self.rep = rep
        self._said_partial = False

    def _wanted(self, key: str) -> bool:
        uuids = self.rep.config.cluster_uuids
        if uuids is None:
            return True
        if key.startswith("cluster_metadata/"):
            return key.split("/", 2)[1] in uuids
        return key.rsplit("/", 1)[-1] in uuids  # cluster_name/{name}/uuid/{uuid}

    async def _list(self, store: ObjectStore) -> dict[str, ObjectInfo]:
        out: dict[str, ObjectInfo] = {}
        for prefix in CLUSTER_PREFIXES:
            infos = await _collect(store, prefix)  # each page is retried on its own (ObjectStore.request_retry)
            out.update((i.key, i) for i in infos if self._wanted(i.key))
        return out

    async def sync(self) -> int:
        """Copy what differs; returns how many objects were copied."""
        if self.rep.config.topics.patterns != ("*",):
            if not self._said_partial:
                self._said_partial = True
                log.info("cluster metadata not copied: --topics copies part of the cluster, and a whole-cluster "
                         "restore from the destination would bring back topics whose data is not there")
            return 0
        src = await self._list(self.rep.source)
        if not src and self.rep.config.replicator.retention == "keep":
            return 0
        dst = await self._list(self.rep.dest)
        todo = [i for k, i in sorted(src.items()) if k not in dst or (dst[k].size, dst[k].etag) != (i.size, i.etag)]
        data = [i for i in todo if not _is_cluster_manifest(i.key)]
        manifests = [i for i in todo if _is_cluster_manifest(i.key)]
        await asyncio.gather(*(self.rep.copier.copy_listed(i, "cluster_metadata") for i in data))
        for info in manifests:  # each manifest names snapshots copied above
            await self.rep.copier.copy_listed(info, "cluster_manifest")
            self.rep.metrics.manifest_commits["cluster"] += 1
        if self.rep.config.replicator.retention == "mirror":
            gone = [k for k in dst if k not in src]
            first = [k for k in gone if _is_cluster_manifest(k)]
            rest = [k for k in gone if not _is_cluster_manifest(k)]
            for batch in (first, rest):
                if batch:
                    await self.rep.retry(partial(self.rep.dest.delete_many, batch), "DELETE cluster metadata")
                    self.rep.metrics.deleted_objects += len(batch)
        return len(todo)


def _topic_formats(listing: BucketListing, topic: TopicId) -> set[str]:
    there = listing.topics.get(topic)
    return set(there.manifests) if there is not None else set()


async def _collect(store: ObjectStore, prefix: str) -> list[ObjectInfo]:
    return [i async for i in store.list(prefix)]


