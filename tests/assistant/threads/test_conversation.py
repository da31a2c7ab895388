"""The prompt of an answer: turns within the budget, the oldest cut first with a note of what
was cut, names on people's turns, secrets redacted and restorable."""

from __future__ import annotations

from assistant.threads.conversation import AttachedDocument, ConversationLimits, build
from assistant.threads.store import AnswerStatus, Message, Role


def said(seq: int, who: str, text: str, role: Role = Role.USER, **more: object) -> Message:
    return Message(
        id=f"m{seq}",
        thread_id="t",
        workspace_id="w",
        role=role,
        author_name=who,
        text=text,
        created_at=float(seq),
        seq=seq,
        **more,  # type: ignore[arg-type]
    )


def test_the_newest_turns_fit_the_budget_and_what_was_cut_is_summarized() -> None:
    turns = [said(i, "ada" if i % 2 else "bo", f"point {i}: " + "x" * 90) for i in range(1, 41)]
    prompt = build(turns, limits=ConversationLimits(turn_tokens=300, summary_tokens=60))
    people = [m for m in prompt.messages if m["role"] == "user"]
    assert people[-1]["content"].startswith("bo: point 40: ")
    assert sum(len(m["content"]) for m in people) <= 300 * 4
    assert 0 < prompt.turns_cut < 40 and len(people) == 40 - prompt.turns_cut
    [note] = [m["content"] for m in prompt.messages[1:] if m["role"] == "system"]
    assert f"{prompt.turns_cut} earlier messages are not shown" in note
    assert "ada" in note and "bo" in note
    # The note names the newest of what was cut, within its own budget.
    assert f"point {prompt.turns_cut}:" in note and len(note) <= 60 * 4 + 80


def test_answers_are_the_assistants_turns_and_deleted_or_failed_ones_are_left_out() -> None:
    turns = [
        said(1, "ada", "hello"),
        said(2, "assistant", "Hi Ada.", Role.ASSISTANT),
        said(3, "bo", "gone", deleted_at=5.0),
        said(4, "assistant", "partial", Role.ASSISTANT, status=AnswerStatus.FAILED),
        said(5, "bo", "@assistant next?"),
    ]
    prompt = build(turns, limits=ConversationLimits())
    assert prompt.messages[1:] == [
        {"role": "user", "content": "ada: hello"},
        {"role": "assistant", "content": "Hi Ada."},
        {"role": "user", "content": "bo: @assistant next?"},
    ]
    assert prompt.turns_cut == 0


def test_secrets_in_turns_and_the_document_are_redacted_and_restorable() -> None:
    key = "AKIAIOSFODNN7EXAMPLE"
    turns = [said(1, "ada", f"why does {key} fail?")]
    document = AttachedDocument("cfg.env", f"AWS_KEY={key}\nREGION=eu\n", selection=(0, 8))
    prompt = build(turns, limits=ConversationLimits(), document=document)
    sent = "".join(m["content"] for m in prompt.messages)
    asked = prompt.messages[-1]["content"]
    assert key not in sent and asked.startswith("ada: why does [REDACTED:aws")
    placeholder = asked.split("does ")[1].removesuffix(" fail?")
    restorer = prompt.placeholders.stream()
    assert restorer.feed(f"use {placeholder}") + restorer.close() == f"use {key}"
    assert prompt.redactions
    assert '"cfg.env"' in prompt.messages[0]["content"]
    assert "<selection>AWS_KEY=</selection>" in prompt.messages[0]["content"]
