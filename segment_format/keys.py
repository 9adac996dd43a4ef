"""Object keys of a Redpanda tiered-storage bucket: build and parse.

Two layouts exist (``src/v/cloud_storage/remote_path_provider.cc``):

**Prefixed** (default; no remote label). Hash prefixes spread keys over S3 partitions:

    segment          {xxh32(p):08x}/{p}[.{archiver_term}]      p = {ns}/{topic}/{partition}_{rev}/{segment name}
    index / tx       {segment key}.index, {segment key}.tx
    partition meta   {xxh32(n) & 0xF0000000:08x}/meta/{n}/manifest.{bin,json}     n = {ns}/{topic}/{partition}_{rev}
    spillover meta   {partition meta prefix}/manifest.bin.{base}.{last}.{base_kafka}.{next_kafka}.{base_ts}.{last_ts}
    topic meta       {xxh32(t) & 0xF0000000:08x}/meta/{t}/topic_manifest.{bin,json}     t = {ns}/{topic}

**Labeled** (a topic with ``remote_label`` = cluster UUID): no hashes,

    segment          {uuid}/{ns}/{topic}/{partition}_{rev}/{segment name}[.{archiver_term}]
    partition meta   {uuid}/meta/{ns}/{topic}/{partition}_{rev}/manifest.bin
    topic meta       meta/{ns}/{topic}/{uuid}/{rev}/topic_manifest.bin

Segment names (``partition_manifest::generate_remote_segment_name``): sname_format v1
``{base}-{term}-v1.log``; v2 and v3 ``{base}-{committed}-{size}-{term}-v1.log``. The hash is XXH32 with
seed 0 over the path *without* the ``.{archiver_term}`` suffix (``segment_path_utils.cc``). Golden values
from ``remote_path_provider_test.cc``: ``d13f1c8e/kafka/tp/5_21/10-11-1048576-12-v1.log.13`` and
``e0000000/meta/kafka/tp/5_21/manifest.bin``.

Names are validated before a key is built: a namespace or topic containing ``/``, ``..``, control
characters or more than 249 characters cannot name an object, so no key can escape the layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import xxhash

from segment_format.errors import ObjectKeyError

__all__ = [
    "PartitionKey",
    "SegmentKey",
    "SegmentName",
    "check_cluster_uuid",
    "check_topic_name",
    "is_cluster_uuid",
    "labeled_partition_manifest_key",
    "labeled_partition_manifest_prefix",
    "labeled_segment_key",
    "labeled_topic_manifest_key",
    "parse_partition_manifest_key",
    "parse_segment_key",
    "parse_segment_name",
    "parse_spillover_manifest_key",
    "parse_topic_manifest_key",
    "partition_manifest_key",
    "partition_manifest_prefix",
    "segment_key",
    "segment_name",
    "spillover_manifest_key",
    "topic_manifest_key",
    "topic_manifest_prefix",
    "xxh32",
]

_PREFIX_MASK = 0xF0000000
_TOPIC_RE = re.compile(r"^[a-zA-Z0-9._\-]{1,249}$")


def xxh32(s: str) -> int:
    """XXH32 with seed 0 (``xxhash_32`` in ``src/v/hashing/xx.h``)."""
    return int(xxhash.xxh32(s.encode("utf-8"), seed=0).intdigest())


_CLUSTER_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_cluster_uuid(text: str) -> bool:
    """A remote label as Redpanda prints it: a lower-case hyphenated UUID (``model::cluster_uuid``)."""
    return bool(_CLUSTER_UUID_RE.match(text))


def check_cluster_uuid(text: str) -> str:
    if not isinstance(text, str) or not is_cluster_uuid(text):
        raise ObjectKeyError(f"invalid cluster uuid {text!r} (expected a lower-case hyphenated UUID)")
    return text


def check_topic_name(name: str, what: str = "topic") -> str:
    """Kafka's topic name rule (letters, digits, ``.``, ``_``, ``-``; 1..249 chars; not ``.``/``..``)."""
    if not isinstance(name, str) or not _TOPIC_RE.match(name) or name in (".", ".."):
        raise ObjectKeyError(f"invalid {what} name {name!r}")
    return name


