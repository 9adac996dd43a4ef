"""One error hierarchy for the service, and the two tables that map it to the outside world.

    ShadowReplicaError
    ├── ConfigError               bad flags, env or config file            (CLI exit 2)
    ├── InvalidRequest            a client asked for something malformed   HTTP 400 · Kafka INVALID_REQUEST
    │   └── InvalidParameter      a parameter has a bad type or value, or   HTTP 422
    │                             data cannot be shown the way asked
    ├── NotFound                                                            HTTP 404 · UNKNOWN_TOPIC_OR_PARTITION
    │   ├── UnknownTopic
    │   ├── UnknownPartition
    │   └── ObjectMissing         a key a manifest names is not in the bucket
    ├── OffsetOutOfRange          carries the valid range                  HTTP 416 · OFFSET_OUT_OF_RANGE
    ├── CorruptData               wraps a segment_format.FormatError        HTTP 422 · CORRUPT_MESSAGE
    │                             with the object key and byte position
    ├── AccessDenied              authentication/authorization             HTTP 401/403 · *_AUTHORIZATION_FAILED
    ├── ReadOnly                  a write against a read-only replica      HTTP 405 · CLUSTER_AUTHORIZATION_FAILED
    └── StorageError              S3 failed; ``retriable`` says if trying  HTTP 502/503 · KAFKA_STORAGE_ERROR /
        ├── StorageUnavailable    again later can help (throttling, 5xx,     REQUEST_TIMED_OUT
        │                         timeouts, cut-short bodies)
        ├── PreconditionFailed    an ETag/If-None-Match condition failed (the object changed under us)
        └── BucketMissing         the bucket a side names does not exist (configuration, not retriable)

Both tables live here and nowhere else: :data:`HTTP_STATUS` and :data:`KAFKA_CODE` (Kafka error codes by
number, names in comments, so this module does not import the Kafka package).
"""

from __future__ import annotations

from typing import Any


class ShadowReplicaError(Exception):
    """Root of every error the service raises on purpose."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape used by the HTTP API and `status`."""
        return {"error": type(self).__name__, "message": self.message, **self.details}


class ConfigError(ShadowReplicaError):
    pass


class InvalidRequest(ShadowReplicaError):
    pass


class InvalidParameter(InvalidRequest):
    """One named parameter is wrong (``parameter=...`` in the details), or the data cannot be rendered as
    asked (``decode=json`` on a value that is not JSON)."""


class NotFound(ShadowReplicaError):
    pass


class UnknownTopic(NotFound):
    pass


class UnknownPartition(NotFound):
    pass


class ObjectMissing(NotFound):
    pass


class OffsetOutOfRange(ShadowReplicaError):
    def __init__(self, message: str, *, start: int, end: int, **details: Any) -> None:
        super().__init__(message, start=start, end=end, **details)
        self.start = start
        self.end = end


class CorruptData(ShadowReplicaError):
    """Damaged bytes in the bucket; names the object key and the byte position inside it."""

    def __init__(self, message: str, *, key: str, position: int | None = None, **details: Any) -> None:
        super().__init__(message, key=key, position=position, **details)
        self.key = key
        self.position = position


class AccessDenied(ShadowReplicaError):
    def __init__(self, message: str, *, authenticated: bool = True, **details: Any) -> None:
        super().__init__(message, **details)
        self.authenticated = authenticated


class ReadOnly(ShadowReplicaError):
    pass


class StorageError(ShadowReplicaError):
    retriable = False


class StorageUnavailable(StorageError):
    retriable = True


class PreconditionFailed(StorageError):
    retriable = True


class BucketMissing(StorageError):
    """The bucket itself is missing (``NoSuchBucket``), as opposed to a key in it (:class:`ObjectMissing`)."""


# Kafka error codes (https://kafka.apache.org/protocol#protocol_error_codes).
KAFKA_CODE: dict[type[ShadowReplicaError], int] = {
    InvalidRequest: 42,  # INVALID_REQUEST
    NotFound: 3,  # UNKNOWN_TOPIC_OR_PARTITION
    OffsetOutOfRange: 1,  # OFFSET_OUT_OF_RANGE
    CorruptData: 2,  # CORRUPT_MESSAGE
    AccessDenied: 29,  # TOPIC_AUTHORIZATION_FAILED
    ReadOnly: 31,  # CLUSTER_AUTHORIZATION_FAILED
    StorageError: 56,  # KAFKA_STORAGE_ERROR
    StorageUnavailable: 7,  # REQUEST_TIMED_OUT (retriable)
    PreconditionFailed: 7,  # REQUEST_TIMED_OUT (retriable: re-read and try again)
    ShadowReplicaError: -1,  # UNKNOWN_SERVER_ERROR
}

HTTP_STATUS: dict[type[ShadowReplicaError], int] = {
    ConfigError: 500,
    InvalidRequest: 400,
    InvalidParameter: 422,
    NotFound: 404,
    OffsetOutOfRange: 416,
    CorruptData: 422,
    ReadOnly: 405,
    StorageError: 502,
    StorageUnavailable: 503,
    PreconditionFailed: 503,
    ShadowReplicaError: 500,
}


def _lookup(table: dict[type[ShadowReplicaError], int], error: ShadowReplicaError) -> int:
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    return table[ShadowReplicaError]


def kafka_code(error: ShadowReplicaError) -> int:
    """The Kafka error code for an error (most specific class wins)."""
    return _lookup(KAFKA_CODE, error)


def http_status(error: ShadowReplicaError) -> int:
    """The HTTP status for an error (most specific class wins; 401 for unauthenticated access)."""
    if isinstance(error, AccessDenied):
        return 403 if error.authenticated else 401
    return _lookup(HTTP_STATUS, error)
