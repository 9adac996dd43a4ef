"""Replication status for ``/replication``, its metrics, and the lag history behind the lag-over-time chart.

Where the numbers come from (:class:`ReplicationSource` is the seam):

* :class:`CatalogComparison` compares two buckets' manifests — the source (when ``--source`` is given) and
  the destination the API serves — through their catalogs, which keep themselves fresh. With no source it
  reports the destination alone (what is restorable), lag unknown.
* ``shadowreplica run`` passes the replicator's own status through :class:`CallableSource` when the
  replicator runs in the same process.

Definitions, per partition:

* ``lag_offsets`` = source high watermark − destination high watermark (0 when caught up).
* ``lag_seconds`` = newest source record's timestamp − newest destination record's timestamp, from the
  manifests' ``max_timestamp`` (0 when caught up): how much *data time* the destination is behind, which
  does not grow while the source is idle. The one meaning of ``lag_seconds`` everywhere (``/replication``,
  ``shadowreplica_replication_lag_seconds``, ``status``); wall time since the oldest uncommitted change is
  ``pending_seconds`` (``shadowreplica_replication_pending_seconds``).
* ``restorable_up_to``: the last Kafka offset present in the destination and its segment's max timestamp.

:class:`LagHistory` samples the status every ``interval`` seconds into a bounded ring (one sample per tick
for every partition) so the page can draw lag over time from its first load.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from prometheus_client.core import Metric

from app.background import Background, every
from app.catalog import Catalog, PartitionView
from app.metrics import families

log = logging.getLogger(__name__)

__all__ = ["CallableSource", "CatalogComparison", "LagHistory", "LogEnd", "PartitionReplication",
           "ReplicationSource", "ReplicationStatus", "replication_families"]

State = Literal["in_sync", "lagging", "missing", "unknown"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEnd:
    """One side of a partition, from its manifest."""

    log_start_offset: int
    high_watermark: int
    max_timestamp: int | None
    segments: int
    size_bytes: int

    @classmethod
    def of(cls, view: PartitionView) -> LogEnd:
        return cls(log_start_offset=view.log_start_offset, high_watermark=view.high_watermark,
                   max_timestamp=view.segments[-1].meta.max_timestamp if view.segments else None,
                   segments=len(view.segments), size_bytes=view.size_bytes)


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionReplication:
    topic: str
    partition: int
    source: LogEnd | None
    dest: LogEnd | None
    lag_offsets: int | None
    lag_seconds: float | None
    restorable_offset: int | None
    restorable_timestamp: int | None
    last_error: str | None
    state: State
    pending_seconds: float | None = None
    """With a replicator in the process: seconds since the oldest source change it has not committed."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["restorable_up_to"] = {"offset": d.pop("restorable_offset"), "timestamp": d.pop("restorable_timestamp")}
        return d


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicationStatus:
    mode: Literal["replicator", "buckets", "bucket"]
    source: str | None
    dest: str
    partitions: tuple[PartitionReplication, ...]
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "source": self.source, "dest": self.dest, "updated_at": self.updated_at,
                "partitions": [p.to_dict() for p in self.partitions]}


class ReplicationSource(Protocol):
    """Anything that can say, right now, how far the destination is behind (cheap: called per request)."""

    def status(self) -> ReplicationStatus: ...

    def ready(self) -> bool: ...


def _errors_for(catalog: Catalog, view: PartitionView | None, topic: str, partition: int) -> list[str]:
    keys = [f"{topic}/{partition}"]
    if view is not None:
        keys.append(view.manifest_key)
    return [catalog.errors[k] for k in keys if k in catalog.errors]


def compare(topic: str, partition: int, src: PartitionView | None, dst: PartitionView | None,
            errors: list[str], *, with_source: bool) -> PartitionReplication:
    """One partition's row (pure)."""
    s = LogEnd.of(src) if src is not None else None
    d = LogEnd.of(dst) if dst is not None else None
    lag_offsets: int | None = None
    lag_seconds: float | None = None
    state: State = "unknown"
    if with_source and s is not None:
        if d is None:
            lag_offsets = s.high_watermark - s.log_start_offset
            state = "missing"
        else:
            lag_offsets = max(0, s.high_watermark - d.high_watermark)
            state = "in_sync" if lag_offsets == 0 else "lagging"
        if lag_offsets == 0:
            lag_seconds = 0.0
        elif s.max_timestamp is not None:
            newest_dest = d.max_timestamp if d is not None and d.max_timestamp is not None else None
            if newest_dest is None and src is not None and src.segments:
                newest_dest = src.segments[0].meta.base_timestamp
            if newest_dest is not None:
                lag_seconds = max(0.0, (s.max_timestamp - newest_dest) / 1000.0)
    has_data = d is not None and d.high_watermark > d.log_start_offset
    return PartitionReplication(
        topic=topic, partition=partition, source=s, dest=d, lag_offsets=lag_offsets, lag_seconds=lag_seconds,
        restorable_offset=d.high_watermark - 1 if has_data and d is not None else None,
        restorable_timestamp=d.max_timestamp if has_data and d is not None else None,
        last_error="; ".join(errors) or None, state=state,
    )


