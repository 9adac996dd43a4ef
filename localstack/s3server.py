"""The embedded local S3: moto's S3 server in its own process.

Theory of operation
-------------------
``start_s3_server()`` re-runs this file with ``--moto-child``: that child process builds moto's WSGI app
(the same ``DomainDispatcherApplication`` + ``MotoRequestHandler`` the ``moto_server`` entry point serves)
on a werkzeug threaded server bound to ``host:port``, prints one JSON line ``{"port": N, "pid": P}`` once
the socket listens (so ``port=0`` gets a free port without a bind-then-release race), and serves until
it is told to stop. The parent then checks the server answers an S3 request and creates the buckets.

- Large object bodies live on disk, not in RAM: the child runs with ``MOTO_S3_DEFAULT_KEY_BUFFER_SIZE``
  = 1 MiB, so every body above that (a real segment) rolls over from moto's ``SpooledTemporaryFile`` to an
  unlinked file in ``TMPDIR``, a project-local directory (``.s3data/`` by default, on disk rather than a
  tmpfs). Smaller ones (manifests, indexes, test segments) stay in memory: a file per object cost ~30%
  of moto's CPU in the replicator tests.
  Nothing persists: the state is gone when the process stops.
- The child is in its own session, so a terminal's Ctrl-C reaches only the foreground script, which then
  stops it. It also exits by itself when its stdin reaches EOF, i.e. as soon as the process that started
  it is gone, even if that process was killed with SIGKILL: no orphaned servers after a crashed test run.
- Each bucket's events go to an SQS queue on the same server (``--events-queue``); moto's SendMessage
  counted the whole queue each time, so an undrained queue made every write slower than the last: the
  child patches that out (:func:`bound_event_queue_costs`).
- Request logs (werkzeug's access log) go to ``<data dir>/moto.log``, or to the terminal with ``-v``, when
  asked for (``start_s3_server(request_log=True)``: ``make s3`` and the demo); otherwise (the tests and
  benchmarks) only warnings and errors are logged.

Usage::

    python localstack/s3server.py                    # port $S3_PORT or 4566, buckets source + dest
    python localstack/s3server.py --port 0 --bucket a:us-east-1 --bucket b:eu-west-1

    with start_s3_server(port=0) as s3:              # tests, demo, benchmarks
        client = boto3.client("s3", endpoint_url=s3.endpoint, ...)

This module imports nothing from ``app``: it runs as a plain script from any directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import types
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_ROOT = REPO_ROOT / ".s3data"
DEFAULT_BUCKETS: tuple[tuple[str, str], ...] = (("source", "us-east-1"), ("dest", "eu-west-1"))
DEFAULT_PORT = 4566
TEST_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}

__all__ = [
    "DEFAULT_BUCKETS",
    "S3Server",
    "S3ServerError",
    "configure_events",
    "create_buckets",
    "main",
    "parse_bucket",
    "start_s3_server",
    "sweep_stale_dirs",
]


class S3ServerError(RuntimeError):
    """The local S3 server could not be started."""


@dataclass(eq=False)
class S3Server:
    """A running moto S3 server process. Stop it with :meth:`stop` or use it as a context manager."""

    endpoint: str
    host: str
    port: int
    pid: int
    data_dir: Path
    buckets: tuple[tuple[str, str], ...]
    log_path: Path | None
    _process: subprocess.Popen[bytes] = field(repr=False)
    queues: dict[str, str] = field(default_factory=dict)
    """Per bucket, the SQS queue URL its event notifications go to (moto serves SQS on the same port)."""
    _owns_data_dir: bool = field(default=False, repr=False)

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server process (idempotent) and remove the data directory if this object created it."""
        proc = self._process
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> S3Server:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def parse_bucket(spec: str) -> tuple[str, str]:
    """``"name:region"`` → ``("name", "region")``; a bare name means us-east-1."""
    name, _, region = spec.partition(":")
    if not name:
        raise ValueError(f"bad bucket spec {spec!r} (expected NAME or NAME:REGION)")
    return name, region or "us-east-1"


