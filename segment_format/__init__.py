"""Pure, sans-I/O codecs for Redpanda tiered-storage objects (segments, manifests, object keys)."""
