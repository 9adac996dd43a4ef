"""Segments: a sequence of Redpanda batches, read zero-copy from bytes or a memoryview.

A cloud segment object is a byte range of a local segment file: batches back to back, each a 61-byte
header plus records (:mod:`segment_format.batch`). Local files may end in a zero-filled tail (fallocate);
a ranged read may end in the middle of a batch. Iteration therefore stops, without an error, at:

* an all-zero header (``Tail.ZERO_FILLED``; ``tools/offline_log_viewer/storage.py`` stops the same way), or
* fewer bytes than the next header or batch needs (``Tail.TRUNCATED``), so callers reading a chunk know
  where to continue (``reader.position``) and callers reading a whole object know it is cut short.

A header whose CRC does not match raises :class:`~segment_format.errors.CrcMismatchError` naming the byte
position and offset; so does a records block whose Kafka CRC does not match (when ``verify_crc``).
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum

from segment_format.batch import HEADER_SIZE, Batch, decode_header
from segment_format.errors import FormatError

__all__ = ["BatchReader", "SegmentWriter", "Tail", "iter_batches"]

_ZERO_HEADER = bytes(HEADER_SIZE)


class Tail(Enum):
    """How iteration ended."""

    END = "end"  # every byte consumed by whole batches
    ZERO_FILLED = "zero_filled"  # an all-zero header: the unused tail of a preallocated file
    TRUNCATED = "truncated"  # the last batch (or header) is cut short


class BatchReader:
    """Iterator over the batches of ``data`` from ``start``; ``base_position`` is the file position of
    ``data[0]`` (non-zero for a ranged read), so ``Batch.position`` is always a position in the object."""

    __slots__ = ("_data", "_verify_crc", "_verify_header", "base_position", "position", "tail")

    def __init__(
        self,
        data: bytes | bytearray | memoryview,
        *,
        start: int = 0,
        base_position: int = 0,
        verify_crc: bool = True,
        verify_header: bool = True,
    ) -> None:
        self._data = memoryview(data)
        self._verify_crc = verify_crc
        self._verify_header = verify_header
        self.base_position = base_position
        self.position = start  # relative to data[0]
        self.tail: Tail | None = None

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        data = self._data
        pos = self.position
        remaining = len(data) - pos
        if remaining <= 0:
            self.tail = Tail.END
            raise StopIteration
        if remaining < HEADER_SIZE:
            self.tail = Tail.ZERO_FILLED if not any(data[pos:]) else Tail.TRUNCATED
            raise StopIteration
        if data[pos : pos + HEADER_SIZE] == _ZERO_HEADER:
            self.tail = Tail.ZERO_FILLED
            raise StopIteration
        # errors name object positions (base_position + pos), not positions in this buffer
        header = decode_header(data, pos, verify=self._verify_header, base_position=self.base_position)
        if header.size_bytes < HEADER_SIZE:
            # only reachable with verify_header=False; a batch must at least hold its header, and a
            # smaller size would never advance the reader
            raise FormatError(
                f"batch size_bytes {header.size_bytes} is below {HEADER_SIZE}",
                position=self.base_position + pos,
                offset=header.base_offset,
            )
        end = pos + header.size_bytes
        if end > len(data):
            self.tail = Tail.TRUNCATED
            raise StopIteration
        batch = Batch(header, data[pos + HEADER_SIZE : end], self.base_position + pos)
        if self._verify_crc:
            batch.verify_crc()
        self.position = end
        return batch

    @property
    def absolute_position(self) -> int:
        """Position of the next unread byte in the object."""
        return self.base_position + self.position


def iter_batches(
    data: bytes | bytearray | memoryview, *, start: int = 0, base_position: int = 0, verify_crc: bool = True
) -> BatchReader:
    """Iterate the batches of a segment (or of a byte range of one starting at ``base_position``)."""
    return BatchReader(data, start=start, base_position=base_position, verify_crc=verify_crc)


class SegmentWriter:
    """Builds a segment object the way Redpanda lays one out: batches back to back, nothing else.

    Uploaded segments are exact byte ranges of the log (no zero tail); ``pad_to`` reproduces a
    preallocated local file for tests of the zero-tail path.
    """

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.size = 0

    def append(self, batch: bytes) -> int:
        """Append one encoded batch (Redpanda form); returns its position in the segment."""
        position = self.size
        self._parts.append(batch)
        self.size += len(batch)
        return position

    def getvalue(self, *, pad_to: int = 0) -> bytes:
        data = b"".join(self._parts)
        if pad_to > len(data):
            data += bytes(pad_to - len(data))
        return data
