"""Run every benchmark module in ``bench/`` (each exposes ``main()``), or only those named on the command line.

    python -m bench                 # all
    python -m bench foundation      # one module
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import bench


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))
    wanted = argv or names
    unknown = set(wanted) - set(names)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; available: {', '.join(names)}")
        return 2
    failed = []
    for name in wanted:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.monotonic()
        module = importlib.import_module(f"bench.{name}")
        try:
            module.main()
        except Exception as e:  # one failing benchmark must not hide the others' figures
            failed.append(name)
            print(f"bench.{name} FAILED: {type(e).__name__}: {e}", flush=True)
        print(f"(bench.{name}: {time.monotonic() - started:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
