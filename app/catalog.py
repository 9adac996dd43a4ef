"""The catalog: topics → partitions → manifests of one bucket, kept fresh by conditional GETs.

Theory of operation
* **Discovery** lists only the sixteen hash-prefix roots ``{h}0000000/meta/`` (never segments): that
  yields every prefixed topic manifest and partition manifest key. It runs at start and every
  ``discovery_interval`` so new topics and partitions appear without a restart.
* **Refresh** re-reads each partition manifest with ``If-None-Match`` every ``refresh_interval``: an
  unchanged manifest costs one 304. ``manifest.bin`` is preferred over ``manifest.json`` when both exist,
  as Redpanda's reader does. Spillover manifests (older segments moved out of the main manifest) are
  immutable, fetched once and merged in front.
* **Bad manifests** (malformed JSON, offsets that go backwards, …) never replace a good one: the last good
  view stays served, the error is kept in :attr:`Catalog.errors` and counted in :attr:`Catalog.stats`.
* **Change notification**: every change bumps :attr:`Catalog.version` and wakes :meth:`wait_for_change`
  (the Kafka shim's long-poll Fetch waits there).

Names only ever come from parsed keys (``segment_format.keys`` regexes): user input selects among them and
never builds an object key, so a hostile topic name cannot reach outside the layout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from app.errors import ObjectMissing, ShadowReplicaError, StorageError, UnknownPartition, UnknownTopic
from app.store import NotModified, ObjectStore
from segment_format.errors import FormatError, ObjectKeyError
from segment_format.keys import PartitionKey, parse_partition_manifest_key, parse_topic_manifest_key
from segment_format.manifest import (
    PartitionManifest,
    SegmentMeta,
    TopicManifest,
    parse_partition_manifest,
    parse_topic_manifest,
)

log = logging.getLogger(__name__)

HASH_ROOTS = tuple(f"{h:x}0000000/meta/" for h in range(16))


@dataclass(frozen=True, slots=True)
class SegmentRef:
    """A segment as readers need it: its manifest entry and its object keys."""

    meta: SegmentMeta
    key: str

    @property
    def index_key(self) -> str:
        return self.key + ".index"

    @property
    def tx_key(self) -> str:
        return self.key + ".tx"


@dataclass(frozen=True, slots=True)
class PartitionView:
    """An immutable snapshot of one partition (replaced wholesale on change)."""

    namespace: str
    topic: str
    partition: int
    revision: int
    manifest: PartitionManifest
    manifest_key: str
    etag: str
    segments: tuple[SegmentRef, ...]
    fetched_at: float

    @property
    def log_start_offset(self) -> int:
        """First readable Kafka offset (spillover segments extend the log below the main manifest)."""
        if not self.segments:
            return self.manifest.kafka_start_offset
        first = self.segments[0].meta
        if self.manifest.segments and first is self.manifest.segments[0]:
            return self.manifest.kafka_start_offset
        start = first.base_kafka_offset
        if self.manifest.start_kafka_offset is not None:
            start = max(start, self.manifest.start_kafka_offset)
        return start

    @property
    def high_watermark(self) -> int:
        return self.manifest.kafka_next_offset

    @property
    def size_bytes(self) -> int:
        return sum(s.meta.size_bytes for s in self.segments)

    def segment_for_kafka_offset(self, kafka_offset: int) -> SegmentRef | None:
        """First segment whose Kafka range ends after ``kafka_offset`` (the next one across a gap)."""
        lo, hi = 0, len(self.segments)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.segments[mid].meta.next_kafka_offset <= kafka_offset:
                lo = mid + 1
            else:
                hi = mid
        return self.segments[lo] if lo < len(self.segments) else None

    def segment_for_timestamp(self, timestamp: int) -> SegmentRef | None:
        for s in self.segments:
            if s.meta.max_timestamp is None or s.meta.max_timestamp >= timestamp:
                return s
        return None

    def next_segment(self, ref: SegmentRef) -> SegmentRef | None:
        for i, s in enumerate(self.segments):
            if s is ref and i + 1 < len(self.segments):
                return self.segments[i + 1]
        return None


@dataclass(slots=True)
class TopicView:
    namespace: str
    name: str
    manifest: TopicManifest | None = None
    partitions: dict[int, PartitionView] = field(default_factory=dict)

    @property
    def topic_id(self) -> uuid.UUID:
        """Stable non-zero topic id (Kafka Metadata v10+): derived from namespace, name and revision."""
        rev = self.manifest.revision_id if self.manifest else min(
            (p.revision for p in self.partitions.values()), default=0)
        return uuid.uuid5(uuid.NAMESPACE_URL, f"shadowreplica:{self.namespace}/{self.name}/{rev}")


@dataclass(slots=True)
class CatalogStats:
    refreshes: int = 0
    manifest_gets: int = 0
    not_modified: int = 0
    manifest_errors: int = 0
    discoveries: int = 0


class Catalog:
    """Follows one bucket's manifests. Call :meth:`start` (or :meth:`refresh` by hand), then read views."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        namespaces: Iterable[str] = ("kafka",),
        refresh_interval: float = 1.0,
        discovery_interval: float = 10.0,
        include: Callable[[str, str, int], bool] | None = None,
    ) -> None:
        self.store = store
        self.namespaces = set(namespaces)
        self.refresh_interval = refresh_interval
        self.discovery_interval = discovery_interval
        self.include = include
        self.topics: dict[str, TopicView] = {}
        self.errors: dict[str, str] = {}
        self.stats = CatalogStats()
        self.version = 0
        self.ready = False
        self._partition_keys: dict[tuple[str, int], list[PartitionKey]] = {}
        self._topic_keys: dict[str, str] = {}
        self._spill_cache: dict[str, tuple[SegmentMeta, ...]] = {}
        self._seen_etags: dict[str, str] = {}
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._last_discovery = 0.0

    # ------------------------------------------------------------------ lookups
    def topic(self, name: str) -> TopicView:
        t = self.topics.get(name)
        if t is None:
            raise UnknownTopic(f"unknown topic {name!r}", topic=name)
        return t

    def partition(self, topic: str, partition: int) -> PartitionView:
        t = self.topic(topic)
        p = t.partitions.get(partition)
        if p is None:
            raise UnknownPartition(f"unknown partition {topic}/{partition}", topic=topic, partition=partition,
                                   partitions=sorted(t.partitions))
        return p

    def partitions(self) -> list[PartitionView]:
        return [p for t in self.topics.values() for p in t.partitions.values()]

    # ------------------------------------------------------------------ refresh
    async def discover(self) -> None:
        """List the hash roots for topic and partition manifests."""
        found_parts: dict[tuple[str, int], list[PartitionKey]] = {}
        found_topics: dict[str, str] = {}

        async def one_root(root: str) -> None:
            async for info in self.store.list(root):
                key = info.key
                if key.endswith(("/manifest.json", "/manifest.bin")):
                    try:
                        pk = parse_partition_manifest_key(key)
                    except ObjectKeyError:
                        continue
                    if pk.namespace not in self.namespaces:
                        continue
                    if self.include is not None and not self.include(pk.namespace, pk.topic, pk.partition):
                        continue
                    found_parts.setdefault((pk.topic, pk.partition), []).append(pk)
                elif key.endswith(("/topic_manifest.json", "/topic_manifest.bin")):
                    try:
                        ns, topic, fmt, _ = parse_topic_manifest_key(key)
                    except ObjectKeyError:
                        continue
                    if ns in self.namespaces and (fmt == "json" or topic not in found_topics):
                        found_topics[topic] = key

        await asyncio.gather(*(one_root(r) for r in HASH_ROOTS))
        self._partition_keys = found_parts
        self._topic_keys = found_topics
        self._last_discovery = time.monotonic()
        self.stats.discoveries += 1

    def _choose(self, keys: list[PartitionKey]) -> PartitionKey:
        # Highest revision wins (a re-created topic); .bin preferred over .json as Redpanda reads.
        return max(keys, key=lambda k: (k.revision, k.fmt == "bin"))

    async def _load_partition(self, pk: PartitionKey) -> None:
        from segment_format.keys import partition_manifest_key

        key = partition_manifest_key(pk.namespace, pk.topic, pk.partition, pk.revision, fmt=pk.fmt)
        topic = self.topics.setdefault(pk.topic, TopicView(pk.namespace, pk.topic))
        current = topic.partitions.get(pk.partition)
        # the ETag of the last body fetched, good or bad: a rejected manifest is not re-parsed every tick
        etag = self._seen_etags.get(key)
        if etag is None and current is not None and current.manifest_key == key:
            etag = current.etag
        self.stats.manifest_gets += 1
        try:
            got = await self.store.get(key, if_none_match=etag)
        except ObjectMissing:
            if current is not None and current.manifest_key == key:
                topic.partitions.pop(pk.partition, None)
                self._bump()
            return
        if isinstance(got, NotModified):
            self.stats.not_modified += 1
            return
        self._seen_etags[key] = got.etag
        try:
            if pk.fmt == "bin":
                from segment_format.manifest_bin import decode_partition_manifest

                manifest = parse_partition_manifest(decode_partition_manifest(got.body))
            else:
                manifest = parse_partition_manifest(got.body)
            if (manifest.topic, manifest.partition, manifest.namespace) != (pk.topic, pk.partition, pk.namespace):
                raise FormatError(f"manifest at {key} describes {manifest.namespace}/{manifest.topic}/"
                                  f"{manifest.partition}")
            if current is not None and current.manifest_key == key and \
                    manifest.last_offset < current.manifest.last_offset:
                raise FormatError(f"manifest at {key} goes backwards: last_offset {manifest.last_offset} < "
                                  f"{current.manifest.last_offset} already served")
            segments = await self._with_spillover(manifest)
        except FormatError as e:
            self.stats.manifest_errors += 1
            self.errors[key] = str(e)
            log.warning("keeping the last good manifest for %s/%d: %s", pk.topic, pk.partition, e)
            return
        self.errors.pop(key, None)
        topic.partitions[pk.partition] = PartitionView(
            namespace=pk.namespace, topic=pk.topic, partition=pk.partition, revision=pk.revision,
            manifest=manifest, manifest_key=key, etag=got.etag, segments=segments, fetched_at=time.time(),
        )
        self._bump()

    async def _with_spillover(self, manifest: PartitionManifest) -> tuple[SegmentRef, ...]:
        refs: list[SegmentRef] = []
        for spill in manifest.spillover:
            skey = manifest.spillover_key(spill)
            metas = self._spill_cache.get(skey)
            if metas is None:
                from segment_format.manifest_bin import decode_partition_manifest

                try:
                    body = (await self.store.get(skey)).body
                except ObjectMissing:
                    raise FormatError(f"spillover manifest {skey} is missing") from None
                spm = parse_partition_manifest(decode_partition_manifest(body))
                metas = spm.segments
                self._spill_cache[skey] = metas
            refs.extend(SegmentRef(m, manifest.segment_key(m)) for m in metas)
        first_main = manifest.segments[0].base_offset if manifest.segments else None
        refs = [r for r in refs if first_main is None or r.meta.committed_offset < first_main]
        refs.extend(SegmentRef(m, manifest.segment_key(m)) for m in manifest.segments)
        return tuple(refs)

    async def _load_topic_manifest(self, topic: str, key: str) -> None:
        view = self.topics.get(topic)
        if view is None or key.endswith(".bin"):
            return  # topic_manifest.bin (serde topic_configuration) is not decoded; partitions come from listing
        if view.manifest is not None:
            return
        try:
            view.manifest = parse_topic_manifest((await self.store.get(key)).body)
        except (ObjectMissing, FormatError) as e:
            self.errors[key] = str(e)

    async def refresh(self, *, discover: bool | None = None) -> None:
        """One pass: discovery when due (or forced), then every partition manifest with If-None-Match."""
        if discover or (discover is None and time.monotonic() - self._last_discovery >= self.discovery_interval):
            await self.discover()
        wanted = {tp: self._choose(keys) for tp, keys in self._partition_keys.items()}
        sem = asyncio.Semaphore(32)

        async def guarded(pk: PartitionKey) -> None:
            async with sem:
                try:
                    await self._load_partition(pk)
                except StorageError as e:
                    self.errors[f"{pk.topic}/{pk.partition}"] = e.message
                    log.warning("manifest refresh for %s/%d failed: %s", pk.topic, pk.partition, e.message)

        await asyncio.gather(*(guarded(pk) for pk in wanted.values()))
        # partitions and topics that disappeared from the bucket
        for name, view in list(self.topics.items()):
            for p in list(view.partitions):
                if (name, p) not in wanted:
                    del view.partitions[p]
                    self._bump()
            if not view.partitions:
                del self.topics[name]
                self._bump()
        for topic, key in self._topic_keys.items():
            await self._load_topic_manifest(topic, key)
        self.stats.refreshes += 1
        self.ready = True

    def _bump(self) -> None:
        self.version += 1

    async def _notify_waiters(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for_change(self, since_version: int, timeout: float) -> bool:
        """Wait until :attr:`version` moves past ``since_version`` or ``timeout`` passes."""
        if self.version != since_version:
            return True
        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version != since_version), timeout)
            return True
        except TimeoutError:
            return False

    async def run(self) -> None:
        """Refresh forever; failures are logged and retried at the next tick, never raised."""
        while True:
            before = self.version
            try:
                await self.refresh()
            except ShadowReplicaError as e:
                log.warning("catalog refresh failed: %s", e.message)
            except Exception:  # keep following the bucket whatever happens; a bug is logged loudly
                log.exception("catalog refresh crashed")
            if self.version != before:
                await self._notify_waiters()
            await asyncio.sleep(self.refresh_interval)

    async def start(self) -> None:
        """First full refresh (so views exist), then the refresh loop in the background."""
        await self.refresh(discover=True)
        await self._notify_waiters()
        self._task = asyncio.create_task(self.run(), name="catalog-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def describe(self) -> dict[str, Any]:
        return {"topics": len(self.topics), "partitions": len(self.partitions()), "version": self.version,
                "errors": dict(self.errors)}
