"""Consumer groups against real `shadowreplica serve` processes: a group of three splits the partitions,
commits, one leaves and the others take over from its committed offsets; offsets survive a restart and
live in the bucket; two instances (``--peers``) serve one group; `groups import` seeds offsets."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.config import S3Side
from app.kafka.cluster import Cluster
from app.kafka.protocol import ApiKey, FindCoordinatorRequest, JoinGroupRequest, JoinGroupRequestProtocol
from tests.kafka_support import (
    PartitionTruth,
    RawClient,
    ServeProcess,
    free_port,
    new_bucket,
    read_object,
    read_truth,
    run_cli,
    seed,
    start_serve,
)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TOPIC = "orders"
PARTITIONS = 6
OFFSETS_PREFIX = "_shadowreplica/groups"


@pytest.fixture(scope="module")
def bucket(s3_server: str) -> S3Side:
    side = new_bucket(s3_server)
    seed(side, topics=1, partitions=PARTITIONS, size="1200KiB", segment_size="96KiB")
    return side


@pytest.fixture(scope="module")
def truth(bucket: S3Side) -> dict[int, PartitionTruth]:
    return {p: t for (_, p), t in read_truth(bucket).items()}


@pytest.fixture(scope="module")
def server(bucket: S3Side, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    s = start_serve(bucket, cache_dir=tmp_path_factory.mktemp("cache"))
    yield s
    s.stop()


def committed_in_bucket(side: S3Side, group: str) -> dict[int, int]:
    doc = json.loads(read_object(side, f"{OFFSETS_PREFIX}/{group}.json"))
    return {int(p): c["offset"] for p, c in doc["offsets"].get(TOPIC, {}).items()}


def ck_consumer(bootstrap: str, group: str, **extra: Any) -> Any:
    from confluent_kafka import Consumer

    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 300,
                     "partition.assignment.strategy": "range", **extra})


def poll_all(consumers: list[Any], seen: dict[int, list[tuple[int, int]]], until: Any, timeout: float = 40) -> None:
    """Poll every consumer in turn, recording (partition, offset) per consumer index, until ``until()``."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "timed out"
        for i, c in enumerate(consumers):
            for m in c.consume(1000, 0.02):
                assert m.error() is None, m.error()
                seen.setdefault(i, []).append((m.partition(), m.offset()))


def assignment(c: Any) -> set[int]:
    return {tp.partition for tp in c.assignment()}


