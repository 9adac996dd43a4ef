"""Streaming copy (``--copy-mode stream``) between two *different* S3 server processes, against a plain
``aws s3 cp`` between the same two servers and against the server-side path, each measured in the same run.

The data: one partition of ``BENCH_STREAM_SEGMENTS`` (default 32) segments of ``BENCH_STREAM_SEGMENT_MIB`` MiB
(default 16, above the 8 MiB multipart threshold, so every segment goes through ranged GETs and a multipart
upload), on moto server A.

* **shadowreplica, stream**: ``sync --once --copy-mode stream --concurrency 32`` from server A to server B (the
  console script, as a user runs it); wall time, the bytes it reports streamed through itself per object, and
  its peak RSS (``ru_maxrss`` of the child, from ``wait4``).
* **aws s3 cp**: awscli cannot copy between two endpoints in one command, so the plain way is download then
  upload: ``aws s3 cp --recursive s3://A/ dir`` then ``aws s3 cp --recursive dir s3://B/``, with
  ``max_concurrent_requests = 32``; wall time of both, and the larger peak RSS of the two.
* **shadowreplica, server-side**: the same copy with both buckets on server A (``--copy-mode server``): no
  byte passes through the process.

Targets (issue 10): the stream copy's memory bounded by its settings (no more than ``stream_max_in_flight``
per copy), exactly the stored bytes through the service, throughput compared with aws s3 cp.
``BENCH_STREAM_SEGMENTS=8 python -m bench stream_copy`` is a quick run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.config import S3Side
from app.store import ensure_bucket
from bench.replicator import BIN, REPO, SHADOWREPLICA, _env, _side, build_bucket, object_count, tools
from localstack.s3server import start_s3_server

MiB = 1024 * 1024
CONCURRENCY = 32


def _isolated(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``argv`` under a fresh Python that reports the child's own peak RSS (RUSAGE_CHILDREN is a maximum
    over every child this process ever had, so it is measured one level down)."""
    probe = ("import json,resource,subprocess,sys,time;t=time.perf_counter();"
             "p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
             "w=time.perf_counter()-t;"
             "print(json.dumps({'rc':p.returncode,'wall':w,'rss':resource.getrusage(resource.RUSAGE_CHILDREN)"
             ".ru_maxrss/1024,'out':p.stdout,'err':p.stderr[-2000:]}))")
    done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=1800)
    result = json.loads(done.stdout)
    if result["rc"] != 0:
        raise RuntimeError(f"{Path(argv[0]).name} failed: {result['err']}")
    return float(result["wall"]), float(result["rss"]), str(result["out"])


def _sync(src: S3Side, src_endpoint: str, dst: S3Side, dst_endpoint: str, mode: str) -> tuple[float, float, dict]:
    argv = [str(SHADOWREPLICA), "--log-level", "WARNING", "sync", "--source", str(src.url), "--dest", str(dst.url),
            "--source-region", src.region, "--dest-region", dst.region, "--source-endpoint-url", src_endpoint,
            "--dest-endpoint-url", dst_endpoint, "--once", "--json", "--no-progress", "--copy-mode", mode,
            "--concurrency", str(CONCURRENCY)]
    wall, rss, out = _isolated(argv, _env(src_endpoint))
    return wall, rss, json.loads(out)


def _aws_config(work: Path) -> Path:
    config = work / "aws.config"
    config.write_text(f"[default]\nregion = us-east-1\ns3 =\n  max_concurrent_requests = {CONCURRENCY}\n")
    return config


