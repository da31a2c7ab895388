"""Ctrl+Shift+F in the browser: a member searches the workspace and opens a match at its line."""

from __future__ import annotations

from playwright.async_api import expect

from tests.accounts import members
from tests.server_proc import TandemProcess
from tests.web.browser import sign_in
from tests.web.conftest import OpenTab

FILLER = "".join(f"filler line {n}\n" for n in range(1, 80))
TARGET = "def reconcile_ledger(entries): return <b>sum</b>(entries)  # marmalade"


async def test_a_viewer_finds_a_word_and_opens_the_file_at_its_line(
    server: TandemProcess, tabs: OpenTab
) -> None:
    alice, bob, ws = await members(server.http_url, "alice-search", "bob-search", "viewer")
    text = FILLER + TARGET + "\n" + FILLER
    line = FILLER.count("\n") + 1
    created = await alice.request(
        "POST",
        f"/api/workspaces/{ws}/drive/files",
        json={"name": "ledger.py", "text": text},
        expect=201,
    )
    await alice.request(
        "POST",
        f"/api/workspaces/{ws}/drive/files",
        json={"name": "other.md", "text": "nothing to see here\n"},
        expect=201,
    )
    file_id = str(created.json()["id"])

    tab = await tabs()
    await sign_in(tab, server.http_url, bob, f"#/w/{ws}")
    page = tab.page
    await page.keyboard.press("Control+Shift+F")
    box = page.get_by_role("searchbox", name="Search the workspace")
    await expect(box).to_be_focused()
    await box.fill("marmalade")
    await box.press("Enter")

    dialog = page.locator(".search-dialog")
    await expect(dialog.locator(".search-status")).to_have_text("1 match in 1 file")
    await expect(dialog.locator(".search-path")).to_have_text(["ledger.py"])
    match = dialog.locator(".search-match")
    await expect(match).to_have_count(1)
    await expect(match.locator(".search-line")).to_have_text(str(line))
    await expect(match.locator("code")).to_have_text(TARGET)
    await expect(match.locator("mark")).to_have_text(["marmalade"])
    # The line's text is shown as text: markup in a file never becomes elements.
    await expect(match.locator("code b")).to_have_count(0)

    await match.click()
    await expect(page).to_have_url(f"{server.http_url}/#/w/{ws}/f/{file_id}?line={line}")
    await expect(dialog).to_be_hidden()
    revealed = page.locator(".cm-revealed-line")
    await expect(revealed).to_have_text(TARGET)
    await expect(revealed).to_be_in_viewport()
    await expect(page.locator(".cm-activeLine")).to_have_text(TARGET)


async def test_the_shortcut_does_nothing_outside_a_workspace(
    server: TandemProcess, tabs: OpenTab
) -> None:
    alice, _, _ = await members(server.http_url, "alice-search2", "bob-search2", "viewer")
    tab = await tabs()
    await sign_in(tab, server.http_url, alice, "#/")
    await tab.page.keyboard.press("Control+Shift+F")
    await expect(tab.page.locator(".search-dialog")).to_be_hidden()
