"""Redpanda ``serde`` primitives: a bounds-checked reader and a writer over plain bytes.

Theory of operation (``src/v/serde/rw/*.h``, ``src/v/serde/read_header.h``,
``src/v/serde/rw/envelope.h``; second reading ``tools/offline_log_viewer/reader.py``)::

    scalar      intN/uintN/float/double, little-endian, no padding      (rw/scalar.h)
    bool        1 byte, written as int8 0/1, read as "byte != 0"         (rw/scalar.h)
    enum        int32 (serde_enum_serialized_t)                          (rw/enum.h)
    named_type  the underlying scalar (model::offset = i64, ...)         (rw/named_type.h)
    sstring     u32 length | bytes                                       (rw/sstring.h)
    bytes/iobuf u32 length | bytes                                       (rw/bytes.h, rw/iobuf.h)
    vector<T>   u32 count  | T...                                        (rw/vector.h)
    array<T,N>  u32 count (must equal N) | T...                          (rw/array.h)
    optional<T> bool present | [T]                                       (rw/optional.h)

    envelope    +---------+----------------+----------+----------------------+
                | version | compat_version | size u32 | body: fields in order |
                |   u8    |      u8        |  (LE)    |  (size bytes)         |
                +---------+----------------+----------+----------------------+

``serde_size_t`` is ``uint32_t`` in production builds (``serde_size_t.h``; 16-bit only under SERDE_TEST).

Envelope evolution rules, as ``read_header`` and ``tag_invoke(read_tag, envelope)`` apply them:

* the reader knows its own ``version``/``compat_version``; it refuses an envelope whose
  ``compat_version`` is newer than the reader's ``version``, or whose ``version`` is older than the
  reader's ``compat_version``;
* fields are read in order **while bytes remain in the body**: a body that ends early (an older
  writer) leaves the later fields at their defaults — callers check :meth:`SerdeReader.remaining`;
* bytes left in the body after the last known field (a newer writer's fields) are skipped.

One deliberate strictness: Redpanda bounds a field inside an envelope by the *enclosing* limit and only
notices a field that ran past the envelope end when it is about to read the next field (so the last field
of a body could overrun it unnoticed). Here every read inside an envelope is bounded by that envelope's
end, so such a body is rejected with :class:`~segment_format.errors.SerdeError` at the offending field.

The checksummed envelope variant (``checksum_envelope``: an extra u32 crc32c after ``size``) is not used
by any format this package decodes and is not implemented.

:func:`read_fields_envelope` / :func:`write_fields_envelope` apply those rules to a table of
``serde_fields()`` members and record, in an :class:`EnvelopeInfo`, what a byte-exact re-encoding needs:
the envelope's version and compat_version, how many known fields the body held, and the unknown bytes
after them.

All errors are :class:`~segment_format.errors.SerdeError` carrying the absolute byte ``position``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from segment_format.errors import SerdeError

__all__ = [
    "ENVELOPE_HEADER_SIZE",
    "MAX_SERDE_SIZE",
    "EnvelopeHeader",
    "EnvelopeInfo",
    "FieldSpec",
    "SerdeReader",
    "SerdeWriter",
    "read_fields_envelope",
    "write_fields_envelope",
]

T = TypeVar("T")

ENVELOPE_HEADER_SIZE = 6
"""version u8 + compat_version u8 + size u32 (``serde::envelope_header_size``)."""

MAX_SERDE_SIZE = 0xFFFF_FFFF
"""Largest length/count a ``serde_size_t`` (u32) can carry."""

_I8 = struct.Struct("<b")
_U8 = struct.Struct("<B")
_I16 = struct.Struct("<h")
_U16 = struct.Struct("<H")
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")
_ENVELOPE = struct.Struct("<BBI")


@dataclass(frozen=True, slots=True)
class EnvelopeHeader:
    """An envelope's header as read, and the absolute span of its body."""

    version: int
    compat_version: int
    size: int
    body_start: int
    """Absolute position of the first body byte."""

    @property
    def body_end(self) -> int:
        """Absolute position one past the last body byte."""
        return self.body_start + self.size


