"""SaslHandshake (key 17) v0-1 and SaslAuthenticate (key 36) v0-1: the envelope only.

SaslHandshake v1 means the mechanism's tokens travel inside SaslAuthenticate requests. v0 means raw
size-prefixed tokens *outside* Kafka framing (no header, no correlation id) until authentication
completes: the shell (:mod:`app.kafka.server`) passes those frames to the SASL server as they are.
Both versions have the same body. librdkafka enables SASL only when v0 is advertised (its
"SaslHandshake" feature needs v0; framed tokens need v1 with SaslAuthenticate v0). SaslAuthenticate v1 adds
``session_lifetime_ms`` to the response (0 = no re-authentication, KIP-368); v2 is flexible.

The SCRAM/PLAIN state machines that produce and check the tokens live in :mod:`app.kafka.sasl`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from ._schema import Bytes, Int16, Int64, String, Versions, message
from .errors import ErrorCode

__all__ = [
    "SaslAuthenticateRequest",
    "SaslAuthenticateResponse",
    "SaslHandshakeRequest",
    "SaslHandshakeResponse",
]


@message
class SaslHandshakeRequest:
    mechanism: String


@message
class SaslHandshakeResponse:
    error_code: Int16 = ErrorCode.NONE
    mechanisms: Sequence[String] = ()


@message
class SaslAuthenticateRequest:
    auth_bytes: Bytes


@message
class SaslAuthenticateResponse:
    error_code: Int16 = ErrorCode.NONE
    error_message: String | None = None
    auth_bytes: Bytes = b""
    session_lifetime_ms: Annotated[Int64, Versions(since=1)] = 0


