"""The one error shape of the HTTP API and the one error → response mapping (statuses from
:func:`app.errors.http_status`): every route, the guard middleware and the NDJSON error line use these."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from app.errors import OffsetOutOfRange, ReadOnly, ShadowReplicaError, StorageError, http_status

__all__ = ["READ_METHODS", "error_body", "error_response"]

READ_METHODS = ("GET", "HEAD")


def error_body(error: ShadowReplicaError) -> dict[str, Any]:
    """The stable JSON shape of an error."""
    body = error.to_dict()
    body["status"] = http_status(error)
    if isinstance(error, StorageError):
        body["retriable"] = error.retriable
    return body


def error_response(error: ShadowReplicaError, headers: dict[str, str] | None = None) -> JSONResponse:
    """THE error → response mapping (status from :func:`app.errors.http_status`)."""
    status = http_status(error)
    extra = dict(headers or {})
    if status == 401:
        extra.setdefault("WWW-Authenticate", 'Bearer realm="shadowreplica"')
    if isinstance(error, ReadOnly):
        extra.setdefault("Allow", ", ".join(READ_METHODS))
    if isinstance(error, OffsetOutOfRange) and error.details.get("unit") == "bytes":
        extra.setdefault("Content-Range", f"bytes */{error.end}")
    if isinstance(error, StorageError) and error.retriable:
        extra.setdefault("Retry-After", "1")
    return JSONResponse(error_body(error), status_code=status, headers=extra)
