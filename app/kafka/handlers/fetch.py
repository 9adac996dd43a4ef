"""Fetch: many partitions per request, long-poll, byte limits, and slow reads answered at max_wait.

Theory of operation
-------------------
1. Every requested partition gets one read task (:meth:`PartitionReader.span`, the one read path: range
   check, index seek or the run of batches served before, aborted transactions, the chunk cache; with
   ``min(partition_max_bytes, max_bytes)``), all running at once. A read that another Fetch already
   started for the same (partition, offset, size) is joined, not repeated (``Broker.inflight_reads``).
2. The handler answers as soon as the finished reads hold ``min_bytes`` or any partition has an error
   (Kafka's DelayedFetch rule), after giving the reads still running ``kafka.fetch_ready_grace`` to finish. When every read finished with too little, it waits for the catalog to
   change (:meth:`Catalog.wait_for_change`: a manifest refresh added data) and reads the empty
   partitions again, until ``max_wait_ms`` (capped by ``kafka.max_fetch_wait``).
3. At the deadline it answers with what is ready: a partition whose read is still waiting on S3 is
   answered empty without an error and its read keeps running, so the cache is warm for the client's
   next Fetch. A client never times out because S3 is slow, and never spins either (each empty answer
   took max_wait).
4. Limits (KIP-74): the first batch of the first non-empty partition is always whole, even past
   ``max_bytes``; after it, batches are added in request order while they fit in what is left of
   ``max_bytes``. Per partition the reader stops before a batch that would pass the partition limit,
   its first batch always whole. No partial trailing batch is sent.
5. Errors are per partition: OFFSET_OUT_OF_RANGE outside [log_start, high_watermark], CORRUPT_MESSAGE
   for a damaged range (logged with the object key and position) while the other partitions are
   served, TOPIC_AUTHORIZATION_FAILED without a read ACL, UNKNOWN_TOPIC_OR_PARTITION; S3 errors map
   through :func:`app.errors.kafka_code`, except retriable ones, which count as "not ready yet";
   FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH when ``current_leader_epoch`` (v9+) is older / newer than
   the partition's latest term (:mod:`app.kafka.epochs`), before any read; from v12 with the tagged
   ``current_leader`` (leader and latest term).
   v12+: a fetcher that names ``last_fetched_epoch`` whose epoch ends here before its fetch offset (or only
   an older epoch exists) gets the tagged ``diverging_epoch`` (largest epoch not above it, its end offset)
   and no records, as Kafka's leader answers; it truncates there and fetches again.
6. ``__consumer_offsets`` is answered at once from memory (:mod:`app.kafka.consumer_offsets`), only the
   records of groups the principal may use.
7. read_committed (isolation_level 1) gets the aborted transactions overlapping the returned batches
   (from the segments' ``.tx``); the last stable offset equals the high watermark.

Records are passed to the encoder as ``(kafka_header, records_view)`` pieces: the stored records bytes
and CRC are never copied or changed by this module.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from app.errors import (
    CorruptData,
    NotFound,
    OffsetOutOfRange,
    ShadowReplicaError,
    StorageUnavailable,
    UnknownPartition,
    UnknownTopic,
    kafka_code,
)
from app.kafka.epochs import end_offset_for_epoch, fencing_error, latest_epoch
from app.kafka.handlers._base import Broker, Session
from app.kafka.protocol import (
    AbortedTransaction,
    DivergingEpoch,
    ErrorCode,
    FetchRequest,
    FetchResponse,
    FetchResponsePartition,
    FetchResponseTopic,
    LeaderIdAndEpoch,
    RecordPiece,
    Request,
)
from app.kafka.protocol.consumer_offsets import CONSUMER_OFFSETS
from app.reader import Span

__all__ = ["handle_fetch"]

log = logging.getLogger(__name__)

# kafka.fetch_ready_grace: seconds the other partitions' reads may still take once a Fetch has enough to
# answer (or an error): reads served from the cache finish well within it, reads waiting on S3 are answered
# next time.


@dataclass(slots=True)
class _Slot:
    """One requested partition and the state of its read."""

    topic: str
    partition: int
    offset: int
    max_bytes: int
    error: int = ErrorCode.NONE
    task: asyncio.Task[Span] | None = None
    settled: bool = False  # the read finished (result, error, or "not ready")
    result: Span | None = None
    diverging: DivergingEpoch | None = None  # v12+: the fetcher's last epoch ends before its offset here

    @property
    def ready_bytes(self) -> int:
        return self.result.size if self.result is not None else 0


async def read_partition(broker: Broker, topic: str, partition: int, offset: int, max_bytes: int,
                         with_aborted: bool) -> Span:
    """One partition's batches from ``offset``, through the one read path (:meth:`PartitionReader.span`)."""
    return await broker.reader.span(topic, partition, offset, max_bytes, with_aborted=with_aborted)