class SerdeReader:
    """Sequential serde reader over ``bytes``/``memoryview``, never reading past its current limit.

    Positions are absolute: ``base_position`` is added so that a reader over an embedded iobuf reports
    positions within the outer object.
    """

    __slots__ = ("_base", "_buf", "_limit", "_pos")

    def __init__(self, data: bytes | bytearray | memoryview, *, base_position: int = 0) -> None:
        self._buf = memoryview(data).cast("B")
        self._base = base_position
        self._pos = 0
        self._limit = len(self._buf)

    # -- position bookkeeping ------------------------------------------------------------------------
    @property
    def position(self) -> int:
        """Absolute position of the next byte to read."""
        return self._base + self._pos

    def remaining(self) -> int:
        """Bytes left before the current limit (the innermost open envelope's end, or the data's end)."""
        return self._limit - self._pos

    def at_end(self) -> bool:
        """True when nothing is left before the current limit."""
        return self._pos >= self._limit

    def expect_end(self, what: str = "object") -> None:
        """Raise unless every byte was consumed (``serde::read`` rejects trailing bytes)."""
        if self._pos != len(self._buf):
            raise SerdeError(
                f"{len(self._buf) - self._pos} trailing bytes after {what}", position=self.position
            )

    def _take(self, n: int, what: str) -> memoryview:
        if n < 0 or self._limit - self._pos < n:
            raise SerdeError(
                f"reading {what} of {n} bytes: only {self._limit - self._pos} bytes left",
                position=self.position,
            )
        start = self._pos
        self._pos += n
        return self._buf[start : self._pos]

    def _unpack(self, st: struct.Struct, what: str) -> int:
        value: int = st.unpack(self._take(st.size, what))[0]
        return value

    # -- scalars -------------------------------------------------------------------------------------
    def read_i8(self) -> int:
        return self._unpack(_I8, "int8")

    def read_u8(self) -> int:
        return self._unpack(_U8, "uint8")

    def read_i16(self) -> int:
        return self._unpack(_I16, "int16")

    def read_u16(self) -> int:
        return self._unpack(_U16, "uint16")

    def read_i32(self) -> int:
        return self._unpack(_I32, "int32")

    def read_u32(self) -> int:
        return self._unpack(_U32, "uint32")

    def read_i64(self) -> int:
        return self._unpack(_I64, "int64")

    def read_u64(self) -> int:
        return self._unpack(_U64, "uint64")

    def read_f64(self) -> float:
        value: float = _F64.unpack(self._take(8, "double"))[0]
        return value

    def read_bool(self) -> bool:
        """One byte; any non-zero value is true, as ``serde`` reads it."""
        return self.read_i8() != 0

    def read_enum(self) -> int:
        """An enum value: serialized as int32 whatever its underlying type."""
        return self._unpack(_I32, "enum (int32)")

    # -- sized blobs ---------------------------------------------------------------------------------
    def read_raw(self, n: int) -> memoryview:
        """``n`` bytes without a length prefix (a view, not a copy)."""
        return self._take(n, "raw bytes")

    def read_size(self, what: str = "length") -> int:
        """A ``serde_size_t`` (u32) length or count."""
        return self._unpack(_U32, what)

    def read_iobuf(self) -> memoryview:
        """u32 length + that many bytes (a view, not a copy)."""
        start = self.position
        n = self.read_size("iobuf length")
        if n > self.remaining():
            raise SerdeError(f"iobuf of {n} bytes but only {self.remaining()} left", position=start)
        return self._take(n, "iobuf")

    def read_bytes(self) -> bytes:
        """``bytes``: u32 length + that many bytes (a copy)."""
        return bytes(self.read_iobuf())

    def read_iobuf_reader(self) -> SerdeReader:
        """Read an iobuf and return a reader over it that reports positions within this object."""
        n_pos = self.position + 4
        view = self.read_iobuf()
        return SerdeReader(view, base_position=n_pos)

    def read_string(self) -> str:
        """``sstring``: u32 length + UTF-8 bytes."""
        start = self.position
        raw = self.read_iobuf()
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as exc:
            raise SerdeError(f"string is not valid UTF-8: {exc.reason}", position=start) from None

    # -- containers ----------------------------------------------------------------------------------
    def read_vector(self, read_elem: Callable[[SerdeReader], T]) -> list[T]:
        """u32 count then ``count`` elements read by ``read_elem`` (each must consume at least one byte)."""
        count = self.read_size("vector count")
        # every element takes at least one byte: reject absurd counts before looping
        if count > self.remaining():
            raise SerdeError(
                f"vector of {count} elements cannot fit in {self.remaining()} bytes",
                position=self.position - 4,
            )
        return [read_elem(self) for _ in range(count)]

    def read_array(self, size: int, read_elem: Callable[[SerdeReader], T]) -> list[T]:
        """``std::array<T, size>``: u32 count that must equal ``size``, then the elements."""
        start = self.position
        count = self.read_size("array size")
        if count != size:
            raise SerdeError(f"array size mismatch: expected {size}, got {count}", position=start)
        return [read_elem(self) for _ in range(size)]

    def read_optional(self, read_elem: Callable[[SerdeReader], T]) -> T | None:
        """bool present flag, then the value if present."""
        return read_elem(self) if self.read_bool() else None

    # -- envelopes -----------------------------------------------------------------------------------
    def read_envelope_header(
        self, version: int, compat_version: int, what: str = "envelope"
    ) -> EnvelopeHeader:
        """Read and validate a header against the reader's own ``version``/``compat_version``."""
        start = self.position
        if self.remaining() < ENVELOPE_HEADER_SIZE:
            raise SerdeError(f"{what}: truncated envelope header", position=start)
        v, cv, size = _ENVELOPE.unpack(self._take(ENVELOPE_HEADER_SIZE, "envelope header"))
        if size > self.remaining():
            raise SerdeError(
                f"{what}: envelope body of {size} bytes but only {self.remaining()} left", position=start
            )
        if cv > version:
            raise SerdeError(
                f"{what}: compat_version={cv} > reader version={version} (written by a newer, "
                "incompatible format)",
                position=start,
            )
        if v < compat_version:
            raise SerdeError(
                f"{what}: version={v} < reader compat_version={compat_version} (too old to read)",
                position=start,
            )
        return EnvelopeHeader(version=v, compat_version=cv, size=size, body_start=self.position)

    @contextmanager
    def envelope(self, version: int, compat_version: int, what: str = "envelope") -> Iterator[EnvelopeHeader]:
        """Read an envelope header and bound all reads inside the ``with`` block to its body.

        On a normal exit any unread body bytes (fields of a newer version) are skipped.
        """
        hdr = self.read_envelope_header(version, compat_version, what)
        saved_limit = self._limit
        self._limit = hdr.body_end - self._base
        try:
            yield hdr
        finally:
            self._limit = saved_limit
        self._pos = hdr.body_end - self._base


