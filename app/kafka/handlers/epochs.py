"""OffsetForLeaderEpoch (v2-4): the end offset of a leader epoch, from the segments' terms.

A consumer asks after it sees a newer leader epoch in Metadata (librdkafka) or to validate its position
(Java): per partition, the ``current_leader_epoch`` check (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH),
then :func:`app.kafka.epochs.end_offset_for_epoch`. TOPIC_AUTHORIZATION_FAILED without a read ACL,
UNKNOWN_TOPIC_OR_PARTITION for a partition the replica does not have, NOT_LEADER_OR_FOLLOWER for one
another instance leads (``--peers``), as for Fetch.
"""

from __future__ import annotations

from app.errors import NotFound
from app.kafka.epochs import check_current_epoch, end_offset_for_epoch
from app.kafka.handlers._base import Broker, Session
from app.kafka.protocol import (
    EpochEndOffset,
    ErrorCode,
    OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
    OffsetForLeaderTopicResult,
    Request,
)

__all__ = ["handle_offset_for_leader_epoch"]


def _one(broker: Broker, session: Session, topic: str, partition: int, current: int, requested: int
         ) -> EpochEndOffset:
    if not broker.auth.may_read_topic(session.principal, topic):
        return EpochEndOffset(partition=partition, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED)
    try:
        view = broker.catalog.partition(topic, partition)
    except NotFound:
        return EpochEndOffset(partition=partition, error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    if broker.cluster.leader(topic, partition) != broker.cluster.me:
        return EpochEndOffset(partition=partition, error_code=ErrorCode.NOT_LEADER_OR_FOLLOWER)
    fenced = check_current_epoch(view, current)
    if fenced:
        return EpochEndOffset(partition=partition, error_code=fenced)
    epoch, end = end_offset_for_epoch(view, requested)
    return EpochEndOffset(partition=partition, leader_epoch=epoch, end_offset=end)


async def handle_offset_for_leader_epoch(broker: Broker, session: Session,
                                         request: Request[OffsetForLeaderEpochRequest]
                                         ) -> OffsetForLeaderEpochResponse:
    return OffsetForLeaderEpochResponse(topics=tuple(
        OffsetForLeaderTopicResult(topic=t.topic, partitions=tuple(
            _one(broker, session, t.topic, p.partition, p.current_leader_epoch, p.leader_epoch) for p in t.partitions))
        for t in request.body.topics))
