"""One settings object for every command.

Precedence, lowest first: built-in defaults → config file (TOML, ``--config`` or ``SHADOWREPLICA_CONFIG``)
→ environment (standard ``AWS_*`` variables, then ``SHADOWREPLICA_*``) → command-line flags.

Each S3 side (source, destination, or the one bucket served) is an :class:`S3Side`. Both sides start
from the standard AWS variables (``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_S3``, ``AWS_REGION``/
``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``); per-side
variables ``SHADOWREPLICA_SOURCE_ENDPOINT_URL`` … ``SHADOWREPLICA_DEST_SECRET_ACCESS_KEY`` and per-side
flags override them. Secrets never come from example command lines: use the environment or a file.

Every limit the service enforces is a named field with its default here (invariant 5 of the design).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from app.errors import ConfigError
from app.polling import Prices
from segment_format.keys import is_cluster_uuid

MiB = 1024 * 1024
GiB = 1024 * MiB

_BUCKET_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")


@dataclass(frozen=True, slots=True)
class BucketUrl:
    """``s3://bucket[/prefix]``: where a tiered-storage layout lives. The prefix never ends in ``/``."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> BucketUrl:
        m = _BUCKET_URL.match(url.strip())
        if not m:
            raise ConfigError(f"not an S3 bucket URL: {url!r} (expected s3://bucket[/prefix])")
        prefix = (m.group("prefix") or "").strip("/")
        if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
            raise ConfigError(f"bad prefix in {url!r}")
        return cls(m.group("bucket"), prefix)

    def key(self, relative: str) -> str:
        """The full object key of a key relative to the layout root."""
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def relative(self, key: str) -> str:
        """Inverse of :meth:`key`."""
        if not self.prefix:
            return key
        head = self.prefix + "/"
        if not key.startswith(head):
            raise ValueError(f"key {key!r} is outside prefix {self.prefix!r}")
        return key[len(head) :]

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Side:
    """How to reach one bucket: location, region, endpoint and credentials."""

    url: BucketUrl
    region: str = "us-east-1"
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    # Client limits for this side.
    max_pool_connections: int = 64
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 5  # attempts in a row of one S3 request (app.store retries each request on its own)

    def __repr__(self) -> str:  # never print secrets
        return f"S3Side(url={self.url}, region={self.region}, endpoint_url={self.endpoint_url})"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicatorSettings:
    concurrency: int = 32
    poll_interval: float = 1.0
    multipart_threshold: int = 64 * MiB
    multipart_part_size: int = 64 * MiB
    retention: str = "mirror"  # "mirror" | "keep"
    topics: str = "*"  # fnmatch pattern(s), comma separated
    cluster_uuid: str = ""  # copy only this cluster's labeled topics (a bucket shared by clusters); "" = all
    shard_index: int = 0
    shard_count: int = 1
    max_poll_interval: float = 30.0  # an idle partition's manifest poll backs off from poll_interval to this
    max_retries: int = 8
    backoff_base: float = 0.1
    backoff_cap: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class EventsSettings:
    """Following by S3 event notifications through an SQS queue (app/events.py)."""

    queue: str = ""  # SQS queue URL receiving the bucket's notifications; "" = poll (adaptively)
    wait_seconds: int = 20  # ReceiveMessage long poll (SQS allows at most 20): 180 requests an hour when idle
    # while events arrive: no per-partition polls, one listing of the manifest roots this often catches lost
    # events (a cost independent of the number of partitions)
    safety_interval: float = 300.0
    # ... that listing covers the roots known to hold manifests; every root (a new topic whose event was lost)
    # is listed this often
    full_listing_interval: float = 3600.0
    retry_max: float = 60.0  # the queue failing: retried with back-off up to this (the bucket is polled meanwhile)


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheSettings:
    directory: Path = Path(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))) / "shadowreplica"
    max_bytes: int = 2 * GiB
    chunk_size: int = 4 * MiB
    memory_bytes: int = 64 * MiB  # the hottest chunks also kept in memory (RSS grows to this as reads warm it)
    readahead_chunks: int = 2
    manifest_refresh_interval: float = 1.0
    manifest_max_refresh_interval: float = 30.0  # an idle partition's refresh backs off up to this
    # `run` with its replicator: the destination catalog learns every commit in process and polls no partition
    # manifest; with --shard (other instances write the destination too) it lists the roots holding manifests
    # this often, else only every events.full_listing_interval; the source catalog uses the replicator's
    # listings and lists nothing
    fed_refresh_interval: float = 900.0
    discovery_interval: float = 10.0  # the catalog's listings of the manifest roots (new topics, partitions)
    discovery_max_interval: float = 900.0  # ... backing off up to this while nothing changes
    read_size: int = 1 * MiB  # bytes the reader asks the cache for per step of a batch walk
    index_cache_entries: int = 4096  # decoded .index / .tx objects kept in memory (each)
    batch_runs_max_entries: int = 100_000  # batches remembered for hot Fetches, all partitions (app/batch_runs.py)
    batch_runs_per_partition: int = 8  # separate runs remembered per partition
    # the destination read path of serve/http/run: which cluster a topic name means when several clusters
    # share the bucket ("" = the one whose manifests are newest)
    cluster_uuid: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaSettings:
    listen: str = "0.0.0.0:9092"
    advertise: str | None = None
    peers: tuple[str, ...] = ()
    max_frame_bytes: int = 100 * MiB
    max_connections: int = 2000
    max_connections_per_client: int = 200
    idle_timeout: float = 600.0
    max_fetch_wait: float = 30.0
    fetch_ready_grace: float = 0.05  # seconds a Fetch that has enough still waits for its other partitions' reads
    tls_handshake_timeout: float = 10.0
    listen_backlog: int = 1024
    socket_read_size: int = 256 * 1024  # bytes asked of a client socket per read
    group_offsets_prefix: str = "_shadowreplica/groups"
    group_initial_rebalance_delay: float = 0.5
    # seconds between checks for a newer cluster-metadata offsets snapshot to seed groups from (0: only at
    # start); groups that committed through the replica keep their own offsets (kafka/bucket_offsets.py)
    group_seed_interval: float = 300.0
    group_seed_from_bucket: bool = True
    consumer_offsets_partitions: int = 16  # partitions of the read-only __consumer_offsets topic (Redpanda's 16)
    consumer_offsets_max_records: int = 100_000  # records __consumer_offsets keeps in memory, oldest dropped
    allow_anonymous: bool = True
    sasl_mechanisms: tuple[str, ...] = ("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN")
    failed_auth_delay: float = 0.5
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    tls_cafile: Path | None = None
    tls_require_client_cert: bool = False
    # users: name -> {"password": ...} or SCRAM keys; acls: name -> {"topics": [...], "groups": [...]}
    users: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    acls: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSettings:
    listen: str = "127.0.0.1:8080"
    token: str | None = None  # bearer token required on every route but health and the page shell
    max_records: int = 10_000  # limit cap of a JSON records response (held in memory)
    max_stream_records: int = 1_000_000  # limit cap of a streamed NDJSON records response
    default_records: int = 100
    key_search_window: int = 100_000  # offsets a key search scans at most
    lag_history_interval: float = 5.0  # seconds between replication lag samples (lag-over-time chart)
    lag_history_samples: int = 720  # samples kept (an hour at the default interval)
    graceful_shutdown: float = 5.0  # seconds uvicorn lets open requests finish on SIGTERM
    read_bytes: int = 1024 * 1024  # records route: bytes per read after the first batch
    span_read_max_records: int = 1000  # queries up to this many records read index spans, bigger ones chunks
    decode_in_thread_bytes: int = 256 * 1024  # batches bigger than this are decompressed off the event loop
    group_lag_interval: float = 15.0  # seconds between consumer-group lag samples (/groups history, metrics)
    group_lag_max_series: int = 1000  # (group, topic, partition) series in the metrics at most, most lagging first


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportSettings:
    """``shadowreplica export`` (section ``[export]``, env ``SHADOWREPLICA_EXPORT_*``)."""

    namespace: str = "redpanda"  # Iceberg namespace of the tables (Redpanda's own default)
    # a table commit (one Iceberg snapshot) once this many stored batch bytes are written, or once
    # commit_interval passed since its last one, and at the end of a run: a crash redoes at most that much
    commit_bytes: int = 1024 * MiB
    # seconds: at most one commit per table this often while more is written (a backfill, --follow); with
    # snapshot_max_age it bounds the snapshots a table keeps (60 s: Redpanda's iceberg_target_lag_ms default)
    commit_interval: float = 60.0
    # seconds: history.expire.max-snapshot-age-ms of the tables export creates (or that lack it); every commit
    # expires older snapshots (app/lake/history.py), the newest history.expire.min-snapshots-to-keep kept
    snapshot_max_age: float = 3600.0
    # stored batch bytes per round, decoded and written as Parquet while the next round is read and decoded
    # (at most three rounds in memory); commits gather rounds up to commit_bytes
    round_bytes: int = 4 * MiB
    read_bytes: int = 4 * MiB  # bytes per read of one partition
    partition_concurrency: int = 4  # partitions of a table read at once
    follow_interval: float = 10.0  # --follow: seconds between rounds when no manifest changed


