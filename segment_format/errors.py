"""Typed errors of the codec: every decoder either returns a value or raises one of these.

    FormatError (ValueError)           the input bytes are not what the format says
    ├── TruncatedError                 fewer bytes than a length or header promises
    ├── CrcMismatchError               a header CRC or Kafka batch CRC does not match
    ├── RecordDecodeError              a Kafka v2 record (varints, lengths) is malformed
    ├── CompressionError               a compressed records block does not decompress
    ├── ManifestError                  a partition/topic manifest is malformed or inconsistent
    ├── ObjectKeyError                 an object key does not follow Redpanda's naming
    ├── IndexFormatError               a segment index object is malformed
    └── SerdeError                     a Redpanda serde envelope or primitive is malformed

Each error carries the byte ``position`` (within the object or buffer being decoded) when one is
meaningful, and the ``offset`` (Redpanda offset of the batch) when a batch is involved, so the
service can say *where* an object is damaged (HTTP 422, Kafka CORRUPT_MESSAGE, `inspect`).
"""

from __future__ import annotations


class FormatError(ValueError):
    """The input is not valid for the format being decoded."""

    def __init__(self, message: str, *, position: int | None = None, offset: int | None = None) -> None:
        self.message = message
        self.position = position
        self.offset = offset
        where = []
        if offset is not None:
            where.append(f"offset {offset}")
        if position is not None:
            where.append(f"byte {position}")
        super().__init__(f"{message} (at {', '.join(where)})" if where else message)


class TruncatedError(FormatError):
    """Fewer bytes than a header or length prefix promises."""


class CrcMismatchError(FormatError):
    """A checksum does not match: ``which`` is ``"header_crc"`` or ``"crc"`` (the Kafka batch CRC)."""

    def __init__(
        self,
        message: str,
        *,
        which: str,
        expected: int,
        actual: int,
        position: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.which = which
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{message}: {which} stored 0x{expected:08x}, computed 0x{actual:08x}",
            position=position,
            offset=offset,
        )


class RecordDecodeError(FormatError):
    """A Kafka v2 record inside a batch is malformed."""


class CompressionError(FormatError):
    """A compressed records block could not be (de)compressed."""


class ManifestError(FormatError):
    """A partition or topic manifest is malformed or violates its invariants."""


class ObjectKeyError(FormatError):
    """An object key or segment name does not follow Redpanda's naming scheme."""


class IndexFormatError(FormatError):
    """A segment index object is malformed."""


class SerdeError(FormatError):
    """A Redpanda serde envelope or primitive is malformed."""
