"""Redpanda's Delta-FOR codec for int64 sequences (``deltafor_encoder``/``deltafor_decoder<int64_t>``).

Theory of operation (``src/v/utils/delta_for.h``; second reading
``tools/rp_storage_tool/deltafor/src/{lib,bitpack}.rs``).

Values are encoded in **rows of 16** (``details::FOR_buffer_depth``). Each row is first turned into 16
unsigned 64-bit deltas against the previous value (the encoder's ``initial`` for the first row, then the
last value of the previous row):

* ``delta_xor``:       ``d[i] = row[i] ^ prev``                  (any sequence; the "gauge" columns)
* ``delta_delta(s)``:  ``d[i] = (row[i] - prev) - s``            (non-decreasing, every step >= s; the
  "counter" columns and the index's file positions, with ``s`` = ``min_file_pos_step``)

``nbits = bit_width(d[0] | ... | d[15])`` (0..64) and the row is written as::

    +-------+------------------------------------------------------------------------------+
    | nbits | 2*nbits bytes: the 16 deltas, split into size classes 64/32/16/8 bits taken |
    |  u8   | greedily from the low bits up, each class written as 16 LE words, then the  |
    |       | residual r = nbits % 8 bits of all 16 values packed LE into 2*r bytes       |
    +-------+------------------------------------------------------------------------------+

e.g. nbits=41 -> 16 x u32 (bits 0..31), 16 x u8 (bits 32..39), then 16 x 1 bit in 2 bytes (bit 40):
``unsigned_decomposition<41> == {{4, 0}, {1, 32}}`` and ``serialized_size<41, 16> == 82``.
A row of nbits=0 is the single byte ``00`` (all deltas zero). Arithmetic is modulo 2**64, as the C++
does on ``int64_t``/``uint64_t``; decoded values are returned as signed int64.

The encoder's serde envelope (``deltafor_encoder``, version 0, compat 0) has fields
``initial i64, last i64, data iobuf, cnt u32`` and, only when the delta step is *not* a template
constant (``use_nttp_deltastep == false``), the delta object as a further field. Every column in a
manifest uses the template-constant form (no step field); the segment index does not serialize its
encoders at all (it writes the raw iobufs). Both are provided here as :func:`read_encoder_envelope` /
:func:`write_encoder_envelope` for the constant form only — the other form is never written to storage.

Decoding is as lenient as Redpanda's: only ``row_count`` rows are read and bytes after them are ignored;
an ``nbits`` above 64 (which the C++ decoder would silently mishandle) is rejected with
:class:`~segment_format.errors.SerdeError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from segment_format.errors import SerdeError
from segment_format.serde import SerdeReader, SerdeWriter

__all__ = [
    "ROW_WIDTH",
    "DeltaAlgorithm",
    "DeltaDelta",
    "DeltaForStream",
    "DeltaXor",
    "decode_rows",
    "encode_rows",
    "pack_row",
    "read_encoder_envelope",
    "unpack_row",
    "write_encoder_envelope",
]

ROW_WIDTH = 16
_MASK64 = (1 << 64) - 1
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def _to_signed(v: int) -> int:
    v &= _MASK64
    return v - (1 << 64) if v >> 63 else v


def _check_int64(v: int) -> None:
    if not _INT64_MIN <= v <= _INT64_MAX:
        raise ValueError(f"{v} is not an int64")


@dataclass(frozen=True, slots=True)
class DeltaXor:
    """``details::delta_xor``: delta = value XOR previous value."""

    def encode(self, last: int, row: Sequence[int]) -> list[int]:
        """Unsigned deltas of ``row`` against ``last``."""
        out = []
        p = last
        for v in row:
            out.append((v ^ p) & _MASK64)
            p = v
        return out

    def decode(self, initial: int, deltas: Sequence[int]) -> list[int]:
        """Signed values from unsigned deltas, starting from ``initial``."""
        out = []
        p = initial & _MASK64
        for d in deltas:
            p = d ^ p
            out.append(_to_signed(p))
        return out


@dataclass(frozen=True, slots=True)
class DeltaDelta:
    """``details::delta_delta<int64_t>(step)``: delta = (value - previous) - step, for monotonic input."""

    step: int = 0

    def encode(self, last: int, row: Sequence[int]) -> list[int]:
        """Unsigned deltas; raises ``ValueError`` where Redpanda would ``vassert`` (not monotonic/step)."""
        out = []
        p = last
        for v in row:
            if v < p:
                raise ValueError(f"delta_delta: value {v} is smaller than the previous one {p}")
            if v - p < self.step:
                raise ValueError(f"delta_delta: delta {v - p} is smaller than the step {self.step}")
            out.append((v - p - self.step) & _MASK64)
            p = v
        return out

    def decode(self, initial: int, deltas: Sequence[int]) -> list[int]:
        out = []
        p = initial
        for d in deltas:
            p = _to_signed(d + p + self.step)
            out.append(p)
        return out


DeltaAlgorithm = DeltaXor | DeltaDelta


def pack_row(deltas: Sequence[int], nbits: int) -> bytes:
    """Bit-pack 16 unsigned values of at most ``nbits`` bits exactly as ``deltafor_encoder::pack<N>``."""
    if len(deltas) != ROW_WIDTH:
        raise ValueError(f"a row has {ROW_WIDTH} values, got {len(deltas)}")
    if not 0 <= nbits <= 64:
        raise ValueError(f"nbits must be 0..64, got {nbits}")
    out = bytearray()
    shift = 0
    rem = nbits
    for size in (64, 32, 16, 8):  # detail_decomp: greedy, largest class first
        if rem >= size:
            nbytes = size // 8
            word_mask = (1 << size) - 1
            for d in deltas:
                out += ((d >> shift) & word_mask).to_bytes(nbytes, "little")
            shift += size
            rem -= size
    if rem:
        bits = 0
        residual_mask = (1 << rem) - 1
        for i, d in enumerate(deltas):
            bits |= ((d >> shift) & residual_mask) << (rem * i)
        out += bits.to_bytes(2 * rem, "little")
    return bytes(out)


def unpack_row(
    data: bytes | memoryview, offset: int, nbits: int, *, position: int = 0
) -> tuple[list[int], int]:
    """Inverse of :func:`pack_row`: returns the 16 unsigned values and the offset after them."""
    if not 0 <= nbits <= 64:
        raise SerdeError(f"deltafor row width {nbits} bits is not in 0..64", position=position + offset - 1)
    size_bytes = 2 * nbits
    if offset + size_bytes > len(data):
        raise SerdeError(
            f"deltafor row of {nbits} bits needs {size_bytes} bytes, {len(data) - offset} left",
            position=position + offset,
        )
    out = [0] * ROW_WIDTH
    shift = 0
    rem = nbits
    pos = offset
    for size in (64, 32, 16, 8):
        if rem >= size:
            nbytes = size // 8
            for i in range(ROW_WIDTH):
                out[i] |= int.from_bytes(data[pos : pos + nbytes], "little") << shift
                pos += nbytes
            shift += size
            rem -= size
    if rem:
        bits = int.from_bytes(data[pos : pos + 2 * rem], "little")
        pos += 2 * rem
        residual_mask = (1 << rem) - 1
        for i in range(ROW_WIDTH):
            out[i] |= ((bits >> (rem * i)) & residual_mask) << shift
    return out, pos


def encode_rows(last: int, values: Sequence[int], alg: DeltaAlgorithm) -> bytes:
    """Encode whole rows (``len(values) % 16 == 0``) continuing from ``last``, as repeated ``add(row)``."""
    if len(values) % ROW_WIDTH:
        raise ValueError(f"deltafor encodes whole rows of {ROW_WIDTH}; got {len(values)} values")
    out = bytearray()
    prev = last
    _check_int64(prev)
    for r in range(0, len(values), ROW_WIDTH):
        row = values[r : r + ROW_WIDTH]
        for v in row:
            _check_int64(v)
        deltas = alg.encode(prev, row)
        agg = 0
        for d in deltas:
            agg |= d
        nbits = agg.bit_length()
        out.append(nbits)
        out += pack_row(deltas, nbits)
        prev = row[-1]
    return bytes(out)


def decode_rows(
    initial: int, row_count: int, data: bytes | memoryview, alg: DeltaAlgorithm, *, position: int = 0
) -> tuple[list[int], int]:
    """Decode ``row_count`` rows; returns ``16 * row_count`` values and the number of bytes consumed.

    ``position`` is the absolute position of ``data[0]``, used in error messages.
    """
    values: list[int] = []
    pos = 0
    prev = initial
    for _ in range(row_count):
        if pos >= len(data):
            raise SerdeError(
                f"deltafor stream ends after {len(values) // ROW_WIDTH} of {row_count} rows",
                position=position + pos,
            )
        nbits = data[pos]
        deltas, pos = unpack_row(data, pos + 1, nbits, position=position)
        row = alg.decode(prev, deltas)
        values.extend(row)
        prev = row[-1]
    return values, pos


@dataclass(frozen=True, slots=True)
class DeltaForStream:
    """A serialized ``deltafor_encoder`` (constant delta step form): its four serde fields."""

    initial: int
    last: int
    data: bytes
    row_count: int

    @classmethod
    def encode(cls, initial: int, values: Sequence[int], alg: DeltaAlgorithm) -> DeltaForStream:
        """The encoder state after ``deltafor_encoder(initial)`` and ``add`` of every row of ``values``."""
        data = encode_rows(initial, values, alg)
        return cls(initial, values[-1] if values else initial, data, len(values) // ROW_WIDTH)

    def decode(self, alg: DeltaAlgorithm, *, position: int = 0) -> list[int]:
        """All ``16 * row_count`` values (trailing bytes in ``data`` are ignored, as in Redpanda)."""
        return decode_rows(self.initial, self.row_count, self.data, alg, position=position)[0]


def write_encoder_envelope(w: SerdeWriter, stream: DeltaForStream) -> None:
    """``serde::write(deltafor_encoder<int64_t, ..., use_nttp_deltastep=true>)``."""
    with w.envelope(0, 0):
        w.write_i64(stream.initial)
        w.write_i64(stream.last)
        w.write_iobuf(stream.data)
        w.write_u32(stream.row_count)


def read_encoder_envelope(r: SerdeReader) -> tuple[DeltaForStream, int]:
    """Read a ``deltafor_encoder`` envelope; returns it and the absolute position of its ``data``.

    Fields absent from a short body keep the C++ defaults (0 / empty), as serde does.
    """
    initial = last = count = 0
    data = b""
    data_pos = r.position
    with r.envelope(0, 0, "deltafor_encoder"):
        if r.remaining():
            initial = r.read_i64()
        if r.remaining():
            last = r.read_i64()
        if r.remaining():
            data_pos = r.position + 4
            data = bytes(r.read_iobuf())
        if r.remaining():
            count = r.read_u32()
    return DeltaForStream(initial, last, data, count), data_pos
