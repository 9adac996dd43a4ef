"""Integration: `shadowreplica seed` writes a valid Redpanda layout on a real S3 server process, and
`shadowreplica inspect` reads it back; bad input gives one error line and a non-zero exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.store import ObjectStore
from app.tools.seed import seed_bucket
from app.tools.seedgen import SeedSpec, generate_partition, topic_name
from segment_format.batch import BatchType
from segment_format.index import build_index_object
from segment_format.keys import parse_segment_key, topic_manifest_key
from segment_format.manifest import parse_partition_manifest, parse_topic_manifest
from segment_format.offsets import translate
from segment_format.records import Compression
from segment_format.remote_index import decode_remote_index
from segment_format.segment import Tail, iter_batches

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, `make test-fast` does not

CLI = [sys.executable, "-m", "app.cli"]
SPEC = SeedSpec(topics=2, partitions=2, total_bytes=2 * 1024 * 1024, segment_bytes=256 * 1024, seed=7)


def run_cli(args: list[str], endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    return subprocess.run(CLI + args, capture_output=True, text=True, env=env, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)


def test_seed_is_deterministic_and_complete() -> None:
    a = [(o.key, o.body) for o in generate_partition(SPEC, 1, 0)]
    b = [(o.key, o.body) for o in generate_partition(SPEC, 1, 0)]
    assert a == b
    other = SeedSpec(topics=2, partitions=2, total_bytes=SPEC.total_bytes, segment_bytes=SPEC.segment_bytes, seed=8)
    c = [(o.key, o.body) for o in generate_partition(other, 1, 0)]
    assert [x for _, x in a] != [x for _, x in c], "another seed gives other bytes"
    kinds = [k.rsplit(".", 1)[-1] for k, _ in a]
    assert a[-1][0].endswith("/manifest.json"), "the manifest comes last"
    assert "index" in kinds


def test_seeded_partition_is_a_valid_redpanda_log() -> None:
    """Every segment: CRCs valid, manifest entry agrees with the bytes, offsets translate, index matches."""
    objs = {o.key: o.body for o in generate_partition(SPEC, 1, 0)}
    manifest = parse_partition_manifest(objs[next(k for k in objs if k.endswith("manifest.json"))])
    assert manifest.anomalies() == []
    seen_types: set[int] = set()
    codecs: set[int] = set()
    previous_end = None
    for meta in manifest.segments:
        key = manifest.segment_key(meta)
        body = objs[key]
        assert len(body) == meta.size_bytes
        assert parse_segment_key(key).name.size_bytes == meta.size_bytes
        reader = iter_batches(body)
        translated = list(translate(reader, meta.delta_offset or 0))
        assert reader.tail is Tail.END
        assert translated[0].batch.header.base_offset == meta.base_offset
        assert translated[-1].batch.header.last_offset == meta.committed_offset
        last_delta = (meta.delta_offset or 0) + sum(
            t.batch.header.last_offset_delta + 1 for t in translated if t.kafka_base_offset is None)
        assert last_delta == meta.delta_offset_end
        if previous_end is not None:
            assert meta.delta_offset == previous_end
        previous_end = meta.delta_offset_end
        for t in translated:
            seen_types.add(t.batch.header.type)
            codecs.add(t.batch.header.compression)
            t.batch.decode_records()
        assert objs[key + ".index"] == build_index_object(body, meta.delta_offset or 0, meta.base_offset)
        decode_remote_index(objs[key + ".index"])
        if meta.metadata_size_hint:
            assert len(objs[key + ".tx"]) == meta.metadata_size_hint
    assert {BatchType.raft_data, BatchType.raft_configuration}.issubset(seen_types)
    assert manifest.kafka_next_offset == manifest.segments[-1].next_kafka_offset


def test_topic_zero_uses_every_codec() -> None:
    objs = {o.key: o.body for o in generate_partition(SPEC, 0, 0)}
    codecs = {b.header.compression for k, v in objs.items() if k.endswith((".1", ".2", ".3"))
              for b in iter_batches(v)}
    assert codecs == {int(c) for c in Compression}


async def test_seed_bucket_then_inspect(buckets, s3_server: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = await seed_bucket(buckets.source, SPEC, progress=False)
    assert report.partitions == 4 and report.bytes >= SPEC.total_bytes
    async with ObjectStore(buckets.source) as store:
        keys = [o.key async for o in store.list("")]
        tm = parse_topic_manifest((await store.get(topic_manifest_key("kafka", topic_name(0)))).body)
        assert tm.partition_count == 2
        manifests = [k for k in keys if k.endswith("/manifest.json")]
        assert len(manifests) == 4
        m = parse_partition_manifest((await store.get(manifests[0])).body)
        for meta in m.segments:
            info = await store.head(m.segment_key(meta))
            assert info is not None and info.size == meta.size_bytes
        seg_key = m.segment_key(m.segments[1])

    bucket = buckets.source.url.bucket
    out = run_cli(["inspect", f"s3://{bucket}/{manifests[0]}"], s3_server)
    assert out.returncode == 0, out.stderr
    assert f"partition manifest kafka/{m.topic}/{m.partition}" in out.stdout
    assert f"segments {len(m.segments)}" in out.stdout

    out = run_cli(["inspect", f"s3://{bucket}/{seg_key}", "--records"], s3_server)
    assert out.returncode == 0, out.stderr
    first_kafka = m.segments[1].base_kafka_offset
    assert f"delta_offset {m.segments[1].delta_offset}" in out.stdout
    assert f"@{first_kafka} " in out.stdout or f"@{first_kafka + 1} " in out.stdout
    assert "BAD" not in out.stdout

    out = run_cli(["inspect", f"s3://{bucket}/{seg_key}", "--json"], s3_server)
    doc = json.loads(out.stdout)
    assert doc["problems"] == [] and all(b["crc_ok"] for b in doc["batches"])

    # corrupt a copy locally: one flipped bit in the records of the second batch
    async with ObjectStore(buckets.source) as store:
        body = bytearray((await store.get(seg_key)).body)
    second = doc["batches"][1]["position"]
    body[second + 70] ^= 0x01
    bad = tmp_path / "bad-v1.log"
    bad.write_bytes(bytes(body))
    out = run_cli(["inspect", str(bad)], s3_server)
    assert out.returncode == 1
    assert f"position {second}" in out.stderr and "CRC" in out.stderr
    assert out.stdout.count(" ok") >= 2, "batches after the damaged one are still reported"
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inspect", "s3://BUCKET/no/such/key"], "no such object"),
        (["inspect", "/nonexistent/file-v1.log"], "No such file"),
        (["seed", "--bucket", "not-a-url"], "not an S3 bucket URL"),
        (["seed", "--bucket", "s3://x-bucket", "--size", "lots"], "not a size"),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], message: str, s3_server: str, buckets) -> None:  # type: ignore[no-untyped-def]
    args = [a.replace("BUCKET", buckets.source.url.bucket) for a in args]
    out = run_cli(args, s3_server)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_inspect_malformed_manifest_and_truncated_segment(tmp_path: Path, s3_server: str) -> None:
    bad = tmp_path / "manifest.json"
    bad.write_text('{"version":1,"namespace":"kafka","topic":"t","partition":0,"revision":1,"last_offset":5,'
                   '"segments":{"10-1-v1.log":{"size_bytes":1,"base_offset":10,"committed_offset":4}}}')
    out = run_cli(["inspect", str(bad)], s3_server)
    assert out.returncode == 1 and "committed_offset 4 < base_offset 10" in out.stderr
    objs = [o for o in generate_partition(SPEC, 0, 0) if o.kind == "segment"]
    seg = tmp_path / "0-1-v1.log"
    seg.write_bytes(objs[0].body[: len(objs[0].body) - 100])
    out = run_cli(["inspect", str(seg)], s3_server)
    assert out.returncode == 1 and "truncated" in out.stderr
