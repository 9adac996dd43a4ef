"""The catalog: topics → partitions → manifests of one bucket, kept fresh by conditional GETs.

Theory of operation
* **Discovery** is the one bucket model's (:func:`app.bucket.discover`): the manifest roots of both layouts,
  hash-prefixed and labeled, never segments. It runs at start and every ``discovery_interval`` so new
  topics and partitions appear without a restart.
* **Several clusters, one name.** A bucket shared by clusters (or an upgraded cluster's prefixed and
  labeled incarnations) can hold two topics of one name. Kafka clients name topics only, so the catalog
  serves one per name and never guesses silently: with ``cluster_uuid`` (``--cluster-uuid``) it serves that
  cluster's topics only (and hash-prefixed topics, which carry no label), else per name the one whose
  partition manifests are newest; the choice is logged and ``/topics`` shows the other clusters' topics of
  the same name.
* **Refresh** re-reads each partition manifest with ``If-None-Match``: an unchanged manifest costs one 304,
  and polls back off while it stays unchanged (:class:`~app.polling.AdaptiveInterval`, from
  ``refresh_interval`` up to ``max_refresh_interval``), snapping back to the fast interval when it changes;
  discovery backs off the same way (``discovery_interval`` … ``discovery_max_interval``). In ``run`` the
  replicator hands every destination commit to :meth:`Catalog.accept_commit`: the catalog learns its own
  process's writes without a request. A discovery lists every partition manifest with its ETag, so it also
  serves as one poll of all of them: only manifests whose listed ETag moved are read.
* **Hinted** (:meth:`Catalog.set_hinted`): while S3 events arrive through a queue (:mod:`app.events`,
  :meth:`Catalog.on_bucket_event` pokes the changed manifest) or the replicator in this process feeds every
  change, partition manifests are not polled at all; a discovery every ``safety_interval`` catches what a
  lost event missed, at a cost independent of the number of partitions. ``manifest.bin`` is preferred over ``manifest.json`` when both exist,
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
import dataclasses
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from app.background import Background
from app.bucket import (
    BucketListing,
    ManifestObject,
    PartitionId,
    TopicId,
    changed_object_kind,
    decode_partition_manifest,
    decode_topic_manifest,
    discover,
    listed_etags,
)
from app.errors import ObjectMissing, ShadowReplicaError, StorageError, UnknownPartition, UnknownTopic
from app.polling import AdaptiveInterval, FullListings
from app.store import NotModified, ObjectStore
from segment_format import keys
from segment_format.errors import FormatError
from segment_format.manifest import PartitionManifest, SegmentMeta, TopicManifest
from segment_format.topic_manifest_bin import TopicProperties, decode_topic_manifest_bin

log = logging.getLogger(__name__)


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
    cluster_uuid: str | None = None
    """The cluster whose topic this is (labeled layout); None for a hash-prefixed topic."""
    alternatives: tuple[str, ...] = ()
    """Other clusters' topics of the same name in the bucket, not served (cluster UUIDs, "prefixed")."""
    properties: TopicProperties | None = None
    """Every property of a ``topic_manifest.bin`` (remote read/write/delete...); None for the JSON form."""

    @property
    def layout(self) -> str:
        return "labeled" if self.cluster_uuid else "prefixed"

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
    commits_accepted: int = 0  # destination commits learnt from the replicator in this process (no request)
    events: int = 0  # bucket events received from a queue (app/events.py)


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
        cluster_uuid: str | None = None,
        max_refresh_interval: float | None = None,
        discovery_max_interval: float | None = None,
    ) -> None:
        self.store = store
        self.namespaces = set(namespaces)
        self.refresh_interval = refresh_interval
        self.discovery_interval = discovery_interval
        self.max_refresh_interval = max(refresh_interval, max_refresh_interval or refresh_interval)
        self._discovery_pacing = AdaptiveInterval(
            discovery_interval, max(discovery_interval, discovery_max_interval or discovery_interval))
        self._next_discovery = 0.0
        self._pacing: dict[str, AdaptiveInterval] = {}  # by manifest key
        self._due: dict[str, float] = {}  # manifest key -> monotonic time of its next poll
        self._poke = asyncio.Event()
        self._commits: dict[str, tuple[PartitionId, ManifestObject]] = {}
        self._hinted = False  # events or an in-process replicator tell us what changed: no per-partition polls
        self._safety_interval = 300.0
        self.include = include
        self.cluster_uuid = keys.check_cluster_uuid(cluster_uuid) if cluster_uuid else None
        self.topics: dict[str, TopicView] = {}
        self.errors: dict[str, str] = {}
        self.stats = CatalogStats()
        self.version = 0
        self.ready = False
        self.unsupported: dict[str, int] = {}
        """Keys under the manifest roots that match no known layout, by prefix (never silently skipped)."""
        self._listing = BucketListing()
        self._chosen: dict[str, TopicId] = {}
        self._alternatives: dict[str, tuple[str, ...]] = {}
        self._spill_cache: dict[str, tuple[SegmentMeta, ...]] = {}
        self._seen_etags: dict[str, str] = {}
        self._changed = asyncio.Condition()
        self._task = Background("catalog-refresh")
        self._last_discovery = 0.0
        self._full = FullListings()

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
    async def discover(self, *, full: bool = True) -> None:
        """The bucket model's discovery (both layouts), then which topic each name means (module doc). Not
        ``full``: a light pass over the roots known to hold manifests (:func:`app.bucket.discover`)."""
        known = None if full or not self._listing.partitions else self._listing
        with self._full.listing(known is None):
            listing = await discover(self.store, cluster_uuids=[self.cluster_uuid] if self.cluster_uuid else None,
                                     other_clusters=True, known=known)
        if known is not None:  # a light pass does not look for unknown keys: keep what the last full one counted
            listing.unsupported = dict(self.unsupported)
        self._install_listing(listing)
        if self._full.needed:  # something new was named while this one listed: list everything again now
            self._next_discovery = 0.0

    def accept_listing(self, listing: BucketListing) -> None:
        """A discovery of this bucket made elsewhere in the process (``run``: the replicator's of the source):
        used as this catalog's own, so it does not list the bucket itself."""
        self._install_listing(dataclasses.replace(listing, partitions=dict(listing.partitions),
                                                  topics=dict(listing.topics)))
        self._poke.set()  # the refresh loop reads the manifests whose listed ETag moved

    def _install_listing(self, listing: BucketListing) -> None:
        before = set(self._listing.partitions), set(self._listing.topics)
        listing.partitions = {
            p: o for p, o in listing.partitions.items()
            if p.namespace in self.namespaces and o.effective_fmt is not None
            and (self.include is None or self.include(p.namespace, p.topic, p.partition))}
        listing.topics = {t: o for t, o in listing.topics.items() if t.namespace in self.namespaces}
        self._listing = listing
        self.unsupported = dict(listing.unsupported)
        self._choose_topics(listing)
        self._last_discovery = time.monotonic()
        changed = before != (set(listing.partitions), set(listing.topics))
        pace = self._discovery_pacing.next(changed)
        self._next_discovery = self._last_discovery + (self._safety_interval if self._hinted else pace)
        self.stats.discoveries += 1
        # the listing carries every manifest's ETag: read only those that moved (or were never read)
        for key, etag in listed_etags(listing).items():
            if self._seen_etags.get(key) != etag:
                self._due[key] = 0.0

    def _choose_topics(self, listing: BucketListing) -> None:
        candidates: dict[str, list[TopicId]] = {}
        for tid in {p.topic_id for p in listing.partitions}:
            candidates.setdefault(tid.topic, []).append(tid)
        chosen: dict[str, TopicId] = {}
        alternatives: dict[str, tuple[str, ...]] = {}
        for name, tids in candidates.items():
            if self.cluster_uuid is not None:  # serve that cluster (and hash-prefixed topics, which carry no label)
                tids = [t for t in tids if t.label in ("", self.cluster_uuid)]
                if not tids:
                    continue
            if len(tids) == 1:
                pick, why = tids[0], ""
            else:
                preferred = [t for t in tids if self.cluster_uuid is not None and t.label == self.cluster_uuid]
                if preferred:
                    pick, why = preferred[0], "--cluster-uuid"
                else:
                    pick = max(tids, key=lambda t: (self._newest(listing, t), t.label))
                    why = "its manifests are the newest"
            chosen[name] = pick
            others = tuple(sorted(t.label or "prefixed" for t in candidates[name] if t != pick))
            alternatives[name] = others
            if others and self._chosen.get(name) != pick:
                log.warning("topic %s exists for several clusters (%s); serving %s (%s)", name,
                            ", ".join(sorted(t.label or "prefixed" for t in candidates[name])),
                            pick.label or "the prefixed topic", why or "the only one allowed")
        self._chosen = chosen
        self._alternatives = alternatives

    @staticmethod
    def _newest(listing: BucketListing, tid: TopicId) -> float:
        times = [o.last_modified for p, o in listing.partitions.items() if p.topic_id == tid and o.last_modified]
        return max(t.timestamp() for t in times) if times else 0.0

    def _wanted(self) -> dict[tuple[str, int], tuple[PartitionId, str]]:
        """The partition manifest to serve for each (topic, partition): the chosen cluster's, highest revision
        (a re-created topic), ``.bin`` preferred over ``.json`` as Redpanda reads."""
        wanted: dict[tuple[str, int], tuple[PartitionId, str]] = {}
        for pid, objs in self._listing.partitions.items():
            if self._chosen.get(pid.topic) != pid.topic_id or objs.effective_fmt is None:
                continue
            current = wanted.get((pid.topic, pid.partition))
            if current is None or pid.revision > current[0].revision:
                wanted[(pid.topic, pid.partition)] = (pid, objs.effective_fmt)
        return wanted

    async def _load_partition(self, pid: PartitionId, fmt: str) -> None:
        """Poll one partition manifest and schedule its next poll (sooner when it changed)."""
        key = pid.manifest_key(fmt)
        version = self.version
        try:
            await self._poll_partition(pid, fmt, key)
        finally:
            pacing = self._pacing.setdefault(key, AdaptiveInterval(self.refresh_interval, self.max_refresh_interval))
            # a commit handed over while this poll was in flight must not wait for the (slow) next poll
            if key in self._commits:
                self._due[key] = 0.0
            elif self._hinted:
                pacing.reset()
                self._due[key] = math.inf  # until an event, a commit or a listed ETag says it moved
            else:
                self._due[key] = time.monotonic() + pacing.next(self.version != version)

    async def _poll_partition(self, pid: PartitionId, fmt: str, key: str) -> None:
        topic = self.topics.get(pid.topic)
        if topic is None or topic.cluster_uuid != pid.cluster_uuid:
            topic = self.topics[pid.topic] = TopicView(pid.namespace, pid.topic, cluster_uuid=pid.cluster_uuid)
        topic.alternatives = self._alternatives.get(pid.topic, ())
        current = topic.partitions.get(pid.partition)
        # the ETag of the last body fetched, good or bad: a rejected manifest is not re-parsed every tick
        etag = self._seen_etags.get(key)
        if etag is None and current is not None and current.manifest_key == key:
            etag = current.etag
        committed = self._commits.pop(key, None)
        if committed is not None:  # written by this process's replicator: no request to learn it
            body, new_etag = committed[1].body, committed[1].etag
            self.stats.commits_accepted += 1
            if new_etag == etag:
                return
        else:
            self.stats.manifest_gets += 1
            try:
                got = await self.store.get(key, if_none_match=etag)
            except ObjectMissing:
                if current is not None and current.manifest_key == key:
                    topic.partitions.pop(pid.partition, None)
                    self._bump()
                return
            if isinstance(got, NotModified):
                self.stats.not_modified += 1
                return
            body, new_etag = got.body, got.etag
        self._seen_etags[key] = new_etag
        try:
            manifest = decode_partition_manifest(body, fmt, label=pid.cluster_uuid)
            if (manifest.topic, manifest.partition, manifest.namespace) != (pid.topic, pid.partition, pid.namespace):
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
            log.warning("keeping the last good manifest for %s/%d: %s", pid.topic, pid.partition, e)
            return
        self.errors.pop(key, None)
        topic.partitions[pid.partition] = PartitionView(
            namespace=pid.namespace, topic=pid.topic, partition=pid.partition, revision=pid.revision,
            manifest=manifest, manifest_key=key, etag=new_etag, segments=segments, fetched_at=time.time(),
        )
        self._bump()

    async def _with_spillover(self, manifest: PartitionManifest) -> tuple[SegmentRef, ...]:
        refs: list[SegmentRef] = []
        for spill in manifest.spillover:
            skey = manifest.spillover_key(spill)
            metas = self._spill_cache.get(skey)
            if metas is None:
                try:
                    body = (await self.store.get(skey)).body
                except ObjectMissing:
                    raise FormatError(f"spillover manifest {skey} is missing") from None
                metas = decode_partition_manifest(body, "bin", label=manifest.remote_label).segments
                self._spill_cache[skey] = metas
            refs.extend(SegmentRef(m, manifest.segment_key(m)) for m in metas)
        first_main = manifest.segments[0].base_offset if manifest.segments else None
        refs = [r for r in refs if first_main is None or r.meta.committed_offset < first_main]
        refs.extend(SegmentRef(m, manifest.segment_key(m)) for m in manifest.segments)
        return tuple(refs)

    async def _load_topic_manifest(self, view: TopicView) -> None:
        """The topic manifest of the served topic (JSON or ``topic_manifest.bin``), read once."""
        if view.manifest is not None:
            return
        tid = self._chosen.get(view.name)
        objs = self._listing.topics.get(tid) if tid is not None else None
        if objs is None or not objs.manifests:
            return
        fmt = "json" if "json" in objs.manifests else "bin"
        key = objs.manifests[fmt].key
        try:
            body = (await self.store.get(key)).body
            view.manifest = decode_topic_manifest(body, fmt)
            if fmt == "bin":
                view.properties = decode_topic_manifest_bin(body).cfg.properties
            self.errors.pop(key, None)
        except (ObjectMissing, FormatError) as e:
            self.errors[key] = str(e)

    async def refresh(self, *, discover: bool | None = None, everything: bool = True) -> None:
        """One pass: discovery when due (or forced), then every partition manifest with If-None-Match (the
        refresh loop passes ``everything=False``: only those due, see the module doc)."""
        now = time.monotonic()
        if discover or (discover is None and now >= self._next_discovery):
            # hinted, the frequent safety-net passes list only the roots known to hold manifests; all of them
            # every discovery_max_interval, or at once when an event names something new
            full = bool(discover) or self._full.due(self._hinted)
            await self.discover(full=full)  # marks the manifests whose listed ETag moved as due
        wanted = self._wanted()
        due = {tp: (pid, fmt) for tp, (pid, fmt) in wanted.items()
               if everything or self._due.get(pid.manifest_key(fmt), 0.0) <= now}
        sem = asyncio.Semaphore(32)

        async def guarded(pid: PartitionId, fmt: str) -> None:
            async with sem:
                try:
                    await self._load_partition(pid, fmt)
                except StorageError as e:
                    self.errors[f"{pid.topic}/{pid.partition}"] = e.message
                    log.warning("manifest refresh for %s/%d failed: %s", pid.topic, pid.partition, e.message)

        await asyncio.gather(*(guarded(pid, fmt) for pid, fmt in due.values()))
        # partitions and topics that disappeared from the bucket (or are no longer the chosen cluster's)
        for name, view in list(self.topics.items()):
            for p in list(view.partitions):
                if (name, p) not in wanted:
                    del view.partitions[p]
                    self._bump()
            if not view.partitions:
                del self.topics[name]
                self._bump()
        for view in self.topics.values():
            await self._load_topic_manifest(view)
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
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(lambda: self.version != since_version)
            return True
        except TimeoutError:
            return False

    async def run(self) -> None:
        """Refresh forever; failures are logged and retried at the next tick, never raised. Sleeps until the
        next poll is due (or :meth:`accept_commit` / :meth:`poke` wakes it)."""
        while True:
            before = self.version
            self._poke.clear()  # before the pass: a poke during it (a commit handed over) wakes the next one
            try:
                await self.refresh(everything=False)
            except ShadowReplicaError as e:
                log.warning("catalog refresh failed: %s", e.message)
            except Exception:  # keep following the bucket whatever happens; a bug is logged loudly
                log.exception("catalog refresh crashed")
            if self.version != before:
                await self._notify_waiters()
            now = time.monotonic()
            wait = min([self._next_discovery, *self._due.values()], default=now + self.refresh_interval) - now
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(3600.0, max(self.refresh_interval, wait))):
                    await self._poke.wait()

    def poke(self, key: str | None = None) -> None:
        """Poll ``key`` (a partition manifest key) now, or discover now when it is None or unknown."""
        if key is not None and key in self._due:
            self._due[key] = 0.0
            self._pacing.get(key, AdaptiveInterval(self.refresh_interval, self.max_refresh_interval)).reset()
        else:
            self._next_discovery = 0.0
            self._full.ask()
        self._poke.set()

    def set_hinted(self, hinted: bool, safety_interval: float | None = None,
                   full_interval: float | None = None) -> None:
        """Hinted: something tells this catalog about changes (an event queue that answers, the replicator in
        this process), so partition manifests are not polled and discovery runs every ``safety_interval``.
        Unhinted again (the queue stopped answering): every manifest is read once now, then polled adaptively.
        Hinted discoveries list only the roots known to hold manifests, all roots every ``full_interval``."""
        if safety_interval is not None:
            self._safety_interval = safety_interval
        if full_interval is not None:
            self._full.interval = full_interval
        was, self._hinted = self._hinted, hinted
        now = time.monotonic()
        if hinted and not was:
            self._due = {k: math.inf if v > now else v for k, v in self._due.items()}
            self._next_discovery = min(self._next_discovery, now + self._safety_interval)
        elif was and not hinted:
            self._due = dict.fromkeys(self._due, 0.0)
            self._next_discovery = 0.0
            self._poke.set()

    @property
    def hinted(self) -> bool:
        return self._hinted

    def on_bucket_event(self, key: str) -> None:
        """An object changed in the bucket (``key`` relative to the layout root, from :mod:`app.events`): re-read
        the partition manifest it is, or discover when it names something new. Other objects are ignored."""
        kind = changed_object_kind(key)
        self.stats.events += 1
        if kind == "partition" and key in self._due:
            self.poke(key)
        elif kind in ("partition", "topic"):
            self.poke(None)

    def accept_commit(self, pid: PartitionId, committed: ManifestObject) -> None:
        """The replicator in this process committed ``committed`` (``run``): serve it without polling for it.
        The view is installed by the refresh loop (one GET of an unseen ETag is not needed: the body is here)."""
        self._commits[committed.key] = (pid, committed)
        self.poke(committed.key if committed.key in self._due else None)

    async def start(self) -> None:
        """First full refresh (so views exist), then the refresh loop in the background."""
        await self.refresh(discover=True)
        await self._notify_waiters()
        self._task.start(self.run())

    async def stop(self) -> None:
        await self._task.stop()

    def describe(self) -> dict[str, Any]:
        return {"topics": len(self.topics), "partitions": len(self.partitions()), "version": self.version,
                "errors": dict(self.errors), "unsupported": dict(self.unsupported)}
