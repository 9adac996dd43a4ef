"""The tables: which (API, version) this codec serves, refuses or closes on, and how to code each.

Rules
-----
1. ``SUPPORTED_VERSIONS`` is what the shim *advertises and serves*: the consumer APIs' window every
   tested client accepts (kafka-shim.md §0.3, §5 Tier 1), with each lower bound at or below the
   "highest shim minimum allowed" of §1.2, and the read-only admin APIs. ApiVersions goes to v3
   (flexible body, v0 header); ListOffsets and the admin APIs include flexible versions.
2. ``REJECTED_VERSIONS`` is decoded but never served: write/admin APIs answered with the
   authorization error Kafka gives an unauthorized principal (:func:`reject`). Not advertised
   unless the shell asks (:func:`api_versions_response`).
3. Anything else is decided by :func:`classify_request` from the first eight bytes alone:
   an ApiVersions request above our maximum is *answered* with the v0-layout UNSUPPORTED_VERSION
   reply and the connection stays open; every other API key or version *closes* the connection,
   which is what Kafka does (no client sends an API it was not offered).
4. One entry per API in ``MESSAGES``: its request and response classes, coded by their
   :func:`struct_of` structs (Fetch's response by a hand-written zero-copy writer). All dispatch is a
   table lookup.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeAlias, TypeVar

from ._admin import (
    DescribeAclsRequest,
    DescribeAclsResponse,
    DescribeClusterRequest,
    DescribeClusterResponse,
    DescribeConfigsRequest,
    DescribeConfigsResponse,
    DescribeLogDirsRequest,
    DescribeLogDirsResponse,
    DescribeProducersRequest,
    DescribeProducersResponse,
    OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
)
from ._api_keys import ApiKey, is_flexible, request_header_version, response_header_version
from ._api_versions import (
    ApiVersion,
    ApiVersionsRequest,
    ApiVersionsResponse,
    api_versions_fallback_reply,
)
from ._fetch import FetchRequest, FetchResponse, encode_fetch_response
from ._framing import RequestHeader, parse_request_header, peek_request_header, response_header
from ._group import (
    DescribeGroupsRequest,
    DescribeGroupsResponse,
    FindCoordinatorRequest,
    FindCoordinatorResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    JoinGroupRequest,
    JoinGroupResponse,
    LeaveGroupRequest,
    LeaveGroupResponse,
    ListGroupsRequest,
    ListGroupsResponse,
    SyncGroupRequest,
    SyncGroupResponse,
)
from ._list_offsets import (
    ListOffsetsRequest,
    ListOffsetsResponse,
)
from ._metadata import MetadataRequest, MetadataResponse
from ._offsets import (
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetFetchRequest,
    OffsetFetchResponse,
)
from ._primitives import INT32, Buffer, Reader, write_string
from ._produce import ProduceRequest, ProduceResponse, reject_produce
from ._rejected import (
    REJECTORS,
    CreatePartitionsRequest,
    CreatePartitionsResponse,
    CreateTopicsRequest,
    CreateTopicsResponse,
    DeleteRecordsRequest,
    DeleteRecordsResponse,
    DeleteTopicsRequest,
    DeleteTopicsResponse,
    InitProducerIdRequest,
    InitProducerIdResponse,
)
from ._rejected_configs import (
    AlterConfigsRequest,
    AlterConfigsResponse,
    DeleteGroupsRequest,
    DeleteGroupsResponse,
    IncrementalAlterConfigsRequest,
)
from ._sasl import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
)
from ._schema import Struct, struct_of
from .errors import LocalProtocolError, MalformedRequest, UnsupportedRequest

__all__ = [
    "MESSAGES",
    "REJECTED_VERSIONS",
    "SASL_APIS",
    "SUPPORTED_VERSIONS",
    "Disposition",
    "MessageCodec",
    "RejectableRequest",
    "Request",
    "RequestBody",
    "ResponseBody",
    "api_versions_response",
    "classify_request",
    "decode_request",
    "encode_request",
    "encode_response",
    "encode_response_buffers",
    "reject",
]

SUPPORTED_VERSIONS: dict[ApiKey, tuple[int, int]] = {
    ApiKey.Produce: (3, 8),  # advertised for librdkafka's feature check; every partition refused
    ApiKey.Fetch: (4, 12),  # 4 = v2 batches; min <= 11 (kcat max); 12 flexible, diverging epochs
    ApiKey.ListOffsets: (1, 9),  # min <= 2 (kcat); 6+ flexible; 7 max timestamp (-3); 8 -4; 9 -5
    ApiKey.Metadata: (0, 12),  # min <= 4 (kcat); 9 flexible (librdkafka trusts leader epochs from 9); 10 topic ids
    ApiKey.OffsetCommit: (2, 8),  # min <= 3 (aio speaks 2-3); 8 flexible
    ApiKey.OffsetFetch: (1, 8),  # min <= 3 (aio speaks 1-3); 6+ flexible, 7 require_stable, 8 several groups
    ApiKey.FindCoordinator: (0, 4),  # min <= 1 (aio); 3+ flexible, 4 batches keys
    ApiKey.JoinGroup: (0, 9),  # min <= 5; 6+ flexible
    ApiKey.Heartbeat: (0, 4),  # min <= 1 (aio, librdkafka); 4 flexible
    ApiKey.LeaveGroup: (0, 5),  # min <= 1 (aio, librdkafka); 4+ flexible
    ApiKey.SyncGroup: (0, 5),  # min <= 3; 4+ flexible, 5 protocol type/name
    ApiKey.DescribeGroups: (0, 5),  # tooling only; 5 flexible
    ApiKey.ListGroups: (0, 4),  # tooling only; 3+ flexible, 4 states filter
    ApiKey.SaslHandshake: (0, 1),  # v0: unframed tokens follow; librdkafka turns SASL on only with v0 listed
    ApiKey.ApiVersions: (0, 3),  # v3: flexible body, header v0; v4+ gets the v0 fallback reply
    ApiKey.SaslAuthenticate: (0, 2),  # min 0 (kcat); 2 flexible
    # the read-only admin APIs (app.kafka.protocol._admin): the versions Kafka 3.9 and 4.x both serve
    ApiKey.DescribeConfigs: (1, 4),  # librdkafka speaks 0-1, aio 0-2, kafka-python 1-4
    ApiKey.DescribeLogDirs: (1, 4),
    ApiKey.DescribeCluster: (0, 1),
    ApiKey.DescribeProducers: (0, 0),
    ApiKey.DescribeAcls: (1, 3),
    ApiKey.OffsetForLeaderEpoch: (2, 4),  # librdkafka sends v2 after a leader epoch change
}

REJECTED_VERSIONS: dict[ApiKey, tuple[int, int]] = {
    ApiKey.CreateTopics: (2, 4),
    ApiKey.DeleteTopics: (1, 3),
    ApiKey.DeleteRecords: (0, 1),
    ApiKey.InitProducerId: (0, 1),
    ApiKey.AlterConfigs: (0, 1),
    ApiKey.CreatePartitions: (0, 1),
    ApiKey.DeleteGroups: (0, 1),
    ApiKey.IncrementalAlterConfigs: (0, 0),
}

SASL_APIS = frozenset({ApiKey.SaslHandshake, ApiKey.SaslAuthenticate})
"""Advertised only on SASL listeners (kafka-shim.md §8.1)."""

RejectableRequest: TypeAlias = (
    ProduceRequest
    | InitProducerIdRequest
    | CreateTopicsRequest
    | DeleteTopicsRequest
    | DeleteRecordsRequest
    | CreatePartitionsRequest
    | AlterConfigsRequest
    | IncrementalAlterConfigsRequest
    | DeleteGroupsRequest
)

RequestBody: TypeAlias = (
    ApiVersionsRequest
    | MetadataRequest
    | ListOffsetsRequest
    | FetchRequest
    | FindCoordinatorRequest
    | JoinGroupRequest
    | SyncGroupRequest
    | HeartbeatRequest
    | LeaveGroupRequest
    | OffsetCommitRequest
    | OffsetFetchRequest
    | ListGroupsRequest
    | DescribeGroupsRequest
    | SaslHandshakeRequest
    | SaslAuthenticateRequest
    | RejectableRequest
    | DescribeConfigsRequest
    | DescribeLogDirsRequest
    | DescribeClusterRequest
    | DescribeProducersRequest
    | DescribeAclsRequest
    | OffsetForLeaderEpochRequest
)

ResponseBody: TypeAlias = (
    ApiVersionsResponse
    | MetadataResponse
    | ListOffsetsResponse
    | FetchResponse
    | ProduceResponse
    | FindCoordinatorResponse
    | JoinGroupResponse
    | SyncGroupResponse
    | HeartbeatResponse
    | LeaveGroupResponse
    | OffsetCommitResponse
    | OffsetFetchResponse
    | ListGroupsResponse
    | DescribeGroupsResponse
    | SaslHandshakeResponse
    | SaslAuthenticateResponse
    | InitProducerIdResponse
    | CreateTopicsResponse
    | DeleteTopicsResponse
    | DeleteRecordsResponse
    | CreatePartitionsResponse
    | AlterConfigsResponse
    | DeleteGroupsResponse
    | DescribeConfigsResponse
    | DescribeLogDirsResponse
    | DescribeClusterResponse
    | DescribeProducersResponse
    | DescribeAclsResponse
    | OffsetForLeaderEpochResponse
)


@dataclass(frozen=True, slots=True)
class MessageCodec:
    """How one API's request and response travel: the two message classes, coded by their structs."""

    request_type: type[Any]
    response_type: type[Any]
    response_by_hand: bool = False  # Fetch: encode_fetch_response writes it (zero-copy)

    @property
    def request(self) -> Struct[Any]:
        return struct_of(self.request_type)

    @property
    def response(self) -> Struct[Any] | None:
        return None if self.response_by_hand else struct_of(self.response_type)


