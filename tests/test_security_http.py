"""The HTTP API under hostile input, against a real `shadowreplica http` process over a seeded bucket on the
moto S3 server process.

* **schemathesis** generates requests for every operation of the served OpenAPI document (valid and
  invalid parameters; path parameters also drawn from the real topics, partitions and segments so the
  deep paths run): no response is a 5xx;
* **hostile paths** (``..``, ``%2F``, ``%00``, CR LF, 8 KiB names, look-alikes of real objects) get a 4xx,
  and every S3 request the process makes (seen through a recording proxy) names an object that exists
  in the served bucket's layout: no S3 key comes from the client;
* **bearer token** on every route of the app except the health checks, the page shell, docs and static
  assets (iterated over ``app.routes``, so a new route is covered the day it is added); the token never
  appears in the server's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Mount, Route

from app.config import HttpSettings, KafkaSettings
from app.group_offsets import CommittedOffset, OffsetStore
from tests.conftest import FaultProxy
from tests.http_fixtures import TEST_ENV, Seeded, drop_buckets, open_app, seed_pair
from tests.process_support import CliProcess, start_cli

TOKEN = "tok-3f9a-secret-bearer"


@pytest.fixture(scope="module")
def seeded(s3_server: str) -> Iterator[Seeded]:
    pair = seed_pair(s3_server)
    yield pair
    drop_buckets(pair)


@contextlib.contextmanager
def http_process(seeded: Seeded, endpoint: str, cache: Path, *, token: str | None = None
                 ) -> Iterator[tuple[str, CliProcess]]:
    """`shadowreplica http` on a free port over ``seeded.dest`` through ``endpoint``, ready (manifests loaded):
    (base URL, the process: its log)."""
    env = {**os.environ, **TEST_ENV, **({"SHADOWREPLICA_HTTP_TOKEN": token} if token else {})}
    proc = start_cli("http", "--bucket", str(seeded.dest.url), "--region", "eu-west-1", "--endpoint-url", endpoint,
                     "--listen", "127.0.0.1:0", "--cache-dir", str(cache), env=env)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # ready: manifests loaded
            with contextlib.suppress(OSError):
                if _raw(proc.url, "/readyz")[0] == 200:
                    break
            time.sleep(0.1)
        yield proc.url, proc
    finally:
        proc.stop(20)


def _raw(url: str, target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One HTTP/1.1 GET with ``target`` sent byte for byte (no client-side normalisation)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as s:
        head = f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        s.sendall(head.encode("latin-1") + b"\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def _segments(seeded: Seeded) -> dict[tuple[str, int], list[str]]:
    s3 = boto3.client("s3", endpoint_url=seeded.endpoint, region_name="eu-west-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    out: dict[tuple[str, int], list[str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=seeded.dest.url.bucket):
        for o in page.get("Contents", ()):
            m = re.search(r"/kafka/([^/]+)/(\d+)_\d+/([^/]+\.log\.\d+)$", o["Key"])
            if m:
                out.setdefault((m.group(1), int(m.group(2))), []).append(m.group(3))
    return out


def _bucket_keys(seeded: Seeded) -> set[str]:
    s3 = boto3.client("s3", endpoint_url=seeded.endpoint, region_name="eu-west-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    return {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=seeded.dest.url.bucket)
            for o in page.get("Contents", ())}


# ------------------------------------------------------------------------------------------- schemathesis


EXAMPLES_PER_OPERATION = 60


@pytest.mark.slow  # a real `http` process fuzzed with schemathesis at volume
def test_schemathesis_finds_no_server_error(seeded: Seeded, tmp_path: Path) -> None:
    import schemathesis  # here, not at collection: every worker collects every module, ~1 s of CPU each

    segments = _segments(seeded)
    with http_process(seeded, seeded.endpoint, tmp_path / "cache", token=TOKEN) as (url, proc):
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [op.ok() for op in schema.get_all_operations()]
        assert len(operations) >= 8, [o.label for o in operations]
        calls: dict[str, int] = {}
        statuses: dict[int, int] = {}
        for op in operations:
            _fuzz_operation(op, url, segments, calls, statuses)
        text = proc.log_text()
    print(f"schemathesis: {sum(calls.values())} requests over {len(calls)} operations; statuses {sorted(statuses.items())}")
    assert set(calls) == {o.label for o in operations}
    with_parameters = {o.label for o in operations if list(o.iter_parameters())}
    assert len(with_parameters) >= 6 and all(calls[label] >= EXAMPLES_PER_OPERATION * 0.8 for label in with_parameters), \
        calls  # (an operation without parameters has few distinct requests: hypothesis stops early)
    assert 200 in statuses and any(400 <= s < 500 for s in statuses), statuses
    assert "internal error" not in text and "Traceback" not in text, text[-3000:]
    assert TOKEN not in text


def _fuzz_operation(op: Any, url: str, segments: dict[tuple[str, int], list[str]], calls: dict[str, int],
                    statuses: dict[int, int]) -> None:
    import schemathesis
    from schemathesis.checks import not_a_server_error

    params = {p.name for p in op.path_parameters}
    real = sorted(segments)

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(op.as_strategy(), op.as_strategy(schemathesis.GenerationMode.NEGATIVE)), data=st.data())
    def check(case: Any, data: st.DataObject) -> None:
        if params and data.draw(st.booleans(), label="real path"):
            topic, partition = data.draw(st.sampled_from(real), label="partition")
            case.path_parameters = {**(case.path_parameters or {}), "topic": topic}
            if "partition" in params:
                case.path_parameters["partition"] = partition
            if "name" in params:
                name = data.draw(st.sampled_from(segments[(topic, partition)]), label="segment")
                case.path_parameters["name"] = name + data.draw(st.sampled_from(["", ".index", ".tx"]))
        response = case.call(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        calls[op.label] = calls.get(op.label, 0) + 1
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (case.as_curl_command(), response.status_code, response.text[:500])
        case.validate_response(response, checks=[not_a_server_error])

    check()


# -------------------------------------------------------------------------------------- hostile paths


def _hostile_targets(segment: str) -> list[str]:
    long = "a" * 8000
    q = urllib.parse.quote
    return [
        "/topics/..", "/topics/.", "/topics/%2e%2e", "/topics/..%2F..%2Fetc%2Fpasswd", "/topics/%2F",
        "/topics/orders%2F..%2Fpayments", "/topics/orders%2F", "/topics/orders%00", "/topics/orders%0d%0aX-A:%201",
        "/topics/%00", "/topics/ORDERS", "/topics/orders%20", f"/topics/{long}", f"/topics/{q('é' * 2000)}",
        "/topics/orders/partitions/-1", "/topics/orders/partitions/99999999999999999999", "/topics/orders/partitions/0x1",
        "/topics/orders/partitions/0/segments/..", "/topics/orders/partitions/0/segments/..%2F..%2Fmanifest.json",
        "/topics/orders/partitions/0/segments/%2e%2e%2fmanifest.json", "/topics/orders/partitions/0/segments/manifest.json",
        "/topics/orders/partitions/0/segments/topic_manifest.json", f"/topics/orders/partitions/0/segments/{segment}.json",
        f"/topics/orders/partitions/0/segments/{segment}%00.index", f"/topics/orders/partitions/0/segments/{segment}%2F..",
        f"/topics/orders/partitions/0/segments/..%2F1_1%2F{segment}", f"/topics/orders/partitions/1/segments/{segment}x",
        f"/topics/orders/partitions/0/segments/{long}", "/topics/orders/partitions/0/segments/%2F%2F",
        "/topics/orders/partitions/0/records?offset=-1", "/topics/orders/partitions/0/records?offset=1e99",
        "/topics/orders/partitions/0/records?key=%00%0d%0a&key_encoding=base64",
        "/topics/orders/partitions/0/records?key=zz&key_encoding=hex", "/topics/orders/", "/topics/orders/partitions/0/",
        "/topics/orders/partitions/0/records?timestamp=not-a-time", "/topics/orders/partitions/0/records?limit=-5",
        "/replication/history?partition=-1", "/static/..%2F..%2F..%2Fapp%2Fconfig.py", "/static/%2e%2e/%2e%2e/README.md",
        "/docs-assets/..%2F..%2F__init__.py", "/..%2F..%2Fetc%2Fpasswd", "/%2e%2e/%2e%2e/etc/passwd",
    ]


def _in_thread_proxy(upstream: str) -> tuple[FaultProxy, asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    hostport = upstream.split("://", 1)[1]
    host, _, port = hostport.rpartition(":")
    proxy = FaultProxy(host, int(port))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
    return proxy, loop, thread


def test_hostile_paths_are_4xx_and_reach_no_other_s3_key(seeded: Seeded, tmp_path: Path) -> None:
    proxy, loop, thread = _in_thread_proxy(seeded.endpoint)
    segment = _segments(seeded)[("orders", 0)][0]
    keys = _bucket_keys(seeded)
    bucket = seeded.dest.url.bucket
    try:
        with http_process(seeded, proxy.endpoint, tmp_path / "cache") as (url, proc):
            assert _raw(url, f"/topics/orders/partitions/0/segments/{segment}")[0] == 200  # the path works
            results = {t: _raw(url, t)[0] for t in _hostile_targets(segment)}
            status, body = _raw(url, "/topics/orders/partitions/0/records?key=" + "a" * 8000)
            assert status == 200 and b'"records":[]' in body.replace(b" ", b""), "a long key is a search without a match"
            text = proc.log_text()
    finally:
        asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    bad = {t[:80]: s for t, s in results.items() if not 400 <= s < 500}
    assert bad == {}, "every hostile path is a client error"
    assert "Traceback" not in text and "internal error" not in text
    # every S3 request named the served bucket and an object that exists there (or listed it)
    outside = []
    for seen in proxy.seen:
        method, target = seen.split(" ", 1)
        path, _, query = target.partition("?")
        parts = urllib.parse.unquote(path).lstrip("/").split("/", 1)
        if parts[0] != bucket or (len(parts) == 2 and parts[1] and parts[1] not in keys):
            outside.append(seen)
        elif (len(parts) == 1 or not parts[1]) and (
                method != "GET" or ("list-type" not in query and "location" not in query)):
            outside.append(seen)  # on the bucket itself only listings (and its location) are expected
    assert proxy.seen and outside == [], outside[:5]


# ----------------------------------------------------------------------------------------- bearer token


PUBLIC = {"/healthz", "/readyz", "/", "/favicon.ico", "/docs", "/openapi.json", "/static", "/docs-assets"}


async def test_token_is_required_on_every_route_but_the_public_ones(seeded: Seeded, tmp_path: Path) -> None:
    segment = _segments(seeded)[("orders", 0)][0]
    values = {"topic": "orders", "partition": "0", "name": segment, "group": "reporting"}
    async with open_app(seeded, tmp_path, http=HttpSettings(token=TOKEN, lag_history_interval=0.05)) as t:
        await OffsetStore(t.dest.store, KafkaSettings().group_offsets_prefix).commit(
            "reporting", {("orders", 0): CommittedOffset(1)})
        routes: list[tuple[str, str]] = []

        def walk(items: list[Any], prefix: str = "") -> None:
            for route in items:
                if hasattr(route, "original_router"):  # FastAPI's wrapper of an included router
                    walk(route.original_router.routes, prefix + route.include_context.prefix)
                elif isinstance(route, Mount):
                    asset = "index.html" if route.path == "/static" else "swagger-ui.css"
                    routes.append((prefix + route.path, f"{prefix}{route.path}/{asset}"))
                elif isinstance(route, Route | APIRoute) and "GET" in (route.methods or ()):
                    path = prefix + route.path
                    routes.append((path, re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], path)))

        walk(t.app.routes)
        assert len(routes) >= 12, routes
        open_without_token = set()
        for template, path in routes:
            anonymous = await t.client.get(path)
            wrong = await t.client.get(path, headers={"Authorization": "Bearer " + TOKEN[:-1]})
            basic = await t.client.get(path, headers={"Authorization": f"Basic {TOKEN}"})
            head = await t.client.head(path)
            right = await t.client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert right.status_code < 400 or template == "/readyz", (template, right.status_code, right.text[:200])
            if anonymous.status_code != 401:
                open_without_token.add(template)
                assert wrong.status_code != 401
                continue
            assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
            assert (wrong.status_code, basic.status_code, head.status_code) == (401, 401, 401), template
            assert TOKEN not in anonymous.text
        assert open_without_token == PUBLIC & {r for r, _ in routes}, "only health, page, docs and assets are public"
        assert {"/healthz", "/readyz"} <= open_without_token
