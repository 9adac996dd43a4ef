"""The Kafka wire protocol, server direction, without I/O: bytes in, typed values out; values in, bytes out.

The whole API a connection needs::

    decoder = FrameDecoder(max_frame_size=settings.max_frame_bytes)
    decoder.feed(data)                                # whatever the socket returned
    while (frame := decoder.next_frame()) is not None:
        try:
            request = decode_request(frame.payload)   # Request[FetchRequest | MetadataRequest | ...]
        except UnsupportedRequest as exc:
            if exc.reply is None: close(); return     # Kafka closes on APIs it did not offer
            write(exc.reply); continue                # ApiVersions too new: v0 UNSUPPORTED_VERSION
        except RemoteProtocolError: close(); return   # FrameSizeError, MalformedRequest
        response = handle(request)                    # the shim: match request.body
        if request.expects_response:                  # False for Produce with acks=0
            writelines(encode_response_buffers(request.header, response))

Supported versions are one table, :data:`SUPPORTED_VERSIONS`; write/admin APIs that are decoded only
to be refused are in :data:`REJECTED_VERSIONS` (answer with :func:`reject`). Fetch responses are
written without copying record bytes (:func:`encode_fetch_response`).
"""

from __future__ import annotations

from . import (
    _admin,
    _api_keys,
    _api_versions,
    _fetch,
    _framing,
    _group,
    _list_offsets,
    _metadata,
    _offsets,
    _produce,
    _registry,
    _rejected,
    _rejected_configs,
    _sasl,
    errors,
)
from ._admin import *  # noqa: F403
from ._api_keys import *  # noqa: F403
from ._api_versions import *  # noqa: F403
from ._fetch import *  # noqa: F403
from ._framing import *  # noqa: F403
from ._group import *  # noqa: F403
from ._list_offsets import *  # noqa: F403
from ._metadata import *  # noqa: F403
from ._offsets import *  # noqa: F403
from ._primitives import Buffer, nbytes
from ._produce import *  # noqa: F403
from ._registry import *  # noqa: F403
from ._rejected import *  # noqa: F403
from ._rejected_configs import *  # noqa: F403
from ._sasl import *  # noqa: F403
from .errors import *  # noqa: F403

# every submodule's public names, listed once (in its own __all__)
__all__ = ["Buffer", "nbytes"]
__all__ += _admin.__all__
__all__ += _api_keys.__all__
__all__ += _api_versions.__all__
__all__ += _fetch.__all__
__all__ += _framing.__all__
__all__ += _group.__all__
__all__ += _list_offsets.__all__
__all__ += _metadata.__all__
__all__ += _offsets.__all__
__all__ += _produce.__all__
__all__ += _registry.__all__
__all__ += _rejected.__all__
__all__ += _rejected_configs.__all__
__all__ += _sasl.__all__
__all__ += errors.__all__
