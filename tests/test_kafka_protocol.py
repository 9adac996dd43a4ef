"""Tests of app.kafka.protocol: framing, headers, golden bytes, kafka-python cross-checks, fuzzing.

Every wire message is run three ways through :class:`FrameDecoder` (``three_ways``): the whole
buffer at once, one byte at a time (no frame before the last byte), and followed by the start of
another frame (left buffered, untouched). Golden bytes are built from annotated ``struct.pack``
pieces. kafka-python 3's protocol classes are the independent codec: its client-side encoders
produce the requests our decoders must read, and its response decoders must read what we write,
for every (API, version) in SUPPORTED_VERSIONS and REJECTED_VERSIONS.
"""

from __future__ import annotations

import dataclasses
import itertools
import struct
import time
import tracemalloc
import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import kafka.errors as kafka_errors
import kafka.protocol.admin as kp_admin
import kafka.protocol.consumer as kp_consumer
import kafka.protocol.metadata as kp_metadata
import kafka.protocol.producer as kp_producer
import kafka.protocol.sasl as kp_sasl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.kafka.protocol import (
    DEFAULT_MAX_FRAME_SIZE,
    FLEXIBLE_FROM,
    REJECTED_VERSIONS,
    SUPPORTED_VERSIONS,
    ZERO_COPY_MIN,
    AbortedTransaction,
    AlterConfigsRequest,
    AlterConfigsResource,
    AlterConfigsResponse,
    ApiKey,
    ApiVersion,
    ApiVersionsRequest,
    ApiVersionsResponse,
    CreateTopicsRequest,
    CreateTopicsResponse,
    DeleteGroupsRequest,
    DeleteGroupsResponse,
    DescribeClusterResponse,
    Disposition,
    DivergingEpoch,
    ErrorCode,
    FetchPartition,
    FetchRequest,
    FetchResponse,
    FetchResponsePartition,
    FetchResponseTopic,
    FetchTopic,
    FindCoordinatorResponse,
    Frame,
    FrameDecoder,
    FrameSizeError,
    HeartbeatResponse,
    InitProducerIdRequest,
    InitProducerIdResponse,
    JoinGroupRequest,
    JoinGroupRequestProtocol,
    LeaderIdAndEpoch,
    LeaveGroupRequest,
    ListGroupsRequest,
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsTopic,
    LocalProtocolError,
    MalformedRequest,
    MemberIdentity,
    MetadataRequest,
    MetadataRequestTopic,
    MetadataResponse,
    MetadataResponseBroker,
    MetadataResponsePartition,
    MetadataResponseTopic,
    OffsetCommitRequest,
    OffsetFetchRequest,
    ProduceRequest,
    ProduceResponse,
    ProtocolError,
    RemoteProtocolError,
    Request,
    RequestHeader,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    UnsupportedRequest,
    _schema,
    api_versions_fallback_reply,
    api_versions_response,
    classify_request,
    decode_request,
    encode_fetch_response,
    encode_request,
    encode_response,
    encode_response_buffers,
    peek_request_header,
    reject,
    request_header_version,
    response_header,
    response_header_version,
)
from app.kafka.protocol._primitives import Reader, nbytes
from app.kafka.protocol._registry import MESSAGES
from app.kafka.protocol._schema import Int16, Int32, String, Versions, message, struct_of
from tests.hypothesis_support import examples

# -- golden-byte pieces -----------------------------------------------------------------------------


def i8(v: int) -> bytes:
    return struct.pack(">b", v)


def i16(v: int) -> bytes:
    return struct.pack(">h", v)


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


def string(s: str | None) -> bytes:
    """STRING / NULLABLE_STRING: int16 length + UTF-8 (-1 = null)."""
    if s is None:
        return i16(-1)
    raw = s.encode()
    return i16(len(raw)) + raw


def blob(b: bytes | None) -> bytes:
    """BYTES / NULLABLE_BYTES: int32 length + bytes (-1 = null)."""
    return i32(-1) if b is None else i32(len(b)) + b


def compact_string(s: str) -> bytes:
    raw = s.encode()
    assert len(raw) + 1 < 0x80
    return bytes([len(raw) + 1]) + raw


def framed(*pieces: bytes) -> bytes:
    payload = b"".join(pieces)
    return i32(len(payload)) + payload


NEXT_FRAME_START = i32(5) + b"ab"  # a following frame, incomplete: must stay buffered


def three_ways(wire: bytes, *, byte_at_a_time: bool = True) -> bytes:
    """The payload of the single frame in ``wire``, checked whole, byte by byte and with trailing bytes."""
    whole = FrameDecoder()
    whole.feed(wire)
    frame = whole.next_frame()
    assert frame is not None
    assert whole.next_frame() is None
    assert whole.buffered == 0

    if byte_at_a_time:
        slow = FrameDecoder()
        for i in range(len(wire) - 1):
            slow.feed(wire[i : i + 1])
            assert slow.next_frame() is None, f"frame returned after {i + 1} of {len(wire)} bytes"
        slow.feed(wire[-1:])
        assert slow.next_frame() == frame
        assert slow.buffered == 0

    trailing = FrameDecoder()
    trailing.feed(wire + NEXT_FRAME_START)
    assert trailing.next_frame() == frame
    assert trailing.next_frame() is None
    assert trailing.buffered == len(NEXT_FRAME_START)
    trailing.feed(b"cde")  # the trailing bytes were left untouched: the next frame completes
    assert trailing.next_frame() == Frame(payload=b"abcde")
    return frame.payload


def decode_three_ways(wire: bytes) -> Request[Any]:
    return decode_request(three_ways(wire))


def header(api: ApiKey, version: int, correlation_id: int = 7, client_id: str | None = "cid") -> RequestHeader:
    return RequestHeader(api_key=api, api_version=version, correlation_id=correlation_id, client_id=client_id)


# -- FrameDecoder -----------------------------------------------------------------------------------


def test_frame_decoder_golden_frames_and_buffering() -> None:
    decoder = FrameDecoder(max_frame_size=16)
    decoder.feed(i32(3) + b"abc" + i32(0) + i32(2) + b"x")  # frame, empty frame, half a frame
    assert decoder.next_frame() == Frame(payload=b"abc")
    assert decoder.next_frame() == Frame(payload=b"")
    assert decoder.next_frame() is None
    assert decoder.buffered == 5
    decoder.feed(memoryview(b"y"))
    assert decoder.next_frame() == Frame(payload=b"xy")
    assert decoder.buffered == 0
    assert decoder.max_frame_size == 16


def test_frame_decoder_accepts_exactly_max_frame_size() -> None:
    payload = bytes(range(16))
    assert three_ways(i32(16) + payload) == payload  # default limit
    decoder = FrameDecoder(max_frame_size=16)
    decoder.feed(i32(16) + payload)
    assert decoder.next_frame() == Frame(payload=payload)


@pytest.mark.parametrize("size", [17, 0x7FFFFFFF, -1, -(2**31)])
def test_frame_decoder_rejects_bad_sizes_after_four_bytes_and_stays_broken(size: int) -> None:
    decoder = FrameDecoder(max_frame_size=16)
    decoder.feed(i32(size))  # no payload needed to decide
    with pytest.raises(FrameSizeError) as info:
        decoder.next_frame()
    assert info.value.size == size
    assert info.value.error_code == ErrorCode.INVALID_REQUEST
    assert isinstance(info.value, RemoteProtocolError)
    decoder.feed(i32(1) + b"z")
    with pytest.raises(FrameSizeError):
        decoder.next_frame()


def test_frame_decoder_limit_validation() -> None:
    assert FrameDecoder().max_frame_size == DEFAULT_MAX_FRAME_SIZE == 100 * 1024 * 1024
    for bad in (0, -5, 2**31):
        with pytest.raises(ValueError):
            FrameDecoder(max_frame_size=bad)


# -- request headers --------------------------------------------------------------------------------


def test_request_header_v1_with_null_client_id() -> None:
    wire = framed(
        i16(3),  # api_key: Metadata
        i16(1),  # api_version
        i32(-42),  # correlation_id
        string(None),  # client_id: null (int16 -1)
        i32(-1),  # topics: null = all topics (v1+)
    )
    request = decode_three_ways(wire)
    assert request.header == RequestHeader(api_key=ApiKey.Metadata, api_version=1, correlation_id=-42, client_id=None)
    assert request.body == MetadataRequest(topics=None)


