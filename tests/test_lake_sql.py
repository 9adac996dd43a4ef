"""`sql` and ``GET /sql``: DuckDB over the exported tables, read-only and fenced, with limits.

One exported warehouse for the module (seeded bucket → ``export``); expected values come from the
independent decode in ``tests/lake_support.py``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import HttpSettings, S3Side, SqlSettings
from app.errors import AccessDenied, InvalidRequest
from app.lake.sql import _DATABASES, SqlEngine, WarehouseQueries
from app.lake.warehouse import Warehouse, find_tables
from app.store import ensure_bucket
from tests.conftest import make_side, unique_bucket
from tests.lake_support import SPEC, Expected, expected_for, export, seed_sync, warehouse_side

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, `make test-fast` does not

TOKEN = "sql-test-token"


@pytest.fixture(scope="module")
def lake(s3_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3Side, Expected, Warehouse]]:
    side = make_side(s3_server, unique_bucket("lake"), "eu-west-1", side="dest")
    asyncio.run(ensure_bucket(side))
    seed_sync(side, **SPEC)
    tmp = tmp_path_factory.mktemp("lake")
    results = asyncio.run(export(side, tmp))
    assert all(r.error is None for r in results)
    yield side, expected_for(side, **SPEC), Warehouse(warehouse_side(side))


def engine(wh: Warehouse, **settings: Any) -> SqlEngine:
    tables = {k: v.metadata_location for k, v in asyncio.run(find_tables(wh)).items()}
    return SqlEngine(wh, tables, SqlSettings(**settings))


# ---------------------------------------------------------------------------------------- answers


def test_tables_by_topic_name_and_qualified(lake: tuple[S3Side, Expected, Warehouse]) -> None:
    _, expected, wh = lake
    e = engine(wh)
    plain = e.query('SELECT count(*) FROM "sensor-readings"').rows
    qualified = e.query('SELECT count(*) FROM redpanda."sensor-readings"').rows
    assert plain == qualified == [(sum(expected.count("sensor-readings").values()),)]


def test_readme_examples(lake: tuple[S3Side, Expected, Warehouse]) -> None:
    """The README's three examples give what the independent decode says."""
    _, expected, wh = lake
    e = engine(wh, max_rows=100_000)
    # decode JSON values: orders over 900 (amount), per currency
    got = e.query("""
        SELECT json_extract_string(decode(value), '$.currency') AS currency, count(*) AS orders
        FROM orders
        WHERE CAST(json_extract(decode(value), '$.amount') AS DOUBLE) > 900
        GROUP BY 1 ORDER BY 1""").rows
    want: Counter[str] = Counter()
    for (topic, _p), rows in expected.rows.items():
        for row in rows.values():
            if topic == "orders" and row.value is not None:
                doc = json.loads(row.value)
                if doc["amount"] > 900:
                    want[doc["currency"]] += 1
    assert dict(got) == dict(want) and sum(want.values()) > 0
    # count per hour
    got = e.query("""
        SELECT date_trunc('hour', redpanda.timestamp) AS hour, count(*) FROM payments GROUP BY 1 ORDER BY 1""").rows
    per_hour: Counter[int] = Counter()
    for (topic, _p), rows in expected.rows.items():
        if topic == "payments":
            for row in rows.values():
                per_hour[row.timestamp_ms // 3_600_000] += 1
    assert [n for _, n in got] == [per_hour[h] for h in sorted(per_hour)] and len(per_hour) >= 2
    # keys that appear in two topics
    got = e.query("""
        SELECT o.redpanda.key AS key FROM orders o
        WHERE o.redpanda.key IS NOT NULL
        INTERSECT SELECT p.redpanda.key FROM payments p""").rows
    keys = {t: {r.key for (tt, _), rows in expected.rows.items() if tt == t for r in rows.values() if r.key}
            for t in ("orders", "payments")}
    assert {k for (k,) in got} == keys["orders"] & keys["payments"] != set()


# -------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("sql", [
    "INSERT INTO orders SELECT * FROM orders",
    "DELETE FROM orders",
    "CREATE TABLE t AS SELECT 1",
    "DROP VIEW orders",
    "COPY (SELECT 1) TO '/tmp/shadowreplica-sql-test.csv'",
    "ATTACH '/tmp/x.db' AS x",
    "INSTALL spatial",
    "LOAD spatial",
    "SET enable_external_access = true",
    "PRAGMA memory_limit='64GB'",
    "PRAGMA threads=64",
    "EXPLAIN SELECT 1",
    "SELECT 1; SELECT 2",
    "SELECT 1; DROP VIEW orders",
])
def test_only_one_select(lake: tuple[S3Side, Expected, Warehouse], sql: str) -> None:
    with pytest.raises(InvalidRequest, match=r"one SELECT statement|only SELECT is allowed"):
        engine(lake[2]).query(sql)


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM 'https://example.com/data.parquet'",
    "SELECT * FROM read_parquet('s3://another-bucket/x.parquet')",
    "SELECT * FROM glob('/root/*')",
])
def test_no_file_or_network_access_outside_the_warehouse(lake: tuple[S3Side, Expected, Warehouse], sql: str) -> None:
    with pytest.raises((AccessDenied, InvalidRequest)) as info:
        engine(lake[2]).query(sql)
    assert "disabled by configuration" in info.value.message or "Permission" in info.value.message


