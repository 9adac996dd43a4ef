"""SQL over the exported tables: DuckDB in process, read-only, limited.

* **No download at run time**: the ``iceberg``, ``httpfs`` and ``avro`` extensions are loaded from the
  ``duckdb-ext-*`` wheels (``duckdb_ext/extensions``), built for exactly the pinned DuckDB; auto-install and
  auto-load of extensions are off.
* **Every table visible** as a view by its topic name and as ``<namespace>.<topic>``:
  ``iceberg_scan('<newest metadata file>')``, the table files found by listing the warehouse (or named by
  the pyiceberg catalog, when one is given).
* **Time ranges prune files** (:mod:`app.lake.prune`): when every reference to a table bounds
  ``redpanda.timestamp``, its view reads only the data files pyiceberg plans for that range (partition
  ``hour(redpanda.timestamp)`` and column bounds), as Spark or Trino would; DuckDB 1.4's ``iceberg_scan``
  alone opens every file of the table.
* **Read-only and fenced**: exactly one statement, and it must be a SELECT (``WITH`` … included); after the
  views exist the connection allows file access only below the warehouse (``allowed_directories``), turns
  external access off and locks its configuration, so ``read_csv('/etc/passwd')``, another bucket,
  ``COPY ... TO``, ``ATTACH``, ``INSTALL`` and ``SET`` all fail. S3 credentials are a DuckDB secret scoped to
  the warehouse (``duckdb_secrets()`` shows them redacted).
* **Limits** (:class:`~app.config.SqlSettings`): at most ``max_rows`` rows (the result says when it was
  cut), ``timeout`` seconds (the query is interrupted), DuckDB ``memory_limit`` and ``threads``.
* Nothing outlives a query: each runs in a transaction of its own on a database already fenced and locked,
  its views are created in that transaction and rolled back with it. Databases (extensions loaded, ~0.4 s
  of CPU each) are kept for the next query, ``idle_databases`` of them per warehouse; each serves one query
  at a time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import decimal
import json
import logging
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
from app.lake.prune import Bound
from app.lake.warehouse import Warehouse

log = logging.getLogger(__name__)

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

    def _database(self) -> Any:
        """A new database: extensions loaded, the warehouse's secret, then fenced and locked (module doc)."""
        import duckdb

        db = duckdb.connect(":memory:", config={
            "extension_directory": str(extension_directory()),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "memory_limit": self.settings.memory_limit,
            "threads": max(1, self.settings.threads),
        })
        try:
            for ext in EXTENSIONS:
                db.execute(f"LOAD {ext}")
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
            db.execute(f"CREATE SECRET warehouse (TYPE s3, {', '.join(opts)})")
            db.execute(f"SET allowed_directories = [{_literal(self.warehouse.location + '/')}]")
            db.execute("SET enable_external_access = false")
            db.execute("SET lock_configuration = true")
        except BaseException:
            db.close()
            raise
        return db

    def _pool_key(self) -> tuple[object, ...]:
        """What a database is built from (:meth:`_database`): the warehouse (location, endpoint, credentials)
        and the two settings DuckDB is opened with."""
        return (self.warehouse, self.settings.memory_limit, self.settings.threads)

    def _connect(self, sql: str | None = None) -> _Lease:
        """One query's connection: a transaction on a ready database (a pooled one, else a new one) in which
        the table views exist. :meth:`_release` rolls it back, so nothing a query saw outlives it."""
        key = self._pool_key()
        db = _DATABASES.borrow(key) or self._database()
        con = db.cursor()
        lease = _Lease(key, db, con)
        try:
            con.execute("BEGIN TRANSACTION")
            pruned = self._pruned_files(con, sql) if sql is not None else {}
            namespaces = sorted({ns for ns, _ in self.tables})
            by_name: dict[str, list[str]] = {}
            for ns in namespaces:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(ns)}")
            for (ns, table), location in sorted(self.tables.items()):
                con.execute(f"CREATE VIEW {_quote(ns)}.{_quote(table)} AS {_scan(location, pruned.get(location))}")
                by_name.setdefault(table, []).append(location)
            for table, locations in by_name.items():
                if len(locations) == 1:  # a topic name in two namespaces stays reachable only qualified
                    con.execute(f"CREATE VIEW main.{_quote(table)} AS {_scan(locations[0], pruned.get(locations[0]))}")
        except BaseException:
            self._release(lease)
            raise
        return lease

    def _release(self, lease: _Lease) -> None:
        """Roll the query's transaction back (its views go) and give the database back to the pool; a
        database that cannot roll back is closed instead."""
        try:
            lease.con.execute("ROLLBACK")
            lease.con.close()
        except Exception:
            lease.db.close()
            return
        _DATABASES.give_back(lease.key, lease.db, self.settings.idle_databases)

    def _pruned_files(self, con: Any, sql: str) -> dict[str, list[str]]:
        """Metadata location → the data files that can hold rows of ``sql``, for the tables it bounds in time
        (the others are absent: their views scan everything). Any doubt means no pruning, never an error."""
        import duckdb

        from app.lake.prune import time_bounds

        try:  # the query's connection, before its views exist and its configuration is locked
            row = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
            tree = json.loads(row[0]) if row else {}
        except (duckdb.Error, TypeError, ValueError):
            return {}
        if tree.get("error") or len(tree.get("statements") or []) != 1:
            return {}
        bounds = time_bounds(tree["statements"][0], lambda node: _timestamp_constant(con, node))
        names: dict[str, list[str]] = {}
        for ns, table in self.tables:
            names.setdefault(table.lower(), []).append(self.tables[(ns, table)])
        by_location: dict[str, Bound] = {}
        for ref, bound in bounds.items():
            if ref.schema.lower() in ("", "main"):
                matches = names.get(ref.name.lower(), [])
                location = matches[0] if len(matches) == 1 else None
            else:
                location = next((loc for (ns, t), loc in self.tables.items()
                                 if ns.lower() == ref.schema.lower() and t.lower() == ref.name.lower()), None)
            if location is None:
                continue
            before = by_location.get(location)
            by_location[location] = bound if before is None else (before.cover(bound) if before.bounded else before)
        return {loc: files for loc, bound in by_location.items() if bound.bounded
                and (files := self._plan(loc, bound)) is not None}

    def _plan(self, location: str, bound: Bound) -> list[str] | None:
        """The data files of the table at ``location`` that pyiceberg keeps for ``bound`` (None: do not prune,
        e.g. the table has delete files, or planning failed)."""
        from pyiceberg.table import StaticTable

        conditions = []
        if bound.low is not None:
            conditions.append(f"redpanda.timestamp {'>' if bound.low_strict else '>='} '{bound.low.isoformat()}'")
        if bound.high is not None:
            conditions.append(f"redpanda.timestamp {'<' if bound.high_strict else '<='} '{bound.high.isoformat()}'")
        try:
            table = StaticTable.from_metadata(location, properties=self.warehouse.fileio_properties())
            tasks = list(table.scan(row_filter=" and ".join(conditions)).plan_files())
        except Exception as e:  # planning is an optimisation: the full scan still answers
            log.warning("SQL: no file pruning for %s (%s: %s)", location, type(e).__name__, e)
            return None
        if any(task.delete_files for task in tasks):
            return None
        return sorted(task.file.file_path for task in tasks)

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
        lease = self._connect(sql)
        try:
            return self._run(lease.con, sql, None)
        finally:
            self._release(lease)

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
        lease = await asyncio.to_thread(self._connect, sql)
        cancelled = threading.Event()
        task = asyncio.ensure_future(asyncio.to_thread(self._run_then_release, lease, sql, cancelled))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.settings.timeout)
            if not done:
                cancelled.set()
                _interrupt(lease)
            return await task
        except asyncio.CancelledError:
            _interrupt(lease)  # the caller went: stop the query (its thread then gives the database back)
            raise

    def _run_then_release(self, lease: _Lease, sql: str, cancelled: threading.Event) -> SqlResult:
        """The query and then its release, in one worker thread: a database goes back to the pool only once
        nothing runs on it any more, whatever happened to the caller."""
        try:
            return self._run(lease.con, sql, cancelled)
        finally:
            self._release(lease)


