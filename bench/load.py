"""Load: many concurrent Kafka consumers plus HTTP queries against `shadowreplica serve` and `shadowreplica http`
processes over one seeded bucket, for a bounded time.

Each Kafka connection is a minimal consumer (Fetch v11, one partition, 64 KiB per request, one request in
flight, max_wait 500 ms) that reads its partition from the start and starts over at the high watermark;
connection ``i`` reads partition ``i mod P``. Meanwhile HTTP clients query ``/topics`` and records by
offset. Reported: connections, Kafka offsets consumed per second (all connections), per-connection
progress (min / median / max, Jain's fairness index), HTTP requests/s and latency, the serve process's RSS
(start, peak, end) and errors (any Fetch error code, closed connection, HTTP status >= 400). The baseline
is the same minimal consumer on a *single* connection for the same time: its rate against the aggregate
shows what sharing one process between N connections costs.

    python -m bench load                        # 500 connections, 30 s
    BENCH_LOAD_CONNECTIONS=200 BENCH_LOAD_SECONDS=10 python -m bench load

``tests/test_load.py`` runs a smaller version (150 connections, 10 s) and asserts no errors and progress
on every connection.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from tests.load_support import LoadReport, http_process, run_load


def main() -> None:
    from app.config import s3_side
    from app.store import ensure_bucket
    from app.tools.seed import seed_bucket
    from app.tools.seedgen import SeedSpec, topic_name
    from bench.kafka_shim import ENV, serving
    from localstack.s3server import start_s3_server

    connections = int(os.environ.get("BENCH_LOAD_CONNECTIONS", "500"))
    seconds = float(os.environ.get("BENCH_LOAD_SECONDS", "30"))
    spec = SeedSpec(topics=2, partitions=4, total_bytes=32 * 1024 * 1024, segment_bytes=1024 * 1024, seed=11)
    partitions = [(topic_name(t), p) for t in range(spec.topics) for p in range(spec.partitions)]
    with start_s3_server(port=0) as s3, tempfile.TemporaryDirectory() as tmp:
        side = s3_side("s3://dest", side="dest", environ=ENV, region="eu-west-1", endpoint_url=s3.endpoint)

        async def prepare() -> None:
            await ensure_bucket(side)
            await seed_bucket(side, spec, progress=False)

        asyncio.run(prepare())
        env = {"SHADOWREPLICA_KAFKA_MAX_CONNECTIONS_PER_CLIENT": str(connections + 10),
               "SHADOWREPLICA_KAFKA_MAX_CONNECTIONS": str(connections + 100)}
        with serving(side, Path(tmp) / "kafka-cache", env=env) as (port, proc):
            async def go() -> tuple[LoadReport, LoadReport]:
                warm = await run_load(port, proc.pid, partitions, connections=len(partitions), seconds=3)
                baseline = await run_load(port, proc.pid, partitions[:1], connections=1, seconds=min(seconds, 10))
                async with http_process("s3://dest", s3.endpoint, "eu-west-1", Path(tmp) / "http-cache",
                                        {**ENV, "AWS_REGION": "eu-west-1"}) as url:
                    loaded = await run_load(port, proc.pid, partitions, connections=connections, seconds=seconds,
                                            http_url=url)
                del warm
                return baseline, loaded

            baseline, loaded = asyncio.run(go())
    print(f"data: {spec.topics} topics x {spec.partitions} partitions, {spec.total_bytes >> 20} MiB, served hot")
    print(f"baseline (1 connection, {baseline.seconds:.0f} s): {baseline.offsets_per_second:,.0f} offsets/s (1.00x)")
    for line in loaded.lines():
        print(line)
    print(f"aggregate vs one connection: {loaded.offsets_per_second / baseline.offsets_per_second:.2f}x; "
          f"per connection: {loaded.offsets_per_second / connections / baseline.offsets_per_second:.4f}x")
    if loaded.errors:
        raise AssertionError(f"{len(loaded.errors)} errors under load: {loaded.errors[:3]}")
