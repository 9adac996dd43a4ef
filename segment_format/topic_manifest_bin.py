"""The binary topic manifest ``topic_manifest.bin`` (serde ``topic_manifest_state``), decode and encode.

Theory of operation (``src/v/cloud_storage/topic_manifest.{h,cc}``, ``src/v/cluster/topic_configuration.{h,cc}``,
``src/v/cluster/topic_properties.h``, ``src/v/cluster/remote_topic_properties.h``,
``src/v/cloud_storage/remote_label.h``, ``src/v/config/leaders_preference.h``, ``src/v/utils/xid.cc``,
``src/v/serde/rw/{tristate_rw,chrono,enum,uuid,array}.h``)::

    topic_manifest_state      envelope(0, 0)
      cfg                     topic_configuration  envelope(2, 0), custom serde_read:
                                sstring ns | sstring topic | i32 partition_count | i16 replication_factor |
                                topic_properties | bool is_migrated (only read when version >= 2)
      initial_revision        i64
    topic_properties          envelope(10, 0): 38 fields, see _PROPERTY_FIELDS (serde_fields order, which is
                              not the constructor's order: remote_topic_namespace_override comes 33rd)
    remote_topic_properties   envelope(0, 0): i64 remote_revision | i32 remote_partition_count
    remote_label              envelope(0, 0): uuid (16 raw bytes, no length)
    leaders_preference        envelope(0, 0): enum type (int32) | vector<sstring> racks

    optional<T>    bool present | [T]
    tristate<T>    i8 flag: -1 disabled, 0 enabled and empty, 1 followed by T
    duration       i64 **nanoseconds** (``checked_duration_cast_to_nanoseconds``, clamped on overflow);
                   a reader truncates towards zero to milliseconds
    enum           int32, refused by the reader when above the underlying type's maximum
    xid            std::array<uint8_t, 12>: u32 count (must be 12) | 12 bytes

Durations are kept here as the serialized nanoseconds (the ``*_ns`` names) so that decode → encode is
byte-exact; enums are kept as the serialized int32.

Evolution, as ``tag_invoke(read_tag, envelope)`` applies it: a ``serde_fields`` envelope is read field by
field *while its body has bytes*, so an older writer's shorter body leaves the later fields at their C++
defaults, and a newer writer's extra fields are skipped. Here both cases are recorded in an
:class:`EnvelopeInfo` (how many known fields the body held, and the unknown bytes after them) so that
the re-encoding is byte-exact; ``envelope=None`` means "as current Redpanda writes it". The envelope
version and compat_version are recorded too; an envelope whose compat_version is newer than the version
known here is refused, as Redpanda refuses it.

Divergences from the C++ reader, on purpose: every read inside an envelope is bounded by that
envelope (see :mod:`segment_format.serde`; Redpanda's uuid reader ignores the bound); a version-0
``topic_configuration`` keeps the ``remote_delete`` byte it carries (Redpanda overrides it with false, see
:attr:`TopicConfiguration.effective_remote_delete`). ``tools/offline_log_viewer`` reads
``leaders_preference.racks`` as an optional vector; C++ (and this module) has a plain vector.

:func:`state_to_topic_manifest` gives the :class:`~segment_format.manifest.TopicManifest` that parsing the
``topic_manifest.json`` written by ``topic_manifest::serialize_v1_json`` for the same state would give,
plus the ``remote_label``; :func:`topic_manifest_to_state` builds the state current Redpanda serializes for
such a topic (every other property at its ``topic_properties{}`` default).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from segment_format.errors import ManifestError, SerdeError
from segment_format.manifest import Disabled, TopicManifest, parse_topic_manifest
from segment_format.serde import (
    EnvelopeInfo,
    FieldSpec,
    SerdeReader,
    SerdeWriter,
    read_fields_envelope,
    write_fields_envelope,
)

__all__ = [
    "CLEANUP_POLICY_NAMES",
    "COMPACTION_STRATEGY_NAMES",
    "COMPRESSION_NAMES",
    "DISABLED",
    "TIMESTAMP_TYPE_NAMES",
    "EnvelopeInfo",
    "LeadersPreference",
    "RemoteLabel",
    "RemoteTopicProperties",
    "TopicConfiguration",
    "TopicManifestState",
    "TopicNamespace",
    "TopicProperties",
    "decode_topic_manifest",
    "decode_topic_manifest_bin",
    "encode_topic_manifest",
    "encode_topic_manifest_bin",
    "ms_to_ns",
    "ns_to_ms",
    "state_to_topic_manifest",
    "topic_manifest_to_state",
    "xid_from_string",
    "xid_to_string",
]

INT64_MIN: Final = -(1 << 63)
INT64_MAX: Final = (1 << 63) - 1
DISABLED: Final[Disabled] = TopicManifest.DISABLED
"""A disabled ``tristate<T>`` (flag -1); ``None`` is the enabled-but-empty state (flag 0)."""

Tristate = int | None | Disabled

COMPRESSION_NAMES: Final = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd", 255: "producer"}
"""``model::compression`` (uint8) → ``operator<<`` text."""
CLEANUP_POLICY_NAMES: Final = {0: "none", 1: "delete", 2: "compact", 3: "compact,delete"}
"""``model::cleanup_policy_bitflags`` (uint8) → ``operator<<`` text."""
COMPACTION_STRATEGY_NAMES: Final = {0: "offset", 1: "timestamp", 2: "header"}
"""``model::compaction_strategy`` (int8) → ``operator<<`` text."""
TIMESTAMP_TYPE_NAMES: Final = {0: "CreateTime", 1: "LogAppendTime"}
"""``model::timestamp_type`` (uint8) → ``operator<<`` text."""

_XID_SIZE = 12
_NS_PER_MS = 1_000_000


# ---------------------------------------------------------------------------------------------------
# small conversions


def ns_to_ms(ns: int) -> int:
    """``duration_cast<milliseconds>(nanoseconds{ns})``: truncation towards zero."""
    q = abs(ns) // _NS_PER_MS
    return q if ns >= 0 else -q


def ms_to_ns(ms: int) -> int:
    """``checked_duration_cast_to_nanoseconds``: ms → ns, clamped to the int64 range on overflow."""
    ns = ms * _NS_PER_MS
    return max(INT64_MIN, min(INT64_MAX, ns))


def xid_to_string(data: bytes) -> str:
    """The 20-character form ``fmt::formatter<xid>`` prints (base32hex, lowercase, unpadded)."""
    if len(data) != _XID_SIZE:
        raise ValueError(f"an xid has {_XID_SIZE} bytes, got {len(data)}")
    return base64.b32hexencode(data).decode("ascii").rstrip("=").lower()


def xid_from_string(text: str) -> bytes:
    """``xid::from_string``: 20 characters of ``0-9a-v`` whose unused trailing bits are zero."""
    if len(text) != 20 or any(c not in "0123456789abcdefghijklmnopqrstuv" for c in text):
        raise ValueError(f"{text!r} is not a valid xid")
    data = base64.b32hexdecode(text.upper() + "====")
    if xid_to_string(data) != text:
        raise ValueError(f"{text!r} is not a valid xid (bad last character)")
    return data


def _canonical_uuid(text: str) -> str:
    try:
        canonical = str(uuid.UUID(text))
    except (ValueError, AttributeError, TypeError):
        raise ValueError(f"{text!r} is not a UUID") from None
    if canonical != text:
        raise ValueError(f"{text!r} is not a UUID in canonical lowercase form ({canonical!r})")
    return canonical


# ---------------------------------------------------------------------------------------------------
# data model


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteTopicProperties:
    """``cluster::remote_topic_properties``: the source revision and partition count of a recovered or
    read-replica topic."""

    VERSION: ClassVar[int] = 0
    COMPAT_VERSION: ClassVar[int] = 0

    remote_revision: int = INT64_MIN
    remote_partition_count: int = 0
    envelope: EnvelopeInfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteLabel:
    """``cloud_storage::remote_label``: the cluster UUID that prefixes a labeled topic's object keys."""

    VERSION: ClassVar[int] = 0
    COMPAT_VERSION: ClassVar[int] = 0

    cluster_uuid: str = "00000000-0000-0000-0000-000000000000"
    """Canonical lowercase form (``ss::sstring(uuid_t)``), as it appears in object keys."""
    envelope: EnvelopeInfo | None = None


