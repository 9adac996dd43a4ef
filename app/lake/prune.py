"""Time-range pruning for SQL over the exported tables.

DuckDB 1.4's ``iceberg_scan`` pushes a filter on ``redpanda.timestamp`` into the scan but does not prune data
files on it (the field sits inside the ``redpanda`` struct, where Redpanda's schema puts it): a one-hour query
opens the footer of every file of the table. Engines that plan with the partition spec
(``hour(redpanda.timestamp)``) read only that hour's files; this module lets ``sql`` do the same.

:func:`time_bounds` reads the parsed query (DuckDB's ``json_serialize_sql``) and finds, for every reference
to a table, the bounds the query puts on ``redpanda.timestamp`` *for that reference*: the comparisons with a
timestamp constant (``>``, ``>=``, ``<``, ``<=``, ``=``, ``BETWEEN``) that are top-level conjuncts of the
``WHERE`` of a ``SELECT`` whose ``FROM`` is exactly that table. Anything else (the table in a join, a
subquery, an ``OR``, a function of the column, a ``TIMESTAMPTZ``) gives that reference no bound, and a table
is pruned only when *every* reference to it is bounded (then to the union of the ranges). Being
conservative is the point: a bound found here is implied by the query, so files outside it hold no row the
query can return. Pure: dictionaries in, ranges out; the caller evaluates the constants with DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["Bound", "TableRef", "time_bounds"]

_LOWER = {"COMPARE_GREATERTHAN", "COMPARE_GREATERTHANOREQUALTO"}
_UPPER = {"COMPARE_LESSTHAN", "COMPARE_LESSTHANOREQUALTO"}
_FLIP = {"COMPARE_GREATERTHAN": "COMPARE_LESSTHAN", "COMPARE_GREATERTHANOREQUALTO": "COMPARE_LESSTHANOREQUALTO",
         "COMPARE_LESSTHAN": "COMPARE_GREATERTHAN", "COMPARE_LESSTHANOREQUALTO": "COMPARE_GREATERTHANOREQUALTO",
         "COMPARE_EQUAL": "COMPARE_EQUAL"}


@dataclass(frozen=True, slots=True)
class TableRef:
    """A table as a query names it: ``schema`` is ``""`` when unqualified."""

    schema: str
    name: str


def _outer(
    a: datetime | None, a_strict: bool, b: datetime | None, b_strict: bool, *, lower: bool
) -> tuple[datetime | None, bool]:
    """The outer of two ends on one side of a range (None: open; strict: the end itself excluded)."""
    if a is None or b is None:
        return None, False
    if a == b:
        return a, a_strict and b_strict
    return (a, a_strict) if (a < b) == lower else (b, b_strict)


@dataclass(frozen=True, slots=True)
class Bound:
    """Range of ``redpanda.timestamp`` (None: open on that side); ``*_strict``: the end itself is excluded."""

    low: datetime | None = None
    high: datetime | None = None
    low_strict: bool = False
    high_strict: bool = False

    def narrow(self, *, low: datetime | None = None, high: datetime | None = None, strict: bool = False) -> Bound:
        """This range and also ``> low`` / ``< high`` (``>=`` / ``<=`` unless ``strict``)."""
        out = self
        if low is not None and (out.low is None or low > out.low or (low == out.low and strict)):
            out = Bound(low, out.high, strict, out.high_strict)
        if high is not None and (out.high is None or high < out.high or (high == out.high and strict)):
            out = Bound(out.low, high, out.low_strict, strict)
        return out

    def cover(self, other: Bound) -> Bound:
        """The smallest range holding both."""
        low, low_strict = _outer(self.low, self.low_strict, other.low, other.low_strict, lower=True)
        high, high_strict = _outer(self.high, self.high_strict, other.high, other.high_strict, lower=False)
        return Bound(low, high, low_strict, high_strict)

    @property
    def bounded(self) -> bool:
        return self.low is not None or self.high is not None


# evaluates a constant expression node (VALUE_CONSTANT, or a cast of one) to a naive timestamp, else None
Evaluate = Callable[[Mapping[str, Any]], datetime | None]


def time_bounds(tree: Mapping[str, Any], evaluate: Evaluate) -> dict[TableRef, Bound]:
    """For each table referenced in the parsed statement ``tree``: the range the query limits it to
    (``Bound()`` when some reference is not limited). Raises nothing on shapes it does not know."""
    found: dict[TableRef, Bound] = {}
    bounded_refs: set[int] = set()
    for node in _nodes(tree):
        if node.get("type") == "SELECT_NODE":
            table = node.get("from_table")
            if isinstance(table, Mapping) and table.get("type") == "BASE_TABLE":
                ref = _ref(table)
                bound = _where_bound(node.get("where_clause"), table, evaluate)
                if bound.bounded:
                    bounded_refs.add(id(table))
                    found[ref] = found[ref].cover(bound) if ref in found else bound
    for node in _nodes(tree):  # every reference not bounded above leaves its table unbounded
        if node.get("type") == "BASE_TABLE" and id(node) not in bounded_refs:
            found[_ref(node)] = Bound()
    return found


def _ref(table: Mapping[str, Any]) -> TableRef:
    return TableRef(str(table.get("schema_name") or ""), str(table.get("table_name") or ""))


def _nodes(tree: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(tree, Mapping):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def _conjuncts(where: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(where, Mapping):
        return
    if where.get("type") == "CONJUNCTION_AND":
        for child in where.get("children") or []:
            yield from _conjuncts(child)
    else:
        yield where


def _is_timestamp_column(expr: Any, table: Mapping[str, Any]) -> bool:
    """``redpanda.timestamp``, or qualified by the table's alias or name."""
    if not isinstance(expr, Mapping) or expr.get("type") != "COLUMN_REF":
        return False
    names = [str(n) for n in expr.get("column_names") or []]
    if names == ["redpanda", "timestamp"]:
        return True
    qualifiers = {str(table.get("alias") or ""), str(table.get("table_name") or "")} - {""}
    return len(names) == 3 and names[0] in qualifiers and names[1:] == ["redpanda", "timestamp"]


def _where_bound(where: Any, table: Mapping[str, Any], evaluate: Evaluate) -> Bound:
    bound = Bound()
    for c in _conjuncts(where):
        kind = str(c.get("type"))
        if kind == "COMPARE_BETWEEN" and _is_timestamp_column(c.get("input"), table):
            bound = bound.narrow(low=evaluate(c.get("lower") or {}), high=evaluate(c.get("upper") or {}))
        elif kind in _FLIP:
            left, right = c.get("left"), c.get("right")
            if _is_timestamp_column(right, table):  # constant < column: the column > constant
                left, right, kind = right, left, _FLIP[kind]
            if not _is_timestamp_column(left, table) or not isinstance(right, Mapping):
                continue
            value = evaluate(right)
            if value is None:
                continue
            strict = kind in ("COMPARE_GREATERTHAN", "COMPARE_LESSTHAN")
            if kind in _LOWER:
                bound = bound.narrow(low=value, strict=strict)
            elif kind in _UPPER:
                bound = bound.narrow(high=value, strict=strict)
            else:
                bound = bound.narrow(low=value, high=value)
    return bound
