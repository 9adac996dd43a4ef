"""``GET /sql?q=``: one read-only SELECT over the exported Iceberg tables (``app.lake.sql``).

Enabled when the server is given a warehouse (``shadowreplica http --warehouse``, ``run --warehouse``);
otherwise a query is a 404 saying so. Without ``q`` it lists the tables (and says whether SQL is enabled). Token auth, read-only methods and the error shape are the app's (the guard).
Bad SQL is a 400 with DuckDB's message; file or network access outside the warehouse a 403; a query over
the time limit a 400 that says so.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.errors import NotFound

router = APIRouter(tags=["sql"])

# A query travels in the URL: percent-encoded it can triple, and uvicorn (h11) refuses a request line and
# headers over 16 KiB by closing the connection. 4,096 characters stay under it in any encoding.
MAX_QUERY_CHARS = 4096


@router.get("/sql", summary="Run one SELECT over the exported Iceberg tables (DuckDB; read-only, row and time "
                          "limits); without q, the tables and limits")
async def sql(request: Request, q: Annotated[str | None, Query(min_length=1, max_length=MAX_QUERY_CHARS,
                                                                description="one SELECT statement")] = None
              ) -> dict[str, Any]:
    queries = getattr(request.app.state, "sql", None)
    if q is None:  # what can be queried here
        if queries is None:
            return {"enabled": False, "tables": [],
                    "message": "SQL is not enabled on this server: start it with --warehouse s3://bucket/prefix"}
        tables = await queries.tables()
        return {"enabled": True, "warehouse": queries.warehouse.location,
                "tables": [{"table": f"{ns}.{name}", "name": name, "metadata_location": location}
                           for (ns, name), location in sorted(tables.items())],
                "max_rows": queries.settings.max_rows, "timeout": queries.settings.timeout}
    if queries is None:
        raise NotFound("SQL is not enabled on this server: start it with --warehouse s3://bucket/prefix")
    result = await queries.run(q)
    body: dict[str, Any] = result.to_dict()
    return body
