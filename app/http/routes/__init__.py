"""Routes by area: catalog (topics, partitions, segments, downloads), records, operations."""
