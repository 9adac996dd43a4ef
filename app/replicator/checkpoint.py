"""The optional local checkpoint: a cache that saves requests after a restart, never a source of truth.

Per partition it remembers the destination manifest ETag we last committed, the source manifest ETag that
commit came from, and whether the partition was *clean* then (no copies beyond the committed manifest).
On restart a worker whose destination manifest still has that ETag and was clean skips the resume probe
(HEADs of the units a crashed run may have copied without committing), and its first source poll is a
conditional GET that usually answers 304. Anything that does not match — another ETag, a missing or
unreadable file — means "unknown", and the worker derives its position from the buckets as if there were
no checkpoint. Losing or deleting the file costs requests, never correctness.

The file is JSON, written atomically (temporary file + rename) in a worker thread, at most every
``interval`` seconds and at shutdown; a partition going from clean to dirty is written through at once,
before the copies that make it dirty start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Checkpoint", "CheckpointEntry"]

log = logging.getLogger(__name__)
VERSION = 1


@dataclass(frozen=True, slots=True)
class CheckpointEntry:
    dest_etag: str
    source_etag: str
    clean: bool


class Checkpoint:
    """``Checkpoint(path)``; ``await load()``, ``get``/``put``, ``await flush()``. ``path=None``: a no-op."""

    def __init__(self, path: str | Path | None, *, identity: str = "", interval: float = 2.0) -> None:
        self.path = Path(path) if path is not None else None
        self.identity = identity  # source -> dest (+ shard): a checkpoint of another pair is ignored
        self.interval = interval
        self.entries: dict[str, CheckpointEntry] = {}
        self._dirty = False
        self._last_flush = 0.0
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return self.path is not None

    async def load(self) -> None:
        if self.path is None:
            return
        try:
            text = await asyncio.to_thread(self.path.read_text)
            doc: Any = json.loads(text)
            if doc.get("version") != VERSION or doc.get("identity") != self.identity:
                log.info("checkpoint %s belongs to another replica pair; starting from the buckets", self.path)
                return
            self.entries = {k: CheckpointEntry(**v) for k, v in doc.get("partitions", {}).items()}
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, AttributeError) as e:
            log.warning("ignoring unreadable checkpoint %s: %s", self.path, e)
            self.entries = {}

    def get(self, name: str) -> CheckpointEntry | None:
        return self.entries.get(name)

    async def put(self, name: str, entry: CheckpointEntry) -> None:
        """Record ``entry``; written through at once when it marks a clean partition dirty."""
        if self.path is None:
            return
        before = self.entries.get(name)
        if before == entry:
            return
        self.entries[name] = entry
        self._dirty = True
        turned_dirty = before is not None and before.clean and not entry.clean
        if turned_dirty or time.monotonic() - self._last_flush >= self.interval:
            await self.flush()

    async def flush(self) -> None:
        if self.path is None or not self._dirty:
            return
        async with self._lock:
            doc = {"version": VERSION, "identity": self.identity,
                   "partitions": {k: asdict(v) for k, v in sorted(self.entries.items())}}
            self._dirty = False
            self._last_flush = time.monotonic()
            await asyncio.to_thread(_write_atomic, self.path, json.dumps(doc, indent=1))


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
