"""A load client for `shadowreplica serve` and `shadowreplica http`: many minimal Kafka consumers (Fetch v11,
one partition each, 64 KiB per request, one request in flight, max_wait 500 ms, reading from the start and
starting over at the high watermark) plus HTTP query loops, with errors, per-connection progress and the
server's RSS. ``tests/test_load.py`` (150 connections, 10 s) and ``python -m bench load`` (500, 30 s) use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.kafka.protocol import ApiKey, FetchPartition, FetchRequest, FetchTopic, RequestHeader, encode_request

FETCH_BYTES = 64 * 1024


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """A memory figure of ``/proc/<pid>/status`` in MiB: ``VmRSS`` (resident), or e.g. ``RssAnon`` (its
    anonymous part: without the page-cache pages of mapped files)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class LoadReport:
    connections: int
    seconds: float
    progress: list[int]  # Kafka offsets consumed per connection
    fetches: int
    errors: list[str] = field(default_factory=list)
    http_requests: int = 0
    http_latencies: list[float] = field(default_factory=list)
    rss_start: float = 0.0
    rss_peak: float = 0.0
    rss_end: float = 0.0
    laps: list[int] = field(default_factory=list)  # times each connection reached the high watermark

    @property
    def offsets_per_second(self) -> float:
        return sum(self.progress) / self.seconds

    @property
    def fairness(self) -> float:
        """Jain's index of per-connection progress: 1.0 = perfectly even, 1/N = one connection got all."""
        total = sum(self.progress)
        squares = sum(p * p for p in self.progress)
        return total * total / (len(self.progress) * squares) if squares else 0.0

    def lines(self) -> list[str]:
        p = sorted(self.progress)
        lat = sorted(self.http_latencies) or [0.0]
        return [
            f"kafka: {self.connections} connections for {self.seconds:.1f} s: {sum(p):,} offsets consumed "
            f"({self.offsets_per_second:,.0f}/s), {self.fetches:,} fetches ({self.fetches / self.seconds:,.0f}/s)",
            f"per connection: min {p[0]:,} / median {statistics.median(p):,.0f} / max {p[-1]:,} offsets; "
            f"Jain fairness {self.fairness:.3f}; every connection progressed: {p[0] > 0}",
            f"http: {self.http_requests} requests ({self.http_requests / self.seconds:.1f}/s), latency p50 "
            f"{lat[len(lat) // 2] * 1e3:.0f} ms, p99 {lat[int(len(lat) * 0.99)] * 1e3:.0f} ms",
            f"serve RSS: start {self.rss_start:.0f} MiB, peak {self.rss_peak:.0f} MiB, end {self.rss_end:.0f} MiB",
            f"errors: {len(self.errors)}" + (f" (first: {self.errors[0]})" if self.errors else ""),
        ]


