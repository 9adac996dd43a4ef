"""The reads admin tools make, with real admin clients against a real `serve` (issue 12): kafka-python's
``KafkaAdminClient``, confluent-kafka's ``AdminClient`` and aiokafka's ``AIOKafkaAdminClient``; leader epochs
as real consumers see them (the epoch librdkafka reads from each served batch), OffsetForLeaderEpoch decoded by
kafka-python's own schema, and a confluent-kafka consumer that lives through a term change (``seed --append``
starts a new term, as a restart of the source cluster does) and validates its position with
OffsetForLeaderEpoch.

The expected values come from the seed parameters and the independent bucket oracle (``read_truth``), never
from the service's own model.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.config import S3Side
from app.kafka.protocol import (
    ApiKey,
    OffsetForLeaderEpochRequest,
    OffsetForLeaderPartition,
    OffsetForLeaderTopic,
)
from tests.kafka_support import (
    PartitionTruth,
    RawClient,
    ServeProcess,
    new_bucket,
    read_truth,
    seed,
    start_serve,
)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

SEGMENT_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def bucket(s3_server: str) -> S3Side:
    side = new_bucket(s3_server)
    seed(side, topics=2, partitions=2, size="1200KiB", segment_size="64KiB")  # 2+ terms per partition
    return side


@pytest.fixture(scope="module")
def truth(bucket: S3Side) -> dict[tuple[str, int], PartitionTruth]:
    return read_truth(bucket)


@pytest.fixture(scope="module")
def server(bucket: S3Side, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    s = start_serve(bucket, cache_dir=tmp_path_factory.mktemp("admin") / "cache")
    yield s
    s.stop()


def consume_all_ck(bootstrap: str, topic: str, partition: int, count: int, **extra: Any) -> list[Any]:
    """Every message of a partition from the beginning with confluent-kafka (assign, no group offsets)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "epochs", "enable.auto.commit": False, **extra})
    try:
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        got: list[Any] = []
        deadline = time.monotonic() + 30
        while len(got) < count and time.monotonic() < deadline:
            got += [m for m in consumer.consume(1000, 0.2) if m.error() is None]
        return got
    finally:
        consumer.close()


def max_timestamp_truth(part: PartitionTruth) -> tuple[int, int]:
    """(offset, timestamp) of the first record with the partition's largest timestamp (KIP-734)."""
    top = max(r.timestamp for r in part.records)
    return next(r.offset for r in part.records if r.timestamp == top), top


# ------------------------------------------------------------------------------------------ kafka-python


def test_kafka_python_admin_client(server: ServeProcess, bucket: S3Side,
                                   truth: dict[tuple[str, int], PartitionTruth]) -> None:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, OffsetSpec

    admin = KafkaAdminClient(bootstrap_servers=server.bootstrap)
    try:
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "orders")], config_filter="all",
                                         include_synonyms=True)["topic"]["orders"]
        assert configs["segment.bytes"]["value"] == str(SEGMENT_BYTES)
        assert configs["segment.bytes"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        assert configs["retention.bytes"] == {**configs["retention.bytes"], "value": "-1", "config_source": "DEFAULT_CONFIG"}
        assert {"cleanup.policy", "retention.ms", "compression.type", "message.timestamp.type"} <= set(configs)
        assert all(c["read_only"] for c in configs.values())
        assert any(s["name"] == "log.retention.bytes" for s in configs["retention.bytes"]["synonyms"])
        assert configs["redpanda.remote.delete"]["value"] == "true"  # from the topic_manifest.bin properties
        only = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "orders", {"retention.ms": None})],
                                      config_filter="all")["topic"]["orders"]
        assert set(only) == {"retention.ms"}
        broker = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "0")],
                                        config_filter="all")["broker"]["0"]
        assert broker["log.retention.ms"]["value"] == "604800000" and broker["broker.id"]["value"] == "0"
        # kafka-python drops a resource's error and reports no configs (confluent-kafka raises it, below)
        assert admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "no-such-topic")],
                                      config_filter="all")["topic"]["no-such-topic"] == {}

        dirs = admin.describe_log_dirs()
        assert len(dirs) == 1 and len(dirs[0]["log_dirs"]) == 1
        log_dir = dirs[0]["log_dirs"][0]
        assert log_dir["log_dir"] == str(bucket.url) and log_dir["error_code"] == 0
        sizes = {(t["name"], p["partition_index"]): p["partition_size"] for t in log_dir["topics"]
                 for p in t["partitions"]}
        assert set(sizes) == set(truth)
        assert all(size > 0 for size in sizes.values())

        cluster = admin.describe_cluster()
        assert [(b["broker_id"], b["port"]) for b in cluster["brokers"]] == [(0, server.port)]
        assert cluster["controller_id"] == 0 and cluster["cluster_id"]

        part = truth[("orders", 0)]
        tp = TopicPartition("orders", 0)
        offsets = admin.list_partition_offsets({tp: OffsetSpec.MAX_TIMESTAMP})
        assert (offsets[tp].offset, offsets[tp].timestamp) == max_timestamp_truth(part)
        assert admin.list_partition_offsets({tp: OffsetSpec.EARLIEST})[tp].offset == part.records[0].offset
        latest = admin.list_partition_offsets({tp: OffsetSpec.LATEST})[tp]
        assert latest.offset == part.high_watermark

        producers = admin.describe_producers([tp])
        assert producers[tp].active_producers == []
    finally:
        admin.close()

    # a committed group, then the group reads: list_group_offsets and describe_groups
    consumer = KafkaConsumer(bootstrap_servers=server.bootstrap, group_id="kp-admin", auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=3000)
    try:
        consumer.subscribe(["payments"])
        seen = [m.offset for m in consumer if m.partition == 0]
        assert seen
        consumer.commit()
        admin = KafkaAdminClient(bootstrap_servers=server.bootstrap)
        try:
            group = admin.describe_groups(["kp-admin"])["kp-admin"]
            assert group["group_state"] == "Stable" and len(group["members"]) == 1, group
            committed = admin.list_group_offsets({"kp-admin": None})["kp-admin"]
            assert committed[TopicPartition("payments", 0)].offset == truth[("payments", 0)].high_watermark
        finally:
            admin.close()
    finally:
        consumer.close()


