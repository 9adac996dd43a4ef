"""`shadowreplica http`: serve the API and web page for one bucket.

    shadowreplica http --bucket s3://dest --region eu-west-1 --listen 127.0.0.1:8080 \\
        [--source s3://source --source-region us-east-1]     # /replication compares the two buckets

The bearer token comes from the config file (``[http] token``) or ``SHADOWREPLICA_HTTP_TOKEN``, never from
a flag. Prints ``serving s3://... on http://HOST:PORT`` once it listens (``--listen HOST:0`` picks a port).
"""

from __future__ import annotations

import argparse
import asyncio
from contextlib import AsyncExitStack
from typing import Any

from app.cli import add_cluster_flag, add_s3_flags, command, side_from_args
from app.config import CacheSettings, S3Side, Settings, settings_from_args
from app.events import add_events_flag, open_events
from app.metrics import Metrics


def add_http_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", default=None, metavar="HOST:PORT", help="address to serve on (default 127.0.0.1:8080)")
    p.add_argument("--cache-dir", default=None, help="chunk cache directory (default ~/.cache/shadowreplica)")
    add_cluster_flag(p)


def _args(p: argparse.ArgumentParser) -> None:
    add_s3_flags(p, url_flag="bucket")
    add_http_flags(p)
    p.add_argument("--source", default=None, metavar="s3://BUCKET[/PREFIX]",
                   help="the source bucket: /replication then compares source and destination manifests")
    add_s3_flags(p, "source")
    add_events_flag(p, what="the bucket (and --source)")
    from app.lake.options import add_lake_flags

    add_lake_flags(p, required=False)  # --warehouse enables GET /sql over the exported tables


async def serve(args: argparse.Namespace) -> None:
    from app.group_lag import GroupLagSource
    from app.group_offsets import OffsetStore
    from app.http.app import create_app
    from app.http.replication import CatalogComparison
    from app.http.serve import serve_http
    from app.readpath import open_read_path

    settings = settings_from_args(args)
    http, cache = settings.http, settings.cache
    dest_side = side_from_args(args, args.bucket, "dest")
    metrics = Metrics(prices=settings.cost)
    async with AsyncExitStack() as stack:
        # one queue may carry both buckets' events (they name their bucket)
        queue = await stack.enter_async_context(open_events(settings.events, dest_side))
        if queue is not None:
            metrics.watch_events(queue)
        dest = await stack.enter_async_context(open_read_path(dest_side, cache, metrics=metrics, side_name="dest",
                                                              events=queue))
        assert dest.reader is not None  # opened with a reader (the default)
        source_catalog = None
        if args.source:
            source_side = side_from_args(args, args.source, "source", "source-")
            source = await stack.enter_async_context(
                open_read_path(source_side, cache, metrics=metrics, side_name="source", reader=False, events=queue))
            source_catalog = source.catalog
        replication = CatalogComparison(dest.catalog, source_catalog, dest_name=str(dest_side.url),
                                        source_name=args.source)
        groups = GroupLagSource(OffsetStore(dest.store, settings.kafka.group_offsets_prefix), dest.catalog,
                                dest.reader)  # the group offsets live where [kafka] says
        app = create_app(http, dest.catalog, dest.reader, metrics=metrics, replication=replication,
                         bucket_name=str(dest_side.url), sql=sql_from_args(args, settings, dest_side, cache),
                         groups=groups)
        await serve_http(app, http.listen, banner=f"serving {dest_side.url}", graceful_shutdown=http.graceful_shutdown)


def sql_from_args(args: argparse.Namespace, settings: Settings, base: S3Side, cache: CacheSettings) -> Any:
    """``GET /sql``'s query source when ``--warehouse`` is given (None otherwise)."""
    if not getattr(args, "warehouse", None):
        return None
    from app.lake.options import lake_from_args, table_locations
    from app.lake.sql import WarehouseQueries

    opts = lake_from_args(args, base=base, cache_dir=cache.directory)
    return WarehouseQueries(opts.warehouse, settings.sql, lambda: table_locations(opts))


@command("http")(_args)
def run_http(args: argparse.Namespace) -> int:
    asyncio.run(serve(args))
    return 0