MESSAGES: dict[ApiKey, MessageCodec] = {
    ApiKey.Produce: MessageCodec(ProduceRequest, ProduceResponse),
    ApiKey.Fetch: MessageCodec(FetchRequest, FetchResponse, response_by_hand=True),
    ApiKey.ListOffsets: MessageCodec(ListOffsetsRequest, ListOffsetsResponse),
    ApiKey.Metadata: MessageCodec(MetadataRequest, MetadataResponse),
    ApiKey.OffsetCommit: MessageCodec(OffsetCommitRequest, OffsetCommitResponse),
    ApiKey.OffsetFetch: MessageCodec(OffsetFetchRequest, OffsetFetchResponse),
    ApiKey.FindCoordinator: MessageCodec(FindCoordinatorRequest, FindCoordinatorResponse),
    ApiKey.JoinGroup: MessageCodec(JoinGroupRequest, JoinGroupResponse),
    ApiKey.Heartbeat: MessageCodec(HeartbeatRequest, HeartbeatResponse),
    ApiKey.LeaveGroup: MessageCodec(LeaveGroupRequest, LeaveGroupResponse),
    ApiKey.SyncGroup: MessageCodec(SyncGroupRequest, SyncGroupResponse),
    ApiKey.DescribeGroups: MessageCodec(DescribeGroupsRequest, DescribeGroupsResponse),
    ApiKey.ListGroups: MessageCodec(ListGroupsRequest, ListGroupsResponse),
    ApiKey.SaslHandshake: MessageCodec(SaslHandshakeRequest, SaslHandshakeResponse),
    ApiKey.ApiVersions: MessageCodec(ApiVersionsRequest, ApiVersionsResponse),
    ApiKey.SaslAuthenticate: MessageCodec(SaslAuthenticateRequest, SaslAuthenticateResponse),
    ApiKey.CreateTopics: MessageCodec(CreateTopicsRequest, CreateTopicsResponse),
    ApiKey.DeleteTopics: MessageCodec(DeleteTopicsRequest, DeleteTopicsResponse),
    ApiKey.DeleteRecords: MessageCodec(DeleteRecordsRequest, DeleteRecordsResponse),
    ApiKey.InitProducerId: MessageCodec(InitProducerIdRequest, InitProducerIdResponse),
    ApiKey.AlterConfigs: MessageCodec(AlterConfigsRequest, AlterConfigsResponse),
    ApiKey.CreatePartitions: MessageCodec(CreatePartitionsRequest, CreatePartitionsResponse),
    ApiKey.DeleteGroups: MessageCodec(DeleteGroupsRequest, DeleteGroupsResponse),
    ApiKey.IncrementalAlterConfigs: MessageCodec(IncrementalAlterConfigsRequest, AlterConfigsResponse),
    ApiKey.DescribeConfigs: MessageCodec(DescribeConfigsRequest, DescribeConfigsResponse),
    ApiKey.DescribeLogDirs: MessageCodec(DescribeLogDirsRequest, DescribeLogDirsResponse),
    ApiKey.DescribeCluster: MessageCodec(DescribeClusterRequest, DescribeClusterResponse),
    ApiKey.DescribeProducers: MessageCodec(DescribeProducersRequest, DescribeProducersResponse),
    ApiKey.DescribeAcls: MessageCodec(DescribeAclsRequest, DescribeAclsResponse),
    ApiKey.OffsetForLeaderEpoch: MessageCodec(OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse),
}

