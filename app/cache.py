"""Local disk cache of object chunks, shared by the Kafka shim and the HTTP API (one read path).

Theory of operation
* Objects are read in aligned chunks of ``chunk_size`` bytes (``[i*chunk, (i+1)*chunk)``, the last one
  shorter) with ranged GETs, so any two readers of the same region share the same chunk.
* **Single flight**: concurrent misses of one chunk wait on one GET.
* **Integrity**: a chunk is written to a temporary file and renamed only after the store checked its length
  (``ObjectStore.get_range`` re-fetches a body cut short in transit and raises if it stays short), so a
  partial download is never cached; an object shorter than its manifest entry raises ``CorruptData`` at
  the position where it ends.
* **LRU** over files on disk, bounded by ``max_bytes``; a smaller in-memory LRU keeps the hottest chunks as
  bytes so repeated reads do not touch the disk. Files survive restarts (rescanned at start).
* **Read-ahead**: when a reader moves to chunk ``i+1`` of an object after ``i``, chunks up to
  ``i+readahead`` are fetched in the background, so sequential consumers rarely wait for S3.
* **Spans**: :meth:`ChunkCache.read_span` serves an exact byte range ``[start, end)`` with at most one
  ranged GET and caches it as one entry beside the chunks (same LRU, same single flight). Point queries
  use it with spans between two ``.index`` samples, so a lookup costs the index plus one range instead of a
  whole chunk; a span already covered by cached chunks is served from them.
* File I/O runs in worker threads: the event loop never blocks on disk.

Cached objects are immutable by key (Redpanda never rewrites a segment key with other bytes: a re-upload
after compaction gets a new name), so keys plus size identify content.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from app.store import ObjectStore

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    memory_hits: int = 0
    bytes_fetched: int = 0
    evictions: int = 0
    readaheads: int = 0
    errors: int = 0


class ChunkCache:
    def __init__(
        self,
        store: ObjectStore,
        directory: Path,
        *,
        max_bytes: int = 2 * 1024**3,
        chunk_size: int = 4 * 1024**2,
        readahead_chunks: int = 2,
        memory_bytes: int = 64 * 1024**2,
    ) -> None:
        if chunk_size <= 0 or max_bytes < chunk_size:
            raise ValueError("cache needs chunk_size > 0 and max_bytes >= chunk_size")
        self.store = store
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.chunk_size = chunk_size
        self.readahead_chunks = readahead_chunks
        self.memory_bytes = memory_bytes
        self.stats = CacheStats()
        self._files: OrderedDict[str, int] = OrderedDict()  # file name -> size, LRU order
        self._disk_bytes = 0
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._memory_used = 0
        self._inflight: dict[str, asyncio.Future[bytes]] = {}
        self._last_chunk: dict[str, int] = {}
        self._background: set[asyncio.Task[None]] = set()

    @property
    def memory_used(self) -> int:
        """Bytes of chunks held in memory (at most ``memory_bytes``): RSS grows by this as reads warm the cache."""
        return self._memory_used

    # ------------------------------------------------------------------ setup
    async def open(self) -> ChunkCache:
        await asyncio.to_thread(self._scan)
        return self

    def _scan(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        entries = []
        for p in self.directory.iterdir():
            if p.name.endswith(".tmp"):
                p.unlink(missing_ok=True)
            elif p.name.endswith(".chunk"):
                st = p.stat()
                entries.append((st.st_mtime, p.name, st.st_size))
        for _, name, size in sorted(entries):
            self._files[name] = size
            self._disk_bytes += size

    async def close(self) -> None:
        for t in list(self._background):
            t.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # ------------------------------------------------------------------ reads
    def _name(self, key: str, size: int, index: int) -> str:
        digest = hashlib.sha256(f"{key}\0{size}".encode()).hexdigest()[:40]
        return f"{digest}.{self.chunk_size}.{index}.chunk"

    def chunk_range(self, index: int, object_size: int) -> tuple[int, int]:
        start = index * self.chunk_size
        return start, min(self.chunk_size, object_size - start)

    async def read(self, key: str, start: int, length: int, *, object_size: int) -> bytes:
        """Bytes ``[start, start+length)`` of an object (clamped to its size)."""
        end = min(start + length, object_size)
        if start >= end:
            return b""
        first, last = start // self.chunk_size, (end - 1) // self.chunk_size
        chunks = await asyncio.gather(*(self.chunk(key, i, object_size=object_size) for i in range(first, last + 1)))
        if first == last:
            off = start - first * self.chunk_size
            return chunks[0][off : off + (end - start)] if (off, end - start) != (0, len(chunks[0])) else chunks[0]
        joined = b"".join(chunks)
        off = start - first * self.chunk_size
        return joined[off : off + (end - start)]

    async def chunk(self, key: str, index: int, *, object_size: int) -> bytes:
        """One aligned chunk, from memory, disk or S3 (single flight)."""
        if index < 0 or index * self.chunk_size >= object_size:
            raise ValueError(f"chunk {index} is outside an object of {object_size} bytes")
        self._maybe_readahead(key, index, object_size)
        return await self._get_chunk(key, index, object_size)

    async def read_span(self, key: str, start: int, end: int, *, object_size: int) -> bytes:
        """Bytes ``[start, end)`` of an object (clamped to its size) with at most one ranged GET.

        On a miss the exact range is fetched and cached as one entry (no chunk alignment, no read-ahead);
        when every aligned chunk covering the range is cached already, the bytes come from those instead.
        """
        end = min(end, object_size)
        if start < 0 or start >= end:
            return b""
        first, last = start // self.chunk_size, (end - 1) // self.chunk_size
        names = [self._name(key, object_size, i) for i in range(first, last + 1)]
        if all(n in self._memory or n in self._files for n in names):
            chunks = [await self._get(n, key, *self.chunk_range(i, object_size))
                      for n, i in zip(names, range(first, last + 1), strict=True)]
            off = start - first * self.chunk_size
            return b"".join(chunks)[off : off + (end - start)]
        return await self._get(self._span_name(key, object_size, start, end), key, start, end - start)

    def _span_name(self, key: str, size: int, start: int, end: int) -> str:
        digest = hashlib.sha256(f"{key}\0{size}".encode()).hexdigest()[:40]
        return f"{digest}.span.{start}-{end}.chunk"

    async def _get_chunk(self, key: str, index: int, object_size: int) -> bytes:
        return await self._get(self._name(key, object_size, index), key, *self.chunk_range(index, object_size))

    async def _get(self, name: str, key: str, start: int, length: int) -> bytes:
        """The cache entry ``name`` holding bytes ``[start, start+length)`` of ``key``: memory, disk or S3."""
        data = self._memory.get(name)
        if data is not None:
            self._memory.move_to_end(name)
            if name in self._files:
                self._files.move_to_end(name)
            self.stats.hits += 1
            self.stats.memory_hits += 1
            return data
        if name in self._files:
            self._files.move_to_end(name)
            try:
                data = await asyncio.to_thread((self.directory / name).read_bytes)
            except FileNotFoundError:
                self._forget(name)
            else:
                if len(data) == length:
                    self.stats.hits += 1
                    self._remember(name, data)
                    return data
                self._forget(name)  # damaged file: fetch again
        fut = self._inflight.get(name)
        if fut is not None:
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[name] = fut
        try:
            data = await self._fetch(key, start, length, name)
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        else:
            fut.set_result(data)
            return data
        finally:
            self._inflight.pop(name, None)

    async def _fetch(self, key: str, start: int, length: int, name: str) -> bytes:
        self.stats.misses += 1
        data = await self.store.get_range(key, start, length)
        if len(data) != length:  # a short chunk is never cached
            self.stats.errors += 1
            from app.errors import CorruptData

            # get_range re-fetches bodies cut short in transit and returns fewer bytes only where the object
            # itself ends: the object is shorter than its manifest entry says (truncated at the source, or a
            # wrong size_bytes). Trying again cannot help, so it is damage, not unavailability.
            raise CorruptData(f"{key} ends at byte {start + len(data)}, before the {start + length} bytes its "
                              f"manifest entry needs", key=key, position=start + len(data))
        self.stats.bytes_fetched += length
        await asyncio.to_thread(self._write_file, name, data)
        self._files[name] = length
        self._disk_bytes += length
        self._remember(name, data)
        await self._evict()
        return data

    def _write_file(self, name: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f"{name}.{os.getpid()}.{id(data)}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self.directory / name)

    def _remember(self, name: str, data: bytes) -> None:
        if len(data) > self.memory_bytes:
            return
        if name in self._memory:
            self._memory.move_to_end(name)
            return
        self._memory[name] = data
        self._memory_used += len(data)
        while self._memory_used > self.memory_bytes and self._memory:
            _, old = self._memory.popitem(last=False)
            self._memory_used -= len(old)

    def _forget(self, name: str) -> None:
        size = self._files.pop(name, None)
        if size is not None:
            self._disk_bytes -= size
        data = self._memory.pop(name, None)
        if data is not None:
            self._memory_used -= len(data)

    async def _evict(self) -> None:
        victims = []
        while self._disk_bytes > self.max_bytes and len(self._files) > 1:
            name, size = self._files.popitem(last=False)
            self._disk_bytes -= size
            data = self._memory.pop(name, None)
            if data is not None:
                self._memory_used -= len(data)
            victims.append(self.directory / name)
            self.stats.evictions += 1
        if victims:
            def unlink_all() -> None:
                for p in victims:
                    p.unlink(missing_ok=True)

            await asyncio.to_thread(unlink_all)

    def _maybe_readahead(self, key: str, index: int, object_size: int) -> None:
        previous = self._last_chunk.get(key)
        self._last_chunk[key] = index
        if len(self._last_chunk) > 10_000:
            self._last_chunk.pop(next(iter(self._last_chunk)))
        if self.readahead_chunks <= 0 or previous is None or index != previous + 1:
            return
        for ahead in range(index + 1, index + 1 + self.readahead_chunks):
            if ahead * self.chunk_size >= object_size:
                break
            name = self._name(key, object_size, ahead)
            if name in self._files or name in self._inflight:
                continue
            self.stats.readaheads += 1
            task = asyncio.create_task(self._prefetch(key, ahead, object_size))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _prefetch(self, key: str, index: int, object_size: int) -> None:
        try:
            await self._get_chunk(key, index, object_size)
        except Exception as e:  # read-ahead is a hint: the real read will retry and report
            log.debug("read-ahead of %s chunk %d failed: %s", key, index, e)

    @property
    def disk_bytes(self) -> int:
        return self._disk_bytes
