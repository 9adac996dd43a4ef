"""Topics, partitions, segments, and raw segment downloads (streamed, single byte ranges honoured)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response, StreamingResponse

from app.catalog import PartitionView, SegmentRef, TopicView
from app.errors import ObjectMissing, OffsetOutOfRange, StorageUnavailable
from app.http.context import HttpContext, get_context
from app.store import ObjectStore, ObjectStream

log = logging.getLogger(__name__)

router = APIRouter(tags=["catalog"])

Ctx = Annotated[HttpContext, Depends(get_context)]
PartitionId = Annotated[int, Path(ge=0, le=2**31 - 1, description="partition id")]

HEAD_FLAG = "shadowreplica.head"  # set in the scope by the guard middleware for HEAD requests
COMPANIONS = (".index", ".tx")


def partition_summary(view: PartitionView) -> dict[str, Any]:
    segs = view.segments
    return {
        "topic": view.topic,
        "partition": view.partition,
        "log_start_offset": view.log_start_offset,
        "high_watermark": view.high_watermark,
        "first_timestamp": segs[0].meta.base_timestamp if segs else None,
        "last_timestamp": segs[-1].meta.max_timestamp if segs else None,
        "size_bytes": view.size_bytes,
        "segments": len(segs),
        "terms": sorted({s.meta.segment_term for s in segs}),
    }


def topic_summary(view: TopicView) -> dict[str, Any]:
    parts = [partition_summary(p) for _, p in sorted(view.partitions.items())]
    return {
        "name": view.name,
        "namespace": view.namespace,
        "layout": view.layout,
        "cluster_uuid": view.cluster_uuid,
        "other_clusters": list(view.alternatives),
        "partition_count": view.manifest.partition_count if view.manifest else len(parts),
        "size_bytes": sum(p["size_bytes"] for p in parts),
        "segments": sum(p["segments"] for p in parts),
        "partitions": parts,
    }


def segment_name(seg: SegmentRef) -> str:
    return seg.key.rsplit("/", 1)[-1]


def segment_dict(seg: SegmentRef, base_url: str) -> dict[str, Any]:
    m = seg.meta
    name = segment_name(seg)
    return {
        "name": name,
        "key": seg.key,
        "base_offset": m.base_offset,
        "committed_offset": m.committed_offset,
        "kafka_start_offset": m.base_kafka_offset,
        "kafka_next_offset": m.next_kafka_offset,
        "base_timestamp": m.base_timestamp,
        "max_timestamp": m.max_timestamp,
        "size_bytes": m.size_bytes,
        "term": m.segment_term,
        "archiver_term": m.archiver_term,
        "delta_offset": m.delta_offset,
        "delta_offset_end": m.delta_offset_end,
        "sname_format": m.sname_format,
        "is_compacted": m.is_compacted,
        "download": f"{base_url}/segments/{name}",
    }


@router.get("/topics", summary="Topics with their partitions' offset ranges, times and sizes")
async def list_topics(ctx: Ctx) -> dict[str, Any]:
    return {"topics": [topic_summary(t) for _, t in sorted(ctx.catalog.topics.items())],
            "unsupported": [{"prefix": prefix, "keys": n, "reason": "no known tiered-storage layout"}
                            for prefix, n in sorted(ctx.catalog.unsupported.items())]}


@router.get("/topics/{topic}", summary="One topic: its configuration and partitions")
async def get_topic(topic: str, ctx: Ctx) -> dict[str, Any]:
    view = ctx.catalog.topic(topic)
    out = topic_summary(view)
    m = view.manifest
    out["config"] = None if m is None else {
        "partition_count": m.partition_count, "replication_factor": m.replication_factor,
        "revision_id": m.revision_id, "compression": m.compression,
        "cleanup_policy": m.cleanup_policy_bitflags, "compaction_strategy": m.compaction_strategy,
        "timestamp_type": m.timestamp_type, "segment_size": m.segment_size,
        "retention_bytes": None if m.retention_bytes is m.DISABLED else m.retention_bytes,
        "retention_ms": None if m.retention_duration is m.DISABLED else m.retention_duration,
    }
    return out


@router.get("/topics/{topic}/partitions/{partition}", summary="One partition: offsets, times, sizes, manifest")
async def get_partition(topic: str, partition: PartitionId, ctx: Ctx) -> dict[str, Any]:
    view = ctx.catalog.partition(topic, partition)
    out = partition_summary(view)
    m = view.manifest
    out["manifest"] = {
        "key": view.manifest_key, "etag": view.etag, "fetched_at": view.fetched_at, "revision": view.revision,
        "last_offset": m.last_offset, "insync_offset": m.insync_offset, "start_offset": m.start_offset,
        "cloud_log_size_bytes": m.cloud_log_size_bytes, "archive_size_bytes": m.archive_size_bytes,
        "spillover_manifests": len(m.spillover),
    }
    return out


@router.get("/topics/{topic}/partitions/{partition}/segments",
            summary="The partition's segments with Kafka offset and time ranges")
async def list_segments(topic: str, partition: PartitionId, ctx: Ctx, request: Request) -> dict[str, Any]:
    view = ctx.catalog.partition(topic, partition)
    base = str(request.url.path).rstrip("/").removesuffix("/segments")
    return {"topic": topic, "partition": partition, "segments": [segment_dict(s, base) for s in view.segments]}


def _find(view: PartitionView, name: str) -> tuple[SegmentRef, str]:
    suffix = next((s for s in COMPANIONS if name.endswith(s)), "")
    base = name[: -len(suffix)] if suffix else name
    for seg in view.segments:
        if base in (segment_name(seg), seg.meta.remote_name):
            return seg, suffix
    raise ObjectMissing(f"no segment {name!r} in {view.topic}/{view.partition}", topic=view.topic,
                        partition=view.partition, name=name)


_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``[start, end)`` of a single ``Range: bytes=...`` header; None to send the whole object.

    Multiple ranges and malformed headers are ignored (RFC 9110 §14.2 allows it): the whole object is
    sent. A range starting at or past the end raises :class:`OffsetOutOfRange` (416).
    """
    if not header:
        return None
    m = _RANGE.match(header)
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise OffsetOutOfRange(f"byte range {header!r} is not satisfiable: the object has {size} bytes",
                                   start=0, end=size, unit="bytes")
        return max(0, size - n), size
    start = int(first)
    end = size if not last else min(int(last) + 1, size)
    if last and int(last) < start:
        return None
    if start >= size:
        raise OffsetOutOfRange(f"byte range {header!r} is not satisfiable: the object has {size} bytes",
                               start=0, end=size, unit="bytes")
    return start, end


