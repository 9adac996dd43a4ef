"""`__consumer_offsets`, read-only, as Burrow-style monitors read it: a plain kafka-python consumer over a
real `serve`, its records decoded by a decoder written here from apache/kafka's group-coordinator message
JSONs (OffsetCommitKey / OffsetCommitValue v3, GroupMetadataKey / GroupMetadataValue v3), not by the shim's
encoder. ACLs hide other groups' records."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, OffsetAndMetadata, TopicPartition

from app.config import S3Side
from tests.bucket_oracle import OraclePartition, read_bucket_s3
from tests.kafka_support import ServeProcess, new_bucket, run_cli, seed, start_serve

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TOPIC = "__consumer_offsets"
PARTITIONS = 16


# ------------------------------------------------------------------ independent decoder (from the JSONs)


class _Buf:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> Any:
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def string(self) -> str | None:
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos : self.pos + n].decode()
        self.pos += n
        return s

    def blob(self) -> bytes:
        n = self.take(">i")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b


def decode(key: bytes, value: bytes) -> tuple[str, dict[str, Any]]:
    k = _Buf(key)
    record_type = k.take(">h")
    if record_type in (0, 1):  # OffsetCommitKey
        out: dict[str, Any] = {"group": k.string(), "topic": k.string(), "partition": k.take(">i")}
        v = _Buf(value)
        version = v.take(">h")
        assert version == 3, version
        out.update(offset=v.take(">q"), leader_epoch=v.take(">i"), metadata=v.string(), commit_timestamp=v.take(">q"))
        assert v.pos == len(value)
        return "offset", out
    assert record_type == 2, record_type  # GroupMetadataKey
    group = k.string()
    v = _Buf(value)
    assert v.take(">h") == 3
    meta: dict[str, Any] = {"group": group, "protocol_type": v.string(), "generation": v.take(">i"),
                            "protocol": v.string(), "leader": v.string(), "current_state_timestamp": v.take(">q")}
    members = []
    for _ in range(v.take(">i")):
        members.append({"member_id": v.string(), "group_instance_id": v.string(), "client_id": v.string(),
                        "client_host": v.string(), "rebalance_timeout": v.take(">i"),
                        "session_timeout": v.take(">i"), "subscription": v.blob(), "assignment": v.blob()})
    meta["members"] = members
    assert v.pos == len(value)
    return "group", meta


def java_partition(group: str, partitions: int = PARTITIONS) -> int:
    """``Utils.abs(groupId.hashCode()) % partitions`` written out: Java's 32-bit wrap-around arithmetic."""
    h = 0
    for ch in group:  # the group ids here are ASCII: one UTF-16 unit per character
        h = (h * 31 + ord(ch)) % (1 << 32)
    if h >= 1 << 31:
        h -= 1 << 32
    return 0 if h == -(1 << 31) else abs(h) % partitions


# ----------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def bucket(s3_server: str, tmp_path_factory: pytest.TempPathFactory) -> S3Side:
    side = new_bucket(s3_server)
    seed(side, topics=2, partitions=2, size="384KiB", segment_size="64KiB", groups=True)
    csv_file = tmp_path_factory.mktemp("import") / "offsets.csv"
    csv_file.write_text("group,topic,partition,offset,metadata\nteam-b,orders,0,3,secret-b\n")
    done = run_cli(side, ["groups", "import", str(csv_file), "--bucket", str(side.url)])
    assert done.returncode == 0, done.stderr
    return side


@pytest.fixture(scope="module")
def truth(bucket: S3Side) -> dict[tuple[str, int], OraclePartition]:
    return {(t, p): part for (_, t, p), part in read_bucket_s3(bucket.endpoint_url or "", bucket.url.bucket,
                                                                bucket.region).items()}


