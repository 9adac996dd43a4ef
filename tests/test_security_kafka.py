"""Hostile input and access control on the Kafka shim, against real `shadowreplica serve` processes.

* hostile topic names (``..``, ``/``, ``%2F``, control characters, 32 KiB names, look-alikes of real
  topics) in Metadata / ListOffsets / Fetch get UNKNOWN_TOPIC_OR_PARTITION (TOPIC_AUTHORIZATION_FAILED for
  a principal without the right) and the connection keeps serving; hostile group ids stay inside the
  offsets prefix in S3 (one object each, no key injection);
* SCRAM refusals: wrong password, unknown user, a client-final replayed on another connection or after
  success, malformed client-finals, a wrong nonce, an unknown mechanism: each refused with the generic
  error only after ``failed_auth_delay``, then the connection is closed;
* ACLs on every API: Metadata (no leak of denied topics), ListOffsets, Fetch, FindCoordinator, JoinGroup,
  SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups, ListGroups;
* TLS-only listener refuses plaintext Kafka;
* no password or PLAIN token in the log of a process that saw good and bad logins; no command-line option
  takes a secret;
* real clients (kafka-python, aiokafka, confluent-kafka) over SCRAM, wrong passwords failing them, ACL
  denials as clients see them, and TLS with client certificates (formerly test_kafka_security.py).
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import ssl
import struct
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import kafka.protocol.admin as kp_admin
import kafka.protocol.consumer as kp_consumer
import kafka.protocol.metadata as kp_metadata
import kafka.protocol.sasl as kp_sasl
import pytest

from app.config import S3Side
from app.kafka.protocol import (
    ApiKey,
    DescribeGroupsRequest,
    FetchPartition,
    FetchRequest,
    FetchTopic,
    FindCoordinatorRequest,
    HeartbeatRequest,
    JoinGroupRequest,
    JoinGroupRequestProtocol,
    LeaveGroupRequest,
    ListGroupsRequest,
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsTopic,
    MetadataRequest,
    MetadataRequestTopic,
    OffsetCommitRequest,
    OffsetCommitRequestPartition,
    OffsetCommitRequestTopic,
    OffsetFetchRequest,
    OffsetFetchRequestTopic,
    SaslAuthenticateRequest,
    SaslHandshakeRequest,
    SyncGroupRequest,
)
from tests.cert_support import Certs, make_certs
from tests.kafka_support import (
    TEST_ENV,
    PartitionTruth,
    RawClient,
    ServeProcess,
    auth_reply,
    new_bucket,
    parse_fetch_response,
    read_truth,
    seed,
    start_serve,
    tls_client,
)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

PASSWORDS = {"alice": "alice-pw-Zq81", "bob": "bob-pw-Kx27"}
WRONG = "not-the-password-7Hq"
DELAY = 0.25
CONFIG = f"""
[kafka]
failed_auth_delay = {DELAY}
{{tls}}
[kafka.users.alice]
password = "{PASSWORDS['alice']}"
[kafka.users.bob]
password = "{PASSWORDS['bob']}"
[kafka.acls.alice]
topics = ["orders"]
groups = ["alice-*"]
[kafka.acls.bob]
topics = ["*"]
groups = ["*"]
"""

UNKNOWN_TOPIC, TOPIC_DENIED, GROUP_DENIED = 3, 29, 30
SASL_FAILED, ILLEGAL_SASL_STATE, UNSUPPORTED_MECHANISM = 58, 34, 33

KP: dict[int, Any] = {}
for _module in (kp_metadata, kp_consumer, kp_admin, kp_sasl):
    for _name in getattr(_module, "__all__", ()):
        _cls = getattr(_module, _name)
        if isinstance(_cls, type) and _name.endswith("Response") and hasattr(_cls, "API_KEY"):
            KP[_cls.API_KEY] = _cls


def ask(c: RawClient, api: ApiKey, version: int, body: Any) -> dict[str, Any]:
    """Send one request, decode the answer with kafka-python (an independent decoder)."""
    corr = c.send(api, version, body)
    decoded = KP[int(api)].decode(c.recv(), version=version, header=True)
    assert decoded.header.correlation_id == corr
    return dict(decoded.to_dict(json=False))


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def bucket(s3_server: str) -> S3Side:
    side = new_bucket(s3_server)
    seed(side, topics=2, partitions=1, size="300KiB", segment_size="96KiB")  # orders, payments
    return side


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def secured(bucket: S3Side, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    d = tmp_path_factory.mktemp("secured")
    (d / "config.toml").write_text(CONFIG.format(tls=""))
    s = start_serve(bucket, cache_dir=d / "cache", config=str(d / "config.toml"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def tls_only(bucket: S3Side, certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    d = tmp_path_factory.mktemp("tls")
    tls = f'tls_certfile = "{certs.server_cert}"\ntls_keyfile = "{certs.server_key}"'
    (d / "config.toml").write_text(CONFIG.format(tls=tls))
    s = start_serve(bucket, cache_dir=d / "cache", config=str(d / "config.toml"))
    yield s
    s.stop()


def authenticate(c: RawClient, user: str, password: str, mechanism: str = "SCRAM-SHA-256") -> tuple[int, str]:
    """A whole SCRAM conversation with scramp as the client; (final error code, the client-final sent)."""
    from scramp import ScramClient

    c.send(ApiKey.SaslHandshake, 1, SaslHandshakeRequest(mechanism=mechanism))
    assert struct.unpack_from(">h", c.recv(), 4)[0] == 0
    client = ScramClient([mechanism], user, password)
    c.send(ApiKey.SaslAuthenticate, 1, SaslAuthenticateRequest(auth_bytes=client.get_client_first().encode()))
    error, _, server_first = auth_reply(c.recv())
    assert error == 0
    client.set_server_first(server_first.decode())
    final = client.get_client_final()
    c.send(ApiKey.SaslAuthenticate, 1, SaslAuthenticateRequest(auth_bytes=final.encode()))
    error, _, server_final = auth_reply(c.recv())
    if error == 0:
        client.set_server_final(server_final.decode())
    return error, final


def login(port: int, user: str) -> RawClient:
    c = RawClient(port)
    assert authenticate(c, user, PASSWORDS[user])[0] == 0
    return c


# ---------------------------------------------------------------------------------- hostile names


HOSTILE_TOPICS = [
    "..", ".", "../orders", "orders/..", "orders/../payments", "./orders", "orders/", "/orders", "a/b/c",
    "orders%2F..", "%2e%2e", "%2F", "orders%00", "orders\x00", "\x00", "orders\r\nX-Injected: 1", "\t\n\x7f",
    "kafka/orders/0_1", "meta/kafka/orders", "ORDERS", " orders", "orders ", "orders*", "*", "?", "[a-z]*",
    "ørdérs", "\u202eredro", "x" * 32767, "é" * 10000, "",
]


def test_hostile_topic_names_get_the_right_error_and_the_connection_keeps_serving(secured: ServeProcess) -> None:
    for user, code in (("bob", UNKNOWN_TOPIC), ("alice", TOPIC_DENIED)):
        with login(secured.port, user) as c:
            for name in HOSTILE_TOPICS:
                meta = ask(c, ApiKey.Metadata, 8, MetadataRequest(topics=(MetadataRequestTopic(name=name),)))
                assert [(t["name"], t["error_code"], t["partitions"]) for t in meta["topics"]] == [(name, code, [])], name[:40]
                lo = ask(c, ApiKey.ListOffsets, 4, ListOffsetsRequest(topics=(ListOffsetsTopic(
                    name=name, partitions=(ListOffsetsPartition(partition_index=0, timestamp=-2),
                                           ListOffsetsPartition(partition_index=2**31 - 1, timestamp=-1))),)))
                assert [p["error_code"] for t in lo["topics"] for p in t["partitions"]] == [code, code], name[:40]
                c.send(ApiKey.Fetch, 11, FetchRequest(max_wait_ms=10, min_bytes=1, max_bytes=1 << 20, topics=(FetchTopic(
                    topic=name, partitions=(FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20),
                                            FetchPartition(partition=-1, fetch_offset=-5, partition_max_bytes=0))),)))
                _, parts = parse_fetch_response(c.recv(), 11)
                assert {p.error_code for p in parts.values()} == {code} and not any(p.records for p in parts.values())
            # still serving the real topic on the same connection
            meta = ask(c, ApiKey.Metadata, 8, MetadataRequest(topics=(MetadataRequestTopic(name="orders"),)))
            assert meta["topics"][0]["error_code"] == 0 and meta["topics"][0]["partitions"]
    assert_clean_log(secured)


LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: |serving )")


def assert_clean_log(server: ServeProcess) -> None:
    """No traceback, no line a client forged (every line starts like one of ours), no warning per bad name."""
    lines = list(server.log)
    assert not any("Traceback" in line for line in lines)
    forged = [line[:80] for line in lines if not LOG_LINE.match(line)]
    assert forged == [], "client bytes broke a log line"
    assert not [line[:120] for line in lines if "WARNING" in line and "unknown topic" in line], \
        "asking for a missing topic is no server warning (one per request floods the log)"


HOSTILE_GROUPS = ["../../escape", "a/b", "%2F", "..", ".", "g\x00\r\n", "ünïcødé", "x" * 300, "bob-g/../../x"]


def test_hostile_group_ids_stay_inside_the_offsets_prefix(secured: ServeProcess, bucket: S3Side) -> None:
    s3 = boto3.client("s3", endpoint_url=bucket.endpoint_url, region_name=bucket.region,
                      aws_access_key_id=TEST_ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key=TEST_ENV["AWS_SECRET_ACCESS_KEY"])

    def keys() -> set[str]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket.url.bucket)
        return {o["Key"] for page in pages for o in page.get("Contents", ())}

    before = keys()
    with login(secured.port, "bob") as c:
        for group in HOSTILE_GROUPS:
            answer = ask(c, ApiKey.OffsetCommit, 7, OffsetCommitRequest(group_id=group, topics=(OffsetCommitRequestTopic(
                name="orders", partitions=(OffsetCommitRequestPartition(partition_index=0, committed_offset=3),)),)))
            assert answer["topics"][0]["partitions"][0]["error_code"] == 0, group
            fetched = ask(c, ApiKey.OffsetFetch, 5, OffsetFetchRequest(group_id=group, topics=None))
            assert [(t["name"], p["committed_offset"]) for t in fetched["topics"] for p in t["partitions"]] == [("orders", 3)]
        too_long = "y" * 2000  # its object key would pass S3's 1024-byte limit
        answer = ask(c, ApiKey.OffsetCommit, 7, OffsetCommitRequest(group_id=too_long, topics=(OffsetCommitRequestTopic(
            name="orders", partitions=(OffsetCommitRequestPartition(partition_index=0, committed_offset=3),)),)))
        assert answer["topics"][0]["partitions"][0]["error_code"] == 24, "INVALID_GROUP_ID on every S3, not a crash"
        assert ask(c, ApiKey.Metadata, 8, MetadataRequest(topics=()))["brokers"], "the connection is still served"
        listed = {g["group_id"] for g in ask(c, ApiKey.ListGroups, 2, ListGroupsRequest())["groups"]}
        assert set(HOSTILE_GROUPS) <= listed
    new = keys() - before
    prefix = "_shadowreplica/groups/"
    assert len(new) == len(HOSTILE_GROUPS), sorted(new)
    for key in new:
        assert key.startswith(prefix) and key.endswith(".json") and "/" not in key[len(prefix):], key
    assert {urllib.parse.unquote(k[len(prefix):-5]) for k in new} == set(HOSTILE_GROUPS)
    assert not any(k.startswith(("kafka/", "meta/")) or "/kafka/" in k for k in new)
    assert_clean_log(secured)


# ------------------------------------------------------------------------------------- SCRAM refusals


def _refused(c: RawClient, started: float, expect: int = SASL_FAILED) -> None:
    error, msg, _ = auth_reply(c.recv())
    took = time.monotonic() - started
    assert error == expect, (error, msg)
    assert took >= DELAY * 0.95, f"refused after {took * 1000:.0f} ms, before failed_auth_delay"
    assert c.closed_by_server(), "the connection is closed after a refusal"
    c.close()


def _first(c: RawClient, user: str = "alice", nonce: str = "fyko+d2lbbFgONRv9qkxdawL",
           mechanism: str = "SCRAM-SHA-256") -> str:
    c.send(ApiKey.SaslHandshake, 1, SaslHandshakeRequest(mechanism=mechanism))
    assert struct.unpack_from(">h", c.recv(), 4)[0] == 0
    c.send(ApiKey.SaslAuthenticate, 1, SaslAuthenticateRequest(auth_bytes=f"n,,n={user},r={nonce}".encode()))
    error, _, server_first = auth_reply(c.recv())
    assert error == 0
    return server_first.decode()


@pytest.mark.parametrize("case", ["wrong-password", "unknown-user", "bad-base64", "no-proof", "not-utf8", "wrong-nonce",
                                  "short-proof", "binding-mismatch", "empty", "huge"])
def test_scram_refusals_are_delayed_generic_and_close(secured: ServeProcess, case: str) -> None:
    from scramp import ScramClient

    c = RawClient(secured.port)
    if case in ("wrong-password", "unknown-user"):
        started = time.monotonic()
        error, _ = authenticate(c, "mallory" if case == "unknown-user" else "alice", WRONG)
        assert error == SASL_FAILED and time.monotonic() - started >= DELAY * 0.95
        assert c.closed_by_server()
        c.close()
        return
    server_first = _first(c)
    nonce = dict(a.split("=", 1) for a in server_first.split(","))["r"]
    proof = base64.b64encode(b"\x00" * 32).decode()
    final = {
        "bad-base64": f"c=biws,r={nonce},p=@@@not base64@@@",
        "no-proof": f"c=biws,r={nonce}",
        "not-utf8": b"c=biws,r=\xff\xfe,p=AAAA",
        "wrong-nonce": f"c=biws,r={nonce}tampered,p={proof}",
        "short-proof": f"c=biws,r={nonce},p=AAAA",
        "binding-mismatch": f"c={base64.b64encode(b'y,,').decode()},r={nonce},p={proof}",
        "empty": "",
        "huge": "c=biws,r=" + "x" * 70_000 + ",p=" + proof,
    }[case]
    del ScramClient
    started = time.monotonic()
    c.send(ApiKey.SaslAuthenticate, 1, SaslAuthenticateRequest(auth_bytes=final if isinstance(final, bytes) else final.encode()))
    _refused(c, started)


def test_replayed_client_final_is_refused(secured: ServeProcess) -> None:
    with RawClient(secured.port) as c:
        error, final = authenticate(c, "alice", PASSWORDS["alice"])
        assert error == 0
        # the same message again on the authenticated connection
        started = time.monotonic()
        c.send(ApiKey.SaslAuthenticate, 1, SaslAuthenticateRequest(auth_bytes=final.encode()))
        error, _, _ = auth_reply(c.recv())
        assert error == ILLEGAL_SASL_STATE and time.monotonic() - started >= DELAY * 0.95
        assert c.closed_by_server()
    # on a new connection with the same client nonce: the server nonce differs, so the proof is stale
    client_nonce = dict(a.split("=", 1) for a in final.split(","))["r"]
    c = RawClient(secured.port)
    _first(c, nonce=client_nonce[:24])
    started = time.monotonic()
    c.send(ApiKey.SaslAuthenticate, 1, SaslAuthenticateRequest(auth_bytes=final.encode()))
    _refused(c, started)


def test_unknown_mechanism_and_out_of_order_tokens(secured: ServeProcess) -> None:
    for mechanism in ("SCRAM-SHA-1", "GSSAPI", "OAUTHBEARER", "PLAIN", "scram-sha-256", "", "x" * 1000):
        c = RawClient(secured.port)
        started = time.monotonic()
        c.send(ApiKey.SaslHandshake, 1, SaslHandshakeRequest(mechanism=mechanism))
        frame = c.recv()
        assert struct.unpack_from(">h", frame, 4)[0] == UNSUPPORTED_MECHANISM, mechanism
        assert b"SCRAM-SHA-256" in frame and b"PLAIN" not in frame, "enabled list, no PLAIN without TLS"
        assert time.monotonic() - started >= DELAY * 0.95, "unknown mechanism refused only after the delay"
        assert c.closed_by_server()
        c.close()
    c = RawClient(secured.port)  # a token before any handshake
    started = time.monotonic()
    c.send(ApiKey.SaslAuthenticate, 1, SaslAuthenticateRequest(auth_bytes=b"n,,n=alice,r=abc"))
    _refused(c, started, ILLEGAL_SASL_STATE)


# ---------------------------------------------------------------------------------------------- ACLs


def test_acls_on_every_api(secured: ServeProcess) -> None:
    fetch = FetchRequest(max_wait_ms=10, min_bytes=1, max_bytes=1 << 20, topics=tuple(
        FetchTopic(topic=t, partitions=(FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20),))
        for t in ("orders", "payments")))

    def commit(group: str, topic: str) -> OffsetCommitRequest:
        return OffsetCommitRequest(group_id=group, topics=(OffsetCommitRequestTopic(
            name=topic, partitions=(OffsetCommitRequestPartition(partition_index=0, committed_offset=1),)),))

    with login(secured.port, "bob") as bob:  # bob may read everything: the same requests succeed for him
        # every topic bob may read, and the internal __consumer_offsets (bob may use groups)
        assert {t["name"] for t in ask(bob, ApiKey.Metadata, 8, MetadataRequest(topics=None))["topics"]} == {
            "orders", "payments", "__consumer_offsets"}
        for group, topic in (("bob-g", "payments"), ("alice-g", "payments")):
            assert ask(bob, ApiKey.OffsetCommit, 7, commit(group, topic))["topics"][0]["partitions"][0]["error_code"] == 0
        assert {"bob-g", "alice-g"} <= {g["group_id"] for g in ask(bob, ApiKey.ListGroups, 2, ListGroupsRequest())["groups"]}

    with login(secured.port, "alice") as c:
        meta = ask(c, ApiKey.Metadata, 8, MetadataRequest(topics=None))
        assert [t["name"] for t in meta["topics"]] == ["orders", "__consumer_offsets"], "denied topics are not listed"
        assert [t["is_internal"] for t in meta["topics"]] == [False, True]
        named = ask(c, ApiKey.Metadata, 8, MetadataRequest(topics=(MetadataRequestTopic(name="payments"),
                                                                   MetadataRequestTopic(name="no-such-topic"))))
        assert [(t["error_code"], t["partitions"]) for t in named["topics"]] == [(TOPIC_DENIED, [])] * 2, \
            "a denied topic answers like a denied missing one: existence is not revealed"
        lo = ask(c, ApiKey.ListOffsets, 4, ListOffsetsRequest(topics=tuple(ListOffsetsTopic(
            name=t, partitions=(ListOffsetsPartition(partition_index=0, timestamp=-1),)) for t in ("orders", "payments"))))
        assert {t["name"]: t["partitions"][0]["error_code"] for t in lo["topics"]} == {"orders": 0, "payments": TOPIC_DENIED}
        deadline = time.monotonic() + 15
        while True:  # the error on payments answers at once; orders' first read may still be on its way from S3
            c.send(ApiKey.Fetch, 11, fetch)
            _, parts = parse_fetch_response(c.recv(), 11)
            if parts[("orders", 0)].records or time.monotonic() > deadline:
                break
        assert parts[("orders", 0)].error_code == 0 and parts[("orders", 0)].records
        assert parts[("payments", 0)].error_code == TOPIC_DENIED and not parts[("payments", 0)].records

        # bob's group: every group API is refused
        fc = ask(c, ApiKey.FindCoordinator, 2, FindCoordinatorRequest(key="bob-g"))
        assert fc["error_code"] == GROUP_DENIED and fc["node_id"] == -1
        join = ask(c, ApiKey.JoinGroup, 5, JoinGroupRequest(
            group_id="bob-g", session_timeout_ms=10000, rebalance_timeout_ms=10000, member_id="", protocol_type="consumer",
            protocols=(JoinGroupRequestProtocol(name="range", metadata=b""),)))
        assert join["error_code"] == GROUP_DENIED and join["members"] == []
        sync = ask(c, ApiKey.SyncGroup, 3, SyncGroupRequest(group_id="bob-g", generation_id=1, member_id="m", assignments=()))
        assert sync["error_code"] == GROUP_DENIED and not sync["assignment"]
        hb = ask(c, ApiKey.Heartbeat, 3, HeartbeatRequest(group_id="bob-g", generation_id=1, member_id="m"))
        assert hb["error_code"] == GROUP_DENIED
        leave = ask(c, ApiKey.LeaveGroup, 1, LeaveGroupRequest(group_id="bob-g", member_id="m"))
        assert leave["error_code"] == GROUP_DENIED
        oc = ask(c, ApiKey.OffsetCommit, 7, commit("bob-g", "orders"))
        assert oc["topics"][0]["partitions"][0]["error_code"] == GROUP_DENIED
        of = ask(c, ApiKey.OffsetFetch, 5, OffsetFetchRequest(group_id="bob-g", topics=None))
        assert of["error_code"] == GROUP_DENIED and of["topics"] == [], "no offsets of a denied group"
        dg = ask(c, ApiKey.DescribeGroups, 4, DescribeGroupsRequest(groups=("bob-g", "alice-g")))
        assert [(g["group_id"], g["error_code"]) for g in dg["groups"]] == [("bob-g", GROUP_DENIED), ("alice-g", 0)]
        assert dg["groups"][0]["members"] == []
        listed = {g["group_id"] for g in ask(c, ApiKey.ListGroups, 2, ListGroupsRequest())["groups"]}
        assert "alice-g" in listed and "bob-g" not in listed, "ListGroups shows only groups alice may use"

        # her own group, a topic she may not read
        oc = ask(c, ApiKey.OffsetCommit, 7, commit("alice-g", "payments"))
        assert oc["topics"][0]["partitions"][0]["error_code"] == TOPIC_DENIED
        assert ask(c, ApiKey.OffsetCommit, 7, commit("alice-g", "orders"))["topics"][0]["partitions"][0]["error_code"] == 0
        of = ask(c, ApiKey.OffsetFetch, 5, OffsetFetchRequest(group_id="alice-g", topics=None))
        assert [t["name"] for t in of["topics"]] == ["orders"], "bob's commit to payments in her group is not shown"
        of = ask(c, ApiKey.OffsetFetch, 5, OffsetFetchRequest(group_id="alice-g", topics=(OffsetFetchRequestTopic(
            name="payments", partition_indexes=(0,)),)))
        part = of["topics"][0]["partitions"][0]
        assert part["error_code"] == TOPIC_DENIED and part["committed_offset"] == -1


# ----------------------------------------------------------------------------------------------- TLS


def test_tls_listener_refuses_plaintext(tls_only: ServeProcess, certs: Certs) -> None:
    api_versions = struct.pack(">ihhih", 10, 18, 2, 1, -1)
    with socket.create_connection(("127.0.0.1", tls_only.port), timeout=5) as raw:
        raw.sendall(api_versions + b"\x00" * 300)  # enough bytes for the server to judge the handshake
        got = b""
        try:
            while chunk := raw.recv(4096):
                got += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    assert not got or got[0] == 0x15, f"only a TLS alert, never a Kafka answer: {got[:16]!r}"
    with tls_client(tls_only.port, certs) as c:  # the listener still serves TLS clients
        assert authenticate(c, "alice", PASSWORDS["alice"], "SCRAM-SHA-512")[0] == 0
        assert [t["name"] for t in ask(c, ApiKey.Metadata, 8, MetadataRequest(topics=None))["topics"]] == [
            "orders", "__consumer_offsets"]


# ------------------------------------------------------------------------------------ secrets in logs


def test_no_secrets_in_the_log(tls_only: ServeProcess, secured: ServeProcess, certs: Certs) -> None:
    # PLAIN over TLS carries the password itself: good and bad ones
    for user, password in (("bob", PASSWORDS["bob"]), ("bob", WRONG), ("mallory", WRONG + "-plain")):
        with tls_client(tls_only.port, certs) as c:
            c.send(ApiKey.SaslHandshake, 1, SaslHandshakeRequest(mechanism="PLAIN"))
            assert struct.unpack_from(">h", c.recv(), 4)[0] == 0
            c.send(ApiKey.SaslAuthenticate, 1, SaslAuthenticateRequest(auth_bytes=f"\x00{user}\x00{password}".encode()))
            assert (auth_reply(c.recv())[0] == 0) == (password == PASSWORDS["bob"])
    for server in (secured, tls_only):
        with RawClient(server.port) if server is secured else tls_client(server.port, certs) as c:
            authenticate(c, "alice", WRONG + "-scram")
    tls_only.wait_for_log("authenticated as 'bob' with PLAIN")
    tls_only.wait_for_log("authentication failed: user 'mallory'")
    for server in (secured, tls_only):
        text = server.log_text()
        assert "authentication failed" in text
        for secret in (*PASSWORDS.values(), WRONG):
            assert secret not in text, f"{secret!r} appears in the log"
            assert base64.b64encode(secret.encode()).decode() not in text


def test_no_command_line_option_takes_a_secret() -> None:
    from app.cli import build_parser

    parser = build_parser()  # every command's arguments
    options: list[str] = []

    def walk(p: Any) -> None:
        for action in p._actions:
            options.extend(action.option_strings)
            for sub in (getattr(action, "choices", None) or {}).values() if isinstance(getattr(action, "choices", None), dict) else ():
                walk(sub)

    walk(parser)
    assert len(options) > 30
    secretish = re.compile(r"pass|secret|token|credential|access-key|api-key", re.IGNORECASE)
    assert [o for o in options if secretish.search(o)] == []
    # and the docs never show one on a command line
    repo = Path(__file__).resolve().parent.parent
    for doc in [repo / "README.md", *repo.glob("*.md"), *(repo / "localstack").glob("*.md"), *(repo / "docs").glob("**/*.md")]:
        for line in doc.read_text().splitlines():
            if "shadowreplica " in line and secretish.search(line.split("#")[0]):
                assert not re.search(r"--\S*(pass|secret|token)", line, re.IGNORECASE), f"{doc.name}: {line}"


# ====================================================== clients over SASL and mutual TLS


@pytest.fixture(scope="module")
def truth(bucket: S3Side) -> dict[tuple[str, int], PartitionTruth]:
    return read_truth(bucket)


@pytest.fixture(scope="module")
def mutual_tls(bucket: S3Side, certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    d = tmp_path_factory.mktemp("tls")
    tls = (f'tls_certfile = "{certs.server_cert}"\ntls_keyfile = "{certs.server_key}"\n'
           f'tls_cafile = "{certs.ca}"\ntls_require_client_cert = true')
    (d / "config.toml").write_text(CONFIG.format(tls=tls))
    s = start_serve(bucket, cache_dir=d / "cache", config=str(d / "config.toml"))
    yield s
    s.stop()


# ----------------------------------------------------------------------------------- raw SCRAM exchanges


def _sasl_exchange(port: int, mechanism: str, user: str, password: str) -> tuple[int, str | None, float, RawClient]:
    """Handshake + the two SaslAuthenticate round trips, with scramp as the client.
    Returns (error code of the final step, its message, seconds it took, the still-open client)."""
    from scramp import ScramClient

    c = RawClient(port)
    c.send(ApiKey.SaslHandshake, 1, SaslHandshakeRequest(mechanism=mechanism))
    frame = c.recv()
    assert struct.unpack_from(">h", frame, 4)[0] == 0
    client = ScramClient([mechanism], user, password)
    c.send(ApiKey.SaslAuthenticate, 1, SaslAuthenticateRequest(auth_bytes=client.get_client_first().encode()))
    error, _msg, server_first = auth_reply(c.recv())
    assert error == 0
    client.set_server_first(server_first.decode())
    started = time.monotonic()
    c.send(ApiKey.SaslAuthenticate, 1, SaslAuthenticateRequest(auth_bytes=client.get_client_final().encode()))
    error, msg, server_final = auth_reply(c.recv())
    took = time.monotonic() - started
    if error == 0:
        client.set_server_final(server_final.decode())  # scramp checks the server's signature
    return error, msg, took, c


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_good_and_bad_passwords_on_the_wire(secured: ServeProcess, mechanism: str) -> None:
    error, _, _, c = _sasl_exchange(secured.port, mechanism, "alice", PASSWORDS["alice"])
    assert error == 0
    corr = c.send(ApiKey.Metadata, 8, MetadataRequest(topics=None))
    frame = c.recv()
    assert struct.unpack_from(">i", frame)[0] == corr and b"orders" in frame and b"payments" not in frame
    c.close()

    error, msg, took, c = _sasl_exchange(secured.port, mechanism, "alice", "wrong")
    assert error == 58 and msg is not None and "invalid credentials" in msg
    assert took >= DELAY, "a failed authentication is answered only after failed_auth_delay"
    assert c.closed_by_server()
    c.close()
    error, msg, _, c = _sasl_exchange(secured.port, mechanism, "mallory", "whatever")
    assert error == 58
    c.close()
    secured.wait_for_log("authentication failed: user 'alice'")
    secured.wait_for_log("authentication failed: user 'mallory'")


def test_requests_before_authentication_close_the_connection(secured: ServeProcess) -> None:
    with RawClient(secured.port) as c:
        c.send(ApiKey.Metadata, 8, MetadataRequest(topics=None))
        assert c.closed_by_server()
    secured.wait_for_log("Metadata before authenticating")


def test_clients_with_scram(secured: ServeProcess, truth: dict[tuple[str, int], PartitionTruth]) -> None:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    from kafka import KafkaConsumer

    want = [r.offset for r in truth[("orders", 0)].records]
    kp = KafkaConsumer(bootstrap_servers=secured.bootstrap, security_protocol="SASL_PLAINTEXT",
                       sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="bob", sasl_plain_password=PASSWORDS["bob"],
                       auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        kp.subscribe(["orders"])
        assert [m.offset for m in kp] == want
    finally:
        kp.close()

    ck = Consumer({"bootstrap.servers": secured.bootstrap, "group.id": "bob-ck", "security.protocol": "SASL_PLAINTEXT",
                   "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "bob", "sasl.password": PASSWORDS["bob"],
                   "enable.auto.commit": False})
    try:
        ck.assign([TopicPartition("orders", 0, OFFSET_BEGINNING)])
        got: list[int] = []
        deadline = time.monotonic() + 20
        while len(got) < len(want) and time.monotonic() < deadline:
            got += [m.offset() for m in ck.consume(1000, 0.2) if m.error() is None]
        assert got == want
    finally:
        ck.close()


def test_wrong_password_fails_the_clients(secured: ServeProcess) -> None:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaError
    from confluent_kafka import Consumer

    async def aio() -> None:
        c = AIOKafkaConsumer(bootstrap_servers=secured.bootstrap, security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="alice",
                             sasl_plain_password="nope", request_timeout_ms=5000)
        try:
            with pytest.raises(KafkaError):
                await c.start()
        finally:
            await c.stop()

    asyncio.run(aio())

    errors: list[str] = []
    ck = Consumer({"bootstrap.servers": secured.bootstrap, "group.id": "alice-x", "security.protocol": "SASL_PLAINTEXT",
                   "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice", "sasl.password": "nope",
                   "error_cb": lambda e: errors.append(e.str())})
    try:
        deadline = time.monotonic() + 10
        while not errors and time.monotonic() < deadline:
            ck.poll(0.2)
        assert any("Authentication failed" in e or "authentication" in e.lower() for e in errors), errors
    finally:
        ck.close()


def test_acl_denial(secured: ServeProcess) -> None:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import GroupAuthorizationFailedError

    def alice(**kw: object) -> KafkaConsumer:
        return KafkaConsumer(bootstrap_servers=secured.bootstrap, security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="alice",
                             sasl_plain_password=PASSWORDS["alice"], enable_auto_commit=False, **kw)

    c = alice()
    try:
        assert c.topics() == {"orders"}, "topics alice may not read are not even listed"
    finally:
        c.close()
    error, _, _, raw = _sasl_exchange(secured.port, "SCRAM-SHA-256", "alice", PASSWORDS["alice"])
    assert error == 0
    with raw:
        raw.send(ApiKey.Fetch, 11, FetchRequest(max_wait_ms=100, min_bytes=1, max_bytes=1 << 20, topics=tuple(
            FetchTopic(topic=t, partitions=(FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20),))
            for t in ("orders", "payments"))))
        _, parts = parse_fetch_response(raw.recv(), 11)
        assert parts[("orders", 0)].error_code == 0 and parts[("orders", 0)].records
        assert parts[("payments", 0)].error_code == 29 and not parts[("payments", 0)].records
        raw.send(ApiKey.Metadata, 8, MetadataRequest(topics=(MetadataRequestTopic(name="payments"),)))
        frame = raw.recv()
        assert b"payments" in frame and struct.pack(">h", 29) in frame
    c = alice(group_id="bob-group")
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            c.committed(TopicPartition("orders", 0))
    finally:
        c.close()


def _tls_context(certs: Certs, *, with_client_cert: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    if with_client_cert:
        ctx.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    return ctx


def test_tls_with_client_certificates(mutual_tls: ServeProcess, certs: Certs,
                                      truth: dict[tuple[str, int], PartitionTruth]) -> None:
    import socket

    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    from kafka import KafkaConsumer

    # no client certificate: the handshake is refused
    with socket.create_connection(("127.0.0.1", mutual_tls.port), timeout=5) as raw:
        tls = _tls_context(certs, with_client_cert=False).wrap_socket(raw, server_hostname="localhost")
        try:
            tls.sendall(struct.pack(">ihhih", 10, 18, 2, 1, -1))  # ApiVersions v2
            answer = tls.recv(4)  # TLS 1.3 reports the refused certificate at the first read
        except (ssl.SSLError, OSError):
            answer = b""
        assert answer == b""
    with socket.create_connection(("127.0.0.1", mutual_tls.port), timeout=5) as raw:
        tls = _tls_context(certs, with_client_cert=True).wrap_socket(raw, server_hostname="localhost")
        tls.sendall(struct.pack(">ihhih", 10, 18, 2, 1, -1))
        assert struct.unpack(">i", tls.recv(4))[0] > 0, "with the certificate the same request is answered"

    want = [r.offset for r in truth[("payments", 0)].records]
    # PLAIN is offered on TLS listeners (SASL_SSL), with the client certificate
    ck = Consumer({"bootstrap.servers": f"localhost:{mutual_tls.port}", "group.id": "bob-tls",
                   "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": "bob",
                   "sasl.password": PASSWORDS["bob"], "ssl.ca.location": str(certs.ca),
                   "ssl.certificate.location": str(certs.client_cert), "ssl.key.location": str(certs.client_key),
                   "enable.auto.commit": False})
    try:
        ck.assign([TopicPartition("payments", 0, OFFSET_BEGINNING)])
        got: list[int] = []
        deadline = time.monotonic() + 20
        while len(got) < len(want) and time.monotonic() < deadline:
            got += [m.offset() for m in ck.consume(1000, 0.2) if m.error() is None]
        assert got == want
    finally:
        ck.close()

    kp = KafkaConsumer(bootstrap_servers=f"localhost:{mutual_tls.port}", security_protocol="SASL_SSL",
                       sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="bob", sasl_plain_password=PASSWORDS["bob"],
                       ssl_cafile=str(certs.ca), ssl_certfile=str(certs.client_cert), ssl_keyfile=str(certs.client_key),
                       auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        kp.subscribe(["payments"])
        assert [m.offset for m in kp] == want
    finally:
        kp.close()
    mutual_tls.wait_for_log("authenticated as 'bob' with PLAIN")
