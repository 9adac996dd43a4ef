"""The kill -9 loop of tests/test_replicator_crash*.py (one file per layout, so two workers run them side by
side): run the real `shadowreplica sync --once`, SIGKILL it at a seeded request number, check the
destination after every kill, then one resume that copies exactly what is missing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from pathlib import Path

from conftest import BucketPair
from replicator_support import KiB, MiB, listing, seed

from app.config import S3Side
from app.replicator import verify_bucket
from app.store import ObjectStore
from app.tools.seedgen import SeedSpec
from localstack.faultproxy import CountingProxy
from tests.process_support import CLI
from tests.reliability_support import cli_env

SHADOWREPLICA = CLI
REPO = Path(__file__).resolve().parent.parent
KILLS = {"prefixed": 20, "mixed": 10}  # 30 kills per `make test`; `bench/replicator.py` kills 80 times
WINDOW = 4  # units in flight per partition: a commit every 2 units, at most 8 probed after a restart
MAX_RUNS = 60  # kills plus runs that finished first; the loop stops at KILLS kills
CLUSTER = SeedSpec(seed=5).label  # the label of the seeded labeled topic (appends keep it)


def sync_argv(pair: BucketPair, *extra: str) -> list[str]:
    return [str(SHADOWREPLICA), "--log-level", "ERROR", "sync", "--source", str(pair.source.url),
            "--dest", str(pair.dest.url), "--source-region", pair.source.region, "--dest-region", pair.dest.region,
            "--once", "--no-progress", "--max-retries", "3", *extra]


def data_keys(objs: dict[str, object]) -> set[str]:
    """Segments and their companions: what the replicator copies (manifests it writes)."""
    return {k for k in objs if "/meta/" not in k and not k.startswith(("cluster_", "meta/"))}


async def read_all(side: S3Side) -> dict[str, tuple[int, str]]:
    """key -> (size, MD5 of the bytes read back), 16 GETs at a time."""
    async with ObjectStore(side) as store:
        keys = [i.key async for i in store.list("")]
        sem = asyncio.Semaphore(16)

        async def one(key: str) -> tuple[int, str]:
            async with sem:
                body = (await store.get(key)).body
            return len(body), hashlib.md5(body).hexdigest()

        return dict(zip(keys, await asyncio.gather(*(one(k) for k in keys)), strict=True))


async def check_invariant(pair: BucketPair) -> dict[str, int]:
    """No violation; returns restorable offset by partition."""
    async with ObjectStore(pair.dest) as dst, ObjectStore(pair.source) as src:
        report = await verify_bucket(dst, src)
    assert report.ok, "\n".join(str(v) for v in report.violations[:10])
    return {p.pid.name: p.restorable_offset for p in report.partitions}


async def run_until_killed(argv: list[str], env: dict[str, str], proxy: CountingProxy, *, after_requests: int,
                           startup_delay: float) -> int | None:
    """Start ``argv``; SIGKILL it once the proxy has forwarded ``after_requests`` more requests (0: after
    ``startup_delay`` seconds, during interpreter start-up). Returns None when killed, else the exit code."""
    base = proxy.total
    proc = await asyncio.create_subprocess_exec(*argv, env=env, cwd=REPO, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    waiter = asyncio.ensure_future(proc.wait())
    deadline = time.monotonic() + 60
    started = time.monotonic()
    while not waiter.done():
        if after_requests == 0 and time.monotonic() - started >= startup_delay:
            break
        if after_requests and proxy.total - base >= after_requests:
            break
        assert time.monotonic() < deadline, "sync neither finished nor reached its kill point in 60 s"
        await asyncio.wait({waiter}, timeout=0.005)
    if waiter.done():
        assert proc.stderr is not None
        err = (await proc.stderr.read()).decode()
        assert proc.returncode == 0, err[-2000:]
        return proc.returncode
    proc.kill()  # SIGKILL: no handler, no flush, no finally
    await waiter
    assert proc.returncode == -9
    return None


async def kill_loop(buckets: BucketPair, proxy: CountingProxy, rng: random.Random, layout: str) -> None:
    env = cli_env(proxy.endpoint, AWS_REGION="us-east-1", SHADOWREPLICA_REPLICATOR_WINDOW=str(WINDOW))
    restorable: dict[str, int] = {}
    kills = finished = appends = 0
    points: list[int] = []
    progress: list[int] = []  # data objects at the destination after each kill
    started = time.monotonic()
    source_keys = data_keys(await listing(buckets.source))
    missing = len(source_keys)
    for _ in range(MAX_RUNS):
        if kills >= KILLS[layout]:
            break
        if missing < 100:  # keep every run busy: the source grows, as a live cluster's does
            appends += 1
            await seed(buckets.source, topics=2, partitions=2, size=640 * KiB, segment=16 * KiB,
                       seed=100 + appends, append=True, layout=layout, cluster_uuid=CLUSTER)
            source_keys = data_keys(await listing(buckets.source))
        # a kill point anywhere in a run: ~60 requests of discovery and manifest reads, up to 3 x 2 x WINDOW
        # probes per partition, about one request per missing object, a commit per WINDOW/2 units
        after = 0 if rng.random() < 0.15 else rng.randint(1, min(500, 60 + 4 * 3 * 2 * WINDOW + missing * 5 // 4))
        code = await run_until_killed(sync_argv(buckets, "--concurrency", "8", "--commit-interval", "0.2"), env,
                                      proxy, after_requests=after, startup_delay=rng.uniform(0.05, 0.6))
        if code is None:
            kills += 1
            points.append(after)
        else:
            finished += 1
        now = await check_invariant(buckets)
        for name, offset in restorable.items():
            assert now.get(name, -1) >= offset, f"{name}: restorable offset went back from {offset} to {now.get(name)}"
        restorable = now
        at_dest = data_keys(await listing(buckets.dest))
        missing = len(source_keys - at_dest)
        if code is None:
            progress.append(len(at_dest))
    print(f"\n{kills} kills, {finished} finished runs, {appends} appends, {time.monotonic() - started:.1f} s, progress {progress}")
    assert kills >= KILLS[layout], f"only {kills} kills in {MAX_RUNS} runs"
    # kill points spread over a run's life: during start-up, early requests, late requests
    assert 0 in points and min(p for p in points if p) < 50 and max(points) > 150
    assert progress == sorted(progress) and progress[-1] > progress[0]  # killed runs made progress


async def final_resume(buckets: BucketPair, layout: str) -> None:
    """Resume to completion: copies exactly the missing objects; then destination == source."""
    source_now = await listing(buckets.source)
    dest_now = await listing(buckets.dest)
    missing = data_keys(source_now) - set(dest_now)
    if not missing:  # the last killed run got everything: give the resume something to do
        await seed(buckets.source, topics=2, partitions=2, size=480 * KiB, segment=16 * KiB, seed=999, append=True,
                   layout=layout, cluster_uuid=CLUSTER)
        missing = data_keys(await listing(buckets.source)) - set(dest_now)
    assert missing

    proc = await asyncio.create_subprocess_exec(  # straight to the S3 server
        *sync_argv(buckets, "--concurrency", "16", "--json"),
        env=cli_env(buckets.source.endpoint_url or "", AWS_REGION="us-east-1"), cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    result = json.loads(out)
    assert result["ok"]
    dest_requests = result["metrics"]["requests"]["dest"]
    # only what was missing is copied: one CopyObject per missing object, none for what a killed run left
    assert dest_requests.get("CopyObject", 0) == len(missing), (dest_requests, len(missing))
    assert result["report"]["copied_objects"] == len(missing)

    src, dst = await asyncio.gather(read_all(buckets.source), read_all(buckets.dest))
    assert set(dst) == set(src)
    assert dst == src  # every object: size and MD5 of the bytes read back; manifests byte-identical
    manifests = [k for k in src if k.endswith(("manifest.json", "manifest.bin"))]
    assert len(manifests) >= 4 + 2  # four partition manifests, two topic manifests
    if layout == "mixed":  # one labeled topic, copied under the same labeled keys, .bin manifests only
        assert any(k.startswith(f"{CLUSTER}/meta/") and k.endswith("/manifest.bin") for k in dst)
        assert any(k.startswith("meta/") and k.endswith("/topic_manifest.bin") for k in dst)
        assert not any(k.startswith(CLUSTER) and k.endswith(".json") for k in dst)
    final = await check_invariant(buckets)
    assert all(offset > 0 for offset in final.values()) and len(final) == 4


async def kill_9_at_random_moments(buckets: BucketPair, layout: str) -> None:
    """Seed, kill ``KILLS[layout]`` runs at seeded moments (each checked), resume to completion."""
    assert SHADOWREPLICA.is_file(), f"console script missing: {SHADOWREPLICA}"
    rng = random.Random(20260405)
    await seed(buckets.source, topics=2, partitions=2, size=8 * MiB, segment=16 * KiB, seed=5, layout=layout)
    # the killed runs talk to S3 through a proxy that counts requests: kill points are request numbers,
    # so they fall at the same places of a run however loaded the machine is
    proxy = await CountingProxy.for_endpoint(buckets.source.endpoint_url or "").start()
    try:
        await kill_loop(buckets, proxy, rng, layout)
    finally:
        await proxy.close()
    await final_resume(buckets, layout)
