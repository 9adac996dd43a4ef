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
from dataclasses import dataclass

from ._schema import INT16, INT32, INT64, RECORDS, STRING, Array, Field, Struct
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


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionProduceData:
    index: int
    records: memoryview | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicProduceData:
    name: str
    partition_data: tuple[PartitionProduceData, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProduceRequest:
    transactional_id: str | None = None
    acks: int
    timeout_ms: int
    topic_data: tuple[TopicProduceData, ...]

    @property
    def expects_response(self) -> bool:
        """False for ``acks=0``: the producer does not read a response (Kafka sends none)."""
        return self.acks != 0


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchIndexAndErrorMessage:
    batch_index: int
    batch_index_error_message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionProduceResponse:
    index: int
    error_code: int = ErrorCode.NONE
    base_offset: int = -1
    log_append_time_ms: int = -1
    log_start_offset: int = -1
    record_errors: Sequence[BatchIndexAndErrorMessage] = ()
    error_message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicProduceResponse:
    name: str
    partition_responses: Sequence[PartitionProduceResponse]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProduceResponse:
    responses: Sequence[TopicProduceResponse]
    throttle_time_ms: int = 0


PRODUCE_REQUEST = Struct(
    ProduceRequest,
    Field("transactional_id", STRING, nullable_since=0),
    Field("acks", INT16),
    Field("timeout_ms", INT32),
    Field(
        "topic_data",
        Array(
            Struct(
                TopicProduceData,
                Field("name", STRING),
                Field(
                    "partition_data",
                    Array(
                        Struct(
                            PartitionProduceData,
                            Field("index", INT32),
                            Field("records", RECORDS, nullable_since=0),
                        )
                    ),
                ),
            )
        ),
    ),
)

PRODUCE_RESPONSE = Struct(
    ProduceResponse,
    Field(
        "responses",
        Array(
            Struct(
                TopicProduceResponse,
                Field("name", STRING),
                Field(
                    "partition_responses",
                    Array(
                        Struct(
                            PartitionProduceResponse,
                            Field("index", INT32),
                            Field("error_code", INT16),
                            Field("base_offset", INT64),
                            Field("log_append_time_ms", INT64, since=2),
                            Field("log_start_offset", INT64, since=5),
                            Field(
                                "record_errors",
                                Array(
                                    Struct(
                                        BatchIndexAndErrorMessage,
                                        Field("batch_index", INT32),
                                        Field("batch_index_error_message", STRING, nullable_since=8),
                                    )
                                ),
                                since=8,
                            ),
                            Field("error_message", STRING, since=8, nullable_since=8),
                        )
                    ),
                ),
            )
        ),
    ),
    Field("throttle_time_ms", INT32, since=1),
)

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
