"""A fix for one pyiceberg write bug that changes data: null lists of structs written as empty lists.

pyiceberg (0.12) projects every Arrow batch onto the table schema before writing Parquet; for a list whose
elements are structs it rebuilds the list with ``LargeListArray.from_arrays(offsets, values)`` (a workaround
for apache/arrow#38809) and so drops the list's validity bitmap: a null ``redpanda.headers`` (Redpanda writes
null for a record without headers, ``record_translator.cc``) would be read back as ``[]``.

:func:`keep_null_lists` wraps the projection's ``list`` step to put the bitmap back. It is applied once, on
import of :mod:`app.lake.export`, and changes nothing when pyiceberg already kept the nulls (the result's
null count equals the input's). ``tests/test_lake_export.py`` reads the nulls back through pyiceberg and
DuckDB and compares them with an independent decode.
"""

from __future__ import annotations

from typing import Any

__all__ = ["keep_null_lists"]

_MARK = "_shadowreplica_keeps_null_lists"


def keep_null_lists() -> None:
    from pyiceberg.io import pyarrow as pyiceberg_arrow

    visitor = pyiceberg_arrow.ArrowProjectionVisitor
    original = visitor.list
    if getattr(original, _MARK, False):
        return

    def list_with_nulls(self: Any, list_type: Any, list_array: Any, value_array: Any) -> Any:
        result = original(self, list_type, list_array, value_array)
        if (result is not None and list_array is not None and list_array.null_count
                and result.null_count != list_array.null_count):
            result = type(result).from_arrays(result.offsets, result.values, type=result.type,
                                              mask=list_array.is_null())
        return result

    setattr(list_with_nulls, _MARK, True)
    visitor.list = list_with_nulls  # type: ignore[method-assign]
