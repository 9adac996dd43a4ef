"""Kafka error codes, and the exceptions this codec raises.

Every decoder in this package returns a value or raises a :class:`ProtocolError`; any other exception
escaping a decoder is a bug. The hierarchy is split by *fault*, as in h11::

    ProtocolError (Exception)
    ├── RemoteProtocolError        the peer sent bytes we cannot accept; carries ``error_code``
    │   ├── FrameSizeError         a frame length is negative or above ``max_frame_size``  (close)
    │   ├── MalformedRequest       a header or body is truncated, garbled or has trailing bytes (close)
    │   └── UnsupportedRequest     an API key / version we do not serve; ``reply`` is the framed
    │                              answer to send (ApiVersions above our maximum), or None (close)
    └── LocalProtocolError         we asked the codec to encode something it cannot (a caller bug)

After a :class:`RemoteProtocolError` the connection is out of sync or the peer misbehaves: the shell
sends ``reply`` if there is one, otherwise closes. Kafka itself closes the connection for anything
but the ApiVersions case (``RequestContext.parseRequest`` / ``SocketServer``).

:class:`ErrorCode` lists every code of Apache Kafka's ``org.apache.kafka.common.protocol.Errors``
(4.x), by the official names and numbers; response fields carry them as plain ``int`` (an
``ErrorCode`` member is an ``int``).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "ErrorCode",
    "FrameSizeError",
    "LocalProtocolError",
    "MalformedRequest",
    "ProtocolError",
    "RemoteProtocolError",
    "UnsupportedRequest",
]


class ErrorCode(IntEnum):
    """Kafka protocol error codes (https://kafka.apache.org/protocol#protocol_error_codes)."""

    UNKNOWN_SERVER_ERROR = -1
    NONE = 0
    OFFSET_OUT_OF_RANGE = 1
    CORRUPT_MESSAGE = 2
    UNKNOWN_TOPIC_OR_PARTITION = 3
    INVALID_FETCH_SIZE = 4
    LEADER_NOT_AVAILABLE = 5
    NOT_LEADER_OR_FOLLOWER = 6
    REQUEST_TIMED_OUT = 7
    BROKER_NOT_AVAILABLE = 8
    REPLICA_NOT_AVAILABLE = 9
    MESSAGE_TOO_LARGE = 10
    STALE_CONTROLLER_EPOCH = 11
    OFFSET_METADATA_TOO_LARGE = 12
    NETWORK_EXCEPTION = 13
    COORDINATOR_LOAD_IN_PROGRESS = 14
    COORDINATOR_NOT_AVAILABLE = 15
    NOT_COORDINATOR = 16
    INVALID_TOPIC_EXCEPTION = 17
    RECORD_LIST_TOO_LARGE = 18
    NOT_ENOUGH_REPLICAS = 19
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20
    INVALID_REQUIRED_ACKS = 21
    ILLEGAL_GENERATION = 22
    INCONSISTENT_GROUP_PROTOCOL = 23
    INVALID_GROUP_ID = 24
    UNKNOWN_MEMBER_ID = 25
    INVALID_SESSION_TIMEOUT = 26
    REBALANCE_IN_PROGRESS = 27
    INVALID_COMMIT_OFFSET_SIZE = 28
    TOPIC_AUTHORIZATION_FAILED = 29
    GROUP_AUTHORIZATION_FAILED = 30
    CLUSTER_AUTHORIZATION_FAILED = 31
    INVALID_TIMESTAMP = 32
    UNSUPPORTED_SASL_MECHANISM = 33
    ILLEGAL_SASL_STATE = 34
    UNSUPPORTED_VERSION = 35
    TOPIC_ALREADY_EXISTS = 36
    INVALID_PARTITIONS = 37
    INVALID_REPLICATION_FACTOR = 38
    INVALID_REPLICA_ASSIGNMENT = 39
    INVALID_CONFIG = 40
    NOT_CONTROLLER = 41
    INVALID_REQUEST = 42
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43
    POLICY_VIOLATION = 44
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45
    DUPLICATE_SEQUENCE_NUMBER = 46
    INVALID_PRODUCER_EPOCH = 47
    INVALID_TXN_STATE = 48
    INVALID_PRODUCER_ID_MAPPING = 49
    INVALID_TRANSACTION_TIMEOUT = 50
    CONCURRENT_TRANSACTIONS = 51
    TRANSACTION_COORDINATOR_FENCED = 52
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
    SECURITY_DISABLED = 54
    OPERATION_NOT_ATTEMPTED = 55
    KAFKA_STORAGE_ERROR = 56
    LOG_DIR_NOT_FOUND = 57
    SASL_AUTHENTICATION_FAILED = 58
    UNKNOWN_PRODUCER_ID = 59
    REASSIGNMENT_IN_PROGRESS = 60
    DELEGATION_TOKEN_AUTH_DISABLED = 61
    DELEGATION_TOKEN_NOT_FOUND = 62
    DELEGATION_TOKEN_OWNER_MISMATCH = 63
    DELEGATION_TOKEN_REQUEST_NOT_ALLOWED = 64
    DELEGATION_TOKEN_AUTHORIZATION_FAILED = 65
    DELEGATION_TOKEN_EXPIRED = 66
    INVALID_PRINCIPAL_TYPE = 67
    NON_EMPTY_GROUP = 68
    GROUP_ID_NOT_FOUND = 69
    FETCH_SESSION_ID_NOT_FOUND = 70
    INVALID_FETCH_SESSION_EPOCH = 71
    LISTENER_NOT_FOUND = 72
    TOPIC_DELETION_DISABLED = 73
    FENCED_LEADER_EPOCH = 74
    UNKNOWN_LEADER_EPOCH = 75
    UNSUPPORTED_COMPRESSION_TYPE = 76
    STALE_BROKER_EPOCH = 77
    OFFSET_NOT_AVAILABLE = 78
    MEMBER_ID_REQUIRED = 79
    PREFERRED_LEADER_NOT_AVAILABLE = 80
    GROUP_MAX_SIZE_REACHED = 81
    FENCED_INSTANCE_ID = 82
    ELIGIBLE_LEADERS_NOT_AVAILABLE = 83
    ELECTION_NOT_NEEDED = 84
    NO_REASSIGNMENT_IN_PROGRESS = 85
    GROUP_SUBSCRIBED_TO_TOPIC = 86
    INVALID_RECORD = 87
    UNSTABLE_OFFSET_COMMIT = 88
    THROTTLING_QUOTA_EXCEEDED = 89
    PRODUCER_FENCED = 90
    RESOURCE_NOT_FOUND = 91
    DUPLICATE_RESOURCE = 92
    UNACCEPTABLE_CREDENTIAL = 93
    INCONSISTENT_VOTER_SET = 94
    INVALID_UPDATE_VERSION = 95
    FEATURE_UPDATE_FAILED = 96
    PRINCIPAL_DESERIALIZATION_FAILURE = 97
    SNAPSHOT_NOT_FOUND = 98
    POSITION_OUT_OF_RANGE = 99
    UNKNOWN_TOPIC_ID = 100
    DUPLICATE_BROKER_REGISTRATION = 101
    BROKER_ID_NOT_REGISTERED = 102
    INCONSISTENT_TOPIC_ID = 103
    INCONSISTENT_CLUSTER_ID = 104
    TRANSACTIONAL_ID_NOT_FOUND = 105
    FETCH_SESSION_TOPIC_ID_ERROR = 106
    INELIGIBLE_REPLICA = 107
    NEW_LEADER_ELECTED = 108
    OFFSET_MOVED_TO_TIERED_STORAGE = 109
    FENCED_MEMBER_EPOCH = 110
    UNRELEASED_INSTANCE_ID = 111
    UNSUPPORTED_ASSIGNOR = 112
    STALE_MEMBER_EPOCH = 113
    MISMATCHED_ENDPOINT_TYPE = 114
    UNSUPPORTED_ENDPOINT_TYPE = 115
    UNKNOWN_CONTROLLER_ID = 116
    UNKNOWN_SUBSCRIPTION_ID = 117
    TELEMETRY_TOO_LARGE = 118
    INVALID_REGISTRATION = 119
    TRANSACTION_ABORTABLE = 120
    INVALID_RECORD_STATE = 121
    SHARE_SESSION_NOT_FOUND = 122
    INVALID_SHARE_SESSION_EPOCH = 123
    FENCED_STATE_EPOCH = 124
    INVALID_VOTER_KEY = 125
    DUPLICATE_VOTER = 126
    VOTER_NOT_FOUND = 127
    INVALID_REGULAR_EXPRESSION = 128
    REBOOTSTRAP_REQUIRED = 129
    STREAMS_INVALID_TOPOLOGY = 130
    STREAMS_INVALID_TOPOLOGY_EPOCH = 131
    STREAMS_TOPOLOGY_FENCED = 132
    SHARE_SESSION_LIMIT_REACHED = 133


class ProtocolError(Exception):
    """Root of everything this package raises on purpose."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something we cannot accept.

    ``error_code`` is the Kafka code that describes the problem, a hint for logs and metrics; the
    usual reaction is to close the connection (see :class:`UnsupportedRequest` for the exception).
    """

    error_code: ErrorCode = ErrorCode.INVALID_REQUEST

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(f"{message} (at byte {position})" if position is not None else message)
        self.message = message
        self.position = position


class FrameSizeError(RemoteProtocolError):
    """A frame length prefix is negative or larger than the decoder's ``max_frame_size``."""

    def __init__(self, size: int, max_frame_size: int) -> None:
        what = "negative" if size < 0 else f"above the limit of {max_frame_size} bytes"
        super().__init__(f"frame size {size} is {what}", position=0)
        self.size = size
        self.max_frame_size = max_frame_size


class MalformedRequest(RemoteProtocolError):
    """A request header or body does not parse: truncated, bad lengths, bad UTF-8, trailing bytes."""


class UnsupportedRequest(RemoteProtocolError):
    """An API key or version this codec does not serve.

    ``reply`` is the complete framed response to send when Kafka answers instead of closing: an
    ApiVersions request above our maximum gets the v0-layout UNSUPPORTED_VERSION reply and the
    connection stays open (the client retries with a lower version). For everything else ``reply``
    is None: close the connection, as Kafka does.
    """

    error_code = ErrorCode.UNSUPPORTED_VERSION

    def __init__(
        self, *, api_key: int, api_version: int, correlation_id: int, reply: bytes | None
    ) -> None:
        action = "answer UNSUPPORTED_VERSION" if reply is not None else "close"
        super().__init__(f"unsupported request api_key={api_key} api_version={api_version}: {action}")
        self.api_key = api_key
        self.api_version = api_version
        self.correlation_id = correlation_id
        self.reply = reply


class LocalProtocolError(ProtocolError):
    """We asked the codec to encode something it cannot: a value out of range, a wrong type, a null
    where the version has no null, a body of another API. A bug in the caller, never the peer."""
