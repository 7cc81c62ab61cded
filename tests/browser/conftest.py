"""The real stack for a real browser: the dev server, a worker with the real activities, and the app
under uvicorn on a free loopback port, driven by Playwright with Debian's Chromium (/usr/bin/chromium;
`playwright install` cannot download a browser here).

Without Chromium the tests skip, except under CI=true, where they fail. Screenshots are kept under
test-artifacts/screenshots/ (ignored by git) for a person to look at.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Dialog, Page, async_playwright
from temporalio.testing import WorkflowEnvironment

from sevflow.incident.commands import Declare
from sevflow.policy import Severity
from sevflow.store.repository import Store
from starter.service import IncidentService
from tests.conftest import IN_CI
from tests.status_page.conftest import catalog
from tests.support.stack import running_stack, stack_settings

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
TOKEN = "browser-operator-token"
# Debian's Chromium in a container: no sandbox (no user namespaces), no GPU, nothing fetched in the
# background; no proxy, so loopback is reached directly.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-proxy-server",
]


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@dataclass
class Stack:
    url: str
    store: Store
    service: IncidentService

    async def declare(self, title: str, severity: str = "SEV2", service: str = "checkout") -> int:
        detail = await self.service.declare(
            Declare(title=title, service=service, severity=Severity(severity))
        )
        return detail.number


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """The app on a real port with a worker behind it."""
    settings = stack_settings(tmp_path, task_queue, api_token=TOKEN, viewer_token=None)
    # checkout is a component of the public status page (a service of the catalog).
    config = catalog()
    async with running_stack(dev_env.client, settings, config=config, served=True) as running:
        service = IncidentService(dev_env.client, running.store, config, task_queue)
        yield Stack(running.url, running.store, service)


@dataclass
class Tab:
    page: Page
    dialogs: list[str]

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


async def open_tab(browser: Browser, width: int = 1280, height: int = 900) -> Tab:
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    page.set_default_timeout(20_000)
    dialogs: list[str] = []

    async def on_dialog(dialog: Dialog) -> None:
        # Recorded so a test can say none fired; dismissed so nothing hangs if one does.
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    return Tab(page, dialogs)


@pytest.fixture
async def tab(browser: Browser) -> AsyncIterator[Tab]:
    opened = await open_tab(browser)
    yield opened
    await opened.page.context.close()
