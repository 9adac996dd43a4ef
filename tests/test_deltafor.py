"""segment_format.deltafor: Redpanda's characterization vectors, hand-derived rows, properties."""

from __future__ import annotations

import struct

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from segment_format.deltafor import (
    ROW_WIDTH,
    DeltaDelta,
    DeltaForStream,
    DeltaXor,
    decode_rows,
    encode_rows,
    pack_row,
    read_encoder_envelope,
    unpack_row,
    write_encoder_envelope,
)
from segment_format.errors import FormatError, SerdeError
from segment_format.serde import SerdeReader, SerdeWriter
from tests.hypothesis_support import examples

I64 = st.integers(-(2**63), 2**63 - 1)
U64 = st.integers(0, 2**64 - 1)


def _serialize(stream: DeltaForStream) -> bytes:
    w = SerdeWriter()
    write_encoder_envelope(w, stream)
    return w.getvalue()


# Two data points transcribed from src/v/utils/tests/delta_for_characterization_data.cc (bytes produced
# by Redpanda v23.2.1-rc7-80-g2b2cb3b60 for `deltafor_encoder<int64_t, delta_xor, true>` with initial 0
# and one `add(row)`, then `serde::to_iobuf`). All 65 points (nbits 0..64) were checked during
# development against the mirror; these two exercise the residual-only and u8+residual layouts.
CHARACTERIZATION = [
    (
        [1, 2, 7, 3, 2, 5, 2, 2, 3, 0, 0, 6, 2, 0, 0, 3],  # xor deltas need 3 bits
        "0000"
        "1f000000"  # envelope v0 c0, body 31 bytes
        "0000000000000000"  # initial 0
        "0300000000000000"  # last 3
        "07000000"
        "03"
        "59991f194c61"  # iobuf(7): nbits 3, 16 x 3 bits in 6 bytes
        "01000000",  # cnt 1 row
    ),
    (
        [226, 96, 355, 245, 136, 473, 68, 221, 23, 40, 197, 474, 142, 22, 230, 252],  # 9 bits
        "0000"
        "2b000000"
        "0000000000000000"
        "fc00000000000000"  # last 252
        "13000000"
        "09"  # iobuf(19): nbits 9
        "e28203967d519d99ca3fed1f5498f01a"  # 16 x low u8 of each delta
        "6c18"  # 16 x bit 8, packed LE
        "01000000",
    ),
]


@pytest.mark.parametrize(("row", "hexbytes"), CHARACTERIZATION)
def test_redpanda_characterization_vectors(row: list[int], hexbytes: str) -> None:
    expected = bytes.fromhex(hexbytes)
    stream = DeltaForStream.encode(0, row, DeltaXor())
    assert _serialize(stream) == expected
    r = SerdeReader(expected)
    back, data_pos = read_encoder_envelope(r)
    r.expect_end()
    assert back == stream
    assert data_pos == 6 + 8 + 8 + 4
    assert back.decode(DeltaXor()) == row


def test_41_bit_row_decomposition_by_hand() -> None:
    # unsigned_decomposition<41> == {{4, 0}, {1, 32}} + 1 residual bit (delta_for.h static_asserts)
    deltas = [(1 << 40) | i for i in range(16)]
    values, acc = [], 0
    for d in deltas:  # delta_xor against initial 0: value[i] = value[i-1] ^ delta[i]
        acc ^= d
        values.append(acc)
    expected = (
        bytes([41])  # nbits
        + b"".join(struct.pack("<I", i) for i in range(16))  # bits 0..31 of each delta
        + bytes(16)  # bits 32..39 of each delta: all zero
        + b"\xff\xff"  # bit 40 of each delta, 16 x 1 bit, LE
    )
    assert len(expected) == 1 + 2 * 41
    assert encode_rows(0, values, DeltaXor()) == expected
    assert decode_rows(0, 1, expected, DeltaXor()) == (values, len(expected))


def test_64_bit_row_is_16_le_words() -> None:
    row = [-1] + [0] * 15  # -1 ^ 0 = all ones -> nbits 64
    data = encode_rows(0, row, DeltaXor())
    deltas = [2**64 - 1, 2**64 - 1] + [0] * 14  # -1 ^ 0, then 0 ^ -1, then zeros
    assert data == bytes([64]) + b"".join(struct.pack("<Q", d) for d in deltas)
    assert decode_rows(0, 1, data, DeltaXor())[0] == row


def test_delta_delta_with_step_by_hand() -> None:
    # step 10: values 110, 120, ..., 250, 261 from last=100 -> deltas (v - prev) - 10 = 0 x 15, then 1
    values = [100 + 10 * (i + 1) for i in range(15)] + [261]
    data = encode_rows(100, values, DeltaDelta(10))
    assert data == b"\x01" + struct.pack("<H", 1 << 15)  # nbits 1; bit 15 = value index 15
    assert decode_rows(100, 1, data, DeltaDelta(10)) == (values, 3)


