"""Conversations and search in Firefox (the second supported browser; test_threads.py and
test_search.py run them in Chromium): one member asks the assistant in a thread beside a
file, the other watches the answer stream in and applies its code block as a suggestion, the
first accepts it and the file changes; Ctrl+Shift+F finds a word and opens its line."""

from __future__ import annotations

import json

from tests.accounts import members
from tests.modelserver import ModelServer, Reply
from tests.server_proc import TandemProcess
from tests.web.test_firefox import OpenFirefoxTab, ff_tabs, firefox  # noqa: F401 (fixtures)
from tests.web.test_search import FILLER, TARGET
from tests.web.test_threads import ANSWER, NEW_CODE, assisted, model, team  # noqa: F401


async def test_in_firefox_b_watches_the_answer_stream_applies_its_block_and_a_accepts_it(
    assisted: TandemProcess,  # noqa: F811
    model: ModelServer,  # noqa: F811
    ff_tabs: OpenFirefoxTab,  # noqa: F811
) -> None:
    alice, bob, _, ws, file_id = await team(assisted, "firefox")
    # Slow enough that the answer is seen partly written: a pace, not a synchronisation.
    model.script_for("kinder greet", Reply(text=ANSWER, rate_per_s=4))
    a, b = await ff_tabs(), await ff_tabs()
    for tab, who in ((a, alice), (b, bob)):
        await tab.sign_in(assisted.http_url, who, f"#/w/{ws}/f/{file_id}")
        await tab.wait_connected()
    await a.click("::-p-button(Conversations)")
    await a.click("::-p-button(New thread)")
    await a.expect_focused("#threads-panel textarea")
    await a.fill("::-p-label(Message)", "@assistant make a kinder greet")
    await a.press("Enter")
    await a.expect_count("#threads-panel .message.user", 1)

    # Bob opens the thread (his list loads with the page: not live yet) and watches it stream.
    await b.reload()
    await b.wait_connected()
    await b.click("::-p-button(Conversations)")
    await b.click("#threads-panel .thread-item")
    await b.expect_attribute(".message.assistant", "data-status", "streaming")
    await b.wait_until(
        "document.querySelector('.message.assistant')?.textContent.includes('The greeting')"
        " && !document.querySelector('.message.assistant').textContent.includes('it takes')",
        "the answer partly written",
    )
    await b.expect_attribute(".message.assistant", "data-status", "done")
    await b.expect_text_of(".message.assistant pre code", " ".join(NEW_CODE.split()))
    await b.screenshot("firefox-threads-panel")

    await b.click("::-p-button(Apply as suggestion to app.py)")
    await b.expect_text_of(".message.assistant .code-actions", "Suggested in app.py")
    await a.expect_count(".cm-sugg", 1)
    await a.click(f".cm-sugg ::-p-button(Accept the suggestion by {bob.username})")
    await a.expect_text(NEW_CODE)
    await b.expect_text(NEW_CODE)


async def test_in_firefox_ctrl_shift_f_finds_a_word_and_opens_its_line(
    assisted: TandemProcess,  # noqa: F811
    ff_tabs: OpenFirefoxTab,  # noqa: F811
) -> None:
    alice, bob, ws = await members(assisted.http_url, "alice-fx-find", "bob-fx-find", "viewer")
    line = FILLER.count("\n") + 1
    created = await alice.request(
        "POST",
        f"/api/workspaces/{ws}/drive/files",
        json={"name": "ledger.py", "text": FILLER + TARGET + "\n" + FILLER},
        expect=201,
    )
    file_id = created.json()["id"]
    tab = await ff_tabs()
    await tab.sign_in(assisted.http_url, bob, f"#/w/{ws}")
    await tab.press("Control+Shift+F")
    await tab.expect_focused(".search-dialog input[type=search]")
    await tab.type("marmalade")
    await tab.press("Enter")
    await tab.expect_text_of(".search-status", "1 match in 1 file")
    await tab.expect_text_of(".search-match .search-line", str(line))
    await tab.expect_text_of(".search-match mark", "marmalade")
    await tab.expect_count(".search-match code b", 0)  # a file's markup stays text
    await tab.click(".search-match")
    hash_ = f"#/w/{ws}/f/{file_id}?line={line}"
    await tab.wait_until(f"location.hash === {json.dumps(hash_)}", "the file at the line")
    await tab.expect_text_of(".cm-revealed-line", " ".join(TARGET.split()))
