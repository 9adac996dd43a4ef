"""ListOffsets (key 2), versions 1-5 (v0's multi-offset layout is gone since Kafka 4; v6 is flexible).

Request: ``replica_id`` (-1 for consumers), ``isolation_level`` (v2+; 0 read_uncommitted,
1 read_committed), per partition ``current_leader_epoch`` (v4+) and ``timestamp``: -2 earliest,
-1 latest, -3 max timestamp (v7+, outside this window), else a time in ms.

Response per partition: ``timestamp`` and ``offset`` (-1/-1 when no offset matches), and
``leader_epoch`` (v4+); ``throttle_time_ms`` from v2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._schema import INT8, INT16, INT32, INT64, STRING, Array, Field, Struct
from .errors import ErrorCode

__all__ = [
    "EARLIEST_TIMESTAMP",
    "LATEST_TIMESTAMP",
    "ListOffsetsPartition",
    "ListOffsetsPartitionResponse",
    "ListOffsetsRequest",
    "ListOffsetsResponse",
    "ListOffsetsTopic",
    "ListOffsetsTopicResponse",
]

EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1


def check_isolation_level(level: int) -> None:
    """Kafka rejects any isolation level but 0 and 1 (``IsolationLevel.forId``)."""
    if level not in (0, 1):
        raise ValueError(f"unknown isolation_level {level}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ListOffsetsPartition:
    partition_index: int
    current_leader_epoch: int = -1
    timestamp: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ListOffsetsTopic:
    name: str
    partitions: tuple[ListOffsetsPartition, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ListOffsetsRequest:
    replica_id: int = -1
    isolation_level: int = 0
    topics: tuple[ListOffsetsTopic, ...]

    def __post_init__(self) -> None:
        check_isolation_level(self.isolation_level)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListOffsetsPartitionResponse:
    partition_index: int
    error_code: int = ErrorCode.NONE
    timestamp: int = -1
    offset: int = -1
    leader_epoch: int = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class ListOffsetsTopicResponse:
    name: str
    partitions: Sequence[ListOffsetsPartitionResponse]


@dataclass(frozen=True, slots=True, kw_only=True)
class ListOffsetsResponse:
    throttle_time_ms: int = 0
    topics: Sequence[ListOffsetsTopicResponse]


LIST_OFFSETS_REQUEST = Struct(
    ListOffsetsRequest,
    Field("replica_id", INT32),
    Field("isolation_level", INT8, since=2),
    Field(
        "topics",
        Array(
            Struct(
                ListOffsetsTopic,
                Field("name", STRING),
                Field(
                    "partitions",
                    Array(
                        Struct(
                            ListOffsetsPartition,
                            Field("partition_index", INT32),
                            Field("current_leader_epoch", INT32, since=4),
                            Field("timestamp", INT64),
                        )
                    ),
                ),
            )
        ),
    ),
)

LIST_OFFSETS_RESPONSE = Struct(
    ListOffsetsResponse,
    Field("throttle_time_ms", INT32, since=2),
    Field(
        "topics",
        Array(
            Struct(
                ListOffsetsTopicResponse,
                Field("name", STRING),
                Field(
                    "partitions",
                    Array(
                        Struct(
                            ListOffsetsPartitionResponse,
                            Field("partition_index", INT32),
                            Field("error_code", INT16),
                            Field("timestamp", INT64, since=1),
                            Field("offset", INT64, since=1),
                            Field("leader_epoch", INT32, since=4),
                        )
                    ),
                ),
            )
        ),
    ),
)
