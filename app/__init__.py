"""shadowreplica service: S3 access, catalog, replicator, Kafka shim, HTTP API and CLI (all I/O lives here)."""

__version__ = "0.1.0"  # the one place the version is written (pyproject.toml reads it)