def test_request_header_v2_keeps_int16_client_id_and_skips_unknown_tags() -> None:
    wire = framed(
        i16(18),  # api_key: ApiVersions
        i16(3),  # api_version 3: flexible, so header v2
        i32(9),  # correlation_id
        string("rdkafka"),  # client_id: int16 length even in header v2
        b"\x02",  # header tagged fields: 2 unknown tags
        b"\x05\x01\xaa",  # tag 5, size 1, value
        b"\x81\x01\x00",  # tag 129 (uvarint), size 0
        compact_string("librdkafka"),  # client_software_name: uvarint(len + 1)
        compact_string("2.16.0"),  # client_software_version
        b"\x01",  # body tagged fields: 1 unknown tag
        b"\x00\x02\xbe\xef",  # tag 0, size 2
    )
    request = decode_three_ways(wire)
    assert request.header == RequestHeader(api_key=ApiKey.ApiVersions, api_version=3, correlation_id=9, client_id="rdkafka")
    assert request.body == ApiVersionsRequest(client_software_name="librdkafka", client_software_version="2.16.0")


def test_header_versions_follow_flexibility_except_api_versions_responses() -> None:
    assert request_header_version(ApiKey.Metadata, 8) == 1 and request_header_version(ApiKey.Metadata, 9) == 2
    assert request_header_version(ApiKey.ApiVersions, 3) == 2  # a flexible request: header v2
    assert request_header_version(ApiKey.SaslHandshake, 1) == 1  # never flexible
    assert response_header_version(ApiKey.Metadata, 8) == 0 and response_header_version(ApiKey.Metadata, 9) == 1
    assert response_header_version(ApiKey.ApiVersions, 3) == 0  # flexible body, header v0 (KIP-511)
    assert response_header(7, 0) == i32(7)
    assert response_header(7, 1) == i32(7) + b"\x00"  # + empty tagged-field section


def test_peek_request_header_needs_eight_bytes() -> None:
    prefix = peek_request_header(i16(1) + i16(11) + i32(3))
    assert (prefix.api_key, prefix.api_version, prefix.correlation_id) == (1, 11, 3)
    with pytest.raises(MalformedRequest):
        peek_request_header(b"\x00\x01\x00\x0b\x00\x00\x00")
    with pytest.raises(MalformedRequest):
        decode_request(b"")


# -- the version tables -----------------------------------------------------------------------------

# kafka-shim.md §0.3 / §5: the non-flexible window (ApiVersions to 3), and §1.2's "highest shim
# minimum allowed" per API.
EXPECTED_MAX = {
    ApiKey.ApiVersions: 3, ApiKey.Metadata: 12, ApiKey.ListOffsets: 9, ApiKey.Fetch: 12,
    ApiKey.FindCoordinator: 4, ApiKey.JoinGroup: 9, ApiKey.SyncGroup: 5, ApiKey.Heartbeat: 4,
    ApiKey.LeaveGroup: 5, ApiKey.OffsetCommit: 8, ApiKey.OffsetFetch: 8, ApiKey.SaslHandshake: 1,
    ApiKey.SaslAuthenticate: 2, ApiKey.Produce: 8, ApiKey.ListGroups: 4, ApiKey.DescribeGroups: 5,
    # issue 12: the read-only admin APIs at the versions Kafka 3.9 serves, ListOffsets to -5 (v9)
    ApiKey.DescribeConfigs: 4, ApiKey.DescribeLogDirs: 4, ApiKey.DescribeCluster: 1, ApiKey.DescribeProducers: 0,
    ApiKey.DescribeAcls: 3, ApiKey.OffsetForLeaderEpoch: 4,
}
# the APIs served at flexible versions: the first flexible version of each API whose next version adds fields
# the handlers would have to honour stays the maximum (Produce stays non-flexible; Fetch stops at 12, the
# last version with topic names)
FLEXIBLE_SERVED = set(EXPECTED_MAX) - {ApiKey.Produce, ApiKey.SaslHandshake}
HIGHEST_MINIMUM_ALLOWED = {
    ApiKey.Metadata: 4, ApiKey.ListOffsets: 2, ApiKey.FindCoordinator: 1, ApiKey.Heartbeat: 1,
    ApiKey.OffsetForLeaderEpoch: 2, ApiKey.DescribeConfigs: 1,  # librdkafka sends v2; speaks DescribeConfigs 0-1
    ApiKey.LeaveGroup: 1, ApiKey.OffsetCommit: 3, ApiKey.OffsetFetch: 3, ApiKey.SyncGroup: 3,
    ApiKey.JoinGroup: 5, ApiKey.Fetch: 11, ApiKey.SaslAuthenticate: 0,
    ApiKey.SaslHandshake: 0,  # librdkafka enables SASL only when v0 is listed
}
# §1.2 "Versions each client can speak" (aio's JoinGroup 0,1,2,5 and SyncGroup 0,1,3 are sets).
CLIENT_VERSIONS: dict[str, dict[ApiKey, set[int]]] = {
    "kafka-python 3.0.12": {
        ApiKey.ApiVersions: set(range(5)), ApiKey.Metadata: set(range(14)), ApiKey.ListOffsets: set(range(1, 12)),
        ApiKey.Fetch: set(range(13)), ApiKey.FindCoordinator: set(range(7)), ApiKey.JoinGroup: set(range(8)),
        ApiKey.SyncGroup: set(range(6)), ApiKey.Heartbeat: set(range(5)), ApiKey.LeaveGroup: set(range(6)),
        ApiKey.OffsetCommit: set(range(9)), ApiKey.OffsetFetch: set(range(9)), ApiKey.SaslHandshake: {0, 1},
        ApiKey.SaslAuthenticate: {0, 1, 2},
    },
    "aiokafka 0.14": {
        ApiKey.ApiVersions: {0, 1, 2}, ApiKey.Metadata: set(range(6)), ApiKey.ListOffsets: set(range(4)),
        ApiKey.Fetch: set(range(1, 12)), ApiKey.FindCoordinator: {0, 1}, ApiKey.JoinGroup: {0, 1, 2, 5},
        ApiKey.SyncGroup: {0, 1, 3}, ApiKey.Heartbeat: {0, 1}, ApiKey.LeaveGroup: {0, 1},
        ApiKey.OffsetCommit: {2, 3}, ApiKey.OffsetFetch: {1, 2, 3}, ApiKey.SaslHandshake: {0, 1},
        ApiKey.SaslAuthenticate: {0, 1},
    },
    "librdkafka 2.0.2 (kcat)": {
        ApiKey.ApiVersions: set(range(4)), ApiKey.Metadata: set(range(5)), ApiKey.ListOffsets: set(range(3)),
        ApiKey.Fetch: set(range(12)), ApiKey.FindCoordinator: set(range(3)), ApiKey.JoinGroup: set(range(6)),
        ApiKey.SyncGroup: set(range(4)), ApiKey.Heartbeat: set(range(4)), ApiKey.LeaveGroup: {0, 1},
        ApiKey.OffsetCommit: set(range(8)), ApiKey.OffsetFetch: set(range(8)), ApiKey.SaslHandshake: {0, 1},
        ApiKey.SaslAuthenticate: {0},
    },
    "kafkajs 2.2.4": {
        ApiKey.ApiVersions: {0, 1, 2}, ApiKey.Metadata: set(range(7)), ApiKey.ListOffsets: set(range(4)),
        ApiKey.Fetch: set(range(12)), ApiKey.FindCoordinator: set(range(3)), ApiKey.JoinGroup: set(range(6)),
        ApiKey.SyncGroup: set(range(4)), ApiKey.Heartbeat: set(range(4)), ApiKey.LeaveGroup: set(range(4)),
        ApiKey.OffsetCommit: set(range(6)), ApiKey.OffsetFetch: set(range(1, 5)), ApiKey.SaslHandshake: {0, 1},
        ApiKey.SaslAuthenticate: {0, 1},
    },
}


def test_supported_versions_table() -> None:
    assert {api: high for api, (_, high) in SUPPORTED_VERSIONS.items()} == EXPECTED_MAX
    for api, (low, high) in SUPPORTED_VERSIONS.items():
        assert 0 <= low <= high
        assert low <= HIGHEST_MINIMUM_ALLOWED.get(api, high), api
        assert api in MESSAGES
        first_flexible = FLEXIBLE_FROM[api]
        assert first_flexible is None or high < first_flexible or api in FLEXIBLE_SERVED, api
    assert SUPPORTED_VERSIONS[ApiKey.Produce][0] == 3  # v2 record batches only
    assert SUPPORTED_VERSIONS[ApiKey.Fetch][0] == 4
    for api, (_, high) in REJECTED_VERSIONS.items():
        assert api not in SUPPORTED_VERSIONS and api in MESSAGES
        assert FLEXIBLE_FROM[api] is not None and high < FLEXIBLE_FROM[api]  # type: ignore[operator]


def _kafka4_valid_versions() -> dict[ApiKey, set[int]]:
    """Every served API's ``validVersions`` in Apache Kafka 4's own message definitions (the JSON files
    kafka-python 3 ships): the versions a 4.x Java client speaks, old ones removed by KIP-896."""
    import json
    import pathlib
    import re

    import kafka.protocol.schemas as kp_schemas

    out = {}
    for api in SUPPORTED_VERSIONS:
        path = pathlib.Path(kp_schemas.__file__).parent / "resources" / f"{api.name}Request.json"
        spec = json.loads(re.sub(r"//.*", "", path.read_text()))
        low, _, high = spec["validVersions"].partition("-")
        out[api] = set(range(int(low), int(high or low) + 1))
    return out