def test_three_consumers_split_commit_and_one_leaves(server: ServeProcess, bucket: S3Side,
                                                     truth: dict[int, PartitionTruth]) -> None:
    from confluent_kafka import TopicPartition

    group = "three"
    consumers = [ck_consumer(server.bootstrap, group) for _ in range(3)]
    for c in consumers:
        c.subscribe([TOPIC])
    seen: dict[int, list[tuple[int, int]]] = {}
    last = {p: t.records[-1].offset for p, t in truth.items()}

    def split_and_caught_up() -> bool:
        parts = [assignment(c) for c in consumers]
        if sorted(p for s in parts for p in s) != list(range(PARTITIONS)) or not all(parts):
            return False
        done = {p for rs in seen.values() for p, o in rs if o == last[p]}
        return done == set(range(PARTITIONS))

    poll_all(consumers, seen, split_and_caught_up)
    owners = [assignment(c) for c in consumers]
    assert all(len(s) == 2 for s in owners), owners
    for i, parts in enumerate(owners):  # each consumed exactly its own partitions, all of them
        got = sorted(o for p, o in seen[i] if p in parts)
        assert got == sorted(r.offset for p in parts for r in truth[p].records)

    # two commit their positions; the leaver commits the middle of its partitions, then leaves
    leaver = consumers[2]
    for c in consumers[:2]:
        c.commit(asynchronous=False)
    middles = {p: truth[p].records[len(truth[p].records) // 2].offset for p in owners[2]}
    leaver.commit(offsets=[TopicPartition(TOPIC, p, o) for p, o in middles.items()], asynchronous=False)
    assert committed_in_bucket(bucket, group) == {
        **{p: truth[p].high_watermark for p in owners[0] | owners[1]}, **middles}
    leaver.close()

    rest = consumers[:2]
    after: dict[int, list[tuple[int, int]]] = {}

    def taken_over() -> bool:
        parts = [assignment(c) for c in rest]
        if sorted(p for s in parts for p in s) != list(range(PARTITIONS)):
            return False
        done = {p for rs in after.values() for p, o in rs if o == last[p]}
        return done >= set(middles)

    poll_all(rest, after, taken_over)
    got = {p: sorted(o for rs in after.values() for q, o in rs if q == p) for p in middles}
    assert got == {p: [r.offset for r in truth[p].records if r.offset >= m] for p, m in middles.items()}
    assert not any(q not in middles for rs in after.values() for q, _ in rs), "committed partitions stay put"
    for c in rest:
        c.close()
    server.wait_for_log(f"group '{group}': member")


def test_offsets_survive_a_restart(bucket: S3Side, truth: dict[int, PartitionTruth], tmp_path: Path) -> None:
    from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition

    group = "restart"
    first = start_serve(bucket, cache_dir=tmp_path / "c1")
    try:
        c = KafkaConsumer(TOPIC, bootstrap_servers=first.bootstrap, group_id=group, auto_offset_reset="earliest",
                          enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500)
        picked = {p: truth[p].records[7].offset for p in range(PARTITIONS)}
        while not c.assignment():
            c.poll(timeout_ms=200)
        c.commit({TopicPartition(TOPIC, p): OffsetAndMetadata(o, f"meta-{p}", -1) for p, o in picked.items()})
        c.close()
    finally:
        first.stop()
    assert committed_in_bucket(bucket, group) == picked

    second = start_serve(bucket, cache_dir=tmp_path / "c2")
    try:
        c = KafkaConsumer(TOPIC, bootstrap_servers=second.bootstrap, group_id=group, auto_offset_reset="earliest",
                          enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500)
        firsts: dict[int, int] = {}
        deadline = time.monotonic() + 30
        while len(firsts) < PARTITIONS and time.monotonic() < deadline:
            for tp, msgs in c.poll(timeout_ms=300).items():
                firsts.setdefault(tp.partition, msgs[0].offset)
        assert firsts == picked
        meta = c.committed(TopicPartition(TOPIC, 0), metadata=True)
        assert (meta.offset, meta.metadata) == (picked[0], "meta-0")
        c.close()
    finally:
        second.stop()


def spread_ports() -> list[int]:
    """Two free ports whose rendezvous hashes give each instance some of the topic's partitions (random ports
    put all six on one instance about once in 32 runs, and the test then proves nothing about two)."""
    for _ in range(200):
        ports = [free_port(), free_port()]
        cluster = Cluster(("127.0.0.1", ports[0]), tuple(("127.0.0.1", p) for p in ports))
        if len({cluster.leader(TOPIC, p) for p in range(PARTITIONS)}) == 2:
            return ports
    raise AssertionError("200 port pairs, none spreads leadership: rendezvous hashing is broken")


def test_two_instances_serve_one_group(bucket: S3Side, truth: dict[int, PartitionTruth], tmp_path: Path) -> None:
    ports = spread_ports()
    peers = ",".join(f"127.0.0.1:{p}" for p in ports)
    servers = [start_serve(bucket, port=port, cache_dir=tmp_path / f"c{i}",
                           args=["--peers", peers, "--advertise", f"127.0.0.1:{port}"])
               for i, port in enumerate(ports)]
    group = "two-instances"
    cluster = Cluster(("127.0.0.1", ports[0]), tuple(("127.0.0.1", p) for p in ports))
    coordinator_port = cluster.coordinator(group).port
    try:
        from kafka import KafkaConsumer, TopicPartition

        probe = KafkaConsumer(bootstrap_servers=servers[0].bootstrap)
        probe.topics()
        meta = probe._client.cluster
        leaders = {meta.leader_for_partition(TopicPartition(TOPIC, p)) for p in meta.partitions_for_topic(TOPIC)}
        probe.close()
        assert len(leaders) == 2, f"partition leadership is spread over both instances: {leaders}"

        for s in servers:  # every instance names the same coordinator
            with RawClient(s.port) as c:
                c.send(ApiKey.FindCoordinator, 1, FindCoordinatorRequest(key=group))
                frame = c.recv()
                error, = struct.unpack_from(">h", frame, 8)
                node_id, = struct.unpack_from(">i", frame, 12)
                assert error == 0 and cluster.nodes[node_id].port == coordinator_port
        other = next(s for s in servers if s.port != coordinator_port)
        with RawClient(other.port) as c:  # and the other one refuses to coordinate it
            c.send(ApiKey.JoinGroup, 5, JoinGroupRequest(
                group_id=group, session_timeout_ms=6000, rebalance_timeout_ms=6000, member_id="",
                protocol_type="consumer", protocols=(JoinGroupRequestProtocol(name="range", metadata=b""),)))
            assert struct.unpack_from(">h", c.recv(), 8)[0] == 16  # NOT_COORDINATOR

        consumers = [ck_consumer(s.bootstrap, group) for s in servers]  # one bootstrapped on each instance
        for c in consumers:
            c.subscribe([TOPIC])
        seen: dict[int, list[tuple[int, int]]] = {}
        want = {(p, r.offset) for p, t in truth.items() for r in t.records}
        poll_all(consumers, seen,
                 lambda: {x for rs in seen.values() for x in rs} >= want and all(assignment(c) for c in consumers))
        assert {x for rs in seen.values() for x in rs} == want
        assert assignment(consumers[0]).isdisjoint(assignment(consumers[1]))
        for c in consumers:
            c.commit(asynchronous=False)
            c.close()
        assert committed_in_bucket(bucket, group) == {p: t.high_watermark for p, t in truth.items()}
        coordinator = next(s for s in servers if s.port == coordinator_port)
        coordinator.wait_for_log(f"group '{group}': generation")
        assert f"group '{group}'" not in other.log_text()
    finally:
        for s in servers:
            s.stop()


def test_groups_import_seeds_offsets(bucket: S3Side, server: ServeProcess, truth: dict[int, PartitionTruth],
                                     tmp_path: Path) -> None:
    from kafka import KafkaConsumer, TopicPartition

    group = "imported"
    wanted = {p: truth[p].records[3].offset for p in range(PARTITIONS)}
    csv_file = tmp_path / "offsets.csv"
    csv_file.write_text("group,topic,partition,offset,metadata\n" + "".join(
        f"{group},{TOPIC},{p},{o},from-source\n" for p, o in wanted.items()) + f"{group},nope,0,5,\n")
    done = run_cli(bucket, ["groups", "import", str(csv_file), "--bucket", str(bucket.url)])
    assert done.returncode == 0, done.stderr
    assert f"imported {PARTITIONS + 1} offsets of 1 group(s)" in done.stdout
    assert "unknown topic 'nope'" in done.stderr
    # a second export (kafka-consumer-groups --describe layout) merges over the first
    table = tmp_path / "describe.txt"
    table.write_text(
        "GROUP           TOPIC   PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID  HOST  CLIENT-ID\n"
        f"{group}        {TOPIC}  0          {truth[0].records[9].offset}  999  1  -  -  -\n"
        f"{group}        {TOPIC}  1          -               999             -    -  -  -\n")
    done = run_cli(bucket, ["groups", "import", str(table), "--bucket", str(bucket.url)])
    assert done.returncode == 0, done.stderr
    wanted[0] = truth[0].records[9].offset
    assert committed_in_bucket(bucket, group) == wanted

    c = KafkaConsumer(bootstrap_servers=server.bootstrap, group_id=group, enable_auto_commit=False)
    try:
        for p, o in wanted.items():
            meta = c.committed(TopicPartition(TOPIC, p), metadata=True)
            assert meta.offset == o
            assert meta.metadata == ("" if p == 0 else "from-source")
    finally:
        c.close()

