"""Fixtures for the browser tests: one Chromium for the run, a server per module, and tabs
whose console errors fail the test that opened them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from playwright.async_api import Browser, BrowserContext, async_playwright, expect

from tests.server_proc import TandemProcess
from tests.web.browser import CHROMIUM, CHROMIUM_FLAGS, WEB_DIST, Tab, new_context, open_tab

JWT_SECRET = "web-tests-secret-0123456789-abcdefghijklmnopq"

OpenTab = Callable[..., Awaitable[Tab]]

# Assertions wait for the page; 5 s (Playwright's default) is short on a 2-core machine that
# also runs the servers, and waiting longer costs nothing when the page is right.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run scripts/install.sh (it installs Debian's chromium)"
        )
    if not (WEB_DIST / "index.html").exists():
        pytest.fail(
            "web/dist is missing: run scripts/install.sh (npm ci and npm run build in web/)"
        )
    async with async_playwright() as playwright:
        # launch() gives every run a fresh, throwaway profile directory.
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        yield chromium
        await chromium.close()


def server_env() -> dict[str, str]:
    return {
        "TANDEM_JWT_SECRET": JWT_SECRET,
        "TANDEM_SIGNIN_ATTEMPTS_PER_MIN": "100",
        "TANDEM_ACCESS_RECHECK_S": "1",
    }


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TandemProcess]:
    async with TandemProcess(tmp_path_factory.mktemp("web"), env=server_env()) as proc:
        yield proc


@pytest.fixture
async def tabs(browser: Browser) -> AsyncIterator[OpenTab]:
    """``await tabs()`` opens a page in a new browser context (another person)."""
    opened: list[tuple[BrowserContext, Tab]] = []

    async def open_new(width: int = 1280, height: int = 800) -> Tab:
        context = await new_context(browser, width, height)
        tab = await open_tab(context)
        opened.append((context, tab))
        return tab

    yield open_new
    errors = [error for _, tab in opened for error in tab.unexpected_errors()]
    for context, _ in opened:
        await context.close()
    assert not errors, "errors in the browser console:\n" + "\n".join(errors)
