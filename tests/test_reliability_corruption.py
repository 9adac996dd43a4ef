"""Bad bytes in the bucket: damaged segments and malformed manifests, through every face.

One seeded topic, one partition per kind of damage, each applied to the partition's second segment:

=============  ==============================================================================================
header         a bit flipped in a batch header (Redpanda's header CRC no longer matches)
records        a bit flipped inside a batch's records (Kafka's batch CRC no longer matches)
crc            a bit flipped in the header CRC field itself
truncated      the object cut inside a batch (shorter than its manifest entry)
zero_tail      the bytes from a batch on replaced with zeros (same size: looks like a preallocated tail)
wrong_size     the manifest entry claims 4 KiB more than the object has (object renamed to match v3 names)
=============  ==============================================================================================

For each: ``shadowreplica inspect`` exits 1 naming the byte position; ``verify --deep`` reports key and
position (plain ``verify`` only what sizes show); the Kafka shim answers CORRUPT_MESSAGE from the damaged
batch on and serves the segments before and after it (and the batches before the damage in a read that
starts earlier); HTTP answers 422 with the key and position. Malformed manifests (bad JSON, a missing
field, offsets going backwards, an unknown sname_format) are rejected with a clear error, the last good
manifest stays served and the rejection metric rises; the replicator refuses them and keeps the last good
destination manifest.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from conftest import BucketPair

from app.config import S3Side
from app.kafka.protocol import ApiKey, FetchPartition, FetchRequest, FetchTopic
from segment_format.batch import BatchType
from segment_format.manifest import PartitionManifest, parse_partition_manifest
from segment_format.offsets import translate
from segment_format.segment import iter_batches
from tests.kafka_support import RawClient, new_bucket, parse_fetch_response, seed, serving
from tests.reliability_support import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

KINDS = ("header", "records", "crc", "truncated", "zero_tail", "wrong_size")
CORRUPT_MESSAGE = 2


def _s3(side: S3Side) -> Any:
    return boto3.client("s3", endpoint_url=side.endpoint_url, region_name=side.region, aws_access_key_id="test",
                        aws_secret_access_key="test")


def _manifest_keys(side: S3Side) -> dict[int, str]:
    s3 = _s3(side)
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=side.url.bucket):
        for o in page.get("Contents", ()):
            if o["Key"].endswith("/manifest.json") and "/orders/" in o["Key"]:
                out[int(o["Key"].split("/")[-2].split("_")[0])] = o["Key"]
    return out


def _get(side: S3Side, key: str) -> bytes:
    return bytes(_s3(side).get_object(Bucket=side.url.bucket, Key=key)["Body"].read())


def _put(side: S3Side, key: str, body: bytes) -> None:
    _s3(side).put_object(Bucket=side.url.bucket, Key=key, Body=body)


@dataclass
class Damage:
    kind: str
    partition: int
    key: str  # the damaged segment's key (after the damage: wrong_size renames it)
    position: int  # where the damage starts, as every face must report it
    kafka_offset: int  # a Kafka offset inside the damaged range
    before: int  # a Kafka offset in the segment before (always served)
    after: int  # a Kafka offset in the segment after (always served)


def _damage(side: S3Side, kind: str, partition: int, mkey: str) -> Damage:
    m = parse_partition_manifest(_get(side, mkey))
    assert len(m.segments) >= 3, "each partition needs a segment before and after the damaged one"
    meta = m.segments[1]
    key = m.segment_key(meta)
    body = bytearray(_get(side, key))
    data = [tb for tb in translate(iter_batches(bytes(body)), meta.delta_offset or 0)
            if tb.batch.header.type == BatchType.raft_data and tb.kafka_base_offset is not None]
    victim = data[len(data) // 2]
    pos = victim.batch.position
    kafka = victim.kafka_base_offset
    assert kafka is not None and pos > 0
    position = pos
    if kind == "header":
        body[pos + 9] ^= 0x10  # base_offset
    elif kind == "records":
        body[pos + 61 + 7] ^= 0x01
    elif kind == "crc":
        body[pos] ^= 0x80  # the header CRC field
    elif kind == "truncated":
        body = body[: pos + 30]  # inside the batch header
        position = pos + 30
    elif kind == "zero_tail":
        body[pos:] = bytes(len(body) - pos)
    if kind == "wrong_size":
        # a v3 name carries the size: the entry says 4 KiB more, the object moves to the name it implies
        bigger = [s if s is not meta else dataclasses.replace(meta, size_bytes=meta.size_bytes + 4096)
                  for s in m.segments]
        new = m.with_segments(bigger)
        new_key = new.segment_key(new.segments[1])
        s3 = _s3(side)
        for suffix in ("", ".index", ".tx"):
            try:
                s3.copy_object(Bucket=side.url.bucket, Key=new_key + suffix,
                               CopySource={"Bucket": side.url.bucket, "Key": key + suffix})
            except s3.exceptions.ClientError:
                continue
        _put(side, mkey, new.to_json())
        key, position = new_key, meta.size_bytes
        kafka = meta.next_kafka_offset - 1  # the last batch needs the bytes that are not there
    else:
        _put(side, key, bytes(body))
    first, third = m.segments[0], m.segments[2]
    return Damage(kind, partition, key, position, kafka, first.base_kafka_offset, third.base_kafka_offset)


@pytest.fixture(scope="module")
def damaged(s3_server: str) -> Iterator[tuple[S3Side, dict[str, Damage]]]:
    side = new_bucket(s3_server)
    seed(side, topics=1, partitions=len(KINDS), size=f"{len(KINDS) * 320}KiB", segment_size="64KiB", seed_value=5,
         layout="prefixed")  # the damage is written into manifest.json
    keys = _manifest_keys(side)
    yield side, {kind: _damage(side, kind, p, keys[p]) for p, kind in enumerate(KINDS)}


def test_inspect_reports_each_damage_with_its_position(damaged: tuple[S3Side, dict[str, Damage]]) -> None:
    side, damages = damaged
    expected = {
        "header": "header_crc", "records": "Kafka CRC mismatch", "crc": "header_crc",
        "truncated": "manifest entry says", "zero_tail": "zero-filled from position",
        "wrong_size": "manifest entry says",
    }
    with ThreadPoolExecutor(4) as pool:
        runs = dict(zip(damages, pool.map(lambda d: run_cli(side.endpoint_url or "", "inspect",
                                                            f"s3://{side.url.bucket}/{d.key}", "--region",
                                                            side.region), damages.values()), strict=True))
    for kind, d in damages.items():
        done = runs[kind]
        assert done.returncode == 1, (kind, done.stdout[-2000:])
        errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        assert errors, (kind, done.stderr)
        assert any(expected[kind].lower() in e.lower() and str(d.position) in e for e in errors), (kind, errors)
        assert "Traceback" not in done.stderr
        if kind == "truncated":  # and the batch the cut went through, at its own position
            assert any("truncated:" in e and f"position {d.position - 30}" in e for e in errors), errors
    # an undamaged segment of the same bucket is clean
    m = parse_partition_manifest(_get(side, _manifest_keys(side)[0]))
    clean = run_cli(side.endpoint_url or "", "inspect", f"s3://{side.url.bucket}/{m.segment_key(m.segments[0])}",
                    "--region", side.region)
    assert clean.returncode == 0 and "no problems" in clean.stdout


def test_verify_deep_names_key_and_position(damaged: tuple[S3Side, dict[str, Damage]]) -> None:
    side, damages = damaged
    shallow = run_cli(side.endpoint_url or "", "verify", "--dest", str(side.url), "--dest-region", side.region,
                      "--json")
    assert shallow.returncode == 1
    found = json.loads(shallow.stdout)["violations"]
    # sizes show two kinds without reading a byte: the cut object and the entry that claims too much
    assert {kind for kind, d in damages.items() if any(d.key in v for v in found)} == {"truncated", "wrong_size"}
    deep = run_cli(side.endpoint_url or "", "verify", "--dest", str(side.url), "--dest-region", side.region,
                   "--json", "--deep")
    assert deep.returncode == 1
    violations = json.loads(deep.stdout)["violations"]
    for kind, d in damages.items():
        mine = [v for v in violations if f"{d.key} at byte " in v]
        assert mine, (kind, violations)
        assert any(f"at byte {d.position}:" in v for v in mine), (kind, mine)
    damaged_keys = {d.key for d in damages.values()}
    assert all(any(k in v for k in damaged_keys) for v in violations), "a clean segment was reported"


def _fetch(port: int, topic: str, partition: int, offset: int) -> tuple[int, list[tuple[int, int, int]]]:
    req = FetchRequest(max_wait_ms=5000, min_bytes=1, max_bytes=1 << 20, topics=(
        FetchTopic(topic=topic, partitions=(FetchPartition(partition=partition, fetch_offset=offset,
                                                           partition_max_bytes=1 << 20),)),))
    with RawClient(port) as c:
        c.send(ApiKey.Fetch, 11, req)
        _, parts = parse_fetch_response(c.recv(), 11)
    p = parts[(topic, partition)]
    return p.error_code, p.batches()


def test_kafka_shim_answers_corrupt_message_for_the_range_and_serves_the_rest(
        damaged: tuple[S3Side, dict[str, Damage]], tmp_path: Path) -> None:
    side, damages = damaged
    with serving(side, cache_dir=tmp_path / "cache") as server:
        for kind, d in damages.items():
            err, batches = _fetch(server.port, "orders", d.partition, d.kafka_offset)
            assert err == CORRUPT_MESSAGE and not batches, (kind, err)
            for ok_offset in (d.before, d.after):
                err, batches = _fetch(server.port, "orders", d.partition, ok_offset)
                assert err == 0 and batches and batches[0][0] <= ok_offset, (kind, ok_offset, err)
            # a read from the segment before runs up to the damage, not into it
            err, batches = _fetch(server.port, "orders", d.partition, d.before)
            assert all(base + last < d.kafka_offset or kind in ("truncated", "wrong_size")
                       for base, last, _ in batches)
            line = server.wait_for_log(d.key, timeout=10)
            assert str(d.position) in server.log_text(), (kind, line)
        # the undamaged partition-less topic data is untouched: every partition's log start still reads
        for d in damages.values():
            assert _fetch(server.port, "orders", d.partition, 0)[0] == 0


async def test_http_answers_422_with_key_and_position(damaged: tuple[S3Side, dict[str, Damage]],
                                                      tmp_path: Path) -> None:
    from tests.http_fixtures import running

    side, damages = damaged
    args = ["http", "--bucket", str(side.url), "--region", side.region, "--endpoint-url", side.endpoint_url or "",
            "--listen", "127.0.0.1:0", "--cache-dir", str(tmp_path / "cache")]
    async with running(*args) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        for kind, d in damages.items():
            path = f"/topics/orders/partitions/{d.partition}/records"
            resp = await client.get(path, params={"offset": d.kafka_offset, "limit": 1})
            assert resp.status_code == 422, (kind, resp.text)
            body = resp.json()
            assert body["error"] == "CorruptData" and body["key"] == d.key and body["position"] == d.position, \
                (kind, body)
            for ok_offset in (d.before, d.after):
                ok = await client.get(path, params={"offset": ok_offset, "limit": 5})
                assert ok.status_code == 200 and ok.json()["records"], (kind, ok.text)


# ------------------------------------------------------------------------------------------ manifests


def _bad_manifests(good: bytes, served: PartitionManifest) -> dict[str, bytes]:
    doc = json.loads(good)
    missing = {k: v for k, v in doc.items() if k != "last_offset"}
    names = list(doc["segments"])
    backwards = json.loads(good)
    seg = backwards["segments"][names[1]]
    seg["committed_offset"] = seg["base_offset"] - 1  # committed before base
    kept = served.segments[:-1]  # well-formed, but behind what is already served
    regress = served.with_segments(kept, last_offset=kept[-1].committed_offset)
    unknown = json.loads(good)
    unknown["segments"][names[0]]["sname_format"] = 9
    return {
        "bad JSON": good[: len(good) // 2],
        "missing field": json.dumps(missing).encode(),
        "offsets backwards": json.dumps(backwards).encode(),
        "last offset regresses": regress.to_json(),
        "unknown sname_format": json.dumps(unknown).encode(),
    }


def _metric(text: str, name: str) -> float:
    m = re.search(rf'^{name}(?:_total)?{{side="dest"}} ([0-9.e+]+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


async def test_malformed_manifests_are_rejected_and_the_last_good_one_stays_served(s3_server: str,
                                                                                   tmp_path: Path) -> None:
    import asyncio

    from tests.http_fixtures import running

    side = await asyncio.to_thread(new_bucket, s3_server)
    await asyncio.to_thread(seed, side, topics=1, partitions=1, size="384KiB", segment_size="64KiB",
                            layout="prefixed")  # malformed manifest.json bodies are written below
    mkey = (await asyncio.to_thread(_manifest_keys, side))[0]
    good = await asyncio.to_thread(_get, side, mkey)
    served = parse_partition_manifest(good)
    args = ["http", "--bucket", str(side.url), "--region", side.region, "--endpoint-url", side.endpoint_url or "",
            "--listen", "127.0.0.1:0", "--cache-dir", str(tmp_path / "cache")]
    env = {"SHADOWREPLICA_CACHE_MANIFEST_REFRESH_INTERVAL": "0.1"}
    async with running(*args, env=env) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        part = (await client.get("/topics/orders/partitions/0")).json()
        hw = part["high_watermark"]
        assert hw == served.kafka_next_offset
        for what, body in _bad_manifests(good, served).items():
            before = _metric((await client.get("/metrics")).text, "shadowreplica_catalog_manifest_errors")
            await asyncio.to_thread(_put, side, mkey, body)
            for _ in range(300):  # until the refresh loop has seen it (a convergence wait)
                now = _metric((await client.get("/metrics")).text, "shadowreplica_catalog_manifest_errors")
                if now > before:
                    break
                await asyncio.sleep(0.05)
            assert now == before + 1, what
            again = (await client.get("/topics/orders/partitions/0")).json()
            assert again["high_watermark"] == hw, what  # the last good manifest
            recs = await client.get("/topics/orders/partitions/0/records", params={"offset": hw - 5, "limit": 5})
            assert recs.status_code == 200 and recs.json()["records"], what
        await asyncio.to_thread(_put, side, mkey, good)
    # inspect says what is wrong, in one line, and exits 1 (the regressing one is well-formed on its own:
    # only a reader that served the newer manifest knows better)
    files = []
    for i, (what, body) in enumerate(_bad_manifests(good, served).items()):
        if what != "last offset regresses":
            (tmp_path / str(i)).mkdir()
            (tmp_path / str(i) / "manifest.json").write_bytes(body)
            files.append((what, tmp_path / str(i) / "manifest.json"))
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda f: run_cli(s3_server, "inspect", str(f[1])), files))
    for (what, _), done in zip(files, runs, strict=True):
        assert done.returncode == 1 and done.stderr.startswith("error: ") and \
            len(done.stderr.strip().splitlines()) == 1, (what, done.stderr)


async def test_replicator_refuses_a_malformed_source_manifest_and_keeps_the_destination(
        buckets: BucketPair) -> None:
    from replicator_support import KiB, config, sync_once
    from replicator_support import seed as seed_pair

    from app.replicator import verify_bucket
    from app.store import ObjectStore

    await seed_pair(buckets.source, topics=1, partitions=2, size=384 * KiB, segment=64 * KiB)
    assert (await sync_once(buckets)).report.ok
    async with ObjectStore(buckets.source) as src, ObjectStore(buckets.dest) as dst:
        mkey = sorted([i.key async for i in src.list("") if i.key.endswith("/manifest.json")])[0]
        good = (await src.get(mkey)).body
        dest_before = (await dst.get(mkey)).body
        for what, body in _bad_manifests(good, parse_partition_manifest(good)).items():
            if what == "last offset regresses":
                continue  # well-formed: the plan never moves the destination back in time (test_replicator)
            await src.put(mkey, body)
            run = await sync_once(buckets, config(max_retries=2))
            assert not run.report.ok and len(run.report.failed) == 1, (what, run.report)
            assert run.metrics.errors["bad_manifest"] >= 1, what
            worker = next(w for w in run.replicator.workers.values() if str(w.pid) == run.report.failed[0])
            assert worker.lag.state == "error" and "unreadable source manifest" in (worker.lag.last_error or ""), \
                (what, worker.lag.last_error)
            assert (await dst.get(mkey)).body == dest_before, what  # the last good destination manifest stays
            assert (await verify_bucket(dst, None)).ok, what
        await src.put(mkey, good)
    assert (await sync_once(buckets)).report.ok