@dataclass(frozen=True, slots=True)
class TopicNamespace:
    """``model::topic_namespace`` (two strings, no envelope)."""

    ns: str
    topic: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadersPreference:
    """``config::leaders_preference``: ``type`` 0 none, 1 racks."""

    VERSION: ClassVar[int] = 0
    COMPAT_VERSION: ClassVar[int] = 0

    type: int = 0
    racks: tuple[str, ...] = ()
    envelope: EnvelopeInfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicProperties:
    """``cluster::topic_properties`` (version 10), defaults as ``topic_properties{}``.

    Optionals are ``None`` when absent; tristates are :data:`DISABLED`, ``None`` (enabled, empty) or a
    value; ``*_ns`` durations are the serialized nanoseconds; enums are raw int32 values.
    """

    VERSION: ClassVar[int] = 10
    COMPAT_VERSION: ClassVar[int] = 0

    compression: int | None = None
    cleanup_policy_bitflags: int | None = None
    compaction_strategy: int | None = None
    timestamp_type: int | None = None
    segment_size: int | None = None
    retention_bytes: Tristate = None
    retention_duration_ns: Tristate = None
    recovery: bool | None = None
    shadow_indexing: int | None = None
    read_replica: bool | None = None
    read_replica_bucket: str | None = None
    remote_topic_properties: RemoteTopicProperties | None = None
    batch_max_bytes: int | None = None
    retention_local_target_bytes: Tristate = None
    retention_local_target_ms_ns: Tristate = None
    remote_delete: bool = True
    segment_ms_ns: Tristate = None
    record_key_schema_id_validation: bool | None = None
    record_key_schema_id_validation_compat: bool | None = None
    record_key_subject_name_strategy: int | None = None
    record_key_subject_name_strategy_compat: int | None = None
    record_value_schema_id_validation: bool | None = None
    record_value_schema_id_validation_compat: bool | None = None
    record_value_subject_name_strategy: int | None = None
    record_value_subject_name_strategy_compat: int | None = None
    initial_retention_local_target_bytes: Tristate = None
    initial_retention_local_target_ms_ns: Tristate = None
    mpx_virtual_cluster_id: bytes | None = None
    """The 12 bytes of an xid (see :func:`xid_to_string`)."""
    write_caching: int | None = None
    flush_ms_ns: int | None = None
    flush_bytes: int | None = None
    remote_label: RemoteLabel | None = None
    remote_topic_namespace_override: TopicNamespace | None = None
    iceberg_mode: int = 0
    leaders_preference: LeadersPreference | None = None
    cloud_topic_enabled: bool = False
    delete_retention_ms_ns: Tristate = DISABLED
    iceberg_delete: bool | None = None
    envelope: EnvelopeInfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicConfiguration:
    """``cluster::topic_configuration`` (version 2)."""

    VERSION: ClassVar[int] = 2
    COMPAT_VERSION: ClassVar[int] = 0

    namespace: str = ""
    topic: str = ""
    partition_count: int = 0
    replication_factor: int = 0
    properties: TopicProperties = field(default_factory=TopicProperties)
    is_migrated: bool = False
    envelope: EnvelopeInfo | None = None

    @property
    def effective_remote_delete(self) -> bool:
        """``serde_read`` forces ``remote_delete`` to false for a version-0 configuration (legacy
        tiered-storage topics keep their data on deletion)."""
        version = self.envelope.version if self.envelope is not None else self.VERSION
        return False if version < 1 else self.properties.remote_delete


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicManifestState:
    """``topic_manifest_state``: the whole ``topic_manifest.bin`` object."""

    VERSION: ClassVar[int] = 0
    COMPAT_VERSION: ClassVar[int] = 0

    cfg: TopicConfiguration = field(default_factory=TopicConfiguration)
    initial_revision: int = INT64_MIN
    envelope: EnvelopeInfo | None = None

    def to_topic_manifest(self) -> TopicManifest:
        """:func:`state_to_topic_manifest` of this state."""
        return state_to_topic_manifest(self)


