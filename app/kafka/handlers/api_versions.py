"""ApiVersions: the advertised windows (``SUPPORTED_VERSIONS``), with the SASL APIs only on SASL listeners.

Produce is always listed (librdkafka fetches only when it is, kafka-shim.md §0.2); the refused write and
admin APIs are not (clients then fail locally), though they are answered if sent anyway. A v3+ request
names the client library (KIP-511): logged once per connection, with the client id and peer.
"""

from __future__ import annotations

import logging

from app.kafka.handlers._base import Broker, Session
from app.kafka.protocol import ApiVersionsRequest, ApiVersionsResponse, Request, api_versions_response

log = logging.getLogger(__name__)


async def handle_api_versions(broker: Broker, session: Session, request: Request[ApiVersionsRequest]
                              ) -> ApiVersionsResponse:
    body = request.body
    if body.client_software_name:
        if session.client_software is None:
            log.info("client %s (client id %r) runs %s %s", session.peer, request.header.client_id,
                     body.client_software_name[:100], body.client_software_version[:100])
        session.client_software = f"{body.client_software_name} {body.client_software_version}"
        session.client_id = session.client_id or body.client_software_name
    return api_versions_response(sasl=broker.auth.sasl_enabled)
