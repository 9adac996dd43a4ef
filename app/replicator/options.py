"""The replicator's configuration: ``ReplicatorSettings`` (``app.config``) plus the knobs of a running sync.

Both are read from the ``[replicator]`` table of the config file and from ``SHADOWREPLICA_REPLICATOR_*``
environment variables (then flags win), so one table holds everything::

    [replicator]
    concurrency = 32
    poll_interval = 1.0
    retention = "mirror"
    discovery_interval = 10.0      # these four are SyncOptions
    commit_interval = 5.0
    verify = "auto"
    checkpoint = "/var/lib/shadowreplica/checkpoint.json"
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from app.config import ReplicatorSettings, section
from app.errors import ConfigError
from app.replicator.model import Shard, TopicFilter
from segment_format.keys import is_cluster_uuid

__all__ = ["SyncConfig", "SyncOptions", "load_sync_config"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncOptions:
    discovery_interval: float = 10.0  # seconds between discoveries (new topics/partitions) after a change
    discovery_max_interval: float = 900.0  # ... backing off up to this while nothing changes
    commit_interval: float = 5.0  # longest time copied segments wait for an intermediate manifest commit
    window: int = 0  # units in flight per partition beyond the committed manifest; 0: max(16, concurrency)
    verify: str = "auto"  # "auto": HEAD only when the key does not pin the size; "head": after every copy
    checkpoint: str = ""  # optional local checkpoint file ("" = none)
    topic_wait: float = 60.0  # --once: how long a topic manifest waits for other shards' partitions
    copy_mode: str = "auto"  # "server", "stream" (through this process), "auto" (copier.py)
    stream_part_size: int = 16 * 1024 * 1024  # stream copies: part size; x stream_concurrency = memory per copy
    stream_concurrency: int = 4  # stream copies: parts in flight per object (64 MiB by default)
    # stream copies: bytes held in memory at once by all copies together (whatever --concurrency is)
    stream_memory_bytes: int = 128 * 1024 * 1024
    gc: bool = False  # --gc: after the pass, delete destination segment objects no manifest names (gc.py)
    gc_grace: float = 3600.0  # only orphans last modified this many seconds ago or earlier
    gc_interval: float = 0.0  # --follow: seconds between orphan collections (0: never; they list the bucket)


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncConfig:
    """Everything a :class:`~app.replicator.loop.Replicator` needs besides its two stores."""

    replicator: ReplicatorSettings = field(default_factory=ReplicatorSettings)
    options: SyncOptions = field(default_factory=SyncOptions)

    def __post_init__(self) -> None:
        r, o = self.replicator, self.options
        if r.retention not in ("mirror", "keep"):
            raise ConfigError(f"retention must be 'mirror' or 'keep', not {r.retention!r}")
        if r.concurrency < 1:
            raise ConfigError("concurrency must be at least 1")
        if r.poll_interval <= 0 or o.discovery_interval <= 0 or o.commit_interval <= 0:
            raise ConfigError("poll, discovery and commit intervals must be positive")
        if r.multipart_threshold < 1:
            raise ConfigError("multipart threshold must be positive")
        if r.max_retries < 1:
            raise ConfigError("max_retries must be at least 1")
        if o.copy_mode not in ("auto", "server", "stream"):
            raise ConfigError(f"copy_mode must be 'auto', 'server' or 'stream', not {o.copy_mode!r}")
        if o.stream_concurrency < 1 or o.stream_part_size < 5 * 1024 * 1024:
            raise ConfigError("stream_concurrency must be >= 1 and stream_part_size >= 5MiB (S3's minimum part)")
        if o.verify not in ("auto", "head"):
            raise ConfigError(f"verify must be 'auto' or 'head', not {o.verify!r}")
        Shard(r.shard_index, r.shard_count)  # validates
        TopicFilter.parse(r.topics)
        if r.cluster_uuid and not is_cluster_uuid(r.cluster_uuid):
            raise ConfigError(f"--cluster-uuid {r.cluster_uuid!r} is not a cluster UUID (expected a lower-case "
                              "hyphenated UUID, as in the bucket's keys)")

    @property
    def topics(self) -> TopicFilter:
        return TopicFilter.parse(self.replicator.topics)

    @property
    def cluster_uuids(self) -> tuple[str, ...] | None:
        """``--cluster-uuid``: copy only this cluster's labeled topics (None: every cluster)."""
        return (self.replicator.cluster_uuid,) if self.replicator.cluster_uuid else None

    @property
    def shard(self) -> Shard:
        return Shard(self.replicator.shard_index, self.replicator.shard_count)

    @property
    def window(self) -> int:
        return self.options.window or max(16, self.replicator.concurrency)

    @property
    def checkpoint_path(self) -> Path | None:
        return Path(self.options.checkpoint) if self.options.checkpoint else None


def load_sync_config(file_table: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None,
                     **flags: Any) -> SyncConfig:
    """Defaults → ``[replicator]`` table → ``SHADOWREPLICA_REPLICATOR_*`` → flags (``None`` = not given)."""
    environ = os.environ if environ is None else environ
    table = dict(file_table or {})
    extra_names = {f.name for f in fields(SyncOptions)}
    core_names = {f.name for f in fields(ReplicatorSettings)}
    unknown = set(table) - extra_names - core_names
    if unknown:
        raise ConfigError(f"unknown setting(s) in [replicator]: {', '.join(sorted(unknown))}")
    core = section(ReplicatorSettings, {k: v for k, v in table.items() if k in core_names}, environ, "REPLICATOR",
                   **{k: v for k, v in flags.items() if k in core_names})
    extra = section(SyncOptions, {k: v for k, v in table.items() if k in extra_names}, environ, "REPLICATOR",
                    **{k: v for k, v in flags.items() if k in extra_names})
    bad = set(flags) - extra_names - core_names
    if bad:
        raise TypeError(f"unknown flags {sorted(bad)}")
    return SyncConfig(replicator=core, options=extra)
