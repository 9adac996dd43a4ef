"""Partition manifests (``manifest.json``) and topic manifests (``topic_manifest.json``).

The partition manifest is the index of a partition in the bucket: which segments exist, their Redpanda
and Kafka offset ranges, timestamps and sizes. Its JSON form is what ``partition_manifest::serialize_json``
writes (``src/v/cloud_storage/partition_manifest.cc``), compact, keys in this order::

    version namespace topic partition revision last_offset [insync_offset] [start_offset]
    [last_uploaded_compacted_offset] cloud_log_size_bytes [archive_start_offset] [archive_start_offset_delta]
    [archive_clean_offset] [start_kafka_offset] [archive_size_bytes] [last_partition_scrub]
    [last_scrubbed_offset] [highest_producer_id] [segments {…}] [replaced {…}] [spillover […]]

Each segment entry is keyed by its *local* name ``{base}-{term}-v1.log`` and holds ``is_compacted
size_bytes committed_offset base_offset [base_timestamp] [max_timestamp] [delta_offset] [ntp_revision]
[archiver_term] segment_term [delta_offset_end] [sname_format] [metadata_size_hint]``; bracketed fields are
omitted when unset, as Redpanda omits them. Required on read, as in Redpanda's parser: version, namespace,
topic, partition, revision, last_offset; per segment size_bytes, base_offset, committed_offset.

:func:`parse_partition_manifest` validates strictly (types, required fields, offsets that go backwards or
overlap, unknown ``sname_format``) and raises :class:`~segment_format.errors.ManifestError` naming the
field; softer inconsistencies a real bucket can have (gaps, delta mismatches) are reported by
:meth:`PartitionManifest.anomalies`. Unknown top-level keys from newer versions are kept in ``extra`` and
written back, so a round trip never drops data. :meth:`PartitionManifest.to_json` reproduces Redpanda's
bytes for the fields it knows.
"""

from __future__ import annotations

import bisect
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from segment_format import keys
from segment_format.errors import ManifestError, ObjectKeyError

__all__ = [
    "Disabled",
    "PartitionManifest",
    "SegmentMeta",
    "TopicManifest",
    "parse_partition_manifest",
    "parse_topic_manifest",
]

_INT64_MIN = -(2**63)


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentMeta:
    """``cloud_storage::segment_meta``: one uploaded segment (also used for spillover/replaced entries).

    ``None`` stands for Redpanda's "missing" sentinels (timestamp -1, delta/term INT64_MIN).
    """

    base_offset: int
    committed_offset: int
    size_bytes: int
    segment_term: int
    is_compacted: bool = False
    base_timestamp: int | None = None
    max_timestamp: int | None = None
    delta_offset: int | None = None
    ntp_revision: int | None = None  # None: the manifest's revision
    archiver_term: int | None = None
    delta_offset_end: int | None = None
    sname_format: int = 1
    metadata_size_hint: int = 0

    @property
    def base_kafka_offset(self) -> int:
        """``segment_meta::base_kafka_offset``: base_offset - delta_offset (unknown delta counts as 0)."""
        return self.base_offset - (self.delta_offset or 0)

    @property
    def next_kafka_offset(self) -> int:
        """Kafka offset just after the segment: committed_offset + 1 - delta_offset_end.

        v1 entries have no delta_offset_end; their delta_offset is the best available bound.
        """
        end = self.delta_offset_end if self.delta_offset_end is not None else (self.delta_offset or 0)
        return self.committed_offset + 1 - end

    @property
    def local_name(self) -> str:
        """The key of this entry in the manifest's ``segments`` map."""
        return f"{self.base_offset}-{self.segment_term}-v1.log"

    @property
    def remote_name(self) -> str:
        return keys.segment_name(
            base_offset=self.base_offset,
            term=self.segment_term,
            sname_format=self.sname_format,
            committed_offset=self.committed_offset,
            size_bytes=self.size_bytes,
        )

    def to_dict(self, manifest_revision: int, *, kind: str = "segment") -> dict[str, Any]:
        """The entry as Redpanda writes it (``serialize_segment_meta`` / ``_spillover_manifest_meta``)."""
        d: dict[str, Any] = {}
        if kind == "segment":
            d["is_compacted"] = self.is_compacted
        d["size_bytes"] = self.size_bytes
        d["committed_offset"] = self.committed_offset
        d["base_offset"] = self.base_offset
        if kind != "replaced":
            if self.base_timestamp is not None:
                d["base_timestamp"] = self.base_timestamp
            if self.max_timestamp is not None:
                d["max_timestamp"] = self.max_timestamp
            if self.delta_offset is not None:
                d["delta_offset"] = self.delta_offset
        if self.ntp_revision is not None and self.ntp_revision != manifest_revision:
            d["ntp_revision"] = self.ntp_revision
        if self.archiver_term is not None:
            d["archiver_term"] = self.archiver_term
        d["segment_term"] = self.segment_term
        if kind == "replaced":
            d["sname_format"] = self.sname_format
            return d
        if self.delta_offset_end is not None and (kind == "spillover" or self.sname_format >= 2):
            d["delta_offset_end"] = self.delta_offset_end
        if kind == "spillover":
            d["metadata_size_hint"] = self.metadata_size_hint
            return d
        if self.sname_format != 1:
            d["sname_format"] = self.sname_format
        if self.sname_format == 3:
            d["metadata_size_hint"] = self.metadata_size_hint
        return d


