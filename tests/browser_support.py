"""Debian's Chromium for the page tests, driven by Playwright (``executable_path``): installed by
``tests/debian/install.sh`` when missing; Playwright never downloads a browser of its own."""

from __future__ import annotations

from pathlib import Path

from tests.debian_tools import ensure_tool

OUTPUT = Path(__file__).parent / "output"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def ensure_chromium() -> Path:
    """Debian's chromium, installed by the project's script when missing (a clear failure otherwise)."""
    return ensure_tool("chromium")
