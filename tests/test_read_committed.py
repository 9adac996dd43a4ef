"""read_committed when a producer id is reused: one transactional producer aborts, aborts, commits and
aborts again (``seed``'s fixed pattern), interleaved with other producers, the aborts in one segment and
across segments. Every real client must drop exactly the records of every aborted transaction, as the
independent oracle (``tests/bucket_oracle.py``: aborts from the logs' control batches) says, and the HTTP
API flags them or, with ``isolation=read_committed``, omits them. In the across-segments bucket, aborted
transactions continue into the next segment (listed in both segments' ``.tx``), and a raw Fetch's aborted
list is checked entry by entry.

Before the fix both Fetch paths listed one aborted transaction per producer id, so the second abort's
records reached read_committed consumers."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from app.config import S3Side
from app.kafka.protocol import ApiKey, FetchPartition, FetchRequest, FetchTopic
from tests.bucket_oracle import OraclePartition, read_bucket_s3
from tests.client_support import CLIENTS, consume, expected
from tests.http_fixtures import running
from tests.kafka_support import RawClient, ServeProcess, new_bucket, parse_fetch_response, seed, start_serve

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TOPIC = ("payments", 0)  # seed: odd topics' even partitions carry the transactions


@pytest.fixture(scope="module", params=["one-segment", "across-segments"])
def bucket(request: pytest.FixtureRequest, s3_server: str) -> tuple[S3Side, str]:
    side = new_bucket(s3_server, "us-east-1")
    # across-segments: 16 KiB segments hold a few batches each, so transactions (aborted ones among them)
    # continue into the next segment
    segment = "512KiB" if request.param == "one-segment" else "16KiB"
    seed(side, topics=2, partitions=1, size="4MiB", segment_size=segment)
    return side, str(request.param)


@pytest.fixture(scope="module")
def truth(bucket: tuple[S3Side, str]) -> dict[tuple[str, int], OraclePartition]:
    side = bucket[0]
    return {(t, p): part for (_, t, p), part in read_bucket_s3(side.endpoint_url or "", side.url.bucket,
                                                                side.region).items()}


@pytest.fixture(scope="module")
def server(bucket: tuple[S3Side, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    s = start_serve(bucket[0], cache_dir=tmp_path_factory.mktemp("cache"))
    yield s
    s.stop()


def _aborts_per_producer(part: OraclePartition) -> Counter[int]:
    """How many aborted transactions each producer id has (from the oracle's control-batch walk)."""
    return Counter(pid for pid, _ in part.aborted_transactions)


def test_the_data_reuses_a_producer_id_across_aborts(truth: dict[tuple[str, int], OraclePartition],
                                                     bucket: tuple[S3Side, str]) -> None:
    part = truth[TOPIC]
    counts = _aborts_per_producer(part)
    pid, aborts = counts.most_common(1)[0]
    assert aborts >= 3, counts  # abort, abort, (commit), abort of one producer id
    assert part.committed and len(part.committed) < len(part.records)
    # where those aborts sit: all in one segment, or one per segment (the .tx objects, read with boto3)
    side, where = bucket
    s3 = boto3.client("s3", endpoint_url=side.endpoint_url, region_name=side.region, aws_access_key_id="test",
                      aws_secret_access_key="test")
    listed = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=side.url.bucket)
              for o in page.get("Contents", ())}
    per_segment = []
    listings: Counter[tuple[int, int, int]] = Counter()  # how many segments' .tx list each aborted range
    for key in part.segment_keys:
        if key + ".tx" in listed:
            ranges = json.loads(s3.get_object(Bucket=side.url.bucket, Key=key + ".tx")["Body"].read())["ranges"]
            per_segment.append(sum(r["pid.id"] == pid for r in ranges))
            listings.update((r["pid.id"], r["first"], r["last"]) for r in ranges)
    assert (max(per_segment) >= 2) if where == "one-segment" else (len([n for n in per_segment if n]) >= 2)
    assert len(listings) == len(part.aborted_transactions)  # every abort in the log is in a .tx, and only those
    if where == "across-segments":  # aborted transactions that continue into the next segment
        assert sum(n > 1 for n in listings.values()) >= 2, listings