_API_KEYS = {int(k): k for k in ApiKey}
_REQUEST_PREFIX = struct.Struct(">hhi")  # api_key, api_version, correlation_id


class Disposition(Enum):
    """What to do with a request, decided from its API key and version alone."""

    SERVE = "serve"  # decode it and handle it
    REJECT = "reject"  # decode it and answer with reject(body)
    ANSWER_UNSUPPORTED_VERSION = "answer-unsupported-version"  # send the ApiVersions v0 fallback reply
    CLOSE = "close"  # close the connection without answering


def classify_request(api_key: int, api_version: int) -> Disposition:
    """SERVE, REJECT, ANSWER_UNSUPPORTED_VERSION (ApiVersions above our maximum) or CLOSE."""
    api = _API_KEYS.get(api_key)
    if api is None:
        return Disposition.CLOSE
    served = SUPPORTED_VERSIONS.get(api)
    if served is not None and served[0] <= api_version <= served[1]:
        return Disposition.SERVE
    rejected = REJECTED_VERSIONS.get(api)
    if rejected is not None and rejected[0] <= api_version <= rejected[1]:
        return Disposition.REJECT
    if api is ApiKey.ApiVersions and api_version > SUPPORTED_VERSIONS[api][1]:
        return Disposition.ANSWER_UNSUPPORTED_VERSION
    return Disposition.CLOSE


