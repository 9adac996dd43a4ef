"""``topic_manifest.bin``: the serde topic manifest current Redpanda writes (labeled and prefixed layouts).

Layout (``src/v/cloud_storage/topic_manifest.cc``: ``topic_manifest_state``; ``src/v/cluster/
topic_configuration.{h,cc}``; ``src/v/cluster/topic_properties.h``); envelopes are ``u8 version, u8
compat_version, u32 LE body size``, integers little-endian, enums int32, ``optional`` a bool flag then the
value, ``tristate`` an int8 state (-1 disabled, 0 empty, 1 value) then the value, strings and vectors a u32
count::

    topic_manifest_state  envelope v0/c0 { cfg: topic_configuration, initial_revision: i64 }
    topic_configuration   envelope v2/c0 { ns: string, topic: string, partition_count: i32,
                                           replication_factor: i16, properties: topic_properties,
                                           is_migrated: bool (v2) }
    topic_properties      envelope v10/c0 { the fields of TopicProperties below, in that order }
    remote_label          envelope v0/c0 { cluster_uuid: 16 raw bytes }
    remote_topic_properties envelope v0/c0 { remote_revision: i64, remote_partition_count: i32 }
    leaders_preference    envelope v0/c0 { type: enum, racks: vector<string> }

A reader stops at the end of each envelope's body: fields an older writer did not have keep their defaults
and bytes a newer writer added after the known fields are kept (``trailer``) and written back, so a decode
→ encode round trip is byte-exact for any version. :meth:`TopicManifestBin.to_topic_manifest` gives the
common :class:`~segment_format.manifest.TopicManifest` (what ``topic_manifest.json`` holds, plus the label).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from segment_format.errors import ManifestError, SerdeError
from segment_format.manifest import TopicManifest
from segment_format.serde import SerdeReader, SerdeWriter

__all__ = [
    "DISABLED",
    "LeadersPreference",
    "RemoteTopicProperties",
    "TopicManifestBin",
    "TopicProperties",
    "decode_topic_manifest_bin",
    "encode_topic_manifest_bin",
]

DISABLED: Any = TopicManifest.DISABLED
"""A disabled ``tristate`` (state -1); ``None`` is an empty one (state 0); a number is set."""

COMPRESSION = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd", 255: "producer"}
CLEANUP_POLICY = {0: "none", 1: "delete", 2: "compact", 3: "compact,delete"}
COMPACTION_STRATEGY = {0: "offset", 1: "timestamp", 2: "header"}
TIMESTAMP_TYPE = {0: "CreateTime", 1: "LogAppendTime"}


_ALIASES = {"delete,compact": "compact,delete", "uncompressed": "none"}


def _xid_text(data: bytes) -> str:
    """An xid as Redpanda prints it (``utils/xid.h``, after rs/xid): base32hex, lower case, 20 characters."""
    return base64.b32hexencode(data).decode().lower().rstrip("=")


def _xid_bytes(text: str) -> bytes:
    try:
        data = base64.b32hexdecode(text.upper() + "=" * (-len(text) % 8))
    except ValueError:
        raise ManifestError(f"topic manifest: virtual_cluster_id {text!r} is not an xid") from None
    if len(data) != 12:
        raise ManifestError(f"topic manifest: virtual_cluster_id {text!r} is not an xid (12 bytes)")
    return data


@dataclass(frozen=True, slots=True)
class RemoteTopicProperties:
    remote_revision: int
    remote_partition_count: int
    trailer: bytes = b""


@dataclass(frozen=True, slots=True)
class LeadersPreference:
    type: int  # 0 none, 1 racks
    racks: tuple[str, ...] = ()
    trailer: bytes = b""


# field kinds: how each TopicProperties field is (de)serialized
_OPT_ENUM, _OPT_U64, _TRI, _OPT_BOOL, _OPT_STR, _OPT_U32, _BOOL, _OPT_I64, _ENUM = range(9)
_OPT_REMOTE_PROPS, _OPT_VCLUSTER, _OPT_LABEL, _OPT_TP_NS, _OPT_LEADERS = range(9, 14)


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicProperties:
    """``cluster::topic_properties`` (serde version 10), every field in serialization order."""

    compression: int | None = None
    cleanup_policy_bitflags: int | None = None
    compaction_strategy: int | None = None
    timestamp_type: int | None = None
    segment_size: int | None = None
    retention_bytes: Any = None
    retention_duration: Any = None  # ms
    recovery: bool | None = None
    shadow_indexing: int | None = None
    read_replica: bool | None = None  # v1
    read_replica_bucket: str | None = None
    remote_topic_properties: RemoteTopicProperties | None = None
    batch_max_bytes: int | None = None  # v2
    retention_local_target_bytes: Any = None  # v3
    retention_local_target_ms: Any = None
    remote_delete: bool = True
    segment_ms: Any = None  # v4
    record_key_schema_id_validation: bool | None = None  # v5
    record_key_schema_id_validation_compat: bool | None = None
    record_key_subject_name_strategy: int | None = None
    record_key_subject_name_strategy_compat: int | None = None
    record_value_schema_id_validation: bool | None = None
    record_value_schema_id_validation_compat: bool | None = None
    record_value_subject_name_strategy: int | None = None
    record_value_subject_name_strategy_compat: int | None = None
    initial_retention_local_target_bytes: Any = None  # v6
    initial_retention_local_target_ms: Any = None
    mpx_virtual_cluster_id: bytes | None = None  # v7
    write_caching: int | None = None  # v8
    flush_ms: int | None = None
    flush_bytes: int | None = None
    remote_label: str | None = None  # v9: the cluster UUID of a labeled topic's keys
    remote_topic_namespace_override: tuple[str, str] | None = None
    iceberg_mode: int = 0  # v10
    leaders_preference: LeadersPreference | None = None
    cloud_topic_enabled: bool = False
    delete_retention_ms: Any = DISABLED
    iceberg_delete: bool | None = None
    fields_present: int = 0
    """How many fields the body carried (0: all known, when built by hand)."""
    trailer: bytes = b""
    """Bytes a newer writer put after the known fields, written back unchanged."""

    KINDS: ClassVar[tuple[int, ...]] = (
        _OPT_ENUM, _OPT_ENUM, _OPT_ENUM, _OPT_ENUM, _OPT_U64, _TRI, _TRI, _OPT_BOOL, _OPT_ENUM,
        _OPT_BOOL, _OPT_STR, _OPT_REMOTE_PROPS,
        _OPT_U32,
        _TRI, _TRI, _BOOL,
        _TRI,
        _OPT_BOOL, _OPT_BOOL, _OPT_ENUM, _OPT_ENUM, _OPT_BOOL, _OPT_BOOL, _OPT_ENUM, _OPT_ENUM,
        _TRI, _TRI,
        _OPT_VCLUSTER,
        _OPT_ENUM, _OPT_I64, _OPT_U64,
        _OPT_LABEL, _OPT_TP_NS,
        _ENUM, _OPT_LEADERS, _BOOL, _TRI, _OPT_BOOL,
    )


_PROPERTY_NAMES = tuple(f.name for f in fields(TopicProperties))[: len(TopicProperties.KINDS)]
PROPERTIES_VERSION = 10
CONFIG_VERSION = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicManifestBin:
    """``topic_manifest_state``: a topic's configuration and its initial revision."""

    namespace: str
    topic: str
    partition_count: int
    replication_factor: int
    properties: TopicProperties = field(default_factory=TopicProperties)
    is_migrated: bool = False
    initial_revision: int = 0
    state_version: int = 0
    config_version: int = CONFIG_VERSION
    properties_version: int = PROPERTIES_VERSION
    config_trailer: bytes = b""
    state_trailer: bytes = b""

    def to_topic_manifest(self) -> TopicManifest:
        """The common model (``topic_manifest.json``'s fields) with the topic's remote label."""
        p = self.properties
        return TopicManifest(
            namespace=self.namespace,
            topic=self.topic,
            partition_count=self.partition_count,
            replication_factor=self.replication_factor,
            revision_id=self.initial_revision,
            compression=COMPRESSION.get(p.compression, str(p.compression)) if p.compression is not None else None,
            cleanup_policy_bitflags=(CLEANUP_POLICY.get(p.cleanup_policy_bitflags, str(p.cleanup_policy_bitflags))
                                     if p.cleanup_policy_bitflags is not None else None),
            compaction_strategy=(COMPACTION_STRATEGY.get(p.compaction_strategy, str(p.compaction_strategy))
                                 if p.compaction_strategy is not None else None),
            timestamp_type=(TIMESTAMP_TYPE.get(p.timestamp_type, str(p.timestamp_type))
                            if p.timestamp_type is not None else None),
            segment_size=p.segment_size,
            retention_bytes=p.retention_bytes,
            retention_duration=p.retention_duration,
            virtual_cluster_id=_xid_text(p.mpx_virtual_cluster_id) if p.mpx_virtual_cluster_id is not None else None,
            remote_label=p.remote_label,
        )

    @classmethod
    def from_topic_manifest(cls, tm: TopicManifest) -> TopicManifestBin:
        """What Redpanda would write for ``tm`` (remote deletes on, as for every new topic)."""

        def enum(table: dict[int, str], value: str | None, name: str) -> int | None:
            if value is None:
                return None
            try:
                return {v: k for k, v in table.items()}[_ALIASES.get(value, value)]
            except KeyError:
                raise ManifestError(f"topic manifest: unknown {name} {value!r}") from None

        props = TopicProperties(
            compression=enum(COMPRESSION, tm.compression, "compression"),
            cleanup_policy_bitflags=enum(CLEANUP_POLICY, tm.cleanup_policy_bitflags, "cleanup policy"),
            compaction_strategy=enum(COMPACTION_STRATEGY, tm.compaction_strategy, "compaction strategy"),
            timestamp_type=enum(TIMESTAMP_TYPE, tm.timestamp_type, "timestamp type"),
            segment_size=tm.segment_size,
            retention_bytes=tm.retention_bytes,
            retention_duration=tm.retention_duration,
            mpx_virtual_cluster_id=_xid_bytes(tm.virtual_cluster_id) if tm.virtual_cluster_id else None,
            remote_label=tm.remote_label,
        )
        return cls(namespace=tm.namespace, topic=tm.topic, partition_count=tm.partition_count,
                   replication_factor=tm.replication_factor, properties=props, initial_revision=tm.revision_id)


