"""DR cut-over without the source: consumer positions come from the bucket's own cluster metadata.

`seed --groups` writes what Redpanda uploads for whole-cluster restore (offsets snapshots + a cluster
manifest); `sync` copies it; `serve` seeds its groups from it at start, clamped to the replica's high
watermark; real consumers of each client resume exactly there. The expected positions come from the
independent oracle's high watermarks and the seed's documented groups, not from the shim."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import S3Side
from tests.bucket_oracle import OraclePartition, read_bucket_s3
from tests.kafka_support import ServeProcess, new_bucket, run_cli, seed, start_serve

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

PARTITIONS = 2


@pytest.fixture(scope="module")
def replica(s3_server: str) -> S3Side:
    source, dest = new_bucket(s3_server, "us-east-1"), new_bucket(s3_server)
    seed(source, topics=2, partitions=PARTITIONS, size="768KiB", segment_size="64KiB", groups=True)
    done = run_cli(source, ["sync", "--source", str(source.url), "--source-region", source.region,
                            "--dest", str(dest.url), "--dest-region", dest.region, "--once", "--no-progress"])
    assert done.returncode == 0, done.stderr[-2000:]
    return dest


@pytest.fixture(scope="module")
def truth(replica: S3Side) -> dict[tuple[str, int], OraclePartition]:
    return {(t, p): part for (_, t, p), part in read_bucket_s3(replica.endpoint_url or "", replica.url.bucket,
                                                                replica.region).items()}


@pytest.fixture(scope="module")
def server(replica: S3Side, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    s = start_serve(replica, cache_dir=tmp_path_factory.mktemp("cache"))
    yield s
    s.stop()


def expected_positions(truth: dict[tuple[str, int], OraclePartition]) -> dict[str, dict[tuple[str, int], int]]:
    """The seed's groups (app/tools/seed_cluster.py), laggard clamped to the high watermark."""
    return {
        "dashboard": {("orders", p): truth[("orders", p)].high_watermark // 2 for p in range(PARTITIONS)},
        "billing": {("payments", p): truth[("payments", p)].high_watermark for p in range(PARTITIONS)},
        "laggard": {("orders", 0): truth[("orders", 0)].high_watermark},
    }


def test_serve_seeds_groups_from_the_bucket_clamped(server: ServeProcess,
                                                    truth: dict[tuple[str, int], OraclePartition]) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=server.bootstrap)
    try:
        for group, want in expected_positions(truth).items():
            got = admin.list_group_offsets(group)[group]
            assert {(tp.topic, tp.partition): m.offset for tp, m in got.items()} == {
                tp: o for tp, o in want.items()}, group
        # groups with committed offsets and no member are Empty, never Dead (Kafka's --describe then shows them)
        empty = {g["group_id"] for g in admin.list_groups(states_filter=["Empty"])}
        assert empty >= set(expected_positions(truth)), empty
        described = admin.describe_groups(list(expected_positions(truth)))
        assert {g: (d["group_state"], d["protocol_type"]) for g, d in described.items()} == {
            g: ("Empty", "consumer") for g in expected_positions(truth)}, described
        assert admin.describe_groups(["never-committed"])["never-committed"]["group_state"] == "Dead"
    finally:
        admin.close()
    line = server.wait_for_log("consumer group offsets from cluster")
    assert "3 groups" in line and "1 clamped" in line and "1 skipped" in line


def _first_offsets_kafka_python(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    from kafka import KafkaConsumer

    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                      auto_offset_reset="none", consumer_timeout_ms=8000)
    first: dict[int, int] = {}
    try:
        for m in c:
            first.setdefault(m.partition, m.offset)
            if len(first) == PARTITIONS:
                break
    finally:
        c.close()
    return first


def _first_offsets_confluent(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "error"})
    first: dict[int, int] = {}
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + 20
        while len(first) < PARTITIONS and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                first.setdefault(m.partition(), m.offset())
    finally:
        c.close()
    return first


def _first_offsets_aiokafka(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    from aiokafka import AIOKafkaConsumer

    async def go() -> dict[int, int]:
        c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="none")
        await c.start()
        first: dict[int, int] = {}
        try:
            deadline = time.monotonic() + 20
            while len(first) < PARTITIONS and time.monotonic() < deadline:
                for msgs in (await c.getmany(timeout_ms=500)).values():
                    for m in msgs:
                        first.setdefault(m.partition, m.offset)
        finally:
            await c.stop()
        return first

    return asyncio.run(go())


@pytest.mark.parametrize("client", ["kafka-python", "aiokafka", "confluent-kafka"])
def test_consumers_resume_exactly_at_the_seeded_offsets(server: ServeProcess,
                                                        truth: dict[tuple[str, int], OraclePartition],
                                                        client: str) -> None:
    want = expected_positions(truth)["dashboard"]
    consume = {"kafka-python": _first_offsets_kafka_python, "aiokafka": _first_offsets_aiokafka,
               "confluent-kafka": _first_offsets_confluent}[client]
    first = consume(server.bootstrap, "dashboard", "orders")
    # the first record at or after the committed offset (offsets skip control and fence batches)
    expect = {p: next(r.offset for r in truth[("orders", p)].records if r.offset >= want[("orders", p)])
              for p in range(PARTITIONS)}
    assert first == expect


