"""The drive tree in the browser: what one member does, the other sees live."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Locator, expect

from tests.accounts import sign_up
from tests.server_proc import TandemProcess
from tests.web.browser import Tab, sign_in
from tests.web.conftest import OpenTab


def row(tab: Tab, name: str) -> Locator:
    return tab.page.locator(f'.drive .entry[data-name="{name}"] > .row')


async def expand(tab: Tab, folder: str) -> None:
    toggle = row(tab, folder).get_by_role("button", name=folder)
    if await toggle.get_attribute("aria-expanded") == "false":
        await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "true")


async def test_files_one_member_creates_moves_and_trashes_show_in_the_others_tree(
    server: TandemProcess, tabs: OpenTab
) -> None:
    alice = await sign_up(server.http_url, "alice-drive")
    bob = await sign_up(server.http_url, "bob-drive")
    ws = await alice.create_workspace("Drive team")
    await alice.add_member(ws, bob, "editor")
    a, b = await tabs(), await tabs()
    await sign_in(a, server.http_url, alice, f"#/w/{ws}")
    await sign_in(b, server.http_url, bob, f"#/w/{ws}")
    await expect(b.page.locator(".drive .tree")).to_contain_text("No files yet")

    # Alice creates a file: it opens for her and appears in Bob's tree without a reload.
    await a.page.get_by_role("button", name="New file").click()
    await a.page.get_by_label("New file name").fill("notes.md")
    await a.page.get_by_role("button", name="Create", exact=True).click()
    await expect(a.page.locator(".doc-title")).to_have_text("notes.md")
    await a.wait_connected()
    await expect(row(b, "notes.md")).to_be_visible()

    # A folder made from Alice's sidebar shows up for Bob too.
    await a.page.get_by_role("button", name="New folder").click()
    await a.page.get_by_label("New folder name").fill("Designs")
    await a.page.get_by_label("New folder name").press("Enter")
    await expect(row(b, "Designs")).to_be_visible()

    # Bob drags the file into the folder; Alice's tree follows.
    await row(b, "notes.md").drag_to(row(b, "Designs"))
    await expect(row(a, "notes.md")).to_have_count(0)
    await expand(a, "Designs")
    await expect(row(a, "notes.md")).to_be_visible()

    # Bob opens it from the tree: both edit the same text, highlighted as Markdown.
    await expand(b, "Designs")
    await row(b, "notes.md").get_by_role("link", name="notes.md").click()
    await b.wait_connected()
    await expect(b.page.locator("#language")).to_have_value("markdown")
    await a.type_at_end("# Plan")
    await b.expect_text("# Plan")
    await a.screenshot("drive-editor")

    # Alice renames it from her sidebar: Bob's open editor follows the new name.
    await row(a, "notes.md").locator("summary").click()
    await row(a, "notes.md").get_by_role("button", name="Rename").click()
    await a.page.get_by_label("New name for notes.md").fill("plan.md")
    await a.page.get_by_label("New name for notes.md").press("Enter")
    await expect(b.page.locator(".doc-title")).to_have_text("plan.md")
    # She trashes it: Bob is told, and restores it from his sidebar's trash.
    await row(a, "plan.md").locator("summary").click()
    await row(a, "plan.md").get_by_role("button", name="Move to trash").click()
    await expect(b.page.locator(".file-gone")).to_contain_text("in the trash")
    await b.page.locator(".sidebar .trash summary").click()
    await b.page.locator(".sidebar .trash").get_by_role("button", name="Restore").click()
    await expect(b.page.locator(".file-gone")).to_be_hidden()
    await b.expect_text("# Plan")

    # Bob uploads a small binary file; it appears for Alice with its size.
    await b.page.goto(f"{server.http_url}/#/w/{ws}")
    await b.page.locator(".drive input[type=file]").set_input_files(
        files=[
            {
                "name": "logo.bin",
                "mimeType": "application/octet-stream",
                "buffer": bytes(range(256)) * 40,
            }
        ]
    )
    await expect(row(a, "logo.bin")).to_be_visible()
    await expect(b.page.locator(".notice.info")).to_contain_text("uploaded logo.bin")
    await expect(row(b, "logo.bin").locator(".meta")).to_contain_text("10 KiB · bob-drive")

    # Bob moves it to the trash; Alice sees it leave her tree and restores it from the trash.
    await row(b, "logo.bin").locator("summary").click()
    await row(b, "logo.bin").get_by_role("button", name="Move to trash").click()
    await expect(row(a, "logo.bin")).to_have_count(0)
    trash = a.page.locator(".drive .trash")
    await trash.locator("summary").click()
    await expect(trash.locator("summary")).to_have_text("Trash (1)")
    await trash.get_by_role("button", name="Restore").click()
    await expect(row(b, "logo.bin")).to_be_visible()
    await expect(trash.locator("summary")).to_have_text("Trash (0)")
    await b.screenshot("workspace-drive")

    # A rename from Bob's menu shows under the new name for Alice.
    await row(b, "logo.bin").locator("summary").click()
    await row(b, "logo.bin").get_by_role("button", name="Rename").click()
    await b.page.get_by_label("New name for logo.bin").fill("brand.bin")
    await b.page.get_by_label("New name for logo.bin").press("Enter")
    await expect(row(a, "brand.bin")).to_be_visible()
    await expect(row(a, "logo.bin")).to_have_count(0)


async def test_a_viewer_sees_the_tree_but_no_editing_controls(
    server: TandemProcess, tabs: OpenTab
) -> None:
    owner = await sign_up(server.http_url, "owner-drive")
    viewer = await sign_up(server.http_url, "viewer-drive")
    ws = await owner.create_workspace("Read-only drive")
    await owner.add_member(ws, viewer, "viewer")
    await owner.request(
        "POST",
        f"/api/workspaces/{ws}/drive/files",
        json={"name": "readme.txt", "text": "hi"},
        expect=201,
    )
    v = await tabs()
    await sign_in(v, server.http_url, viewer, f"#/w/{ws}")
    await expect(row(v, "readme.txt")).to_be_visible()
    await expect(v.page.get_by_role("button", name="New file")).to_have_count(0)
    await row(v, "readme.txt").locator("summary").click()
    await expect(row(v, "readme.txt").locator(".menu-items button")).to_have_text(["Download"])
    async with v.page.expect_download() as downloading:
        await row(v, "readme.txt").get_by_role("button", name="Download").click()
    download = await downloading.value
    assert download.suggested_filename == "readme.txt"
    assert Path(await download.path()).read_text() == "hi"
    await row(v, "readme.txt").get_by_role("link", name="readme.txt").click()
    await v.wait_connected()
    await v.expect_text("hi")
    await expect(v.page.locator(".badge.read-only")).to_be_visible()
