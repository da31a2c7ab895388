"""The drive tree by keyboard alone, as the WAI-ARIA tree pattern has it: one Tab stop, arrows
move and open folders, Enter opens a file, Shift+F10 opens a row's actions."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Locator, expect

from tests.accounts import Account, sign_up
from tests.server_proc import TandemProcess
from tests.web.browser import Tab, sign_in
from tests.web.conftest import OpenTab


async def make(owner: Account, ws: str, what: str, name: str, parent: str | None = None) -> str:
    body: dict[str, Any] = {"name": name, "parent_id": parent}
    if what == "files":
        body["text"] = f"This is {name}."
    response = await owner.request(
        "POST", f"/api/workspaces/{ws}/drive/{what}", json=body, expect=201
    )
    return str(response.json()["id"])


def item(tab: Tab, name: str) -> Locator:
    return tab.page.locator(".drive").get_by_role("treeitem", name=name, exact=True)


async def keys(tab: Tab, steps: str) -> None:
    """``"ArrowDown Beta, End top.md"``: press each key, then the named row must have focus."""
    for step in steps.split(", "):
        key, name = step.split(" ", 1)
        await tab.page.keyboard.press(key)
        await expect(item(tab, name)).to_be_focused()


async def test_arrows_move_between_rows_open_folders_and_enter_opens_a_file(
    server: TandemProcess, tabs: OpenTab
) -> None:
    owner = await sign_up(server.http_url, "owner-keys")
    ws = await owner.create_workspace("Keyboard drive")
    alpha = await make(owner, ws, "folders", "Alpha")
    await make(owner, ws, "files", "inside.md", alpha)
    await make(owner, ws, "folders", "Beta")
    await make(owner, ws, "files", "top.md")
    t = await tabs()
    page = t.page
    await sign_in(t, server.http_url, owner, f"#/w/{ws}")

    tree = page.get_by_role("tree", name="Files and folders")
    await expect(tree.get_by_role("treeitem")).to_have_count(3)
    await expect(item(t, "Alpha")).to_have_attribute("aria-expanded", "false")
    await expect(item(t, "top.md")).not_to_have_attribute("aria-expanded", "false")

    # The tree is one Tab stop: in from the toolbar lands on the first row, the next Tab leaves.
    await page.get_by_role("button", name="Download all").focus()
    await page.keyboard.press("Tab")
    await expect(item(t, "Alpha")).to_be_focused()
    await expect(tree.locator('[tabindex="0"]')).to_have_count(1)
    await page.keyboard.press("Tab")
    await expect(page.locator(".drive .trash summary")).to_be_focused()
    await page.keyboard.press("Shift+Tab")
    await expect(item(t, "Alpha")).to_be_focused()

    # Each key, then the row that has focus after it; at either end the focus stays.
    await keys(t, "ArrowDown Beta, End top.md, ArrowDown top.md, Home Alpha, ArrowUp Alpha")

    # Right opens a folder, then goes into it; Left goes back up, then closes it.
    await page.keyboard.press("ArrowRight")
    await expect(item(t, "Alpha")).to_have_attribute("aria-expanded", "true")
    await expect(item(t, "Alpha")).to_be_focused()
    await expect(item(t, "Alpha").get_by_role("group").get_by_role("treeitem")).to_have_attribute(
        "aria-label", "inside.md"
    )
    await keys(t, "ArrowRight inside.md, ArrowDown Beta, ArrowUp inside.md, ArrowLeft Alpha")
    await page.keyboard.press("ArrowLeft")
    await expect(item(t, "Alpha")).to_have_attribute("aria-expanded", "false")
    await expect(item(t, "inside.md")).to_have_count(0)
    await expect(item(t, "Alpha")).to_be_focused()
    # Enter on a folder opens it too.
    await page.keyboard.press("Enter")
    await expect(item(t, "Alpha")).to_have_attribute("aria-expanded", "true")

    # Shift+F10 opens the row's actions; Escape closes them and returns to the row.
    await keys(t, "End top.md")
    await page.keyboard.press("Shift+F10")
    await expect(item(t, "top.md").get_by_role("button", name="Download")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(item(t, "top.md").locator("details.menu")).not_to_have_attribute("open", "")
    await expect(item(t, "top.md")).to_be_focused()

    # Enter opens the file; in the file's sidebar, the open file is the tree's Tab stop.
    await keys(t, "ArrowUp Beta, ArrowUp inside.md")
    await page.keyboard.press("Enter")
    await expect(page.locator(".doc-title")).to_have_text("inside.md")
    await t.wait_connected()
    await t.expect_text("This is inside.md.")
    await expect(item(t, "inside.md")).to_have_attribute("tabindex", "0")
    await t.screenshot("drive-keyboard")