def _ntp_path(ns: str, topic: str, partition: int) -> str:
    check_topic_name(ns, "namespace")
    check_topic_name(topic)
    if not isinstance(partition, int) or partition < 0 or partition > 2**31 - 1:
        raise ObjectKeyError(f"invalid partition {partition!r}")
    return f"{ns}/{topic}/{partition}"


@dataclass(frozen=True, slots=True)
class SegmentName:
    """A parsed segment name; ``committed_offset``/``size_bytes`` are None for v1 names."""

    base_offset: int
    term: int
    committed_offset: int | None = None
    size_bytes: int | None = None

    def __str__(self) -> str:
        if self.committed_offset is None:
            return f"{self.base_offset}-{self.term}-v1.log"
        return f"{self.base_offset}-{self.committed_offset}-{self.size_bytes}-{self.term}-v1.log"


# Numbers in names and keys are ASCII decimal int64s: ``\d`` would also match other scripts' digits
# ("٣-1-v1.log"), which ``int()`` accepts but Redpanda never writes.
_U64 = r"[0-9]{1,20}"
_I64 = r"-?[0-9]{1,19}"
_NAME_V1 = re.compile(rf"^({_U64})-({_U64})-v1\.log$")
_NAME_V2 = re.compile(rf"^({_U64})-({_U64})-({_U64})-({_U64})-v1\.log$")
_INT64_MAX = 2**63 - 1


def _offset(text: str, what: str, key: str) -> int:
    value = int(text)
    if value > _INT64_MAX:
        raise ObjectKeyError(f"{what} {value} in {key!r} does not fit in int64")
    return value


def segment_name(
    *, base_offset: int, term: int, sname_format: int = 1, committed_offset: int = 0, size_bytes: int = 0
) -> str:
    """The remote segment name for a manifest entry."""
    if sname_format == 1:
        return f"{base_offset}-{term}-v1.log"
    if sname_format in (2, 3):
        return f"{base_offset}-{committed_offset}-{size_bytes}-{term}-v1.log"
    raise ObjectKeyError(f"unknown sname_format {sname_format}")


def parse_segment_name(name: str) -> SegmentName:
    """Parse ``{base}-{term}-v1.log`` or ``{base}-{committed}-{size}-{term}-v1.log``."""
    m = _NAME_V2.match(name)
    if m:
        return SegmentName(
            _offset(m[1], "base offset", name),
            _offset(m[4], "term", name),
            _offset(m[2], "committed offset", name),
            _offset(m[3], "size", name),
        )
    m = _NAME_V1.match(name)
    if m:
        return SegmentName(_offset(m[1], "base offset", name), _offset(m[2], "term", name))
    raise ObjectKeyError(f"not a segment name: {name!r}")


def segment_key(
    ns: str, topic: str, partition: int, revision: int, name: str, archiver_term: int | None = None
) -> str:
    """Prefixed segment key (``prefixed_segment_path``)."""
    path = f"{_ntp_path(ns, topic, partition)}_{revision}/{name}"
    hashed = f"{xxh32(path):08x}/{path}"
    return hashed if archiver_term is None else f"{hashed}.{archiver_term}"


def labeled_segment_key(
    cluster_uuid: str, ns: str, topic: str, partition: int, revision: int, name: str, archiver_term: int | None = None
) -> str:
    """Labeled segment key (``labeled_segment_path``)."""
    key = f"{check_cluster_uuid(cluster_uuid)}/{_ntp_path(ns, topic, partition)}_{revision}/{name}"
    return key if archiver_term is None else f"{key}.{archiver_term}"


def partition_manifest_prefix(ns: str, topic: str, partition: int, revision: int) -> str:
    ntp_rev = f"{_ntp_path(ns, topic, partition)}_{revision}"
    return f"{xxh32(ntp_rev) & _PREFIX_MASK:08x}/meta/{ntp_rev}"


