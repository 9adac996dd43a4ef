"""kafkajs 2.2.4 (Node.js, its own protocol implementation: no librdkafka, no Java) against a real `serve`:
metadata, describeCluster, fetchTopicOffsets, describeConfigs, a consumer group reading every record and
committing, and the committed offsets read back the way lag tools read them (admin.fetchOffsets).

kafkajs decompresses only gzip without codec plugins (snappy, lz4 and zstd need npm packages, zstd a native
build), so it reads the seed's second topic, whose batches are gzip or uncompressed; the seed's first topic
rotates through every codec. Expected values come from the bucket oracle (tests/bucket_oracle.py: kafka-python's batch decoder over the
segments), never from the service. kafkajs and Node.js are installed by ``tests/kafka_tools/install_kafkajs.sh``
(Debian's Node.js when ``node`` is missing, kafkajs as its npm tarball, checksum checked) through a session fixture.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import S3Side
from app.tools.seedgen import topic_name
from tests.kafka_support import PartitionTruth, ServeProcess, new_bucket, read_truth, seed, serving

TOOLS = Path(__file__).parent / "kafka_tools"


@pytest.fixture(scope="session")
def kafkajs() -> Path:
    done = subprocess.run(["sh", str(TOOLS / "install_kafkajs.sh")], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        pytest.fail(f"could not install kafkajs:\n{done.stdout}\n{done.stderr}", pytrace=False)
    return TOOLS / "kafkajs_probe.js"


@pytest.fixture(scope="module")
def bucket(s3_server: str) -> S3Side:
    side = new_bucket(s3_server)
    seed(side, topics=2, partitions=2, size="600KiB", segment_size="96KiB")
    return side


@pytest.fixture(scope="module")
def server(bucket: S3Side, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with serving(bucket, cache_dir=tmp_path_factory.mktemp("kjs")) as s:
        yield s


def test_kafkajs_consumes_a_group_exactly_and_reads_offsets_and_configs(
        kafkajs: Path, server: ServeProcess, bucket: S3Side) -> None:
    truth: dict[tuple[str, int], PartitionTruth] = read_truth(bucket)
    topic = topic_name(1)  # gzip and uncompressed batches (module doc)
    parts = {p: t for (name, p), t in truth.items() if name == topic}
    committed = [r for t in parts.values() for r in t.committed]  # kafkajs reads committed records only
    done = subprocess.run(["node", str(kafkajs), server.bootstrap, topic, "kjs-group", str(len(committed))],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)

    assert out["partitions"] == sorted(parts)
    assert {o["partition"]: (int(o["low"]), int(o["high"])) for o in out["offsets"]} == {
        p: (t.log_start, t.high_watermark) for p, t in parts.items()}
    assert [b["nodeId"] for b in out["cluster"]["brokers"]] == [0]
    assert out["configs"]["cleanup.policy"] in ("delete", "compact", "compact,delete")
    assert "retention.ms" in out["configs"]

    got = sorted((p, o, k, v) for p, o, k, v in out["records"])

    def b64(raw: bytes | None) -> str | None:
        return None if raw is None else base64.b64encode(raw).decode()

    assert got == sorted((r.partition, r.offset, b64(r.key), b64(r.value)) for r in committed)  # each once, exact

    assert {c["partition"]: c["offset"] for c in out["committed"]} == {p: t.high_watermark for p, t in parts.items()}
    assert "kjs-group" in out["groups"]
