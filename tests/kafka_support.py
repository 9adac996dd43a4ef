"""Helpers for the Kafka shim tests (tests/test_kafka_*.py): a `shadowreplica serve` subprocess, an
independent reading of a seeded bucket (the oracle the real clients' records are compared with), and a
raw wire client for checks no client library makes.

The oracle reads the bucket with boto3 and ``segment_format`` only (manifests → segments → batches →
offset translation → records), not through the shim's read path (catalog, cache, reader).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import struct
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from app.config import S3Side, parse_size, s3_side
from app.kafka.protocol import ApiKey, RequestHeader, encode_request
from app.store import ensure_bucket
from app.tools.seed import seed_bucket
from app.tools.seedgen import SeedSpec
from tests.process_support import CLI, CliProcess, start_cli

REPO = Path(__file__).resolve().parent.parent
SHADOWREPLICA = [str(CLI)]  # the console script, as users run it (its exit skips the interpreter's teardown)
TEST_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_bucket(endpoint: str, region: str = "eu-west-1") -> S3Side:
    side = s3_side(f"s3://t-{uuid.uuid4().hex[:16]}-kafka", side="dest", environ=TEST_ENV, region=region,
                   endpoint_url=endpoint)
    asyncio.run(ensure_bucket(side))
    return side


def cli_env(side: S3Side, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHADOWREPLICA_"))}
    env.update(TEST_ENV)
    env["AWS_ENDPOINT_URL"] = side.endpoint_url or ""
    env["AWS_REGION"] = side.region
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def run_cli(side: S3Side, args: Sequence[str], *, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SHADOWREPLICA, *args], capture_output=True, text=True, env=cli_env(side, **env),
                          timeout=timeout, cwd=REPO)


def seed(side: S3Side, *, topics: int, partitions: int, size: str, segment_size: str = "128KiB",
         seed_value: int = 42, append: bool = False, layout: str = "labeled", spillover: int = 0,
         cluster_uuid: str | None = None, groups: bool = False) -> None:
    """The bucket ``shadowreplica seed`` writes with these flags (default: the labeled layout current Redpanda
    writes, as the CLI's default), written by the same code in this process: the command itself is tested in
    tests/test_seed_inspect.py, and a process per seed cost ~0.7 s of CPU, some thirty times a run."""
    spec = SeedSpec(topics=topics, partitions=partitions, total_bytes=parse_size(size),
                    segment_bytes=parse_size(segment_size), seed=seed_value, layout=layout, spillover=spillover,
                    cluster_uuid=cluster_uuid or "", groups=groups)
    asyncio.run(seed_bucket(side, spec, append=append, progress=False, workers=0))


@dataclass
class ServeProcess(CliProcess):
    """A running `shadowreplica serve`; its log lines accumulate in :attr:`log`."""

    port: int = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def start_serve(side: S3Side, *, port: int | None = None, args: Sequence[str] = (), config: str | None = None,
                cache_dir: Path, env: dict[str, str] | None = None, refresh: float = 0.3) -> ServeProcess:
    """Start `shadowreplica serve` and wait for its "serving" line."""
    port = port or free_port()
    # a fixed poll (no adaptive back-off): tests that watch a change arrive measure the wake-up, not the pacing
    extra = {"SHADOWREPLICA_CACHE_MANIFEST_REFRESH_INTERVAL": str(refresh),
             "SHADOWREPLICA_CACHE_MANIFEST_MAX_REFRESH_INTERVAL": str(refresh), **(env or {})}
    cmd = ["--config", config] if config is not None else []
    cmd += ["serve", "--bucket", str(side.url), "--kafka", f"127.0.0.1:{port}", "--cache-dir", str(cache_dir), *args]
    server = start_cli(*cmd, command=SHADOWREPLICA, env=cli_env(side, **extra), ready=r"^serving ", timeout=30,
                       process=ServeProcess, port=port)
    assert isinstance(server, ServeProcess)
    return server


@contextlib.contextmanager
def serving(side: S3Side, **kwargs: Any) -> Iterator[ServeProcess]:
    server = start_serve(side, **kwargs)
    try:
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------------------------------ oracle


@dataclass(frozen=True, slots=True)
class Rec:
    """One record as a consumer sees it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp: int


@dataclass
class PartitionTruth:
    records: list[Rec]  # every data record (aborted ones included), in offset order
    aborted: set[int]  # offsets of records in aborted transactions
    log_start: int
    high_watermark: int

    @property
    def committed(self) -> list[Rec]:
        return [r for r in self.records if r.offset not in self.aborted]


def read_truth(side: S3Side) -> dict[tuple[str, int], PartitionTruth]:
    """Every partition of the bucket (one cluster), read by the independent oracle (``bucket_oracle``: its
    own key parsing, segment listing, struct headers, kafka-python's batch decoder, aborts from the log's
    control batches), never by ``segment_format`` or the service."""
    from tests.bucket_oracle import read_bucket_s3

    out: dict[tuple[str, int], PartitionTruth] = {}
    for (_label, topic, partition), part in read_bucket_s3(side.endpoint_url or "", side.url.bucket,
                                                           side.region).items():
        assert (topic, partition) not in out, f"{topic}/{partition} of two clusters: use read_bucket_s3"
        records = [Rec(topic, partition, r.offset, r.key, r.value, r.headers, r.timestamp) for r in part.records]
        out[(topic, partition)] = PartitionTruth(records, set(part.aborted), 0, part.high_watermark)
    return out


def _creds() -> dict[str, str]:
    return {"aws_access_key_id": TEST_ENV["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": TEST_ENV["AWS_SECRET_ACCESS_KEY"]}


def read_object(side: S3Side, key: str) -> bytes:
    s3 = boto3.client("s3", endpoint_url=side.endpoint_url, region_name=side.region, **_creds())
    return bytes(s3.get_object(Bucket=side.url.bucket, Key=key)["Body"].read())


# --------------------------------------------------------------------------------------- raw client


class RawClient:
    """A blocking socket speaking framed Kafka: send requests encoded by our codec, read raw responses."""

    def __init__(self, port: int, *, timeout: float = 15.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.correlation = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, api: ApiKey, version: int, body: Any) -> int:
        self.correlation += 1
        self.sock.sendall(encode_request(RequestHeader(api_key=api, api_version=version,
                                                       correlation_id=self.correlation, client_id="raw"), body))
        return self.correlation

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed by the server")
            buf += chunk
        return bytes(buf)

    def recv(self) -> bytes:
        """One response frame without its size prefix (correlation id first)."""
        (size,) = struct.unpack(">i", self._exact(4))
        return self._exact(size)

    def closed_by_server(self, timeout: float = 5.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False


@dataclass
class FetchedPartition:
    partition: int
    error_code: int
    high_watermark: int
    log_start_offset: int
    aborted: list[tuple[int, int]] | None
    records: bytes

    def batches(self) -> list[tuple[int, int, int]]:
        """(base offset, last offset delta, size) of every whole Kafka v2 batch in ``records``."""
        out, pos, data = [], 0, self.records
        while pos + 61 <= len(data):
            base, length = struct.unpack_from(">qi", data, pos)
            if pos + 12 + length > len(data):
                break
            (last_delta,) = struct.unpack_from(">i", data, pos + 23)
            out.append((base, last_delta, 12 + length))
            pos += 12 + length
        return out


def parse_fetch_response(frame: bytes, version: int) -> tuple[int, dict[tuple[str, int], FetchedPartition]]:
    """(correlation id, partitions) of a Fetch response v4-11."""
    pos = 0

    def take(fmt: str) -> Any:
        nonlocal pos
        values = struct.unpack_from(fmt, frame, pos)
        pos += struct.calcsize(fmt)
        return values[0] if len(values) == 1 else values

    corr = take(">i")
    take(">i")  # throttle
    if version >= 7:
        take(">hi")
    out = {}
    for _ in range(take(">i")):
        n = take(">h")
        topic = frame[pos : pos + n].decode()
        pos += n
        for _ in range(take(">i")):
            p, err, hwm, _lso = take(">ihqq")
            start = take(">q") if version >= 5 else -1
            count = take(">i")
            aborted = None if count < 0 else [take(">qq") for _ in range(count)]
            if version >= 11:
                take(">i")
            size = take(">i")
            records = frame[pos : pos + max(size, 0)]
            pos += max(size, 0)
            out[(topic, p)] = FetchedPartition(p, err, hwm, start, aborted, records)
    return corr, out


# ------------------------------------------------------------------------------------------ security


def tls_client(port: int, certs: Any) -> RawClient:
    c = RawClient(port)
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
    return c


def auth_reply(frame: bytes) -> tuple[int, str | None, bytes]:
    """(error, message, auth_bytes) of a SaslAuthenticate v1 response frame."""
    pos = 4
    (error, n) = struct.unpack_from(">hh", frame, pos)
    pos += 4
    msg = frame[pos : pos + n].decode() if n >= 0 else None
    pos += max(n, 0)
    (size,) = struct.unpack_from(">i", frame, pos)
    return error, msg, frame[pos + 4 : pos + 4 + size]
