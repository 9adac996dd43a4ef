"""Copies between buckets, server-side (CopyObject, UploadPartCopy) or streamed through the process (ranged
GETs, multipart upload), and the multipart uploads they leave; methods of :class:`~app.store.ObjectStore`."""

from __future__ import annotations

import asyncio
import builtins
import collections
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Coroutine
from datetime import datetime
from typing import Any, Protocol

from app.config import BucketUrl
from app.errors import (
    PreconditionFailed,
    ShadowReplicaError,
)
from app.store.base import StoreBase, _sending
from app.store.errors import (
    _first_domain_error,
)
from app.store.session import (
    _md5_b64,
)
from app.store.values import (
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    SOURCE_ETAG_META,
    MiB,
    OpStats,
    _quoted,
    normalize_etag,
)

log = logging.getLogger(__name__)

class CopySource(Protocol):
    """What a copy needs of the source's store (an :class:`~app.store.ObjectStore`): its bucket, its layout
    root, and ranged GETs for streamed copies. A protocol, so this module does not import the client."""

    _url: BucketUrl

    @property
    def bucket(self) -> str: ...

    async def get_range(self, key: str, start: int, length: int, *, if_match: str | None = None) -> bytes: ...


class ByteBudget:
    """Bytes of streamed copies held in memory at once, all copies of a process together (FIFO, so a big part
    is not starved by small ones). A part holds its share from its GET until its upload is done; a part
    bigger than the whole budget waits until it is alone."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a byte budget needs limit >= 1")
        self.limit = limit
        self.in_use = 0
        self.peak = 0
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    @contextlib.asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        share = min(size, self.limit)
        if self._waiters or self.in_use + share > self.limit:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((share, waiter))
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():  # granted while being cancelled: give it back
                    self.in_use -= share
                    self._wake()
                else:
                    with contextlib.suppress(ValueError):  # _wake may have dropped it already (cancelled)
                        self._waiters.remove((share, waiter))
                    self._wake()
                raise
        else:
            self.in_use += share
        self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            self.in_use -= share
            self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_use + self._waiters[0][0] <= self.limit:
            share, waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_use += share
                waiter.set_result(None)


class CopyOps(StoreBase):
    """The copy operations of :class:`~app.store.ObjectStore` (kept apart: the largest group of them)."""

    async def copy_from(self, source: CopySource, key: str, *, dest_key: str | None = None,
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

    async def multipart_copy_from(self, source: CopySource, key: str, size: int, *, dest_key: str | None = None,
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

    async def stream_from(self, source: CopySource, key: str, size: int, *, if_match_etag: str | None = None,
                          part_size: int = 64 * MiB, concurrency: int = 4, budget: ByteBudget | None = None) -> str:
        """Copy ``source``'s ``key`` here through this process, for when a server-side copy cannot work
        (another provider or endpoint, a destination principal that may not read the source).

        Ranged GETs from the source (each ``If-Match`` its ETag when known, so a source replaced mid-copy
        fails with ``PreconditionFailed`` instead of mixing versions) and a PUT, or above ``part_size`` a
        multipart upload of ``part_size`` parts, ``concurrency`` at a time: at most ``part_size *
        concurrency`` bytes in memory, and with ``budget`` (shared by every copy of the process) never more
        than its limit in all. Every PUT and part carries its Content-MD5, which S3 checks. The
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
        held = budget.hold if budget is not None else _unbounded
        if size <= part_size:
            async with held(size):
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
                async with held(end - first):
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
                    del data, part, send  # the body goes before the next part takes its share
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


@contextlib.asynccontextmanager
async def _unbounded(size: int) -> AsyncIterator[None]:
    yield
