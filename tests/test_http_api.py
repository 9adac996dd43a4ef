"""The HTTP API against seeded buckets on the S3 server process (httpx on the app's ASGI transport).

Expected values come from the shared read path itself (every batch decoded by the reader) or from the
bucket's objects, so the API is checked against the data, not against its own output.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import HttpSettings
from app.reader import PartitionReader
from app.tools.seedgen import topic_name
from tests.http_fixtures import SPEC, Seeded, drop_buckets, open_app, seed_pair

Row = tuple[int, int, bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...]]


@pytest.fixture(scope="module")
def seeded(s3_server: str) -> Iterator[Seeded]:
    pair = seed_pair(s3_server)
    yield pair
    drop_buckets(pair)


async def expected_rows(reader: PartitionReader, topic: str, partition: int) -> list[Row]:
    """Every record of a partition (offset, timestamp, key, value, headers), control batches left out."""
    view = reader.catalog.partition(topic, partition)
    rows: list[Row] = []
    offset = view.log_start_offset
    while offset < view.high_watermark:
        result = await reader.read(topic, partition, offset, 1 << 20)
        if not result.batches:
            break
        for b in result.batches:
            if b.header.is_control:
                continue
            for r in b.decode():
                ts = b.header.max_timestamp if b.header.is_log_append_time else b.header.first_timestamp + r.timestamp_delta
                rows.append((b.kafka_offset + r.offset_delta, ts, r.key, r.value,
                             tuple((h.key, h.value) for h in r.headers)))
        offset = result.next_offset or view.high_watermark
    return rows


def raw(value: Any, encoding: str | None) -> bytes | None:
    """The bytes a rendered field stands for."""
    if encoding is None:
        return None
    if encoding == "base64":
        return base64.b64decode(value)
    if encoding == "hex":
        return bytes.fromhex(value)
    if encoding == "json":
        return None  # compared structurally by the caller
    return str(value).encode()


def row_of(rec: dict[str, Any]) -> tuple[int, int, bytes | None]:
    return rec["offset"], rec["timestamp"], raw(rec["key"], rec["key_encoding"])


# ----------------------------------------------------------------------------------------- catalog


async def test_topics_partitions_and_segments(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path) as t:
        body = (await t.client.get("/topics")).json()
        assert [x["name"] for x in body["topics"]] == sorted(topic_name(i) for i in range(SPEC.topics))
        for topic in body["topics"]:
            assert topic["partition_count"] == SPEC.partitions
            for p in topic["partitions"]:
                view = t.dest.catalog.partition(topic["name"], p["partition"])
                assert (p["log_start_offset"], p["high_watermark"]) == (view.log_start_offset, view.high_watermark)
                assert p["segments"] == len(view.segments) == 2
                assert p["size_bytes"] == sum(s.meta.size_bytes for s in view.segments)
                assert p["first_timestamp"] == view.segments[0].meta.base_timestamp
                assert p["last_timestamp"] == view.segments[-1].meta.max_timestamp

        one = (await t.client.get("/topics/orders")).json()
        assert one["config"]["partition_count"] == SPEC.partitions and one["config"]["timestamp_type"] == "CreateTime"
        part = (await t.client.get("/topics/orders/partitions/1")).json()
        assert part["manifest"]["key"].endswith("/kafka/orders/1_10/manifest.json")
        assert part["terms"] == [1]

        segs = (await t.client.get("/topics/orders/partitions/1/segments")).json()["segments"]
        view = t.dest.catalog.partition("orders", 1)
        assert [s["key"] for s in segs] == [s.key for s in view.segments]
        assert segs[0]["kafka_start_offset"] == 0
        assert segs[1]["kafka_start_offset"] == segs[0]["kafka_next_offset"]  # contiguous Kafka offsets
        assert segs[1]["kafka_next_offset"] == view.high_watermark
        assert all(s["max_timestamp"] >= s["base_timestamp"] for s in segs)
        assert segs[0]["download"] == f"/topics/orders/partitions/1/segments/{segs[0]['name']}"


async def test_segment_download_streams_and_honours_ranges(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path) as t:
        seg = (await t.client.get("/topics/payments/partitions/0/segments")).json()["segments"][1]
        stored = (await t.store.get(seg["key"])).body
        size = len(stored)
        assert size == seg["size_bytes"]

        whole = await t.client.get(seg["download"])
        assert whole.status_code == 200 and whole.content == stored
        assert whole.headers["accept-ranges"] == "bytes" and int(whole.headers["content-length"]) == size
        assert whole.headers["content-type"] == "application/octet-stream"

        # streamed: the body leaves in several ASGI messages as S3 delivers it, not as one buffered blob
        messages: list[dict[str, Any]] = []

        requested = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if requested.is_set():
                await asyncio.Event().wait()  # the client stays connected
            requested.set()
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": seg["download"], "raw_path": seg["download"].encode(), "query_string": b"",
                 "root_path": "", "headers": [(b"host", b"api")], "client": ("127.0.0.1", 1), "server": ("api", 80)}
        await t.app(scope, receive, send)
        bodies = [m for m in messages if m["type"] == "http.response.body"]
        assert b"".join(m.get("body", b"") for m in bodies) == stored
        assert sum(1 for m in bodies if m.get("body")) >= 2 and bodies[0].get("more_body") is True

        cases = {"bytes=100-199": (100, 200), "bytes=-50": (size - 50, size), f"bytes={size - 10}-": (size - 10, size),
                 f"bytes=5-{size * 2}": (5, size)}
        for header, (a, b) in cases.items():
            r = await t.client.get(seg["download"], headers={"Range": header})
            assert r.status_code == 206, header
            assert r.content == stored[a:b], header
            assert r.headers["content-range"] == f"bytes {a}-{b - 1}/{size}"
        # several ranges or a malformed header: the whole object (RFC 9110 allows ignoring Range)
        for header in ("bytes=0-1,5-6", "bytes=x-y", "items=0-5"):
            r = await t.client.get(seg["download"], headers={"Range": header})
            assert r.status_code == 200 and r.content == stored, header

        head = await t.client.head(seg["download"])
        assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) == size
        head = await t.client.head(seg["download"], headers={"Range": "bytes=0-9"})
        assert head.status_code == 206 and head.headers["content-range"] == f"bytes 0-9/{size}"

        index = await t.client.get(seg["download"] + ".index")
        assert index.status_code == 200 and index.content == (await t.store.get(seg["key"] + ".index")).body
        by_remote_name = seg["download"].rsplit("/", 1)[0] + "/" + seg["name"].rsplit(".", 1)[0]
        assert (await t.client.get(by_remote_name, headers={"Range": "bytes=0-3"})).content == stored[:4]


# ----------------------------------------------------------------------------------------- records


async def test_paging_by_offset_returns_every_record_once(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path) as t:
        for topic in ("orders", "payments"):  # payments has transactions: control batches take offsets
            expected = await expected_rows(t.reader, topic, 0)
            hw = t.dest.catalog.partition(topic, 0).high_watermark
            got: list[tuple[int, int, bytes | None]] = []
            offset = 0
            pages = 0
            while True:
                body = (await t.client.get(f"/topics/{topic}/partitions/0/records",
                                           params={"offset": offset, "limit": 300})).json()
                pages += 1
                assert body["high_watermark"] == hw and body["start_offset"] == offset
                got.extend(row_of(r) for r in body["records"])
                assert body["count"] == len(body["records"]) <= 300
                if body["records"]:
                    assert body["next_offset"] == body["records"][-1]["offset"] + 1
                if body["next_offset"] >= hw:
                    assert body["next_offset"] == hw
                    break
                offset = body["next_offset"]
            assert got == [(o, ts, k) for o, ts, k, _, _ in expected]
            assert pages > len(expected) // 300  # really paged, across the segment boundary
            # the last page is empty at the high watermark, not an error
            end = (await t.client.get(f"/topics/{topic}/partitions/0/records", params={"offset": hw})).json()
            assert end["records"] == [] and end["next_offset"] == hw


async def test_values_keys_and_headers_in_every_decoding(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path) as t:
        expected = {o: (k, v, h) for o, _, k, v, h in await expected_rows(t.reader, "orders", 1)}
        url = "/topics/orders/partitions/1/records"
        params = {"offset": 500, "limit": 200}
        auto = (await t.client.get(url, params=params)).json()["records"]
        assert len(auto) == 200 and any(r["headers"] for r in auto)
        for r in auto:
            key, value, headers = expected[r["offset"]]
            assert raw(r["key"], r["key_encoding"]) == key
            if value is None:
                assert r["value"] is None and r["value_encoding"] is None
            else:
                assert r["value_encoding"] == "json" and r["value"] == json.loads(value)  # JSON parsed
            assert [(x["key"], raw(x["value"], x["encoding"])) for x in r["headers"]] == list(headers)
        for mode in ("utf8", "base64", "hex"):
            recs = (await t.client.get(url, params={**params, "decode": mode})).json()["records"]
            for r in recs:
                key, value, _ = expected[r["offset"]]
                assert r["value_encoding"] == (mode if value is not None else None)
                assert raw(r["value"], r["value_encoding"]) == value
                if mode in ("base64", "hex") and key is not None:
                    assert r["key_encoding"] == mode and raw(r["key"], mode) == key
        as_json = (await t.client.get(url, params={**params, "decode": "json"})).json()["records"]
        assert [r["value"] for r in as_json] == [r["value"] for r in auto]

        # binary values: auto shows base64 (exact bytes back), utf8 refuses (422, never mangled text)
        binary = {o: v for o, _, _, v, _ in await expected_rows(t.reader, "clickstream", 0)}
        recs = (await t.client.get("/topics/clickstream/partitions/0/records", params={"limit": 50})).json()["records"]
        assert all(raw(r["value"], r["value_encoding"]) == binary[r["offset"]] for r in recs)
        assert {r["value_encoding"] for r in recs} <= {"base64", None}
        refused = await t.client.get("/topics/clickstream/partitions/0/records", params={"decode": "utf8"})
        assert refused.status_code == 422 and refused.json()["parameter"] == "decode"


async def test_records_by_timestamp(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path) as t:
        rows = await expected_rows(t.reader, "payments", 1)
        for target in (rows[0][1], rows[len(rows) // 3][1] + 1, rows[-1][1]):
            want = next(r for r in rows if r[1] >= target)
            body = (await t.client.get("/topics/payments/partitions/1/records",
                                       params={"timestamp": target, "limit": 3})).json()
            assert body["records"][0]["offset"] == want[0]
            assert body["timestamp_match"] == {"offset": want[0], "timestamp": want[1]}
        iso = "2026-01-01T00:00:05Z"
        ms = 1_767_225_605_000
        a = (await t.client.get("/topics/payments/partitions/1/records", params={"timestamp": iso, "limit": 1})).json()
        b = (await t.client.get("/topics/payments/partitions/1/records", params={"timestamp": ms, "limit": 1})).json()
        assert a["records"] == b["records"] and a["records"][0]["timestamp"] >= ms
        after = (await t.client.get("/topics/payments/partitions/1/records",
                                    params={"timestamp": rows[-1][1] + 10_000})).json()
        assert after["records"] == [] and after["next_offset"] == after["high_watermark"]


async def test_key_search_is_bounded_by_its_window(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path, http=HttpSettings(key_search_window=5000)) as t:
        rows = await expected_rows(t.reader, "orders", 0)
        hw = t.dest.catalog.partition("orders", 0).high_watermark
        key = max({r[2] for r in rows if r[2]}, key=lambda k: sum(1 for r in rows if r[2] == k))
        matches = [r[0] for r in rows if r[2] == key]
        url = "/topics/orders/partitions/0/records"

        body = (await t.client.get(url, params={"key": key.decode(), "offset": 0, "limit": 1000})).json()
        assert [r["offset"] for r in body["records"]] == matches
        assert body["scanned"] == {"from": 0, "to": hw, "window_end": hw} and body["next_offset"] == hw

        body = (await t.client.get(url, params={"key": key.decode(), "offset": 100, "window": 700})).json()
        assert [r["offset"] for r in body["records"]] == [o for o in matches if 100 <= o < 800]
        assert body["scanned"]["to"] == 800 and body["next_offset"] == 800  # continue the search from here

        body = (await t.client.get(url, params={"key": key.decode(), "window": 500})).json()  # the latest 500
        assert [r["offset"] for r in body["records"]] == [o for o in matches if o >= hw - 500]

        two = (await t.client.get(url, params={"key": key.hex(), "key_encoding": "hex", "offset": 0, "limit": 2})).json()
        assert [r["offset"] for r in two["records"]] == matches[:2] and two["next_offset"] == matches[1] + 1

        capped = await t.client.get(url, params={"key": "k", "window": 5001})
        assert capped.status_code == 422 and capped.json()["max"] == 5000


async def test_ndjson_streams_the_same_records(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path, http=HttpSettings(max_records=100)) as t:
        url = "/topics/orders/partitions/1/records"
        as_json = (await t.client.get(url, params={"offset": 10, "limit": 100})).json()
        resp = await t.client.get(url, params={"offset": 10, "limit": 100, "format": "ndjson"})
        assert resp.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in resp.text.splitlines()]
        assert lines[:-1] == as_json["records"]
        assert lines[-1]["end"]["next_offset"] == as_json["next_offset"] and lines[-1]["end"]["count"] == 100

        assert (await t.client.get(url, params={"limit": 101})).status_code == 422  # over the JSON cap
        big = 0
        async with t.client.stream("GET", url, params={"limit": 1500}, headers={"Accept": "application/x-ndjson"}) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                doc = json.loads(line)
                if "end" in doc:
                    assert doc["end"]["count"] == big == 1500
                else:
                    assert doc["offset"] >= 0
                    big += 1
        assert big == 1500


# ----------------------------------------------------------------------------------------- operations


async def test_replication_compares_source_and_destination(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path) as t:
        body = (await t.client.get("/replication")).json()
        assert body["mode"] == "buckets" and body["source"] == str(seeded.source.url)
        assert len(body["partitions"]) == SPEC.topics * SPEC.partitions
        from app.catalog import Catalog
        from app.store import ObjectStore

        async with ObjectStore(seeded.source) as s:
            src = Catalog(s)
            await src.refresh(discover=True)
            for p in body["partitions"]:
                sv = src.partition(p["topic"], p["partition"])
                dv = t.dest.catalog.partition(p["topic"], p["partition"])
                assert p["source"]["high_watermark"] == sv.high_watermark
                assert p["dest"]["high_watermark"] == dv.high_watermark
                assert p["lag_offsets"] == sv.high_watermark - dv.high_watermark > 0
                assert p["lag_seconds"] == pytest.approx(
                    (sv.segments[-1].meta.max_timestamp - dv.segments[-1].meta.max_timestamp) / 1000)  # type: ignore[operator]
                assert p["state"] == "lagging" and p["last_error"] is None
                assert p["restorable_up_to"] == {"offset": dv.high_watermark - 1,
                                                 "timestamp": dv.segments[-1].meta.max_timestamp}
        await asyncio.sleep(0.2)  # a few lag samples (interval 0.05 s in these tests)
        hist = (await t.client.get("/replication/history", params={"topic": "orders", "partition": 1})).json()
        assert [(s["topic"], s["partition"]) for s in hist["series"]] == [("orders", 1)]
        points = hist["series"][0]["points"]
        assert len(points) >= 2 and all(p[1] > 0 and p[2] > 0 for p in points)

    async with open_app(seeded, tmp_path / "single", with_source=False) as t:  # one bucket: what is restorable
        rows = (await t.client.get("/replication")).json()
        assert rows["mode"] == "bucket" and rows["source"] is None
        assert all(p["lag_offsets"] is None and p["restorable_up_to"]["offset"] >= 0 for p in rows["partitions"])


async def test_metrics_exposition(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path) as t:
        await t.client.get("/topics/orders/partitions/0/records", params={"offset": 5, "limit": 3})
        await t.client.get("/topics/orders/partitions/0/records", params={"offset": 5, "limit": 3})
        await t.client.get("/topics/nope/partitions/0/records")
        await t.store.head("no/such/key")  # a 404 HeadObject: counted as an S3 error by kind
        resp = await t.client.get("/metrics")
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
        fams = {f.name: f for f in text_string_to_metric_families(resp.text)}
        declared = [line.split()[2] for line in resp.text.splitlines() if line.startswith("# TYPE")]
        assert len(declared) == len(set(declared)), "a metric family is declared twice"

        def value(name: str, **labels: str) -> float:
            for fam in fams.values():
                for s in fam.samples:
                    if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                        return s.value
            raise AssertionError(f"{name} {labels} not exported")

        assert value("shadowreplica_replication_lag_seconds", topic="orders", partition="0") > 0
        assert value("shadowreplica_replication_lag_offsets", topic="orders", partition="0") > 0
        assert "shadowreplica_copied_bytes_total" not in resp.text  # the replicator's (tests/test_run.py)
        assert value("shadowreplica_fetch_requests_total", face="http") == 3
        assert value("shadowreplica_fetch_errors_total", face="http", error="UnknownTopic") == 1
        assert value("shadowreplica_fetch_duration_seconds_count", face="http") == 2
        assert value("shadowreplica_fetch_records_total", face="http") == 6
        assert value("shadowreplica_cache_misses_total") >= 1 and value("shadowreplica_cache_hits_total") >= 1
        assert value("shadowreplica_s3_requests_total", side="dest", operation="GetObject") >= 2
        assert value("shadowreplica_s3_requests_total", side="source", operation="ListObjectsV2") >= 16
        assert value("shadowreplica_s3_errors_total", side="dest", operation="HeadObject", kind="missing") == 1
        assert value("shadowreplica_s3_received_bytes_total", side="dest", operation="GetObject") > 0
        route = "/topics/{topic}/partitions/{partition}/records"
        assert value("shadowreplica_http_requests_total", route=route, method="GET", status="200") == 2
        assert value("shadowreplica_http_requests_total", route=route, method="GET", status="404") == 1
        assert value("shadowreplica_http_request_duration_seconds_count", route=route) == 3
        assert value("shadowreplica_partition_high_watermark", side="dest", topic="orders", partition="0") > 0
        assert value("shadowreplica_catalog_ready", side="dest") == 1


async def test_health_and_readiness(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path) as t:
        assert (await t.client.get("/healthz")).json() == {"status": "ok"}
        ready = await t.client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"catalog": True, "replication": True}
        t.dest.catalog.ready = False  # as before the first manifest refresh completes
        not_ready = await t.client.get("/readyz")
        assert not_ready.status_code == 503 and not_ready.json()["status"] == "not ready"
        assert (await t.client.get("/healthz")).status_code == 200  # alive all the same


async def test_bearer_token_on_every_route_but_health(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path, http=HttpSettings(token="s3cret")) as t:
        protected = ["/topics", "/topics/orders", "/topics/orders/partitions/0", "/topics/orders/partitions/0/segments",
                     "/topics/orders/partitions/0/records", "/replication", "/replication/history", "/metrics"]
        for path in protected:
            r = await t.client.get(path)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"].startswith("Bearer") and r.json()["error"] == "AccessDenied"
            assert (await t.client.get(path, headers={"Authorization": "Bearer wrong"})).status_code == 401
            assert (await t.client.get(path, headers={"Authorization": "Basic s3cret"})).status_code == 401
            assert (await t.client.get(path, headers={"Authorization": "Bearer s3cret"})).status_code == 200, path
        for path in ("/healthz", "/readyz", "/", "/static/app.js", "/docs", "/openapi.json"):
            assert (await t.client.get(path)).status_code == 200, path


async def test_read_only_always(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path, http=HttpSettings(token="s3cret")) as t:
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            for path in ("/topics", "/topics/orders/partitions/0/records", "/healthz", "/nowhere"):
                r = await t.client.request(method, path, headers={"Authorization": "Bearer s3cret"})
                assert r.status_code == 405, (method, path)
                assert r.headers["allow"] == "GET, HEAD" and r.json()["error"] == "ReadOnly"


async def test_page_and_offline_docs(seeded: Seeded, tmp_path: Path) -> None:
    async with open_app(seeded, tmp_path) as t:
        page = await t.client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert '<script src="/static/app.js">' in page.text
        for asset in ("/static/app.js", "/static/charts.js", "/static/style.css", "/favicon.ico"):
            assert (await t.client.get(asset)).status_code == 200, asset
        docs = await t.client.get("/docs")
        assert "/docs-assets/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
        assert (await t.client.get("/docs-assets/swagger-ui-bundle.js")).status_code == 200
        spec = (await t.client.get("/openapi.json")).json()
        assert "/topics/{topic}/partitions/{partition}/records" in spec["paths"]
        assert "HTTPBearer" in spec["components"]["securitySchemes"]
