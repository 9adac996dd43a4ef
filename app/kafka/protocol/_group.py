"""Classic group coordination: FindCoordinator 0-4, JoinGroup 0-9, SyncGroup 0-5, Heartbeat 0-4,
LeaveGroup 0-5, ListGroups 0-4, DescribeGroups 0-5 (flexible from FindCoordinator 3, JoinGroup 6,
SyncGroup/Heartbeat/LeaveGroup 4, ListGroups 3, DescribeGroups 5).

Version notes (from Kafka's message JSON):

- FindCoordinator: v1 key_type (0 group, 1 transaction) and error_message; v4 batches keys
  (``coordinator_keys`` in, one ``coordinators`` entry each out).
- JoinGroup: v1 rebalance_timeout_ms; v2 throttle; v4 the MEMBER_ID_REQUIRED handshake (same
  layout); v5 group_instance_id; v7 protocol_type in the response; v8 reason; v9 skip_assignment.
  ``protocol_name`` is nullable only from v7, so send ``""``.
- SyncGroup / Heartbeat: v1 throttle; v3 group_instance_id; SyncGroup v5 protocol_type/name both ways.
- LeaveGroup: v0-2 a single ``member_id``; v3 a ``members`` array, answered per member; v5 reason.
- ListGroups: v1 throttle; v4 states_filter and group_state. DescribeGroups: v1 throttle, v3
  authorized operations, v4 group_instance_id.

Group metadata, assignments and member metadata are opaque BYTES the coordinator passes along.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._metadata import AUTHORIZED_OPERATIONS_OMITTED
from ._schema import BOOL, BYTES, INT8, INT16, INT32, STRING, Array, Field, Struct
from .errors import ErrorCode

__all__ = [
    "Coordinator",
    "DescribeGroupsRequest",
    "DescribeGroupsResponse",
    "DescribedGroup",
    "DescribedGroupMember",
    "FindCoordinatorRequest",
    "FindCoordinatorResponse",
    "HeartbeatRequest",
    "HeartbeatResponse",
    "JoinGroupRequest",
    "JoinGroupRequestProtocol",
    "JoinGroupResponse",
    "JoinGroupResponseMember",
    "LeaveGroupRequest",
    "LeaveGroupResponse",
    "ListGroupsRequest",
    "ListGroupsResponse",
    "ListedGroup",
    "MemberIdentity",
    "MemberResponse",
    "SyncGroupRequest",
    "SyncGroupRequestAssignment",
    "SyncGroupResponse",
]


# -- FindCoordinator --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FindCoordinatorRequest:
    key: str = ""  # v0-3
    key_type: int = 0
    coordinator_keys: tuple[str, ...] = ()  # v4+: several keys of one type


@dataclass(frozen=True, slots=True, kw_only=True)
class Coordinator:
    key: str
    node_id: int
    host: str
    port: int
    error_code: int = ErrorCode.NONE
    error_message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FindCoordinatorResponse:
    throttle_time_ms: int = 0
    error_code: int = ErrorCode.NONE
    error_message: str | None = None
    node_id: int = -1  # v0-3
    host: str = ""
    port: int = -1
    coordinators: Sequence[Coordinator] = ()  # v4+


FIND_COORDINATOR_REQUEST = Struct(
    FindCoordinatorRequest,
    Field("key", STRING, until=3),
    Field("key_type", INT8, since=1),
    Field("coordinator_keys", Array(STRING), since=4),
)

FIND_COORDINATOR_RESPONSE = Struct(
    FindCoordinatorResponse,
    Field("throttle_time_ms", INT32, since=1),
    Field("error_code", INT16, until=3),
    Field("error_message", STRING, since=1, until=3, nullable_since=1),
    Field("node_id", INT32, until=3),
    Field("host", STRING, until=3),
    Field("port", INT32, until=3),
    Field("coordinators", Array(Struct(
        Coordinator,
        Field("key", STRING),
        Field("node_id", INT32),
        Field("host", STRING),
        Field("port", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable_since=4),
    )), since=4),
)


# -- JoinGroup --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinGroupRequestProtocol:
    name: str
    metadata: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinGroupRequest:
    group_id: str
    session_timeout_ms: int
    rebalance_timeout_ms: int = -1
    member_id: str
    group_instance_id: str | None = None
    protocol_type: str
    protocols: tuple[JoinGroupRequestProtocol, ...]
    reason: str | None = None  # v8+


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinGroupResponseMember:
    member_id: str
    group_instance_id: str | None = None
    metadata: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinGroupResponse:
    throttle_time_ms: int = 0
    error_code: int = ErrorCode.NONE
    generation_id: int = -1
    protocol_type: str | None = None  # v7+
    protocol_name: str | None = ""
    leader: str = ""
    skip_assignment: bool = False  # v9+
    member_id: str = ""
    members: Sequence[JoinGroupResponseMember] = ()


JOIN_GROUP_REQUEST = Struct(
    JoinGroupRequest,
    Field("group_id", STRING),
    Field("session_timeout_ms", INT32),
    Field("rebalance_timeout_ms", INT32, since=1),
    Field("member_id", STRING),
    Field("group_instance_id", STRING, since=5, nullable_since=5),
    Field("protocol_type", STRING),
    Field("protocols", Array(Struct(JoinGroupRequestProtocol, Field("name", STRING), Field("metadata", BYTES)))),
    Field("reason", STRING, since=8, nullable_since=8),
)

JOIN_GROUP_RESPONSE = Struct(
    JoinGroupResponse,
    Field("throttle_time_ms", INT32, since=2),
    Field("error_code", INT16),
    Field("generation_id", INT32),
    Field("protocol_type", STRING, since=7, nullable_since=7),
    Field("protocol_name", STRING, nullable_since=7),
    Field("leader", STRING),
    Field("skip_assignment", BOOL, since=9),
    Field("member_id", STRING),
    Field(
        "members",
        Array(
            Struct(
                JoinGroupResponseMember,
                Field("member_id", STRING),
                Field("group_instance_id", STRING, since=5, nullable_since=5),
                Field("metadata", BYTES),
            )
        ),
    ),
)


# -- SyncGroup --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncGroupRequestAssignment:
    member_id: str
    assignment: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncGroupRequest:
    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None = None
    protocol_type: str | None = None  # v5+
    protocol_name: str | None = None  # v5+
    assignments: tuple[SyncGroupRequestAssignment, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncGroupResponse:
    throttle_time_ms: int = 0
    error_code: int = ErrorCode.NONE
    protocol_type: str | None = None  # v5+
    protocol_name: str | None = None  # v5+
    assignment: bytes = b""


SYNC_GROUP_REQUEST = Struct(
    SyncGroupRequest,
    Field("group_id", STRING),
    Field("generation_id", INT32),
    Field("member_id", STRING),
    Field("group_instance_id", STRING, since=3, nullable_since=3),
    Field("protocol_type", STRING, since=5, nullable_since=5),
    Field("protocol_name", STRING, since=5, nullable_since=5),
    Field("assignments", Array(Struct(SyncGroupRequestAssignment, Field("member_id", STRING), Field("assignment", BYTES)))),
)

SYNC_GROUP_RESPONSE = Struct(
    SyncGroupResponse,
    Field("throttle_time_ms", INT32, since=1),
    Field("error_code", INT16),
    Field("protocol_type", STRING, since=5, nullable_since=5),
    Field("protocol_name", STRING, since=5, nullable_since=5),
    Field("assignment", BYTES),
)


# -- Heartbeat --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatRequest:
    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatResponse:
    throttle_time_ms: int = 0
    error_code: int = ErrorCode.NONE


HEARTBEAT_REQUEST = Struct(
    HeartbeatRequest,
    Field("group_id", STRING),
    Field("generation_id", INT32),
    Field("member_id", STRING),
    Field("group_instance_id", STRING, since=3, nullable_since=3),
)

HEARTBEAT_RESPONSE = Struct(
    HeartbeatResponse,
    Field("throttle_time_ms", INT32, since=1),
    Field("error_code", INT16),
)


# -- LeaveGroup -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberIdentity:
    member_id: str
    group_instance_id: str | None = None
    reason: str | None = None  # v5+


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaveGroupRequest:
    """v0-2 carry one ``member_id``; v3+ carry ``members`` (and ``member_id`` stays ``""``)."""

    group_id: str
    member_id: str = ""
    members: tuple[MemberIdentity, ...] = ()

    @property
    def leaving(self) -> tuple[MemberIdentity, ...]:
        """The members leaving, in either layout."""
        return self.members if self.members else (MemberIdentity(member_id=self.member_id),)


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberResponse:
    member_id: str
    group_instance_id: str | None = None
    error_code: int = ErrorCode.NONE


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaveGroupResponse:
    throttle_time_ms: int = 0
    error_code: int = ErrorCode.NONE
    members: Sequence[MemberResponse] = ()


LEAVE_GROUP_REQUEST = Struct(
    LeaveGroupRequest,
    Field("group_id", STRING),
    Field("member_id", STRING, until=2),
    Field(
        "members",
        Array(
            Struct(
                MemberIdentity,
                Field("member_id", STRING),
                Field("group_instance_id", STRING, nullable_since=3),
                Field("reason", STRING, since=5, nullable_since=5),
            )
        ),
        since=3,
    ),
)

LEAVE_GROUP_RESPONSE = Struct(
    LeaveGroupResponse,
    Field("throttle_time_ms", INT32, since=1),
    Field("error_code", INT16),
    Field(
        "members",
        Array(
            Struct(
                MemberResponse,
                Field("member_id", STRING),
                Field("group_instance_id", STRING, nullable_since=3),
                Field("error_code", INT16),
            )
        ),
        since=3,
    ),
)


# -- ListGroups -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ListGroupsRequest:
    """No fields before v4; v4 ``states_filter`` (empty: every state)."""

    states_filter: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ListedGroup:
    group_id: str
    protocol_type: str
    group_state: str = ""  # v4+


@dataclass(frozen=True, slots=True, kw_only=True)
class ListGroupsResponse:
    throttle_time_ms: int = 0
    error_code: int = ErrorCode.NONE
    groups: Sequence[ListedGroup] = ()


LIST_GROUPS_REQUEST = Struct(ListGroupsRequest, Field("states_filter", Array(STRING), since=4))

LIST_GROUPS_RESPONSE = Struct(
    ListGroupsResponse,
    Field("throttle_time_ms", INT32, since=1),
    Field("error_code", INT16),
    Field("groups", Array(Struct(ListedGroup, Field("group_id", STRING), Field("protocol_type", STRING),
                                 Field("group_state", STRING, since=4)))),
)


# -- DescribeGroups ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeGroupsRequest:
    groups: tuple[str, ...]
    include_authorized_operations: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribedGroupMember:
    member_id: str
    group_instance_id: str | None = None
    client_id: str
    client_host: str
    member_metadata: bytes
    member_assignment: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribedGroup:
    error_code: int = ErrorCode.NONE
    group_id: str
    group_state: str
    protocol_type: str
    protocol_data: str
    members: Sequence[DescribedGroupMember] = ()
    authorized_operations: int = AUTHORIZED_OPERATIONS_OMITTED


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeGroupsResponse:
    throttle_time_ms: int = 0
    groups: Sequence[DescribedGroup]


DESCRIBE_GROUPS_REQUEST = Struct(
    DescribeGroupsRequest,
    Field("groups", Array(STRING)),
    Field("include_authorized_operations", BOOL, since=3),
)

DESCRIBE_GROUPS_RESPONSE = Struct(
    DescribeGroupsResponse,
    Field("throttle_time_ms", INT32, since=1),
    Field(
        "groups",
        Array(
            Struct(
                DescribedGroup,
                Field("error_code", INT16),
                Field("group_id", STRING),
                Field("group_state", STRING),
                Field("protocol_type", STRING),
                Field("protocol_data", STRING),
                Field(
                    "members",
                    Array(
                        Struct(
                            DescribedGroupMember,
                            Field("member_id", STRING),
                            Field("group_instance_id", STRING, since=4, nullable_since=4),
                            Field("client_id", STRING),
                            Field("client_host", STRING),
                            Field("member_metadata", BYTES),
                            Field("member_assignment", BYTES),
                        )
                    ),
                ),
                Field("authorized_operations", INT32, since=3),
            )
        ),
    ),
)
