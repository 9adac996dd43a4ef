"""The Kafka shim's parts on their own: the group state machine, the S3 offset store's conditional
writes, rendezvous hashing, users/ACL rules, the import formats; and the server's connection limits
(a real `serve` process with small limits)."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from app.config import KafkaSettings
from app.errors import ConfigError
from app.group_offsets import CommittedOffset, OffsetStore
from app.kafka.auth import Authenticator
from app.kafka.cli import parse_import
from app.kafka.cluster import Cluster
from app.kafka.groups import GroupCoordinator, GroupState
from app.kafka.protocol import (
    ApiKey,
    ErrorCode,
    HeartbeatRequest,
    JoinGroupRequest,
    JoinGroupRequestProtocol,
    JoinGroupResponse,
    MetadataRequest,
    SyncGroupRequest,
    SyncGroupRequestAssignment,
)
from app.store import ObjectStore
from tests.kafka_support import RawClient, new_bucket, start_serve

if TYPE_CHECKING:
    from tests.conftest import BucketPair

# ------------------------------------------------------------------------------------ coordinator


def join_req(member_id: str = "", *, protocols: tuple[tuple[str, bytes], ...] = (("range", b"m"),),
             session_ms: int = 10_000, rebalance_ms: int = 2_000, group: str = "g") -> JoinGroupRequest:
    return JoinGroupRequest(group_id=group, session_timeout_ms=session_ms, rebalance_timeout_ms=rebalance_ms,
                            member_id=member_id, protocol_type="consumer",
                            protocols=tuple(JoinGroupRequestProtocol(name=n, metadata=m) for n, m in protocols))


async def new_member(coord: GroupCoordinator, **kw: Any) -> tuple[str, asyncio.Task[JoinGroupResponse]]:
    first = await coord.join(join_req(**kw), version=5, client_id="c", client_host="h")
    assert first.error_code == ErrorCode.MEMBER_ID_REQUIRED and first.member_id.startswith("c-")
    task = asyncio.create_task(coord.join(join_req(first.member_id, **kw), version=5, client_id="c", client_host="h"))
    await asyncio.sleep(0)
    return first.member_id, task


def coordinator(delay: float = 0.05) -> GroupCoordinator:
    return GroupCoordinator(None, initial_rebalance_delay=delay)  # type: ignore[arg-type]  # offsets unused here


async def test_join_waits_for_the_initial_delay_then_answers_leader_and_follower() -> None:
    coord = coordinator(delay=0.2)
    a, ja = await new_member(coord, protocols=(("range", b"a-range"), ("roundrobin", b"a-rr")))
    b, jb = await new_member(coord, protocols=(("roundrobin", b"b-rr"), ("range", b"b-range")))
    coord.reap(time.monotonic())
    assert not ja.done(), "the first round of an empty group waits the initial delay"
    await asyncio.sleep(0.25)
    coord.reap(time.monotonic())
    ra, rb = await ja, await jb
    assert ra.generation_id == rb.generation_id == 1
    assert ra.leader == rb.leader == a
    assert ra.protocol_name == "range"  # one vote each: the first member's preference breaks the tie
    assert {(m.member_id, m.metadata) for m in ra.members} == {(a, b"a-range"), (b, b"b-range")}
    assert rb.members == ()

    # the follower's sync parks until the leader hands out assignments, which pass through untouched
    follower_sync = asyncio.create_task(coord.sync(SyncGroupRequest(group_id="g", generation_id=1, member_id=b,
                                                                    assignments=())))
    await asyncio.sleep(0)
    assert not follower_sync.done()
    leader = await coord.sync(SyncGroupRequest(group_id="g", generation_id=1, member_id=a, assignments=(
        SyncGroupRequestAssignment(member_id=a, assignment=b"\x00A"),
        SyncGroupRequestAssignment(member_id=b, assignment=b"\x00B"))))
    assert leader.assignment == b"\x00A" and (await follower_sync).assignment == b"\x00B"
    assert coord.groups["g"].state is GroupState.STABLE
    stale = await coord.sync(SyncGroupRequest(group_id="g", generation_id=0, member_id=b, assignments=()))
    assert stale.error_code == ErrorCode.ILLEGAL_GENERATION
    ghost = await coord.sync(SyncGroupRequest(group_id="g", generation_id=1, member_id="ghost", assignments=()))
    assert ghost.error_code == ErrorCode.UNKNOWN_MEMBER_ID


async def test_new_member_triggers_a_rebalance_and_silent_members_are_dropped() -> None:
    coord = coordinator()
    a, ja = await new_member(coord, rebalance_ms=300)
    await asyncio.sleep(0.1)
    coord.reap(time.monotonic())
    assert (await ja).generation_id == 1
    await coord.sync(SyncGroupRequest(group_id="g", generation_id=1, member_id=a, assignments=()))
    hb = HeartbeatRequest(group_id="g", generation_id=1, member_id=a)
    assert coord.heartbeat(hb) == ErrorCode.NONE

    b, jb = await new_member(coord, rebalance_ms=300)
    assert coord.heartbeat(hb) == ErrorCode.REBALANCE_IN_PROGRESS, "members learn to rejoin from heartbeats"
    assert coord.check_commit("g", 1, a) == ErrorCode.NONE, "the old generation may still commit while preparing"
    # a never rejoins: after the rebalance timeout the round completes without it
    await asyncio.sleep(0.35)
    coord.reap(time.monotonic())
    rb = await jb
    assert rb.generation_id == 2 and rb.leader == b and [m.member_id for m in rb.members] == [b]
    assert coord.heartbeat(hb) == ErrorCode.UNKNOWN_MEMBER_ID


async def test_session_expiry_leave_and_commit_rules() -> None:
    coord = coordinator()
    assert coord.check_commit("g", -1, "") == ErrorCode.NONE, "simple commits to a group nobody is in"
    a, ja = await new_member(coord, session_ms=1000)
    b, jb = await new_member(coord, session_ms=1000)
    await asyncio.sleep(0.1)
    coord.reap(time.monotonic())
    await ja, await jb
    assert coord.check_commit("g", 1, a) == ErrorCode.REBALANCE_IN_PROGRESS  # assignments not handed out yet
    assert coord.check_commit("g", -1, "") == ErrorCode.UNKNOWN_MEMBER_ID
    await coord.sync(SyncGroupRequest(group_id="g", generation_id=1, member_id=a, assignments=()))
    assert coord.check_commit("g", 1, b) == ErrorCode.NONE
    assert coord.check_commit("g", 0, b) == ErrorCode.ILLEGAL_GENERATION
    # b goes silent: once its session deadline passes the reaper drops it and a rebalance starts
    group = coord.groups["g"]
    coord.reap(time.monotonic())
    assert b in group.members
    group.members[b].deadline = time.monotonic() - 0.01
    coord.reap(time.monotonic())
    assert b not in group.members and group.state is GroupState.PREPARING
    assert coord.leave("g", a) == ErrorCode.NONE
    assert group.state is GroupState.EMPTY and not group.members
    assert coord.leave("g", a) == ErrorCode.UNKNOWN_MEMBER_ID


async def test_join_validation() -> None:
    coord = coordinator()
    _, ja = await new_member(coord)
    bad = await coord.join(join_req("", protocols=(("sticky", b""),)), version=5, client_id="c", client_host="h")
    assert bad.error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    unknown = await coord.join(join_req("nobody"), version=5, client_id="c", client_host="h")
    assert unknown.error_code == ErrorCode.UNKNOWN_MEMBER_ID
    short = await coord.join(join_req(session_ms=10), version=5, client_id="c", client_host="h")
    assert short.error_code == ErrorCode.INVALID_SESSION_TIMEOUT
    v3 = asyncio.create_task(coord.join(join_req(), version=3, client_id="old", client_host="h"))
    await asyncio.sleep(0.1)
    coord.reap(time.monotonic())
    assert (await v3).member_id.startswith("old-"), "before v4 the id is handed out without a round trip"
    assert len((await ja).members) == 2


# ------------------------------------------------------------------------------------ offset store


async def test_offset_store_merges_after_a_lost_conditional_put(buckets: BucketPair) -> None:
    async with ObjectStore(buckets.dest) as store:
        one, two = OffsetStore(store, "_groups"), OffsetStore(store, "_groups")  # two instances
        await one.commit("g/1", {("t", 0): CommittedOffset(10, 0, "a", 1)})
        await two.commit("g/1", {("t", 1): CommittedOffset(20, 0, None, 2)})
        # `one` still holds the first ETag: its put gets 412, re-reads, merges, retries
        await one.commit("g/1", {("t", 2): CommittedOffset(30, -1, "", 3), ("t", 0): CommittedOffset(11, 0, "b", 4)})
        doc = json.loads((await store.get("_groups/g%2F1.json")).body)
        assert doc["offsets"]["t"] == {
            "0": {"offset": 11, "leader_epoch": 0, "metadata": "b", "commit_timestamp": 4, "source": "commit"},
            "1": {"offset": 20, "leader_epoch": 0, "metadata": None, "commit_timestamp": 2, "source": "commit"},
            "2": {"offset": 30, "leader_epoch": -1, "metadata": "", "commit_timestamp": 3, "source": "commit"}}
        assert store.stats["PutObject"].error_count == 1, "exactly one put lost the race"
        assert await two.fetch("g/1") == await one.fetch("g/1")  # a conditional GET sees the other's write
        assert await one.groups() == ["g/1"]
        await one.commit("g/1", {("u", 0): CommittedOffset(1)}, replace=True)
        assert await two.fetch("g/1") == {("u", 0): CommittedOffset(1)}


# ------------------------------------------------------------------------------------ cluster / auth


def test_rendezvous_is_deterministic_order_independent_and_spread() -> None:
    peers = (("h1", 9092), ("h2", 9092), ("h3", 9092))
    a = Cluster(("h2", 9092), peers)
    b = Cluster(("h3", 9092), tuple(reversed(peers)))
    assert [n.address for n in a.nodes] == [n.address for n in b.nodes]
    owners = {a.leader("orders", p).node_id for p in range(30)}
    assert owners == {0, 1, 2}
    assert all(a.leader("t", p) == b.leader("t", p) for p in range(50))
    assert all(a.coordinator(f"g{i}") == b.coordinator(f"g{i}") for i in range(50))
    # removing a peer moves only what it owned
    c = Cluster(("h1", 9092), peers[:2])
    moved = [p for p in range(200) if a.leader("t", p).address != c.leader("t", p).address]
    assert all(a.leader("t", p).address == "h3:9092" for p in moved)
    with pytest.raises(ConfigError, match="not one of --peers"):
        Cluster(("h9", 9092), peers)


def test_users_acls_and_anonymous_rules() -> None:
    open_replica = Authenticator(KafkaSettings(), tls=False)
    assert not open_replica.sasl_enabled and open_replica.anonymous_allowed
    assert open_replica.may_read_topic(None, "anything") and open_replica.may_use_group(None, "g")
    with pytest.raises(ConfigError, match="nobody could connect"):
        Authenticator(KafkaSettings(allow_anonymous=False), tls=False)

    users = {"alice": {"password": "pw"}}
    acls = {"alice": {"topics": ["orders*"], "groups": ["a-*"]}}
    auth = Authenticator(KafkaSettings(users=users, acls=acls), tls=False)
    assert auth.sasl_enabled and not auth.anonymous_allowed, "with users, anonymous access needs its own ACL"
    assert "PLAIN" not in auth.mechanisms, "PLAIN only over TLS"
    assert auth.may_read_topic("alice", "orders-eu") and not auth.may_read_topic("alice", "payments")
    assert auth.may_use_group("alice", "a-1") and not auth.may_use_group("alice", "b-1")
    assert not auth.may_read_topic("bob", "orders"), "no ACL entry: nothing"
    with_anon = Authenticator(KafkaSettings(users=users, acls={**acls, "ANONYMOUS": {"topics": ["public"]}}), tls=True)
    assert with_anon.anonymous_allowed and with_anon.may_read_topic(None, "public")
    assert not with_anon.may_read_topic(None, "orders") and "PLAIN" in with_anon.mechanisms
    with pytest.raises(ConfigError):
        Authenticator(KafkaSettings(users={"x": {}}), tls=False)
    with pytest.raises(ConfigError):
        Authenticator(KafkaSettings(users=users, acls={"alice": {"topic": ["typo"]}}), tls=False)


def test_import_formats() -> None:
    nested = parse_import(json.dumps({"groups": {"g": {"t": {"0": 5, "1": {"offset": 7, "metadata": "m",
                                                                              "leader_epoch": 3}}}}}))
    assert [(r.group, r.topic, r.partition, r.offset, r.metadata, r.leader_epoch) for r in nested] == [
        ("g", "t", 0, 5, "", -1), ("g", "t", 1, 7, "m", 3)]
    rows = parse_import(json.dumps([{"group": "g", "topic": "t", "partition": 2, "offset": 9}]))
    assert [(r.partition, r.offset) for r in rows] == [(2, 9)]
    csv_rows = parse_import("group,topic,partition,offset,metadata\ng,t,0,12,x\ng2,t,1,13,\n")
    assert [(r.group, r.offset, r.metadata) for r in csv_rows] == [("g", 12, "x"), ("g2", 13, "")]
    table = ("\nGROUP  TOPIC  PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID  HOST  CLIENT-ID\n"
             "g      t      0          100             120             20   -            -     -\n"
             "g      t      1          -               5               -    -            -     -\n\n"
             "GROUP  TOPIC  PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID  HOST  CLIENT-ID\n"
             "h      u      3          7               7               0    c1           /1.2  x\n")
    assert [(r.group, r.topic, r.partition, r.offset) for r in parse_import(table)] == [
        ("g", "t", 0, 100), ("h", "u", 3, 7)]
    for bad in ("not,a,header\n1,2,3\n", "{", '{"groups": 1}', "group,topic,partition,offset\ng,t,x,1\n"):
        with pytest.raises(ConfigError):
            parse_import(bad)


# ------------------------------------------------------------------------------------ server limits


def test_connection_limits_and_idle_timeout(s3_server: str, tmp_path: Path) -> None:
    side = new_bucket(s3_server)  # an empty bucket is a valid (empty) replica
    server = start_serve(side, cache_dir=tmp_path / "cache", env={
        "SHADOWREPLICA_KAFKA_MAX_CONNECTIONS_PER_CLIENT": "2", "SHADOWREPLICA_KAFKA_IDLE_TIMEOUT": "1.0",
        "SHADOWREPLICA_KAFKA_MAX_FRAME_BYTES": "4096"})
    try:
        a, b = RawClient(server.port), RawClient(server.port)
        corr = a.send(ApiKey.Metadata, 8, MetadataRequest(topics=None))
        assert struct.unpack_from(">i", a.recv())[0] == corr
        third = RawClient(server.port)
        assert third.closed_by_server(), "a third connection from one address is refused"
        server.wait_for_log("kafka.max_connections_per_client")
        third.close()
        # idle ones are closed after idle_timeout; an active one is not
        for _ in range(4):
            time.sleep(0.4)
            corr = b.send(ApiKey.Metadata, 8, MetadataRequest(topics=()))
            assert struct.unpack_from(">i", b.recv())[0] == corr
        assert a.closed_by_server(timeout=0.1)
        server.wait_for_log("idle for 1 s")
        b.close()
        a.close()
        # a frame above max_frame_bytes
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(struct.pack(">i", 5000) + b"\x00" * 100)
            assert s.recv(1) == b""
        server.wait_for_log("frame size 5000 is above the limit of 4096 bytes")
    finally:
        server.stop()


def test_unknown_users_get_the_iteration_count_configured_users_have() -> None:
    """With stored credentials at 8192 iterations, an unknown user's server-first must say i=8192 too, or
    the count alone would tell a made-up name from a real one."""
    import base64

    from app.kafka.sasl import derive_scram_credential

    def stored(password: str, mech: str) -> dict[str, object]:
        from app.kafka.sasl import SaslMechanism

        c = derive_scram_credential(password, SaslMechanism(mech), iterations=8192)
        return {"salt": base64.b64encode(c.salt).decode(), "iterations": c.iterations,
                "stored_key": base64.b64encode(c.stored_key).decode(),
                "server_key": base64.b64encode(c.server_key).decode()}

    users = {name: {"scram-sha-512": stored(name * 3, "SCRAM-SHA-512")} for name in ("alice", "bob")}
    auth = Authenticator(KafkaSettings(users=users), tls=False)

    def iterations(user: str) -> str:
        server = auth.sasl_server("SCRAM-SHA-512")
        first = server.step(f"n,,n={user},r=abcdefgh".encode()).decode()
        return dict(a.split("=", 1) for a in first.split(","))["i"]

    assert iterations("alice") == iterations("mallory") == "8192"
