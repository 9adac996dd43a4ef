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
from dataclasses import dataclass

from ._schema import BYTES, INT16, INT64, STRING, Array, Field, Struct
from .errors import ErrorCode

__all__ = [
    "SaslAuthenticateRequest",
    "SaslAuthenticateResponse",
    "SaslHandshakeRequest",
    "SaslHandshakeResponse",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SaslHandshakeRequest:
    mechanism: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SaslHandshakeResponse:
    error_code: int = ErrorCode.NONE
    mechanisms: Sequence[str] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SaslAuthenticateRequest:
    auth_bytes: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class SaslAuthenticateResponse:
    error_code: int = ErrorCode.NONE
    error_message: str | None = None
    auth_bytes: bytes = b""
    session_lifetime_ms: int = 0


SASL_HANDSHAKE_REQUEST = Struct(SaslHandshakeRequest, Field("mechanism", STRING))

SASL_HANDSHAKE_RESPONSE = Struct(
    SaslHandshakeResponse,
    Field("error_code", INT16),
    Field("mechanisms", Array(STRING)),
)

SASL_AUTHENTICATE_REQUEST = Struct(SaslAuthenticateRequest, Field("auth_bytes", BYTES))

SASL_AUTHENTICATE_RESPONSE = Struct(
    SaslAuthenticateResponse,
    Field("error_code", INT16),
    Field("error_message", STRING, nullable_since=0),
    Field("auth_bytes", BYTES),
    Field("session_lifetime_ms", INT64, since=1),
)