# ----------------------------------------------------------------------------------------------- reading


def _read_tristate(r: SerdeReader, read: Callable[[SerdeReader], int]) -> Any:
    state = r.read_i8()
    if state == -1:
        return DISABLED
    if state == 0:
        return None
    if state != 1:
        raise SerdeError(f"tristate state {state} (expected -1, 0 or 1)", position=r.position - 1)
    return read(r)


def _read_uuid(r: SerdeReader) -> str:
    return str(uuid.UUID(bytes=bytes(r.read_raw(16))))


def _read_label(r: SerdeReader) -> str:
    with r.envelope(0, 0, "remote_label"):
        label = _read_uuid(r)
        if r.remaining():
            r.read_raw(r.remaining())  # a newer remote_label's fields: the UUID is what names keys
    return label


def _read_remote_props(r: SerdeReader) -> RemoteTopicProperties:
    with r.envelope(0, 0, "remote_topic_properties"):
        rev = r.read_i64()
        count = r.read_i32()
        trailer = bytes(r.read_raw(r.remaining()))
    return RemoteTopicProperties(rev, count, trailer)


def _read_leaders(r: SerdeReader) -> LeadersPreference:
    with r.envelope(0, 0, "leaders_preference"):
        kind = r.read_enum()
        racks = tuple(r.read_vector(SerdeReader.read_string))
        trailer = bytes(r.read_raw(r.remaining()))
    return LeadersPreference(kind, racks, trailer)


