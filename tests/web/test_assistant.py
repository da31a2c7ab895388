"""The assistant in the browser: one person asks, another sees it stream and accepts it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.accounts import Account, members
from tests.modelserver import Fail, ModelServer, Reply
from tests.server_proc import TandemProcess
from tests.web.browser import Tab, sign_in
from tests.web.conftest import OpenTab, server_env

TEXT = "# Launch notes\n\nThe quick brown fox ships the release on Friday.\n"


@pytest.fixture(scope="module")
async def model() -> AsyncIterator[ModelServer]:
    async with ModelServer() as server:
        yield server


@pytest.fixture(scope="module")
async def assisted(
    tmp_path_factory: pytest.TempPathFactory, model: ModelServer
) -> AsyncIterator[TandemProcess]:
    env = {
        **server_env(),
        "TANDEM_OPENAI_BASE_URL": model.base_url,
        "TANDEM_OPENAI_API_KEY": "sk-test-key-for-the-model-server",
        "TANDEM_OPENAI_MODEL": "test-model",
        "TANDEM_OPENAI_MAX_RETRIES": "0",
        "TANDEM_ASSISTANT_RATE_PER_MIN": "1000",
    }
    path: Path = tmp_path_factory.mktemp("web-assist")
    async with TandemProcess(path, env=env) as proc:
        yield proc


async def shared_file(
    server: TandemProcess, name: str, label: str = "ai"
) -> tuple[Account, Account, str, str]:
    alice, bob, ws = await members(server.http_url, f"alice-{label}", f"bob-{label}", "editor")
    response = await alice.request(
        "POST", f"/api/workspaces/{ws}/drive/files", json={"name": name, "text": TEXT}, expect=201
    )
    return alice, bob, ws, str(response.json()["id"])


async def select(tab: Tab, text: str, phrase: str) -> None:
    """Selects ``phrase`` with the keyboard, as a person would."""
    line_no = text[: text.index(phrase)].count("\n")
    column = text.index(phrase) - (text.rfind("\n", 0, text.index(phrase)) + 1)
    await tab.editor.click()
    await tab.page.keyboard.press("Control+Home")
    for _ in range(line_no):
        await tab.page.keyboard.press("ArrowDown")
    for _ in range(column):
        await tab.page.keyboard.press("ArrowRight")
    for _ in range(len(phrase)):
        await tab.page.keyboard.press("Shift+ArrowRight")


async def test_one_asks_the_other_sees_it_stream_and_accepts_both_see_the_new_text(
    assisted: TandemProcess, model: ModelServer, tabs: OpenTab
) -> None:
    alice, bob, ws, entry = await shared_file(assisted, "launch.md")
    # Bob joins the suggestions document when Alice's presence says it exists (the first
    # request creates it), quickly enough to watch the proposal being written.
    tokens = ["nimble", ", ", "copper", "-", "coloured"]
    model.script_for("quick brown", Reply(tokens=tokens, rate_per_s=3.0))
    a, b = await open_both(assisted, tabs, alice, bob, ws, entry)

    await select(a, TEXT, "quick brown")
    await expect(a.page.locator(".selection-info")).to_have_text("Selection: 11 characters.")
    await a.page.get_by_label("Instruction").fill("a livelier animal")
    await a.page.get_by_label("Mode").select_option("rewrite")
    await a.page.get_by_role("button", name="Ask", exact=True).click()

    # Bob sees it arrive while it is still being written, inline and in the panel.
    card = b.page.locator(".sugg-card").first
    await expect(card).to_have_attribute("data-status", "streaming")
    inline = b.page.locator(".cm-sugg")
    await expect(inline).to_be_visible()
    await expect(b.page.locator(".cm-sugg-original")).to_have_text("quick brown")
    await expect(card).to_have_attribute("data-status", "pending")
    # Screen readers hear when it is ready (not every streamed token).
    await expect(b.page.locator(".assistant .sr-only")).to_have_text(
        f"Suggestion from {alice.username}: Pending"
    )
    await expect(inline.locator(".cm-sugg-proposal")).to_have_text("nimble, copper-coloured")
    await expect(inline.locator(".cm-sugg-meta")).to_have_text(f"{alice.username} · test-model")
    await expect(card.locator("del")).to_have_text("quick brown")
    await expect(card.locator("ins")).to_have_text("nimble, copper-coloured")
    await expect(card.locator(".who")).to_have_text(f"asked by {alice.username} · test-model")
    await b.screenshot("editor-suggestion")

    await inline.get_by_role("button", name="Accept").click()
    expected = TEXT.replace("quick brown", "nimble, copper-coloured")
    await b.expect_text(expected.rstrip("\n") + "\n")
    await a.expect_text(expected.rstrip("\n") + "\n")
    for tab in (a, b):
        await expect(tab.page.locator(".sugg-card").first).to_have_attribute(
            "data-status", "accepted"
        )
        await expect(tab.page.locator(".cm-sugg")).to_have_count(0)
    await expect(a.page.locator(".sugg-card").first).to_contain_text(f"Accepted by {bob.username}")


async def open_both(
    server: TandemProcess, tabs: OpenTab, alice: Account, bob: Account, ws: str, entry: str
) -> tuple[Tab, Tab]:
    a, b = await tabs(), await tabs()
    await sign_in(a, server.http_url, alice, f"#/w/{ws}/f/{entry}")
    await sign_in(b, server.http_url, bob, f"#/w/{ws}/f/{entry}")
    await a.wait_connected()
    await b.wait_connected()
    await b.expect_text(TEXT.rstrip("\n") + "\n")
    return a, b


async def ask_rewrite(a: Tab, b: Tab, phrase: str, instruction: str) -> None:
    """Alice asks to rewrite ``phrase``; returns once Bob sees the finished proposal inline."""
    await select(a, TEXT, phrase)
    await a.page.get_by_label("Instruction").fill(instruction)
    await a.page.get_by_label("Mode").select_option("rewrite")
    await a.page.get_by_role("button", name="Ask", exact=True).click()
    await expect(b.page.locator(".cm-sugg.cm-sugg-pending")).to_have_count(1)


async def caret_inside(tab: Tab, phrase: str) -> None:
    """Puts the caret (no selection) in the middle of ``phrase``."""
    await select(tab, TEXT, phrase[: len(phrase) // 2])
    await tab.page.keyboard.press("ArrowRight")  # collapses the selection at its end


async def expect_decided(tabs: tuple[Tab, Tab], status: str, text: str) -> None:
    for tab in tabs:
        await tab.expect_text(text.rstrip("\n") + "\n")
        await expect(tab.page.locator(".sugg-card").first).to_have_attribute("data-status", status)
        await expect(tab.page.locator(".cm-sugg")).to_have_count(0)
        await expect(tab.page.locator(".cm-sugg-original")).to_have_count(0)


async def test_rejecting_with_the_inline_button_keeps_the_text_for_both(
    assisted: TandemProcess, model: ModelServer, tabs: OpenTab
) -> None:
    alice, bob, ws, entry = await shared_file(assisted, "reject.md", "rejectbtn")
    model.script_for("instruction-reject", Reply("sluggish grey"))
    a, b = await open_both(assisted, tabs, alice, bob, ws, entry)
    await ask_rewrite(a, b, "quick brown", "instruction-reject")
    await expect(b.page.locator(".cm-sugg-original")).to_have_text("quick brown")

    await (
        b.page.locator(".cm-sugg")
        .get_by_role("button", name=f"Reject the suggestion by {alice.username}", exact=True)
        .click()
    )
    await expect_decided((a, b), "rejected", TEXT)
    await expect(a.page.locator(".sugg-card").first).to_contain_text(f"Rejected by {bob.username}")
    # A decided suggestion offers no more decisions.
    await expect(
        a.page.locator(".sugg-card").first.get_by_role("button", name="Accept")
    ).to_have_count(0)


async def test_alt_backspace_rejects_and_alt_enter_accepts_the_suggestion_at_the_caret(
    assisted: TandemProcess, model: ModelServer, tabs: OpenTab
) -> None:
    alice, bob, ws, entry = await shared_file(assisted, "keys.md", "keys")
    model.script_for("instruction-first", Reply("sleepy"))
    model.script_for("instruction-second", Reply("nimble"))
    a, b = await open_both(assisted, tabs, alice, bob, ws, entry)

    await ask_rewrite(a, b, "quick", "instruction-first")
    await caret_inside(b, "quick")
    await b.page.keyboard.press("Alt+Backspace")
    await expect_decided((a, b), "rejected", TEXT)
    await expect(a.page.locator(".sugg-card").first).to_contain_text(f"Rejected by {bob.username}")

    await ask_rewrite(a, b, "quick", "instruction-second")
    await caret_inside(b, "quick")
    await b.page.keyboard.press("Alt+Enter")
    await expect_decided((a, b), "accepted", TEXT.replace("quick", "nimble"))
    await expect(a.page.locator(".sugg-card").first).to_contain_text(f"Accepted by {bob.username}")
    await expect(a.page.locator('.sugg-card[data-status="rejected"]')).to_have_count(1)


async def test_accept_all_reports_what_it_applied_and_marks_stale_and_failed_ones(
    assisted: TandemProcess, model: ModelServer, tabs: OpenTab
) -> None:
    text = "alpha beta gamma delta\n"
    alice, bob, ws = await members(assisted.http_url, "alice-all", "bob-all", "editor")
    response = await alice.request(
        "POST",
        f"/api/workspaces/{ws}/drive/files",
        json={"name": "w.txt", "text": text},
        expect=201,
    )
    entry = response.json()["id"]
    model.script_for("instruction-one", Reply("ALPHA"))
    model.script_for("instruction-two", Reply("GAMMA"))
    model.script_for("instruction-three", Fail(500, message="the model fell over"))
    a, b = await tabs(), await tabs()
    await sign_in(a, assisted.http_url, alice, f"#/w/{ws}/f/{entry}")
    await sign_in(b, assisted.http_url, bob, f"#/w/{ws}/f/{entry}")
    await a.wait_connected()
    await b.wait_connected()

    cards = b.page.locator(".sugg-card")
    for phrase, instruction in [
        ("alpha", "instruction-one"),
        ("gamma", "instruction-two"),
        ("delta", "instruction-three"),
    ]:
        await select(a, text, phrase)
        await a.page.get_by_label("Instruction").fill(instruction)
        await a.page.get_by_role("button", name="Ask", exact=True).click()
        await expect(a.page.locator(".assistant .notice.info")).to_contain_text("asked")
    await expect(cards.and_(b.page.locator('[data-status="pending"]'))).to_have_count(2)
    failed = b.page.locator('.sugg-card[data-status="failed"]')
    await expect(failed).to_have_count(1)
    await expect(failed.locator(".error-text")).to_contain_text("Failed:")

    # Bob changes "gamma" before anyone decides: that suggestion no longer fits the text.
    await select(b, text, "gamm")
    await b.page.keyboard.press("ArrowRight")
    await b.page.keyboard.type("X")
    changed = "alpha beta gammXa delta\n"
    await a.expect_text(changed)

    await b.page.get_by_role("button", name="Accept all (2)").click()
    await expect(b.page.locator(".assistant .report")).to_have_text(
        "Accept all: applied 1, 1 stale (the text had changed)."
    )
    final = "ALPHA beta gammXa delta\n"
    await a.expect_text(final)
    await b.expect_text(final)
    stale = a.page.locator('.sugg-card[data-status="stale"]')
    await expect(stale.locator(".error-text")).to_contain_text("Stale:")
    await expect(a.page.locator('.sugg-card[data-status="accepted"]')).to_have_count(1)
    await a.screenshot("assistant-accept-all")
