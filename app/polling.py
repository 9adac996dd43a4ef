"""Adaptive polling and what following costs: one place for both.

A DR replica is idle most of the time, and every poll is a billed S3 request. :class:`AdaptiveInterval`
polls something that has not changed less and less often (doubling from ``fast`` up to ``slow``) and snaps
back to ``fast`` the moment it changes: a busy partition keeps sub-second lag, an idle one costs what a
Redpanda read replica costs (``slow`` = 30 s, its ``cloud_storage_readreplica_manifest_sync_timeout_ms``).
``slow == fast`` keeps fixed-rate polling.

:func:`request_costs` turns request counts into dollars at list prices (:class:`Prices`, S3 Standard by
default), per side and operation, and per hour of uptime.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["AdaptiveInterval", "FullListings", "Prices", "idle_following_cost", "request_costs"]


@dataclass(slots=True)
class AdaptiveInterval:
    """The next wait: ``fast`` after a change, doubling (``factor``) per unchanged poll, at most ``slow``."""

    fast: float
    slow: float
    factor: float = 2.0
    idle: int = 0

    def __post_init__(self) -> None:
        if self.fast <= 0 or self.slow < self.fast or self.factor < 1:
            raise ValueError("adaptive interval needs 0 < fast <= slow and factor >= 1")

    def next(self, changed: bool) -> float:
        self.idle = 0 if changed else self.idle + 1
        return min(self.slow, self.fast * self.factor ** self.idle)

    def reset(self) -> None:
        self.idle = 0


@dataclass(slots=True)
class FullListings:
    """When a follower told of changes by events lists every discovery root, not only the known ones: when
    not hinted, when an event named something new (:meth:`ask`), or every ``interval`` seconds."""

    interval: float = 3600.0
    needed: bool = True
    last: float = 0.0

    def due(self, hinted: bool) -> bool:
        return not hinted or self.needed or time.monotonic() - self.last >= self.interval

    def ask(self) -> None:
        self.needed = True

    @contextlib.contextmanager
    def listing(self, full: bool) -> Iterator[None]:
        """Around one discovery. A full one clears the mark before it lists, so an event arriving meanwhile
        (it may name a root already listed) asks again; a failed one leaves the mark set."""
        if full:
            self.last, self.needed = time.monotonic(), False
        try:
            yield
        except BaseException:
            self.needed = self.needed or full
            raise


@dataclass(frozen=True, slots=True, kw_only=True)
class Prices:
    """Dollars per 1,000 requests (S3 Standard list prices, us-east-1). DELETE is free. The ``[cost]`` section
    of the config file (``SHADOWREPLICA_COST_GET``, ``..._WRITE``) sets them for another provider or tier."""

    get: float = 0.0004  # GET, HEAD and every other read
    write: float = 0.005  # PUT, COPY, POST, LIST (S3 bills LIST at the write tier)

    def per_request(self, op: str) -> float:
        if op in ("DeleteObject", "DeleteObjects", "AbortMultipartUpload"):
            return 0.0
        if op.startswith(("Put", "Copy", "UploadPart", "CreateMultipart", "CompleteMultipart", "List")):
            return self.write / 1000
        return self.get / 1000


def request_costs(requests: Mapping[str, Mapping[str, int]], *, seconds: float, prices: Prices = Prices()
                  ) -> dict[str, Any]:
    """``{side: {op: requests}}`` over ``seconds`` of uptime → per side and op: requests, requests per hour,
    dollars, dollars per hour; plus totals."""
    hours = max(seconds, 1e-9) / 3600
    out: dict[str, Any] = {"prices_per_1000": {"get": prices.get, "write": prices.write}, "sides": {}}
    total_req = total_usd = 0.0
    for side, ops in sorted(requests.items()):
        rows = {}
        for op, n in sorted(ops.items()):
            usd = n * prices.per_request(op)
            rows[op] = {"requests": n, "requests_per_hour": round(n / hours, 1), "dollars": round(usd, 6),
                        "dollars_per_hour": round(usd / hours, 6)}
            total_req += n
            total_usd += usd
        out["sides"][side] = rows
    out["requests_per_hour"] = round(total_req / hours, 1)
    out["dollars_per_hour"] = round(total_usd / hours, 6)
    out["dollars_per_month"] = round(total_usd / hours * 730, 2)
    return out


def events_following_cost(*, known_roots: int, all_listings: int, safety_interval: float, full_interval: float,
                          wait_seconds: float, prices: Prices = Prices()) -> dict[str, float]:
    """What following an idle bucket by S3 events costs per hour, whatever its number of partitions: SQS long
    polls, a light listing (``known_roots`` LISTs) every ``safety_interval`` and a full one (``all_listings``)
    every ``full_interval``; SQS bills its requests like S3 GETs."""
    receives = 3600 / max(wait_seconds, 1)
    lists = known_roots * 3600 / safety_interval + all_listings * 3600 / full_interval
    usd = receives * prices.get / 1000 + lists * prices.write / 1000
    return {"s3_requests_per_hour": round(lists, 1), "sqs_requests_per_hour": round(receives, 1),
            "dollars_per_hour": round(usd, 6), "dollars_per_month": round(usd * 730, 2)}


def idle_following_cost(partitions: int, *, max_poll_interval: float, discovery_listings: int,
                        discovery_max_interval: float, prices: Prices = Prices()) -> dict[str, float]:
    """What following an idle bucket costs per hour with adaptive polling: one manifest GET per partition per
    ``max_poll_interval`` and one discovery (``discovery_listings`` LISTs) per ``discovery_max_interval``."""
    gets = partitions * 3600 / max_poll_interval
    lists = discovery_listings * 3600 / discovery_max_interval
    usd = gets * prices.get / 1000 + lists * prices.write / 1000
    return {"requests_per_hour": round(gets + lists, 1),
            "requests_per_partition_hour": round((gets + lists) / max(partitions, 1), 1),
            "dollars_per_hour": round(usd, 6), "dollars_per_month": round(usd * 730, 2)}
