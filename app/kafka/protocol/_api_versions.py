"""ApiVersions (key 18), versions 0-3.

    Request  v0-2: (empty)
             v3:   client_software_name COMPACT_STRING, client_software_version COMPACT_STRING, tags
    Response v0:   error_code int16, api_keys [api_key int16, min_version int16, max_version int16]
             v1-2: + throttle_time_ms int32
             v3:   the same, compact array, tags after each element and at the end

The response header is always v0, even for the flexible v3 body (KIP-511), and an ApiVersions
request above our maximum is answered, not closed: :func:`api_versions_fallback_reply` builds the
v0-layout UNSUPPORTED_VERSION reply Kafka sends (``ApiVersionsRequest.getErrorResponse``), listing
only ApiVersions' own range so the client can retry with a version we speak.

Send a non-zero ``error_code`` only through that fallback: kafka-python reads *any* ApiVersions
body with an error as v0, and librdkafka cannot parse a v0 error body as v3 either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from ._framing import frame, response_header
from ._schema import Int16, Int32, String, Versions, message, struct_of
from .errors import ErrorCode

__all__ = [
    "ApiVersion",
    "ApiVersionsRequest",
    "ApiVersionsResponse",
    "api_versions_fallback_reply",
]


@message
class ApiVersionsRequest:
    client_software_name: Annotated[String, Versions(since=3)] = ""
    client_software_version: Annotated[String, Versions(since=3)] = ""


@message
class ApiVersion:
    api_key: Int16
    min_version: Int16
    max_version: Int16

    def __post_init__(self) -> None:
        if self.min_version > self.max_version:
            raise ValueError(f"api {self.api_key}: min_version {self.min_version} > max_version {self.max_version}")


@message
class ApiVersionsResponse:
    error_code: Int16 = ErrorCode.NONE
    api_keys: Sequence[ApiVersion] = ()
    throttle_time_ms: Annotated[Int32, Versions(since=1)] = 0


def api_versions_fallback_reply(correlation_id: int, *, min_version: int, max_version: int) -> bytes:
    """The framed v0-layout UNSUPPORTED_VERSION(35) reply to an ApiVersions request whose version
    is above ``max_version``: response header v0, error_code, and a one-entry api_keys array with
    ApiVersions' own range (int32 count, no throttle field, no tags)."""
    body = ApiVersionsResponse(
        error_code=ErrorCode.UNSUPPORTED_VERSION,
        api_keys=(ApiVersion(api_key=18, min_version=min_version, max_version=max_version),),
    )
    return frame(response_header(correlation_id, 0) + struct_of(ApiVersionsResponse).encode(body, 0, flexible=False))
