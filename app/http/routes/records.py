"""``GET /topics/{topic}/partitions/{p}/records``: by offset, timestamp or key; JSON or streamed NDJSON."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from app.errors import InvalidParameter, InvalidRequest, ShadowReplicaError
from app.http.codec import Decode, parse_key
from app.http.context import HttpContext, get_context
from app.http.records import Outcome, Plan, iter_records, plan_query
from app.http.routes.catalog import PartitionId

log = logging.getLogger(__name__)

router = APIRouter(tags=["records"])

Ctx = Annotated[HttpContext, Depends(get_context)]
NDJSON = "application/x-ndjson"
_PLUS_AS_SPACE = re.compile(r"^(.*\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")  # time, space, offset


def parse_timestamp(text: str, parameter: str) -> int:
    """Milliseconds since the epoch from an integer or an ISO-8601 date-time (``Z`` or an offset; naive = UTC)."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    # an unencoded "+" in a query string arrives as a space: "2026-01-01T01:00:00 01:00" means "+01:00"
    text = _PLUS_AS_SPACE.sub(r"\1+\2", text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidParameter(f"{parameter} must be milliseconds since the epoch or an ISO-8601 date-time, "
                               f"not {text!r}", parameter=parameter) from None
    if dt.tzinfo is None:
        from datetime import UTC

        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@router.get(
    "/topics/{topic}/partitions/{partition}/records",
    summary="Records by offset, timestamp or key (bounded window), as JSON or streamed NDJSON",
    responses={200: {"content": {"application/json": {}, NDJSON: {}},
                     "description": "JSON: one document with `records` and `next_offset`. NDJSON: one record per "
                                    'line, then `{"end": {"next_offset": ...}}` (or `{"error": {...}}`).'}},
)
async def get_records(
    topic: str,
    partition: PartitionId,
    ctx: Ctx,
    request: Request,
    offset: Annotated[int | None, Query(ge=0, description="first Kafka offset (default: the log start)")] = None,
    timestamp: Annotated[str | None, Query(
        description="start at the first record at or after this time (ms since epoch or ISO-8601)")] = None,
    key: Annotated[str | None, Query(description="only records with this key, within a bounded window")] = None,
    key_encoding: Annotated[Literal["utf8", "base64", "hex"], Query(description="how `key` is written")] = "utf8",
    window: Annotated[int | None, Query(ge=1, description="key search: offsets to scan (default and cap: "
                                                          "the server's key_search_window)")] = None,
    until: Annotated[str | None, Query(description="key search: stop at batches after this time")] = None,
    limit: Annotated[int | None, Query(ge=1, description="records to return (capped by the server)")] = None,
    decode: Annotated[Decode, Query(description="how values are shown")] = "auto",
    isolation: Annotated[Literal["read_uncommitted", "read_committed"], Query(
        description="read_committed omits the records of aborted transactions (read_uncommitted, the "
                    "default, returns them with `aborted: true`), as Kafka's isolation levels")] = "read_uncommitted",
    format: Annotated[Literal["json", "ndjson"] | None, Query(
        description="json (default) or ndjson (streamed; also chosen by `Accept: application/x-ndjson`)")] = None,
) -> Response:
    settings = ctx.settings
    fmt = format or ("ndjson" if NDJSON in request.headers.get("accept", "") else "json")
    cap = settings.max_records if fmt == "json" else settings.max_stream_records
    limit = min(settings.default_records, cap) if limit is None else limit
    if limit > cap:
        raise InvalidParameter(f"limit {limit} is over the cap of {cap} for format={fmt}"
                               + (" (use format=ndjson to stream more)" if fmt == "json" else ""),
                               parameter="limit", max=cap)
    if offset is not None and timestamp is not None:
        raise InvalidRequest("give offset or timestamp, not both", parameter="timestamp")
    if key is None and (window is not None or until is not None):
        raise InvalidRequest("window and until apply to key searches only (add key=...)", parameter="window")
    if window is not None and window > settings.key_search_window:
        raise InvalidParameter(f"window {window} is over the cap of {settings.key_search_window} offsets",
                               parameter="window", max=settings.key_search_window)
    ts = parse_timestamp(timestamp, "timestamp") if timestamp is not None else None
    until_ts = parse_timestamp(until, "until") if until is not None else None
    key_bytes = parse_key(key, key_encoding) if key is not None else None

    started = time.perf_counter()
    face = "http"
    ctx.metrics.fetch_requests.labels(face=face).inc()
    try:
        plan = await plan_query(ctx.reader, topic=topic, partition=partition, offset=offset, timestamp=ts,
                                key=key_bytes, until=until_ts, window=window or settings.key_search_window,
                                limit=limit, decode=decode, read_committed=isolation == "read_committed",
                                settings=settings)
    except ShadowReplicaError as e:
        ctx.metrics.fetch_errors.labels(face=face, error=type(e).__name__).inc()
        raise
    outcome = Outcome(next_offset=plan.start, high_watermark=plan.high_watermark,
                      log_start_offset=plan.log_start_offset)

    def done(error: ShadowReplicaError | None = None) -> None:
        ctx.metrics.fetch_duration.labels(face=face).observe(time.perf_counter() - started)
        ctx.metrics.fetch_records.labels(face=face).inc(outcome.count)
        if error is not None:
            ctx.metrics.fetch_errors.labels(face=face, error=type(error).__name__).inc()

    if fmt == "ndjson":
        return StreamingResponse(_ndjson(ctx, plan, outcome, done), media_type=NDJSON,
                                 headers={"X-Start-Offset": str(plan.start), "Cache-Control": "no-store"})
    try:
        records = [r async for r in iter_records(ctx.reader, plan, outcome)]
    except ShadowReplicaError as e:
        done(e)
        raise
    done()
    body = {"topic": topic, "partition": partition, "start_offset": plan.start, **_tail(plan, outcome),
            "records": records}
    return JSONResponse(body, headers={"X-Next-Offset": str(outcome.next_offset), "Cache-Control": "no-store"})


def _tail(plan: Plan, outcome: Outcome) -> dict[str, Any]:
    out: dict[str, Any] = {
        "next_offset": outcome.next_offset,
        "count": outcome.count,
        "high_watermark": outcome.high_watermark,
        "log_start_offset": outcome.log_start_offset,
    }
    if plan.timestamp_match is not None:
        out["timestamp_match"] = {"offset": plan.timestamp_match[0], "timestamp": plan.timestamp_match[1]}
    if plan.key is not None:
        out["scanned"] = {"from": plan.start, "to": outcome.scanned_to, "window_end": plan.end}
    out.update(outcome.extra)
    return out


async def _ndjson(ctx: HttpContext, plan: Plan, outcome: Outcome, done: Any) -> AsyncIterator[bytes]:
    """Records one per line as they are read; a final ``end`` line, or an ``error`` line if reading fails."""
    from app.http.errors import error_body  # the one error shape

    batch: list[str] = []
    try:
        async for record in iter_records(ctx.reader, plan, outcome):
            batch.append(_dumps(record))
            if len(batch) >= 64:
                yield ("\n".join(batch) + "\n").encode()
                batch.clear()
    except ShadowReplicaError as e:
        done(e)
        if batch:
            yield ("\n".join(batch) + "\n").encode()
        yield (_dumps({"error": error_body(e)}) + "\n").encode()
        return
    done()
    if batch:
        yield ("\n".join(batch) + "\n").encode()
    yield (_dumps({"end": {"topic": plan.topic, "partition": plan.partition, "start_offset": plan.start,
                           **_tail(plan, outcome)}}) + "\n").encode()
