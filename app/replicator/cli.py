"""``shadowreplica sync | verify | status`` (registered into ``app.cli`` on import).

    shadowreplica sync   --source s3://bucket[/prefix] --source-region R1 --dest s3://bucket2[/prefix]
                         --dest-region R2 [--topics PATTERN] [--once | --follow] [--poll-interval 1]
                         [--concurrency 32] [--multipart-threshold 64MiB] [--retention mirror|keep]
                         [--shard i/n] [--checkpoint PATH]
    shadowreplica verify --dest s3://... [--source s3://...] [--topics PATTERN] [--json] [--deep]
    shadowreplica status --dest s3://... [--source s3://...] [--topics PATTERN]

Every sync flag has a ``[replicator]`` config-file key and a ``SHADOWREPLICA_REPLICATOR_*`` variable
(``app.replicator.options``); endpoints, regions and credentials per side come from ``--source-*``/``--dest-*``
flags, ``SHADOWREPLICA_SOURCE_*``/``SHADOWREPLICA_DEST_*`` variables, ``[source]``/``[dest]`` tables, then the
standard ``AWS_*`` variables. The source is only ever read (and named as a copy source).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import signal
import sys
from typing import Any

from app.cli import add_cluster_flag, add_s3_flags, command, side_from_args
from app.config import EventsSettings, S3Side, load_file, parse_size, settings_from_args
from app.errors import ConfigError
from app.events import add_events_flag, open_events, subscribe
from app.replicator.loop import Replicator
from app.replicator.model import Shard, TopicFilter
from app.replicator.options import SyncConfig, load_sync_config
from app.replicator.status import bucket_status
from app.replicator.verify import verify_bucket
from app.store import ObjectStore
from app.tools.progress import Progress, human_bytes
from segment_format.keys import is_cluster_uuid


def _sides(args: argparse.Namespace, *, need_source: bool) -> tuple[S3Side | None, S3Side]:
    source = side_from_args(args, args.source, "source", "source-") if args.source else None
    if need_source and source is None:
        raise ConfigError("--source is required")
    dest = side_from_args(args, args.dest, "dest", "dest-")
    return source, dest


def _client_side(side: S3Side, concurrency: int) -> S3Side:
    """The connection pool fits the concurrency. (Each S3 request is retried on its own by the store, with
    the replicator's ``--max-retries`` and back-off, which the replicator sets on its stores.)"""
    return dataclasses.replace(side, max_pool_connections=max(side.max_pool_connections, 2 * concurrency))


# ---------------------------------------------------------------------------------------------------- sync


def add_scope_flags(p: argparse.ArgumentParser) -> None:
    """What to replicate and how long to keep it (``sync`` and ``run``; read by :func:`config_from_args`)."""
    p.add_argument("--topics", default=None, help="fnmatch pattern(s), comma separated; !PATTERN excludes")
    p.add_argument("--retention", choices=("mirror", "keep"), default=None,
                   help="mirror: delete what the source dropped (manifest first); keep: keep history")
    p.add_argument("--shard", default=None, metavar="I/N", help="own the partitions hashing to I of N instances")
    add_cluster_flag(p)


def _sync_args(p: argparse.ArgumentParser) -> None:
    add_s3_flags(p, "source", url_flag="source")
    add_s3_flags(p, "dest", url_flag="dest")
    add_scope_flags(p)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="catch up once and exit (default)")
    mode.add_argument("--follow", action="store_true", help="keep following the source")
    p.add_argument("--poll-interval", type=float, default=None, help="seconds between manifest polls (default 1)")
    p.add_argument("--concurrency", type=int, default=None, help="concurrent S3 copy requests (default 32)")
    p.add_argument("--multipart-threshold", default=None, help="multipart copy at/above this size (default 64MiB)")
    p.add_argument("--multipart-part-size", default=None, help="multipart copy part size (default 64MiB)")
    p.add_argument("--checkpoint", default=None, metavar="PATH", help="optional local checkpoint file")
    p.add_argument("--verify", choices=("auto", "head"), default=None,
                   help="auto: HEAD after a copy only when the key does not pin the size; head: always")
    p.add_argument("--discovery-interval", type=float, default=None, help="seconds between listings (default 10)")
    p.add_argument("--commit-interval", type=float, default=None, help="longest wait for a manifest commit (5)")
    p.add_argument("--max-retries", type=int, default=None,
                   help="attempts in a row per S3 request before sync fails naming it (default 8)")
    p.add_argument("--copy-mode", choices=("auto", "server", "stream"), default=None,
                   help="server: server-side copies only; stream: through this process (another provider, or a "
                        "destination that may not read the source); auto (default): server-side when possible")
    p.add_argument("--gc", action="store_true", default=None,
                   help="after the pass, delete destination segment objects no manifest names (older than --gc-grace)")
    p.add_argument("--gc-grace", type=float, default=None, help="seconds an orphan must be old to be deleted (3600)")
    p.add_argument("--gc-interval", type=float, default=None,
                   help="--follow: seconds between orphan collections (default 0: off)")
    add_events_flag(p, what="the source (with --follow)")
    p.add_argument("--json", action="store_true", help="print the final report and metrics as JSON")
    p.add_argument("--no-progress", action="store_true")