# Top-level optional fields, in Redpanda's write order, with the position of `cloud_log_size_bytes`.
_OPTIONAL_BEFORE_SIZE = ("insync_offset", "start_offset", "last_uploaded_compacted_offset")
_OPTIONAL_AFTER_SIZE = (
    "archive_start_offset",
    "archive_start_offset_delta",
    "archive_clean_offset",
    "start_kafka_offset",
    "archive_size_bytes",
    "last_partition_scrub",
    "last_scrubbed_offset",
    "highest_producer_id",
)
_KNOWN_TOP = {
    "version", "namespace", "topic", "partition", "revision", "last_offset", "cloud_log_size_bytes",
    "segments", "replaced", "spillover", *_OPTIONAL_BEFORE_SIZE, *_OPTIONAL_AFTER_SIZE,
}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionManifest:
    """A partition manifest. ``segments`` are sorted by base offset."""

    namespace: str
    topic: str
    partition: int
    revision: int
    last_offset: int
    version: int = 1
    insync_offset: int | None = None
    start_offset: int | None = None
    last_uploaded_compacted_offset: int | None = None
    cloud_log_size_bytes: int = 0
    archive_start_offset: int | None = None
    archive_start_offset_delta: int | None = None
    archive_clean_offset: int | None = None
    start_kafka_offset: int | None = None
    archive_size_bytes: int = 0
    last_partition_scrub: int | None = None
    last_scrubbed_offset: int | None = None
    highest_producer_id: int | None = None
    segments: tuple[SegmentMeta, ...] = ()
    replaced: tuple[SegmentMeta, ...] = ()
    spillover: tuple[SegmentMeta, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    remote_label: str | None = None
    """The cluster UUID of a labeled topic (``{uuid}/...`` keys), None for the hash-prefixed layout. Not
    part of either serialized form: Redpanda derives it from the topic's configuration, we from where the
    manifest was found. Every key below follows it, so a copy keeps its layout."""

    # ------------------------------------------------------------ keys
    def segment_key(self, meta: SegmentMeta) -> str:
        """Object key of a segment in this manifest's layout, from the entry's fields as Redpanda derives it
        (``remote_path_provider::segment_path``)."""
        revision = meta.ntp_revision if meta.ntp_revision is not None else self.revision
        if self.remote_label is not None:
            return keys.labeled_segment_key(self.remote_label, self.namespace, self.topic, self.partition,
                                            revision, meta.remote_name, meta.archiver_term)
        return keys.segment_key(self.namespace, self.topic, self.partition, revision, meta.remote_name,
                                meta.archiver_term)

    def index_key(self, meta: SegmentMeta) -> str:
        return self.segment_key(meta) + ".index"

    def tx_key(self, meta: SegmentMeta) -> str:
        return self.segment_key(meta) + ".tx"

    @property
    def manifest_prefix(self) -> str:
        if self.remote_label is not None:
            return keys.labeled_partition_manifest_prefix(self.remote_label, self.namespace, self.topic,
                                                          self.partition, self.revision)
        return keys.partition_manifest_prefix(self.namespace, self.topic, self.partition, self.revision)

    def manifest_key(self, fmt: str = "json") -> str:
        """``manifest.json`` or ``manifest.bin``; a labeled partition has only ``manifest.bin`` (Redpanda reads
        no JSON there), so asking for its JSON key is a ValueError."""
        if self.remote_label is not None:
            if fmt != "bin":
                raise ValueError(f"a labeled partition manifest is manifest.bin only, not {fmt!r}")
            return keys.labeled_partition_manifest_key(self.remote_label, self.namespace, self.topic,
                                                       self.partition, self.revision)
        return keys.partition_manifest_key(self.namespace, self.topic, self.partition, self.revision, fmt=fmt)

    def spillover_key(self, meta: SegmentMeta) -> str:
        return keys.spillover_manifest_key(
            self.manifest_prefix,
            base=meta.base_offset,
            last=meta.committed_offset,
            base_kafka=meta.base_kafka_offset,
            next_kafka=meta.next_kafka_offset,
            base_ts=meta.base_timestamp if meta.base_timestamp is not None else -1,
            last_ts=meta.max_timestamp if meta.max_timestamp is not None else -1,
        )

    # ------------------------------------------------------------ offsets
    @property
    def kafka_start_offset(self) -> int:
        """First Kafka offset readable from this manifest (the log start offset)."""
        if not self.segments:
            return self.start_kafka_offset if self.start_kafka_offset is not None else 0
        start = self.segments[0].base_kafka_offset
        if self.start_offset is not None:
            meta = self.find_by_offset(self.start_offset)
            if meta is not None:
                start = max(start, self.start_offset - (meta.delta_offset or 0))
        if self.start_kafka_offset is not None:
            start = max(start, self.start_kafka_offset)
        return start

    @property
    def kafka_next_offset(self) -> int:
        """The high watermark: the Kafka offset after the last uploaded record."""
        if not self.segments:
            return self.kafka_start_offset
        return self.segments[-1].next_kafka_offset

    def find_by_offset(self, rp_offset: int) -> SegmentMeta | None:
        """The segment holding a Redpanda offset."""
        i = bisect.bisect_right([s.base_offset for s in self.segments], rp_offset) - 1
        if i >= 0 and self.segments[i].committed_offset >= rp_offset:
            return self.segments[i]
        return None

    def find_by_kafka_offset(self, kafka_offset: int) -> SegmentMeta | None:
        """The first segment whose Kafka range reaches ``kafka_offset`` (the next one if it falls in a gap
        between segments); None below the first segment or at/after the last one's next Kafka offset, as
        ``partition_manifest::segment_containing(kafka::offset)``. Segments without data are skipped."""
        if not self.segments or kafka_offset < self.segments[0].base_kafka_offset:
            return None
        nexts = [s.next_kafka_offset for s in self.segments]
        i = bisect.bisect_right(nexts, kafka_offset)
        return self.segments[i] if i < len(self.segments) else None

    def find_by_timestamp(self, timestamp: int) -> SegmentMeta | None:
        """The first segment that may hold a record with timestamp >= ``timestamp`` (by max_timestamp)."""
        for s in self.segments:
            if s.max_timestamp is None or s.max_timestamp >= timestamp:
                return s
        return None

    # ------------------------------------------------------------ checks
    def anomalies(self) -> list[str]:
        """Inconsistencies a real bucket can have that do not make the manifest unreadable."""
        problems: list[str] = []
        for prev, cur in itertools.pairwise(self.segments):
            if cur.base_offset != prev.committed_offset + 1:
                problems.append(f"gap between offsets {prev.committed_offset} and {cur.base_offset}")
            elif (
                prev.delta_offset_end is not None
                and cur.delta_offset is not None
                and prev.delta_offset_end != cur.delta_offset
            ):
                problems.append(
                    f"delta_offset_end {prev.delta_offset_end} of segment {prev.local_name} differs from "
                    f"delta_offset {cur.delta_offset} of {cur.local_name}"
                )
        total = sum(s.size_bytes for s in self.segments)
        if self.cloud_log_size_bytes and total != self.cloud_log_size_bytes:
            problems.append(f"cloud_log_size_bytes {self.cloud_log_size_bytes} != sum of segment sizes {total}")
        return problems

    # ------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "version": self.version,
            "namespace": self.namespace,
            "topic": self.topic,
            "partition": self.partition,
            "revision": self.revision,
            "last_offset": self.last_offset,
        }
        for name in _OPTIONAL_BEFORE_SIZE:
            if getattr(self, name) is not None:
                d[name] = getattr(self, name)
        d["cloud_log_size_bytes"] = self.cloud_log_size_bytes
        for name in _OPTIONAL_AFTER_SIZE:
            value = getattr(self, name)
            if value is not None and not (name == "archive_size_bytes" and value == 0):
                d[name] = value
        d.update(self.extra)
        if self.segments:
            d["segments"] = {s.local_name: s.to_dict(self.revision) for s in self.segments}
        if self.replaced:
            d["replaced"] = {s.local_name: s.to_dict(self.revision, kind="replaced") for s in self.replaced}
        if self.spillover:
            d["spillover"] = [s.to_dict(self.revision, kind="spillover") for s in self.spillover]
        return d

    def to_json(self) -> bytes:
        """Compact JSON in Redpanda's key order."""
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    def with_segments(self, segments: Sequence[SegmentMeta], **changes: Any) -> PartitionManifest:
        """A copy with new segments (sorted), keeping the derived size fields consistent."""
        ordered = tuple(sorted(segments, key=lambda s: s.base_offset))
        return replace(self, segments=ordered, cloud_log_size_bytes=sum(s.size_bytes for s in ordered), **changes)


