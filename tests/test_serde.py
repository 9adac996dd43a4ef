"""segment_format.serde: golden bytes from src/v/serde/rw/*.h, envelope evolution rules, fuzzing."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segment_format.errors import FormatError, SerdeError
from segment_format.serde import ENVELOPE_HEADER_SIZE, EnvelopeHeader, SerdeReader, SerdeWriter
from tests.hypothesis_support import examples

I64 = st.integers(-(2**63), 2**63 - 1)


# -- golden bytes ------------------------------------------------------------------------------------


def test_scalars_are_little_endian_golden() -> None:
    w = SerdeWriter()
    w.write_i8(-2)
    w.write_u8(0xAB)
    w.write_i16(-3)
    w.write_u16(0x1234)
    w.write_i32(-4)
    w.write_u32(0xDEADBEEF)
    w.write_i64(-5)
    w.write_u64(0x0102030405060708)
    w.write_bool(True)
    w.write_bool(False)
    w.write_enum(3)
    w.write_f64(1.5)
    expected = (
        b"\xfe"  # int8 -2
        + b"\xab"  # uint8
        + struct.pack("<h", -3)
        + b"\x34\x12"  # uint16 0x1234, LE
        + struct.pack("<i", -4)
        + b"\xef\xbe\xad\xde"  # uint32 0xDEADBEEF, LE
        + struct.pack("<q", -5)
        + b"\x08\x07\x06\x05\x04\x03\x02\x01"  # uint64, LE
        + b"\x01\x00"  # bools: int8 1 / 0 (rw/scalar.h)
        + b"\x03\x00\x00\x00"  # enum: serde_enum_serialized_t = int32 (rw/enum.h)
        + struct.pack("<d", 1.5)
    )
    assert w.getvalue() == expected
    r = SerdeReader(expected)
    assert r.read_i8() == -2
    assert r.read_u8() == 0xAB
    assert r.read_i16() == -3
    assert r.read_u16() == 0x1234
    assert r.read_i32() == -4
    assert r.read_u32() == 0xDEADBEEF
    assert r.read_i64() == -5
    assert r.read_u64() == 0x0102030405060708
    assert r.read_bool() is True
    assert r.read_bool() is False
    assert r.read_enum() == 3
    assert r.read_f64() == 1.5
    r.expect_end()


def test_bool_reads_any_nonzero_byte_as_true() -> None:
    # rw/scalar.h: read int8, t = (byte != 0)
    assert SerdeReader(b"\x02").read_bool() is True
    assert SerdeReader(b"\xff").read_bool() is True


def test_string_iobuf_vector_optional_golden() -> None:
    # model::ntp{"kafka", "t", 3} as partition_manifest_serde writes it: sstring ns, sstring topic, i32
    ntp = struct.pack("<I", 5) + b"kafka" + struct.pack("<I", 1) + b"t" + struct.pack("<i", 3)
    w = SerdeWriter()
    w.write_string("kafka")
    w.write_string("t")
    w.write_i32(3)
    assert w.getvalue() == ntp

    w = SerdeWriter()
    w.write_iobuf(b"\x00\x01")
    w.write_vector([1, -1], SerdeWriter.write_i64)
    w.write_optional(None, SerdeWriter.write_i64)
    w.write_optional(7, SerdeWriter.write_i64)
    w.write_array(2, [9, 8], SerdeWriter.write_u32)
    expected = (
        struct.pack("<I", 2)
        + b"\x00\x01"  # iobuf: u32 size + bytes
        + struct.pack("<Iqq", 2, 1, -1)  # vector<i64>: u32 count + elements
        + b"\x00"  # optional: absent
        + b"\x01"
        + struct.pack("<q", 7)  # optional: present + value
        + struct.pack("<III", 2, 9, 8)  # std::array<u32,2>: u32 size + elements
    )
    assert w.getvalue() == expected
    r = SerdeReader(expected)
    assert bytes(r.read_iobuf()) == b"\x00\x01"
    assert r.read_vector(SerdeReader.read_i64) == [1, -1]
    assert r.read_optional(SerdeReader.read_i64) is None
    assert r.read_optional(SerdeReader.read_i64) == 7
    assert r.read_array(2, SerdeReader.read_u32) == [9, 8]
    r.expect_end()


def test_envelope_golden_and_size_backpatch() -> None:
    w = SerdeWriter()
    with w.envelope(2, 1):
        w.write_i64(42)
        with w.envelope(0, 0):
            w.write_u8(9)
    expected = (
        b"\x02\x01"  # version, compat_version
        + struct.pack("<I", 8 + 7)  # body size: i64 + nested envelope (6 + 1)
        + struct.pack("<q", 42)
        + b"\x00\x00"
        + struct.pack("<I", 1)
        + b"\x09"
    )
    assert w.getvalue() == expected
    r = SerdeReader(expected)
    with r.envelope(2, 1) as hdr:
        assert hdr == EnvelopeHeader(version=2, compat_version=1, size=15, body_start=6)
        assert hdr.body_end == 21
        assert r.read_i64() == 42
        with r.envelope(0, 0):
            assert r.read_u8() == 9
            assert r.at_end()
        assert r.remaining() == 0
    r.expect_end()
    assert ENVELOPE_HEADER_SIZE == 6


# -- envelope evolution ------------------------------------------------------------------------------


def _v(version: int, compat: int, body: bytes) -> bytes:
    return struct.pack("<BBI", version, compat, len(body)) + body


def test_older_body_leaves_later_fields_absent() -> None:
    r = SerdeReader(_v(1, 0, struct.pack("<q", 5)))
    with r.envelope(3, 0):
        assert r.read_i64() == 5
        assert r.remaining() == 0  # a v3 reader would default the v2/v3 fields
    r.expect_end()


def test_newer_body_trailing_fields_are_skipped() -> None:
    data = _v(5, 0, struct.pack("<qq", 5, 6)) + b"\x07"
    r = SerdeReader(data)
    with r.envelope(3, 0):
        assert r.read_i64() == 5
        assert r.remaining() == 8  # unknown field of version 5
    assert r.read_u8() == 7
    r.expect_end()


def test_compat_version_newer_than_reader_is_refused() -> None:
    with pytest.raises(SerdeError, match="compat_version=4") as e, SerdeReader(_v(4, 4, b"")).envelope(3, 0):
        pass
    assert e.value.position == 0


def test_version_older_than_reader_compat_is_refused() -> None:
    with pytest.raises(SerdeError, match="version=0"), SerdeReader(_v(0, 0, b"")).envelope(2, 1):
        pass


def test_body_larger_than_data_is_refused() -> None:
    data = struct.pack("<BBI", 0, 0, 100) + b"\x00" * 10
    with pytest.raises(SerdeError, match="100 bytes"), SerdeReader(data).envelope(0, 0):
        pass


def test_truncated_envelope_header() -> None:
    with pytest.raises(SerdeError, match="truncated envelope header"):
        SerdeReader(b"\x00\x00\x01").read_envelope_header(0, 0)


def test_field_may_not_overrun_its_envelope() -> None:
    # body of 4 bytes followed by 4 more bytes: an i64 read inside the body must fail, at body start
    data = _v(0, 0, b"\x01\x02\x03\x04") + b"\x05\x06\x07\x08"
    r = SerdeReader(data)
    with pytest.raises(SerdeError) as e, r.envelope(0, 0):
        r.read_i64()
    assert e.value.position == 6


def test_exception_inside_envelope_restores_limit() -> None:
    data = _v(0, 0, b"\x01") + b"\x02"
    r = SerdeReader(data)
    with pytest.raises(SerdeError), r.envelope(0, 0):
        r.read_u32()
    assert r.remaining() == len(data) - 6  # limit restored to the whole buffer


# -- errors and positions ----------------------------------------------------------------------------


def test_truncated_scalar_reports_position() -> None:
    r = SerdeReader(b"\x00\x00\x00")
    r.read_u8()
    with pytest.raises(SerdeError) as e:
        r.read_u32()
    assert e.value.position == 1
    assert isinstance(e.value, FormatError)


def test_nested_iobuf_reader_reports_absolute_positions() -> None:
    inner = b"\x01\x02"
    data = b"\xaa" + struct.pack("<I", len(inner)) + inner
    r = SerdeReader(data)
    r.read_u8()
    sub = r.read_iobuf_reader()
    assert sub.position == 5
    sub.read_u8()
    with pytest.raises(SerdeError) as e:
        sub.read_u16()
    assert e.value.position == 6


def test_base_position_offsets_every_error() -> None:
    with pytest.raises(SerdeError) as e:
        SerdeReader(b"", base_position=100).read_u8()
    assert e.value.position == 100


def test_expect_end_rejects_trailing_bytes() -> None:
    r = SerdeReader(b"\x00\x01")
    r.read_u8()
    with pytest.raises(SerdeError, match="1 trailing bytes") as e:
        r.expect_end()
    assert e.value.position == 1


def test_invalid_utf8_string() -> None:
    with pytest.raises(SerdeError, match="UTF-8"):
        SerdeReader(struct.pack("<I", 1) + b"\xff").read_string()


def test_array_size_mismatch() -> None:
    with pytest.raises(SerdeError, match="expected 16, got 15"):
        SerdeReader(struct.pack("<I", 15)).read_array(16, SerdeReader.read_i64)


def test_absurd_vector_count_fails_fast() -> None:
    with pytest.raises(SerdeError, match="cannot fit"):
        SerdeReader(struct.pack("<I", 0xFFFFFFFF) + b"\x00" * 8).read_vector(SerdeReader.read_i64)


def test_iobuf_longer_than_data() -> None:
    with pytest.raises(SerdeError, match="iobuf of 9 bytes"):
        SerdeReader(struct.pack("<I", 9) + b"abc").read_iobuf()


def test_read_raw_and_bytes() -> None:
    r = SerdeReader(b"xy" + struct.pack("<I", 1) + b"z")
    assert bytes(r.read_raw(2)) == b"xy"
    assert r.read_bytes() == b"z"
    with pytest.raises(SerdeError):
        r.read_raw(1)


def test_writer_rejects_out_of_range_values() -> None:
    w = SerdeWriter()
    with pytest.raises(ValueError, match="int64"):
        w.write_i64(2**63)
    with pytest.raises(ValueError, match="uint8"):
        w.write_u8(-1)
    with pytest.raises(ValueError, match="serde_size_t"):
        w.write_size(2**32)
    with pytest.raises(ValueError, match="array of size 3"):
        w.write_array(3, [1], SerdeWriter.write_u8)
    with pytest.raises(ValueError, match="u8"), w.envelope(256, 0):
        pass
    w.write_bytes(b"ab")
    w.write_raw(b"c")
    w.write_size(0)
    assert len(w) == 4 + 2 + 1 + 4


# -- properties --------------------------------------------------------------------------------------

record = st.tuples(
    st.text(max_size=20),
    st.lists(I64, max_size=20),
    st.one_of(st.none(), I64),
    st.binary(max_size=40),
    st.booleans(),
    st.integers(0, 255),
)


@given(record, st.integers(0, 255), st.binary(max_size=8))
def test_envelope_round_trip(
    rec: tuple[str, list[int], int | None, bytes, bool, int], version: int, extra: bytes
) -> None:
    text, ints, opt, blob, flag, small = rec
    w = SerdeWriter()
    with w.envelope(version, 0):
        w.write_string(text)
        w.write_vector(ints, SerdeWriter.write_i64)
        w.write_optional(opt, SerdeWriter.write_i64)
        w.write_iobuf(blob)
        w.write_bool(flag)
        w.write_u8(small)
        w.write_raw(extra)  # a newer writer's field, skipped by the reader
    r = SerdeReader(w.getvalue())
    with r.envelope(255, 0) as hdr:
        assert hdr.version == version
        got = (
            r.read_string(),
            r.read_vector(SerdeReader.read_i64),
            r.read_optional(SerdeReader.read_i64),
            bytes(r.read_iobuf()),
            r.read_bool(),
            r.read_u8(),
        )
        assert r.remaining() == len(extra)
    r.expect_end()
    assert got == rec


def _parse_any(data: bytes) -> object:
    r = SerdeReader(data)
    with r.envelope(3, 1):
        out = [r.read_string(), r.read_vector(SerdeReader.read_i64), r.read_optional(SerdeReader.read_u16)]
        if r.remaining():
            with r.envelope(0, 0):
                out.append(r.read_array(2, SerdeReader.read_i32))
    r.expect_end()
    return out


@settings(max_examples=examples(500))
@given(st.binary(max_size=80))
def test_arbitrary_bytes_decode_or_serde_error(data: bytes) -> None:
    try:
        _parse_any(data)
    except SerdeError as e:
        assert e.position is not None
        assert 0 <= e.position <= len(data)