def _read_tp_ns(r: SerdeReader) -> tuple[str, str]:
    return r.read_string(), r.read_string()


_READERS: dict[int, Callable[[SerdeReader], Any]] = {
    _OPT_ENUM: lambda r: r.read_optional(SerdeReader.read_enum),
    _OPT_U64: lambda r: r.read_optional(SerdeReader.read_u64),
    _TRI: lambda r: _read_tristate(r, SerdeReader.read_i64),
    _OPT_BOOL: lambda r: r.read_optional(SerdeReader.read_bool),
    _OPT_STR: lambda r: r.read_optional(SerdeReader.read_string),
    _OPT_U32: lambda r: r.read_optional(SerdeReader.read_u32),
    _BOOL: SerdeReader.read_bool,
    _OPT_I64: lambda r: r.read_optional(SerdeReader.read_i64),
    _ENUM: SerdeReader.read_enum,
    _OPT_REMOTE_PROPS: lambda r: r.read_optional(_read_remote_props),
    _OPT_VCLUSTER: lambda r: r.read_optional(lambda x: bytes(x.read_u8() for _ in range(x.read_size()))),
    _OPT_LABEL: lambda r: r.read_optional(_read_label),
    _OPT_TP_NS: lambda r: r.read_optional(_read_tp_ns),
    _OPT_LEADERS: lambda r: r.read_optional(_read_leaders),
}


