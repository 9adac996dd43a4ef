"""HTTP API benchmark: point queries over a real `shadowreplica http` process (uvicorn over TCP) against a
real moto S3 server process, each figure with its baseline measured in the same run.

* **S3 bytes per point query** (``GET /topics/{t}/partitions/{p}/records?offset=N&limit=1`` on a cold
  cache), read from the server's own ``/metrics`` (``shadowreplica_s3_received_bytes_total`` and
  ``shadowreplica_s3_requests_total`` for ``GetObject``) before and after each query; against downloading
  the whole segment holding the record (the baseline). Target: at most the segment's ``.index`` object
  plus one byte range (the index span holding the batch) per query, computed from the bucket's own
  ``.index`` objects.
* **cold latency**: the same queries, client side (first query of a segment: ``.index`` + range; later
  ones: one range), against the time to download that whole segment from the same S3 server.
* **warm latency**: the same queries again (everything cached), against ``GET /healthz`` of the same server
  process on the same keep-alive connection (a trivial FastAPI endpoint: routing, middleware, JSON).
  Target: warm p50 within 3x of it.

``BENCH_HTTP_MIB`` (default 64) sizes the partition (16 MiB segments); ``BENCH_HTTP_QUERIES`` (default 200)
is the number of cold point queries.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import os
import random
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.config import S3Side, s3_side
from app.store import ObjectStore
from bench import CLI
from localstack.s3server import start_s3_server
from segment_format.manifest import parse_partition_manifest
from segment_format.remote_index import decode_remote_index

MiB = 1024 * 1024
REPO = Path(__file__).resolve().parent.parent
ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
SHADOWREPLICA = [str(CLI)]
BUCKET = "httpbench"
TOPIC = "orders"


def _env(side: S3Side) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHADOWREPLICA_"))}
    env.update(ENV, AWS_ENDPOINT_URL=side.endpoint_url or "", AWS_REGION=side.region, PYTHONPATH=str(REPO))
    return env


@contextmanager
def http_server(side: S3Side, work: Path) -> Iterator[str]:
    """`shadowreplica http` on a free port; yields its base URL (from the banner)."""
    config = work / "http.toml"
    # no manifest refreshes during the run: every S3 request the bench sees is one the queries made
    config.write_text(f'[cache]\ndirectory = "{work / "cache"}"\nmanifest_refresh_interval = 3600\n')
    errors = (work / "http.stderr").open("w")
    proc = subprocess.Popen([*SHADOWREPLICA, "--config", str(config), "--log-level", "WARNING", "http",
                             "--bucket", str(side.url), "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=errors, text=True, env=_env(side), cwd=REPO)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r" on (http://[\d.:]+)", line)
        if m is None:
            raise RuntimeError(f"shadowreplica http did not start: {line!r}; see {work / 'http.stderr'}")
        yield m.group(1)
    finally:
        proc.terminate()
        proc.wait(30)
        errors.close()


def get_object_counters(client: httpx.Client) -> tuple[float, float]:
    """(GetObject requests, GetObject bytes received) on the dest side, from the server's /metrics."""
    requests = received = 0.0
    for fam in text_string_to_metric_families(client.get("/metrics").text):
        for s in fam.samples:
            if s.labels.get("operation") != "GetObject" or s.labels.get("side") != "dest":
                continue
            if s.name == "shadowreplica_s3_requests_total":
                requests = s.value
            elif s.name == "shadowreplica_s3_received_bytes_total":
                received = s.value
    return requests, received


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bucket_layout(side: S3Side) -> tuple[list[tuple[str, int, int, int]], dict[str, bytes], float]:
    """Segments (key, size, first Kafka offset, next Kafka offset), their .index bodies, and the time to
    download the largest segment whole (best of 3; the baseline)."""
    async with ObjectStore(side) as store:
        mkeys = [i.key async for i in store.list("") if i.key.endswith("/manifest.json")]
        mkey = mkeys[0]
        m = parse_partition_manifest((await store.get(mkey)).body)
        segs = [(m.segment_key(s), s.size_bytes, s.base_kafka_offset, s.next_kafka_offset) for s in m.segments]
        indexes = {key: (await store.get(key + ".index")).body for key, *_ in segs}
        biggest = max(segs, key=lambda s: s[1])[0]
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            await store.get(biggest)
            best = min(best, time.perf_counter() - t)
        return segs, indexes, best


