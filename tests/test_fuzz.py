"""Property-based fuzzing of the decoders that read untrusted bytes: the Kafka frame decoder + request
decoder (bytes from any client) and the segment / batch / records parser (bytes from the bucket).

The only allowed outcomes are a value or a *typed* error: :class:`~app.kafka.protocol.RemoteProtocolError`
for the wire, :class:`~segment_format.errors.FormatError` for the codec. Anything else (``IndexError``,
``struct.error``, ``OverflowError``, a hang, a ``MemoryError``) fails the target.

Each target is a (strategy, check) pair run by :func:`run_target` with a number of examples, so the same
targets run here (``make test``: :data:`TEST_EXAMPLES`, >= 10,000 cases in all, a few seconds) and in
``bench/fuzz.py`` (``make fuzz`` / ``make bench``: >= 100,000 cases, with cases/s printed).

Targets
-------
* ``segment_bytes``: arbitrary bytes as a segment (with and without the Kafka CRC check).
* ``segment_mutated``: a valid segment (every codec, control / transactional / translator batches, headers,
  null keys and values) with byte edits, then *re-sealed*: both CRCs recomputed wherever a header still
  parses, so the edits reach the size checks, the record decoder and the decompressors instead of
  stopping at the header CRC.
* ``records_block``: arbitrary or mutated uncompressed and compressed record blocks through
  ``decompress`` + ``decode_records`` with arbitrary record counts.
* ``kafka_stream``: several valid request frames (every served and refused API version) back to back,
  mutated, cut into arbitrary reads, through ``FrameDecoder`` and ``decode_request``.
"""

from __future__ import annotations

import itertools
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.kafka.protocol import (
    MESSAGES,
    REJECTED_VERSIONS,
    SUPPORTED_VERSIONS,
    FrameDecoder,
    FrameSizeError,
    ProtocolError,
    RemoteProtocolError,
    Request,
    RequestHeader,
    _schema,
    decode_request,
    encode_request,
)
from segment_format.batch import HEADER_SIZE, BatchType, build_batch, crc32c, kafka_header
from segment_format.errors import FormatError
from segment_format.offsets import translate
from segment_format.records import (
    Compression,
    Record,
    RecordHeader,
    compress,
    decode_records,
    decompress,
    encode_records,
)
from segment_format.segment import Tail, iter_batches

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, `make test-fast` does not

FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=False)

# --------------------------------------------------------------------------------------------- seeds


def _records(n: int, salt: int) -> list[Record]:
    out = []
    for i in range(n):
        key = None if i % 3 == 0 else f"k{salt}-{i}".encode()
        value = None if i % 5 == 4 else (b'{"n": %d}' % i) * (1 + i % 4)
        headers = (RecordHeader("h", b"v"), RecordHeader("null", None)) if i % 2 else ()
        out.append(Record(offset_delta=i, timestamp_delta=i * 7, key=key, value=value, headers=headers))
    return out


def _seed_segment() -> bytes:
    """A small segment with one batch per interesting shape."""
    parts = [build_batch(_records(1, 0), base_offset=0, first_timestamp=1_700_000_000_000,
                         type=BatchType.raft_configuration)]
    offset = 1
    for i, codec in enumerate(Compression):
        recs = _records(3 + i, i)
        parts.append(build_batch(recs, base_offset=offset, first_timestamp=1_700_000_000_000 + i, compression=codec))
        offset += len(recs)
    parts.append(build_batch(_records(2, 9), base_offset=offset, first_timestamp=1_700_000_000_100,
                             attrs=0x10, producer_id=42, producer_epoch=1, base_sequence=0))  # transactional
    offset += 2
    control = Record(offset_delta=0, timestamp_delta=0, key=b"\x00\x00\x00\x01", value=b"\x00\x00\x00\x00\x00\x00")
    parts.append(build_batch([control], base_offset=offset, first_timestamp=1_700_000_000_200, attrs=0x30,
                             producer_id=42, producer_epoch=1))  # commit marker
    offset += 1
    parts.append(build_batch(_records(1, 5), base_offset=offset, first_timestamp=1_700_000_000_300,
                             type=BatchType.archival_metadata))
    return b"".join(parts)


