"""Which tables a query bounds in time (`app.lake.prune.time_bounds`), on trees from DuckDB's own parser.

A bound must be implied by the query (the pruned files hold no row it can return), so every shape that does not
plainly imply one (OR, NOT, joins, subqueries, a function of the column, TIMESTAMPTZ) must give none."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb
import pytest

from app.lake.prune import Bound, TableRef, time_bounds
from app.lake.sql import _timestamp_constant

ORDERS = TableRef("", "orders")
H10, H11, H12 = datetime(2026, 3, 1, 10), datetime(2026, 3, 1, 11), datetime(2026, 3, 1, 12)


def bounds(sql: str) -> dict[TableRef, Bound]:
    with duckdb.connect() as con:
        tree: dict[str, Any] = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
        assert not tree["error"], tree
        return time_bounds(tree["statements"][0], lambda node: _timestamp_constant(con, node))


@pytest.mark.parametrize(("sql", "want"), [
    ("SELECT * FROM orders WHERE redpanda.timestamp >= '2026-03-01 10:00' AND redpanda.timestamp < "
     "'2026-03-01 11:00'", Bound(H10, H11, high_strict=True)),
    ("SELECT count(*) FROM orders o WHERE o.redpanda.timestamp > TIMESTAMP '2026-03-01 10:00:00' AND key = 'k'",
     Bound(H10, None, low_strict=True)),
    ("SELECT * FROM orders WHERE redpanda.timestamp BETWEEN '2026-03-01 10:00' AND DATE '2026-03-02'",
     Bound(H10, datetime(2026, 3, 2))),
    ("SELECT * FROM orders WHERE TIMESTAMP '2026-03-01 11:00' >= redpanda.timestamp", Bound(None, H11)),
    ("SELECT * FROM orders WHERE redpanda.timestamp = '2026-03-01 10:00'", Bound(H10, H10)),
    ("SELECT * FROM orders WHERE orders.redpanda.timestamp >= '2026-03-01 10:00' AND "
     "redpanda.timestamp >= '2026-03-01 11:00' AND redpanda.timestamp <= '2026-03-01 12:00'", Bound(H11, H12)),
    # DuckDB's parser already turns NOT (a < b) into a >= b (the same rows: NULL passes neither)
    ("SELECT * FROM orders WHERE NOT (redpanda.timestamp < '2026-03-01 10:00')", Bound(H10, None)),
    # each reference bounded: the union of the two ranges
    ("SELECT * FROM orders WHERE redpanda.timestamp BETWEEN '2026-03-01 10:00' AND '2026-03-01 11:00' UNION ALL "
     "SELECT * FROM orders WHERE redpanda.timestamp BETWEEN '2026-03-01 11:00' AND '2026-03-01 12:00'",
     Bound(H10, H12)),
])
def test_bounds_the_query_implies(sql: str, want: Bound) -> None:
    assert bounds(sql)[ORDERS] == want


@pytest.mark.parametrize("sql", [
    "SELECT * FROM orders",
    "SELECT * FROM orders WHERE redpanda.timestamp >= '2026-03-01' OR key = 'k'",
    "SELECT * FROM orders WHERE date_trunc('hour', redpanda.timestamp) = '2026-03-01 10:00'",
    "SELECT * FROM orders WHERE redpanda.timestamp >= TIMESTAMPTZ '2026-03-01 10:00+00'",
    "SELECT * FROM orders WHERE redpanda.timestamp >= now() - INTERVAL 1 HOUR",
    "SELECT * FROM orders WHERE redpanda.timestamp >= 'not a time'",
    "SELECT * FROM orders WHERE redpanda.partition >= '2026-03-01'",
    "SELECT * FROM (SELECT * FROM orders) WHERE redpanda.timestamp >= '2026-03-01'",
    "SELECT * FROM orders o JOIN payments p ON o.key = p.key WHERE o.redpanda.timestamp >= '2026-03-01'",
    # one reference bounded, another not: the table is read whole
    "SELECT * FROM orders WHERE redpanda.timestamp >= '2026-03-01' UNION ALL SELECT * FROM orders",
    "WITH o AS (SELECT * FROM orders) SELECT * FROM o WHERE redpanda.timestamp >= '2026-03-01'",
    "SELECT * FROM orders WHERE key IN (SELECT key FROM orders WHERE redpanda.timestamp < '2026-03-01') "
    "AND redpanda.timestamp >= '2026-03-01'",
])
def test_no_bound_unless_implied(sql: str) -> None:
    assert not bounds(sql).get(ORDERS, Bound()).bounded


def test_qualified_names_are_their_own_references() -> None:
    got = bounds("SELECT * FROM redpanda.orders WHERE redpanda.timestamp < '2026-03-01 10:00'")
    assert got == {TableRef("redpanda", "orders"): Bound(None, H10, high_strict=True)}


@pytest.mark.parametrize(("a", "b", "want"), [
    (Bound(H10, H11), Bound(H11, H12), Bound(H10, H12)),  # the outer end of each side
    (Bound(H11, H12, True, True), Bound(H10, H11), Bound(H10, H12, False, True)),  # each end keeps its strictness
    (Bound(H10, H12, True, True), Bound(H10, H12), Bound(H10, H12)),  # a shared end is strict only if both are
    (Bound(H10, H12, True, True), Bound(H10, H12, True, True), Bound(H10, H12, True, True)),
    (Bound(None, H11), Bound(H10, H12), Bound(None, H12)),  # an open side stays open
    (Bound(H10, H11, True, True), Bound(H10, None), Bound(H10, None)),
])
def test_cover_is_the_smallest_range_holding_both(a: Bound, b: Bound, want: Bound) -> None:
    assert a.cover(b) == want
    assert b.cover(a) == want
