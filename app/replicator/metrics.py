"""Replicator metrics as a plain data structure, and its Prometheus text rendering.

The replicator owns one :class:`ReplicatorMetrics`; its tasks update it in place (single event loop, no
locks). Anything that wants the figures reads them: the CLI's progress line, ``sync --status-file``,
tests, and the HTTP face, which serves :func:`render_prometheus` at ``/metrics``. Nothing here imports a
Prometheus client: the text format is small and stable, and keeping the metrics plain keeps the
replicator testable without one.

Counters (monotonic, ``_total``)::

    shadowreplica_copied_objects_total{kind}        objects copied server-side (segment, index, tx, ...)
    shadowreplica_copied_bytes_total{kind}          their bytes (sizes from the manifests or listings)
    shadowreplica_manifest_commits_total{kind}      manifests written at the destination
    shadowreplica_deleted_objects_total             destination objects deleted by --retention mirror
    shadowreplica_retries_total                     copy/commit attempts repeated after a retriable error
    shadowreplica_errors_total{kind}                failures by kind (throttled, unavailable, source_changed, ...)
    shadowreplica_s3_requests_total{side,op}        S3 requests made, from the stores' counters

Gauges, per partition (labels ``namespace, topic, partition``)::

    shadowreplica_replication_lag_seconds           seconds since the oldest source change not yet committed
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
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["PartitionLag", "ReplicatorMetrics", "render_prometheus"]


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


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, object]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help: str, samples: Iterable[tuple[Mapping[str, object], float]]) -> None:
        self.lines.append(f"# HELP {name} {help}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.lines.append(f"{name}{_labels(labels)} {_number(value)}")


def render_prometheus(metrics: ReplicatorMetrics, *, now: float | None = None, s3: bool = True) -> str:
    """The Prometheus text exposition (format 0.0.4) of ``metrics``; ends with a newline. ``s3=False``
    leaves out ``shadowreplica_s3_requests_total`` (when the process registry already watches the stores)."""
    now = time.time() if now is None else now
    w = _Writer()
    p = "shadowreplica_"
    w.family(p + "copied_objects_total", "counter", "Objects copied server-side to the destination.",
             (({"kind": k}, v) for k, v in sorted(metrics.copied_objects.items())))
    w.family(p + "copied_bytes_total", "counter", "Bytes of the objects copied server-side.",
             (({"kind": k}, v) for k, v in sorted(metrics.copied_bytes.items())))
    w.family(p + "manifest_commits_total", "counter", "Manifests written at the destination.",
             (({"kind": k}, v) for k, v in sorted(metrics.manifest_commits.items())))
    w.family(p + "deleted_objects_total", "counter", "Destination objects deleted by retention mirror.",
             [({}, metrics.deleted_objects)])
    w.family(p + "streamed_bytes_total", "counter",
             "Bytes copied through this process (stream copies, when a server-side copy is impossible).",
             [({}, metrics.streamed_bytes)])
    w.family(p + "retries_total", "counter", "Operations retried after a retriable error.", [({}, metrics.retries)])
    w.family(p + "errors_total", "counter", "Replication errors by kind.",
             (({"kind": k}, v) for k, v in sorted(metrics.errors.items())))
    if s3:
        w.family(p + "s3_requests_total", "counter", "S3 requests made, by side and operation.",
                 (({"side": side, "op": op}, n) for side, ops in sorted(metrics.requests.items())
                  for op, n in sorted(ops.items())))
    w.family(p + "concurrency_limit", "gauge", "Current adaptive limit on concurrent S3 copy requests.",
             [({}, metrics.concurrency_limit)])
    w.family(p + "partitions", "gauge", "Partitions this replicator follows.", [({}, len(metrics.partitions))])
    parts = sorted(metrics.partitions.values(), key=lambda lag: (lag.namespace, lag.topic, lag.partition))

    def per(fn: Any) -> Iterable[tuple[Mapping[str, object], float]]:
        for lag in parts:
            value = fn(lag)
            if value is not None:
                yield {"namespace": lag.namespace, "topic": lag.topic, "partition": lag.partition}, value

    w.family(p + "replication_lag_seconds", "gauge", "Seconds since the oldest source change not yet committed.",
             per(lambda lag: round(lag.lag_seconds(now), 3)))
    w.family(p + "replication_lag_offsets", "gauge", "Kafka offsets the destination is behind the source.",
             per(lambda lag: lag.offsets_behind))
    w.family(p + "replication_lag_segments", "gauge", "Segments the destination is behind the source.",
             per(lambda lag: lag.segments_behind))
    w.family(p + "replication_lag_bytes", "gauge", "Bytes the destination is behind the source.",
             per(lambda lag: lag.bytes_behind))
    w.family(p + "restorable_offset", "gauge", "Last Kafka offset restorable from the destination.",
             per(lambda lag: lag.restorable_offset))
    w.family(p + "restorable_timestamp_ms", "gauge", "Max timestamp of the last committed segment (ms).",
             per(lambda lag: lag.restorable_timestamp_ms))
    return "\n".join(w.lines) + "\n"
