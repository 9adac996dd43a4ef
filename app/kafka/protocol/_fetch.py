"""Fetch (key 1), versions 4-12: a table-driven request decoder and a zero-copy response writer.

Request field history (v4 is the first with v2 record batches, isolation_level and LSO):
v5 log_start_offset per partition; v7 session_id / session_epoch / forgotten_topics_data (KIP-227);
v9 current_leader_epoch; v11 rack_id; v12 is flexible (compact lengths, tagged fields: the top-level
cluster_id tag is skipped) and adds last_fetched_epoch per partition; v13 swaps topic names for ids (not
served: the replica has no topic ids).

From v12 the response is flexible too: header v1 (an empty tag section after the correlation id), compact
arrays, strings and records lengths, an empty tag section closing every struct, and per partition the tagged
``diverging_epoch`` (tag 0: the fetcher's last fetched epoch ends before its fetch offset here) and
``current_leader`` (tag 1: sent with epoch fencing errors), written only when set.

Response layout written by :func:`encode_fetch_response`::

    int32 size | correlation_id int32                              response header v0
    throttle_time_ms int32                                          (v1+)
    error_code int16, session_id int32                              (v7+)
    [topic STRING
      [partition_index int32, error_code int16, high_watermark int64,
       last_stable_offset int64, log_start_offset int64 (v5+),
       aborted_transactions nullable [producer_id int64, first_offset int64],
       preferred_read_replica int32 (v11+),
       records nullable BYTES (int32 length + the caller's pieces)]]

Theory of operation: record bytes are never copied. The caller hands each partition's records as a
sequence of ``(header_bytes, records_view)`` pieces (a rewritten Kafka batch header and a view of
the stored batch body, say); the writer computes their total length for the BYTES prefix and
returns a list of buffers for ``writelines``/``sendmsg`` in which every piece of at least
:data:`ZERO_COPY_MIN` bytes *is the caller's object*. Smaller pieces (typically the 61-byte batch
headers) are copied into the neighbouring chunk of fixed-size fields, which keeps the buffer count
(iovec count) low. All fixed-size fields are packed into a few ``bytearray`` chunks; the size
prefix of the frame is patched into the first one at the end.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, TypeAlias

from ._list_offsets import check_isolation_level
from ._primitives import (
    INT32,
    Buffer,
    nbytes,
    write_empty_tagged_fields,
    write_length,
    write_string,
    write_uvarint,
)
from ._schema import Int8, Int32, Int64, String, Versions, message
from .errors import ErrorCode, LocalProtocolError

__all__ = [
    "ZERO_COPY_MIN",
    "AbortedTransaction",
    "DivergingEpoch",
    "FetchPartition",
    "FetchRequest",
    "FetchResponse",
    "FetchResponsePartition",
    "FetchResponseTopic",
    "FetchTopic",
    "ForgottenTopic",
    "LeaderIdAndEpoch",
    "RecordPiece",
    "encode_fetch_response",
]

ZERO_COPY_MIN = 1024
"""Pieces of at least this many bytes are passed through by reference; smaller ones are copied."""

RecordPiece: TypeAlias = tuple[Buffer, Buffer]
"""``(header_bytes, records_view)``: one stretch of a partition's records, in wire order."""


# -- request ----------------------------------------------------------------------------------------


@message
class FetchPartition:
    partition: Int32
    current_leader_epoch: Annotated[Int32, Versions(since=9)] = -1
    fetch_offset: Int64
    last_fetched_epoch: Annotated[Int32, Versions(since=12)] = -1
    log_start_offset: Annotated[Int64, Versions(since=5)] = -1
    partition_max_bytes: Int32


@message
class FetchTopic:
    topic: String
    partitions: tuple[FetchPartition, ...]


@message
class ForgottenTopic:
    topic: String
    partitions: tuple[Int32, ...]


@message
class FetchRequest:
    replica_id: Int32 = -1
    max_wait_ms: Int32
    min_bytes: Int32
    max_bytes: Annotated[Int32, Versions(since=3)] = 0x7FFFFFFF
    isolation_level: Annotated[Int8, Versions(since=4)] = 0
    session_id: Annotated[Int32, Versions(since=7)] = 0
    session_epoch: Annotated[Int32, Versions(since=7)] = -1
    topics: tuple[FetchTopic, ...]
    forgotten_topics_data: Annotated[tuple[ForgottenTopic, ...], Versions(since=7)] = ()
    rack_id: Annotated[String, Versions(since=11)] = ""

    def __post_init__(self) -> None:
        check_isolation_level(self.isolation_level)


# -- response ---------------------------------------------------------------------------------------
# Plain dataclasses, not @message: encode_fetch_response writes them by hand (zero-copy records, tagged fields).


@dataclass(frozen=True, slots=True, kw_only=True)
class AbortedTransaction:
    producer_id: int
    first_offset: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DivergingEpoch:
    """Fetch v12+ ``diverging_epoch``: the largest epoch <= the fetcher's last fetched one, and where it ends."""

    epoch: int = -1
    end_offset: int = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaderIdAndEpoch:
    """Fetch v12+ ``current_leader``."""

    leader_id: int = -1
    leader_epoch: int = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchResponsePartition:
    """One partition's answer. ``records=None`` writes a null BYTES; ``()`` an empty one. The tagged v12+
    fields are written only when not None."""

    partition_index: int
    error_code: int = ErrorCode.NONE
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    aborted_transactions: Sequence[AbortedTransaction] | None = None
    preferred_read_replica: int = -1
    records: Sequence[RecordPiece] | None = ()
    diverging_epoch: DivergingEpoch | None = None
    current_leader: LeaderIdAndEpoch | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchResponseTopic:
    topic: str
    partitions: Sequence[FetchResponsePartition]


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchResponse:
    throttle_time_ms: int = 0
    error_code: int = ErrorCode.NONE
    session_id: int = 0
    responses: Sequence[FetchResponseTopic] = ()


