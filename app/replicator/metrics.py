"""Replicator metrics as a plain data structure, and its Prometheus families.

The replicator owns one :class:`ReplicatorMetrics`; its tasks update it in place (single event loop, no
locks). Anything that wants the figures reads them: the CLI's progress line, ``sync --status-file``,
tests, and the process registry (:func:`replicator_families`, registered by ``run``; one Prometheus
writer, prometheus_client's, for every face).

Counters (monotonic, ``_total``)::

    shadowreplica_copied_objects_total{kind}        objects copied server-side (segment, index, tx, ...)
    shadowreplica_copied_bytes_total{kind}          their bytes (sizes from the manifests or listings)
    shadowreplica_manifest_commits_total{kind}      manifests written at the destination
    shadowreplica_deleted_objects_total             destination objects deleted by --retention mirror
    shadowreplica_retries_total                     copy/commit attempts repeated after a retriable error
    shadowreplica_errors_total{kind}                failures by kind (throttled, unavailable, source_changed, ...)
    shadowreplica_s3_requests_total{side,op}        S3 requests made, from the stores' counters

Gauges, per partition (labels ``namespace, topic, partition``)::

    shadowreplica_replication_pending_seconds       seconds since the oldest source change not yet committed
                                                    (``shadowreplica_replication_lag_seconds`` has one meaning,
                                                    data time behind: app/http/replication.py)
    shadowreplica_replication_lag_offsets           Kafka offsets the destination is behind
    shadowreplica_replication_lag_segments          segments behind
    shadowreplica_replication_lag_bytes             bytes behind
    shadowreplica_restorable_offset                 last Kafka offset restorable from the destination
    shadowreplica_restorable_timestamp_ms           max timestamp of the last committed segment

and ``shadowreplica_concurrency_limit`` (the adaptive limiter's current limit) and
``shadowreplica_partitions`` (partitions this instance follows).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from app.metrics import families

__all__ = ["PartitionLag", "ReplicatorMetrics", "render_prometheus", "replicator_families"]


@dataclass(slots=True)
class PartitionLag:
    """Where one partition stands. ``behind_since`` is a wall-clock time (seconds), None when caught up."""

    namespace: str
    topic: str
    partition: int
    revision: int
    source_next_offset: int = 0  # Kafka high watermark of the source manifest
    dest_next_offset: int = 0  # ... of the committed destination manifest
    segments_behind: int = 0
    bytes_behind: int = 0
    behind_since: float | None = None
    restorable_offset: int = -1  # last Kafka offset a restore from the destination gets (-1: nothing yet)
    restorable_timestamp_ms: int | None = None
    last_commit: float | None = None  # wall-clock time of our last manifest commit
    state: str = "starting"  # starting | copying | caught_up | error
    last_error: str | None = None

    @property
    def offsets_behind(self) -> int:
        return max(0, self.source_next_offset - self.dest_next_offset)

    def lag_seconds(self, now: float | None = None) -> float:
        if self.behind_since is None:
            return 0.0
        return max(0.0, (time.time() if now is None else now) - self.behind_since)

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        d = asdict(self)
        d["offsets_behind"] = self.offsets_behind
        d["lag_seconds"] = round(self.lag_seconds(now), 3)
        return d


@dataclass(slots=True)
class ReplicatorMetrics:
    """Every figure the replicator reports. Mutate through the small methods so names stay consistent."""

    copied_objects: Counter[str] = field(default_factory=Counter)  # by kind
    copied_bytes: Counter[str] = field(default_factory=Counter)
    manifest_commits: Counter[str] = field(default_factory=Counter)  # partition, spillover, topic, cluster
    deleted_objects: int = 0
    streamed_bytes: int = 0  # bytes that passed through this process (stream copies): what egress costs
    copy_mode: str = "server"  # how objects are copied now: "server" or "stream"
    retries: int = 0
    events: int = 0  # source bucket events received from a queue (app/events.py)
    errors: Counter[str] = field(default_factory=Counter)
    requests: dict[str, Counter[str]] = field(default_factory=dict)  # side -> op -> count
    concurrency_limit: float = 0.0
    partitions: dict[str, PartitionLag] = field(default_factory=dict)  # "ns/topic/partition" -> lag
    started: float = field(default_factory=time.time)

    def copied(self, kind: str, nbytes: int) -> None:
        self.copied_objects[kind] += 1
        self.copied_bytes[kind] += nbytes

    def error(self, kind: str) -> None:
        self.errors[kind] += 1

    def partition(self, namespace: str, topic: str, partition: int, revision: int) -> PartitionLag:
        name = f"{namespace}/{topic}/{partition}"
        lag = self.partitions.get(name)
        if lag is None or lag.revision != revision:
            lag = self.partitions[name] = PartitionLag(namespace, topic, partition, revision)
        return lag

    def set_requests(self, side: str, ops: Mapping[str, int]) -> None:
        self.requests[side] = Counter(ops)

    @property
    def total_copied_objects(self) -> int:
        return sum(self.copied_objects.values())

    @property
    def total_copied_bytes(self) -> int:
        return sum(self.copied_bytes.values())

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy (for ``status`` files, tests and the HTTP face)."""
        now = time.time()
        return {
            "copied_objects": dict(self.copied_objects),
            "copied_bytes": dict(self.copied_bytes),
            "manifest_commits": dict(self.manifest_commits),
            "deleted_objects": self.deleted_objects,
            "streamed_bytes": self.streamed_bytes,
            "copy_mode": self.copy_mode,
            "retries": self.retries,
            "errors": dict(self.errors),
            "requests": {side: dict(ops) for side, ops in self.requests.items()},
            "concurrency_limit": round(self.concurrency_limit, 2),
            "uptime_seconds": round(now - self.started, 3),
            "partitions": {name: lag.as_dict(now) for name, lag in sorted(self.partitions.items())},
        }


