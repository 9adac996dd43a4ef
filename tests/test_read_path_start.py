"""`serve` opens its bucket through the one read path: it starts while S3 answers nothing but errors (the
catalog retries in the background) and serves exactly once S3 is back; its chunk cache is a directory per
bucket under the cache root, so processes serving different buckets never share one."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from app.config import s3_side
from tests.kafka_support import TEST_ENV, new_bucket, read_truth, seed, start_serve
from tests.reliability_support import fault_proxy_process

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_serve_starts_while_s3_fails_and_serves_when_it_is_back(s3_server: str, tmp_path: Path) -> None:
    side = new_bucket(s3_server)
    seed(side, topics=1, partitions=1, size="128KiB", segment_size="32KiB")
    truth = read_truth(side)
    other = new_bucket(s3_server)
    seed(other, topics=1, partitions=1, size="64KiB", segment_size="32KiB")
    cache = tmp_path / "cache"
    with fault_proxy_process(s3_server, "503=1.0", latency=0.0) as proxy:
        via_proxy = s3_side(str(side.url), side="dest", environ=TEST_ENV, region=side.region,
                            endpoint_url=proxy.endpoint)
        server = start_serve(via_proxy, cache_dir=cache, )
        try:
            server.wait_for_log("first manifest refresh failed", timeout=30)
            assert server.proc.poll() is None, server.log_text()
            proxy.set_rates("")  # S3 is back
            server.wait_for_log("manifests loaded", timeout=60)
            (records,) = truth.values()
            want = [r.offset for r in records.records]
            consumer = KafkaConsumer(bootstrap_servers=server.bootstrap, auto_offset_reset="earliest",
                                     enable_auto_commit=False, consumer_timeout_ms=5000)
            try:
                ((topic, partition),) = truth.keys()
                consumer.assign([TopicPartition(topic, partition)])
                got: list[int] = []
                deadline = time.monotonic() + 30
                while len(got) < len(want) and time.monotonic() < deadline:
                    for msgs in consumer.poll(timeout_ms=500).values():
                        got += [m.offset for m in msgs]
                assert got == want
            finally:
                consumer.close()
        finally:
            server.stop()
    second = start_serve(other, cache_dir=cache)
    try:
        consumer = KafkaConsumer(bootstrap_servers=second.bootstrap, auto_offset_reset="earliest",
                                 consumer_timeout_ms=3000)
        try:
            consumer.assign([TopicPartition(*next(iter(read_truth(other))))])
            assert sum(1 for _ in consumer) > 0
        finally:
            consumer.close()
    finally:
        second.stop()
    dirs = sorted(p.name for p in cache.iterdir())
    assert len(dirs) == 2 and dirs[0] != dirs[1], dirs  # one per bucket, named after it
    assert {d.split("-")[0] for d in dirs} == {side.url.bucket.split("-")[0]} and all(
        any(d.startswith(b.url.bucket) for d in dirs) for b in (side, other)), dirs
