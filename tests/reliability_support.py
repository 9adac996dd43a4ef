"""Helpers for the reliability tests (``tests/test_reliability_*.py``): the fault proxy as its own process,
the ``shadowreplica`` CLI as an asyncio subprocess, and a bucket's bytes as truth."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.process_support import CLI as SHADOWREPLICA_CLI

REPO = Path(__file__).resolve().parent.parent
CLI = str(SHADOWREPLICA_CLI)


@dataclass
class ProxyProcess:
    """``python localstack/faultproxy.py`` running; ``endpoint`` is where clients point."""

    proc: subprocess.Popen[str]
    endpoint: str
    log: list[str] = field(default_factory=list)

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.endpoint + "/__faultproxy/stats", timeout=10) as resp:
            out: dict[str, Any] = json.loads(resp.read())
            return out

    def set_rates(self, spec: str) -> None:
        req = urllib.request.Request(self.endpoint + "/__faultproxy/rates?spec=" + urllib.request.quote(spec),
                                     method="PUT")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def injected(self, op: str | None = None) -> dict[str, int]:
        """Injections by kind (of one operation, or summed over all)."""
        out: dict[str, int] = {}
        for name, kinds in self.stats()["injected"].items():
            if op is None or name == op:
                for kind, n in kinds.items():
                    out[kind] = out.get(kind, 0) + n
        return out


@contextlib.contextmanager
def fault_proxy_process(upstream: str, rates: str, *, seed: int = 1, latency: float = 0.05) -> Iterator[ProxyProcess]:
    proc = subprocess.Popen([sys.executable, str(REPO / "localstack" / "faultproxy.py"), "--upstream", upstream,
                             "--rate", rates, "--latency", str(latency), "--seed", str(seed)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("faultproxy listening on "):
        proc.kill()
        raise AssertionError(f"fault proxy did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    p = ProxyProcess(proc, line.split()[3])
    threading.Thread(target=lambda: [p.log.append(x) for x in proc.stdout or ()], daemon=True).start()
    try:
        yield p
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cli_env(endpoint: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHADOWREPLICA_"))}
    env.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_ENDPOINT_URL": endpoint,
                "AWS_EC2_METADATA_DISABLED": "true", "PYTHONPATH": str(REPO)})
    env.update(extra)
    return env


def run_cli(endpoint: str, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=cli_env(endpoint, **env),
                          timeout=timeout, cwd=REPO)


def wait_until(predicate: Any, *, timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy (a convergence wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout} s")
        time.sleep(interval)
