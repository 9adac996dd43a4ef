"""Values the store hands out (objects, GET results) and its per-operation request counters; limits of S3."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

KiB: Final = 1024
MiB: Final = 1024 * KiB
GiB: Final = 1024 * MiB
MIN_PART_SIZE: Final = 5 * MiB  # S3: every part but the last is at least 5 MiB
MAX_PART_SIZE: Final = 5 * GiB
MAX_PARTS: Final = 10_000
DELETE_BATCH: Final = 1000  # DeleteObjects takes at most 1000 keys
DEFAULT_LIST_PAGE: Final = 1000  # ListObjectsV2 MaxKeys (S3's own maximum)
DEFAULT_STREAM_CHUNK: Final = 256 * KiB


# ---------------------------------------------------------------------------------------------- values


SOURCE_ETAG_META = "shadowreplica-source-etag"


def normalize_etag(etag: str | None) -> str:
    """An ETag without surrounding quotes (S3 quotes them; SeaweedFS's CopyObjectResult does not)."""
    if not etag:
        return ""
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


def _quoted(etag: str) -> str:
    return f'"{normalize_etag(etag)}"'


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectInfo:
    """One object: ``key`` relative to the side's prefix, ``etag`` without quotes."""

    key: str
    size: int
    etag: str
    last_modified: datetime
    # the ETag of the object a multipart copy was made from (user metadata; HEAD only, listings lack it)
    source_etag: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetResult:
    """A whole object body, verified against Content-Length."""

    key: str
    body: bytes
    etag: str
    last_modified: datetime
    content_type: str | None = None

    @property
    def size(self) -> int:
        return len(self.body)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotModified:
    """``get(key, if_none_match=etag)`` found the object still has ``etag`` (HTTP 304): nothing was read."""

    key: str
    etag: str


# --------------------------------------------------------------------------------------------- metrics


@dataclass(slots=True)
class OpStats:
    """Counters for one S3 operation."""

    requests: int = 0  # API calls made
    attempts: int = 0  # HTTP requests sent, retries included
    errors: Counter[str] = field(default_factory=Counter)  # by kind, see _KIND
    not_modified: int = 0  # 304 answers to conditional GETs
    bytes_in: int = 0  # object body bytes received
    bytes_out: int = 0  # object body bytes sent
    retries: int = 0  # requests sent again after a retriable failure (5xx, throttling, reset, short body)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "attempts": self.attempts,
            "errors": dict(self.errors),
            "not_modified": self.not_modified,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "retries": self.retries,
        }


class StoreStats:
    """Per-operation counters of one store (``store.stats``), keyed by S3 operation name.

    ``stats.requests`` etc. are totals over every operation; ``stats["GetObject"].bytes_in`` one operation;
    ``stats.snapshot()`` a JSON-ready dict (for reports, and later Prometheus with ``op`` as the label).
    """

    __slots__ = ("ops",)

    def __init__(self) -> None:
        self.ops: dict[str, OpStats] = {}

    def op(self, name: str) -> OpStats:
        stats = self.ops.get(name)
        if stats is None:
            stats = self.ops[name] = OpStats()
        return stats

    def __getitem__(self, name: str) -> OpStats:
        """Counters of one operation (zeros if it never ran)."""
        return self.ops.get(name) or OpStats()

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.ops.values())

    @property
    def attempts(self) -> int:
        return sum(s.attempts for s in self.ops.values())

    @property
    def errors(self) -> int:
        return sum(s.error_count for s in self.ops.values())

    @property
    def bytes_in(self) -> int:
        return sum(s.bytes_in for s in self.ops.values())

    @property
    def bytes_out(self) -> int:
        return sum(s.bytes_out for s in self.ops.values())

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: stats.as_dict() for name, stats in sorted(self.ops.items())}

    def reset(self) -> None:
        self.ops.clear()

    def __repr__(self) -> str:
        return f"StoreStats(requests={self.requests}, errors={self.errors}, in={self.bytes_in}, out={self.bytes_out})"

