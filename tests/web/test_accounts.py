"""Accounts and workspaces through the screens: sign up, sign in, members, roles, invites."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.accounts import PASSWORD, sign_up
from tests.server_proc import TandemProcess
from tests.web.conftest import OpenTab


async def test_sign_up_make_a_workspace_add_members_and_invite(
    server: TandemProcess, tabs: OpenTab
) -> None:
    dave = await sign_up(server.http_url, "dave-ui")
    c = await tabs()
    page = c.page
    await page.goto(f"{server.http_url}/")
    # Signed out: the app asks to sign in, and offers to create an account.
    await expect(page.get_by_role("heading", name="Sign in to Tandem")).to_be_visible()
    await page.get_by_role("link", name="Create an account").click()
    await page.get_by_label("Username").fill("carol-ui")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Workspaces")).to_be_visible()
    await expect(page.locator(".workspace-list")).to_contain_text("No workspaces yet")

    await page.get_by_label("New workspace name").fill("Studio")
    await page.get_by_role("button", name="Create workspace").click()
    await expect(page.get_by_role("heading", name="Studio")).to_be_visible()
    members = page.locator(".member-list")
    await expect(members).to_contain_text("carol-ui (you)")

    await page.get_by_label("Add by username").fill(dave.username)
    await page.get_by_label("Role", exact=True).select_option("viewer")
    await page.get_by_role("button", name="Add member").click()
    dave_role = page.get_by_label(f"Role of {dave.username}")
    await expect(dave_role).to_have_value("viewer")
    await dave_role.select_option("editor")
    await expect(page.locator(".notice.info")).to_contain_text(f"{dave.username} is now editor")
    members_api = await dave.request("GET", "/api/workspaces", expect=200)
    assert [w["role"] for w in members_api.json()["workspaces"]] == ["editor"]

    await page.get_by_label("Invite a new user as").select_option("viewer")
    await page.get_by_role("button", name="Create invite link").click()
    invite = page.get_by_label("Invite link")
    await expect(invite).to_have_value(
        re.compile(rf"{re.escape(server.http_url)}/#/signup\?invite=.+")
    )
    link = await invite.input_value()
    # The owner tells the assistant how this workspace writes; it is kept for everyone.
    instructions = page.get_by_label("Instructions for every request in this workspace")
    await instructions.fill("Write British English.")
    await page.get_by_role("button", name="Save instructions").click()
    await expect(page.get_by_text("instructions saved")).to_be_visible()
    await expect(page.locator(".model-status")).to_contain_text("Model: the base model")
    saved = await dave.request(
        "GET", f"/api/workspaces/{members_api.json()['workspaces'][0]['id']}/assistant", expect=200
    )
    assert saved.json()["instructions"] == "Write British English."
    await c.screenshot("workspace-members")

    # Someone new follows the link: the code is filled in and the workspace is theirs to see.
    e = await tabs()
    await e.page.goto(link)
    await expect(e.page.get_by_label("Invite code (optional)")).not_to_have_value("")
    await e.page.get_by_label("Username").fill("erin-ui")
    await e.page.get_by_label("Password").fill(PASSWORD)
    await e.page.get_by_role("button", name="Create account").click()
    studio = e.page.locator(".workspace-list li", has_text="Studio")
    await expect(studio).to_contain_text("viewer")

    # A wrong password is refused with the server's message; signing out ends the session.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in to Tandem")).to_be_visible()
    await page.get_by_label("Username").fill("carol-ui")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator(".notice.error")).to_have_text("wrong username or password")
    c.allowed.append(re.compile(r"status of 401"))


async def test_the_editor_works_in_a_narrow_window(server: TandemProcess, tabs: OpenTab) -> None:
    from tests.web.browser import doc_hash, sign_in

    fay = await sign_up(server.http_url, "fay-narrow")
    ws = await fay.create_workspace("Phone")
    doc = await fay.create_doc(ws)
    t = await tabs(width=390, height=844)
    await sign_in(t, server.http_url, fay, doc_hash(ws, doc))
    await t.wait_connected()
    await t.type_at_end("Typed on a small screen.")
    await t.expect_text("Typed on a small screen.")
    overflow = await t.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    await expect(t.page.get_by_role("heading", name="Assistant")).to_be_visible()
    await t.screenshot("editor-narrow")
