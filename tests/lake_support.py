"""Independent expectations for the Iceberg export tests: what a read_committed consumer must see.

Nothing here uses the service's code: segments are listed and fetched with boto3, batch headers parsed
with ``struct`` (Redpanda's 61-byte little-endian header), Kafka offsets translated by counting the
batch types Redpanda's offset translator removes, each data batch re-framed as a Kafka v2 batch and decoded
by kafka-python's ``DefaultRecordBatch`` (its CRC checked), and aborted transactions taken from the
segments' ``.tx`` JSON. Timestamps are ``first_timestamp + timestamp_delta`` as Redpanda's datalake
translator computes them (``record_multiplexer.cc``), in milliseconds.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from kafka.record.default_records import DefaultRecordBatch

from app.config import CacheSettings, ExportSettings, S3Side
from app.lake.export import Exporter, TableResult
from app.lake.options import LakeOptions, open_lake, topic_filter
from app.lake.warehouse import Warehouse
from app.metrics import Metrics
from app.readpath import open_read_path
from tests.conftest import make_side

RP_HEADER = struct.Struct("<IiqbIhiqqqhii")
KAFKA_HEADER = struct.Struct(">qiibIhiqqqhii")
# model::offset_translator_batch_types() (src/v/model/record_batch_types.h): batches that take Redpanda offsets
# but no Kafka offsets: raft_configuration, archival_metadata, version_fence, prefix_truncate,
# partition_properties_update, datalake_translation_state
TRANSLATED_AWAY = {2, 19, 23, 25, 34, 38}
RAFT_DATA = 1
CONTROL = 0x20
TRANSACTIONAL = 0x10
LOG_APPEND_TIME = 0x08
EPOCH = datetime.datetime(1970, 1, 1)
# both layouts: hash-prefixed ({xxh32:08x}/ns/topic/p_rev/...) and labeled ({cluster uuid}/ns/topic/p_rev/...)
SEGMENT = re.compile(r"^(?:[0-9a-f]{8}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/(?P<ns>[^/]+)/"
                     r"(?P<topic>[^/]+)/(?P<p>\d+)_\d+/(?P<base>\d+)-[^/]*\.log(\.\d+)?$")


@dataclass(frozen=True, slots=True)
class Row:
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[bytes, bytes | None], ...] | None


@dataclass(slots=True)
class Expected:
    """Per (topic, partition): Kafka offset → row of every committed data record; what was skipped."""

    rows: dict[tuple[str, int], dict[int, Row]] = field(default_factory=dict)
    aborted_records: int = 0
    control_batches: int = 0
    codecs: set[int] = field(default_factory=set)
    log_append_time_batches: int = 0

    def count(self, topic: str) -> dict[int, int]:
        return {p: len(rows) for (t, p), rows in self.rows.items() if t == topic}


def s3_client(side: S3Side) -> Any:
    return boto3.client("s3", endpoint_url=side.endpoint_url, region_name=side.region,
                        aws_access_key_id=side.access_key_id, aws_secret_access_key=side.secret_access_key)


def list_keys(side: S3Side, prefix: str = "") -> list[str]:
    s3 = s3_client(side)
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=side.url.bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


def _kafka_batch(header: tuple[Any, ...], records: bytes, kafka_base: int, attrs: int) -> DefaultRecordBatch:
    (_hcrc, size, _base, _type, crc, _attrs, lod, first_ts, max_ts, pid, epoch, seq, count) = header
    wire = KAFKA_HEADER.pack(kafka_base, size - 12, 0, 2, crc, attrs, lod, first_ts, max_ts, pid, epoch, seq,
                             count) + records
    return DefaultRecordBatch(wire)


def expected_records(side: S3Side, namespace: str = "kafka") -> Expected:
    """Decode every partition of the bucket independently (see the module docstring)."""
    s3 = s3_client(side)
    keys = list_keys(side)
    segments: dict[tuple[str, int], list[tuple[int, str]]] = {}
    for key in keys:
        m = SEGMENT.match(key)
        if m and m["ns"] == namespace:
            segments.setdefault((m["topic"], int(m["p"])), []).append((int(m["base"]), key))
    tx_keys = {k for k in keys if k.endswith(".tx")}
    out = Expected()
    for tp, segs in sorted(segments.items()):
        rows: dict[int, Row] = {}
        delta = 0
        next_rp = None
        for _base, key in sorted(segs):
            body = s3.get_object(Bucket=side.url.bucket, Key=key)["Body"].read()
            aborted = []
            if key + ".tx" in tx_keys:
                doc = json.loads(s3.get_object(Bucket=side.url.bucket, Key=key + ".tx")["Body"].read())
                aborted = [(r["pid.id"], r["first"], r["last"]) for r in doc["ranges"]]
            pos = 0
            while pos + RP_HEADER.size <= len(body):
                header = RP_HEADER.unpack_from(body, pos)
                size, base, btype, attrs, lod = header[1], header[2], header[3], header[5], header[6]
                if size == 0:
                    break
                records = body[pos + RP_HEADER.size: pos + size]
                pos += size
                if next_rp is not None and base < next_rp:
                    continue  # overlapping segments: already counted
                next_rp = base + lod + 1
                if btype in TRANSLATED_AWAY:
                    delta += lod + 1
                    continue
                if btype != RAFT_DATA:
                    continue  # tx_fence and friends: a Kafka offset, never served
                kafka_base = base - delta
                batch = _kafka_batch(header, records, kafka_base, attrs)
                assert batch.validate_crc(), f"{key}: CRC of batch at {base}"
                if attrs & CONTROL:
                    out.control_batches += 1
                    continue
                is_aborted = bool(attrs & TRANSACTIONAL) and any(
                    pid == header[9] and first <= base <= last for pid, first, last in aborted)
                if is_aborted:
                    out.aborted_records += header[12]
                    continue
                out.codecs.add(attrs & 0x07)
                if attrs & LOG_APPEND_TIME:
                    out.log_append_time_batches += 1
                    # kafka-python reports max_timestamp for LogAppendTime; Redpanda's datalake takes
                    # first_timestamp + delta: decode a copy with the flag cleared (CRC already checked)
                    batch = _kafka_batch(header, records, kafka_base, attrs & ~LOG_APPEND_TIME)
                for r in batch:
                    headers = tuple((k.encode(), v) for k, v in r.headers) or None
                    rows[r.offset] = Row(r.timestamp, r.key, r.value, headers)
        out.rows[tp] = rows
    return out


def segment_terms(side: S3Side) -> set[int]:
    """Terms named by segment keys (``{base}-{committed}-{size}-{term}-v1.log.{archiver_term}``)."""
    return {int(m.group(1)) for k in list_keys(side) if (m := re.search(r"-(\d+)-v1\.log", k))}


def table_rows(arrow_table: Any) -> dict[tuple[int, int], Row]:
    """Rows read back (pyarrow table of the exported schema) keyed by (partition, offset); asserts once each."""
    out: dict[tuple[int, int], Row] = {}
    for rec in arrow_table.to_pylist():
        rp = rec["redpanda"]
        ident = (rp["partition"], rp["offset"])
        assert ident not in out, f"(partition, offset) {ident} appears twice"
        ms = (rp["timestamp"].replace(tzinfo=None) - EPOCH) // datetime.timedelta(milliseconds=1)
        headers = tuple((h["key"], h["value"]) for h in rp["headers"]) if rp["headers"] is not None else None
        out[ident] = Row(ms, rp["key"], rec["value"], headers)
    return out


_GENERATED: dict[tuple[tuple[str, Any], ...], list[tuple[str, bytes]]] = {}
_EXPECTED: dict[tuple[str, tuple[tuple[str, Any], ...]], Expected] = {}


def seed_sync(side: S3Side, **spec: Any) -> None:
    """Write a seeded bucket: ``seed``'s generator (pure, in process, generated once per spec and kept), then
    parallel PUTs; ``append=True`` goes through ``seed_bucket`` (it continues the manifests in the bucket)."""
    from concurrent.futures import ThreadPoolExecutor

    from app.tools.seedgen import SeedSpec, generate_partition, topic_manifest_object

    if spec.pop("append", False):
        from app.tools.seed import seed_bucket

        asyncio.run(seed_bucket(side, SeedSpec(**spec), append=True, progress=False, workers=0))
        return
    key = tuple(sorted(spec.items()))
    objects = _GENERATED.get(key)
    if objects is None:
        seed = SeedSpec(**spec)
        objects = []
        for t in range(seed.topics):
            for p in range(seed.partitions):
                objects.extend((o.key, o.body) for o in generate_partition(seed, t, p))
            objects.append((topic_manifest_object(seed, t).key, topic_manifest_object(seed, t).body))
        _GENERATED[key] = objects
    s3 = s3_client(side)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kb: s3.put_object(Bucket=side.url.bucket, Key=kb[0], Body=kb[1]), objects))


def expected_for(side: S3Side, **spec: Any) -> Expected:
    """:func:`expected_records` of a bucket :func:`seed_sync` just wrote with ``spec`` (decoded once per spec:
    the generator is deterministic)."""
    key = (side.url.prefix, tuple(sorted(spec.items())))
    if key not in _EXPECTED:
        _EXPECTED[key] = expected_records(side)
    return _EXPECTED[key]


def cache_dir(tmp: Path) -> Path:
    d = tmp / "cache"
    d.mkdir(exist_ok=True)
    return d


# 4 topics x 2 partitions x 64 KiB, 12 KiB segments: every codec (orders), transactions with aborts (payments
# and sensor-readings partition 0), LogAppendTime (sensor-readings), three terms per partition, about three
# hours of records (two minutes between batches): several hour partitions
SPEC = {"topics": 4, "partitions": 2, "total_bytes": 8 * 64 * 1024, "segment_bytes": 12 * 1024,
        "records_per_batch": 8, "value_bytes": 96, "term_every_segments": 2, "batch_gap_ms": 120_000}


def warehouse_side(side: S3Side, prefix: str = "lake") -> S3Side:
    assert side.endpoint_url is not None
    return make_side(side.endpoint_url, side.url.bucket, side.region, prefix=prefix, side="dest")


async def export(side: S3Side, tmp: Path, *, lake_side: S3Side | None = None, catalog_file: Path | None = None,
                 topics: str | None = None, **settings: Any) -> list[TableResult]:
    wh = Warehouse(lake_side or warehouse_side(side))
    cache = CacheSettings(directory=tmp / "cache", manifest_refresh_interval=0.2)
    async with open_read_path(side, cache, metrics=Metrics()) as replica:
        assert replica.reader is not None
        lake = await open_lake(LakeOptions(wh, None, {}, catalog_file or tmp / "catalog.db"))
        exporter = Exporter(replica.catalog, replica.reader, lake, wh, source=str(side.url),
                            settings=ExportSettings(**settings), topics=topic_filter(topics))
        return await exporter.export_once()