# ---------------------------------------------------------------------------------------------------
# primitive readers/writers

_Reader = Callable[[SerdeReader], Any]
_Writer = Callable[[SerdeWriter, Any], None]


def _enum_reader(max_value: int) -> _Reader:
    """``serde`` enum: int32, refused when greater than the underlying type's maximum."""

    def read(r: SerdeReader) -> int:
        start = r.position
        v = r.read_enum()
        if v > max_value:
            raise SerdeError(f"enum value {v} too large for its type (max {max_value})", position=start)
        return v

    return read


_U8_ENUM = _enum_reader(0xFF)
_I8_ENUM = _enum_reader(0x7F)
_INT_ENUM = _enum_reader(0x7FFF_FFFF)


def _opt(read: _Reader, write: _Writer) -> tuple[_Reader, _Writer]:
    return (lambda r: r.read_optional(read)), (lambda w, v: w.write_optional(v, write))


def _read_tristate(read: _Reader) -> _Reader:
    def go(r: SerdeReader) -> Any:
        start = r.position
        flag = r.read_i8()
        if flag == -1:
            return DISABLED
        if flag == 0:
            return None
        if flag == 1:
            return read(r)
        raise SerdeError(f"tristate flag {flag}: expected -1, 0 or 1", position=start)

    return go