BodyT = TypeVar("BodyT", covariant=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Request(Generic[BodyT]):
    """A decoded request: its header and its typed body (match on the body's class)."""

    header: RequestHeader
    body: BodyT

    @property
    def expects_response(self) -> bool:
        """False only for Produce with ``acks=0``: send nothing back (Kafka sends nothing)."""
        body: object = self.body
        return not isinstance(body, ProduceRequest) or body.expects_response


def decode_request(payload: Buffer) -> Request[RequestBody]:
    """Decode one request frame payload (as returned in :attr:`Frame.payload`).

    Raises :class:`UnsupportedRequest` for an (API, version) outside both tables, with ``reply``
    set to the framed answer when one is due (ApiVersions above our maximum) and None when the
    connection must be closed; :class:`MalformedRequest` when the bytes do not parse, including
    trailing bytes after the body. Never raises anything else.

    >>> request = decode_request(frame.payload)
    >>> match request.body:
    ...     case FetchRequest(): ...
    """
    prefix = peek_request_header(payload)
    disposition = classify_request(prefix.api_key, prefix.api_version)
    if disposition is Disposition.ANSWER_UNSUPPORTED_VERSION:
        low, high = SUPPORTED_VERSIONS[ApiKey.ApiVersions]
        reply = api_versions_fallback_reply(prefix.correlation_id, min_version=low, max_version=high)
        raise UnsupportedRequest(
            api_key=prefix.api_key, api_version=prefix.api_version, correlation_id=prefix.correlation_id, reply=reply
        )
    if disposition is Disposition.CLOSE:
        raise UnsupportedRequest(
            api_key=prefix.api_key, api_version=prefix.api_version, correlation_id=prefix.correlation_id, reply=None
        )
    api = ApiKey(prefix.api_key)
    version = prefix.api_version
    reader = Reader(payload)
    header = parse_request_header(reader, api, request_header_version(api, version))
    body = MESSAGES[api].request.read(reader, version, is_flexible(api, version), False)
    if reader.remaining:
        raise MalformedRequest(f"{reader.remaining} trailing bytes after the {api.name} request", position=reader.pos)
    return Request(header=header, body=body)


def _check_encodable(api: ApiKey, version: int) -> None:
    for table in (SUPPORTED_VERSIONS, REJECTED_VERSIONS):
        window = table.get(api)
        if window is not None and window[0] <= version <= window[1]:
            return
    raise LocalProtocolError(f"{api.name} v{version} is not a version this codec serves")


def encode_response_buffers(header: RequestHeader, body: ResponseBody) -> list[Buffer]:
    """The framed response to the request with ``header``, as buffers for ``writelines``.

    For Fetch this is the zero-copy list of :func:`encode_fetch_response`; for every other API a
    single ``bytes``. Raises :class:`LocalProtocolError` when ``body`` is not this API's response
    type or holds a value the version cannot carry.
    """
    api, version = header.api_key, header.api_version
    _check_encodable(api, version)
    codec = MESSAGES[api]
    if not isinstance(body, codec.response_type):
        raise LocalProtocolError(f"{api.name} needs a {codec.response_type.__name__}, got {type(body).__name__}")
    if codec.response is None:
        assert isinstance(body, FetchResponse)
        return encode_fetch_response(header.correlation_id, version, body)
    out = bytearray(4)
    out += response_header(header.correlation_id, response_header_version(api, version))
    try:
        codec.response.write(out, body, version, is_flexible(api, version))
    except (UnicodeEncodeError, struct.error, OverflowError) as exc:
        raise LocalProtocolError(f"cannot encode {type(body).__name__} v{version}: {exc}") from exc
    INT32.pack_into(out, 0, len(out) - 4)
    return [bytes(out)]


def encode_response(header: RequestHeader, body: ResponseBody) -> bytes:
    """The framed response as one ``bytes`` (copies Fetch records; prefer the buffers variant)."""
    return b"".join(encode_response_buffers(header, body))


def encode_request(header: RequestHeader, body: RequestBody) -> bytes:
    """A framed request (header v1/v2 + body): the client direction, for tests and tools."""
    api, version = header.api_key, header.api_version
    _check_encodable(api, version)
    codec = MESSAGES[api]
    out = bytearray(4)
    try:
        out += _REQUEST_PREFIX.pack(api, version, header.correlation_id)
        write_string(out, header.client_id, compact=False)
        if request_header_version(api, version) >= 2:
            out.append(0)
        codec.request.write(out, body, version, is_flexible(api, version))
    except (UnicodeEncodeError, struct.error, OverflowError) as exc:
        raise LocalProtocolError(f"cannot encode {type(body).__name__} v{version}: {exc}") from exc
    INT32.pack_into(out, 0, len(out) - 4)
    return bytes(out)


def reject(body: RejectableRequest) -> ResponseBody:
    """The refusal of a write/admin request: Produce partitions get TOPIC_AUTHORIZATION_FAILED,
    the others the per-item authorization errors listed in ``_rejected``."""
    if isinstance(body, ProduceRequest):
        return reject_produce(body)
    response: ResponseBody = REJECTORS[type(body)](body)
    return response


def api_versions_response(
    *, sasl: bool = False, include_rejected: bool = False, throttle_time_ms: int = 0
) -> ApiVersionsResponse:
    """The ApiVersions answer: ``SUPPORTED_VERSIONS`` (the SASL APIs only when ``sasl``), plus
    ``REJECTED_VERSIONS`` when ``include_rejected``; sorted by API key."""
    windows = {k: v for k, v in SUPPORTED_VERSIONS.items() if sasl or k not in SASL_APIS}
    if include_rejected:
        windows.update(REJECTED_VERSIONS)
    return ApiVersionsResponse(
        api_keys=tuple(
            ApiVersion(api_key=int(k), min_version=low, max_version=high) for k, (low, high) in sorted(windows.items())
        ),
        throttle_time_ms=throttle_time_ms,
    )
