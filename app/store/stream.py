"""A streamed object body (``ObjectStore.open_stream``): chunks as they arrive, a short body is an error."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime
from types import TracebackType
from typing import Any

from app.errors import (
    StorageUnavailable,
)
from app.store.base import StoreBase
from app.store.values import (
    normalize_etag,
)

log = logging.getLogger(__name__)


class ObjectStream:
    """A streaming download from :meth:`ObjectStore.open_stream`.

    ``start``/``end`` (exclusive) locate the bytes in the object, ``content_length`` is their count and
    ``size`` the whole object's size (-1 if the server did not say). Iterate once with ``async for``; the
    total is checked against ``content_length`` at the end (``StorageUnavailable`` if short). Closing
    before the end drops the connection (the body is not drained).
    """

    def __init__(self, store: StoreBase, key: str, resp: dict[str, Any], *, start: int, content_length: int,
                 size: int, chunk_size: int) -> None:
        self.key = key
        self.start = start
        self.end = start + content_length
        self.content_length = content_length
        self.size = size
        self.etag = normalize_etag(resp.get("ETag"))
        self.last_modified: datetime | None = resp.get("LastModified")
        self.content_type: str | None = resp.get("ContentType")
        self.received = 0
        self._store = store
        self._body = resp["Body"]
        self._chunk_size = chunk_size
        self._iterated = False
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._iterated:
            raise RuntimeError("an ObjectStream can be iterated once")
        self._iterated = True
        try:
            while True:
                with self._store._call("GetObject", self.key, request=False) as stats:
                    chunk: bytes = await self._body.read(self._chunk_size)
                    stats.bytes_in += len(chunk)
                    if not chunk and self.received != self.content_length:
                        raise StorageUnavailable(
                            f"GetObject s3://{self._store.bucket}/{self._store._url.key(self.key)}: body cut short, "
                            f"got {self.received} of {self.content_length} bytes", key=self.key)
                if not chunk:
                    return
                self.received += len(chunk)
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._body.close()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> ObjectStream:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
