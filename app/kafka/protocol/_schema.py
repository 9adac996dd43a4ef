"""Declarative message schemas: a message is a dataclass whose annotations are its wire layout.

Theory of operation
-------------------
A message is declared once, as a :func:`message` dataclass, field by field in wire order, each
annotation naming its wire type and, where it differs from "every version, never null", the
versions it exists in, the way Apache Kafka's JSON message specs do (``"versions": "4+"``,
``"nullableVersions": "1+"``)::

    @message
    class MetadataRequestTopic:
        name: String

    @message
    class MetadataRequest:
        topics: Annotated[tuple[MetadataRequestTopic, ...] | None, Versions(nullable_since=1, empty_is_null_until=0)]
        allow_auto_topic_creation: Annotated[Bool, Versions(since=4)] = True

:func:`struct_of` reads the annotations once, on first use, into a :class:`Struct`: ``Int8`` ..
``Uuid`` are the scalar types (``int``, ``str``, ``bytes`` to the type checker), ``tuple[X, ...]``
and ``Sequence[X]`` are arrays, another message class is a nested struct.

Rules:

1. A field is on the wire for ``since <= version <= until``. Outside that range the decoder leaves
   the dataclass default in place and the encoder skips the attribute (whatever its value).
2. A field typed ``X | None`` is nullable for ``nullable_since <= version <= nullable_until``
   (from version 0 unless :class:`Versions` says otherwise); any other field never is. Decoding null
   where it may not be is a :class:`MalformedRequest`; encoding ``None`` there is a
   :class:`LocalProtocolError`.
3. ``empty_is_null_until=v``: up to version ``v`` an empty array *means* null (Metadata v0's "all
   topics"); the decoder hands out ``None`` and the encoder writes ``None`` as an empty array, so
   callers see one meaning in every version and encode(decode(x)) == x still holds.
4. ``flexible`` (decided per API and version by the caller) switches every length to its compact
   form and ends every struct with a tagged-field section: unknown tags are skipped on read, an
   empty section is written. No field in the versions this package serves is tagged.
5. Arrays are decoded to tuples, strings to ``str``, BYTES to ``bytes``, RECORDS to a zero-copy
   ``memoryview`` of the frame. A count is checked against the bytes left before anything is
   allocated (each element needs at least :meth:`FieldType.min_size` bytes).
6. A dataclass ``__post_init__`` that raises ``ValueError`` on a decoded value turns into
   :class:`MalformedRequest`: a value the peer sent that our types reject is the peer's fault.
7. Reads are compiled once per version: each run of fixed-width fields (ints, booleans) becomes a
   single ``struct.Struct`` unpack with one bounds check.

Field names are written once, so a table cannot disagree with its class; an annotation that names
no wire type is a ``TypeError`` when the struct is first used (a test builds every struct).
"""

from __future__ import annotations

import dataclasses
import struct
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeAlias, TypeVar, dataclass_transform, get_args, get_origin

from . import _primitives as p
from ._primitives import (
    Buffer,
    Reader,
    pack,
    write_bytes,
    write_empty_tagged_fields,
    write_length,
    write_string,
)
from .errors import LocalProtocolError, MalformedRequest

T = TypeVar("T")

MAX_VERSION = 0x7FFF
"""``until`` for a field that exists in every later version (Kafka's ``"versions": "N+"``)."""


class FieldType(Generic[T]):
    """How one wire type reads and writes. ``nullable`` is decided per field and version."""

    can_be_null = False
    fixed_format: str | None = None  # struct code of a fixed-width type, merged into runs on read

    def read(self, r: Reader, version: int, flexible: bool, nullable: bool) -> T | None:
        raise NotImplementedError

    def write(self, out: bytearray, value: T | None, version: int, flexible: bool) -> None:
        raise NotImplementedError

    def min_size(self, version: int, flexible: bool) -> int:
        """The fewest bytes one value can occupy; bounds array counts against the bytes left."""
        return 1


class _Int(FieldType[int]):
    def __init__(self, fmt: struct.Struct, reader: Callable[[Reader], int]) -> None:
        self._fmt = fmt
        self._reader = reader
        self.fixed_format = fmt.format.lstrip(">")

    def read(self, r: Reader, version: int, flexible: bool, nullable: bool) -> int:
        return self._reader(r)

    def write(self, out: bytearray, value: int | None, version: int, flexible: bool) -> None:
        if value is None or isinstance(value, bool) or not isinstance(value, int):
            raise LocalProtocolError(f"expected an int, got {value!r}")
        out += pack(self._fmt, value)

    def min_size(self, version: int, flexible: bool) -> int:
        return self._fmt.size


