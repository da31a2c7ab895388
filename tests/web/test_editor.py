"""Two people in two browsers co-edit one document through the real server."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import expect

from tests.accounts import members, sign_up
from tests.server_proc import TandemProcess
from tests.web.browser import Tab, co_editors, doc_hash, sign_in
from tests.web.conftest import OpenTab

# The colour of the text `word` (a whole token), and of plain text on its line; null while the
# editor does not show the word as one element of its own (not highlighted, or not yet).
TOKEN_COLOURS_JS = """(word) => {
  for (const line of document.querySelectorAll('.cm-content .cm-line')) {
    for (const span of line.querySelectorAll('span')) {
      if (span.textContent === word) {
        return { token: getComputedStyle(span).color, plain: getComputedStyle(line).color }
      }
    }
  }
  return null
}"""

PYTHON = "def greet(name):\n    return name\n"


async def token_colours(tab: Tab, word: str) -> dict[str, str] | None:
    result: dict[str, str] | None = await tab.page.evaluate(TOKEN_COLOURS_JS, word)
    return result


def palette() -> list[str]:
    """The colours a person can be given, read from the app's own source."""
    source = (Path(__file__).parents[2] / "web" / "src" / "editor" / "colors.ts").read_text()
    found = re.search(r"const PALETTE = \[([^\]]*)\]", source)
    assert found, "colors.ts no longer declares PALETTE as a literal list"
    colours = re.findall(r"'(#[0-9a-fA-F]{6})'", found.group(1))
    assert len(colours) >= 2, found.group(1)
    return colours


def rgb(hex_colour: str) -> str:
    """``#1f5fbf`` as getComputedStyle writes it."""
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


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


async def test_a_python_file_highlights_its_keywords_and_a_text_file_does_not(
    server: TandemProcess, tabs: OpenTab
) -> None:
    owner = await sign_up(server.http_url, "owner-syntax")
    ws = await owner.create_workspace("Code")
    entries = {}
    for name in ("greet.py", "greet.txt"):
        response = await owner.request(
            "POST",
            f"/api/workspaces/{ws}/drive/files",
            json={"name": name, "text": PYTHON},
            expect=201,
        )
        entries[name] = response.json()["id"]
    t = await tabs()

    await sign_in(t, server.http_url, owner, f"#/w/{ws}/f/{entries['greet.py']}")
    await t.wait_connected()
    await expect(t.page.locator("#language")).to_have_value("python")
    # The parser is its own chunk, loaded after the text shows: wait for the keyword's token.
    await t.page.wait_for_function(f"() => ({TOKEN_COLOURS_JS})('def') !== null")
    for keyword in ("def", "return"):
        colours = await token_colours(t, keyword)
        assert colours is not None, f"{keyword!r} is not a token of its own"
        assert colours["token"] != colours["plain"], colours
    # Both keywords share the keyword colour; a name is not a keyword.
    assert (await token_colours(t, "def")) == (await token_colours(t, "return"))
    greet = await token_colours(t, "greet")
    assert greet is None or greet["token"] != (await token_colours(t, "def") or {})["token"]

    # The same text in a .txt file is plain: no token stands apart.
    await t.page.goto(f"{server.http_url}/#/w/{ws}/f/{entries['greet.txt']}")
    await t.wait_connected()
    await expect(t.page.locator("#language")).to_have_value("text")
    await t.expect_text(PYTHON.rstrip("\n") + "\n")
    assert await token_colours(t, "def") is None


async def test_a_remote_caret_and_selection_carry_the_colour_its_owner_has(
    server: TandemProcess, tabs: OpenTab
) -> None:
    pair = await co_editors(server.http_url, tabs, "colour", "Colours")
    alice, bob, a, b = pair.alice, pair.bob, pair.a, pair.b
    await a.type_at_end("Alice writes.")
    await b.expect_text("Alice writes.")
    await b.type_at_end(" Bob adds.")
    await a.expect_text("Alice writes. Bob adds.")

    # Each person's colour is the one their own tab shows on their avatar.
    async def own_colour(tab: Tab, username: str) -> str:
        avatar = tab.page.locator(f'.presence li[data-user="{username}"] .avatar')
        return str(await avatar.evaluate("(el) => getComputedStyle(el).backgroundColor"))

    colours = {alice.username: await own_colour(a, alice.username)}
    colours[bob.username] = await own_colour(b, bob.username)
    assert set(colours.values()) <= {rgb(c) for c in palette()}, colours

    for viewer, other in ((a, bob.username), (b, alice.username)):
        caret = viewer.page.locator(".cm-ySelectionCaret")
        await expect(caret).to_have_count(1)
        await expect(caret).to_have_css("background-color", colours[other])
        await expect(caret).to_have_css("border-left-color", colours[other])
        await expect(caret.locator(".cm-ySelectionInfo")).to_have_css(
            "background-color", colours[other]
        )
    # Bob selects his words: Alice sees the selection in a light tint of his colour.
    await b.page.keyboard.press("Shift+Home")
    selection = a.page.locator(".cm-ySelection").first
    await expect(selection).to_be_visible()
    light = colours[bob.username].replace("rgb(", "rgba(").replace(")", ", 0.2)")
    await expect(selection).to_have_css("background-color", light)


async def test_a_viewer_follows_along_but_cannot_type(server: TandemProcess, tabs: OpenTab) -> None:
    owner, viewer, ws = await members(server.http_url, "owner-view", "viewer-view", "viewer")
    doc = await owner.create_doc(ws)

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
    # The edit sessions, newest first: the restore (Bob's words out), Bob's words, Alice's.
    sessions = a.page.locator(".session-list li")
    names = [pair.alice.username, pair.bob.username, pair.alice.username]
    await expect(sessions.locator("strong")).to_have_text(names)
    await expect(sessions.locator(".delta")).to_have_text(
        ["+0 \u221229", "+29 \u22120", "+12 \u22120"]
    )
    await a.screenshot("editor-history")


async def test_a_removed_member_is_told_they_lost_access(
    server: TandemProcess, tabs: OpenTab
) -> None:
    owner, guest, ws = await members(server.http_url, "owner-remove", "guest-remove", "editor")
    doc = await owner.create_doc(ws)
    g = await tabs()
    await sign_in(g, server.http_url, guest, doc_hash(ws, doc))
    await g.wait_connected()
    await owner.request("DELETE", f"/api/workspaces/{ws}/members/{guest.user_id}", expect=204)
    await expect(g.connection).to_have_attribute("data-state", "refused")
    await expect(g.connection).to_contain_text("You no longer have access to this document.")
