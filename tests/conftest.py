"""Shared fixtures: real S3 servers as separate processes, fresh buckets per test, a fault-injecting proxy.

Fixtures (names are generic on purpose: replicator, Kafka and HTTP tests use them too)

- ``s3_server`` (session) → endpoint ``str`` of moto's S3 server in its own process
  (``localstack.s3server.start_s3_server(port=0)``; buckets ``source`` and ``dest`` exist on it).
  ``SHADOWREPLICA_TEST_S3_ENDPOINT=http://localhost:4566`` runs the suite against an S3 you started
  yourself instead (LocalStack in Docker, ``make s3``, ...).
- ``buckets`` (function) → :class:`BucketPair` ``(source, dest)`` of :class:`app.config.S3Side`: two fresh,
  uniquely named buckets on ``s3_server``, source in us-east-1 and dest in eu-west-1; emptied afterwards.
- ``seaweedfs_server`` (session) → endpoint ``str`` of SeaweedFS ``weed mini`` (for conditional copies,
  which moto ignores). Fails, never skips, when ``weed`` is missing, with the command that installs it.
- ``seaweedfs_buckets`` (function) → :class:`BucketPair` on ``seaweedfs_server``.
- ``s3_fault_proxy`` (function) → factory ``await s3_fault_proxy(upstream_endpoint) -> FaultProxy``: an
  HTTP proxy in front of a server that can answer with S3 errors, delay, or cut bodies short.

Every test runs with ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` = ``test`` and no AWS profile, endpoint
or session token from the developer's environment.
"""

from __future__ import annotations

import asyncio
import gc
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import NamedTuple

import hypothesis
import pytest

from app.config import S3Side, s3_side
from app.store import ObjectStore, ensure_bucket
from localstack.faultproxy import Fault, FaultProxy, Rates  # noqa: F401 - re-exported for the tests
from localstack.s3server import start_s3_server
from localstack.seaweedfs import INSTALL_HINT, find_weed, start_seaweedfs
from tests.hypothesis_support import FAST_EXAMPLES

# A test worker holds botocore's models, pyarrow, pyiceberg and DuckDB: a heap of long-lived objects that every
# full collection walks (at Python's default thresholds 8 s of each `make test-fast` worker's minute went to
# collections). Fewer, larger young collections: 3 s. Only the test processes; the service keeps the defaults.
gc.set_threshold(10_000, 20, 20)

# `make test-fast` (the inner loop) runs the property tests with fewer examples; `make test` and CI with
# hypothesis' default (or each test's own settings)
hypothesis.settings.register_profile("fast", max_examples=FAST_EXAMPLES)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

TEST_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
_SCRUBBED = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
             "AWS_REGION", "AWS_DEFAULT_REGION")


class BucketPair(NamedTuple):
    source: S3Side
    dest: S3Side


def make_side(endpoint: str, bucket: str, region: str, *, prefix: str = "", side: str = "source") -> S3Side:
    """An :class:`S3Side` for a test bucket (test credentials, explicit endpoint and region)."""
    url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    return s3_side(url, side=side, environ=TEST_ENV, region=region, endpoint_url=endpoint)


def unique_bucket(role: str) -> str:
    return f"t-{uuid.uuid4().hex[:16]}-{role}"


# `make test` hands whole files to 3 workers in collection order (--dist loadfile --no-loadscope-reorder).
# These files take longest (seconds of one worker on the 2-core CI machine: crash 80 and 35, soak 80,
# reliability_faults 60, lake_export 59, current_buckets 51, replicator 45, events 44): collected first,
# they start at once side by side instead of one of them running alone at the end.
LONGEST_FIRST = ("test_replicator_crash.py", "test_soak.py", "test_replicator_crash_mixed.py",
                 "test_reliability_faults.py", "test_lake_export.py", "test_current_buckets.py", "test_replicator.py",
                 "test_events.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the other files keep their order


@pytest.fixture(scope="session", autouse=True)
def aws_test_env() -> Iterator[None]:
    """Test credentials for every test; nothing from the developer's AWS setup leaks in."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in TEST_ENV.items():
            mp.setenv(name, value)
        for name in _SCRUBBED:
            mp.delenv(name, raising=False)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never wait on the instance-metadata endpoint
        yield


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """Endpoint of moto's S3 server, running as a separate process for the whole session (its request log,
    a seventh of its CPU, only with ``SHADOWREPLICA_TEST_S3_REQUEST_LOG=1``)."""
    external = os.environ.get("SHADOWREPLICA_TEST_S3_ENDPOINT")
    if external:
        yield external.rstrip("/")
        return
    with start_s3_server(port=0, request_log=bool(os.environ.get("SHADOWREPLICA_TEST_S3_REQUEST_LOG"))) as server:
        yield server.endpoint


async def _bucket_pair(endpoint: str) -> BucketPair:
    pair = BucketPair(
        source=make_side(endpoint, unique_bucket("src"), "us-east-1", side="source"),
        dest=make_side(endpoint, unique_bucket("dst"), "eu-west-1", side="dest"),
    )
    await asyncio.gather(ensure_bucket(pair.source), ensure_bucket(pair.dest))
    return pair


async def _empty(pair: BucketPair) -> None:
    for side in pair:
        async with ObjectStore(side) as store:
            await store.delete_many([info.key async for info in store.list("")])


@pytest.fixture
async def buckets(s3_server: str) -> AsyncIterator[BucketPair]:
    """Two fresh buckets on ``s3_server``: source (us-east-1) and dest (eu-west-1); emptied afterwards."""
    pair = await _bucket_pair(s3_server)
    yield pair
    await _empty(pair)


@pytest.fixture
async def bucket_pairs(s3_server: str) -> AsyncIterator[Callable[[], Awaitable[BucketPair]]]:
    """Makes further pairs like ``buckets`` (for parts of a test that run side by side); each emptied afterwards."""
    made: list[BucketPair] = []

    async def make() -> BucketPair:
        made.append(await _bucket_pair(s3_server))
        return made[-1]

    yield make
    for pair in made:
        await _empty(pair)


@pytest.fixture(scope="session")
def seaweedfs_server() -> Iterator[str]:
    """Endpoint of SeaweedFS ``weed mini`` (key ``test``/``test``) for the whole session."""
    if find_weed() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    with start_seaweedfs(buckets=()) as server:
        yield server.endpoint


@pytest.fixture
async def seaweedfs_buckets(seaweedfs_server: str) -> AsyncIterator[BucketPair]:
    """Two fresh buckets on ``seaweedfs_server`` (source us-east-1, dest eu-west-1); emptied afterwards."""
    pair = await _bucket_pair(seaweedfs_server)
    yield pair
    await _empty(pair)


# ------------------------------------------------------------------------------------ fault proxy


# Fault and FaultProxy live in localstack/faultproxy.py (also runnable as its own process, with fault rates);
# re-exported here for the tests that import them from conftest.


@pytest.fixture
async def s3_fault_proxy() -> AsyncIterator[Callable[[str], Awaitable[FaultProxy]]]:
    """Factory: ``proxy = await s3_fault_proxy(endpoint)``; add ``proxy.faults``; point a side at ``proxy.endpoint``."""
    proxies: list[FaultProxy] = []

    async def make(upstream: str) -> FaultProxy:
        proxy = await FaultProxy.for_endpoint(upstream).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        await proxy.close()
