"""A longer soak of `shadowreplica run` than tests/test_soak.py (tests/soak_support.py has the method): the
source grows every 2 s, S3 fails 10% of the time (the issue's mix, every operation) for the middle third, a
kafka-python consumer and an HTTP client read throughout; prints the append -> served lag and the RSS over
time. ``BENCH_SOAK_SECONDS`` (default 300) sets the length.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from app.config import s3_side
from app.replicator.loop import Replicator
from app.replicator.options import load_sync_config
from app.store import ObjectStore
from app.tools.seed import seed_bucket
from app.tools.seedgen import SeedSpec
from localstack.s3server import create_buckets, start_s3_server
from tests.kafka_support import read_truth
from tests.soak_support import soak

SECONDS = float(os.environ.get("BENCH_SOAK_SECONDS", "300"))


async def _soak(endpoint: str, tmp: Path) -> None:
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    source = s3_side("s3://soak-src", side="source", region="us-east-1", endpoint_url=endpoint)
    dest = s3_side("s3://soak-dst", side="dest", region="eu-west-1", endpoint_url=endpoint)
    create_buckets(endpoint, [("soak-src", "us-east-1"), ("soak-dst", "eu-west-1")])
    await seed_bucket(source, SeedSpec(topics=2, partitions=2, total_bytes=1024 * 1024, segment_bytes=64 * 1024,
                                       seed=1, layout="labeled"), progress=False)
    async with ObjectStore(source) as src, ObjectStore(dest) as dst:
        assert (await Replicator(src, dst, load_sync_config({})).run_once()).ok
    third = SECONDS / 3
    report = await soak(source, dest, endpoint, tmp / "cache", warmup=third, faults=third, recovery=third)
    for line in report.lines():
        print(line, flush=True)
    truth = read_truth(dest)
    exact = all(report.consumed.get(k, []) == [r.offset for r in p.records] for k, p in truth.items())
    print(f"consumer got every record exactly once: {exact}; RSS growth {report.rss_growth(anon=False):.1f} MiB, "
          f"anonymous {report.rss_growth():.1f} MiB (median of the last third minus the first)")


def main() -> None:
    print(f"soak of `run`: {SECONDS:.0f} s, faults in the middle third")
    with start_s3_server(port=0) as server, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_soak(server.endpoint, Path(tmp)))