def _read_properties(r: SerdeReader) -> tuple[TopicProperties, int]:
    values: dict[str, Any] = {}
    with r.envelope(PROPERTIES_VERSION, 0, "topic_properties") as hdr:
        present = 0
        for name, kind in zip(_PROPERTY_NAMES, TopicProperties.KINDS, strict=True):
            if not r.remaining():
                break
            values[name] = _READERS[kind](r)
            present += 1
        trailer = bytes(r.read_raw(r.remaining()))
    if hdr.version < 3:
        values.setdefault("remote_delete", False)  # topic_configuration::serde_read: legacy topics
    return TopicProperties(**values, fields_present=present, trailer=trailer), hdr.version


def decode_topic_manifest_bin(data: bytes | bytearray | memoryview) -> TopicManifestBin:
    """Decode ``topic_manifest.bin``; raises :class:`ManifestError` naming what is wrong."""
    r = SerdeReader(data)
    try:
        with r.envelope(0, 0, "topic_manifest_state") as state:
            with r.envelope(CONFIG_VERSION, 0, "topic_configuration") as cfg:
                ns = r.read_string()
                topic = r.read_string()
                partitions = r.read_i32()
                replication = r.read_i16()
                props, props_version = _read_properties(r)
                migrated = r.read_bool() if cfg.version >= 2 and r.remaining() else False
                config_trailer = bytes(r.read_raw(r.remaining()))
            revision = r.read_i64()
            state_trailer = bytes(r.read_raw(r.remaining()))
        r.expect_end("topic manifest")
    except SerdeError as e:
        raise ManifestError(f"topic_manifest.bin: {e}") from e
    except (UnicodeDecodeError, ValueError) as e:
        raise ManifestError(f"topic_manifest.bin: {e}") from e
    if partitions <= 0:
        raise ManifestError(f"topic_manifest.bin {ns}/{topic}: partition_count must be positive, got {partitions}")
    return TopicManifestBin(namespace=ns, topic=topic, partition_count=partitions, replication_factor=replication,
                            properties=props, is_migrated=migrated, initial_revision=revision,
                            state_version=state.version, config_version=cfg.version,
                            properties_version=props_version,
                            config_trailer=config_trailer, state_trailer=state_trailer)


