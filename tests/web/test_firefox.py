"""The key flows in Firefox (Debian's firefox-esr over WebDriver BiDi, see firefox_driver.py):
accounts, the editor, co-editing with Chromium and with another Firefox, the assistant's
suggestions, read-only viewers, and no console errors anywhere."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.accounts import PASSWORD, Account, members, sign_up
from tests.modelserver import ModelServer, Reply
from tests.server_proc import TandemProcess
from tests.web.browser import EDITOR_TEXT_JS, EXPECTED_WHILE_SERVER_DOWN, Tab, doc_hash, sign_in
from tests.web.conftest import OpenTab, server_env
from tests.web.firefox_driver import FirefoxDriver, FirefoxTab, missing_firefox
from tests.web.test_assistant import TEXT, assisted, model, shared_file  # noqa: F401 (fixtures)

OpenFirefoxTab = Callable[..., Awaitable[FirefoxTab]]

# Firefox's own words for a refused websocket while the server is down on purpose (it reports
# them as uncaught errors; Chromium's are EXPECTED_WHILE_SERVER_DOWN).
FIREFOX_WHILE_SERVER_DOWN = re.compile(r"can.t establish a connection to the server at ws://")


@pytest.fixture(scope="module")
async def firefox() -> AsyncIterator[FirefoxDriver]:
    problem = missing_firefox()
    if problem:
        pytest.fail(problem)
    async with FirefoxDriver() as driver:
        yield driver


@pytest.fixture
async def ff_tabs(firefox: FirefoxDriver) -> AsyncIterator[OpenFirefoxTab]:
    """``await ff_tabs()`` opens a Firefox page for another person; its console errors fail
    the test."""
    opened: list[FirefoxTab] = []

    async def open_new(width: int = 1280, height: int = 800) -> FirefoxTab:
        tab = await firefox.open_tab(width, height)
        opened.append(tab)
        return tab

    yield open_new
    errors = [error for tab in opened for error in await tab.unexpected_errors()]
    for tab in opened:
        await tab.close()
    assert not errors, "errors in the Firefox console:\n" + "\n".join(errors)


async def shared_doc(
    base_url: str, owner: str, other: str, role: str
) -> tuple[Account, Account, str]:
    """A new document of ``owner``'s, shared with ``other`` as ``role``; and its page's hash."""
    first, second, ws = await members(base_url, owner, other, role)
    return first, second, doc_hash(ws, await first.create_doc(ws))


async def firefox_and_chromium(
    base_url: str, alice: Account, bob: Account, page: str, ff_tabs: OpenFirefoxTab, tabs: OpenTab
) -> tuple[FirefoxTab, Tab]:
    """Alice in Firefox and Bob in Chromium, each signed in on ``page``."""
    a, b = await ff_tabs(), await tabs()
    await a.sign_in(base_url, alice, page)
    await sign_in(b, base_url, bob, page)
    return a, b


async def test_the_driver_runs_a_stock_firefox(firefox: FirefoxDriver) -> None:
    assert (await firefox.version()).startswith("firefox/")


async def test_sign_up_sign_out_and_sign_in_again(
    assisted: TandemProcess,  # noqa: F811
    ff_tabs: OpenFirefoxTab,
) -> None:
    tab = await ff_tabs()
    await tab.goto(f"{assisted.http_url}/")
    await tab.click("::-p-link(Create an account)")
    await tab.fill("::-p-label(Username)", "erin-fx")
    await tab.fill("::-p-label(Password)", PASSWORD)
    await tab.click("::-p-button(Create account)")
    await tab.expect_text_of(".account .who", "erin-fx")
    await tab.fill("::-p-label(New workspace name)", "Fox den")
    await tab.click("::-p-button(Create workspace)")
    await tab.expect_text_of("h1", "Fox den owner")
    await tab.click("::-p-button(Sign out)")
    await tab.expect_text_of("h1", "Sign in to Tandem")
    await tab.fill("::-p-label(Username)", "erin-fx")
    await tab.fill("::-p-label(Password)", PASSWORD)
    await tab.click("::-p-button(Sign in)")
    await tab.expect_text_of(".account .who", "erin-fx")
    # Signing in again leads back to the screen she signed out from.
    await tab.expect_text_of("h1", "Fox den owner")


async def test_firefox_and_chromium_co_edit_and_see_each_other(
    assisted: TandemProcess,  # noqa: F811
    ff_tabs: OpenFirefoxTab,
    tabs: OpenTab,
) -> None:
    alice, bob, page = await shared_doc(assisted.http_url, "alice-fx", "bob-cr", "editor")
    a, b = await firefox_and_chromium(assisted.http_url, alice, bob, page, ff_tabs, tabs)
    await a.wait_connected()
    await b.wait_connected()

    await a.type_at_end("Firefox writes.")
    await b.expect_text("Firefox writes.")
    await b.type_at_end(" Chromium answers.")
    await a.expect_text("Firefox writes. Chromium answers.")
    # Accented letters, and an emoji Firefox types as two UTF-16 halves (see surrogates.ts).
    await a.type_at_end("\nÜnïcödé and emoji 🦊 from Firefox.")
    expected = "Firefox writes. Chromium answers.\nÜnïcödé and emoji 🦊 from Firefox."
    await b.expect_text(expected)
    await a.expect_text(expected)

    # Each sees the other's named caret, and both in the presence list.
    await a.expect_text_of(".cm-ySelectionInfo", bob.username)
    await expect(b.page.locator(".cm-ySelectionInfo")).to_have_text(alice.username)
    await a.expect_count(".presence li", 2)
    await a.screenshot("firefox-editor")

    # Undo in Firefox takes back only Alice's own edits. Her two typings are one undo step
    # when they came within the undo manager's 500 ms capture window, as on a fast run.
    await a.click(".cm-content")
    await a.press("Control+z")
    undone = ["Firefox writes. Chromium answers.", " Chromium answers."]
    await a.wait_until(
        f"{json.dumps(undone)}.includes(({EDITOR_TEXT_JS})())", "the text after undo"
    )
    await b.expect_text(await a.text())  # Bob's words stay, for both of them


async def select(tab: FirefoxTab, text: str, phrase: str) -> None:
    """Selects ``phrase`` with the keyboard, as a person would."""
    start = text.index(phrase)
    await tab.click(".cm-content")
    await tab.press("Control+Home")
    for _ in range(text.count("\n", 0, start)):
        await tab.press("ArrowDown")
    for _ in range(start - (text.rfind("\n", 0, start) + 1)):
        await tab.press("ArrowRight")
    for _ in range(len(phrase)):
        await tab.press("Shift+ArrowRight")


async def test_two_firefox_users_one_asks_the_other_accepts(
    assisted: TandemProcess,  # noqa: F811
    model: ModelServer,  # noqa: F811
    ff_tabs: OpenFirefoxTab,
) -> None:
    alice, bob, ws, entry = await shared_file(assisted, "fox.md")
    model.script_for("quick brown", Reply(tokens=["sly", " ", "red"], rate_per_s=3.0))
    a, b = await ff_tabs(), await ff_tabs()
    await a.sign_in(assisted.http_url, alice, f"#/w/{ws}/f/{entry}")
    await b.sign_in(assisted.http_url, bob, f"#/w/{ws}/f/{entry}")
    await a.wait_connected()
    await b.wait_connected()
    await b.expect_text(TEXT.rstrip("\n") + "\n")

    await select(a, TEXT, "quick brown")
    await a.expect_text_of(".selection-info", "Selection: 11 characters.")
    await a.fill("::-p-label(Instruction)", "a craftier animal")
    await a.select_option("::-p-label(Mode)", "rewrite")
    await a.click("::-p-button(Ask)")

    # Bob sees it stream in, then the finished proposal with who asked and which model.
    await b.expect_attribute(".sugg-card", "data-status", "streaming")
    await b.expect_text_of(".cm-sugg-original", "quick brown")
    await b.expect_attribute(".sugg-card", "data-status", "pending")
    await b.expect_text_of(".cm-sugg .cm-sugg-proposal", "sly red")
    await b.expect_text_of(".cm-sugg .cm-sugg-meta", f"{alice.username} · test-model")
    await b.screenshot("firefox-editor-suggestion")

    await b.click(f".cm-sugg ::-p-button(Accept the suggestion by {alice.username})")
    expected = TEXT.replace("quick brown", "sly red").rstrip("\n") + "\n"
    await b.expect_text(expected)
    await a.expect_text(expected)
    for tab in (a, b):
        await tab.expect_attribute(".sugg-card", "data-status", "accepted")
        await tab.expect_count(".cm-sugg", 0)


async def test_a_viewer_in_firefox_cannot_type(
    assisted: TandemProcess,  # noqa: F811
    ff_tabs: OpenFirefoxTab,
) -> None:
    owner, viewer, page = await shared_doc(assisted.http_url, "owner-fx", "viewer-fx", "viewer")
    o, v = await ff_tabs(), await ff_tabs()
    for tab, account in ((o, owner), (v, viewer)):
        await tab.sign_in(assisted.http_url, account, page)
        await tab.wait_connected()
    await o.type_at_end("Only owners write here.")
    await v.expect_text("Only owners write here.")
    await v.expect_text_of(".badge.read-only", "Read only")

    await v.type_at_end(" VIEWER TEXT")
    await v.press("Backspace")
    await v.press("Control+a")
    await v.press("Delete")
    await o.type_at_end(" Still live.")
    await v.expect_text("Only owners write here. Still live.")
    await o.expect_text("Only owners write here. Still live.")
    # A fresh load shows the server's text: nothing the viewer typed got through.
    await v.reload()
    await v.wait_connected()
    await v.expect_text("Only owners write here. Still live.")


async def test_the_drive_in_firefox_by_mouse_keyboard_and_upload(
    assisted: TandemProcess,  # noqa: F811
    ff_tabs: OpenFirefoxTab,
    tabs: OpenTab,
    tmp_path: Path,
) -> None:
    alice, bob, ws = await members(assisted.http_url, "alice-fx-drive", "bob-cr-drive", "editor")
    a, b = await firefox_and_chromium(assisted.http_url, alice, bob, f"#/w/{ws}", ff_tabs, tabs)

    # A folder and a file made in Firefox appear in Bob's tree in Chromium.
    await a.click("::-p-button(New folder)")
    await a.fill("::-p-label(New folder name)", "Dens")
    await a.click("::-p-button(Create)")
    await a.click("::-p-button(New file)")
    await a.fill("::-p-label(New file name)", "burrow.md")
    await a.click("::-p-button(Create)")
    await a.expect_text_of(".doc-title", "burrow.md")
    await a.wait_connected()
    for name in ("Dens", "burrow.md"):
        await expect(b.page.get_by_role("treeitem", name=name, exact=True)).to_be_visible()

    # Firefox walks the sidebar tree by keyboard: the open file is its Tab stop.
    row = '.drive [role="treeitem"][aria-label="{}"]'.format
    await a.expect_attribute(row("burrow.md"), "tabindex", "0")
    await a.evaluate(f"document.querySelector({json.dumps(row('burrow.md'))}).focus()")
    await a.press("ArrowUp")
    await a.expect_focused(row("Dens"))
    await a.press("ArrowRight")
    await a.expect_attribute(row("Dens"), "aria-expanded", "true")
    await a.press("ArrowDown")
    await a.expect_focused(row("burrow.md"))
    await a.type_at_end("Written in Firefox.")
    await b.page.get_by_role("link", name="burrow.md").click()
    await b.expect_text("Written in Firefox.")

    # An upload from Firefox (XMLHttpRequest with progress) reaches Bob's tree, every byte.
    den = bytes(range(256)) * 4096
    (tmp_path / "den.bin").write_bytes(den)
    await a.upload(".drive input[type=file]", tmp_path / "den.bin")
    await a.expect_text_of(".drive .notice.info", "uploaded den.bin")
    await expect(b.page.get_by_role("treeitem", name="den.bin", exact=True)).to_be_visible()
    listing = (await bob.request("GET", f"/api/workspaces/{ws}/drive", expect=200)).json()
    [entry] = [e for e in listing["entries"] if e["name"] == "den.bin"]
    content = f"/api/workspaces/{ws}/drive/entries/{entry['id']}/content"
    assert (await bob.request("GET", content, expect=200)).content == den


async def test_a_server_restart_mid_edit_loses_nothing_in_firefox(
    tmp_path: Path, ff_tabs: OpenFirefoxTab, tabs: OpenTab
) -> None:
    server = await TandemProcess(tmp_path, env=server_env()).start()
    restarted: TandemProcess | None = None
    try:
        alice, bob, page = await shared_doc(server.http_url, "alice-fx-rs", "bob-cr-rs", "editor")
        a, b = await firefox_and_chromium(server.http_url, alice, bob, page, ff_tabs, tabs)
        a.allowed.append(FIREFOX_WHILE_SERVER_DOWN)
        b.allowed.append(EXPECTED_WHILE_SERVER_DOWN)
        await a.wait_connected()
        await b.wait_connected()
        await a.type_at_end("Before the crash.")
        await b.expect_text("Before the crash.")

        await server.kill()
        await a.expect_attribute(".connection", "data-state", "reconnecting")
        await a.type_at_end(" While it was down.")
        await a.expect_attribute(".connection", "data-unsynced", "true")
        await a.screenshot("firefox-editor-reconnecting")

        restarted = await TandemProcess(tmp_path, env=server_env(), port=server.port).start()
        await a.wait_connected()
        await b.wait_connected()
        await a.expect_attribute(".connection", "data-unsynced", "false")
        await b.expect_text("Before the crash. While it was down.")
        await a.expect_text("Before the crash. While it was down.")
    finally:
        for proc in (server, restarted):
            if proc is not None and proc.proc is not None and proc.proc.returncode is None:
                await proc.kill()


async def test_a_narrow_firefox_window_edits_without_scrolling_sideways(
    assisted: TandemProcess,  # noqa: F811
    ff_tabs: OpenFirefoxTab,
) -> None:
    fay = await sign_up(assisted.http_url, "fay-fx-narrow")
    ws = await fay.create_workspace("Pocket")
    response = await fay.request(
        "POST", f"/api/workspaces/{ws}/drive/files", json={"name": "pocket.md"}, expect=201
    )
    t = await ff_tabs(390, 844)
    await t.sign_in(assisted.http_url, fay, f"#/w/{ws}/f/{response.json()['id']}")
    await t.wait_connected()
    await t.type_at_end("Typed on a small screen.")
    await t.expect_text("Typed on a small screen.")
    overflow = await t.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px in Firefox"
    # The drive folds away on a small screen; its button brings it back.
    await t.click("::-p-button(Files)")
    await t.expect_attribute(".sidebar-toggle", "aria-expanded", "true")
    await t.wait_until(
        "document.querySelector('.sidebar .drive [role=\"treeitem\"]')?.checkVisibility() === true",
        "the drive tree in the opened sidebar",
    )
    await t.screenshot("firefox-editor-narrow")
