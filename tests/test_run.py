"""`shadowreplica run` end to end: one process replicates (follow), serves Kafka and HTTP over one read path.

The destination starts as a prefix of the source (two of three segments per partition, same generator), so
the replicator has real work; the test waits for ``/replication`` to report every partition in sync, then
consumes a partition with kafka-python from the same process and compares it with the HTTP records route.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.http_fixtures import Seeded, drop_buckets, running, seed_pair
from tests.kafka_support import free_port

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, `make test-fast` does not


@pytest.fixture
def seeded(s3_server: str) -> Iterator[Seeded]:
    pair = seed_pair(s3_server)
    yield pair
    drop_buckets(pair)


def consume(port: int, topic: str, partition: int, until: int) -> list[tuple[int, bytes | None]]:
    consumer = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{port}", auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=10_000)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        out = []
        for msg in consumer:
            out.append((msg.offset, msg.value))
            if msg.offset >= until - 1:
                break
        return out
    finally:
        consumer.close()


async def test_run_replicates_and_serves_kafka_and_http(seeded: Seeded, tmp_path: Path) -> None:
    kafka_port = free_port()
    config = tmp_path / "shadowreplica.toml"
    config.write_text(f"""
[run]
source = "{seeded.source.url}"
dest = "{seeded.dest.url}"

[source]
endpoint_url = "{seeded.endpoint}"
region = "us-east-1"

[dest]
endpoint_url = "{seeded.endpoint}"
region = "eu-west-1"

[replicator]
poll_interval = 0.2
concurrency = 4

[kafka]
listen = "127.0.0.1:{kafka_port}"

[http]
listen = "127.0.0.1:0"

[cache]
directory = "{tmp_path / 'cache'}"
manifest_refresh_interval = 0.3
""")
    async with running("--config", str(config), "run") as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        deadline = time.monotonic() + 60
        while True:
            repl = (await client.get("/replication")).json()
            states = {(p["topic"], p["partition"]): p["state"] for p in repl["partitions"]}
            if len(states) == 6 and set(states.values()) == {"in_sync"}:
                break
            assert time.monotonic() < deadline, f"not in sync after 60 s: {states}"
            await asyncio.sleep(0.3)
        assert repl["mode"] == "replicator"
        row = next(p for p in repl["partitions"] if (p["topic"], p["partition"]) == ("payments", 1))
        assert row["lag_offsets"] == 0 and row["lag_seconds"] == 0 and row["last_error"] is None
        assert row["restorable_up_to"]["offset"] == row["dest"]["high_watermark"] - 1
        hwm = row["dest"]["high_watermark"]

        records: list[dict[str, object]] = []
        offset = 0
        while offset < hwm:
            page = (await client.get("/topics/payments/partitions/1/records",
                                     params={"offset": offset, "limit": 500, "decode": "base64"})).json()
            records.extend(page["records"])
            assert page["next_offset"] > offset
            offset = page["next_offset"]
        got = await asyncio.to_thread(consume, kafka_port, "payments", 1, hwm)
        assert [o for o, _ in got] == [r["offset"] for r in records]  # the same records through both faces
        import base64

        assert [v for _, v in got] == [None if r["value"] is None else base64.b64decode(str(r["value"]))
                                       for r in records]

        metrics = (await client.get("/metrics")).text
        assert 'shadowreplica_kafka_requests_total{api="Fetch",outcome="ok"}' in metrics
        assert 'shadowreplica_fetch_requests_total{face="kafka"}' in metrics
        assert 'shadowreplica_copied_objects_total{kind="segment"}' in metrics
        assert 'shadowreplica_replication_pending_seconds{namespace="kafka",partition="1",topic="payments"} 0.0' in metrics
        assert 'side="sync_dest"' in metrics
        for line in metrics.splitlines():  # one family per name: the exposition would be rejected otherwise
            if line.startswith("# TYPE "):
                name = line.split()[2]
                assert metrics.count(f"# TYPE {name} ") == 1, name


def test_run_says_why_when_a_face_cannot_start(seeded: Seeded, tmp_path: Path) -> None:
    """The Kafka port is taken: one `error:` line, exit 2, the HTTP face shut down gracefully, no traceback."""
    import os
    import socket
    import subprocess

    from tests.process_support import CLI

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [str(CLI), "run", "--dest", str(seeded.dest.url), "--dest-region", "eu-west-1",
             "--dest-endpoint-url", seeded.endpoint, "--kafka", f"127.0.0.1:{port}", "--listen", "127.0.0.1:0",
             "--cache-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"})
    assert proc.returncode == 2, proc.stderr
    assert f"error: cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
