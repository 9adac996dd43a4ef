"""`shadowreplica run`: replicator + Kafka shim + HTTP API in one process, from one config.

    shadowreplica run --source s3://source --dest s3://dest [--listen 127.0.0.1:8080] [--config FILE]

Theory of operation
-------------------
* One :class:`ReadPath` per bucket (store → catalog → chunk cache → reader), opened by
  :func:`open_read_path`. The destination's is shared by the Kafka shim and the HTTP API: one read path,
  one cache, one set of manifests in memory.
* One :class:`~app.metrics.Metrics` registry for the process; each face registers into it.
* Every face is a coroutine run in one ``asyncio.TaskGroup``: if one fails, the others are cancelled and
  the command exits non-zero with the error, instead of limping on half-alive.
* ``serve``, ``sync`` and ``http`` remain separate commands; this one composes what exists in the tree.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import math
import sys
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from app.cli import add_s3_flags, command, side_from_args
from app.config import CacheSettings, S3Side, Settings, load_file, load_settings
from app.errors import ConfigError
from app.events import add_events_flag, open_events, subscribe
from app.http.serve import serve_http
from app.kafka.cli import add_listener_flags
from app.metrics import Metrics
from app.readpath import ReadPath, open_read_path
from app.replicator.cli import add_scope_flags
from app.store import ObjectStore

if TYPE_CHECKING:
    from app.http.replication import CatalogComparison, ReplicationStatus
    from app.replicator.loop import Replicator

log = logging.getLogger(__name__)

__all__ = ["run_all"]


# ----------------------------------------------------------------------------------------------- run


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", default=None, metavar="s3://BUCKET[/PREFIX]",
                   help="source bucket to replicate from (or [run] source); without it nothing is replicated")
    add_s3_flags(p, "source")
    p.add_argument("--dest", default=None, metavar="s3://BUCKET[/PREFIX]",
                   help="destination bucket: replicated to, served by Kafka and HTTP (or [run] dest)")
    add_s3_flags(p, "dest")
    p.add_argument("--listen", default=None, metavar="HOST:PORT", help="HTTP address (default 127.0.0.1:8080)")
    add_listener_flags(p)
    p.add_argument("--cache-dir", default=None, help="chunk cache directory")
    add_scope_flags(p)
    add_events_flag(p, what="the source (the destination with --without sync)")
    p.add_argument("--without", default="", metavar="FACES",
                   help="comma-separated faces not to start: sync, kafka, http")
    p.add_argument("--with", dest="with_faces", default="", metavar="FACES",
                   help="comma-separated optional faces to start: export (Iceberg tables, needs --warehouse)")
    from app.lake.options import add_lake_flags

    add_lake_flags(p, required=False)  # --warehouse: GET /sql over the tables, and where --with export writes


class ReplicatorStatus:
    """``/replication`` when the replicator runs in this process: offsets and restorable points from the
    two buckets' manifests, lag in seconds and the last error from the replicator itself."""

    def __init__(self, comparison: CatalogComparison, replicator: Replicator) -> None:
        self.comparison = comparison
        self.replicator = replicator

    def ready(self) -> bool:
        return self.comparison.ready()

    def status(self) -> ReplicationStatus:
        base = self.comparison.status()
        lags = {(lag.topic, lag.partition): lag for lag in self.replicator.metrics.partitions.values()}
        rows = []
        for row in base.partitions:
            lag = lags.get((row.topic, row.partition))
            if lag is not None:
                row = dataclasses.replace(row, pending_seconds=round(lag.lag_seconds(), 3),
                                          last_error=lag.last_error or row.last_error)
            rows.append(row)
        return dataclasses.replace(base, mode="replicator", partitions=tuple(rows))


