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
from dataclasses import dataclass

from ._framing import frame, response_header
from ._schema import INT16, INT32, STRING, Array, Field, Struct
from .errors import ErrorCode

__all__ = [
    "ApiVersion",
    "ApiVersionsRequest",
    "ApiVersionsResponse",
    "api_versions_fallback_reply",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiVersionsRequest:
    client_software_name: str = ""
    client_software_version: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiVersion:
    api_key: int
    min_version: int
    max_version: int

    def __post_init__(self) -> None:
        if self.min_version > self.max_version:
            raise ValueError(f"api {self.api_key}: min_version {self.min_version} > max_version {self.max_version}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiVersionsResponse:
    error_code: int = ErrorCode.NONE
    api_keys: Sequence[ApiVersion] = ()
    throttle_time_ms: int = 0


API_VERSIONS_REQUEST = Struct(
    ApiVersionsRequest,
    Field("client_software_name", STRING, since=3),
    Field("client_software_version", STRING, since=3),
)

API_VERSIONS_RESPONSE = Struct(
    ApiVersionsResponse,
    Field("error_code", INT16),
    Field("api_keys", Array(Struct(ApiVersion, Field("api_key", INT16), Field("min_version", INT16), Field("max_version", INT16)))),
    Field("throttle_time_ms", INT32, since=1),
)


def api_versions_fallback_reply(correlation_id: int, *, min_version: int, max_version: int) -> bytes:
    """The framed v0-layout UNSUPPORTED_VERSION(35) reply to an ApiVersions request whose version
    is above ``max_version``: response header v0, error_code, and a one-entry api_keys array with
    ApiVersions' own range (int32 count, no throttle field, no tags)."""
    body = ApiVersionsResponse(
        error_code=ErrorCode.UNSUPPORTED_VERSION,
        api_keys=(ApiVersion(api_key=18, min_version=min_version, max_version=max_version),),
    )
    return frame(response_header(correlation_id, 0) + API_VERSIONS_RESPONSE.encode(body, 0, flexible=False))
