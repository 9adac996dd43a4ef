"""The store's core: the client's lifecycle and the one place every S3 request is counted, translated and
retried (:meth:`StoreBase._request`); :class:`~app.store.ObjectStore` builds every operation on it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from aiobotocore.config import AioConfig

from app.config import S3Side
from app.errors import (
    ShadowReplicaError,
    StorageUnavailable,
)

if TYPE_CHECKING:
    from aiobotocore.client import AioBaseClient


from app.store.errors import (
    _kind,
    _NotModifiedSignal,
    _translate,
)
from app.store.session import (
    USER_AGENT,
    RequestRetry,
    http_session_for,
    loop_session,
)
from app.store.values import (
    DEFAULT_LIST_PAGE,
    DEFAULT_STREAM_CHUNK,
    OpStats,
    StoreStats,
    _quoted,
    normalize_etag,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


class StoreBase:
    """One bucket side's client and request machinery (see :class:`~app.store.ObjectStore`)."""

    def __init__(self, side: S3Side, *, list_page_size: int = DEFAULT_LIST_PAGE,
                 stream_chunk_size: int = DEFAULT_STREAM_CHUNK, request_retry: RequestRetry | None = None) -> None:
        if not 1 <= list_page_size <= 1000:
            raise ValueError("list_page_size must be in 1..1000")
        self.side = side
        self.stats = StoreStats()
        self._url = side.url
        self._list_page_size = list_page_size
        self._stream_chunk_size = stream_chunk_size
        self.request_retry = request_retry or RequestRetry(attempts=max(1, side.max_attempts))
        self._stack: AsyncExitStack | None = None
        self._client_: AioBaseClient | None = None

    # -- lifecycle --

    async def __aenter__(self) -> Self:
        if self._stack is not None:
            raise RuntimeError("ObjectStore is already open")
        session = await loop_session()
        side = self.side
        config = AioConfig(
            region_name=side.region,
            s3={"addressing_style": "path"},
            # botocore sends each request once: the store retries every request itself (``_request``)
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=side.connect_timeout,
            read_timeout=side.read_timeout,
            max_pool_connections=side.max_pool_connections,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            http_session_cls=http_session_for(side.endpoint_url),
            user_agent=USER_AGENT,
        )
        stack = AsyncExitStack()
        try:
            client = await stack.enter_async_context(
                session.create_client(
                    "s3",
                    region_name=side.region,
                    endpoint_url=side.endpoint_url,
                    aws_access_key_id=side.access_key_id,
                    aws_secret_access_key=side.secret_access_key,
                    aws_session_token=side.session_token,
                    config=config,
                )
            )
        except BaseException as e:
            await stack.aclose()
            if isinstance(e, Exception):
                raise _translate(e, op="CreateClient", bucket=self.bucket, key=None, full_key=None) from e
            raise
        client.meta.events.register("before-send.s3", self._count_attempt)
        self._stack, self._client_ = stack, client
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client (idempotent)."""
        stack, self._stack, self._client_ = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    @property
    def bucket(self) -> str:
        return self._url.bucket

    @property
    def _client(self) -> AioBaseClient:
        if self._client_ is None:
            raise RuntimeError("ObjectStore is not open: use `async with ObjectStore(side) as store:`")
        return self._client_

    def _count_attempt(self, event_name: str = "", **_: Any) -> None:
        self.stats.op(event_name.rsplit(".", 1)[-1]).attempts += 1  # must return None: a value replaces the send

    @contextlib.contextmanager
    def _call(self, op: str, key: str | None, *, request: bool = True) -> Iterator[OpStats]:
        """Count one call of ``op`` and translate whatever it raises (the seam's only ``except``)."""
        self._client  # noqa: B018 - a store that is not open is a programming error, raised untranslated
        stats = self.stats.op(op)
        if request:
            stats.requests += 1
        try:
            yield stats
        except _NotModifiedSignal:
            stats.not_modified += 1
            raise
        except ShadowReplicaError as err:  # raised by our own checks inside the block
            stats.errors[_kind(err)] += 1
            raise
        except Exception as exc:
            full = self._url.key(key) if key is not None else None
            mapped = _translate(exc, op=op, bucket=self.bucket, key=key, full_key=full)
            if isinstance(mapped, _NotModifiedSignal):
                stats.not_modified += 1
            else:
                stats.errors[_kind(mapped)] += 1
            raise mapped from exc

    async def _request(self, op: str, key: str | None, send: Callable[[OpStats], Awaitable[T]]) -> T:
        """Send one S3 request (``send``), retrying it alone on ``StorageUnavailable`` (:class:`RequestRetry`):
        a listing retries the failed page, a multipart copy or upload the failed part, a GET whose body was
        cut short that GET; an operation never restarts work that already succeeded. Past the last attempt
        the error names the request and how many times in a row it failed. Other errors raise at once."""
        retry = self.request_retry
        failures = 0
        while True:
            try:
                with self._call(op, key, request=failures == 0) as stats:
                    result = await send(stats)
            except StorageUnavailable as error:
                failures += 1
                if retry.on_failure is not None:
                    retry.on_failure(error)
                if failures >= retry.attempts:
                    if retry.attempts == 1:
                        raise
                    raise StorageUnavailable(f"{error.message} ({failures} attempts in a row)",
                                             **{**error.details, "attempts": failures}) from error
                self.stats.op(op).retries += 1
                wait = retry.delay(failures)
                log.info("%s: %s; retry %d in %.2f s", op, error.message, failures, wait)
                await asyncio.sleep(wait)
                continue
            if retry.on_success is not None:
                retry.on_success()
            return result

    # -- reads --

    async def put(self, key: str, body: bytes, *, if_match: str | None = None, if_none_match: bool = False,
                  content_type: str = "application/octet-stream", content_md5: str | None = None,
                  metadata: dict[str, str] | None = None) -> str:
        """Write ``body`` to ``key``; returns the new ETag.

        ``if_match=etag``: only if the object still has that ETag; ``if_none_match=True``: only if it does
        not exist. A failed condition raises ``PreconditionFailed``.
        """
        if if_match and if_none_match:
            raise ValueError("if_match and if_none_match are exclusive")
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._url.key(key), "Body": body,
                                  "ContentType": content_type}
        if if_match:
            params["IfMatch"] = _quoted(if_match)
        if if_none_match:
            params["IfNoneMatch"] = "*"
        if content_md5:
            params["ContentMD5"] = content_md5  # the server refuses a body that does not hash to it
        if metadata:
            params["Metadata"] = metadata

        async def send(stats: OpStats) -> dict[str, Any]:
            sent: dict[str, Any] = await self._client.put_object(**params)
            stats.bytes_out += len(body)
            return sent

        resp = await self._request("PutObject", key, send)
        return normalize_etag(resp.get("ETag"))


def _sending(method: Callable[..., Awaitable[Any]], params: dict[str, Any]) -> Callable[[OpStats], Awaitable[Any]]:
    """A ``send`` for :meth:`ObjectStore._request`: one client call with these parameters (bound now)."""
    return lambda _: method(**params)
