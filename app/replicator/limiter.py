"""Bounded, adaptive concurrency for S3 requests, and the retry policy around them.

:class:`AdaptiveLimiter` is a FIFO semaphore whose limit moves: it starts at ``--concurrency`` and halves
(at most once per ``cooldown``) whenever a request fails in a way that says "slow down" (503 SlowDown,
throttling codes, 5xx, timeouts, connection resets), then grows back by one slot per ``limit`` successes
(AIMD, as TCP does). A request may take several slots (a multipart copy runs parts in parallel).

Retries are not here: every S3 request is retried on its own by the store (``app.store.RequestRetry``,
``--max-retries`` attempts in a row, full-jitter back-off); the replicator's hooks count each failure by
kind and cut this limit. :func:`limited` runs an operation under the limiter, once. :class:`RetryPolicy`
paces the re-plans of a partition pass whose source changed under it (not S3 retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from app.errors import StorageUnavailable

__all__ = ["AdaptiveLimiter", "RetryPolicy", "error_kind", "limited"]

log = logging.getLogger(__name__)
T = TypeVar("T")

THROTTLE_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "503", "429",
})


def error_kind(error: StorageUnavailable) -> str:
    """``throttled`` (the server asked us to slow down), ``timeout``, or ``unavailable`` (5xx, resets)."""
    code = str(error.details.get("code") or "")
    if code in THROTTLE_CODES:
        return "throttled"
    if "Timeout" in code or "timeout" in error.message.lower():
        return "timeout"
    return "unavailable"


class AdaptiveLimiter:
    """``async with limiter.slot(): ...`` — at most ``limit`` slots in use; the limit adapts (module doc)."""

    def __init__(self, limit: int, *, min_limit: int = 1, cooldown: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("concurrency must be at least 1")
        self.max_limit = limit
        self.min_limit = max(1, min(min_limit, limit))
        self.limit = float(limit)
        self.in_use = 0
        self.cuts = 0
        self._cooldown = cooldown
        self._clock = clock
        self._last_cut = -float("inf")
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def _fits(self, n: int) -> bool:
        return self.in_use == 0 or self.in_use + n <= int(self.limit)

    def _wake(self) -> None:
        while self._waiters:
            n, fut = self._waiters[0]
            if fut.done():
                self._waiters.popleft()
                continue
            if not self._fits(n):
                return
            self._waiters.popleft()
            self.in_use += n
            fut.set_result(None)

    async def acquire(self, n: int = 1) -> int:
        """Take ``n`` slots (capped at the maximum); returns how many were taken (pass it to :meth:`release`)."""
        n = max(1, min(n, self.max_limit))
        if not self._waiters and self._fits(n):
            self.in_use += n
            return n
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((n, fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(n)  # granted just as we were cancelled
            raise
        return n

    def release(self, n: int = 1) -> None:
        self.in_use -= n
        self._wake()

    @contextlib.asynccontextmanager
    async def slot(self, n: int = 1) -> AsyncIterator[int]:
        taken = await self.acquire(n)
        try:
            yield taken
        finally:
            self.release(taken)

    def on_success(self) -> None:
        if self.limit < self.max_limit:
            self.limit = min(float(self.max_limit), self.limit + 1.0 / self.limit)
            self._wake()

    def on_throttle(self) -> None:
        now = self._clock()
        if now - self._last_cut < self._cooldown:
            return
        self._last_cut = now
        self.limit = max(float(self.min_limit), self.limit / 2)
        self.cuts += 1


@dataclass(slots=True)
class RetryPolicy:
    """``attempts`` tries in all; the wait before retry ``n`` (1-based) is uniform(0, min(cap, base * 2**n))."""

    attempts: int = 8
    base: float = 0.1
    cap: float = 10.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, retry: int) -> float:
        return self.rng.uniform(0.0, min(self.cap, self.base * (2 ** retry)))


async def limited(call: Callable[[], Awaitable[T]], *, limiter: AdaptiveLimiter, slots: int = 1) -> T:
    """Run ``call`` holding ``slots`` limiter slots, once: every S3 request inside it is retried on its own by
    the store (``app.store.RequestRetry``), whose failures cut the limit through the replicator's hooks."""
    async with limiter.slot(slots):
        return await call()
