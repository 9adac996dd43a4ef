"""Local S3 servers for development, tests, the demo and the benchmarks.

- :mod:`localstack.s3server` — the embedded default: moto's S3 server in its own process
  (``make s3``, ``start_s3_server()``).
- :mod:`localstack.seaweedfs` — SeaweedFS ``weed mini``: a real, disk-backed S3 server that enforces
  conditional copies (``CopySourceIfMatch``), which moto ignores.
- ``docker-compose.yml`` — real LocalStack for Docker users (see ``README.md``).

Each module also runs as a script (``python localstack/s3server.py``) and imports nothing from ``app``.
"""
