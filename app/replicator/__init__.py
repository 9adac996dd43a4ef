"""The replicator: follow a Redpanda tiered-storage bucket and copy it server-side, manifest last.

Layers (imports point down)::

    cli.py          sync | verify | status commands
    loop.py         Replicator: discovery + one task per partition; PartitionWorker, TopicWorker, cluster metadata
    copier.py       one server-side copy per object, conditional on the source, verified
    limiter.py      adaptive concurrency (AIMD) and jittered retries
    plan.py         pure: source manifest - destination manifest -> units, commits, deletions
    discovery.py    the sixteen hash roots; a partition's meta/ prefix
    verify.py       the invariant checker;  status.py  lag from the buckets alone
    metrics.py      counters and gauges as plain data + Prometheus text
    checkpoint.py   optional local cache of clean positions;  options.py  configuration
    model.py        value types (PartitionId, ManifestObject, TopicFilter, Shard)

Everything S3 goes through ``app.store.ObjectStore``; the source is only ever read.
"""

from app.replicator.loop import Replicator, SyncReport
from app.replicator.metrics import ReplicatorMetrics, render_prometheus
from app.replicator.options import SyncConfig, SyncOptions, load_sync_config
from app.replicator.verify import VerifyReport, verify_bucket

__all__ = [
    "Replicator",
    "ReplicatorMetrics",
    "SyncConfig",
    "SyncOptions",
    "SyncReport",
    "VerifyReport",
    "load_sync_config",
    "render_prometheus",
    "verify_bucket",
]
