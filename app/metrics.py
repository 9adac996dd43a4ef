"""Prometheus metrics shared by every face (HTTP API, Kafka shim, replicator): one registry per process.

Theory of operation
-------------------
* :class:`Metrics` owns one ``prometheus_client.CollectorRegistry`` — not the library's global one, so
  tests and several apps in one process never collide. ``shadowreplica run`` builds one and hands it to
  every face; each command that runs alone builds its own.
* **Events** (things that happen in a request handler) are prometheus_client objects created here, each
  name defined once::

      metrics.fetch_requests.labels(face="kafka").inc()
      with metrics.fetch_duration.labels(face="kafka").time(): ...
      metrics.kafka_requests.labels(api="Fetch", outcome="ok").inc()

* **Counters a component already keeps** (``store.stats`` per S3 operation, ``cache.stats``,
  ``catalog.stats``) are read at scrape time by collectors registered with :meth:`Metrics.watch_store`,
  :meth:`~Metrics.watch_cache`, :meth:`~Metrics.watch_catalog`: no second bookkeeping on the hot path.
* Anything else plugs in with :meth:`Metrics.add_collector` (a function returning metric families at
  scrape time: the replicator's, group lag, replication lag). One writer, prometheus_client's, for all.

Why prometheus_client (pinned) rather than a hand-written writer: it is the reference implementation of
the text format (label escaping, ``+Inf`` buckets, ``_sum``/``_count``), and its Counter/Histogram API is
what the other faces' authors already know.

Names follow Prometheus conventions: the ``shadowreplica_`` prefix, base units in the name (``_seconds``,
``_bytes``), ``_total`` on counters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.polling import Prices, request_costs

if TYPE_CHECKING:
    from app.cache import ChunkCache
    from app.catalog import Catalog
    from app.events import EventQueue
    from app.store import ObjectStore

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "Metrics", "families"]

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series: they double the output for nothing here

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _FunctionCollector(Collector):
    """A scrape-time function as a collector (``describe`` is empty so registering never calls it)."""

    def __init__(self, fn: Callable[[], Iterable[Metric]]) -> None:
        self._fn = fn

    def collect(self) -> Iterable[Metric]:
        return list(self._fn())

    def describe(self) -> Iterable[Metric]:
        return []


class Metrics:
    """The process's metrics. Render with :meth:`render` (``/metrics`` serves it)."""

    def __init__(self, *, prices: Prices | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.prices = prices or Prices()
        self.started = time.monotonic()
        # watched components, one family per metric name whatever their number (the format requires it)
        self._stores: list[tuple[str, ObjectStore]] = []
        self._caches: list[tuple[str, ChunkCache]] = []
        self._catalogs: list[tuple[str, Catalog]] = []
        self._queues: list[EventQueue] = []
        self.add_collector(lambda: _store_families(self._stores))
        self.add_collector(lambda: _cost_families(self.cost()))
        self.add_collector(lambda: _cache_families(self._caches))
        self.add_collector(lambda: _catalog_families(self._catalogs))
        self.add_collector(lambda: _event_families(self._queues))
        r = self.registry
        # HTTP API
        self.http_requests = Counter(
            "shadowreplica_http_requests", "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"], registry=r)
        self.http_duration = Histogram(
            "shadowreplica_http_request_duration_seconds",
            "HTTP request latency until the last body byte, by route template.",
            ["route"], buckets=LATENCY_BUCKETS, registry=r)
        # Record fetches through the shared read path, by face ("http" records queries, "kafka" Fetch)
        self.fetch_requests = Counter(
            "shadowreplica_fetch_requests", "Record fetch requests served through the read path, by face.",
            ["face"], registry=r)
        self.fetch_errors = Counter(
            "shadowreplica_fetch_errors", "Record fetch requests that failed, by face and error class.",
            ["face", "error"], registry=r)
        self.fetch_duration = Histogram(
            "shadowreplica_fetch_duration_seconds", "Record fetch latency, by face.",
            ["face"], buckets=LATENCY_BUCKETS, registry=r)
        self.fetch_records = Counter(
            "shadowreplica_fetch_records", "Records returned by fetches, by face.", ["face"], registry=r)
        # Kafka shim: every answered request, by API (the replicator adds its families: add_collector)
        self.kafka_requests = Counter(
            "shadowreplica_kafka_requests", "Kafka requests handled, by API and outcome (ok, failed).",
            ["api", "outcome"], registry=r)
        self.kafka_duration = Histogram(
            "shadowreplica_kafka_request_duration_seconds",
            "Kafka request latency from decoded request to encoded response (Fetch long-polls included), by API.",
            ["api"], buckets=LATENCY_BUCKETS, registry=r)

    # ------------------------------------------------------------------ plug-ins
    def add_collector(self, fn: Callable[[], Iterable[Metric]]) -> None:
        """Call ``fn`` at every scrape; it returns metric families (``GaugeMetricFamily`` …)."""
        self.registry.register(_FunctionCollector(fn))

    def cost(self) -> dict[str, Any]:
        """What the watched stores' requests cost so far and per hour, at :attr:`prices` (``app.polling``)."""
        requests: dict[str, dict[str, int]] = {}
        for side, store in self._stores:
            ops = requests.setdefault(side, {})
            for op, st in store.stats.ops.items():
                ops[op] = ops.get(op, 0) + st.requests
        for queue in self._queues:  # SQS bills ReceiveMessage/DeleteMessageBatch like S3 GETs ($0.40 a million)
            ops = requests.setdefault("events", {})
            ops["ReceiveMessage"] = ops.get("ReceiveMessage", 0) + queue.stats.requests
        return request_costs(requests, seconds=time.monotonic() - self.started, prices=self.prices)

    def watch_store(self, store: ObjectStore, *, side: str) -> None:
        """S3 requests, attempts, errors and bytes by operation, read from ``store.stats`` at scrape time."""
        self._stores.append((side, store))

    def watch_cache(self, cache: ChunkCache, *, side: str = "dest") -> None:
        """Chunk cache hits, misses, bytes and size, read from ``cache.stats`` at scrape time."""
        self._caches.append((side, cache))

    def following(self) -> dict[str, Any]:
        """How the buckets are followed: ``events`` while every queue answers, else ``polling`` (adaptive)."""
        queues = [{"queue": q.url, "healthy": q.healthy, "messages": q.stats.messages, "events": q.stats.events,
                   "malformed": q.stats.malformed, "receive_errors": q.stats.receive_errors} for q in self._queues]
        mode = "events" if queues and all(q["healthy"] for q in queues) else "polling"
        return {"mode": mode, "queues": queues}

    def watch_events(self, queue: EventQueue) -> None:
        """An S3 event queue: healthy or not, messages, events, malformed messages, receive errors."""
        self._queues.append(queue)

    def watch_catalog(self, catalog: Catalog, *, side: str) -> None:
        """Topics, partitions, offsets and manifest refresh counters of one bucket's catalog."""
        self._catalogs.append((side, catalog))

    # ------------------------------------------------------------------ output
    def render(self) -> bytes:
        """The whole exposition (text format 0.0.4)."""
        return prometheus_client.generate_latest(self.registry)