class CatalogComparison:
    """Status from the manifests of the destination (and source, when known) buckets."""

    def __init__(self, dest: Catalog, source: Catalog | None = None, *, dest_name: str = "",
                 source_name: str | None = None) -> None:
        self.dest = dest
        self.source = source
        self.dest_name = dest_name
        self.source_name = source_name

    def ready(self) -> bool:
        return self.dest.ready and (self.source is None or self.source.ready)

    def status(self) -> ReplicationStatus:
        keys: set[tuple[str, int]] = {(p.topic, p.partition) for p in self.dest.partitions()}
        if self.source is not None:
            keys |= {(p.topic, p.partition) for p in self.source.partitions()}
        rows = []
        for topic, partition in sorted(keys):
            dst = _view(self.dest, topic, partition)
            src = _view(self.source, topic, partition) if self.source is not None else None
            errors = _errors_for(self.dest, dst, topic, partition)
            if self.source is not None:
                errors += [f"source: {e}" for e in _errors_for(self.source, src, topic, partition)]
            rows.append(compare(topic, partition, src, dst, errors, with_source=self.source is not None))
        return ReplicationStatus(mode="buckets" if self.source is not None else "bucket", source=self.source_name,
                                 dest=self.dest_name, partitions=tuple(rows), updated_at=time.time())


def _view(catalog: Catalog | None, topic: str, partition: int) -> PartitionView | None:
    if catalog is None:
        return None
    t = catalog.topics.get(topic)
    return t.partitions.get(partition) if t is not None else None


class CallableSource:
    """Adapts a function returning :class:`ReplicationStatus` (an in-process replicator) to the seam."""

    def __init__(self, fn: Callable[[], ReplicationStatus], ready: Callable[[], bool] = lambda: True) -> None:
        self._fn = fn
        self._ready = ready

    def status(self) -> ReplicationStatus:
        return self._fn()

    def ready(self) -> bool:
        return self._ready()


def replication_families(source: ReplicationSource) -> list[Metric]:
    """``shadowreplica_replication_*`` gauges, per partition, at scrape time."""
    rows = source.status().partitions

    def per(fn: Callable[[PartitionReplication], float | int | None]) -> Iterable[tuple[list[str], float]]:
        for r in rows:
            value = fn(r)
            if value is not None:
                yield [r.topic, str(r.partition)], float(value)

    lab = ["topic", "partition"]
    return families([
        ("gauge", "shadowreplica_replication_lag_seconds",
         "Data time the destination is behind the source (newest source record − newest replicated one).", lab,
         per(lambda r: r.lag_seconds)),
        ("gauge", "shadowreplica_replication_lag_offsets",
         "Kafka offsets in the source not yet in the destination.", lab, per(lambda r: r.lag_offsets)),
        ("gauge", "shadowreplica_replication_restorable_offset",
         "Last Kafka offset restorable from the destination.", lab, per(lambda r: r.restorable_offset)),
        ("gauge", "shadowreplica_replication_restorable_timestamp_seconds",
         "Timestamp of the newest data restorable from the destination (Unix seconds).", lab,
         per(lambda r: r.restorable_timestamp / 1000 if r.restorable_timestamp is not None else None)),
    ])


@dataclass(frozen=True, slots=True)
class LagSample:
    at: float
    lags: dict[tuple[str, int], tuple[int | None, float | None]]


class LagHistory:
    """A bounded ring of lag samples, filled by :meth:`run` (one task) every ``interval`` seconds."""

    def __init__(self, source: ReplicationSource, *, interval: float = 5.0, capacity: int = 720) -> None:
        self.source = source
        self.interval = interval
        self.samples: deque[LagSample] = deque(maxlen=capacity)
        self._task = Background("replication-lag-history")

    def sample(self) -> None:
        status = self.source.status()
        self.samples.append(LagSample(time.time(), {(r.topic, r.partition): (r.lag_offsets, r.lag_seconds)
                                                    for r in status.partitions}))

    def start(self) -> None:
        self._task.start(every(self.interval, self.sample, what="replication status sample", log=log))

    async def stop(self) -> None:
        await self._task.stop()

    def series(self, topic: str | None = None, partition: int | None = None) -> Iterator[dict[str, Any]]:
        """Per partition: ``{"topic", "partition", "points": [[unix_seconds, lag_offsets, lag_seconds], ...]}``."""
        keys: dict[tuple[str, int], None] = {}
        for s in self.samples:
            keys.update(dict.fromkeys(s.lags))
        for key in sorted(keys):
            if (topic is not None and key[0] != topic) or (partition is not None and key[1] != partition):
                continue
            points = [[round(s.at, 3), *s.lags[key]] for s in self.samples if key in s.lags]
            yield {"topic": key[0], "partition": key[1], "points": points}
