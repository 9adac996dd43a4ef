"""Helpers for the HTTP tests (``tests/test_http_*.py``): seeded buckets and an app over them.

A seeded pair is made once per test module (seeding is the slow part) by a *sync* fixture running its own
event loop; every test then opens its own read path on its own loop (stores and caches are loop-bound).

* ``seed_pair(endpoint)`` → :class:`Seeded`: a source bucket with :data:`SPEC` and a destination bucket
  holding a prefix of the same partitions (:data:`DEST_SPEC`: the same generator, fewer bytes), so the
  replication view has real lag.
* ``running(*cli_args)`` → async context manager: the ``shadowreplica`` CLI as a subprocess, yielding the URL
  from its ``... on http://HOST:PORT`` banner, stopped with SIGTERM afterwards.
* ``open_app(seeded, tmp_path, ...)`` → async context manager yielding :class:`AppUnderTest` (the app, an
  httpx client on its ASGI transport, the destination store and reader) with ``/replication`` comparing
  source and destination.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.config import CacheSettings, HttpSettings, KafkaSettings, S3Side, s3_side
from app.group_lag import GroupLagSource
from app.group_offsets import OffsetStore
from app.http.app import create_app
from app.http.replication import CatalogComparison
from app.metrics import Metrics
from app.reader import PartitionReader
from app.readpath import ReadPath, open_read_path
from app.store import ObjectStore, ensure_bucket
from app.tools.seed import seed_bucket
from app.tools.seedgen import SeedSpec
from tests.process_support import CliProcess, cli_environment, start_cli

TEST_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}

# topics: orders (json values, every codec), payments (text, transactions), clickstream (binary); three
# 256 KiB segments per partition in two terms (about four .index samples each) in the source, the first
# two in the destination
SPEC = SeedSpec(topics=3, partitions=2, total_bytes=6 * 768 * 1024, segment_bytes=256 * 1024, seed=7,
                term_every_segments=2)
DEST_SPEC = dataclasses.replace(SPEC, total_bytes=6 * 512 * 1024)


def side(endpoint: str, bucket: str, region: str, *, role: str = "dest", **overrides: Any) -> S3Side:
    s = s3_side(f"s3://{bucket}", side=role, environ=TEST_ENV, region=region, endpoint_url=endpoint)
    return dataclasses.replace(s, **overrides) if overrides else s


@dataclass(frozen=True, slots=True)
class Seeded:
    endpoint: str
    source: S3Side
    dest: S3Side


def seed_pair(endpoint: str, *, dest_spec: SeedSpec = DEST_SPEC) -> Seeded:
    tag = uuid.uuid4().hex[:12]
    src = side(endpoint, f"h-{tag}-src", "us-east-1", role="source")
    dst = side(endpoint, f"h-{tag}-dst", "eu-west-1")

    async def go() -> None:
        await asyncio.gather(ensure_bucket(src), ensure_bucket(dst))
        await asyncio.gather(seed_bucket(src, SPEC, progress=False, workers=0),
                             seed_bucket(dst, dest_spec, progress=False, workers=0))

    asyncio.run(go())
    return Seeded(endpoint, src, dst)


def drop_buckets(seeded: Seeded) -> None:
    async def go() -> None:
        for s in (seeded.source, seeded.dest):
            async with ObjectStore(s) as store:
                await store.delete_many([info.key async for info in store.list("")])

    asyncio.run(go())


@dataclass(slots=True)
class AppUnderTest:
    app: Any
    client: httpx.AsyncClient
    dest: ReadPath
    metrics: Metrics

    @property
    def store(self) -> ObjectStore:
        return self.dest.store

    @property
    def reader(self) -> PartitionReader:
        assert self.dest.reader is not None
        return self.dest.reader


@asynccontextmanager
async def open_app(seeded: Seeded, tmp_path: Path, *, http: HttpSettings | None = None,
                   dest_side: S3Side | None = None, with_source: bool = True,
                   chunk_size: int = 4 * 1024 * 1024) -> AsyncIterator[AppUnderTest]:
    http = http or HttpSettings(lag_history_interval=0.05)
    cache = CacheSettings(directory=tmp_path / "cache", chunk_size=chunk_size, max_bytes=64 * 1024 * 1024,
                          manifest_refresh_interval=3600)
    metrics = Metrics()
    async with AsyncExitStack() as stack:
        dest = await stack.enter_async_context(
            open_read_path(dest_side or seeded.dest, cache, metrics=metrics, side_name="dest"))
        source_catalog = None
        if with_source:
            src = await stack.enter_async_context(
                open_read_path(seeded.source, cache, metrics=metrics, side_name="source", reader=False))
            source_catalog = src.catalog
        assert dest.reader is not None
        replication = CatalogComparison(dest.catalog, source_catalog, dest_name=str(seeded.dest.url),
                                        source_name=str(seeded.source.url) if with_source else None)
        groups = GroupLagSource(OffsetStore(dest.store, KafkaSettings().group_offsets_prefix), dest.catalog,
                                dest.reader)
        app = create_app(http, dest.catalog, dest.reader, metrics=metrics, replication=replication,
                         bucket_name=str(seeded.dest.url), groups=groups)
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api"))
        yield AppUnderTest(app, client, dest, metrics)


@asynccontextmanager
async def running(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[str]:
    """Start the CLI, wait for its ``... on http://HOST:PORT`` banner, yield the URL; SIGTERM it afterwards."""
    async with running_process(*args, env=env) as (url, _proc):
        yield url


@asynccontextmanager
async def running_process(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[tuple[str, CliProcess]]:
    """:func:`running`, also yielding the process (its pid for RSS, its log); it must stop cleanly on SIGTERM."""
    proc = await asyncio.to_thread(start_cli, *args, env=cli_environment(**(env or {})))
    try:
        yield proc.url, proc
    finally:
        code = await asyncio.to_thread(proc.stop, 20)
        assert code in (0, -signal.SIGTERM), (code, proc.log_text()[-3000:])
