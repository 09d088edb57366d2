"""Launch Debian's Chromium through Playwright for browser tests.

Why: ``playwright install`` downloads its own browser build, which cannot be
fetched on these machines (only package registries are reachable). Debian's
``chromium`` package (installed by ``scripts/system-deps.sh``) is driven
instead via ``executable_path``. The flags keep it headless, let it run as
root in a container (``--no-sandbox``), and stop its background traffic to
Google's hosts, which the closed network would refuse again and again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

__all__ = ["CHROMIUM_ARGS", "CHROMIUM_PATH", "launch_chromium"]

CHROMIUM_PATH = Path("/usr/bin/chromium")
"""Debian's Chromium launcher (package ``chromium``)."""

CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""Command-line flags passed to every Chromium this module starts."""


def launch_chromium(playwright: Playwright) -> Browser:
    """Launch headless Debian Chromium with Playwright's sync API.

    Raises:
        RuntimeError: ``/usr/bin/chromium`` is missing (run
            ``scripts/system-deps.sh``); Playwright's bundled browser is not
            a fallback because it cannot be downloaded here.

    """
    if not (CHROMIUM_PATH.is_file() and os.access(CHROMIUM_PATH, os.X_OK)):
        msg = (
            f"{CHROMIUM_PATH} not found: browser tests use Debian's Chromium, not a "
            "Playwright-downloaded one. Run scripts/system-deps.sh (installs 'chromium')."
        )
        raise RuntimeError(msg)
    return playwright.chromium.launch(
        executable_path=CHROMIUM_PATH,
        headless=True,
        args=list(CHROMIUM_ARGS),
    )
