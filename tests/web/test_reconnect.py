"""A server restart in the middle of an edit loses nothing, and the indicator tells the story."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import expect

from tests.accounts import sign_up
from tests.server_proc import TandemProcess
from tests.web.browser import EXPECTED_WHILE_SERVER_DOWN, co_editors, doc_hash, sign_in
from tests.web.conftest import OpenTab, server_env


async def test_server_crash_and_restart_mid_edit_loses_nothing(
    tmp_path: Path, tabs: OpenTab
) -> None:
    server = await TandemProcess(tmp_path, env=server_env()).start()
    restarted: TandemProcess | None = None
    try:
        pair = await co_editors(
            server.http_url, tabs, "restart", "Crash course", allowed=(EXPECTED_WHILE_SERVER_DOWN,)
        )
        bob, ws, doc, a, b = pair.bob, pair.ws, pair.doc, pair.a, pair.b

        await a.type_at_end("Typed before the crash.")
        await b.expect_text("Typed before the crash.")

        await server.kill()
        for tab in (a, b):
            await expect(tab.connection).to_have_attribute("data-state", "reconnecting")
        await expect(a.connection).to_have_attribute("data-unsynced", "false")

        # Editing goes on while the server is away; the indicator says it is not saved yet.
        await a.type_at_end(" Typed while it was down.")
        await expect(a.connection).to_have_attribute("data-unsynced", "true")
        await expect(a.connection).to_contain_text("Unsynced edits")
        await a.screenshot("editor-reconnecting")

        restarted = await TandemProcess(tmp_path, env=server_env(), port=server.port).start()
        for tab in (a, b):
            await tab.wait_connected()
        await expect(a.connection).to_have_attribute("data-unsynced", "false")
        expected = "Typed before the crash. Typed while it was down."
        await b.expect_text(expected)
        await a.expect_text(expected)

        # A newcomer loads the same text from the restarted server.
        c = await tabs()
        # The server is killed below with this tab open too: on a loaded machine one of its
        # sockets can still be in its handshake then (seen once: ERR_CONNECTION_RESET).
        c.allowed.append(EXPECTED_WHILE_SERVER_DOWN)
        await sign_in(c, restarted.http_url, bob, doc_hash(ws, doc))
        await c.wait_connected()
        await c.expect_text(expected)
    finally:
        for proc in (server, restarted):
            if proc is not None and proc.proc is not None and proc.proc.returncode is None:
                await proc.kill()


_TOKEN_JS = "() => JSON.parse(localStorage.getItem('tandem.session')).accessToken"


async def test_short_lived_access_tokens_are_refreshed_for_requests_and_reconnects(
    tmp_path: Path, tabs: OpenTab
) -> None:
    env = {**server_env(), "TANDEM_ACCESS_TOKEN_TTL_S": "4"}
    server = await TandemProcess(tmp_path, env=env).start()
    restarted: TandemProcess | None = None
    try:
        alice = await sign_up(server.http_url, "alice-ttl")
        ws = await alice.create_workspace("Short tokens")
        doc = await alice.create_doc(ws)
        a = await tabs()
        # While the server is down, a refresh that comes due fails in the browser's network log.
        a.allowed += [EXPECTED_WHILE_SERVER_DOWN, re.compile(r"ERR_CONNECTION_REFUSED")]
        await sign_in(a, server.http_url, alice, doc_hash(ws, doc))
        await a.wait_connected()
        first = await a.page.evaluate(_TOKEN_JS)
        # Wait for two refreshes: by then the first token has expired.
        handle = await a.page.wait_for_function(
            f"(t) => ({_TOKEN_JS})() !== t && ({_TOKEN_JS})()", arg=first
        )
        latest = await handle.json_value()
        await a.page.wait_for_function(f"(t) => ({_TOKEN_JS})() !== t", arg=latest)

        # A reconnect after a restart presents a current token, not the one it started with.
        await server.kill()
        await expect(a.connection).to_have_attribute("data-state", "reconnecting")
        restarted = await TandemProcess(tmp_path, env=env, port=server.port).start()
        await a.wait_connected()
        await a.type_at_end("Still signed in.")
        await a.page.get_by_role("button", name="History").click()
        await expect(a.page.locator(".session-list li").first).to_be_visible()
        await expect(a.page.locator(".history .notice.error")).to_have_count(0)
        await a.page.reload()
        await a.wait_connected()
        await a.expect_text("Still signed in.")
    finally:
        for proc in (server, restarted):
            if proc is not None and proc.proc is not None and proc.proc.returncode is None:
                await proc.kill()


async def test_going_offline_keeps_edits_and_sends_them_when_back(
    server: TandemProcess, tabs: OpenTab
) -> None:
    pair = await co_editors(server.http_url, tabs, "offline", "Train ride")
    a, b = pair.a, pair.b

    # The browser logs the sockets it cannot open while offline.
    a.allowed.append(EXPECTED_WHILE_SERVER_DOWN)
    await a.page.context.set_offline(True)
    await expect(a.connection).to_have_attribute("data-state", "offline")
    await a.type_at_end("Written in a tunnel.")
    await expect(a.connection).to_have_attribute("data-unsynced", "true")
    await b.type_at_end("Meanwhile at the office. ")

    await a.page.context.set_offline(False)
    await a.wait_connected()
    await expect(a.connection).to_have_attribute("data-unsynced", "false")
    # Both edits meet, in the same order for both.
    await b.page.wait_for_function(
        "() => document.querySelector('.cm-content').textContent.includes('tunnel')"
    )
    text = await b.text()
    assert "Written in a tunnel." in text
    assert "Meanwhile at the office. " in text
    await a.expect_text(text)
