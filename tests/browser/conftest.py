"""A real Chromium (Debian's package) driven by Playwright, against a real ``cstar serve``.

The browser and axe-core (from npm) are installed by ``.ci/run``. Outside CI a machine without
them skips these tests; in CI their absence fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from cstar.server.config import Settings
from tests.e2e.server import RunningServer, start_server
from tests.sdk.servers import ThreadedReceiver

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parents[2] / ".cache" / "npm" / "node_modules" / "axe-core"
AXE_SCRIPT = AXE / "axe.min.js"
#: Chromium in a sandboxed container with a closed network (see the machine's notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(what: str, how: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing in CI; .ci/run installs it ({how})", pytrace=False)
    pytest.skip(f"{what} is not installed ({how})")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module. Playwright's sync API keeps an event loop marked running on
    the main thread while it is open, so it must be closed before the next module's tests call
    ``asyncio.run`` (a session-wide browser broke every later test that did)."""
    if not CHROMIUM.exists():
        _missing("Chromium", "apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_SCRIPT.exists():
        _missing("axe-core", "npm install --prefix .cache/npm axe-core@4")
    return AXE_SCRIPT.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def receiver() -> Iterator[ThreadedReceiver]:
    running = ThreadedReceiver()
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[RunningServer]:
    """``cstar serve --dev`` on this test's database (both backends), as a user runs it."""
    running = start_server(
        tmp_path,
        env={
            "CSTAR_DATABASE_URL": settings.database_url,
            "CSTAR_MASTER_KEY": ",".join(settings.master_keys),
            "CSTAR_RATE_LIMIT": "100000/60s",
            "CSTAR_LOG_LEVEL": "WARNING",
        },
        args=["--dev"],
    )
    try:
        yield running
    finally:
        code = running.stop()
        assert code == 0, running.output
        assert "Traceback" not in running.output, running.output


class Watched:
    """A page and what it reported: console errors (CSP violations among them), dialogs."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        # A 4xx answer the test asks for (a refused sign-in, a form with an error) is logged
        # as "Failed to load resource"; anything else (a CSP violation, a script error) counts.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture
def context(browser: Browser, server: RunningServer) -> Iterator[BrowserContext]:
    made = browser.new_context(base_url=server.base_url, viewport={"width": 1280, "height": 900})
    made.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
    made.set_default_timeout(15_000)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def watched(context: BrowserContext) -> Watched:
    return Watched(context.new_page())
