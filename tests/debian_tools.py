"""Debian tools the end-to-end tests drive (Chromium, kcat, Node.js), installed by the project's own
``tests/debian/install.sh`` when missing; ``make test`` installs them all before the workers start, and the
script serializes callers so that parallel workers never meet on apt's lock."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

INSTALL = Path(__file__).parent / "debian" / "install.sh"
PACKAGES = {
    "chromium": ("chromium", "fonts-dejavu-core"),
    "kcat": ("kcat",),
    "node": ("nodejs",),
}


def ensure_tool(command: str) -> Path:
    """The path of ``command``, installed from Debian when missing (a clear test failure otherwise)."""
    found = shutil.which(command)
    if found is None:
        done = subprocess.run(["sh", str(INSTALL), command, *PACKAGES[command]],
                              capture_output=True, text=True, timeout=1800)
        found = shutil.which(command)
        if done.returncode != 0 or found is None:
            pytest.fail(f"could not install Debian's {command} with {INSTALL}:\n{done.stdout}\n{done.stderr}",
                        pytrace=False)
    return Path(found)