SEED_SEGMENT = _seed_segment()
SEED_RECORDS = [encode_records(_records(n, n)) for n in (1, 3, 8)]
SEED_BLOCKS = [(int(c), compress(c, block)) for c in Compression for block in SEED_RECORDS]


def _minimal_value(t: _schema.FieldType[Any], version: int, salt: int) -> Any:
    if t is _schema.BOOL:
        return bool(salt & 1)
    if t in (_schema.INT8, _schema.INT16, _schema.INT32, _schema.INT64):
        return 1
    if t is _schema.STRING:
        return "topic-" + "x" * (salt % 4)
    if t in (_schema.BYTES, _schema.RECORDS):
        return SEED_SEGMENT[:HEADER_SIZE + 8] if t is _schema.RECORDS else b"\x01\x02"
    if t is _schema.UUID:
        return bytes((salt + i) % 256 for i in range(16))
    if isinstance(t, _schema.Array):
        return tuple(_minimal_value(t.element, version, salt + i) for i in range(1 + salt % 2))
    assert isinstance(t, _schema.Struct)
    return t.cls(**{f.name: _minimal_value(f.type, version, salt) for f in t.present(version)})


def _seed_frames() -> list[bytes]:
    """One framed request per (API, version) the shim decodes, encoded by our own encoder."""
    frames = []
    for table in (SUPPORTED_VERSIONS, REJECTED_VERSIONS):
        for api, (low, high) in sorted(table.items()):
            for version in range(low, high + 1):
                body = _minimal_value(MESSAGES[api].request, version, version)
                frames.append(encode_request(RequestHeader(api_key=api, api_version=version, correlation_id=version,
                                                           client_id="fuzz"), body))
    return frames


SEED_FRAMES = _seed_frames()

# ------------------------------------------------------------------------------------------ mutation

EDITS = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255), st.sampled_from(["set", "cut", "insert", "flip"])),
                 min_size=1, max_size=6)


def mutate(data: bytes, edits: list[tuple[int, int, str]]) -> bytes:
    buf = bytearray(data)
    for position, value, action in edits:
        position %= len(buf) + 1
        if action == "set" and position < len(buf):
            buf[position] = value
        elif action == "flip" and position < len(buf):
            buf[position] ^= 1 << (value % 8)
        elif action == "cut":
            del buf[position : position + 1 + value % 64]
        else:
            buf[position:position] = bytes([value]) * (1 + value % 8)
    return bytes(buf)


def reseal(data: bytes) -> bytes:
    """Recompute both CRCs of every batch whose size field still fits, so edits reach the decoders."""
    buf = bytearray(data)
    pos = 0
    while pos + HEADER_SIZE <= len(buf):
        (size,) = struct.unpack_from("<i", buf, pos + 4)
        if size < HEADER_SIZE or pos + size > len(buf):
            break
        # Kafka CRC: big-endian attrs..record_count (as kafka_crc packs them), then the records
        attrs, lod, first_ts, max_ts, pid, pepoch, bseq, count = struct.unpack_from("<hiqqqhii", buf, pos + 21)
        head = struct.pack(">hiqqqhii", attrs, lod, first_ts, max_ts, pid, pepoch, bseq, count)
        struct.pack_into("<I", buf, pos + 17, crc32c(bytes(buf[pos + HEADER_SIZE : pos + size]), crc32c(head)))
        struct.pack_into("<I", buf, pos, crc32c(bytes(buf[pos + 4 : pos + HEADER_SIZE])))
        pos += size
    return bytes(buf)


# -------------------------------------------------------------------------------------------- checks


