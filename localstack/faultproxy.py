"""A fault-injecting HTTP proxy in front of an S3 endpoint: S3 errors, resets, latency, bodies cut short.

Two ways to inject, both per S3 operation (classified from method, query and headers: ``GetObject``,
``HeadObject``, ``PutObject``, ``CopyObject``, ``UploadPartCopy``, ``ListObjectsV2``, ``DeleteObjects``, ...):

* **Deterministic** :class:`Fault` rules (``proxy.faults``): the first rule matching a request's method and
  path+query applies to it (``times`` limits how often) — answer with an S3 error, delay, cut the body at
  ``truncate_to`` bytes, replace the body, or reset the connection.
* **Rates** (:class:`Rates`, ``--rate``): each request draws from a seeded RNG and gets at most one of
  ``503`` (SlowDown), ``500`` (InternalError), ``reset`` (connection reset before the request is forwarded:
  the request is lost), ``reset_after`` (forwarded, then reset: the *answer* is lost, so a conditional PUT
  that succeeded looks failed), ``truncate`` (forwarded, the headers say the full Content-Length, a random
  prefix of the body is sent, then the connection closes) — plus, independently, ``latency`` (a delay of up
  to ``--latency`` seconds before forwarding). ``OP:kind=p`` sets a rate for one operation only::

      --rate 503=0.03,500=0.02,reset=0.02,truncate=0.03,latency=0.2,GetObject:truncate=0.1,PutObject:503=0

Every injection is counted per operation and kind (``proxy.injected``); a running proxy also answers
``GET /__faultproxy/stats`` (JSON: requests and injections per operation) and ``PUT /__faultproxy/rates?spec=``
(replace the rates; an empty spec turns rate faults off) itself, without forwarding.

Run it as its own process (it prints ``faultproxy listening on http://HOST:PORT`` once it is ready, and its
counters as JSON on stderr when it stops)::

    python localstack/faultproxy.py --upstream http://127.0.0.1:4566 --listen 127.0.0.1:4567 \\
        --rate 503=0.05,500=0.02,reset=0.02,truncate=0.02,latency=0.1 --latency 0.05 --seed 1

or in-process: ``proxy = await FaultProxy("127.0.0.1", 4566, rates=Rates.parse("503=0.1")).start()``; point a
client at ``proxy.endpoint``. One request per connection (``Connection: close``); bodies are buffered, which
is fine for test-sized objects. Standard library only.

:class:`CountingProxy` is the other behaviour of this module: no faults, keep-alive connections kept and
bodies streamed (request framing parsed client → server, answers pumped back unparsed), requests counted by
the same operation names; the crash test's kill points and the bulk-copy benchmark's request counts use it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import socket
import struct
import sys
import urllib.parse
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "Fault", "FaultProxy", "Rates", "classify", "main"]

KINDS = ("503", "500", "reset", "reset_after", "truncate")
"""The mutually exclusive rate kinds, in the order they are drawn; ``latency`` is drawn on its own."""

_CONTROL = "/__faultproxy/"


def classify(method: str, target: str, headers: list[str]) -> str:
    """The S3 operation a request is (``Other`` when it cannot tell)."""
    path, _, query = target.partition("?")
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    names = {h.split(":", 1)[0].strip().lower() for h in headers}
    has_key = path.strip("/").count("/") >= 1  # path style: /bucket/key
    if method == "GET":
        if "list-type" in params:
            return "ListObjectsV2"
        if not has_key:
            return "ListObjects" if "location" not in params else "GetBucketLocation"
        return "GetObject"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "PUT":
        if not has_key:
            return "CreateBucket"
        if "partNumber" in params:
            return "UploadPartCopy" if "x-amz-copy-source" in names else "UploadPart"
        return "CopyObject" if "x-amz-copy-source" in names else "PutObject"
    if method == "POST":
        if "delete" in params:
            return "DeleteObjects"
        if "uploads" in params:
            return "CreateMultipartUpload"
        if "uploadId" in params:
            return "CompleteMultipartUpload"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in params else "DeleteObject"
    return "Other"


@dataclass
class Rates:
    """Fault probabilities by operation (``"*"``: every operation) and kind (:data:`KINDS` and ``latency``)."""

    by_op: dict[str, dict[str, float]] = field(default_factory=dict)
    latency: float = 0.05  # seconds: the most a ``latency`` fault adds

    @classmethod
    def parse(cls, spec: str, *, latency: float = 0.05) -> Rates:
        """``"503=0.05,500=0.02,GetObject:truncate=0.1"`` (kinds: 503, 500, reset, reset_after, truncate,
        latency)."""
        by_op: dict[str, dict[str, float]] = {}
        for item in filter(None, (s.strip() for s in spec.split(","))):
            name, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"rate {item!r}: expected KIND=P or OP:KIND=P")
            op, _, kind = name.rpartition(":")
            kind = {"slowdown": "503", "error": "500"}.get(kind.lower(), kind)
            if kind not in (*KINDS, "latency"):
                raise ValueError(f"rate {item!r}: unknown kind {kind!r} (one of {', '.join(KINDS)}, latency)")
            p = float(value)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"rate {item!r}: probability must be in [0, 1]")
            by_op.setdefault(op or "*", {})[kind] = p
        for op, rates in by_op.items():
            if sum(rates.get(k, 0.0) for k in KINDS) > 1.0:
                raise ValueError(f"rates for {op}: the exclusive kinds add up to more than 1")
        return cls(by_op, latency)

    def for_op(self, op: str) -> dict[str, float]:
        return {**self.by_op.get("*", {}), **self.by_op.get(op, {})}

    def draw(self, op: str, rng: random.Random) -> tuple[str | None, float]:
        """(the exclusive kind for this request or None, the latency to add)."""
        rates = self.for_op(op)
        delay = rng.uniform(0.0, self.latency) if rng.random() < rates.get("latency", 0.0) else 0.0
        r, acc = rng.random(), 0.0
        for kind in KINDS:
            acc += rates.get(kind, 0.0)
            if r < acc:
                return kind, delay
        return None, delay

    def __str__(self) -> str:
        return ",".join(f"{'' if op == '*' else op + ':'}{k}={p}" for op, r in self.by_op.items() for k, p in r.items())


@dataclass(kw_only=True)
class Fault:
    """What to do to requests matching ``method`` (``None``: any) and ``target`` (substring of the path+query).

    Exactly one action: ``status`` (answer with an S3 error, ``code`` in the XML body, nothing forwarded),
    ``truncate_to`` (forward, then send only that many body bytes and close), ``replace_body`` (forward,
    answer with this body instead), ``reset`` (close the connection with a TCP reset, nothing forwarded),
    or just ``delay`` (seconds before forwarding). ``times``: how many matching requests it applies to
    (``None``: all).
    """

    method: str | None = None
    target: str = ""
    status: int | None = None
    code: str = ""
    truncate_to: int | None = None
    replace_body: bytes | None = None
    reset: bool = False
    delay: float = 0.0
    times: int | None = None
    hits: int = 0

    def matches(self, method: str, target: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return (self.method is None or self.method == method) and self.target in target


_STATUS = {503: ("SlowDown", "Please reduce your request rate."), 500: ("InternalError", "We encountered an "
                                                                                          "internal error.")}


def _in_flight(tasks: set[asyncio.Task[None]], handler: Coroutine[Any, Any, None]) -> None:
    """Run one connection's handler as a task the proxy can end (``_end_in_flight``) when it closes."""
    task = asyncio.ensure_future(handler)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _end_in_flight(tasks: set[asyncio.Task[None]]) -> None:
    """Cancel and await every handler still running: Python 3.11's ``Server.wait_closed`` does not wait for
    them, and left pending they were closed with the loop, mid-``finally``."""
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class FaultProxy:
    """A one-request-per-connection HTTP proxy to an S3 endpoint, injecting :class:`Fault` s and :class:`Rates`."""

    upstream_host: str
    upstream_port: int
    faults: list[Fault] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)  # "METHOD /target" of every request received
    endpoint: str = ""
    rates: Rates | None = None
    seed: int = 0
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    requests: Counter[str] = field(default_factory=Counter)  # by operation
    injected: Counter[tuple[str, str]] = field(default_factory=Counter)  # (operation, kind)
    _server: asyncio.Server | None = None
    _rng: random.Random = field(default_factory=random.Random)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    def for_endpoint(cls, upstream: str, **kwargs: object) -> FaultProxy:
        hostport = upstream.split("://", 1)[-1].rstrip("/")
        host, _, port = hostport.rpartition(":")
        return cls(host, int(port), **kwargs)  # type: ignore[arg-type]

    async def start(self) -> FaultProxy:
        self._rng = random.Random(self.seed)
        self._server = await asyncio.start_server(self._accept, self.listen_host, self.listen_port)
        port = self._server.sockets[0].getsockname()[1]
        self.endpoint = f"http://{self.listen_host}:{port}"
        return self

    async def close(self) -> None:
        """Stop listening and end the requests in flight."""
        if self._server is not None:
            self._server.close()
        await _end_in_flight(self._tasks)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _in_flight(self._tasks, self._handle(reader, writer))

    def injected_by_kind(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (_, kind), n in self.injected.items():
            out[kind] += n
        return out

    def stats(self) -> dict[str, object]:
        by_op: dict[str, dict[str, int]] = {}
        for (op, kind), n in sorted(self.injected.items()):
            by_op.setdefault(op, {})[kind] = n
        return {"requests": dict(sorted(self.requests.items())), "injected": by_op,
                "rates": str(self.rates) if self.rates else ""}

    # ----------------------------------------------------------------------------------- one request

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = [line for line in lines[1:] if line]
            length = next((int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")), 0)
            if length and any(h.lower().replace(" ", "") == "expect:100-continue" for h in headers):
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # else the client waits for it, we for the body
                await writer.drain()
            body = await reader.readexactly(length) if length else b""
            if target.startswith(_CONTROL):
                await self._control(method, target, writer)
                return
            self.seen.append(f"{method} {target}")
            op = classify(method, target, headers)
            self.requests[op] += 1
            await self._serve(op, method, target, headers, body, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            if not writer.transport.is_closing():
                writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, op: str, method: str, target: str, headers: list[str], body: bytes,
                     writer: asyncio.StreamWriter) -> None:
        fault = next((f for f in self.faults if f.matches(method, target)), None)
        kind: str | None = None
        delay = 0.0
        if fault is not None:
            fault.hits += 1
            delay = fault.delay
        elif self.rates is not None:
            kind, delay = self.rates.draw(op, self._rng)
            if delay:
                self.injected[(op, "latency")] += 1
            if kind is not None:
                self.injected[(op, kind)] += 1
        if delay:
            await asyncio.sleep(delay)
        status = fault.status if fault is not None else (int(kind) if kind in ("503", "500") else None)
        if status is not None:
            code = fault.code if fault is not None else _STATUS[status][0]
            text = f"injected {code}" if fault is not None else _STATUS[status][1]
            await self._error(writer, status, code, text, head_only=method == "HEAD")
            return
        if (fault is not None and fault.reset) or kind == "reset":
            _reset(writer)
            return
        status_line, resp_headers, resp_body = await self._forward(method, target, headers, body)
        if kind == "reset_after":
            _reset(writer)
            return
        if fault is not None and fault.replace_body is not None:
            resp_body = fault.replace_body
            resp_headers = [h for h in resp_headers
                            if not h.lower().startswith(("content-length:", "transfer-encoding:"))]
            resp_headers.append(f"Content-Length: {len(resp_body)}")
        writer.write((status_line + "\r\n" + "".join(h + "\r\n" for h in resp_headers)
                      + "Connection: close\r\n\r\n").encode("latin-1"))
        if fault is not None and fault.truncate_to is not None:
            resp_body = resp_body[: fault.truncate_to]
        elif kind == "truncate" and resp_body:
            resp_body = resp_body[: self._rng.randrange(len(resp_body))]
        writer.write(resp_body)
        await writer.drain()

    async def _error(self, writer: asyncio.StreamWriter, status: int, code: str, text: str, *,
                     head_only: bool) -> None:
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
               f"<Message>{text}</Message><RequestId>faultproxy</RequestId></Error>").encode()
        reason = {503: "Slow Down", 500: "Internal Server Error"}.get(status, "Injected")
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n"
                     f"Content-Length: {len(xml)}\r\nConnection: close\r\n\r\n".encode())
        if not head_only:
            writer.write(xml)
        await writer.drain()

    async def _control(self, method: str, target: str, writer: asyncio.StreamWriter) -> None:
        path, _, query = target.partition("?")
        status, doc = 200, None
        if method == "GET" and path == _CONTROL + "stats":
            doc = self.stats()
        elif method == "PUT" and path == _CONTROL + "rates":
            spec = urllib.parse.parse_qs(query).get("spec", [""])[0]
            try:
                latency = self.rates.latency if self.rates else 0.05
                self.rates = Rates.parse(spec, latency=latency) if spec else None
                doc = {"rates": str(self.rates) if self.rates else ""}
            except ValueError as e:
                status, doc = 400, {"error": str(e)}
        else:
            status, doc = 404, {"error": f"no such control endpoint {method} {path}"}
        payload = json.dumps(doc).encode()
        writer.write(f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                     "Connection: close\r\n\r\n".encode() + payload)
        await writer.drain()

    async def _forward(self, method: str, target: str, headers: list[str], body: bytes
                       ) -> tuple[str, list[str], bytes]:
        reader, writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        try:
            kept = [h for h in headers if not h.lower().startswith(("connection:", "expect:"))]
            writer.write((f"{method} {target} HTTP/1.1\r\n" + "".join(h + "\r\n" for h in kept)
                          + "Connection: close\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            raw = await reader.read()  # upstream closes after one response
        finally:
            writer.close()
        head, _, payload = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        resp_headers = [h for h in lines[1:] if h and not h.lower().startswith("connection:")]
        return lines[0], resp_headers, payload


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed server or a middlebox would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


# ------------------------------------------------------------------------------------------------ process


async def _run(args: argparse.Namespace) -> int:
    host, _, port = args.listen.rpartition(":")
    rates = Rates.parse(args.rate, latency=args.latency) if args.rate else None
    proxy = FaultProxy.for_endpoint(args.upstream, rates=rates, seed=args.seed, listen_host=host or "127.0.0.1",
                                    listen_port=int(port or 0))
    await proxy.start()
    print(f"faultproxy listening on {proxy.endpoint} -> {args.upstream} rates {rates or 'none'}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await proxy.close()
    print(json.dumps(proxy.stats()), file=sys.stderr, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="faultproxy", description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--upstream", required=True, help="S3 endpoint to forward to, e.g. http://127.0.0.1:4566")
    p.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to listen on (port 0: any free port)")
    p.add_argument("--rate", default="", help="fault rates, e.g. 503=0.05,500=0.02,reset=0.02,truncate=0.02,"
                                              "latency=0.1,GetObject:truncate=0.1")
    p.add_argument("--latency", type=float, default=0.05, help="most seconds a latency fault adds (default 0.05)")
    p.add_argument("--seed", type=int, default=0, help="RNG seed (default 0)")
    args = p.parse_args(argv)
    try:
        Rates.parse(args.rate)
    except ValueError as e:
        p.error(str(e))
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())


# ------------------------------------------------------------------------- counting (keep-alive)


@dataclass
class CountingProxy:
    """An HTTP/1.1 proxy to one S3 endpoint that counts requests (keep-alive kept: it parses request framing
    client → server and pumps the answers back unparsed). ``requests`` counts by S3 operation, ``seen`` lists
    "OPERATION /target" of each request in order."""

    upstream_host: str
    upstream_port: int
    requests: Counter[str] = field(default_factory=Counter)
    seen: list[str] = field(default_factory=list)
    endpoint: str = ""
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    def for_endpoint(cls, endpoint: str) -> CountingProxy:
        host, _, port = endpoint.split("://", 1)[1].rstrip("/").rpartition(":")
        return cls(host, int(port))

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    async def start(self) -> CountingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.endpoint = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        await _end_in_flight(self._tasks)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _in_flight(self._tasks, self._handle(reader, writer))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_writer: asyncio.StreamWriter | None = None
        pump: asyncio.Task[None] | None = None
        try:
            up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
            pump = asyncio.ensure_future(_pump(up_reader, writer))
            self._tasks.add(pump)
            pump.add_done_callback(self._tasks.discard)
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {h.split(":", 1)[0].strip().lower(): h.split(":", 1)[1].strip() for h in lines[1:] if ":" in h}
                operation = classify(method, target, lines[1:])
                self.requests[operation] += 1
                self.seen.append(f"{operation} {target}")
                up_writer.write(head)
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    while True:
                        size_line = await reader.readuntil(b"\r\n")
                        up_writer.write(size_line)
                        size = int(size_line.split(b";")[0], 16)
                        up_writer.write(await reader.readexactly(size + 2))
                        if size == 0:
                            break
                else:
                    length = int(headers.get("content-length", "0") or 0)
                    while length:
                        chunk = await reader.read(min(length, 1 << 20))
                        if not chunk:
                            raise asyncio.IncompleteReadError(b"", length)
                        up_writer.write(chunk)
                        length -= len(chunk)
                await up_writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            if pump is not None:
                with contextlib.suppress(TimeoutError, Exception):
                    async with asyncio.timeout(5):
                        await asyncio.shield(pump)
                pump.cancel()
            for w in (up_writer, writer):
                if w is not None:
                    w.close()


async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while chunk := await src.read(1 << 16):
            dst.write(chunk)
            await dst.drain()
    with contextlib.suppress(Exception):
        dst.close()