def test_a_kafka_4_client_finds_a_version_of_every_api_served() -> None:
    """KIP-896: Kafka 4 clients dropped old versions (Fetch < 4, ListOffsets 0, OffsetCommit < 2, OffsetFetch 0,
    OffsetForLeaderEpoch < 2, DescribeConfigs 0, ...). Each served API must still share a version with them."""
    kafka4 = _kafka4_valid_versions()
    assert min(kafka4[ApiKey.Fetch]) == 4 and min(kafka4[ApiKey.OffsetCommit]) == 2  # the KIP-896 floors
    for api, versions in kafka4.items():
        low, high = SUPPORTED_VERSIONS[api]
        assert versions & set(range(low, high + 1)), f"a Kafka 4 client cannot speak any {api.name} version we serve"


@pytest.mark.parametrize("client", sorted(CLIENT_VERSIONS))
def test_every_tested_client_finds_a_version_of_every_api_it_uses(client: str) -> None:
    for api, theirs in CLIENT_VERSIONS[client].items():
        low, high = SUPPORTED_VERSIONS[api]
        assert theirs & set(range(low, high + 1)), f"{client} cannot speak any {api.name} version we serve"
        if client == "kafkajs 2.2.4":  # kjs ignores our minimum and sends min(its max, our max)
            assert min(max(theirs), high) >= low


def test_api_versions_response_advertises_sasl_only_when_asked() -> None:
    plain = api_versions_response()
    keys = {v.api_key: (v.min_version, v.max_version) for v in plain.api_keys}
    assert ApiKey.SaslHandshake not in keys and ApiKey.SaslAuthenticate not in keys
    assert keys[ApiKey.Produce] == (3, 8)  # librdkafka does not fetch without Produce
    assert keys[ApiKey.ApiVersions] == (0, 3)
    assert [v.api_key for v in plain.api_keys] == sorted(keys)
    with_sasl = {v.api_key for v in api_versions_response(sasl=True).api_keys}
    assert with_sasl == {int(k) for k in SUPPORTED_VERSIONS}
    everything = {v.api_key for v in api_versions_response(sasl=True, include_rejected=True).api_keys}
    assert everything == {int(k) for k in SUPPORTED_VERSIONS} | {int(k) for k in REJECTED_VERSIONS}


@pytest.mark.parametrize(
    ("api_key", "version", "expected"),
    [
        (18, 0, Disposition.SERVE),
        (18, 3, Disposition.SERVE),
        (18, 4, Disposition.ANSWER_UNSUPPORTED_VERSION),  # kafka-python sends 4 first
        (18, 0x7FFF, Disposition.ANSWER_UNSUPPORTED_VERSION),
        (18, -1, Disposition.CLOSE),
        (1, 3, Disposition.CLOSE),  # Fetch below v4 (message format v0/v1)
        (1, 11, Disposition.SERVE),
        (1, 13, Disposition.CLOSE),  # Fetch with topic ids: not advertised, Kafka closes
        (0, 2, Disposition.CLOSE),
        (0, 8, Disposition.SERVE),
        (17, 0, Disposition.SERVE),  # SaslHandshake v0: bare tokens follow (librdkafka needs it listed)
        (19, 4, Disposition.REJECT),  # CreateTopics
        (19, 5, Disposition.CLOSE),
        (22, 0, Disposition.REJECT),  # InitProducerId
        (68, 0, Disposition.CLOSE),  # ConsumerGroupHeartbeat (KIP-848): never
        (999, 0, Disposition.CLOSE),
        (-1, 0, Disposition.CLOSE),
    ],
)
def test_classify_request(api_key: int, version: int, expected: Disposition) -> None:
    assert classify_request(api_key, version) is expected


def test_api_versions_above_max_gets_the_v0_layout_unsupported_version_reply() -> None:
    expected_reply = framed(
        i32(5),  # response header v0: correlation_id (no tagged fields, ever, for ApiVersions)
        i16(35),  # error_code: UNSUPPORTED_VERSION
        i32(1),  # api_keys: int32 count (v0 layout, not compact)
        i16(18),  # api_key: ApiVersions
        i16(0),  # min_version
        i16(3),  # max_version
        # no throttle_time_ms (v1+), no tagged fields (v3+)
    )
    assert api_versions_fallback_reply(5, min_version=0, max_version=3) == expected_reply
    # what kafka-python sends first: ApiVersions v4 (flexible, header v2)
    kp_request = kp_metadata.ApiVersionsRequest(client_software_name="kafka-python", client_software_version="3", version=4)
    kp_request.with_header(correlation_id=5, client_id="kp")
    payload = three_ways(bytes(kp_request.encode(header=True, framed=True)))
    with pytest.raises(UnsupportedRequest) as info:
        decode_request(payload)
    assert info.value.reply == expected_reply
    assert (info.value.api_key, info.value.api_version, info.value.correlation_id) == (18, 4, 5)
    assert info.value.error_code == ErrorCode.UNSUPPORTED_VERSION
    parsed = kp_metadata.ApiVersionsResponse.decode(three_ways(expected_reply), version=0, header=True)
    assert parsed.header.correlation_id == 5
    assert parsed.error_code == 35
    assert [(k.api_key, k.min_version, k.max_version) for k in parsed.api_keys] == [(18, 0, 3)]


@pytest.mark.parametrize("api_key,version", [(1, 13), (0, 9), (68, 0), (12345, 1), (17, 2)])
def test_unadvertised_requests_say_close(api_key: int, version: int) -> None:
    payload = i16(api_key) + i16(version) + i32(77) + string("c") + b"garbage that is never parsed"
    with pytest.raises(UnsupportedRequest) as info:
        decode_request(payload)
    assert info.value.reply is None
    assert info.value.correlation_id == 77


# -- golden requests --------------------------------------------------------------------------------


def test_golden_api_versions_v0_request_and_v3_response() -> None:
    request = decode_three_ways(framed(i16(18), i16(0), i32(1), string("aiokafka")))
    assert request.body == ApiVersionsRequest()
    response = ApiVersionsResponse(
        api_keys=(ApiVersion(api_key=0, min_version=3, max_version=8), ApiVersion(api_key=18, min_version=0, max_version=3)),
    )
    expected = framed(
        i32(1),  # response header v0 even for the flexible v3 body (KIP-511)
        i16(0),  # error_code
        b"\x03",  # api_keys: compact array, uvarint(2 + 1)
        i16(0) + i16(3) + i16(8) + b"\x00",  # Produce 3..8, element tags
        i16(18) + i16(0) + i16(3) + b"\x00",  # ApiVersions 0..3, element tags
        i32(0),  # throttle_time_ms
        b"\x00",  # body tagged fields
    )
    assert encode_response(header(ApiKey.ApiVersions, 3, correlation_id=1), response) == expected
    v0 = framed(i32(1), i16(0), i32(2), i16(0) + i16(3) + i16(8), i16(18) + i16(0) + i16(3))
    assert encode_response(header(ApiKey.ApiVersions, 0, correlation_id=1), response) == v0


def test_golden_metadata_requests_null_empty_and_v0() -> None:
    v0_all = decode_three_ways(framed(i16(3), i16(0), i32(1), string("c"), i32(0)))  # v0: [] = all topics
    assert v0_all.body.topics is None
    v1_none = decode_three_ways(framed(i16(3), i16(1), i32(1), string("c"), i32(0)))  # v1: [] = no topics
    assert v1_none.body.topics == ()
    v4 = decode_three_ways(
        framed(
            i16(3), i16(4), i32(2), string("kcat"),  # header
            i32(2), string("t1"), string("ü"),  # topics: 2 names
            b"\x00",  # allow_auto_topic_creation: false (v4+)
        )
    )
    assert v4.body == MetadataRequest(
        topics=(MetadataRequestTopic(name="t1"), MetadataRequestTopic(name="ü")), allow_auto_topic_creation=False
    )
    with pytest.raises(MalformedRequest):  # null is not allowed in v0
        decode_request(i16(3) + i16(0) + i32(1) + string("c") + i32(-1))
    # v0 round trip keeps the "empty means all" encoding
    assert encode_request(v0_all.header, v0_all.body) == framed(i16(3), i16(0), i32(1), string("c"), i32(0))