def _counter(name: str, doc: str, labels: list[str], rows: Iterable[tuple[list[str], float]]) -> CounterMetricFamily:
    fam = CounterMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        fam.add_metric(values, value)
    return fam


def _gauge(name: str, doc: str, labels: list[str], rows: Iterable[tuple[list[str], float]]) -> GaugeMetricFamily:
    fam = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        fam.add_metric(values, value)
    return fam


def _event_families(queues: list[EventQueue]) -> Iterator[Metric]:
    if not queues:
        return
    lab = ["queue"]
    yield _gauge("shadowreplica_events_healthy", "1 while the S3 event queue answers (following by events), "
                 "0 while the bucket is polled instead.", lab, [([q.url], float(q.healthy)) for q in queues])
    for name, doc in (("messages", "SQS messages received"), ("events", "S3 object events received"),
                      ("malformed", "messages that were not S3 events (deleted, logged)"),
                      ("receive_errors", "failed ReceiveMessage calls (the bucket is polled meanwhile)")):
        yield _counter(f"shadowreplica_events_{name}", doc + ".", lab,
                       [([q.url], float(getattr(q.stats, name))) for q in queues])


def _cost_families(cost: dict[str, Any]) -> Iterator[Metric]:
    rows = [(side, op, r) for side, ops in cost["sides"].items() for op, r in ops.items()]
    if not rows:
        return
    lab = ["side", "operation"]
    yield _gauge("shadowreplica_s3_requests_per_hour", "S3 requests per hour of uptime, by side and operation.", lab,
                 [([side, op], float(r["requests_per_hour"])) for side, op, r in rows])
    yield _gauge("shadowreplica_s3_cost_dollars_per_hour",
                 "Estimated S3 request cost per hour at the configured list prices ([cost] settings).", lab,
                 [([side, op], float(r["dollars_per_hour"])) for side, op, r in rows])
    yield _counter("shadowreplica_s3_cost_dollars", "Estimated S3 request cost since start.", lab,
                   (([side, op], r["dollars"]) for side, op, r in rows))