def config_from_args(args: argparse.Namespace) -> SyncConfig:
    """The replicator's settings from the flags a command has (``run`` has only the scope flags)."""
    def flag(name: str) -> Any:
        return getattr(args, name, None)

    sizes = {name: parse_size(flag(name)) if flag(name) else None
             for name in ("multipart_threshold", "multipart_part_size")}
    names = ("poll_interval", "concurrency", "retention", "topics", "cluster_uuid", "max_retries", "checkpoint", "verify",
             "discovery_interval", "commit_interval", "gc", "gc_grace", "gc_interval", "copy_mode")
    flags: dict[str, Any] = {name: flag(name) for name in names} | sizes
    if flag("topics") is not None:
        TopicFilter.parse(flag("topics"))
    if flag("shard") is not None:
        shard = Shard.parse(flag("shard"))
        flags.update(shard_index=shard.index, shard_count=shard.count)
    table = load_file(getattr(args, "config", None)).get("replicator", {})
    return load_sync_config(table, **flags)


async def run_sync(source: S3Side, dest: S3Side, config: SyncConfig, *, follow: bool, progress: bool = True,
                   stop: asyncio.Event | None = None,
                   events: EventsSettings | None = None) -> tuple[int, dict[str, Any]]:
    """The ``sync`` command as a coroutine: (exit code, JSON-ready report)."""
    conc = config.replicator.concurrency
    bar = Progress(1, "sync", enabled=progress)
    async with ObjectStore(_client_side(source, conc)) as src, ObjectStore(_client_side(dest, conc)) as dst:
        rep = Replicator(src, dst, config, progress=bar, create_dest=True)
        if follow:
            stop = stop or asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, stop.set)
            async with open_events(events or EventsSettings(), source) as queue:
                if queue is not None:
                    subscribe(queue, source.url, rep.on_bucket_event, rep.set_hinted)
                await rep.run_forever(stop)
            bar.close()
            return 0, {"metrics": rep.metrics.snapshot()}
        report = await rep.run_once()
        bar.close()
        reasons = {str(w.pid): w.lag.last_error for w in rep.workers.values()
                   if str(w.pid) in report.failed and w.lag.last_error}
        out = {"report": dataclasses.asdict(report), "ok": report.ok, "metrics": rep.metrics.snapshot(),
               "errors": reasons}
        return (0 if report.ok else 1), out