@dataclass(frozen=True, slots=True, kw_only=True)
class SqlSettings:
    """``shadowreplica sql`` and ``GET /sql`` (section ``[sql]``, env ``SHADOWREPLICA_SQL_*``)."""

    max_rows: int = 10_000  # rows returned at most (the result says when it was cut)
    timeout: float = 30.0  # seconds a query may run before it is interrupted
    memory_limit: str = "1GB"  # DuckDB's memory_limit for a query engine
    threads: int = 2  # DuckDB worker threads
    idle_databases: int = 2  # ready DuckDB databases kept between queries (0: a new one per query, ~0.4 s of CPU)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything a command needs. Sections a command does not use keep their defaults."""

    source: S3Side | None = None
    dest: S3Side | None = None
    replicator: ReplicatorSettings = ReplicatorSettings()
    cache: CacheSettings = CacheSettings()
    kafka: KafkaSettings = KafkaSettings()
    http: HttpSettings = HttpSettings()
    events: EventsSettings = EventsSettings()
    export: ExportSettings = ExportSettings()
    sql: SqlSettings = SqlSettings()
    cost: Prices = field(default_factory=Prices)  # [cost]: request list prices for the estimates (app/polling.py)


# config-file tables besides the sections of Settings: the sides ([source], [dest]) and the `run` command's
_OTHER_TABLES = frozenset({"source", "dest", "run"})
# section name -> (settings class, env prefix); the `replicator` table also holds app.replicator.options'
# per-sync options, checked there
_SECTIONS: dict[str, tuple[type[Any], str]] = {
    "replicator": (ReplicatorSettings, "REPLICATOR"), "cache": (CacheSettings, "CACHE"),
    "kafka": (KafkaSettings, "KAFKA"), "http": (HttpSettings, "HTTP"), "events": (EventsSettings, "EVENTS"),
    "export": (ExportSettings, "EXPORT"), "sql": (SqlSettings, "SQL"), "cost": (Prices, "COST")}
