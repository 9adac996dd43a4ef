"""Issue 10, part 1: every S3 request is retried on its own, so the CLI commands keep going through sustained
S3 faults and fail only when one request fails ``--max-retries`` times in a row, naming it.

The faults come from the independent fault proxy (``localstack/faultproxy.py``, its own process) in front of
the real local S3 server: about 10% of *every* operation fails (4% 503 SlowDown, 2% 500, 2% connection
resets before the request, 2% bodies cut short), several seeds. Afterwards the destination must equal the
source, checked directly against the server (not through the proxy).
"""

from __future__ import annotations

import json

import pytest

from app.replicator.verify import verify_bucket
from app.store import ObjectStore
from tests.conftest import BucketPair
from tests.reliability_support import fault_proxy_process, run_cli
from tests.replicator_support import KiB, MiB, contents, seed

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ISSUE_MIX = "503=0.04,500=0.02,reset=0.02,truncate=0.02"
FAST_BACKOFF = {"SHADOWREPLICA_REPLICATOR_BACKOFF_BASE": "0.02", "SHADOWREPLICA_REPLICATOR_BACKOFF_CAP": "0.5"}


def _sides(buckets: BucketPair) -> list[str]:
    return ["--source", str(buckets.source.url), "--source-region", "us-east-1",
            "--dest", str(buckets.dest.url), "--dest-region", "eu-west-1"]


@pytest.mark.parametrize("fault_seed", [1, 2, 3])
async def test_sync_verify_status_exit_zero_through_ten_percent_mixed_faults(
        buckets: BucketPair, s3_server: str, fault_seed: int) -> None:
    # small segments: enough requests (~380) that each fault kind, even a 2 % one, is drawn several times
    await seed(buckets.source, topics=2, partitions=2, size=2 * MiB, segment=8 * KiB)
    with fault_proxy_process(s3_server, ISSUE_MIX, seed=fault_seed, latency=0.0) as proxy:
        sync = run_cli(proxy.endpoint, "sync", *_sides(buckets), "--once", "--json", "--concurrency", "8",
                       "--max-retries", "8", timeout=300, **FAST_BACKOFF)
        verify = run_cli(proxy.endpoint, "verify", *_sides(buckets), "--json", timeout=300)
        status = run_cli(proxy.endpoint, "status", *_sides(buckets), timeout=300)
        injected = proxy.injected()
        requests = sum(proxy.stats()["requests"].values())
    print(f"seed {fault_seed}: {requests} requests, injected {injected}; exit codes sync {sync.returncode} "
          f"verify {verify.returncode} status {status.returncode}")
    assert sync.returncode == 0, sync.stderr[-3000:]
    assert verify.returncode == 0, (verify.stdout[-2000:], verify.stderr[-2000:])
    assert status.returncode == 0, status.stderr[-3000:]
    # the faults really happened, of every kind, at about the rate asked for
    assert all(injected.get(kind, 0) > 0 for kind in ("503", "500", "reset", "truncate")), injected
    assert sum(injected.values()) >= 0.05 * requests
    result = json.loads(sync.stdout)
    assert result["ok"] and result["report"]["caught_up"] == 4 and result["metrics"]["retries"] > 0
    assert json.loads(verify.stdout)["ok"]
    assert json.loads(status.stdout)
    assert await contents(buckets.dest) == await contents(buckets.source)
    async with ObjectStore(buckets.dest) as dst, ObjectStore(buckets.source) as src:
        final = await verify_bucket(dst, src, deep=True)
    assert final.ok and final.objects_checked > 0, final.lines()


async def test_sync_fails_naming_the_request_that_failed_max_retries_times_in_a_row(
        buckets: BucketPair, s3_server: str) -> None:
    await seed(buckets.source, topics=1, partitions=1, size=256 * KiB, segment=32 * KiB)
    with fault_proxy_process(s3_server, "ListObjectsV2:503=1.0", seed=1, latency=0.0) as proxy:
        sync = run_cli(proxy.endpoint, "sync", *_sides(buckets), "--once", "--no-progress", "--max-retries", "3",
                       timeout=120, **FAST_BACKOFF)
        listed = proxy.stats()["requests"].get("ListObjectsV2", 0)
    assert sync.returncode != 0
    assert "ListObjectsV2 s3://" in sync.stderr and "3 attempts in a row" in sync.stderr, sync.stderr[-2000:]
    # discovery lists both sides at once, each side's 16 hash roots, its labeled meta/ root and
    # cluster_metadata/ concurrently: each listing request is sent at most 3 times, and the discovery is
    # not restarted around them (the old whole-operation retry sent 8 x 16 x attempts)
    assert 3 <= listed <= 2 * 18 * 3


async def test_a_failing_copy_fails_its_partition_naming_the_request(buckets: BucketPair, s3_server: str) -> None:
    await seed(buckets.source, topics=1, partitions=1, size=256 * KiB, segment=32 * KiB)
    with fault_proxy_process(s3_server, "CopyObject:500=1.0", seed=1, latency=0.0) as proxy:
        sync = run_cli(proxy.endpoint, "sync", *_sides(buckets), "--once", "--no-progress", "--max-retries", "2",
                       timeout=200, **FAST_BACKOFF)
    assert sync.returncode != 0
    assert "is not up to date: CopyObject s3://" in sync.stderr, sync.stderr[-2000:]
    assert "2 attempts in a row" in sync.stderr