def test_zero_row_is_one_byte() -> None:
    assert encode_rows(7, [7] * 16, DeltaXor()) == b"\x00"
    assert encode_rows(7, [7] * 16, DeltaDelta(0)) == b"\x00"
    assert decode_rows(7, 1, b"\x00", DeltaXor()) == ([7] * 16, 1)


def test_delta_delta_rejects_what_redpanda_asserts() -> None:
    with pytest.raises(ValueError, match="smaller than the previous"):
        encode_rows(10, [9] * 16, DeltaDelta(0))
    with pytest.raises(ValueError, match="step"):
        encode_rows(0, list(range(1, 17)), DeltaDelta(2))


def test_encode_rejects_partial_rows_and_non_int64() -> None:
    with pytest.raises(ValueError, match="whole rows"):
        encode_rows(0, [1, 2, 3], DeltaXor())
    with pytest.raises(ValueError, match="int64"):
        encode_rows(0, [2**63] * 16, DeltaXor())
    with pytest.raises(ValueError, match="16 values"):
        pack_row([0] * 3, 1)
    with pytest.raises(ValueError, match=r"0\.\.64"):
        pack_row([0] * 16, 65)


def test_decode_errors_carry_positions() -> None:
    with pytest.raises(SerdeError, match=r"not in 0\.\.64") as e:
        decode_rows(0, 1, b"\x41", DeltaXor(), position=100)
    assert e.value.position == 100
    with pytest.raises(SerdeError, match="needs 6 bytes") as e:
        decode_rows(0, 1, b"\x03\x00", DeltaXor(), position=10)
    assert e.value.position == 11
    with pytest.raises(SerdeError, match="after 1 of 2 rows") as e:
        decode_rows(0, 2, b"\x00", DeltaXor(), position=10)
    assert e.value.position == 11
    with pytest.raises(SerdeError):
        unpack_row(b"", 0, 70)


def test_trailing_bytes_are_ignored_like_redpanda() -> None:
    values, used = decode_rows(5, 1, b"\x00\xff\xff", DeltaXor())
    assert values == [5] * 16
    assert used == 1


def test_stream_of_no_rows() -> None:
    s = DeltaForStream.encode(42, [], DeltaXor())
    assert s == DeltaForStream(42, 42, b"", 0)
    assert s.decode(DeltaXor()) == []


def test_short_encoder_envelope_defaults_missing_fields() -> None:
    # an envelope body ending after `initial`: serde leaves the other fields at their defaults
    data = struct.pack("<BBIq", 0, 0, 8, 9)
    stream, _ = read_encoder_envelope(SerdeReader(data))
    assert stream == DeltaForStream(9, 0, b"", 0)


# -- properties --------------------------------------------------------------------------------------


@given(st.lists(U64, min_size=16, max_size=16), st.integers(0, 64))
def test_pack_unpack_round_trip(raw: list[int], nbits: int) -> None:
    deltas = [v & ((1 << nbits) - 1) for v in raw]
    packed = pack_row(deltas, nbits)
    assert len(packed) == 2 * nbits
    assert unpack_row(packed, 0, nbits) == (deltas, 2 * nbits)


@given(I64, st.lists(I64, min_size=0, max_size=64).map(lambda v: v[: len(v) - len(v) % 16]))
def test_xor_round_trip(initial: int, values: list[int]) -> None:
    s = DeltaForStream.encode(initial, values, DeltaXor())
    assert s.row_count == len(values) // ROW_WIDTH
    assert s.decode(DeltaXor()) == values
    r = SerdeReader(_serialize(s))
    assert read_encoder_envelope(r)[0] == s
    r.expect_end()


@given(
    st.integers(-(2**62), 2**62),
    st.integers(0, 1000),
    st.lists(st.integers(0, 2**40), min_size=16, max_size=48).map(lambda v: v[: len(v) - len(v) % 16]),
)
def test_delta_delta_round_trip(initial: int, step: int, gaps: list[int]) -> None:
    values, v = [], initial
    for g in gaps:
        v += step + g
        values.append(v)
    assume(all(x < 2**63 for x in values))
    data = encode_rows(initial, values, DeltaDelta(step))
    assert decode_rows(initial, len(values) // 16, data, DeltaDelta(step)) == (values, len(data))


@settings(max_examples=examples(500))
@given(
    I64,
    st.integers(0, 4),
    st.binary(max_size=200),
    st.sampled_from([DeltaXor(), DeltaDelta(0), DeltaDelta(65536)]),
)
def test_arbitrary_bytes_decode_or_format_error(
    initial: int, rows: int, data: bytes, alg: DeltaXor | DeltaDelta
) -> None:
    try:
        values, used = decode_rows(initial, rows, data, alg)
    except FormatError as e:
        assert isinstance(e, SerdeError)
        return
    assert len(values) == 16 * rows
    assert all(-(2**63) <= v < 2**63 for v in values)
    assert used <= len(data)


@settings(max_examples=examples(300))
@given(st.binary(max_size=120))
def test_arbitrary_encoder_envelope_decode_or_format_error(data: bytes) -> None:
    try:
        stream, _ = read_encoder_envelope(SerdeReader(data))
        stream.decode(DeltaXor())
    except FormatError:
        pass
