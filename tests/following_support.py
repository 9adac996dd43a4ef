"""What following an idle bucket costs: `shadowreplica run` through a request-counting proxy in front of the
S3 server process, per mode, in S3 requests per partition-hour, and the lag of one append.

Modes: ``fixed`` (every poll at 1 s: the old behaviour, kept as a setting), ``adaptive`` (the defaults: a
partition's poll backs off to 30 s, listings to 15 minutes) and ``events`` (an SQS queue receiving the
source bucket's notifications). Every interval is divided by ``scale`` so a measurement takes seconds, and
the counts are scaled back: requests per real partition-hour = requests x 3600 / (window x scale) / partitions.
Discovery starts at its idle interval (the back-off from 10 s up to it happens once after a start or a
change; what a replica that runs for months pays is the steady state). SQS requests do not pass the proxy:
``events`` adds its ReceiveMessage long polls (20 s: 180 an hour) separately.

Used by ``tests/test_following_cost.py`` (scale 300, a few seconds per mode) and ``python -m bench following``
(scale 60, two listing periods per mode).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.config import S3Side
from app.tools.seed import seed_bucket
from app.tools.seedgen import SeedSpec
from localstack.faultproxy import FaultProxy
from tests.http_fixtures import running

REDPANDA_READ_REPLICA = 120.0  # requests per partition-hour: one manifest GET every 30 s
SQS_RECEIVES_PER_HOUR = 3600 / 20  # long polls of 20 s


@dataclass(frozen=True)
class FollowingCost:
    mode: str
    partitions: int
    requests: int  # S3 requests counted in the window
    window: float  # seconds (scaled time)
    scale: float
    lags: tuple[float, ...]  # seconds from each append at the source to the destination's /topics showing it
    by_operation: dict[str, int]

    @property
    def lag(self) -> float:
        """The p99 of :attr:`lags` (their maximum below 100 appends)."""
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]

    @property
    def per_hour(self) -> float:
        """S3 requests per real hour of following, all partitions."""
        return self.requests * 3600 / (self.window * self.scale)

    @property
    def per_partition_hour(self) -> float:
        return self.per_hour / self.partitions

    @property
    def ratio(self) -> float:
        """Against a Redpanda read replica's 120 requests per partition-hour."""
        return self.per_partition_hour / REDPANDA_READ_REPLICA

    def line(self) -> str:
        extra = f" (+{SQS_RECEIVES_PER_HOUR:.0f} SQS receives/h)" if self.mode == "events" else ""
        return (f"{self.mode:9} {self.per_partition_hour:8.0f} req/partition-hour ({self.ratio:5.2f}x a read "
                f"replica), {self.per_hour:7.0f} req/h in all{extra}; append lag "
                + (f"{self.lag:.2f} s" if len(self.lags) == 1 else
                   f"p50 {sorted(self.lags)[len(self.lags) // 2]:.2f} s, p99 {self.lag:.2f} s ({len(self.lags)} appends)"))


def scaled_env(mode: str, scale: float) -> dict[str, str]:
    """The settings of ``mode``, every interval divided by ``scale`` (module doc)."""
    fast = 1.0 / scale
    cap = fast if mode == "fixed" else 30.0 / scale
    listing = 10.0 / scale if mode == "fixed" else 900.0 / scale
    env = {"SHADOWREPLICA_REPLICATOR_POLL_INTERVAL": str(fast), "SHADOWREPLICA_REPLICATOR_MAX_POLL_INTERVAL": str(cap),
           "SHADOWREPLICA_REPLICATOR_DISCOVERY_INTERVAL": str(listing),
           "SHADOWREPLICA_REPLICATOR_DISCOVERY_MAX_INTERVAL": str(listing),
           "SHADOWREPLICA_CACHE_MANIFEST_REFRESH_INTERVAL": str(fast),
           "SHADOWREPLICA_CACHE_MANIFEST_MAX_REFRESH_INTERVAL": str(cap),
           "SHADOWREPLICA_CACHE_DISCOVERY_INTERVAL": str(listing),
           "SHADOWREPLICA_CACHE_DISCOVERY_MAX_INTERVAL": str(listing),
           "SHADOWREPLICA_CACHE_FED_REFRESH_INTERVAL": str(listing if mode != "fixed" else fast),
           "SHADOWREPLICA_KAFKA_GROUP_SEED_INTERVAL": str(300.0 / scale),
           "SHADOWREPLICA_EVENTS_SAFETY_INTERVAL": str(300.0 / scale),
           "SHADOWREPLICA_EVENTS_FULL_LISTING_INTERVAL": str(3600.0 / scale),
           "SHADOWREPLICA_EVENTS_WAIT_SECONDS": "1"}
    return env


async def measure_following(source: S3Side, dest: S3Side, proxy: FaultProxy, cache_dir: Path, *, mode: str,
                            scale: float, window: float, partitions: int, queue: str | None = None,
                            append_seed: int = 99, warmup: float = 3.0, layout: str = "prefixed",
                            appends: int = 1) -> FollowingCost:
    """Run ``run`` over the (caught-up) buckets through ``proxy`` in ``mode``; count an idle window, then time
    ``appends`` appends at the source, one after the other (``append_seed`` varies them between calls), each
    until the destination serves it."""
    args = ["run", "--source", str(source.url), "--source-region", source.region, "--source-endpoint-url",
            proxy.endpoint, "--dest", str(dest.url), "--dest-region", dest.region, "--dest-endpoint-url",
            proxy.endpoint, "--kafka", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--cache-dir", str(cache_dir)]
    if mode == "events":
        assert queue is not None
        args += ["--events-queue", queue]
    async with running(*args, env=scaled_env(mode, scale)) as url, \
            httpx.AsyncClient(base_url=url, timeout=10) as client:
        await asyncio.sleep(warmup)
        before = dict(proxy.requests)
        await asyncio.sleep(window)
        after = dict(proxy.requests)
        by_op = {op: n - before.get(op, 0) for op, n in after.items() if n - before.get(op, 0)}
        lags = []
        for n in range(appends):
            hw = await watermarks(client)
            await seed_bucket(source, SeedSpec(topics=1, partitions=1, total_bytes=64 * 1024,
                                               segment_bytes=32 * 1024, seed=append_seed * 1000 + n, layout=layout),
                              append=True, progress=False, workers=0)
            appended = time.monotonic()
            while time.monotonic() - appended < 60:
                now = await watermarks(client)
                if any(now.get(k, -1) > v for k, v in hw.items()):
                    lags.append(time.monotonic() - appended)
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError(f"{mode}: append {n} never reached the destination")
    return FollowingCost(mode=mode, partitions=partitions, requests=sum(by_op.values()), window=window, scale=scale,
                         lags=tuple(lags), by_operation=by_op)


async def watermarks(client: httpx.AsyncClient) -> dict[tuple[str, int], int]:
    """The high watermarks the destination serves (``GET /topics``)."""
    return {(p["topic"], p["partition"]): p["high_watermark"]
            for t in (await client.get("/topics")).json()["topics"] for p in t["partitions"]}