KEEP_ALIVE_IDLE = 120.0  # seconds a kept-alive connection may wait for its next request (clients close first)
KEEP_ALIVE_SKIP_BYTES = 64 << 20  # at most this much of a body the application left unread is skipped, else close
SPILL_BYTES = 1 << 20  # object bodies above this go to a temp file (moto's default keeps ~5 MiB in RAM)


def start_s3_server(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    buckets: Iterable[tuple[str, str]] = DEFAULT_BUCKETS,
    data_dir: str | Path | None = None,
    log_to_terminal: bool = False,
    startup_timeout: float = 30.0,
    request_log: bool = False,
) -> S3Server:
    """Start moto's S3 server as a separate process and create ``buckets`` (``(name, region)`` pairs).

    ``port=0`` picks a free port (read back from the child, no race). ``data_dir`` is where moto spills
    object bodies (its ``TMPDIR``) and writes its request log; by default a fresh directory under
    ``.s3data/`` that :meth:`S3Server.stop` removes. ``request_log=True`` adds werkzeug's line per request
    (``make s3`` and the demo); without it (tests, benchmarks) only warnings and errors are logged: the line
    per request cost about a seventh of moto's CPU in a profile. Raises :class:`S3ServerError` if the server does not come up within
    ``startup_timeout`` seconds (the message carries the end of its log).
    """
    owns_dir = data_dir is None
    if owns_dir:
        sweep_stale_dirs(DATA_ROOT, "moto-")
    directory = Path(data_dir) if data_dir is not None else DATA_ROOT / f"moto-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    directory.mkdir(parents=True, exist_ok=True)
    log_path = None if log_to_terminal else directory / "moto.log"
    env = dict(os.environ, MOTO_S3_DEFAULT_KEY_BUFFER_SIZE=str(SPILL_BYTES), TMPDIR=str(directory),
               PYTHONUNBUFFERED="1")
    log_file: IO[bytes] | None = open(log_path, "ab") if log_path else None  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--moto-child", host, str(port),
             "log" if request_log else "quiet"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file if log_file is not None else None,
            env=env,
            start_new_session=True,
        )
    finally:
        if log_file is not None:
            log_file.close()
    bucket_list = tuple(buckets)
    server: S3Server | None = None
    try:
        hello = _read_hello(proc, startup_timeout, log_path)
        bound = int(hello["port"])
        url_host = f"[{host}]" if ":" in host else host
        if host in ("0.0.0.0", "::"):
            url_host = "127.0.0.1"
        server = S3Server(
            endpoint=f"http://{url_host}:{bound}",
            host=host,
            port=bound,
            pid=proc.pid,
            data_dir=directory,
            buckets=bucket_list,
            log_path=log_path,
            _process=proc,
            _owns_data_dir=owns_dir,
        )
        _wait_until_answering(server, startup_timeout)
        create_buckets(server.endpoint, bucket_list)
        server.queues = {name: configure_events(server.endpoint, name, region) for name, region in bucket_list}
        return server
    except BaseException:
        if server is not None:
            server.stop()
        else:
            proc.kill()
            proc.wait()
            if owns_dir:
                shutil.rmtree(directory, ignore_errors=True)
        raise


def create_buckets(endpoint: str, buckets: Iterable[tuple[str, str]]) -> None:
    """Create each ``(name, region)`` bucket (LocationConstraint outside us-east-1); existing ones are kept."""
    import boto3  # imported here: the child process and ``--help`` do not need it

    for name, region in buckets:
        client = boto3.client("s3", endpoint_url=endpoint, region_name=region, **TEST_CREDENTIALS)
        try:
            kwargs: dict[str, Any] = {"Bucket": name}
            if region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(**kwargs)
        finally:
            client.close()


