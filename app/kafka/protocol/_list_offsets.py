"""ListOffsets (key 2), versions 1-5 (v0's multi-offset layout is gone since Kafka 4; v6 is flexible).

Request: ``replica_id`` (-1 for consumers), ``isolation_level`` (v2+; 0 read_uncommitted,
1 read_committed), per partition ``current_leader_epoch`` (v4+) and ``timestamp``: -2 earliest,
-1 latest, -3 max timestamp (v7+, outside this window), else a time in ms.

Response per partition: ``timestamp`` and ``offset`` (-1/-1 when no offset matches), and
``leader_epoch`` (v4+); ``throttle_time_ms`` from v2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from ._schema import Int8, Int16, Int32, Int64, String, Versions, message
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


@message
class ListOffsetsPartition:
    partition_index: Int32
    current_leader_epoch: Annotated[Int32, Versions(since=4)] = -1
    timestamp: Int64


@message
class ListOffsetsTopic:
    name: String
    partitions: tuple[ListOffsetsPartition, ...]


@message
class ListOffsetsRequest:
    replica_id: Int32 = -1
    isolation_level: Annotated[Int8, Versions(since=2)] = 0
    topics: tuple[ListOffsetsTopic, ...]

    def __post_init__(self) -> None:
        check_isolation_level(self.isolation_level)


@message
class ListOffsetsPartitionResponse:
    partition_index: Int32
    error_code: Int16 = ErrorCode.NONE
    timestamp: Annotated[Int64, Versions(since=1)] = -1
    offset: Annotated[Int64, Versions(since=1)] = -1
    leader_epoch: Annotated[Int32, Versions(since=4)] = -1


@message
class ListOffsetsTopicResponse:
    name: String
    partitions: Sequence[ListOffsetsPartitionResponse]


@message
class ListOffsetsResponse:
    throttle_time_ms: Annotated[Int32, Versions(since=2)] = 0
    topics: Sequence[ListOffsetsTopicResponse]