# ---------------------------------------------------------------- parsing helpers


def _load_json(data: bytes | str, what: str) -> Any:
    """``json.loads`` with every failure as a ManifestError: bad JSON or UTF-8, but also integers past
    Python's 4300-digit limit (a plain ValueError) and nesting deep enough to exhaust the recursion limit."""
    try:
        return json.loads(data)
    except json.JSONDecodeError as e:
        raise ManifestError(f"{what} is not valid JSON: {e.msg}", position=e.pos) from e
    except UnicodeDecodeError as e:
        raise ManifestError(f"{what} is not valid UTF-8: {e.reason}", position=e.start) from e
    except (ValueError, RecursionError, TypeError) as e:
        raise ManifestError(f"{what} is not valid JSON: {e}") from e


def _int(d: Mapping[str, Any], name: str, where: str, *, required: bool = False) -> int | None:
    if name not in d:
        if required:
            raise ManifestError(f"{where}: missing required field {name!r}")
        return None
    value = d[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ManifestError(f"{where}: field {name!r} must be an integer, got {value!r}")
    if not _INT64_MIN <= value < 2**64:
        raise ManifestError(f"{where}: field {name!r} out of range: {value}")
    return value


def _req(d: Mapping[str, Any], name: str, where: str) -> int:
    v = _int(d, name, where, required=True)
    assert v is not None
    return v


def _str(d: Mapping[str, Any], name: str, where: str) -> str:
    if name not in d:
        raise ManifestError(f"{where}: missing required field {name!r}")
    if not isinstance(d[name], str):
        raise ManifestError(f"{where}: field {name!r} must be a string")
    return str(d[name])


def _opt_ts(value: int | None) -> int | None:
    return None if value is None or value == -1 else value


def _opt_min(value: int | None) -> int | None:
    return None if value is None or value == _INT64_MIN else value


def _segment_meta(
    name: str | None, d: Any, where: str, default_term: int | None, *, revision: int, kind: str = "segment"
) -> SegmentMeta:
    """One entry of ``segments`` / ``replaced`` / ``spillover``, read the way Redpanda's handler does.

    ``ntp_revision`` equal to the manifest's ``revision`` is stored as None (Redpanda writes it only when
    it differs). ``replaced`` entries are ``lw_segment_meta`` (no timestamps, deltas or compaction flag;
    a v1 entry with a size is a v2 one, ``lw_segment_meta::convert``); ``spillover`` entries are never
    compacted and always name format v3 (the handler's ``EndObject``).
    """
    if not isinstance(d, dict):
        raise ManifestError(f"{where}: segment entry must be an object")
    is_compacted = d.get("is_compacted", False)
    if not isinstance(is_compacted, bool):
        raise ManifestError(f"{where}: is_compacted must be a boolean")
    term = _int(d, "segment_term", where)
    if term is None:
        if default_term is None:
            raise ManifestError(f"{where}: missing segment_term")
        term = default_term
    sname = _int(d, "sname_format", where)
    sname_format = 1 if sname is None else sname
    if sname_format not in (1, 2, 3):
        raise ManifestError(f"{where}: unknown sname_format {sname_format}")
    ntp_revision = _int(d, "ntp_revision", where)
    meta = SegmentMeta(
        base_offset=_req(d, "base_offset", where),
        committed_offset=_req(d, "committed_offset", where),
        size_bytes=_req(d, "size_bytes", where),
        segment_term=term,
        is_compacted=is_compacted,
        base_timestamp=_opt_ts(_int(d, "base_timestamp", where)),
        max_timestamp=_opt_ts(_int(d, "max_timestamp", where)),
        delta_offset=_opt_min(_int(d, "delta_offset", where)),
        ntp_revision=None if ntp_revision == revision else ntp_revision,
        archiver_term=_opt_min(_int(d, "archiver_term", where)),
        delta_offset_end=_opt_min(_int(d, "delta_offset_end", where)),
        sname_format=sname_format,
        metadata_size_hint=_int(d, "metadata_size_hint", where) or 0,
    )
    if meta.committed_offset < meta.base_offset:
        raise ManifestError(f"{where}: committed_offset {meta.committed_offset} < base_offset {meta.base_offset}")
    if meta.size_bytes < 0:
        raise ManifestError(f"{where}: negative size_bytes {meta.size_bytes}")
    if meta.delta_offset is not None and meta.delta_offset < 0:
        raise ManifestError(f"{where}: negative delta_offset {meta.delta_offset}")
    if meta.delta_offset is not None and meta.delta_offset_end is not None and meta.delta_offset_end < meta.delta_offset:
        raise ManifestError(f"{where}: delta_offset_end {meta.delta_offset_end} < delta_offset {meta.delta_offset}")
    if name is not None:
        try:
            parsed = keys.parse_segment_name(name)
        except ObjectKeyError as e:
            raise ManifestError(f"{where}: {e.message}") from e
        if parsed.base_offset != meta.base_offset:
            raise ManifestError(f"{where}: name says base offset {parsed.base_offset}, entry says {meta.base_offset}")
    if kind == "replaced":
        meta = SegmentMeta(
            base_offset=meta.base_offset,
            committed_offset=meta.committed_offset,
            size_bytes=meta.size_bytes,
            segment_term=meta.segment_term,
            ntp_revision=meta.ntp_revision,
            archiver_term=meta.archiver_term,
            sname_format=2 if meta.sname_format == 1 and meta.size_bytes != 0 else meta.sname_format,
        )
    elif kind == "spillover":
        meta = replace(meta, is_compacted=False, sname_format=3)
    return meta


def parse_partition_manifest(data: bytes | str | Mapping[str, Any]) -> PartitionManifest:
    """Parse and validate a partition manifest from JSON bytes (or an already-decoded mapping, e.g. the
    output of :func:`segment_format.manifest_bin.decode_partition_manifest`).

    Defaults are Redpanda's (``partition_manifest::do_update``): a missing ``cloud_log_size_bytes`` is the
    size of the segments from the start offset on; a segment's missing ``segment_term`` comes from its key.
    """
    if isinstance(data, Mapping):
        doc: Any = data
    else:
        doc = _load_json(data, "partition manifest")
    if not isinstance(doc, dict):
        raise ManifestError("partition manifest must be a JSON object")
    where = "partition manifest"
    version = _req(doc, "version", where)
    if version not in (1, 2, 3, 4):
        raise ManifestError(f"{where}: unsupported version {version}")
    namespace = _str(doc, "namespace", where)
    topic = _str(doc, "topic", where)
    try:
        keys.check_topic_name(namespace, "namespace")
        keys.check_topic_name(topic)
    except ObjectKeyError as e:
        raise ManifestError(f"{where}: {e.message}") from e
    partition = _req(doc, "partition", where)
    if partition < 0:
        raise ManifestError(f"{where}: negative partition {partition}")
    revision = _req(doc, "revision", where)
    where = f"partition manifest {namespace}/{topic}/{partition}"

    segments_doc = doc.get("segments", {})
    if not isinstance(segments_doc, dict):
        raise ManifestError(f"{where}: 'segments' must be an object")
    segments = sorted(
        (_segment_meta(n, v, f"{where} segment {n}", _name_term(n), revision=revision)
         for n, v in segments_doc.items()),
        key=lambda s: s.base_offset,
    )
    for prev, cur in itertools.pairwise(segments):
        if cur.base_offset <= prev.committed_offset:
            raise ManifestError(
                f"{where}: segment {cur.local_name} starts at {cur.base_offset}, inside or before "
                f"{prev.local_name} which ends at {prev.committed_offset} (offsets go backwards)"
            )
    replaced_doc = doc.get("replaced", {})
    if not isinstance(replaced_doc, dict):
        raise ManifestError(f"{where}: 'replaced' must be an object")
    replaced = [
        _segment_meta(n, v, f"{where} replaced {n}", _name_term(n), revision=revision, kind="replaced")
        for n, v in replaced_doc.items()
    ]
    spill_doc = doc.get("spillover", [])
    if not isinstance(spill_doc, list):
        raise ManifestError(f"{where}: 'spillover' must be an array")
    spillover = [
        _segment_meta(None, v, f"{where} spillover[{i}]", None, revision=revision, kind="spillover")
        for i, v in enumerate(spill_doc)
    ]

    extra = {k: v for k, v in doc.items() if k not in _KNOWN_TOP}
    start_offset = _int(doc, "start_offset", where)
    size = _int(doc, "cloud_log_size_bytes", where)
    if size is None:
        # partition_manifest::compute_cloud_log_size: the segments from the start offset on (the first
        # segment when there is no start_offset), 0 if the start offset is no segment's base offset
        start = start_offset if start_offset is not None else (segments[0].base_offset if segments else None)
        bases = [s.base_offset for s in segments]
        size = sum(s.size_bytes for s in segments[bases.index(start):]) if start in bases else 0
    return PartitionManifest(
        version=version,
        namespace=namespace,
        topic=topic,
        partition=partition,
        revision=revision,
        last_offset=_req(doc, "last_offset", where),
        insync_offset=_int(doc, "insync_offset", where),
        start_offset=start_offset,
        last_uploaded_compacted_offset=_int(doc, "last_uploaded_compacted_offset", where),
        cloud_log_size_bytes=size,
        archive_start_offset=_int(doc, "archive_start_offset", where),
        archive_start_offset_delta=_int(doc, "archive_start_offset_delta", where),
        archive_clean_offset=_int(doc, "archive_clean_offset", where),
        start_kafka_offset=_int(doc, "start_kafka_offset", where),
        archive_size_bytes=_int(doc, "archive_size_bytes", where) or 0,
        last_partition_scrub=_int(doc, "last_partition_scrub", where),
        last_scrubbed_offset=_int(doc, "last_scrubbed_offset", where),
        highest_producer_id=_int(doc, "highest_producer_id", where),
        segments=tuple(segments),
        replaced=tuple(replaced),
        spillover=tuple(sorted(spillover, key=lambda s: s.base_offset)),
        extra=extra,
    )


def _name_term(name: str) -> int | None:
    """The term in a ``segments`` key, the default for a missing ``segment_term`` (None if no name)."""
    try:
        return keys.parse_segment_name(name).term
    except ObjectKeyError:
        return None


# ---------------------------------------------------------------- topic manifest

_COMPRESSION = {"none", "gzip", "snappy", "lz4", "zstd", "producer", "uncompressed"}
_CLEANUP = {"none", "delete", "compact", "compact,delete", "delete,compact"}
_COMPACTION = {"offset", "timestamp", "header"}
_TS_TYPE = {"CreateTime", "LogAppendTime"}


class Disabled:
    """The "absent key" state of a tristate (a disabled ``tristate<T>``); its one instance is
    :data:`TopicManifest.DISABLED`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "TopicManifest.DISABLED"


_ABSENT: Any = Disabled()


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicManifest:
    """``topic_manifest.json`` (``topic_manifest::serialize_v1_json``).

    ``retention_bytes``/``retention_duration`` are tristates: absent (disabled), ``None`` (enabled, unset)
    or a number; :data:`TopicManifest.DISABLED` marks "absent" so a round trip keeps the distinction.
    Negative values, which older Redpanda versions wrote, read as disabled (and a negative
    ``segment_size`` as None), as ``topic_manifest_handler::Int64`` reads them.
    """

    DISABLED: ClassVar[Any] = _ABSENT

    namespace: str
    topic: str
    partition_count: int
    replication_factor: int
    revision_id: int
    version: int = 1
    compression: str | None = None
    cleanup_policy_bitflags: str | None = None
    compaction_strategy: str | None = None
    timestamp_type: str | None = None
    segment_size: int | None = None
    retention_bytes: Any = _ABSENT
    retention_duration: Any = _ABSENT
    virtual_cluster_id: str | None = None
    remote_label: str | None = None
    """The cluster UUID a labeled topic's keys carry (``topic_manifest.bin`` only; not in the JSON form)."""

    def key(self, fmt: str = "json") -> str:
        """Where Redpanda writes this manifest: labeled ``meta/{ns}/{topic}/{uuid}/{rev}/topic_manifest.bin``
        or hash-prefixed ``{h}/meta/{ns}/{topic}/topic_manifest.{fmt}``."""
        if self.remote_label is not None:
            if fmt != "bin":
                raise ValueError("a labeled topic manifest is topic_manifest.bin only")
            return keys.labeled_topic_manifest_key(self.remote_label, self.namespace, self.topic, self.revision_id)
        return keys.topic_manifest_key(self.namespace, self.topic, fmt=fmt)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "version": self.version,
            "namespace": self.namespace,
            "topic": self.topic,
            "partition_count": self.partition_count,
            "replication_factor": self.replication_factor,
            "revision_id": self.revision_id,
            "compression": self.compression,
            "cleanup_policy_bitflags": self.cleanup_policy_bitflags,
            "compaction_strategy": self.compaction_strategy,
            "timestamp_type": self.timestamp_type,
            "segment_size": self.segment_size,
        }
        if self.retention_bytes is not _ABSENT:
            d["retention_bytes"] = self.retention_bytes
        if self.retention_duration is not _ABSENT:
            d["retention_duration"] = self.retention_duration
        if self.virtual_cluster_id is not None:
            d["virtual_cluster_id"] = self.virtual_cluster_id
        return d

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


