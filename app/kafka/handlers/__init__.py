"""Request handlers, one module per API family, and the dispatch table :data:`HANDLERS`.

The server decodes a request, checks authentication, then calls ``HANDLERS[api_key](broker, session,
request)``; the handler returns the response body (or None: send nothing). Every API the codec decodes
has exactly one entry: the served ones (``SUPPORTED_VERSIONS``) and the refused writes and admin
requests (``REJECTED_VERSIONS``), so no decoded request ends in a dropped connection.
"""

from __future__ import annotations

from app.kafka.handlers._base import Broker, Handler, Session
from app.kafka.handlers.admin import (
    handle_describe_acls,
    handle_describe_cluster,
    handle_describe_configs,
    handle_describe_log_dirs,
    handle_describe_producers,
)
from app.kafka.handlers.api_versions import handle_api_versions
from app.kafka.handlers.epochs import handle_offset_for_leader_epoch
from app.kafka.handlers.fetch import handle_fetch
from app.kafka.handlers.groups import (
    handle_describe_groups,
    handle_find_coordinator,
    handle_heartbeat,
    handle_join_group,
    handle_leave_group,
    handle_list_groups,
    handle_offset_commit,
    handle_offset_fetch,
    handle_sync_group,
)
from app.kafka.handlers.list_offsets import handle_list_offsets
from app.kafka.handlers.metadata import handle_metadata
from app.kafka.handlers.produce import handle_rejected
from app.kafka.handlers.sasl import handle_sasl_authenticate, handle_sasl_handshake
from app.kafka.protocol import MESSAGES, ApiKey

__all__ = ["HANDLERS", "PRE_AUTH_APIS", "Broker", "Handler", "Session"]

HANDLERS: dict[ApiKey, Handler] = {
    ApiKey.ApiVersions: handle_api_versions,
    ApiKey.Metadata: handle_metadata,
    ApiKey.ListOffsets: handle_list_offsets,
    ApiKey.Fetch: handle_fetch,
    ApiKey.FindCoordinator: handle_find_coordinator,
    ApiKey.JoinGroup: handle_join_group,
    ApiKey.SyncGroup: handle_sync_group,
    ApiKey.Heartbeat: handle_heartbeat,
    ApiKey.LeaveGroup: handle_leave_group,
    ApiKey.OffsetCommit: handle_offset_commit,
    ApiKey.OffsetFetch: handle_offset_fetch,
    ApiKey.ListGroups: handle_list_groups,
    ApiKey.DescribeGroups: handle_describe_groups,
    ApiKey.SaslHandshake: handle_sasl_handshake,
    ApiKey.SaslAuthenticate: handle_sasl_authenticate,
    ApiKey.DescribeConfigs: handle_describe_configs,
    ApiKey.DescribeLogDirs: handle_describe_log_dirs,
    ApiKey.DescribeCluster: handle_describe_cluster,
    ApiKey.DescribeProducers: handle_describe_producers,
    ApiKey.DescribeAcls: handle_describe_acls,
    ApiKey.OffsetForLeaderEpoch: handle_offset_for_leader_epoch,
    ApiKey.Produce: handle_rejected,
    ApiKey.InitProducerId: handle_rejected,
    ApiKey.CreateTopics: handle_rejected,
    ApiKey.DeleteTopics: handle_rejected,
    ApiKey.DeleteRecords: handle_rejected,
    ApiKey.CreatePartitions: handle_rejected,
    ApiKey.AlterConfigs: handle_rejected,
    ApiKey.IncrementalAlterConfigs: handle_rejected,
    ApiKey.DeleteGroups: handle_rejected,
}

PRE_AUTH_APIS = frozenset({ApiKey.ApiVersions, ApiKey.SaslHandshake, ApiKey.SaslAuthenticate})
"""What a connection may send before authenticating on a listener that requires it (kafka-shim.md §8.1)."""

_missing = set(MESSAGES) - set(HANDLERS)
if _missing:  # pragma: no cover - a codec API without a handler is a bug caught at import
    raise RuntimeError(f"no handler for {sorted(k.name for k in _missing)}")
