"""The HTTP face: a read-only API and web page over the shared read path (see :mod:`app.http.app`)."""

from app.http.app import create_app

__all__ = ["create_app"]
