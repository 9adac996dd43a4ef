"""ApiVersions: the advertised windows (``SUPPORTED_VERSIONS``), with the SASL APIs only on SASL listeners.

Produce is always listed (librdkafka fetches only when it is, kafka-shim.md §0.2); the refused write and
admin APIs are not (clients then fail locally), though they are answered if sent anyway.
"""

from __future__ import annotations

from app.kafka.handlers._base import Broker, Session
from app.kafka.protocol import ApiVersionsRequest, ApiVersionsResponse, Request, api_versions_response


async def handle_api_versions(broker: Broker, session: Session, request: Request[ApiVersionsRequest]
                              ) -> ApiVersionsResponse:
    if request.body.client_software_name:
        session.client_id = session.client_id or request.body.client_software_name
    return api_versions_response(sasl=broker.auth.sasl_enabled)
