"""The read-only admin APIs tools call when they list and describe topics (field tables from Apache Kafka's
message JSON; the served windows are the versions Kafka 3.9 and 4.x brokers both serve):

=========================  ========  ==========  ==============================================================
API (key)                  versions  flexible    fields by version
=========================  ========  ==========  ==============================================================
DescribeConfigs (32)       1-4       4+          v1 include_synonyms, config_source, synonyms; v3
                                                 include_documentation, config_type, documentation
DescribeLogDirs (35)       1-4       2+          v3 top-level error_code; v4 total_bytes, usable_bytes
DescribeCluster (60)       0-1       always      v1 endpoint_type
DescribeProducers (61)     0         always
DescribeAcls (29)          1-3       2+          v1 pattern types
OffsetForLeaderEpoch (23)  2-4       4+          v3 replica_id
=========================  ========  ==========  ==============================================================

No served field is tagged: a flexible struct ends with an empty tag section, and unknown tags a client
sends are skipped (:mod:`._schema`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from ._schema import Bool, Int8, Int16, Int32, Int64, String, Versions, message
from .errors import ErrorCode

__all__ = [
    "AclDescription",
    "DescribableLogDirTopic",
    "DescribeAclsRequest",
    "DescribeAclsResource",
    "DescribeAclsResponse",
    "DescribeClusterBroker",
    "DescribeClusterRequest",
    "DescribeClusterResponse",
    "DescribeConfigsRequest",
    "DescribeConfigsResource",
    "DescribeConfigsResourceResult",
    "DescribeConfigsResponse",
    "DescribeConfigsResult",
    "DescribeConfigsSynonym",
    "DescribeLogDirsPartition",
    "DescribeLogDirsRequest",
    "DescribeLogDirsResponse",
    "DescribeLogDirsResult",
    "DescribeLogDirsTopic",
    "DescribeProducersRequest",
    "DescribeProducersResponse",
    "EpochEndOffset",
    "OffsetForLeaderEpochRequest",
    "OffsetForLeaderEpochResponse",
    "OffsetForLeaderPartition",
    "OffsetForLeaderTopic",
    "OffsetForLeaderTopicResult",
    "ProducerState",
    "ProducersPartitionResponse",
    "ProducersTopicRequest",
    "ProducersTopicResponse",
]

# -------------------------------------------------------------------------------------- DescribeConfigs


@message
class DescribeConfigsResource:
    resource_type: Int8  # 2 topic, 4 broker, 8 broker logger (ConfigResource.Type)
    resource_name: String
    configuration_keys: tuple[String, ...] | None = None  # None: every config


@message
class DescribeConfigsRequest:
    resources: tuple[DescribeConfigsResource, ...]
    include_synonyms: Annotated[Bool, Versions(since=1)] = False
    include_documentation: Annotated[Bool, Versions(since=3)] = False


@message
class DescribeConfigsSynonym:
    name: String
    value: String | None
    source: Int8


@message
class DescribeConfigsResourceResult:
    name: String
    value: String | None
    read_only: Bool = True
    config_source: Annotated[Int8, Versions(since=1)] = -1
    is_sensitive: Bool = False
    synonyms: Annotated[Sequence[DescribeConfigsSynonym], Versions(since=1)] = ()
    config_type: Annotated[Int8, Versions(since=3)] = 0
    documentation: Annotated[String | None, Versions(since=3)] = None


@message
class DescribeConfigsResult:
    error_code: Int16 = ErrorCode.NONE
    error_message: String | None = None
    resource_type: Int8
    resource_name: String
    configs: Sequence[DescribeConfigsResourceResult] = ()


@message
class DescribeConfigsResponse:
    throttle_time_ms: Int32 = 0
    results: Sequence[DescribeConfigsResult]


# -------------------------------------------------------------------------------------- DescribeLogDirs


@message
class DescribableLogDirTopic:
    topic: String
    partitions: tuple[Int32, ...]


@message
class DescribeLogDirsRequest:
    topics: tuple[DescribableLogDirTopic, ...] | None  # None: every partition


@message
class DescribeLogDirsPartition:
    partition_index: Int32
    partition_size: Int64
    offset_lag: Int64 = 0
    is_future_key: Bool = False


@message
class DescribeLogDirsTopic:
    name: String
    partitions: Sequence[DescribeLogDirsPartition]


@message
class DescribeLogDirsResult:
    error_code: Int16 = ErrorCode.NONE
    log_dir: String
    topics: Sequence[DescribeLogDirsTopic] = ()
    total_bytes: Annotated[Int64, Versions(since=4)] = -1
    usable_bytes: Annotated[Int64, Versions(since=4)] = -1


@message
class DescribeLogDirsResponse:
    throttle_time_ms: Int32 = 0
    error_code: Annotated[Int16, Versions(since=3)] = ErrorCode.NONE
    results: Sequence[DescribeLogDirsResult] = ()


# -------------------------------------------------------------------------------------- DescribeCluster


@message
class DescribeClusterRequest:
    include_cluster_authorized_operations: Bool = False
    endpoint_type: Annotated[Int8, Versions(since=1)] = 1  # 1 brokers, 2 controllers


@message
class DescribeClusterBroker:
    broker_id: Int32
    host: String
    port: Int32
    rack: String | None = None


@message
class DescribeClusterResponse:
    throttle_time_ms: Int32 = 0
    error_code: Int16 = ErrorCode.NONE
    error_message: String | None = None
    endpoint_type: Annotated[Int8, Versions(since=1)] = 1
    cluster_id: String
    controller_id: Int32 = -1
    brokers: Sequence[DescribeClusterBroker] = ()
    cluster_authorized_operations: Int32 = -(2**31)


# ------------------------------------------------------------------------------------ DescribeProducers


@message
class ProducersTopicRequest:
    name: String
    partition_indexes: tuple[Int32, ...]


@message
class DescribeProducersRequest:
    topics: tuple[ProducersTopicRequest, ...]


@message
class ProducerState:
    producer_id: Int64
    producer_epoch: Int32
    last_sequence: Int32 = -1
    last_timestamp: Int64 = -1
    coordinator_epoch: Int32 = 0
    current_txn_start_offset: Int64 = -1


@message
class ProducersPartitionResponse:
    partition_index: Int32
    error_code: Int16 = ErrorCode.NONE
    error_message: String | None = None
    active_producers: Sequence[ProducerState] = ()


@message
class ProducersTopicResponse:
    name: String
    partitions: Sequence[ProducersPartitionResponse]


@message
class DescribeProducersResponse:
    throttle_time_ms: Int32 = 0
    topics: Sequence[ProducersTopicResponse] = ()


# ----------------------------------------------------------------------------------------- DescribeAcls


@message
class DescribeAclsRequest:
    resource_type_filter: Int8  # 1 any, 2 topic, 3 group, 4 cluster, ...
    resource_name_filter: String | None = None
    pattern_type_filter: Annotated[Int8, Versions(since=1)] = 3  # 1 any, 2 match, 3 literal, 4 prefixed
    principal_filter: String | None = None
    host_filter: String | None = None
    operation: Int8  # 1 any, 3 read, 8 describe, ...
    permission_type: Int8  # 1 any, 2 deny, 3 allow


@message
class AclDescription:
    principal: String
    host: String
    operation: Int8
    permission_type: Int8


@message
class DescribeAclsResource:
    resource_type: Int8
    resource_name: String
    pattern_type: Annotated[Int8, Versions(since=1)] = 3
    acls: Sequence[AclDescription] = ()


@message
class DescribeAclsResponse:
    throttle_time_ms: Int32 = 0
    error_code: Int16 = ErrorCode.NONE
    error_message: String | None = None
    resources: Sequence[DescribeAclsResource] = ()


# --------------------------------------------------------------------------------- OffsetForLeaderEpoch


@message
class OffsetForLeaderPartition:
    partition: Int32
    current_leader_epoch: Annotated[Int32, Versions(since=2)] = -1
    leader_epoch: Int32


@message
class OffsetForLeaderTopic:
    topic: String
    partitions: tuple[OffsetForLeaderPartition, ...]


@message
class OffsetForLeaderEpochRequest:
    replica_id: Annotated[Int32, Versions(since=3)] = -2  # -1/-2 consumers (v3+); a broker id would be a follower
    topics: tuple[OffsetForLeaderTopic, ...]


@message
class EpochEndOffset:
    error_code: Int16 = ErrorCode.NONE
    partition: Int32
    leader_epoch: Annotated[Int32, Versions(since=1)] = -1
    end_offset: Int64 = -1


@message
class OffsetForLeaderTopicResult:
    topic: String
    partitions: Sequence[EpochEndOffset]


@message
class OffsetForLeaderEpochResponse:
    throttle_time_ms: Annotated[Int32, Versions(since=2)] = 0
    topics: Sequence[OffsetForLeaderTopicResult] = ()