class SerdeWriter:
    """Append-only serde writer producing exactly the bytes ``serde::write`` does."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def getvalue(self) -> bytes:
        return bytes(self._buf)

    def __len__(self) -> int:
        return len(self._buf)

    def _pack(self, st: struct.Struct, value: int, what: str) -> None:
        try:
            self._buf += st.pack(value)
        except struct.error:
            raise ValueError(f"{value!r} does not fit in {what}") from None

    def write_i8(self, value: int) -> None:
        self._pack(_I8, value, "int8")

    def write_u8(self, value: int) -> None:
        self._pack(_U8, value, "uint8")

    def write_i16(self, value: int) -> None:
        self._pack(_I16, value, "int16")

    def write_u16(self, value: int) -> None:
        self._pack(_U16, value, "uint16")

    def write_i32(self, value: int) -> None:
        self._pack(_I32, value, "int32")

    def write_u32(self, value: int) -> None:
        self._pack(_U32, value, "uint32")

    def write_i64(self, value: int) -> None:
        self._pack(_I64, value, "int64")

    def write_u64(self, value: int) -> None:
        self._pack(_U64, value, "uint64")

    def write_f64(self, value: float) -> None:
        self._buf += _F64.pack(value)

    def write_bool(self, value: bool) -> None:
        self._buf.append(1 if value else 0)

    def write_enum(self, value: int) -> None:
        self._pack(_I32, value, "enum (int32)")

    def write_size(self, value: int) -> None:
        if not 0 <= value <= MAX_SERDE_SIZE:
            raise ValueError(f"size {value} exceeds serde_size_t (u32)")
        self._buf += _U32.pack(value)

    def write_raw(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    def write_iobuf(self, data: bytes | bytearray | memoryview) -> None:
        self.write_size(len(data))
        self._buf += data

    write_bytes = write_iobuf

    def write_string(self, value: str) -> None:
        self.write_iobuf(value.encode("utf-8"))

    def write_vector(self, items: Iterable[T], write_elem: Callable[[SerdeWriter, T], None]) -> None:
        seq = list(items)
        self.write_size(len(seq))
        for item in seq:
            write_elem(self, item)

    def write_array(
        self, size: int, items: Iterable[T], write_elem: Callable[[SerdeWriter, T], None]
    ) -> None:
        seq = list(items)
        if len(seq) != size:
            raise ValueError(f"array of size {size} given {len(seq)} elements")
        self.write_vector(seq, write_elem)

    def write_optional(self, value: T | None, write_elem: Callable[[SerdeWriter, T], None]) -> None:
        if value is None:
            self.write_bool(False)
        else:
            self.write_bool(True)
            write_elem(self, value)

    @contextmanager
    def envelope(self, version: int, compat_version: int) -> Iterator[None]:
        """Write an envelope header and back-patch its size when the ``with`` block ends."""
        if not (0 <= version <= 0xFF and 0 <= compat_version <= 0xFF):
            raise ValueError("envelope version and compat_version are u8")
        header_at = len(self._buf)
        self._buf += _ENVELOPE.pack(version, compat_version, 0)
        yield
        size = len(self._buf) - header_at - ENVELOPE_HEADER_SIZE
        if size > MAX_SERDE_SIZE:
            raise ValueError("envelope too big")
        _U32.pack_into(self._buf, header_at + 2, size)


# ---------------------------------------------------------------------------------------------------
# serde_fields() envelopes with their evolution kept


@dataclass(frozen=True, slots=True)
class EnvelopeInfo:
    """How an envelope was written, kept only when it differs from what current Redpanda writes."""

    version: int
    compat_version: int
    fields_present: int
    """How many of the known fields the body held (an older writer stops early)."""
    unknown_trailer: bytes = b""
    """Body bytes after the known fields: a newer writer's fields, re-emitted unchanged."""


