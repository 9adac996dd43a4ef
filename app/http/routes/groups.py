"""Consumer groups: ``/groups`` and ``/groups/{group}`` (committed offsets, lag in offsets and time, where
each offset came from, members where this process coordinates the group, lag over time)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from app.errors import InvalidRequest
from app.http.context import HttpContext, get_context

router = APIRouter(tags=["consumer groups"])

Ctx = Annotated[HttpContext, Depends(get_context)]


def _groups(ctx: HttpContext) -> Any:
    if ctx.groups is None:
        raise InvalidRequest("consumer groups are not available in this process")
    return ctx.groups


@router.get("/groups", summary="Every consumer group with offsets in the bucket: state, members, total lag")
async def list_groups(ctx: Ctx) -> dict[str, Any]:
    source = _groups(ctx).source
    return {"groups": [g.as_dict(partitions=False) for g in await source.all()]}


@router.get("/groups/{group}", summary="One group per partition: committed offset, high watermark, lag, source")
async def describe_group(ctx: Ctx, group: Annotated[str, Path(min_length=1, max_length=255)]) -> dict[str, Any]:
    sampler = _groups(ctx)
    lag = await sampler.source.lag(group)
    return {**lag.as_dict(), "history": {"interval": sampler.interval, "series": sampler.series(group)}}
