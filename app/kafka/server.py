"""The asyncio shell of the Kafka shim: sockets in, frames to the codec, requests to the handlers.

Theory of operation
-------------------
Everything protocol-shaped lives elsewhere: bytes ⇄ values in :mod:`app.kafka.protocol` (sans-I/O), what
to answer in :mod:`app.kafka.handlers`. This module owns only I/O policy, every limit a named setting
(``KafkaSettings``):

* **Accept**: ``asyncio.start_server`` (TLS through an ``ssl.SSLContext``, optionally requiring client
  certificates). Over ``max_connections`` in total or ``max_connections_per_client`` from one address,
  a new connection is closed at once with a log line.
* **Frames**: one :class:`FrameDecoder` per connection with ``max_frame_bytes``. A frame that is
  oversized, malformed, or names an API/version we never offered closes *that* connection with a log
  line; the server keeps serving every other one. ApiVersions above our maximum gets the v0 fallback
  answer instead (the client retries lower), as Kafka does.
* **Order**: a connection's requests are handled one after another and answered in order; clients
  pipeline (several requests in flight), the bytes simply wait in the socket buffer. A parked request
  (long-poll Fetch, JoinGroup) holds back the ones behind it on its connection only, as on Kafka.
* **Authentication**: on a SASL listener, a request other than ApiVersions/SaslHandshake/
  SaslAuthenticate before authentication closes the connection. After a SaslHandshake v0 the frames up
  to the end of authentication are bare SASL tokens, answered with bare size-prefixed tokens
  (:func:`app.kafka.handlers.sasl.handle_unframed_sasl_token`) (unless anonymous access is configured:
  :class:`app.kafka.auth.Authenticator`). A handler asks for a close after its answer (failed SASL).
* **Idle timeout**: a connection that sends nothing for ``idle_timeout`` seconds while nothing is being
  answered is closed.
* **Writes**: responses are lists of buffers (Fetch record bytes are views of the cache, never copied
  by the codec). On plaintext sockets the buffers go to the kernel with ``os.writev`` straight from
  those views when the transport has nothing queued (whatever does not fit is queued on the transport,
  which then applies back-pressure); on TLS they go through the transport. (An ``os.sendfile`` mode from
  the cache's chunk files was measured 11x slower than ``writev`` with ``bench/kafka_shim.py`` and
  removed, with the side channel it needed between the Fetch handler and this writer.)
* **Shutdown**: stop accepting, cancel every connection task, wait for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from app.kafka.handlers import HANDLERS, PRE_AUTH_APIS, Broker, Session
from app.kafka.handlers.sasl import handle_unframed_sasl_token
from app.kafka.protocol import (
    ErrorCode,
    FetchResponse,
    FrameDecoder,
    RemoteProtocolError,
    UnsupportedRequest,
    decode_request,
    encode_response_buffers,
)

if TYPE_CHECKING:
    from app.metrics import Metrics

Buffer = bytes | bytearray | memoryview

__all__ = ["KafkaServer", "make_ssl_context"]

log = logging.getLogger(__name__)

IOV_MAX = 1024  # buffers per writev call (Linux UIO_MAXIOV: a kernel limit, not a setting)


def make_ssl_context(certfile: Path, keyfile: Path | None, cafile: Path | None, require_client_cert: bool
                     ) -> ssl.SSLContext:
    """Server TLS: our certificate; with ``cafile``, client certificates verified against it (required
    when ``require_client_cert``, else checked when offered)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(certfile), str(keyfile) if keyfile else None)
    if cafile is not None:
        ctx.load_verify_locations(cafile=str(cafile))
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    elif require_client_cert:
        raise ValueError("requiring client certificates needs a CA file to verify them")
    return ctx


def _cert_cn(peercert: object) -> str | None:
    if not isinstance(peercert, dict):
        return None
    for rdn in peercert.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return None


