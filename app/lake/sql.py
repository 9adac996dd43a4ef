"""SQL over the exported tables: DuckDB in process, read-only, limited.

* **No download at run time**: the ``iceberg``, ``httpfs`` and ``avro`` extensions are loaded from the
  ``duckdb-ext-*`` wheels (``duckdb_ext/extensions``), built for exactly the pinned DuckDB; auto-install and
  auto-load of extensions are off.
* **Every table visible** as a view by its topic name and as ``<namespace>.<topic>``:
  ``iceberg_scan('<newest metadata file>')``, the table files found by listing the warehouse (or named by
  the pyiceberg catalog, when one is given).
* **Read-only and fenced**: exactly one statement, and it must be a SELECT (``WITH`` … included); after the
  views exist the connection allows file access only below the warehouse (``allowed_directories``), turns
  external access off and locks its configuration, so ``read_csv('/etc/passwd')``, another bucket,
  ``COPY ... TO``, ``ATTACH``, ``INSTALL`` and ``SET`` all fail. S3 credentials are a DuckDB secret scoped to
  the warehouse (``duckdb_secrets()`` shows them redacted).
* **Limits** (:class:`~app.config.SqlSettings`): at most ``max_rows`` rows (the result says when it was
  cut), ``timeout`` seconds (the query is interrupted), DuckDB ``memory_limit`` and ``threads``.
* One fresh connection per query: no state leaks from one query (or HTTP client) to the next.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import decimal
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from app.config import SqlSettings
from app.errors import AccessDenied, InvalidRequest
from app.lake.warehouse import Warehouse

__all__ = ["SqlEngine", "SqlResult", "WarehouseQueries", "extension_directory", "json_value"]

EXTENSIONS = ("httpfs", "avro", "iceberg")


def extension_directory() -> Path:
    """Where the ``duckdb-ext-*`` wheels put the extension binaries."""
    import duckdb_ext  # namespace package shipped by the duckdb-ext-* wheels

    return Path(next(iter(duckdb_ext.__path__))) / "extensions"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class SqlResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "types": self.types,
                "rows": [[json_value(v) for v in row] for row in self.rows],
                "row_count": len(self.rows), "truncated": self.truncated, "seconds": round(self.seconds, 4)}


def json_value(v: Any) -> Any:
    """A DuckDB value as JSON: BLOBs as UTF-8 text when they are, else ``{"base64": ...}``."""
    if isinstance(v, bytes | bytearray | memoryview):
        raw = bytes(v)
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(raw).decode()}
    if isinstance(v, datetime.datetime | datetime.date | datetime.time):
        return v.isoformat()
    if isinstance(v, datetime.timedelta):
        return v.total_seconds()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dict):
        return {str(k): json_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [json_value(x) for x in v]
    return v


class SqlEngine:
    """Answers SELECTs over a warehouse's tables. ``tables``: ``(namespace, table)`` → metadata location."""

    def __init__(self, warehouse: Warehouse, tables: Mapping[tuple[str, str], str],
                 settings: SqlSettings | None = None) -> None:
        self.warehouse = warehouse
        self.tables = dict(tables)
        self.settings = settings or SqlSettings()

    def _connect(self) -> Any:
        import duckdb

        con = duckdb.connect(":memory:", config={
            "extension_directory": str(extension_directory()),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "memory_limit": self.settings.memory_limit,
            "threads": max(1, self.settings.threads),
        })
        for ext in EXTENSIONS:
            con.execute(f"LOAD {ext}")
        side = self.warehouse.side
        opts = [f"KEY_ID {_literal(side.access_key_id or '')}", f"SECRET {_literal(side.secret_access_key or '')}",
                f"REGION {_literal(side.region)}", "URL_STYLE 'path'",
                f"SCOPE {_literal(f's3://{side.url.bucket}/')}"]
        if side.session_token:
            opts.append(f"SESSION_TOKEN {_literal(side.session_token)}")
        if side.endpoint_url:
            url = urlparse(side.endpoint_url)
            opts.append(f"ENDPOINT {_literal(url.netloc)}")
            opts.append(f"USE_SSL {'true' if url.scheme == 'https' else 'false'}")
        con.execute(f"CREATE SECRET warehouse (TYPE s3, {', '.join(opts)})")
        namespaces = sorted({ns for ns, _ in self.tables})
        by_name: dict[str, list[str]] = {}
        for ns in namespaces:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(ns)}")
        for (ns, table), location in sorted(self.tables.items()):
            scan = f"SELECT * FROM iceberg_scan({_literal(location)})"
            con.execute(f"CREATE VIEW {_quote(ns)}.{_quote(table)} AS {scan}")
            by_name.setdefault(table, []).append(location)
        for table, locations in by_name.items():
            if len(locations) == 1:  # a topic name in two namespaces stays reachable only qualified
                con.execute(f"CREATE VIEW main.{_quote(table)} AS SELECT * FROM iceberg_scan({_literal(locations[0])})")
        con.execute(f"SET allowed_directories = [{_literal(self.warehouse.location + '/')}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        return con

    @staticmethod
    def check_statement(con: Any, sql: str) -> None:
        """Exactly one statement, a SELECT."""
        import duckdb

        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as e:
            raise InvalidRequest(f"SQL does not parse: {e}", sql=sql) from None
        if len(statements) != 1:
            raise InvalidRequest(f"one SELECT statement per query, not {len(statements)}", sql=sql)
        kind = statements[0].type.name
        if kind != "SELECT":
            raise InvalidRequest(f"only SELECT is allowed (this is {kind}): the tables are read-only",
                                 sql=sql, statement=kind)

    def query(self, sql: str) -> SqlResult:
        """Run one SELECT (blocking; :meth:`run` is the asyncio form with the time limit)."""
        con = self._connect()
        try:
            return self._run(con, sql, None)
        finally:
            con.close()

    def _run(self, con: Any, sql: str, cancelled: threading.Event | None) -> SqlResult:
        import duckdb

        self.check_statement(con, sql)
        started = time.perf_counter()
        try:
            cur = con.execute(sql)
            columns = [d[0] for d in cur.description or []]
            types = [str(d[1]) for d in cur.description or []]
            rows = cur.fetchmany(self.settings.max_rows + 1)
        except duckdb.PermissionException as e:
            raise AccessDenied(f"refused: {e}", sql=sql) from None
        except duckdb.InterruptException:
            if cancelled is not None and cancelled.is_set():
                raise InvalidRequest(f"the query ran longer than {self.settings.timeout:g} s and was stopped",
                                     sql=sql, timeout=self.settings.timeout) from None
            raise
        except duckdb.Error as e:
            raise InvalidRequest(f"{type(e).__name__}: {e}", sql=sql) from None
        truncated = len(rows) > self.settings.max_rows
        return SqlResult(columns, types, rows[: self.settings.max_rows], truncated, time.perf_counter() - started)

    async def run(self, sql: str) -> SqlResult:
        """:meth:`query` in a worker thread, interrupted after ``timeout`` seconds."""
        con = await asyncio.to_thread(self._connect)
        cancelled = threading.Event()
        task = asyncio.ensure_future(asyncio.to_thread(self._run, con, sql, cancelled))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.settings.timeout)
            if not done:
                cancelled.set()
                con.interrupt()
            return await task
        finally:
            await asyncio.to_thread(con.close)


class WarehouseQueries:
    """SQL for a long-running server (``GET /sql``): the table list is looked up again when older than
    ``refresh_seconds`` (tables grow while ``export --follow`` runs), each query gets a fresh engine."""

    def __init__(self, warehouse: Warehouse, settings: SqlSettings,
                 locate: Callable[[], Awaitable[Mapping[tuple[str, str], str]]], *,
                 refresh_seconds: float = 2.0) -> None:
        self.warehouse = warehouse
        self.settings = settings
        self.locate = locate
        self.refresh_seconds = refresh_seconds
        self._tables: Mapping[tuple[str, str], str] = {}
        self._looked_up = -1e9
        self._lock = asyncio.Lock()

    async def tables(self) -> Mapping[tuple[str, str], str]:
        async with self._lock:
            if time.monotonic() - self._looked_up >= self.refresh_seconds:
                self._tables = await self.locate()
                self._looked_up = time.monotonic()
            return self._tables

    async def run(self, sql: str) -> SqlResult:
        return await SqlEngine(self.warehouse, await self.tables(), self.settings).run(sql)