@pytest.fixture(scope="module")
def server(bucket: S3Side, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    tmp = tmp_path_factory.mktemp("serve")
    config = tmp / "acl.toml"
    # anonymous may read every topic but use only these groups: team-b's and billing's records stay hidden
    config.write_text('[kafka.acls.ANONYMOUS]\ntopics = ["*"]\ngroups = ["team-a*", "dashboard", "laggard"]\n')
    s = start_serve(bucket, cache_dir=tmp / "cache", config=str(config),
                    env={"SHADOWREPLICA_KAFKA_GROUP_INITIAL_REBALANCE_DELAY": "0.1"})
    yield s
    s.stop()


def read_all(bootstrap: str) -> list[tuple[int, int, str, dict[str, Any]]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=3000,
                             auto_offset_reset="earliest")
    try:
        consumer.assign([TopicPartition(TOPIC, p) for p in range(PARTITIONS)])
        out = []
        for m in consumer:
            kind, body = decode(m.key, m.value)
            out.append((m.partition, m.offset, kind, body))
        return out
    finally:
        consumer.close()


def test_consumer_offsets_has_every_commit_in_kafkas_format(server: ServeProcess,
                                                            truth: dict[tuple[str, int], OraclePartition]) -> None:
    bootstrap = server.bootstrap
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        (described,) = admin.describe_topics([TOPIC])
        assert described["is_internal"] is True and len(described["partitions"]) == PARTITIONS, described
    finally:
        admin.close()

    # a member joins team-a-live, consumes, commits and leaves: a commit record and GroupMetadata records
    live = KafkaConsumer("orders", bootstrap_servers=bootstrap, group_id="team-a-live", enable_auto_commit=False,
                         auto_offset_reset="earliest", consumer_timeout_ms=8000, session_timeout_ms=6000,
                         heartbeat_interval_ms=1000)
    try:
        for got, _m in enumerate(live, 1):
            if got >= 5:
                break
        live.commit()
        committed_live = {tp.partition: live.committed(tp) for tp in live.assignment()}
    finally:
        live.close()
    # and an assigned consumer commits a chosen offset with metadata
    manual = KafkaConsumer(bootstrap_servers=bootstrap, group_id="team-a-manual", enable_auto_commit=False)
    try:
        manual.commit({TopicPartition("payments", 1): OffsetAndMetadata(4, "note-4", -1)})
    finally:
        manual.close()

    deadline = time.monotonic() + 20
    while True:
        records = read_all(bootstrap)
        kinds = {(k, b["group"]) for _p, _o, k, b in records}
        if (("group", "team-a-live") in kinds and ("offset", "team-a-manual") in kinds) or time.monotonic() > deadline:
            break
        time.sleep(0.3)

    groups_seen = {b["group"] for _p, _o, _k, b in records}
    assert "team-b" not in groups_seen and "billing" not in groups_seen, groups_seen  # hidden by the ACL
    for partition, _offset, _kind, body in records:
        assert partition == java_partition(body["group"]), (partition, body["group"])

    offsets = [(b["group"], b["topic"], b["partition"], b["offset"], b["metadata"])
               for _p, _o, k, b in records if k == "offset"]
    # the bucket snapshot's groups, seeded at start (dashboard at half of orders, laggard clamped)
    for p in range(2):
        assert ("dashboard", "orders", p, truth[("orders", p)].high_watermark // 2) in [o[:4] for o in offsets]
    assert ("laggard", "orders", 0, truth[("orders", 0)].high_watermark) in [o[:4] for o in offsets]
    assert ("team-a-manual", "payments", 1, 4, "note-4") in offsets
    for p, c in committed_live.items():
        assert c is not None and ("team-a-live", "orders", p, c) in [o[:4] for o in offsets]

    # one group's records are in the order things happened: Stable (member in), the commit, Empty (member out)
    live_records = [(o, k, b) for _p, o, k, b in records if b["group"] == "team-a-live"]
    assert [o for o, _k, _b in live_records] == sorted(o for o, _k, _b in live_records)
    order = [k if k == "offset" else ("stable" if b["members"] else "empty") for _o, k, b in live_records]
    assert order.index("stable") < order.index("offset") < len(order) - 1 - order[::-1].index("empty"), order
    metas = [b for _p, _o, k, b in records if k == "group" and b["group"] == "team-a-live"]
    assert metas, "no GroupMetadata record for team-a-live"
    stable = [m for m in metas if m["members"]]
    assert stable and stable[0]["protocol_type"] == "consumer" and stable[0]["protocol"] is not None
    member = stable[0]["members"][0]
    assert member["member_id"] == stable[0]["leader"] and member["session_timeout"] == 6000
    assert member["subscription"] and member["assignment"]
    assert metas[-1]["members"] == [] and metas[-1]["generation"] > stable[0]["generation"]  # left: Empty


def test_hidden_from_principals_without_groups(bucket: S3Side, tmp_path: Path) -> None:
    config = tmp_path / "acl.toml"
    config.write_text('[kafka.acls.ANONYMOUS]\ntopics = ["*"]\ngroups = []\n')
    s = start_serve(bucket, cache_dir=tmp_path / "cache", config=str(config))
    try:
        admin = KafkaAdminClient(bootstrap_servers=s.bootstrap)
        try:
            assert TOPIC not in admin.list_topics()
        finally:
            admin.close()
        consumer = KafkaConsumer(bootstrap_servers=s.bootstrap, consumer_timeout_ms=2000)
        try:
            assert TOPIC not in consumer.topics()
        finally:
            consumer.close()
    finally:
        s.stop()