def test_golden_metadata_v1_response() -> None:
    response = MetadataResponse(
        brokers=(MetadataResponseBroker(node_id=0, host="localhost", port=9092, rack=None),),
        cluster_id="ignored-before-v2",
        controller_id=0,
        topics=(
            MetadataResponseTopic(
                name="t",
                partitions=(MetadataResponsePartition(partition_index=0, leader_id=0, replica_nodes=(0,), isr_nodes=(0,)),),
            ),
            MetadataResponseTopic(error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name="missing"),
        ),
    )
    expected = framed(
        i32(11),  # correlation_id
        i32(1),  # brokers
        i32(0) + string("localhost") + i32(9092) + string(None),  # node_id, host, port, rack (v1+)
        i32(0),  # controller_id (v1+); no cluster_id before v2, no throttle before v3
        i32(2),  # topics
        i16(0) + string("t") + b"\x00",  # error_code, name, is_internal (v1+)
        i32(1),  # partitions
        i16(0) + i32(0) + i32(0),  # error_code, partition_index, leader_id
        i32(1) + i32(0),  # replica_nodes
        i32(1) + i32(0),  # isr_nodes
        i16(3) + string("missing") + b"\x00" + i32(0),  # unknown topic, no partitions
    )
    assert encode_response(header(ApiKey.Metadata, 1, correlation_id=11), response) == expected


def test_golden_fetch_v11_request() -> None:
    wire = framed(
        i16(1), i16(11), i32(3), string("consumer"),  # header v1
        i32(-1),  # replica_id
        i32(500),  # max_wait_ms
        i32(1),  # min_bytes
        i32(52428800),  # max_bytes (v3+)
        i8(1),  # isolation_level: read_committed (v4+)
        i32(0), i32(-1),  # session_id, session_epoch (v7+)
        i32(1), string("t"),  # topics: 1, name
        i32(1),  # partitions
        i32(0),  # partition
        i32(-1),  # current_leader_epoch (v9+)
        i64(42),  # fetch_offset
        i64(-1),  # log_start_offset (v5+)
        i32(1048576),  # partition_max_bytes
        i32(0),  # forgotten_topics_data (v7+)
        string("rack-a"),  # rack_id (v11+)
    )
    request = decode_three_ways(wire)
    assert request.body == FetchRequest(
        max_wait_ms=500,
        min_bytes=1,
        max_bytes=52428800,
        isolation_level=1,
        topics=(
            FetchTopic(
                topic="t",
                partitions=(FetchPartition(partition=0, fetch_offset=42, partition_max_bytes=1048576),),
            ),
        ),
        rack_id="rack-a",
    )
    assert encode_request(request.header, request.body) == wire
    bad_isolation = bytearray(wire)
    bad_isolation[4 + 18 + 16] = 2  # size, header, 4 int32 fields: isolation_level 2 does not exist
    with pytest.raises(MalformedRequest, match="isolation_level"):
        decode_request(three_ways(bytes(bad_isolation)))


def test_golden_list_offsets_v1_request() -> None:
    wire = framed(
        i16(2), i16(1), i32(4), string("kcat"),
        i32(-1),  # replica_id; no isolation_level before v2
        i32(1), string("t"), i32(2),  # topics, partitions
        i32(0), i64(-2),  # partition 0: earliest
        i32(1), i64(-1),  # partition 1: latest; no current_leader_epoch before v4
    )
    assert decode_three_ways(wire).body == ListOffsetsRequest(
        topics=(
            ListOffsetsTopic(
                name="t",
                partitions=(ListOffsetsPartition(partition_index=0, timestamp=-2), ListOffsetsPartition(partition_index=1, timestamp=-1)),
            ),
        )
    )


def test_golden_produce_v3_request_records_are_a_view_and_acks0_expects_no_response() -> None:
    records = b"\x00" * 12 + b"batch-bytes"
    wire = framed(
        i16(0), i16(3), i32(5), string("producer"),
        string(None),  # transactional_id (v3+, nullable)
        i16(0),  # acks = 0
        i32(30000),  # timeout_ms
        i32(1), string("t"),  # topic_data
        i32(2),  # partition_data
        i32(0), blob(records),  # index, records
        i32(1), blob(None),  # null records
    )
    request = decode_three_ways(wire)
    body = request.body
    assert isinstance(body, ProduceRequest)
    assert body.acks == 0 and not body.expects_response and not request.expects_response
    first = body.topic_data[0].partition_data[0].records
    assert isinstance(first, memoryview) and first == records
    assert body.topic_data[0].partition_data[1].records is None
    answer = reject(body)
    assert isinstance(answer, ProduceResponse)
    assert [(p.index, p.error_code) for p in answer.responses[0].partition_responses] == [(0, 29), (1, 29)]
    assert encode_response(request.header, answer) == framed(
        i32(5),
        i32(1), string("t"), i32(2),  # responses
        i32(0), i16(29), i64(-1), i64(-1),  # index, error_code, base_offset, log_append_time_ms (v2+)
        i32(1), i16(29), i64(-1), i64(-1),
        i32(0),  # throttle_time_ms (v1+, at the end)
    )


def test_golden_join_group_v5_and_leave_group_v0_v3() -> None:
    join = decode_three_ways(
        framed(
            i16(11), i16(5), i32(6), string("rdkafka"),
            string("g"), i32(45000), i32(300000),  # group_id, session, rebalance (v1+)
            string(""),  # member_id: empty -> MEMBER_ID_REQUIRED (v4+)
            string(None),  # group_instance_id (v5+)
            string("consumer"),
            i32(2), string("range") + blob(b"\x00\x01"), string("roundrobin") + blob(b""),
        )
    )
    assert join.body == JoinGroupRequest(
        group_id="g",
        session_timeout_ms=45000,
        rebalance_timeout_ms=300000,
        member_id="",
        protocol_type="consumer",
        protocols=(JoinGroupRequestProtocol(name="range", metadata=b"\x00\x01"), JoinGroupRequestProtocol(name="roundrobin", metadata=b"")),
    )
    v0 = decode_three_ways(framed(i16(13), i16(0), i32(1), string("c"), string("g"), string("m1")))
    assert v0.body == LeaveGroupRequest(group_id="g", member_id="m1")
    assert v0.body.leaving == (MemberIdentity(member_id="m1"),)
    v3 = decode_three_ways(
        framed(i16(13), i16(3), i32(1), string("c"), string("g"), i32(2), string("m1") + string(None), string("m2") + string("i2"))
    )
    assert v3.body.leaving == (MemberIdentity(member_id="m1"), MemberIdentity(member_id="m2", group_instance_id="i2"))


def test_golden_offset_fetch_null_topics_and_offset_commit_v2() -> None:
    fetch = decode_three_ways(framed(i16(9), i16(2), i32(1), string("c"), string("g"), i32(-1)))
    assert fetch.body == OffsetFetchRequest(group_id="g", topics=None)
    with pytest.raises(MalformedRequest):  # null only from v2
        decode_request(three_ways(framed(i16(9), i16(1), i32(1), string("c"), string("g"), i32(-1))))
    commit = decode_three_ways(
        framed(
            i16(8), i16(2), i32(1), string("c"),
            string("g"), i32(-1), string(""),  # simple commit: generation -1, no member
            i64(-1),  # retention_time_ms (v2-4)
            i32(1), string("t"), i32(1), i32(0), i64(100), string(None),  # committed_metadata null
        )
    )
    assert isinstance(commit.body, OffsetCommitRequest)
    assert commit.body.generation_id == -1 and commit.body.topics[0].partitions[0].committed_offset == 100


def test_golden_small_responses() -> None:
    find = FindCoordinatorResponse(node_id=0, host="h", port=9092)
    assert encode_response(header(ApiKey.FindCoordinator, 0, 1), find) == framed(i32(1), i16(0), i32(0), string("h"), i32(9092))
    assert encode_response(header(ApiKey.FindCoordinator, 1, 1), find) == framed(
        i32(1), i32(0), i16(0), string(None), i32(0), string("h"), i32(9092)
    )
    heartbeat = HeartbeatResponse(error_code=ErrorCode.REBALANCE_IN_PROGRESS)
    assert encode_response(header(ApiKey.Heartbeat, 0, 2), heartbeat) == framed(i32(2), i16(27))
    assert encode_response(header(ApiKey.Heartbeat, 3, 2), heartbeat) == framed(i32(2), i32(0), i16(27))
    sasl = SaslAuthenticateResponse(auth_bytes=b"v=xyz")
    assert encode_response(header(ApiKey.SaslAuthenticate, 1, 3), sasl) == framed(
        i32(3), i16(0), string(None), blob(b"v=xyz"), i64(0)  # error_code, error_message, auth_bytes, session_lifetime_ms
    )
    handshake = decode_three_ways(framed(i16(17), i16(1), i32(1), string("c"), string("SCRAM-SHA-512")))
    assert handshake.body == SaslHandshakeRequest(mechanism="SCRAM-SHA-512")


def test_list_groups_request_has_no_body_and_trailing_bytes_are_malformed() -> None:
    assert decode_three_ways(framed(i16(16), i16(2), i32(1), string("c"))).body == ListGroupsRequest()
    with pytest.raises(MalformedRequest, match="trailing"):
        decode_request(three_ways(framed(i16(16), i16(2), i32(1), string("c"), b"\x00")))


