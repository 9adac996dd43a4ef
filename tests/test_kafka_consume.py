"""Real clients against a real `shadowreplica serve` process over a seeded bucket on a real S3 process.

kafka-python, aiokafka and confluent-kafka each consume every record (every codec, headers, null keys and
values, log-append-time topics, transactional partitions), and what they deliver equals what the bucket
holds as decoded independently by ``segment_format`` (``kafka_support.read_truth``): same offsets (the
manifests' Kafka offsets), keys, values, headers and timestamps. Plus seek by timestamp, read_committed,
the long-poll wake-up when `seed --append` adds segments, produce refusal and the wire rules that keep a
bad client from hurting others.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import S3Side
from app.kafka.protocol import (
    ApiKey,
    ApiVersionsRequest,
    CreatableTopic,
    CreateTopicsRequest,
    FetchPartition,
    FetchRequest,
    FetchTopic,
    MetadataRequest,
    PartitionProduceData,
    ProduceRequest,
    RequestHeader,
    TopicProduceData,
    encode_request,
)
from tests.kafka_support import (
    PartitionTruth,
    RawClient,
    Rec,
    ServeProcess,
    new_bucket,
    parse_fetch_response,
    read_truth,
    seed,
    start_serve,
)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TOPICS = 4  # 0: every codec, JSON; 1: transactions (partition 0) with aborts; 2: binary; 3: LogAppendTime
PARTITIONS = 2


@pytest.fixture(scope="module")
def bucket(s3_server: str) -> S3Side:
    side = new_bucket(s3_server)
    seed(side, topics=TOPICS, partitions=PARTITIONS, size="3MiB", segment_size="128KiB")
    return side


@pytest.fixture(scope="module")
def truth(bucket: S3Side) -> dict[tuple[str, int], PartitionTruth]:
    t = read_truth(bucket)
    assert len(t) == TOPICS * PARTITIONS
    return t


@pytest.fixture(scope="module")
def server(bucket: S3Side, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    s = start_serve(bucket, cache_dir=tmp_path_factory.mktemp("cache"))
    yield s
    s.stop()


def _all(truth: dict[tuple[str, int], PartitionTruth], *, committed: bool = False) -> dict[tuple[str, int], list[Rec]]:
    return {tp: (t.committed if committed else t.records) for tp, t in truth.items()}


def _by_partition(records: list[Rec]) -> dict[tuple[str, int], list[Rec]]:
    out: dict[tuple[str, int], list[Rec]] = {}
    for r in records:
        out.setdefault((r.topic, r.partition), []).append(r)
    return {tp: sorted(rs, key=lambda r: r.offset) for tp, rs in out.items()}


def test_the_seeded_bucket_covers_what_matters(truth: dict[tuple[str, int], PartitionTruth]) -> None:
    """The oracle itself: the data really has gaps, nulls, headers, aborts (else the tests below prove less)."""
    records = [r for t in truth.values() for r in t.records]
    assert any(r.key is None for r in records) and any(r.value is None for r in records)
    assert any(r.headers for r in records) and any(v is None for r in records for _, v in r.headers)
    assert any(t.aborted for t in truth.values())
    gaps = [t for t in truth.values() if any(b.offset - a.offset > 1 for a, b in zip(t.records, t.records[1:], strict=False))]
    assert gaps, "offset translation and control/fence batches leave gaps in Kafka offsets"
    assert all(t.records[-1].offset < t.high_watermark for t in truth.values())


def test_kafka_python_consumes_everything(server: ServeProcess, truth: dict[tuple[str, int], PartitionTruth]) -> None:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=server.bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000,
                      request_timeout_ms=20000, fetch_max_bytes=256 * 1024, max_partition_fetch_bytes=64 * 1024)
    try:
        assert c.topics() >= {t for t, _ in truth}
        tps = [TopicPartition(t, p) for t, p in sorted(truth)]
        c.assign(tps)
        c.seek_to_beginning()
        got = [Rec(m.topic, m.partition, m.offset, m.key, m.value, tuple((k, v) for k, v in m.headers), m.timestamp)
               for m in c]
        assert _by_partition(got) == _all(truth)
        assert c.end_offsets(tps) == {tp: truth[(tp.topic, tp.partition)].high_watermark for tp in tps}
        assert c.beginning_offsets(tps) == {tp: truth[(tp.topic, tp.partition)].log_start for tp in tps}
    finally:
        c.close()


def test_aiokafka_consumes_everything(server: ServeProcess, truth: dict[tuple[str, int], PartitionTruth]) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def consume() -> list[Rec]:
        c = AIOKafkaConsumer(bootstrap_servers=server.bootstrap, enable_auto_commit=False,
                             max_partition_fetch_bytes=64 * 1024)
        await c.start()
        try:
            tps = [TopicPartition(t, p) for t, p in sorted(truth)]
            c.assign(tps)
            await c.seek_to_beginning()
            out: list[Rec] = []
            want = sum(len(t.records) for t in truth.values())
            deadline = time.monotonic() + 60
            while len(out) < want and time.monotonic() < deadline:
                for msgs in (await c.getmany(timeout_ms=1000)).values():
                    out += [Rec(m.topic, m.partition, m.offset, m.key, m.value, tuple(m.headers), m.timestamp)
                            for m in msgs]
            return out
        finally:
            await c.stop()

    assert _by_partition(asyncio.run(consume())) == _all(truth)


def _ck_consume(bootstrap: str, truth: dict[tuple[str, int], PartitionTruth], isolation: str) -> list[Rec]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"ck-{isolation}", "enable.auto.commit": False,
                  "isolation.level": isolation, "max.partition.fetch.bytes": 65536})
    try:
        c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in sorted(truth)])
        ends = {tp: t.high_watermark for tp, t in truth.items()}
        positions: dict[tuple[str, int], int] = {}
        out: list[Rec] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(positions.get(tp, -1) < end - 1 for tp, end in ends.items()
                                                  if truth[tp].records):
            m = c.poll(0.5)
            if m is None:
                # read_committed never delivers aborted records: the position moves on without them
                for tp_obj in c.position([TopicPartition(t, p) for t, p in ends]):
                    if tp_obj.offset >= 0:
                        positions[(tp_obj.topic, tp_obj.partition)] = max(
                            positions.get((tp_obj.topic, tp_obj.partition), -1), tp_obj.offset - 1)
                continue
            assert m.error() is None, m.error()
            tp = (m.topic(), m.partition())
            positions[tp] = max(positions.get(tp, -1), m.offset())
            out.append(Rec(m.topic(), m.partition(), m.offset(), m.key(), m.value(), tuple(m.headers() or ()),
                           m.timestamp()[1]))
        return out
    finally:
        c.close()


def test_confluent_kafka_consumes_everything(server: ServeProcess, truth: dict[tuple[str, int], PartitionTruth]) -> None:
    assert _by_partition(_ck_consume(server.bootstrap, truth, "read_uncommitted")) == _all(truth)


def test_read_committed_skips_aborted_transactions(server: ServeProcess,
                                                   truth: dict[tuple[str, int], PartitionTruth]) -> None:
    """librdkafka's default isolation: the aborted transactions the Fetch response lists are dropped."""
    got = _by_partition(_ck_consume(server.bootstrap, truth, "read_committed"))
    expected = {tp: rs for tp, rs in _all(truth, committed=True).items() if rs}
    assert got == expected
    assert sum(len(t.aborted) for t in truth.values()) > 0