class _Bool(FieldType[bool]):
    fixed_format = "?"  # any non-zero byte is true, as in Kafka's readByte() != 0

    def read(self, r: Reader, version: int, flexible: bool, nullable: bool) -> bool:
        return r.boolean()

    def write(self, out: bytearray, value: bool | None, version: int, flexible: bool) -> None:
        if not isinstance(value, bool):
            raise LocalProtocolError(f"expected a bool, got {value!r}")
        out.append(1 if value else 0)


class _String(FieldType[str]):
    can_be_null = True

    def read(self, r: Reader, version: int, flexible: bool, nullable: bool) -> str | None:
        return r.string(compact=flexible, nullable=nullable)

    def write(self, out: bytearray, value: str | None, version: int, flexible: bool) -> None:
        if value is not None and not isinstance(value, str):
            raise LocalProtocolError(f"expected a str, got {value!r}")
        write_string(out, value, compact=flexible)

    def min_size(self, version: int, flexible: bool) -> int:
        return 1 if flexible else 2


class _Blob(FieldType[T]):
    """A length-prefixed blob (BYTES, RECORDS): any bytes-like value writes; reading is the subclass's."""

    can_be_null = True
    what = "bytes"

    def _view(self, r: Reader, flexible: bool, nullable: bool) -> memoryview | None:
        n = r.length(compact=flexible, wide=True, nullable=nullable, what=self.what)
        return None if n is None else r.take(n, self.what)

    def write(self, out: bytearray, value: T | None, version: int, flexible: bool) -> None:
        if value is not None and not isinstance(value, bytes | bytearray | memoryview):
            raise LocalProtocolError(f"expected a bytes-like object, got {type(value).__name__}")
        write_bytes(out, value, compact=flexible)

    def min_size(self, version: int, flexible: bool) -> int:
        return 1 if flexible else 4


class _Bytes(_Blob[bytes]):
    """BYTES: small opaque blobs (group metadata, assignments, SASL tokens), copied out as bytes."""

    def read(self, r: Reader, version: int, flexible: bool, nullable: bool) -> bytes | None:
        view = self._view(r, flexible, nullable)
        return None if view is None else bytes(view)


class _Records(_Blob[memoryview]):
    """RECORDS: a record-batch blob, handed out as a zero-copy view of the request frame."""

    what = "records"

    def read(self, r: Reader, version: int, flexible: bool, nullable: bool) -> memoryview | None:
        return self._view(r, flexible, nullable)


class _Uuid(FieldType[bytes]):
    """UUID: 16 raw bytes (topic ids; the shim has none and sends :data:`ZERO_UUID`, as Kafka does)."""

    fixed_format = "16s"

    def read(self, r: Reader, version: int, flexible: bool, nullable: bool) -> bytes:
        return bytes(r.unpack(_UUID)[0])

    def write(self, out: bytearray, value: bytes | None, version: int, flexible: bool) -> None:
        if not isinstance(value, bytes) or len(value) != 16:
            raise LocalProtocolError(f"expected 16 bytes of UUID, got {value!r}")
        out += value

    def min_size(self, version: int, flexible: bool) -> int:
        return 16


_UUID = struct.Struct(">16s")
ZERO_UUID = bytes(16)

INT8: FieldType[int] = _Int(p.INT8, Reader.int8)
INT16: FieldType[int] = _Int(p.INT16, Reader.int16)
INT32: FieldType[int] = _Int(p.INT32, Reader.int32)
INT64: FieldType[int] = _Int(p.INT64, Reader.int64)
BOOL: FieldType[bool] = _Bool()
STRING: FieldType[str] = _String()
BYTES: FieldType[bytes] = _Bytes()
RECORDS: FieldType[memoryview] = _Records()
UUID: FieldType[bytes] = _Uuid()

# The scalar types as annotations: the type checker sees the Python type, struct_of the wire type.
Int8: TypeAlias = Annotated[int, INT8]
Int16: TypeAlias = Annotated[int, INT16]
Int32: TypeAlias = Annotated[int, INT32]
Int64: TypeAlias = Annotated[int, INT64]
Bool: TypeAlias = Annotated[bool, BOOL]
String: TypeAlias = Annotated[str, STRING]
Bytes: TypeAlias = Annotated[bytes, BYTES]
Records: TypeAlias = Annotated[memoryview, RECORDS]
Uuid: TypeAlias = Annotated[bytes, UUID]