async def run_all(args: argparse.Namespace) -> None:
    """Replicator (``--follow``) + Kafka shim + HTTP API over one destination read path."""
    from app.group_lag import GroupLagSource, LiveMembership
    from app.group_offsets import OffsetStore
    from app.http.app import create_app
    from app.http.replication import CatalogComparison
    from app.kafka.cli import kafka_face
    from app.replicator.cli import _client_side, config_from_args
    from app.replicator.loop import Replicator
    from app.replicator.metrics import replicator_families

    file_cfg = load_file(args.config)
    run_cfg = file_cfg.get("run", {})
    source_url = args.source or run_cfg.get("source")
    dest_url = args.dest or run_cfg.get("dest")
    if not dest_url:
        raise ConfigError("run needs --dest (or `dest` in the [run] section of the config file)")
    without = {w.strip() for w in (args.without or ",".join(run_cfg.get("without", []))).split(",") if w.strip()}
    if without - {"sync", "kafka", "http"}:
        raise ConfigError(f"--without takes sync, kafka, http; not {', '.join(sorted(without))}")
    with_faces = {w.strip() for w in (args.with_faces or ",".join(run_cfg.get("with", []))).split(",") if w.strip()}
    if with_faces - {"export"}:
        raise ConfigError(f"--with takes export; not {', '.join(sorted(with_faces - {'export'}))}")
    warehouse_url = args.warehouse or run_cfg.get("warehouse")
    if "export" in with_faces and not warehouse_url:
        raise ConfigError("--with export needs --warehouse s3://bucket/prefix (or `warehouse` in [run])")
    settings = load_settings(file_cfg, args)
    http, kafka, cache = settings.http, settings.kafka, settings.cache
    dest_side = side_from_args(args, dest_url, "dest", "dest-")
    source_side = side_from_args(args, source_url, "source", "source-") if source_url else None
    sync_cfg = config_from_args(args)
    metrics = Metrics(prices=settings.cost)
    stop = asyncio.Event()
    faces: list[str] = []
    replicating = source_side is not None and "sync" not in without
    async with AsyncExitStack() as stack:
        # the replicator follows the source by its events; without it the catalogs follow their buckets by theirs
        events = settings.events
        queue = await stack.enter_async_context(open_events(
            events, source_side if replicating and source_side else dest_side))
        if queue is not None:
            metrics.watch_events(queue)
        catalog_events = None if replicating else queue
        dest = await stack.enter_async_context(open_read_path(dest_side, cache, metrics=metrics, side_name="dest",
                                                              events=catalog_events))
        assert dest.reader is not None
        source_catalog = None
        if source_side is not None:
            source = await stack.enter_async_context(open_read_path(
                source_side, cache, metrics=metrics, side_name="source", reader=False, events=catalog_events))
            source_catalog = source.catalog
        replication: Any = CatalogComparison(dest.catalog, source_catalog, dest_name=str(dest_side.url),
                                             source_name=str(source_side.url) if source_side else None)
        replicator = None
        if replicating:
            assert source_side is not None
            conc = sync_cfg.replicator.concurrency
            src = await stack.enter_async_context(ObjectStore(_client_side(source_side, conc)))
            dst = await stack.enter_async_context(ObjectStore(_client_side(dest_side, conc)))
            await dst.ensure_bucket()
            replicator = Replicator(src, dst, sync_cfg)
            # both catalogs are fed by the replicator (its commits, every source manifest it reads): they do not
            # poll partition manifests, a discovery every cache.fed_refresh_interval is their safety net
            replicator.on_commit = dest.catalog.accept_commit
            # unsharded, nobody else writes the destination: only the hourly full listing stays as a safety net
            sharded = sync_cfg.shard.count > 1
            dest.catalog.set_hinted(True, cache.fed_refresh_interval if sharded else events.full_listing_interval,
                                    events.full_listing_interval)
            if source_catalog is not None:  # ... and its discoveries: the source catalog lists nothing itself
                replicator.on_source = source_catalog.accept_commit
                replicator.on_listing = source_catalog.accept_listing
                source_catalog.set_hinted(True, math.inf)
            if queue is not None:
                subscribe(queue, source_side.url, replicator.on_bucket_event, replicator.set_hinted)
            metrics.watch_store(src, side="sync_source")
            metrics.watch_store(dst, side="sync_dest")
            rep_metrics = replicator.metrics
            metrics.add_collector(lambda: replicator_families(rep_metrics, s3=False))
            replication = ReplicatorStatus(replication, replicator)
        lake_face = None
        sql = None
        if warehouse_url:
            lake_face, sql = await _lake(args, settings, dest_side, dest, cache, metrics, warehouse_url,
                                         export="export" in with_faces)
        offsets = OffsetStore(dest.store, kafka.group_offsets_prefix)  # one copy for Kafka and /groups
        membership = LiveMembership()
        groups = GroupLagSource(offsets, dest.catalog, dest.reader, membership=membership)
        app = create_app(http, dest.catalog, dest.reader, metrics=metrics, replication=replication,
                         bucket_name=str(dest_side.url), lag_metrics=replicator is None, sql=sql, groups=groups)

        errors: list[BaseException] = []

        async def face(name: str, coro: Awaitable[None]) -> None:
            """A face ending, by error or not, stops the others gracefully (a TaskGroup would cancel them
            mid-request); its error is raised once they are done."""
            try:
                await coro
            except Exception as e:
                log.error("%s stopped: %s", name, getattr(e, "message", e))
                errors.append(e)
            finally:
                stop.set()

        if "http" in without:  # uvicorn handles the signals when it runs
            import signal

            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, stop.set)
        async with asyncio.TaskGroup() as tg:
            if replicator is not None:
                tg.create_task(face("replicator", replicator.run_forever(stop)))
                faces.append(f"replicator ({source_side.url if source_side else ''} -> {dest_side.url})")
            if lake_face is not None:
                tg.create_task(face("export", lake_face.follow(stop)))
                faces.append(f"export ({lake_face.warehouse.location})")
            if "kafka" not in without:
                tg.create_task(face("kafka", kafka_face(dest_side, dest.store, dest.catalog, dest.reader, kafka,
                                                        stop=stop, metrics=metrics, offsets=offsets,
                                                        membership=membership)))
                faces.append(f"kafka ({kafka.listen})")
            if "http" not in without:
                tg.create_task(face("http", serve_http(app, http.listen, banner=f"HTTP API for {dest_side.url}",
                                                       graceful_shutdown=http.graceful_shutdown,
                                                       stop=stop)))
                faces.append(f"http ({http.listen})")
            print(f"run: started {', '.join(faces)}", file=sys.stderr, flush=True)
        if errors:
            raise errors[0]