def test_groups_import_from_bucket_reports_every_decision_and_keeps_groups_own(
        replica: S3Side, server: ServeProcess, truth: dict[tuple[str, int], OraclePartition],
        tmp_path: Path) -> None:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    dry = run_cli(replica, ["groups", "import", "--from-bucket", str(replica.url), "--dry-run"])
    assert dry.returncode == 0, dry.stderr
    hw = truth[("orders", 0)].high_watermark
    assert f"laggard orders/0: clamped {hw + 1000} -> {hw}" in dry.stdout
    assert "billing retired/0: skipped 42 (the replica has no such partition)" in dry.stdout
    # billing commits through the replica: a later import keeps the group's own offsets
    c = KafkaConsumer(bootstrap_servers=server.bootstrap, group_id="billing", enable_auto_commit=False)
    try:
        c.commit({TopicPartition("payments", 0): OffsetAndMetadata(3, "", -1)})
    finally:
        c.close()
    done = run_cli(replica, ["groups", "import", "--from-bucket", str(replica.url)])
    assert done.returncode == 0, done.stderr
    assert "billing payments/0: kept the group's own" in done.stdout
    missing = run_cli(replica, ["groups", "import", "--from-bucket", str(replica.url), "--cluster-uuid",
                                "0b9a8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"])
    assert missing.returncode == 2 and "no cluster metadata" in missing.stderr


@pytest.mark.parametrize("damage", ["truncated_snapshot", "garbage_snapshot", "malformed_manifest"])
def test_damaged_metadata_is_a_clear_error_and_leaves_groups_untouched(s3_server: str, damage: str,
                                                                       tmp_path: Path) -> None:
    """A cut or garbled offsets snapshot, or a cluster manifest that is not JSON: `groups import --from-bucket`
    names the object and exits 1; the groups already in the bucket keep their offsets; `serve` still starts
    (it logs the object) and serves what it had."""
    import boto3

    side = new_bucket(s3_server)
    seed(side, topics=2, partitions=PARTITIONS, size="256KiB", segment_size="64KiB", groups=True)
    csv_file = tmp_path / "offsets.csv"
    csv_file.write_text("group,topic,partition,offset,metadata\ndashboard,orders,0,2,\n")
    assert run_cli(side, ["groups", "import", str(csv_file), "--bucket", str(side.url)]).returncode == 0
    s3 = boto3.client("s3", endpoint_url=side.endpoint_url, region_name=side.region,
                      aws_access_key_id="test", aws_secret_access_key="test")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=side.url.bucket, Prefix="cluster_metadata/")["Contents"]]
    if damage == "malformed_manifest":
        victim = next(k for k in keys if k.endswith("cluster_manifest.json"))
        s3.put_object(Bucket=side.url.bucket, Key=victim, Body=b'{"version": 0, "cluster_uuid": ')
    else:
        victims = [k for k in keys if k.endswith(".snapshot")]
        for victim in victims:  # every snapshot damaged: nothing may be seeded from them
            body = s3.get_object(Bucket=side.url.bucket, Key=victim)["Body"].read()
            s3.put_object(Bucket=side.url.bucket, Key=victim,
                          Body=body[: len(body) // 2] if damage == "truncated_snapshot" else b"\xff" * len(body))
        victim = victims[0]
    before = run_cli(side, ["groups", "import", "--from-bucket", str(side.url), "--dry-run"])
    done = run_cli(side, ["groups", "import", "--from-bucket", str(side.url)])
    for out in (before, done):
        assert out.returncode in (1, 2) and out.returncode != 0, out.stdout + out.stderr
        assert victim in out.stderr and "not usable" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    # the group keeps the offset it had (the import above), nothing else was seeded from the damaged data
    got = s3.get_object(Bucket=side.url.bucket, Key="_shadowreplica/groups/dashboard.json")["Body"].read()
    import json as _json

    offsets = _json.loads(got)["offsets"]
    assert offsets == {"orders": {"0": offsets["orders"]["0"]}} and offsets["orders"]["0"]["offset"] == 2
    assert offsets["orders"]["0"]["source"] == "import"
    s = start_serve(side, cache_dir=tmp_path / "cache")
    try:
        s.wait_for_log("not usable")
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=s.bootstrap)
        try:
            got_offsets = admin.list_group_offsets("dashboard")["dashboard"]
            assert {(tp.topic, tp.partition): m.offset for tp, m in got_offsets.items()} == {("orders", 0): 2}
        finally:
            admin.close()
    finally:
        s.stop()