def configure_events(endpoint: str, bucket: str, region: str, *, queue: str | None = None) -> str:
    """Create the SQS queue ``<bucket>-events`` (in the bucket's region) and have every object written to or
    deleted from ``bucket`` notified to it, as on AWS (README, "Following by events"). Returns the queue URL."""
    import boto3

    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=region, **TEST_CREDENTIALS)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, **TEST_CREDENTIALS)
    try:
        url: str = sqs.create_queue(QueueName=queue or f"{bucket}-events")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
            {"Id": "shadowreplica", "QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]})
        return url
    finally:
        sqs.close()
        s3.close()


def sweep_stale_dirs(root: Path, prefix: str) -> None:
    """Remove ``<prefix><pid>-*`` directories left under ``root`` by processes that no longer run (killed runs)."""
    if not root.is_dir():
        return
    for path in root.glob(f"{prefix}*-*"):
        pid = path.name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _log_tail(log_path: Path | None, lines: int = 15) -> str:
    if log_path is None or not log_path.exists():
        return "(log went to the terminal)"
    text = log_path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:]) or "(empty log)"


def _read_hello(proc: subprocess.Popen[bytes], timeout: float, log_path: Path | None) -> dict[str, Any]:
    """The child's first stdout line: ``{"port": N, "pid": P}``, printed once its socket listens."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise S3ServerError(f"moto server gave no port within {timeout:.0f} s:\n{_log_tail(log_path)}")
        ready, _, _ = select.select([proc.stdout], [], [], min(remaining, 0.5))
        if ready:
            line = proc.stdout.readline()
            if not line:
                proc.wait()
                raise S3ServerError(
                    f"moto server exited with code {proc.returncode} before listening:\n{_log_tail(log_path)}"
                )
            hello: dict[str, Any] = json.loads(line)
            return hello


def _wait_until_answering(server: S3Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not server.alive:
            raise S3ServerError(f"moto server exited during startup:\n{_log_tail(server.log_path)}")
        try:
            with urllib.request.urlopen(server.endpoint + "/", timeout=2) as resp:  # ListBuckets, unsigned
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as e:
            last = e
        time.sleep(0.05)
    raise S3ServerError(f"moto server on {server.endpoint} did not answer within {timeout:.0f} s: {last}")


def bound_event_queue_costs() -> None:
    """Keep an S3 write's cost flat however many events its bucket's queue holds.

    Every object written to or deleted from a bucket with events (``source`` and ``dest`` by default) is a
    SendMessage to its queue, and moto's SendMessage reads ``queue.attributes`` for one flag, which counts
    every message in the queue three times over (visible, delayed, in flight; two clock reads per message).
    An events queue nobody drains (the usual case under ``make s3`` when nothing follows by events) grows
    with each write, so each write got slower than the last: measured here, four re-syncs of a 628-object
    bucket into ``dest`` took 7.7 s, then 30, 50 and 88 s (with the fix: 2.1-2.9 s each). Receiving was
    quadratic the same way (the retention check reads all attributes once per message). Both now read the one
    attribute they need; GetQueueAttributes still counts.
    """
    import threading

    from moto.core.utils import unix_time
    from moto.sqs import models as sqs

    all_attributes = sqs.Queue.attributes
    sending = threading.local()  # the queue a SendMessage of this thread is sending to

    def attributes(queue: Any) -> dict[str, Any]:
        if getattr(sending, "queue", None) is queue:
            return {"ContentBasedDeduplication": "true" if queue.content_based_deduplication else "false"}
        return all_attributes.fget(queue)  # type: ignore[attr-defined,no-any-return]

    send = sqs.SQSBackend.send_message

    def send_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        sending.queue = self.get_queue(queue_name)
        try:
            return send(self, queue_name, *args, **kwargs)
        finally:
            sending.queue = None

    def within_retention(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > unix_time())

    sqs.Queue.attributes = property(attributes)  # type: ignore[assignment]
    sqs.SQSBackend.send_message = send_message  # type: ignore[method-assign]
    sqs.SQSBackend.is_message_valid_based_on_retention_period = within_retention  # type: ignore[method-assign]


def timestamps_without_dateutil() -> None:
    """moto serializes each key of a listing page by parsing its stored ISO 8601 ``LastModified`` string back
    with botocore's general parser (dateutil): 37% of a 1,000-key ListObjectsV2, ~170 us of server CPU per
    key listed, in a profile here. ``datetime.fromisoformat`` reads the same strings; anything it does not
    read as an aware time still goes to botocore's parser, so responses stay byte-identical."""
    from datetime import UTC, datetime

    from moto.core import serialize

    general = serialize.parse_to_aware_datetime

    def aware(value: Any) -> datetime:
        if isinstance(value, str) and value[:1].isdigit():
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                if parsed.tzinfo is not None:
                    return parsed.astimezone(UTC)  # as botocore's parser does
        return general(value)  # type: ignore[no-any-return]

    serialize.parse_to_aware_datetime = aware