def _store_families(stores: list[tuple[str, ObjectStore]]) -> Iterator[Metric]:
    if not stores:
        return
    ops = [(side, op, st) for side, store in stores for op, st in sorted(store.stats.ops.items())]
    lab = ["side", "operation"]
    yield _counter("shadowreplica_s3_requests", "S3 API calls made, by bucket side and operation.", lab,
                   (([side, op], s.requests) for side, op, s in ops))
    yield _counter("shadowreplica_s3_attempts", "HTTP requests sent to S3 (SDK retries included).", lab,
                   (([side, op], s.attempts) for side, op, s in ops))
    yield _counter("shadowreplica_s3_errors", "S3 calls that failed, by side, operation and kind.",
                   ["side", "operation", "kind"],
                   (([side, op, kind], n) for side, op, s in ops for kind, n in sorted(s.errors.items())))
    yield _counter("shadowreplica_s3_received_bytes", "Object body bytes received from S3.", lab,
                   (([side, op], s.bytes_in) for side, op, s in ops))
    yield _counter("shadowreplica_s3_sent_bytes", "Object body bytes sent to S3.", lab,
                   (([side, op], s.bytes_out) for side, op, s in ops))
    yield _counter("shadowreplica_s3_not_modified", "Conditional GETs answered 304 Not Modified.", lab,
                   (([side, op], s.not_modified) for side, op, s in ops if s.not_modified))


def _cache_families(caches: list[tuple[str, ChunkCache]]) -> Iterator[Metric]:
    if not caches:
        return
    lab = ["side"]

    def rows(fn: Callable[[ChunkCache], float]) -> list[tuple[list[str], float]]:
        return [([side], fn(c)) for side, c in caches]

    for name, text, stat in _CACHE_COUNTERS:
        yield _counter(f"shadowreplica_cache_{name}", text, lab, rows(attrgetter(f"stats.{stat}")))
    for name, text, attr in _CACHE_GAUGES:
        yield _gauge(f"shadowreplica_cache_{name}", text, lab, rows(attrgetter(attr)))


# (metric name after shadowreplica_cache_, help, CacheStats field / ChunkCache attribute)
_CACHE_COUNTERS = (
    ("hits", "Chunk cache lookups served from memory or disk.", "hits"),
    ("memory_hits", "Chunk cache lookups served from memory.", "memory_hits"),
    ("misses", "Chunk cache lookups that went to S3.", "misses"),
    ("fetched_bytes", "Bytes the chunk cache fetched from S3.", "bytes_fetched"),
    ("evictions", "Cache entries evicted to stay under the size cap.", "evictions"),
    ("readaheads", "Chunks fetched ahead of sequential readers.", "readaheads"),
)
_CACHE_GAUGES = (
    ("size_bytes", "Bytes of cache entries on disk.", "disk_bytes"),
    ("max_bytes", "Size cap of the chunk cache on disk.", "max_bytes"),
    ("memory_bytes", "Bytes of the hottest chunks also held in memory.", "memory_used"),
    ("memory_max_bytes", "Cap of the chunks held in memory (cache.memory_bytes).", "memory_bytes"),
)


def _catalog_families(catalogs: list[tuple[str, Catalog]]) -> Iterator[Metric]:
    if not catalogs:
        return
    lab = ["side"]
    yield _gauge("shadowreplica_catalog_ready", "1 once the first manifest refresh completed.", lab,
                 [([side], 1.0 if c.ready else 0.0) for side, c in catalogs])
    yield _gauge("shadowreplica_catalog_partitions", "Partitions known from the bucket's manifests.", lab,
                 [([side], len(c.partitions())) for side, c in catalogs])
    yield _counter("shadowreplica_catalog_refreshes", "Manifest refresh passes.", lab,
                   [([side], c.stats.refreshes) for side, c in catalogs])
    yield _counter("shadowreplica_catalog_manifest_errors", "Manifests rejected (the last good one stays served).",
                   lab, [([side], c.stats.manifest_errors) for side, c in catalogs])
    yield _gauge("shadowreplica_bucket_unsupported_keys",
                 "Objects or folders under the manifest roots in no known tiered-storage layout (not read).",
                 [*lab, "prefix"], [([side, prefix], float(n)) for side, c in catalogs
                                    for prefix, n in sorted(c.unsupported.items())])
    parts = [(side, p) for side, c in catalogs for p in c.partitions()]
    plab = ["side", "topic", "partition"]
    yield _gauge("shadowreplica_partition_high_watermark", "Kafka offset after the last record in the bucket.", plab,
                 (([side, p.topic, str(p.partition)], p.high_watermark) for side, p in parts))
    yield _gauge("shadowreplica_partition_log_start_offset", "First readable Kafka offset in the bucket.", plab,
                 (([side, p.topic, str(p.partition)], p.log_start_offset) for side, p in parts))
    yield _gauge("shadowreplica_partition_size_bytes", "Bytes of the partition's segments.", plab,
                 (([side, p.topic, str(p.partition)], p.size_bytes) for side, p in parts))


def families(rows: Iterable[tuple[str, str, str, list[str], Iterable[tuple[list[str], float]]]]) -> list[Metric]:
    """Build metric families from ``(kind, name, help, labels, samples)`` rows (``kind``: counter | gauge)."""
    out: list[Metric] = []
    for kind, name, doc, labels, samples in rows:
        out.append((_counter if kind == "counter" else _gauge)(name, doc, labels, samples))
    return out