def _observe(metrics: Metrics, api: str, body: object, seconds: float) -> None:
    """Count one answered request; a Fetch also counts as a read-path fetch (``face="kafka"``)."""
    metrics.kafka_requests.labels(api=api, outcome="ok").inc()
    metrics.kafka_duration.labels(api=api).observe(seconds)
    if isinstance(body, FetchResponse):
        metrics.fetch_requests.labels(face="kafka").inc()
        metrics.fetch_duration.labels(face="kafka").observe(seconds)
        for topic in body.responses:
            for part in topic.partitions:
                if part.error_code:
                    metrics.fetch_errors.labels(face="kafka", error=ErrorCode(part.error_code).name).inc()


class _Closing(Exception):
    """End this connection (the reason was logged where it was decided)."""


class Connection:
    """One client connection: frames in, answers out, in order."""

    def __init__(self, server: KafkaServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 session: Session) -> None:
        self.server = server
        self.broker = server.broker
        self.reader = reader
        self.writer = writer
        self.session = session
        self.decoder = FrameDecoder(max_frame_size=server.broker.settings.max_frame_bytes)
        sock = writer.get_extra_info("socket")
        self._fd: int | None = None
        if not session.tls and sock is not None:
            self._fd = sock.fileno()

    async def run(self) -> None:
        try:
            while True:
                payload = await self._next_payload()
                if payload is None:
                    return
                await self._serve(payload)
        except _Closing:
            pass
        except (ConnectionError, OSError) as e:
            log.debug("connection from %s lost: %s", self.session.peer, e)

    async def _next_payload(self) -> bytes | None:
        idle = self.broker.settings.idle_timeout
        while True:
            try:
                frame = self.decoder.next_frame()
            except RemoteProtocolError as e:
                log.warning("closing connection from %s: %s", self.session.peer, e)
                return None
            if frame is not None:
                return frame.payload
            try:
                async with asyncio.timeout(idle):
                    data = await self.reader.read(self.broker.settings.socket_read_size)
            except TimeoutError:
                log.info("closing connection from %s: idle for %.0f s", self.session.peer, idle)
                return None
            if not data:
                if self.decoder.buffered:
                    log.warning("connection from %s closed in the middle of a frame (%d bytes buffered)",
                                self.session.peer, self.decoder.buffered)
                return None
            self.decoder.feed(data)

    async def _serve(self, payload: bytes) -> None:
        session = self.session
        if session.sasl_unframed:
            reply = await handle_unframed_sasl_token(self.broker, session, payload)
            if reply is None:
                raise _Closing
            await self._write([len(reply).to_bytes(4, "big"), reply])
            return
        try:
            request = decode_request(payload)
        except UnsupportedRequest as e:
            if e.reply is not None:
                await self._write([e.reply])
                return
            log.warning("closing connection from %s (client %r): %s", session.peer, session.client_id, e)
            raise _Closing from e
        except RemoteProtocolError as e:
            log.warning("closing connection from %s (client %r): malformed request: %s", session.peer,
                        session.client_id, e)
            raise _Closing from e
        header = request.header
        session.client_id = header.client_id
        auth = self.broker.auth
        if auth.sasl_enabled and not session.authenticated and header.api_key not in PRE_AUTH_APIS and \
                (session.sasl is not None or not auth.anonymous_allowed):
            log.warning("closing connection from %s (client %r): %s before authenticating", session.peer,
                        header.client_id, header.api_key.name)
            raise _Closing
        metrics = self.broker.metrics
        started = time.perf_counter()
        try:
            body = await HANDLERS[header.api_key](self.broker, session, request)
            buffers = encode_response_buffers(header, body) if body is not None else None
        except (ConnectionError, OSError):
            raise
        except Exception as e:  # a bug in a handler: this connection ends, the server goes on
            log.exception("closing connection from %s: %s v%d failed", session.peer, header.api_key.name,
                          header.api_version)
            if metrics is not None:
                metrics.kafka_requests.labels(api=header.api_key.name, outcome="failed").inc()
            raise _Closing from e
        if metrics is not None:
            _observe(metrics, header.api_key.name, body, time.perf_counter() - started)
        if buffers is not None:
            await self._write(buffers)
        if session.close_after_response:
            raise _Closing

    async def _write(self, buffers: Sequence[Buffer]) -> None:
        writer = self.writer
        transport = writer.transport
        if transport.is_closing():
            raise ConnectionResetError("connection closed")
        if self._fd is not None and transport.get_write_buffer_size() == 0:
            rest = self._writev(buffers)
            if not rest:
                return
            buffers = rest
        for b in buffers:
            writer.write(b)
        await writer.drain()

    def _writev(self, buffers: Sequence[Buffer]) -> list[Buffer]:
        """Send as much as the socket takes now, straight from the buffers; returns what is left."""
        assert self._fd is not None
        i = 0
        while i < len(buffers):
            batch = buffers[i : i + IOV_MAX]
            try:
                sent = os.writev(self._fd, batch)
            except (BlockingIOError, InterruptedError):
                sent = 0
            for j, b in enumerate(batch):
                size = memoryview(b).nbytes
                if sent >= size:
                    sent -= size
                    continue
                rest: list[Buffer] = [memoryview(b)[sent:]] if sent else [b]
                return rest + list(buffers[i + j + 1 :])
            i += len(batch)
        return []

    async def write_raw(self, data: Buffer) -> None:
        await self._write([data])

    def close(self) -> None:
        self.writer.close()