def listings_without_generic_serializer() -> None:
    """Write a ListObjectsV2 page's ``<Contents>`` elements directly instead of through moto's generic
    response serializer, which looks each field of each key up through alias providers, converts it, builds
    a dict tree and renders that with xmltodict: 44% of the local S3's CPU in the kill -9 test (which lists
    both buckets after every kill), ~60 us per listed key. The rest of the page (name, prefix, counts, tokens,
    common prefixes, headers) still comes from moto's serializer, run on the page without its keys; each key
    is written in the order, names, escaping and timestamp format that serializer uses, taken from the same
    botocore model. A key with a field this writer does not know, or a page it cannot splice, goes through
    moto whole, so responses stay byte-identical (tests/test_store.py compares them)."""
    from xml.sax.saxutils import escape

    from moto.core.responses import ActionResult
    from moto.core.serialize import S3Serializer, TimestampSerializer
    from moto.core.utils import get_service_model
    from moto.s3.responses import S3Response

    output = get_service_model("s3").operation_model("ListObjectsV2").output_shape
    order = list(output.members)
    if order.index("Contents") != order.index("IsTruncated") + 1:  # where the keys are spliced in
        return
    listed_object = output.members["Contents"].member
    contents_tag = output.members["Contents"].serialization.get("name", "Contents")
    timestamps = TimestampSerializer(S3Serializer.DEFAULT_TIMESTAMP_FORMAT)

    def element(name: str, text: str) -> str:
        return f"<{name}>{escape(text)}</{name}>" if text else f"<{name}/>"

    def write(shape: Any, fields: dict[str, Any]) -> str | None:
        """``fields`` as the children of a ``shape`` element, or None when moto should write them."""
        if not fields.keys() <= shape.members.keys():
            return None
        parts = []
        for name, member in shape.members.items():
            if name not in fields:
                continue
            value, tag = fields[name], member.serialization.get("name", name)
            kind = member.type_name
            if value is None or isinstance(value, bool):
                return None
            if kind == "string" and isinstance(value, str):
                parts.append(element(tag, value))
            elif kind in ("integer", "long") and isinstance(value, int):
                parts.append(element(tag, str(value)))
            elif kind == "timestamp":
                fmt = member.serialization.get("timestampFormat", timestamps.default_format)
                parts.append(element(tag, timestamps._convert_timestamp_to_str(value, fmt)))
            elif (kind == "list" and member.serialization.get("flattened") and member.member.type_name == "string"
                  and isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)):
                parts.extend(element(tag, v) for v in value)
            elif kind == "structure" and isinstance(value, dict) and value:
                inner = write(member, value)
                if inner is None:
                    return None
                parts.append(f"<{tag}>{inner}</{tag}>")
            else:
                return None
        return "".join(parts)

    generic = S3Response.serialized

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        contents = result.get("Contents") if isinstance(result, dict) else None
        if self.data.get("Action") != "ListObjectsV2" or not contents:
            return generic(self, action_result)
        written = [write(listed_object, item) if isinstance(item, dict) else None for item in contents]
        if None in written:
            return generic(self, action_result)
        status, headers, body = generic(self, ActionResult({**result, "Contents": []}))
        if not isinstance(body, str) or (end := body.find("</IsTruncated>")) < 0:
            return generic(self, action_result)
        end += len("</IsTruncated>")
        keys = "".join(f"<{contents_tag}>{fields}</{contents_tag}>" for fields in written)
        return status, headers, body[:end] + keys + body[end:]

    S3Response.serialized = serialized  # type: ignore[method-assign]


