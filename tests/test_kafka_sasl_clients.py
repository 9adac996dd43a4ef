"""SASL for every client: a distribution's librdkafka (Debian's kcat, librdkafka 2.0.2), confluent-kafka's
bundled librdkafka, and kafka-python speaking SaslHandshake v0 (bare tokens), against a real `serve`
configured with the README's own users/ACLs/TLS example.

kcat comes from Debian through ``tests/debian/install.sh`` (run here when ``kcat`` is missing), so a
fresh clone's ``make test`` installs it. librdkafka turns SASL on only when ApiVersions lists SaslHandshake
v0; before that fix every mechanism failed with "SASL Handshake not supported by broker".
"""

from __future__ import annotations

import re
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import S3Side
from app.kafka.protocol import ApiKey, SaslHandshakeRequest
from tests.cert_support import Certs, make_certs
from tests.debian_tools import ensure_tool
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

REPO = Path(__file__).resolve().parent.parent
PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret"}


def readme_security_example() -> str:
    """The TOML block under README's ``<!-- kafka-security-example -->`` marker."""
    text = (REPO / "README.md").read_text()
    found = re.search(r"<!-- kafka-security-example -->\s*```toml\n(.*?)```", text, re.S)
    assert found, "README lost its users/ACLs/TLS example"
    return found.group(1)


@pytest.fixture(scope="session")
def kcat() -> str:
    return str(ensure_tool("kcat"))


@pytest.fixture(scope="module")
def bucket(s3_server: str) -> S3Side:
    side = new_bucket(s3_server)
    seed(side, topics=2, partitions=1, size="300KiB", segment_size="96KiB")
    return side


