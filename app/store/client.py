"""The :class:`ObjectStore`: one bucket side, every S3 operation in domain terms (see :mod:`app.store`)."""

from __future__ import annotations

import builtins
import logging
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any, TypeVar, overload

from app.config import S3Side
from app.errors import (
    BucketMissing,
    ObjectMissing,
    OffsetOutOfRange,
    StorageError,
    StorageUnavailable,
)
from app.store.base import _sending
from app.store.copies import CopyOps
from app.store.errors import (
    _SIZE_IN_RANGE,
    _UNAVAILABLE_CODES,
    _NotModifiedSignal,
    _translate,
)
from app.store.session import (
    _range_header,
)
from app.store.stream import (
    ObjectStream,
)
from app.store.values import (
    DELETE_BATCH,
    SOURCE_ETAG_META,
    GetResult,
    NotModified,
    ObjectInfo,
    OpStats,
    _quoted,
    normalize_etag,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


class ObjectStore(CopyOps):
    """One bucket side. ``async with ObjectStore(side) as store:`` opens one aiobotocore client.

    ``list_page_size`` is ListObjectsV2's MaxKeys (tests use small pages to exercise pagination);
    ``stream_chunk_size`` the chunk size of :meth:`open_stream`.
    """


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


async def ensure_bucket(side: S3Side) -> bool:
    """Create ``side``'s bucket if missing (with its region's LocationConstraint); True if created."""
    async with ObjectStore(side) as store:
        return await store.ensure_bucket()