def _interrupt(lease: _Lease) -> None:
    """Interrupt the query running on ``lease`` (one that has just ended, and been released, needs none)."""
    with contextlib.suppress(Exception):
        lease.con.interrupt()


@dataclass(frozen=True, slots=True)
class _Lease:
    """A database lent to one query, and that query's connection to it."""

    key: tuple[object, ...]
    db: Any
    con: Any


class _DatabasePool:
    """Ready databases by warehouse and limits, each lent to one query at a time (thread-safe: queries run in
    worker threads). Loading the three extensions costs ~0.4 s of CPU per database."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[object, ...], list[Any]] = {}

    def borrow(self, key: tuple[object, ...]) -> Any | None:
        with self._lock:
            idle = self._idle.get(key)
            return idle.pop() if idle else None

    def give_back(self, key: tuple[object, ...], db: Any, keep: int) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < keep:
                idle.append(db)
                return
        db.close()


_DATABASES = _DatabasePool()


def _scan(location: str, files: list[str] | None) -> str:
    """The SELECT behind a table's view: the whole table, or only ``files`` (no file: no row)."""
    if files is None:
        return f"SELECT * FROM iceberg_scan({_literal(location)})"
    if not files:
        return f"SELECT * FROM iceberg_scan({_literal(location)}) WHERE false"
    return f"SELECT * FROM read_parquet([{', '.join(_literal(f) for f in files)}])"


_TIMESTAMP_CASTS = {"TIMESTAMP", "DATE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"}


def _timestamp_constant(con: Any, node: Mapping[str, Any]) -> datetime.datetime | None:
    """A constant compared with ``redpanda.timestamp`` (a string, or one cast to TIMESTAMP or DATE) as DuckDB
    reads it; None for anything else (a TIMESTAMPTZ depends on the session's time zone: not pruned)."""
    import duckdb

    cast = "TIMESTAMP"
    if node.get("type") == "OPERATOR_CAST":
        cast = str((node.get("cast_type") or {}).get("id"))
        node = node.get("child") or {}
        if cast not in _TIMESTAMP_CASTS:
            return None
    value = node.get("value") if node.get("type") == "VALUE_CONSTANT" else None
    if not isinstance(value, Mapping) or value.get("is_null") or (value.get("type") or {}).get("id") != "VARCHAR":
        return None
    try:
        row = con.execute(f"SELECT CAST(CAST(? AS {cast}) AS TIMESTAMP)", [str(value.get("value"))]).fetchone()
    except duckdb.Error:
        return None
    result = row[0] if row else None
    return result if isinstance(result, datetime.datetime) else None


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
