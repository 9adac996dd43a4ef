"""Metadata (key 3), versions 0-12 (v9 is the first flexible one: the same fields, compact, with tags).

Request: ``topics`` null means "all topics" (v1+); ``[]`` means "no topics, brokers only". In v0 an
empty list meant "all topics": the decoder reports that as ``None`` too, so ``topics is None`` reads
the same in every version.

Response field history: v1 rack, controller_id, is_internal; v2 cluster_id; v3 throttle_time_ms;
v5 offline_replicas; v7 leader_epoch; v8 topic_authorized_operations and (v8-10)
cluster_authorized_operations, both ``-2**31`` when not requested; v10 topic ids (request topics may name a
topic by id only, with a null name; the shim has no topic ids and answers the zero UUID, as Kafka does for
a topic without one); v12 a topic's name may be null in the response (a topic asked for by an unknown id).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from ._schema import ZERO_UUID, Bool, Int16, Int32, String, Uuid, Versions, message
from .errors import ErrorCode

__all__ = [
    "AUTHORIZED_OPERATIONS_OMITTED",
    "MetadataRequest",
    "MetadataRequestTopic",
    "MetadataResponse",
    "MetadataResponseBroker",
    "MetadataResponsePartition",
    "MetadataResponseTopic",
]

AUTHORIZED_OPERATIONS_OMITTED = -(2**31)
"""The ``*_authorized_operations`` value meaning "not requested"."""


@message
class MetadataRequestTopic:
    topic_id: Annotated[Uuid, Versions(since=10)] = ZERO_UUID
    name: Annotated[String | None, Versions(nullable_since=10)]


@message
class MetadataRequest:
    topics: Annotated[tuple[MetadataRequestTopic, ...] | None, Versions(nullable_since=1, empty_is_null_until=0)] = None
    allow_auto_topic_creation: Annotated[Bool, Versions(since=4)] = True
    include_cluster_authorized_operations: Annotated[Bool, Versions(since=8, until=10)] = False
    include_topic_authorized_operations: Annotated[Bool, Versions(since=8)] = False


@message
class MetadataResponseBroker:
    node_id: Int32
    host: String
    port: Int32
    rack: Annotated[String | None, Versions(since=1, nullable_since=1)] = None


@message
class MetadataResponsePartition:
    error_code: Int16 = ErrorCode.NONE
    partition_index: Int32
    leader_id: Int32
    leader_epoch: Annotated[Int32, Versions(since=7)] = -1
    replica_nodes: Sequence[Int32] = ()
    isr_nodes: Sequence[Int32] = ()
    offline_replicas: Annotated[Sequence[Int32], Versions(since=5)] = ()


@message
class MetadataResponseTopic:
    error_code: Int16 = ErrorCode.NONE
    name: Annotated[String | None, Versions(nullable_since=12)]
    topic_id: Annotated[Uuid, Versions(since=10)] = ZERO_UUID
    is_internal: Annotated[Bool, Versions(since=1)] = False
    partitions: Sequence[MetadataResponsePartition] = ()
    topic_authorized_operations: Annotated[Int32, Versions(since=8)] = AUTHORIZED_OPERATIONS_OMITTED


@message
class MetadataResponse:
    throttle_time_ms: Annotated[Int32, Versions(since=3)] = 0
    brokers: Sequence[MetadataResponseBroker] = ()
    cluster_id: Annotated[String | None, Versions(since=2, nullable_since=2)] = None
    controller_id: Annotated[Int32, Versions(since=1)] = -1
    topics: Sequence[MetadataResponseTopic] = ()
    cluster_authorized_operations: Annotated[Int32, Versions(since=8, until=10)] = AUTHORIZED_OPERATIONS_OMITTED