def test_settings_locked_and_secrets_redacted(lake: tuple[S3Side, Expected, Warehouse]) -> None:
    e = engine(lake[2])
    (row,) = e.query("SELECT secret_string FROM duckdb_secrets()").rows
    assert "secret=redacted" in row[0] and "secret=test" not in row[0]  # the secret key never comes back
    (row,) = e.query("SELECT current_setting('lock_configuration'), current_setting('enable_external_access'), "
                     "current_setting('autoinstall_known_extensions')").rows
    assert row == (True, False, False)


def test_row_and_time_limits(lake: tuple[S3Side, Expected, Warehouse]) -> None:
    wh = lake[2]
    res = engine(wh, max_rows=5).query("SELECT * FROM range(100)")
    assert len(res.rows) == 5 and res.truncated
    slow = engine(wh, timeout=0.5)
    with pytest.raises(InvalidRequest, match=r"longer than 0\.5 s"):
        asyncio.run(slow.run("SELECT count(*) FROM range(100000000000) a"))


def test_a_kept_database_carries_nothing_from_one_query_to_the_next(lake: tuple[S3Side, Expected, Warehouse]) -> None:
    """Databases are kept between queries (loading the extensions costs ~0.4 s of CPU), each query in a
    transaction of its own: the next query, here one that knows only another table, sees none of the views of
    the one before; a refused, timed-out or abandoned query leaves the database as fenced as it was; two
    queries at once get a database each; ``idle_databases = 0`` keeps none."""
    wh = lake[2]
    tables = {k: v.metadata_location for k, v in asyncio.run(find_tables(wh)).items()}

    def only(topic: str, **settings: Any) -> SqlEngine:
        return SqlEngine(wh, {k: v for k, v in tables.items() if k[1] == topic}, SqlSettings(timeout=0.5, **settings))

    def views(e: SqlEngine) -> list[tuple[Any, ...]]:
        return e.query("SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1, 2").rows

    orders, payments = only("orders"), only("payments")
    assert orders.query("SELECT count(*) FROM orders").rows[0][0] > 0
    kept = {id(db) for db in _DATABASES._idle[orders._pool_key()]}
    assert kept
    with pytest.raises(InvalidRequest, match="orders"):
        payments.query("SELECT count(*) FROM orders")
    assert views(payments) == [("main", "payments"), ("redpanda", "payments")]
    with pytest.raises(AccessDenied):
        orders.query("SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(InvalidRequest, match=r"longer than 0\.5 s"):
        asyncio.run(orders.run("SELECT count(*) FROM range(100000000000) a"))

    async def caller_goes_mid_query() -> None:
        query = asyncio.ensure_future(orders.run("SELECT count(*) FROM range(100000000000) a"))
        await asyncio.sleep(0.2)
        query.cancel()
        with pytest.raises(asyncio.CancelledError):
            await query

    asyncio.run(caller_goes_mid_query())  # the query is interrupted, its thread gives the database back
    assert views(orders) == [("main", "orders"), ("redpanda", "orders")]
    (row,) = orders.query("SELECT current_setting('lock_configuration'), current_setting('enable_external_access')").rows
    assert row == (True, False)
    assert {id(db) for db in _DATABASES._idle[orders._pool_key()]} == kept  # the same databases, not new ones

    async def both() -> list[Any]:
        return list(await asyncio.gather(orders.run("SELECT count(*) FROM orders"),
                                         payments.run("SELECT count(*) FROM payments")))

    assert [r.rows[0][0] for r in asyncio.run(both())] == [
        orders.query("SELECT count(*) FROM orders").rows[0][0], payments.query("SELECT count(*) FROM payments").rows[0][0]]
    assert len(_DATABASES._idle[orders._pool_key()]) == 2
    _DATABASES._idle[orders._pool_key()].clear()
    assert only("orders", idle_databases=0).query("SELECT 1").rows == [(1,)]
    assert not _DATABASES._idle[orders._pool_key()]


def test_bad_sql_says_why(lake: tuple[S3Side, Expected, Warehouse]) -> None:
    with pytest.raises(InvalidRequest, match=r"does not parse|Parser"):
        engine(lake[2]).query("SELEKT 1")
    with pytest.raises(InvalidRequest, match="no_such_topic"):
        engine(lake[2]).query("SELECT * FROM no_such_topic")


# ------------------------------------------------------------------------------------------ HTTP


async def _client(lake: tuple[S3Side, Expected, Warehouse]) -> httpx.AsyncClient:
    from app.catalog import Catalog
    from app.http.app import create_app
    from app.store import ObjectStore

    side, _, wh = lake
    store = ObjectStore(side)
    catalog = Catalog(store)

    async def locate() -> dict[tuple[str, str], str]:
        return {k: v.metadata_location for k, v in (await find_tables(wh)).items()}

    app = create_app(HttpSettings(token=TOKEN), catalog, None,  # type: ignore[arg-type]
                     sql=WarehouseQueries(wh, SqlSettings(max_rows=1000, timeout=10), locate))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_http_sql_route_off_without_a_warehouse(lake: tuple[S3Side, Expected, Warehouse]) -> None:
    from app.catalog import Catalog
    from app.http.app import create_app
    from app.store import ObjectStore

    app = create_app(HttpSettings(), Catalog(ObjectStore(lake[0])), None)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        r = await client.get("/sql", params={"q": "SELECT 1"})
        listing = (await client.get("/sql")).json()
    assert r.status_code == 404 and "--warehouse" in r.json()["message"]
    assert listing["enabled"] is False and listing["tables"] == []


async def test_http_sql_route(lake: tuple[S3Side, Expected, Warehouse]) -> None:
    _, expected, _ = lake
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with await _client(lake) as client:
        r = await client.get("/sql", params={"q": "SELECT 1"})
        assert r.status_code == 401  # token auth like every other route
        r = await client.get("/sql", params={"q": "SELECT redpanda.partition AS p, count(*) AS n FROM orders "
                                                  "GROUP BY 1 ORDER BY 1"}, headers=auth)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["columns"] == ["p", "n"] and not body["truncated"]
        assert {p: n for p, n in body["rows"]} == expected.count("orders")
        r = await client.get("/sql", params={"q": "SELECT value FROM orders WHERE value IS NOT NULL LIMIT 1"},
                             headers=auth)
        assert json.loads(r.json()["rows"][0][0])["currency"]  # a UTF-8 BLOB comes back as text
        listing = (await client.get("/sql", headers=auth)).json()
        assert listing["enabled"] and {t["table"] for t in listing["tables"]} == {
            "redpanda.orders", "redpanda.payments", "redpanda.clickstream", "redpanda.sensor-readings"}
        r = await client.get("/sql", params={"q": "SELEKT 1"}, headers=auth)
        assert r.status_code == 400 and r.json()["error"] == "InvalidRequest" and "SELEKT" in r.json()["message"]
        r = await client.get("/sql", params={"q": "DROP VIEW orders"}, headers=auth)
        assert r.status_code == 400 and "only SELECT" in r.json()["message"]
        r = await client.get("/sql", params={"q": "SELECT * FROM read_csv('/etc/passwd')"}, headers=auth)
        assert r.status_code == 403 and r.json()["error"] == "AccessDenied"
        r = await client.post("/sql", params={"q": "SELECT 1"}, headers=auth)
        assert r.status_code == 405


# ------------------------------------------------------------------------------------------- CLI


def test_sql_command_json_and_csv(lake: tuple[S3Side, Expected, Warehouse], capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    side, expected, wh = lake
    assert side.endpoint_url is not None
    cli = ["sql", "--warehouse", wh.location, "--warehouse-endpoint-url", side.endpoint_url,
           "--warehouse-region", side.region]
    q = "SELECT redpanda.partition AS p, count(*) AS n FROM clickstream GROUP BY 1 ORDER BY 1"
    assert main([*cli, q, "--json"]) == 0
    assert {p: n for p, n in json.loads(capsys.readouterr().out)["rows"]} == expected.count("clickstream")
    assert main([*cli, q, "--csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["p", "n"] and {int(p): int(n) for p, n in rows[1:]} == expected.count("clickstream")
    assert main([*cli, "DROP VIEW clickstream"]) == 1
    assert capsys.readouterr().err.strip().startswith("error: only SELECT is allowed")


# ---------------------------------------------------------------------------------------- browser


async def test_page_sql_view_in_a_browser(lake: tuple[S3Side, Expected, Warehouse], tmp_path: Path) -> None:
    """The page's SQL view in Debian's Chromium: type a query, run it, the results table shows what the
    independent decode says; bad SQL shows the API's error."""
    import os

    from playwright.async_api import async_playwright, expect

    from tests.browser_support import CHROMIUM_FLAGS, OUTPUT, ensure_chromium
    from tests.http_fixtures import running

    chromium = ensure_chromium()
    side, expected, wh = lake
    assert side.endpoint_url is not None
    args = ["http", "--bucket", str(side.url), "--region", side.region, "--endpoint-url", side.endpoint_url,
            "--warehouse", wh.location, "--listen", "127.0.0.1:0", "--cache-dir", str(tmp_path)]
    async with running(*args, env={"SHADOWREPLICA_HTTP_TOKEN": TOKEN}) as url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_FLAGS,
                                           env={**os.environ, "HOME": str(tmp_path)})
        page = await browser.new_page(viewport={"width": 1200, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            await page.goto(url + "/#/sql")
            await expect(page.locator("#sql-input")).to_be_visible()
            await page.fill("#sql-input", "SELECT redpanda.partition AS p, count(*) AS n FROM orders GROUP BY 1 ORDER BY 1")
            await page.click("#sql-run")
            await expect(page.locator("#token-dialog")).to_be_visible()  # /sql needs the token
            await page.fill("#token-input", TOKEN)
            await page.click("#token-dialog button[type=submit]")
            rows = page.locator("#sql-table tbody tr")
            await expect(rows).to_have_count(len(expected.count("orders")))
            shown = {int(await r.locator("td").nth(0).inner_text()): int(await r.locator("td").nth(1).inner_text())
                     for r in await rows.all()}
            assert shown == expected.count("orders")
            OUTPUT.mkdir(exist_ok=True)
            await page.screenshot(path=str(OUTPUT / "lake_sql_view.png"), full_page=True)
            await page.fill("#sql-input", "DROP VIEW orders")
            await page.click("#sql-run")
            await expect(page.locator("#sql-results .error")).to_contain_text("only SELECT is allowed")
            assert errors == []
        finally:
            await browser.close()


async def test_http_sql_query_length_limit(lake: tuple[S3Side, Expected, Warehouse]) -> None:
    """A query longer than fits a URL is a 422 naming the parameter (schemathesis found a 100,000-character
    one made uvicorn drop the connection)."""
    from app.http.routes.sql import MAX_QUERY_CHARS

    async with await _client(lake) as client:
        r = await client.get("/sql", params={"q": ":" * (MAX_QUERY_CHARS + 1)},
                             headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 422 and r.json()["parameter"] == "q"


# ---------------------------------------------------------------------------------------- pruning


async def test_a_time_range_reads_only_its_hours_files(lake: tuple[S3Side, Expected, Warehouse]) -> None:
    """A one-hour query fetches only the Parquet files of that hour's partition (every S3 request seen by a
    proxy in front of the S3 server) and counts what the independent decode finds in that hour; the same
    query written so that no bound is implied (an OR) reads every file and counts the same."""
    import dataclasses
    import datetime
    import urllib.parse

    from localstack.faultproxy import FaultProxy

    side, expected, wh = lake
    stamps = sorted(row.timestamp_ms for (t, _), rows in expected.rows.items() if t == "orders" for row in rows.values())
    hour_ms = stamps[len(stamps) // 2] // 3_600_000 * 3_600_000
    start = datetime.datetime.fromtimestamp(hour_ms / 1000, datetime.UTC).replace(tzinfo=None)
    end = start + datetime.timedelta(hours=1)
    want = sum(1 for ms in stamps if hour_ms <= ms < hour_ms + 3_600_000)
    assert side.endpoint_url is not None
    proxy = await FaultProxy.for_endpoint(side.endpoint_url).start()
    try:
        via = Warehouse(dataclasses.replace(wh.side, endpoint_url=proxy.endpoint))
        tables = {k: v.metadata_location for k, v in (await find_tables(wh)).items()}
        e = SqlEngine(via, tables, SqlSettings())

        async def parquet_files(sql: str) -> tuple[int, set[str]]:
            proxy.seen.clear()
            rows = (await e.run(sql)).rows
            return rows[0][0], {urllib.parse.unquote(s.split(" ", 1)[1].split("?", 1)[0]) for s in proxy.seen
                                if s.startswith("GET ") and ".parquet" in s}

        hour_sql = f"SELECT count(*) FROM orders WHERE redpanda.timestamp >= '{start}' AND redpanda.timestamp < '{end}'"
        count, files = await parquet_files(hour_sql)
        assert count == want > 0
        partition = f"/redpanda_timestamp_hour={start:%Y-%m-%d-%H}/"
        assert files and all(partition in f for f in files), files
        unbounded = hour_sql.replace("WHERE", "WHERE (") + ") OR (value IS NULL AND value IS NOT NULL)"
        all_count, all_files = await parquet_files(unbounded)
        assert all_count == want and len(all_files) > len(files)
    finally:
        await proxy.close()
