"""API keys, and when each served API switches to flexible versions (KIP-482).

``FLEXIBLE_FROM`` is taken from Apache Kafka's message JSON (``flexibleVersions``); ``None`` means
the API never became flexible. It decides the request header version (v2 when flexible, else v1),
the response header version (v1 when flexible, else v0; ApiVersions always v0) and the compact
encodings of the body. Only the APIs this package decodes are listed: an (API, version) we do not
decode is never parsed beyond its first eight bytes.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["FLEXIBLE_FROM", "ApiKey", "is_flexible", "request_header_version", "response_header_version"]


class ApiKey(IntEnum):
    """Every well-known Kafka API key (Apache Kafka 4.1), by its official name."""

    Produce = 0
    Fetch = 1
    ListOffsets = 2
    Metadata = 3
    LeaderAndIsr = 4
    StopReplica = 5
    UpdateMetadata = 6
    ControlledShutdown = 7
    OffsetCommit = 8
    OffsetFetch = 9
    FindCoordinator = 10
    JoinGroup = 11
    Heartbeat = 12
    LeaveGroup = 13
    SyncGroup = 14
    DescribeGroups = 15
    ListGroups = 16
    SaslHandshake = 17
    ApiVersions = 18
    CreateTopics = 19
    DeleteTopics = 20
    DeleteRecords = 21
    InitProducerId = 22
    OffsetForLeaderEpoch = 23
    AddPartitionsToTxn = 24
    AddOffsetsToTxn = 25
    EndTxn = 26
    WriteTxnMarkers = 27
    TxnOffsetCommit = 28
    DescribeAcls = 29
    CreateAcls = 30
    DeleteAcls = 31
    DescribeConfigs = 32
    AlterConfigs = 33
    AlterReplicaLogDirs = 34
    DescribeLogDirs = 35
    SaslAuthenticate = 36
    CreatePartitions = 37
    CreateDelegationToken = 38
    RenewDelegationToken = 39
    ExpireDelegationToken = 40
    DescribeDelegationToken = 41
    DeleteGroups = 42
    ElectLeaders = 43
    IncrementalAlterConfigs = 44
    AlterPartitionReassignments = 45
    ListPartitionReassignments = 46
    OffsetDelete = 47
    DescribeClientQuotas = 48
    AlterClientQuotas = 49
    DescribeUserScramCredentials = 50
    AlterUserScramCredentials = 51
    Vote = 52
    BeginQuorumEpoch = 53
    EndQuorumEpoch = 54
    DescribeQuorum = 55
    AlterPartition = 56
    UpdateFeatures = 57
    Envelope = 58
    FetchSnapshot = 59
    DescribeCluster = 60
    DescribeProducers = 61
    BrokerRegistration = 62
    BrokerHeartbeat = 63
    UnregisterBroker = 64
    DescribeTransactions = 65
    ListTransactions = 66
    AllocateProducerIds = 67
    ConsumerGroupHeartbeat = 68
    ConsumerGroupDescribe = 69
    ControllerRegistration = 70
    GetTelemetrySubscriptions = 71
    PushTelemetry = 72
    AssignReplicasToDirs = 73
    ListConfigResources = 74
    DescribeTopicPartitions = 75
    ShareGroupHeartbeat = 76
    ShareGroupDescribe = 77
    ShareFetch = 78
    ShareAcknowledge = 79
    AddRaftVoter = 80
    RemoveRaftVoter = 81
    UpdateRaftVoter = 82
    InitializeShareGroupState = 83
    ReadShareGroupState = 84
    WriteShareGroupState = 85
    DeleteShareGroupState = 86
    ReadShareGroupStateSummary = 87
    StreamsGroupHeartbeat = 88
    StreamsGroupDescribe = 89
    DescribeShareGroupOffsets = 90
    AlterShareGroupOffsets = 91
    DeleteShareGroupOffsets = 92


FLEXIBLE_FROM: dict[ApiKey, int | None] = {
    ApiKey.Produce: 9,
    ApiKey.Fetch: 12,
    ApiKey.ListOffsets: 6,
    ApiKey.Metadata: 9,
    ApiKey.OffsetCommit: 8,
    ApiKey.OffsetFetch: 6,
    ApiKey.FindCoordinator: 3,
    ApiKey.JoinGroup: 6,
    ApiKey.Heartbeat: 4,
    ApiKey.LeaveGroup: 4,
    ApiKey.SyncGroup: 4,
    ApiKey.DescribeGroups: 5,
    ApiKey.ListGroups: 3,
    ApiKey.SaslHandshake: None,
    ApiKey.ApiVersions: 3,
    ApiKey.CreateTopics: 5,
    ApiKey.DeleteTopics: 4,
    ApiKey.DeleteRecords: 2,
    ApiKey.InitProducerId: 2,
    ApiKey.AlterConfigs: 2,
    ApiKey.SaslAuthenticate: 2,
    ApiKey.CreatePartitions: 2,
    ApiKey.DeleteGroups: 2,
    ApiKey.IncrementalAlterConfigs: 1,
    ApiKey.DescribeConfigs: 4,
    ApiKey.DescribeLogDirs: 2,
    ApiKey.DescribeCluster: 0,
    ApiKey.DescribeProducers: 0,
    ApiKey.DescribeAcls: 2,
    ApiKey.OffsetForLeaderEpoch: 4,
}


def is_flexible(api_key: ApiKey, api_version: int) -> bool:
    """Whether (API, version) uses compact encodings and tagged fields."""
    first = FLEXIBLE_FROM[api_key]
    return first is not None and api_version >= first


def request_header_version(api_key: ApiKey, api_version: int) -> int:
    """2 for flexible requests, else 1 (v0, without client_id, is not used by any API we serve)."""
    return 2 if is_flexible(api_key, api_version) else 1


def response_header_version(api_key: ApiKey, api_version: int) -> int:
    """1 for flexible responses, else 0; ApiVersions responses always use v0 (KIP-511)."""
    if api_key is ApiKey.ApiVersions:
        return 0
    return 1 if is_flexible(api_key, api_version) else 0