class KafkaServer:
    """Accepts connections and runs one :class:`Connection` task each."""

    def __init__(self, broker: Broker, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.broker = broker
        self.ssl_context = ssl_context
        self.per_client: Counter[str] = Counter()
        self.tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def connections(self) -> int:
        return len(self.tasks)

    async def start(self, *, sock: socket.socket | None = None, host: str | None = None, port: int | None = None
                    ) -> list[tuple[str, int]]:
        self._server = await asyncio.start_server(
            self._accept, host=host, port=port, sock=sock, ssl=self.ssl_context,
            ssl_handshake_timeout=self.broker.settings.tls_handshake_timeout if self.ssl_context else None,
            limit=self.broker.settings.socket_read_size, backlog=self.broker.settings.listen_backlog,
        )
        return [s.getsockname()[:2] for s in self._server.sockets]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        settings = self.broker.settings
        peer = writer.get_extra_info("peername") or ("?", 0)
        host = str(peer[0])
        if len(self.tasks) >= settings.max_connections:
            log.warning("refusing connection from %s:%s: %d connections open (kafka.max_connections)", host,
                        peer[1], len(self.tasks))
            writer.close()
            return
        if self.per_client[host] >= settings.max_connections_per_client:
            log.warning("refusing connection from %s:%s: %d connections from that address "
                        "(kafka.max_connections_per_client)", host, peer[1], self.per_client[host])
            writer.close()
            return
        tls = self.ssl_context is not None
        session = Session(peer=f"{host}:{peer[1]}", client_host=host, tls=tls,
                          principal=_cert_cn(writer.get_extra_info("peercert")) if tls else None)
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.per_client[host] += 1
        conn = Connection(self, reader, writer, session)
        log.debug("connection from %s", session.peer)
        try:
            await conn.run()
        except asyncio.CancelledError:
            # close() cancels the connection tasks; this is their root, so end quietly (asyncio's stream
            # callback on 3.11 logs a cancelled handler task as an error otherwise)
            log.debug("connection from %s closed at shutdown", session.peer)
        finally:
            self.tasks.discard(task)
            self.per_client[host] -= 1
            if self.per_client[host] <= 0:
                del self.per_client[host]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def close(self) -> None:
        """Stop accepting, end every connection, wait for their tasks."""
        if self._server is not None:
            self._server.close()
        tasks = list(self.tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self._server.wait_closed()