FETCH_RESPONSE_VERSIONS = (4, 12)

_PARTITION_HEAD_V4 = struct.Struct(">ihqq")  # partition_index, error_code, high_watermark, last_stable_offset
_PARTITION_HEAD_V5 = struct.Struct(">ihqqq")  # ... + log_start_offset
_ERROR_SESSION = struct.Struct(">hi")  # error_code, session_id (v7+)
_ABORTED = struct.Struct(">qq")  # producer_id, first_offset
_NULL_LENGTH = INT32.pack(-1)
_EPOCH_END = struct.Struct(">iqB")  # epoch, end_offset, empty tag section
_LEADER = struct.Struct(">iiB")  # leader_id, leader_epoch, empty tag section


def encode_fetch_response(correlation_id: int, version: int, response: FetchResponse) -> list[Buffer]:
    """The framed Fetch response (size prefix and header v0 included) as a list of buffers.

    Every records piece of at least :data:`ZERO_COPY_MIN` bytes appears in the list as the very
    object the caller supplied; nothing the caller passed is modified. Send with
    ``transport.writelines(buffers)`` or ``socket.sendmsg(buffers)``; the caller must keep the
    record buffers (e.g. an mmap) alive and unchanged until they are written.
    """
    if not FETCH_RESPONSE_VERSIONS[0] <= version <= FETCH_RESPONSE_VERSIONS[1]:
        raise LocalProtocolError(f"Fetch response version {version} is not served")
    try:
        return _encode(correlation_id, version, response)
    except (struct.error, TypeError, AttributeError, UnicodeEncodeError, OverflowError) as exc:
        raise LocalProtocolError(f"cannot encode FetchResponse v{version}: {exc}") from exc


def _encode(correlation_id: int, version: int, response: FetchResponse) -> list[Buffer]:
    if not isinstance(response, FetchResponse):
        raise TypeError(f"expected FetchResponse, got {type(response).__name__}")
    head = _PARTITION_HEAD_V5 if version >= 5 else _PARTITION_HEAD_V4
    flexible = version >= 12
    first = chunk = bytearray(4)  # the frame size, patched in at the end
    chunks: list[Buffer] = [first]
    total = 0  # bytes in ``chunks`` before ``chunk``, excluding ``chunk`` itself
    chunk += INT32.pack(correlation_id)
    if flexible:
        write_empty_tagged_fields(chunk)  # response header v1
    chunk += INT32.pack(response.throttle_time_ms)
    if version >= 7:
        chunk += _ERROR_SESSION.pack(response.error_code, response.session_id)
    write_length(chunk, len(response.responses), compact=flexible, wide=True)
    for topic in response.responses:
        write_string(chunk, topic.topic, compact=flexible)
        write_length(chunk, len(topic.partitions), compact=flexible, wide=True)
        for p in topic.partitions:
            if version >= 5:
                chunk += head.pack(
                    p.partition_index, p.error_code, p.high_watermark, p.last_stable_offset, p.log_start_offset
                )
            else:
                chunk += head.pack(p.partition_index, p.error_code, p.high_watermark, p.last_stable_offset)
            aborted = p.aborted_transactions
            if aborted is None:
                write_length(chunk, None, compact=flexible, wide=True)
            else:
                write_length(chunk, len(aborted), compact=flexible, wide=True)
                for txn in aborted:
                    chunk += _ABORTED.pack(txn.producer_id, txn.first_offset)
                    if flexible:
                        write_empty_tagged_fields(chunk)
            if version >= 11:
                chunk += INT32.pack(p.preferred_read_replica)
            records = p.records
            if records is None:
                write_length(chunk, None, compact=flexible, wide=True)
            else:
                write_length(chunk, sum(nbytes(header) + nbytes(view) for header, view in records),
                             compact=flexible, wide=True)
                for header, view in records:
                    for piece in (header, view):
                        if nbytes(piece) >= ZERO_COPY_MIN:
                            total += len(chunk) + nbytes(piece)
                            chunks.append(piece)
                            chunk = bytearray()
                            chunks.append(chunk)
                        else:
                            chunk += piece
            if flexible:
                _write_partition_tags(chunk, p)
        if flexible:
            write_empty_tagged_fields(chunk)  # the topic's
    if flexible:
        write_empty_tagged_fields(chunk)  # the response's
    total += len(chunk)
    if not chunk:
        chunks.pop()
    if total - 4 > 0x7FFFFFFF:
        raise LocalProtocolError(f"Fetch response of {total - 4} bytes exceeds the int32 frame size")
    INT32.pack_into(first, 0, total - 4)
    return chunks


def _write_partition_tags(out: bytearray, p: FetchResponsePartition) -> None:
    """A v12+ partition's tag section: diverging_epoch (tag 0), current_leader (tag 1), in tag order."""
    tags: list[tuple[int, bytes]] = []
    if p.diverging_epoch is not None:
        tags.append((0, _EPOCH_END.pack(p.diverging_epoch.epoch, p.diverging_epoch.end_offset, 0)))
    if p.current_leader is not None:
        tags.append((1, _LEADER.pack(p.current_leader.leader_id, p.current_leader.leader_epoch, 0)))
    write_uvarint(out, len(tags))
    for tag, payload in tags:
        write_uvarint(out, tag)
        write_uvarint(out, len(payload))
        out += payload
