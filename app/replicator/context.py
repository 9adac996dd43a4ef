"""What the workers may use of their replicator: a narrow, explicit surface (:class:`ReplicatorContext`)
instead of the whole :class:`~app.replicator.loop.Replicator`, so ``partition.py`` and ``topics.py`` sit
below ``loop.py`` and a worker can be tested with a stand-in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, TypeVar

from app.bucket import ManifestObject, PartitionId
from app.replicator.checkpoint import Checkpoint
from app.replicator.copier import Copier
from app.replicator.limiter import RetryPolicy
from app.replicator.metrics import ReplicatorMetrics
from app.replicator.options import SyncConfig
from app.store import ObjectStore

__all__ = ["PartitionState", "ReplicatorContext"]

T = TypeVar("T")


class PartitionState(Protocol):
    """What a topic worker reads of a partition worker: is the partition at the destination, caught up?"""

    @property
    def dest(self) -> object | None: ...
    @property
    def caught_up_etag(self) -> str | None: ...


class ReplicatorContext(Protocol):
    """The replicator as its workers see it: the two stores, settings, metrics, the checkpoint, the copier,
    the retry policy for re-plans, one S3 call under the limiter (a manifest commit's under the commit
    slots), progress, and commit notifications."""

    @property
    def source(self) -> ObjectStore: ...
    @property
    def dest(self) -> ObjectStore: ...
    @property
    def config(self) -> SyncConfig: ...
    @property
    def metrics(self) -> ReplicatorMetrics: ...
    @property
    def checkpoint(self) -> Checkpoint: ...
    @property
    def copier(self) -> Copier: ...
    @property
    def policy(self) -> RetryPolicy: ...
    @property
    def on_commit(self) -> Callable[[PartitionId, ManifestObject], None] | None: ...
    @property
    def on_source(self) -> Callable[[PartitionId, ManifestObject], None] | None: ...
    @property
    def workers(self) -> Mapping[PartitionId, PartitionState]: ...

    async def retry(self, call: Callable[[], Awaitable[T]], what: str, *, slots: int = 1) -> T: ...
    async def commit_call(self, call: Callable[[], Awaitable[T]]) -> T: ...
    def add_progress_total(self, nbytes: int) -> None: ...
    def advance_progress(self, nbytes: int) -> None: ...