def _fill_consumer_offsets(broker: Broker, session: Session, slot: _Slot) -> None:
    """``__consumer_offsets`` is answered from memory at once, filtered to the groups the principal may use."""
    log_ = broker.consumer_offsets
    assert log_ is not None
    slot.settled, slot.task, slot.result = True, None, None
    if not 0 <= slot.partition < log_.partitions:
        slot.error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        return
    start, end = log_.log_start_offset(slot.partition), log_.high_watermark(slot.partition)
    if not start <= slot.offset <= end:
        slot.error = ErrorCode.OFFSET_OUT_OF_RANGE
        return
    got = log_.read(slot.partition, slot.offset, slot.max_bytes,
                    lambda group: broker.auth.may_use_group(session.principal, group))
    slot.result = Span(list(got.pieces), got.sizes, [], got.high_watermark)


def _internal(broker: Broker, topic: str) -> bool:
    return topic == CONSUMER_OFFSETS and broker.consumer_offsets is not None


def _forget(broker: Broker, key: tuple[str, int, int, int, bool], task: asyncio.Task[Span]) -> None:
    if broker.inflight_reads.get(key) is task:
        del broker.inflight_reads[key]
    if not task.cancelled():
        task.exception()  # retrieved here: whoever awaited it already handled it


def _start_read(broker: Broker, slot: _Slot, with_aborted: bool) -> None:
    key = (slot.topic, slot.partition, slot.offset, slot.max_bytes, with_aborted)
    task = broker.inflight_reads.get(key)
    if task is None:
        task = asyncio.create_task(read_partition(broker, slot.topic, slot.partition, slot.offset, slot.max_bytes,
                                                  with_aborted),
                                   name=f"fetch {slot.topic}/{slot.partition}@{slot.offset}")
        broker.inflight_reads[key] = task
        task.add_done_callback(lambda t, k=key: _forget(broker, k, t))  # type: ignore[misc]
    slot.task = task


def _settle(slot: _Slot) -> None:
    task = slot.task
    assert task is not None and task.done()
    slot.settled = True
    try:
        slot.result = task.result()
    except OffsetOutOfRange:
        slot.error = ErrorCode.OFFSET_OUT_OF_RANGE
    except CorruptData as e:
        log.warning("Fetch %s/%d@%d: damaged data in %s at byte %s: %s", slot.topic, slot.partition, slot.offset,
                    e.key, e.position, e.message)
        slot.error = ErrorCode.CORRUPT_MESSAGE
    except StorageUnavailable as e:
        log.warning("Fetch %s/%d@%d: S3 not ready (answering empty): %s", slot.topic, slot.partition, slot.offset,
                    e.message)
    except ShadowReplicaError as e:
        # the topic name is the client's (any bytes): %r, so it cannot forge log lines; asking for a topic
        # that does not exist is the client's business, not worth a warning per request
        level = logging.DEBUG if isinstance(e, UnknownTopic | UnknownPartition) else logging.WARNING
        log.log(level, "Fetch %.200r/%d@%d failed: %s", slot.topic, slot.partition, slot.offset, e.message[:300])
        slot.error = kafka_code(e)
    except asyncio.CancelledError:
        slot.settled = False
        slot.task = None
    except Exception:
        log.exception("Fetch %s/%d@%d crashed", slot.topic, slot.partition, slot.offset)
        slot.error = ErrorCode.UNKNOWN_SERVER_ERROR


async def _read_round(broker: Broker, slots: list[_Slot], with_aborted: bool, min_bytes: int, deadline: float) -> None:
    """Start the reads that are due and wait until enough is ready, an error shows, all are done, or
    the deadline passes."""
    loop = asyncio.get_running_loop()
    for s in slots:
        if s.error == ErrorCode.NONE and not s.settled and s.task is None:
            _start_read(broker, s, with_aborted)
    while True:
        pending: list[asyncio.Task[Span]] = []
        for s in slots:
            if s.task is not None and not s.settled:
                if s.task.done():
                    _settle(s)
                else:
                    pending.append(s.task)
        if not pending:
            return
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        if any(s.error for s in slots) or sum(s.ready_bytes for s in slots) >= min_bytes:
            # enough to answer: give the other reads a moment (cache hits finish within it), not more
            await asyncio.wait(pending, timeout=min(broker.settings.fetch_ready_grace, remaining))
            for s in slots:
                if s.task is not None and not s.settled and s.task.done():
                    _settle(s)
            return
        await asyncio.wait(pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)


