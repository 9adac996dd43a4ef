"""The `shadowreplica` command line.

Each subcommand is registered in :data:`COMMANDS` (name → (add_arguments, run)); ``run`` returns an exit code.
Errors the user can act on (bad flags, missing objects, corrupt data, S3 failures) print one line on stderr
and exit non-zero; a traceback means a bug.

    shadowreplica seed     --bucket s3://source --topics 2 --partitions 3 --size 1GiB [--seed 42] [--append]
    shadowreplica inspect  s3://bucket/key | PATH [--records] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.config import load_file, parse_size, s3_side
from app.errors import ConfigError, ObjectMissing, ShadowReplicaError
from segment_format.errors import FormatError, ObjectKeyError

Runner = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Runner, str]] = {}


def command(name: str, help: str) -> Callable[[Callable[[argparse.ArgumentParser], None]], Callable[[Runner], Runner]]:
    """Register ``name`` with its argument builder, then its runner: ``@command(...)(args)(run)``."""

    def with_args(add: Callable[[argparse.ArgumentParser], None]) -> Callable[[Runner], Runner]:
        def with_run(run: Runner) -> Runner:
            COMMANDS[name] = (add, run, help)
            return run

        return with_run

    return with_args


def add_s3_flags(p: argparse.ArgumentParser, side: str = "", *, url_flag: str | None = None) -> None:
    """``--{side-}region`` and ``--{side-}endpoint-url``; credentials come from env or the config file."""
    dash = f"{side}-" if side else ""
    if url_flag:
        p.add_argument(f"--{url_flag}", required=True, metavar="s3://BUCKET[/PREFIX]")
    p.add_argument(f"--{dash}region", default=None, help="AWS region (default: AWS_REGION or us-east-1)")
    p.add_argument(f"--{dash}endpoint-url", default=None, help="S3 endpoint (default: AWS_ENDPOINT_URL)")


def add_cluster_flag(p: argparse.ArgumentParser) -> None:
    """``--cluster-uuid``: one cluster of a bucket several clusters share (``sync``, ``verify``, ``status``,
    ``serve``, ``http``, ``run``)."""
    p.add_argument("--cluster-uuid", default=None, metavar="UUID",
                   help="only this cluster's labeled topics (sync/verify/status); the topic a name means when "
                        "clusters share the bucket (serve/http/run; default: the newest)")


def side_from_args(args: argparse.Namespace, url: str, side: str, dash: str = "") -> Any:
    file_cfg = load_file(getattr(args, "config", None))
    attr = dash.replace("-", "_")
    return s3_side(
        url,
        side=side,
        file_section=file_cfg.get(side, {}),
        region=getattr(args, f"{attr}region", None),
        endpoint_url=getattr(args, f"{attr}endpoint_url", None),
    )


# ---------------------------------------------------------------- seed


def _seed_args(p: argparse.ArgumentParser) -> None:
    add_s3_flags(p, url_flag="bucket")
    p.add_argument("--topics", type=int, default=2)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--size", default="64MiB", help="total bytes of segments (e.g. 1GiB)")
    p.add_argument("--segment-size", default="4MiB", help="segment roll size")
    p.add_argument("--seed", type=int, default=42, help="RNG seed: same seed, same bytes")
    p.add_argument("--namespace", default="kafka")
    p.add_argument("--append", action="store_true", help="continue existing partitions instead of starting fresh")
    p.add_argument("--layout", choices=("labeled", "prefixed", "mixed"), default="labeled",
                   help="labeled: what Redpanda writes since v24.2 ({cluster_uuid}/ keys, .bin manifests only; "
                        "default); prefixed: hash-prefixed keys and JSON manifests of older versions; mixed: an "
                        "upgraded cluster (first half of the topics prefixed, the rest labeled)")
    p.add_argument("--cluster-uuid", default=None, metavar="UUID",
                   help="the cluster UUID labeled topics carry (default: one fixed sample cluster's)")
    p.add_argument("--groups", action=argparse.BooleanOptionalAction, default=True,
                   help="also write cluster metadata with consumer-group offsets snapshots, as Redpanda uploads "
                        "them for whole-cluster restore (default: on)")
    p.add_argument("--spillover", type=int, default=0, metavar="N",
                   help="move the oldest half of each partition's segments into N spillover manifests")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--no-progress", action="store_true")


@command("seed", "write a realistic Redpanda tiered-storage bucket")(_seed_args)
def run_seed(args: argparse.Namespace) -> int:
    from app.seed import seed_bucket
    from app.seedgen import SeedSpec

    if args.topics < 1 or args.partitions < 1:
        raise ConfigError("--topics and --partitions must be at least 1")
    try:
        spec = SeedSpec(topics=args.topics, partitions=args.partitions, total_bytes=parse_size(args.size),
                        segment_bytes=parse_size(args.segment_size), seed=args.seed, namespace=args.namespace,
                        layout=args.layout, cluster_uuid=args.cluster_uuid or "", spillover=args.spillover,
                        groups=args.groups)
    except (ValueError, ObjectKeyError) as e:
        raise ConfigError(f"seed: {e}") from e
    if spec.segment_bytes < 1024:
        raise ConfigError("--segment-size must be at least 1KiB")
    side = side_from_args(args, args.bucket, "dest")
    report = asyncio.run(seed_bucket(side, spec, append=args.append, concurrency=args.concurrency,
                                     progress=not args.no_progress))
    print(f"seeded {side.url}: {report.partitions} partitions, {report.objects} objects, "
          f"{report.bytes / 2**20:.1f} MiB in {report.seconds:.1f} s ({report.mib_per_second:.1f} MiB/s)")
    return 0


# ---------------------------------------------------------------- inspect


def _inspect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="s3://bucket/key or a local file")
    add_s3_flags(p)
    p.add_argument("--records", action="store_true", help="decode the records of data batches")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--delta", type=int, default=None, help="delta_offset of a local segment (for Kafka offsets)")


async def _fetch_for_inspect(args: argparse.Namespace) -> tuple[str, bytes, dict[str, int | None]]:
    """The object, and for a segment what its manifest entry says (delta_offset, last offset, size)."""
    from app.bucket import PartitionId, decode_partition_manifest, list_partition
    from app.store import ObjectStore
    from segment_format.keys import parse_segment_key

    rest = args.target[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not key:
        raise ConfigError(f"{args.target}: name an object (s3://bucket/key)")
    side = side_from_args(args, f"s3://{bucket}", "source")
    delta = args.delta
    expect: dict[str, int | None] = {}
    async with ObjectStore(side) as store:
        body = (await store.get(key)).body
        if delta is None:
            parts = key.split("/")
            for i in range(len(parts)):  # tolerate a layout prefix before the hash directory
                try:
                    sk = parse_segment_key("/".join(parts[i:]))
                except ObjectKeyError:
                    continue
                if sk.suffix or i:
                    break
                pid = PartitionId(sk.namespace, sk.topic, sk.partition, sk.revision, sk.cluster_uuid or "")
                fmt = (await list_partition(store, pid)).effective_fmt
                if fmt is None:
                    break
                try:
                    m = decode_partition_manifest((await store.get(pid.manifest_key(fmt))).body, fmt,
                                                  label=pid.cluster_uuid)
                except (ObjectMissing, FormatError):
                    break
                meta = m.find_by_offset(sk.name.base_offset)
                if meta is not None and meta.base_offset == sk.name.base_offset:
                    delta = meta.delta_offset or 0
                    expect = {"committed_offset": meta.committed_offset, "expected_size": meta.size_bytes}
                break
    return key, body, {"delta_offset": delta, **expect}


@command("inspect", "describe a manifest, segment, index or tx object")(_inspect_args)
def run_inspect(args: argparse.Namespace) -> int:
    from app.inspect import inspect_object

    if args.target.startswith("s3://"):
        name, body, expect = asyncio.run(_fetch_for_inspect(args))
    else:
        path = Path(args.target)
        try:
            body = path.read_bytes()
        except OSError as e:
            raise ConfigError(f"{args.target}: {e.strerror}") from e
        name, expect = path.name, {"delta_offset": args.delta}
    report = inspect_object(name, body, records=args.records, **expect)
    if args.json:
        print(json.dumps(report.data, indent=2, default=str))
    else:
        print("\n".join(report.lines))
    if report.problems:
        for p in report.problems:
            print(f"error: {args.target}: {p}", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shadowreplica", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--config", default=None, help="TOML config file (or SHADOWREPLICA_CONFIG)")
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (add, _run, help) in COMMANDS.items():
        p = sub.add_parser(name, help=help, description=help)
        add(p)
    return parser


def _load_commands() -> None:
    """Import the modules that register further commands (each face registers its own)."""
    import importlib

    for module in ("app.replicator.cli", "app.kafka.cli", "app.http.cli", "app.run", "app.lake.cli"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module and not module.startswith(str(e.name)):
                raise


def main(argv: list[str] | None = None) -> int:
    _load_commands()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("botocore", "aiobotocore", "urllib3", "s3transfer", "asyncio", "pyiceberg"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    _add, run, _help = COMMANDS[args.command]
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except ConfigError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    except ObjectMissing as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    except ShadowReplicaError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    except FormatError as e:
        print(f"error: {getattr(args, 'target', '')}: {e}".replace("error: : ", "error: "), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
