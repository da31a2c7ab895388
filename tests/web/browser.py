"""Headless Debian Chromium driven by Playwright, and the app's screens as small helpers.

Playwright cannot download its own browsers here, so every launch names /usr/bin/chromium
(installed by scripts/install.sh) and turns off Chromium's background networking, which this
machine's closed network would refuse."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Locator, Page, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from tests.accounts import PASSWORD, Account, members

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
WEB_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)

# The document's text as the editor shows it, without caret labels and suggestion widgets.
EDITOR_TEXT_JS = """() => {
  const lines = document.querySelectorAll('.cm-content .cm-line')
  return Array.from(lines, (line) => {
    const copy = line.cloneNode(true)
    copy.querySelectorAll('.cm-ySelectionCaret, .cm-widgetBuffer, .cm-sugg').forEach((n) => n.remove())
    return copy.textContent
  }).join('\\n')
}"""

# The browser itself reports a refused websocket while the server is down; that is the
# situation the reconnect test creates on purpose, not an error in the app.
EXPECTED_WHILE_SERVER_DOWN = re.compile(r"WebSocket connection to .* failed")


@dataclass
class Tab:
    """One signed-in page, with every console error and uncaught exception it produced."""

    page: Page
    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]

    @property
    def editor(self) -> Locator:
        return self.page.locator(".cm-content")

    @property
    def connection(self) -> Locator:
        return self.page.locator(".connection")

    async def text(self) -> str:
        return str(await self.page.evaluate(EDITOR_TEXT_JS))

    async def expect_text(self, expected: str, timeout_ms: int = TIMEOUT_MS) -> None:
        """Waits until the editor shows exactly ``expected``."""
        try:
            await self.page.wait_for_function(
                f"(expected) => ({EDITOR_TEXT_JS})() === expected",
                arg=expected,
                timeout=timeout_ms,
            )
        except PlaywrightTimeoutError:
            raise AssertionError(f"editor shows {await self.text()!r}, not {expected!r}") from None

    async def wait_connected(self) -> None:
        await expect(self.connection).to_have_attribute("data-state", "connected")

    async def type_at_end(self, text: str) -> None:
        await self.editor.click()
        await self.page.keyboard.press("Control+End")
        await self.page.keyboard.type(text)

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path))
        return path


async def open_tab(context: BrowserContext) -> Tab:
    page = await context.new_page()
    tab = Tab(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "assert"):
            tab.errors.append(f"console.{message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    page.set_default_timeout(TIMEOUT_MS)
    return tab


async def new_context(browser: Browser, width: int = 1280, height: int = 800) -> BrowserContext:
    """A separate cookie jar and localStorage: another person at another computer."""
    context = await browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    return context


async def sign_in(tab: Tab, base_url: str, account: Account, next_hash: str = "#/") -> None:
    """Signs in through the form; lands on ``next_hash``."""
    await tab.page.goto(f"{base_url}/#/signin?next={next_hash.replace('#', '%23')}")
    await tab.page.get_by_label("Username").fill(account.username)
    await tab.page.get_by_label("Password").fill(PASSWORD)
    await tab.page.get_by_role("button", name="Sign in").click()
    await expect(tab.page.locator(".account .who")).to_have_text(account.username)


def doc_hash(workspace_id: str, doc_id: str) -> str:
    return f"#/w/{workspace_id}/d/{doc_id}"


@dataclass
class CoEditors:
    """Alice and Bob, editors of one new document, each signed in and connected in a tab."""

    alice: Account
    bob: Account
    ws: str
    doc: str
    a: Tab
    b: Tab


async def co_editors(
    base_url: str,
    tabs: Callable[[], Awaitable[Tab]],
    label: str,
    workspace: str,
    *,
    allowed: tuple[re.Pattern[str], ...] = (),
) -> CoEditors:
    """``label`` keeps usernames unique per test; ``allowed`` console errors are expected."""
    alice, bob, ws = await members(base_url, f"alice-{label}", f"bob-{label}", "editor", workspace)
    doc = await alice.create_doc(ws)
    a, b = await tabs(), await tabs()
    for tab in (a, b):
        tab.allowed.extend(allowed)
    await sign_in(a, base_url, alice, doc_hash(ws, doc))
    await sign_in(b, base_url, bob, doc_hash(ws, doc))
    await a.wait_connected()
    await b.wait_connected()
    return CoEditors(alice, bob, ws, doc, a, b)
