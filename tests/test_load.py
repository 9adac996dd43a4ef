"""Load on real processes: 150 concurrent Kafka consumer connections to one `shadowreplica serve` plus HTTP
queries to a `shadowreplica http` over the same seeded bucket, for 10 s. No errors, every connection makes
progress, and the serve process's memory stays bounded. The full-size run (500 connections, figures
printed) is ``python -m bench load`` (bench/load.py, which this test shares its client with)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import S3Side
from tests.kafka_support import TEST_ENV, ServeProcess, new_bucket, seed, start_serve
from tests.load_support import http_process, run_load

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, `make test-fast` does not

CONNECTIONS = 150
SECONDS = 10.0
RSS_LIMIT_MIB = 400


@pytest.fixture(scope="module")
def bucket(s3_server: str) -> S3Side:
    side = new_bucket(s3_server)
    seed(side, topics=2, partitions=3, size="6MiB", segment_size="512KiB")
    return side


@pytest.fixture(scope="module")
def server(bucket: S3Side, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    s = start_serve(bucket, cache_dir=tmp_path_factory.mktemp("load") / "cache", env={
        # every connection comes from 127.0.0.1: the per-address limit (default 200) must allow them all
        "SHADOWREPLICA_KAFKA_MAX_CONNECTIONS_PER_CLIENT": str(CONNECTIONS + 10),
        "SHADOWREPLICA_KAFKA_MAX_CONNECTIONS": str(CONNECTIONS + 50)})
    yield s
    s.stop()


def test_many_consumers_and_http_queries(server: ServeProcess, bucket: S3Side, tmp_path: Path) -> None:
    partitions = [(t, p) for t in ("orders", "payments") for p in range(3)]

    async def go() -> object:
        await run_load(server.port, server.proc.pid, partitions, connections=len(partitions), seconds=1)  # warm
        async with http_process(str(bucket.url), bucket.endpoint_url or "", bucket.region, tmp_path / "http",
                                {**TEST_ENV, "AWS_REGION": bucket.region}) as url:
            return await run_load(server.port, server.proc.pid, partitions, connections=CONNECTIONS, seconds=SECONDS,
                                  http_url=url)

    report = asyncio.run(go())
    for line in report.lines():  # type: ignore[attr-defined]
        print(line)
    assert report.errors == [], report.errors[:5]  # type: ignore[attr-defined]
    assert min(report.progress) > 0, "every connection made progress"  # type: ignore[attr-defined]
    assert report.fairness > 0.5, "no connection starves the others"  # type: ignore[attr-defined]
    assert report.http_requests >= 20  # type: ignore[attr-defined]
    assert report.rss_peak < RSS_LIMIT_MIB  # type: ignore[attr-defined]
    log = server.log_text()
    assert "refusing connection" not in log and "Traceback" not in log
