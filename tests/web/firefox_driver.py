"""Debian's firefox-esr, driven over WebDriver BiDi by puppeteer-core (tests/web/firefox/driver.mjs),
and the app's screens as small helpers that mirror tests/web/browser.py's Tab.

Why not Playwright: its patched Firefox cannot be downloaded here, and its channel for a stock
Firefox ("moz-firefox", WebDriver BiDi) sends emulation.setMediaFeaturesOverride for every new
context, a command Firefox 153 ESR does not have ("unknown command"). puppeteer-core speaks
WebDriver BiDi to the stock Firefox with no geckodriver and no patched build.

    async with FirefoxDriver() as firefox:
        tab = await firefox.open_tab()
        await tab.sign_in(base_url, account, doc_hash(ws, doc))
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from tests.accounts import PASSWORD, Account
from tests.web.browser import EDITOR_TEXT_JS, SCREENSHOTS, TIMEOUT_MS
from tests.yjs import YjsClientError, YjsClients

FIREFOX = Path("/usr/bin/firefox-esr")
DRIVER_DIR = Path(__file__).resolve().parent / "firefox"
INSTALL_STEP = (
    "run scripts/install.sh (apt-get install firefox-esr; npm ci --prefix tests/web/firefox)"
)
# Firefox takes a few seconds to start on a busy 2-core machine.
_LAUNCH_TIMEOUT_S = 60.0
_LINE_LIMIT = 64 * 1024 * 1024


def missing_firefox() -> str | None:
    """What is missing to drive Firefox, with the install step; None when all is there."""
    if not FIREFOX.exists():
        return f"{FIREFOX} is missing: {INSTALL_STEP}"
    if shutil.which("node") is None:
        return f"node is not on PATH: {INSTALL_STEP}"
    if not (DRIVER_DIR / "node_modules" / "puppeteer-core" / "package.json").exists():
        return f"puppeteer-core is missing in {DRIVER_DIR}: {INSTALL_STEP}"
    return None


class FirefoxDriver(YjsClients):
    """One Node process driving one headless Firefox; YjsClients carries the line protocol
    (commands, replies, the exit handshake, killing by PID if Node hangs)."""

    def __init__(self) -> None:
        super().__init__(DRIVER_DIR)

    async def __aenter__(self) -> Self:
        problem = missing_firefox()
        if problem:
            raise RuntimeError(problem)
        self._proc = await asyncio.create_subprocess_exec(
            "node",
            str(self.js_dir / "driver.mjs"),
            str(FIREFOX),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=_LINE_LIMIT,
        )
        self._reader = asyncio.create_task(self._read())
        try:
            await self.call("ping", timeout_s=_LAUNCH_TIMEOUT_S)
        except BaseException:
            await self._stop()
            raise
        return self

    async def version(self) -> str:
        return str(await self.call("version"))

    async def open_tab(self, width: int = 1280, height: int = 800) -> FirefoxTab:
        """A page in a new browser context: another person at another computer."""
        page = int(await self.call("open", width=width, height=height))
        return FirefoxTab(self, page)


def _first(selector: str) -> str:
    return f"document.querySelector({json.dumps(selector)})"


@dataclass
class FirefoxTab:
    """One Firefox page. Selectors are puppeteer's: CSS, or ``::-p-label(Name)``,
    ``::-p-button(Name)`` and ``::-p-link(Name)`` (defined in tests/web/firefox/driver.mjs)."""

    driver: FirefoxDriver
    page: int
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    async def _call(self, cmd: str, **args: Any) -> Any:
        try:
            return await self.driver.call(cmd, page=self.page, **args)
        except YjsClientError as error:
            if cmd == "screenshot":
                raise
            shot = await self.screenshot(f"firefox-failed-page-{self.page}")
            raise YjsClientError(f"Firefox: {error} (page: {shot})") from None

    async def goto(self, url: str) -> None:
        await self._call("goto", url=url)

    async def reload(self) -> None:
        await self._call("reload")

    async def close(self) -> None:
        await self._call("close")

    async def click(self, selector: str) -> None:
        await self._call("click", selector=selector, timeoutMs=TIMEOUT_MS)

    async def fill(self, selector: str, value: str) -> None:
        await self._call("fill", selector=selector, value=value, timeoutMs=TIMEOUT_MS)

    async def select_option(self, selector: str, value: str) -> None:
        await self._call("select", selector=selector, value=value, timeoutMs=TIMEOUT_MS)

    async def upload(self, selector: str, *paths: Path) -> None:
        """Picks ``paths`` in the file input ``selector`` (it may be hidden)."""
        await self._call(
            "upload", selector=selector, paths=[str(p) for p in paths], timeoutMs=TIMEOUT_MS
        )

    async def press(self, keys: str) -> None:
        """``keys`` in Playwright's notation: "Enter", "Control+End", "Shift+ArrowRight"."""
        await self._call("press", keys=keys)

    async def type(self, text: str) -> None:
        await self._call("type", text=text)

    async def evaluate(self, expression: str) -> Any:
        return await self._call("evaluate", expression=expression)

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self._call("screenshot", path=str(path))
        return path

    async def errors(self) -> list[str]:
        """Every console error and uncaught exception the page produced so far."""
        return [str(e) for e in await self._call("errors")]

    async def unexpected_errors(self) -> list[str]:
        return [e for e in await self.errors() if not any(p.search(e) for p in self.allowed)]

    async def wait_until(self, expression: str, what: str, timeout_ms: int = TIMEOUT_MS) -> None:
        """Waits until the page expression is truthy; fails saying ``what`` never happened."""
        if not await self._call("wait", expression=expression, timeoutMs=timeout_ms):
            shot = await self.screenshot(f"firefox-failed-page-{self.page}")
            raise AssertionError(
                f"Firefox: timed out after {timeout_ms} ms waiting for {what} (page: {shot})"
            )

    # Playwright-like expectations on what CSS selectors match.

    async def expect_count(self, selector: str, count: int) -> None:
        await self.wait_until(
            f"document.querySelectorAll({json.dumps(selector)}).length === {count}",
            f"{count} × {selector}",
        )

    async def expect_text_of(self, selector: str, text: str) -> None:
        """Waits until an element's whitespace-normalized text is ``text``."""
        await self.wait_until(
            f"Array.from(document.querySelectorAll({json.dumps(selector)}))"
            f".some((el) => el.textContent.replace(/\\s+/g, ' ').trim() === {json.dumps(text)})",
            f"{selector} to read {text!r}",
        )

    async def expect_attribute(self, selector: str, name: str, value: str) -> None:
        await self.wait_until(
            f"{_first(selector)}?.getAttribute({json.dumps(name)}) === {json.dumps(value)}",
            f"{selector} to have {name}={value!r}",
        )

    async def expect_focused(self, selector: str) -> None:
        await self.wait_until(
            f"document.activeElement?.matches({json.dumps(selector)}) === true",
            f"focus on {selector}",
        )

    # The app's screens.

    async def text(self) -> str:
        return str(await self.evaluate(f"({EDITOR_TEXT_JS})()"))

    async def expect_text(self, expected: str, timeout_ms: int = TIMEOUT_MS) -> None:
        """Waits until the editor shows exactly ``expected``."""
        try:
            await self.wait_until(
                f"({EDITOR_TEXT_JS})() === {json.dumps(expected)}", "the text", timeout_ms
            )
        except AssertionError:
            raise AssertionError(f"editor shows {await self.text()!r}, not {expected!r}") from None

    async def wait_connected(self) -> None:
        await self.expect_attribute(".connection", "data-state", "connected")

    async def type_at_end(self, text: str) -> None:
        await self.click(".cm-content")
        await self.press("Control+End")
        await self.type(text)

    async def sign_in(self, base_url: str, account: Account, next_hash: str = "#/") -> None:
        """Signs in through the form; lands on ``next_hash``."""
        await self.goto(f"{base_url}/#/signin?next={next_hash.replace('#', '%23')}")
        await self.fill("::-p-label(Username)", account.username)
        await self.fill("::-p-label(Password)", PASSWORD)
        await self.click("::-p-button(Sign in)")
        await self.expect_text_of(".account .who", account.username)
