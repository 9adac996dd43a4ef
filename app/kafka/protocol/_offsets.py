"""Committed offsets: OffsetCommit 2-7 and OffsetFetch 1-5 (Kafka 4 dropped the versions below).

- OffsetCommit: v2-4 retention_time_ms (-1 = broker default); v3 throttle; v6 committed_leader_epoch;
  v7 group_instance_id. ``generation_id`` is -1 and ``member_id`` ``""`` for "simple" commits from
  consumers outside a group (Kafka 4 renamed the field ``GenerationIdOrMemberEpoch``).
- OffsetFetch: v2 ``topics`` may be null (all committed partitions) and a top-level error_code;
  v3 throttle; v5 committed_leader_epoch. Unknown partitions answer offset -1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._schema import BOOL, INT16, INT32, INT64, STRING, Array, Field, Struct
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


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetCommitRequestPartition:
    partition_index: int
    committed_offset: int
    committed_leader_epoch: int = -1
    committed_metadata: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetCommitRequestTopic:
    name: str
    partitions: tuple[OffsetCommitRequestPartition, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetCommitRequest:
    group_id: str
    generation_id: int = -1
    member_id: str = ""
    group_instance_id: str | None = None
    retention_time_ms: int = -1
    topics: tuple[OffsetCommitRequestTopic, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetCommitResponsePartition:
    partition_index: int
    error_code: int = ErrorCode.NONE


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetCommitResponseTopic:
    name: str
    partitions: Sequence[OffsetCommitResponsePartition]


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetCommitResponse:
    throttle_time_ms: int = 0
    topics: Sequence[OffsetCommitResponseTopic]


OFFSET_COMMIT_REQUEST = Struct(
    OffsetCommitRequest,
    Field("group_id", STRING),
    Field("generation_id", INT32, since=1),
    Field("member_id", STRING, since=1),
    Field("group_instance_id", STRING, since=7, nullable_since=7),
    Field("retention_time_ms", INT64, since=2, until=4),
    Field(
        "topics",
        Array(
            Struct(
                OffsetCommitRequestTopic,
                Field("name", STRING),
                Field(
                    "partitions",
                    Array(
                        Struct(
                            OffsetCommitRequestPartition,
                            Field("partition_index", INT32),
                            Field("committed_offset", INT64),
                            Field("committed_leader_epoch", INT32, since=6),
                            Field("committed_metadata", STRING, nullable_since=0),
                        )
                    ),
                ),
            )
        ),
    ),
)

OFFSET_COMMIT_RESPONSE = Struct(
    OffsetCommitResponse,
    Field("throttle_time_ms", INT32, since=3),
    Field(
        "topics",
        Array(
            Struct(
                OffsetCommitResponseTopic,
                Field("name", STRING),
                Field(
                    "partitions",
                    Array(
                        Struct(
                            OffsetCommitResponsePartition,
                            Field("partition_index", INT32),
                            Field("error_code", INT16),
                        )
                    ),
                ),
            )
        ),
    ),
)


# -- OffsetFetch ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetFetchRequestTopic:
    name: str
    partition_indexes: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetFetchRequestGroup:
    """One group of a v8+ request (several groups per request); ``topics=None``: every committed partition."""

    group_id: str
    topics: tuple[OffsetFetchRequestTopic, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetFetchRequest:
    """``topics=None`` (v2+) asks for every committed partition of the group. From v8 the groups are in
    ``groups`` and ``group_id``/``topics`` are not on the wire."""
    require_stable: bool = False

    group_id: str = ""
    topics: tuple[OffsetFetchRequestTopic, ...] | None = None
    groups: tuple[OffsetFetchRequestGroup, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetFetchResponsePartition:
    partition_index: int
    committed_offset: int = -1
    committed_leader_epoch: int = -1
    metadata: str | None = ""
    error_code: int = ErrorCode.NONE


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetFetchResponseTopic:
    name: str
    partitions: Sequence[OffsetFetchResponsePartition]


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetFetchResponseGroup:
    group_id: str
    topics: Sequence[OffsetFetchResponseTopic] = ()
    error_code: int = ErrorCode.NONE


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetFetchResponse:
    throttle_time_ms: int = 0
    topics: Sequence[OffsetFetchResponseTopic] = ()
    error_code: int = ErrorCode.NONE
    groups: Sequence[OffsetFetchResponseGroup] = ()  # v8+


_OFFSET_FETCH_REQUEST_TOPIC = Struct(OffsetFetchRequestTopic, Field("name", STRING),
                                     Field("partition_indexes", Array(INT32)))

OFFSET_FETCH_REQUEST = Struct(
    OffsetFetchRequest,
    Field("group_id", STRING, until=7),
    Field("topics", Array(_OFFSET_FETCH_REQUEST_TOPIC), nullable_since=2, until=7),
    Field("groups", Array(Struct(OffsetFetchRequestGroup, Field("group_id", STRING),
                                 Field("topics", Array(_OFFSET_FETCH_REQUEST_TOPIC), nullable_since=8))), since=8),
    Field("require_stable", BOOL, since=7),  # no transaction is ever open in a replica: nothing to wait for
)

_OFFSET_FETCH_RESPONSE_TOPIC = Struct(
    OffsetFetchResponseTopic,
    Field("name", STRING),
    Field(
        "partitions",
        Array(
            Struct(
                OffsetFetchResponsePartition,
                Field("partition_index", INT32),
                Field("committed_offset", INT64),
                Field("committed_leader_epoch", INT32, since=5),
                Field("metadata", STRING, nullable_since=0),
                Field("error_code", INT16),
            )
        ),
    ),
)

OFFSET_FETCH_RESPONSE = Struct(
    OffsetFetchResponse,
    Field("throttle_time_ms", INT32, since=3),
    Field("topics", Array(_OFFSET_FETCH_RESPONSE_TOPIC), until=7),
    Field("error_code", INT16, since=2, until=7),
    Field("groups", Array(Struct(OffsetFetchResponseGroup, Field("group_id", STRING),
                                 Field("topics", Array(_OFFSET_FETCH_RESPONSE_TOPIC)),
                                 Field("error_code", INT16))), since=8),
)
