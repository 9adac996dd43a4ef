"""The one S3 seam: an :class:`ObjectStore` per bucket side, in domain terms, over aiobotocore.

Theory of operation
-------------------
Rule 1: nothing else in the service imports botocore or aiobotocore. Every S3 call goes through an
``ObjectStore`` method, and every exception an S3 call can raise is translated by :func:`_translate` (the
one mapping, used by every method) into the service's hierarchy (``app.errors``)::

    NoSuchKey / 404                        → ObjectMissing(key=...)      (head() returns None instead)
    NoSuchBucket                           → BucketMissing
    412 / PreconditionFailed               → PreconditionFailed           (re-read and try again)
    304 Not Modified                       → a NotModified result from get(if_none_match=...)
    416 InvalidRange                       → OffsetOutOfRange(start=0, end=<object size>)
    403 AccessDenied / bad keys            → StorageError saying to check credentials and permissions
    5xx, SlowDown, throttling, timeouts,   → StorageUnavailable           (retriable)
      connection errors, a body cut short
    anything else                          → StorageError

Rule 2: keys are relative to the side's prefix (``s3://bucket/prefix``): callers pass and receive keys
below the layout root, the store adds and strips the prefix (``BucketUrl.key`` / ``.relative``).

Rule 3: every request is retried on its own (:meth:`ObjectStore._request`, :class:`RequestRetry`). A
``StorageUnavailable`` — 5xx, SlowDown, a reset, a timeout, a body cut short — sends that one request again
after a full-jitter exponential back-off, up to ``request_retry.attempts`` attempts in a row (default
``side.max_attempts``); then the error names the request and the count. A listing retries the failed *page*,
a multipart copy or a streamed upload the failed *part*, a ranged GET that range: an operation never restarts
work that already succeeded. botocore itself sends each request once. ``request_retry.on_failure`` /
``on_success`` let the replicator count failures and adapt its concurrency. Bytes are never returned
partially: ``get``/``get_range`` compare the body with Content-Length, and a short body is a retriable
failure of that GET. ``open_stream`` retries opening the stream; its body yields chunks as they come and
raises at the end if the total is short.

Rule 4: copies are server-side. ``copy_from`` (CopyObject) and ``multipart_copy_from`` (UploadPartCopy)
are issued by the *destination* store's client and name the source bucket + full key in ``CopySource``;
the bytes never pass through this process. The destination's credentials need read access to the source.

Metrics: ``store.stats`` counts, per S3 operation name (``GetObject``, ``CopyObject``, ``UploadPartCopy``,
...): ``requests`` (calls made), ``attempts`` (HTTP requests sent, botocore retries included), ``errors``
by kind, ``not_modified`` answers, ``bytes_in`` (object body bytes received) and ``bytes_out`` (body bytes
sent). Copies move no bytes through us, so they count only requests. List/XML response sizes are not
counted.

Client: one aiobotocore client per store: path-style addressing (works with every S3-compatible server),
adaptive retries with ``side.max_attempts`` total attempts (standard mode for one attempt: no client-side
rate limiter sleeping behind the caller's own pacing), the side's connect/read timeouts and pool
size. Flexible checksums are computed/validated only when an operation requires them (S3-compatible
servers differ in their support; segment integrity is checked by the codec's CRCs and our length checks).
botocore's data files are loaded once per process in a worker thread, so entering a store does not block
the event loop on disk reads.

Usage::

    async with ObjectStore(side) as store:
        info = await store.head("a/b.log")            # ObjectInfo | None
        data = (await store.get("a/b.log")).body
        etag = await dest.copy_from(source, "a/b.log", if_match_etag=info.etag)
        print(store.stats.snapshot())
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import contextlib
import hashlib
import logging
import math
import random
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar, overload

import aiohttp
import botocore.loaders
import botocore.session
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ResponseStreamingError,
    SSLError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from app.config import S3Side
from app.errors import (
    BucketMissing,
    ObjectMissing,
    OffsetOutOfRange,
    PreconditionFailed,
    ShadowReplicaError,
    StorageError,
    StorageUnavailable,
)

if TYPE_CHECKING:
    from aiobotocore.client import AioBaseClient

__all__ = [
    "DELETE_BATCH",
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MIN_PART_SIZE",
    "SOURCE_ETAG_META",
    "GetResult",
    "NotModified",
    "ObjectInfo",
    "ObjectStore",
    "ObjectStream",
    "OpStats",
    "RequestRetry",
    "StoreStats",
    "ensure_bucket",
    "normalize_etag",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

KiB: Final = 1024
MiB: Final = 1024 * KiB
GiB: Final = 1024 * MiB
MIN_PART_SIZE: Final = 5 * MiB  # S3: every part but the last is at least 5 MiB
MAX_PART_SIZE: Final = 5 * GiB
MAX_PARTS: Final = 10_000
DELETE_BATCH: Final = 1000  # DeleteObjects takes at most 1000 keys
DEFAULT_LIST_PAGE: Final = 1000  # ListObjectsV2 MaxKeys (S3's own maximum)
DEFAULT_STREAM_CHUNK: Final = 256 * KiB


# ---------------------------------------------------------------------------------------------- values


SOURCE_ETAG_META = "shadowreplica-source-etag"


def normalize_etag(etag: str | None) -> str:
    """An ETag without surrounding quotes (S3 quotes them; SeaweedFS's CopyObjectResult does not)."""
    if not etag:
        return ""
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


def _quoted(etag: str) -> str:
    return f'"{normalize_etag(etag)}"'


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectInfo:
    """One object: ``key`` relative to the side's prefix, ``etag`` without quotes."""

    key: str
    size: int
    etag: str
    last_modified: datetime
    # the ETag of the object a multipart copy was made from (user metadata; HEAD only, listings lack it)
    source_etag: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetResult:
    """A whole object body, verified against Content-Length."""

    key: str
    body: bytes
    etag: str
    last_modified: datetime
    content_type: str | None = None

    @property
    def size(self) -> int:
        return len(self.body)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotModified:
    """``get(key, if_none_match=etag)`` found the object still has ``etag`` (HTTP 304): nothing was read."""

    key: str
    etag: str


# --------------------------------------------------------------------------------------------- metrics


@dataclass(slots=True)
class OpStats:
    """Counters for one S3 operation."""

    requests: int = 0  # API calls made
    attempts: int = 0  # HTTP requests sent, retries included
    errors: Counter[str] = field(default_factory=Counter)  # by kind, see _KIND
    not_modified: int = 0  # 304 answers to conditional GETs
    bytes_in: int = 0  # object body bytes received
    bytes_out: int = 0  # object body bytes sent
    retries: int = 0  # requests sent again after a retriable failure (5xx, throttling, reset, short body)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "attempts": self.attempts,
            "errors": dict(self.errors),
            "not_modified": self.not_modified,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "retries": self.retries,
        }


