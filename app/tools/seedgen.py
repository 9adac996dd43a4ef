"""Deterministic generator of a realistic Redpanda tiered-storage bucket (pure: yields objects, no I/O).

What a real partition's uploaded log looks like, and so what this writes:

* each term starts with a ``raft_configuration`` batch (type 2) — it takes a Redpanda offset but no
  Kafka offset, so offset translation matters from the very first segment (delta 1 at Kafka offset 0);
* ``archival_metadata`` batches (type 19) appear between data batches while tiered storage runs;
* data batches (``raft_data``) rotate through the compression codecs (none/gzip/snappy/lz4/zstd), with
  null and non-null keys, headers (including a null header value), JSON, text and binary values, and
  occasional tombstones (null values);
* some partitions carry transactions as Redpanda stores them: three transactional producers keep their
  producer id (and epoch, bumped now and then) across many transactions; each transaction is a
  ``tx_fence`` batch (type 10, takes a Kafka offset but is never served), one to three transactional
  batches and a commit or abort control batch, interleaved with other transactions and with plain and
  idempotent batches, and may continue into the next segment (Redpanda rolls segments by size whatever
  the transactions; the archiver uploads a segment once the last stable offset has passed it, when every
  transaction overlapping it has ended, so its ``.tx`` is complete). The first producer aborts twice, commits,
  aborts again, in a cycle (:data:`PRIMARY_OUTCOMES`). Every aborted range overlapping a segment
  (Redpanda offsets of its first and last data record) goes in that segment's ``.tx`` object and
  ``metadata_size_hint``;
* segments roll at ``segment_bytes`` and on a term change; names and manifest entries use sname_format
  v3 with ``archiver_term`` = term, as the current archiver writes them; every segment gets a Redpanda
  ``.index`` object;
* keys and manifest formats follow ``layout`` (:class:`SeedSpec`): ``labeled`` is what Redpanda has written
  since v24.2 (``{cluster_uuid}/...`` keys, ``manifest.bin`` and ``topic_manifest.bin`` only), ``prefixed``
  the hash-prefixed keys with JSON manifests of older versions, ``mixed`` an upgraded cluster (the first half
  of the topics hash-prefixed with the ``.bin`` manifests a current Redpanda writes for them, the rest
  labeled, one cluster UUID);
* with ``spillover`` N, the oldest half of a partition's segments move into N spillover manifests
  (``manifest.bin.{base}.{last}.{kafka}.{next}.{ts}.{ts}`` beside the main one), as Redpanda's archiver does
  when a manifest grows (``partition_manifest::spillover``, ``make_manifest_metadata``).

Everything derives from ``seed``: the same arguments give byte-identical objects. ``resume_state`` lets a
later run append segments after an existing manifest (the replicator's ``--follow`` tests).
"""

from __future__ import annotations

import json
import random
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from segment_format import keys
from segment_format.batch import Attributes, BatchType, build_batch
from segment_format.index import build_index_object
from segment_format.manifest import PartitionManifest, SegmentMeta, TopicManifest
from segment_format.records import Compression, Record, RecordHeader
from segment_format.segment import SegmentWriter

TOPIC_NAMES = ("orders", "payments", "clickstream", "sensor-readings", "audit-log", "inventory", "user-events")
BASE_TIMESTAMP = 1_767_225_600_000  # 2026-01-01T00:00:00Z
ALL_CODECS = (Compression.NONE, Compression.GZIP, Compression.SNAPPY, Compression.LZ4, Compression.ZSTD)

def _corpus(alphabet: tuple[str, ...], size: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choices(alphabet, k=size))


