"""The read-only admin APIs: DescribeConfigs, DescribeLogDirs, DescribeCluster, DescribeProducers, DescribeAcls.

* **DescribeConfigs**: a topic's configs come from its topic manifest (``cleanup.policy``, ``retention.ms``,
  ``retention.bytes``, ``segment.bytes``, ``compression.type``, ``message.timestamp.type``, and from a
  ``topic_manifest.bin`` the ``redpanda.remote.*`` properties). A value the manifest sets has source
  DYNAMIC_TOPIC_CONFIG, one it leaves unset shows the broker default with source DEFAULT_CONFIG; every
  config is read-only (a replica alters nothing). Broker resources ("" or a node id of this cluster) list
  the defaults topics fall back to. A topic the principal may not read is TOPIC_AUTHORIZATION_FAILED, an
  unknown one UNKNOWN_TOPIC_OR_PARTITION, another broker id or any other resource type INVALID_REQUEST, as
  Kafka answers them.
* **DescribeLogDirs**: one virtual log dir per instance, named by the bucket URL, with each readable
  partition this instance leads and its size from the manifests (the sum of its segments' sizes).
* **DescribeCluster**: the instances as brokers, the first as controller; controllers cannot be listed
  (UNSUPPORTED_ENDPOINT_TYPE, as a KRaft broker answers).
* **DescribeProducers**: a replica has no producers: nothing writes to it and no transaction is open in the
  served span (the last stable offset is the high watermark), so every readable partition answers an
  empty list; unknown or unreadable partitions get their error.
* **DescribeAcls**: the requesting principal's own configured read rights, as Kafka ACL bindings
  (``User:<name>``, host ``*``, READ, ALLOW; a ``name-*`` pattern as a PREFIXED resource, others LITERAL),
  filtered by the request. Other principals' ACLs are not shown. Without any ACL configured there is
  no authorizer: SECURITY_DISABLED, as Kafka answers.
"""

from __future__ import annotations

from app.kafka.handlers._base import Broker, Session
from app.kafka.protocol import (
    AclDescription,
    DescribeAclsRequest,
    DescribeAclsResource,
    DescribeAclsResponse,
    DescribeClusterBroker,
    DescribeClusterRequest,
    DescribeClusterResponse,
    DescribeConfigsRequest,
    DescribeConfigsResource,
    DescribeConfigsResourceResult,
    DescribeConfigsResponse,
    DescribeConfigsResult,
    DescribeConfigsSynonym,
    DescribeLogDirsPartition,
    DescribeLogDirsRequest,
    DescribeLogDirsResponse,
    DescribeLogDirsResult,
    DescribeLogDirsTopic,
    DescribeProducersRequest,
    DescribeProducersResponse,
    ErrorCode,
    ProducersPartitionResponse,
    ProducersTopicResponse,
    Request,
)
from segment_format.manifest import TopicManifest

__all__ = [
    "handle_describe_acls",
    "handle_describe_cluster",
    "handle_describe_configs",
    "handle_describe_log_dirs",
    "handle_describe_producers",
]

# ConfigResource.Type
TOPIC_RESOURCE, BROKER_RESOURCE = 2, 4
# DescribeConfigsResponse ConfigSource
DYNAMIC_TOPIC_CONFIG, STATIC_BROKER_CONFIG, DEFAULT_CONFIG = 1, 4, 5
# ConfigEntry.ConfigType
BOOLEAN, STRING, INT, LONG, LIST = 1, 2, 3, 5, 7
# AclOperation / AclPermissionType / ResourceType / PatternType
ANY, MATCH, LITERAL, PREFIXED = 1, 2, 3, 4
READ, DESCRIBE, DESCRIBE_CONFIGS = 3, 8, 10
ALLOW = 3
TOPIC_ACL, GROUP_ACL = 2, 3