class StoreStats:
    """Per-operation counters of one store (``store.stats``), keyed by S3 operation name.

    ``stats.requests`` etc. are totals over every operation; ``stats["GetObject"].bytes_in`` one operation;
    ``stats.snapshot()`` a JSON-ready dict (for reports, and later Prometheus with ``op`` as the label).
    """

    __slots__ = ("ops",)

    def __init__(self) -> None:
        self.ops: dict[str, OpStats] = {}

    def op(self, name: str) -> OpStats:
        stats = self.ops.get(name)
        if stats is None:
            stats = self.ops[name] = OpStats()
        return stats

    def __getitem__(self, name: str) -> OpStats:
        """Counters of one operation (zeros if it never ran)."""
        return self.ops.get(name) or OpStats()

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.ops.values())

    @property
    def attempts(self) -> int:
        return sum(s.attempts for s in self.ops.values())

    @property
    def errors(self) -> int:
        return sum(s.error_count for s in self.ops.values())

    @property
    def bytes_in(self) -> int:
        return sum(s.bytes_in for s in self.ops.values())

    @property
    def bytes_out(self) -> int:
        return sum(s.bytes_out for s in self.ops.values())

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: stats.as_dict() for name, stats in sorted(self.ops.items())}

    def reset(self) -> None:
        self.ops.clear()

    def __repr__(self) -> str:
        return f"StoreStats(requests={self.requests}, errors={self.errors}, in={self.bytes_in}, out={self.bytes_out})"


# -------------------------------------------------------------------------------------- error mapping


class _NotModifiedSignal(StorageError):
    """Internal: a 304 on the way from :func:`_translate` to ``get``, which turns it into :class:`NotModified`."""


_MISSING_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
_PRECONDITION_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})
_DENIED_CODES = frozenset(
    {"AccessDenied", "403", "NoCredentials", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
     "TokenRefreshRequired", "AllAccessDisabled", "AccountProblem", "InvalidSecurity"}
)
_UNAVAILABLE_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
     "RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded", "BandwidthLimitExceeded",
     "RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable", "OperationAborted",
     "PriorRequestNotComplete", "500", "502", "503", "504"}
)
_SIZE_IN_RANGE = re.compile(r"/(\d+)\s*$")


