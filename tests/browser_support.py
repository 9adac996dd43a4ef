"""Debian's Chromium for the page tests, driven by Playwright (``executable_path``): installed by
``tests/browser/install.sh`` when missing; Playwright never downloads a browser of its own."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = Path(__file__).parent / "browser" / "install.sh"
OUTPUT = Path(__file__).parent / "output"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def ensure_chromium() -> Path:
    """Debian's chromium, installed by the project's script when missing (a clear failure otherwise)."""
    if not CHROMIUM.exists():
        done = subprocess.run(["sh", str(INSTALL)], capture_output=True, text=True, timeout=900)
        if done.returncode != 0 or not CHROMIUM.exists():
            pytest.fail(f"could not install Debian's chromium with {INSTALL}:\n{done.stdout}\n{done.stderr}",
                        pytrace=False)
    return CHROMIUM