def _write_tristate(write: _Writer) -> _Writer:
    def go(w: SerdeWriter, v: Any) -> None:
        if isinstance(v, Disabled):
            w.write_i8(-1)
        elif v is None:
            w.write_i8(0)
        else:
            w.write_i8(1)
            write(w, v)

    return go


def _tri(read: _Reader, write: _Writer) -> tuple[_Reader, _Writer]:
    return _read_tristate(read), _write_tristate(write)


def _read_xid(r: SerdeReader) -> bytes:
    return bytes(r.read_array(_XID_SIZE, SerdeReader.read_u8))


def _write_xid(w: SerdeWriter, v: bytes) -> None:
    w.write_array(_XID_SIZE, v, SerdeWriter.write_u8)


def _read_uuid(r: SerdeReader) -> str:
    return str(uuid.UUID(bytes=bytes(r.read_raw(16))))


def _write_uuid(w: SerdeWriter, v: str) -> None:
    w.write_raw(uuid.UUID(_canonical_uuid(v)).bytes)


def _read_topic_namespace(r: SerdeReader) -> TopicNamespace:
    return TopicNamespace(r.read_string(), r.read_string())


def _write_topic_namespace(w: SerdeWriter, v: TopicNamespace) -> None:
    w.write_string(v.ns)
    w.write_string(v.topic)


_I64 = (SerdeReader.read_i64, SerdeWriter.write_i64)
_U64 = (SerdeReader.read_u64, SerdeWriter.write_u64)
_BOOL = (SerdeReader.read_bool, SerdeWriter.write_bool)


# ---------------------------------------------------------------------------------------------------
# envelopes


_REMOTE_TOPIC_PROPERTIES_FIELDS: list[FieldSpec] = [
    ("remote_revision", *_I64),
    ("remote_partition_count", SerdeReader.read_i32, SerdeWriter.write_i32),
]
_REMOTE_LABEL_FIELDS: list[FieldSpec] = [("cluster_uuid", _read_uuid, _write_uuid)]
_LEADERS_PREFERENCE_FIELDS: list[FieldSpec] = [
    ("type", _INT_ENUM, SerdeWriter.write_enum),
    (
        "racks",
        lambda r: tuple(r.read_vector(SerdeReader.read_string)),
        lambda w, v: w.write_vector(v, SerdeWriter.write_string),
    ),
]


def _read_remote_topic_properties(r: SerdeReader) -> RemoteTopicProperties:
    res: RemoteTopicProperties = read_fields_envelope(
        r, RemoteTopicProperties, _REMOTE_TOPIC_PROPERTIES_FIELDS, "remote_topic_properties"
    )
    return res


def _read_remote_label(r: SerdeReader) -> RemoteLabel:
    res: RemoteLabel = read_fields_envelope(r, RemoteLabel, _REMOTE_LABEL_FIELDS, "remote_label")
    return res


def _read_leaders_preference(r: SerdeReader) -> LeadersPreference:
    res: LeadersPreference = read_fields_envelope(
        r, LeadersPreference, _LEADERS_PREFERENCE_FIELDS, "leaders_preference"
    )
    return res


def _envelope_writer(fields: Sequence[FieldSpec]) -> _Writer:
    return lambda w, v: write_fields_envelope(w, v, fields)


