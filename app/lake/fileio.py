"""The warehouse's pyiceberg FileIO: pyiceberg's PyArrow FileIO with one S3 request per file written.

pyiceberg (0.12) writes every file (Parquet data, Avro manifests, metadata JSON) through a pyarrow S3 output
stream, which by default opens a multipart upload at once (CreateMultipartUpload, UploadPart,
CompleteMultipartUpload for a 200 KiB file), and then asks the size of each data file it wrote with a HEAD.
Counted on an export of 32 MiB (62 files): 62 x 3 upload requests and 64 HEADs. Here:

* the S3 filesystem is pyiceberg's own with ``allow_delayed_open``: a file that fits in one part is one
  PutObject (bigger ones still go multipart); it is rebuilt from pyarrow's own description of it, which
  does not carry a custom retry strategy, so with ``s3.retry-strategy-impl`` set it is left as it is;
* an output file counts the bytes written through it, so its length after the stream is closed is known
  without a HEAD (before that, or for a file this process did not write, it asks S3 as before).

Named in the FileIO properties (``py-io-impl``) by :meth:`app.lake.warehouse.Warehouse.fileio_properties`, so
pyiceberg's catalogs and tables use it wherever they are opened.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from pyiceberg.io import S3_RETRY_STRATEGY_IMPL
from pyiceberg.io.pyarrow import PyArrowFile, PyArrowFileIO

__all__ = ["WarehouseFileIO"]


class _CountingStream:
    """Forwards to a pyarrow output stream and counts the bytes written."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.written = 0
        self.closed = False

    def write(self, data: Any) -> int:
        n = memoryview(data).nbytes
        self._stream.write(data)
        self.written += n
        return n

    def flush(self) -> None:
        self._stream.flush()

    def tell(self) -> int:
        return self.written

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._stream.close()  # the upload happens here: count it closed only when it succeeded
            self.closed = True

    def __enter__(self) -> _CountingStream:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class _CountedFile(PyArrowFile):
    """A :class:`PyArrowFile` whose length, once written and closed here, is the count of bytes written."""

    _sink: _CountingStream | None = None

    def create(self, overwrite: bool = False) -> Any:
        self._sink = _CountingStream(super().create(overwrite=overwrite))
        return self._sink

    def __len__(self) -> int:
        if self._sink is not None and self._sink.closed:
            return self._sink.written
        return super().__len__()


class WarehouseFileIO(PyArrowFileIO):
    """:class:`PyArrowFileIO` writing small files as one PutObject and knowing the size of what it wrote."""

    def _initialize_s3_fs(self, netloc: str | None) -> Any:
        fs = super()._initialize_s3_fs(netloc)
        if self.properties.get(S3_RETRY_STRATEGY_IMPL):
            return fs  # its description below would drop the custom retry strategy
        rebuild, (options,) = fs.__reduce__()  # the same filesystem, with delayed open
        return rebuild({**options, "allow_delayed_open": True})

    def new_output(self, location: str) -> PyArrowFile:
        plain = super().new_output(location)
        return _CountedFile(location=plain.location, path=plain._path, fs=plain._filesystem,
                            buffer_size=plain._buffer_size)