def _translate(
    exc: BaseException, *, op: str, bucket: str, key: str | None, full_key: str | None
) -> StorageError | ObjectMissing | OffsetOutOfRange:
    """THE mapping from SDK/transport exceptions to the service's errors (see the module docstring)."""
    where = f"{op} s3://{bucket}/{full_key}" if full_key is not None else f"{op} s3://{bucket}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {}) or {}
        code = str(error.get("Code") or "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        detail = error.get("Message") or code or f"HTTP {status}"
        if code == "NoSuchBucket" or (status == 404 and full_key is None):
            return BucketMissing(f"{where}: bucket {bucket!r} does not exist", bucket=bucket, code=code or "404")
        if code == "NoSuchUpload":  # a multipart upload that was aborted (or completed) meanwhile
            return StorageError(f"{where}: {detail}", bucket=bucket, key=key, code=code)
        if code in _MISSING_CODES or status == 404:
            return ObjectMissing(f"{where}: no such object", key=key, bucket=bucket)
        if status == 304 or code == "304":
            return _NotModifiedSignal(f"{where}: not modified", key=key)
        if status == 412 or code in _PRECONDITION_CODES:
            return PreconditionFailed(f"{where}: precondition failed ({detail})", key=key, bucket=bucket, code=code)
        if status == 416 or code == "InvalidRange":
            size = error.get("ActualObjectSize")
            if size is None:  # some servers only say it in Content-Range: bytes */SIZE
                header = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("content-range", "")
                m = _SIZE_IN_RANGE.search(header)
                size = m.group(1) if m else -1
            return OffsetOutOfRange(f"{where}: byte range not satisfiable", start=0, end=int(size), key=key)
        if status == 403 or code in _DENIED_CODES:
            return StorageError(
                f"{where}: access denied by S3 ({code or status}: {detail}). Check this side's credentials "
                "(AWS_ACCESS_KEY_ID / SHADOWREPLICA_<SIDE>_ACCESS_KEY_ID ...) and that they may use this bucket "
                "(IAM policy, bucket policy, region).",
                bucket=bucket, key=key, code=code or "403",
            )
        if status >= 500 or status == 429 or code in _UNAVAILABLE_CODES:
            return StorageUnavailable(f"{where}: S3 unavailable ({code or status}: {detail})", bucket=bucket, key=key,
                                      code=code)
        return StorageError(f"{where}: {code or status}: {detail}", bucket=bucket, key=key, code=code)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return StorageError(f"{where}: no usable S3 credentials ({exc}). Set AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY (or the per-side SHADOWREPLICA_<SIDE>_* variables).",
                            bucket=bucket, key=key, code="NoCredentials")
    if isinstance(exc, SSLError):
        return StorageError(f"{where}: TLS failure talking to S3 ({exc}); check the endpoint URL and AWS_CA_BUNDLE")
    if isinstance(
        exc,
        HTTPClientError | BotoConnectionError | ResponseStreamingError | IncompleteReadError | aiohttp.ClientError
        | asyncio.IncompleteReadError | OSError,  # OSError: TimeoutError, ConnectionResetError, ...
    ):
        return StorageUnavailable(f"{where}: {type(exc).__name__}: {exc}", bucket=bucket, key=key)
    if isinstance(exc, BotoCoreError):
        return StorageError(f"{where}: {type(exc).__name__}: {exc}", bucket=bucket, key=key)
    return StorageError(f"{where}: unexpected {type(exc).__name__}: {exc}", bucket=bucket, key=key)


def _kind(error: ShadowReplicaError) -> str:
    """The ``errors`` counter a mapped error is counted under."""
    if isinstance(error, ObjectMissing):
        return "missing"
    if isinstance(error, BucketMissing):
        return "no_bucket"
    if isinstance(error, PreconditionFailed):
        return "precondition"
    if isinstance(error, OffsetOutOfRange):
        return "out_of_range"
    if isinstance(error, StorageUnavailable):
        return "unavailable"
    if isinstance(error, StorageError) and error.details.get("code") in _DENIED_CODES:
        return "denied"
    return "error"


# -------------------------------------------------------------------------------------- client set-up

_LOADER = botocore.loaders.create_loader()  # shared by every store: botocore's JSON models are read once
_warm: set[str] = set()


def new_session(service: str = "s3") -> AioSession:
    """Runs in a worker thread: everything here reads files (AWS config, botocore's service models). Also
    used for the SQS client of :mod:`app.events`."""
    if service not in _warm:  # a throwaway sync client loads exactly what create_client needs into the loader
        warm = botocore.session.Session()
        warm.register_component("data_loader", _LOADER)
        warm.create_client(service, region_name="us-east-1", aws_access_key_id="-", aws_secret_access_key="-").close()
        _warm.add(service)
    session = AioSession()
    session.register_component("data_loader", _LOADER)
    session.get_scoped_config()
    return session


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _range_header(start: int, end: int | None) -> str:
    return f"bytes={start}-{end - 1}" if end is not None else f"bytes={start}-"


# ------------------------------------------------------------------------------------------ the store


@dataclass(slots=True)
class RequestRetry:
    """How every S3 request is retried on :class:`StorageUnavailable` (5xx, SlowDown, resets, timeouts, a body
    cut short): ``attempts`` in a row at most, a full-jitter exponential wait (``uniform(0, min(cap, base *
    2**n))``), and hooks the replicator uses to count each failure and to slow down (its limiter)."""

    attempts: int = 5
    base: float = 0.1
    cap: float = 5.0
    on_failure: Callable[[StorageUnavailable], None] | None = None
    on_success: Callable[[], None] | None = None

    def delay(self, failures: int) -> float:
        return random.uniform(0.0, min(self.cap, self.base * (2 ** failures)))


class ObjectStore:
    """One bucket side. ``async with ObjectStore(side) as store:`` opens one aiobotocore client.

    ``list_page_size`` is ListObjectsV2's MaxKeys (tests use small pages to exercise pagination);
    ``stream_chunk_size`` the chunk size of :meth:`open_stream`.
    """

    def __init__(self, side: S3Side, *, list_page_size: int = DEFAULT_LIST_PAGE,
                 stream_chunk_size: int = DEFAULT_STREAM_CHUNK, request_retry: RequestRetry | None = None) -> None:
        if not 1 <= list_page_size <= 1000:
            raise ValueError("list_page_size must be in 1..1000")
        self.side = side
        self.stats = StoreStats()
        self._url = side.url
        self._list_page_size = list_page_size
        self._stream_chunk_size = stream_chunk_size
        self.request_retry = request_retry or RequestRetry(attempts=max(1, side.max_attempts))
        self._stack: AsyncExitStack | None = None
        self._client_: AioBaseClient | None = None

    # -- lifecycle --

    async def __aenter__(self) -> ObjectStore:
        if self._stack is not None:
            raise RuntimeError("ObjectStore is already open")
        session = await asyncio.to_thread(new_session)
        side = self.side
        config = AioConfig(
            region_name=side.region,
            s3={"addressing_style": "path"},
            # botocore sends each request once: the store retries every request itself (``_request``)
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=side.connect_timeout,
            read_timeout=side.read_timeout,
            max_pool_connections=side.max_pool_connections,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        stack = AsyncExitStack()
        try:
            client = await stack.enter_async_context(
                session.create_client(
                    "s3",
                    region_name=side.region,
                    endpoint_url=side.endpoint_url,
                    aws_access_key_id=side.access_key_id,
                    aws_secret_access_key=side.secret_access_key,
                    aws_session_token=side.session_token,
                    config=config,
                )
            )
        except BaseException as e:
            await stack.aclose()
            if isinstance(e, Exception):
                raise _translate(e, op="CreateClient", bucket=self.bucket, key=None, full_key=None) from e
            raise
        client.meta.events.register("before-send.s3", self._count_attempt)
        self._stack, self._client_ = stack, client
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client (idempotent)."""
        stack, self._stack, self._client_ = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    @property
    def bucket(self) -> str:
        return self._url.bucket

    @property
    def _client(self) -> AioBaseClient:
        if self._client_ is None:
            raise RuntimeError("ObjectStore is not open: use `async with ObjectStore(side) as store:`")
        return self._client_

    def _count_attempt(self, event_name: str = "", **_: Any) -> None:
        self.stats.op(event_name.rsplit(".", 1)[-1]).attempts += 1  # must return None: a value replaces the send

    @contextlib.contextmanager
    def _call(self, op: str, key: str | None, *, request: bool = True) -> Iterator[OpStats]:
        """Count one call of ``op`` and translate whatever it raises (the seam's only ``except``)."""
        self._client  # noqa: B018 - a store that is not open is a programming error, raised untranslated
        stats = self.stats.op(op)
        if request:
            stats.requests += 1
        try:
            yield stats
        except _NotModifiedSignal:
            stats.not_modified += 1
            raise
        except ShadowReplicaError as err:  # raised by our own checks inside the block
            stats.errors[_kind(err)] += 1
            raise
        except Exception as exc:
            full = self._url.key(key) if key is not None else None
            mapped = _translate(exc, op=op, bucket=self.bucket, key=key, full_key=full)
            if isinstance(mapped, _NotModifiedSignal):
                stats.not_modified += 1
            else:
                stats.errors[_kind(mapped)] += 1
            raise mapped from exc

    async def _request(self, op: str, key: str | None, send: Callable[[OpStats], Awaitable[T]]) -> T:
        """Send one S3 request (``send``), retrying it alone on ``StorageUnavailable`` (:class:`RequestRetry`):
        a listing retries the failed page, a multipart copy or upload the failed part, a GET whose body was
        cut short that GET; an operation never restarts work that already succeeded. Past the last attempt
        the error names the request and how many times in a row it failed. Other errors raise at once."""
        retry = self.request_retry
        failures = 0
        while True:
            try:
                with self._call(op, key, request=failures == 0) as stats:
                    result = await send(stats)
            except StorageUnavailable as error:
                failures += 1
                if retry.on_failure is not None:
                    retry.on_failure(error)
                if failures >= retry.attempts:
                    if retry.attempts == 1:
                        raise
                    raise StorageUnavailable(f"{error.message} ({failures} attempts in a row)",
                                             **{**error.details, "attempts": failures}) from error
                self.stats.op(op).retries += 1
                wait = retry.delay(failures)
                log.info("%s: %s; retry %d in %.2f s", op, error.message, failures, wait)
                await asyncio.sleep(wait)
                continue
            if retry.on_success is not None:
                retry.on_success()
            return result

    # -- reads --

    async def head(self, key: str) -> ObjectInfo | None:
        """Size, ETag and mtime of ``key``; ``None`` if it does not exist."""
        try:
            resp = await self._request("HeadObject", key, lambda _: self._client.head_object(
                Bucket=self.bucket, Key=self._url.key(key)))
        except ObjectMissing:
            return None
        source_etag = (resp.get("Metadata") or {}).get(SOURCE_ETAG_META)
        return ObjectInfo(key=key, size=int(resp["ContentLength"]), etag=normalize_etag(resp.get("ETag")),
                          last_modified=resp["LastModified"], source_etag=source_etag)

    @overload
    async def get(self, key: str) -> GetResult: ...
    @overload
    async def get(self, key: str, *, if_none_match: str | None) -> GetResult | NotModified: ...

    async def get(self, key: str, *, if_none_match: str | None = None) -> GetResult | NotModified:
        """The whole object. With ``if_none_match=etag``, :class:`NotModified` if it still has that ETag.

        Raises ``ObjectMissing``; ``StorageUnavailable`` if the body arrives shorter than Content-Length.
        """
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._url.key(key)}
        if if_none_match:
            params["IfNoneMatch"] = _quoted(if_none_match)
        async def send(stats: OpStats) -> tuple[dict[str, Any], bytes]:
            resp = await self._client.get_object(**params)
            return resp, await self._read_body(resp, stats, key)

        try:
            resp, data = await self._request("GetObject", key, send)
        except _NotModifiedSignal:
            return NotModified(key=key, etag=normalize_etag(if_none_match))
        return GetResult(key=key, body=data, etag=normalize_etag(resp.get("ETag")), last_modified=resp["LastModified"],
                         content_type=resp.get("ContentType"))

    async def get_range(self, key: str, start: int, length: int, *, if_match: str | None = None) -> bytes:
        """``length`` bytes of ``key`` from ``start`` (fewer only where the object ends; ``b""`` past its end).

        ``if_match``: only from the version with that ETag (else ``PreconditionFailed``). Raises
        ``ObjectMissing``; ``StorageUnavailable`` if the body arrives short.
        """
        if start < 0 or length < 0:
            raise ValueError("start and length must be >= 0")
        if length == 0:
            return b""
        conditions = {"IfMatch": _quoted(if_match)} if if_match else {}
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._url.key(key),
                                  "Range": _range_header(start, start + length), **conditions}

        async def send(stats: OpStats) -> bytes:
            resp = await self._client.get_object(**params)
            data = await self._read_body(resp, stats, key)
            content_range = resp.get("ContentRange")
            if not content_range:  # the server ignored Range and sent the whole object
                return data[start : start + length]
            m = _SIZE_IN_RANGE.search(content_range)
            if m is not None and len(data) != max(0, min(length, int(m.group(1)) - start)):
                raise StorageUnavailable(
                    f"GetObject s3://{self.bucket}/{self._url.key(key)}: asked {start}+{length}, got "
                    f"{len(data)} bytes ({content_range})", key=key)
            return data

        try:
            return await self._request("GetObject", key, send)
        except OffsetOutOfRange:
            return b""

    async def _read_body(self, resp: dict[str, Any], stats: OpStats, key: str) -> bytes:
        body = resp["Body"]
        try:
            data: bytes = await body.read()
        except Exception as exc:  # the connection died inside the body (reset, cut short): a retriable read
            mapped = _translate(exc, op="GetObject", bucket=self.bucket, key=key, full_key=self._url.key(key))
            raise mapped from exc
        finally:
            body.close()
        stats.bytes_in += len(data)
        expected = resp.get("ContentLength")
        if expected is not None and len(data) != int(expected):
            raise StorageUnavailable(
                f"GetObject s3://{self.bucket}/{self._url.key(key)}: body cut short, got {len(data)} of "
                f"{expected} bytes", key=key)
        return data

    async def open_stream(self, key: str, start: int | None = None, end: int | None = None, *,
                          chunk_size: int | None = None) -> ObjectStream:
        """Start a streaming download of bytes ``[start, end)`` (like a slice; both optional).

        Returns once the response headers are in (so a missing key raises ``ObjectMissing`` here, and a
        ``start`` past the end ``OffsetOutOfRange`` carrying the object size as ``end``). Iterate it for
        chunks; it closes itself when exhausted or on error, otherwise close it::

            stream = await store.open_stream(key, start=0, end=1 << 20)
            async with stream:
                async for chunk in stream:
                    ...
        """
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._url.key(key)}
        if (start is not None and start < 0) or (end is not None and end <= (start or 0)):
            raise ValueError(f"bad byte range [{start}, {end})")
        if start is not None or end is not None:
            params["Range"] = _range_header(start or 0, end)
        resp = await self._request("GetObject", key, lambda _: self._client.get_object(**params))
        length = int(resp["ContentLength"])
        first, total = 0, length
        content_range = resp.get("ContentRange")
        if content_range:
            m = re.match(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", content_range)
            if m:
                first = int(m.group(1))
                total = int(m.group(3)) if m.group(3) != "*" else -1
        elif "Range" in params:  # the server ignored Range: refuse rather than stream the wrong bytes
            resp["Body"].close()
            raise StorageError(f"GetObject s3://{self.bucket}/{self._url.key(key)}: server ignored the Range header",
                               key=key)
        return ObjectStream(self, key, resp, start=first, content_length=length, size=total,
                            chunk_size=chunk_size or self._stream_chunk_size)

    # -- writes --

    async def put(self, key: str, body: bytes, *, if_match: str | None = None, if_none_match: bool = False,
                  content_type: str = "application/octet-stream", content_md5: str | None = None,
                  metadata: dict[str, str] | None = None) -> str:
        """Write ``body`` to ``key``; returns the new ETag.

        ``if_match=etag``: only if the object still has that ETag; ``if_none_match=True``: only if it does
        not exist. A failed condition raises ``PreconditionFailed``.
        """
        if if_match and if_none_match:
            raise ValueError("if_match and if_none_match are exclusive")
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._url.key(key), "Body": body,
                                  "ContentType": content_type}
        if if_match:
            params["IfMatch"] = _quoted(if_match)
        if if_none_match:
            params["IfNoneMatch"] = "*"
        if content_md5:
            params["ContentMD5"] = content_md5  # the server refuses a body that does not hash to it
        if metadata:
            params["Metadata"] = metadata

        async def send(stats: OpStats) -> dict[str, Any]:
            sent: dict[str, Any] = await self._client.put_object(**params)
            stats.bytes_out += len(body)
            return sent

        resp = await self._request("PutObject", key, send)
        return normalize_etag(resp.get("ETag"))

    async def copy_from(self, source: ObjectStore, key: str, *, dest_key: str | None = None,
                        if_match_etag: str | None = None, if_unmodified_since: datetime | None = None) -> str:
        """Server-side CopyObject of ``source``'s ``key`` to ``dest_key`` (default: the same relative key) here.

        Metadata and Content-Type are kept (MetadataDirective COPY). ``if_match_etag``: only if the source
        still has that ETag (``CopySourceIfMatch``); ``if_unmodified_since``: only if the source was not
        modified after that time (``CopySourceIfUnmodifiedSince``, second precision); a failed condition
        raises ``PreconditionFailed``. Objects up to 5 GiB; bigger ones need :meth:`multipart_copy_from`.
        Returns the new object's ETag.
        """
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._url.key(dest_key if dest_key is not None else key),
            "CopySource": {"Bucket": source.bucket, "Key": source._url.key(key)},
            "MetadataDirective": "COPY",
        }
        if if_match_etag:
            params["CopySourceIfMatch"] = _quoted(if_match_etag)
        if if_unmodified_since is not None:
            params["CopySourceIfUnmodifiedSince"] = if_unmodified_since
        resp = await self._request("CopyObject", key, lambda _: self._client.copy_object(**params))
        return normalize_etag(resp.get("CopyObjectResult", {}).get("ETag"))

    async def multipart_copy_from(self, source: ObjectStore, key: str, size: int, *, dest_key: str | None = None,
                                  part_size: int = 64 * MiB, concurrency: int = 8,
                                  if_match_etag: str | None = None) -> str:
        """Server-side multipart copy: CreateMultipartUpload, UploadPartCopy of ``CopySourceRange`` parts
        (``concurrency`` at a time), CompleteMultipartUpload; AbortMultipartUpload on any failure.

        ``size`` must be the source's current size: pass ``if_match_etag`` so a source that changed fails
        with ``PreconditionFailed`` (every part is conditional) instead of copying a mix. Parts are
        ``part_size`` (5 MiB..5 GiB, at most 10 000 parts) except the last. S3 does not carry user metadata
        or Content-Type over a multipart copy; the source ETag is recorded as user metadata
        (``SOURCE_ETAG_META``) so a checker can still tie the copy to its source, whose ETag differs from a
        multipart ETag. Returns the new object's ETag.
        """
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(f"part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes")
        if size <= 0:
            raise ValueError("multipart copy needs size > 0 (copy empty objects with copy_from)")
        if math.ceil(size / part_size) > MAX_PARTS:
            raise ValueError(f"{size} bytes in {part_size}-byte parts is more than {MAX_PARTS} parts")
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        target = self._url.key(dest_key if dest_key is not None else key)
        copy_source = {"Bucket": source.bucket, "Key": source._url.key(key)}
        created = await self._request("CreateMultipartUpload", key, _sending(
            self._client.create_multipart_upload,
            {"Bucket": self.bucket, "Key": target,
             "Metadata": {SOURCE_ETAG_META: if_match_etag} if if_match_etag else {}}))
        upload_id: str = created["UploadId"]
        ranges = [(n, offset, min(offset + part_size, size) - 1)
                  for n, offset in enumerate(range(0, size, part_size), start=1)]
        etags: dict[int, str] = {}
        todo = iter(ranges)

        async def worker() -> None:
            for number, first, last in todo:  # one shared iterator: each part is taken once
                params: dict[str, Any] = {"Bucket": self.bucket, "Key": target, "UploadId": upload_id,
                                          "PartNumber": number, "CopySource": copy_source,
                                          "CopySourceRange": f"bytes={first}-{last}"}
                if if_match_etag:
                    params["CopySourceIfMatch"] = _quoted(if_match_etag)
                resp = await self._request("UploadPartCopy", key, _sending(self._client.upload_part_copy, params))
                etags[number] = _quoted(resp["CopyPartResult"]["ETag"])

        return await self._finish_upload(key, target, upload_id, [n for n, _, _ in ranges], etags,
                                         [worker() for _ in range(min(concurrency, len(ranges)))])

    async def stream_from(self, source: ObjectStore, key: str, size: int, *, if_match_etag: str | None = None,
                          part_size: int = 64 * MiB, concurrency: int = 4) -> str:
        """Copy ``source``'s ``key`` here through this process, for when a server-side copy cannot work
        (another provider or endpoint, a destination principal that may not read the source).

        Ranged GETs from the source (each ``If-Match`` its ETag when known, so a source replaced mid-copy
        fails with ``PreconditionFailed`` instead of mixing versions) and a PUT, or above ``part_size`` a
        multipart upload of ``part_size`` parts, ``concurrency`` at a time: at most ``part_size *
        concurrency`` bytes in memory. Every PUT and part carries its Content-MD5, which S3 checks. The
        source ETag is recorded as user metadata (``SOURCE_ETAG_META``) as for multipart copies. Counted as
        ``bytes_in`` on the source and ``bytes_out`` here: the bytes a user pays egress for. Returns the
        new object's ETag.
        """
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(f"part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes")
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        target = self._url.key(key)
        metadata = {SOURCE_ETAG_META: if_match_etag} if if_match_etag else {}
        if size <= part_size:
            body = await source.get_range(key, 0, size, if_match=if_match_etag) if size else b""
            if len(body) != size:
                raise PreconditionFailed(f"{key}: the source has {len(body)} bytes, expected {size}", key=key)
            return await self.put(key, body, content_md5=_md5_b64(body), metadata=metadata)
        if math.ceil(size / part_size) > MAX_PARTS:
            raise ValueError(f"{size} bytes in {part_size}-byte parts is more than {MAX_PARTS} parts")
        created = await self._request("CreateMultipartUpload", key, _sending(
            self._client.create_multipart_upload, {"Bucket": self.bucket, "Key": target, "Metadata": metadata}))
        upload_id: str = created["UploadId"]
        ranges = [(n, offset, min(offset + part_size, size)) for n, offset in enumerate(range(0, size, part_size), 1)]
        etags: dict[int, str] = {}
        todo = iter(ranges)

        async def worker() -> None:
            for number, first, end in todo:
                data = await source.get_range(key, first, end - first, if_match=if_match_etag)
                if len(data) != end - first:
                    raise PreconditionFailed(f"{key}: the source ends before byte {end} (changed?)", key=key)
                part = {"Bucket": self.bucket, "Key": target, "UploadId": upload_id, "PartNumber": number,
                        "Body": data, "ContentMD5": _md5_b64(data)}

                async def send(stats: OpStats, part: dict[str, Any] = part) -> dict[str, Any]:
                    sent: dict[str, Any] = await self._client.upload_part(**part)
                    stats.bytes_out += len(part["Body"])
                    return sent

                resp = await self._request("UploadPart", key, send)
                etags[number] = _quoted(resp["ETag"])

        return await self._finish_upload(key, target, upload_id, [n for n, _, _ in ranges], etags,
                                         [worker() for _ in range(min(concurrency, len(ranges)))])

    async def _finish_upload(self, key: str, target: str, upload_id: str, numbers: builtins.list[int],
                             etags: dict[int, str], workers: builtins.list[Coroutine[Any, Any, None]]) -> str:
        """Run the part ``workers`` (they fill ``etags``), then CompleteMultipartUpload; on any failure abort the
        upload and raise the first domain error. Shared by multipart copies and streamed uploads."""
        try:
            async with asyncio.TaskGroup() as tg:
                for w in workers:
                    tg.create_task(w)
            parts = [{"PartNumber": n, "ETag": etags[n]} for n in numbers]
            done = await self._request("CompleteMultipartUpload", key, _sending(
                self._client.complete_multipart_upload,
                {"Bucket": self.bucket, "Key": target, "UploadId": upload_id, "MultipartUpload": {"Parts": parts}}))
        except BaseException as exc:
            await asyncio.shield(self._abort(target, upload_id, key))
            if isinstance(exc, BaseExceptionGroup):
                first = _first_domain_error(exc)
                if first is not None:
                    raise first from first.__cause__
            raise
        return normalize_etag(done.get("ETag"))

    async def list_uploads(self, prefix: str = "") -> AsyncIterator[tuple[str, str, datetime]]:
        """Multipart uploads in progress under ``prefix`` (what a killed multipart copy or stream leaves):
        (relative key, upload id, initiated), every page retried on its own."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._url.key(prefix)}
        while True:
            page: dict[str, Any] = await self._request(
                "ListMultipartUploads", prefix, _sending(self._client.list_multipart_uploads, dict(params)))
            for upload in page.get("Uploads", ()):
                yield self._url.relative(upload["Key"]), str(upload["UploadId"]), upload["Initiated"]
            if not page.get("IsTruncated"):
                return
            params["KeyMarker"] = page.get("NextKeyMarker", "")
            params["UploadIdMarker"] = page.get("NextUploadIdMarker", "")

    async def abort_upload(self, key: str, upload_id: str) -> None:
        """AbortMultipartUpload of ``key``'s upload (a failure is logged, not raised)."""
        await self._abort(self._url.key(key), upload_id, key)

    async def _abort(self, target: str, upload_id: str, key: str) -> None:
        try:
            await self._request("AbortMultipartUpload", key, _sending(
                self._client.abort_multipart_upload, {"Bucket": self.bucket, "Key": target, "UploadId": upload_id}))
        except ShadowReplicaError as e:  # the original failure matters more; a lifecycle rule cleans up
            log.warning("could not abort multipart upload %s of s3://%s/%s: %s", upload_id, self.bucket, target, e)

    async def delete_many(self, keys: Iterable[str]) -> int:
        """Delete ``keys`` with DeleteObjects, 1000 per request; returns how many were asked for.

        Missing keys are not errors (S3 semantics). Keys S3 refuses to delete raise ``StorageError``
        (``StorageUnavailable`` if every refusal is a throttling/internal error) listing them.
        """
        batch: builtins.list[str] = []
        count = 0
        for key in keys:
            batch.append(key)
            if len(batch) == DELETE_BATCH:
                count += await self._delete_batch(batch)
                batch = []
        if batch:
            count += await self._delete_batch(batch)
        return count

    async def _delete_batch(self, keys: builtins.list[str]) -> int:
        async def send(_: OpStats) -> dict[str, Any]:
            resp: dict[str, Any] = await self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": self._url.key(k)} for k in keys], "Quiet": True})
            failures = resp.get("Errors") or []
            if failures:
                codes = {str(f.get("Code")) for f in failures}
                listed = [{"key": f.get("Key"), "code": f.get("Code"), "message": f.get("Message")} for f in failures]
                message = (f"DeleteObjects s3://{self.bucket}: {len(failures)} of {len(keys)} keys not deleted "
                           f"({', '.join(sorted(codes))}), e.g. {listed[0]['key']}")
                cls = StorageUnavailable if codes <= _UNAVAILABLE_CODES else StorageError
                raise cls(message, bucket=self.bucket, failures=listed[:20], code=next(iter(codes)))
            return resp

        await self._request("DeleteObjects", None, send)
        return len(keys)

    # -- listing --

    async def list(self, prefix: str = "", *, delimiter: str | None = None,
                   start_after: str | None = None) -> AsyncIterator[ObjectInfo]:
        """Objects under ``prefix`` (relative), in key order, page by page (ListObjectsV2).

        With ``delimiter``, only the objects directly under ``prefix`` (see :meth:`list_prefixes` for the
        rest). ``start_after`` (relative) resumes after a key.
        """
        async for page in self._pages(prefix, delimiter=delimiter, start_after=start_after):
            for item in page.get("Contents", ()):
                yield ObjectInfo(key=self._url.relative(item["Key"]), size=int(item["Size"]),
                                 etag=normalize_etag(item.get("ETag")), last_modified=item["LastModified"])

    async def list_prefixes(self, prefix: str = "", delimiter: str = "/") -> AsyncIterator[str]:
        """The "directories" directly under ``prefix`` (relative, ending in ``delimiter``), in order."""
        async for page in self._pages(prefix, delimiter=delimiter, start_after=None):
            for item in page.get("CommonPrefixes", ()):
                yield self._url.relative(item["Prefix"])

    async def _pages(self, prefix: str, *, delimiter: str | None,
                     start_after: str | None) -> AsyncIterator[dict[str, Any]]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._url.key(prefix),
                                  "MaxKeys": self._list_page_size}
        if delimiter:
            params["Delimiter"] = delimiter
        if start_after:
            params["StartAfter"] = self._url.key(start_after)
        while True:
            page = await self._list_page(prefix, params)
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            params["ContinuationToken"] = token
            params.pop("StartAfter", None)

    async def _list_page(self, prefix: str, params: dict[str, Any]) -> dict[str, Any]:
        """One ListObjectsV2 page, retried on its own: a fault in page n of one listing neither restarts the
        listing nor the other listings of a discovery."""
        page: dict[str, Any] = await self._request("ListObjectsV2", prefix,
                                                   _sending(self._client.list_objects_v2, dict(params)))
        return page

    # -- buckets --

    async def ensure_bucket(self) -> bool:
        """Create this side's bucket if it is missing (LocationConstraint = the side's region outside
        us-east-1). Returns True if it was created."""
        try:
            await self._request("HeadBucket", None, lambda _: self._client.head_bucket(Bucket=self.bucket))
            return False
        except BucketMissing:
            pass
        params: dict[str, Any] = {"Bucket": self.bucket}
        if self.side.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.side.region}
        try:
            await self._request("CreateBucket", None, lambda _: self._client.create_bucket(**params))
        except StorageError as e:
            if e.details.get("code") in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return False  # created by someone else meanwhile; (AlreadyExists: ours on some servers)
            raise
        return True


