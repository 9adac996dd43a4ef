"""`make demo`: the whole flow on one machine, from nothing.

1. start the embedded S3 (moto's server process) on ``S3_PORT`` (4566) with buckets ``source`` (us-east-1)
   and ``dest`` (eu-west-1) — or use ``AWS_ENDPOINT_URL`` if it is set (LocalStack in Docker, `make s3`);
2. ``shadowreplica seed`` a sample Redpanda tiered-storage layout into ``source``;
3. ``shadowreplica sync --once`` it into ``dest`` (server-side copies, manifests last), then ``verify``;
4. ``shadowreplica run``: keep replicating (``--follow``, by the S3 events of ``source``: the queue
   ``source-events`` the embedded S3 or `make s3` created, polling where there is none) and serve ``dest`` on
   Kafka and HTTP, printing the URLs and a kafka-python one-liner, until Ctrl-C.

Sizes and ports: ``DEMO_SIZE`` (96MiB), ``KAFKA_PORT`` (9092), ``HTTP_PORT`` (8080), ``S3_PORT`` (4566).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localstack.s3server import start_s3_server  # noqa: E402

BIN = str(Path(sys.executable).with_name("shadowreplica"))


def _queue_url(env: dict[str, str], name: str) -> str | None:
    """The URL of queue ``name`` at ``AWS_ENDPOINT_URL`` (`make s3` creates one per bucket), or None."""
    import boto3

    try:
        sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1")
        url: str = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return url
    except Exception:  # no SQS there (plain S3, SeaweedFS): the demo polls
        return None


def sh(*args: str, env: dict[str, str]) -> None:
    print(f"\n$ shadowreplica {' '.join(args)}", flush=True)
    subprocess.run([BIN, *args], env=env, check=True, cwd=ROOT)


def main() -> int:
    env = dict(os.environ)
    env.setdefault("AWS_ACCESS_KEY_ID", "test")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    server = None
    if not env.get("AWS_ENDPOINT_URL"):
        port = int(env.get("S3_PORT", "4566"))
        print(f"starting the embedded S3 (moto) on port {port} …", flush=True)
        server = start_s3_server(port, data_dir=ROOT / ".demo" / "s3", request_log=True)
        env["AWS_ENDPOINT_URL"] = server.endpoint
        print(f"S3 ready on {server.endpoint} (buckets source/us-east-1, dest/eu-west-1)")
    kafka_port = env.get("KAFKA_PORT", "9092")
    http_port = env.get("HTTP_PORT", "8080")
    size = env.get("DEMO_SIZE", "96MiB")
    try:
        sh("seed", "--bucket", "s3://source", "--region", "us-east-1", "--topics", "3", "--partitions", "3",
           "--size", size, "--segment-size", "4MiB", env=env)
        sh("sync", "--source", "s3://source", "--source-region", "us-east-1", "--dest", "s3://dest",
           "--dest-region", "eu-west-1", "--once", env=env)
        sh("verify", "--dest", "s3://dest", "--dest-region", "eu-west-1", env=env)
        print(f"""
Serving the replica in eu-west-1 (Ctrl-C to stop):
  Kafka   localhost:{kafka_port}
  HTTP    http://localhost:{http_port}/            (web page)  ·  http://localhost:{http_port}/docs (API)
  metrics http://localhost:{http_port}/metrics

Consume it with kafka-python:
  .venv/bin/python -c "from kafka import KafkaConsumer; c=KafkaConsumer('orders', bootstrap_servers='localhost:{kafka_port}', auto_offset_reset='earliest', consumer_timeout_ms=3000); [print(m.partition, m.offset, m.key, m.value[:60]) for m in c]"

Append more data to the source and watch it replicate (followed by S3 events, not polling):
  AWS_ENDPOINT_URL={env['AWS_ENDPOINT_URL']} .venv/bin/shadowreplica seed --bucket s3://source --topics 3 --partitions 3 --size 16MiB --append
""", flush=True)
        queue = server.queues["source"] if server is not None else _queue_url(env, "source-events")
        proc = subprocess.Popen(
            [BIN, "run", "--source", "s3://source", "--source-region", "us-east-1", "--dest", "s3://dest",
             "--dest-region", "eu-west-1", "--kafka", f"0.0.0.0:{kafka_port}", "--advertise",
             f"localhost:{kafka_port}", "--listen", f"0.0.0.0:{http_port}", "--cache-dir", str(ROOT / ".demo" / "cache"),
             # the embedded S3 notifies the source's writes to an SQS queue: the demo follows by events
             *(["--events-queue", queue] if queue else [])],
            env=env, cwd=ROOT,
        )
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
            return 0
    except subprocess.CalledProcessError as e:
        print(f"demo step failed with exit code {e.returncode}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