# ---------------------------------------------------------------------------------------- confluent-kafka


def test_confluent_kafka_admin_client(server: ServeProcess, truth: dict[tuple[str, int], PartitionTruth]) -> None:
    from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
    from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, OffsetSpec

    admin = AdminClient({"bootstrap.servers": server.bootstrap})
    (future,) = admin.describe_configs([ConfigResource("topic", "orders")]).values()
    configs = future.result(15)
    assert configs["segment.bytes"].value == str(SEGMENT_BYTES)
    assert configs["segment.bytes"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["retention.bytes"].source == ConfigSource.DEFAULT_CONFIG.value
    assert all(c.is_read_only for c in configs.values())
    (missing,) = admin.describe_configs([ConfigResource("topic", "no-such-topic")]).values()
    with pytest.raises(KafkaException, match="UNKNOWN_TOPIC_OR_PART"):
        missing.result(15)

    cluster = admin.describe_cluster().result(15)
    assert [(n.id, n.port) for n in cluster.nodes] == [(0, server.port)] and cluster.controller.id == 0
    server.wait_for_log("runs confluent-kafka-python")  # ApiVersions v3's client software name (KIP-511)

    part = truth[("orders", 1)]
    tp = TopicPartition("orders", 1)
    (top,) = admin.list_offsets({tp: OffsetSpec.max_timestamp()}).values()
    result = top.result(15)
    assert (result.offset, result.timestamp) == max_timestamp_truth(part)
    (latest,) = admin.list_offsets({tp: OffsetSpec.latest()}).values()
    assert latest.result(15).offset == part.high_watermark
    (earliest,) = admin.list_offsets({tp: OffsetSpec.earliest()}).values()
    assert earliest.result(15).offset == part.records[0].offset

    # offsets committed by a group, listed back
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": server.bootstrap, "group.id": "ck-admin", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition("orders", 1, 0)])
        consumer.commit(offsets=[TopicPartition("orders", 1, 42)], asynchronous=False)
    finally:
        consumer.close()
    (listed,) = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions("ck-admin", [TopicPartition("orders", 1)])]).values()
    assert [(p.topic, p.partition, p.offset) for p in listed.result(15).topic_partitions] == [("orders", 1, 42)]


# --------------------------------------------------------------------------------------------- aiokafka


def test_aiokafka_admin_client(server: ServeProcess) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    async def run() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=server.bootstrap)
        await admin.start()
        try:
            (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "payments")])
            (resource,) = response.resources
            assert resource[0] == 0 and resource[3] == "payments"
            entries = {e[0]: e[1] for e in resource[4]}
            assert entries["segment.bytes"] == str(SEGMENT_BYTES)
            cluster = await admin.describe_cluster()
            assert [b["port"] for b in cluster["brokers"]] == [server.port] and cluster["controller_id"] == 0
            groups = await admin.list_consumer_groups()
            assert isinstance(groups, list)
        finally:
            await admin.close()

    asyncio.run(run())


