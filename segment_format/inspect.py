"""`shadowreplica inspect`: describe one object of a tiered-storage bucket (or a local file).

The kind is recognised from the key (``manifest.json``/``.bin``, ``topic_manifest.json``, ``.index``,
``.tx``, a segment name) and, for local files with other names, from the content. Segment inspection keeps
going after a bad Kafka CRC (it reports each batch's status) and stops at a bad header CRC (the size field
cannot be trusted past it), so one damaged batch never hides the rest of the report. Every function here
is pure (bytes in, report out); the CLI does the reading.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from segment_format.batch import HEADER_SIZE, BatchType, decode_header, kafka_crc
from segment_format.errors import CrcMismatchError, FormatError
from segment_format.manifest import parse_partition_manifest
from segment_format.offsets import OffsetTranslator
from segment_format.records import Compression


@dataclass(slots=True)
class Report:
    kind: str
    lines: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    damage: list[tuple[int, str]] = field(default_factory=list)  # (byte position, problem) of a segment

    @property
    def ok(self) -> bool:
        return not self.problems

    def damaged(self, position: int, problem: str) -> None:
        self.problems.append(problem)
        self.damage.append((position, problem))


def detect_kind(name: str, body: bytes) -> str:
    base = name.rsplit("/", 1)[-1]
    if base == "manifest.json" or (base.endswith("manifest.json") and "topic" not in base):
        return "partition_manifest"
    if base == "topic_manifest.json":
        return "topic_manifest"
    if base == "manifest.bin" or base.startswith("manifest.bin."):
        return "partition_manifest_bin"
    if base == "topic_manifest.bin":
        return "topic_manifest_bin"
    if base.endswith(".index"):
        return "index"
    if base.endswith(".tx"):
        return "tx"
    if re.search(r"-v1\.log(\.\d+)?$", base):
        return "segment"
    stripped = body.lstrip()[:1]
    if stripped == b"{":
        try:
            doc = json.loads(body)
        except ValueError:
            return "segment"
        if isinstance(doc, dict) and "partition_count" in doc:
            return "topic_manifest"
        if isinstance(doc, dict) and "ranges" in doc:
            return "tx"
        return "partition_manifest"
    return "segment"


def _ts(ms: int | None) -> str:
    if ms is None or ms < 0:
        return "-"
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    except (OverflowError, OSError, ValueError):
        return str(ms)


def _show(v: bytes | None, limit: int = 80) -> str:
    if v is None:
        return "null"
    try:
        s = v.decode("utf-8")
        if s.isprintable():
            return repr(s[:limit] + ("…" if len(s) > limit else ""))
    except UnicodeDecodeError:
        pass
    return "0x" + v[: limit // 2].hex() + ("…" if len(v) > limit // 2 else "")


def inspect_segment(body: bytes, *, delta_offset: int | None = None, records: bool = False,
                    namespace: str = "kafka", committed_offset: int | None = None,
                    expected_size: int | None = None) -> Report:
    """Batch-by-batch report of a segment; Kafka offsets are shown when ``delta_offset`` is known.

    With the segment's manifest entry (``committed_offset``, ``expected_size`` = its ``size_bytes``) it also
    reports an object of another size and batches missing at the end (a zero-filled or early end before
    the manifest's last offset). Every problem is also in :attr:`Report.damage` with its byte position.
    """
    rep = Report("segment")
    if expected_size is not None and len(body) != expected_size:
        rep.damaged(min(len(body), expected_size), f"object is {len(body)} bytes, its manifest entry says "
                                                   f"{expected_size}")
    last_offset: int | None = None
    rep.lines.append(f"segment: {len(body)} bytes" + (f", delta_offset {delta_offset}" if delta_offset is not None
                                                     else " (Kafka offsets need the manifest's delta_offset)"))
    rep.lines.append(f"{'position':>10} {'offset':>10} {'kafka':>10} {'type':<20} {'count':>5} {'size':>8} "
                     f"{'codec':<6} {'flags':<8} {'first timestamp':<24} crc")
    translator = OffsetTranslator(delta_offset or 0, namespace=namespace)
    pos = 0
    mv = memoryview(body)
    batches = []
    while pos < len(body):
        remaining = len(body) - pos
        if remaining < HEADER_SIZE or not any(mv[pos : pos + HEADER_SIZE]):
            tail = "zero-filled" if not any(mv[pos:]) else "truncated"
            if tail == "truncated":
                rep.damaged(pos, f"truncated: {remaining} bytes at position {pos} do not hold a batch header")
            elif committed_offset is not None and (last_offset is None or last_offset < committed_offset):
                rep.damaged(pos, f"zero-filled from position {pos}: the manifest's last offset is "
                                 f"{committed_offset}, the last batch ends at {last_offset}")
            rep.lines.append(f"tail at position {pos}: {remaining} bytes, {tail}")
            break
        try:
            h = decode_header(body, pos, verify=True)
        except CrcMismatchError as e:
            rep.damaged(pos, str(e))
            rep.lines.append(f"{pos:>10} header CRC mismatch: {e}; cannot read further")
            break
        except FormatError as e:
            rep.damaged(pos, str(e))
            rep.lines.append(f"{pos:>10} {e}; cannot read further")
            break
        end = pos + h.size_bytes
        if end > len(body):
            rep.damaged(pos, f"truncated: batch at offset {h.base_offset} (position {pos}) needs "
                             f"{h.size_bytes} bytes, {remaining} left")
            rep.lines.append(f"{pos:>10} {h.base_offset:>10} batch of {h.size_bytes} bytes cut short at {len(body)}")
            break
        recs = mv[pos + HEADER_SIZE : end]
        crc_ok = kafka_crc(h, recs) == h.crc
        if not crc_ok:
            rep.damaged(pos, f"Kafka CRC mismatch in batch at offset {h.base_offset} (position {pos})")
        last_offset = h.base_offset + h.last_offset_delta
        kafka = translator.advance(h)
        flags = ",".join(f for f, on in (("tx", h.is_transactional), ("ctrl", h.is_control),
                                         ("lat", h.is_log_append_time)) if on)
        codec = Compression(h.compression).name.lower() if h.compression <= 4 else f"?{h.compression}"
        rep.lines.append(
            f"{pos:>10} {h.base_offset:>10} {'-' if kafka is None or delta_offset is None else kafka:>10} "
            f"{h.type_name:<20} {h.record_count:>5} {h.size_bytes:>8} {codec:<6} {flags or '-':<8} "
            f"{_ts(h.first_timestamp):<24} {'ok' if crc_ok else 'BAD'}"
        )
        batches.append({"position": pos, "base_offset": h.base_offset, "kafka_offset": kafka,
                        "type": h.type_name, "record_count": h.record_count, "size_bytes": h.size_bytes,
                        "codec": codec, "crc_ok": crc_ok, "first_timestamp": h.first_timestamp,
                        "max_timestamp": h.max_timestamp})
        if records and crc_ok and h.type == BatchType.raft_data:
            from segment_format.batch import Batch

            try:
                for r in Batch(h, recs, pos).decode_records():
                    off = (kafka + r.offset_delta) if kafka is not None and delta_offset is not None else \
                        h.base_offset + r.offset_delta
                    hdrs = ", ".join(f"{x.key}={_show(x.value, 30)}" for x in r.headers)
                    rep.lines.append(f"{'':>10}   @{off} ts={_ts(h.first_timestamp + r.timestamp_delta)} "
                                     f"key={_show(r.key)} value={_show(r.value)}" + (f" headers[{hdrs}]" if hdrs else ""))
            except FormatError as e:
                rep.damaged(e.position if e.position is not None else pos, str(e))
                rep.lines.append(f"{'':>10}   records do not decode: {e}")
        pos = end
    else:
        if committed_offset is not None and (last_offset is None or last_offset < committed_offset) and body:
            rep.damaged(len(body), f"segment ends at position {len(body)} after offset {last_offset}, before the "
                                   f"manifest's last offset {committed_offset}")
    rep.data = {"kind": "segment", "size": len(body), "batches": batches, "problems": rep.problems,
                "damage": [{"position": p, "problem": m} for p, m in rep.damage]}
    rep.lines.append(f"{len(batches)} batches, " + ("no problems" if not rep.problems else
                                                    f"{len(rep.problems)} problem(s)"))
    return rep


def inspect_partition_manifest(body: bytes | dict[str, Any], *, label: str | None = None) -> Report:
    """``label``: the cluster UUID of a labeled manifest's key, so the segment keys shown are the bucket's."""
    m = parse_partition_manifest(body)
    if label:
        m = replace(m, remote_label=label)
    rep = Report("partition_manifest")
    rep.lines.append(f"partition manifest {m.namespace}/{m.topic}/{m.partition} revision {m.revision}")
    rep.lines.append(f"  last_offset {m.last_offset}  start_offset {m.start_offset}  insync_offset {m.insync_offset}")
    rep.lines.append(f"  kafka offsets [{m.kafka_start_offset}, {m.kafka_next_offset})  "
                     f"cloud_log_size_bytes {m.cloud_log_size_bytes}  segments {len(m.segments)}"
                     f"  spillover {len(m.spillover)}  replaced {len(m.replaced)}")
    rep.lines.append(f"  {'segment':<34} {'offsets':<23} {'kafka':<23} {'size':>10} term  {'time range'}")
    for s in m.segments:
        rep.lines.append(f"  {s.local_name:<34} {f'{s.base_offset}..{s.committed_offset}':<23} "
                         f"{f'{s.base_kafka_offset}..{s.next_kafka_offset - 1}':<23} {s.size_bytes:>10} "
                         f"{s.segment_term:>4}  {_ts(s.base_timestamp)} .. {_ts(s.max_timestamp)}")
        rep.lines.append(f"    key {m.segment_key(s)}")
    for a in m.anomalies():
        rep.lines.append(f"  anomaly: {a}")
    rep.data = m.to_dict()
    return rep


def inspect_topic_manifest(body: bytes, fmt: str = "json") -> Report:
    from segment_format.topic_manifest_bin import decode_topic_manifest_as

    tm = decode_topic_manifest_as(body, fmt)
    rep = Report("topic_manifest")
    rep.lines.append(f"topic manifest {tm.namespace}/{tm.topic}: {tm.partition_count} partitions, "
                     f"revision {tm.revision_id}, replication {tm.replication_factor}")
    for k, v in tm.to_dict().items():
        rep.lines.append(f"  {k}: {v}")
    rep.data = tm.to_dict()
    return rep


def inspect_tx(body: bytes) -> Report:
    rep = Report("tx")
    try:
        doc = json.loads(body)
        ranges = doc["ranges"]
        if not isinstance(ranges, list):
            raise TypeError("ranges is not a list")
    except (ValueError, KeyError, TypeError) as e:
        raise FormatError(f"tx range manifest is malformed: {e}") from e
    rep.lines.append(f"aborted transaction ranges: {len(ranges)}")
    for r in ranges:
        rep.lines.append(f"  producer {r.get('pid.id')}/{r.get('pid.epoch')}: offsets {r.get('first')}..{r.get('last')}")
    rep.data = doc
    return rep


def _label_of(name: str) -> str | None:
    """The cluster UUID a labeled key starts with (``{uuid}/meta/...``), else None."""
    from segment_format.keys import is_cluster_uuid

    first = name.rsplit("://", 1)[-1].split("/")
    for part in first[:2]:
        if is_cluster_uuid(part):
            return part
    return None


def inspect_object(name: str, body: bytes, *, records: bool = False, delta_offset: int | None = None,
                   committed_offset: int | None = None, expected_size: int | None = None) -> Report:
    """Dispatch on the object's kind."""
    kind = detect_kind(name, body)
    if kind == "partition_manifest":
        return inspect_partition_manifest(body)
    if kind == "topic_manifest":
        return inspect_topic_manifest(body)
    if kind == "tx":
        return inspect_tx(body)
    if kind == "partition_manifest_bin":
        from segment_format.manifest_bin import decode_partition_manifest

        rep = inspect_partition_manifest(decode_partition_manifest(body), label=_label_of(name))
        rep.kind = "partition_manifest_bin"
        return rep
    if kind == "index":
        from segment_format.remote_index import decode_remote_index

        idx = decode_remote_index(body)
        rep = Report("index")
        rep.lines.append(repr(idx))
        return rep
    if kind == "topic_manifest_bin":
        rep = inspect_topic_manifest(body, "bin")
        rep.kind = "topic_manifest_bin"
        return rep
    return inspect_segment(body, delta_offset=delta_offset, records=records, committed_offset=committed_offset,
                           expected_size=expected_size)