def main() -> None:
    size_mib = int(os.environ.get("BENCH_HTTP_MIB", "64"))
    n_queries = int(os.environ.get("BENCH_HTTP_QUERIES", "200"))
    work = Path(tempfile.mkdtemp(prefix="bench-http-", dir=os.environ.get("BENCH_TMP")))
    os.environ.update(ENV)
    with start_s3_server(port=0, buckets=[(BUCKET, "eu-west-1")]) as s3:
        side = s3_side(f"s3://{BUCKET}", side="dest", environ=ENV, region="eu-west-1", endpoint_url=s3.endpoint)
        seed = subprocess.run([*SHADOWREPLICA, "seed", "--bucket", f"s3://{BUCKET}", "--topics", "1", "--partitions",
                               "1", "--size", f"{size_mib}MiB", "--segment-size", "16MiB", "--no-progress"],
                              env=_env(side), cwd=REPO, capture_output=True, text=True)
        if seed.returncode:
            raise RuntimeError(seed.stderr)
        segs, indexes, whole_s = asyncio.run(bucket_layout(side))
        seg_size = max(s[1] for s in segs)
        print(f"one partition, {len(segs)} segments ({sum(s[1] for s in segs) / MiB:.0f} MiB), "
              f"{sum(len(decode_remote_index(b).file_positions) for b in indexes.values())} .index samples")

        # query offsets: spread over every segment, in random order (each segment's first query is the one
        # that also fetches its .index)
        rng = random.Random(1)
        offsets = sorted(rng.sample(range(segs[0][2], segs[-1][3]), n_queries))
        rng.shuffle(offsets)

        with http_server(side, work) as url, httpx.Client(base_url=url, timeout=60) as client:
            url_records = f"/topics/{TOPIC}/partitions/0/records"
            for _ in range(50):  # connection, route and JSON warm-up (no S3: /healthz and /metrics only)
                client.get("/healthz")
            get_object_counters(client)

            seen_index: set[str] = set()
            seen_span: set[tuple[str, int]] = set()
            cold_first: list[float] = []  # first query of a segment: .index + one range
            cold_next: list[float] = []  # a new span of a segment whose .index is cached
            bytes_per_query: list[float] = []
            over_target = 0
            requests_max = 0.0
            for offset in offsets:
                before_req, before_bytes = get_object_counters(client)
                t = time.perf_counter()
                resp = client.get(url_records, params={"offset": offset, "limit": 1})
                elapsed = time.perf_counter() - t
                resp.raise_for_status()
                rec = resp.json()["records"][0]
                if rec["offset"] != offset:
                    raise AssertionError(f"asked for offset {offset}, got {rec['offset']}")
                after_req, after_bytes = get_object_counters(client)
                key = next(k for k, _, a, b in segs if a <= offset < b)
                size = next(s for k, s, *_ in segs if k == key)
                positions = decode_remote_index(indexes[key]).file_positions
                ix = bisect.bisect_right(positions, rec["batch"]["position"])
                start = positions[ix - 1] if ix else 0
                end = positions[ix] if ix < len(positions) else size
                got = after_bytes - before_bytes
                new_index = key not in seen_index
                new_span = (key, start) not in seen_span
                allowed = (len(indexes[key]) if new_index else 0) + (end - start if new_span else 0)
                over_target += got > allowed
                requests_max = max(requests_max, after_req - before_req)
                if new_span:
                    (cold_first if new_index else cold_next).append(elapsed)
                    bytes_per_query.append(got)
                seen_index.add(key)
                seen_span.add((key, start))

            # warm: the same queries again, every byte cached; and /healthz interleaved on the same connection
            warm: list[float] = []
            health: list[float] = []
            warm_s3_before = get_object_counters(client)
            for _ in range(3):
                for offset in offsets:
                    t = time.perf_counter()
                    client.get(url_records, params={"offset": offset, "limit": 1}).raise_for_status()
                    warm.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    client.get("/healthz").raise_for_status()
                    health.append(time.perf_counter() - t)
            warm_s3 = get_object_counters(client)[0] - warm_s3_before[0]

        cold = cold_first + cold_next
        mean_bytes = statistics.fmean(bytes_per_query)
        spans = [b - a for idx in indexes.values() for a, b in itertools.pairwise(decode_remote_index(idx).file_positions)]
        print(f"\nS3 bytes per cold point query ({len(bytes_per_query)} queries on new spans; {over_target} over "
              f"index + 1 range, at most {requests_max:.0f} GetObject per query)")
        print(f"  baseline: whole segment        {seg_size / 1024:10.1f} KiB   (1.00x)")
        print(f"  point query, mean               {mean_bytes / 1024:10.1f} KiB   ({mean_bytes / seg_size:.4f}x)"
              f"   [median .index span {statistics.median(spans) / 1024:.1f} KiB, .index "
              f"{statistics.fmean(len(b) for b in indexes.values()) / 1024:.1f} KiB]")
        print(f"  point query, max                {max(bytes_per_query) / 1024:10.1f} KiB   "
              f"({max(bytes_per_query) / seg_size:.4f}x)")
        print(f"  target S3 bytes <= index + 1 range: {'MET' if over_target == 0 else 'MISSED'}")

        ms = 1000
        print("\ncold-cache latency (client side, over TCP)")
        print(f"  baseline: download the whole segment  {whole_s * ms:8.2f} ms   (1.00x)")
        print(f"  first query of a segment, p50          {pct(cold_first, 0.5) * ms:8.2f} ms   "
              f"({pct(cold_first, 0.5) / whole_s:.3f}x)  n={len(cold_first)}")
        if cold_next:
            print(f"  new span (index cached), p50           {pct(cold_next, 0.5) * ms:8.2f} ms   "
                  f"({pct(cold_next, 0.5) / whole_s:.3f}x)  p99 {pct(cold_next, 0.99) * ms:.2f} ms  n={len(cold_next)}")
        print(f"  all cold, p50                          {pct(cold, 0.5) * ms:8.2f} ms   ({pct(cold, 0.5) / whole_s:.3f}x)")

        h50, w50 = pct(health, 0.5), pct(warm, 0.5)
        print(f"\nwarm-cache latency ({len(warm)} queries, {warm_s3:.0f} S3 GETs)")
        print(f"  baseline: GET /healthz, p50            {h50 * ms:8.3f} ms   (1.00x)  p99 {pct(health, 0.99) * ms:.3f} ms")
        print(f"  point query, p50                       {w50 * ms:8.3f} ms   ({w50 / h50:.2f}x)  "
              f"p99 {pct(warm, 0.99) * ms:.3f} ms")
        print(f"  target warm p50 <= 3x /healthz: {'MET' if w50 <= 3 * h50 else 'MISSED'}")


if __name__ == "__main__":
    main()
