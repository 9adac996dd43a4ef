"""shadowreplica service: S3 access, catalog, replicator, Kafka shim, HTTP API and CLI (all I/O lives here)."""
