"""`shadowreplica seed` and `shadowreplica inspect`: the sample-bucket generator and the object inspector."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from app.cli import add_s3_flags, command, side_from_args
from app.config import parse_size
from app.errors import ConfigError, ObjectMissing
from segment_format.errors import FormatError, ObjectKeyError

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


@command("seed")(_seed_args)
def run_seed(args: argparse.Namespace) -> int:
    from app.tools.seed import seed_bucket
    from app.tools.seedgen import SeedSpec

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


@command("inspect")(_inspect_args)
def run_inspect(args: argparse.Namespace) -> int:
    from segment_format.inspect import inspect_object

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
