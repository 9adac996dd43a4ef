"""Operations: ``/replication`` (+ history), ``/metrics``, ``/healthz``, ``/readyz``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from app.http.context import HttpContext, get_context
from app.metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])
health = APIRouter(tags=["health"])

Ctx = Annotated[HttpContext, Depends(get_context)]


@router.get("/replication", summary="Per partition: source vs destination offsets, lag, restorable point, errors")
async def replication(ctx: Ctx) -> dict[str, Any]:
    """Also ``cost``: this process's S3 requests per side and operation, per hour, in dollars at list prices;
    ``following``: by events (and each queue's state) or by polling."""
    return {**ctx.replication.status().to_dict(), "cost": ctx.metrics.cost(), "following": ctx.metrics.following()}


@router.get("/replication/history", summary="Replication lag samples per partition (lag-over-time chart)")
async def replication_history(
    ctx: Ctx,
    topic: Annotated[str | None, Query()] = None,
    partition: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    h = ctx.history
    return {"interval": h.interval, "capacity": h.samples.maxlen, "series": list(h.series(topic, partition))}


@router.get("/metrics", summary="Prometheus metrics (text exposition format)", response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
async def metrics(ctx: Ctx) -> Response:
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE)


@health.get("/healthz", summary="Liveness: the process serves requests")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health.get("/readyz", summary="Readiness: the bucket's manifests are loaded (503 until then)")
async def readyz(ctx: Ctx) -> JSONResponse:
    checks = {
        "catalog": ctx.catalog.ready,
        "replication": ctx.replication.ready(),
    }
    ready = all(checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks,
            "topics": len(ctx.catalog.topics), "partitions": len(ctx.catalog.partitions()),
            "errors": dict(ctx.catalog.errors)}
    return JSONResponse(body, status_code=200 if ready else 503)
