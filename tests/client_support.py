"""Consume whole partitions with each real Kafka client (kafka-python, aiokafka, confluent-kafka), for tests
that compare what a client receives with ``tests/bucket_oracle.py``."""

from __future__ import annotations

import asyncio
import time

from tests.bucket_oracle import OraclePartition

Row = tuple[int, bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...], int]
"""offset, key, value, headers, timestamp"""
ByPartition = dict[tuple[str, int], list[Row]]

CLIENTS = ("kafka-python", "aiokafka", "confluent-kafka")


def expected(parts: dict[tuple[str, int], OraclePartition], *, committed: bool) -> ByPartition:
    """What a consumer of each partition must receive: every record, or what read_committed leaves."""
    out: ByPartition = {}
    for tp, part in parts.items():
        recs = part.committed if committed else part.records
        if recs:
            out[tp] = [(r.offset, r.key, r.value, tuple(r.headers), r.timestamp) for r in recs]
    return out


def _group(rows: list[tuple[str, int, Row]]) -> ByPartition:
    out: ByPartition = {}
    for topic, partition, row in rows:
        out.setdefault((topic, partition), []).append(row)
    return {tp: sorted(v) for tp, v in out.items()}


def consume(client: str, bootstrap: str, ends: dict[tuple[str, int], int], isolation: str, *,
            fetch_bytes: int = 64 * 1024) -> ByPartition:
    """Every record of the partitions (``ends``: their high watermarks) from the beginning, with ``client``
    asking for at most ``fetch_bytes`` per partition and Fetch."""
    if client == "kafka-python":
        return _kafka_python(bootstrap, ends, isolation, fetch_bytes)
    if client == "aiokafka":
        return asyncio.run(_aiokafka(bootstrap, ends, isolation, fetch_bytes))
    if client == "confluent-kafka":
        return _confluent(bootstrap, ends, isolation, fetch_bytes)
    raise ValueError(client)


def _kafka_python(bootstrap: str, ends: dict[tuple[str, int], int], isolation: str, fetch_bytes: int) -> ByPartition:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=3000,
                      isolation_level=isolation, request_timeout_ms=20000, max_partition_fetch_bytes=fetch_bytes,
                      fetch_max_bytes=max(fetch_bytes, 50 * 1024 * 1024))
    try:
        tps = [TopicPartition(t, p) for t, p in sorted(ends)]
        c.assign(tps)
        c.seek_to_beginning()
        rows = [(m.topic, m.partition, (m.offset, m.key, m.value, tuple(m.headers), m.timestamp)) for m in c]
        assert c.end_offsets(tps) == {tp: ends[(tp.topic, tp.partition)] for tp in tps}
        return _group(rows)
    finally:
        c.close()


async def _aiokafka(bootstrap: str, ends: dict[tuple[str, int], int], isolation: str, fetch_bytes: int) -> ByPartition:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level=isolation,
                         max_partition_fetch_bytes=fetch_bytes, fetch_max_bytes=max(fetch_bytes, 50 * 1024 * 1024))
    await c.start()
    try:
        tps = [TopicPartition(t, p) for t, p in sorted(ends)]
        c.assign(tps)
        await c.seek_to_beginning()
        rows: list[tuple[str, int, Row]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for msgs in (await c.getmany(timeout_ms=500)).values():
                rows += [(m.topic, m.partition, (m.offset, m.key, m.value, tuple(m.headers), m.timestamp))
                         for m in msgs]
            positions = [await c.position(tp) for tp in tps]
            if all(pos >= ends[(tp.topic, tp.partition)] for pos, tp in zip(positions, tps, strict=True)):
                break
        return _group(rows)
    finally:
        await c.stop()


def _confluent(bootstrap: str, ends: dict[tuple[str, int], int], isolation: str, fetch_bytes: int) -> ByPartition:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"oracle-{isolation}", "enable.auto.commit": False,
                  "isolation.level": isolation, "max.partition.fetch.bytes": fetch_bytes})
    try:
        c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in sorted(ends)])
        positions: dict[tuple[str, int], int] = {}
        rows: list[tuple[str, int, Row]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(positions.get(tp, 0) < end for tp, end in ends.items()):
            m = c.poll(0.5)
            if m is None:
                for tp_obj in c.position([TopicPartition(t, p) for t, p in ends]):
                    if tp_obj.offset >= 0:
                        key = (tp_obj.topic, tp_obj.partition)
                        positions[key] = max(positions.get(key, 0), tp_obj.offset)
                continue
            assert m.error() is None, m.error()
            rows.append((m.topic(), m.partition(), (m.offset(), m.key(), m.value(), tuple(m.headers() or ()),
                                                    m.timestamp()[1])))
        return _group(rows)
    finally:
        c.close()
