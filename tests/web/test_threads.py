"""Conversations in the browser: one member asks the assistant in a thread beside a file,
another watches the answer stream in, applies its code block as a suggestion, the first
accepts it and the file changes; a regenerated answer is preferred; an answer is stopped by
another member and keeps what streamed; an author edits and deletes a message; viewers read
along without a composer; sources link to the file at the line."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.accounts import Account, sign_up
from tests.modelserver import ModelServer, Reply
from tests.server_proc import TandemProcess
from tests.web import test_assistant
from tests.web.browser import Tab, sign_in
from tests.web.conftest import OpenTab

# The scripted model and a tandem serve that uses it, as the assistant's browser tests have them.
model = test_assistant.model
assisted = test_assistant.assisted

DOCS = Path(__file__).resolve().parents[2] / "docs"
CODE = "def greet(name):\n    return f'hi {name}'\n"
NEW_CODE = "def greet(name):\n    return f'hello, {name}!'\n"
ANSWER = (
    "The greeting lives in `greet` [1]. Make it warmer like this:\n\n"
    "```python path=app.py lines=1-2\n" + NEW_CODE + "```\n\n"
    "That is **all** it takes; <b>markup</b> stays text."
)


async def team(server: TandemProcess, label: str) -> tuple[Account, Account, Account, str, str]:
    alice, bob, carol = [
        await sign_up(server.http_url, f"{who}-{label}") for who in ("alice", "bob", "carol")
    ]
    ws = await alice.create_workspace(f"Threads {label}")
    await alice.add_member(ws, bob, "editor")
    await alice.add_member(ws, carol, "viewer")
    response = await alice.request(
        "POST",
        f"/api/workspaces/{ws}/drive/files",
        json={"name": "app.py", "text": CODE},
        expect=201,
    )
    return alice, bob, carol, ws, str(response.json()["id"])


async def open_conversations(
    tab: Tab, server: TandemProcess, account: Account, ws: str, file_id: str
) -> None:
    await sign_in(tab, server.http_url, account, f"#/w/{ws}/f/{file_id}")
    await tab.wait_connected()
    await tab.page.get_by_role("button", name="Conversations", exact=True).click()
    await expect(tab.page.locator("#threads-panel")).to_be_visible()


async def ask_in_new_thread(a: Tab, question: str) -> None:
    await a.page.get_by_role("button", name="New thread").click()
    composer = a.page.get_by_role("textbox", name="Message")
    await expect(composer).to_be_focused()
    await composer.fill(question)
    await composer.press("Enter")
    await expect(a.page.locator(".message.user")).to_contain_text(
        question.replace("@assistant ", "")
    )


async def open_first_thread(tab: Tab) -> None:
    await tab.page.locator(".thread-item").first.click()
    await expect(tab.page.locator(".thread-heading")).to_be_visible()


async def test_b_watches_the_answer_stream_applies_its_block_and_a_accepts_it(
    assisted: TandemProcess, model: ModelServer, tabs: OpenTab
) -> None:
    alice, bob, _, ws, file_id = await team(assisted, "flow")
    # Slow enough that the answer is seen partly written: a pace, not a synchronisation.
    model.script_for("warmer greet", Reply(text=ANSWER, rate_per_s=8), Reply("Or: hello."))
    a, b = await tabs(), await tabs()
    await open_conversations(a, assisted, alice, ws, file_id)
    await open_conversations(b, assisted, bob, ws, file_id)
    await expect(b.page.locator("#threads-panel")).to_contain_text("No conversations yet.")
    await a.page.get_by_role("button", name="New thread").click()
    await expect(a.page.get_by_role("textbox", name="Message")).to_be_focused()
    # The new thread appears in Bob's open list, live, and he opens it.
    await expect(b.page.locator(".thread-item")).to_have_count(1)
    await open_first_thread(b)

    # Bob is typing, and Alice sees it from the thread's awareness.
    await b.page.get_by_role("textbox", name="Message").fill("thinking")
    await expect(a.page.locator(".thread-typing")).to_have_text(f"{bob.username} is typing…")
    await b.page.get_by_role("textbox", name="Message").fill("")

    composer = a.page.get_by_role("textbox", name="Message")
    await composer.fill("@assistant make a warmer greet")
    await composer.press("Enter")

    answer = b.page.locator(".message.assistant")
    await expect(answer).to_have_attribute("data-status", "streaming")
    await expect(answer).to_contain_text("The greeting")
    await expect(answer.get_by_role("button", name="Stop")).to_be_visible()
    await expect(answer).not_to_contain_text("it takes")  # partly written
    await expect(b.page.locator(".thread-announce")).to_have_text("The assistant is answering…")
    await expect(answer).to_have_attribute("data-status", "done")
    await expect(b.page.locator(".thread-announce")).to_have_text("The assistant answered.")
    await expect(answer.locator("strong")).to_have_text("all")
    await expect(answer.locator(".markdown b")).to_have_count(0)
    await expect(answer.locator("pre code")).to_have_text(NEW_CODE)
    await expect(answer.locator("pre code .tok-keyword").first).to_have_text("def")

    DOCS.mkdir(exist_ok=True)
    await b.page.screenshot(path=str(DOCS / "threads-panel.png"))

    # Bob's vote shows on Alice's screen, from the thread's live document.
    await answer.get_by_role("button", name="Good answer (0)").click()
    alices = a.page.locator(".message.assistant")
    await expect(alices.get_by_role("button", name="Good answer (1)")).to_be_visible()

    await answer.get_by_role("button", name="Apply as suggestion to app.py").click()
    await expect(answer.locator(".code-actions")).to_have_text("Suggested in app.py")
    inline = a.page.locator(".cm-sugg")
    await expect(inline).to_be_visible()
    await inline.get_by_role("button", name="Accept").click()
    await a.expect_text(NEW_CODE)
    await b.expect_text(NEW_CODE)

    # Alice regenerates; with two answers to compare, Bob prefers the new one.
    await alices.get_by_role("button", name="Regenerate").click()
    second = b.page.locator(".message.assistant").nth(1)
    await expect(second).to_contain_text("Or: hello.")
    await expect(second).to_have_attribute("data-status", "done")
    await second.get_by_role("button", name="Prefer this answer (0)").click()
    preferred = a.page.locator(".message.assistant").nth(1)
    await expect(preferred.get_by_role("button", name="Prefer this answer (1)")).to_be_visible()
    first = a.page.locator(".message.assistant").first
    await expect(first.get_by_role("button", name="Prefer this answer (0)")).to_be_visible()


async def test_a_viewer_reads_the_thread_without_composer_or_apply_and_sources_open_the_line(
    assisted: TandemProcess, model: ModelServer, tabs: OpenTab
) -> None:
    alice, _, carol, ws, file_id = await team(assisted, "viewer")
    model.script_for("where greet", Reply(text=ANSWER))
    a = await tabs()
    await open_conversations(a, assisted, alice, ws, file_id)
    await ask_in_new_thread(a, "@assistant where greet is defined")
    await expect(a.page.locator(".message.assistant")).to_have_attribute("data-status", "done")

    c = await tabs()
    await open_conversations(c, assisted, carol, ws, file_id)
    await open_first_thread(c)
    answer = c.page.locator(".message.assistant")
    await expect(answer).to_have_attribute("data-status", "done")
    await expect(answer.locator("pre code")).to_have_text(NEW_CODE)
    await expect(c.page.get_by_role("textbox", name="Message")).to_have_count(0)
    await expect(c.page.locator(".read-only-note")).to_be_visible()
    await expect(c.page.get_by_role("button", name="Apply as suggestion to app.py")).to_have_count(
        0
    )
    await expect(c.page.get_by_role("button", name="Regenerate")).to_have_count(0)

    # [1] cites app.py: the marker and the sources list open the file at the cited line.
    link = answer.locator("a.citation")
    await expect(link).to_have_attribute("href", f"#/w/{ws}/f/{file_id}?line=1")
    await expect(answer.locator(".citation-link")).to_have_text("app.py:1–2")
    await link.click()
    await expect(c.page).to_have_url(f"{assisted.http_url}/#/w/{ws}/f/{file_id}?line=1")
    await expect(c.page.locator(".cm-revealed-line")).to_contain_text(
        "def greet(name):"
    )  # and Alice's caret label


async def test_a_stopped_answer_keeps_its_text_and_an_author_edits_then_deletes_a_message(
    assisted: TandemProcess, model: ModelServer, tabs: OpenTab
) -> None:
    alice, bob, _, ws, file_id = await team(assisted, "stop")
    # A slow answer, so that there is time to stop it: a pace, not a synchronisation.
    model.script_for("long story", Reply(tokens=[f"word{n} " for n in range(400)], rate_per_s=20))
    a, b = await tabs(), await tabs()
    await open_conversations(a, assisted, alice, ws, file_id)
    await open_conversations(b, assisted, bob, ws, file_id)
    await ask_in_new_thread(a, "@assistant tell a long story")
    await expect(b.page.locator(".thread-item")).to_have_count(1)
    await open_first_thread(b)
    answer = b.page.locator(".message.assistant")
    await expect(answer).to_contain_text("word2 ")
    await answer.get_by_role("button", name="Stop").click()
    shown = a.page.locator(".message.assistant")
    await expect(shown).to_have_attribute("data-status", "stopped")
    await expect(shown.locator(".badge")).to_have_text("Stopped")
    await expect(shown).to_contain_text("word2 ")
    await expect(shown).not_to_contain_text("word399")
    await expect(shown).to_contain_text(f"stopped by {bob.username}")

    # Alice edits her question, then deletes it; Bob sees both.
    mine = a.page.locator(".message.user")
    await mine.get_by_role("button", name="Edit your message").click()
    editor = mine.get_by_role("textbox")
    await editor.fill("@assistant tell a short story")
    await mine.get_by_role("button", name="Save").click()
    question = b.page.locator(".message.user")
    await expect(question).to_contain_text("tell a short story")
    await expect(question).to_contain_text("(edited)")
    await expect(
        b.page.locator(".message.user").get_by_role("button", name="Edit your message")
    ).to_have_count(0)
    a.page.once("dialog", lambda dialog: dialog.accept())
    await mine.get_by_role("button", name="Delete your message").click()
    await expect(question).to_contain_text("This message was deleted.")
