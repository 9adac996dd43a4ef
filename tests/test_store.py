"""Contract tests of ``app.store`` against real S3 server processes.

moto (``buckets``) for the whole contract; SeaweedFS (``seaweedfs_buckets``) for what moto fakes:
conditional copies (``CopySourceIfMatch``) and unquoted ETags in CopyObject results. Error mapping is
tested end to end through ``s3_fault_proxy`` (S3 error answers, bodies cut short, slow answers) and as a
table over ``_translate``, the seam's one mapping function.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import botocore.utils
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    IncompleteReadError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from conftest import BucketPair, Fault, FaultProxy, make_side, unique_bucket
from hypothesis import given, settings
from hypothesis import strategies as st

import app.store
import app.store.client
from app.config import BucketUrl, S3Side
from app.errors import (
    BucketMissing,
    ObjectMissing,
    OffsetOutOfRange,
    PreconditionFailed,
    StorageError,
    StorageUnavailable,
)
from app.store import GetResult, NotModified, ObjectInfo, ObjectStore, ensure_bucket, normalize_etag
from app.store.session import parse_timestamp
from localstack.s3server import start_s3_server
from tests.hypothesis_support import examples

MiB = 1024 * 1024
REPO = Path(__file__).resolve().parent.parent
ProxyFactory = Callable[[str], Awaitable[FaultProxy]]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def boto(side: S3Side) -> Any:
    return boto3.client("s3", endpoint_url=side.endpoint_url, region_name=side.region,
                        aws_access_key_id="test", aws_secret_access_key="test")


# ------------------------------------------------------------------------------------ reads and writes


async def test_put_head_get_roundtrip(buckets: BucketPair) -> None:
    async with ObjectStore(buckets.source) as store:
        body = b"segment bytes " * 1000
        etag = await store.put("ns/topic/0_1/0-1-v1.log", body, content_type="application/x-redpanda")
        assert etag == md5(body)  # normalised: no quotes

        info = await store.head("ns/topic/0_1/0-1-v1.log")
        assert info is not None
        assert (info.key, info.size, info.etag) == ("ns/topic/0_1/0-1-v1.log", len(body), etag)
        assert isinstance(info.last_modified, datetime) and info.last_modified.tzinfo is not None

        got = await store.get("ns/topic/0_1/0-1-v1.log")
        assert isinstance(got, GetResult)
        assert (got.body, got.etag, got.size, got.content_type) == (body, etag, len(body), "application/x-redpanda")

        assert await store.head("ns/topic/0_1/missing.log") is None
        with pytest.raises(ObjectMissing) as e:
            await store.get("ns/topic/0_1/missing.log")
        assert e.value.details["key"] == "ns/topic/0_1/missing.log"
        assert not isinstance(e.value, StorageError)


async def test_keys_are_relative_to_the_side_prefix(buckets: BucketPair) -> None:
    prefixed = replace(buckets.source, url=BucketUrl(buckets.source.url.bucket, "cluster/a"))
    async with ObjectStore(prefixed) as store, ObjectStore(buckets.source) as root:
        await store.put("topic/0/x.log", b"x")
        assert (await root.get("cluster/a/topic/0/x.log")).body == b"x"
        await root.put("cluster/ab/y.log", b"not under the prefix")
        assert [i.key async for i in store.list("")] == ["topic/0/x.log"]
        assert [p async for p in store.list_prefixes("")] == ["topic/"]
        assert await store.delete_many(["topic/0/x.log"]) == 1
        assert await root.head("cluster/a/topic/0/x.log") is None


async def test_get_if_none_match(buckets: BucketPair) -> None:
    async with ObjectStore(buckets.source) as store:
        etag = await store.put("m.json", b'{"v": 1}')
        same = await store.get("m.json", if_none_match=etag)
        assert same == NotModified(key="m.json", etag=etag)
        assert await store.get("m.json", if_none_match=f'"{etag}"') == same  # quoted form accepted too
        await store.put("m.json", b'{"v": 2}')
        changed = await store.get("m.json", if_none_match=etag)
        assert isinstance(changed, GetResult) and changed.body == b'{"v": 2}'
        stats = store.stats["GetObject"]
        assert (stats.requests, stats.not_modified, stats.error_count, stats.bytes_in) == (3, 2, 0, 8)


async def test_get_range(buckets: BucketPair) -> None:
    data = bytes(range(256)) * 40  # 10240 bytes
    async with ObjectStore(buckets.source) as store:
        await store.put("r.bin", data)
        assert await store.get_range("r.bin", 0, 10) == data[:10]
        assert await store.get_range("r.bin", 1000, 4096) == data[1000:5096]
        assert await store.get_range("r.bin", 10000, 1000) == data[10000:]  # clamped at the end
        assert await store.get_range("r.bin", len(data), 10) == b""  # past the end
        before = store.stats.requests
        assert await store.get_range("r.bin", 5, 0) == b""  # no request for nothing
        assert store.stats.requests == before
        with pytest.raises(ObjectMissing):
            await store.get_range("nope.bin", 0, 10)
        with pytest.raises(ValueError):
            await store.get_range("r.bin", -1, 10)


async def test_open_stream(buckets: BucketPair) -> None:
    data = os.urandom(300_000)
    async with ObjectStore(buckets.source, stream_chunk_size=64 * 1024) as store:
        await store.put("s.bin", data)

        async with await store.open_stream("s.bin") as whole:
            assert (whole.start, whole.end, whole.size, whole.content_length) == (0, len(data), len(data), len(data))
            assert whole.etag == md5(data)
            chunks = [chunk async for chunk in whole]
        assert b"".join(chunks) == data and len(chunks) >= 5 and max(map(len, chunks)) <= 64 * 1024

        part = await store.open_stream("s.bin", start=1000, end=201_000)
        assert (part.start, part.end, part.size, part.content_length) == (1000, 201_000, len(data), 200_000)
        assert b"".join([c async for c in part]) == data[1000:201_000]
        assert part.received == 200_000

        tail = await store.open_stream("s.bin", start=299_990)
        assert b"".join([c async for c in tail]) == data[299_990:]

        with pytest.raises(OffsetOutOfRange) as e:
            await store.open_stream("s.bin", start=len(data))
        assert (e.value.start, e.value.end) == (0, len(data))  # the valid range, for a 416 answer
        with pytest.raises(ObjectMissing):
            await store.open_stream("missing.bin")
        with pytest.raises(ValueError):
            await store.open_stream("s.bin", start=10, end=10)
        assert store.stats["GetObject"].bytes_in == len(data) + 200_000 + 10


async def test_conditional_put(buckets: BucketPair) -> None:
    async with ObjectStore(buckets.source) as store:
        first = await store.put("lock", b"one", if_none_match=True)
        with pytest.raises(PreconditionFailed):
            await store.put("lock", b"two", if_none_match=True)
        with pytest.raises(PreconditionFailed):
            await store.put("lock", b"two", if_match=md5(b"something else"))
        second = await store.put("lock", b"two", if_match=first)
        assert second == md5(b"two")
        assert (await store.get("lock")).body == b"two"
        with pytest.raises(ValueError):
            await store.put("lock", b"x", if_match=second, if_none_match=True)
        assert store.stats["PutObject"].errors == {"precondition": 2}
        assert store.stats["PutObject"].bytes_out == len(b"one") + len(b"two")


# ------------------------------------------------------------------------------------------- copies


async def test_copy_across_buckets_and_regions(buckets: BucketPair) -> None:
    assert (buckets.source.region, buckets.dest.region) == ("us-east-1", "eu-west-1")
    body = os.urandom(2 * MiB + 17)
    async with ObjectStore(buckets.source) as src, ObjectStore(buckets.dest) as dst:
        etag = await src.put("t/0/10-1-v1.log", body, content_type="application/x-segment")
        src.stats.reset()
        copied = await dst.copy_from(src, "t/0/10-1-v1.log", if_match_etag=etag)
        assert copied == etag
        renamed = await dst.copy_from(src, "t/0/10-1-v1.log", dest_key="renamed/seg.log")
        assert renamed == etag
        got = await dst.get("t/0/10-1-v1.log")
        assert got.body == body and got.content_type == "application/x-segment"  # MetadataDirective COPY
        assert (await dst.get("renamed/seg.log")).body == body
        with pytest.raises(ObjectMissing):
            await dst.copy_from(src, "t/0/missing.log")
        # server-side: the destination client issued the copies, no body bytes moved through us
        assert dst.stats["CopyObject"].requests == 3
        assert dst.stats["CopyObject"].bytes_in == dst.stats["CopyObject"].bytes_out == 0
        assert src.stats.requests == 0


async def test_multipart_copy(buckets: BucketPair) -> None:
    body = os.urandom(12 * MiB)
    async with ObjectStore(buckets.source) as src, ObjectStore(buckets.dest) as dst:
        etag = await src.put("big.log", body)
        etag2 = await dst.multipart_copy_from(src, "big.log", len(body), part_size=5 * MiB, concurrency=3,
                                              if_match_etag=etag)
        assert etag2.endswith("-3")  # 5 + 5 + 2 MiB
        info = await dst.head("big.log")
        assert info is not None and info.size == len(body) and info.etag == etag2
        got = await dst.get("big.log")
        assert md5(got.body) == md5(body)
        ops = {op: s.requests for op, s in dst.stats.ops.items()}
        assert ops["CreateMultipartUpload"] == 1 and ops["UploadPartCopy"] == 3
        assert ops["CompleteMultipartUpload"] == 1 and "AbortMultipartUpload" not in ops


async def test_multipart_copy_aborts_on_failure(buckets: BucketPair) -> None:
    async with ObjectStore(buckets.source) as src, ObjectStore(buckets.dest) as dst:
        with pytest.raises(ObjectMissing):  # a domain error, not an ExceptionGroup
            await dst.multipart_copy_from(src, "gone.log", 11 * MiB, part_size=5 * MiB, concurrency=2)
        assert dst.stats["AbortMultipartUpload"].requests == 1
        assert dst.stats["UploadPartCopy"].errors["missing"] >= 1
        assert await dst.head("gone.log") is None
        uploads = await asyncio.to_thread(lambda: boto(buckets.dest).list_multipart_uploads(Bucket=dst.bucket))
        assert not uploads.get("Uploads")
        with pytest.raises(ValueError):
            await dst.multipart_copy_from(src, "x", 10 * MiB, part_size=4 * MiB)
        with pytest.raises(ValueError):
            await dst.multipart_copy_from(src, "x", 0, part_size=5 * MiB)


# ------------------------------------------------------------------------------- listing and deletes


async def test_list_pagination_prefixes_and_start_after(buckets: BucketPair) -> None:
    keys = [f"topic/{p}/{i:03d}.log" for p in (0, 1) for i in range(12)] + ["topic/manifest.json", "other/x"]
    async with ObjectStore(buckets.source, list_page_size=10) as store:
        await asyncio.gather(*(store.put(k, k.encode()) for k in keys))

        listed = [info async for info in store.list("topic/")]
        assert [i.key for i in listed] == sorted(k for k in keys if k.startswith("topic/"))
        assert all(isinstance(i, ObjectInfo) and i.size == len(i.key) and i.etag == md5(i.key.encode())
                   for i in listed)
        assert store.stats["ListObjectsV2"].requests == 3  # 25 keys in pages of 10

        assert [i.key async for i in store.list("topic/", delimiter="/")] == ["topic/manifest.json"]
        assert [p async for p in store.list_prefixes("topic/")] == ["topic/0/", "topic/1/"]
        assert [p async for p in store.list_prefixes("")] == ["other/", "topic/"]
        after = [i.key async for i in store.list("topic/", start_after="topic/1/009.log")]
        assert after == ["topic/1/010.log", "topic/1/011.log", "topic/manifest.json"]
        assert [i async for i in store.list("nothing/")] == []


async def test_delete_many_in_batches(buckets: BucketPair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.store.client, "DELETE_BATCH", 10)  # where delete_many reads it
    keys = [f"d/{i:02d}" for i in range(25)]
    async with ObjectStore(buckets.source) as store:
        await asyncio.gather(*(store.put(k, b"x") for k in keys))
        assert await store.delete_many(iter([*keys, "d/never-existed"])) == 26
        assert store.stats["DeleteObjects"].requests == 3
        assert [i async for i in store.list("d/")] == []
        assert await store.delete_many([]) == 0
        assert store.stats["DeleteObjects"].requests == 3


async def test_stores_of_one_loop_share_a_session_but_keep_their_endpoint_and_counters(
        buckets: BucketPair, s3_fault_proxy: ProxyFactory) -> None:
    """Stores opened in one event loop share a botocore session and a TLS context (``app/store/session.py``):
    each still sends to its own endpoint and counts only its own requests (a client registers its hooks on a
    copy of the session's handlers)."""
    proxy = await s3_fault_proxy(buckets.source.endpoint_url or "")
    via_proxy = replace(buckets.source, endpoint_url=proxy.endpoint)
    async with ObjectStore(buckets.source) as direct, ObjectStore(via_proxy) as proxied, \
            ObjectStore(buckets.dest) as other:
        await direct.put("a", b"1")
        await direct.put("b", b"2")
        assert (await proxied.get("a")).body == b"1"
        await other.put("c", b"3")
        assert proxy.requests == {"GetObject": 1}
        assert (direct.stats.requests, proxied.stats.requests, other.stats.requests) == (2, 1, 1)
        assert (direct.stats.attempts, proxied.stats.attempts, other.stats.attempts) == (2, 1, 1)
    # a store of another loop (a thread's asyncio.run) gets that loop's own session and works the same
    async def elsewhere() -> bytes:
        async with ObjectStore(buckets.source) as store:
            return (await store.get("b")).body
    assert await asyncio.to_thread(asyncio.run, elsewhere()) == b"2"


async def test_delete_many_raises_on_refused_keys(buckets: BucketPair, s3_fault_proxy: ProxyFactory) -> None:
    proxy = await s3_fault_proxy(buckets.source.endpoint_url or "")
    refused = (b'<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
               b"<Error><Key>a</Key><Code>{code}</Code><Message>no</Message></Error></DeleteResult>")
    side = replace(buckets.source, endpoint_url=proxy.endpoint)
    async with ObjectStore(side) as store:
        proxy.faults.append(Fault(method="POST", target="delete", replace_body=refused.replace(b"{code}", b"AccessDenied"),
                                  times=1))
        with pytest.raises(StorageError) as e:
            await store.delete_many(["a", "b"])
        assert not isinstance(e.value, StorageUnavailable)
        assert e.value.details["failures"][0]["key"] == "a"
        # a throttled refusal is retriable: the store sends that batch again (and succeeds here)
        proxy.faults.append(Fault(method="POST", target="delete", replace_body=refused.replace(b"{code}", b"SlowDown"),
                                  times=1))
        assert await store.delete_many(["a"]) == 1
        assert store.stats["DeleteObjects"].retries == 1
    async with ObjectStore(replace(side, max_attempts=1)) as store:
        proxy.faults.append(Fault(method="POST", target="delete", replace_body=refused.replace(b"{code}", b"SlowDown"),
                                  times=1))
        with pytest.raises(StorageUnavailable):
            await store.delete_many(["a"])


# ------------------------------------------------------------------------------------------ buckets


async def test_ensure_bucket_creates_with_region(s3_server: str) -> None:
    side = make_side(s3_server, unique_bucket("new"), "eu-west-1")
    assert await ensure_bucket(side) is True
    assert await ensure_bucket(side) is False
    location = await asyncio.to_thread(lambda: boto(side).get_bucket_location(Bucket=side.url.bucket))
    assert location["LocationConstraint"] == "eu-west-1"
    async with ObjectStore(make_side(s3_server, unique_bucket("absent"), "us-east-1")) as store:
        with pytest.raises(BucketMissing):
            await store.put("k", b"v")
        with pytest.raises(BucketMissing):
            _ = [i async for i in store.list("")]


async def test_buckets_fixture_regions(buckets: BucketPair) -> None:
    client = boto(buckets.source)
    src = await asyncio.to_thread(client.get_bucket_location, Bucket=buckets.source.url.bucket)
    dst = await asyncio.to_thread(client.get_bucket_location, Bucket=buckets.dest.url.bucket)
    assert (src["LocationConstraint"], dst["LocationConstraint"]) == (None, "eu-west-1")


async def test_store_must_be_opened(buckets: BucketPair) -> None:
    store = ObjectStore(buckets.source)
    with pytest.raises(RuntimeError, match="async with"):
        await store.head("k")


# ---------------------------------------------------------------------------- error mapping, end to end


async def test_truncated_bodies_raise_unavailable_not_partial_data(
    buckets: BucketPair, s3_fault_proxy: ProxyFactory
) -> None:
    data = os.urandom(200_000)
    async with ObjectStore(buckets.source) as direct:
        await direct.put("cut.bin", data)
    proxy = await s3_fault_proxy(buckets.source.endpoint_url or "")
    proxy.faults.append(Fault(method="GET", target="cut.bin", truncate_to=50_000))
    side = replace(buckets.source, endpoint_url=proxy.endpoint, max_attempts=1)
    async with ObjectStore(side, stream_chunk_size=16 * 1024) as store:
        with pytest.raises(StorageUnavailable):
            await store.get("cut.bin")
        with pytest.raises(StorageUnavailable):
            await store.get_range("cut.bin", 0, 100_000)

        stream = await store.open_stream("cut.bin")
        received = bytearray()
        with pytest.raises(StorageUnavailable):
            async for chunk in stream:
                received += chunk
        assert 0 < len(received) <= 50_000 and bytes(received) == data[: len(received)]

        assert store.stats["GetObject"].errors["unavailable"] == 3
        assert proxy.faults[0].hits == 3
        proxy.faults.clear()
        assert (await store.get("cut.bin")).body == data  # the same path works once the fault is gone


@pytest.mark.parametrize(
    ("status", "code", "expected", "kind"),
    [
        (503, "SlowDown", StorageUnavailable, "unavailable"),
        (500, "InternalError", StorageUnavailable, "unavailable"),
        (403, "AccessDenied", StorageError, "denied"),
        (400, "InvalidArgument", StorageError, "error"),
        (412, "PreconditionFailed", PreconditionFailed, "precondition"),
        (404, "NoSuchKey", ObjectMissing, "missing"),
        (404, "NoSuchBucket", BucketMissing, "no_bucket"),
    ],
)
async def test_s3_error_answers_are_mapped(
    buckets: BucketPair, s3_fault_proxy: ProxyFactory, status: int, code: str, expected: type[Exception], kind: str
) -> None:
    proxy = await s3_fault_proxy(buckets.source.endpoint_url or "")
    proxy.faults.append(Fault(method="GET", status=status, code=code))
    side = replace(buckets.source, endpoint_url=proxy.endpoint, max_attempts=2)
    async with ObjectStore(side) as store:
        with pytest.raises(expected) as e:
            await store.get("k")
        assert type(e.value) is expected
        assert e.value.__cause__ is not None  # the SDK error is chained, not leaked
        stats = store.stats["GetObject"]
        retried = expected is StorageUnavailable  # the store retries 5xx/throttling, nothing else
        assert stats.requests == 1 and stats.errors == {kind: 2 if retried else 1}
        assert stats.attempts == len(proxy.seen) == (2 if retried else 1)
        assert stats.retries == (1 if retried else 0)
        if retried:
            assert "2 attempts in a row" in e.value.message and "GetObject s3://" in e.value.message
        if code == "AccessDenied":
            assert "credentials" in str(e.value) and "403" not in type(e.value).__name__


async def test_connection_refused_and_timeouts_are_unavailable(
    buckets: BucketPair, s3_fault_proxy: ProxyFactory
) -> None:
    proxy = await s3_fault_proxy(buckets.source.endpoint_url or "")
    closed_port = proxy.endpoint  # close it: nothing listens there any more
    await proxy.close()
    refused = replace(buckets.source, endpoint_url=closed_port, max_attempts=1, connect_timeout=1.0)
    async with ObjectStore(refused) as store:
        with pytest.raises(StorageUnavailable):
            await store.head("k")

    slow_proxy = await s3_fault_proxy(buckets.source.endpoint_url or "")
    slow_proxy.faults.append(Fault(delay=3.0))
    slow = replace(buckets.source, endpoint_url=slow_proxy.endpoint, max_attempts=1, read_timeout=0.3)
    async with ObjectStore(slow) as store:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            await store.get("k")
        assert time.monotonic() - started < 2.5


# ------------------------------------------------------------------------------ the mapping as a table


def _client_error(status: int, code: str, op: str = "GetObject", **error: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m", **error},
                        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}}}, op)


