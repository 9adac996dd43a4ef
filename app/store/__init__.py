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

from app.store.client import ObjectStore, ensure_bucket
from app.store.copies import ByteBudget
from app.store.errors import _first_domain_error, _kind, _translate
from app.store.session import (
    USER_AGENT,
    RequestRetry,
    SharedTLSHTTPSession,
    http_session_for,
    loop_session,
    new_session,
)
from app.store.stream import ObjectStream
from app.store.values import (
    DEFAULT_LIST_PAGE,
    DEFAULT_STREAM_CHUNK,
    DELETE_BATCH,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    SOURCE_ETAG_META,
    GetResult,
    NotModified,
    ObjectInfo,
    OpStats,
    StoreStats,
    normalize_etag,
)

__all__ = [
    "DEFAULT_LIST_PAGE",
    "DEFAULT_STREAM_CHUNK",
    "DELETE_BATCH",
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MIN_PART_SIZE",
    "SOURCE_ETAG_META",
    "USER_AGENT",
    "ByteBudget",
    "GetResult",
    "NotModified",
    "ObjectInfo",
    "ObjectStore",
    "ObjectStream",
    "OpStats",
    "RequestRetry",
    "SharedTLSHTTPSession",
    "StoreStats",
    "_first_domain_error",
    "_kind",
    "_translate",
    "ensure_bucket",
    "http_session_for",
    "loop_session",
    "new_session",
    "normalize_etag",
]
