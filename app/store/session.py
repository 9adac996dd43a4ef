"""aiobotocore sessions (botocore's data files loaded once, off the event loop) and the per-request retry policy."""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass

import botocore.loaders
import botocore.session
from aiobotocore.session import AioSession

from app.errors import (
    StorageUnavailable,
)

# -------------------------------------------------------------------------------------- client set-up

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
    session.get_scoped_config()
    return session


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