@pytest.mark.parametrize(
    ("exc", "key", "expected"),
    [
        (_client_error(404, "NoSuchKey"), "k", ObjectMissing),
        (_client_error(404, "404"), "k", ObjectMissing),  # HEAD: no body, only the status
        (_client_error(404, "404"), None, BucketMissing),  # HeadBucket
        (_client_error(404, "NoSuchBucket"), "k", BucketMissing),
        (_client_error(412, "PreconditionFailed"), "k", PreconditionFailed),
        (_client_error(409, "ConditionalRequestConflict"), "k", PreconditionFailed),
        (_client_error(503, "SlowDown"), "k", StorageUnavailable),
        (_client_error(400, "RequestTimeout"), "k", StorageUnavailable),
        (_client_error(429, "TooManyRequests"), "k", StorageUnavailable),
        (_client_error(403, "SignatureDoesNotMatch"), "k", StorageError),
        (_client_error(400, "InvalidArgument"), "k", StorageError),
        (EndpointConnectionError(endpoint_url="http://x"), "k", StorageUnavailable),
        (ReadTimeoutError(endpoint_url="http://x"), "k", StorageUnavailable),
        (ResponseStreamingError(error="reset"), "k", StorageUnavailable),
        (IncompleteReadError(actual_bytes=1, expected_bytes=2), "k", StorageUnavailable),
        (aiohttp.ClientPayloadError("Response payload is not completed"), "k", StorageUnavailable),
        (asyncio.IncompleteReadError(b"", 10), "k", StorageUnavailable),
        (TimeoutError(), "k", StorageUnavailable),
        (ConnectionResetError(), "k", StorageUnavailable),
        (NoCredentialsError(), "k", StorageError),
        (_client_error(404, "NoSuchUpload", "UploadPartCopy"), "k", StorageError),
        (ValueError("bug"), "k", StorageError),
    ],
)
def test_translate_table(exc: BaseException, key: str | None, expected: type[Exception]) -> None:
    mapped = app.store._translate(exc, op="Op", bucket="b", key=key, full_key=key)
    assert type(mapped) is expected
    if isinstance(exc, NoCredentialsError):
        assert "AWS_ACCESS_KEY_ID" in str(mapped) and app.store._kind(mapped) == "denied"


