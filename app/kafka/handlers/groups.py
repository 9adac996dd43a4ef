"""Group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
ListGroups, DescribeGroups. The state machine is :class:`app.kafka.groups.GroupCoordinator`; this module
checks ACLs and coordinator ownership and translates requests and responses.

* FindCoordinator names the instance the group id hashes to (``--peers``); every other group API
  answers NOT_COORDINATOR away from it, so a group has one generation however many instances serve.
* A principal needs a group ACL for the group APIs (GROUP_AUTHORIZATION_FAILED) and a topic ACL for
  the partitions it commits or fetches offsets of (TOPIC_AUTHORIZATION_FAILED).
* Transaction coordinators (FindCoordinator key_type 1) do not exist on a read-only replica:
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from app.errors import ShadowReplicaError, kafka_code
from app.group_offsets import CommittedOffset, TopicPartition
from app.kafka.handlers._base import Broker, Session
from app.kafka.protocol import (
    Coordinator,
    DescribedGroup,
    DescribeGroupsRequest,
    DescribeGroupsResponse,
    ErrorCode,
    FindCoordinatorRequest,
    FindCoordinatorResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    JoinGroupRequest,
    JoinGroupResponse,
    LeaveGroupRequest,
    LeaveGroupResponse,
    ListedGroup,
    ListGroupsRequest,
    ListGroupsResponse,
    MemberResponse,
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetCommitResponsePartition,
    OffsetCommitResponseTopic,
    OffsetFetchRequest,
    OffsetFetchRequestTopic,
    OffsetFetchResponse,
    OffsetFetchResponseGroup,
    OffsetFetchResponsePartition,
    OffsetFetchResponseTopic,
    Request,
    SyncGroupRequest,
    SyncGroupResponse,
)

log = logging.getLogger(__name__)


MAX_OBJECT_KEY_BYTES = 1024
"""S3's limit on an object key: a group whose offsets object key would be longer cannot keep offsets."""


def _group_error(broker: Broker, session: Session, group_id: str) -> int:
    """NOT_COORDINATOR / GROUP_AUTHORIZATION_FAILED / INVALID_GROUP_ID / 0 for a request about ``group_id``."""
    if not broker.auth.may_use_group(session.principal, group_id):
        return ErrorCode.GROUP_AUTHORIZATION_FAILED
    if len(broker.coordinator.offsets.key(group_id).encode()) > MAX_OBJECT_KEY_BYTES:
        return ErrorCode.INVALID_GROUP_ID  # refused the same on every S3 (moto would store it, AWS would not)
    if not broker.cluster.is_coordinator(group_id):
        return ErrorCode.NOT_COORDINATOR
    return ErrorCode.NONE


