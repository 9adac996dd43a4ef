"""Server-side copies, one request per object, verified.

Theory of operation
-------------------
Bytes never pass through the replicator: each object is one ``CopyObject`` issued by the destination's
client (``ObjectStore.copy_from``), or, at or above ``multipart_threshold``, ``UploadPartCopy`` byte ranges
in parallel (required above 5 GiB). Every copy is conditional on the source still being what the
manifest we planned from describes:

* ``CopySourceIfUnmodifiedSince`` = the ``Last-Modified`` of that manifest. Redpanda uploads a segment
  before the manifest that names it, so a segment modified *after* the manifest is not the one the
  manifest describes (a re-upload after compaction): S3 answers 412 and we re-plan from a fresh manifest.
  This costs no request: the common path is exactly one request per object.
* ``CopySourceIfMatch`` = the source ETag, when we know it: in *strict* mode (after a 412 or a mismatch,
  and for multipart copies) we first ``HEAD`` the source, check its size against the manifest's
  ``size_bytes``, and copy that exact version; the copy's ETag must then equal it.

Verification after each copy (``verify``): ``auto`` trusts a byte-exact copy when the segment key pins the
size (``sname_format`` v2/v3 names carry it: ``{base}-{committed}-{size}-{term}-v1.log``) and HEADs the
destination otherwise (v1 names) to check ``size_bytes``; ``head`` HEADs every copied object. A
mismatch, a 412 or a required source object gone are :class:`SourceChanged`: the caller re-plans and never
commits a manifest naming that object. moto ignores copy preconditions (``../shared/notes/s3-servers.md``);
SeaweedFS enforces them, and the tests exercise both paths there.

**When a server-side copy is impossible** (another provider or endpoint, a destination principal that may
not read the source) objects are *streamed* through this process instead (``ObjectStore.stream_from``:
ranged GETs ``If-Match`` the source ETag, a PUT or multipart upload with Content-MD5 per part, bounded
memory), with the same conditions, verification and commit order. ``copy_mode``: ``server``, ``stream``,
or ``auto`` (default): stream when the two sides are different endpoints, otherwise server-side until the
first copy is refused for lack of access or of the source bucket, then stream from there on (logged once).
``metrics.streamed_bytes`` counts what passed through: what a user pays egress for.

Optional companions (``.index``, ``.tx``) that the source does not have are reported ``ABSENT``.
With ``probe=True`` the destination is HEADed first and an object already there (right size) is not copied
(used after a restart for the few units a crashed run may have copied but not committed).
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from app.errors import (
    BucketMissing,
    ObjectMissing,
    PreconditionFailed,
    ShadowReplicaError,
    StorageError,
    StorageUnavailable,
)
from app.replicator.limiter import AdaptiveLimiter, limited
from app.replicator.metrics import ReplicatorMetrics
from app.replicator.plan import ObjectCopy
from app.store import MAX_PARTS, MIN_PART_SIZE, ByteBudget, ObjectInfo, ObjectStore, normalize_etag

__all__ = ["Copier", "CopyOutcome", "SourceChanged"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class SourceChanged(ShadowReplicaError):
    """The source no longer matches the manifest the plan came from: re-plan from a fresh manifest."""

    def __init__(self, message: str, *, key: str, reason: str, **details: object) -> None:
        super().__init__(message, key=key, reason=reason, **details)
        self.key = key
        self.reason = reason


class CopyOutcome(enum.Enum):
    COPIED = "copied"  # copied now (and verified)
    PRESENT = "present"  # already at the destination with the right size (probe)
    ABSENT = "absent"  # an optional companion the source does not have


class Copier:
    """Copies objects from ``source`` to ``dest`` under one limiter (the stores retry each request)."""

    def __init__(
        self,
        source: ObjectStore,
        dest: ObjectStore,
        *,
        limiter: AdaptiveLimiter,
        metrics: ReplicatorMetrics,
        multipart_threshold: int,
        part_size: int,
        verify: str = "auto",
        copy_mode: str = "auto",
        stream_part_size: int = 16 * 1024 * 1024,
        stream_concurrency: int = 4,
        stream_memory_bytes: int = 128 * 1024 * 1024,
    ) -> None:
        if verify not in ("auto", "head"):
            raise ValueError(f"verify must be 'auto' or 'head', not {verify!r}")
        if copy_mode not in ("auto", "server", "stream"):
            raise ValueError(f"copy_mode must be 'auto', 'server' or 'stream', not {copy_mode!r}")
        self.source = source
        self.dest = dest
        self.limiter = limiter
        self.metrics = metrics
        self.multipart_threshold = multipart_threshold
        self.part_size = max(part_size, MIN_PART_SIZE)
        self.verify = verify
        self.copy_mode = copy_mode
        self.stream_part_size = max(stream_part_size, MIN_PART_SIZE)
        self.stream_concurrency = stream_concurrency
        self.stream_budget = ByteBudget(max(stream_memory_bytes, self.stream_part_size))
        self.streaming = copy_mode == "stream" or (
            copy_mode == "auto" and source.side.endpoint_url != dest.side.endpoint_url)
        metrics.copy_mode = "stream" if self.streaming else "server"

    def _server_side_refused(self, error: ShadowReplicaError) -> bool:
        """In ``auto`` mode: a refusal that says the destination cannot reach the source (switch to stream)."""
        if self.copy_mode != "auto" or self.streaming:
            return False
        denied = isinstance(error, BucketMissing) or (
            isinstance(error, StorageError) and not isinstance(error, StorageUnavailable)
            and str(error.details.get("code")) in ("AccessDenied", "403", "AllAccessDisabled", "InvalidRequest"))
        if denied:
            self.streaming = True
            self.metrics.copy_mode = "stream"
            log.warning("server-side copy from %s to %s refused (%s): copying through this process from now on",
                        self.source.side.url, self.dest.side.url, error.message)
        return denied

    async def _stream(self, key: str, size: int, etag: str | None, slots: int = 1) -> str:
        if etag is None:  # every ranged GET is If-Match: we need the version the manifest describes
            info = await self._limited(lambda: self.source.head(key))
            if info is None:
                raise ObjectMissing(f"{key}: not at the source", key=key)
            if info.size != size:
                self.metrics.error("size_mismatch")
                raise SourceChanged(f"{key}: source object is {info.size} bytes, the manifest says {size}",
                                    key=key, reason="size")
            etag = info.etag
        known = etag
        result = await self._limited(
            lambda: self.dest.stream_from(self.source, key, size, if_match_etag=known,
                                          part_size=self.stream_part_size, concurrency=self.stream_concurrency,
                                          budget=self.stream_budget), slots=slots)
        self.metrics.streamed_bytes += size
        return result
    async def _limited(self, call: Callable[[], Awaitable[T]], *, slots: int = 1) -> T:
        """``call`` under the limiter, once (each S3 request in it is retried on its own by the store)."""
        return await limited(call, limiter=self.limiter, slots=slots)

    def _part_size(self, size: int) -> int:
        return max(self.part_size, math.ceil(size / MAX_PARTS))

    def _missing(self, obj: ObjectCopy) -> CopyOutcome:
        if obj.required:
            self.metrics.error("source_missing")
            raise SourceChanged(f"{obj.key}: the manifest names it but the source no longer has it",
                                key=obj.key, reason="missing")
        return CopyOutcome.ABSENT

    async def copy(self, obj: ObjectCopy, *, unmodified_since: datetime | None, strict: bool = False,
                   probe: bool = False) -> CopyOutcome:
        """Copy ``obj`` (see the module doc). Raises :class:`SourceChanged` when the source moved on."""
        key = obj.key
        if probe:
            there = await self._limited(lambda: self.dest.head(key))
            if there is not None and (obj.size is None or there.size == obj.size):
                return CopyOutcome.PRESENT
        etag: str | None = None
        size = obj.size
        if strict or (size is not None and size >= self.multipart_threshold):
            info = await self._limited(lambda: self.source.head(key))
            if info is None:
                return self._missing(obj)
            if size is not None and info.size != size:
                self.metrics.error("size_mismatch")
                raise SourceChanged(f"{key}: source object is {info.size} bytes, the manifest says {size}",
                                    key=key, reason="size")
            etag, size = info.etag, info.size
        multipart = size is not None and size >= self.multipart_threshold and size > 0
        try:
            if self.streaming:
                return await self._copy_streamed(obj, size, etag)
            if multipart:
                assert size is not None and etag is not None
                part = self._part_size(size)
                parts = math.ceil(size / part)
                conc = max(1, min(parts, 8, int(self.limiter.limit) // 2 or 1))
                known_size, known_etag = size, etag
                result = await self._limited(
                    lambda: self.dest.multipart_copy_from(self.source, key, known_size, part_size=part,
                                                          concurrency=conc, if_match_etag=known_etag), slots=conc)
            else:
                since = None if etag else unmodified_since
                known = etag
                result = await self._limited(
                    lambda: self.dest.copy_from(self.source, key, if_match_etag=known, if_unmodified_since=since))
        except ObjectMissing:
            return self._missing(obj)
        except PreconditionFailed as e:
            self.metrics.error("source_changed")
            raise SourceChanged(f"{key}: changed at the source after its manifest was read ({e.message})",
                                key=key, reason="precondition") from e
        except (BucketMissing, StorageError) as e:
            if isinstance(e, StorageUnavailable) or not self._server_side_refused(e):
                raise
            return await self._copy_streamed(obj, size, etag)
        if etag is not None and not multipart and normalize_etag(result) != etag:
            self.metrics.error("verify_mismatch")
            raise SourceChanged(f"{key}: copy has ETag {result}, the source had {etag}", key=key, reason="etag")
        if self.verify == "head" or (obj.role == "segment" and etag is None and not obj.size_in_key):
            there = await self._limited(lambda: self.dest.head(key))
            if there is None or (obj.size is not None and there.size != obj.size):
                self.metrics.error("verify_mismatch")
                got = "missing" if there is None else f"{there.size} bytes"
                raise SourceChanged(f"{key}: destination copy is {got}, the manifest says {obj.size}",
                                    key=key, reason="verify")
        self.metrics.copied(obj.role, size or 0)
        return CopyOutcome.COPIED

    async def _copy_streamed(self, obj: ObjectCopy, size: int | None, etag: str | None) -> CopyOutcome:
        """The stream path of :meth:`copy`: same conditions, the copy's size checked (HEAD when unknown)."""
        key = obj.key
        if size is None:
            info = await self._limited(lambda: self.source.head(key))
            if info is None:
                return self._missing(obj)
            size, etag = info.size, info.etag
        try:
            await self._stream(key, size, etag)
        except ObjectMissing:
            return self._missing(obj)
        except PreconditionFailed as e:
            self.metrics.error("source_changed")
            raise SourceChanged(f"{key}: changed at the source while it was streamed ({e.message})", key=key,
                                reason="precondition") from e
        if self.verify == "head" or (obj.size is not None and obj.size != size):
            there = await self._limited(lambda: self.dest.head(key))
            if there is None or there.size != size:
                self.metrics.error("verify_mismatch")
                raise SourceChanged(f"{key}: destination copy is not {size} bytes", key=key, reason="verify")
        self.metrics.copied(obj.role, size)
        return CopyOutcome.COPIED

    async def copy_listed(self, info: ObjectInfo, kind: str) -> None:
        """Copy an object known from a source listing (size and ETag known): conditional on that ETag, the
        copy's ETag checked against it (single-part sources) or its size HEADed (multipart sources)."""
        key = info.key
        multipart = info.size >= self.multipart_threshold and info.size > 0
        if self.streaming:
            try:
                await self._stream(key, info.size, info.etag)
            except (ObjectMissing, PreconditionFailed) as e:
                self.metrics.error("source_changed")
                raise SourceChanged(f"{key}: changed at the source since it was listed", key=key,
                                    reason="listing") from e
            self.metrics.copied(kind, info.size)
            return
        try:
            if multipart:
                part = self._part_size(info.size)
                conc = max(1, min(math.ceil(info.size / part), 8))
                result = await self._limited(
                    lambda: self.dest.multipart_copy_from(self.source, key, info.size, part_size=part,
                                                          concurrency=conc, if_match_etag=info.etag), slots=conc)
            else:
                result = await self._limited(lambda: self.dest.copy_from(self.source, key, if_match_etag=info.etag))
        except (ObjectMissing, PreconditionFailed) as e:
            self.metrics.error("source_changed")
            raise SourceChanged(f"{key}: changed at the source since it was listed", key=key,
                                reason="listing") from e
        if multipart or "-" in info.etag:
            there = await self._limited(lambda: self.dest.head(key))
            ok = there is not None and there.size == info.size
        else:
            ok = normalize_etag(result) == info.etag
        if not ok:
            self.metrics.error("verify_mismatch")
            raise SourceChanged(f"{key}: destination copy does not match the listed source", key=key,
                                reason="verify")
        self.metrics.copied(kind, info.size)
