"""Shared fixtures: real S3 servers as separate processes, fresh buckets per test, a fault-injecting proxy.

Fixtures (names are generic on purpose: replicator, Kafka and HTTP tests use them too)

- ``s3_server`` (session) → endpoint ``str`` of moto's S3 server in its own process
  (``localstack.s3server.start_s3_server(port=0)``; buckets ``source`` and ``dest`` exist on it).
  ``SHADOWREPLICA_TEST_S3_ENDPOINT=http://localhost:4566`` runs the suite against an S3 you started
  yourself instead (LocalStack in Docker, ``make s3``, ...).
- ``buckets`` (function) → :class:`BucketPair` ``(source, dest)`` of :class:`app.config.S3Side`: two fresh,
  uniquely named buckets on ``s3_server``, source in us-east-1 and dest in eu-west-1; emptied afterwards.
- ``seaweedfs_server`` (session) → endpoint ``str`` of SeaweedFS ``weed mini`` (for conditional copies,
  which moto ignores). Fails, never skips, when ``weed`` is missing, with the command that installs it.
- ``seaweedfs_buckets`` (function) → :class:`BucketPair` on ``seaweedfs_server``.
- ``s3_fault_proxy`` (function) → factory ``await s3_fault_proxy(upstream_endpoint) -> FaultProxy``: an
  HTTP proxy in front of a server that can answer with S3 errors, delay, or cut bodies short.

Every test runs with ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` = ``test`` and no AWS profile, endpoint
or session token from the developer's environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import pytest

from app.config import S3Side, s3_side
from app.store import ObjectStore, ensure_bucket
from localstack.s3server import start_s3_server
from localstack.seaweedfs import INSTALL_HINT, find_weed, start_seaweedfs

TEST_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
_SCRUBBED = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
             "AWS_REGION", "AWS_DEFAULT_REGION")


class BucketPair(NamedTuple):
    source: S3Side
    dest: S3Side


def make_side(endpoint: str, bucket: str, region: str, *, prefix: str = "", side: str = "source") -> S3Side:
    """An :class:`S3Side` for a test bucket (test credentials, explicit endpoint and region)."""
    url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    return s3_side(url, side=side, environ=TEST_ENV, region=region, endpoint_url=endpoint)


def unique_bucket(role: str) -> str:
    return f"t-{uuid.uuid4().hex[:16]}-{role}"


@pytest.fixture(scope="session", autouse=True)
def aws_test_env() -> Iterator[None]:
    """Test credentials for every test; nothing from the developer's AWS setup leaks in."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in TEST_ENV.items():
            mp.setenv(name, value)
        for name in _SCRUBBED:
            mp.delenv(name, raising=False)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never wait on the instance-metadata endpoint
        yield


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """Endpoint of moto's S3 server, running as a separate process for the whole session."""
    external = os.environ.get("SHADOWREPLICA_TEST_S3_ENDPOINT")
    if external:
        yield external.rstrip("/")
        return
    with start_s3_server(port=0) as server:
        yield server.endpoint


async def _bucket_pair(endpoint: str) -> BucketPair:
    pair = BucketPair(
        source=make_side(endpoint, unique_bucket("src"), "us-east-1", side="source"),
        dest=make_side(endpoint, unique_bucket("dst"), "eu-west-1", side="dest"),
    )
    await asyncio.gather(ensure_bucket(pair.source), ensure_bucket(pair.dest))
    return pair


async def _empty(pair: BucketPair) -> None:
    for side in pair:
        async with ObjectStore(side) as store:
            await store.delete_many([info.key async for info in store.list("")])


@pytest.fixture
async def buckets(s3_server: str) -> AsyncIterator[BucketPair]:
    """Two fresh buckets on ``s3_server``: source (us-east-1) and dest (eu-west-1); emptied afterwards."""
    pair = await _bucket_pair(s3_server)
    yield pair
    await _empty(pair)


@pytest.fixture(scope="session")
def seaweedfs_server() -> Iterator[str]:
    """Endpoint of SeaweedFS ``weed mini`` (key ``test``/``test``) for the whole session."""
    if find_weed() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    with start_seaweedfs(buckets=()) as server:
        yield server.endpoint