# ------------------------------------------------------------------------------------------------ epochs


def offset_for_leader_epoch(port: int, topic: str, partition: int, epoch: int, current: int = -1,
                            version: int = 4) -> tuple[int, int, int]:
    """(error, leader epoch, end offset), the response decoded by kafka-python's schema."""
    from kafka.protocol.consumer import OffsetForLeaderEpochResponse

    with RawClient(port) as c:
        c.send(ApiKey.OffsetForLeaderEpoch, version, OffsetForLeaderEpochRequest(topics=(OffsetForLeaderTopic(
            topic=topic, partitions=(OffsetForLeaderPartition(partition=partition, current_leader_epoch=current,
                                                              leader_epoch=epoch),)),)))
        frame = c.recv()
    decoded = OffsetForLeaderEpochResponse.decode(frame, version=version, header=True)
    (p,) = decoded.topics[0].partitions
    return p.error_code, p.leader_epoch, p.end_offset


def test_epochs_match_the_batches_served(server: ServeProcess, truth: dict[tuple[str, int], PartitionTruth]) -> None:
    from kafka import TopicPartition
    from kafka.admin import KafkaAdminClient, OffsetSpec

    part = truth[("orders", 0)]
    messages = consume_all_ck(server.bootstrap, "orders", 0, len(part.records))
    assert [m.offset() for m in messages] == [r.offset for r in part.records]
    epochs = [m.leader_epoch() for m in messages]  # what librdkafka read from each batch header
    assert epochs == sorted(epochs) and len(set(epochs)) >= 2, "the seed writes several terms"
    starts: dict[int, int] = {}
    for m in messages:
        starts.setdefault(m.leader_epoch(), m.offset())

    admin = KafkaAdminClient(bootstrap_servers=server.bootstrap)
    try:
        tp = TopicPartition("orders", 0)
        assert admin.list_partition_offsets({tp: OffsetSpec.LATEST})[tp].leader_epoch == epochs[-1]
        assert admin.list_partition_offsets({tp: OffsetSpec.EARLIEST})[tp].leader_epoch == epochs[0]
        # Metadata's leader epoch is the latest term
        meta = admin.describe_topics(["orders"])[0]
        assert {p["partition_index"]: p["leader_epoch"] for p in meta["partitions"]}[0] == epochs[-1]
    finally:
        admin.close()

    ordered = sorted(starts)
    latest = ordered[-1]
    for version in (2, 3, 4):
        for epoch, following in itertools.pairwise(ordered):  # an older epoch ends where the next starts
            assert offset_for_leader_epoch(server.port, "orders", 0, epoch, version=version) == (0, epoch,
                                                                                                  starts[following])
        assert offset_for_leader_epoch(server.port, "orders", 0, latest, version=version) == (0, latest,
                                                                                              part.high_watermark)
    assert offset_for_leader_epoch(server.port, "orders", 0, latest + 5) == (0, -1, -1)  # unknown epoch
    if ordered[0] > 0:  # below every known epoch: the requested epoch, ending where the first one starts
        assert offset_for_leader_epoch(server.port, "orders", 0, ordered[0] - 1) == (0, ordered[0] - 1,
                                                                                     starts[ordered[0]])
    assert offset_for_leader_epoch(server.port, "orders", 0, latest, current=latest - 1)[0] == 74  # FENCED
    assert offset_for_leader_epoch(server.port, "orders", 0, latest, current=latest + 1)[0] == 75  # UNKNOWN
    assert offset_for_leader_epoch(server.port, "nope", 0, latest)[0] == 3


