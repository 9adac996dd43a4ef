"""The replicator: follow a Redpanda tiered-storage bucket and copy it server-side, manifest last.

Layers (imports point down)::

    cli.py          sync | verify | status commands
    loop.py         Replicator: discovery (through app.bucket), the workers, retention, following
    partition.py    PartitionWorker: one partition's pass (plan, copy units, commits, deletions)
    topics.py       TopicWorker, ClusterMetadataWorker: topic manifests and cluster metadata, copied last
    context.py      what the workers may use of their replicator (ReplicatorContext)
    copier.py       one copy per object (server-side or streamed), conditional on the source, verified
    limiter.py      adaptive concurrency (AIMD) and jittered retries
    plan.py         pure: source manifest - destination manifest -> units, commits, deletions
    gc.py           orphans: destination objects no manifest names
    verify.py       the invariant checker;  status.py  lag from the buckets alone
    metrics.py      counters and gauges as plain data + Prometheus families
    checkpoint.py   optional local cache of clean positions;  options.py  configuration
    model.py        value types (TopicFilter, Shard)

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