def partition_manifest_key(ns: str, topic: str, partition: int, revision: int, *, fmt: str = "json") -> str:
    """``manifest.json`` (what we write) or ``manifest.bin`` (what current Redpanda writes)."""
    if fmt not in ("json", "bin"):
        raise ValueError(fmt)
    return f"{partition_manifest_prefix(ns, topic, partition, revision)}/manifest.{fmt}"


def labeled_partition_manifest_prefix(cluster_uuid: str, ns: str, topic: str, partition: int, revision: int) -> str:
    """``{uuid}/meta/{ns}/{topic}/{partition}_{rev}`` (``labeled_partition_manifest_prefix``)."""
    return f"{check_cluster_uuid(cluster_uuid)}/meta/{_ntp_path(ns, topic, partition)}_{revision}"


def labeled_partition_manifest_key(cluster_uuid: str, ns: str, topic: str, partition: int, revision: int) -> str:
    return f"{labeled_partition_manifest_prefix(cluster_uuid, ns, topic, partition, revision)}/manifest.bin"


def spillover_manifest_key(
    manifest_prefix: str, *, base: int, last: int, base_kafka: int, next_kafka: int, base_ts: int, last_ts: int
) -> str:
    """Key of a spillover manifest under a partition manifest prefix (``spillover_manifest_path``)."""
    return f"{manifest_prefix}/manifest.bin.{base}.{last}.{base_kafka}.{next_kafka}.{base_ts}.{last_ts}"


def topic_manifest_prefix(ns: str, topic: str) -> str:
    path = f"{check_topic_name(ns, 'namespace')}/{check_topic_name(topic)}"
    return f"{xxh32(path) & _PREFIX_MASK:08x}/meta/{path}"


def topic_manifest_key(ns: str, topic: str, *, fmt: str = "json") -> str:
    if fmt not in ("json", "bin"):
        raise ValueError(fmt)
    return f"{topic_manifest_prefix(ns, topic)}/topic_manifest.{fmt}"


def labeled_topic_manifest_key(cluster_uuid: str, ns: str, topic: str, revision: int) -> str:
    path = f"{check_topic_name(ns, 'namespace')}/{check_topic_name(topic)}"
    return f"meta/{path}/{check_cluster_uuid(cluster_uuid)}/{revision}/topic_manifest.bin"


# ---------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class PartitionKey:
    """What a partition manifest key names."""

    namespace: str
    topic: str
    partition: int
    revision: int
    fmt: str  # "json" | "bin"
    cluster_uuid: str | None = None


@dataclass(frozen=True, slots=True)
class SegmentKey:
    """What a segment (or companion) key names; ``suffix`` is "", ".index" or ".tx"."""

    namespace: str
    topic: str
    partition: int
    revision: int
    name: SegmentName
    archiver_term: int | None
    suffix: str = ""
    cluster_uuid: str | None = None


_HEX8 = r"[0-9a-f]{8}"
_NAME = r"[a-zA-Z0-9._\-]{1,249}"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_PART = r"[0-9]{1,10}"
_PM_PREFIXED = re.compile(rf"^({_HEX8})/meta/({_NAME})/({_NAME})/({_PART})_({_I64})/manifest\.(json|bin)$")
_PM_LABELED = re.compile(rf"^({_UUID})/meta/({_NAME})/({_NAME})/({_PART})_({_I64})/manifest\.bin$")
_SPILL = re.compile(
    rf"^((?:{_HEX8}|{_UUID})/meta/({_NAME})/({_NAME})/({_PART})_({_I64}))"
    rf"/manifest\.bin\.({_U64})\.({_U64})\.({_U64})\.({_U64})\.({_I64})\.({_I64})$"
)
_TM_PREFIXED = re.compile(rf"^({_HEX8})/meta/({_NAME})/({_NAME})/topic_manifest\.(json|bin)$")
_TM_LABELED = re.compile(rf"^meta/({_NAME})/({_NAME})/({_UUID})/({_I64})/topic_manifest\.bin$")
_SEG_PREFIXED = re.compile(
    rf"^({_HEX8})/({_NAME})/({_NAME})/({_PART})_({_I64})/([0-9\-]+-v1\.log)(?:\.({_U64}))?(\.index|\.tx)?$"
)
_SEG_LABELED = re.compile(
    rf"^({_UUID})/({_NAME})/({_NAME})/({_PART})_({_I64})/([0-9\-]+-v1\.log)(?:\.({_U64}))?(\.index|\.tx)?$"
)