def test_translate_416_carries_object_size() -> None:
    from_body = app.store._translate(_client_error(416, "InvalidRange", ActualObjectSize="1234"), op="GetObject",
                                     bucket="b", key="k", full_key="k")
    assert isinstance(from_body, OffsetOutOfRange) and from_body.end == 1234
    header = ClientError({"Error": {"Code": "InvalidRange"}, "ResponseMetadata": {
        "HTTPStatusCode": 416, "HTTPHeaders": {"content-range": "bytes */77"}}}, "GetObject")
    from_header = app.store._translate(header, op="GetObject", bucket="b", key="k", full_key="k")
    assert isinstance(from_header, OffsetOutOfRange) and from_header.end == 77


def test_normalize_etag() -> None:
    assert normalize_etag('"abc"') == normalize_etag("abc") == normalize_etag(' W/"abc" ') == "abc"
    assert normalize_etag(None) == ""


# --------------------------------------------------------------------------------------------- stats


async def test_stats_count_requests_errors_and_bytes(buckets: BucketPair) -> None:
    async with ObjectStore(buckets.source) as store:
        await store.put("a", b"12345")
        await store.put("b", b"123")
        await store.get("a")
        await store.get_range("b", 1, 1)
        await store.head("missing")
        stats = store.stats
        assert stats["PutObject"].requests == 2 and stats["PutObject"].bytes_out == 8
        assert stats["GetObject"].requests == 2 and stats["GetObject"].bytes_in == 6
        assert stats["HeadObject"].errors == {"missing": 1}
        assert (stats.requests, stats.attempts, stats.errors, stats.bytes_in, stats.bytes_out) == (5, 5, 1, 6, 8)
        snapshot = json.loads(json.dumps(stats.snapshot()))
        assert set(snapshot) == {"PutObject", "GetObject", "HeadObject"}
        assert snapshot["HeadObject"]["errors"] == {"missing": 1}
        assert stats["NeverRan"].requests == 0
        stats.reset()
        assert stats.requests == 0 and stats.snapshot() == {}


