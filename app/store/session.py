"""aiobotocore sessions (botocore's data files loaded once, off the event loop; one session per event loop; one
TLS context per process) and the per-request retry policy."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import random
import ssl
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import botocore.loaders
import botocore.session
import botocore.utils
from aiobotocore.httpsession import AIOHTTPSession
from aiobotocore.session import AioSession

import app
from app.errors import (
    StorageUnavailable,
)

# -------------------------------------------------------------------------------------- client set-up

USER_AGENT = f"shadowreplica/{app.__version__} Python/{sys.version_info.major}.{sys.version_info.minor}"
"""Every S3 request's User-Agent (botocore appends its own name and version): names the service in the
provider's access logs. Given in the client config, it also spares botocore assembling its default string
(SDK, OS, language, feature and config metadata) twice per request, ~40 us of CPU each time."""

_LOADER = botocore.loaders.create_loader()  # shared by every store: botocore's JSON models are read once
_warm: set[str] = set()


def new_session(service: str = "s3") -> AioSession:
    """Runs in a worker thread: everything here reads files (AWS config, botocore's service models). Also
    used for the SQS client of :mod:`app.events`."""
    if service not in _warm:  # a throwaway sync client loads exactly what create_client needs into the loader
        warm = botocore.session.Session()
        warm.register_component("data_loader", _LOADER)
        warm.create_client(service, region_name="us-east-1", aws_access_key_id="-", aws_secret_access_key="-").close()
        _warm.add(service)
    session = AioSession()
    session.register_component("data_loader", _LOADER)
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
    session.get_scoped_config()
    return session


def parse_timestamp(value: str | int | float) -> datetime:
    """S3's two timestamp forms (ISO 8601 in XML bodies, RFC 1123 in ``Last-Modified``) parsed by the standard
    library: botocore's default goes through dateutil, ~20x slower, which made a 1,000-key listing page cost
    tens of milliseconds of CPU. Anything else falls back to botocore's parser."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value) if value[:1].isdigit() else email.utils.parsedate_to_datetime(value)
        except (ValueError, TypeError, IndexError):
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    stamp: datetime = botocore.utils.parse_timestamp(value)
    return stamp


_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AioSession]] = weakref.WeakKeyDictionary()


async def loop_session(service: str = "s3") -> AioSession:
    """The running loop's session for ``service``: a botocore session costs ~25 ms of CPU to build (its event
    handlers), and every store of a process opens its client from it (clients copy its handlers, so what a
    store registers stays on its own client). Per loop, because refreshable credentials hold asyncio locks."""
    loop = asyncio.get_running_loop()
    sessions = _sessions.setdefault(loop, {})
    session = sessions.get(service)
    if session is None:
        session = sessions.setdefault(service, await asyncio.to_thread(new_session, service))
    return session


_tls_lock = threading.Lock()
_tls_contexts: dict[object, ssl.SSLContext] = {}


class SharedTLSHTTPSession(AIOHTTPSession):  # type: ignore[misc]  # aiobotocore is untyped
    """aiobotocore's HTTP session with one TLS context per process and verify setting: aiobotocore builds one
    per client, reading the whole CA bundle (~80 ms of CPU, even for an ``http://`` endpoint). An SSLContext
    may serve many connections, threads and loops; one with a client certificate or a proxy is built anew."""

    def _build_ssl_contexts(self, proxy_url: Any) -> tuple[ssl.SSLContext | bool, ssl.SSLContext | None]:
        if self._cert_file or proxy_url:
            context, proxy_context = super()._build_ssl_contexts(proxy_url)
            return context, proxy_context
        with _tls_lock:
            context = _tls_contexts.get(self._verify)
            if context is None:
                context = _tls_contexts[self._verify] = self._build_verify_context()
        return context, None


class PlainHTTPSession(SharedTLSHTTPSession):
    """For an ``http://`` endpoint (a local or in-cluster S3): no TLS context is built at all, sparing each
    process ~40 ms of CPU reading the CA bundle before its first request. Requests to such an endpoint never
    use TLS; should one ever go to an ``https`` URL, aiohttp's default verified context serves it."""

    def _build_ssl_contexts(self, proxy_url: Any) -> tuple[ssl.SSLContext | bool, ssl.SSLContext | None]:
        if self._cert_file or proxy_url:
            return super()._build_ssl_contexts(proxy_url)
        return True, None


def http_session_for(endpoint_url: str | None) -> type[SharedTLSHTTPSession]:
    """The aiobotocore HTTP session class for a client of ``endpoint_url`` (None: the provider's https one)."""
    if endpoint_url is not None and endpoint_url.lower().startswith("http://"):
        return PlainHTTPSession
    return SharedTLSHTTPSession


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _range_header(start: int, end: int | None) -> str:
    return f"bytes={start}-{end - 1}" if end is not None else f"bytes={start}-"


# ------------------------------------------------------------------------------------------ the store


@dataclass(slots=True)
class RequestRetry:
    """How every S3 request is retried on :class:`StorageUnavailable` (5xx, SlowDown, resets, timeouts, a body
    cut short): ``attempts`` in a row at most, a full-jitter exponential wait (``uniform(0, min(cap, base *
    2**n))``), and hooks the replicator uses to count each failure and to slow down (its limiter)."""

    attempts: int = 5
    base: float = 0.1
    cap: float = 5.0
    on_failure: Callable[[StorageUnavailable], None] | None = None
    on_success: Callable[[], None] | None = None

    def delay(self, failures: int) -> float:
        return random.uniform(0.0, min(self.cap, self.base * (2 ** failures)))