def check_segment(data: bytes, *, verify_crc: bool = True, delta: int = 0) -> int:
    """Walk, translate and decode a segment; returns the records decoded. FormatError is the only error."""
    reader = iter_batches(data, verify_crc=verify_crc)
    decoded = 0
    last_end = 0
    try:
        for tb in translate(reader, delta):
            b = tb.batch
            h = b.header
            assert b.position == last_end, "batches are back to back"
            assert len(b.records) == h.size_bytes - HEADER_SIZE
            last_end = b.position + h.size_bytes
            if tb.kafka_base_offset is not None:
                try:  # a hostile delta can push the Kafka offset outside int64: a typed error then
                    assert len(kafka_header(h, base_offset=tb.kafka_base_offset)) == HEADER_SIZE
                except FormatError:
                    assert not -(2**63) <= tb.kafka_base_offset <= 2**63 - 1 - max(h.last_offset_delta, 0)
            try:
                records = b.decode_records()
            except FormatError:
                continue
            assert len(records) == max(h.record_count, 0)
            decoded += len(records)
    except FormatError as e:
        assert e.position is None or 0 <= e.position <= len(data), e
        return decoded
    assert reader.tail in (Tail.END, Tail.ZERO_FILLED, Tail.TRUNCATED)
    assert reader.position == last_end
    return decoded


def check_block(codec: int, data: bytes, count: int) -> None:
    try:
        plain = decompress(codec, data)
    except FormatError:
        return
    try:
        records = decode_records(plain, count)
    except FormatError as e:
        assert e.position is None or 0 <= e.position <= len(plain), e
        return
    assert len(records) == max(count, 0)
    assert encode_records(records) == plain, "what decodes re-encodes to the same bytes"


def check_stream(data: bytes, cuts: list[int], limit: int) -> int:
    """Frames through FrameDecoder, each through decode_request; returns the requests decoded."""
    decoder = FrameDecoder(max_frame_size=limit)
    points = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    decoded = 0
    for start, end in itertools.pairwise(points):
        decoder.feed(data[start:end])
        try:
            while (frame := decoder.next_frame()) is not None:
                assert len(frame.payload) <= limit
                try:
                    request = decode_request(frame.payload)
                except ProtocolError as exc:
                    assert isinstance(exc, RemoteProtocolError), exc
                    continue
                assert isinstance(request, Request)
                decoded += 1
        except FrameSizeError:
            return decoded
    return decoded


# ------------------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    name: str
    what: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], object]


def _segment_bytes(case: tuple[bytes, bool]) -> None:
    data, verify = case
    check_segment(data, verify_crc=verify)


def _segment_mutated(case: tuple[list[tuple[int, int, str]], bool, int]) -> None:
    edits, sealed, delta = case
    data = mutate(SEED_SEGMENT, edits)
    check_segment(reseal(data) if sealed else data, delta=delta)


def _records_block(case: tuple[int, bytes, int]) -> None:
    check_block(*case)


def _kafka_stream(case: tuple[list[int], list[tuple[int, int, str]], list[int], int]) -> None:
    picks, edits, cuts, limit = case
    data = b"".join(SEED_FRAMES[i % len(SEED_FRAMES)] for i in picks)
    check_stream(mutate(data, edits), cuts, limit)


