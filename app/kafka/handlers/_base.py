"""What every handler receives: the shared :class:`Broker` and the connection's :class:`Session`.

A handler is ``async (broker, session, request) -> response body | None``: it never touches the socket.
``None`` means "send nothing" (Produce with acks=0). A handler that wants the connection closed after
its response (failed authentication) sets :attr:`Session.close_after_response`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from app.catalog import Catalog
from app.config import KafkaSettings
from app.kafka.auth import Authenticator
from app.kafka.cluster import Cluster
from app.kafka.consumer_offsets import ConsumerOffsetsLog
from app.kafka.groups import GroupCoordinator
from app.kafka.protocol import Request, ResponseBody
from app.kafka.sasl import SaslServer
from app.metrics import Metrics
from app.reader import PartitionReader

__all__ = ["Broker", "Handler", "Session"]


@dataclass(slots=True, kw_only=True)
class Session:
    """Per-connection state."""

    peer: str  # "host:port" of the client, for logs
    client_host: str
    tls: bool = False
    principal: str | None = None  # SASL user, or the TLS client certificate's CN; None = anonymous
    authenticated: bool = False  # SASL completed
    sasl: SaslServer | None = None
    sasl_user: str | None = None  # the user name the client claimed (logs of failed attempts)
    # SaslHandshake v0 succeeded: until authentication completes, each frame is a bare SASL token (no
    # Kafka header) and each answer a bare size-prefixed token, as Kafka's v0 exchange goes
    sasl_unframed: bool = False
    client_id: str | None = None
    client_software: str | None = None  # "name version" from ApiVersions v3+ (KIP-511)
    close_after_response: bool = False


@dataclass(slots=True, kw_only=True)
class Broker:
    """Everything shared by the connections of one ``serve`` process."""

    settings: KafkaSettings
    cluster: Cluster
    catalog: Catalog
    reader: PartitionReader
    coordinator: GroupCoordinator
    auth: Authenticator
    cluster_id: str
    # Fetch reads still running, keyed by what they read: a client fetching again after a slow read
    # (answered empty at max_wait) joins the running read instead of starting another one.
    inflight_reads: dict[tuple[str, int, int, int, bool], asyncio.Task[Any]] = field(default_factory=dict)
    metrics: Metrics | None = None  # the process's Prometheus registry (requests and latency per API)
    consumer_offsets: ConsumerOffsetsLog | None = None  # the read-only __consumer_offsets topic


Handler = Callable[[Broker, Session, Request[Any]], Awaitable[ResponseBody | None]]