# Text is cut from fixed pseudo-random corpora at seeded positions: per-character RNG calls made seeding
# CPU-bound on the RNG (about 10x slower) for no gain in realism.
_LETTERS = _corpus(tuple("abcdefghijklmnopqrstuvwxyz"), 1 << 16, 1).replace(" ", "")
_WORDS = _corpus(("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "é", "ß", "✓"),
                 1 << 15, 2)


def topic_name(index: int) -> str:
    return TOPIC_NAMES[index] if index < len(TOPIC_NAMES) else f"topic-{index}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SeedSpec:
    topics: int = 2
    partitions: int = 3
    total_bytes: int = 64 * 1024 * 1024
    segment_bytes: int = 4 * 1024 * 1024
    seed: int = 42
    namespace: str = "kafka"
    records_per_batch: int = 64
    value_bytes: int = 512  # average payload size
    term_every_segments: int = 3
    batch_gap_ms: int = 0  # extra time between data batches (0: the original bytes); spreads records over hours
    layout: str = "prefixed"  # "labeled" (the CLI's default: current Redpanda) | "prefixed" | "mixed"
    cluster_uuid: str = ""  # the remote label of labeled topics; "" = the sample cluster's (SAMPLE_CLUSTER_UUID)
    spillover: int = 0  # spillover manifests per partition (0: none)
    groups: bool = False  # also write cluster metadata with consumer-group offsets snapshots (cluster_objects)

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {self.layout!r}")
        if self.cluster_uuid:
            keys.check_cluster_uuid(self.cluster_uuid)
        if self.spillover < 0:
            raise ValueError("spillover must be >= 0")

    @property
    def partition_bytes(self) -> int:
        return max(1, self.total_bytes // max(1, self.topics * self.partitions))

    def revision(self, topic_index: int) -> int:
        return 10 + 7 * topic_index

    @property
    def label(self) -> str:
        """The cluster UUID labeled topics carry: one sample cluster unless given, so ``--append`` runs with
        another ``--seed`` continue the same topics."""
        return self.cluster_uuid or SAMPLE_CLUSTER_UUID

    def topic_label(self, topic_index: int) -> str | None:
        """The remote label of a topic: None for a hash-prefixed topic."""
        if self.layout == "prefixed" or (self.layout == "mixed" and topic_index < self.topics // 2):
            return None
        return self.label

    def manifest_format(self, topic_index: int) -> str:
        """``json`` for the old prefixed layout; ``bin`` wherever a current Redpanda writes (labeled and mixed)."""
        return "json" if self.layout == "prefixed" else "bin"


LAYOUTS = ("labeled", "prefixed", "mixed")
SAMPLE_CLUSTER_UUID = str(uuid.uuid5(uuid.NAMESPACE_URL, "shadowreplica:sample-cluster"))


@dataclass(slots=True)
class PartitionState:
    """Where a partition's log stands: enough to continue it exactly."""

    next_offset: int = 0  # next Redpanda offset
    delta: int = 0  # offset-translator delta at next_offset
    term: int = 0
    timestamp: int = BASE_TIMESTAMP
    segments: list[SegmentMeta] = field(default_factory=list)
    segments_in_term: int = 0
    producer_id: int = 1000
    highest_producer_id: int | None = None
    batch_counter: int = 0
    spillover: list[SegmentMeta] = field(default_factory=list)  # spillover entries of the main manifest
    written: int = 0  # segment bytes generated from this state on (the last segment closes transactions)
    pending: list[PlannedBatch] = field(default_factory=list)  # planned, not yet in a segment
    aborts: list[tuple[int, int, int, int]] = field(default_factory=list)  # (pid, epoch, first, last) to list
    tx_producers: list[list[int]] = field(default_factory=list)  # [pid, epoch] of transactional producers
    idempotent_producer: int = -1
    sequences: dict[int, int] = field(default_factory=dict)  # next base_sequence per producer id
    tx_counts: dict[int, int] = field(default_factory=dict)  # transactions ended per producer id


@dataclass(frozen=True, slots=True)
class PlannedBatch:
    """A built batch waiting for its segment, with the offsets and times the segment entry needs."""

    body: bytes
    base_offset: int
    last_offset_delta: int
    delta_before: int  # offset-translator delta at base_offset
    translator: bool  # takes no Kafka offset (raft_configuration, archival_metadata)
    first_timestamp: int
    max_timestamp: int


@dataclass(frozen=True, slots=True)
class SeedObject:
    key: str
    body: bytes
    kind: str  # "segment" | "index" | "tx" | "partition_manifest" | "topic_manifest"


def resume_state(manifest: PartitionManifest) -> PartitionState:
    """State after the last segment of an existing manifest (for appending)."""
    st = PartitionState()
    st.segments = list(manifest.segments)
    st.spillover = list(manifest.spillover)
    if manifest.segments:
        last = manifest.segments[-1]
        st.next_offset = last.committed_offset + 1
        st.delta = last.delta_offset_end if last.delta_offset_end is not None else (last.delta_offset or 0)
        st.term = last.segment_term
        st.timestamp = (last.max_timestamp or BASE_TIMESTAMP) + 1
        st.segments_in_term = 10**6  # force a new term: a restart of the source cluster
    st.highest_producer_id = manifest.highest_producer_id
    if manifest.highest_producer_id is not None:
        st.producer_id = manifest.highest_producer_id + 1
    return st


def _cut(corpus: str, rng: random.Random, n: int) -> str:
    n = min(n, len(corpus) - 1)
    start = rng.randrange(len(corpus) - n)
    return corpus[start : start + n]


class _Gen:
    """Record and batch content for one partition, from a seeded RNG."""

    def __init__(self, spec: SeedSpec, topic_index: int, partition: int, salt: int) -> None:
        self.spec = spec
        self.topic_index = topic_index
        self.rng = random.Random(f"{spec.seed}/{topic_index}/{partition}/{salt}")
        # topic 0 uses every codec, others a characteristic subset
        self.codecs = ALL_CODECS if topic_index % 3 == 0 else (ALL_CODECS[topic_index % 5], Compression.NONE)
        self.kind = ("json", "text", "binary")[topic_index % 3]
        self.log_append_time = topic_index % 4 == 3

    def value(self, i: int) -> bytes | None:
        rng = self.rng
        if rng.random() < 0.01:
            return None  # tombstone
        n = max(8, int(rng.expovariate(1.0 / self.spec.value_bytes)))
        if self.kind == "json":
            doc = {
                "id": i,
                "customer": f"cust-{rng.randrange(10_000):05d}",
                "amount": round(rng.random() * 1000, 2),
                "currency": rng.choice(("EUR", "USD", "GBP", "JPY")),
                "items": [rng.randrange(1000) for _ in range(max(1, n // 64))],
                "note": _cut(_LETTERS, rng, n // 2),
            }
            return json.dumps(doc, separators=(",", ":")).encode()
        if self.kind == "text":
            return _cut(_WORDS, rng, n).encode()
        return rng.randbytes(n)

    def key(self, i: int) -> bytes | None:
        if self.rng.random() < 0.2:
            return None
        return f"key-{self.rng.randrange(500)}".encode()

    def headers(self, i: int) -> tuple[RecordHeader, ...]:
        r = self.rng.random()
        if r < 0.6:
            return ()
        if r < 0.95:
            return (RecordHeader("trace-id", f"{self.rng.getrandbits(64):016x}".encode()),
                    RecordHeader("content-type", b"application/json" if self.kind == "json" else b"application/octet-stream"))
        return (RecordHeader("nullable", None),)

    def data_records(self, count: int, start_index: int) -> list[Record]:
        out = []
        ts = 0
        for j in range(count):
            ts += self.rng.randrange(0, 20)
            out.append(
                Record(offset_delta=j, timestamp_delta=ts, key=self.key(start_index + j),
                       value=self.value(start_index + j), headers=self.headers(start_index + j))
            )
        return out


def _control_batch(state: PartitionState, commit: bool, pid: int, epoch: int = 0) -> bytes:
    """A transaction's commit or abort marker, as Redpanda writes it (raft_data, transactional + control)."""
    # Kafka control record: key = version i16 + type i16 (0 abort, 1 commit); value = version i16 +
    # coordinator epoch i32
    key = struct.pack(">hh", 0, 1 if commit else 0)
    value = struct.pack(">hi", 0, 0)
    return build_batch(
        [Record(offset_delta=0, timestamp_delta=0, key=key, value=value)],
        base_offset=state.next_offset,
        first_timestamp=state.timestamp,
        attrs=Attributes.TRANSACTIONAL | Attributes.CONTROL,
        producer_id=pid,
        producer_epoch=epoch,
    )


def _system_batch(state: PartitionState, batch_type: BatchType, payload: bytes, *, producer_id: int = -1,
                  producer_epoch: int = -1) -> bytes:
    return build_batch(
        [Record(offset_delta=0, timestamp_delta=0, key=None, value=payload)],
        base_offset=state.next_offset,
        first_timestamp=state.timestamp,
        type=batch_type,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
    )


PRIMARY_OUTCOMES = (False, False, True, False)
"""Commit (True) or abort of the primary transactional producer's transactions, in a cycle: it aborts
twice, commits, aborts again — the pattern a consumer that keeps one aborted range per producer gets wrong."""
TX_PRODUCERS = 3  # transactional producers per transactional partition (the first is the primary)
EPOCH_BUMP_EVERY = 9  # a producer's epoch goes up every so many of its transactions (a restarted producer)


def _plan(st: PartitionState, body: bytes, *, translator: bool, last_offset_delta: int, ts_max: int) -> None:
    """Queue a batch at ``st.next_offset``: offsets are given when planned, bytes written later (a
    transaction's batches are planned together so its aborted range is known before any is written)."""
    st.pending.append(PlannedBatch(body, st.next_offset, last_offset_delta, st.delta, translator, st.timestamp,
                                   ts_max))
    if translator:
        st.delta += last_offset_delta + 1
    st.next_offset += last_offset_delta + 1
    st.batch_counter += 1


def _new_producer(st: PartitionState) -> int:
    pid = st.producer_id
    st.producer_id += 1
    st.highest_producer_id = pid
    st.sequences[pid] = 0
    return pid


def _plan_data(st: PartitionState, gen: _Gen, n: int, *, pid: int = -1, epoch: int = -1,
               transactional: bool = False) -> tuple[int, int]:
    """Plan one data batch (plain, idempotent or transactional); returns its first and last offsets."""
    codec = gen.codecs[st.batch_counter % len(gen.codecs)]
    records = gen.data_records(n, st.next_offset)
    ts_end = st.timestamp + records[-1].timestamp_delta
    attrs = Attributes.TRANSACTIONAL if transactional else (Attributes.TIMESTAMP_TYPE if gen.log_append_time else 0)
    sequence = -1
    if pid >= 0:
        sequence = st.sequences.get(pid, 0)
        st.sequences[pid] = sequence + n
    batch = build_batch(records, base_offset=st.next_offset, first_timestamp=st.timestamp, compression=codec,
                        attrs=attrs, max_timestamp=ts_end, producer_id=pid, producer_epoch=epoch,
                        base_sequence=sequence)
    first = st.next_offset
    _plan(st, batch, translator=False, last_offset_delta=n - 1, ts_max=ts_end)
    st.timestamp = ts_end + 1 + gen.rng.randrange(0, 50) + gen.spec.batch_gap_ms
    return first, first + n - 1


def _plan_transactions(st: PartitionState, gen: _Gen) -> None:
    """Plan one to three overlapping transactions of the partition's transactional producers, interleaved
    with plain and idempotent batches: per transaction a ``tx_fence`` batch, one to three transactional
    batches, then its commit or abort marker. Aborted ranges (Redpanda offsets of the first and last data
    record) go to ``st.aborts``."""
    rng = gen.rng
    if not st.tx_producers:
        st.tx_producers = [[_new_producer(st), 0] for _ in range(TX_PRODUCERS)]
        st.idempotent_producer = _new_producer(st)
    chosen = [0, *rng.sample(range(1, TX_PRODUCERS), rng.randrange(0, TX_PRODUCERS))] \
        if rng.random() < 0.7 else rng.sample(range(1, TX_PRODUCERS), 1)
    # each transaction is a queue of steps: "fence", "data" × k, "end"; fillers are plain/idempotent batches
    steps: list[tuple[int, str]] = []
    queues = {i: ["fence"] + ["data"] * rng.randrange(1, 4) + ["end"] for i in chosen}
    fillers = rng.randrange(0, 4)
    while queues or fillers:
        options = list(queues) + (["filler"] if fillers else [])
        pick = rng.choice(options)
        if pick == "filler":
            fillers -= 1
            steps.append((-1, "filler"))
            continue
        assert isinstance(pick, int)
        steps.append((pick, queues[pick].pop(0)))
        if not queues[pick]:
            del queues[pick]
    spans: dict[int, list[int]] = {}
    n_max = max(1, gen.spec.records_per_batch // 4)
    for who, step in steps:
        if step == "filler":
            idempotent = rng.random() < 0.5
            _plan_data(st, gen, rng.randrange(1, n_max + 1), pid=st.idempotent_producer if idempotent else -1,
                       epoch=0 if idempotent else -1)
            continue
        pid, epoch = st.tx_producers[who]
        if step == "fence":
            _plan(st, _system_batch(st, BatchType.tx_fence, struct.pack("<q", pid), producer_id=pid,
                                    producer_epoch=epoch), translator=False, last_offset_delta=0,
                  ts_max=st.timestamp)
        elif step == "data":
            first, last = _plan_data(st, gen, rng.randrange(1, n_max + 1), pid=pid, epoch=epoch, transactional=True)
            spans.setdefault(who, [first, last])[1] = last
        else:
            done = st.tx_counts.get(pid, 0)
            st.tx_counts[pid] = done + 1
            commit = PRIMARY_OUTCOMES[done % len(PRIMARY_OUTCOMES)] if who == 0 else rng.random() < 0.7
            if not commit:
                first, last = spans[who]
                st.aborts.append((pid, epoch, first, last))
            _plan(st, _control_batch(st, commit, pid, epoch), translator=False, last_offset_delta=0,
                  ts_max=st.timestamp)
            st.timestamp += 1
            if (done + 1) % EPOCH_BUMP_EVERY == 0:
                st.tx_producers[who][1] = epoch + 1
                st.sequences[pid] = 0


def generate_segment(
    spec: SeedSpec, topic_index: int, partition: int, state: PartitionState, *, budget: int | None = None
) -> tuple[bytes, SegmentMeta, bytes | None, PartitionState]:
    """Generate the next segment of a partition. Returns (segment bytes, manifest entry, .tx body, new state).

    A transaction may continue into the next segment (its batches wait in ``state.pending``), except in
    the segment that brings the partition to ``budget`` bytes (default ``spec.partition_bytes``, the size
    ``seed`` stops at): that one ends every transaction, so no log ends inside one.
    """
    st = replace(state, segments=list(state.segments), pending=list(state.pending), aborts=list(state.aborts),
                 sequences=dict(state.sequences), tx_counts=dict(state.tx_counts),
                 tx_producers=[list(p) for p in state.tx_producers])
    gen = _Gen(spec, topic_index, partition, salt=st.next_offset)
    writer = SegmentWriter()
    # a term starts between transactions only: planned batches already have their offsets
    new_term = (st.term == 0 or st.segments_in_term >= spec.term_every_segments) and not st.pending
    if new_term:
        st.term += 1
        st.segments_in_term = 0
    written: list[PlannedBatch] = []

    def write_next() -> None:
        b = st.pending.pop(0)
        writer.append(b.body)
        written.append(b)

    if new_term:
        cfg = json.dumps({"term": st.term, "voters": [1, 2, 3], "learners": []}).encode()
        _plan(st, _system_batch(st, BatchType.raft_configuration, cfg), translator=True, last_offset_delta=0,
              ts_max=st.timestamp)
    transactional = topic_index % 2 == 1 and partition % 2 == 0
    while writer.size < spec.segment_bytes:
        if st.pending:
            write_next()
            continue
        n = gen.rng.randrange(max(1, spec.records_per_batch // 2), spec.records_per_batch + 1)
        if gen.rng.random() < 0.05:
            archived = struct.pack("<qq", st.next_offset, st.term)
            _plan(st, _system_batch(st, BatchType.archival_metadata, archived), translator=True, last_offset_delta=0,
                  ts_max=st.timestamp)
            continue
        if transactional and gen.rng.random() < 0.1:
            _plan_transactions(st, gen)
            continue
        _plan_data(st, gen, n)
    if st.written + writer.size >= (spec.partition_bytes if budget is None else budget):
        while st.pending:
            write_next()
    st.written += writer.size
    body = writer.getvalue()
    base_offset, committed = written[0].base_offset, written[-1].base_offset + written[-1].last_offset_delta
    delta_end = written[-1].delta_before + (written[-1].last_offset_delta + 1 if written[-1].translator else 0)
    st.aborts = [a for a in st.aborts if a[3] >= base_offset]  # older ones can overlap no later segment
    ranges = [{"pid.id": pid, "pid.epoch": epoch, "first": first, "last": last}
              for pid, epoch, first, last in st.aborts if first <= committed]
    tx_body = None
    if ranges:
        tx_body = json.dumps({"version": 1, "compat_version": 1, "ranges": ranges}, separators=(",", ":")).encode()
    meta = SegmentMeta(
        base_offset=base_offset,
        committed_offset=committed,
        size_bytes=len(body),
        segment_term=st.term,
        base_timestamp=written[0].first_timestamp,
        max_timestamp=max(b.max_timestamp for b in written),
        delta_offset=written[0].delta_before,
        archiver_term=st.term,
        delta_offset_end=delta_end,
        sname_format=3,
        metadata_size_hint=len(tx_body) if tx_body else 0,
    )
    st.segments.append(meta)
    st.segments_in_term += 1
    return body, meta, tx_body, st


def partition_manifest(spec: SeedSpec, topic_index: int, partition: int, st: PartitionState) -> PartitionManifest:
    segments = tuple(st.segments)
    last = segments[-1].committed_offset if segments else -1
    return PartitionManifest(
        remote_label=spec.topic_label(topic_index),
        namespace=spec.namespace,
        topic=topic_name(topic_index),
        partition=partition,
        revision=spec.revision(topic_index),
        last_offset=last,
        insync_offset=last + 2 if segments else None,
        start_offset=segments[0].base_offset if segments else None,
        cloud_log_size_bytes=sum(s.size_bytes for s in segments),
        highest_producer_id=st.highest_producer_id,
        segments=segments,
    )


def topic_manifest(spec: SeedSpec, topic_index: int) -> TopicManifest:
    return TopicManifest(
        namespace=spec.namespace,
        topic=topic_name(topic_index),
        partition_count=spec.partitions,
        replication_factor=3,
        revision_id=spec.revision(topic_index),
        compression="producer",
        cleanup_policy_bitflags="delete",
        timestamp_type="LogAppendTime" if topic_index % 4 == 3 else "CreateTime",
        segment_size=spec.segment_bytes,
        retention_bytes=None,
        retention_duration=7 * 24 * 3600 * 1000,
    )


def segment_objects(
    manifest_like: PartitionManifest, body: bytes, meta: SegmentMeta, tx_body: bytes | None
) -> list[SeedObject]:
    """The segment object and its companions, in upload order."""
    key = manifest_like.segment_key(meta)
    out = [SeedObject(key, body, "segment")]
    out.append(SeedObject(key + ".index", build_index_object(body, meta.delta_offset or 0, meta.base_offset,
                                                            namespace=manifest_like.namespace), "index"))
    if tx_body is not None:
        out.append(SeedObject(key + ".tx", tx_body, "tx"))
    return out


def spill(spec: SeedSpec, pm: PartitionManifest) -> tuple[PartitionManifest, list[SeedObject]]:
    """Move the oldest half of ``pm``'s segments into ``spec.spillover`` spillover manifests (as
    ``partition_manifest::spillover`` does); returns the new main manifest and the spillover objects, which
    must be uploaded before it."""
    from segment_format.manifest_bin import encode_partition_manifest

    n = min(spec.spillover, len(pm.segments) // 2)
    if n <= 0:
        return pm, []
    moving = pm.segments[: max(n, len(pm.segments) // 2)]
    per = -(-len(moving) // n)
    objects: list[SeedObject] = []
    metas: list[SegmentMeta] = []
    for i in range(0, len(moving), per):
        group = moving[i:i + per]
        spm = pm.with_segments(group, spillover=(), last_offset=group[-1].committed_offset,
                               start_offset=group[0].base_offset, insync_offset=None, highest_producer_id=None)
        body = encode_partition_manifest(spm)
        first, last = group[0], group[-1]
        meta = SegmentMeta(  # partition_manifest::make_manifest_metadata
            is_compacted=False, size_bytes=sum(s.size_bytes for s in group), base_offset=first.base_offset,
            committed_offset=last.committed_offset, base_timestamp=first.base_timestamp,
            max_timestamp=last.max_timestamp, delta_offset=first.delta_offset, ntp_revision=pm.revision,
            archiver_term=first.segment_term, segment_term=last.segment_term,
            delta_offset_end=last.delta_offset_end, sname_format=3, metadata_size_hint=len(body))
        metas.append(meta)
        objects.append(SeedObject(pm.spillover_key(meta), body, "spillover_manifest"))
    rest = pm.segments[len(moving):]
    main = pm.with_segments(rest, spillover=(*pm.spillover, *metas), start_offset=rest[0].base_offset,
                            archive_start_offset=pm.archive_start_offset if pm.spillover else moving[0].base_offset,
                            archive_start_offset_delta=(pm.archive_start_offset_delta if pm.spillover
                                                        else moving[0].delta_offset),
                            archive_size_bytes=pm.archive_size_bytes + sum(m.size_bytes for m in metas))
    return main, objects


def manifest_objects(spec: SeedSpec, topic_index: int, partition: int, st: PartitionState) -> list[SeedObject]:
    """The partition's manifest objects in upload order: spillover manifests, then the main manifest (in the
    topic's layout and format). ``st.spillover`` is updated to what the main manifest names."""
    from app.bucket import encode_partition_manifest

    pm = partition_manifest(spec, topic_index, partition, st)
    pm = replace(pm, spillover=tuple(st.spillover))
    objects: list[SeedObject] = []
    if spec.spillover:
        pm, objects = spill(spec, pm)
        st.segments = list(pm.segments)
        st.spillover = list(pm.spillover)
    fmt = spec.manifest_format(topic_index)
    objects.append(SeedObject(pm.manifest_key(fmt), encode_partition_manifest(pm, fmt), "partition_manifest"))
    return objects


def generate_partition(
    spec: SeedSpec, topic_index: int, partition: int, state: PartitionState | None = None, *,
    max_bytes: int | None = None,
) -> Iterator[SeedObject]:
    """All objects of one partition (segments and companions first, the manifests last)."""
    st = state or PartitionState()
    budget = spec.partition_bytes if max_bytes is None else max_bytes
    written = 0
    skeleton = partition_manifest(spec, topic_index, partition, st)
    while written < budget:
        body, meta, tx_body, st = generate_segment(spec, topic_index, partition, st,
                                                   budget=st.written - written + budget)
        written += len(body)
        yield from segment_objects(skeleton, body, meta, tx_body)
    yield from manifest_objects(spec, topic_index, partition, st)


def topic_manifest_object(spec: SeedSpec, topic_index: int) -> SeedObject:
    """The topic manifest where and as Redpanda writes it for the topic's layout."""
    tm = topic_manifest(spec, topic_index)
    label = spec.topic_label(topic_index)
    if spec.manifest_format(topic_index) == "json":
        return SeedObject(keys.topic_manifest_key(spec.namespace, tm.topic, fmt="json"), tm.to_json(), "topic_manifest")
    from segment_format.topic_manifest_bin import encode_topic_manifest_bin

    key = (keys.labeled_topic_manifest_key(label, spec.namespace, tm.topic, tm.revision_id) if label
           else keys.topic_manifest_key(spec.namespace, tm.topic, fmt="bin"))
    return SeedObject(key, encode_topic_manifest_bin(replace(tm, remote_label=label)), "topic_manifest")


def topic_manifest_key(spec: SeedSpec, topic_index: int) -> str:
    return keys.topic_manifest_key(spec.namespace, topic_name(topic_index), fmt="json")
