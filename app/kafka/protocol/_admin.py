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
from dataclasses import dataclass

from ._schema import BOOL, INT8, INT16, INT32, INT64, STRING, Array, Field, Struct
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


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeConfigsResource:
    resource_type: int  # 2 topic, 4 broker, 8 broker logger (ConfigResource.Type)
    resource_name: str
    configuration_keys: tuple[str, ...] | None = None  # None: every config


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeConfigsRequest:
    resources: tuple[DescribeConfigsResource, ...]
    include_synonyms: bool = False
    include_documentation: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeConfigsSynonym:
    name: str
    value: str | None
    source: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeConfigsResourceResult:
    name: str
    value: str | None
    read_only: bool = True
    config_source: int = -1
    is_sensitive: bool = False
    synonyms: Sequence[DescribeConfigsSynonym] = ()
    config_type: int = 0
    documentation: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeConfigsResult:
    error_code: int = ErrorCode.NONE
    error_message: str | None = None
    resource_type: int
    resource_name: str
    configs: Sequence[DescribeConfigsResourceResult] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeConfigsResponse:
    throttle_time_ms: int = 0
    results: Sequence[DescribeConfigsResult]


DESCRIBE_CONFIGS_REQUEST = Struct(
    DescribeConfigsRequest,
    Field("resources", Array(Struct(
        DescribeConfigsResource,
        Field("resource_type", INT8),
        Field("resource_name", STRING),
        Field("configuration_keys", Array(STRING), nullable_since=0),
    ))),
    Field("include_synonyms", BOOL, since=1),
    Field("include_documentation", BOOL, since=3),
)

DESCRIBE_CONFIGS_RESPONSE = Struct(
    DescribeConfigsResponse,
    Field("throttle_time_ms", INT32),
    Field("results", Array(Struct(
        DescribeConfigsResult,
        Field("error_code", INT16),
        Field("error_message", STRING, nullable_since=0),
        Field("resource_type", INT8),
        Field("resource_name", STRING),
        Field("configs", Array(Struct(
            DescribeConfigsResourceResult,
            Field("name", STRING),
            Field("value", STRING, nullable_since=0),
            Field("read_only", BOOL),
            Field("config_source", INT8, since=1),
            Field("is_sensitive", BOOL),
            Field("synonyms", Array(Struct(
                DescribeConfigsSynonym,
                Field("name", STRING),
                Field("value", STRING, nullable_since=0),
                Field("source", INT8),
            )), since=1),
            Field("config_type", INT8, since=3),
            Field("documentation", STRING, since=3, nullable_since=0),
        ))),
    ))),
)

# -------------------------------------------------------------------------------------- DescribeLogDirs


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribableLogDirTopic:
    topic: str
    partitions: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeLogDirsRequest:
    topics: tuple[DescribableLogDirTopic, ...] | None  # None: every partition


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeLogDirsPartition:
    partition_index: int
    partition_size: int
    offset_lag: int = 0
    is_future_key: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeLogDirsTopic:
    name: str
    partitions: Sequence[DescribeLogDirsPartition]


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeLogDirsResult:
    error_code: int = ErrorCode.NONE
    log_dir: str
    topics: Sequence[DescribeLogDirsTopic] = ()
    total_bytes: int = -1
    usable_bytes: int = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeLogDirsResponse:
    throttle_time_ms: int = 0
    error_code: int = ErrorCode.NONE
    results: Sequence[DescribeLogDirsResult] = ()


DESCRIBE_LOG_DIRS_REQUEST = Struct(
    DescribeLogDirsRequest,
    Field("topics", Array(Struct(
        DescribableLogDirTopic,
        Field("topic", STRING),
        Field("partitions", Array(INT32)),
    )), nullable_since=0),
)