_OPT_U8_ENUM = _opt(_U8_ENUM, SerdeWriter.write_enum)
_OPT_BOOL = _opt(*_BOOL)
_TRI_U64 = _tri(*_U64)
_TRI_NS = _tri(*_I64)

_PROPERTY_FIELDS: list[FieldSpec] = [
    ("compression", *_OPT_U8_ENUM),
    ("cleanup_policy_bitflags", *_OPT_U8_ENUM),
    ("compaction_strategy", *_opt(_I8_ENUM, SerdeWriter.write_enum)),
    ("timestamp_type", *_OPT_U8_ENUM),
    ("segment_size", *_opt(*_U64)),
    ("retention_bytes", *_TRI_U64),
    ("retention_duration_ns", *_TRI_NS),
    ("recovery", *_OPT_BOOL),
    ("shadow_indexing", *_OPT_U8_ENUM),
    ("read_replica", *_OPT_BOOL),
    ("read_replica_bucket", *_opt(SerdeReader.read_string, SerdeWriter.write_string)),
    (
        "remote_topic_properties",
        *_opt(_read_remote_topic_properties, _envelope_writer(_REMOTE_TOPIC_PROPERTIES_FIELDS)),
    ),
    ("batch_max_bytes", *_opt(SerdeReader.read_u32, SerdeWriter.write_u32)),
    ("retention_local_target_bytes", *_TRI_U64),
    ("retention_local_target_ms_ns", *_TRI_NS),
    ("remote_delete", *_BOOL),
    ("segment_ms_ns", *_TRI_NS),
    ("record_key_schema_id_validation", *_OPT_BOOL),
    ("record_key_schema_id_validation_compat", *_OPT_BOOL),
    ("record_key_subject_name_strategy", *_OPT_U8_ENUM),
    ("record_key_subject_name_strategy_compat", *_OPT_U8_ENUM),
    ("record_value_schema_id_validation", *_OPT_BOOL),
    ("record_value_schema_id_validation_compat", *_OPT_BOOL),
    ("record_value_subject_name_strategy", *_OPT_U8_ENUM),
    ("record_value_subject_name_strategy_compat", *_OPT_U8_ENUM),
    ("initial_retention_local_target_bytes", *_TRI_U64),
    ("initial_retention_local_target_ms_ns", *_TRI_NS),
    ("mpx_virtual_cluster_id", *_opt(_read_xid, _write_xid)),
    ("write_caching", *_OPT_U8_ENUM),
    ("flush_ms_ns", *_opt(*_I64)),
    ("flush_bytes", *_opt(*_U64)),
    ("remote_label", *_opt(_read_remote_label, _envelope_writer(_REMOTE_LABEL_FIELDS))),
    ("remote_topic_namespace_override", *_opt(_read_topic_namespace, _write_topic_namespace)),
    ("iceberg_mode", _U8_ENUM, SerdeWriter.write_enum),
    ("leaders_preference", *_opt(_read_leaders_preference, _envelope_writer(_LEADERS_PREFERENCE_FIELDS))),
    ("cloud_topic_enabled", *_BOOL),
    ("delete_retention_ms_ns", *_TRI_NS),
    ("iceberg_delete", *_OPT_BOOL),
]
"""``topic_properties::serde_fields()``, in order."""


def _read_properties(r: SerdeReader) -> TopicProperties:
    res: TopicProperties = read_fields_envelope(r, TopicProperties, _PROPERTY_FIELDS, "topic_properties")
    return res


def _read_configuration(r: SerdeReader) -> TopicConfiguration:
    """``topic_configuration::serde_read``: four fields always, ``is_migrated`` from version 2 on."""
    cls = TopicConfiguration
    with r.envelope(cls.VERSION, cls.COMPAT_VERSION, "topic_configuration") as hdr:
        ns = r.read_string()
        topic = r.read_string()
        partition_count = r.read_i32()
        replication_factor = r.read_i16()
        properties = _read_properties(r)
        is_migrated = r.read_bool() if hdr.version >= 2 else False
        trailer = bytes(r.read_raw(r.remaining()))
    info = EnvelopeInfo(hdr.version, hdr.compat_version, 5 if hdr.version >= 2 else 4, trailer)
    return TopicConfiguration(
        namespace=ns,
        topic=topic,
        partition_count=partition_count,
        replication_factor=replication_factor,
        properties=properties,
        is_migrated=is_migrated,
        envelope=None if info == EnvelopeInfo(cls.VERSION, cls.COMPAT_VERSION, 5) else info,
    )


