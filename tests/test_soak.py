"""A bounded soak of `shadowreplica run` (tests/soak_support.py): the source grows every 2 s for 75 s, S3
fails 10% of the time on every operation (the issue's mix) from second 15 to 45 for the replica, a
kafka-python consumer and an HTTP client read throughout. No restart; the consumer gets every record the
bucket oracle finds, each offset once and in order; within 30 s after the faults stop every append is served
by the destination within 2 s of landing at the source; anonymous RSS grows less than 10 MiB beyond what the chunk cache holds in memory (bounded). ``python -m bench soak`` runs the same for several minutes and prints lag and RSS over time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BucketPair
from replicator_support import KiB, seed, sync_once

from tests.kafka_support import read_truth
from tests.soak_support import soak

pytestmark = pytest.mark.slow


async def test_run_soaks_through_faults_and_growth(buckets: BucketPair, s3_server: str, tmp_path: Path) -> None:
    await seed(buckets.source, topics=2, partitions=2, size=256 * KiB, segment=32 * KiB, layout="labeled")
    assert (await sync_once(buckets)).report.ok
    report = await soak(buckets.source, buckets.dest, s3_server, tmp_path / "cache", warmup=15, faults=30,
                        recovery=30)
    print("\n" + "\n".join(report.lines()))
    assert report.injected > 0, "the fault proxy injected nothing"
    assert report.appends >= 20
    assert report.recovered_after is not None and report.recovered_after <= 30, report.lines()
    assert report.append_lags and all(lag < 30 for _, lag in report.append_lags), report.lines()
    assert not report.http_errors, report.http_errors[:5]
    truth = read_truth(buckets.dest)
    for (topic, partition), part in truth.items():
        got = report.consumed.get((topic, partition), [])
        assert got == [r.offset for r in part.records], f"{topic}/{partition}: not every record exactly once"
    # anonymous memory (the mapped chunk files' pages are page cache) grows by what the chunk cache holds in
    # memory as the growing source is read (bounded by cache.memory_bytes, read from /metrics); beyond that it
    # stays flat: with a 1 MiB memory cache 2 MiB in a 4-minute soak, with the default 64 MiB the same 2 MiB
    # beyond the cache's 14 MiB (bench/soak.py)
    assert report.unexplained_growth() < 10, "\n".join(report.lines())