class _BodyReader:
    """The socket's read side as one request's body: reads stop at its ``Content-Length``, so nothing past
    it (the next request on a kept-alive connection) is consumed, and :meth:`rest` can skip what the
    application left unread."""

    def __init__(self, raw: Any, length: int) -> None:
        self._raw = raw
        self.left = length

    def read(self, size: int = -1) -> bytes:
        return self._within_body(self._raw.read, size)

    def readline(self, size: int = -1) -> bytes:
        return self._within_body(self._raw.readline, size)

    def _within_body(self, reader: Any, size: int | None) -> bytes:
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = reader(size) if size else b""
        self.left -= len(data)
        return bytes(data)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def rest(self, limit: int) -> bool:
        """Skip the unread rest of the body, up to ``limit`` bytes; False if more was left or the client went."""
        if self.left > limit:
            return False
        while self.left:
            if not self.read(min(self.left, 1 << 20)):
                return False
        return True


class _NoDrainSelector:
    """Stands in for werkzeug's ``selectors.DefaultSelector`` in its request handler, where it only drains
    whatever the client sent past the response before werkzeug closes the connection (waiting 10 ms per
    request): on a kept-alive connection that would be the next request. :class:`_BodyReader` skips an
    unread body instead."""

    def register(self, *_: Any) -> None:
        pass

    def select(self, timeout: float | None = None) -> list[Any]:
        return []

    def close(self) -> None:
        pass


def keep_alive_request_handler(base: type[Any]) -> type[Any]:
    """``base`` (moto's werkzeug request handler) with HTTP/1.1 keep-alive: werkzeug's development server
    answers every request with ``Connection: close``, so each S3 request cost a TCP connection, a server
    thread and, in the client, a new connection (measured: ~20% of the local S3's CPU per small request).
    A connection stays open when the request's body has a ``Content-Length`` (or none) and was read or
    skipped to its end; a chunked body, an error mid-response or a client asking to close still closes it.
    Idle connections close after :data:`KEEP_ALIVE_IDLE` seconds."""
    import werkzeug.serving

    no_drain = types.SimpleNamespace(DefaultSelector=_NoDrainSelector, EVENT_READ=1)
    werkzeug.serving.selectors = no_drain  # type: ignore[attr-defined,assignment]

    class KeepAliveRequestHandler(base):  # type: ignore[misc]
        timeout = KEEP_ALIVE_IDLE

        def setup(self) -> None:
            super().setup()
            # http.server writes a response's headers and body in separate sends: without this, Nagle's
            # algorithm holds the body back for the client's delayed ACK (~40 ms) once connections are reused
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def run_wsgi(self) -> None:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self.close_connection = True  # werkzeug de-chunks the socket itself; where it stops is its own
                super().run_wsgi()
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:  # framing that cannot be trusted: this request is the connection's last
                self.close_connection = True
                length = 0
            raw: Any = self.rfile  # type: ignore[has-type]
            body = _BodyReader(raw, length)
            self.rfile = body
            try:
                super().run_wsgi()
            finally:
                self.rfile = raw
            if not body.rest(limit=KEEP_ALIVE_SKIP_BYTES):
                self.close_connection = True

        def send_header(self, keyword: str, value: str) -> None:
            if keyword.lower() == "connection" and value.lower() == "close" and not self.close_connection:
                return  # werkzeug's unconditional close; http.server decides from the request instead
            super().send_header(keyword, value)

    return KeepAliveRequestHandler


