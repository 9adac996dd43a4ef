"""End to end over TCP: `shadowreplica http` (and `shadowreplica run`) as subprocesses, queried with httpx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.http_fixtures import Seeded, drop_buckets, running, seed_pair

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, `make test-fast` does not


@pytest.fixture(scope="module")
def seeded(s3_server: str) -> Iterator[Seeded]:
    pair = seed_pair(s3_server)
    yield pair
    drop_buckets(pair)


async def test_http_command_serves_over_tcp(seeded: Seeded, tmp_path: Path) -> None:
    args = ["http", "--bucket", str(seeded.dest.url), "--region", "eu-west-1", "--endpoint-url", seeded.endpoint,
            "--source", str(seeded.source.url), "--source-region", "us-east-1",
            "--source-endpoint-url", seeded.endpoint, "--listen", "127.0.0.1:0", "--cache-dir", str(tmp_path)]
    async with running(*args, env={"SHADOWREPLICA_HTTP_TOKEN": "e2e-token"}) as url, \
            httpx.AsyncClient(base_url=url, timeout=30) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/topics")).status_code == 401
        client.headers["Authorization"] = "Bearer e2e-token"
        topics = (await client.get("/topics")).json()["topics"]
        assert [t["name"] for t in topics] == ["clickstream", "orders", "payments"]

        body = (await client.get("/topics/orders/partitions/0/records", params={"offset": 42, "limit": 2})).json()
        assert [r["offset"] for r in body["records"]] == [42, 43] and body["next_offset"] == 44

        # NDJSON is streamed (chunked transfer), record by record
        async with client.stream("GET", "/topics/orders/partitions/0/records",
                                 params={"limit": 500, "format": "ndjson"}) as resp:
            assert resp.headers.get("transfer-encoding") == "chunked"
            lines = [json.loads(line) async for line in resp.aiter_lines()]
        assert len(lines) == 501 and lines[-1]["end"]["count"] == 500

        seg = (await client.get("/topics/orders/partitions/0/segments")).json()["segments"][0]
        whole = await client.get(seg["download"])
        assert whole.status_code == 200 and len(whole.content) == seg["size_bytes"]
        part = await client.get(seg["download"], headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206 and part.content == whole.content[1000:2000]

        repl = (await client.get("/replication")).json()
        assert repl["mode"] == "buckets" and all(p["lag_offsets"] > 0 for p in repl["partitions"])
        metrics = (await client.get("/metrics")).text
        assert 'shadowreplica_fetch_requests_total{face="http"} 2.0' in metrics
        assert "shadowreplica_replication_lag_seconds{" in metrics
        assert (await client.post("/topics")).status_code == 405
        page = await client.get("/")
        assert page.status_code == 200 and "shadowreplica" in page.text


async def test_run_command_serves_http_from_one_config(seeded: Seeded, tmp_path: Path) -> None:
    config = tmp_path / "shadowreplica.toml"
    config.write_text(f"""
[run]
source = "{seeded.source.url}"
dest = "{seeded.dest.url}"
without = ["sync"]  # compare the buckets only; tests/test_run.py runs every face

[kafka]
listen = "127.0.0.1:0"

[source]
endpoint_url = "{seeded.endpoint}"
region = "us-east-1"

[dest]
endpoint_url = "{seeded.endpoint}"
region = "eu-west-1"

[http]
listen = "127.0.0.1:0"

[cache]
directory = "{tmp_path / 'cache'}"
""")
    async with running("--config", str(config), "run") as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        repl = (await client.get("/replication")).json()
        assert repl["mode"] == "buckets"
        assert repl["source"] == str(seeded.source.url) and repl["dest"] == str(seeded.dest.url)
        recs = (await client.get("/topics/payments/partitions/1/records", params={"limit": 1})).json()["records"]
        assert recs[0]["offset"] == 0
