"""Consumer-group lag over the replica: what a DR operator checks before and after cutting a consumer over.

For each partition a group has committed: the committed offset (the next record the group will read), the
replica's high watermark, the lag in offsets (``high_watermark - committed``, never negative), and the lag in
time: the newest record's timestamp (the last segment's ``max_timestamp`` in the manifest) minus the
timestamp of the committed record (the oldest record the group has not read yet); 0 when the group is
caught up, None when the committed offset is outside the replica. ``source`` says where the offset came
from (``commit``, ``import``, ``bucket``; :mod:`app.group_offsets`).

Built on the shared pieces only (offsets in the bucket, the catalog, the one read path), so ``http`` alone
answers it; ``run`` and ``serve`` add the live membership of the groups they coordinate
(:class:`MembershipSource`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client.core import Metric

from app.background import Background, every
from app.catalog import Catalog
from app.errors import NotFound, OffsetOutOfRange, ShadowReplicaError
from app.group_offsets import CommittedOffset, OffsetStore
from app.metrics import families
from app.reader import PartitionReader

__all__ = ["GroupLag", "GroupLagSample", "GroupLagSampler", "GroupLagSource", "LiveMembership", "MembershipSource",
           "PartitionLag"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed_offset: int
    high_watermark: int | None  # None: the replica has no such partition
    lag_offsets: int | None
    lag_seconds: float | None
    source: str
    commit_timestamp: int  # ms

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "committed_offset": self.committed_offset,
                "high_watermark": self.high_watermark, "lag_offsets": self.lag_offsets,
                "lag_seconds": self.lag_seconds, "source": self.source, "commit_timestamp": self.commit_timestamp}


@dataclass(frozen=True, slots=True)
class GroupLag:
    group: str
    state: str  # Kafka's group state where this process coordinates the group, else "Unknown"
    members: tuple[dict[str, Any], ...]
    partitions: tuple[PartitionLag, ...] = field(default=())

    @property
    def lag_offsets(self) -> int:
        return sum(p.lag_offsets or 0 for p in self.partitions)

    @property
    def lag_seconds(self) -> float | None:
        known = [p.lag_seconds for p in self.partitions if p.lag_seconds is not None]
        return max(known) if known else None

    def as_dict(self, *, partitions: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"group": self.group, "state": self.state, "members": list(self.members),
                               "lag_offsets": self.lag_offsets, "lag_seconds": self.lag_seconds,
                               "topics": sorted({p.topic for p in self.partitions})}
        if partitions:
            out["partitions"] = [p.as_dict() for p in self.partitions]
        return out


class MembershipSource(Protocol):
    """The live side of groups (the Kafka shim's coordinator): state and members of a group it coordinates."""

    def membership(self, group: str) -> tuple[str, list[dict[str, Any]]] | None: ...


class LiveMembership:
    """A :class:`MembershipSource` plugged in later (``run`` builds HTTP before the Kafka face starts)."""

    def __init__(self) -> None:
        self.source: MembershipSource | None = None

    def membership(self, group: str) -> tuple[str, list[dict[str, Any]]] | None:
        return self.source.membership(group) if self.source is not None else None


class GroupLagSource:
    """Lag of every group with committed offsets in the bucket, over the served catalog."""

    def __init__(self, offsets: OffsetStore, catalog: Catalog, reader: PartitionReader, *,
                 membership: MembershipSource | None = None, concurrency: int = 16) -> None:
        self.offsets = offsets
        self.catalog = catalog
        self.reader = reader
        self.membership = membership
        self._sem = asyncio.Semaphore(concurrency)

    async def groups(self) -> list[str]:
        return sorted(await self.offsets.groups())

    async def lag(self, group: str) -> GroupLag:
        """One group's lag; :class:`NotFound` when it has no committed offsets (Kafka's ``Dead``)."""
        committed = await self.offsets.fetch(group)
        live = self.membership.membership(group) if self.membership is not None else None
        if not committed and live is None:
            raise NotFound(f"consumer group {group!r} has no committed offsets in this bucket")
        state, members = live if live is not None else ("Empty" if committed else "Dead", [])
        parts = await asyncio.gather(*(self._partition(t, p, c) for (t, p), c in sorted(committed.items())))
        return GroupLag(group, state, tuple(members), tuple(parts))

    async def all(self, names: Iterable[str] | None = None) -> list[GroupLag]:
        out = []
        for name in names if names is not None else await self.groups():
            try:
                out.append(await self.lag(name))
            except NotFound:
                continue
        return out

    async def _partition(self, topic: str, partition: int, c: CommittedOffset) -> PartitionLag:
        def result(hwm: int | None, lag: int | None, seconds: float | None) -> PartitionLag:
            return PartitionLag(topic, partition, c.offset, hwm, lag, seconds, c.source, c.commit_timestamp)

        try:
            view = self.catalog.partition(topic, partition)
        except NotFound:
            return result(None, None, None)
        hwm = view.high_watermark
        lag = max(hwm - c.offset, 0)
        if lag == 0:
            return result(hwm, 0, 0.0)
        newest = view.segments[-1].meta.max_timestamp if view.segments else None
        if newest is None or not view.log_start_offset <= c.offset < hwm:
            return result(hwm, lag, None)
        async with self._sem:
            try:
                first = await self._timestamp_at(topic, partition, c.offset)
            except (OffsetOutOfRange, ShadowReplicaError) as e:
                log.info("lag of %s/%d at %d: %s", topic, partition, c.offset, e)
                first = None
        return result(hwm, lag, None if first is None else max(newest - first, 0) / 1000)

    async def _timestamp_at(self, topic: str, partition: int, offset: int) -> int | None:
        """Timestamp (ms) of the record at ``offset``, or of the first record after it (a gap)."""
        got = await self.reader.read(topic, partition, offset, 1, max_batches=1, granularity="span")
        for batch in got.batches:
            h = batch.header
            for r in batch.decode():
                if batch.kafka_offset + r.offset_delta >= offset:
                    return h.max_timestamp if h.is_log_append_time else h.first_timestamp + r.timestamp_delta
        return None


LagKey = tuple[str, str, int]  # group, topic, partition


@dataclass(frozen=True, slots=True)
class GroupLagSample:
    at: float  # unix seconds
    lags: dict[LagKey, tuple[int | None, float | None]]


class GroupLagSampler:
    """Every ``interval`` seconds, every group's lag: the latest sample feeds the Prometheus gauges, the
    ring (``capacity`` samples) the lag-over-time chart. At most ``max_series`` (group, topic, partition)
    series are kept, the most lagging first, so a bucket with thousands of groups cannot blow up a scrape."""

    def __init__(self, source: GroupLagSource, *, interval: float = 15.0, capacity: int = 240,
                 max_series: int = 1000) -> None:
        self.source = source
        self.interval = interval
        self.max_series = max_series
        self.samples: deque[GroupLagSample] = deque(maxlen=capacity)
        self.dropped_series = 0
        self._task = Background("group-lag-sampler")

    async def sample(self) -> GroupLagSample:
        lags: dict[LagKey, tuple[int | None, float | None]] = {}
        for g in await self.source.all():
            for p in g.partitions:
                lags[(g.group, p.topic, p.partition)] = (p.lag_offsets, p.lag_seconds)
        if len(lags) > self.max_series:
            keep = sorted(lags, key=lambda k: -(lags[k][0] or 0))[: self.max_series]
            self.dropped_series = len(lags) - len(keep)
            lags = {k: lags[k] for k in keep}
        else:
            self.dropped_series = 0
        s = GroupLagSample(time.time(), lags)
        self.samples.append(s)
        return s

    def start(self) -> None:
        self._task.start(every(self.interval, self.sample, what="consumer-group lag sample", log=log))

    async def stop(self) -> None:
        await self._task.stop()

    def latest(self) -> GroupLagSample | None:
        return self.samples[-1] if self.samples else None

    def series(self, group: str) -> list[dict[str, Any]]:
        """Per partition of ``group``: ``{"topic", "partition", "points": [[unix_seconds, lag_offsets,
        lag_seconds], ...]}``."""
        keys = sorted({k for s in self.samples for k in s.lags if k[0] == group})
        return [{"topic": k[1], "partition": k[2],
                 "points": [[round(s.at, 3), *s.lags[k]] for s in self.samples if k in s.lags]} for k in keys]

    def families(self) -> list[Metric]:
        """``shadowreplica_group_lag_offsets`` / ``_seconds`` (labels group, topic, partition) from the latest
        sample, and how many series the cap left out."""
        latest = self.latest()
        rows = latest.lags if latest is not None else {}
        lab = ["group", "topic", "partition"]

        def per(i: int) -> Iterable[tuple[list[str], float]]:
            for (g, t, p), values in sorted(rows.items()):
                if values[i] is not None:
                    yield [g, t, str(p)], float(values[i])  # type: ignore[arg-type]

        return families([
            ("gauge", "shadowreplica_group_lag_offsets",
             "Records of the replica a consumer group has not consumed (high watermark - committed offset).",
             lab, per(0)),
            ("gauge", "shadowreplica_group_lag_seconds",
             "Newest record's timestamp minus the timestamp of the group's next unread record (0: caught up).",
             lab, per(1)),
            ("gauge", "shadowreplica_group_lag_series_dropped",
             "Group lag series left out of these metrics by the cardinality cap (http.group_lag_max_series).",
             [], [([], float(self.dropped_series))]),
        ])