# ------------------------------------------------------------------------------------------ SeaweedFS


async def test_seaweedfs_conditional_copy(seaweedfs_buckets: BucketPair) -> None:
    body = os.urandom(100_000)
    async with ObjectStore(seaweedfs_buckets.source) as src, ObjectStore(seaweedfs_buckets.dest) as dst:
        etag = await src.put("seg.log", body)
        assert etag == md5(body)
        stale = md5(b"an older version")
        with pytest.raises(PreconditionFailed):
            await dst.copy_from(src, "seg.log", if_match_etag=stale)
        assert await dst.head("seg.log") is None
        copied = await dst.copy_from(src, "seg.log", if_match_etag=etag)
        assert copied == etag and '"' not in copied  # SeaweedFS answers unquoted here, head quoted: both normalised
        info = await dst.head("seg.log")
        assert info is not None and info.etag == etag
        assert (await dst.get("seg.log")).body == body
        with pytest.raises(PreconditionFailed):
            await src.put("seg.log", b"x", if_none_match=True)


async def test_seaweedfs_multipart_copy_with_stale_etag_aborts(seaweedfs_buckets: BucketPair) -> None:
    body = os.urandom(11 * MiB)
    async with ObjectStore(seaweedfs_buckets.source) as src, ObjectStore(seaweedfs_buckets.dest) as dst:
        etag = await src.put("big.log", body)
        with pytest.raises(PreconditionFailed):
            await dst.multipart_copy_from(src, "big.log", len(body), part_size=5 * MiB, if_match_etag=md5(b"old"))
        assert dst.stats["AbortMultipartUpload"].requests == 1
        assert await dst.head("big.log") is None
        await dst.multipart_copy_from(src, "big.log", len(body), part_size=5 * MiB, if_match_etag=etag)
        assert md5((await dst.get("big.log")).body) == etag


