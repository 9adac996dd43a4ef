"""Records as JSON: how keys, values and header values are shown (``decode=auto|utf8|json|base64|hex``).

Rules (pure functions, no I/O):

* ``decode`` applies to **values**. ``utf8`` and ``json`` are strict: a value that is not UTF-8 (or not
  JSON) is an :class:`~app.errors.InvalidParameter` (HTTP 422) naming the offset, never a silently mangled
  string. ``base64`` and ``hex`` always work. ``auto`` picks, per value: JSON when the text starts with
  ``{`` or ``[`` and parses, else UTF-8 text when it is valid and printable, else base64.
* **Keys and header values** are shown as UTF-8 text when valid and printable, else base64 — or in the
  chosen encoding when ``decode`` is ``base64`` or ``hex`` (so binary keys can be read byte for byte).
* Every rendered field says how it was rendered (``value_encoding``: ``json``/``utf8``/``base64``/``hex``;
  ``None`` for a null key or value), so a client can always get the exact bytes back.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any, Literal

from app.errors import InvalidParameter
from app.reader import ServedBatch
from segment_format.records import Compression, Record

__all__ = ["DECODE_MODES", "Decode", "parse_key", "record_dict", "render_bytes"]

Decode = Literal["auto", "utf8", "json", "base64", "hex"]
DECODE_MODES: tuple[Decode, ...] = ("auto", "utf8", "json", "base64", "hex")
_Mode = Literal["auto", "utf8", "json", "base64", "hex", "text"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def render_bytes(data: bytes | None, mode: _Mode, *, offset: int, field: str) -> tuple[Any, str | None]:
    """``(rendered, encoding)`` of one key/value/header value; ``(None, None)`` for null."""
    if data is None:
        return None, None
    if mode == "base64":
        return _b64(data), "base64"
    if mode == "hex":
        return data.hex(), "hex"
    if mode in ("utf8", "json"):
        try:
            text = data.decode("utf-8")
            if mode == "utf8":
                return text, "utf8"
            return json.loads(text, parse_constant=_no_constants), "json"
        except (UnicodeDecodeError, ValueError) as e:
            what = "UTF-8" if mode == "utf8" else "JSON"
            raise InvalidParameter(
                f"the {field} at offset {offset} is not {what} ({e}); use decode=auto, base64 or hex",
                parameter="decode", offset=offset, field=field,
            ) from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _b64(data), "base64"
    if mode == "auto" and text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text, parse_constant=_no_constants), "json"
        except ValueError:
            pass
    if _CONTROL.search(text):
        return _b64(data), "base64"
    return text, "utf8"


def _compression_name(code: int) -> str:
    try:
        return Compression(code).name.lower()
    except ValueError:
        return f"unknown({code})"


def record_dict(batch: ServedBatch, record: Record, decode: Decode, *, aborted: bool = False) -> dict[str, Any]:
    """One record as the API shows it (see the module docstring for the encodings)."""
    h = batch.header
    offset = batch.kafka_offset + record.offset_delta
    side: _Mode = decode if decode in ("base64", "hex") else "text"
    key, key_encoding = render_bytes(record.key, side, offset=offset, field="key")
    value, value_encoding = render_bytes(record.value, decode, offset=offset, field="value")
    headers = []
    for hdr in record.headers:
        hv, he = render_bytes(hdr.value, side, offset=offset, field=f"header {hdr.key!r}")
        headers.append({"key": hdr.key, "value": hv, "encoding": he})
    return {
        "offset": offset,
        "timestamp": h.max_timestamp if h.is_log_append_time else h.first_timestamp + record.timestamp_delta,
        "timestamp_type": "LogAppendTime" if h.is_log_append_time else "CreateTime",
        "key": key,
        "key_encoding": key_encoding,
        "value": value,
        "value_encoding": value_encoding,
        "headers": headers,
        "aborted": aborted,  # in an aborted transaction: a read_committed consumer never sees it
        "batch": {
            "base_offset": batch.kafka_offset,
            "last_offset": batch.kafka_last_offset,
            "compression": _compression_name(h.compression),
            "transactional": h.is_transactional,
            "segment": batch.segment_key.rsplit("/", 1)[-1],
            "position": batch.position,
        },
    }


def parse_key(text: str, encoding: str) -> bytes:
    """The key to search for, from a query parameter in ``utf8``, ``base64`` or ``hex``."""
    try:
        if encoding == "utf8":
            return text.encode("utf-8")
        if encoding == "base64":
            return base64.b64decode(text, validate=True)
        if encoding == "hex":
            return bytes.fromhex(text)
    except ValueError as e:
        raise InvalidParameter(f"key is not valid {encoding}: {e}", parameter="key") from e
    raise InvalidParameter(f"key_encoding must be utf8, base64 or hex, not {encoding!r}", parameter="key_encoding")
