"""Committed consumer-group offsets, kept in the bucket: the shared state of every `serve`/`run` instance
(Kafka OffsetCommit/OffsetFetch), `groups import`, the bucket-snapshot seeding and the HTTP lag routes.

**Offsets** (:class:`OffsetStore`) live in the bucket, one JSON object per group under
``group_offsets_prefix`` (``<prefix>/<percent-encoded group>.json``), so they survive restarts and every
instance sees them. Writes are conditional: ``If-Match`` the ETag we read (``If-None-Match: *`` for a new
group); on 412 the object is re-read, our partitions are merged over what is there, and the put retried.
Reads are conditional GETs (``If-None-Match``) against the cached copy, so a commit made elsewhere (or an
import) is seen at the next OffsetFetch.

Each committed offset also records where it came from (:attr:`CommittedOffset.source`): ``commit`` (a
client's OffsetCommit through the shim), ``import`` (``groups import`` from a file) or ``bucket``
(Redpanda's cluster-metadata offsets snapshot); objects written before the field existed read as
``commit``, or ``bucket`` when their metadata carries the seeding mark.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from app.errors import CorruptData, ObjectMissing, PreconditionFailed, StorageUnavailable
from app.store import NotModified, ObjectStore

__all__ = ["BUCKET_MARK", "CommittedOffset", "OffsetSource", "OffsetStore", "TopicPartition", "decode_offsets",
           "encode_offsets"]

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]
OffsetSource = Literal["commit", "import", "bucket"]
SOURCES: tuple[OffsetSource, ...] = ("commit", "import", "bucket")
BUCKET_MARK = "shadowreplica:bucket:"  # metadata of offsets seeded from a cluster-metadata snapshot
COMMIT_ATTEMPTS = 10  # conditional-put rounds before a commit gives up (contention between instances)
OFFSETS_VERSION = 1


@dataclass(frozen=True, slots=True)
class CommittedOffset:
    offset: int
    leader_epoch: int = -1
    metadata: str | None = ""
    commit_timestamp: int = 0  # ms since the epoch
    source: OffsetSource = "commit"

    def to_json(self) -> dict[str, Any]:
        return {"offset": self.offset, "leader_epoch": self.leader_epoch, "metadata": self.metadata,
                "commit_timestamp": self.commit_timestamp, "source": self.source}


@dataclass(slots=True)
class _Doc:
    etag: str | None
    offsets: dict[TopicPartition, CommittedOffset]


def encode_offsets(group: str, offsets: Mapping[TopicPartition, CommittedOffset]) -> bytes:
    by_topic: dict[str, dict[str, Any]] = {}
    for (topic, partition), c in sorted(offsets.items()):
        by_topic.setdefault(topic, {})[str(partition)] = c.to_json()
    return json.dumps({"version": OFFSETS_VERSION, "group": group, "offsets": by_topic}, indent=1).encode()


def decode_offsets(body: bytes, *, key: str) -> dict[TopicPartition, CommittedOffset]:
    try:
        doc = json.loads(body)
        if doc.get("version") != OFFSETS_VERSION:
            raise ValueError(f"unknown version {doc.get('version')!r}")
        out: dict[TopicPartition, CommittedOffset] = {}
        for topic, parts in doc["offsets"].items():
            for p, c in parts.items():
                metadata = c.get("metadata", "")
                if metadata is not None and not isinstance(metadata, str):
                    raise ValueError("metadata must be a string or null")
                source = c.get("source")
                if source is None:
                    source = "bucket" if (metadata or "").startswith(BUCKET_MARK) else "commit"
                if source not in SOURCES:
                    raise ValueError(f"unknown offset source {source!r}")
                out[(str(topic), int(p))] = CommittedOffset(int(c["offset"]), int(c.get("leader_epoch", -1)),
                                                            metadata, int(c.get("commit_timestamp", 0)), source)
        return out
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CorruptData(f"group offsets object {key} is malformed: {e}", key=key) from e


class OffsetStore:
    """Committed offsets of every group, one object per group in the bucket (see the module docstring)."""

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self.store = store
        self.prefix = prefix.strip("/")
        self._docs: dict[str, _Doc] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.listeners: list[Callable[[str, Mapping[TopicPartition, CommittedOffset]], None]] = []
        """Called with (group, offsets) after every commit this process makes (``__consumer_offsets``)."""

    def key(self, group: str) -> str:
        return f"{self.prefix}/{urllib.parse.quote(group, safe='')}.json"

    def group_of(self, key: str) -> str | None:
        head = self.prefix + "/"
        if not key.startswith(head) or not key.endswith(".json") or "/" in key[len(head):]:
            return None
        return urllib.parse.unquote(key[len(head) : -len(".json")])

    async def _read(self, group: str) -> _Doc:
        key = self.key(group)
        cached = self._docs.get(group)
        try:
            got = await self.store.get(key, if_none_match=cached.etag if cached and cached.etag else None)
        except ObjectMissing:
            doc = _Doc(None, {})
        else:
            if isinstance(got, NotModified):
                assert cached is not None
                return cached
            doc = _Doc(got.etag, decode_offsets(got.body, key=key))
        self._docs[group] = doc
        return doc

    async def fetch(self, group: str) -> dict[TopicPartition, CommittedOffset]:
        """The group's committed offsets (a conditional GET: cheap when nothing changed)."""
        return dict((await self._read(group)).offsets)

    async def commit(self, group: str, updates: Mapping[TopicPartition, CommittedOffset], *,
                     replace: bool = False) -> None:
        """Merge ``updates`` into the group's object (or replace it) with conditional puts."""
        lock = self._locks.setdefault(group, asyncio.Lock())
        key = self.key(group)
        async with lock:
            doc = self._docs.get(group) or await self._read(group)
            for attempt in range(COMMIT_ATTEMPTS):
                merged = dict(updates) if replace else {**doc.offsets, **updates}
                body = encode_offsets(group, merged)
                try:
                    if doc.etag is not None:
                        etag = await self.store.put(key, body, if_match=doc.etag, content_type="application/json")
                    else:
                        etag = await self.store.put(key, body, if_none_match=True, content_type="application/json")
                except PreconditionFailed:
                    log.info("offsets of group %r changed under us (attempt %d): re-reading and merging",
                             group, attempt + 1)
                    self._docs.pop(group, None)
                    doc = await self._read(group)
                    continue
                self._docs[group] = _Doc(etag, merged)
                for listener in self.listeners:
                    listener(group, updates)
                return
        raise StorageUnavailable(f"could not commit offsets of group {group!r}: {COMMIT_ATTEMPTS} conditional "
                                 "puts lost to concurrent writers", key=key)

    async def groups(self) -> list[str]:
        """Every group with an offsets object."""
        out = []
        async for info in self.store.list(self.prefix + "/"):
            g = self.group_of(info.key)
            if g is not None:
                out.append(g)
        return out
