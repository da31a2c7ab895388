"""The drive tree in the browser: what one member does, the other sees live."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Locator, Request, expect

from tests.accounts import members, sign_up
from tests.server_proc import TandemProcess
from tests.web.browser import Tab, sign_in
from tests.web.conftest import OpenTab


def row(tab: Tab, name: str) -> Locator:
    return tab.page.locator(f'.drive .entry[data-name="{name}"] > .row')


def trash_of(tab: Tab) -> Locator:
    return tab.page.locator(".drive .trash")


async def expand(tab: Tab, folder: str) -> None:
    toggle = row(tab, folder).get_by_role("button", name=folder)
    if await toggle.get_attribute("aria-expanded") == "false":
        await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "true")


async def test_files_one_member_creates_moves_and_trashes_show_in_the_others_tree(
    server: TandemProcess, tabs: OpenTab
) -> None:
    alice, bob, ws = await members(server.http_url, "alice-drive", "bob-drive", "editor")
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


async def test_a_half_typed_name_and_an_open_menu_outlive_a_co_editors_change(
    server: TandemProcess, tabs: OpenTab
) -> None:
    """The tree is rebuilt whenever the shared tree changes (a co-editor's edit, a file's size
    being refreshed): what its user is in the middle of must come through."""
    alice, bob, ws = await members(server.http_url, "alice-keep", "bob-keep", "editor")

    async def bob_adds(name: str) -> None:
        await bob.request(
            "POST", f"/api/workspaces/{ws}/drive/files", json={"name": name, "text": ""}, expect=201
        )

    await bob_adds("notes.md")
    a = await tabs()
    await sign_in(a, server.http_url, alice, f"#/w/{ws}")
    await a.page.get_by_role("link", name="notes.md").wait_for()

    await row(a, "notes.md").locator("summary").click()
    await bob_adds("second.md")
    await expect(row(a, "second.md")).to_be_visible()
    await expect(row(a, "notes.md").locator("details.menu")).to_have_attribute("open", "")

    await row(a, "notes.md").get_by_role("button", name="Rename").click()
    field = a.page.get_by_label("New name for notes.md")
    await field.press_sequentially("pla")
    await bob_adds("third.md")
    await expect(row(a, "third.md")).to_be_visible()
    await expect(field).to_have_value("pla.md")
    await expect(field).to_be_focused()
    await field.press_sequentially("n")  # typing goes on where it was: the selection stayed
    await field.press("Enter")
    await expect(row(a, "plan.md")).to_be_visible()
    await expect(row(a, "notes.md")).to_have_count(0)


# Every value an upload's <progress> takes, in order, from its first render to its removal:
# the bar is taken away as soon as the upload is done, too soon to be caught by polling.
RECORD_PROGRESS_JS = """() => {
  window.progressValues = []
  const seen = (bar) => window.progressValues.push(Number(bar.getAttribute('value')))
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.type === 'attributes' && record.target instanceof HTMLProgressElement) {
        seen(record.target)
      }
      for (const node of record.addedNodes) {
        if (node instanceof Element) node.querySelectorAll('progress').forEach(seen)
      }
    }
  }).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['value'],
  })
}"""


async def test_an_upload_shows_a_progress_bar_that_fills_until_the_file_is_stored(
    server: TandemProcess, tabs: OpenTab
) -> None:
    owner = await sign_up(server.http_url, "owner-progress")
    ws = await owner.create_workspace("Big files")
    t = await tabs()
    await sign_in(t, server.http_url, owner, f"#/w/{ws}")
    await expect(t.page.locator(".drive .tree")).to_contain_text("No files yet")
    await t.page.evaluate(RECORD_PROGRESS_JS)
    # Loopback sends megabytes in one go: hold the upload to 2 MB/s so it takes a while.
    cdp = await t.page.context.new_cdp_session(t.page)
    await cdp.send("Network.enable")
    await cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 2e6},
    )
    size = 4 * 1024 * 1024
    await t.page.locator(".drive input[type=file]").set_input_files(
        files=[{"name": "big.bin", "mimeType": "application/octet-stream", "buffer": bytes(size)}]
    )
    bar = t.page.get_by_role("progressbar", name="Uploading big.bin")
    await expect(bar).to_be_visible()
    await expect(row(t, "big.bin")).to_be_visible(timeout=60_000)
    await expect(bar).to_have_count(0)
    await expect(row(t, "big.bin").locator(".meta")).to_contain_text("4.0 MiB")

    values: list[float] = await t.page.evaluate("() => window.progressValues")
    assert values[0] == 0, values
    assert values[-1] == 1, values
    assert any(0 < v < 1 for v in values), f"the bar never showed a part done: {values}"
    assert values == sorted(values), f"the bar went backwards: {values}"


async def test_the_owner_deletes_a_trashed_file_forever_and_it_leaves_both_members_drives(
    server: TandemProcess, tabs: OpenTab
) -> None:
    owner, editor, ws = await members(server.http_url, "owner-purge", "editor-purge", "editor")
    for name in ("old.txt", "keep.txt"):
        await owner.request(
            "POST",
            f"/api/workspaces/{ws}/drive/files",
            json={"name": name, "text": f"This is {name}."},
            expect=201,
        )
    o, e = await tabs(), await tabs()
    await sign_in(o, server.http_url, owner, f"#/w/{ws}")
    await sign_in(e, server.http_url, editor, f"#/w/{ws}")
    await expect(row(o, "old.txt")).to_be_visible()

    # The editor trashes it: it leaves both trees for both trashes.
    await row(e, "old.txt").locator("summary").click()
    await row(e, "old.txt").get_by_role("button", name="Move to trash").click()
    for tab in (o, e):
        trash = trash_of(tab)
        await expect(row(tab, "old.txt")).to_have_count(0)
        await expect(trash.locator("summary")).to_have_text("Trash (1)")
        await trash.locator("summary").click()
        await expect(trash.locator('li[data-name="old.txt"]')).to_be_visible()
    # Only the owner may delete for good.
    await expect(trash_of(e).get_by_role("button", name="Delete forever")).to_have_count(0)
    purge = (
        trash_of(o).locator('li[data-name="old.txt"]').get_by_role("button", name="Delete forever")
    )

    # Saying no to the confirmation sends nothing; saying yes sends the one deletion.
    deletions: list[str] = []

    def on_request(request: Request) -> None:
        if request.method == "DELETE" and "/drive/trash/" in request.url:
            deletions.append(request.url)

    o.page.on("request", on_request)
    o.page.once("dialog", lambda dialog: dialog.dismiss())
    await purge.click()
    o.page.once("dialog", lambda dialog: dialog.accept())
    await purge.click()
    for tab in (o, e):
        trash = trash_of(tab)
        await expect(trash.locator("summary")).to_have_text("Trash (0)")
        await expect(trash).to_contain_text("The trash is empty.")
        await expect(row(tab, "old.txt")).to_have_count(0)
        await expect(row(tab, "keep.txt")).to_be_visible()
    assert len(deletions) == 1, deletions

    # It is gone from the server too, not only from the pages: a fresh load has no trace of it.
    await e.page.reload()
    await expect(row(e, "keep.txt")).to_be_visible()
    await expect(trash_of(e).locator("summary")).to_have_text("Trash (0)")
    listing = (await owner.request("GET", f"/api/workspaces/{ws}/drive", expect=200)).json()
    names = [entry["name"] for entry in listing["entries"] + listing["trash"]]
    assert names == ["keep.txt"], names


async def test_a_viewer_sees_the_tree_but_no_editing_controls(
    server: TandemProcess, tabs: OpenTab
) -> None:
    owner, viewer, ws = await members(server.http_url, "owner-drive", "viewer-drive", "viewer")
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
