"""The HTTP API and web page: :func:`create_app` builds the FastAPI application over the shared read path.

Theory of operation
-------------------
* The app owns nothing it did not make: the catalog, cache and reader are built and started by the
  caller (``shadowreplica http`` or ``run``, shared with the Kafka shim there) and passed in. The app's
  lifespan runs only its own task, the replication lag sampler.
* **Errors** have one shape, ``{"error": <class>, "message": ..., "status": <http>, ...details}``, and one
  mapping to HTTP statuses: :func:`app.errors.http_status`. :func:`app.http.errors.error_response` is the only place that
  turns an error into a response; the exception handlers, the guard middleware and the NDJSON error line
  all go through it (or :func:`error_body`). Request validation failures become
  :class:`~app.errors.InvalidParameter` (422); unknown routes :class:`~app.errors.NotFound`; anything
  unexpected a bare 500 of the same shape, logged with its traceback on the server, never sent.
* **The guard** (pure ASGI middleware, outside routing and the exception handlers) enforces what holds for every route: read-only (any
  method but GET/HEAD is 405 with ``Allow``), the optional bearer token (401 with ``WWW-Authenticate``)
  on everything but the health checks, the page shell and the API docs, HEAD as GET without a body, and
  the HTTP metrics (requests by route template and status, latency until the last body byte). An error
  after the response started (a failing S3 stream) can no longer change the status: it is logged in one
  line and the connection is closed, so the client sees a cut-short body, never a false success.
* Docs at ``/docs`` use Swagger UI assets shipped in a Python package (``fastapi-offline``): no CDN.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.catalog import Catalog
from app.config import HttpSettings, Settings
from app.errors import (
    AccessDenied,
    InvalidParameter,
    InvalidRequest,
    NotFound,
    ReadOnly,
    ShadowReplicaError,
    http_status,
)
from app.group_lag import GroupLagSampler, GroupLagSource
from app.http.context import HttpContext
from app.http.errors import READ_METHODS, error_body, error_response
from app.http.replication import CatalogComparison, LagHistory, ReplicationSource, replication_families
from app.http.routes import catalog as catalog_routes
from app.http.routes import groups as groups_routes
from app.http.routes import ops as ops_routes
from app.http.routes import records as records_routes
from app.http.routes import sql as sql_routes
from app.http.routes.catalog import HEAD_FLAG
from app.metrics import Metrics
from app.reader import PartitionReader

log = logging.getLogger(__name__)

__all__ = ["create_app", "error_body", "error_response"]

STATIC = Path(__file__).parent / "static"
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/", "/favicon.ico", "/docs", "/openapi.json"})
PUBLIC_PREFIXES = ("/static/", "/docs-assets/")


# ---------------------------------------------------------------------------------------------- errors


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ShadowReplicaError)
    if http_status(exc) >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, exc.message)
    return error_response(exc)


def _param_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc[1:]) or str(loc[0]) if loc else "request"


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [{"parameter": _param_name(tuple(e.get("loc", ()))), "in": (e.get("loc") or ["?"])[0],
                 "message": e.get("msg", "invalid")} for e in exc.errors()]
    first = problems[0] if problems else {"parameter": "request", "message": "invalid request"}
    return error_response(InvalidParameter(f"{first['parameter']}: {first['message']}",
                                           parameter=first["parameter"], problems=problems))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error: ShadowReplicaError
    if exc.status_code == 404:
        error = NotFound(f"no such resource: {request.url.path}", path=request.url.path)
    elif exc.status_code == 405:
        error = ReadOnly(f"{request.method} is not allowed on {request.url.path}", method=request.method)
    else:
        error = InvalidRequest(str(exc.detail), path=request.url.path)
    return error_response(error)


# ----------------------------------------------------------------------------------------------- guard


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class Guard:
    """Read-only, bearer token, HEAD, HTTP metrics, and errors after the response started (see module doc)."""

    def __init__(self, app: ASGIApp, *, token: str | None, metrics: Metrics) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.metrics = metrics

    def _authorized(self, scope: Scope) -> bool:
        if self.token is None:
            return True
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]
        path = scope["path"]
        state = {"status": 500, "started": False}
        head = method == "HEAD"

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
            elif message["type"] == "http.response.body" and head and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        try:
            if method not in READ_METHODS:
                await error_response(ReadOnly(f"this replica is read-only: {method} is not allowed",
                                              method=method))(scope, receive, send_wrapper)
            elif not _is_public(path) and not self._authorized(scope):
                await error_response(AccessDenied("missing or wrong bearer token (Authorization: Bearer ...)",
                                                  authenticated=False))(scope, receive, send_wrapper)
            else:
                if head:
                    scope = {**scope, "method": "GET", HEAD_FLAG: True}
                await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, ShadowReplicaError) else exc
            if state["started"]:
                if isinstance(cause, ShadowReplicaError):
                    log.warning("%s %s: response cut short: %s", method, path, cause.message)
                else:
                    log.error("%s %s: response cut short", method, path, exc_info=exc)
                return  # the server closes the connection: the client sees a short body
            log.error("%s %s: internal error", method, path, exc_info=exc)
            await error_response(ShadowReplicaError("internal error; the server log has the details"))(
                scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or ("/static" if path.startswith("/static/") else "unmatched")
            self.metrics.http_requests.labels(route=template, method=method, status=str(state["status"])).inc()
            self.metrics.http_duration.labels(route=template).observe(time.perf_counter() - started)


# ------------------------------------------------------------------------------------------------- app


def create_app(
    settings: Settings | HttpSettings,
    catalog: Catalog,
    reader: PartitionReader,
    *,
    metrics: Metrics | None = None,
    replication: ReplicationSource | None = None,
    bucket_name: str = "",
    lag_metrics: bool = True,
    sql: Any = None,
    groups: GroupLagSource | None = None,
) -> FastAPI:
    """The API + page over ``catalog``/``reader`` (built, started and stopped by the caller).

    ``metrics``: the process's registry (a new one if omitted; the caller registers its store/cache/catalog
    collectors). ``replication``: where ``/replication`` comes from (default: the served bucket alone);
    ``lag_metrics=False`` when another component already exports ``shadowreplica_replication_*``.
    ``sql``: answers ``GET /sql`` (an :class:`app.lake.sql.WarehouseQueries`); None: the route says it is off.
    ``groups``: consumer-group lag (``/groups``, ``shadowreplica_group_lag_*``); sampled by the app's lifespan.
    """
    http = settings.http if isinstance(settings, Settings) else settings
    metrics = metrics or Metrics()
    replication = replication or CatalogComparison(catalog, dest_name=bucket_name)
    history = LagHistory(replication, interval=http.lag_history_interval, capacity=http.lag_history_samples)
    if lag_metrics:
        metrics.add_collector(lambda: replication_families(replication))
    sampler = None
    if groups is not None:
        sampler = GroupLagSampler(groups, interval=http.group_lag_interval, capacity=http.lag_history_samples,
                                  max_series=http.group_lag_max_series)
        metrics.add_collector(sampler.families)
    ctx = HttpContext(settings=http, catalog=catalog, reader=reader, metrics=metrics, replication=replication,
                      history=history, groups=sampler)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        history.start()
        if sampler is not None:
            sampler.start()
        try:
            yield
        finally:
            await history.stop()
            if sampler is not None:
                await sampler.stop()

    app = FastAPI(
        title="shadowreplica",
        summary="Read-only HTTP API over a Redpanda tiered-storage bucket: topics, segments, records, replication.",
        version="0.1.0",
        # no 307 to the path without its trailing slash: "/topics/orders%2F" decodes to "/topics/orders/" and
        # would be redirected to the topic "orders" (a name the client did not send); it is a 404 instead
        redirect_slashes=False,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.sql = sql
    app.add_exception_handler(ShadowReplicaError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

    bearer = [Depends(HTTPBearer(auto_error=False, description="HttpSettings.token, when set"))]
    app.include_router(catalog_routes.router, dependencies=bearer)
    app.include_router(records_routes.router, dependencies=bearer)
    app.include_router(ops_routes.router, dependencies=bearer)
    app.include_router(groups_routes.router, dependencies=bearer)
    app.include_router(sql_routes.router, dependencies=bearer)
    app.include_router(ops_routes.health)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _mount_docs(app)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    app.add_middleware(Guard, token=http.token, metrics=metrics)
    return app


def _mount_docs(app: FastAPI) -> None:
    import fastapi_offline

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="shadowreplica API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon.png")