@pytest.mark.parametrize(
    "payload",
    [
        i16(3) + i16(1) + i32(1) + i16(5) + b"ab",  # client_id shorter than its length
        i16(3) + i16(1) + i32(1) + i16(-2),  # negative string length
        i16(3) + i16(1) + i32(1) + string("c") + i32(-2),  # negative array count
        i16(3) + i16(1) + i32(1) + string("c") + i32(0x7FFFFFFF),  # count far beyond the bytes left
        i16(3) + i16(1) + i32(1) + string("c") + i32(1) + i16(2) + b"\xff\xfe",  # bad UTF-8
        i16(18) + i16(3) + i32(1) + string("c") + b"\xff\xff\xff\xff\xff\x01",  # uvarint > 5 bytes
        i16(18) + i16(3) + i32(1) + string("c") + b"\x00" + b"\x80",  # truncated uvarint
        i16(18) + i16(3) + i32(1) + string("c") + b"\x00\x03ab\x03cd\x05",  # tag count beyond the bytes
        i16(1) + i16(11) + i32(1) + string("c") + i32(-1),  # Fetch cut after replica_id
    ],
)
def test_malformed_requests_raise_malformed_request(payload: bytes) -> None:
    with pytest.raises(MalformedRequest) as info:
        decode_request(payload)
    assert info.value.position is not None


# -- encoding errors are LocalProtocolError ---------------------------------------------------------


def test_local_protocol_errors() -> None:
    cases: list[tuple[RequestHeader, Any]] = [
        (header(ApiKey.Heartbeat, 0), HeartbeatResponse(error_code=1 << 20)),  # out of int16 range
        (header(ApiKey.Heartbeat, 0), FindCoordinatorResponse(node_id=0, host="h", port=1)),  # wrong body
        (header(ApiKey.Heartbeat, 5), HeartbeatResponse()),  # not served
        (header(ApiKey.SaslAuthenticate, 0), SaslAuthenticateResponse(auth_bytes=None)),  # type: ignore[arg-type]
        (header(ApiKey.FindCoordinator, 0), FindCoordinatorResponse(node_id=0, host=None, port=1)),  # type: ignore[arg-type]
        (header(ApiKey.FindCoordinator, 0), FindCoordinatorResponse(node_id=0, host="\ud800", port=1)),  # lone surrogate
        (header(ApiKey.FindCoordinator, 0), FindCoordinatorResponse(node_id=0, host="x" * 40000, port=1)),  # > int16 length
        (header(ApiKey.Metadata, 1), MetadataResponse(topics=[MetadataResponseTopic(name="t", partitions="abc")])),  # type: ignore[arg-type]
        (header(ApiKey.Fetch, 11), FetchResponse(responses=[FetchResponseTopic(topic="t", partitions=[FetchResponsePartition(partition_index=0, records=[(b"", 5)])])])),  # type: ignore[list-item]
        (header(ApiKey.Fetch, 11), FetchResponse(throttle_time_ms=2**40)),
        (header(ApiKey.Fetch, 11), HeartbeatResponse()),
        (header(ApiKey.Fetch, 13), FetchResponse()),
    ]
    for request_header, body in cases:
        with pytest.raises(LocalProtocolError):
            encode_response_buffers(request_header, body)
    with pytest.raises(LocalProtocolError):
        encode_fetch_response(1, 3, FetchResponse())
    with pytest.raises(LocalProtocolError):
        encode_request(header(ApiKey.Metadata, 0), MetadataRequest(topics=(MetadataRequestTopic(name=7),)))  # type: ignore[arg-type]


# -- Fetch response: golden, zero-copy, speed -------------------------------------------------------


def fetch_response(records: Any, **partition: Any) -> FetchResponse:
    return FetchResponse(
        responses=(
            FetchResponseTopic(
                topic="t",
                partitions=(
                    FetchResponsePartition(
                        partition_index=0, high_watermark=10, last_stable_offset=10, log_start_offset=0, records=records, **partition
                    ),
                ),
            ),
        )
    )


def test_golden_fetch_responses_v4_and_v11() -> None:
    pieces = ((b"H1", memoryview(b"records-1")), (b"H2", b"records-2"))
    body = fetch_response(pieces, aborted_transactions=(AbortedTransaction(producer_id=7, first_offset=3),))
    records = b"H1records-1H2records-2"
    v4 = framed(
        i32(9),  # correlation_id (header v0)
        i32(0),  # throttle_time_ms (v1+)
        i32(1), string("t"), i32(1),  # responses, topic, partitions
        i32(0), i16(0), i64(10), i64(10),  # partition_index, error_code, high_watermark, last_stable_offset (v4+)
        i32(1), i64(7), i64(3),  # aborted_transactions (v4+)
        blob(records),  # records
    )
    v11 = framed(
        i32(9), i32(0),
        i16(0), i32(0),  # error_code, session_id (v7+)
        i32(1), string("t"), i32(1),
        i32(0), i16(0), i64(10), i64(10),
        i64(0),  # log_start_offset (v5+)
        i32(1), i64(7), i64(3),
        i32(-1),  # preferred_read_replica (v11+)
        blob(records),
    )
    for version, expected in ((4, v4), (11, v11)):
        buffers = encode_fetch_response(9, version, body)
        assert b"".join(buffers) == expected
        assert encode_response(header(ApiKey.Fetch, version, 9), body) == expected
        assert three_ways(expected)
    null_records = encode_response(header(ApiKey.Fetch, 4, 9), fetch_response(None))
    assert null_records.endswith(i32(-1) + i32(-1))  # null aborted_transactions, null records