async def _consume(port: int, topic: str, partition: int, stop: dict[str, bool], index: int, report: LoadReport,
                   started: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    started.set()
    corr = 0
    offset = 0
    try:
        while not stop["stop"]:
            corr += 1
            req = FetchRequest(max_wait_ms=500, min_bytes=1, max_bytes=FETCH_BYTES, topics=(FetchTopic(
                topic=topic, partitions=(FetchPartition(partition=partition, fetch_offset=offset,
                                                        partition_max_bytes=FETCH_BYTES),)),))
            writer.write(encode_request(RequestHeader(api_key=ApiKey.Fetch, api_version=11, correlation_id=corr,
                                                      client_id=f"load-{index}"), req))
            (size,) = struct.unpack(">i", await reader.readexactly(4))
            frame = await reader.readexactly(size)
            report.fetches += 1
            (got_corr,) = struct.unpack_from(">i", frame)
            pos = 4 + 4 + 6 + 4
            (n,) = struct.unpack_from(">h", frame, pos)
            pos += 2 + n + 4
            _p, err, hwm, _lso, start, aborted = struct.unpack_from(">ihqqqi", frame, pos)
            if got_corr != corr or err:
                report.errors.append(f"connection {index}: correlation {got_corr}/{corr}, error code {err}")
                return
            pos += 34 + max(aborted, 0) * 16 + 4
            (rsize,) = struct.unpack_from(">i", frame, pos)
            pos += 4
            end = pos + max(rsize, 0)
            nxt = offset
            while pos + 61 <= end:
                base, length = struct.unpack_from(">qi", frame, pos)
                if pos + 12 + length > end:
                    break
                (last_delta,) = struct.unpack_from(">i", frame, pos + 23)
                nxt = base + last_delta + 1
                pos += 12 + length
            report.progress[index] += max(0, nxt - offset)
            offset = nxt
            if offset >= hwm:  # at the end: start over, so the load stays on the read path
                offset = start
                report.laps[index] += 1
    except (ConnectionError, asyncio.IncompleteReadError) as e:
        report.errors.append(f"connection {index}: {type(e).__name__}: {e}")
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _http_client(url: str, deadline: float, topics: list[tuple[str, int]], report: LoadReport, n: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        i = n
        while time.monotonic() < deadline:
            topic, partition = topics[i % len(topics)]
            path = "/topics" if i % 3 == 0 else f"/topics/{topic}/partitions/{partition}/records"
            params = {} if i % 3 == 0 else {"offset": str((i * 37) % 500), "limit": "20"}
            t = time.perf_counter()
            try:
                r = await client.get(path, params=params)
            except httpx.HTTPError as e:
                report.errors.append(f"http {path}: {type(e).__name__}: {e}")
                return
            report.http_latencies.append(time.perf_counter() - t)
            report.http_requests += 1
            if r.status_code >= 400:
                report.errors.append(f"http {path}: {r.status_code} {r.text[:200]}")
                return
            i += 1


async def run_load(port: int, pid: int, partitions: list[tuple[str, int]], *, connections: int, seconds: float,
                   http_url: str | None = None, http_clients: int = 4) -> LoadReport:
    """``connections`` consumers (and ``http_clients`` HTTP query loops) for ``seconds`` after all connected."""
    report = LoadReport(connections, seconds, [0] * connections, 0, laps=[0] * connections)
    report.rss_start = report.rss_peak = rss_mib(pid)
    events = [asyncio.Event() for _ in range(connections)]
    stop = {"stop": False}
    consumers = [asyncio.create_task(_consume(port, *partitions[i % len(partitions)], stop, i, report, events[i]))
                 for i in range(connections)]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 60)
    measure_end = time.monotonic() + seconds
    # the counters start when everyone is connected, so the figures cover one window
    report.progress[:] = [0] * connections
    report.fetches = 0
    http_tasks = [asyncio.create_task(_http_client(http_url, measure_end, partitions, report, n))
                  for n in range(http_clients)] if http_url else []
    while time.monotonic() < measure_end:
        await asyncio.sleep(0.25)
        report.rss_peak = max(report.rss_peak, rss_mib(pid))
    snapshot = list(report.progress), report.fetches
    stop["stop"] = True
    for t in consumers:
        t.cancel()
    await asyncio.gather(*consumers, *http_tasks, return_exceptions=True)
    report.progress[:], report.fetches = snapshot  # what finished after the window does not count
    report.seconds = seconds
    report.rss_end = rss_mib(pid)
    return report


@contextlib.asynccontextmanager
async def http_process(bucket: str, endpoint: str, region: str, cache_dir: Path,
                       env: dict[str, str]) -> AsyncIterator[str]:
    """`shadowreplica http` on a free port; yields its URL."""
    from tests.http_fixtures import running

    async with running("--log-level", "WARNING", "http", "--bucket", bucket, "--region", region, "--endpoint-url",
                       endpoint, "--listen", "127.0.0.1:0", "--cache-dir", str(cache_dir), env=env) as url:
        yield url
