"""One way for a test to start a `shadowreplica` process and wait until it is ready.

:func:`start_cli` runs the console script (or another command line) with both output streams pumped into
:attr:`CliProcess.log` by threads (a pipe nobody reads can fill up and stall the process), waits for the first
line matching ``ready`` and returns; if the process exits first or the wait times out, the assertion carries
its log. :meth:`CliProcess.stop` sends SIGTERM, then SIGKILL after ``timeout``, and returns the exit code.
The Kafka (`tests/kafka_support.start_serve`) and HTTP (`tests/http_fixtures.running`) helpers are built on it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "shadowreplica"
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
HTTP_BANNER = r" on (http://[\d.:\[\]]+)"


@dataclass
class CliProcess:
    """A running command; its stdout and stderr lines accumulate in :attr:`log` (interleaved as they come)."""

    proc: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)
    ready: re.Match[str] | None = None  # the match of the ready pattern
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    @property
    def url(self) -> str:
        """The ``http://HOST:PORT`` the process announced (for ready patterns with that group)."""
        assert self.ready is not None and self.ready.groups(), "the ready pattern has no URL group"
        return self.ready.group(1)

    def log_text(self) -> str:
        return "\n".join(self.log)

    def wait_for_log(self, needle: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.log):
                if needle in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not logged within {timeout} s; log:\n{self.log_text()[-4000:]}")

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM (SIGKILL after ``timeout``); the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for t in self._threads:
            t.join(5)
        return self.proc.returncode


def cli_environment(**extra: str) -> dict[str, str]:
    """This process's environment with the local S3 server's test credentials (and ``extra``)."""
    return {**os.environ, **TEST_CREDENTIALS, **extra}


def start_cli(*args: str, env: Mapping[str, str] | None = None, ready: str = HTTP_BANNER, timeout: float = 60.0,
              command: Sequence[str] | None = None, cwd: Path = REPO, process: type[CliProcess] = CliProcess,
              **fields: object) -> CliProcess:
    """Start ``command`` (default: the console script) with ``args`` and the complete environment ``env``
    (default :func:`cli_environment`), and wait for a line matching ``ready``."""
    argv = [*(command or [str(CLI)]), *args]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            env=dict(env) if env is not None else cli_environment())
    started = process(proc, **fields)  # type: ignore[arg-type]
    pattern = re.compile(ready)
    announced = threading.Event()

    def pump(stream: IO[str]) -> None:
        for line in stream:
            started.log.append(line.rstrip("\n"))
            if not announced.is_set() and (m := pattern.search(line)) is not None:
                started.ready = m
                announced.set()

    for stream in (proc.stdout, proc.stderr):
        assert stream is not None
        t = threading.Thread(target=pump, args=(stream,), daemon=True)
        t.start()
        started._threads.append(t)
    deadline = time.monotonic() + timeout
    while not announced.wait(0.05):
        if proc.poll() is not None or time.monotonic() > deadline:
            code = started.stop()
            raise AssertionError(f"{Path(argv[0]).name} {' '.join(args[:1])} did not start (exit {code}):\n"
                                 f"{started.log_text()[-6000:]}")
    return started
