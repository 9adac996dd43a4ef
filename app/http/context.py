"""What every route needs, built once by :func:`app.http.app.create_app` and kept on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from app.catalog import Catalog
from app.config import HttpSettings
from app.group_lag import GroupLagSampler
from app.http.replication import LagHistory, ReplicationSource
from app.metrics import Metrics
from app.reader import PartitionReader

__all__ = ["HttpContext", "get_context"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpContext:
    settings: HttpSettings
    catalog: Catalog
    reader: PartitionReader
    metrics: Metrics
    replication: ReplicationSource
    history: LagHistory
    groups: GroupLagSampler | None = None
    """Consumer-group lag (None when the process has no group offsets to read)."""


def get_context(request: Request) -> HttpContext:
    """FastAPI dependency: the app's :class:`HttpContext`."""
    ctx: HttpContext = request.app.state.ctx
    return ctx