def _header_like() -> st.SearchStrategy[bytes]:
    """61+ bytes that often carry a valid header CRC, so the reader gets past the header check."""
    def build(fields: tuple[int, ...], tail: bytes) -> bytes:
        body = struct.pack("<iqbIhiqqqhii", *fields)
        return struct.pack("<I", crc32c(body)) + body + tail

    fields = st.tuples(st.integers(-(2**31), 2**31 - 1) | st.integers(0, 400), st.integers(-(2**63), 2**63 - 1),
                       st.integers(-128, 127), st.integers(0, 2**32 - 1), st.integers(-(2**15), 2**15 - 1),
                       st.integers(-(2**31), 2**31 - 1), st.integers(-(2**63), 2**63 - 1),
                       st.integers(-(2**63), 2**63 - 1), st.integers(-(2**63), 2**63 - 1),
                       st.integers(-(2**15), 2**15 - 1), st.integers(-(2**31), 2**31 - 1),
                       st.integers(-(2**31), 2**31 - 1) | st.integers(0, 20))
    return st.builds(build, fields, st.binary(max_size=300))


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("segment_bytes", "arbitrary bytes / CRC-valid headers as a segment",
           st.tuples(st.binary(max_size=400) | _header_like(), st.booleans()), _segment_bytes),
    Target("segment_mutated", "edited valid segment, CRCs re-sealed (or not), translated and decoded",
           st.tuples(EDITS, st.booleans(), st.integers(-3, 3) | st.integers(-(2**63), 2**63 - 1)), _segment_mutated),
    Target("records_block", "arbitrary / edited record blocks through decompress + decode_records",
           st.one_of(
               st.tuples(st.integers(-1, 8), st.binary(max_size=300), st.integers(-2, 12) | st.integers(-(2**31), 2**31 - 1)),
               st.builds(lambda seed, edits, count: (seed[0], mutate(seed[1], edits), count),
                         st.sampled_from(SEED_BLOCKS), EDITS, st.integers(0, 10)),
           ), _records_block),
    Target("kafka_stream", "several request frames of every API version, edited, cut into reads",
           st.tuples(st.lists(st.integers(0, 10_000), min_size=1, max_size=4), EDITS,
                     st.lists(st.integers(0, 1 << 16), max_size=6), st.integers(1, 1 << 12) | st.just(100 << 20)),
           _kafka_stream),
)}

TEST_EXAMPLES = {"segment_bytes": 2500, "segment_mutated": 3500, "records_block": 2500, "kafka_stream": 2500}
"""Cases per target in ``make test``: 11,000 in all (plus the 15,000 request-decoder cases of
``tests/test_kafka_protocol.py``)."""


@dataclass(frozen=True)
class RunResult:
    name: str
    cases: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0


def run_target(target: Target, examples: int) -> RunResult:
    """Run ``examples`` hypothesis cases of ``target``; a failing case raises (after shrinking)."""
    calls = 0

    @settings(FUZZ, max_examples=examples)
    @given(case=target.strategy)
    def fuzz(case: Any) -> None:
        nonlocal calls
        calls += 1
        target.check(case)

    started = time.perf_counter()
    fuzz()
    return RunResult(target.name, calls, time.perf_counter() - started)


# --------------------------------------------------------------------------------------------- tests


def test_seeds_are_valid() -> None:
    assert check_segment(SEED_SEGMENT) > 10
    assert check_segment(reseal(SEED_SEGMENT)) > 10 and reseal(SEED_SEGMENT) == SEED_SEGMENT
    for codec, block in SEED_BLOCKS:
        assert decompress(codec, block) in SEED_RECORDS
    for f in SEED_FRAMES:
        assert check_stream(f, [], 1 << 20) == 1
    assert len(SEED_FRAMES) > 50


def test_reseal_makes_edits_reach_the_record_decoder() -> None:
    edited = bytearray(SEED_SEGMENT)
    edited[HEADER_SIZE + 2] ^= 0xFF  # inside the first batch's records
    with pytest.raises(FormatError):
        list(iter_batches(bytes(edited)))
    first = next(iter(iter_batches(reseal(bytes(edited)))))  # CRCs fixed: the reader hands the batch over
    with pytest.raises(FormatError):
        first.decode_records()


@pytest.mark.parametrize("name", sorted(TEST_EXAMPLES))
def test_fuzz(name: str) -> None:
    result = run_target(TARGETS[name], TEST_EXAMPLES[name])
    print(f"{name}: {result.cases} cases in {result.seconds:.1f} s ({result.rate:.0f}/s)")
    assert result.cases >= TEST_EXAMPLES[name] * 0.95, result


def test_fuzz_totals() -> None:
    assert sum(TEST_EXAMPLES.values()) >= 10_000