# Redpanda's cluster defaults a topic falls back to (log_retention_ms, retention_bytes, log_segment_size,
# log_cleanup_policy, log_compression_type, log_message_timestamp_type)
BROKER_DEFAULTS: dict[str, tuple[str, str, int]] = {
    # topic config: (broker synonym, default value, config type)
    "cleanup.policy": ("log.cleanup.policy", "delete", LIST),
    "retention.ms": ("log.retention.ms", "604800000", LONG),
    "retention.bytes": ("log.retention.bytes", "-1", LONG),
    "segment.bytes": ("log.segment.bytes", "134217728", INT),
    "compression.type": ("compression.type", "producer", STRING),
    "message.timestamp.type": ("log.message.timestamp.type", "CreateTime", STRING),
}
DOCUMENTATION = {
    "cleanup.policy": "delete, compact or both: what the source cluster does with old segments",
    "retention.ms": "how long the source cluster keeps a segment (-1: forever)",
    "retention.bytes": "how many bytes a partition of the source cluster keeps (-1: no limit)",
    "segment.bytes": "the source cluster's segment size",
    "compression.type": "the compression the source cluster stores batches with (producer: as sent)",
    "message.timestamp.type": "CreateTime or LogAppendTime",
}
# model::shadow_indexing_mode bits: archival (write) 1, fetch (read) 2
_REMOTE_WRITE, _REMOTE_READ = 1, 2


def _topic_values(manifest: TopicManifest | None) -> dict[str, str | None]:
    """The topic configs the manifest sets (None: unset, the broker default applies)."""
    if manifest is None:
        return {}

    def tristate(value: object) -> str | None:
        if value is TopicManifest.DISABLED:
            return "-1"
        return None if value is None else str(value)

    return {
        "cleanup.policy": manifest.cleanup_policy_bitflags,
        "retention.ms": tristate(manifest.retention_duration),
        "retention.bytes": tristate(manifest.retention_bytes),
        "segment.bytes": None if manifest.segment_size is None else str(manifest.segment_size),
        "compression.type": manifest.compression,
        "message.timestamp.type": manifest.timestamp_type,
    }


def _entry(name: str, value: str | None, source: int, config_type: int, *, synonyms: bool, docs: bool,
           default: tuple[str, str] | None = None) -> DescribeConfigsResourceResult:
    found = []
    if synonyms:
        if source != DEFAULT_CONFIG:
            found.append(DescribeConfigsSynonym(name=name, value=value, source=source))
        if default is not None:
            found.append(DescribeConfigsSynonym(name=default[0], value=default[1], source=DEFAULT_CONFIG))
    return DescribeConfigsResourceResult(name=name, value=value, read_only=True, config_source=source,
                                         synonyms=tuple(found), config_type=config_type,
                                         documentation=DOCUMENTATION.get(name) if docs else None)


def _topic_configs(broker: Broker, name: str, synonyms: bool, docs: bool) -> list[DescribeConfigsResourceResult]:
    view = broker.catalog.topics[name]
    values = _topic_values(view.manifest)
    out = []
    for key, (synonym, default, config_type) in BROKER_DEFAULTS.items():
        value = values.get(key)
        source = DEFAULT_CONFIG if value is None else DYNAMIC_TOPIC_CONFIG
        out.append(_entry(key, default if value is None else value, source, config_type, synonyms=synonyms,
                          docs=docs, default=(synonym, default)))
    props = view.properties
    if props is not None:
        remote: dict[str, bool | None] = {
            "redpanda.remote.read": None if props.shadow_indexing is None
            else bool(props.shadow_indexing & _REMOTE_READ) and props.shadow_indexing < 0xF0,
            "redpanda.remote.write": None if props.shadow_indexing is None
            else bool(props.shadow_indexing & _REMOTE_WRITE) and props.shadow_indexing < 0xF0,
            "redpanda.remote.delete": props.remote_delete,
            "redpanda.remote.recovery": props.recovery,
            "redpanda.remote.readreplica": props.read_replica,
        }
        for key, flag in remote.items():
            if flag is not None:
                out.append(_entry(key, "true" if flag else "false", DYNAMIC_TOPIC_CONFIG, BOOLEAN, synonyms=synonyms,
                                  docs=docs))
    return out


