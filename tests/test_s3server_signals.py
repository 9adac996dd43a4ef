"""`make s3` stops on SIGTERM and Ctrl-C every time: the stop wait takes no lock in a signal handler.

50 cycles in process (a signal from another thread at a random moment of the wait, SIGTERM and SIGINT in
turn), then the real `localstack/s3server.py` process stopped by SIGTERM and SIGINT."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from localstack.s3server import SignalStop

REPO = Path(__file__).resolve().parent.parent


def test_fifty_stop_cycles_in_process() -> None:
    rng = random.Random(7)
    # whatever this process had before (a pytest-xdist worker may ignore SIGINT) is what must come back
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    for cycle in range(50):
        sig = signal.SIGTERM if cycle % 2 else signal.SIGINT
        with SignalStop() as stop:
            timer = threading.Timer(rng.uniform(0.0, 0.02), os.kill, (os.getpid(), sig))
            started = time.monotonic()
            timer.start()
            while not stop.wait(5.0):
                assert time.monotonic() - started < 5.0, f"cycle {cycle}: the signal did not stop the wait"
            timer.join()
        assert time.monotonic() - started < 2.0
    # the previous handlers are back
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_the_real_server_stops_on_sigterm_and_sigint(tmp_path: Path) -> None:
    for i, sig in enumerate((signal.SIGTERM, signal.SIGINT, signal.SIGTERM)):
        proc = subprocess.Popen([sys.executable, "localstack/s3server.py", "--port", "0", "--data-dir",
                                 str(tmp_path / str(i))], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            while line and "ready on" not in line:
                line = proc.stdout.readline()
            assert "ready on" in line, proc.stderr.read() if proc.stderr else ""
            proc.send_signal(sig)
            out, _ = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0 and "local S3 stopped" in out
