"""Metadata: every ``serve`` instance as a broker, partition leaders by rendezvous hash, ACL-filtered topics.

* ``topics`` null (v1+; an empty list in v0) means every topic the principal may read; ``[]`` means none
  (brokers only). A requested topic that does not exist answers UNKNOWN_TOPIC_OR_PARTITION, one the
  principal may not read TOPIC_AUTHORIZATION_FAILED (existence is not revealed); auto-creation is ignored.
* A partition's leader epoch is its latest term (:mod:`app.kafka.epochs`), the epoch of the batches it
  serves last; a client that sees it grow validates its position with OffsetForLeaderEpoch. The only
  replica of a partition is its leader. Topic ids (v10+) are outside the served window; when it grows,
  ``TopicView.topic_id`` is the stable id to send.
* ``__consumer_offsets`` (internal) is listed for principals that may use some group.
"""

from __future__ import annotations

from app.kafka.epochs import latest_epoch
from app.kafka.handlers._base import Broker, Session
from app.kafka.protocol import (
    AUTHORIZED_OPERATIONS_OMITTED,
    ErrorCode,
    MetadataRequest,
    MetadataResponse,
    MetadataResponseBroker,
    MetadataResponsePartition,
    MetadataResponseTopic,
    Request,
)
from app.kafka.protocol.consumer_offsets import CONSUMER_OFFSETS

# Kafka AclOperation bits: READ (3) and DESCRIBE (8): all a principal can do on a read-only topic
READ_DESCRIBE_OPERATIONS = (1 << 3) | (1 << 8)


def _internal_topic(broker: Broker, include_ops: bool) -> MetadataResponseTopic:
    """``__consumer_offsets`` (:mod:`app.kafka.consumer_offsets`): internal, epoch 0, led like any topic."""
    log = broker.consumer_offsets
    assert log is not None
    partitions = []
    for p in range(log.partitions):
        leader = broker.cluster.leader(CONSUMER_OFFSETS, p).node_id
        partitions.append(MetadataResponsePartition(partition_index=p, leader_id=leader, leader_epoch=0,
                                                    replica_nodes=(leader,), isr_nodes=(leader,)))
    return MetadataResponseTopic(
        name=CONSUMER_OFFSETS, is_internal=True, partitions=tuple(partitions),
        topic_authorized_operations=READ_DESCRIBE_OPERATIONS if include_ops else AUTHORIZED_OPERATIONS_OMITTED)


def _topic(broker: Broker, name: str, include_ops: bool) -> MetadataResponseTopic:
    if name == CONSUMER_OFFSETS and broker.consumer_offsets is not None:
        return _internal_topic(broker, include_ops)
    view = broker.catalog.topics.get(name)
    if view is None:
        return MetadataResponseTopic(error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name=name)
    partitions = []
    for p in sorted(view.partitions):
        leader = broker.cluster.leader(name, p).node_id
        partitions.append(MetadataResponsePartition(partition_index=p, leader_id=leader,
                                                    leader_epoch=latest_epoch(view.partitions[p]),
                                                    replica_nodes=(leader,), isr_nodes=(leader,)))
    return MetadataResponseTopic(
        name=name, partitions=tuple(partitions),
        topic_authorized_operations=READ_DESCRIBE_OPERATIONS if include_ops else AUTHORIZED_OPERATIONS_OMITTED,
    )


async def handle_metadata(broker: Broker, session: Session, request: Request[MetadataRequest]) -> MetadataResponse:
    req = request.body
    auth = broker.auth
    include_ops = req.include_topic_authorized_operations
    if req.topics is None:
        names = sorted(n for n in broker.catalog.topics if auth.may_read_topic(session.principal, n))
        if broker.consumer_offsets is not None and auth.may_see_consumer_offsets(session.principal):
            names.append(CONSUMER_OFFSETS)
        topics = [_topic(broker, n, include_ops) for n in names]
    else:
        topics = []
        for t in req.topics:
            if t.name is None:  # asked for by topic id (v10+): the replica has no topic ids
                topics.append(MetadataResponseTopic(error_code=ErrorCode.UNKNOWN_TOPIC_ID, topic_id=t.topic_id,
                                                    name=None if request.header.api_version >= 12 else ""))
                continue
            if t.name == CONSUMER_OFFSETS and broker.consumer_offsets is not None:
                allowed = auth.may_see_consumer_offsets(session.principal)
            else:
                allowed = auth.may_read_topic(session.principal, t.name)
            if not allowed:
                topics.append(MetadataResponseTopic(error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED, name=t.name))
            else:
                topics.append(_topic(broker, t.name, include_ops))
    return MetadataResponse(
        brokers=tuple(MetadataResponseBroker(node_id=n.node_id, host=n.host, port=n.port)
                      for n in broker.cluster.nodes),
        cluster_id=broker.cluster_id,
        controller_id=broker.cluster.nodes[0].node_id,
        topics=tuple(topics),
    )
