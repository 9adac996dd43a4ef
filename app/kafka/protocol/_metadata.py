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
from dataclasses import dataclass

from ._schema import BOOL, INT16, INT32, STRING, UUID, ZERO_UUID, Array, Field, Struct
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


@dataclass(frozen=True, slots=True, kw_only=True)
class MetadataRequestTopic:
    name: str | None
    topic_id: bytes = ZERO_UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class MetadataRequest:
    topics: tuple[MetadataRequestTopic, ...] | None = None
    allow_auto_topic_creation: bool = True
    include_cluster_authorized_operations: bool = False
    include_topic_authorized_operations: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MetadataResponseBroker:
    node_id: int
    host: str
    port: int
    rack: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MetadataResponsePartition:
    error_code: int = ErrorCode.NONE
    partition_index: int
    leader_id: int
    leader_epoch: int = -1
    replica_nodes: Sequence[int] = ()
    isr_nodes: Sequence[int] = ()
    offline_replicas: Sequence[int] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MetadataResponseTopic:
    error_code: int = ErrorCode.NONE
    name: str | None
    topic_id: bytes = ZERO_UUID
    is_internal: bool = False
    partitions: Sequence[MetadataResponsePartition] = ()
    topic_authorized_operations: int = AUTHORIZED_OPERATIONS_OMITTED


@dataclass(frozen=True, slots=True, kw_only=True)
class MetadataResponse:
    throttle_time_ms: int = 0
    brokers: Sequence[MetadataResponseBroker] = ()
    cluster_id: str | None = None
    controller_id: int = -1
    topics: Sequence[MetadataResponseTopic] = ()
    cluster_authorized_operations: int = AUTHORIZED_OPERATIONS_OMITTED


METADATA_REQUEST = Struct(
    MetadataRequest,
    Field(
        "topics",
        Array(Struct(MetadataRequestTopic, Field("topic_id", UUID, since=10),
                     Field("name", STRING, nullable_since=10))),
        nullable_since=1,
        empty_is_null_until=0,
    ),
    Field("allow_auto_topic_creation", BOOL, since=4),
    Field("include_cluster_authorized_operations", BOOL, since=8, until=10),
    Field("include_topic_authorized_operations", BOOL, since=8),
)

METADATA_RESPONSE = Struct(
    MetadataResponse,
    Field("throttle_time_ms", INT32, since=3),
    Field(
        "brokers",
        Array(
            Struct(
                MetadataResponseBroker,
                Field("node_id", INT32),
                Field("host", STRING),
                Field("port", INT32),
                Field("rack", STRING, since=1, nullable_since=1),
            )
        ),
    ),
    Field("cluster_id", STRING, since=2, nullable_since=2),
    Field("controller_id", INT32, since=1),
    Field(
        "topics",
        Array(
            Struct(
                MetadataResponseTopic,
                Field("error_code", INT16),
                Field("name", STRING, nullable_since=12),
                Field("topic_id", UUID, since=10),
                Field("is_internal", BOOL, since=1),
                Field(
                    "partitions",
                    Array(
                        Struct(
                            MetadataResponsePartition,
                            Field("error_code", INT16),
                            Field("partition_index", INT32),
                            Field("leader_id", INT32),
                            Field("leader_epoch", INT32, since=7),
                            Field("replica_nodes", Array(INT32)),
                            Field("isr_nodes", Array(INT32)),
                            Field("offline_replicas", Array(INT32), since=5),
                        )
                    ),
                ),
                Field("topic_authorized_operations", INT32, since=8),
            )
        ),
    ),
    Field("cluster_authorized_operations", INT32, since=8, until=10),
)
