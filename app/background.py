"""Background work of one component: a task started once and cancelled on stop, and a periodic variant
that runs a step every ``interval`` seconds, logging a failed step without ending the loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from app.errors import ShadowReplicaError

__all__ = ["Background", "every"]


class Background:
    """One named background task: :meth:`start` is idempotent, :meth:`stop` cancels and waits for it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._task is None:
            self._task = asyncio.create_task(coro, name=self.name)
        else:
            coro.close()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def every(interval: float, step: Callable[[], Awaitable[Any] | Any], *, what: str,
                log: logging.Logger) -> None:
    """Run ``step`` (sync or async) every ``interval`` seconds forever. A :class:`ShadowReplicaError` is a
    warning (S3 down, bad data: the next step may do better); anything else is a bug, logged with its
    traceback; neither ends the loop."""
    while True:
        try:
            result = step()
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                await result
        except ShadowReplicaError as e:
            log.warning("%s: %s", what, e.message)
        except Exception:
            log.exception("%s failed", what)
        await asyncio.sleep(interval)