def test_fetch_response_1mib_is_zero_copy_and_takes_microseconds() -> None:
    batch_header = bytes(61)  # a rewritten Kafka batch header: small, copied into the chunk
    records = memoryview(bytes(range(256)) * 4096)  # 1 MiB, e.g. a view of an mmapped segment
    body = fetch_response(((batch_header, records),))

    buffers = encode_fetch_response(3, 11, body)
    assert any(buffer is records for buffer in buffers)  # the caller's very view, not a copy
    assert sum(nbytes(b) for b in buffers if b is not records) < ZERO_COPY_MIN  # only small chunks otherwise
    total = sum(nbytes(b) for b in buffers)
    assert struct.unpack_from(">i", buffers[0])[0] == total - 4

    tracemalloc.start()
    try:
        encode_fetch_response(3, 11, body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024, f"encoding allocated {peak} bytes: record bytes were copied"

    best = min(_timed(lambda: encode_fetch_response(3, 11, body)) for _ in range(300))
    assert best < 100e-6, f"encoding a 1 MiB Fetch response took {best * 1e6:.1f} µs"

    decoded = kp_consumer.FetchResponse.decode(three_ways(b"".join(buffers), byte_at_a_time=False), version=11, header=True)
    assert decoded.responses[0].partitions[0].records == batch_header + records


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def test_fetch_response_piece_handling() -> None:
    big = memoryview(bytearray(ZERO_COPY_MIN))
    small = memoryview(b"s" * (ZERO_COPY_MIN - 1))
    buffers = encode_fetch_response(1, 5, fetch_response(((big, small), (b"", b""), (b"h", big))))
    assert [b is big for b in buffers].count(True) == 2  # a big header piece passes by reference too
    assert not any(b is small for b in buffers)
    assert all(nbytes(b) for b in buffers)  # no empty chunks
    assert b"".join(buffers).endswith(bytes(big) + bytes(small) + b"h" + bytes(big))
    wide = memoryview(bytearray(8 * ZERO_COPY_MIN)).cast("Q")  # a non-byte view counts in bytes
    joined = b"".join(encode_fetch_response(1, 5, fetch_response(((b"", wide),))))
    assert joined.endswith(i32(8 * ZERO_COPY_MIN) + bytes(8 * ZERO_COPY_MIN))


# -- rejections -------------------------------------------------------------------------------------


def test_rejections_use_the_documented_authorization_errors() -> None:
    assert reject(InitProducerIdRequest(transaction_timeout_ms=1)) == InitProducerIdResponse(error_code=31)
    assert reject(InitProducerIdRequest(transactional_id="tx", transaction_timeout_ms=1)) == InitProducerIdResponse(error_code=53)
    created = reject(CreateTopicsRequest(topics=(), timeout_ms=1))
    assert isinstance(created, CreateTopicsResponse) and created.topics == ()
    configs = reject(
        AlterConfigsRequest(
            resources=tuple(AlterConfigsResource(resource_type=t, resource_name=str(t), configs=()) for t in (2, 4, 32, 8)),
            validate_only=False,
        )
    )
    assert isinstance(configs, AlterConfigsResponse)
    assert [(r.resource_type, r.error_code) for r in configs.responses] == [(2, 29), (4, 31), (32, 30), (8, 31)]
    groups = reject(DeleteGroupsRequest(groups_names=("a", "b")))
    assert isinstance(groups, DeleteGroupsResponse) and {r.error_code for r in groups.results} == {30}


# -- error codes ------------------------------------------------------------------------------------

NEEDED_CODES = {  # the codes the shim needs -> kafka-python's exception class for that code
    "NONE": "NoError", "OFFSET_OUT_OF_RANGE": "OffsetOutOfRangeError", "CORRUPT_MESSAGE": "CorruptRecordError",
    "UNKNOWN_TOPIC_OR_PARTITION": "UnknownTopicOrPartitionError", "LEADER_NOT_AVAILABLE": "LeaderNotAvailableError",
    "NOT_LEADER_OR_FOLLOWER": "NotLeaderForPartitionError", "REQUEST_TIMED_OUT": "RequestTimedOutError",
    "COORDINATOR_NOT_AVAILABLE": "CoordinatorNotAvailableError", "NOT_COORDINATOR": "NotCoordinatorError",
    "ILLEGAL_GENERATION": "IllegalGenerationError", "INCONSISTENT_GROUP_PROTOCOL": "InconsistentGroupProtocolError",
    "UNKNOWN_MEMBER_ID": "UnknownMemberIdError", "INVALID_SESSION_TIMEOUT": "InvalidSessionTimeoutError",
    "REBALANCE_IN_PROGRESS": "RebalanceInProgressError", "TOPIC_AUTHORIZATION_FAILED": "TopicAuthorizationFailedError",
    "GROUP_AUTHORIZATION_FAILED": "GroupAuthorizationFailedError",
    "CLUSTER_AUTHORIZATION_FAILED": "ClusterAuthorizationFailedError", "INVALID_REQUEST": "InvalidRequestError",
    "UNSUPPORTED_VERSION": "UnsupportedVersionError", "UNSUPPORTED_SASL_MECHANISM": "UnsupportedSaslMechanismError",
    "ILLEGAL_SASL_STATE": "IllegalSaslStateError", "SASL_AUTHENTICATION_FAILED": "SaslAuthenticationFailedError",
    "MEMBER_ID_REQUIRED": "MemberIdRequiredError", "GROUP_ID_NOT_FOUND": "GroupIdNotFoundError",
    "NON_EMPTY_GROUP": "NonEmptyGroupError", "KAFKA_STORAGE_ERROR": "KafkaStorageError",
    "UNKNOWN_SERVER_ERROR": "UnknownError", "POLICY_VIOLATION": "PolicyViolationError",
    "INVALID_TOPIC_EXCEPTION": "InvalidTopicError", "FENCED_INSTANCE_ID": "FencedInstanceIdError",
    "TRANSACTIONAL_ID_AUTHORIZATION_FAILED": "TransactionalIdAuthorizationFailedError",
    "OFFSET_NOT_AVAILABLE": "OffsetNotAvailableError", "INVALID_GROUP_ID": "InvalidGroupIdError",
}


def test_error_codes_match_kafka_python() -> None:
    for name, kp_class in NEEDED_CODES.items():
        assert ErrorCode[name] == getattr(kafka_errors, kp_class).errno, name
    kp_codes = {
        cls.errno for cls in vars(kafka_errors).values() if isinstance(cls, type) and isinstance(getattr(cls, "errno", None), int)
    }
    assert kp_codes <= {int(code) for code in ErrorCode}  # we know every code kafka-python knows
    assert [int(c) for c in ErrorCode] == list(range(-1, 134))  # dense, no duplicates


# -- cross-check against kafka-python 3 -------------------------------------------------------------

KP_CLASSES: dict[tuple[int, bool], Any] = {}
for _module in (kp_metadata, kp_consumer, kp_admin, kp_producer, kp_sasl):
    for _name in getattr(_module, "__all__", ()):
        _cls = getattr(_module, _name)
        if isinstance(_cls, type) and getattr(_cls, "_struct", None) is not None and hasattr(_cls, "is_request"):
            KP_CLASSES[(_cls.API_KEY, _cls.is_request())] = _cls

# our attribute -> kafka-python's, where kafka-python renamed a field of Kafka's JSON
KP_RENAMES = {
    (MetadataResponseTopic, "topic_authorized_operations"): "authorized_operations",
    (MetadataResponse, "cluster_authorized_operations"): "authorized_operations",
    (OffsetCommitRequest, "generation_id"): "generation_id_or_member_epoch",
    (DescribeClusterResponse, "cluster_authorized_operations"): "authorized_operations",
}

ALL_VERSIONS = sorted(
    (api, version) for table in (SUPPORTED_VERSIONS, REJECTED_VERSIONS) for api, (low, high) in table.items() for version in range(low, high + 1)
)
CROSS_CHECK = settings(max_examples=examples(12), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _int_range(t: _schema.FieldType[Any]) -> tuple[int, int]:
    bits = 8 * t.min_size(0, False)
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def value_strategy(t: _schema.FieldType[Any], version: int, *, nullable: bool, non_empty: bool = False) -> st.SearchStrategy[Any]:
    """Values of a wire type for ``version`` (arrays as tuples, as the decoder returns them)."""
    base: st.SearchStrategy[Any]
    if t is _schema.BOOL:
        base = st.booleans()
    elif t in (_schema.INT8, _schema.INT16, _schema.INT32, _schema.INT64):
        low, high = _int_range(t)
        base = st.integers(low, high) | st.sampled_from([low, high, -1, 0])
    elif t is _schema.STRING:
        base = st.text(max_size=8)
    elif t in (_schema.BYTES, _schema.RECORDS):
        base = st.binary(max_size=24)
    elif t is _schema.UUID:  # Kafka's zero UUID (what the shim sends) on every run, besides any 16 bytes
        base = st.just(_schema.ZERO_UUID) | st.binary(min_size=16, max_size=16)
    elif isinstance(t, _schema.Array):
        element = value_strategy(t.element, version, nullable=False)
        base = st.lists(element, min_size=1 if non_empty else 0, max_size=3).map(tuple)
    elif isinstance(t, _schema.Struct):
        base = struct_strategy(t, version)
    else:  # pragma: no cover - a new wire type needs a strategy here
        raise AssertionError(f"no strategy for {t!r}")
    return st.none() | base if nullable else base


def struct_strategy(s: _schema.Struct[Any], version: int) -> st.SearchStrategy[Any]:
    if s.cls is ApiVersion:  # min_version <= max_version by construction
        i16s = st.integers(-(2**15), 2**15 - 1)
        return st.builds(
            lambda k, a, b: ApiVersion(api_key=k, min_version=min(a, b), max_version=max(a, b)), i16s, i16s, i16s
        )
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for f in s.present(version):
        if f.name == "isolation_level":
            fields[f.name] = st.sampled_from([0, 1])
        elif f.empty_is_null(version):  # [] decodes as None here: generate None or a non-empty list
            fields[f.name] = value_strategy(f.type, version, nullable=True, non_empty=True)
        else:
            fields[f.name] = value_strategy(f.type, version, nullable=f.nullable(version))
    return st.builds(s.cls, **fields)


def _to_bit_set(value: int) -> set[int] | None:
    """kafka-python decodes ``*_authorized_operations`` to a set of bit numbers; -2**31 to None."""
    unsigned = value & 0xFFFFFFFF
    bits = {bit for bit in range(32) if unsigned >> bit & 1}
    return None if bits == {31} else bits


def _from_bit_set(bits: set[int] | None) -> int:
    unsigned = sum(1 << bit for bit in ({31} if bits is None else bits))
    return unsigned - (1 << 32) if unsigned >= 1 << 31 else unsigned


def to_kp(kp_cls: Any, s: _schema.Struct[Any], value: Any, version: int) -> Any:
    """Our dataclass -> kafka-python's DataContainer (top-level or nested)."""
    kwargs = {}
    for f in s.present(version):
        kp_name = KP_RENAMES.get((s.cls, f.name), f.name)
        kp_field = kp_cls._struct.fields[kp_name] if hasattr(kp_cls._struct, "fields") else kp_cls.fields[kp_name]
        item = getattr(value, f.name)
        if f.name.endswith("authorized_operations") and isinstance(item, int) and not isinstance(item, bool):
            kwargs[kp_name] = _to_bit_set(item)
        else:
            kwargs[kp_name] = _to_kp_value(kp_field, f.type, item, version)
    return kp_cls(version=version, **kwargs)


def _to_kp_value(kp_field: Any, t: _schema.FieldType[Any], value: Any, version: int) -> Any:
    if value is None:
        return None
    if isinstance(t, _schema.Array):
        if isinstance(t.element, _schema.Struct):
            return [to_kp(kp_field.data_class, t.element, v, version) for v in value]
        return list(value)
    if isinstance(t, _schema.Struct):
        return to_kp(kp_field.data_class, t, value, version)
    if t in (_schema.BYTES, _schema.RECORDS):
        return bytes(value)
    if t is _schema.UUID:  # kafka-python's uuid fields are uuid.UUID
        return uuid.UUID(bytes=value)
    return value


def from_kp(s: _schema.Struct[Any], kp_value: Any, version: int) -> Any:
    """kafka-python's decoded DataContainer -> our dataclass."""
    kwargs = {}
    for f in s.present(version):
        raw = getattr(kp_value, KP_RENAMES.get((s.cls, f.name), f.name))
        if f.name.endswith("authorized_operations") and f.type is _schema.INT32 and not isinstance(raw, int):
            raw = _from_bit_set(raw)
        if raw is not None and f.empty_is_null(version) and len(raw) == 0:
            raw = None
        if raw is None and f.type is _schema.UUID:  # kafka-python reads Kafka's zero UUID (Uuid.ZERO_UUID) as None
            raw = uuid.UUID(bytes=_schema.ZERO_UUID)
        kwargs[f.name] = _from_kp_value(f.type, raw, version)
    return s.cls(**kwargs)


def _from_kp_value(t: _schema.FieldType[Any], raw: Any, version: int) -> Any:
    if raw is None:
        return None
    if isinstance(t, _schema.Array):
        return tuple(_from_kp_value(t.element, v, version) for v in raw)
    if isinstance(t, _schema.Struct):
        return from_kp(t, raw, version)
    if t in (_schema.BYTES, _schema.RECORDS):
        return bytes(raw)
    if t is _schema.UUID:
        return raw.bytes
    return raw


@pytest.mark.parametrize(("api", "version"), ALL_VERSIONS, ids=[f"{a.name}-v{v}" for a, v in ALL_VERSIONS])
def test_requests_encoded_by_kafka_python_decode_here(api: ApiKey, version: int) -> None:
    kp_cls = KP_CLASSES[(int(api), True)]
    schema = MESSAGES[api].request

    @CROSS_CHECK
    @given(body=struct_strategy(schema, version), correlation_id=st.integers(-(2**31), 2**31 - 1), client_id=st.none() | st.text(max_size=6))
    def check(body: Any, correlation_id: int, client_id: str | None) -> None:
        kp_request = to_kp(kp_cls, schema, body, version)
        kp_request.with_header(correlation_id=correlation_id, client_id=client_id)
        wire = bytes(kp_request.encode(header=True, framed=True))
        request = decode_three_ways(wire)
        assert request.header == RequestHeader(api_key=api, api_version=version, correlation_id=correlation_id, client_id=client_id)
        assert request.body == body
        assert encode_request(request.header, request.body) == wire  # round trip, byte for byte
        if api is ApiKey.Produce:
            assert request.expects_response == kp_request.expect_response()

    check()


RESPONSE_VERSIONS = [(a, v) for a, v in ALL_VERSIONS if MESSAGES[a].response is not None]


@pytest.mark.parametrize(("api", "version"), RESPONSE_VERSIONS, ids=[f"{a.name}-v{v}" for a, v in RESPONSE_VERSIONS])
def test_responses_encoded_here_decode_in_kafka_python(api: ApiKey, version: int) -> None:
    kp_cls = KP_CLASSES[(int(api), False)]
    schema = MESSAGES[api].response
    assert schema is not None

    bodies = struct_strategy(schema, version)
    if api is ApiKey.ApiVersions and version >= 1:
        # Clients (kafka-python, librdkafka) read any ApiVersions error body as v0: errors are only
        # ever sent through the v0 fallback reply, so only error_code 0 is meaningful here.
        bodies = bodies.map(lambda b: dataclasses.replace(b, error_code=0))

    @CROSS_CHECK
    @given(body=bodies, correlation_id=st.integers(-(2**31), 2**31 - 1))
    def check(body: Any, correlation_id: int) -> None:
        wire = encode_response(header(api, version, correlation_id), body)
        decoded = kp_cls.decode(three_ways(wire), version=version, header=True)
        assert decoded.header.correlation_id == correlation_id
        assert from_kp(schema, decoded, version) == body
        kp_response = to_kp(kp_cls, schema, body, version)
        kp_response.with_header(correlation_id=correlation_id)
        assert bytes(kp_response.encode(header=True, framed=True)) == wire  # byte for byte

    check()


pieces_strategy = st.lists(
    st.tuples(st.binary(max_size=70), st.binary(max_size=40) | st.binary(min_size=ZERO_COPY_MIN, max_size=ZERO_COPY_MIN + 3)),
    max_size=3,
)
aborted_strategy = st.none() | st.lists(
    st.builds(AbortedTransaction, producer_id=st.integers(-(2**63), 2**63 - 1), first_offset=st.integers(-(2**63), 2**63 - 1)),
    max_size=2,
).map(tuple)
partition_strategy = st.builds(
    FetchResponsePartition,
    partition_index=st.integers(-(2**31), 2**31 - 1),
    error_code=st.sampled_from([0, 1, 3, 6]),
    high_watermark=st.integers(-1, 2**62),
    last_stable_offset=st.integers(-1, 2**62),
    log_start_offset=st.integers(-1, 2**62),
    aborted_transactions=aborted_strategy,
    preferred_read_replica=st.integers(-1, 5),
    records=st.none() | pieces_strategy.map(lambda ps: tuple((h, memoryview(r)) for h, r in ps)),
    diverging_epoch=st.none() | st.builds(DivergingEpoch, epoch=st.integers(-1, 2**31 - 1),
                                          end_offset=st.integers(-1, 2**62)),
    current_leader=st.none() | st.builds(LeaderIdAndEpoch, leader_id=st.integers(-1, 9),
                                         leader_epoch=st.integers(-1, 2**31 - 1)),
)
fetch_response_strategy = st.builds(
    FetchResponse,
    throttle_time_ms=st.integers(0, 2**31 - 1),
    error_code=st.sampled_from([0, 71]),
    session_id=st.integers(0, 2**31 - 1),
    responses=st.lists(
        st.builds(FetchResponseTopic, topic=st.text(max_size=6), partitions=st.lists(partition_strategy, max_size=3).map(tuple)),
        max_size=3,
    ).map(tuple),
)


@pytest.mark.parametrize("version", range(SUPPORTED_VERSIONS[ApiKey.Fetch][0], SUPPORTED_VERSIONS[ApiKey.Fetch][1] + 1))
def test_fetch_responses_decode_in_kafka_python(version: int) -> None:
    kp_cls = KP_CLASSES[(int(ApiKey.Fetch), False)]
    kp_topic = kp_cls.FetchableTopicResponse
    kp_partition = kp_topic.PartitionData
    kp_aborted = kp_partition.AbortedTransaction

    @CROSS_CHECK
    @given(body=fetch_response_strategy, correlation_id=st.integers(-(2**31), 2**31 - 1))
    def check(body: FetchResponse, correlation_id: int) -> None:
        buffers = encode_fetch_response(correlation_id, version, body)
        for p in (p for t in body.responses for p in t.partitions):
            for piece in (piece for pair in p.records or () for piece in pair):
                if nbytes(piece) >= ZERO_COPY_MIN:
                    assert any(b is piece for b in buffers)
        wire = b"".join(buffers)
        assert encode_response(header(ApiKey.Fetch, version, correlation_id), body) == wire
        decoded = kp_cls.decode(three_ways(wire), version=version, header=True)
        assert decoded.header.correlation_id == correlation_id
        fields = {
            "throttle_time_ms": body.throttle_time_ms,
            **({"error_code": body.error_code, "session_id": body.session_id} if version >= 7 else {}),
            "responses": [
                {
                    "topic": t.topic,
                    "partitions": [
                        {
                            "partition_index": p.partition_index,
                            "error_code": p.error_code,
                            "high_watermark": p.high_watermark,
                            "last_stable_offset": p.last_stable_offset,
                            **({"log_start_offset": p.log_start_offset} if version >= 5 else {}),
                            "aborted_transactions": None
                            if p.aborted_transactions is None
                            else [{"producer_id": a.producer_id, "first_offset": a.first_offset} for a in p.aborted_transactions],
                            **({"preferred_read_replica": p.preferred_read_replica} if version >= 11 else {}),
                            "records": None if p.records is None else b"".join(bytes(h) + bytes(r) for h, r in p.records),
                            **({"diverging_epoch": None if p.diverging_epoch is None else
                                {"epoch": p.diverging_epoch.epoch, "end_offset": p.diverging_epoch.end_offset},
                                "current_leader": None if p.current_leader is None else
                                {"leader_id": p.current_leader.leader_id,
                                 "leader_epoch": p.current_leader.leader_epoch},
                                "snapshot_id": None} if version >= 12 else {}),
                        }
                        for p in t.partitions
                    ],
                }
                for t in body.responses
            ],
        }
        assert decoded.to_dict(json=False) == fields
        expected = kp_cls(
            version=version,
            throttle_time_ms=body.throttle_time_ms,
            error_code=body.error_code,
            session_id=body.session_id,
            responses=[
                kp_topic(
                    topic=t["topic"],
                    partitions=[
                        kp_partition(
                            **{k: v for k, v in p.items()
                               if k not in ("aborted_transactions", "diverging_epoch", "current_leader")},
                            aborted_transactions=None
                            if p["aborted_transactions"] is None
                            else [kp_aborted(**a) for a in p["aborted_transactions"]],
                            **({"diverging_epoch": p["diverging_epoch"] and kp_partition.EpochEndOffset(
                                    version=version, **p["diverging_epoch"]),
                                "current_leader": p["current_leader"] and kp_partition.LeaderIdAndEpoch(
                                    version=version, **p["current_leader"])} if version >= 12 else {}),
                        )
                        for p in t["partitions"]
                    ],
                )
                for t in fields["responses"]
            ],
        )
        expected.with_header(correlation_id=correlation_id)
        assert bytes(expected.encode(header=True, framed=True)) == wire  # byte for byte

    check()


# -- fuzzing: only values or typed ProtocolErrors ---------------------------------------------------

FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)
# 3000 + 3000 + 5000 + 4000 = 15,000 fuzz examples, about 8 s.


def _decode_or_protocol_error(payload: bytes) -> None:
    try:
        request = decode_request(payload)
    except ProtocolError as exc:
        assert isinstance(exc, RemoteProtocolError), exc  # never blame ourselves for the peer's bytes
        return
    # anything accepted re-encodes, and decodes to the same value (canonical form)
    again = encode_request(request.header, request.body)
    assert decode_request(three_ways(again, byte_at_a_time=False)) == request


@settings(FUZZ, max_examples=examples(3000))
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=6), limit=st.integers(1, 64))
def test_fuzz_frame_decoder(data: bytes, cuts: list[int], limit: int) -> None:
    decoder = FrameDecoder(max_frame_size=limit)
    frames: list[Frame] = []
    error: FrameSizeError | None = None
    points = [0, *sorted(c for c in cuts if c <= len(data)), len(data)]
    for start, end in itertools.pairwise(points):
        decoder.feed(data[start:end])
        try:
            while (frame := decoder.next_frame()) is not None:
                frames.append(frame)
        except FrameSizeError as exc:
            error = exc
            break
    consumed = sum(4 + len(f.payload) for f in frames)
    assert all(len(f.payload) <= limit for f in frames)
    assert data.startswith(b"".join(i32(len(f.payload)) + f.payload for f in frames))
    if error is None:
        assert consumed + decoder.buffered == len(data)
    else:
        with pytest.raises(FrameSizeError):
            decoder.next_frame()