# command-line flag (argparse dest) -> (section, field, parse): the flags that set a section's field
_FLAGS: tuple[tuple[str, str, str, Any], ...] = (
    ("kafka", "kafka", "listen", None), ("advertise", "kafka", "advertise", None),
    ("peers", "kafka", "peers", lambda v: tuple(p.strip() for p in v.split(",") if p.strip())),
    ("cache_dir", "cache", "directory", None), ("cache_size", "cache", "max_bytes", lambda v: parse_size(v)),
    ("cluster_uuid", "cache", "cluster_uuid", None), ("listen", "http", "listen", None),
    ("events_queue", "events", "queue", None), ("namespace", "export", "namespace", None),
    ("commit_bytes", "export", "commit_bytes", lambda v: parse_size(v)),
    ("max_rows", "sql", "max_rows", None), ("timeout", "sql", "timeout", None))


def load_settings(file_cfg: Mapping[str, Any], args: Any = None, *,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """The one place the settings of a command are built: every section of :class:`Settings`, defaults →
    config file table → ``SHADOWREPLICA_<SECTION>_<FIELD>`` → the flags of ``args`` (an argparse namespace;
    flags a command does not have count as not given). Unknown tables and fields are refused, so a typo in
    the config file is an error, not a silently ignored limit."""
    unknown = set(file_cfg) - set(_SECTIONS) - _OTHER_TABLES
    if unknown:
        raise ConfigError(f"unknown section(s) in the config file: {', '.join(sorted(unknown))} (known: "
                          f"{', '.join(sorted({*_SECTIONS, *_OTHER_TABLES}))})")
    flags: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    for dest, name, field_name, parse in _FLAGS:
        value = getattr(args, dest, None) if args is not None else None
        if value is not None:
            flags[name][field_name] = parse(value) if parse else value
    built: dict[str, Any] = {}
    for name, (cls, prefix) in _SECTIONS.items():
        table = dict(file_cfg.get(name, {}))
        if name == "replicator":  # the rest of the table is app.replicator.options.SyncOptions (checked there)
            table = {k: v for k, v in table.items() if k in {f.name for f in fields(cls)}}
        built[name] = section(cls, table, environ, prefix, **flags[name])
    kafka: KafkaSettings = built["kafka"]
    for name in ("users", "acls"):
        value = getattr(kafka, name)
        if isinstance(value, str):  # from the environment: JSON
            try:
                kafka = replace(kafka, **{name: json.loads(value)})
            except ValueError as e:
                raise ConfigError(f"SHADOWREPLICA_KAFKA_{name.upper()} is not JSON: {e}") from e
    built["kafka"] = kafka
    uuid_text = built["cache"].cluster_uuid
    if uuid_text and not is_cluster_uuid(uuid_text):
        raise ConfigError(f"--cluster-uuid {uuid_text!r} is not a cluster UUID (expected a lower-case "
                          "hyphenated UUID)")
    return Settings(**built)


def settings_from_args(args: Any) -> Settings:
    """:func:`load_settings` with the config file named by ``args.config`` (or ``SHADOWREPLICA_CONFIG``)."""
    return load_settings(load_file(getattr(args, "config", None)), args)


def _env(environ: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = environ.get(name)
        if value:
            return value
    return None


def s3_side(
    url: str,
    *,
    side: str,
    environ: Mapping[str, str] | None = None,
    file_section: Mapping[str, Any] | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> S3Side:
    """Build one side from (lowest first) AWS env → config file section → per-side env → flags.

    ``side`` is ``"source"`` or ``"dest"`` and names the per-side variables
    (``SHADOWREPLICA_SOURCE_REGION``, ``SHADOWREPLICA_DEST_ENDPOINT_URL``, …).
    """
    environ = os.environ if environ is None else environ
    file_section = file_section or {}
    p = f"SHADOWREPLICA_{side.upper()}_"

    def pick(flag: str | None, key: str, *aws: str) -> str | None:
        return flag or _env(environ, p + key.upper()) or file_section.get(key) or _env(environ, *aws)

    return S3Side(
        url=BucketUrl.parse(url),
        region=pick(region, "region", "AWS_REGION", "AWS_DEFAULT_REGION") or "us-east-1",
        endpoint_url=pick(endpoint_url, "endpoint_url", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
        access_key_id=pick(None, "access_key_id", "AWS_ACCESS_KEY_ID"),
        secret_access_key=pick(None, "secret_access_key", "AWS_SECRET_ACCESS_KEY"),
        session_token=pick(None, "session_token", "AWS_SESSION_TOKEN"),
    )


def load_file(path: str | Path | None) -> dict[str, Any]:
    """Read the TOML config file (``--config`` or ``SHADOWREPLICA_CONFIG``); ``{}`` when there is none."""
    path = path or os.environ.get("SHADOWREPLICA_CONFIG")
    if not path:
        return {}
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as e:
        raise ConfigError(f"config file not found: {path}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from e


def _coerce(value: Any, current: Any, name: str) -> Any:
    """Convert an env/file value to the type of the field's default."""
    try:
        if isinstance(current, bool):
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(current, int):
            return int(value)
        if isinstance(current, float):
            return float(value)
        if isinstance(current, Path) or (current is None and name.endswith(("file", "directory"))):
            return Path(value)
        if isinstance(current, tuple):
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            return tuple(value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"bad value for {name}: {value!r}") from e
    return value


def section(cls: type[Any], file_values: Mapping[str, Any], environ: Mapping[str, str] | None, prefix: str,
            **flags: Any) -> Any:
    """Build one settings section: defaults → file → ``SHADOWREPLICA_<PREFIX>_<FIELD>`` env → flags (non-None)."""
    environ = os.environ if environ is None else environ
    obj = cls()
    known = {f.name for f in fields(cls)}
    unknown = set(file_values) - known
    if unknown:
        raise ConfigError(f"unknown setting(s) in [{prefix.lower()}]: {', '.join(sorted(unknown))}")
    updates: dict[str, Any] = {}
    for f in fields(cls):
        current = getattr(obj, f.name)
        value: Any = dataclasses.MISSING
        if f.name in file_values:
            value = file_values[f.name]
        env_value = environ.get(f"SHADOWREPLICA_{prefix}_{f.name.upper()}")
        if env_value is not None:
            value = env_value
        if flags.get(f.name) is not None:
            value = flags[f.name]
        if value is not dataclasses.MISSING:
            updates[f.name] = _coerce(value, current, f"{prefix.lower()}.{f.name}")
    return replace(obj, **updates)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4, "tb": 1000**4, "tib": 1024**4}


def parse_size(text: str | int) -> int:
    """``"1GiB"`` → 1073741824; ``"64MB"`` → 64000000; plain integers are bytes."""
    if isinstance(text, int):
        return text
    m = _SIZE.match(text)
    unit = (m.group(2) or "").lower() if m else None
    if not m or unit not in _UNITS:
        raise ConfigError(f"not a size: {text!r} (examples: 512MiB, 1GiB, 1048576)")
    return int(float(m.group(1)) * _UNITS[unit])