# ------------------------------------------------------------------------------------------ Prometheus


def replicator_families(metrics: ReplicatorMetrics, *, now: float | None = None, s3: bool = True) -> list[Metric]:
    """The replicator's metric families, for the process registry (:meth:`app.metrics.Metrics.add_collector`):
    one Prometheus writer for every face. ``s3=False`` leaves out ``shadowreplica_s3_requests_total`` (when the
    registry already watches the stores)."""
    now = time.time() if now is None else now
    p = "shadowreplica_"
    parts = sorted(metrics.partitions.values(), key=lambda lag: (lag.namespace, lag.topic, lag.partition))
    plab = ["namespace", "topic", "partition"]

    def per(fn: Any) -> Iterable[tuple[list[str], float]]:
        for lag in parts:
            value = fn(lag)
            if value is not None:
                yield [lag.namespace, lag.topic, str(lag.partition)], float(value)

    def by_kind(counts: Mapping[str, float]) -> Iterable[tuple[list[str], float]]:
        return (([k], float(v)) for k, v in sorted(counts.items()))

    rows: list[tuple[str, str, str, list[str], Iterable[tuple[list[str], float]]]] = [
        ("counter", p + "copied_objects_total", "Objects copied server-side to the destination.", ["kind"],
         by_kind(metrics.copied_objects)),
        ("counter", p + "copied_bytes_total", "Bytes of the objects copied server-side.", ["kind"],
         by_kind(metrics.copied_bytes)),
        ("counter", p + "manifest_commits_total", "Manifests written at the destination.", ["kind"],
         by_kind(metrics.manifest_commits)),
        ("counter", p + "deleted_objects_total", "Destination objects deleted by retention mirror.", [],
         [([], float(metrics.deleted_objects))]),
        ("counter", p + "streamed_bytes_total",
         "Bytes copied through this process (stream copies, when a server-side copy is impossible).", [],
         [([], float(metrics.streamed_bytes))]),
        ("counter", p + "retries_total", "Operations retried after a retriable error.", [],
         [([], float(metrics.retries))]),
        ("counter", p + "errors_total", "Replication errors by kind.", ["kind"], by_kind(metrics.errors)),
    ]
    if s3:
        rows.append(("counter", p + "s3_requests_total", "S3 requests made, by side and operation.", ["side", "op"],
                     (([side, op], float(n)) for side, ops in sorted(metrics.requests.items())
                      for op, n in sorted(ops.items()))))
    rows += [
        ("gauge", p + "concurrency_limit", "Current adaptive limit on concurrent S3 copy requests.", [],
         [([], float(metrics.concurrency_limit))]),
        ("gauge", p + "partitions", "Partitions this replicator follows.", [], [([], float(len(metrics.partitions)))]),
        ("gauge", p + "replication_pending_seconds",
         "Seconds since the oldest source change the destination has not committed yet (0: caught up).", plab,
         per(lambda lag: round(lag.lag_seconds(now), 3))),
        ("gauge", p + "replication_lag_offsets", "Kafka offsets the destination is behind the source.", plab,
         per(lambda lag: lag.offsets_behind)),
        ("gauge", p + "replication_lag_segments", "Segments the destination is behind the source.", plab,
         per(lambda lag: lag.segments_behind)),
        ("gauge", p + "replication_lag_bytes", "Bytes the destination is behind the source.", plab,
         per(lambda lag: lag.bytes_behind)),
        ("gauge", p + "restorable_offset", "Last Kafka offset restorable from the destination.", plab,
         per(lambda lag: lag.restorable_offset)),
        ("gauge", p + "restorable_timestamp_ms", "Max timestamp of the last committed segment (ms).", plab,
         per(lambda lag: lag.restorable_timestamp_ms)),
    ]
    return families(rows)


def render_prometheus(metrics: ReplicatorMetrics, *, now: float | None = None, s3: bool = True) -> str:
    """:func:`replicator_families` as Prometheus text (prometheus_client's writer, as ``/metrics`` uses)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(lambda: replicator_families(metrics, now=now, s3=s3)))
    return generate_latest(registry).decode()


class _Families(Collector):
    def __init__(self, fn: Callable[[], list[Metric]]) -> None:
        self.fn = fn

    def collect(self) -> Iterable[Metric]:
        return self.fn()
