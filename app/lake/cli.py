"""`shadowreplica export` and `shadowreplica sql`.

    shadowreplica export --bucket s3://dest --warehouse s3://dest/lake [--catalog URI] [--namespace redpanda]
                         [--topics a,b] [--once|--follow] [--json]
    shadowreplica sql --warehouse s3://dest/lake "SELECT ..." [--json|--csv]

S3 settings of the warehouse default to the bucket's (``--warehouse-region``/``--warehouse-endpoint-url``
override them). Catalog properties (``--catalog-property k=v``, repeatable) go to pyiceberg's
``load_catalog`` as they are (``type=glue``, ``credential=...``, ``warehouse=...``).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from contextlib import AsyncExitStack
from typing import Any

from app.cli import add_cluster_flag, add_s3_flags, command, side_from_args
from app.config import settings_from_args
from app.errors import ConfigError
from app.lake.options import (
    add_lake_flags,
    lake_from_args,
    open_lake,
    table_locations,
    topic_filter,
)
from app.metrics import Metrics

# ---------------------------------------------------------------------------------------------- export


def _export_args(p: argparse.ArgumentParser) -> None:
    add_s3_flags(p, url_flag="bucket")
    add_cluster_flag(p)
    add_lake_flags(p)
    p.add_argument("--topics", default=None, help="comma-separated topics or fnmatch patterns (default: all)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="export what the replica has now, then exit (default)")
    mode.add_argument("--follow", action="store_true", help="keep exporting as the replica grows")
    p.add_argument("--json", action="store_true", help='print {"tables": [...]} instead of a progress bar')
    p.add_argument("--cache-dir", default=None, help="chunk cache directory")
    p.add_argument("--commit-bytes", default=None,
                   help="a table commit once this many stored bytes are written (default 1GiB; also every "
                        "[export] commit_interval, 60 s)")


async def export_command(args: argparse.Namespace) -> int:
    from app.lake.export import Exporter, ExportMetrics
    from app.readpath import open_read_path
    from app.tools.progress import Progress

    loaded = settings_from_args(args)
    cache, settings = loaded.cache, loaded.export
    side = side_from_args(args, args.bucket, "dest")
    opts = lake_from_args(args, base=side, cache_dir=cache.directory)
    await opts.warehouse.check_writable()
    lake = await open_lake(opts)
    metrics = Metrics()
    export_metrics = ExportMetrics()
    metrics.add_collector(export_metrics.families)
    async with AsyncExitStack() as stack:
        replica = await stack.enter_async_context(open_read_path(side, cache, metrics=metrics, side_name="dest"))
        assert replica.reader is not None
        if not replica.catalog.ready:
            raise ConfigError(f"{side.url}: the replica's manifests could not be read")
        wanted = topic_filter(args.topics)
        total = sum(p.size_bytes for t, v in replica.catalog.topics.items() if wanted is None or wanted(t)
                    for p in v.partitions.values())
        bar = Progress(total, "export", enabled=not args.json)
        exporter = Exporter(replica.catalog, replica.reader, lake, opts.warehouse, source=str(side.url),
                            settings=settings, topics=wanted, metrics=export_metrics,
                            on_progress=lambda nbytes, records: bar.advance(nbytes, records))

        def report(results: list[Any]) -> None:
            if args.json:
                print(json.dumps({"tables": [r.to_dict() for r in results]}), flush=True)
            else:
                for r in results:
                    lag = sum(p.lag for p in r.partitions)
                    print(f"{r.table}: {r.records} records ({r.exported} new, {r.commits} commits), lag {lag} "
                          f"offsets, {r.metadata_location}", file=sys.stderr, flush=True)
                    for p in r.partitions:
                        if p.error:
                            print(f"error: {r.table} partition {p.partition} stopped at offset {p.next_offset}: "
                                  f"{p.error['message']} (object {p.error['key']}, byte {p.error['position']})",
                                  file=sys.stderr)

        if args.follow:
            import signal

            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await exporter.follow(stop, on_round=report)
            return 0
        results = await exporter.export_once()
        bar.close()
        report(results)
        return 1 if any(r.error for r in results) else 0


@command("export")(_export_args)
def run_export(args: argparse.Namespace) -> int:
    return asyncio.run(export_command(args))


# ------------------------------------------------------------------------------------------------- sql


def _sql_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", help="one SELECT statement")
    add_lake_flags(p)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the result as JSON")
    out.add_argument("--csv", action="store_true", help="print the result as CSV")
    p.add_argument("--max-rows", type=int, default=None)
    p.add_argument("--timeout", type=float, default=None, help="seconds before the query is stopped")


def _print_table(result: Any) -> None:
    from app.lake.sql import json_value

    def text(v: Any) -> str:
        j = json_value(v)
        return j if isinstance(j, str) else json.dumps(j)

    rows = [[text(v) for v in row] for row in result.rows]
    widths = [min(60, max([len(c)] + [len(r[i]) for r in rows])) for i, c in enumerate(result.columns)]
    print("  ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join((v if len(v) <= w else v[: w - 1] + "…").ljust(w) for v, w in zip(r, widths, strict=True)))


async def sql_command(args: argparse.Namespace) -> int:
    from app.lake.sql import SqlEngine, json_value

    loaded = settings_from_args(args)
    cache, settings = loaded.cache, loaded.sql
    opts = lake_from_args(args, base=None, cache_dir=cache.directory)
    engine = SqlEngine(opts.warehouse, await table_locations(opts), settings)
    result = await engine.run(args.query)
    if args.json:
        print(json.dumps(result.to_dict()))
    elif args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        for row in result.rows:
            writer.writerow([v if isinstance(v := json_value(x), str) else json.dumps(v) for x in row])
    else:
        _print_table(result)
        print(f"({len(result.rows)} rows{', truncated' if result.truncated else ''}, {result.seconds:.3f} s)",
              file=sys.stderr)
    return 0


@command("sql")(_sql_args)
def run_sql(args: argparse.Namespace) -> int:
    return asyncio.run(sql_command(args))