async def handle_fetch(broker: Broker, session: Session, request: Request[FetchRequest]) -> FetchResponse:
    req = request.body
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(max(req.max_wait_ms, 0) / 1000, broker.settings.max_fetch_wait)
    with_aborted = req.isolation_level == 1
    min_bytes = max(req.min_bytes, 0)
    slots: list[_Slot] = []
    for t in req.topics:
        internal = _internal(broker, t.topic)
        allowed = broker.auth.may_see_consumer_offsets(session.principal) if internal else \
            broker.auth.may_read_topic(session.principal, t.topic)
        for p in t.partitions:
            slot = _Slot(t.topic, p.partition, p.fetch_offset, max(1, min(p.partition_max_bytes, req.max_bytes)))
            if not allowed:
                slot.error = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            elif internal:
                _fill_consumer_offsets(broker, session, slot)
            else:  # v9+: a client that saw another leader epoch than the partition's latest term
                slot.error = fencing_error(broker.catalog, t.topic, p.partition, p.current_leader_epoch)
                if slot.error == ErrorCode.NONE and p.last_fetched_epoch >= 0:  # v12+
                    slot.diverging = _diverging(broker, t.topic, p.partition, p.fetch_offset, p.last_fetched_epoch)
                    slot.settled = slot.diverging is not None  # answered with the divergence, nothing read
            slots.append(slot)
    while True:
        since = broker.catalog.version
        await _read_round(broker, slots, with_aborted, min_bytes, deadline)
        if any(s.error or s.diverging for s in slots) or sum(s.ready_bytes for s in slots) >= min_bytes:
            break
        if any(s.task is not None and not s.settled for s in slots):
            break  # the deadline passed with reads still waiting on S3: answer with what is ready
        remaining = deadline - loop.time()
        if remaining <= 0 or not await broker.catalog.wait_for_change(since, remaining):
            break
        for s in slots:  # new data may have arrived: read the partitions that had nothing again
            if s.error == ErrorCode.NONE and s.diverging is None and (s.result is None or not s.result.pieces):
                if _internal(broker, s.topic):
                    _fill_consumer_offsets(broker, session, s)
                else:
                    s.task, s.settled, s.result = None, False, None
    return _response(broker, session, req, slots, with_aborted)


def _diverging(broker: Broker, topic: str, partition: int, fetch_offset: int, last_fetched_epoch: int
               ) -> DivergingEpoch | None:
    """Kafka's check for a fetcher that names the epoch of the last batch it has (Fetch v12+): when that epoch
    ends here before the fetch offset, or only an older epoch is known, the answer is where the log diverges
    (the largest epoch not above it, and its end offset) and no records."""
    try:
        view = broker.catalog.partition(topic, partition)
    except NotFound:
        return None  # answered UNKNOWN_TOPIC_OR_PARTITION by the read
    epoch, end = end_offset_for_epoch(view, last_fetched_epoch)
    if epoch < 0 or end < 0:
        return None  # an epoch newer than any here: the fencing check answers it
    if epoch < last_fetched_epoch or end < fetch_offset:
        return DivergingEpoch(epoch=epoch, end_offset=end)
    return None


def _current_leader(broker: Broker, slot: _Slot) -> LeaderIdAndEpoch | None:
    """v12+: who leads, sent with the epoch fencing errors so the client can update without a Metadata."""
    if slot.error not in (ErrorCode.FENCED_LEADER_EPOCH, ErrorCode.UNKNOWN_LEADER_EPOCH):
        return None
    view = broker.catalog.partition(slot.topic, slot.partition)
    return LeaderIdAndEpoch(leader_id=broker.cluster.leader(slot.topic, slot.partition).node_id,
                            leader_epoch=latest_epoch(view))


def _response(broker: Broker, session: Session, req: FetchRequest, slots: list[_Slot], with_aborted: bool
              ) -> FetchResponse:
    budget = req.max_bytes
    sent_any = False
    topics: list[FetchResponseTopic] = []
    i = 0
    for t in req.topics:
        parts: list[FetchResponsePartition] = []
        for _ in t.partitions:
            s = slots[i]
            i += 1
            try:
                if _internal(broker, s.topic):
                    offsets_log = broker.consumer_offsets
                    assert offsets_log is not None
                    if not 0 <= s.partition < offsets_log.partitions:
                        raise UnknownPartition(f"unknown partition {s.topic}/{s.partition}")
                    hwm, start = offsets_log.high_watermark(s.partition), offsets_log.log_start_offset(s.partition)
                else:
                    view = broker.catalog.partition(s.topic, s.partition)
                    hwm, start = view.high_watermark, view.log_start_offset
            except NotFound:
                hwm = start = -1
                if s.error == ErrorCode.NONE:
                    s.error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            if s.error == ErrorCode.TOPIC_AUTHORIZATION_FAILED:
                hwm = start = -1  # reveal nothing about a topic the principal may not read
            pieces: list[RecordPiece] = []
            aborted: tuple[AbortedTransaction, ...] | None = None
            if s.error == ErrorCode.NONE and s.result is not None:
                r = s.result
                for piece, size in zip(r.pieces, r.sizes, strict=True):
                    if (sent_any or pieces) and size > budget:
                        break
                    pieces.append(piece)
                    budget -= size
                sent_any = sent_any or bool(pieces)
                if with_aborted and pieces and r.aborted:
                    aborted = tuple(AbortedTransaction(producer_id=a.producer_id, first_offset=a.first_offset)
                                    for a in r.aborted)
                hwm = max(hwm, s.result.high_watermark)
            parts.append(FetchResponsePartition(
                partition_index=s.partition, error_code=s.error, high_watermark=hwm, last_stable_offset=hwm,
                log_start_offset=start, aborted_transactions=aborted, records=tuple(pieces),
                diverging_epoch=s.diverging, current_leader=_current_leader(broker, s),
            ))
        topics.append(FetchResponseTopic(topic=t.topic, partitions=tuple(parts)))
    return FetchResponse(responses=tuple(topics))