@settings(FUZZ, max_examples=examples(3000))
@given(payload=st.binary(max_size=300))
def test_fuzz_decode_request_arbitrary_bytes(payload: bytes) -> None:
    _decode_or_protocol_error(payload)


@settings(FUZZ, max_examples=examples(5000))
@given(
    api_version=st.sampled_from([*ALL_VERSIONS, (ApiKey.ApiVersions, 4), (ApiKey.Fetch, 13)]),
    correlation_id=st.integers(-(2**31), 2**31 - 1),
    tail=st.binary(max_size=200),
)
def test_fuzz_decode_request_known_apis(api_version: tuple[ApiKey, int], correlation_id: int, tail: bytes) -> None:
    api, version = api_version
    _decode_or_protocol_error(struct.pack(">hhi", api, version, correlation_id) + tail)


def _valid_sample_payloads() -> list[bytes]:
    """One kafka-python-encoded request per (API, version), the seeds for mutation fuzzing."""
    samples = []
    for api, version in ALL_VERSIONS:
        schema = MESSAGES[api].request
        body = _minimal_body(schema, version)
        kp_request = to_kp(KP_CLASSES[(int(api), True)], schema, body, version)
        kp_request.with_header(correlation_id=1, client_id="fuzz")
        samples.append(bytes(kp_request.encode(header=True, framed=False)))
    return samples