# ---------------------------------------------------------------------------- localstack/s3server.py


def test_s3server_script_creates_source_and_dest() -> None:
    proc = subprocess.Popen([sys.executable, str(REPO / "localstack" / "s3server.py"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        endpoint = None
        deadline = time.monotonic() + 30
        while endpoint is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            m = re.search(r"AWS_ENDPOINT_URL=(\S+)", line)
            endpoint = m.group(1) if m else None
        assert endpoint, f"no endpoint printed; stderr: {proc.stderr.read() if proc.stderr else ''}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test",
                              config=Config(retries={"total_max_attempts": 1}))
        names = sorted(b["Name"] for b in client.list_buckets()["Buckets"])
        assert names == ["dest", "source"]
        assert client.get_bucket_location(Bucket="source")["LocationConstraint"] is None  # us-east-1
        assert client.get_bucket_location(Bucket="dest")["LocationConstraint"] == "eu-west-1"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        with pytest.raises(EndpointConnectionError):  # the moto child is gone with it
            client.list_buckets()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2999, 12, 31)),
       st.sampled_from(["iso", "iso_z", "http"]))
@settings(max_examples=examples(200))
def test_timestamps_parse_as_botocore_parses_them(moment: datetime, form: str) -> None:
    """The store's timestamp parser (standard library) agrees with botocore's own (dateutil) on S3's forms."""
    aware = moment.replace(tzinfo=UTC)
    text = {"iso": aware.isoformat(timespec="milliseconds"),
            "iso_z": aware.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "http": format_datetime(aware.replace(microsecond=0), usegmt=True)}[form]
    assert parse_timestamp(text) == botocore.utils.parse_timestamp(text)