def _aws_cp(src: S3Side, src_endpoint: str, dst: S3Side, dst_endpoint: str, work: Path) -> tuple[float, float]:
    """Download then upload with awscli (the plain way between two endpoints): (wall of both, larger peak RSS)."""
    aws = BIN / "aws" if (BIN / "aws").is_file() else Path(shutil.which("aws") or "aws")
    local = work / "aws-copy"
    shutil.rmtree(local, ignore_errors=True)
    env = _env(src_endpoint, AWS_CONFIG_FILE=str(_aws_config(work)))
    down = _isolated([str(aws), "s3", "cp", "--recursive", "--only-show-errors", "--endpoint-url", src_endpoint,
                      f"s3://{src.url.bucket}/", str(local)], env)
    up = _isolated([str(aws), "s3", "cp", "--recursive", "--only-show-errors", "--endpoint-url", dst_endpoint,
                    str(local), f"s3://{dst.url.bucket}/"], env)
    shutil.rmtree(local, ignore_errors=True)
    return down[0] + up[0], max(down[1], up[1])


def main() -> None:
    segments = int(os.environ.get("BENCH_STREAM_SEGMENTS", "32"))
    size = int(float(os.environ.get("BENCH_STREAM_SEGMENT_MIB", "16")) * MiB)
    with start_s3_server(port=0) as a, start_s3_server(port=0) as b, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = _side(a.endpoint, "stream-src", "us-east-1")
        t = time.perf_counter()
        objects = asyncio.run(build_bucket(src, partitions=1, segments=segments, size=size, index=True))
        stored = segments * size
        print(f"stream copy: {segments} segments x {size / MiB:g} MiB + .index objects + manifests = {objects} "
              f"objects ({stored / MiB:.0f} MiB) on server A, seeded in {time.perf_counter() - t:.1f} s; "
              f"concurrency {CONCURRENCY}")
        rows: list[tuple[str, float, float, str]] = []
        counter = iter(range(100))

        def fresh(endpoint: str) -> S3Side:
            dst = _side(endpoint, f"stream-dst-{next(counter)}", "eu-west-1", "dest")
            asyncio.run(ensure_bucket(dst))
            return dst

        # warm-up: moto's first writes into a fresh server are slower
        _sync(src, a.endpoint, fresh(b.endpoint), b.endpoint, "stream")

        dst = fresh(b.endpoint)
        wall, rss, report = _sync(src, a.endpoint, dst, b.endpoint, "stream")
        copied = asyncio.run(object_count(dst))
        through = int(report["metrics"]["streamed_bytes"])
        rows.append(("shadowreplica sync --copy-mode stream (A -> B)", wall, rss,
                     f"{through / MiB:.1f} MiB through the process for {copied} objects holding "
                     f"{stored / MiB:.0f} MiB of segments + 1 KiB indexes ({through / stored:.3f}x the segment "
                     "bytes: each byte once)"))
        if tools()["aws"]:
            aws_wall, aws_rss = _aws_cp(src, a.endpoint, fresh(b.endpoint), b.endpoint, work)
            rows.append(("aws s3 cp --recursive A -> disk -> B", aws_wall, aws_rss, "every byte through the client"))
        else:
            print("aws: not installed (bash bench/install_tools.sh), comparison skipped")
        same = _side(a.endpoint, "stream-server-side", "eu-west-1", "dest")
        asyncio.run(ensure_bucket(same))
        s_wall, s_rss, s_report = _sync(src, a.endpoint, same, a.endpoint, "server")
        rows.append(("shadowreplica sync --copy-mode server (A -> A)", s_wall, s_rss,
                     f"{int(s_report['metrics']['streamed_bytes']) / MiB:.0f} MiB through the process"))

        print("\n| path | wall | MiB/s | peak RSS | bytes |\n|---|---|---|---|---|")
        for name, w, r, note in rows:
            print(f"| {name} | {w:.2f} s | {stored / MiB / w:.0f} | {r:.0f} MiB | {note} |")
        stream_wall = rows[0][1]
        for name, w, _, _ in rows[1:]:
            print(f"stream copy vs {name}: {w / stream_wall:.2f}x its throughput")
        assert through >= stored, f"streamed {through} bytes, fewer than the {stored} stored"


if __name__ == "__main__":
    main()
