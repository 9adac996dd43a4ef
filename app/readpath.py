"""One bucket's read stack, built once: store → catalog → chunk cache → reader (the one read path).

``serve``, ``http``, ``run`` and ``export`` all open a bucket through :func:`open_read_path`: one cache
layout (a directory per bucket under the cache root, so processes on different buckets never share one),
one behaviour at start (a missing bucket is a configuration error; S3 unreachable is retried in the
background while the process serves and ``/readyz`` says not ready), one set of metrics collectors. It sits
below the faces: the Kafka shim, the HTTP API and the exporter import it, never each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from app.batch_runs import BatchRuns
from app.cache import ChunkCache
from app.catalog import Catalog
from app.config import CacheSettings, S3Side
from app.errors import BucketMissing, ConfigError, StorageError
from app.events import EventQueue, subscribe
from app.metrics import Metrics
from app.reader import PartitionReader
from app.store import ObjectStore

log = logging.getLogger(__name__)

__all__ = ["ReadPath", "cache_dir_name", "open_read_path"]


@dataclass(frozen=True, slots=True)
class ReadPath:
    """One bucket's read stack. ``cache``/``reader`` are None when only manifests are followed."""

    side: S3Side
    store: ObjectStore
    catalog: Catalog
    cache: ChunkCache | None
    reader: PartitionReader | None


def cache_dir_name(side: S3Side) -> str:
    ident = f"{side.endpoint_url or 'aws'}\0{side.url.bucket}\0{side.url.prefix}"
    return f"{side.url.bucket}-{hashlib.sha256(ident.encode()).hexdigest()[:12]}"


async def _start_catalog(catalog: Catalog, side: S3Side, retry_every: float) -> asyncio.Task[None] | None:
    """Start following the bucket. A missing bucket is a configuration error; S3 being unreachable is not:
    serve anyway (``/readyz`` says not ready) and keep trying in the background."""
    try:
        await catalog.start()
        return None
    except BucketMissing as e:
        raise ConfigError(f"{side.url}: {e.message}") from e
    except StorageError as e:
        log.warning("%s: first manifest refresh failed (%s); retrying every %.0f s", side.url, e.message,
                    retry_every)

    async def keep_trying() -> None:
        while True:
            await asyncio.sleep(retry_every)
            try:
                await catalog.start()
                log.info("%s: manifests loaded", side.url)
                return
            except StorageError as e:
                log.warning("%s: manifest refresh failed: %s", side.url, e.message)

    return asyncio.create_task(keep_trying(), name=f"catalog-start-{side.url.bucket}")


@asynccontextmanager
async def open_read_path(side: S3Side, cache: CacheSettings, *, metrics: Metrics, side_name: str = "dest",
                         reader: bool = True, events: EventQueue | None = None) -> AsyncIterator[ReadPath]:
    """Open a bucket's store, start its catalog, open a chunk cache and reader; close all on exit. With
    ``events`` (an open :class:`~app.events.EventQueue`) the catalog follows the bucket by its events.

    Registers the store, cache and catalog collectors in ``metrics`` under ``side=side_name``.
    """
    async with ObjectStore(side) as store:
        catalog = Catalog(store, refresh_interval=cache.manifest_refresh_interval,
                          max_refresh_interval=cache.manifest_max_refresh_interval,
                          discovery_interval=cache.discovery_interval,
                          discovery_max_interval=cache.discovery_max_interval,
                          cluster_uuid=cache.cluster_uuid or None)
        chunk_cache = None
        part_reader = None
        if reader:
            chunk_cache = await ChunkCache(
                store, cache.directory / cache_dir_name(side), max_bytes=cache.max_bytes,
                chunk_size=cache.chunk_size, memory_bytes=cache.memory_bytes,
                readahead_chunks=cache.readahead_chunks).open()
            part_reader = PartitionReader(
                catalog, chunk_cache, read_size=cache.read_size, index_cache_entries=cache.index_cache_entries,
                runs=BatchRuns(max_entries=cache.batch_runs_max_entries,
                               runs_per_partition=cache.batch_runs_per_partition))
            metrics.watch_cache(chunk_cache)
        metrics.watch_store(store, side=side_name)
        metrics.watch_catalog(catalog, side=side_name)
        if events is not None:
            subscribe(events, side.url, catalog.on_bucket_event, catalog.set_hinted)
        retry = await _start_catalog(catalog, side, max(1.0, cache.manifest_refresh_interval))
        try:
            yield ReadPath(side, store, catalog, chunk_cache, part_reader)
        finally:
            if retry is not None:
                retry.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await retry
            await catalog.stop()
            if chunk_cache is not None:
                await chunk_cache.close()
