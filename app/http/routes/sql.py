"""``GET /sql?q=``: one read-only SELECT over the exported Iceberg tables (``app.lake.sql``).

Enabled when the server is given a warehouse (``shadowreplica http --warehouse``, ``run --with export``);
otherwise 404 saying so. Token auth, read-only methods and the error shape are the app's (the guard).
Bad SQL is a 400 with DuckDB's message; file or network access outside the warehouse a 403; a query over
the time limit a 400 that says so.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.errors import NotFound

router = APIRouter(tags=["sql"])


@router.get("/sql", summary="Run one SELECT over the exported Iceberg tables (DuckDB; read-only, row and time limits)")
async def sql(request: Request, q: Annotated[str, Query(min_length=1, max_length=100_000,
                                                         description="one SELECT statement")]) -> dict[str, Any]:
    queries = getattr(request.app.state, "sql", None)
    if queries is None:
        raise NotFound("SQL is not enabled on this server: start it with --warehouse s3://bucket/prefix")
    result = await queries.run(q)
    body: dict[str, Any] = result.to_dict()
    return body
