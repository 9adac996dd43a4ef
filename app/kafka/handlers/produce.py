"""Produce and the other write/admin APIs: refused, per item, with the error Kafka gives a principal
without the right (kafka-shim.md §4): Produce partitions TOPIC_AUTHORIZATION_FAILED (29) with a message,
acks=0 Produce no answer at all; InitProducerId, CreateTopics, DeleteTopics, DeleteRecords,
CreatePartitions, AlterConfigs, IncrementalAlterConfigs and DeleteGroups their per-item authorization
errors (:func:`app.kafka.protocol.reject`). The connection stays open.
"""

from __future__ import annotations

import logging

from app.kafka.handlers._base import Broker, Session
from app.kafka.protocol import ProduceRequest, RejectableRequest, Request, ResponseBody, reject

log = logging.getLogger(__name__)


async def handle_rejected(broker: Broker, session: Session, request: Request[RejectableRequest]
                          ) -> ResponseBody | None:
    body = request.body
    if isinstance(body, ProduceRequest):
        # client bytes: escaped (a CR LF in a name cannot forge a log line) and cut short
        topics = ",".join(t.name for t in body.topic_data)[:200].encode("unicode_escape").decode("ascii")
        log.info("refused Produce to %s from %s (read-only replica)", topics, session.peer)
        if not body.expects_response:
            return None  # acks=0: the producer reads no response, and Kafka sends none
    else:
        log.info("refused %s from %s (read-only replica)", type(body).__name__, session.peer)
    return reject(body)