def _opt_choice(doc: Mapping[str, Any], name: str, choices: set[str], where: str) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or value not in choices:
        raise ManifestError(f"{where}: invalid {name} {value!r}")
    return value


def parse_topic_manifest(data: bytes | str) -> TopicManifest:
    """Parse and validate ``topic_manifest.json`` (required: version 1, namespace, topic, partition_count,
    replication_factor, revision_id — as ``topic_manifest::do_update`` requires)."""
    doc = _load_json(data, "topic manifest")
    if not isinstance(doc, dict):
        raise ManifestError("topic manifest must be a JSON object")
    where = "topic manifest"
    version = _req(doc, "version", where)
    if version != 1:
        raise ManifestError(f"{where}: unsupported version {version} (expected 1)")
    ns = _str(doc, "namespace", where)
    topic = _str(doc, "topic", where)
    try:
        keys.check_topic_name(ns, "namespace")
        keys.check_topic_name(topic)
    except ObjectKeyError as e:
        raise ManifestError(f"{where}: {e.message}") from e
    where = f"topic manifest {ns}/{topic}"
    count = _req(doc, "partition_count", where)
    if count <= 0:
        raise ManifestError(f"{where}: partition_count must be positive, got {count}")
    # Negative sizes and durations are what older Redpanda versions wrote for "unset"/"infinite":
    # topic_manifest_handler::Int64 reads them as an empty segment_size and disabled tristates.
    segment_size = _int(doc, "segment_size", where) if doc.get("segment_size") is not None else None
    if segment_size is not None and segment_size < 0:
        segment_size = None

    def tristate(name: str) -> Any:
        if name not in doc:
            return _ABSENT
        if doc[name] is None:
            return None
        value = _int(doc, name, where)
        return _ABSENT if value is not None and value < 0 else value

    vcid = doc.get("virtual_cluster_id")
    if vcid is not None and not isinstance(vcid, str):
        raise ManifestError(f"{where}: virtual_cluster_id must be a string")
    return TopicManifest(
        version=version,
        namespace=ns,
        topic=topic,
        partition_count=count,
        replication_factor=_req(doc, "replication_factor", where),
        revision_id=_req(doc, "revision_id", where),
        compression=_opt_choice(doc, "compression", _COMPRESSION, where),
        cleanup_policy_bitflags=_opt_choice(doc, "cleanup_policy_bitflags", _CLEANUP, where),
        compaction_strategy=_opt_choice(doc, "compaction_strategy", _COMPACTION, where),
        timestamp_type=_opt_choice(doc, "timestamp_type", _TS_TYPE, where),
        segment_size=segment_size,
        retention_bytes=tristate("retention_bytes"),
        retention_duration=tristate("retention_duration"),
        virtual_cluster_id=vcid,
    )
