"""SaslHandshake v0-1 and SaslAuthenticate (kafka-shim.md §8.1).

The handshake picks the mechanism and makes a server from :mod:`app.kafka.sasl`; each SaslAuthenticate
feeds it one token. After a v0 handshake the tokens arrive unframed instead (Kafka's original exchange,
what librdkafka and kafka-python use against a broker without SaslHandshake v1): the shell hands each
bare frame to :func:`handle_unframed_sasl_token` and writes back the bare size-prefixed reply; a
failure there is logged the same way and ends the connection after the delay without an answer (v0
has no error field; Kafka closes too). A failure is logged (user, peer and the detail the client must not see), answered
only after ``failed_auth_delay`` with Kafka's generic message, and the connection is closed after the
answer; so is a handshake naming a mechanism that is not enabled (UNSUPPORTED_SASL_MECHANISM). A second handshake after success, or a token before any handshake, is ILLEGAL_SASL_STATE.
"""

from __future__ import annotations

import asyncio
import logging

from app.kafka.handlers._base import Broker, Session
from app.kafka.protocol import (
    ErrorCode,
    Request,
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
)
from app.kafka.sasl import SaslError, UnsupportedSaslMechanism

log = logging.getLogger("app.kafka.auth")


def claimed_user(token: bytes) -> str:
    """The user name a first SASL token claims (for logs only): SCRAM ``n=``, or PLAIN's second field."""
    text = token.decode("utf-8", "replace")
    if "\x00" in text:
        parts = text.split("\x00")
        return parts[1] if len(parts) > 1 else "?"
    for attr in text.split(","):
        if attr.startswith("n=") and len(attr) > 2:
            return attr[2:].replace("=2C", ",").replace("=3D", "=")
    return "?"


async def handle_sasl_handshake(broker: Broker, session: Session, request: Request[SaslHandshakeRequest]
                                ) -> SaslHandshakeResponse:
    auth = broker.auth
    mechanisms = sorted(auth.mechanisms) if auth.sasl_enabled else []
    if not auth.sasl_enabled:
        return SaslHandshakeResponse(error_code=ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms=())
    if session.authenticated or session.sasl is not None:
        session.close_after_response = True
        return SaslHandshakeResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE, mechanisms=tuple(mechanisms))
    try:
        session.sasl = auth.sasl_server(request.body.mechanism)
    except UnsupportedSaslMechanism:
        log.warning("client %s asked for SASL mechanism %r; enabled: %s", session.peer, request.body.mechanism[:100],
                    ", ".join(mechanisms))
        # a failed authentication like any other (Kafka: UnsupportedSaslMechanismException): answered after
        # the delay, then the connection is closed
        session.close_after_response = True
        await asyncio.sleep(auth.failed_auth_delay)
        return SaslHandshakeResponse(error_code=ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms=tuple(mechanisms))
    session.sasl_unframed = request.header.api_version == 0
    return SaslHandshakeResponse(mechanisms=tuple(mechanisms))


async def _step(broker: Broker, session: Session, token: bytes) -> tuple[bytes, None] | tuple[None, SaslError]:
    """Feed one token to the connection's SASL server: (reply, None), or (None, error) after the
    failure was logged, the close requested and the failure delay waited out."""
    server = session.sasl
    assert server is not None
    if session.sasl_user is None:
        session.sasl_user = claimed_user(token)
    try:
        reply = server.step(token)
    except SaslError as e:
        log.warning("authentication failed: user %r, mechanism %s, peer %s, client_id %r: %s", session.sasl_user,
                    server.mechanism, session.peer, session.client_id, e.detail)
        session.close_after_response = True
        await asyncio.sleep(broker.auth.failed_auth_delay)
        return None, e
    if server.complete:
        session.principal = server.username
        session.authenticated = True
        log.info("client %s authenticated as %r with %s%s", session.peer, session.principal, server.mechanism,
                 " (SaslHandshake v0, unframed tokens)" if session.sasl_unframed else "")
        session.sasl_unframed = False
    return reply, None


async def handle_unframed_sasl_token(broker: Broker, session: Session, token: bytes) -> bytes | None:
    """One bare token after a SaslHandshake v0: the bare reply token, or None when authentication failed
    (the connection is then closed without an answer)."""
    reply, _error = await _step(broker, session, token)
    return reply


async def handle_sasl_authenticate(broker: Broker, session: Session, request: Request[SaslAuthenticateRequest]
                                   ) -> SaslAuthenticateResponse:
    server = session.sasl
    token = bytes(request.body.auth_bytes)
    if server is None or session.authenticated:
        session.close_after_response = True
        await asyncio.sleep(broker.auth.failed_auth_delay)
        return SaslAuthenticateResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE,
                                        error_message="SaslAuthenticate without a SaslHandshake before it")
    if session.sasl_unframed:  # a v0 handshake promised bare tokens; Kafka refuses this too
        session.close_after_response = True
        await asyncio.sleep(broker.auth.failed_auth_delay)
        return SaslAuthenticateResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE,
                                        error_message="SaslAuthenticate after a SaslHandshake v0")
    reply, error = await _step(broker, session, token)
    if error is not None:
        return SaslAuthenticateResponse(error_code=error.error_code, error_message=error.client_message)
    assert reply is not None
    return SaslAuthenticateResponse(auth_bytes=reply, session_lifetime_ms=0)