async def _body(store: ObjectStore, stream: ObjectStream) -> AsyncIterator[bytes]:
    """The stream's bytes; when S3 cuts the body short (a reset, a truncating proxy), the rest is fetched
    again from where it stopped (same ETag: the bytes cannot change under the download), up to the side's
    ``max_attempts`` in all. Past that the response ends short of its Content-Length, which every HTTP
    client reports as an error: a client never takes a partial body for a whole one."""
    key, pos, end, etag = stream.key, stream.start, stream.end, stream.etag
    attempts = max(1, store.side.max_attempts)
    for attempt in range(attempts):
        try:
            async with stream:
                async for chunk in stream:
                    pos += len(chunk)
                    yield chunk
            return
        except StorageUnavailable as e:
            if attempt + 1 >= attempts or pos >= end:
                raise
            log.info("download of %s cut short at byte %d (%s); resuming", key, pos, e.message)
        stream = await store.open_stream(key, pos, end)
        if etag and stream.etag and stream.etag != etag:
            stream.close()
            raise StorageUnavailable(f"{key} changed during the download ({etag} -> {stream.etag})", key=key)


@router.get("/topics/{topic}/partitions/{partition}/segments/{name}",
            summary="Download a segment (or its .index / .tx) as stored; single Range requests honoured",
            response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}},
                       206: {"description": "Partial content", "content": {"application/octet-stream": {}}}})
async def download_segment(topic: str, partition: PartitionId, name: str, ctx: Ctx, request: Request) -> Response:
    view = ctx.catalog.partition(topic, partition)
    seg, suffix = _find(view, name)
    key = seg.key + suffix
    store = ctx.catalog.store
    if suffix:
        info = await store.head(key)
        if info is None:
            raise ObjectMissing(f"{name} does not exist in the bucket", key=key, topic=topic, partition=partition)
        size = info.size
    else:
        size = seg.meta.size_bytes
    byte_range = parse_range(request.headers.get("range"), size)
    headers = {"Accept-Ranges": "bytes", "Content-Disposition": f'attachment; filename="{name}"'}
    status = 200
    start, end = byte_range if byte_range is not None else (0, size)
    if byte_range is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    if request.scope.get(HEAD_FLAG) or start == end:
        headers["Content-Length"] = str(end - start)
        return Response(b"", status_code=status, headers=headers, media_type="application/octet-stream")
    stream = await store.open_stream(key, start, end)
    headers["Content-Length"] = str(stream.content_length)
    if stream.etag:
        headers["ETag"] = f'"{stream.etag}"'
    if byte_range is not None and stream.size >= 0:
        headers["Content-Range"] = f"bytes {stream.start}-{stream.end - 1}/{stream.size}"
    return StreamingResponse(_body(store, stream), status_code=status, headers=headers,
                             media_type="application/octet-stream")
