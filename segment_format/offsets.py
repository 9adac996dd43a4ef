"""Offset translation: Kafka offset = Redpanda offset - delta.

Redpanda's log carries batches that Kafka clients never see: raft configuration, archival metadata and
the other :data:`~segment_format.batch.OFFSET_TRANSLATOR_TYPES`. Each one occupies
``last_offset_delta + 1`` Redpanda offsets and no Kafka offsets, so

    delta(o) = Redpanda offsets taken by translator batches below o
    kafka_offset(o) = o - delta(o)

(``src/v/storage/offset_translator_state.h``; the cloud reader ``remote_segment.cc`` keeps ``_cur_delta``
the same way). A segment's manifest entry records ``delta_offset`` (delta at its base offset) and
``delta_offset_end`` (delta just after its committed offset). Every other batch type (``raft_data``,
``tx_fence``, control batches, …) consumes Kafka offsets, but only ``raft_data`` is served to clients:
the others leave gaps, which Kafka clients accept.

The translation applies only to the ``kafka`` namespace (``raft::offset_translator_batch_types``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from segment_format.batch import OFFSET_TRANSLATOR_TYPES, Batch, BatchHeader, BatchType

__all__ = ["OffsetTranslator", "TranslatedBatch", "translate"]


class OffsetTranslator:
    """Running delta over a segment's batches, starting from the segment's ``delta_offset``."""

    __slots__ = ("delta", "translating")

    def __init__(self, delta: int = 0, *, namespace: str = "kafka") -> None:
        self.delta = delta
        self.translating = namespace == "kafka"

    def advance(self, header: BatchHeader) -> int | None:
        """Account for one batch; returns its Kafka base offset, or None if it takes no Kafka offsets."""
        if self.translating and header.type in OFFSET_TRANSLATOR_TYPES:
            self.delta += header.last_offset_delta + 1
            return None
        return header.base_offset - self.delta

    def to_kafka(self, rp_offset: int) -> int:
        return rp_offset - self.delta


@dataclass(frozen=True, slots=True)
class TranslatedBatch:
    """A batch with its Kafka base offset (None for translator batches) and whether clients see it."""

    batch: Batch
    kafka_base_offset: int | None

    @property
    def is_data(self) -> bool:
        return self.batch.header.type == BatchType.raft_data

    @property
    def kafka_last_offset(self) -> int | None:
        if self.kafka_base_offset is None:
            return None
        return self.kafka_base_offset + self.batch.header.last_offset_delta


def translate(batches: Iterable[Batch], delta: int, *, namespace: str = "kafka") -> Iterator[TranslatedBatch]:
    """Attach Kafka offsets to batches read from a segment whose first batch has ``delta``."""
    t = OffsetTranslator(delta, namespace=namespace)
    for b in batches:
        yield TranslatedBatch(b, t.advance(b.header))
