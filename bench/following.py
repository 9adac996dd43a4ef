"""What following an idle bucket costs, per mode, against a Redpanda read replica (120 S3 requests per
partition-hour: one manifest GET every 30 s), measured in the same run through a request-counting proxy in
front of the embedded S3 server process (tests/following_support.py has the method).

For each layout (current Redpanda's labeled keys, and the hash-prefixed keys of buckets written before
v24.2) and each bucket size, ``shadowreplica run`` follows a caught-up bucket with the intervals scaled down
``BENCH_FOLLOW_SCALE`` times (default 60) for one scaled hour, then one append is timed to the destination.
Targets (issue 15): adaptive polling at most 1.25x a read replica with its lag at most the 30 s cap; events
at most 200 S3 requests an hour in all, independent of the number of partitions, lag p99 at most 2 s.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from app.config import s3_side
from app.replicator.loop import Replicator
from app.replicator.options import load_sync_config
from app.store import ObjectStore
from app.tools.seed import seed_bucket
from app.tools.seedgen import SeedSpec
from localstack.faultproxy import FaultProxy
from localstack.s3server import start_s3_server
from tests.following_support import REDPANDA_READ_REPLICA, FollowingCost, measure_following

SCALE = float(os.environ.get("BENCH_FOLLOW_SCALE", "60"))
SIZES = (6, 24)  # partitions
LAYOUTS = ("labeled", "prefixed")


async def _one(endpoint: str, layout: str, partitions: int, tmp: Path) -> list[FollowingCost]:
    tag = f"{layout[:3]}{partitions}"
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    source = s3_side(f"s3://fsrc-{tag}", side="source", region="us-east-1", endpoint_url=endpoint)
    dest = s3_side(f"s3://fdst-{tag}", side="dest", region="eu-west-1", endpoint_url=endpoint)
    from localstack.s3server import configure_events, create_buckets

    create_buckets(endpoint, [(source.url.bucket, "us-east-1"), (dest.url.bucket, "eu-west-1")])
    queue = configure_events(endpoint, source.url.bucket, "us-east-1")
    await seed_bucket(source, SeedSpec(topics=2, partitions=partitions // 2, total_bytes=partitions * 64 * 1024,
                                       segment_bytes=32 * 1024, seed=1, layout=layout), progress=False)
    async with ObjectStore(source) as src, ObjectStore(dest) as dst:
        assert (await Replicator(src, dst, load_sync_config({})).run_once()).ok
    proxy = await FaultProxy.for_endpoint(endpoint).start()
    out = []
    try:
        for n, mode in enumerate(("adaptive", "events")):
            out.append(await measure_following(source, dest, proxy, tmp / f"{tag}-{mode}", mode=mode, scale=SCALE,
                                               window=3600 / SCALE, partitions=partitions, queue=queue,
                                               append_seed=100 + n, layout=layout,
                                               appends=20 if mode == "events" else 3))
    finally:
        await proxy.close()
    return out


def main() -> None:
    print(f"idle following, intervals scaled {SCALE:.0f}x down, one scaled hour per mode; a Redpanda read "
          f"replica: {REDPANDA_READ_REPLICA:.0f} requests per partition-hour")
    with start_s3_server(port=0) as server, tempfile.TemporaryDirectory() as tmp:
        for layout in LAYOUTS:
            for partitions in SIZES:
                for cost in asyncio.run(_one(server.endpoint, layout, partitions, Path(tmp))):
                    print(f"  {layout:8} {partitions:3} partitions  {cost.line()}", flush=True)
