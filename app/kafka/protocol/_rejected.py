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
from typing import Annotated, Any

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
from ._schema import Bool, Int16, Int32, Int64, String, Versions, message
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


@message
class InitProducerIdRequest:
    transactional_id: String | None = None
    transaction_timeout_ms: Int32


@message
class InitProducerIdResponse:
    throttle_time_ms: Int32 = 0
    error_code: Int16 = ErrorCode.NONE
    producer_id: Int64 = -1
    producer_epoch: Int16 = -1


# -- CreateTopics -----------------------------------------------------------------------------------


@message
class CreatableReplicaAssignment:
    partition_index: Int32
    broker_ids: tuple[Int32, ...]


@message
class CreatableTopicConfig:
    name: String
    value: String | None


@message
class CreatableTopic:
    name: String
    num_partitions: Int32
    replication_factor: Int16
    assignments: tuple[CreatableReplicaAssignment, ...]
    configs: tuple[CreatableTopicConfig, ...]


@message
class CreateTopicsRequest:
    topics: tuple[CreatableTopic, ...]
    timeout_ms: Int32
    validate_only: Annotated[Bool, Versions(since=1)] = False


@message
class CreatableTopicResult:
    name: String
    error_code: Int16 = ErrorCode.NONE
    error_message: Annotated[String | None, Versions(since=1)] = None


@message
class CreateTopicsResponse:
    throttle_time_ms: Annotated[Int32, Versions(since=2)] = 0
    topics: Sequence[CreatableTopicResult]


# -- DeleteTopics -----------------------------------------------------------------------------------


@message
class DeleteTopicsRequest:
    topic_names: tuple[String, ...]
    timeout_ms: Int32


@message
class DeletableTopicResult:
    name: String
    error_code: Int16 = ErrorCode.NONE


@message
class DeleteTopicsResponse:
    throttle_time_ms: Annotated[Int32, Versions(since=1)] = 0
    responses: Sequence[DeletableTopicResult]


# -- DeleteRecords ----------------------------------------------------------------------------------


@message
class DeleteRecordsPartition:
    partition_index: Int32
    offset: Int64


@message
class DeleteRecordsTopic:
    name: String
    partitions: tuple[DeleteRecordsPartition, ...]


@message
class DeleteRecordsRequest:
    topics: tuple[DeleteRecordsTopic, ...]
    timeout_ms: Int32


@message
class DeleteRecordsPartitionResult:
    partition_index: Int32
    low_watermark: Int64 = -1
    error_code: Int16 = ErrorCode.NONE


@message
class DeleteRecordsTopicResult:
    name: String
    partitions: Sequence[DeleteRecordsPartitionResult]


@message
class DeleteRecordsResponse:
    throttle_time_ms: Int32 = 0
    topics: Sequence[DeleteRecordsTopicResult]


# -- CreatePartitions -------------------------------------------------------------------------------


@message
class CreatePartitionsAssignment:
    broker_ids: tuple[Int32, ...]


@message
class CreatePartitionsTopic:
    name: String
    count: Int32
    assignments: tuple[CreatePartitionsAssignment, ...] | None


@message
class CreatePartitionsRequest:
    topics: tuple[CreatePartitionsTopic, ...]
    timeout_ms: Int32
    validate_only: Bool


@message
class CreatePartitionsTopicResult:
    name: String
    error_code: Int16 = ErrorCode.NONE
    error_message: String | None = None


@message
class CreatePartitionsResponse:
    throttle_time_ms: Int32 = 0
    results: Sequence[CreatePartitionsTopicResult]


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
