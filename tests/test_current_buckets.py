"""Buckets as current Redpanda writes them: labeled keys, ``.bin``-only manifests, upgraded (mixed) buckets,
spillovers, several clusters in one bucket, and keys of layouts we do not know.

Everything runs as a user would: ``shadowreplica seed``/``sync``/``verify``/``serve``/``http`` processes
against a real S3 server process, real Kafka clients (kafka-python, aiokafka, confluent-kafka) and httpx.
The expected records come from ``tests/bucket_oracle.py``, which shares no code with the service: it finds
partitions from the segment listing with its own key patterns, walks the logs with ``struct`` and decodes
records with kafka-python's batch reader, and takes aborted transactions from the logs' control batches.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest

from app.config import S3Side
from tests.bucket_oracle import OraclePartition, read_bucket_s3
from tests.client_support import CLIENTS, consume, expected
from tests.http_fixtures import running
from tests.kafka_support import ServeProcess, new_bucket, run_cli, seed, start_serve

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

CLUSTER = "6f1c5e0a-3b2d-4c8e-9a7f-0d1e2f3a4b5c"
OTHER = "0b9a8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"
TOPICS = 4  # mixed: topics 0 and 1 hash-prefixed (.bin manifests), 2 and 3 labeled
PARTITIONS = 2


@dataclass
class Pair:
    source: S3Side
    dest: S3Side
    endpoint: str


def keys_of(side: S3Side) -> dict[str, int]:
    s3 = boto3.client("s3", endpoint_url=side.endpoint_url, region_name=side.region, aws_access_key_id="test",
                      aws_secret_access_key="test")
    return {o["Key"]: o["Size"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=side.url.bucket)
            for o in page.get("Contents", ())}


def side_flags(pair: Pair) -> list[str]:
    return ["--source", str(pair.source.url), "--source-region", pair.source.region, "--source-endpoint-url",
            pair.endpoint, "--dest", str(pair.dest.url), "--dest-region", pair.dest.region,
            "--dest-endpoint-url", pair.endpoint]


@pytest.fixture(scope="module")
def mixed(s3_server: str) -> Pair:
    """An upgraded cluster's bucket (prefixed and labeled topics, spillover manifests), synced once."""
    pair = Pair(new_bucket(s3_server, "us-east-1"), new_bucket(s3_server), s3_server)
    seed(pair.source, topics=TOPICS, partitions=PARTITIONS, size="3MiB", segment_size="64KiB", layout="mixed",
         spillover=2, cluster_uuid=CLUSTER)
    done = run_cli(pair.source, ["sync", *side_flags(pair), "--once", "--no-progress", "--json"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["ok"]
    return pair


@pytest.fixture(scope="module")
def oracle(mixed: Pair) -> dict[tuple[str, str, int], OraclePartition]:
    truth = read_bucket_s3(mixed.endpoint, mixed.source.url.bucket, mixed.source.region)
    assert len(truth) == TOPICS * PARTITIONS
    return truth


@pytest.fixture(scope="module")
def server(mixed: Pair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    s = start_serve(mixed.dest, cache_dir=tmp_path_factory.mktemp("cache"))
    yield s
    s.stop()


def by_topic(oracle: dict[tuple[str, str, int], OraclePartition]) -> dict[tuple[str, int], OraclePartition]:
    return {(t, p): part for (_, t, p), part in oracle.items()}


# ------------------------------------------------------------------------------------------- layout


def test_seed_writes_what_current_redpanda_writes(mixed: Pair, oracle: dict[tuple[str, str, int], OraclePartition]) -> None:
    keys = keys_of(mixed.source)
    labeled = [k for k in keys if k.startswith(CLUSTER + "/")]
    assert any(k.startswith(f"{CLUSTER}/meta/kafka/") and k.endswith("/manifest.bin") for k in labeled)
    assert any(k.startswith(f"{CLUSTER}/kafka/") and ".log." in k for k in labeled)
    assert not any(k.endswith(".json") for k in keys if not k.endswith(".tx")), "no JSON manifests anywhere"
    assert sum(k.startswith("meta/kafka/") and k.endswith("/topic_manifest.bin") for k in keys) == 2
    prefixed_meta = [k for k in keys if k[8:14] == "/meta/"]
    assert sum(k.endswith("/topic_manifest.bin") for k in prefixed_meta) == 2
    assert sum(k.endswith("/manifest.bin") for k in prefixed_meta) == 2 * PARTITIONS
    spills = [k for k in keys if "/manifest.bin." in k]
    assert len(spills) == 2 * TOPICS * PARTITIONS and any(k.startswith(CLUSTER) for k in spills)
    layouts = {label for label, _, _ in oracle}
    assert layouts == {"", CLUSTER}
    # realistic data: aborted transactions and several terms are there (else the tests below prove less)
    assert any(p.aborted for p in oracle.values())


def test_sync_copies_every_layout_under_the_same_keys(mixed: Pair) -> None:
    source, dest = keys_of(mixed.source), keys_of(mixed.dest)
    assert dest == source  # same keys (a copy keeps its layout), same sizes; manifests written last


def test_verify_checks_both_layouts(mixed: Pair) -> None:
    done = run_cli(mixed.dest, ["verify", *side_flags(mixed), "--json"])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["ok"] and not report["unchecked"]
    parts = report["partitions"]
    assert len(parts) == TOPICS * PARTITIONS
    assert {p["layout"] for p in parts} == {"prefixed", "labeled"}
    assert all(p["restorable_offset"] > 0 and p["spillovers"] == 2 for p in parts)
    assert all(p["cluster_uuid"] == (CLUSTER if p["layout"] == "labeled" else None) for p in parts)
    assert report["topics"] == TOPICS
    text = run_cli(mixed.dest, ["verify", *side_flags(mixed)])
    assert text.returncode == 0 and f"(cluster {CLUSTER}): restorable up to Kafka offset" in text.stdout


def test_status_reports_caught_up_for_both_layouts(mixed: Pair) -> None:
    done = run_cli(mixed.dest, ["status", *side_flags(mixed)])
    assert done.returncode == 0, done.stderr[-2000:]
    status = json.loads(done.stdout)
    assert status["caught_up"] and len(status["partitions"]) == TOPICS * PARTITIONS
    assert sorted(status["topics"])[-1].endswith(f"(cluster {CLUSTER})")


# ------------------------------------------------------------------------------------------- Kafka


@pytest.mark.parametrize("isolation", ["read_uncommitted", "read_committed"])
@pytest.mark.parametrize("client", CLIENTS)
def test_every_client_reads_every_partition(server: ServeProcess, oracle: dict[tuple[str, str, int], OraclePartition],
                                            client: str, isolation: str) -> None:
    parts = by_topic(oracle)
    got = consume(client, server.bootstrap, {tp: p.high_watermark for tp, p in parts.items()}, isolation)
    assert got == expected(parts, committed=isolation == "read_committed")


# ------------------------------------------------------------------------------------------- HTTP


def _http_args(side: S3Side, endpoint: str, cache: Path, *extra: str) -> list[str]:
    return ["http", "--bucket", str(side.url), "--region", side.region, "--endpoint-url", endpoint,
            "--listen", "127.0.0.1:0", "--cache-dir", str(cache), *extra]


async def test_http_serves_both_layouts(mixed: Pair, oracle: dict[tuple[str, str, int], OraclePartition],
                                        tmp_path: Path) -> None:
    async with running(*_http_args(mixed.dest, mixed.endpoint, tmp_path)) as url, \
            httpx.AsyncClient(base_url=url, timeout=30) as client:
        topics = {t["name"]: t for t in (await client.get("/topics")).json()["topics"]}
        assert {(t["layout"], t["cluster_uuid"]) for t in topics.values()} == {("prefixed", None), ("labeled", CLUSTER)}
        for (label, topic, p), part in sorted(oracle.items()):
            assert topics[topic]["layout"] == ("labeled" if label else "prefixed")
            body = (await client.get(f"/topics/{topic}/partitions/{p}/records",
                                     params={"limit": 10_000, "decode": "base64"})).json()
            got = [(r["offset"], None if r["value"] is None else base64.b64decode(r["value"])) for r in body["records"]]
            assert got == [(r.offset, r.value) for r in part.records], f"{topic}/{p}"
            assert body["high_watermark"] == part.high_watermark


# ------------------------------------------------------------------------------------------- clusters


@pytest.fixture(scope="module")
def shared(s3_server: str) -> S3Side:
    """Two clusters in one bucket (``cloud_storage_cluster_name``), both with a topic named ``orders``; the
    second one's manifests are newer. Plus keys of a layout we do not know."""
    side = new_bucket(s3_server, "us-east-1")
    seed(side, topics=1, partitions=1, size="256KiB", segment_size="64KiB", seed_value=1, cluster_uuid=OTHER)
    time.sleep(1.1)  # S3 LastModified has one-second resolution
    seed(side, topics=2, partitions=1, size="512KiB", segment_size="64KiB", seed_value=2, cluster_uuid=CLUSTER)
    s3 = boto3.client("s3", endpoint_url=side.endpoint_url, region_name=side.region, aws_access_key_id="test",
                      aws_secret_access_key="test")
    s3.put_object(Bucket=side.url.bucket, Key=f"{CLUSTER}/l0/objects/0001.bin", Body=b"x")  # a newer layout
    s3.put_object(Bucket=side.url.bucket, Key="meta/kafka/orders/stray.json", Body=b"{}")
    return side


def test_two_clusters_one_name_newest_by_default_and_chosen_by_flag(shared: S3Side, tmp_path: Path) -> None:
    truth = read_bucket_s3(shared.endpoint_url or "", shared.url.bucket, shared.region)
    assert {(label, t) for label, t, _ in truth} == {(OTHER, "orders"), (CLUSTER, "orders"), (CLUSTER, "payments")}

    async def check(extra: list[str], label: str) -> dict[str, object]:
        async with running(*_http_args(shared, shared.endpoint_url or "", tmp_path, *extra)) as url, \
                httpx.AsyncClient(base_url=url, timeout=30) as client:
            listing = (await client.get("/topics")).json()
            orders = next(t for t in listing["topics"] if t["name"] == "orders")
            assert orders["cluster_uuid"] == label
            assert orders["other_clusters"] == [OTHER if label == CLUSTER else CLUSTER]
            body = (await client.get("/topics/orders/partitions/0/records",
                                     params={"limit": 10_000, "decode": "base64"})).json()
            want = truth[(label, "orders", 0)].records
            assert [r["offset"] for r in body["records"]] == [r.offset for r in want]
            assert [base64.b64decode(r["value"]) if r["value"] else None for r in body["records"]] == [r.value for r in want]
            return listing

    listing = asyncio.run(check([], CLUSTER))  # default: the cluster whose manifests are newest
    assert {u["prefix"] for u in listing["unsupported"]} == {f"{CLUSTER}/l0/", "meta/kafka/orders/stray.json"}
    asyncio.run(check(["--cluster-uuid", OTHER], OTHER))


def test_kafka_serves_the_chosen_cluster(shared: S3Side, tmp_path: Path) -> None:
    from kafka import KafkaConsumer, TopicPartition

    truth = read_bucket_s3(shared.endpoint_url or "", shared.url.bucket, shared.region)
    server = start_serve(shared, cache_dir=tmp_path, args=["--cluster-uuid", OTHER])
    try:
        c = KafkaConsumer(bootstrap_servers=server.bootstrap, enable_auto_commit=False, consumer_timeout_ms=3000)
        try:
            assert c.topics() == {"orders"}  # that cluster's topics only
            c.assign([TopicPartition("orders", 0)])
            c.seek_to_beginning()
            assert [(m.offset, m.value) for m in c] == [(r.offset, r.value) for r in truth[(OTHER, "orders", 0)].records]
        finally:
            c.close()
    finally:
        server.stop()


def test_sync_cluster_uuid_copies_one_cluster(shared: S3Side, s3_server: str) -> None:
    pair = Pair(shared, new_bucket(s3_server), s3_server)
    done = run_cli(shared, ["sync", *side_flags(pair), "--once", "--no-progress", "--cluster-uuid", OTHER])
    assert done.returncode == 0, done.stderr[-3000:]
    copied = keys_of(pair.dest)
    assert copied and all(k.startswith(OTHER) or k.startswith(f"meta/kafka/orders/{OTHER}/") for k in copied)
    assert copied == {k: v for k, v in keys_of(shared).items() if k in copied}
    assert len([k for k in keys_of(shared) if k.startswith(OTHER) or f"/{OTHER}/" in k]) == len(copied)
    bad = run_cli(shared, ["sync", *side_flags(pair), "--once", "--cluster-uuid", "not-a-uuid"])
    assert bad.returncode == 2 and "not a cluster UUID" in bad.stderr


def test_verify_says_what_it_could_not_check(shared: S3Side) -> None:
    done = run_cli(shared, ["verify", "--dest", str(shared.url), "--dest-region", shared.region,
                            "--dest-endpoint-url", shared.endpoint_url or ""])
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"NOT CHECKED {CLUSTER}/l0/: 1 object(s) or folder(s) in no known tiered-storage layout" in done.stdout
    assert "NOT CHECKED meta/kafka/orders/stray.json: 1 object(s)" in done.stdout
    assert "3 partitions, 3 topic manifests" in done.stdout