def test_a_consumer_survives_a_term_change_and_validates_its_position(
        s3_server: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """confluent-kafka reads to the end, the source cluster restarts (``seed --append``: a new term), the
    consumer sees the new leader epoch in Metadata, validates its position with OffsetForLeaderEpoch and goes
    on reading with no gap and no duplicate."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    side = new_bucket(s3_server)
    seed(side, topics=1, partitions=1, size="120KiB", segment_size="64KiB")
    before = read_truth(side)[("orders", 0)]
    server = start_serve(side, cache_dir=tmp_path_factory.mktemp("term") / "cache")
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("ck-term-change")
    logger.addHandler(Collect())
    logger.setLevel(logging.DEBUG)
    consumer = Consumer({"bootstrap.servers": server.bootstrap, "group.id": "term", "enable.auto.commit": False,
                         "topic.metadata.refresh.interval.ms": 500, "debug": "protocol,consumer,topic"},
                        logger=logger)
    try:
        consumer.assign([TopicPartition("orders", 0, OFFSET_BEGINNING)])

        def read_until(count: int) -> list[Any]:
            got: list[Any] = []
            deadline = time.monotonic() + 40
            while len(got) < count and time.monotonic() < deadline:
                got += [m for m in consumer.consume(1000, 0.2) if m.error() is None]
            return got

        first = read_until(len(before.records))
        assert [m.offset() for m in first] == [r.offset for r in before.records]
        old_epoch = first[-1].leader_epoch()
        seed(side, topics=1, partitions=1, size="60KiB", segment_size="64KiB", seed_value=7, append=True)
        after = read_truth(side)[("orders", 0)]
        rest = read_until(len(after.records) - len(before.records))
        assert [m.offset() for m in rest] == [r.offset for r in after.records[len(before.records):]]
        assert rest[-1].leader_epoch() > old_epoch
        deadline = time.monotonic() + 10
        while not any("Received OffsetForLeaderEpochResponse" in line for line in lines) and \
                time.monotonic() < deadline:
            consumer.consume(10, 0.2)
        assert any("Sent OffsetForLeaderEpochRequest (v2" in line for line in lines), "\n".join(lines[-40:])
        assert any("Received OffsetForLeaderEpochResponse" in line for line in lines), "\n".join(lines[-40:])
        assert not any("truncat" in line.lower() for line in lines), "no log truncation was detected"
    finally:
        consumer.close()
        server.stop()


def test_describe_acls_without_an_authorizer(server: ServeProcess) -> None:
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        KafkaAdminClient,
        ResourcePatternFilter,
        ResourceType,
    )
    from kafka.errors import SecurityDisabledError

    admin = KafkaAdminClient(bootstrap_servers=server.bootstrap)
    try:
        with pytest.raises(SecurityDisabledError):
            admin.describe_acls(ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                                          permission_type=ACLPermissionType.ANY,
                                          resource_pattern=ResourcePatternFilter(ResourceType.ANY, None,
                                                                                 ACLResourcePatternType.ANY)))
    finally:
        admin.close()


def test_kafka_python_group_apis_at_flexible_versions(server: ServeProcess,
                                                      truth: dict[tuple[str, int], PartitionTruth]) -> None:
    """kafka-python takes the highest versions both sides speak: FindCoordinator 4 (batched keys), JoinGroup
    7, SyncGroup 5 (it checks the protocol type and name echoed back), Heartbeat 4, LeaveGroup 5,
    OffsetCommit 8, OffsetFetch 8 (several groups in one request), ListGroups 4 (states filter), DescribeGroups 5."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import KafkaAdminClient
    from kafka.protocol.consumer import JoinGroupRequest, OffsetFetchRequest, SyncGroupRequest
    from kafka.protocol.metadata import FindCoordinatorRequest

    consumer = KafkaConsumer(bootstrap_servers=server.bootstrap, group_id="kp-flex", auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=3000)
    admin = KafkaAdminClient(bootstrap_servers=server.bootstrap)
    try:
        versions = admin._manager.broker_version_data  # what kafka-python negotiated from our ApiVersions
        assert versions.api_version(JoinGroupRequest, max_version=7) == 7
        assert versions.api_version(SyncGroupRequest, max_version=5) == 5
        assert versions.api_version(FindCoordinatorRequest, max_version=6) == 4
        assert versions.api_version(OffsetFetchRequest, max_version=9) == 8
        consumer.subscribe(["orders"])
        seen = {(m.partition, m.offset) for m in consumer}
        assert len(seen) == sum(len(truth[("orders", p)].records) for p in (0, 1))
        consumer.commit()
        stable = admin.list_groups(states_filter=["Stable"])
        assert [g["group_id"] for g in stable if g["group_id"] == "kp-flex"] == ["kp-flex"]
        assert all(g["group_state"] == "Stable" for g in stable)
        assert "kp-flex" not in [g["group_id"] for g in admin.list_groups(states_filter=["Empty"])]
        committed = admin.list_group_offsets({"kp-flex": None})["kp-flex"]
        assert committed[TopicPartition("orders", 1)].offset == truth[("orders", 1)].high_watermark
        # one OffsetFetch v8 for two groups: each answered on its own (a group with no offsets has none)
        both = admin.list_group_offsets({"kp-flex": None, "kp-nobody": [TopicPartition("orders", 0)]})
        assert both["kp-flex"] == committed
        assert all(o.offset == -1 for o in both["kp-nobody"].values())
    finally:
        consumer.close()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # LeaveGroup 5 took the member out: the group is Empty
            if "kp-flex" in [g["group_id"] for g in admin.list_groups(states_filter=["Empty"])]:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the group did not become Empty after the consumer left")
    finally:
        admin.close()


@pytest.mark.parametrize("version", [10, 11, 12])
def test_metadata_with_topic_ids(server: ServeProcess, truth: dict[tuple[str, int], PartitionTruth],
                                 version: int) -> None:
    """Metadata v10-12 decoded by kafka-python's schema: topics carry the zero UUID (the replica has no topic
    ids, as a Kafka topic without one); a topic asked for by id only is UNKNOWN_TOPIC_ID (name null from v12)."""
    import uuid

    from kafka.protocol.metadata import MetadataResponse as KpMetadataResponse

    from app.kafka.protocol import MetadataRequest, MetadataRequestTopic

    unknown = uuid.uuid4().bytes
    with RawClient(server.port) as c:
        c.send(ApiKey.Metadata, version, MetadataRequest(topics=(
            MetadataRequestTopic(name="orders"), MetadataRequestTopic(name=None, topic_id=unknown))))
        frame = c.recv()
    decoded = KpMetadataResponse.decode(frame, version=version, header=True)
    by_name, by_id = decoded.topics
    assert by_name.error_code == 0 and by_name.name == "orders"
    assert by_name.topic_id is None  # the zero UUID: kafka-python reads it as "no topic id"
    assert sorted(p.partition_index for p in by_name.partitions) == sorted(p for t, p in truth if t == "orders")
    assert by_id.error_code == 100 and by_id.topic_id == uuid.UUID(bytes=unknown)
    assert by_id.name == (None if version >= 12 else "")


def _fetch_v12(port: int, offset: int, *, last_fetched_epoch: int = -1, current: int = -1) -> Any:
    """One raw Fetch v12 of orders/0 (flexible), the response decoded by kafka-python's schema."""
    from kafka.protocol.consumer import FetchResponse as KpFetchResponse

    from app.kafka.protocol import FetchPartition, FetchRequest, FetchTopic

    with RawClient(port) as c:
        c.send(ApiKey.Fetch, 12, FetchRequest(max_wait_ms=5000, min_bytes=1, topics=(FetchTopic(
            topic="orders", partitions=(FetchPartition(partition=0, current_leader_epoch=current,
                                                       fetch_offset=offset, last_fetched_epoch=last_fetched_epoch,
                                                       partition_max_bytes=1 << 20),)),)))
        frame = c.recv()
    (p,) = KpFetchResponse.decode(frame, version=12, header=True).responses[0].partitions
    return p


def test_fetch_v12_answers_diverging_epochs_and_fencing_as_a_kafka_leader(
        server: ServeProcess, truth: dict[tuple[str, int], PartitionTruth]) -> None:
    """A fetcher naming the epoch of the last batch it holds (Fetch v12 ``last_fetched_epoch``): when that epoch
    ends here before its fetch offset it gets ``diverging_epoch`` = (that epoch, where it ends) and no records,
    as from a Kafka leader; the epochs and their starts come from the batches librdkafka consumed."""
    part = truth[("orders", 0)]
    messages = consume_all_ck(server.bootstrap, "orders", 0, len(part.records))
    starts: dict[int, int] = {}
    for m in messages:
        starts.setdefault(m.leader_epoch(), m.offset())
    ordered = sorted(starts)
    assert len(ordered) >= 2, "the seed writes several terms"
    first, second = ordered[0], ordered[1]
    inside_second = starts[second] + 1
    diverged = _fetch_v12(server.port, inside_second, last_fetched_epoch=first)
    assert diverged.error_code == 0 and diverged.records in (b"", None)
    assert (diverged.diverging_epoch.epoch, diverged.diverging_epoch.end_offset) == (first, starts[second])
    # the same offset with the epoch that really holds it: records, no divergence
    ok = _fetch_v12(server.port, inside_second, last_fetched_epoch=second)
    assert ok.error_code == 0 and ok.diverging_epoch is None and ok.records
    (base,) = struct.unpack_from(">q", ok.records, 0)
    assert base <= inside_second and ok.high_watermark == part.high_watermark
    # without a last fetched epoch (consumers): plain records
    assert _fetch_v12(server.port, 0).records
    # fenced: the current leader comes with the error (tagged current_leader)
    fenced = _fetch_v12(server.port, 0, current=ordered[-1] - 1)
    assert fenced.error_code == 74  # FENCED_LEADER_EPOCH
    assert (fenced.current_leader.leader_id, fenced.current_leader.leader_epoch) == (0, ordered[-1])
