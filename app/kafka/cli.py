"""`shadowreplica serve` (the Kafka shim) and `shadowreplica groups import` (seed committed offsets).

    shadowreplica serve --bucket s3://dest --region eu-west-1 --kafka 0.0.0.0:9092 \\
        [--advertise host:port] [--peers h1:9092,h2:9092] [--cache-dir DIR] [--cache-size 2GiB]
    shadowreplica groups import FILE --bucket s3://dest [--replace] [--dry-run]

Settings come from (lowest first) defaults, the TOML config file (``--config``/``SHADOWREPLICA_CONFIG``,
sections ``[kafka]`` and ``[cache]``), ``SHADOWREPLICA_KAFKA_<FIELD>`` / ``SHADOWREPLICA_CACHE_<FIELD>``
environment variables, then these flags. Users and ACLs (see :mod:`app.kafka.auth`) go in the file, or
as JSON in ``SHADOWREPLICA_KAFKA_USERS`` / ``SHADOWREPLICA_KAFKA_ACLS``; TLS is ``tls_certfile``,
``tls_keyfile``, ``tls_cafile``, ``tls_require_client_cert``. Example::

    [kafka]
    listen = "0.0.0.0:9093"
    tls_certfile = "/etc/shadowreplica/server.pem"
    tls_keyfile = "/etc/shadowreplica/server.key"
    [kafka.users.alice]
    password = "..."
    [kafka.acls.alice]
    topics = ["orders*"]
    groups = ["alice-*"]

Import file formats (``groups import``), detected from the content:

* JSON object: ``{"groups": {"GROUP": {"TOPIC": {"PARTITION": OFFSET, ...}}}}``; an offset may also be
  ``{"offset": N, "metadata": "...", "leader_epoch": E}``.
* JSON list of rows, or CSV with a header row: ``group,topic,partition,offset[,metadata][,leader_epoch]``.
* The table ``kafka-consumer-groups.sh --describe --all-groups`` prints (columns ``GROUP TOPIC PARTITION
  CURRENT-OFFSET ...``; rows whose CURRENT-OFFSET is ``-`` are skipped).

Offsets are Kafka offsets; the replica serves the source's Kafka offsets unchanged, so positions exported
from the source cluster are valid here. Imported offsets merge into what a group already has (``--replace``
drops the rest); topics or partitions the bucket does not have, and offsets outside a partition's
range, are reported (a consumer resets those per ``auto.offset.reset``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import csv
import io
import json
import logging
import re
import signal
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli import add_cluster_flag, add_s3_flags, command, side_from_args
from app.config import CacheSettings, EventsSettings, KafkaSettings, S3Side, settings_from_args
from app.errors import ConfigError, CorruptData, ShadowReplicaError
from app.events import add_events_flag, open_events

if TYPE_CHECKING:
    from app.catalog import Catalog
    from app.metrics import Metrics
    from app.reader import PartitionReader
    from app.store import ObjectStore

log = logging.getLogger("app.kafka")

__all__ = ["ImportRow", "add_listener_flags", "kafka_face", "parse_import", "run_groups",
           "run_serve", "serve"]


# ------------------------------------------------------------------------------------------ serve


def add_listener_flags(p: argparse.ArgumentParser) -> None:
    """``--kafka``, ``--advertise``, ``--peers``: read by :func:`app.config.load_settings` (``serve`` and ``run``)."""
    p.add_argument("--kafka", default=None, metavar="HOST:PORT", help="listen address (default 0.0.0.0:9092)")
    p.add_argument("--advertise", default=None, metavar="HOST:PORT",
                   help="address clients reconnect to (default: the listen address, wildcard → host name)")
    p.add_argument("--peers", default=None, metavar="H1:P1,H2:P2",
                   help="every serve instance's advertised address (the same list on each instance)")


def _serve_args(p: argparse.ArgumentParser) -> None:
    add_s3_flags(p, url_flag="bucket")
    add_listener_flags(p)
    p.add_argument("--cache-dir", default=None, type=Path, help="local segment cache directory")
    p.add_argument("--cache-size", default=None, help="cache size cap on disk (e.g. 2GiB)")
    add_cluster_flag(p)
    add_events_flag(p, what="the bucket")


def cluster_id_for(side: S3Side) -> str:
    """A Kafka-style cluster id (22 chars of base64) stable for a bucket."""
    raw = uuid.uuid5(uuid.NAMESPACE_URL, f"shadowreplica:{side.url}").bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _listen_socket(listen: str, backlog: int) -> socket.socket:
    from app.kafka.cluster import parse_host_port

    host, port = parse_host_port(listen, what="--kafka")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=backlog, reuse_port=False)
    except OSError as e:
        raise ConfigError(f"cannot listen on {listen}: {e.strerror}") from e


async def serve(side: S3Side, kafka: KafkaSettings, cache_settings: CacheSettings, *,
                stop: asyncio.Event | None = None, events: EventsSettings | None = None) -> None:
    """Run the shim alone until ``stop`` is set (or SIGTERM/SIGINT), over the bucket's read path
    (:func:`app.readpath.open_read_path`: the same cache layout and start-up retries as ``http`` and ``run``)."""
    from app.metrics import Metrics
    from app.readpath import open_read_path

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    metrics = Metrics()
    async with open_events(events or EventsSettings(), side) as queue, \
            open_read_path(side, cache_settings, metrics=metrics, side_name="dest", events=queue) as path:
        assert path.reader is not None
        if queue is not None:
            metrics.watch_events(queue)
        await kafka_face(side, path.store, path.catalog, path.reader, kafka, stop=stop, metrics=metrics)


async def kafka_face(side: S3Side, store: ObjectStore, catalog: Catalog, reader: PartitionReader,
                     kafka: KafkaSettings, *, stop: asyncio.Event,
                     metrics: Metrics | None = None, offsets: Any = None, membership: Any = None) -> None:
    """The Kafka listener over an open read path (``serve`` alone, or ``run`` beside HTTP and the
    replicator, sharing one catalog and cache): TLS, auth, group coordinator, until ``stop`` is set.
    ``offsets``: the group-offsets store to share (``run`` shares it with HTTP's lag routes); ``membership``:
    an :class:`app.group_lag.LiveMembership` the coordinator is plugged into."""
    from app.group_offsets import OffsetStore
    from app.kafka.auth import Authenticator
    from app.kafka.cluster import Cluster
    from app.kafka.groups import GroupCoordinator
    from app.kafka.handlers import Broker
    from app.kafka.server import KafkaServer, make_ssl_context

    ssl_context = None
    if kafka.tls_certfile is not None:
        try:
            ssl_context = make_ssl_context(kafka.tls_certfile, kafka.tls_keyfile, kafka.tls_cafile,
                                           kafka.tls_require_client_cert)
        except (OSError, ValueError) as e:
            raise ConfigError(f"TLS setup failed: {e}") from e
    auth = Authenticator(kafka, tls=ssl_context is not None)
    sock = _listen_socket(kafka.listen, kafka.listen_backlog)
    bound = sock.getsockname()
    listen = kafka.listen if not kafka.listen.endswith(":0") else f"{kafka.listen.rsplit(':', 1)[0]}:{bound[1]}"
    cluster = Cluster.from_settings(listen, kafka.advertise, kafka.peers)
    offsets = offsets or OffsetStore(store, kafka.group_offsets_prefix)
    coordinator = GroupCoordinator(offsets, initial_rebalance_delay=kafka.group_initial_rebalance_delay)
    coordinator.start()
    if membership is not None:
        membership.source = coordinator
    consumer_offsets = await _consumer_offsets_log(kafka, offsets, coordinator)
    follower = None
    if kafka.group_seed_from_bucket:
        from app.kafka.bucket_offsets import BucketOffsetsFollower

        follower = BucketOffsetsFollower(store, catalog, offsets, interval=kafka.group_seed_interval,
                                         cluster_uuid=catalog.cluster_uuid)
        try:  # before the first client: a consumer joining at once resumes where the snapshot says
            await follower.check()
        except ShadowReplicaError as e:
            log.warning("group offsets from the bucket: %s (will try again)", e.message)
        follower.start()
    broker = Broker(settings=kafka, cluster=cluster, catalog=catalog, reader=reader, coordinator=coordinator,
                    auth=auth, cluster_id=cluster_id_for(side), metrics=metrics, consumer_offsets=consumer_offsets)
    server = KafkaServer(broker, ssl_context=ssl_context)
    try:
        await server.start(sock=sock)
        print(f"serving {side.url} on {bound[0]}:{bound[1]} as broker {cluster.me.node_id} "
              f"({cluster.me.address}{', TLS' if ssl_context else ''}"
              f"{', SASL ' + '/'.join(sorted(auth.mechanisms)) if auth.sasl_enabled else ''}): "
              f"{len(catalog.topics)} topics, {len(catalog.partitions())} partitions", flush=True)
        await stop.wait()
        log.info("shutting down")
    finally:
        await server.close()
        if follower is not None:
            await follower.stop()
        await coordinator.close()


async def _consumer_offsets_log(kafka: KafkaSettings, offsets: Any, coordinator: Any) -> Any:
    """``__consumer_offsets``: every group's current offsets first, then each commit and group change."""
    from app.kafka.consumer_offsets import ConsumerOffsetsLog
    from app.kafka.groups import Group
    from app.kafka.protocol.consumer_offsets import GroupMember

    log_ = ConsumerOffsetsLog(kafka.consumer_offsets_partitions, max_records=kafka.consumer_offsets_max_records)
    try:
        for group in sorted(await offsets.groups()):
            log_.commit(group, await offsets.fetch(group))
    except ShadowReplicaError as e:
        log.warning("__consumer_offsets starts without the current offsets: %s", e.message)
    offsets.listeners.append(log_.commit)

    def changed(group: Group) -> None:
        log_.group_changed(group.group_id, protocol_type=group.protocol_type, generation=group.generation,
                           protocol=group.protocol_name or None, leader=group.leader or None, members=[
                               GroupMember(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                                           int(m.rebalance_timeout * 1000), int(m.session_timeout * 1000),
                                           m.metadata_for(group.protocol_name), m.assignment)
                               for m in group.members.values()])

    coordinator.on_change = changed
    return log_


@command("serve")(_serve_args)
def run_serve(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    side = side_from_args(args, args.bucket, "dest")
    asyncio.run(serve(side, settings.kafka, settings.cache, events=settings.events))
    return 0


# ------------------------------------------------------------------------------------- groups import


@dataclass(frozen=True, slots=True)
class ImportRow:
    group: str
    topic: str
    partition: int
    offset: int
    metadata: str | None = ""
    leader_epoch: int = -1


def _row(d: dict[str, Any], where: str) -> ImportRow:
    try:
        metadata = d.get("metadata", "")
        epoch = d.get("leader_epoch", -1)
        return ImportRow(str(d["group"]), str(d["topic"]), int(d["partition"]), int(d["offset"]),
                         None if metadata is None else str(metadata),
                         -1 if epoch in (None, "") else int(epoch))
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{where}: needs group, topic, partition and an integer offset ({e})") from e


def parse_import(text: str, *, name: str = "input") -> list[ImportRow]:
    """Rows of an import file in any of the documented formats."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"{name} is not valid JSON: {e}") from e
        if isinstance(doc, list):
            return [_row(d, f"{name} row {i + 1}") for i, d in enumerate(doc)]
        if not isinstance(doc, dict) or not isinstance(doc.get("groups"), dict):
            raise ConfigError(f'{name}: expected {{"groups": {{GROUP: {{TOPIC: {{PARTITION: OFFSET}}}}}}}}')
        rows = []
        for group, topics in doc["groups"].items():
            for topic, parts in (topics or {}).items():
                for partition, value in (parts or {}).items():
                    d = value if isinstance(value, dict) else {"offset": value}
                    rows.append(_row({"group": group, "topic": topic, "partition": partition, **d},
                                     f"{name} {group}/{topic}/{partition}"))
        return rows
    lines = [line for line in text.splitlines() if line.strip()]
    if any(re.match(r"^GROUP\s+\S+\s*$", line) for line in lines):
        return _parse_rpk_describe(lines, name)
    header = lines[0].split() if lines else []
    if {"GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET"} <= set(header):
        col = {h: i for i, h in enumerate(header)}
        rows = []
        for n, line in enumerate(lines[1:], 2):
            cells = line.split()
            if cells == header or len(cells) < len(col) - 3:
                continue  # repeated header of the next group, or a "has no active members" notice
            if cells[col["CURRENT-OFFSET"]] == "-":
                continue
            rows.append(_row({"group": cells[col["GROUP"]], "topic": cells[col["TOPIC"]],
                              "partition": cells[col["PARTITION"]], "offset": cells[col["CURRENT-OFFSET"]]},
                             f"{name} line {n}"))
        return rows
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"group", "topic", "partition", "offset"} <= set(reader.fieldnames):
        raise ConfigError(f"{name}: not a recognised format (JSON, CSV with a group,topic,partition,offset "
                          "header, or kafka-consumer-groups --describe output)")
    return [_row(dict(r), f"{name} line {i + 2}") for i, r in enumerate(reader)]


def _groups_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="groups_command", required=True)
    imp = sub.add_parser("import", help="seed committed offsets from an export (JSON, CSV or "
                                        "kafka-consumer-groups --describe output)")
    imp.add_argument("file", nargs="?", help="the export file, or - for stdin (not with --from-bucket)")
    imp.add_argument("--from-bucket", default=None, metavar="s3://BUCKET",
                     help="take the offsets from the bucket's own cluster metadata (Redpanda's offsets snapshots, "
                          "copied by sync): for a cut-over when the source cluster is gone")
    imp.add_argument("--cluster-uuid", default=None, metavar="UUID", help="with --from-bucket: that cluster's")
    imp.add_argument("--no-clamp", action="store_true",
                     help="keep offsets outside the replica's range (default: clamp to [log start, high watermark])")
    imp.add_argument("--bucket", default=None, metavar="s3://BUCKET[/PREFIX]", help="the replica bucket")
    add_s3_flags(imp)
    imp.add_argument("--replace", action="store_true", help="drop the group's other committed offsets")
    imp.add_argument("--dry-run", action="store_true", help="check and report, write nothing")


async def import_offsets(side: S3Side, kafka: KafkaSettings, rows: list[ImportRow], *, replace_all: bool,
                         dry_run: bool, clamp: bool = True) -> list[str]:
    """Write the rows (one conditional put per group), offsets clamped to the replica's range unless
    ``clamp`` is off (consumers then hit OFFSET_OUT_OF_RANGE and jump per auto.offset.reset); returns the
    warnings."""
    from app.catalog import Catalog
    from app.errors import NotFound
    from app.group_offsets import CommittedOffset, OffsetStore
    from app.store import ObjectStore

    warnings = []
    async with ObjectStore(side) as store:
        catalog = Catalog(store)
        await catalog.refresh(discover=True)
        now_ms = int(time.time() * 1000)
        by_group: dict[str, dict[tuple[str, int], CommittedOffset]] = {}
        for r in rows:
            offset = r.offset
            try:
                view = catalog.partition(r.topic, r.partition)
            except NotFound as e:
                warnings.append(f"{r.group}: {e.message}")
            else:
                lo, hi = view.log_start_offset, view.high_watermark
                if not lo <= r.offset <= hi:
                    if clamp:
                        offset = min(max(r.offset, lo), hi)
                        warnings.append(f"{r.group}: offset {r.offset} of {r.topic}/{r.partition} clamped to {offset} "
                                        f"(the replica has [{lo}, {hi}])")
                    else:
                        warnings.append(f"{r.group}: offset {r.offset} of {r.topic}/{r.partition} is outside "
                                        f"[{lo}, {hi}]")
            by_group.setdefault(r.group, {})[(r.topic, r.partition)] = CommittedOffset(
                offset, r.leader_epoch, r.metadata, now_ms, "import")
        if not dry_run:
            offsets = OffsetStore(store, kafka.group_offsets_prefix)
            for group, updates in by_group.items():
                await offsets.commit(group, updates, replace=replace_all)
    return warnings


def _parse_rpk_describe(lines: list[str], name: str) -> list[ImportRow]:
    """``rpk group describe`` output: a ``GROUP <id>`` block per group, then a TOPIC/PARTITION/CURRENT-OFFSET
    table (``-`` where nothing was committed)."""
    rows: list[ImportRow] = []
    group: str | None = None
    col: dict[str, int] | None = None
    for n, line in enumerate(lines, 1):
        cells = line.split()
        if len(cells) == 2 and cells[0] == "GROUP":
            group, col = cells[1], None
        elif {"TOPIC", "PARTITION", "CURRENT-OFFSET"} <= set(cells):
            col = {h: i for i, h in enumerate(cells)}
        elif group is not None and col is not None and len(cells) > col["CURRENT-OFFSET"]:
            if cells[col["CURRENT-OFFSET"]] == "-":
                continue
            rows.append(_row({"group": group, "topic": cells[col["TOPIC"]], "partition": cells[col["PARTITION"]],
                              "offset": cells[col["CURRENT-OFFSET"]]}, f"{name} line {n}"))
    return rows


async def import_from_bucket(side: S3Side, kafka: KafkaSettings, *, cluster_uuid: str | None,
                             dry_run: bool, problems: list[str] | None = None) -> list[str]:
    """``groups import --from-bucket``: the newest cluster-metadata offsets snapshot, clamped; every decision.
    Unusable metadata objects go to ``problems`` (their groups untouched)."""
    from app.catalog import Catalog
    from app.group_offsets import OffsetStore
    from app.kafka.bucket_offsets import plan_seed, read_bucket_offsets, seed_groups
    from app.store import ObjectStore

    async with ObjectStore(side) as store:
        catalog = Catalog(store, cluster_uuid=cluster_uuid)
        await catalog.refresh(discover=True)
        manifest, groups = await read_bucket_offsets(store, cluster_uuid=cluster_uuid, problems=problems)
        if manifest is None and problems:
            raise CorruptData(f"{side.url}: no usable cluster metadata; groups left as they are: "
                              + "; ".join(problems), key=problems[0].split(": ", 1)[0])
        if manifest is None:
            raise ConfigError(f"{side.url}: no cluster metadata (cluster_metadata/<uuid>/manifests/...) "
                              + (f"for cluster {cluster_uuid}" if cluster_uuid else "in the bucket"))
        decisions = await seed_groups(OffsetStore(store, kafka.group_offsets_prefix), plan_seed(groups, catalog),
                                      metadata_id=manifest.metadata_id, dry_run=dry_run)
    head = (f"{'would seed' if dry_run else 'seeded'} {len(groups)} group(s) from cluster {manifest.cluster_uuid} "
            f"metadata {manifest.metadata_id} (uploaded {manifest.upload_time_since_epoch} ms)")
    return [head, *(d.line() for d in decisions)]


@command("groups")(_groups_args)
def run_groups(args: argparse.Namespace) -> int:
    kafka = settings_from_args(args).kafka
    if args.from_bucket:
        if args.file:
            raise ConfigError("give an export FILE or --from-bucket, not both")
        side = side_from_args(args, args.from_bucket, "dest")
        problems: list[str] = []
        for line in asyncio.run(import_from_bucket(side, kafka, cluster_uuid=args.cluster_uuid,
                                                   dry_run=args.dry_run, problems=problems)):
            print(line)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1 if problems else 0
    if not args.file or not args.bucket:
        raise ConfigError("groups import needs FILE and --bucket, or --from-bucket")
    if args.file == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.file).read_text()
        except OSError as e:
            raise ConfigError(f"{args.file}: {e.strerror}") from e
    rows = parse_import(text, name=args.file)
    if not rows:
        raise ConfigError(f"{args.file}: no offsets found")
    side = side_from_args(args, args.bucket, "dest")
    warnings = asyncio.run(import_offsets(side, kafka, rows, replace_all=args.replace, dry_run=args.dry_run,
                                          clamp=not args.no_clamp))
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    groups = len({r.group for r in rows})
    verb = "would import" if args.dry_run else "imported"
    print(f"{verb} {len(rows)} offsets of {groups} group(s) into {side.url}/{kafka.group_offsets_prefix}")
    return 0
