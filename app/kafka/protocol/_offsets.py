"""Committed offsets: OffsetCommit 2-7 and OffsetFetch 1-5 (Kafka 4 dropped the versions below).

- OffsetCommit: v2-4 retention_time_ms (-1 = broker default); v3 throttle; v6 committed_leader_epoch;
  v7 group_instance_id. ``generation_id`` is -1 and ``member_id`` ``""`` for "simple" commits from
  consumers outside a group (Kafka 4 renamed the field ``GenerationIdOrMemberEpoch``).
- OffsetFetch: v2 ``topics`` may be null (all committed partitions) and a top-level error_code;
  v3 throttle; v5 committed_leader_epoch. Unknown partitions answer offset -1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from ._schema import Bool, Int16, Int32, Int64, String, Versions, message
from .errors import ErrorCode

__all__ = [
    "OffsetCommitRequest",
    "OffsetCommitRequestPartition",
    "OffsetCommitRequestTopic",
    "OffsetCommitResponse",
    "OffsetCommitResponsePartition",
    "OffsetCommitResponseTopic",
    "OffsetFetchRequest",
    "OffsetFetchRequestGroup",
    "OffsetFetchRequestTopic",
    "OffsetFetchResponse",
    "OffsetFetchResponseGroup",
    "OffsetFetchResponsePartition",
    "OffsetFetchResponseTopic",
]


# -- OffsetCommit -----------------------------------------------------------------------------------


@message
class OffsetCommitRequestPartition:
    partition_index: Int32
    committed_offset: Int64
    committed_leader_epoch: Annotated[Int32, Versions(since=6)] = -1
    committed_metadata: String | None = None


@message
class OffsetCommitRequestTopic:
    name: String
    partitions: tuple[OffsetCommitRequestPartition, ...]


@message
class OffsetCommitRequest:
    group_id: String
    generation_id: Annotated[Int32, Versions(since=1)] = -1
    member_id: Annotated[String, Versions(since=1)] = ""
    group_instance_id: Annotated[String | None, Versions(since=7, nullable_since=7)] = None
    retention_time_ms: Annotated[Int64, Versions(since=2, until=4)] = -1
    topics: tuple[OffsetCommitRequestTopic, ...]


@message
class OffsetCommitResponsePartition:
    partition_index: Int32
    error_code: Int16 = ErrorCode.NONE


@message
class OffsetCommitResponseTopic:
    name: String
    partitions: Sequence[OffsetCommitResponsePartition]


@message
class OffsetCommitResponse:
    throttle_time_ms: Annotated[Int32, Versions(since=3)] = 0
    topics: Sequence[OffsetCommitResponseTopic]


# -- OffsetFetch ------------------------------------------------------------------------------------


@message
class OffsetFetchRequestTopic:
    name: String
    partition_indexes: tuple[Int32, ...]


@message
class OffsetFetchRequestGroup:
    """One group of a v8+ request (several groups per request); ``topics=None``: every committed partition."""

    group_id: String
    topics: Annotated[tuple[OffsetFetchRequestTopic, ...] | None, Versions(nullable_since=8)] = None


@message
class OffsetFetchRequest:
    """``topics=None`` (v2+) asks for every committed partition of the group. From v8 the groups are in
    ``groups`` and ``group_id``/``topics`` are not on the wire."""

    group_id: Annotated[String, Versions(until=7)] = ""
    topics: Annotated[tuple[OffsetFetchRequestTopic, ...] | None, Versions(until=7, nullable_since=2)] = None
    groups: Annotated[tuple[OffsetFetchRequestGroup, ...], Versions(since=8)] = ()
    require_stable: Annotated[Bool, Versions(since=7)] = False


@message
class OffsetFetchResponsePartition:
    partition_index: Int32
    committed_offset: Int64 = -1
    committed_leader_epoch: Annotated[Int32, Versions(since=5)] = -1
    metadata: String | None = ""
    error_code: Int16 = ErrorCode.NONE


@message
class OffsetFetchResponseTopic:
    name: String
    partitions: Sequence[OffsetFetchResponsePartition]


@message
class OffsetFetchResponseGroup:
    group_id: String
    topics: Sequence[OffsetFetchResponseTopic] = ()
    error_code: Int16 = ErrorCode.NONE


@message
class OffsetFetchResponse:
    throttle_time_ms: Annotated[Int32, Versions(since=3)] = 0
    topics: Annotated[Sequence[OffsetFetchResponseTopic], Versions(until=7)] = ()
    error_code: Annotated[Int16, Versions(since=2, until=7)] = ErrorCode.NONE
    groups: Annotated[Sequence[OffsetFetchResponseGroup], Versions(since=8)] = ()  # v8+