class Array(FieldType[tuple[T, ...]]):
    """ARRAY of one element type, decoded to a tuple (any sequence encodes)."""

    can_be_null = True

    def __init__(self, element: FieldType[T]) -> None:
        self.element = element

    def read(self, r: Reader, version: int, flexible: bool, nullable: bool) -> tuple[T, ...] | None:
        at = r.pos
        count = r.length(compact=flexible, wide=True, nullable=nullable, what="array")
        if count is None:
            return None
        if count * self.element.min_size(version, flexible) > r.remaining:
            raise MalformedRequest(f"array count {count} exceeds the remaining {r.remaining} bytes", position=at)
        element = self.element
        items = []
        for _ in range(count):
            item = element.read(r, version, flexible, False)
            items.append(item)
        return tuple(items)  # type: ignore[arg-type]  # elements are never null (nullable=False)

    def write(self, out: bytearray, value: Sequence[T] | None, version: int, flexible: bool) -> None:
        if value is None:
            write_length(out, None, compact=flexible, wide=True)
            return
        if isinstance(value, str | bytes | bytearray | memoryview) or not isinstance(value, Sequence):
            raise LocalProtocolError(f"expected a sequence, got {type(value).__name__}")
        write_length(out, len(value), compact=flexible, wide=True)
        for item in value:
            self.element.write(out, item, version, flexible)

    def min_size(self, version: int, flexible: bool) -> int:
        return 1 if flexible else 4


@dataclass(frozen=True, slots=True)
class Field:
    """One wire field: attribute ``name``, ``type``, and the versions it exists and may be null in."""

    name: str
    type: FieldType[Any]
    since: int = 0
    until: int = MAX_VERSION
    nullable_since: int | None = None
    nullable_until: int = MAX_VERSION
    empty_is_null_until: int | None = None

    def __post_init__(self) -> None:
        if self.nullable_since is not None and not self.type.can_be_null:
            raise TypeError(f"field {self.name}: {type(self.type).__name__} cannot be nullable")
        if self.empty_is_null_until is not None and not isinstance(self.type, Array):
            raise TypeError(f"field {self.name}: empty_is_null_until only applies to arrays")

    def present(self, version: int) -> bool:
        return self.since <= version <= self.until

    def nullable(self, version: int) -> bool:
        return self.nullable_since is not None and self.nullable_since <= version <= self.nullable_until

    def empty_is_null(self, version: int) -> bool:
        return self.empty_is_null_until is not None and version <= self.empty_is_null_until


@dataclass(frozen=True, slots=True)
class Versions:
    """The versions a field is on the wire and nullable in, where that is not "all of them" (an
    annotation's metadata: ``Annotated[Bool, Versions(since=4)]``). Nullability also needs the type
    to admit ``None``."""

    since: int = 0
    until: int = MAX_VERSION
    nullable_since: int = 0
    nullable_until: int = MAX_VERSION
    empty_is_null_until: int | None = None


_M = TypeVar("_M")


@dataclass_transform(kw_only_default=True, frozen_default=True)
def message(cls: type[_M]) -> type[_M]:
    """Declare a message struct: a frozen, slotted, keyword-only dataclass whose annotations, in
    order, are its wire fields (see the module docstring)."""
    return dataclass(frozen=True, slots=True, kw_only=True)(cls)


def struct_of(cls: type[T]) -> Struct[T]:
    """The one :class:`Struct` of a message class; its fields are read from the annotations on first use."""
    found = _STRUCTS.get(cls)
    if found is None:
        found = _STRUCTS[cls] = Struct(cls)
    return found


def _wire_fields(cls: type[Any]) -> tuple[Field, ...]:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = []
    for attribute in dataclasses.fields(cls):
        wire, versions, optional = _wire_type(hints[attribute.name])
        if wire is None:
            raise TypeError(f"{cls.__name__}.{attribute.name}: {hints[attribute.name]!r} names no wire type")
        v = versions or Versions()
        fields.append(Field(
            attribute.name,
            wire,
            since=v.since,
            until=v.until,
            nullable_since=v.nullable_since if optional else None,
            nullable_until=v.nullable_until,
            empty_is_null_until=v.empty_is_null_until,
        ))
    return tuple(fields)


def _wire_type(hint: Any) -> tuple[FieldType[Any] | None, Versions | None, bool]:
    """(wire type, version marker, whether the type admits None) of one annotation."""
    wire: FieldType[Any] | None = None
    versions: Versions | None = None
    optional = False
    while True:
        if get_origin(hint) is Annotated:
            hint, *metadata = get_args(hint)
            for item in metadata:
                if isinstance(item, FieldType):
                    wire = item
                elif isinstance(item, Versions):
                    versions = item
        elif get_origin(hint) in (typing.Union, types.UnionType) and type(None) in get_args(hint):
            optional = True
            (hint,) = (arg for arg in get_args(hint) if arg is not type(None))
        else:
            break
    if wire is None:
        if get_origin(hint) in (tuple, Sequence):
            element = _wire_type(get_args(hint)[0])[0]
            wire = None if element is None else Array(element)
        elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
            wire = struct_of(hint)
    return wire, versions, optional


