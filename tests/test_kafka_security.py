"""SASL (SCRAM-SHA-256/512, PLAIN over TLS), TLS with client certificates and per-user read ACLs, against
real `shadowreplica serve` processes and real clients; scramp is the reference SCRAM client."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.config import S3Side
from app.kafka.protocol import (
    ApiKey,
    FetchPartition,
    FetchRequest,
    FetchTopic,
    MetadataRequest,
    MetadataRequestTopic,
    SaslAuthenticateRequest,
    SaslHandshakeRequest,
)
from tests.kafka_support import (
    PartitionTruth,
    RawClient,
    ServeProcess,
    new_bucket,
    parse_fetch_response,
    read_truth,
    seed,
    start_serve,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

USERS = {"alice": "alice-secret", "bob": "bob-secret"}
CONFIG = """
[kafka]
failed_auth_delay = 0.3
{tls}
[kafka.users.alice]
password = "alice-secret"
[kafka.users.bob]
password = "bob-secret"
[kafka.acls.alice]
topics = ["orders"]
groups = ["alice-*"]
[kafka.acls.bob]
topics = ["*"]
groups = ["*"]
"""


@dataclass
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _issue(subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
           *, ca: bool = False, server: bool = False) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer if issuer else (name, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_certs(directory: Path) -> Certs:
    """A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate (CN=bob)."""
    def write(name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
        c, k = directory / f"{name}.pem", directory / f"{name}.key"
        c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        return c, k

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("shadowreplica test CA", ca_key, None, ca=True)
    ca_path, _ = write("ca", ca, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert, server_key_path = write("server", _issue("localhost", server_key, (ca.subject, ca_key), server=True),
                                         server_key)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert, client_key_path = write("client", _issue("bob", client_key, (ca.subject, ca_key)), client_key)
    return Certs(ca_path, server_cert, server_key_path, client_cert, client_key_path)


@pytest.fixture(scope="module")
def bucket(s3_server: str) -> S3Side:
    side = new_bucket(s3_server)
    seed(side, topics=2, partitions=1, size="400KiB", segment_size="96KiB")
    return side


@pytest.fixture(scope="module")
def truth(bucket: S3Side) -> dict[tuple[str, int], PartitionTruth]:
    return read_truth(bucket)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def sasl_server(bucket: S3Side, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    d = tmp_path_factory.mktemp("sasl")
    (d / "config.toml").write_text(CONFIG.format(tls=""))
    s = start_serve(bucket, cache_dir=d / "cache", config=str(d / "config.toml"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def tls_server(bucket: S3Side, certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
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
    error, _msg, server_first = _auth_reply(c.recv())
    assert error == 0
    client.set_server_first(server_first.decode())
    started = time.monotonic()
    c.send(ApiKey.SaslAuthenticate, 1, SaslAuthenticateRequest(auth_bytes=client.get_client_final().encode()))
    error, msg, server_final = _auth_reply(c.recv())
    took = time.monotonic() - started
    if error == 0:
        client.set_server_final(server_final.decode())  # scramp checks the server's signature
    return error, msg, took, c


def _auth_reply(frame: bytes) -> tuple[int, str | None, bytes]:
    pos = 4
    (error,) = struct.unpack_from(">h", frame, pos)
    pos += 2
    (n,) = struct.unpack_from(">h", frame, pos)
    pos += 2
    msg = frame[pos : pos + n].decode() if n >= 0 else None
    pos += max(n, 0)
    (size,) = struct.unpack_from(">i", frame, pos)
    return error, msg, frame[pos + 4 : pos + 4 + size]


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_good_and_bad_passwords_on_the_wire(sasl_server: ServeProcess, mechanism: str) -> None:
    error, _, _, c = _sasl_exchange(sasl_server.port, mechanism, "alice", USERS["alice"])
    assert error == 0
    corr = c.send(ApiKey.Metadata, 8, MetadataRequest(topics=None))
    frame = c.recv()
    assert struct.unpack_from(">i", frame)[0] == corr and b"orders" in frame and b"payments" not in frame
    c.close()

    error, msg, took, c = _sasl_exchange(sasl_server.port, mechanism, "alice", "wrong")
    assert error == 58 and msg is not None and "invalid credentials" in msg
    assert took >= 0.3, "a failed authentication is answered only after failed_auth_delay"
    assert c.closed_by_server()
    c.close()
    error, msg, _, c = _sasl_exchange(sasl_server.port, mechanism, "mallory", "whatever")
    assert error == 58
    c.close()
    sasl_server.wait_for_log("authentication failed: user 'alice'")
    sasl_server.wait_for_log("authentication failed: user 'mallory'")


def test_requests_before_authentication_close_the_connection(sasl_server: ServeProcess) -> None:
    with RawClient(sasl_server.port) as c:
        c.send(ApiKey.Metadata, 8, MetadataRequest(topics=None))
        assert c.closed_by_server()
    sasl_server.wait_for_log("Metadata before authenticating")


def test_clients_with_scram(sasl_server: ServeProcess, truth: dict[tuple[str, int], PartitionTruth]) -> None:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    from kafka import KafkaConsumer

    want = [r.offset for r in truth[("orders", 0)].records]
    kp = KafkaConsumer(bootstrap_servers=sasl_server.bootstrap, security_protocol="SASL_PLAINTEXT",
                       sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="bob", sasl_plain_password=USERS["bob"],
                       auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        kp.subscribe(["orders"])
        assert [m.offset for m in kp] == want
    finally:
        kp.close()

    ck = Consumer({"bootstrap.servers": sasl_server.bootstrap, "group.id": "bob-ck", "security.protocol": "SASL_PLAINTEXT",
                   "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "bob", "sasl.password": USERS["bob"],
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


def test_wrong_password_fails_the_clients(sasl_server: ServeProcess) -> None:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaError
    from confluent_kafka import Consumer

    async def aio() -> None:
        c = AIOKafkaConsumer(bootstrap_servers=sasl_server.bootstrap, security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="alice",
                             sasl_plain_password="nope", request_timeout_ms=5000)
        try:
            with pytest.raises(KafkaError):
                await c.start()
        finally:
            await c.stop()

    asyncio.run(aio())

    errors: list[str] = []
    ck = Consumer({"bootstrap.servers": sasl_server.bootstrap, "group.id": "alice-x", "security.protocol": "SASL_PLAINTEXT",
                   "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice", "sasl.password": "nope",
                   "error_cb": lambda e: errors.append(e.str())})
    try:
        deadline = time.monotonic() + 10
        while not errors and time.monotonic() < deadline:
            ck.poll(0.2)
        assert any("Authentication failed" in e or "authentication" in e.lower() for e in errors), errors
    finally:
        ck.close()


def test_acl_denial(sasl_server: ServeProcess) -> None:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import GroupAuthorizationFailedError

    def alice(**kw: object) -> KafkaConsumer:
        return KafkaConsumer(bootstrap_servers=sasl_server.bootstrap, security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="alice",
                             sasl_plain_password=USERS["alice"], enable_auto_commit=False, **kw)

    c = alice()
    try:
        assert c.topics() == {"orders"}, "topics alice may not read are not even listed"
    finally:
        c.close()
    error, _, _, raw = _sasl_exchange(sasl_server.port, "SCRAM-SHA-256", "alice", USERS["alice"])
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


def test_tls_with_client_certificates(tls_server: ServeProcess, certs: Certs,
                                      truth: dict[tuple[str, int], PartitionTruth]) -> None:
    import socket

    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    from kafka import KafkaConsumer

    # no client certificate: the handshake is refused
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as raw:
        tls = _tls_context(certs, with_client_cert=False).wrap_socket(raw, server_hostname="localhost")
        try:
            tls.sendall(struct.pack(">ihhih", 10, 18, 2, 1, -1))  # ApiVersions v2
            answer = tls.recv(4)  # TLS 1.3 reports the refused certificate at the first read
        except (ssl.SSLError, OSError):
            answer = b""
        assert answer == b""
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as raw:
        tls = _tls_context(certs, with_client_cert=True).wrap_socket(raw, server_hostname="localhost")
        tls.sendall(struct.pack(">ihhih", 10, 18, 2, 1, -1))
        assert struct.unpack(">i", tls.recv(4))[0] > 0, "with the certificate the same request is answered"

    want = [r.offset for r in truth[("payments", 0)].records]
    # PLAIN is offered on TLS listeners (SASL_SSL), with the client certificate
    ck = Consumer({"bootstrap.servers": f"localhost:{tls_server.port}", "group.id": "bob-tls",
                   "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": "bob",
                   "sasl.password": USERS["bob"], "ssl.ca.location": str(certs.ca),
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

    kp = KafkaConsumer(bootstrap_servers=f"localhost:{tls_server.port}", security_protocol="SASL_SSL",
                       sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="bob", sasl_plain_password=USERS["bob"],
                       ssl_cafile=str(certs.ca), ssl_certfile=str(certs.client_cert), ssl_keyfile=str(certs.client_key),
                       auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        kp.subscribe(["payments"])
        assert [m.offset for m in kp] == want
    finally:
        kp.close()
    tls_server.wait_for_log("authenticated as 'bob' with PLAIN")