# ----------------------------------------------------------------------------------------------- writing


def _write_tristate(w: SerdeWriter, value: Any) -> None:
    if value is DISABLED:
        w.write_i8(-1)
    elif value is None:
        w.write_i8(0)
    else:
        w.write_i8(1)
        w.write_i64(value)


def _write_label(w: SerdeWriter, label: str) -> None:
    with w.envelope(0, 0):
        w.write_raw(uuid.UUID(label).bytes)


def _write_remote_props(w: SerdeWriter, p: RemoteTopicProperties) -> None:
    with w.envelope(0, 0):
        w.write_i64(p.remote_revision)
        w.write_i32(p.remote_partition_count)
        w.write_raw(p.trailer)


def _write_leaders(w: SerdeWriter, p: LeadersPreference) -> None:
    with w.envelope(0, 0):
        w.write_enum(p.type)
        w.write_vector(p.racks, SerdeWriter.write_string)
        w.write_raw(p.trailer)


def _write_vcluster(w: SerdeWriter, v: bytes) -> None:
    w.write_size(len(v))
    w.write_raw(v)


def _write_tp_ns(w: SerdeWriter, v: tuple[str, str]) -> None:
    w.write_string(v[0])
    w.write_string(v[1])


_WRITERS: dict[int, Callable[[SerdeWriter, Any], None]] = {
    _OPT_ENUM: lambda w, v: w.write_optional(v, SerdeWriter.write_enum),
    _OPT_U64: lambda w, v: w.write_optional(v, SerdeWriter.write_u64),
    _TRI: _write_tristate,
    _OPT_BOOL: lambda w, v: w.write_optional(v, SerdeWriter.write_bool),
    _OPT_STR: lambda w, v: w.write_optional(v, SerdeWriter.write_string),
    _OPT_U32: lambda w, v: w.write_optional(v, SerdeWriter.write_u32),
    _BOOL: SerdeWriter.write_bool,
    _OPT_I64: lambda w, v: w.write_optional(v, SerdeWriter.write_i64),
    _ENUM: SerdeWriter.write_enum,
    _OPT_REMOTE_PROPS: lambda w, v: w.write_optional(v, _write_remote_props),
    _OPT_VCLUSTER: lambda w, v: w.write_optional(v, _write_vcluster),
    _OPT_LABEL: lambda w, v: w.write_optional(v, _write_label),
    _OPT_TP_NS: lambda w, v: w.write_optional(v, _write_tp_ns),
    _OPT_LEADERS: lambda w, v: w.write_optional(v, _write_leaders),
}


def encode_topic_manifest_bin(m: TopicManifestBin | TopicManifest) -> bytes:
    """Serialize a topic manifest as Redpanda does (a :class:`TopicManifest` is converted first)."""
    if isinstance(m, TopicManifest):
        m = TopicManifestBin.from_topic_manifest(m)
    p = m.properties
    count = p.fields_present or len(_PROPERTY_NAMES)
    if p.trailer and count != len(_PROPERTY_NAMES):
        raise ValueError("unknown trailing properties can only follow all known properties")
    w = SerdeWriter()
    with w.envelope(m.state_version, 0):
        with w.envelope(m.config_version, 0):
            w.write_string(m.namespace)
            w.write_string(m.topic)
            w.write_i32(m.partition_count)
            w.write_i16(m.replication_factor)
            with w.envelope(m.properties_version, 0):
                for name, kind in list(zip(_PROPERTY_NAMES, TopicProperties.KINDS, strict=True))[:count]:
                    _WRITERS[kind](w, getattr(p, name))
                w.write_raw(p.trailer)
            if m.config_version >= 2:
                w.write_bool(m.is_migrated)
            w.write_raw(m.config_trailer)
        w.write_i64(m.initial_revision)
        w.write_raw(m.state_trailer)
    return w.getvalue()