def test_fetch_lists_every_abort_of_the_answer(server: ServeProcess, truth: dict[tuple[str, int], OraclePartition]
                                               ) -> None:
    """Fetch v11 read_committed from the log start, one answer of up to 4 MiB: its aborted list is every
    aborted transaction starting in the answer, several of one producer among them, at the oracle's first
    offsets (a list of one abort per producer fails this)."""
    part = truth[TOPIC]
    req = FetchRequest(max_wait_ms=500, min_bytes=1, max_bytes=4 << 20, isolation_level=1, topics=(
        FetchTopic(topic=TOPIC[0], partitions=(FetchPartition(partition=TOPIC[1], fetch_offset=0,
                                                              partition_max_bytes=4 << 20),)),))
    with RawClient(server.port) as c:
        for _ in range(50):  # a cold read still waiting on S3 is answered empty at max_wait: ask again
            c.send(ApiKey.Fetch, 11, req)
            answer = parse_fetch_response(c.recv(), 11)[1][TOPIC]
            if answer.records or answer.error_code:
                break
    batches = answer.batches()
    assert answer.error_code == 0 and batches
    last = batches[-1][0] + batches[-1][1]
    want = sorted((pid, first) for pid, first in part.aborted_transactions if first <= last)
    assert sorted(answer.aborted or []) == want
    pids = [pid for pid, _ in want]
    assert len(pids) > len(set(pids)), "the answer holds no two aborts of one producer: this proves too little"


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("isolation", ["read_committed", "read_uncommitted"])
def test_clients_drop_exactly_the_aborted_records(server: ServeProcess, truth: dict[tuple[str, int], OraclePartition],
                                                  client: str, isolation: str, bucket: tuple[S3Side, str]) -> None:
    parts = {TOPIC: truth[TOPIC]}
    # Fetches of 1 MiB: one response holds several transactions of the producer (several aborts among them)
    got = consume(client, server.bootstrap, {TOPIC: truth[TOPIC].high_watermark}, isolation, fetch_bytes=1 << 20)
    want = expected(parts, committed=isolation == "read_committed")
    print(f"{bucket[1]} {client} {isolation}: expected {len(want[TOPIC])} records, received {len(got[TOPIC])}")
    assert [r[0] for r in got[TOPIC]] == [r[0] for r in want[TOPIC]]
    assert got == want


def test_http_flags_or_omits_aborted_records(bucket: tuple[S3Side, str], truth: dict[tuple[str, int], OraclePartition],
                                             tmp_path: Path) -> None:
    part = truth[TOPIC]
    side = bucket[0]
    args = ["http", "--bucket", str(side.url), "--region", side.region, "--endpoint-url", side.endpoint_url or "", "--listen", "127.0.0.1:0", "--cache-dir", str(tmp_path)]

    async def go() -> None:
        async with running(*args) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
            path = "/topics/payments/partitions/0/records"
            every = (await client.get(path, params={"limit": 10_000, "decode": "base64"})).json()["records"]
            assert [r["offset"] for r in every] == [r.offset for r in part.records]
            assert {r["offset"] for r in every if r["aborted"]} == part.aborted
            committed = (await client.get(path, params={"limit": 10_000, "isolation": "read_committed"})).json()
            assert [r["offset"] for r in committed["records"]] == [r.offset for r in part.committed]
            assert [base64.b64decode(r["value"]) if r["value"] else None for r in every if not r["aborted"]] == [
                r.value for r in part.committed]
            bad = await client.get(path, params={"isolation": "serializable"})
            assert bad.status_code in (400, 422) and "isolation" in bad.text

    asyncio.run(go())