def _run_moto_child(host: str, port: int, request_log: bool) -> None:
    """Child process body: serve moto's S3 until SIGTERM/SIGINT or until our stdin reaches EOF."""
    from moto import backends
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    # Two per-request costs of moto's dispatcher that a long-lived server need not pay (a fifth of its CPU in
    # a profile of the replicator tests): it lists and stats moto's package directory for every request to
    # find the service, under a lock that serializes all requests; and werkzeug logs each request through
    # colorama when that is installed. The package does not change while the server runs, and a plain
    # handler writes the same log lines.
    module_names = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: module_names  # type: ignore[assignment]
    bound_event_queue_costs()
    timestamps_without_dateutil()
    listings_without_generic_serializer()
    access_log = logging.getLogger("werkzeug")
    access_log.setLevel(logging.INFO if request_log else logging.WARNING)
    access_log.addHandler(logging.StreamHandler(sys.stderr))

    server = make_server(host, port, DomainDispatcherApplication(create_backend_app), threaded=True,
                         request_handler=keep_alive_request_handler(MotoRequestHandler))
    bound = server.server_address[1]
    os.environ["MOTO_PORT"] = str(bound)  # moto uses it when it builds URLs that point back at itself

    def exit_now(*_: object) -> None:
        os._exit(0)  # moto keeps nothing worth flushing; unlinked temp files vanish with the process

    signal.signal(signal.SIGTERM, exit_now)
    signal.signal(signal.SIGINT, exit_now)

    def watch_parent() -> None:
        sys.stdin.buffer.read()  # returns at EOF: the parent closed the pipe or died
        exit_now()

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    sys.stdout.write(json.dumps({"port": bound, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    os.dup2(2, 1)  # nothing else on the hello pipe: nobody reads it any more
    server.serve_forever()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="s3server.py", description="Embedded local S3 (moto server in a child process) for shadowreplica."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("S3_PORT") or DEFAULT_PORT),
        help=f"port (default $S3_PORT or {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--bucket",
        action="append",
        type=parse_bucket,
        metavar="NAME:REGION",
        help="bucket to create, repeatable (default: source:us-east-1 and dest:eu-west-1)",
    )
    parser.add_argument("--data-dir", type=Path, help="moto's TMPDIR and log directory (default: a fresh one under .s3data/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print moto's request log to the terminal")
    args = parser.parse_args(argv)

    with SignalStop() as stop:  # from the start: a signal during start-up stops cleanly too
        return _serve(args, stop)


def _serve(args: argparse.Namespace, stop: SignalStop) -> int:
    buckets = tuple(args.bucket) if args.bucket else DEFAULT_BUCKETS
    try:
        server = start_s3_server(
            args.port, host=args.host, buckets=buckets, data_dir=args.data_dir, log_to_terminal=args.verbose,
            request_log=True,
        )
    except S3ServerError as e:
        print(f"s3server: {e}", file=sys.stderr)
        return 1
    with server:
        listed = ", ".join(f"{name} ({region})" for name, region in server.buckets)
        print(f"local S3 (moto, pid {server.pid}) ready on {server.endpoint}", flush=True)
        print(f"  buckets: {listed}")
        for name, url in server.queues.items():
            print(f"  events of {name}: --events-queue {url}")
        print(f"  export AWS_ENDPOINT_URL={server.endpoint} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test")
        if server.log_path:
            print(f"  request log: {server.log_path}")
        print("  Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            if not server.alive:
                print(f"s3server: moto exited unexpectedly:\n{_log_tail(server.log_path)}", file=sys.stderr)
                return 1
    print("local S3 stopped", flush=True)
    return 0


class SignalStop:
    """SIGTERM/SIGINT → stop, safely. The handler only sets a flag, and ``signal.set_wakeup_fd`` writes to a
    pipe that :meth:`wait` selects on: no lock is ever taken in a handler (``threading.Event.set()`` there
    can deadlock with ``Event.wait()`` in the main thread, which once left `make s3` running after SIGTERM)."""

    def __init__(self) -> None:
        self.requested = False
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._previous: list[Any] = []

    def _on_signal(self, _signum: int, _frame: object) -> None:
        self.requested = True

    def __enter__(self) -> SignalStop:
        self._previous = [signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)]
        self._previous.append(signal.set_wakeup_fd(self._write))
        return self

    def __exit__(self, *_: object) -> None:
        signal.signal(signal.SIGINT, self._previous[0])
        signal.signal(signal.SIGTERM, self._previous[1])
        signal.set_wakeup_fd(self._previous[2])
        os.close(self._read)
        os.close(self._write)

    def wait(self, timeout: float) -> bool:
        """True once a stop signal arrived; otherwise waits up to ``timeout`` seconds (woken by a signal)."""
        if not self.requested:
            select.select([self._read], [], [], timeout)
            with contextlib.suppress(BlockingIOError):
                os.read(self._read, 512)
        return self.requested


if __name__ == "__main__":
    if sys.argv[1:2] == ["--moto-child"]:
        _run_moto_child(sys.argv[2], int(sys.argv[3]), request_log=sys.argv[4:5] != ["quiet"])
    else:
        sys.exit(main())