def _write_configuration(w: SerdeWriter, cfg: TopicConfiguration) -> None:
    """``topic_configuration::serde_write``; an older envelope (``cfg.envelope``) writes fewer fields."""
    info = cfg.envelope or EnvelopeInfo(cfg.VERSION, cfg.COMPAT_VERSION, 5)
    if not 0 <= info.fields_present <= 5:
        raise ValueError("TopicConfiguration: fields_present must be 0..5")
    if info.unknown_trailer and info.fields_present != (5 if info.version >= 2 else 4):
        raise ValueError("TopicConfiguration: unknown trailing fields can only follow all known fields")

    def tp_ns() -> None:
        w.write_string(cfg.namespace)
        w.write_string(cfg.topic)

    writers: list[Callable[[], None]] = [
        tp_ns,
        lambda: w.write_i32(cfg.partition_count),
        lambda: w.write_i16(cfg.replication_factor),
        lambda: write_fields_envelope(w, cfg.properties, _PROPERTY_FIELDS),
        lambda: w.write_bool(cfg.is_migrated),
    ]
    with w.envelope(info.version, info.compat_version):
        for write in writers[: info.fields_present]:
            write()
        w.write_raw(info.unknown_trailer)


_STATE_FIELDS: list[FieldSpec] = [
    ("cfg", _read_configuration, _write_configuration),
    ("initial_revision", *_I64),
]


def decode_topic_manifest_bin(data: bytes | bytearray | memoryview) -> TopicManifestState:
    """Decode ``topic_manifest.bin`` keeping every serialized detail; raises :class:`SerdeError`."""
    r = SerdeReader(data)
    state: TopicManifestState = read_fields_envelope(r, TopicManifestState, _STATE_FIELDS, "topic_manifest_state")
    r.expect_end("topic manifest")
    return state


def encode_topic_manifest_bin(state: TopicManifestState | TopicManifest) -> bytes:
    """Serialize ``state`` (``serde::to_iobuf(topic_manifest_state)``); a :class:`TopicManifest` is first
    converted with :func:`topic_manifest_to_state`. ``ValueError`` if a value does not fit its serde type."""
    if isinstance(state, TopicManifest):
        state = topic_manifest_to_state(state)
    w = SerdeWriter()
    write_fields_envelope(w, state, _STATE_FIELDS)
    return w.getvalue()


# ---------------------------------------------------------------------------------------------------
# TopicManifest (the JSON model)


def _enum_name(names: dict[int, str], raw: int, bits: int, signed: bool, what: str) -> str:
    """``operator<<`` of ``static_cast<E>(raw)`` where E has a ``bits``-wide underlying type."""
    v = raw & ((1 << bits) - 1)
    if signed and v >= 1 << (bits - 1):
        v -= 1 << bits
    if v not in names:
        raise ManifestError(f"topic manifest: unknown {what} value {raw}")
    return names[v]


def _opt_name(names: dict[int, str], raw: int | None, bits: int, signed: bool, what: str) -> str | None:
    return None if raw is None else _enum_name(names, raw, bits, signed, what)