class ObjectStream:
    """A streaming download from :meth:`ObjectStore.open_stream`.

    ``start``/``end`` (exclusive) locate the bytes in the object, ``content_length`` is their count and
    ``size`` the whole object's size (-1 if the server did not say). Iterate once with ``async for``; the
    total is checked against ``content_length`` at the end (``StorageUnavailable`` if short). Closing
    before the end drops the connection (the body is not drained).
    """

    def __init__(self, store: ObjectStore, key: str, resp: dict[str, Any], *, start: int, content_length: int,
                 size: int, chunk_size: int) -> None:
        self.key = key
        self.start = start
        self.end = start + content_length
        self.content_length = content_length
        self.size = size
        self.etag = normalize_etag(resp.get("ETag"))
        self.last_modified: datetime | None = resp.get("LastModified")
        self.content_type: str | None = resp.get("ContentType")
        self.received = 0
        self._store = store
        self._body = resp["Body"]
        self._chunk_size = chunk_size
        self._iterated = False
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._iterated:
            raise RuntimeError("an ObjectStream can be iterated once")
        self._iterated = True
        try:
            while True:
                with self._store._call("GetObject", self.key, request=False) as stats:
                    chunk: bytes = await self._body.read(self._chunk_size)
                    stats.bytes_in += len(chunk)
                    if not chunk and self.received != self.content_length:
                        raise StorageUnavailable(
                            f"GetObject s3://{self._store.bucket}/{self._store._url.key(self.key)}: body cut short, "
                            f"got {self.received} of {self.content_length} bytes", key=self.key)
                if not chunk:
                    return
                self.received += len(chunk)
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._body.close()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> ObjectStream:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _sending(method: Callable[..., Awaitable[Any]], params: dict[str, Any]) -> Callable[[OpStats], Awaitable[Any]]:
    """A ``send`` for :meth:`ObjectStore._request`: one client call with these parameters (bound now)."""
    return lambda _: method(**params)


def _first_domain_error(group: BaseExceptionGroup[Any]) -> ShadowReplicaError | None:
    for exc in group.exceptions:
        if isinstance(exc, ShadowReplicaError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            inner = _first_domain_error(exc)
            if inner is not None:
                return inner
    return None


async def ensure_bucket(side: S3Side) -> bool:
    """Create ``side``'s bucket if missing (with its region's LocationConstraint); True if created."""
    async with ObjectStore(side) as store:
        return await store.ensure_bucket()
