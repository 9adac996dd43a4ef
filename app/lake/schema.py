"""The table shape: exactly what Redpanda's Iceberg topics write in ``key_value`` mode, field ids included.

Source of truth (redpanda-data/redpanda, ``src/v/datalake/``):

* ``table_definition.cc`` ``schemaless_struct_type()``: struct ``redpanda`` (1, required) with
  ``partition`` int (2, required), ``offset`` long (3, required), ``timestamp`` timestamp (4, required),
  ``headers`` list (5, optional) whose element (6, required) is a struct of ``key`` binary (7, optional) and
  ``value`` binary (8, optional), and ``key`` binary (9, optional); schema id 0.
* ``record_translator.cc`` ``key_value_translator::build_type``: a top-level ``value`` binary (10, optional)
  after the ``redpanda`` struct.
* ``table_definition.cc`` ``hour_partition_spec()``: spec 0 with one field, ``hour`` of source 4, field id
  1000, named ``redpanda_timestamp_hour``.
* ``record_translator.cc`` ``build_rp_struct``: timestamp = Kafka milliseconds × 1000 (Iceberg
  microseconds); an empty header list is written as null; null keys/values stay null.
* ``record_multiplexer.cc``: the record timestamp is ``first_timestamp + timestamp_delta`` of its batch
  (also for LogAppendTime batches).

pyiceberg's ``create_table`` assigns fresh field ids (breadth first: ``value`` would become 2), so tables are
created from metadata we write ourselves and registered (:func:`new_table_metadata`).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.metadata import TableMetadataV2
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER
from pyiceberg.transforms import HourTransform
from pyiceberg.types import (
    BinaryType,
    IntegerType,
    ListType,
    LongType,
    NestedField,
    StructType,
    TimestampType,
)

__all__ = [
    "REDPANDA_PARTITION_SPEC",
    "REDPANDA_SCHEMA",
    "TABLE_PROPERTIES",
    "arrow_schema",
    "new_table_metadata",
    "schema_mismatch",
]

HEADER_STRUCT = StructType(
    NestedField(7, "key", BinaryType(), required=False),
    NestedField(8, "value", BinaryType(), required=False),
)

REDPANDA_SCHEMA = Schema(
    NestedField(1, "redpanda", StructType(
        NestedField(2, "partition", IntegerType(), required=True),
        NestedField(3, "offset", LongType(), required=True),
        NestedField(4, "timestamp", TimestampType(), required=True),
        NestedField(5, "headers", ListType(6, HEADER_STRUCT, element_required=True), required=False),
        NestedField(9, "key", BinaryType(), required=False),
    ), required=True),
    NestedField(10, "value", BinaryType(), required=False),
    schema_id=0,
)

REDPANDA_PARTITION_SPEC = PartitionSpec(
    PartitionField(source_id=4, field_id=1000, transform=HourTransform(), name="redpanda_timestamp_hour"),
    spec_id=0,
)

LAST_COLUMN_ID = 10
LAST_PARTITION_ID = 1000

TABLE_PROPERTIES = {
    "write.parquet.compression-codec": "zstd",
    "write.format.default": "parquet",
    "shadowreplica.layout": "redpanda-key-value",
}


def arrow_schema() -> Any:
    """The pyarrow schema pyiceberg writes for :data:`REDPANDA_SCHEMA` (field ids in the field metadata)."""
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    return schema_to_pyarrow(REDPANDA_SCHEMA)


def new_table_metadata(location: str, *, properties: dict[str, str] | None = None) -> TableMetadataV2:
    """Version-2 metadata of an empty table with Redpanda's schema and spec, ids exactly as above."""
    return TableMetadataV2.model_validate({
        "location": location,
        "table-uuid": uuid.uuid4(),
        "last-updated-ms": int(time.time() * 1000),
        "last-column-id": LAST_COLUMN_ID,
        "schemas": [REDPANDA_SCHEMA],
        "current-schema-id": REDPANDA_SCHEMA.schema_id,
        "partition-specs": [REDPANDA_PARTITION_SPEC],
        "default-spec-id": REDPANDA_PARTITION_SPEC.spec_id,
        "last-partition-id": LAST_PARTITION_ID,
        "properties": {**TABLE_PROPERTIES, **(properties or {})},
        "sort-orders": [UNSORTED_SORT_ORDER],
        "default-sort-order-id": UNSORTED_SORT_ORDER.order_id,
    })


def _fields(schema: Schema) -> list[tuple[str, int, str, bool]]:
    """Every field of a schema, nested ones included: (dotted name, id, type, required)."""
    out: list[tuple[str, int, str, bool]] = []

    def walk(prefix: str, field: NestedField) -> None:
        name = f"{prefix}{field.name}"
        ftype = field.field_type
        if isinstance(ftype, StructType):
            out.append((name, field.field_id, "struct", field.required))
            for child in ftype.fields:
                walk(name + ".", child)
        elif isinstance(ftype, ListType):
            out.append((name, field.field_id, "list", field.required))
            walk(name + ".", ftype.element_field)
        else:
            out.append((name, field.field_id, str(ftype), field.required))

    for f in schema.fields:
        walk("", f)
    return out


def schema_mismatch(schema: Schema, spec: PartitionSpec) -> str | None:
    """Why a table's current schema/spec is not Redpanda's key_value shape (None when it is exactly)."""
    want, got = _fields(REDPANDA_SCHEMA), _fields(schema)
    if want != got:
        missing = [f for f in want if f not in got]
        extra = [f for f in got if f not in want]
        return f"schema differs from Redpanda's key_value schema: missing {missing}, unexpected {extra}"
    want_spec = [(f.source_id, f.field_id, str(f.transform), f.name) for f in REDPANDA_PARTITION_SPEC.fields]
    got_spec = [(f.source_id, f.field_id, str(f.transform), f.name) for f in spec.fields]
    if want_spec != got_spec:
        return f"partition spec {got_spec} is not Redpanda's {want_spec}"
    return None
