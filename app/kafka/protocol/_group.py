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
from typing import Annotated

from ._metadata import AUTHORIZED_OPERATIONS_OMITTED
from ._schema import Bool, Bytes, Int8, Int16, Int32, String, Versions, message
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


@message
class FindCoordinatorRequest:
    key: Annotated[String, Versions(until=3)] = ""  # v0-3
    key_type: Annotated[Int8, Versions(since=1)] = 0
    coordinator_keys: Annotated[tuple[String, ...], Versions(since=4)] = ()  # v4+: several keys of one type


@message
class Coordinator:
    key: String
    node_id: Int32
    host: String
    port: Int32
    error_code: Int16 = ErrorCode.NONE
    error_message: Annotated[String | None, Versions(nullable_since=4)] = None


@message
class FindCoordinatorResponse:
    throttle_time_ms: Annotated[Int32, Versions(since=1)] = 0
    error_code: Annotated[Int16, Versions(until=3)] = ErrorCode.NONE
    error_message: Annotated[String | None, Versions(since=1, until=3, nullable_since=1)] = None
    node_id: Annotated[Int32, Versions(until=3)] = -1  # v0-3
    host: Annotated[String, Versions(until=3)] = ""
    port: Annotated[Int32, Versions(until=3)] = -1
    coordinators: Annotated[Sequence[Coordinator], Versions(since=4)] = ()  # v4+


# -- JoinGroup --------------------------------------------------------------------------------------


@message
class JoinGroupRequestProtocol:
    name: String
    metadata: Bytes


@message
class JoinGroupRequest:
    group_id: String
    session_timeout_ms: Int32
    rebalance_timeout_ms: Annotated[Int32, Versions(since=1)] = -1
    member_id: String
    group_instance_id: Annotated[String | None, Versions(since=5, nullable_since=5)] = None
    protocol_type: String
    protocols: tuple[JoinGroupRequestProtocol, ...]
    reason: Annotated[String | None, Versions(since=8, nullable_since=8)] = None  # v8+


@message
class JoinGroupResponseMember:
    member_id: String
    group_instance_id: Annotated[String | None, Versions(since=5, nullable_since=5)] = None
    metadata: Bytes


@message
class JoinGroupResponse:
    throttle_time_ms: Annotated[Int32, Versions(since=2)] = 0
    error_code: Int16 = ErrorCode.NONE
    generation_id: Int32 = -1
    protocol_type: Annotated[String | None, Versions(since=7, nullable_since=7)] = None  # v7+
    protocol_name: Annotated[String | None, Versions(nullable_since=7)] = ""
    leader: String = ""
    skip_assignment: Annotated[Bool, Versions(since=9)] = False  # v9+
    member_id: String = ""
    members: Sequence[JoinGroupResponseMember] = ()


# -- SyncGroup --------------------------------------------------------------------------------------


@message
class SyncGroupRequestAssignment:
    member_id: String
    assignment: Bytes


@message
class SyncGroupRequest:
    group_id: String
    generation_id: Int32
    member_id: String
    group_instance_id: Annotated[String | None, Versions(since=3, nullable_since=3)] = None
    protocol_type: Annotated[String | None, Versions(since=5, nullable_since=5)] = None  # v5+
    protocol_name: Annotated[String | None, Versions(since=5, nullable_since=5)] = None  # v5+
    assignments: tuple[SyncGroupRequestAssignment, ...]


@message
class SyncGroupResponse:
    throttle_time_ms: Annotated[Int32, Versions(since=1)] = 0
    error_code: Int16 = ErrorCode.NONE
    protocol_type: Annotated[String | None, Versions(since=5, nullable_since=5)] = None  # v5+
    protocol_name: Annotated[String | None, Versions(since=5, nullable_since=5)] = None  # v5+
    assignment: Bytes = b""


# -- Heartbeat --------------------------------------------------------------------------------------


@message
class HeartbeatRequest:
    group_id: String
    generation_id: Int32
    member_id: String
    group_instance_id: Annotated[String | None, Versions(since=3, nullable_since=3)] = None


@message
class HeartbeatResponse:
    throttle_time_ms: Annotated[Int32, Versions(since=1)] = 0
    error_code: Int16 = ErrorCode.NONE


# -- LeaveGroup -------------------------------------------------------------------------------------


@message
class MemberIdentity:
    member_id: String
    group_instance_id: Annotated[String | None, Versions(nullable_since=3)] = None
    reason: Annotated[String | None, Versions(since=5, nullable_since=5)] = None  # v5+


@message
class LeaveGroupRequest:
    """v0-2 carry one ``member_id``; v3+ carry ``members`` (and ``member_id`` stays ``""``)."""

    group_id: String
    member_id: Annotated[String, Versions(until=2)] = ""
    members: Annotated[tuple[MemberIdentity, ...], Versions(since=3)] = ()

    @property
    def leaving(self) -> tuple[MemberIdentity, ...]:
        """The members leaving, in either layout."""
        return self.members if self.members else (MemberIdentity(member_id=self.member_id),)


@message
class MemberResponse:
    member_id: String
    group_instance_id: Annotated[String | None, Versions(nullable_since=3)] = None
    error_code: Int16 = ErrorCode.NONE


@message
class LeaveGroupResponse:
    throttle_time_ms: Annotated[Int32, Versions(since=1)] = 0
    error_code: Int16 = ErrorCode.NONE
    members: Annotated[Sequence[MemberResponse], Versions(since=3)] = ()


# -- ListGroups -------------------------------------------------------------------------------------


@message
class ListGroupsRequest:
    """No fields before v4; v4 ``states_filter`` (empty: every state)."""

    states_filter: Annotated[tuple[String, ...], Versions(since=4)] = ()


@message
class ListedGroup:
    group_id: String
    protocol_type: String
    group_state: Annotated[String, Versions(since=4)] = ""  # v4+


@message
class ListGroupsResponse:
    throttle_time_ms: Annotated[Int32, Versions(since=1)] = 0
    error_code: Int16 = ErrorCode.NONE
    groups: Sequence[ListedGroup] = ()


# -- DescribeGroups ---------------------------------------------------------------------------------


@message
class DescribeGroupsRequest:
    groups: tuple[String, ...]
    include_authorized_operations: Annotated[Bool, Versions(since=3)] = False


@message
class DescribedGroupMember:
    member_id: String
    group_instance_id: Annotated[String | None, Versions(since=4, nullable_since=4)] = None
    client_id: String
    client_host: String
    member_metadata: Bytes
    member_assignment: Bytes


@message
class DescribedGroup:
    error_code: Int16 = ErrorCode.NONE
    group_id: String
    group_state: String
    protocol_type: String
    protocol_data: String
    members: Sequence[DescribedGroupMember] = ()
    authorized_operations: Annotated[Int32, Versions(since=3)] = AUTHORIZED_OPERATIONS_OMITTED


@message
class DescribeGroupsResponse:
    throttle_time_ms: Annotated[Int32, Versions(since=1)] = 0
    groups: Sequence[DescribedGroup]