def test_s3server_request_log_is_written_only_when_asked_for(tmp_path: Path) -> None:
    """`make s3` logs a line per request to ``moto.log``; the test suite's servers run without it."""
    for request_log in (True, False):
        with start_s3_server(port=0, buckets=(("logged", "us-east-1"),), data_dir=tmp_path / str(request_log),
                             request_log=request_log) as server:
            client = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                                  aws_access_key_id="test", aws_secret_access_key="test")
            client.head_bucket(Bucket="logged")
            client.put_object(Bucket="logged", Key="k", Body=b"x")
            assert server.log_path is not None
            deadline = time.monotonic() + (5 if request_log else 0.3)  # quiet: give a stray line time to land
            while "PUT /logged/k" not in server.log_path.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            logged = server.log_path.read_text()
        assert ("PUT /logged/k" in logged) is request_log, logged[-2000:]


def test_s3server_event_queue_sends_do_not_count_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """An events queue nobody drains grows with every S3 write; moto counted it on every SendMessage and
    every received message, so each write got slower than the last. With the local server's fix, sending and
    receiving never count the queue (counting raises here), and GetQueueAttributes still counts it right."""
    from moto.core.utils import unix_time
    from moto.sqs import models as sqs

    from localstack.s3server import bound_event_queue_costs

    # the fix replaces these three: monkeypatch puts moto's own back after the test
    monkeypatch.setattr(sqs.Queue, "attributes", sqs.Queue.__dict__["attributes"])
    for name in ("send_message", "is_message_valid_based_on_retention_period"):
        monkeypatch.setattr(sqs.SQSBackend, name, sqs.SQSBackend.__dict__[name])
    bound_event_queue_costs()
    backend = sqs.SQSBackend("us-east-1", "123456789012")
    queue = backend.create_queue("bucket-events")
    for n in range(50):
        backend.send_message(queue.name, f"event {n}")

    def counted(_queue: object) -> int:
        raise AssertionError("the queue was counted")

    with monkeypatch.context() as counting_raises:
        for name in ("approximate_number_of_messages", "approximate_number_of_messages_delayed",
                     "approximate_number_of_messages_not_visible"):
            counting_raises.setattr(sqs.Queue, name, property(counted))
        backend.send_message(queue.name, "event 50")
        received = backend.receive_message(queue.name, count=10, wait_seconds_timeout=0, visibility_timeout=30)
    assert [m.body for m in received] == [f"event {n}" for n in range(10)]
    attributes = backend.get_queue_attributes(queue.name, ["All"])
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == (41, 10)
    # retention still applies when receiving: a message older than the queue's retention is not delivered
    expired = backend.send_message(queue.name, "too old")
    expired.sent_timestamp = int((unix_time() - queue.message_retention_period - 1) * 1000)
    assert not backend.is_message_valid_based_on_retention_period(queue.name, expired)
    assert backend.is_message_valid_based_on_retention_period(queue.name, received[0])


@given(st.datetimes(min_value=datetime(1970, 1, 2), timezones=st.timezones()),
       st.sampled_from(["iso8601", "rfc822", "unixtimestamp", "iso8601_zeroed"]),
       st.sampled_from(["isoformat", "Z", "naive", "date"]))
@settings(max_examples=150, deadline=None)
def test_s3server_timestamps_are_serialized_as_moto_does_without_dateutil(moment: datetime, fmt: str, form: str) -> None:
    """The local server's listing timestamps: the same text as moto's own serializer (botocore's parser) for
    every form a stored timestamp takes, and the general parser is not called for ISO 8601 with an offset."""
    from moto.core import serialize

    from localstack.s3server import timestamps_without_dateutil

    original = serialize.parse_to_aware_datetime
    general_calls: list[object] = []

    def general(value: object) -> datetime:
        general_calls.append(value)
        return original(value)

    value = {"isoformat": moment.isoformat(), "Z": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
             "naive": moment.replace(tzinfo=None).isoformat(), "date": moment.date().isoformat()}[form]
    serializer = serialize.TimestampSerializer(fmt)
    expected = serializer._convert_timestamp_to_str(value, fmt)
    patch = pytest.MonkeyPatch()
    try:
        patch.setattr(serialize, "parse_to_aware_datetime", general)
        timestamps_without_dateutil()
        assert serializer._convert_timestamp_to_str(value, fmt) == expected
    finally:
        patch.undo()
    assert serialize.parse_to_aware_datetime is original
    assert bool(general_calls) == (form in ("naive", "date")), general_calls


