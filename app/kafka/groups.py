"""Consumer groups: a classic coordinator that passes assignments through, and offsets kept in S3.

Theory of operation (kafka-shim.md §9)
--------------------------------------
**Coordinator.** One :class:`Group` per group id this instance coordinates (``--peers`` rendezvous hash,
:mod:`app.kafka.cluster`). States and transitions::

    Empty ──join──▶ PreparingRebalance ──all joined / rebalance timeout──▶ CompletingRebalance
      ▲                  ▲      ▲                                               │ leader's SyncGroup
      │ last member      │      └──── join (new or changed member), leave, ─────┤
      │ leaves/expires   │            session expiry                            ▼
      └──────────────────┴──────────────────────────────────────────────────── Stable

* JoinGroup v4+ with an empty member id gets MEMBER_ID_REQUIRED and a generated id (kept "pending" for a
  session timeout). A join is *parked* until the round completes: when every known member has rejoined
  (not before ``initial_rebalance_delay`` for a group that was empty, so members starting together land
  in one generation) or when the largest rebalance timeout passes (members that did not rejoin are
  dropped). Completing bumps the generation, picks the protocol every member supports by the members'
  votes, keeps the leader if it is still there, and answers every parked join; only the leader gets the
  member list. The coordinator never looks inside member metadata or assignments.
* SyncGroup from the leader stores the assignments and releases the parked followers; a follower that
  comes first is parked; a new round answers parked syncs with REBALANCE_IN_PROGRESS.
* Heartbeat refreshes the session; it answers REBALANCE_IN_PROGRESS while a round is open, which is how
  members learn to rejoin. A member with neither heartbeat nor parked request for its session timeout is
  evicted by the reaper task (one task, ticking), which starts a round.
* Static membership (group.instance.id) is treated as dynamic membership, which clients accept.

**Offsets** live in the bucket (:mod:`app.group_offsets`), shared by every instance and the HTTP API.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from app.background import Background
from app.group_offsets import CommittedOffset, OffsetStore, TopicPartition
from app.kafka.protocol import (
    DescribedGroup,
    DescribedGroupMember,
    ErrorCode,
    HeartbeatRequest,
    JoinGroupRequest,
    JoinGroupResponse,
    JoinGroupResponseMember,
    ListedGroup,
    SyncGroupRequest,
    SyncGroupResponse,
)

__all__ = ["CommittedOffset", "Group", "GroupCoordinator", "GroupState", "OffsetStore", "TopicPartition"]

log = logging.getLogger(__name__)

REAPER_TICK = 0.1  # seconds between session/rebalance deadline checks
MIN_SESSION_TIMEOUT_MS = 1_000  # Kafka's group.min.session.timeout.ms is 6 s; tests use short sessions
MAX_SESSION_TIMEOUT_MS = 1_800_000  # Kafka's group.max.session.timeout.ms


# --------------------------------------------------------------------------------------- coordinator


class GroupState(Enum):
    EMPTY = "Empty"
    PREPARING = "PreparingRebalance"
    COMPLETING = "CompletingRebalance"
    STABLE = "Stable"


@dataclass(slots=True, eq=False)
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout: float
    rebalance_timeout: float
    protocols: tuple[tuple[str, bytes], ...]
    deadline: float
    assignment: bytes = b""
    join: asyncio.Future[JoinGroupResponse] | None = None
    sync: asyncio.Future[SyncGroupResponse] | None = None

    def metadata_for(self, protocol: str) -> bytes:
        return next((m for name, m in self.protocols if name == protocol), b"")

    @property
    def parked(self) -> bool:
        return (self.join is not None and not self.join.done()) or (self.sync is not None and not self.sync.done())


@dataclass(slots=True, eq=False)
class Group:
    group_id: str
    state: GroupState = GroupState.EMPTY
    generation: int = 0
    protocol_type: str = ""
    protocol_name: str = ""
    leader: str = ""
    members: dict[str, Member] = field(default_factory=dict)
    pending: dict[str, float] = field(default_factory=dict)  # member ids handed out, not yet joined
    rebalance_deadline: float = 0.0
    initial_deadline: float = 0.0

    def candidates(self) -> set[str]:
        """Protocols every member supports."""
        sets = [{name for name, _ in m.protocols} for m in self.members.values()]
        return set.intersection(*sets) if sets else set()


def _join_error(code: int, member_id: str = "") -> JoinGroupResponse:
    return JoinGroupResponse(error_code=code, generation_id=-1, member_id=member_id)


class GroupCoordinator:
    """The in-memory group state machine of this instance, plus the S3 offset store."""

    def __init__(self, offsets: OffsetStore, *, initial_rebalance_delay: float = 0.5) -> None:
        self.offsets = offsets
        self.initial_rebalance_delay = initial_rebalance_delay
        self.on_change: Callable[[Group], None] | None = None
        """Called when a group becomes Stable (the leader's assignments are in) or Empty: Kafka writes a
        GroupMetadata record then (``__consumer_offsets``)."""
        self.groups: dict[str, Group] = {}
        self._task = Background("group-reaper")

    # -- lifecycle --

    def start(self) -> None:
        self._task.start(self._reap_forever())

    async def close(self) -> None:
        await self._task.stop()

    async def _reap_forever(self) -> None:
        while True:
            try:
                self.reap(time.monotonic())
            except Exception:  # never let the reaper die: a bug is logged and the next tick retries
                log.exception("group reaper failed")
            await asyncio.sleep(REAPER_TICK)

    def reap(self, now: float) -> None:
        """Expire silent members and pending member ids; complete rounds whose deadline passed."""
        for group in list(self.groups.values()):
            for mid, expiry in list(group.pending.items()):
                if now >= expiry:
                    del group.pending[mid]
            expired = [m for m in group.members.values() if not m.parked and now >= m.deadline]
            for m in expired:
                log.info("group %r: member %r expired after a %.1f s session timeout", group.group_id, m.member_id,
                         m.session_timeout)
                self._remove(group, m)
            if expired:
                self._prepare(group, now, "session timeout")
            if group.state is GroupState.PREPARING:
                if now >= group.rebalance_deadline:
                    self._complete(group, now)
                else:
                    self._maybe_complete(group, now)
            if group.state is GroupState.EMPTY and not group.members and not group.pending:
                del self.groups[group.group_id]

    # -- transitions --

    def _changed(self, group: Group) -> None:
        if self.on_change is not None:
            try:
                self.on_change(group)
            except Exception:  # a listener's bug must not break the coordinator
                log.exception("group %r: change listener failed", group.group_id)

    def _remove(self, group: Group, member: Member) -> None:
        group.members.pop(member.member_id, None)
        if member.join is not None and not member.join.done():
            member.join.set_result(_join_error(ErrorCode.UNKNOWN_MEMBER_ID))
        if member.sync is not None and not member.sync.done():
            member.sync.set_result(SyncGroupResponse(error_code=ErrorCode.UNKNOWN_MEMBER_ID))
        if group.leader == member.member_id:
            group.leader = ""

    def _prepare(self, group: Group, now: float, reason: str) -> None:
        if group.state is GroupState.PREPARING:
            return
        if group.state is GroupState.COMPLETING:
            for m in group.members.values():
                if m.sync is not None and not m.sync.done():
                    m.sync.set_result(SyncGroupResponse(error_code=ErrorCode.REBALANCE_IN_PROGRESS))
                m.sync = None
        if not group.members and group.state is not GroupState.EMPTY:
            group.generation += 1
            group.state, group.protocol_name, group.leader = GroupState.EMPTY, "", ""
            log.info("group %r is empty (generation %d): %s", group.group_id, group.generation, reason)
            self._changed(group)
            return
        was_empty = group.state is GroupState.EMPTY
        group.state = GroupState.PREPARING
        group.rebalance_deadline = now + max((m.rebalance_timeout for m in group.members.values()), default=0.0)
        group.initial_deadline = now + self.initial_rebalance_delay if was_empty else 0.0
        log.info("group %r: rebalancing from generation %d (%s)", group.group_id, group.generation, reason)

    def _maybe_complete(self, group: Group, now: float) -> None:
        if group.state is not GroupState.PREPARING or now < group.initial_deadline:
            return
        if all(m.join is not None and not m.join.done() for m in group.members.values()):
            self._complete(group, now)

    def _complete(self, group: Group, now: float) -> None:
        for m in [m for m in group.members.values() if m.join is None or m.join.done()]:
            log.info("group %r: member %r did not rejoin in time", group.group_id, m.member_id)
            self._remove(group, m)
        if not group.members:
            group.generation += 1
            group.state, group.protocol_name, group.leader = GroupState.EMPTY, "", ""
            self._changed(group)
            return
        group.generation += 1
        members = list(group.members.values())
        candidates = group.candidates()
        votes: dict[str, int] = {}
        for m in members:
            choice = next(name for name, _ in m.protocols if name in candidates)
            votes[choice] = votes.get(choice, 0) + 1
        preference = [name for name, _ in members[0].protocols if name in candidates]
        group.protocol_name = max(preference, key=lambda name: (votes.get(name, 0), -preference.index(name)))
        if group.leader not in group.members:
            group.leader = members[0].member_id
        group.state = GroupState.COMPLETING
        roster = tuple(JoinGroupResponseMember(member_id=m.member_id, group_instance_id=m.group_instance_id,
                                               metadata=m.metadata_for(group.protocol_name)) for m in members)
        log.info("group %r: generation %d with %d member(s), protocol %r, leader %r", group.group_id,
                 group.generation, len(members), group.protocol_name, group.leader)
        for m in members:
            m.deadline = now + m.session_timeout
            m.assignment = b""
            reply = JoinGroupResponse(generation_id=group.generation, protocol_name=group.protocol_name,
                                      leader=group.leader, member_id=m.member_id,
                                      members=roster if m.member_id == group.leader else ())
            assert m.join is not None
            if not m.join.done():
                m.join.set_result(reply)
            m.join = None

    # -- requests --

    async def join(self, req: JoinGroupRequest, *, version: int, client_id: str, client_host: str) -> JoinGroupResponse:
        now = time.monotonic()
        if not req.group_id:
            return _join_error(ErrorCode.INVALID_GROUP_ID, req.member_id)
        if not MIN_SESSION_TIMEOUT_MS <= req.session_timeout_ms <= MAX_SESSION_TIMEOUT_MS:
            return _join_error(ErrorCode.INVALID_SESSION_TIMEOUT, req.member_id)
        if not req.protocols or not req.protocol_type:
            return _join_error(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, req.member_id)
        group = self.groups.setdefault(req.group_id, Group(req.group_id))
        names = {p.name for p in req.protocols}
        others = [m for mid, m in group.members.items() if mid != req.member_id]
        if others and (req.protocol_type != group.protocol_type
                       or not names.intersection(*({n for n, _ in m.protocols} for m in others))):
            return _join_error(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, req.member_id)
        member_id = req.member_id
        if not member_id:
            member_id = f"{client_id or 'consumer'}-{uuid.uuid4()}"
            if version >= 4:
                group.pending[member_id] = now + req.session_timeout_ms / 1000
                return _join_error(ErrorCode.MEMBER_ID_REQUIRED, member_id)
        elif member_id not in group.members and member_id not in group.pending:
            return _join_error(ErrorCode.UNKNOWN_MEMBER_ID, member_id)
        group.pending.pop(member_id, None)
        protocols = tuple((p.name, bytes(p.metadata)) for p in req.protocols)
        rebalance_timeout = (req.rebalance_timeout_ms if req.rebalance_timeout_ms > 0 else req.session_timeout_ms) / 1000
        member = group.members.get(member_id)
        loop = asyncio.get_running_loop()
        if member is None:
            member = Member(member_id, req.group_instance_id, client_id, client_host, req.session_timeout_ms / 1000,
                            rebalance_timeout, protocols, now + req.session_timeout_ms / 1000)
            group.members[member_id] = member
            group.protocol_type = req.protocol_type
            self._prepare(group, now, f"member {member_id} joined")
        else:
            changed = member.protocols != protocols
            member.protocols, member.session_timeout = protocols, req.session_timeout_ms / 1000
            member.rebalance_timeout, member.deadline = rebalance_timeout, now + member.session_timeout
            if group.state in (GroupState.STABLE, GroupState.COMPLETING) and not changed \
                    and member_id != group.leader:
                # a follower repeating its join: answer with the current generation, no new round
                return JoinGroupResponse(generation_id=group.generation, protocol_name=group.protocol_name,
                                         leader=group.leader, member_id=member_id)
            self._prepare(group, now, f"member {member_id} rejoined")
        if member.join is not None and not member.join.done():
            member.join.set_result(_join_error(ErrorCode.UNKNOWN_MEMBER_ID, member_id))  # superseded
        member.join = loop.create_future()
        fut = member.join
        self._maybe_complete(group, now)
        return await fut

    async def sync(self, req: SyncGroupRequest) -> SyncGroupResponse:
        now = time.monotonic()
        group = self.groups.get(req.group_id)
        member = group.members.get(req.member_id) if group is not None else None
        if group is None or member is None:
            return SyncGroupResponse(error_code=ErrorCode.UNKNOWN_MEMBER_ID)
        if req.generation_id != group.generation:
            return SyncGroupResponse(error_code=ErrorCode.ILLEGAL_GENERATION)
        if group.state is GroupState.PREPARING:
            return SyncGroupResponse(error_code=ErrorCode.REBALANCE_IN_PROGRESS)
        member.deadline = now + member.session_timeout
        if group.state is GroupState.STABLE:
            return SyncGroupResponse(assignment=member.assignment)
        # CompletingRebalance
        if req.member_id == group.leader:
            given = {a.member_id: bytes(a.assignment) for a in req.assignments}
            group.state = GroupState.STABLE
            for m in group.members.values():
                m.assignment = given.get(m.member_id, b"")
                m.deadline = now + m.session_timeout
                if m.sync is not None and not m.sync.done():
                    m.sync.set_result(SyncGroupResponse(assignment=m.assignment))
                m.sync = None
            self._changed(group)
            log.info("group %r: generation %d is stable", group.group_id, group.generation)
            return SyncGroupResponse(assignment=member.assignment)
        member.sync = asyncio.get_running_loop().create_future()
        return await member.sync

    def heartbeat(self, req: HeartbeatRequest) -> int:
        group = self.groups.get(req.group_id)
        member = group.members.get(req.member_id) if group is not None else None
        if group is None or member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if req.generation_id != group.generation:
            return ErrorCode.ILLEGAL_GENERATION
        member.deadline = time.monotonic() + member.session_timeout
        if group.state is GroupState.PREPARING:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def leave(self, group_id: str, member_id: str) -> int:
        group = self.groups.get(group_id)
        member = group.members.get(member_id) if group is not None else None
        if group is None or member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        log.info("group %r: member %r left", group_id, member_id)
        self._remove(group, member)
        now = time.monotonic()
        self._prepare(group, now, f"member {member_id} left")
        self._maybe_complete(group, now)
        return ErrorCode.NONE

    def check_commit(self, group_id: str, generation: int, member_id: str) -> int:
        """The error code for an OffsetCommit's group fields (0 = go ahead)."""
        group = self.groups.get(group_id)
        if generation < 0 and not member_id:
            return ErrorCode.NONE if group is None or not group.members else ErrorCode.UNKNOWN_MEMBER_ID
        member = group.members.get(member_id) if group is not None else None
        if group is None or member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if generation != group.generation:
            return ErrorCode.ILLEGAL_GENERATION
        if group.state is GroupState.COMPLETING:
            return ErrorCode.REBALANCE_IN_PROGRESS
        member.deadline = time.monotonic() + member.session_timeout
        return ErrorCode.NONE

    def listed(self) -> list[ListedGroup]:
        return [ListedGroup(group_id=g.group_id, protocol_type=g.protocol_type, group_state=g.state.value)
                for g in self.groups.values()]

    def membership(self, group_id: str) -> tuple[str, list[dict[str, Any]]] | None:
        """State and members of a group this instance coordinates (for the HTTP lag routes); None if not here."""
        group = self.groups.get(group_id)
        if group is None:
            return None
        return group.state.value, [{"member_id": m.member_id, "client_id": m.client_id, "client_host": m.client_host,
                                    "group_instance_id": m.group_instance_id} for m in group.members.values()]

    def describe(self, group_id: str) -> DescribedGroup:
        group = self.groups.get(group_id)
        if group is None:
            return DescribedGroup(group_id=group_id, group_state="Dead", protocol_type="", protocol_data="")
        stable = group.state is GroupState.STABLE
        return DescribedGroup(
            group_id=group_id, group_state=group.state.value, protocol_type=group.protocol_type,
            protocol_data=group.protocol_name,
            members=tuple(DescribedGroupMember(
                member_id=m.member_id, group_instance_id=m.group_instance_id, client_id=m.client_id,
                client_host=m.client_host, member_metadata=m.metadata_for(group.protocol_name),
                member_assignment=m.assignment if stable else b"") for m in group.members.values()),
        )
