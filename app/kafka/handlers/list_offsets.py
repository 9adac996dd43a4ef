"""ListOffsets: earliest (-2), latest (-1) from the manifests, by timestamp through the reader.

v7+ also answers -3 (max timestamp: the first record carrying the partition's largest timestamp, found as
a timestamp lookup of the largest segment ``max_timestamp`` in the manifests), v8+ -4 (earliest local: the
whole log is local to a replica, so the log start) and v9+ -5 (latest tiered: the last offset in the
bucket, high watermark - 1, or -1 when empty). Each answer carries the leader epoch of the offset it
names (:mod:`app.kafka.epochs`); ``current_leader_epoch`` (v4+) is checked as for Fetch.

A timestamp lookup reads only what the manifests' segment timestamps and the segment's ``.index`` point
at (:meth:`PartitionReader.offset_for_timestamp`), never the whole partition. No match answers offset
-1 / timestamp -1, as Kafka does. The last stable offset equals the high watermark (no transaction is
ever open in a replica), so read_committed gets the same "latest".
"""

from __future__ import annotations

import asyncio
import logging

from app.errors import CorruptData, ShadowReplicaError, kafka_code
from app.kafka.epochs import NO_EPOCH, check_current_epoch, epoch_at, latest_epoch
from app.kafka.handlers._base import Broker, Session
from app.kafka.protocol import (
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    ErrorCode,
    ListOffsetsPartitionResponse,
    ListOffsetsRequest,
    ListOffsetsResponse,
    ListOffsetsTopicResponse,
    Request,
)
from app.kafka.protocol.consumer_offsets import CONSUMER_OFFSETS

log = logging.getLogger(__name__)


MAX_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP, LATEST_TIERED_TIMESTAMP = -3, -4, -5
SPECIAL_SINCE = {MAX_TIMESTAMP: 7, EARLIEST_LOCAL_TIMESTAMP: 8, LATEST_TIERED_TIMESTAMP: 9}


async def _one(broker: Broker, topic: str, partition: int, timestamp: int, current_epoch: int, version: int
               ) -> ListOffsetsPartitionResponse:
    def at(offset: int, ts: int = -1) -> ListOffsetsPartitionResponse:
        epoch = NO_EPOCH if offset < 0 else epoch_at(view, offset)
        return ListOffsetsPartitionResponse(partition_index=partition, offset=offset, timestamp=ts, leader_epoch=epoch)

    if topic == CONSUMER_OFFSETS and broker.consumer_offsets is not None:
        return _one_consumer_offsets(broker, partition, timestamp)
    try:
        view = broker.catalog.partition(topic, partition)
        fenced = check_current_epoch(view, current_epoch)
        if fenced:
            return ListOffsetsPartitionResponse(partition_index=partition, error_code=fenced)
        if timestamp in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP) and version >= SPECIAL_SINCE.get(timestamp, 0):
            return at(view.log_start_offset)
        if timestamp == LATEST_TIMESTAMP:
            return ListOffsetsPartitionResponse(partition_index=partition, offset=view.high_watermark,
                                                leader_epoch=latest_epoch(view))
        if timestamp == LATEST_TIERED_TIMESTAMP and version >= SPECIAL_SINCE[timestamp]:
            return at(view.high_watermark - 1 if view.high_watermark > view.log_start_offset else -1)
        if timestamp == MAX_TIMESTAMP and version >= SPECIAL_SINCE[timestamp]:
            stamps = [s.meta.max_timestamp for s in view.segments if s.meta.max_timestamp is not None]
            if not stamps:
                return at(-1)
            timestamp = max(stamps)
        elif timestamp < 0:
            return ListOffsetsPartitionResponse(partition_index=partition, error_code=ErrorCode.INVALID_REQUEST)
        found = await broker.reader.offset_for_timestamp(topic, partition, timestamp)
    except ShadowReplicaError as e:
        if isinstance(e, CorruptData):
            log.warning("ListOffsets %s/%d at %d: %s", topic, partition, timestamp, e.message)
        return ListOffsetsPartitionResponse(partition_index=partition, error_code=kafka_code(e))
    if found is None:
        return ListOffsetsPartitionResponse(partition_index=partition)
    offset, ts = found
    return at(offset, ts)


def _one_consumer_offsets(broker: Broker, partition: int, timestamp: int) -> ListOffsetsPartitionResponse:
    log_ = broker.consumer_offsets
    assert log_ is not None
    if not 0 <= partition < log_.partitions:
        return ListOffsetsPartitionResponse(partition_index=partition, error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    start, end = log_.log_start_offset(partition), log_.high_watermark(partition)
    if timestamp in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP):
        return ListOffsetsPartitionResponse(partition_index=partition, offset=start, leader_epoch=0)
    if timestamp == LATEST_TIMESTAMP:
        return ListOffsetsPartitionResponse(partition_index=partition, offset=end, leader_epoch=0)
    if timestamp < 0:
        return ListOffsetsPartitionResponse(partition_index=partition, offset=end - 1 if end > start else -1,
                                            leader_epoch=0)
    found = log_.offset_for_timestamp(partition, timestamp)
    if found is None:
        return ListOffsetsPartitionResponse(partition_index=partition)
    return ListOffsetsPartitionResponse(partition_index=partition, offset=found[0], timestamp=found[1], leader_epoch=0)


async def handle_list_offsets(broker: Broker, session: Session, request: Request[ListOffsetsRequest]
                              ) -> ListOffsetsResponse:
    topics = []
    for t in request.body.topics:
        internal = t.name == CONSUMER_OFFSETS and broker.consumer_offsets is not None
        if not (broker.auth.may_see_consumer_offsets(session.principal) if internal
                else broker.auth.may_read_topic(session.principal, t.name)):
            parts = [ListOffsetsPartitionResponse(partition_index=p.partition_index,
                                                  error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED)
                     for p in t.partitions]
        else:
            parts = list(await asyncio.gather(*(_one(broker, t.name, p.partition_index, p.timestamp,
                                                     p.current_leader_epoch, request.header.api_version)
                                                for p in t.partitions)))
        topics.append(ListOffsetsTopicResponse(name=t.name, partitions=tuple(parts)))
    return ListOffsetsResponse(topics=tuple(topics))
