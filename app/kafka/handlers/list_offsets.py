"""ListOffsets: earliest (-2), latest (-1) from the manifests, by timestamp through the reader.

A timestamp lookup reads only what the manifests' segment timestamps and the segment's ``.index`` point
at (:meth:`PartitionReader.offset_for_timestamp`), never the whole partition. No match answers offset
-1 / timestamp -1, as Kafka does. The last stable offset equals the high watermark (no transaction is
ever open in a replica), so read_committed gets the same "latest".
"""

from __future__ import annotations

import asyncio
import logging

from app.errors import CorruptData, ShadowReplicaError, kafka_code
from app.kafka.handlers._base import Broker, Session
from app.kafka.handlers.metadata import LEADER_EPOCH
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

log = logging.getLogger(__name__)


async def _one(broker: Broker, topic: str, partition: int, timestamp: int) -> ListOffsetsPartitionResponse:
    try:
        view = broker.catalog.partition(topic, partition)
        if timestamp == EARLIEST_TIMESTAMP:
            return ListOffsetsPartitionResponse(partition_index=partition, offset=view.log_start_offset,
                                                leader_epoch=LEADER_EPOCH)
        if timestamp == LATEST_TIMESTAMP:
            return ListOffsetsPartitionResponse(partition_index=partition, offset=view.high_watermark,
                                                leader_epoch=LEADER_EPOCH)
        if timestamp < 0:
            return ListOffsetsPartitionResponse(partition_index=partition, error_code=ErrorCode.INVALID_REQUEST)
        found = await broker.reader.offset_for_timestamp(topic, partition, timestamp)
    except ShadowReplicaError as e:
        if isinstance(e, CorruptData):
            log.warning("ListOffsets %s/%d at %d: %s", topic, partition, timestamp, e.message)
        return ListOffsetsPartitionResponse(partition_index=partition, error_code=kafka_code(e))
    if found is None:
        return ListOffsetsPartitionResponse(partition_index=partition, leader_epoch=LEADER_EPOCH)
    offset, ts = found
    return ListOffsetsPartitionResponse(partition_index=partition, timestamp=ts, offset=offset,
                                        leader_epoch=LEADER_EPOCH)


async def handle_list_offsets(broker: Broker, session: Session, request: Request[ListOffsetsRequest]
                              ) -> ListOffsetsResponse:
    topics = []
    for t in request.body.topics:
        if not broker.auth.may_read_topic(session.principal, t.name):
            parts = [ListOffsetsPartitionResponse(partition_index=p.partition_index,
                                                  error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED)
                     for p in t.partitions]
        else:
            parts = list(await asyncio.gather(*(_one(broker, t.name, p.partition_index, p.timestamp)
                                                for p in t.partitions)))
        topics.append(ListOffsetsTopicResponse(name=t.name, partitions=tuple(parts)))
    return ListOffsetsResponse(topics=tuple(topics))
