"""Framing and headers: the size prefix, request header v1/v2, response header v0/v1.

Theory of operation
-------------------
Every Kafka message is ``int32 size`` followed by ``size`` bytes. :class:`FrameDecoder` is the one
mutable buffer of a connection: the shell ``feed()``s whatever the socket returned and calls
``next_frame()`` until it returns None ("need more data"). The size is checked *before* any payload
is buffered, so a peer announcing 2 GiB is rejected after four bytes. Once it has raised, a decoder
stays broken and raises the same error again: the stream is out of sync and the connection must go.

A request payload starts with the request header:

    v1: api_key int16, api_version int16, correlation_id int32, client_id nullable STRING (int16 len)
    v2: v1 + a tagged-field section

``client_id`` keeps the classic int16 length even in v2 (Kafka's RequestHeader JSON marks it
``flexibleVersions: none``). Which header version a request uses depends on its (API, version), so
the first eight bytes are read first (:func:`peek_request_header`) and the rest only once the
(API, version) is known to be served.

Responses start with ``correlation_id int32`` (v0), plus an empty tagged-field section (v1).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._api_keys import ApiKey
from ._primitives import INT16, INT32, Buffer, Reader, as_byte_view, nbytes
from .errors import FrameSizeError, MalformedRequest

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "Frame",
    "FrameDecoder",
    "RequestHeader",
    "RequestPrefix",
    "frame",
    "peek_request_header",
    "response_header",
]

DEFAULT_MAX_FRAME_SIZE = 100 * 1024 * 1024
"""Kafka's ``socket.request.max.bytes`` default (100 MiB)."""

_PREFIX_SIZE = 8  # api_key + api_version + correlation_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """One complete message without its size prefix."""

    payload: bytes


class FrameDecoder:
    """Splits a byte stream into frames.

    >>> decoder = FrameDecoder(max_frame_size=1 << 20)
    >>> decoder.feed(b"\\x00\\x00\\x00\\x02hi\\x00")
    >>> decoder.next_frame()
    Frame(payload=b'hi')
    >>> decoder.next_frame() is None  # one byte of the next size prefix is buffered
    True
    """

    __slots__ = ("_buffer", "_error", "_max_frame_size", "_size")

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if not 0 < max_frame_size <= 0x7FFFFFFF:
            raise ValueError(f"max_frame_size must be in 1..2**31-1, got {max_frame_size}")
        self._max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._size: int | None = None  # the current frame's size once its prefix has been read
        self._error: FrameSizeError | None = None

    @property
    def max_frame_size(self) -> int:
        return self._max_frame_size

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned in a frame (nonzero at EOF = a cut-off frame)."""
        return len(self._buffer) + (4 if self._size is not None else 0)

    def feed(self, data: Buffer) -> None:
        """Append bytes from the peer. Never raises; errors surface from :meth:`next_frame`."""
        self._buffer += data

    def next_frame(self) -> Frame | None:
        """The next complete frame, or None when more bytes are needed.

        Raises :class:`FrameSizeError` for a negative or oversized size prefix (and again on every
        later call).
        """
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        if self._size is None:
            if len(buffer) < 4:
                return None
            size: int = INT32.unpack_from(buffer, 0)[0]
            if size < 0 or size > self._max_frame_size:
                self._error = FrameSizeError(size, self._max_frame_size)
                raise self._error
            del buffer[:4]
            self._size = size
        size = self._size
        if len(buffer) < size:
            return None
        with memoryview(buffer) as view, view[:size] as chunk:
            payload = bytes(chunk)  # the one copy: out of the receive buffer
        del buffer[:size]
        self._size = None
        return Frame(payload=payload)


def frame(payload: Buffer) -> bytes:
    """``payload`` with its int32 size prefix."""
    return INT32.pack(nbytes(payload)) + bytes(payload)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestPrefix:
    """The first eight bytes of every request, enough to decide whether to parse the rest."""

    api_key: int
    api_version: int
    correlation_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestHeader:
    """A parsed request header (v1 or v2); ``api_key`` is always a served or rejectable API."""

    api_key: ApiKey
    api_version: int
    correlation_id: int
    client_id: str | None = None


def peek_request_header(payload: Buffer) -> RequestPrefix:
    """api_key, api_version and correlation_id; raises MalformedRequest below eight bytes."""
    view = as_byte_view(payload)
    if len(view) < _PREFIX_SIZE:
        raise MalformedRequest(f"request of {len(view)} bytes is shorter than a request header", position=0)
    api_key: int = INT16.unpack_from(view, 0)[0]
    api_version: int = INT16.unpack_from(view, 2)[0]
    correlation_id: int = INT32.unpack_from(view, 4)[0]
    return RequestPrefix(api_key=api_key, api_version=api_version, correlation_id=correlation_id)


def parse_request_header(reader: Reader, api_key: ApiKey, header_version: int) -> RequestHeader:
    """Read a v1 or v2 request header at ``reader`` (positioned at the start of the payload)."""
    reader.skip(2, "api_key")
    api_version = reader.int16()
    correlation_id = reader.int32()
    client_id = reader.string(compact=False, nullable=True)  # never compact, even in v2
    if header_version >= 2:
        reader.tagged_fields()
    return RequestHeader(
        api_key=api_key, api_version=api_version, correlation_id=correlation_id, client_id=client_id
    )


def response_header(correlation_id: int, header_version: int) -> bytes:
    """Response header v0 (``correlation_id``) or v1 (plus an empty tagged-field section)."""
    return INT32.pack(correlation_id) + (b"\x00" if header_version >= 1 else b"")