def _broker_configs(broker: Broker, synonyms: bool, docs: bool) -> list[DescribeConfigsResourceResult]:
    out = [_entry(synonym, default, DEFAULT_CONFIG, config_type, synonyms=synonyms, docs=docs)
           for synonym, default, config_type in BROKER_DEFAULTS.values()]
    out.append(_entry("broker.id", str(broker.cluster.me.node_id), STATIC_BROKER_CONFIG, INT, synonyms=synonyms,
                      docs=docs))
    return out


def _describe_resource(broker: Broker, session: Session, res: DescribeConfigsResource, synonyms: bool, docs: bool
                       ) -> DescribeConfigsResult:
    def failed(code: ErrorCode, message: str) -> DescribeConfigsResult:
        return DescribeConfigsResult(error_code=code, error_message=message, resource_type=res.resource_type,
                                     resource_name=res.resource_name)

    if res.resource_type == TOPIC_RESOURCE:
        if not broker.auth.may_read_topic(session.principal, res.resource_name):
            return failed(ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed.")
        if res.resource_name not in broker.catalog.topics:
            return failed(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                          "This server does not host this topic-partition.")
        configs = _topic_configs(broker, res.resource_name, synonyms, docs)
    elif res.resource_type == BROKER_RESOURCE:
        ids = {str(n.node_id) for n in broker.cluster.nodes}
        if res.resource_name and res.resource_name not in ids:
            return failed(ErrorCode.INVALID_REQUEST, f"Unexpected broker id, expected one of {sorted(ids)} or "
                                                     f"empty string, but received {res.resource_name}")
        configs = _broker_configs(broker, synonyms, docs)
    else:
        return failed(ErrorCode.INVALID_REQUEST, f"Unsupported resource type: {res.resource_type}")
    if res.configuration_keys is not None:
        wanted = set(res.configuration_keys)
        configs = [c for c in configs if c.name in wanted]
    return DescribeConfigsResult(resource_type=res.resource_type, resource_name=res.resource_name,
                                 configs=tuple(configs))


async def handle_describe_configs(broker: Broker, session: Session, request: Request[DescribeConfigsRequest]
                                  ) -> DescribeConfigsResponse:
    req = request.body
    return DescribeConfigsResponse(results=tuple(
        _describe_resource(broker, session, res, req.include_synonyms, req.include_documentation)
        for res in req.resources))


def _led_here(broker: Broker, topic: str, partition: int) -> bool:
    return broker.cluster.leader(topic, partition) == broker.cluster.me


async def handle_describe_log_dirs(broker: Broker, session: Session, request: Request[DescribeLogDirsRequest]
                                   ) -> DescribeLogDirsResponse:
    catalog = broker.catalog
    readable = [n for n in sorted(catalog.topics) if broker.auth.may_read_topic(session.principal, n)]
    wanted: dict[str, set[int] | None]
    if request.body.topics is None:
        wanted = dict.fromkeys(readable)
    else:
        wanted = {}
        for t in request.body.topics:
            if t.topic in readable:
                wanted.setdefault(t.topic, set()).update(t.partitions)  # type: ignore[union-attr]
    topics = []
    for name, partitions in wanted.items():
        view = catalog.topics[name]
        rows = [DescribeLogDirsPartition(partition_index=p, partition_size=view.partitions[p].size_bytes)
                for p in sorted(view.partitions)
                if (partitions is None or p in partitions) and _led_here(broker, name, p)]
        if rows:
            topics.append(DescribeLogDirsTopic(name=name, partitions=tuple(rows)))
    log_dir = str(catalog.store.side.url)
    return DescribeLogDirsResponse(results=(DescribeLogDirsResult(log_dir=log_dir, topics=tuple(topics)),))


async def handle_describe_cluster(broker: Broker, session: Session, request: Request[DescribeClusterRequest]
                                  ) -> DescribeClusterResponse:
    req = request.body
    if req.endpoint_type != 1:
        return DescribeClusterResponse(error_code=ErrorCode.UNSUPPORTED_ENDPOINT_TYPE, endpoint_type=req.endpoint_type,
                                       error_message="The request was sent to an endpoint of type BROKER, but we "
                                                     f"wanted an endpoint of type {req.endpoint_type}",
                                       cluster_id=broker.cluster_id)
    ops = (1 << DESCRIBE) | (1 << DESCRIBE_CONFIGS)
    return DescribeClusterResponse(
        cluster_id=broker.cluster_id, controller_id=broker.cluster.nodes[0].node_id,
        brokers=tuple(DescribeClusterBroker(broker_id=n.node_id, host=n.host, port=n.port) for n in broker.cluster.nodes),
        cluster_authorized_operations=ops if req.include_cluster_authorized_operations else -(2**31),
    )


async def handle_describe_producers(broker: Broker, session: Session, request: Request[DescribeProducersRequest]
                                    ) -> DescribeProducersResponse:
    topics = []
    for t in request.body.topics:
        view = broker.catalog.topics.get(t.name)
        parts = []
        for p in t.partition_indexes:
            if not broker.auth.may_read_topic(session.principal, t.name):
                code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            elif view is None or p not in view.partitions:
                code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif not _led_here(broker, t.name, p):
                code = ErrorCode.NOT_LEADER_OR_FOLLOWER
            else:
                code = ErrorCode.NONE
            parts.append(ProducersPartitionResponse(partition_index=p, error_code=code))
        topics.append(ProducersTopicResponse(name=t.name, partitions=tuple(parts)))
    return DescribeProducersResponse(topics=tuple(topics))


def _binding(pattern: str) -> tuple[str, int]:
    """A configured fnmatch pattern as a Kafka resource pattern: ``x-*`` PREFIXED ``x-``; else LITERAL."""
    if pattern.endswith("*") and pattern != "*" and not any(c in pattern[:-1] for c in "*?["):
        return pattern[:-1], PREFIXED
    return pattern, LITERAL


def _pattern_matches(req: DescribeAclsRequest, name: str, pattern_type: int) -> bool:
    wanted = req.resource_name_filter
    if req.pattern_type_filter == ANY:
        return wanted is None or wanted == name
    if req.pattern_type_filter == MATCH:  # every binding that applies to the resource named
        if wanted is None:
            return True
        if pattern_type == PREFIXED:
            return wanted.startswith(name)
        return name in (wanted, "*")
    return pattern_type == req.pattern_type_filter and (wanted is None or wanted == name)


async def handle_describe_acls(broker: Broker, session: Session, request: Request[DescribeAclsRequest]
                               ) -> DescribeAclsResponse:
    req = request.body
    auth = broker.auth
    if not auth.acls_configured:
        return DescribeAclsResponse(error_code=ErrorCode.SECURITY_DISABLED, error_message="No Authorizer is configured.")
    acl = auth.configured_acl(session.principal)
    principal = f"User:{session.principal or 'ANONYMOUS'}"
    if acl is None or req.principal_filter not in (None, principal) or req.host_filter not in (None, "*") or \
            req.operation not in (ANY, READ) or req.permission_type not in (ANY, ALLOW):
        return DescribeAclsResponse()
    resources = []
    for resource_type, patterns in ((TOPIC_ACL, acl.topics), (GROUP_ACL, acl.groups)):
        if req.resource_type_filter not in (ANY, resource_type):
            continue
        for pattern in patterns:
            name, pattern_type = _binding(pattern)
            if _pattern_matches(req, name, pattern_type):
                resources.append(DescribeAclsResource(
                    resource_type=resource_type, resource_name=name, pattern_type=pattern_type,
                    acls=(AclDescription(principal=principal, host="*", operation=READ, permission_type=ALLOW),)))
    return DescribeAclsResponse(resources=tuple(resources))