@command("sync")(_sync_args)
def run_sync_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    source, dest = _sides(args, need_source=True)
    assert source is not None
    if (source.url.bucket, source.url.prefix, source.endpoint_url) == (dest.url.bucket, dest.url.prefix,
                                                                       dest.endpoint_url):
        raise ConfigError("--source and --dest name the same place")
    events = settings_from_args(args).events
    if events.queue and not args.follow:
        raise ConfigError("--events-queue follows the source: use it with --follow")
    code, out = asyncio.run(run_sync(source, dest, config, follow=args.follow,
                                     progress=not args.no_progress and not args.json, events=events))
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    elif "report" in out:
        r = out["report"]
        m = out["metrics"]
        print(f"synced {source.url} -> {dest.url}: {r['caught_up']}/{r['partitions']} partitions caught up, "
              f"{r['copied_objects']} objects ({human_bytes(r['copied_bytes'])}) copied "
              f"{'server-side' if m['copy_mode'] == 'server' else 'through this process'} in "
              f"{r['seconds']:.1f} s, {m['deleted_objects']} deleted, {m['retries']} retries"
              + (f", {human_bytes(m['streamed_bytes'])} streamed through this process" if m["streamed_bytes"] else ""))
        if r.get("gc") is not None:
            g = r["gc"]
            print(f"gc: {g['deleted']} orphan object(s) ({human_bytes(g['deleted_bytes'])}) no manifest named "
                  f"deleted, {g.get('uploads_aborted', 0)} unfinished multipart upload(s) aborted" + (f"; skipped topics with unreadable manifests: {', '.join(g['skipped_topics'])}"
                                if g["skipped_topics"] else ""))
        for name in r["failed"]:
            reason = out.get("errors", {}).get(name) or "see the log"
            print(f"error: partition {name} is not up to date: {reason}", file=sys.stderr)
        for name in r["topics_failed"]:
            print(f"error: {name}: manifest not replicated (see the log)", file=sys.stderr)
    return code


# -------------------------------------------------------------------------------------------- verify/status


def _check_args(p: argparse.ArgumentParser) -> None:
    add_s3_flags(p, "dest", url_flag="dest")
    p.add_argument("--source", default=None, metavar="s3://BUCKET[/PREFIX]", help="also compare with the source")
    add_s3_flags(p, "source")
    p.add_argument("--topics", default="*", help="fnmatch pattern(s), comma separated")
    add_cluster_flag(p)


def _cluster_uuids(args: argparse.Namespace) -> tuple[str, ...] | None:
    uuid = getattr(args, "cluster_uuid", None)
    if not uuid:
        return None
    if not is_cluster_uuid(uuid):
        raise ConfigError(f"--cluster-uuid {uuid!r} is not a cluster UUID (expected a lower-case hyphenated UUID)")
    return (uuid,)


def _verify_args(p: argparse.ArgumentParser) -> None:
    _check_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument("--deep", action="store_true",
                   help="also read every segment: both CRCs, cut-short batches, early ends (key and byte position)")


async def _verify(source: S3Side | None, dest: S3Side, topics: TopicFilter, *, deep: bool = False,
                  cluster_uuids: tuple[str, ...] | None = None) -> Any:
    async with ObjectStore(dest) as dst:
        if source is None:
            return await verify_bucket(dst, None, include=topics, deep=deep, cluster_uuids=cluster_uuids)
        async with ObjectStore(source) as src:
            return await verify_bucket(dst, src, include=topics, deep=deep, cluster_uuids=cluster_uuids)


@command("verify")(_verify_args)
def run_verify(args: argparse.Namespace) -> int:
    source, dest = _sides(args, need_source=False)
    report = asyncio.run(_verify(source, dest, TopicFilter.parse(args.topics), deep=args.deep,
                                 cluster_uuids=_cluster_uuids(args)))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok else 1


async def _status(source: S3Side | None, dest: S3Side, topics: TopicFilter,
                  cluster_uuids: tuple[str, ...] | None = None) -> dict[str, Any]:
    async with ObjectStore(dest) as dst:
        if source is None:
            return await bucket_status(dst, None, include=topics, cluster_uuids=cluster_uuids)
        async with ObjectStore(source) as src:
            return await bucket_status(dst, src, include=topics, cluster_uuids=cluster_uuids)


@command("status")(_check_args)
def run_status(args: argparse.Namespace) -> int:
    source, dest = _sides(args, need_source=False)
    print(json.dumps(asyncio.run(_status(source, dest, TopicFilter.parse(args.topics), _cluster_uuids(args))),
                     indent=2))
    return 0
