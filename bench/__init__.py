"""Benchmarks: `make bench` runs every module here. Each prints figures as ratios against a baseline
measured in the same run on the same machine (these machines are noisy; absolute numbers mean little)."""

import sys
from pathlib import Path

CLI = Path(sys.executable).parent / "shadowreplica"
"""The console script, as users run it (its exit skips the interpreter's ~0.3 s teardown)."""