LISTED_KEY_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), include_characters="&<>\"' /")


_LISTING_CLIENTS: list[Any] = []


def listing_clients() -> tuple[Any, Any]:
    """Two S3 clients for moto in this process (its backend behind botocore, no HTTP), built once: one asks
    for URL-encoded listings (botocore's default), one does not. Each test case runs them inside its own
    ``mock_aws()``, so nothing else in the module ever talks to the in-process backend."""
    import botocore.handlers
    import moto  # noqa: F401  (moto's request hook must be registered before the clients are built)

    if not _LISTING_CLIENTS:  # a session of their own: boto3's default one may predate moto's hook
        session = boto3.session.Session()
        encoded, plain = (session.client("s3", region_name="us-east-1", aws_access_key_id="k",
                                         aws_secret_access_key="s") for _ in range(2))
        plain.meta.events.unregister("before-parameter-build.s3.ListObjectsV2",
                                     botocore.handlers.set_list_objects_encoding_type_url)
        _LISTING_CLIENTS.extend((encoded, plain))
    return _LISTING_CLIENTS[0], _LISTING_CLIENTS[1]


@given(keys=st.lists(st.tuples(st.text(LISTED_KEY_CHARS, min_size=1, max_size=24),
                               st.sampled_from([None, "CRC32", "SHA1", "SHA256"]),
                               st.sampled_from(["STANDARD", "STANDARD_IA", "REDUCED_REDUNDANCY"]),
                               st.integers(0, 40)),
                     min_size=1, max_size=10, unique_by=lambda k: k[0]),
       url_encoded=st.booleans(), delimiter=st.sampled_from([None, "/", "&"]), max_keys=st.integers(1, 12),
       fetch_owner=st.booleans(), prefix_len=st.integers(0, 2), start_after=st.booleans())
@settings(max_examples=60, deadline=None)
def test_s3server_listing_pages_are_byte_identical_to_motos_serializer(
        keys: list[tuple[str, str | None, str, int]], url_encoded: bool, delimiter: str | None, max_keys: int,
        fetch_owner: bool, prefix_len: int, start_after: bool) -> None:
    """The local server writes a ListObjectsV2 page's keys itself: every page (keys with XML's special
    characters and any Unicode, checksums, storage classes, owners, delimiters, prefixes, truncation, with and
    without URL encoding) is byte for byte what moto's own serializer writes, and the keys never went
    through moto's serializer."""
    from moto import mock_aws
    from moto.core.responses import BaseResponse
    from moto.s3.responses import S3Response

    from localstack.s3server import listings_without_generic_serializer

    s3 = listing_clients()[0 if url_encoded else 1]
    with mock_aws():
        bucket = unique_bucket("listing")
        s3.create_bucket(Bucket=bucket)
        for key, checksum, storage_class, size in keys:
            extra = {"ChecksumAlgorithm": checksum} if checksum else {}
            s3.put_object(Bucket=bucket, Key=key, Body=b"x" * size, StorageClass=storage_class, **extra)
        request: dict[str, Any] = {"Bucket": bucket, "MaxKeys": max_keys, "FetchOwner": fetch_owner,
                                   "Prefix": keys[0][0][:prefix_len]}
        if delimiter:
            request["Delimiter"] = delimiter
        if start_after:
            request["StartAfter"] = min(k for k, *_ in keys)
        pages: list[bytes] = []

        def keep(http_response: Any, **_: Any) -> None:
            pages.append(http_response.content)

        def every_page() -> list[bytes]:
            pages.clear()
            for _ in s3.get_paginator("list_objects_v2").paginate(**request):
                pass
            return list(pages)

        generic = BaseResponse.serialized
        generic_pages_with_keys = 0

        def counting_generic(self: Any, action_result: Any) -> Any:
            nonlocal generic_pages_with_keys
            result = action_result.result
            generic_pages_with_keys += bool(isinstance(result, dict) and result.get("Contents"))
            return generic(self, action_result)

        patch = pytest.MonkeyPatch()
        s3.meta.events.register("after-call.s3.ListObjectsV2", keep)
        try:
            patch.setattr(S3Response, "serialized", counting_generic, raising=False)
            listings_without_generic_serializer()
            direct = S3Response.__dict__["serialized"]
            assert direct is not counting_generic
            written_directly = every_page()
            assert generic_pages_with_keys == 0
            patch.setattr(S3Response, "serialized", counting_generic, raising=False)
            written_by_moto = every_page()
        finally:
            patch.undo()
            s3.meta.events.unregister("after-call.s3.ListObjectsV2", keep)
    assert "serialized" not in S3Response.__dict__
    assert written_directly == written_by_moto
    assert generic_pages_with_keys == sum(b"<Contents>" in page for page in written_by_moto)


