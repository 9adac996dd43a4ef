"""An independent reading of a tiered-storage bucket: the oracle the layout tests compare the service with.

It shares no code with the service or ``segment_format``: keys are matched by its own regular expressions
(both layouts), partitions are assembled from the *segment listing* (not from manifests), the 61-byte
Redpanda batch header is unpacked with ``struct`` as Redpanda's offline log viewer does
(``tools/offline_log_viewer/storage.py``: ``<IiqbIhiqqqhii``), Kafka offsets are counted from the start of
the log (every batch of a translated type takes offsets away from Kafka, ``raft::offset_translator``), the
header is rewritten to a Kafka v2 header and the records are decoded by kafka-python's
``DefaultRecordBatch`` (which also checks the Kafka CRC). Aborted transactions come from the control
batches in the log, by Kafka's read_committed rule, not from ``.tx`` objects.

Assumes what ``seed`` writes: every segment of a partition from Redpanda offset 0 is present (no
retention), so the log can be walked from its start.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from kafka.record.default_records import DefaultRecordBatch

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SEGMENT_KEY = re.compile(
    rf"^(?:(?P<hash>[0-9a-f]{{8}})|(?P<label>{_UUID}))/(?P<ns>[^/]+)/(?P<topic>[^/]+)/(?P<p>\d+)_(?P<rev>\d+)/"
    r"(?P<base>\d+)-(?:\d+-\d+-)?(?P<term>\d+)-v1\.log(?:\.\d+)?$")
_RP_HEADER = struct.Struct("<IiqbIhiqqqhii")
_KAFKA_HEADER = struct.Struct(">qiibIhiqqqhii")
# batch types whose offsets are not Kafka offsets (raft::offset_translator_batch_types): raft_configuration,
# archival_metadata, version_fence, prefix_truncate, partition_properties_update, group_* fences …
_TRANSLATED = {2, 19, 23, 25, 34, 38}
_RAFT_DATA = 1
_CONTROL = 0x20
_TRANSACTIONAL = 0x10


@dataclass(frozen=True)
class OracleRecord:
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp: int


@dataclass
class OraclePartition:
    label: str  # cluster UUID, "" for the hash-prefixed layout
    namespace: str
    topic: str
    partition: int
    revision: int
    records: list[OracleRecord] = field(default_factory=list)
    aborted: set[int] = field(default_factory=set)
    aborted_transactions: list[tuple[int, int]] = field(default_factory=list)  # (producer id, first offset)
    high_watermark: int = 0
    segment_keys: list[str] = field(default_factory=list)

    @property
    def committed(self) -> list[OracleRecord]:
        return [r for r in self.records if r.offset not in self.aborted]


def _kafka_batch(header: tuple[int, ...], records: bytes, kafka_offset: int) -> bytes:
    (_hcrc, _size, _base, _type, crc, attrs, last_delta, first_ts, max_ts, pid, epoch, seq, count) = header
    return _KAFKA_HEADER.pack(kafka_offset, 49 + len(records), 0, 2, crc & 0xFFFFFFFF, attrs, last_delta, first_ts,
                              max_ts, pid, epoch, seq, count) + records


def read_partition(keys: list[str], get: Callable[[str], bytes], part: OraclePartition) -> None:
    """Walk one partition's segments (``keys`` sorted by base offset) from the start of its log."""
    delta = 0
    next_rp = 0
    open_txn: dict[int, list[int]] = {}  # producer id -> offsets of its open transaction's records
    for key in keys:
        body = get(key)
        pos = 0
        while pos + _RP_HEADER.size <= len(body):
            h = _RP_HEADER.unpack_from(body, pos)
            size, base, btype, attrs, last_delta = h[1], h[2], h[3], h[5], h[6]
            if size <= 0:
                break
            if base != next_rp:
                raise AssertionError(f"{key}: batch at Redpanda offset {base}, expected {next_rp}")
            records = body[pos + _RP_HEADER.size:pos + size]
            pos += size
            next_rp = base + last_delta + 1
            if btype in _TRANSLATED:
                delta += last_delta + 1
                continue
            kafka_offset = base - delta
            if btype != _RAFT_DATA:
                continue  # tx_fence and other types take Kafka offsets but are never served
            batch = DefaultRecordBatch(_kafka_batch(h, records, kafka_offset))
            if not batch.validate_crc():
                raise AssertionError(f"{key}: Kafka CRC mismatch at Redpanda offset {base}")
            pid = h[9]
            if attrs & _CONTROL:
                marker = next(iter(batch))
                assert marker.key is not None and len(marker.key) >= 4
                commit = struct.unpack(">h", marker.key[2:4])[0] == 1
                txn = open_txn.pop(pid, [])
                if not commit:
                    part.aborted.update(txn)
                    if txn:
                        part.aborted_transactions.append((pid, txn[0]))
                continue
            for r in batch:
                part.records.append(OracleRecord(r.offset, r.key, r.value, tuple(r.headers), r.timestamp))
                if attrs & _TRANSACTIONAL:
                    open_txn.setdefault(pid, []).append(r.offset)
    part.high_watermark = next_rp - delta


def read_bucket(list_keys: Callable[[], list[str]], get: Callable[[str], bytes]) -> dict[tuple[str, str, int], OraclePartition]:
    """Every partition of the bucket by (cluster label or "", topic, partition): the highest revision of
    each, read from its segments."""
    groups: dict[tuple[str, str, str, int, int], list[tuple[int, str]]] = {}
    for key in list_keys():
        m = SEGMENT_KEY.match(key)
        if m is None:
            continue
        ident = (m["label"] or "", m["ns"], m["topic"], int(m["p"]), int(m["rev"]))
        groups.setdefault(ident, []).append((int(m["base"]), key))
    out: dict[tuple[str, str, int], OraclePartition] = {}
    for (label, ns, topic, p, rev), segs in sorted(groups.items(), key=lambda kv: kv[0][4]):
        part = OraclePartition(label, ns, topic, p, rev, segment_keys=[k for _, k in sorted(segs)])
        read_partition(part.segment_keys, get, part)
        out[(label, topic, p)] = part
    return out


def read_bucket_s3(endpoint: str, bucket: str, region: str = "us-east-1") -> dict[tuple[str, str, int], OraclePartition]:
    """:func:`read_bucket` over boto3 (credentials from the environment the tests set)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id="test",
                      aws_secret_access_key="test")

    def list_keys() -> list[str]:
        return [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                for o in page.get("Contents", ())]

    def get(key: str) -> bytes:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    return read_bucket(list_keys, get)
