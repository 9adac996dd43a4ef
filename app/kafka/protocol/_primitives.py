"""Kafka primitive types: a bounds-checked reader over a buffer, and append-only writers.

Theory of operation
-------------------
All Kafka integers are big-endian two's complement. Classic (non-flexible) variable-size values use
fixed-width length prefixes: STRING is ``int16 len`` + UTF-8 (``-1`` = null), BYTES is ``int32 len``
(``-1`` = null), ARRAY is ``int32 count`` (``-1`` = null). Flexible versions (KIP-482) use the
*compact* forms: ``uvarint(len + 1)`` with ``0`` = null, and end every struct with a tagged-field
section ``uvarint count, (uvarint tag, uvarint size, bytes)*``.

:class:`Reader` never copies: :meth:`Reader.take` returns a ``memoryview`` slice of the input.
Every read checks bounds first and raises :class:`MalformedRequest` with the byte position, so a
hostile length can neither read past the buffer nor make us allocate more than the buffer holds.

Writers append to a ``bytearray``; they raise :class:`LocalProtocolError` for values the wire
cannot carry (a too-long string, an out-of-range integer).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, TypeAlias

from .errors import LocalProtocolError, MalformedRequest

Buffer: TypeAlias = bytes | bytearray | memoryview
"""A bytes-like object; what decoders accept and what the Fetch encoder returns pieces of."""

INT8 = struct.Struct(">b")
INT16 = struct.Struct(">h")
INT32 = struct.Struct(">i")
INT64 = struct.Struct(">q")
UINT16 = struct.Struct(">H")

_MAX_UVARINT_BYTES = 5  # a uvarint carries at most 32 bits (Kafka's ByteUtils.readUnsignedVarint)


def nbytes(buffer: Buffer) -> int:
    """The size in bytes of a bytes-like object (``len`` counts items for non-byte memoryviews)."""
    return buffer.nbytes if isinstance(buffer, memoryview) else len(buffer)


def as_byte_view(data: Buffer) -> memoryview:
    """A flat unsigned-byte view of ``data`` without copying it."""
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def _int_reader(codec: struct.Struct, what: str) -> Callable[[Reader], int]:
    """A ``Reader`` method reading one big-endian integer of ``codec``."""

    def read(self: Reader) -> int:
        return self._int(codec, what)

    read.__name__ = what
    return read


class Reader:
    """A cursor over a byte buffer. ``pos`` is public: callers may record it for error positions."""

    __slots__ = ("_end", "_view", "pos")

    def __init__(self, data: Buffer, pos: int = 0) -> None:
        self._view = as_byte_view(data)
        self._end = len(self._view)
        self.pos = pos

    @property
    def remaining(self) -> int:
        return self._end - self.pos

    def fail(self, message: str) -> MalformedRequest:
        """An error for the current position (the caller raises it)."""
        return MalformedRequest(message, position=self.pos)

    def _need(self, n: int, what: str) -> int:
        if n > self._end - self.pos:
            raise self.fail(f"truncated {what}: need {n} bytes, have {self._end - self.pos}")
        start = self.pos
        self.pos = start + n
        return start

    def _int(self, codec: struct.Struct, what: str) -> int:
        value: int = codec.unpack_from(self._view, self._need(codec.size, what))[0]
        return value

    int8 = _int_reader(INT8, "int8")
    int16 = _int_reader(INT16, "int16")
    int32 = _int_reader(INT32, "int32")
    int64 = _int_reader(INT64, "int64")

    def unpack(self, fmt: struct.Struct) -> tuple[Any, ...]:
        """Several fixed-width fields at once."""
        return fmt.unpack_from(self._view, self._need(fmt.size, "fixed-size fields"))

    def boolean(self) -> bool:
        return self._view[self._need(1, "boolean")] != 0

    def uvarint(self) -> int:
        """An unsigned LEB128 varint of at most 32 bits."""
        value = 0
        for i in range(_MAX_UVARINT_BYTES):
            byte = self._view[self._need(1, "varint")]
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if value > 0xFFFFFFFF:
                    raise self.fail("varint does not fit 32 bits")
                return value
        raise self.fail("varint longer than 5 bytes")

    def take(self, n: int, what: str = "bytes") -> memoryview:
        """The next ``n`` bytes as a zero-copy view."""
        start = self._need(n, what)
        return self._view[start : start + n]

    def skip(self, n: int, what: str = "bytes") -> None:
        self._need(n, what)

    # -- lengths -----------------------------------------------------------------------------------

    def length(self, *, compact: bool, wide: bool, nullable: bool, what: str) -> int | None:
        """A length or count prefix: ``int16`` (strings) or ``int32`` (bytes, arrays), or a compact
        ``uvarint(n + 1)``. Returns None for null; raises for null where ``nullable`` is False and
        for any other negative value."""
        at = self.pos
        n = self.uvarint() - 1 if compact else (self.int32() if wide else self.int16())
        if n == -1:
            if not nullable:
                raise MalformedRequest(f"null {what} where the version does not allow null", position=at)
            return None
        if n < 0:
            raise MalformedRequest(f"negative {what} length {n}", position=at)
        return n

    def string(self, *, compact: bool, nullable: bool) -> str | None:
        n = self.length(compact=compact, wide=False, nullable=nullable, what="string")
        if n is None:
            return None
        at = self.pos
        raw = self.take(n, "string")
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedRequest(f"string is not valid UTF-8: {exc.reason}", position=at) from None

    def tagged_fields(self) -> None:
        """Skip a tagged-field section. This codec defines no tagged fields in the versions it
        serves, so every tag is unknown and skipped, as the spec requires of readers."""
        count = self.uvarint()
        if count > self.remaining:
            raise self.fail(f"tagged field count {count} exceeds the remaining {self.remaining} bytes")
        for _ in range(count):
            self.uvarint()  # tag
            self.skip(self.uvarint(), "tagged field")


# -- writers -------------------------------------------------------------------------------------------


def write_uvarint(out: bytearray, value: int) -> None:
    if not 0 <= value <= 0xFFFFFFFF:
        raise LocalProtocolError(f"uvarint {value} out of range")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def write_length(out: bytearray, n: int | None, *, compact: bool, wide: bool) -> None:
    """The counterpart of :meth:`Reader.length`; ``None`` writes null."""
    if compact:
        write_uvarint(out, 0 if n is None else n + 1)
        return
    value = -1 if n is None else n
    limit = 0x7FFFFFFF if wide else 0x7FFF
    if value > limit:
        raise LocalProtocolError(f"length {value} exceeds the {'int32' if wide else 'int16'} prefix")
    out += (INT32 if wide else INT16).pack(value)


def write_string(out: bytearray, value: str | None, *, compact: bool) -> None:
    if value is None:
        write_length(out, None, compact=compact, wide=False)
        return
    raw = value.encode("utf-8")
    write_length(out, len(raw), compact=compact, wide=False)
    out += raw


def write_bytes(out: bytearray, value: Buffer | None, *, compact: bool) -> None:
    if value is None:
        write_length(out, None, compact=compact, wide=True)
        return
    write_length(out, nbytes(value), compact=compact, wide=True)
    out += value


def write_empty_tagged_fields(out: bytearray) -> None:
    out.append(0)


def pack(fmt: struct.Struct, value: int) -> bytes:
    """``fmt.pack(value)``, turning an out-of-range or non-integer value into LocalProtocolError."""
    try:
        return fmt.pack(value)
    except struct.error as exc:
        raise LocalProtocolError(f"cannot encode {value!r} as {fmt.format}: {exc}") from None