def _http_exchange(endpoint: str, raw_requests: bytes, responses: int, *, close_within: float = 1.0
                   ) -> tuple[list[tuple[int, dict[str, str], bytes]], bool]:
    """Send ``raw_requests`` on one connection; read ``responses`` responses (Content-Length framed), then
    whether the server closed the connection (EOF within ``close_within`` seconds) or kept it open."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(endpoint)
    assert url.hostname and url.port
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(raw_requests)
        stream = sock.makefile("rb")
        got = []
        for _ in range(responses):
            status = int(stream.readline().split()[1])
            headers = {}
            while (line := stream.readline().decode("latin-1").strip()):
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            got.append((status, headers, stream.read(int(headers.get("content-length", "0")))))
        sock.settimeout(close_within)
        try:
            closed = stream.read(1) == b""
        except TimeoutError:
            closed = False
    return got, closed


def test_s3server_keeps_connections_alive_and_frames_every_request(s3_server: str, buckets: BucketPair) -> None:
    """The local S3 answers several requests on one connection (werkzeug's server closed every one), reads
    exactly each request's body (three requests sent in one write, a PUT then two GETs, are all answered, in
    order), and still closes when the client asks to, or when a body is chunked."""
    host = s3_server.removeprefix("http://")
    bucket = buckets.source.url.bucket
    put = (f"PUT /{bucket}/keep/alive HTTP/1.1\r\nHost: {host}\r\nx-amz-acl: public-read\r\nContent-Length: 11\r\n"
           "\r\nhello world").encode()  # unsigned requests: the object is public
    get = f"GET /{bucket}/keep/alive HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    (stored, fetched, again), closed = _http_exchange(s3_server, put + get + get, 3)
    assert stored[0] == 200 and "connection" not in stored[1]
    assert fetched[0] == 200 and fetched[2] == b"hello world" and again[2] == b"hello world"
    assert not closed

    close = f"GET /{bucket}/keep/alive HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    (last,), closed = _http_exchange(s3_server, close, 1, close_within=15)  # a loaded machine may be slow
    assert last[2] == b"hello world" and last[1].get("connection") == "close" and closed

    chunked = (f"PUT /{bucket}/keep/chunked HTTP/1.1\r\nHost: {host}\r\nx-amz-acl: public-read\r\n"
               "Transfer-Encoding: chunked\r\n\r\n"
               "5\r\nhello\r\n0\r\n\r\n").encode()
    (stored,), closed = _http_exchange(s3_server, chunked, 1, close_within=15)
    assert stored[0] == 200 and closed
    (fetched,), _ = _http_exchange(s3_server, f"GET /{bucket}/keep/chunked HTTP/1.1\r\nHost: {host}\r\n\r\n"
                                   .encode(), 1)
    assert fetched[2] == b"hello"


def test_s3server_body_reader_stops_at_the_request_and_skips_the_rest() -> None:
    """What keeps a kept-alive connection's requests apart: a body is read up to its length, never into the
    next request, and what the application left unread is skipped (or the connection given up)."""
    import io

    from localstack.s3server import _BodyReader

    raw = io.BufferedReader(io.BytesIO(b"0123456789NEXT REQUEST"))  # type: ignore[arg-type]
    body = _BodyReader(raw, 10)
    assert body.read(4) == b"0123" and body.readline() == b"456789" and body.read() == b""
    assert body.rest(limit=0) and raw.read() == b"NEXT REQUEST"
    raw = io.BufferedReader(io.BytesIO(b"0123456789NEXT"))  # type: ignore[arg-type]
    unread = _BodyReader(raw, 10)
    view = bytearray(3)
    assert unread.readinto(view) == 3 and bytes(view) == b"012"
    assert unread.rest(limit=7) and raw.read() == b"NEXT"
    assert not _BodyReader(io.BufferedReader(io.BytesIO(b"x" * 20)), 20).rest(limit=19)  # type: ignore[arg-type]
    assert not _BodyReader(io.BufferedReader(io.BytesIO(b"short")), 10).rest(limit=10)  # type: ignore[arg-type]


async def test_requests_name_the_service_in_their_user_agent() -> None:
    """Every S3 request says who sends it (the provider's access logs show it), as the config's User-Agent:
    read here by a bare HTTP server, not by the client that set it."""
    from aiohttp import web

    import app
    from app.store import USER_AGENT

    seen: list[str] = []

    async def missing(request: web.Request) -> web.Response:
        seen.append(request.headers.get("User-Agent", ""))
        return web.Response(status=404)

    server = web.Application()
    server.router.add_route("*", "/{tail:.*}", missing)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        side = make_side(f"http://127.0.0.1:{port}", "ua-bucket", "us-east-1")
        async with ObjectStore(side) as store:
            assert await store.head("some/key") is None
    finally:
        await runner.cleanup()
    assert seen and all(agent.startswith(f"{USER_AGENT} ") for agent in seen), seen
    assert USER_AGENT.startswith(f"shadowreplica/{app.__version__} ")


async def test_an_http_endpoint_builds_no_tls_context(buckets: BucketPair, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain ``http://`` S3 (the local server here) is used without reading the CA bundle (~40 ms of CPU per
    process); an https endpoint, or the provider's default one, still gets the shared verified context."""
    from app.store.session import PlainHTTPSession, SharedTLSHTTPSession, http_session_for

    def no_tls(_session: object) -> None:
        raise AssertionError("a TLS context was built for an http:// endpoint")

    monkeypatch.setattr(SharedTLSHTTPSession, "_build_verify_context", no_tls)
    monkeypatch.setattr(app.store.session, "_tls_contexts", {})  # none built earlier in this process to reuse
    assert (buckets.source.endpoint_url or "").startswith("http://")
    async with ObjectStore(buckets.source) as store:
        await store.put("plain/k", b"x")
        assert (await store.get("plain/k")).body == b"x"
    assert http_session_for("HTTP://127.0.0.1:9000") is PlainHTTPSession
    assert http_session_for("https://s3.eu-west-1.amazonaws.com") is SharedTLSHTTPSession
    assert http_session_for(None) is SharedTLSHTTPSession