def test_seek_by_timestamp(server: ServeProcess, truth: dict[tuple[str, int], PartitionTruth]) -> None:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=server.bootstrap, enable_auto_commit=False, request_timeout_ms=20000)
    try:
        queries: dict[TopicPartition, int] = {}
        expected: dict[TopicPartition, tuple[int, int] | None] = {}
        for (topic, partition), t in sorted(truth.items()):
            recs = t.records
            tp = TopicPartition(topic, partition)
            queries[tp] = recs[len(recs) // 3].timestamp - 1
            first = next((r for r in recs if r.timestamp >= queries[tp]), None)
            expected[tp] = (first.offset, first.timestamp) if first else None
        got = c.offsets_for_times(queries)
        assert {tp: (v.offset, v.timestamp) if v else None for tp, v in got.items()} == expected
        past_end = c.offsets_for_times({tp: truth[(tp.topic, tp.partition)].records[-1].timestamp + 10_000
                                        for tp in queries})
        assert all(v is None for v in past_end.values())
        # and consuming from a looked-up offset starts exactly there
        tp = next(iter(queries))
        c.assign([tp])
        c.seek(tp, got[tp].offset)
        first = next(iter(c.poll(timeout_ms=5000, max_records=1).values()))[0]
        assert first.offset == got[tp].offset and first.timestamp >= queries[tp]
    finally:
        c.close()


def test_produce_is_refused_with_an_authorization_error(server: ServeProcess) -> None:
    from confluent_kafka import KafkaError, Producer
    from kafka import KafkaProducer
    from kafka.errors import TopicAuthorizationFailedError

    p = Producer({"bootstrap.servers": server.bootstrap, "message.timeout.ms": 10000})
    errors: list[KafkaError] = []
    p.produce("orders", b"value", callback=lambda err, msg: errors.append(err))
    assert p.flush(15) == 0
    assert [e.code() for e in errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]

    kp = KafkaProducer(bootstrap_servers=server.bootstrap, enable_idempotence=False, retries=0, request_timeout_ms=10000)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            kp.send("orders", b"value").get(timeout=15)
    finally:
        kp.close(timeout=5)
    server.wait_for_log("refused Produce to orders")


def _produce_body(acks: int) -> ProduceRequest:
    return ProduceRequest(acks=acks, timeout_ms=1000, topic_data=(
        TopicProduceData(name="orders", partition_data=(PartitionProduceData(index=0, records=memoryview(b"x" * 70)),)),))


def test_wire_rules(server: ServeProcess) -> None:
    """acks=0 gets no answer, admin writes their per-item error, a too-new ApiVersions the v0 fallback —
    and the connection stays usable after each."""
    with RawClient(server.port) as c:
        c.send(ApiKey.Produce, 7, _produce_body(acks=0))
        corr = c.send(ApiKey.Metadata, 4, MetadataRequest(topics=()))
        frame = c.recv()
        assert struct.unpack_from(">i", frame)[0] == corr, "acks=0 Produce must not be answered"

        corr = c.send(ApiKey.Produce, 7, _produce_body(acks=1))
        frame = c.recv()
        assert struct.unpack_from(">i", frame)[0] == corr
        # v7: [topic STRING [partition INT32, error INT16, ...]]
        name_len = struct.unpack_from(">h", frame, 8)[0]
        assert struct.unpack_from(">ih", frame, 10 + name_len + 4) == (0, 29)

        corr = c.send(ApiKey.CreateTopics, 2, CreateTopicsRequest(topics=(
            CreatableTopic(name="new-topic", num_partitions=1, replication_factor=1, assignments=(), configs=()),),
            timeout_ms=1000))
        frame = c.recv()
        assert struct.unpack_from(">i", frame)[0] == corr
        assert b"new-topic" in frame and struct.pack(">h", 29) in frame

        # ApiVersions v9 (above our maximum): v0-layout UNSUPPORTED_VERSION answer, connection kept
        c.send_bytes(struct.pack(">ihhih", 10, 18, 9, 77, -1))
        frame = c.recv()
        assert struct.unpack_from(">ih", frame) == (77, 35)
        corr = c.send(ApiKey.ApiVersions, 2, ApiVersionsRequest())
        assert struct.unpack_from(">ih", c.recv()) == (corr, 0)


def test_pipelined_requests_are_answered_in_order(server: ServeProcess, truth: dict[tuple[str, int], PartitionTruth]
                                                  ) -> None:
    (topic, partition), _ = next(iter(sorted(truth.items())))
    fetch = FetchRequest(max_wait_ms=100, min_bytes=1, max_bytes=1 << 20, topics=(
        FetchTopic(topic=topic, partitions=(FetchPartition(partition=partition, fetch_offset=0,
                                                           partition_max_bytes=1 << 20),)),))
    with RawClient(server.port) as c:
        sent = []
        payload = b""
        for i in range(6):
            c.correlation += 1
            sent.append(c.correlation)
            body = fetch if i % 2 else MetadataRequest(topics=None)
            api, version = (ApiKey.Fetch, 11) if i % 2 else (ApiKey.Metadata, 8)
            payload += encode_request(RequestHeader(api_key=api, api_version=version, correlation_id=c.correlation,
                                                    client_id="raw"), body)
        c.send_bytes(payload)  # all six in one write
        got = [struct.unpack_from(">i", c.recv())[0] for _ in sent]
    assert got == sent


def test_malformed_and_oversized_frames_close_only_that_connection(server: ServeProcess) -> None:
    good = RawClient(server.port)
    try:
        bad = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        bad.sendall(struct.pack(">i", 2**31 - 1))  # above max_frame_bytes
        assert bad.recv(1) == b""
        bad.close()
        server.wait_for_log("frame size 2147483647 is above the limit")

        bad = RawClient(server.port)
        bad.send_bytes(struct.pack(">ihhi", 6, 3, 4, 1) + b"\xff\xff")  # Metadata v4 cut inside its body
        assert bad.closed_by_server()
        bad.close()
        server.wait_for_log("malformed request")

        bad = RawClient(server.port)
        bad.send_bytes(struct.pack(">ihhih", 10, 23, 2, 1, -1))  # OffsetForLeaderEpoch: never offered
        assert bad.closed_by_server()
        bad.close()

        corr = good.send(ApiKey.Metadata, 8, MetadataRequest(topics=None))
        assert struct.unpack_from(">i", good.recv())[0] == corr
    finally:
        good.close()


def test_fetch_limits_first_batch_whole_and_many_partitions(server: ServeProcess,
                                                            truth: dict[tuple[str, int], PartitionTruth]) -> None:
    tps = sorted(truth)
    with RawClient(server.port) as c:
        # max_bytes of 1: still one whole batch, from the first partition only
        req = FetchRequest(max_wait_ms=500, min_bytes=1, max_bytes=1, topics=tuple(
            FetchTopic(topic=t, partitions=(FetchPartition(partition=p, fetch_offset=0, partition_max_bytes=1),))
            for t, p in tps))
        c.send(ApiKey.Fetch, 11, req)
        _, parts = parse_fetch_response(c.recv(), 11)
        assert set(parts) == set(tps)
        non_empty = [tp for tp in tps if parts[tp].records]
        assert non_empty == [tps[0]]
        (base, last_delta, size), = parts[tps[0]].batches()
        assert size == len(parts[tps[0]].records)
        assert base <= truth[tps[0]].records[0].offset <= base + last_delta

        # every partition at once, each capped at 16 KiB: whole batches only, none past the cap but the first
        req = FetchRequest(max_wait_ms=500, min_bytes=1, max_bytes=10 << 20, topics=tuple(
            FetchTopic(topic=t, partitions=(FetchPartition(partition=p, fetch_offset=truth[(t, p)].records[5].offset,
                                                           partition_max_bytes=16384),)) for t, p in tps))
        c.send(ApiKey.Fetch, 11, req)
        _, parts = parse_fetch_response(c.recv(), 11)
        for tp in tps:
            batches = parts[tp].batches()
            assert batches and sum(s for *_, s in batches) == len(parts[tp].records)
            assert len(batches) == 1 or len(parts[tp].records) <= 16384
            base, last_delta, _ = batches[0]
            assert base <= truth[tp].records[5].offset <= base + last_delta, "starts at the batch holding the offset"
            assert parts[tp].high_watermark == truth[tp].high_watermark

        # out of range on one partition, data on the other
        (t0, p0), (t1, p1) = tps[:2]
        req = FetchRequest(max_wait_ms=500, min_bytes=1, max_bytes=1 << 20, topics=(
            FetchTopic(topic=t0, partitions=(FetchPartition(partition=p0, fetch_offset=truth[(t0, p0)].high_watermark + 5,
                                                            partition_max_bytes=1 << 20),)),
            FetchTopic(topic=t1, partitions=(FetchPartition(partition=p1, fetch_offset=0, partition_max_bytes=1 << 20),)),
            FetchTopic(topic="no-such-topic", partitions=(FetchPartition(partition=0, fetch_offset=0,
                                                                         partition_max_bytes=1 << 20),))))
        c.send(ApiKey.Fetch, 11, req)
        _, parts = parse_fetch_response(c.recv(), 11)
        assert parts[(t0, p0)].error_code == 1 and not parts[(t0, p0)].records
        assert parts[(t1, p1)].error_code == 0 and parts[(t1, p1)].records
        assert parts[("no-such-topic", 0)].error_code == 3


def test_empty_fetch_waits_max_wait(server: ServeProcess, truth: dict[tuple[str, int], PartitionTruth]) -> None:
    (t, p), part = next(iter(sorted(truth.items())))
    with RawClient(server.port) as c:
        c.send(ApiKey.Fetch, 11, FetchRequest(max_wait_ms=800, min_bytes=1, max_bytes=1 << 20, topics=(
            FetchTopic(topic=t, partitions=(FetchPartition(partition=p, fetch_offset=part.high_watermark,
                                                           partition_max_bytes=1 << 20),)),)))
        started = time.monotonic()
        _, parts = parse_fetch_response(c.recv(), 11)
        waited = time.monotonic() - started
    assert 0.7 <= waited < 3, waited
    assert parts[(t, p)].error_code == 0 and parts[(t, p)].records == b""


def test_long_poll_wakes_up_when_segments_arrive(s3_server: str, tmp_path: Path) -> None:
    """A Fetch parked at the high watermark (max_wait 20 s) returns the new records within a refresh
    interval of `seed --append` finishing, and a kafka-python consumer waiting at the end gets them."""
    from kafka import KafkaConsumer, TopicPartition

    side = new_bucket(s3_server)
    seed(side, topics=1, partitions=1, size="256KiB", segment_size="64KiB")
    before = read_truth(side)[("orders", 0)]
    with_server = start_serve(side, cache_dir=tmp_path / "cache", refresh=0.2)
    consumer = KafkaConsumer(bootstrap_servers=with_server.bootstrap, enable_auto_commit=False,
                             fetch_max_wait_ms=500, request_timeout_ms=30000)
    try:
        tp = TopicPartition("orders", 0)
        consumer.assign([tp])
        consumer.seek(tp, before.high_watermark)
        assert consumer.poll(timeout_ms=1000) == {}
        result: dict[str, object] = {}

        def parked_fetch() -> None:
            with RawClient(with_server.port, timeout=30) as c:
                c.send(ApiKey.Fetch, 11, FetchRequest(max_wait_ms=20000, min_bytes=1, max_bytes=1 << 20, topics=(
                    FetchTopic(topic="orders", partitions=(FetchPartition(
                        partition=0, fetch_offset=before.high_watermark, partition_max_bytes=1 << 20),)),)))
                frame = c.recv()
                result["at"] = time.monotonic()
                result["parts"] = parse_fetch_response(frame, 11)[1]

        waiter = threading.Thread(target=parked_fetch)
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive(), "the Fetch at the high watermark must wait"
        seed(side, topics=1, partitions=1, size="256KiB", segment_size="64KiB", seed_value=43, append=True)
        appended = time.monotonic()
        waiter.join(25)
        assert not waiter.is_alive()
        assert float(result["at"]) - appended < 3.0  # type: ignore[arg-type]
        parts = result["parts"]
        fetched = parts[("orders", 0)]  # type: ignore[index]
        after = read_truth(side)[("orders", 0)]
        assert fetched.records and fetched.high_watermark == after.high_watermark
        new = [r for r in after.records if r.offset >= before.high_watermark]
        assert fetched.batches()[0][0] <= new[0].offset

        got: list[int] = []
        deadline = time.monotonic() + 20
        while len(got) < len(new) and time.monotonic() < deadline:
            for msgs in consumer.poll(timeout_ms=500).values():
                got += [m.offset for m in msgs]
        assert got == [r.offset for r in new]
    finally:
        consumer.close()
        with_server.stop()