@pytest.fixture
async def seaweedfs_buckets(seaweedfs_server: str) -> AsyncIterator[BucketPair]:
    """Two fresh buckets on ``seaweedfs_server`` (source us-east-1, dest eu-west-1); emptied afterwards."""
    pair = await _bucket_pair(seaweedfs_server)
    yield pair
    await _empty(pair)


# ------------------------------------------------------------------------------------ fault proxy


@dataclass(kw_only=True)
class Fault:
    """What to do to requests matching ``method`` (``None``: any) and ``target`` (substring of the path+query).

    Exactly one action: ``status`` (answer with an S3 error, ``code`` in the XML body, nothing forwarded),
    ``truncate_to`` (forward, then send only that many body bytes and close), ``replace_body`` (forward,
    answer with this body instead), or just ``delay`` (seconds before forwarding). ``times``: how many
    matching requests it applies to (``None``: all).
    """

    method: str | None = None
    target: str = ""
    status: int | None = None
    code: str = ""
    truncate_to: int | None = None
    replace_body: bytes | None = None
    delay: float = 0.0
    times: int | None = None
    hits: int = 0

    def matches(self, method: str, target: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return (self.method is None or self.method == method) and self.target in target


@dataclass
class FaultProxy:
    """A one-request-per-connection HTTP proxy to an S3 endpoint, injecting :class:`Fault` s."""

    upstream_host: str
    upstream_port: int
    faults: list[Fault] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)  # "METHOD /target" of every request received
    endpoint: str = ""
    _server: asyncio.Server | None = None

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = [line for line in lines[1:] if line]
            length = next((int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")), 0)
            if length and any(h.lower().replace(" ", "") == "expect:100-continue" for h in headers):
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # else the client waits for it, we for the body
                await writer.drain()
            body = await reader.readexactly(length) if length else b""
            self.seen.append(f"{method} {target}")
            fault = next((f for f in self.faults if f.matches(method, target)), None)
            if fault is not None:
                fault.hits += 1
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.status is not None:
                    xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{fault.code}</Code>'
                           f"<Message>injected {fault.code}</Message><RequestId>proxy</RequestId></Error>").encode()
                    writer.write(f"HTTP/1.1 {fault.status} Injected\r\nContent-Type: application/xml\r\n"
                                 f"Content-Length: {len(xml)}\r\nConnection: close\r\n\r\n".encode())
                    if method != "HEAD":
                        writer.write(xml)
                    await writer.drain()
                    return
            status_line, resp_headers, resp_body = await self._forward(method, target, headers, body)
            if fault is not None and fault.replace_body is not None:
                resp_body = fault.replace_body
                resp_headers = [h for h in resp_headers
                                if not h.lower().startswith(("content-length:", "transfer-encoding:"))]
                resp_headers.append(f"Content-Length: {len(resp_body)}")
            writer.write((status_line + "\r\n" + "".join(h + "\r\n" for h in resp_headers)
                          + "Connection: close\r\n\r\n").encode("latin-1"))
            if fault is not None and fault.truncate_to is not None:
                resp_body = resp_body[: fault.truncate_to]
            writer.write(resp_body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _forward(self, method: str, target: str, headers: list[str], body: bytes
                       ) -> tuple[str, list[str], bytes]:
        reader, writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        try:
            kept = [h for h in headers if not h.lower().startswith(("connection:", "expect:"))]
            writer.write((f"{method} {target} HTTP/1.1\r\n" + "".join(h + "\r\n" for h in kept)
                          + "Connection: close\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            raw = await reader.read()  # upstream closes after one response
        finally:
            writer.close()
        head, _, payload = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        resp_headers = [h for h in lines[1:] if h and not h.lower().startswith("connection:")]
        return lines[0], resp_headers, payload


@pytest.fixture
async def s3_fault_proxy() -> AsyncIterator[Callable[[str], Awaitable[FaultProxy]]]:
    """Factory: ``proxy = await s3_fault_proxy(endpoint)``; add ``proxy.faults``; point a side at ``proxy.endpoint``."""
    proxies: list[FaultProxy] = []

    async def make(upstream: str) -> FaultProxy:
        hostport = upstream.split("://", 1)[1].rstrip("/")
        host, _, port = hostport.rpartition(":")
        proxy = await FaultProxy(host, int(port)).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        await proxy.close()