def parse_partition_manifest_key(key: str) -> PartitionKey:
    m = _PM_PREFIXED.match(key)
    if m:
        pk = PartitionKey(m[2], m[3], int(m[4]), int(m[5]), m[6])
        expected = partition_manifest_key(pk.namespace, pk.topic, pk.partition, pk.revision, fmt=pk.fmt)
        if expected != key:
            raise ObjectKeyError(f"partition manifest key {key!r} has the wrong hash prefix (expected {expected!r})")
        return pk
    m = _PM_LABELED.match(key)
    if m:
        _ntp_path(m[2], m[3], int(m[4]))
        return PartitionKey(m[2], m[3], int(m[4]), int(m[5]), "bin", cluster_uuid=m[1])
    raise ObjectKeyError(f"not a partition manifest key: {key!r}")


def parse_spillover_manifest_key(key: str) -> tuple[str, dict[str, int]]:
    """Returns the partition manifest prefix (prefixed or labeled) and the six numbers in the name."""
    m = _SPILL.match(key)
    if not m:
        raise ObjectKeyError(f"not a spillover manifest key: {key!r}")
    prefix = m[1]
    if len(prefix.split("/", 1)[0]) == 8:  # hash prefix, not a cluster uuid
        expected = partition_manifest_prefix(m[2], m[3], int(m[4]), int(m[5]))
        if expected != prefix:
            raise ObjectKeyError(f"spillover manifest key {key!r} has the wrong hash prefix (expected {expected!r})")
    names = ("base", "last", "base_kafka", "next_kafka", "base_ts", "last_ts")
    return prefix, {n: _offset(v, n, key) for n, v in zip(names, m.groups()[5:], strict=True)}


def parse_topic_manifest_key(key: str) -> tuple[str, str, str, str | None]:
    """Returns ``(namespace, topic, fmt, cluster_uuid)``."""
    m = _TM_PREFIXED.match(key)
    if m:
        expected = topic_manifest_key(m[2], m[3], fmt=m[4])
        if expected != key:
            raise ObjectKeyError(f"topic manifest key {key!r} has the wrong hash prefix (expected {expected!r})")
        return m[2], m[3], m[4], None
    m = _TM_LABELED.match(key)
    if m:
        check_topic_name(m[1], "namespace")
        check_topic_name(m[2])
        return m[1], m[2], "bin", m[3]
    raise ObjectKeyError(f"not a topic manifest key: {key!r}")


def parse_segment_key(key: str) -> SegmentKey:
    """Parse a segment, ``.index`` or ``.tx`` key; the hash prefix must match the path."""
    m = _SEG_PREFIXED.match(key)
    labeled = False
    if not m:
        m = _SEG_LABELED.match(key)
        labeled = True
    if not m:
        raise ObjectKeyError(f"not a segment key: {key!r}")
    name = parse_segment_name(m[6])
    term = _offset(m[7], "archiver term", key) if m[7] is not None else None
    _ntp_path(m[2], m[3], int(m[4]))  # the same name rules as when building a key
    sk = SegmentKey(
        m[2], m[3], int(m[4]), int(m[5]), name, term, m[8] or "", cluster_uuid=m[1] if labeled else None
    )
    if not labeled:
        path = f"{sk.namespace}/{sk.topic}/{sk.partition}_{sk.revision}/{m[6]}"
        if f"{xxh32(path):08x}" != m[1]:
            raise ObjectKeyError(f"segment key {key!r} has the wrong hash prefix (expected {xxh32(path):08x})")
    return sk