def state_to_topic_manifest(state: TopicManifestState) -> TopicManifest:
    """The TopicManifest of ``state``: what ``serialize_v1_json`` writes for it, parsed back as Redpanda's
    JSON reader does (negative sizes and durations read as unset/disabled), plus the remote label.
    Raises :class:`ManifestError` when the state is not a valid topic manifest (names, partition count,
    enum values that have no text form)."""
    cfg = state.cfg
    p = cfg.properties
    doc: dict[str, Any] = {
        "version": 1,
        "namespace": cfg.namespace,
        "topic": cfg.topic,
        "partition_count": cfg.partition_count,
        "replication_factor": cfg.replication_factor,
        "revision_id": state.initial_revision,
        "compression": _opt_name(COMPRESSION_NAMES, p.compression, 8, False, "compression"),
        "cleanup_policy_bitflags": _opt_name(
            CLEANUP_POLICY_NAMES, p.cleanup_policy_bitflags, 8, False, "cleanup_policy_bitflags"
        ),
        "compaction_strategy": _opt_name(
            COMPACTION_STRATEGY_NAMES, p.compaction_strategy, 8, True, "compaction_strategy"
        ),
        "timestamp_type": _opt_name(TIMESTAMP_TYPE_NAMES, p.timestamp_type, 8, False, "timestamp_type"),
        "segment_size": p.segment_size,
    }
    if p.retention_bytes is not DISABLED:
        doc["retention_bytes"] = p.retention_bytes
    ns = p.retention_duration_ns
    if not isinstance(ns, Disabled):
        doc["retention_duration"] = None if ns is None else ns_to_ms(ns)
    if p.mpx_virtual_cluster_id is not None:
        doc["virtual_cluster_id"] = xid_to_string(p.mpx_virtual_cluster_id)
    m = parse_topic_manifest(json.dumps(doc))
    label = p.remote_label.cluster_uuid if p.remote_label is not None else None
    return dataclasses.replace(m, remote_label=label)


def _code(
    names: dict[int, str], text: str | None, what: str, aliases: dict[str, int] | None = None
) -> int | None:
    if text is None:
        return None
    codes = {v: k for k, v in names.items()} | (aliases or {})
    if text not in codes:
        raise ValueError(f"unknown {what} {text!r}")
    return codes[text]


def topic_manifest_to_state(m: TopicManifest) -> TopicManifestState:
    """The ``topic_manifest_state`` current Redpanda serializes for a topic described by ``m``: the
    JSON fields mapped back (``operator>>`` spellings, milliseconds → nanoseconds), ``m.remote_label``
    as the label, every other property as ``topic_properties{}`` has it. ``ValueError`` on values
    Redpanda could not hold."""
    rd = m.retention_duration
    props = TopicProperties(
        compression=_code(COMPRESSION_NAMES, m.compression, "compression", {"uncompressed": 0}),
        cleanup_policy_bitflags=_code(
            CLEANUP_POLICY_NAMES, m.cleanup_policy_bitflags, "cleanup_policy_bitflags", {"delete,compact": 3}
        ),
        compaction_strategy=_code(COMPACTION_STRATEGY_NAMES, m.compaction_strategy, "compaction_strategy"),
        timestamp_type=_code(TIMESTAMP_TYPE_NAMES, m.timestamp_type, "timestamp_type"),
        segment_size=m.segment_size,
        retention_bytes=m.retention_bytes,
        retention_duration_ns=rd if rd is None or isinstance(rd, Disabled) else ms_to_ns(int(rd)),
        mpx_virtual_cluster_id=(
            None if m.virtual_cluster_id is None else xid_from_string(m.virtual_cluster_id)
        ),
        remote_label=None
        if m.remote_label is None
        else RemoteLabel(cluster_uuid=_canonical_uuid(m.remote_label)),
    )
    cfg = TopicConfiguration(
        namespace=m.namespace,
        topic=m.topic,
        partition_count=m.partition_count,
        replication_factor=m.replication_factor,
        properties=props,
    )
    return TopicManifestState(cfg=cfg, initial_revision=m.revision_id)


def decode_topic_manifest(data: bytes | bytearray | memoryview) -> TopicManifest:
    """``topic_manifest.bin`` → :class:`TopicManifest`; every failure is a
    :class:`~segment_format.errors.FormatError` (``SerdeError`` or ``ManifestError``)."""
    return state_to_topic_manifest(decode_topic_manifest_bin(data))


def decode_topic_manifest_as(data: bytes, fmt: str) -> TopicManifest:
    """A topic manifest in either format Redpanda writes: ``json`` (before v24.2) or ``bin``."""
    if fmt == "json":
        return parse_topic_manifest(data)
    if fmt == "bin":
        return decode_topic_manifest(data)
    raise ValueError(fmt)


def encode_topic_manifest(m: TopicManifest) -> bytes:
    """:class:`TopicManifest` (+ its ``remote_label``) → ``topic_manifest.bin`` as current Redpanda writes it."""
    return encode_topic_manifest_bin(topic_manifest_to_state(m))