def _coordinator_for(broker: Broker, session: Session, key: str, key_type: int) -> Coordinator:
    if key_type != 0:
        return Coordinator(key=key, node_id=-1, host="", port=-1,
                           error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                           error_message="transactions are not available on a read-only replica")
    if not broker.auth.may_use_group(session.principal, key):
        return Coordinator(key=key, node_id=-1, host="", port=-1, error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    node = broker.cluster.coordinator(key)
    return Coordinator(key=key, node_id=node.node_id, host=node.host, port=node.port)


async def handle_find_coordinator(broker: Broker, session: Session, request: Request[FindCoordinatorRequest]
                                  ) -> FindCoordinatorResponse:
    """v0-3 one key; v4+ ``coordinator_keys``, answered one entry per key."""
    req = request.body
    if request.header.api_version >= 4:
        return FindCoordinatorResponse(coordinators=tuple(
            _coordinator_for(broker, session, key, req.key_type) for key in req.coordinator_keys))
    c = _coordinator_for(broker, session, req.key, req.key_type)
    return FindCoordinatorResponse(error_code=c.error_code, error_message=c.error_message, node_id=c.node_id,
                                   host=c.host, port=c.port)


async def handle_join_group(broker: Broker, session: Session, request: Request[JoinGroupRequest]
                            ) -> JoinGroupResponse:
    req = request.body
    error = _group_error(broker, session, req.group_id)
    if error:
        return JoinGroupResponse(error_code=error, member_id=req.member_id)
    response = await broker.coordinator.join(req, version=request.header.api_version,
                                             client_id=request.header.client_id or "", client_host=session.client_host)
    if request.header.api_version >= 7 and response.error_code == ErrorCode.NONE:  # the group's protocol type
        response = dataclasses.replace(response, protocol_type=req.protocol_type)
    return response


async def handle_sync_group(broker: Broker, session: Session, request: Request[SyncGroupRequest]) -> SyncGroupResponse:
    error = _group_error(broker, session, request.body.group_id)
    if error:
        return SyncGroupResponse(error_code=error)
    response = await broker.coordinator.sync(request.body)
    group = broker.coordinator.groups.get(request.body.group_id)
    if request.header.api_version >= 5 and response.error_code == ErrorCode.NONE and group is not None:
        response = dataclasses.replace(response, protocol_type=group.protocol_type, protocol_name=group.protocol_name)
    return response


async def handle_heartbeat(broker: Broker, session: Session, request: Request[HeartbeatRequest]) -> HeartbeatResponse:
    error = _group_error(broker, session, request.body.group_id)
    return HeartbeatResponse(error_code=error or broker.coordinator.heartbeat(request.body))


async def handle_leave_group(broker: Broker, session: Session, request: Request[LeaveGroupRequest]
                             ) -> LeaveGroupResponse:
    req = request.body
    error = _group_error(broker, session, req.group_id)
    if error:
        return LeaveGroupResponse(error_code=error)
    results = [MemberResponse(member_id=m.member_id, group_instance_id=m.group_instance_id,
                              error_code=broker.coordinator.leave(req.group_id, m.member_id)) for m in req.leaving]
    if request.header.api_version >= 3:
        return LeaveGroupResponse(members=tuple(results))
    return LeaveGroupResponse(error_code=results[0].error_code)


async def handle_offset_commit(broker: Broker, session: Session, request: Request[OffsetCommitRequest]
                               ) -> OffsetCommitResponse:
    req = request.body
    auth = broker.auth

    def answer(code_for: dict[TopicPartition, int]) -> OffsetCommitResponse:
        return OffsetCommitResponse(topics=tuple(
            OffsetCommitResponseTopic(name=t.name, partitions=tuple(
                OffsetCommitResponsePartition(partition_index=p.partition_index,
                                              error_code=code_for[(t.name, p.partition_index)])
                for p in t.partitions)) for t in req.topics))

    codes: dict[TopicPartition, int] = {}
    error = _group_error(broker, session, req.group_id) or broker.coordinator.check_commit(
        req.group_id, req.generation_id, req.member_id)
    now_ms = int(time.time() * 1000)
    updates: dict[TopicPartition, CommittedOffset] = {}
    for t in req.topics:
        topic_ok = auth.may_read_topic(session.principal, t.name)
        for p in t.partitions:
            tp = (t.name, p.partition_index)
            if error:
                codes[tp] = error
            elif not topic_ok:
                codes[tp] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            elif t.name not in broker.catalog.topics or p.partition_index not in broker.catalog.topics[t.name].partitions:
                codes[tp] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                codes[tp] = ErrorCode.NONE
                updates[tp] = CommittedOffset(p.committed_offset, p.committed_leader_epoch, p.committed_metadata,
                                              now_ms)
    if updates:
        try:
            await broker.coordinator.offsets.commit(req.group_id, updates)
        except ShadowReplicaError as e:
            log.warning("OffsetCommit for group %r failed: %s", req.group_id, e.message)
            for tp in updates:
                codes[tp] = kafka_code(e)
    return answer(codes)


async def handle_offset_fetch(broker: Broker, session: Session, request: Request[OffsetFetchRequest]
                              ) -> OffsetFetchResponse:
    req = request.body
    if request.header.api_version >= 8:  # several groups per request, each answered on its own
        groups = []
        for g in req.groups:
            topics, error = await _fetch_group(broker, session, g.group_id, g.topics, request.header.api_version)
            groups.append(OffsetFetchResponseGroup(group_id=g.group_id, topics=topics, error_code=error))
        return OffsetFetchResponse(groups=tuple(groups))
    topics, error = await _fetch_group(broker, session, req.group_id, req.topics, request.header.api_version)
    return OffsetFetchResponse(topics=topics, error_code=error)


async def _fetch_group(broker: Broker, session: Session, group_id: str,
                       requested: tuple[OffsetFetchRequestTopic, ...] | None, version: int,
                       ) -> tuple[tuple[OffsetFetchResponseTopic, ...], int]:
    """One group's committed offsets (the topics asked for, or all when None) and its group-level error."""
    error = _group_error(broker, session, group_id)
    committed: dict[TopicPartition, CommittedOffset] = {}
    if not error:
        try:
            committed = await broker.coordinator.offsets.fetch(group_id)
        except ShadowReplicaError as e:
            log.warning("OffsetFetch for group %r failed: %s", group_id, e.message)
            error = kafka_code(e)
    if error and (requested is None or version >= 2):
        return (), error
    if requested is None:
        wanted: dict[str, list[int]] = {}
        for topic, partition in sorted(committed):
            if broker.auth.may_read_topic(session.principal, topic):
                wanted.setdefault(topic, []).append(partition)
    else:
        wanted = {t.name: list(t.partition_indexes) for t in requested}
    topics = []
    for name, partitions in wanted.items():
        topic_ok = broker.auth.may_read_topic(session.principal, name)
        parts = []
        for p in partitions:
            c = committed.get((name, p))
            if error or not topic_ok:
                parts.append(OffsetFetchResponsePartition(
                    partition_index=p, error_code=error or ErrorCode.TOPIC_AUTHORIZATION_FAILED))
            elif c is None:
                parts.append(OffsetFetchResponsePartition(partition_index=p))
            else:
                parts.append(OffsetFetchResponsePartition(partition_index=p, committed_offset=c.offset,
                                                          committed_leader_epoch=c.leader_epoch, metadata=c.metadata))
        topics.append(OffsetFetchResponseTopic(name=name, partitions=tuple(parts)))
    return tuple(topics), ErrorCode.NONE


async def handle_list_groups(broker: Broker, session: Session, request: Request[ListGroupsRequest]
                             ) -> ListGroupsResponse:
    """Groups coordinated here: the live ones, plus those that only have committed offsets (state Empty);
    v4+ only those in ``states_filter`` when it is not empty (Kafka compares case-insensitively)."""
    listed = {g.group_id: g for g in broker.coordinator.listed()}
    try:
        stored = await broker.coordinator.offsets.groups()
    except ShadowReplicaError as e:
        log.warning("ListGroups could not list committed offsets: %s", e.message)
        return ListGroupsResponse(error_code=kafka_code(e))
    for g in stored:
        if g not in listed and broker.cluster.is_coordinator(g):
            listed[g] = ListedGroup(group_id=g, protocol_type="consumer", group_state="Empty")
    states = {s.lower() for s in request.body.states_filter}
    return ListGroupsResponse(groups=tuple(
        g for name, g in sorted(listed.items()) if broker.auth.may_use_group(session.principal, name)
        and (not states or g.group_state.lower() in states)))


async def handle_describe_groups(broker: Broker, session: Session, request: Request[DescribeGroupsRequest]
                                 ) -> DescribeGroupsResponse:
    out = []
    for group_id in request.body.groups:
        error = _group_error(broker, session, group_id)
        if error:
            out.append(DescribedGroup(error_code=error, group_id=group_id, group_state="", protocol_type="",
                                      protocol_data=""))
        else:
            described = broker.coordinator.describe(group_id)
            if described.group_state == "Dead":  # not live here: Empty if it has committed offsets, as in Kafka
                try:
                    if await broker.coordinator.offsets.fetch(group_id):
                        described = DescribedGroup(group_id=group_id, group_state="Empty", protocol_type="consumer",
                                                   protocol_data="")
                except ShadowReplicaError as e:
                    described = DescribedGroup(error_code=kafka_code(e), group_id=group_id, group_state="",
                                               protocol_type="", protocol_data="")
            out.append(described)
    return DescribeGroupsResponse(groups=tuple(out))
