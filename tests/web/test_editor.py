"""Two people in two browsers co-edit one document through the real server."""

from __future__ import annotations

from playwright.async_api import expect

from tests.accounts import sign_up
from tests.server_proc import TandemProcess
from tests.web.browser import co_editors, doc_hash, sign_in
from tests.web.conftest import OpenTab


async def test_two_users_see_each_others_text_cursor_and_presence(
    server: TandemProcess, tabs: OpenTab
) -> None:
    pair = await co_editors(server.http_url, tabs, "edit", "Design team")
    alice, bob, a, b = pair.alice, pair.bob, pair.a, pair.b

    await a.type_at_end("Hello from Alice.")
    await b.expect_text("Hello from Alice.")
    await b.type_at_end(" Bob was here.")
    await a.expect_text("Hello from Alice. Bob was here.")

    # Each sees the other's caret, labelled with their name, and both in the presence list.
    await expect(a.page.locator(".cm-ySelectionInfo")).to_have_text(bob.username)
    await expect(b.page.locator(".cm-ySelectionInfo")).to_have_text(alice.username)
    for tab in (a, b):
        await expect(tab.page.locator(".presence li")).to_have_count(2)
        await expect(
            tab.page.locator(f'.presence li[data-user="{alice.username}"]')
        ).to_be_visible()
        await expect(tab.page.locator(f'.presence li[data-user="{bob.username}"]')).to_be_visible()
    await a.screenshot("editor-two-users")

    # A selection shows for the other person too.
    await b.page.keyboard.press("Shift+Home")
    await expect(a.page.locator(".cm-ySelection")).not_to_have_count(0)

    # Undo takes back only one's own edits: Alice's text goes, Bob's stays, for both.
    await a.editor.click()
    await a.page.keyboard.press("Control+z")
    await a.expect_text(" Bob was here.")
    await b.expect_text(" Bob was here.")

    # Bob leaves: Alice's presence list and his caret go with him.
    await b.page.close(run_before_unload=True)
    await expect(a.page.locator(".presence li")).to_have_count(1)
    await expect(a.page.locator(".cm-ySelectionInfo")).to_have_count(0)


async def test_a_viewer_follows_along_but_cannot_type(server: TandemProcess, tabs: OpenTab) -> None:
    owner = await sign_up(server.http_url, "owner-view")
    viewer = await sign_up(server.http_url, "viewer-view")
    ws = await owner.create_workspace("Readers")
    doc = await owner.create_doc(ws)
    await owner.add_member(ws, viewer, "viewer")

    o, v = await tabs(), await tabs()
    await sign_in(o, server.http_url, owner, doc_hash(ws, doc))
    await sign_in(v, server.http_url, viewer, doc_hash(ws, doc))
    await o.wait_connected()
    await v.wait_connected()
    await o.type_at_end("Only owners write here.")
    await v.expect_text("Only owners write here.")
    await expect(v.page.locator(".badge.read-only")).to_have_text("Read only")
    await expect(o.page.locator(".badge.read-only")).to_have_count(0)

    await v.type_at_end(" VIEWER TEXT")
    await v.page.keyboard.press("Backspace")
    await v.page.keyboard.press("Control+a")
    await v.page.keyboard.press("Delete")
    await v.expect_text("Only owners write here.")
    # The viewer still shares presence, and the owner's later edits still arrive.
    await expect(o.page.locator(f'.presence li[data-user="{viewer.username}"]')).to_be_visible()
    await o.type_at_end(" Still live.")
    await v.expect_text("Only owners write here. Still live.")
    await o.expect_text("Only owners write here. Still live.")
    await v.screenshot("editor-viewer")

    # A fresh load shows the server's text: nothing the viewer typed got through.
    await v.page.reload()
    await v.wait_connected()
    await v.expect_text("Only owners write here. Still live.")


async def test_a_restore_point_brings_back_the_text_for_everyone(
    server: TandemProcess, tabs: OpenTab
) -> None:
    pair = await co_editors(server.http_url, tabs, "history", "Time travel")
    a, b = pair.a, pair.b

    await a.type_at_end("First draft.")
    await b.expect_text("First draft.")
    await a.page.get_by_role("button", name="History").click()
    await a.page.get_by_role("button", name="Save a restore point").click()
    points = a.page.locator('.point-list li[data-reason="manual"]')
    await expect(points).to_have_count(1)
    await expect(points.first).to_contain_text("Saved by hand · 12 characters")

    await b.type_at_end(" Then Bob rewrote everything.")
    await a.expect_text("First draft. Then Bob rewrote everything.")
    await points.first.get_by_role("button", name="Preview").click()
    await expect(a.page.locator(".preview pre")).to_have_text("First draft.")
    a.page.once("dialog", lambda dialog: dialog.accept())
    await points.first.get_by_role("button", name="Restore").click()
    await a.expect_text("First draft.")
    await b.expect_text("First draft.")
    # The text before the restore was kept as a point of its own, so the restore can be undone.
    await expect(a.page.locator('.point-list li[data-reason="before_restore"]')).to_have_count(1)
    await expect(a.page.locator(".session-list li").first).not_to_contain_text("No edits")
    await a.screenshot("editor-history")


async def test_a_removed_member_is_told_they_lost_access(
    server: TandemProcess, tabs: OpenTab
) -> None:
    owner = await sign_up(server.http_url, "owner-remove")
    guest = await sign_up(server.http_url, "guest-remove")
    ws = await owner.create_workspace("Closing")
    doc = await owner.create_doc(ws)
    await owner.add_member(ws, guest, "editor")
    g = await tabs()
    await sign_in(g, server.http_url, guest, doc_hash(ws, doc))
    await g.wait_connected()
    await owner.request("DELETE", f"/api/workspaces/{ws}/members/{guest.user_id}", expect=204)
    await expect(g.connection).to_have_attribute("data-state", "refused")
    await expect(g.connection).to_contain_text("You no longer have access to this document.")
