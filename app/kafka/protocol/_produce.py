"""Produce (key 0), versions 3-8: decoded only to be refused.

Version 3 is the first with v2 record batches (and ``transactional_id``); 9 is flexible. A
read-only replica decodes topic and partition indexes (the records stay a zero-copy view of the
frame and are never parsed) and answers every partition with TOPIC_AUTHORIZATION_FAILED, what Kafka
returns to a principal without WRITE on the topic; clients fail the send at once instead of
retrying. ``acks=0`` requests get no response at all (:attr:`ProduceRequest.expects_response`).

Response field history: v1 throttle_time_ms (at the end), v2 log_append_time_ms, v5
log_start_offset, v8 record_errors and error_message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from ._schema import Int16, Int32, Int64, Records, String, Versions, message
from .errors import ErrorCode

__all__ = [
    "BatchIndexAndErrorMessage",
    "PartitionProduceData",
    "PartitionProduceResponse",
    "ProduceRequest",
    "ProduceResponse",
    "TopicProduceData",
    "TopicProduceResponse",
    "reject_produce",
]


@message
class PartitionProduceData:
    index: Int32
    records: Records | None


@message
class TopicProduceData:
    name: String
    partition_data: tuple[PartitionProduceData, ...]


@message
class ProduceRequest:
    transactional_id: String | None = None
    acks: Int16
    timeout_ms: Int32
    topic_data: tuple[TopicProduceData, ...]

    @property
    def expects_response(self) -> bool:
        """False for ``acks=0``: the producer does not read a response (Kafka sends none)."""
        return self.acks != 0


@message
class BatchIndexAndErrorMessage:
    batch_index: Int32
    batch_index_error_message: Annotated[String | None, Versions(nullable_since=8)] = None


@message
class PartitionProduceResponse:
    index: Int32
    error_code: Int16 = ErrorCode.NONE
    base_offset: Int64 = -1
    log_append_time_ms: Annotated[Int64, Versions(since=2)] = -1
    log_start_offset: Annotated[Int64, Versions(since=5)] = -1
    record_errors: Annotated[Sequence[BatchIndexAndErrorMessage], Versions(since=8)] = ()
    error_message: Annotated[String | None, Versions(since=8, nullable_since=8)] = None


@message
class TopicProduceResponse:
    name: String
    partition_responses: Sequence[PartitionProduceResponse]


@message
class ProduceResponse:
    responses: Sequence[TopicProduceResponse]
    throttle_time_ms: Annotated[Int32, Versions(since=1)] = 0


READ_ONLY_MESSAGE = "this cluster is a read-only replica"


def reject_produce(
    request: ProduceRequest,
    error_code: int = ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    error_message: str | None = READ_ONLY_MESSAGE,
) -> ProduceResponse:
    """Every partition of ``request`` answered with ``error_code`` (the message is sent in v8+)."""
    return ProduceResponse(
        responses=tuple(
            TopicProduceResponse(
                name=topic.name,
                partition_responses=tuple(
                    PartitionProduceResponse(index=p.index, error_code=error_code, error_message=error_message)
                    for p in topic.partition_data
                ),
            )
            for topic in request.topic_data
        )
    )
