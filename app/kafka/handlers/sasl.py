"""SaslHandshake v1 and SaslAuthenticate (kafka-shim.md §8.1).

The handshake picks the mechanism and makes a server from :mod:`app.kafka.sasl`; each SaslAuthenticate
feeds it one token. A failure is logged (user, peer and the detail the client must not see), answered
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
    return SaslHandshakeResponse(mechanisms=tuple(mechanisms))


async def handle_sasl_authenticate(broker: Broker, session: Session, request: Request[SaslAuthenticateRequest]
                                   ) -> SaslAuthenticateResponse:
    server = session.sasl
    token = bytes(request.body.auth_bytes)
    if server is None or session.authenticated:
        session.close_after_response = True
        await asyncio.sleep(broker.auth.failed_auth_delay)
        return SaslAuthenticateResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE,
                                        error_message="SaslAuthenticate without a SaslHandshake before it")
    if session.sasl_user is None:
        session.sasl_user = claimed_user(token)
    try:
        reply = server.step(token)
    except SaslError as e:
        log.warning("authentication failed: user %r, mechanism %s, peer %s, client_id %r: %s", session.sasl_user,
                    server.mechanism, session.peer, session.client_id, e.detail)
        session.close_after_response = True
        await asyncio.sleep(broker.auth.failed_auth_delay)
        return SaslAuthenticateResponse(error_code=e.error_code, error_message=e.client_message)
    if server.complete:
        session.principal = server.username
        session.authenticated = True
        log.info("client %s authenticated as %r with %s", session.peer, session.principal, server.mechanism)
    return SaslAuthenticateResponse(auth_bytes=reply, session_lifetime_ms=0)
