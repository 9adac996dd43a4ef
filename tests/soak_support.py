"""A soak of `shadowreplica run`: the source grows, S3 fails 10% of the time for a while, a Kafka consumer and
an HTTP client read throughout; the lag after the faults stop, the consumer's records and the process's RSS
over time. ``tests/test_soak.py`` (about a minute) and ``python -m bench soak`` (several minutes) use it.

The timeline: ``warmup`` seconds clean, ``faults`` seconds with the issue's mix on every S3 operation of
`run` (4% 503 SlowDown, 2% 500, 2% connection resets, 2% bodies cut short: the fault proxy in front of the
S3 server process), then clean again for ``recovery`` seconds. An append lands at the source every
``append_every`` seconds the whole time (written straight to S3, not through the proxy: the source cluster
is healthy, the replica's path to it is not). Expectations come from the outside: the high watermarks the
writer (the seeder) states for each append, and the bucket oracle's records (tests/bucket_oracle.py,
kafka-python's batch decoder) for what the consumer must have seen, each once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.config import S3Side
from app.tools.seed import seed_bucket
from app.tools.seedgen import SeedSpec
from localstack.faultproxy import FaultProxy, Rates
from tests.http_fixtures import running_process
from tests.kafka_support import free_port
from tests.load_support import rss_mib

MiB = 1024 * 1024
ISSUE_MIX = "503=0.04,500=0.02,reset=0.02,truncate=0.02"
TOPICS, PARTITIONS = 2, 2


@dataclass
class SoakReport:
    lag_samples: list[tuple[float, float]] = field(default_factory=list)  # (t, offsets the replica is behind)
    append_lags: list[tuple[float, float]] = field(default_factory=list)  # (t appended, s until served)
    rss_samples: list[tuple[float, float]] = field(default_factory=list)  # (t, MiB)
    anon_samples: list[tuple[float, float]] = field(default_factory=list)  # (t, MiB of anonymous memory)
    # (t, MiB of chunks the cache holds in memory: bounded by cache.memory_bytes, it fills as reads warm it)
    cache_samples: list[tuple[float, float]] = field(default_factory=list)
    http_errors: list[str] = field(default_factory=list)
    http_requests: int = 0
    appends: int = 0
    recovered_after: float | None = None  # seconds after the faults until every append is served within 2 s
    consumed: dict[tuple[str, int], list[int]] = field(default_factory=dict)  # offsets the consumer got, in order
    injected: int = 0
    faults_start: float = 0.0
    faults_end: float = 0.0

    def rss_growth(self, *, anon: bool = True) -> float:
        """MiB between the median (anonymous) RSS of the first and of the last third."""
        return _growth([mib for _, mib in (self.anon_samples if anon else self.rss_samples)])

    def cache_growth(self) -> float:
        """MiB the chunk cache's in-memory part grew by (same thirds): bounded, not a leak."""
        return _growth([mib for _, mib in self.cache_samples])

    def unexplained_growth(self) -> float:
        """Anonymous RSS growth beyond the chunk cache filling up to its bound: what must stay flat."""
        return self.rss_growth() - self.cache_growth()

    def lines(self) -> list[str]:
        during = [lag for t, lag in self.append_lags if self.faults_start <= t < self.faults_end]
        after = [lag for t, lag in self.append_lags if t >= self.faults_end]
        out = [f"appends {self.appends}, faults injected {self.injected}, HTTP requests {self.http_requests} "
               f"({len(self.http_errors)} errors); append -> served lag: max {max(during, default=0):.1f} s "
               f"during the faults, max {max(after, default=0):.1f} s after; every append under 2 s again "
               + (f"{self.recovered_after:.1f} s after the faults" if self.recovered_after is not None else "never")]
        step = max(1, len(self.lag_samples) // 12)
        out += [f"  t={t:6.1f} s  behind {lag:6.0f} offsets  RSS {rss:6.1f} MiB (anonymous {anon:6.1f}, chunks "
                f"in memory {cached:5.1f})"
                for (t, lag), (_, rss), (_, anon), (_, cached) in
                list(zip(self.lag_samples, self.rss_samples, self.anon_samples, self.cache_samples,
                         strict=False))[::step]]
        out.append(f"anonymous RSS growth {self.rss_growth():.1f} MiB, of which the chunk cache's in-memory part "
                   f"{self.cache_growth():.1f} MiB (bounded by cache.memory_bytes): {self.unexplained_growth():.1f} "
                   "MiB beyond it (median of the last third minus the first)")
        return out


def _growth(values: list[float]) -> float:
    third = max(1, len(values) // 3)
    first, last = sorted(values[:third]), sorted(values[-third:])
    return last[len(last) // 2] - first[len(first) // 2]


class _Consumer(threading.Thread):
    """kafka-python, assigned every partition from offset 0, recording each (partition, offset) it gets."""

    def __init__(self, port: int, topics: list[str]) -> None:
        super().__init__(daemon=True)
        self.port, self.topics = port, topics
        self.got: dict[tuple[str, int], list[int]] = {}
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        try:
            consumer = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{self.port}", enable_auto_commit=False,
                                     fetch_max_wait_ms=200, request_timeout_ms=30000)
            tps = [TopicPartition(t, p) for t in self.topics for p in range(PARTITIONS)]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, 0)
            while not self.stop.is_set():
                for tp, msgs in consumer.poll(timeout_ms=200).items():
                    self.got.setdefault((tp.topic, tp.partition), []).extend(m.offset for m in msgs)
            consumer.close()
        except BaseException as e:  # reported by the test
            self.error = e


async def soak(source: S3Side, dest: S3Side, s3_endpoint: str, cache: Path, *, warmup: float, faults: float,
               recovery: float, append_every: float = 2.0, seed: int = 1, layout: str = "labeled",
               env: dict[str, str] | None = None) -> SoakReport:
    """Run the soak (module doc) over caught-up buckets; the caller checks the report."""
    from app.tools.seedgen import topic_name

    report = SoakReport()
    proxy = await FaultProxy.for_endpoint(s3_endpoint, seed=seed).start()
    kafka_port = free_port()
    run_env = {"SHADOWREPLICA_REPLICATOR_POLL_INTERVAL": "0.2", "SHADOWREPLICA_REPLICATOR_MAX_POLL_INTERVAL": "1",
           "SHADOWREPLICA_REPLICATOR_DISCOVERY_INTERVAL": "1", "SHADOWREPLICA_KAFKA_GROUP_SEED_INTERVAL": "0",
               **(env or {})}
    args = ["run", "--source", str(source.url), "--source-region", source.region, "--source-endpoint-url",
            proxy.endpoint, "--dest", str(dest.url), "--dest-region", dest.region, "--dest-endpoint-url",
            proxy.endpoint, "--kafka", f"127.0.0.1:{kafka_port}", "--listen", "127.0.0.1:0", "--cache-dir", str(cache)]
    topics = [topic_name(i) for i in range(TOPICS)]
    consumer = _Consumer(kafka_port, topics)
    try:
        async with running_process(*args, env=run_env) as (url, proc), \
                httpx.AsyncClient(base_url=url, timeout=30) as client:
            consumer.start()
            started = time.monotonic()
            total = warmup + faults + recovery
            faults_on = started + warmup
            report.faults_start, report.faults_end = warmup, warmup + faults
            pending: list[tuple[float, dict[tuple[str, int], int]]] = []  # appends not yet served
            expected: dict[tuple[str, int], int] = {}  # the source's high watermarks after the last append
            while (now := time.monotonic()) - started < total:
                t = now - started
                proxy.rates = Rates.parse(ISSUE_MIX, latency=0.0) if faults_on <= now < faults_on + faults else None
                if not pending or t - pending[-1][0] >= append_every:
                    report.appends += 1
                    written = await seed_bucket(source, SeedSpec(
                        topics=TOPICS, partitions=PARTITIONS, total_bytes=16 * 1024, segment_bytes=16 * 1024,
                        seed=1000 + report.appends, layout=layout), append=True, progress=False, workers=0)
                    expected = dict(written.high_watermarks)
                    pending.append((time.monotonic() - started, expected))
                served = await _served(client, report)
                t = time.monotonic() - started
                truth = pending[-1][1] if pending else {}
                report.lag_samples.append((t, float(sum(max(0, v - served.get(k, 0)) for k, v in truth.items()))))
                # the chunk cache's files are mapped (reads hand out views of them), so RSS also counts
                # page-cache pages of recently read chunks; the anonymous part is the process's own memory
                report.rss_samples.append((t, rss_mib(proc.pid)))
                report.anon_samples.append((t, rss_mib(proc.pid, "RssAnon")))
                report.cache_samples.append((t, await _cache_memory_mib(client, report)))
                while pending and all(served.get(k, -1) >= v for k, v in pending[0][1].items()):
                    appended, _ = pending.pop(0)
                    report.append_lags.append((appended, t - appended))
                await asyncio.sleep(0.25)
            lags_after = [(a, lag) for a, lag in report.append_lags if a >= report.faults_end]
            for i, (a, _) in enumerate(lags_after):  # from which append on every one was served within 2 s
                if all(lag < 2.0 for _, lag in lags_after[i:]):
                    report.recovered_after = a - report.faults_end
                    break
            proxy.rates = None
            # the end: the destination serves exactly the source's offsets, the consumer got them all
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                served = {(p["topic"], p["partition"]): p["high_watermark"]
                          for tp in (await client.get("/topics")).json()["topics"] for p in tp["partitions"]}
                if served == expected and all(consumer.got.get(k) and consumer.got[k][-1] >= v - 1
                                              for k, v in expected.items() if v > 0):
                    break
                await asyncio.sleep(0.5)
    finally:
        consumer.stop.set()
        consumer.join(30)
        report.injected = sum(proxy.injected.values())
        await proxy.close()
    if consumer.error is not None:
        raise consumer.error
    report.consumed = consumer.got
    return report


async def _cache_memory_mib(client: httpx.AsyncClient, report: SoakReport) -> float:
    """``shadowreplica_cache_memory_bytes`` from ``/metrics`` (the last value seen when the scrape fails)."""
    try:
        text = (await client.get("/metrics")).text
    except httpx.HTTPError as e:
        report.http_errors.append(repr(e))
        return report.cache_samples[-1][1] if report.cache_samples else 0.0
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith("shadowreplica_cache_memory_bytes{")]
    return sum(values) / MiB


async def _served(client: httpx.AsyncClient, report: SoakReport) -> dict[tuple[str, int], int]:
    """The destination's high watermarks as ``/topics`` serves them (and a records query, as a user would)."""
    report.http_requests += 2
    try:
        topics: list[dict[str, Any]] = (await client.get("/topics")).json()["topics"]
        page = await client.get(f"/topics/{topics[0]['name']}/partitions/0/records", params={"limit": 5})
        if page.status_code >= 500 and page.status_code != 503:
            report.http_errors.append(f"records: {page.status_code} {page.text[:200]}")
        return {(t["name"], p["partition"]): p["high_watermark"] for t in topics for p in t["partitions"]}
    except (httpx.HTTPError, KeyError, ValueError, IndexError) as e:
        report.http_errors.append(repr(e))
        return {}
