"""What following an idle bucket costs, through a request-counting proxy in front of the S3 server process.

`shadowreplica run` (replicator, Kafka and HTTP over one destination read path) follows a caught-up bucket,
once with fixed-rate polling (``max_poll_interval`` = ``poll_interval``, the old behaviour) and once with
adaptive polling; the intervals are scaled down 15x (fast 0.1 s, cap 2 s instead of 1 s and 30 s) so the
test takes seconds. Adaptive polling must cut the idle requests several times over, and a change at the
source must still reach the destination within the cap plus a commit."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from conftest import BucketPair, FaultProxy
from replicator_support import KiB, seed, sync_once

from tests.http_fixtures import running

# timing: request counts over a time window, compared between two runs: alone, after the parallel part
pytestmark = [pytest.mark.slow, pytest.mark.timing]

FAST, CAP, WINDOW = 0.1, 2.0, 5.0


def _env(adaptive: bool) -> dict[str, str]:
    cap = str(CAP if adaptive else FAST)
    return {"SHADOWREPLICA_REPLICATOR_POLL_INTERVAL": str(FAST), "SHADOWREPLICA_REPLICATOR_MAX_POLL_INTERVAL": cap,
            "SHADOWREPLICA_REPLICATOR_DISCOVERY_INTERVAL": "0.5",
            "SHADOWREPLICA_REPLICATOR_DISCOVERY_MAX_INTERVAL": str(15 * CAP if adaptive else 0.5),
            "SHADOWREPLICA_CACHE_MANIFEST_REFRESH_INTERVAL": str(FAST),
            "SHADOWREPLICA_CACHE_MANIFEST_MAX_REFRESH_INTERVAL": cap,
            "SHADOWREPLICA_CACHE_DISCOVERY_INTERVAL": "0.5",
            "SHADOWREPLICA_CACHE_DISCOVERY_MAX_INTERVAL": str(15 * CAP if adaptive else 0.5),
            "SHADOWREPLICA_KAFKA_GROUP_SEED_INTERVAL": "0"}


async def _idle_requests(pair: BucketPair, proxy: FaultProxy, tmp: Path, *, adaptive: bool) -> tuple[int, float]:
    """Requests made in WINDOW seconds of idling (after the back-off ramp), and the lag of one append."""
    args = ["run", "--source", str(pair.source.url), "--source-region", "us-east-1", "--source-endpoint-url",
            proxy.endpoint, "--dest", str(pair.dest.url), "--dest-region", "eu-west-1", "--dest-endpoint-url",
            proxy.endpoint, "--kafka", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--cache-dir", str(tmp)]
    async with running(*args, env=_env(adaptive)) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        await asyncio.sleep(2.5 * CAP)  # start-up and the ramp to the cap
        before = sum(proxy.requests.values())
        await asyncio.sleep(WINDOW)
        idle = sum(proxy.requests.values()) - before
        hw = {(p["topic"], p["partition"]): p["high_watermark"]
              for t in (await client.get("/topics")).json()["topics"] for p in t["partitions"]}
        await seed(pair.source, topics=1, partitions=1, size=64 * KiB, segment=32 * KiB, seed=9, append=True)
        appended = time.monotonic()
        while time.monotonic() - appended < 20:
            now = {(p["topic"], p["partition"]): p["high_watermark"]
                   for t in (await client.get("/topics")).json()["topics"] for p in t["partitions"]}
            if now[("orders", 0)] > hw[("orders", 0)]:
                return idle, time.monotonic() - appended
            await asyncio.sleep(0.05)
    raise AssertionError("the append never reached the destination")


async def test_adaptive_polling_cuts_idle_requests_and_keeps_the_lag_bounded(buckets: BucketPair, s3_server: str,
                                                                             tmp_path: Path) -> None:
    await seed(buckets.source, topics=2, partitions=3, size=384 * KiB, segment=64 * KiB)
    assert (await sync_once(buckets)).report.ok
    proxy = await FaultProxy.for_endpoint(s3_server).start()
    try:
        fixed, fixed_lag = await _idle_requests(buckets, proxy, tmp_path / "fixed", adaptive=False)
        adaptive, adaptive_lag = await _idle_requests(buckets, proxy, tmp_path / "adaptive", adaptive=True)
    finally:
        await proxy.close()
    per_hour = {name: n * 3600 / WINDOW / 6 for name, n in (("fixed", fixed), ("adaptive", adaptive))}
    print(f"\nidle requests per partition-hour (intervals scaled 15x down): fixed {per_hour['fixed']:.0f}, "
          f"adaptive {per_hour['adaptive']:.0f}; append lag fixed {fixed_lag:.2f} s, adaptive {adaptive_lag:.2f} s")
    # 6 partitions, each polled on both sides: fixed ~ 2 x 6 / 0.1 s; adaptive ~ 2 x 6 / 2 s (+ discovery)
    assert adaptive * 5 < fixed, (fixed, adaptive)
    assert adaptive_lag < CAP + 3.0  # at most one idle interval, then a copy and a commit