@pytest.fixture(scope="module")
def truth(bucket: S3Side) -> dict[tuple[str, int], PartitionTruth]:
    return read_truth(bucket)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def readme_server(bucket: S3Side, certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """`serve` with README's example config, only the certificate paths swapped for the test CA's."""
    d = tmp_path_factory.mktemp("readme")
    config = (readme_security_example().replace("/etc/shadowreplica/server.pem", str(certs.server_cert))
              .replace("/etc/shadowreplica/server.key", str(certs.server_key)))
    (d / "config.toml").write_text(config)
    s = start_serve(bucket, cache_dir=d / "cache", config=str(d / "config.toml"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def plaintext_server(bucket: S3Side, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """The same users and ACLs on a plaintext listener (SCRAM only; PLAIN needs TLS)."""
    d = tmp_path_factory.mktemp("plain")
    config = "\n".join(line for line in readme_security_example().splitlines() if not line.startswith("tls_"))
    (d / "config.toml").write_text(config)
    s = start_serve(bucket, cache_dir=d / "cache", config=str(d / "config.toml"))
    yield s
    s.stop()


def kcat_offsets(kcat: str, port: int, topic: str, settings: dict[str, str], *,
                 metadata_timeout: int = 20) -> subprocess.CompletedProcess[str]:
    """kcat's offsets of ``topic`` partition 0; ``metadata_timeout`` (``-m``, seconds) is how long kcat keeps
    asking for metadata: a refused login ends only there."""
    cmd = [kcat, "-C", "-b", f"localhost:{port}", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
           "-f", "%o\\n", "-m", str(metadata_timeout)]
    for k, v in settings.items():
        cmd += ["-X", f"{k}={v}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def tls_settings(certs: Certs) -> dict[str, str]:
    return {"security.protocol": "SASL_SSL", "ssl.ca.location": str(certs.ca)}


CASES = [("alice", "SCRAM-SHA-256"), ("bob", "SCRAM-SHA-512"), ("alice", "PLAIN"), ("bob", "PLAIN")]


@pytest.mark.parametrize(("user", "mechanism"), CASES)
def test_debian_kcat_logs_in_over_tls(kcat: str, readme_server: ServeProcess, certs: Certs, user: str, mechanism: str,
                                      truth: dict[tuple[str, int], PartitionTruth]) -> None:
    version = subprocess.run([kcat, "-V"], capture_output=True, text=True, timeout=10).stdout
    assert "librdkafka 2.0.2" in version, f"expected Debian bookworm's kcat build, got: {version}"
    settings = {**tls_settings(certs), "sasl.mechanism": mechanism, "sasl.username": user,
                "sasl.password": PASSWORDS[user]}
    done = kcat_offsets(kcat, readme_server.port, "orders", settings)
    assert done.returncode == 0, done.stderr
    assert [int(o) for o in done.stdout.split()] == [r.offset for r in truth[("orders", 0)].records]
    readme_server.wait_for_log(f"authenticated as '{user}' with {mechanism}")

    # the ACL: alice may not read payments (no topic in her Metadata: kcat reports it unknown)
    if user == "alice":
        denied = kcat_offsets(kcat, readme_server.port, "payments", settings)
        assert denied.returncode != 0 and not denied.stdout.strip()

    bad = kcat_offsets(kcat, readme_server.port, "orders", {**settings, "sasl.password": "wrong",
                                                            "reconnect.backoff.ms": "2000"}, metadata_timeout=3)
    assert bad.returncode != 0 and not bad.stdout.strip()
    readme_server.wait_for_log(f"authentication failed: user '{user}', mechanism {mechanism}")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_debian_kcat_scram_on_plaintext(kcat: str, plaintext_server: ServeProcess, mechanism: str,
                                        truth: dict[tuple[str, int], PartitionTruth]) -> None:
    user = "alice" if mechanism == "SCRAM-SHA-256" else "bob"
    done = kcat_offsets(kcat, plaintext_server.port, "orders", {
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mechanism, "sasl.username": user,
        "sasl.password": PASSWORDS[user]})
    assert done.returncode == 0, done.stderr
    assert [int(o) for o in done.stdout.split()] == [r.offset for r in truth[("orders", 0)].records]


@pytest.mark.parametrize(("user", "mechanism"), CASES)
def test_confluent_kafka_logs_in_over_tls(readme_server: ServeProcess, certs: Certs, user: str, mechanism: str,
                                          truth: dict[tuple[str, int], PartitionTruth]) -> None:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    want = [r.offset for r in truth[("orders", 0)].records]
    consumer = Consumer({"bootstrap.servers": f"localhost:{readme_server.port}", "group.id": f"{user}-ck",
                         **tls_settings(certs), "sasl.mechanism": mechanism, "sasl.username": user,
                         "sasl.password": PASSWORDS[user], "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition("orders", 0, OFFSET_BEGINNING)])
        got: list[int] = []
        deadline = time.monotonic() + 20
        while len(got) < len(want) and time.monotonic() < deadline:
            got += [m.offset() for m in consumer.consume(1000, 0.2) if m.error() is None]
        assert got == want
    finally:
        consumer.close()


@pytest.mark.parametrize(("user", "mechanism"), CASES)
def test_kafka_python_with_saslhandshake_v0(readme_server: ServeProcess, certs: Certs, user: str, mechanism: str,
                                            truth: dict[tuple[str, int], PartitionTruth]) -> None:
    """kafka-python told the broker is Kafka 0.11 negotiates SaslHandshake v0 and sends bare tokens."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=f"localhost:{readme_server.port}", security_protocol="SASL_SSL",
                             sasl_mechanism=mechanism, sasl_plain_username=user, sasl_plain_password=PASSWORDS[user],
                             ssl_cafile=str(certs.ca), api_version=(0, 11), auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=3000)
    try:
        consumer.subscribe(["orders"])
        assert [m.offset for m in consumer] == [r.offset for r in truth[("orders", 0)].records]
    finally:
        consumer.close()
    readme_server.wait_for_log(f"authenticated as '{user}' with {mechanism} (SaslHandshake v0, unframed tokens)")


def _bare_token_exchange(c: RawClient, token: bytes) -> bytes | None:
    """Send one size-prefixed token; the size-prefixed answer, or None when the server closed instead."""
    c.send_bytes(struct.pack(">i", len(token)) + token)
    try:
        return c.recv()
    except ConnectionError:
        return None


def test_bare_scram_tokens_with_scramp_and_a_wrong_password(plaintext_server: ServeProcess) -> None:
    """v0 by hand with scramp as the SCRAM client: the server's signature checks out and the connection then
    speaks Kafka framing again; a wrong proof gets no answer, only a close after the failure delay (v0 has no
    error field)."""
    from scramp import ScramClient

    from app.kafka.protocol import MetadataRequest

    for password, good in (("alice-secret", True), ("wrong", False)):
        with RawClient(plaintext_server.port) as c:
            c.send(ApiKey.SaslHandshake, 0, SaslHandshakeRequest(mechanism="SCRAM-SHA-256"))
            assert struct.unpack_from(">ih", c.recv()) == (c.correlation, 0)
            client = ScramClient(["SCRAM-SHA-256"], "alice", password)
            first = _bare_token_exchange(c, client.get_client_first().encode())
            assert first is not None
            client.set_server_first(first.decode())
            started = time.monotonic()
            final = _bare_token_exchange(c, client.get_client_final().encode())
            if good:
                assert final is not None
                client.set_server_final(final.decode())  # raises unless the server proved it knows the key
                corr = c.send(ApiKey.Metadata, 8, MetadataRequest(topics=None))
                frame = c.recv()
                assert struct.unpack_from(">i", frame)[0] == corr and b"orders" in frame and b"payments" not in frame
            else:
                assert final is None and time.monotonic() - started >= 0.4, "closed unanswered, after the delay"
    plaintext_server.wait_for_log("authenticated as 'alice' with SCRAM-SHA-256 (SaslHandshake v0, unframed tokens)")
    plaintext_server.wait_for_log("authentication failed: user 'alice'")


def test_saslhandshake_v0_is_advertised(plaintext_server: ServeProcess) -> None:
    """The window librdkafka's feature map looks for: SaslHandshake from v0, SaslAuthenticate from v0."""
    from app.kafka.protocol import ApiVersionsRequest

    with RawClient(plaintext_server.port) as c:
        c.send(ApiKey.ApiVersions, 2, ApiVersionsRequest())
        frame = c.recv()
    error, count = struct.unpack_from(">hi", frame, 4)
    assert error == 0
    windows = {k: (lo, hi) for k, lo, hi in struct.iter_unpack(">hhh", frame[10 : 10 + 6 * count])}
    assert windows[ApiKey.SaslHandshake] == (0, 1)
    assert windows[ApiKey.SaslAuthenticate][0] == 0


def test_describe_acls_shows_the_users_own_read_rights(readme_server: ServeProcess, certs: Certs) -> None:
    """kafka-python's describe_acls as alice: her README ACLs as Kafka bindings, nobody else's."""
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        KafkaAdminClient,
        ResourcePatternFilter,
        ResourceType,
    )

    admin = KafkaAdminClient(bootstrap_servers=f"localhost:{readme_server.port}", security_protocol="SASL_SSL",
                             sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="alice",
                             sasl_plain_password=PASSWORDS["alice"], ssl_cafile=str(certs.ca))
    try:
        everything = ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                               permission_type=ACLPermissionType.ANY,
                               resource_pattern=ResourcePatternFilter(ResourceType.ANY, None,
                                                                      ACLResourcePatternType.ANY))
        acls, error = admin.describe_acls(everything)
        assert error.errno == 0
        bindings = {(a.resource_pattern.resource_type, a.resource_pattern.resource_name,
                     a.resource_pattern.pattern_type, a.principal, a.operation, a.permission_type) for a in acls}
        assert bindings == {
            (ResourceType.TOPIC, "orders", ACLResourcePatternType.LITERAL, "User:alice", ACLOperation.READ,
             ACLPermissionType.ALLOW),
            (ResourceType.GROUP, "alice-", ACLResourcePatternType.PREFIXED, "User:alice", ACLOperation.READ,
             ACLPermissionType.ALLOW),
        }
        groups_matching = ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                                permission_type=ACLPermissionType.ANY,
                                resource_pattern=ResourcePatternFilter(ResourceType.GROUP, "alice-1",
                                                                       ACLResourcePatternType.MATCH))
        acls, _ = admin.describe_acls(groups_matching)
        assert [a.resource_pattern.resource_name for a in acls] == ["alice-"]
        bob_filter = ACLFilter(principal="User:bob", host="*", operation=ACLOperation.ANY,
                               permission_type=ACLPermissionType.ANY,
                               resource_pattern=ResourcePatternFilter(ResourceType.ANY, None,
                                                                      ACLResourcePatternType.ANY))
        acls, _ = admin.describe_acls(bob_filter)
        assert acls == [], "another user's ACLs are not shown"
    finally:
        admin.close()
