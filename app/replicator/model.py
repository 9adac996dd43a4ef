"""Value types the replicator passes around: topic filter and shard (partition identity and manifests as
read are the one bucket model's, :mod:`app.bucket`).

All frozen: a worker's view of a bucket is a value it replaces, never a structure it patches.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass

from app.errors import ConfigError

__all__ = ["Shard", "TopicFilter"]


@dataclass(frozen=True, slots=True)
class TopicFilter:
    """``--topics``: comma-separated fnmatch patterns matched against ``topic`` and ``namespace/topic``;
    a pattern starting with ``!`` excludes. ``"*"`` (the default) takes everything."""

    patterns: tuple[str, ...] = ("*",)

    @classmethod
    def parse(cls, text: str) -> TopicFilter:
        pats = tuple(p.strip() for p in text.split(",") if p.strip())
        if not pats:
            raise ConfigError("--topics needs at least one pattern")
        return cls(pats)

    def __call__(self, namespace: str, topic: str) -> bool:
        include = [p for p in self.patterns if not p.startswith("!")] or ["*"]
        exclude = [p[1:] for p in self.patterns if p.startswith("!")]
        names = (topic, f"{namespace}/{topic}")

        def hit(patterns: list[str]) -> bool:
            return any(fnmatch.fnmatchcase(n, p) for p in patterns for n in names)

        return hit(include) and not hit(exclude)


@dataclass(frozen=True, slots=True)
class Shard:
    """``--shard i/n``: this instance owns the partitions whose stable hash is ``i`` modulo ``n``.

    The hash is BLAKE2b of ``namespace/topic/partition`` (not Python's salted ``hash``), so every
    instance, on every machine, agrees without talking to the others. Topic-level objects (topic
    manifests) belong to the owner of the topic's partition 0; ``cluster_metadata/`` to shard 0.
    """

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ConfigError(f"bad shard {self.index}/{self.count} (expected i/n with 0 <= i < n)")

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise ConfigError(f"bad --shard {text!r} (expected i/n, e.g. 0/2)") from None
        return cls(i, n)

    @staticmethod
    def bucket_of(namespace: str, topic: str, partition: int, count: int) -> int:
        digest = hashlib.blake2b(f"{namespace}/{topic}/{partition}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % count

    def owns(self, namespace: str, topic: str, partition: int) -> bool:
        return self.count == 1 or self.bucket_of(namespace, topic, partition, self.count) == self.index

    def owns_topic(self, namespace: str, topic: str) -> bool:
        return self.owns(namespace, topic, 0)

    @property
    def owns_cluster_metadata(self) -> bool:
        return self.index == 0

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