@dataclass(frozen=True, slots=True)
class _Step:
    """One step of a compiled read: a run of fixed-width fields, or one variable-size field."""

    names: tuple[str, ...]
    fixed: struct.Struct | None = None
    field: Field | None = None
    nullable: bool = False
    empty_is_null: bool = False


class Struct(FieldType[T]):
    """A struct: a message class and the ordered table of its wire fields (made by :func:`struct_of`)."""

    def __init__(self, cls: type[T]) -> None:
        self.cls = cls
        self.name: str = cls.__name__
        self._fields: tuple[Field, ...] | None = None
        self._present: dict[int, tuple[Field, ...]] = {}
        self._plans: dict[int, tuple[_Step, ...]] = {}

    @property
    def fields(self) -> tuple[Field, ...]:
        """The wire fields in order, read from the class's annotations the first time they are needed."""
        if self._fields is None:
            self._fields = _wire_fields(self.cls)
        return self._fields

    def present(self, version: int) -> tuple[Field, ...]:
        """The fields on the wire in ``version``, in order."""
        cached = self._present.get(version)
        if cached is None:
            cached = self._present[version] = tuple(f for f in self.fields if f.present(version))
        return cached

    def _read_plan(self, version: int) -> tuple[_Step, ...]:
        """The fields of ``version`` with each run of fixed-width fields merged into one
        ``struct.Struct`` (one bounds check and one unpack instead of one per field)."""
        plan = self._plans.get(version)
        if plan is None:
            steps: list[_Step] = []
            run: list[Field] = []

            def flush() -> None:
                if run:
                    codec = struct.Struct(">" + "".join(f.type.fixed_format or "" for f in run))
                    steps.append(_Step(fixed=codec, names=tuple(f.name for f in run)))
                    run.clear()

            for f in self.present(version):
                if f.type.fixed_format is not None:
                    run.append(f)
                    continue
                flush()
                steps.append(
                    _Step(field=f, names=(f.name,), nullable=f.nullable(version), empty_is_null=f.empty_is_null(version))
                )
            flush()
            plan = self._plans[version] = tuple(steps)
        return plan

    def read(self, r: Reader, version: int, flexible: bool, nullable: bool) -> T:
        at = r.pos
        values: dict[str, Any] = {}
        for step in self._read_plan(version):
            if step.fixed is not None:
                values.update(zip(step.names, r.unpack(step.fixed), strict=True))
                continue
            assert step.field is not None
            value = step.field.type.read(r, version, flexible, step.nullable)
            if step.empty_is_null and value is not None and len(value) == 0:
                value = None
            values[step.names[0]] = value
        if flexible:
            r.tagged_fields()
        try:
            return self.cls(**values)
        except ValueError as exc:
            raise MalformedRequest(f"invalid {self.name}: {exc}", position=at) from None

    def write(self, out: bytearray, value: T | None, version: int, flexible: bool) -> None:
        if not isinstance(value, self.cls):
            raise LocalProtocolError(f"expected {self.name}, got {type(value).__name__}")
        for f in self.present(version):
            item = getattr(value, f.name)
            if item is None:
                if f.empty_is_null(version):
                    item = ()
                elif not f.nullable(version):
                    raise LocalProtocolError(f"{self.name}.{f.name} is None but not nullable in version {version}")
            f.type.write(out, item, version, flexible)
        if flexible:
            write_empty_tagged_fields(out)

    def min_size(self, version: int, flexible: bool) -> int:
        return sum(f.type.min_size(version, flexible) for f in self.present(version)) + (1 if flexible else 0)

    def decode(self, data: Buffer, version: int, *, flexible: bool) -> T:
        """Decode a whole buffer as this struct; trailing bytes are an error."""
        r = Reader(data)
        value = self.read(r, version, flexible, False)
        if r.remaining:
            raise r.fail(f"{r.remaining} trailing bytes after {self.name}")
        return value

    def encode(self, value: T, version: int, *, flexible: bool) -> bytes:
        out = bytearray()
        self.write(out, value, version, flexible)
        return bytes(out)


_STRUCTS: dict[type[Any], Struct[Any]] = {}