def _minimal_body(s: _schema.Struct[Any], version: int) -> Any:
    """A small deterministic body with one element in every array."""
    kwargs: dict[str, Any] = {}
    for f in s.present(version):
        kwargs[f.name] = _minimal_value(f.type, version)
    return s.cls(**kwargs)


def _minimal_value(t: _schema.FieldType[Any], version: int) -> Any:
    if t is _schema.BOOL:
        return True
    if t in (_schema.INT8, _schema.INT16, _schema.INT32, _schema.INT64):
        return 1
    if t is _schema.STRING:
        return "ab"
    if t in (_schema.BYTES, _schema.RECORDS):
        return b"\x01\x02"
    if t is _schema.UUID:
        return bytes(range(16))
    if isinstance(t, _schema.Array):
        return (_minimal_value(t.element, version),)
    assert isinstance(t, _schema.Struct)
    return _minimal_body(t, version)


SEEDS = _valid_sample_payloads()


@settings(FUZZ, max_examples=examples(4000))
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255), st.sampled_from(["set", "cut", "insert"])), min_size=1, max_size=4),
)
def test_fuzz_decode_request_mutations(seed: bytes, edits: list[tuple[int, int, str]]) -> None:
    data = bytearray(seed)
    for position, value, action in edits:
        position %= len(data) + 1
        if action == "set" and position < len(data):
            data[position] = value
        elif action == "cut":
            del data[position:]
        else:
            data[position:position] = bytes([value])
        if not data:
            break
    _decode_or_protocol_error(bytes(data))


def test_mutation_seeds_are_valid() -> None:
    for seed in SEEDS:
        assert isinstance(decode_request(seed), Request)


def test_dataclasses_are_frozen_slotted_keyword_only() -> None:
    seen: set[type] = set()

    def visit(t: _schema.FieldType[Any]) -> None:
        if isinstance(t, _schema.Array):
            visit(t.element)
        elif isinstance(t, _schema.Struct) and t.cls not in seen:
            seen.add(t.cls)
            params = t.cls.__dataclass_params__
            assert params.frozen and "__slots__" in vars(t.cls) and all(f.kw_only for f in dataclasses.fields(t.cls)), t.cls
            for f in t.fields:
                visit(f.type)

    for codec in MESSAGES.values():
        visit(codec.request)
        if codec.response is not None:
            visit(codec.response)
    for cls in (FetchResponse, FetchResponseTopic, FetchResponsePartition, AbortedTransaction, Request, RequestHeader, Frame):
        assert cls.__dataclass_params__.frozen and "__slots__" in vars(cls)  # type: ignore[attr-defined]
    assert len(seen) > 60


# -- a message is declared once: its annotations are the wire layout ---------------------------------


@message
class _Inner:
    label: String


@message
class _Toy:
    code: Int16
    note: Annotated[String | None, Versions(since=1, nullable_since=2)] = None
    ids: tuple[Int32, ...] = ()
    inners: Sequence[_Inner] = ()


@message
class _NoWireType:
    count: int


@message
class _NullableInt:
    count: Int32 | None = None


def test_a_message_class_is_its_wire_layout() -> None:
    """Bytes written by hand from Kafka's encoding rules: INT16, nullable STRING (since 1, null from 2),
    ARRAY of INT32, ARRAY of a nested struct; a field outside its versions is skipped."""
    toy = _Toy(code=7, note=None, ids=(5, 6), inners=(_Inner(label="hi"),))
    tail = struct.pack(">iii", 2, 5, 6) + struct.pack(">ih", 1, 2) + b"hi"
    s = struct_of(_Toy)
    assert s is struct_of(_Toy)
    assert s.encode(toy, 0, flexible=False) == struct.pack(">h", 7) + tail
    assert s.encode(toy, 2, flexible=False) == struct.pack(">hh", 7, -1) + tail
    with pytest.raises(LocalProtocolError, match="not nullable in version 1"):
        s.encode(toy, 1, flexible=False)
    assert s.decode(struct.pack(">hh", 7, 2) + b"ok" + tail, 1, flexible=False) == _Toy(
        code=7, note="ok", ids=(5, 6), inners=(_Inner(label="hi"),))
    assert [(f.name, f.since, f.nullable(1), f.nullable(2)) for f in s.fields] == [
        ("code", 0, False, False), ("note", 1, False, True), ("ids", 0, False, False), ("inners", 0, False, False)]


def test_an_annotation_without_a_wire_type_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"_NoWireType\.count"):
        struct_of(_NoWireType).encode(_NoWireType(count=1), 0, flexible=False)
    with pytest.raises(TypeError, match="cannot be nullable"):
        struct_of(_NullableInt).encode(_NullableInt(count=1), 0, flexible=False)


def test_reader_never_reads_past_the_end() -> None:
    reader = Reader(b"\x00\x01")
    assert reader.int16() == 1
    with pytest.raises(MalformedRequest):
        reader.int8()
    assert reader.remaining == 0
