"""The one mapping of S3/SDK exceptions to the service's error hierarchy (see :mod:`app.store`)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ResponseStreamingError,
    SSLError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from app.errors import (
    BucketMissing,
    ObjectMissing,
    OffsetOutOfRange,
    PreconditionFailed,
    ShadowReplicaError,
    StorageError,
    StorageUnavailable,
)

# -------------------------------------------------------------------------------------- error mapping


class _NotModifiedSignal(StorageError):
    """Internal: a 304 on the way from :func:`_translate` to ``get``, which turns it into :class:`NotModified`."""


_MISSING_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
_PRECONDITION_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})
_DENIED_CODES = frozenset(
    {"AccessDenied", "403", "NoCredentials", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
     "TokenRefreshRequired", "AllAccessDisabled", "AccountProblem", "InvalidSecurity"}
)
_UNAVAILABLE_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
     "RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded", "BandwidthLimitExceeded",
     "RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable", "OperationAborted",
     "PriorRequestNotComplete", "500", "502", "503", "504"}
)
_SIZE_IN_RANGE = re.compile(r"/(\d+)\s*$")


def _translate(
    exc: BaseException, *, op: str, bucket: str, key: str | None, full_key: str | None
) -> StorageError | ObjectMissing | OffsetOutOfRange:
    """THE mapping from SDK/transport exceptions to the service's errors (see the module docstring)."""
    where = f"{op} s3://{bucket}/{full_key}" if full_key is not None else f"{op} s3://{bucket}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {}) or {}
        code = str(error.get("Code") or "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        detail = error.get("Message") or code or f"HTTP {status}"
        if code == "NoSuchBucket" or (status == 404 and full_key is None):
            return BucketMissing(f"{where}: bucket {bucket!r} does not exist", bucket=bucket, code=code or "404")
        if code == "NoSuchUpload":  # a multipart upload that was aborted (or completed) meanwhile
            return StorageError(f"{where}: {detail}", bucket=bucket, key=key, code=code)
        if code in _MISSING_CODES or status == 404:
            return ObjectMissing(f"{where}: no such object", key=key, bucket=bucket)
        if status == 304 or code == "304":
            return _NotModifiedSignal(f"{where}: not modified", key=key)
        if status == 412 or code in _PRECONDITION_CODES:
            return PreconditionFailed(f"{where}: precondition failed ({detail})", key=key, bucket=bucket, code=code)
        if status == 416 or code == "InvalidRange":
            size = error.get("ActualObjectSize")
            if size is None:  # some servers only say it in Content-Range: bytes */SIZE
                header = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("content-range", "")
                m = _SIZE_IN_RANGE.search(header)
                size = m.group(1) if m else -1
            return OffsetOutOfRange(f"{where}: byte range not satisfiable", start=0, end=int(size), key=key)
        if status == 403 or code in _DENIED_CODES:
            return StorageError(
                f"{where}: access denied by S3 ({code or status}: {detail}). Check this side's credentials "
                "(AWS_ACCESS_KEY_ID / SHADOWREPLICA_<SIDE>_ACCESS_KEY_ID ...) and that they may use this bucket "
                "(IAM policy, bucket policy, region).",
                bucket=bucket, key=key, code=code or "403",
            )
        if status >= 500 or status == 429 or code in _UNAVAILABLE_CODES:
            return StorageUnavailable(f"{where}: S3 unavailable ({code or status}: {detail})", bucket=bucket, key=key,
                                      code=code)
        return StorageError(f"{where}: {code or status}: {detail}", bucket=bucket, key=key, code=code)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return StorageError(f"{where}: no usable S3 credentials ({exc}). Set AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY (or the per-side SHADOWREPLICA_<SIDE>_* variables).",
                            bucket=bucket, key=key, code="NoCredentials")
    if isinstance(exc, SSLError):
        return StorageError(f"{where}: TLS failure talking to S3 ({exc}); check the endpoint URL and AWS_CA_BUNDLE")
    if isinstance(
        exc,
        HTTPClientError | BotoConnectionError | ResponseStreamingError | IncompleteReadError | aiohttp.ClientError
        | asyncio.IncompleteReadError | OSError,  # OSError: TimeoutError, ConnectionResetError, ...
    ):
        return StorageUnavailable(f"{where}: {type(exc).__name__}: {exc}", bucket=bucket, key=key)
    if isinstance(exc, BotoCoreError):
        return StorageError(f"{where}: {type(exc).__name__}: {exc}", bucket=bucket, key=key)
    return StorageError(f"{where}: unexpected {type(exc).__name__}: {exc}", bucket=bucket, key=key)


def _kind(error: ShadowReplicaError) -> str:
    """The ``errors`` counter a mapped error is counted under."""
    if isinstance(error, ObjectMissing):
        return "missing"
    if isinstance(error, BucketMissing):
        return "no_bucket"
    if isinstance(error, PreconditionFailed):
        return "precondition"
    if isinstance(error, OffsetOutOfRange):
        return "out_of_range"
    if isinstance(error, StorageUnavailable):
        return "unavailable"
    if isinstance(error, StorageError) and error.details.get("code") in _DENIED_CODES:
        return "denied"
    return "error"


def _first_domain_error(group: BaseExceptionGroup[Any]) -> ShadowReplicaError | None:
    for exc in group.exceptions:
        if isinstance(exc, ShadowReplicaError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            inner = _first_domain_error(exc)
            if inner is not None:
                return inner
    return None