DESCRIBE_LOG_DIRS_RESPONSE = Struct(
    DescribeLogDirsResponse,
    Field("throttle_time_ms", INT32),
    Field("error_code", INT16, since=3),
    Field("results", Array(Struct(
        DescribeLogDirsResult,
        Field("error_code", INT16),
        Field("log_dir", STRING),
        Field("topics", Array(Struct(
            DescribeLogDirsTopic,
            Field("name", STRING),
            Field("partitions", Array(Struct(
                DescribeLogDirsPartition,
                Field("partition_index", INT32),
                Field("partition_size", INT64),
                Field("offset_lag", INT64),
                Field("is_future_key", BOOL),
            ))),
        ))),
        Field("total_bytes", INT64, since=4),
        Field("usable_bytes", INT64, since=4),
    ))),
)

# -------------------------------------------------------------------------------------- DescribeCluster


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeClusterRequest:
    include_cluster_authorized_operations: bool = False
    endpoint_type: int = 1  # 1 brokers, 2 controllers


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeClusterBroker:
    broker_id: int
    host: str
    port: int
    rack: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeClusterResponse:
    throttle_time_ms: int = 0
    error_code: int = ErrorCode.NONE
    error_message: str | None = None
    endpoint_type: int = 1
    cluster_id: str
    controller_id: int = -1
    brokers: Sequence[DescribeClusterBroker] = ()
    cluster_authorized_operations: int = -(2**31)


DESCRIBE_CLUSTER_REQUEST = Struct(
    DescribeClusterRequest,
    Field("include_cluster_authorized_operations", BOOL),
    Field("endpoint_type", INT8, since=1),
)

DESCRIBE_CLUSTER_RESPONSE = Struct(
    DescribeClusterResponse,
    Field("throttle_time_ms", INT32),
    Field("error_code", INT16),
    Field("error_message", STRING, nullable_since=0),
    Field("endpoint_type", INT8, since=1),
    Field("cluster_id", STRING),
    Field("controller_id", INT32),
    Field("brokers", Array(Struct(
        DescribeClusterBroker,
        Field("broker_id", INT32),
        Field("host", STRING),
        Field("port", INT32),
        Field("rack", STRING, nullable_since=0),
    ))),
    Field("cluster_authorized_operations", INT32),
)

# ------------------------------------------------------------------------------------ DescribeProducers