async def _lake(args: argparse.Namespace, settings: Settings, dest_side: S3Side, dest: ReadPath,
                cache: CacheSettings, metrics: Metrics, warehouse_url: str, *, export: bool) -> tuple[Any, Any]:
    """``--warehouse``: the SQL source for ``GET /sql`` and, with ``--with export``, an exporter following the
    destination's catalog (its metrics in this process's registry)."""
    from app.lake.export import Exporter, ExportMetrics
    from app.lake.options import lake_from_args, open_lake, table_locations
    from app.lake.sql import WarehouseQueries

    opts = lake_from_args(args, base=dest_side, cache_dir=cache.directory, warehouse_url=warehouse_url)
    sql = WarehouseQueries(opts.warehouse, settings.sql, lambda: table_locations(opts))
    if not export:
        return None, sql
    assert dest.reader is not None
    await opts.warehouse.check_writable()
    lake = await open_lake(opts)
    export_metrics = ExportMetrics()
    metrics.add_collector(export_metrics.families)
    exporter = Exporter(dest.catalog, dest.reader, lake, opts.warehouse, source=str(dest_side.url),
                        settings=settings.export, metrics=export_metrics)
    return exporter, sql


@command("run")(_args)
def run_run(args: argparse.Namespace) -> int:
    asyncio.run(run_all(args))
    return 0
