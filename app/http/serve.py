"""Run a FastAPI app under uvicorn (``http`` and ``run``): announce the URL, stop gracefully on a signal or
an event, and fail clearly when the address cannot be bound."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from app.errors import ConfigError

__all__ = ["parse_listen", "serve_http"]


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) → ``(host, port)``; port 0 picks a free one."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise ConfigError(f"--listen must be HOST:PORT, not {listen!r}")
    return host.strip("[]"), int(port)


async def serve_http(app: Any, listen: str, *, banner: str = "serving", graceful_shutdown: float = 5.0,
                     on_ready: Callable[[str], Awaitable[None] | None] | None = None,
                     stop: asyncio.Event | None = None) -> None:
    """Run ``app`` under uvicorn until cancelled, signalled or ``stop`` is set (a graceful shutdown);
    prints ``{banner} on http://HOST:PORT``."""
    import uvicorn

    host, port = parse_listen(listen)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                            server_header=False, proxy_headers=False, timeout_graceful_shutdown=int(graceful_shutdown))
    server = uvicorn.Server(config)

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.02)
        sock = server.servers[0].sockets[0].getsockname()
        shown = f"[{sock[0]}]" if ":" in sock[0] else sock[0]
        url = f"http://{shown}:{sock[1]}"
        print(f"{banner} on {url}  (page {url}/, API docs {url}/docs)", flush=True)
        if on_ready is not None:
            result = on_ready(url)
            if result is not None:
                await result

    async def stopper() -> None:
        assert stop is not None
        await stop.wait()
        server.should_exit = True

    helpers = [asyncio.create_task(announce())]
    if stop is not None:
        helpers.append(asyncio.create_task(stopper()))
    try:
        await server.serve()
    finally:
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
    if not server.started:
        raise ConfigError(f"could not listen on {listen} (address in use or not allowed?)")