@dataclass(frozen=True, slots=True, kw_only=True)
class ProducersTopicRequest:
    name: str
    partition_indexes: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeProducersRequest:
    topics: tuple[ProducersTopicRequest, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProducerState:
    producer_id: int
    producer_epoch: int
    last_sequence: int = -1
    last_timestamp: int = -1
    coordinator_epoch: int = 0
    current_txn_start_offset: int = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class ProducersPartitionResponse:
    partition_index: int
    error_code: int = ErrorCode.NONE
    error_message: str | None = None
    active_producers: Sequence[ProducerState] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ProducersTopicResponse:
    name: str
    partitions: Sequence[ProducersPartitionResponse]


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeProducersResponse:
    throttle_time_ms: int = 0
    topics: Sequence[ProducersTopicResponse] = ()


DESCRIBE_PRODUCERS_REQUEST = Struct(
    DescribeProducersRequest,
    Field("topics", Array(Struct(
        ProducersTopicRequest,
        Field("name", STRING),
        Field("partition_indexes", Array(INT32)),
    ))),
)

DESCRIBE_PRODUCERS_RESPONSE = Struct(
    DescribeProducersResponse,
    Field("throttle_time_ms", INT32),
    Field("topics", Array(Struct(
        ProducersTopicResponse,
        Field("name", STRING),
        Field("partitions", Array(Struct(
            ProducersPartitionResponse,
            Field("partition_index", INT32),
            Field("error_code", INT16),
            Field("error_message", STRING, nullable_since=0),
            Field("active_producers", Array(Struct(
                ProducerState,
                Field("producer_id", INT64),
                Field("producer_epoch", INT32),
                Field("last_sequence", INT32),
                Field("last_timestamp", INT64),
                Field("coordinator_epoch", INT32),
                Field("current_txn_start_offset", INT64),
            ))),
        ))),
    ))),
)

# ----------------------------------------------------------------------------------------- DescribeAcls


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeAclsRequest:
    resource_type_filter: int  # 1 any, 2 topic, 3 group, 4 cluster, ...
    resource_name_filter: str | None = None
    pattern_type_filter: int = 3  # 1 any, 2 match, 3 literal, 4 prefixed
    principal_filter: str | None = None
    host_filter: str | None = None
    operation: int  # 1 any, 3 read, 8 describe, ...
    permission_type: int  # 1 any, 2 deny, 3 allow


@dataclass(frozen=True, slots=True, kw_only=True)
class AclDescription:
    principal: str
    host: str
    operation: int
    permission_type: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeAclsResource:
    resource_type: int
    resource_name: str
    pattern_type: int = 3
    acls: Sequence[AclDescription] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeAclsResponse:
    throttle_time_ms: int = 0
    error_code: int = ErrorCode.NONE
    error_message: str | None = None
    resources: Sequence[DescribeAclsResource] = ()


DESCRIBE_ACLS_REQUEST = Struct(
    DescribeAclsRequest,
    Field("resource_type_filter", INT8),
    Field("resource_name_filter", STRING, nullable_since=0),
    Field("pattern_type_filter", INT8, since=1),
    Field("principal_filter", STRING, nullable_since=0),
    Field("host_filter", STRING, nullable_since=0),
    Field("operation", INT8),
    Field("permission_type", INT8),
)

DESCRIBE_ACLS_RESPONSE = Struct(
    DescribeAclsResponse,
    Field("throttle_time_ms", INT32),
    Field("error_code", INT16),
    Field("error_message", STRING, nullable_since=0),
    Field("resources", Array(Struct(
        DescribeAclsResource,
        Field("resource_type", INT8),
        Field("resource_name", STRING),
        Field("pattern_type", INT8, since=1),
        Field("acls", Array(Struct(
            AclDescription,
            Field("principal", STRING),
            Field("host", STRING),
            Field("operation", INT8),
            Field("permission_type", INT8),
        ))),
    ))),
)

# --------------------------------------------------------------------------------- OffsetForLeaderEpoch


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetForLeaderPartition:
    partition: int
    current_leader_epoch: int = -1
    leader_epoch: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetForLeaderTopic:
    topic: str
    partitions: tuple[OffsetForLeaderPartition, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetForLeaderEpochRequest:
    replica_id: int = -2  # -1/-2 consumers (v3+); a broker id would be a follower
    topics: tuple[OffsetForLeaderTopic, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class EpochEndOffset:
    error_code: int = ErrorCode.NONE
    partition: int
    leader_epoch: int = -1
    end_offset: int = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetForLeaderTopicResult:
    topic: str
    partitions: Sequence[EpochEndOffset]


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetForLeaderEpochResponse:
    throttle_time_ms: int = 0
    topics: Sequence[OffsetForLeaderTopicResult] = ()


OFFSET_FOR_LEADER_EPOCH_REQUEST = Struct(
    OffsetForLeaderEpochRequest,
    Field("replica_id", INT32, since=3),
    Field("topics", Array(Struct(
        OffsetForLeaderTopic,
        Field("topic", STRING),
        Field("partitions", Array(Struct(
            OffsetForLeaderPartition,
            Field("partition", INT32),
            Field("current_leader_epoch", INT32, since=2),
            Field("leader_epoch", INT32),
        ))),
    ))),
)

OFFSET_FOR_LEADER_EPOCH_RESPONSE = Struct(
    OffsetForLeaderEpochResponse,
    Field("throttle_time_ms", INT32, since=2),
    Field("topics", Array(Struct(
        OffsetForLeaderTopicResult,
        Field("topic", STRING),
        Field("partitions", Array(Struct(
            EpochEndOffset,
            Field("error_code", INT16),
            Field("partition", INT32),
            Field("leader_epoch", INT32, since=1),
            Field("end_offset", INT64),
        ))),
    ))),
)
