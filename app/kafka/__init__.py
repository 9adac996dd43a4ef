"""Kafka-facing side of the service: the sans-I/O wire codec (`protocol`), SASL (`sasl`) and the shim."""
