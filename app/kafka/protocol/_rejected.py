"""Write and admin APIs a read-only replica refuses, with the answer Kafka gives an unauthorized
principal: every item fails with its authorization error.

=========================  ========  ================================================================
API (key)                  versions  answer per item
=========================  ========  ================================================================
InitProducerId (22)        0-1       CLUSTER_AUTHORIZATION_FAILED (31); TRANSACTIONAL_ID_AUTHORIZATION_
                                     FAILED (53) when a transactional_id is given
CreateTopics (19)          2-4       TOPIC_AUTHORIZATION_FAILED (29) per topic, with a message (v1+)
DeleteTopics (20)          1-3       TOPIC_AUTHORIZATION_FAILED (29) per topic
DeleteRecords (21)         0-1       TOPIC_AUTHORIZATION_FAILED (29) per partition, low_watermark -1
CreatePartitions (37)      0-1       TOPIC_AUTHORIZATION_FAILED (29) per topic, with a message
AlterConfigs (33)          0-1       per resource: TOPIC 29, GROUP 30, BROKER/other 31, with a message
IncrementalAlterConfigs    0         as AlterConfigs
(44)
DeleteGroups (42)          0-1       GROUP_AUTHORIZATION_FAILED (30) per group
=========================  ========  ================================================================

The windows are the non-flexible versions Kafka 4 still accepts. None of these is advertised by
default (clients then fail locally, kafka-shim.md §4); :func:`reject` exists for tools that send
them anyway, and for a shell that chooses to advertise them (``REJECTED_VERSIONS``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._rejected_configs import (
    AlterConfigsRequest,
    AlterConfigsResource,
    AlterConfigsResourceResponse,
    AlterConfigsResponse,
    DeletableGroupResult,
    DeleteGroupsRequest,
    DeleteGroupsResponse,
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResource,
)
from ._schema import BOOL, INT16, INT32, INT64, STRING, Array, Field, Struct
from .errors import ErrorCode

__all__ = [
    "CreatableReplicaAssignment",
    "CreatableTopic",
    "CreatableTopicConfig",
    "CreatableTopicResult",
    "CreatePartitionsAssignment",
    "CreatePartitionsRequest",
    "CreatePartitionsResponse",
    "CreatePartitionsTopic",
    "CreatePartitionsTopicResult",
    "CreateTopicsRequest",
    "CreateTopicsResponse",
    "DeletableTopicResult",
    "DeleteRecordsPartition",
    "DeleteRecordsPartitionResult",
    "DeleteRecordsRequest",
    "DeleteRecordsResponse",
    "DeleteRecordsTopic",
    "DeleteRecordsTopicResult",
    "DeleteTopicsRequest",
    "DeleteTopicsResponse",
    "InitProducerIdRequest",
    "InitProducerIdResponse",
]

READ_ONLY_MESSAGE = "this cluster is a read-only replica"

CONFIG_RESOURCE_TOPIC = 2
CONFIG_RESOURCE_GROUP = 32


# -- InitProducerId ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class InitProducerIdRequest:
    transactional_id: str | None = None
    transaction_timeout_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class InitProducerIdResponse:
    throttle_time_ms: int = 0
    error_code: int = ErrorCode.NONE
    producer_id: int = -1
    producer_epoch: int = -1


INIT_PRODUCER_ID_REQUEST = Struct(
    InitProducerIdRequest,
    Field("transactional_id", STRING, nullable_since=0),
    Field("transaction_timeout_ms", INT32),
)

INIT_PRODUCER_ID_RESPONSE = Struct(
    InitProducerIdResponse,
    Field("throttle_time_ms", INT32),
    Field("error_code", INT16),
    Field("producer_id", INT64),
    Field("producer_epoch", INT16),
)


# -- CreateTopics -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatableReplicaAssignment:
    partition_index: int
    broker_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatableTopicConfig:
    name: str
    value: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatableTopic:
    name: str
    num_partitions: int
    replication_factor: int
    assignments: tuple[CreatableReplicaAssignment, ...]
    configs: tuple[CreatableTopicConfig, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateTopicsRequest:
    topics: tuple[CreatableTopic, ...]
    timeout_ms: int
    validate_only: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatableTopicResult:
    name: str
    error_code: int = ErrorCode.NONE
    error_message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateTopicsResponse:
    throttle_time_ms: int = 0
    topics: Sequence[CreatableTopicResult]


CREATE_TOPICS_REQUEST = Struct(
    CreateTopicsRequest,
    Field(
        "topics",
        Array(
            Struct(
                CreatableTopic,
                Field("name", STRING),
                Field("num_partitions", INT32),
                Field("replication_factor", INT16),
                Field(
                    "assignments",
                    Array(
                        Struct(
                            CreatableReplicaAssignment,
                            Field("partition_index", INT32),
                            Field("broker_ids", Array(INT32)),
                        )
                    ),
                ),
                Field(
                    "configs",
                    Array(Struct(CreatableTopicConfig, Field("name", STRING), Field("value", STRING, nullable_since=0))),
                ),
            )
        ),
    ),
    Field("timeout_ms", INT32),
    Field("validate_only", BOOL, since=1),
)

CREATE_TOPICS_RESPONSE = Struct(
    CreateTopicsResponse,
    Field("throttle_time_ms", INT32, since=2),
    Field(
        "topics",
        Array(
            Struct(
                CreatableTopicResult,
                Field("name", STRING),
                Field("error_code", INT16),
                Field("error_message", STRING, since=1, nullable_since=0),
            )
        ),
    ),
)


# -- DeleteTopics -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteTopicsRequest:
    topic_names: tuple[str, ...]
    timeout_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeletableTopicResult:
    name: str
    error_code: int = ErrorCode.NONE


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteTopicsResponse:
    throttle_time_ms: int = 0
    responses: Sequence[DeletableTopicResult]


DELETE_TOPICS_REQUEST = Struct(
    DeleteTopicsRequest,
    Field("topic_names", Array(STRING)),
    Field("timeout_ms", INT32),
)

DELETE_TOPICS_RESPONSE = Struct(
    DeleteTopicsResponse,
    Field("throttle_time_ms", INT32, since=1),
    Field("responses", Array(Struct(DeletableTopicResult, Field("name", STRING), Field("error_code", INT16)))),
)


# -- DeleteRecords ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRecordsPartition:
    partition_index: int
    offset: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRecordsTopic:
    name: str
    partitions: tuple[DeleteRecordsPartition, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRecordsRequest:
    topics: tuple[DeleteRecordsTopic, ...]
    timeout_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRecordsPartitionResult:
    partition_index: int
    low_watermark: int = -1
    error_code: int = ErrorCode.NONE


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRecordsTopicResult:
    name: str
    partitions: Sequence[DeleteRecordsPartitionResult]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRecordsResponse:
    throttle_time_ms: int = 0
    topics: Sequence[DeleteRecordsTopicResult]


DELETE_RECORDS_REQUEST = Struct(
    DeleteRecordsRequest,
    Field(
        "topics",
        Array(
            Struct(
                DeleteRecordsTopic,
                Field("name", STRING),
                Field(
                    "partitions",
                    Array(Struct(DeleteRecordsPartition, Field("partition_index", INT32), Field("offset", INT64))),
                ),
            )
        ),
    ),
    Field("timeout_ms", INT32),
)

DELETE_RECORDS_RESPONSE = Struct(
    DeleteRecordsResponse,
    Field("throttle_time_ms", INT32),
    Field(
        "topics",
        Array(
            Struct(
                DeleteRecordsTopicResult,
                Field("name", STRING),
                Field(
                    "partitions",
                    Array(
                        Struct(
                            DeleteRecordsPartitionResult,
                            Field("partition_index", INT32),
                            Field("low_watermark", INT64),
                            Field("error_code", INT16),
                        )
                    ),
                ),
            )
        ),
    ),
)


# -- CreatePartitions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatePartitionsAssignment:
    broker_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatePartitionsTopic:
    name: str
    count: int
    assignments: tuple[CreatePartitionsAssignment, ...] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatePartitionsRequest:
    topics: tuple[CreatePartitionsTopic, ...]
    timeout_ms: int
    validate_only: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatePartitionsTopicResult:
    name: str
    error_code: int = ErrorCode.NONE
    error_message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatePartitionsResponse:
    throttle_time_ms: int = 0
    results: Sequence[CreatePartitionsTopicResult]


CREATE_PARTITIONS_REQUEST = Struct(
    CreatePartitionsRequest,
    Field(
        "topics",
        Array(
            Struct(
                CreatePartitionsTopic,
                Field("name", STRING),
                Field("count", INT32),
                Field(
                    "assignments",
                    Array(Struct(CreatePartitionsAssignment, Field("broker_ids", Array(INT32)))),
                    nullable_since=0,
                ),
            )
        ),
    ),
    Field("timeout_ms", INT32),
    Field("validate_only", BOOL),
)

CREATE_PARTITIONS_RESPONSE = Struct(
    CreatePartitionsResponse,
    Field("throttle_time_ms", INT32),
    Field(
        "results",
        Array(
            Struct(
                CreatePartitionsTopicResult,
                Field("name", STRING),
                Field("error_code", INT16),
                Field("error_message", STRING, nullable_since=0),
            )
        ),
    ),
)


# -- the answers ------------------------------------------------------------------------------------

_TOPIC_DENIED = ErrorCode.TOPIC_AUTHORIZATION_FAILED
_CONFIG_DENIED = {CONFIG_RESOURCE_TOPIC: _TOPIC_DENIED, CONFIG_RESOURCE_GROUP: ErrorCode.GROUP_AUTHORIZATION_FAILED}


def _config_denied(resource_type: int) -> ErrorCode:
    return _CONFIG_DENIED.get(resource_type, ErrorCode.CLUSTER_AUTHORIZATION_FAILED)


def _reject_init_producer_id(request: InitProducerIdRequest) -> InitProducerIdResponse:
    if request.transactional_id is not None:
        return InitProducerIdResponse(error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    return InitProducerIdResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED)


def _reject_create_topics(request: CreateTopicsRequest) -> CreateTopicsResponse:
    return CreateTopicsResponse(
        topics=tuple(
            CreatableTopicResult(name=t.name, error_code=_TOPIC_DENIED, error_message=READ_ONLY_MESSAGE)
            for t in request.topics
        )
    )


def _reject_delete_topics(request: DeleteTopicsRequest) -> DeleteTopicsResponse:
    return DeleteTopicsResponse(
        responses=tuple(DeletableTopicResult(name=name, error_code=_TOPIC_DENIED) for name in request.topic_names)
    )


def _reject_delete_records(request: DeleteRecordsRequest) -> DeleteRecordsResponse:
    return DeleteRecordsResponse(
        topics=tuple(
            DeleteRecordsTopicResult(
                name=t.name,
                partitions=tuple(
                    DeleteRecordsPartitionResult(partition_index=p.partition_index, error_code=_TOPIC_DENIED)
                    for p in t.partitions
                ),
            )
            for t in request.topics
        )
    )


def _reject_create_partitions(request: CreatePartitionsRequest) -> CreatePartitionsResponse:
    return CreatePartitionsResponse(
        results=tuple(
            CreatePartitionsTopicResult(name=t.name, error_code=_TOPIC_DENIED, error_message=READ_ONLY_MESSAGE)
            for t in request.topics
        )
    )


def _reject_alter_configs(request: AlterConfigsRequest | IncrementalAlterConfigsRequest) -> AlterConfigsResponse:
    resources: Sequence[AlterConfigsResource | IncrementalAlterConfigsResource] = request.resources
    return AlterConfigsResponse(
        responses=tuple(
            AlterConfigsResourceResponse(
                error_code=_config_denied(r.resource_type),
                error_message=READ_ONLY_MESSAGE,
                resource_type=r.resource_type,
                resource_name=r.resource_name,
            )
            for r in resources
        )
    )


def _reject_delete_groups(request: DeleteGroupsRequest) -> DeleteGroupsResponse:
    return DeleteGroupsResponse(
        results=tuple(
            DeletableGroupResult(group_id=g, error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
            for g in request.groups_names
        )
    )


REJECTORS: dict[type[Any], Callable[[Any], Any]] = {  # request type -> its refusal
    InitProducerIdRequest: _reject_init_producer_id,
    CreateTopicsRequest: _reject_create_topics,
    DeleteTopicsRequest: _reject_delete_topics,
    DeleteRecordsRequest: _reject_delete_records,
    CreatePartitionsRequest: _reject_create_partitions,
    AlterConfigsRequest: _reject_alter_configs,
    IncrementalAlterConfigsRequest: _reject_alter_configs,
    DeleteGroupsRequest: _reject_delete_groups,
}