FieldSpec = tuple[str, Callable[[SerdeReader], Any], Callable[[SerdeWriter, Any], None]]
"""One ``serde_fields()`` member: attribute name, reader, writer."""


class _Enveloped(Protocol):
    VERSION: ClassVar[int]
    COMPAT_VERSION: ClassVar[int]

    @property
    def envelope(self) -> EnvelopeInfo | None: ...


def read_fields_envelope(r: SerdeReader, cls: Any, fields: Sequence[FieldSpec], what: str) -> Any:
    """Read a ``serde_fields()`` envelope into ``cls(**values, envelope=...)``.

    Fields are read while the body has bytes (absent ones keep ``cls``'s defaults, which must be the C++
    defaults); bytes after the last known field are kept. ``envelope`` is None when the object was
    written exactly as ``cls.VERSION``/``cls.COMPAT_VERSION`` with every field and nothing more.
    """
    values: dict[str, Any] = {}
    with r.envelope(cls.VERSION, cls.COMPAT_VERSION, what) as hdr:
        present = 0
        for name, read, _ in fields:
            if not r.remaining():
                break
            values[name] = read(r)
            present += 1
        trailer = bytes(r.read_raw(r.remaining()))
    info = EnvelopeInfo(hdr.version, hdr.compat_version, present, trailer)
    if info == EnvelopeInfo(cls.VERSION, cls.COMPAT_VERSION, len(fields)):
        return cls(**values)
    return cls(**values, envelope=info)


def write_fields_envelope(w: SerdeWriter, obj: _Enveloped, fields: Sequence[FieldSpec]) -> None:
    """Write ``obj`` as :func:`read_fields_envelope` read it (its ``envelope``, or the current form)."""
    info = obj.envelope or EnvelopeInfo(obj.VERSION, obj.COMPAT_VERSION, len(fields))
    name = type(obj).__name__
    if not 0 <= info.fields_present <= len(fields):
        raise ValueError(f"{name}: fields_present must be 0..{len(fields)}")
    if info.unknown_trailer and info.fields_present != len(fields):
        raise ValueError(f"{name}: unknown trailing fields can only follow all known fields")
    with w.envelope(info.version, info.compat_version):
        for attr, _, write in fields[: info.fields_present]:
            write(w, getattr(obj, attr))
        w.write_raw(info.unknown_trailer)
