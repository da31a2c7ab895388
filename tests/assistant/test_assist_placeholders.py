"""Numbered placeholders for the secrets the model sees, and putting the values back: every kind
the redactor knows, several of one kind, a placeholder split across stream pieces, and the
ones a model altered or made up."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from assistant import anchors, board
from assistant.acceptance import UnrestorableError, accept_many, check_restored
from assistant.intake import IntakeLimits, prepare
from assistant.placeholders import Placeholders
from assistant.secrets import KINDS, SecretKind, redact
from assistant.types import Job, Mode

AWS_1, AWS_2 = "AKIAIOSFODNN7EXAMPLE", "AKIAJ5QWERTY7EXAMPLE"


def redacted(text: str) -> tuple[str, Placeholders]:
    placeholders = Placeholders([text])
    return redact(text, placeholders=placeholders).text, placeholders


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_every_kind_becomes_a_numbered_placeholder_and_comes_back(kind: SecretKind) -> None:
    text = f"config:\n  value {kind.example}\nend"
    sent, placeholders = redacted(text)
    assert f"[REDACTED:{kind.name}#1]" in sent
    assert len(placeholders) == 1, f"the example of {kind.name} holds another kind: {sent}"
    restored = placeholders.restore(sent)
    assert restored.text == text and restored.unrestorable == ()


def test_two_secrets_of_one_kind_restore_by_number_even_when_the_model_swaps_them() -> None:
    sent, placeholders = redacted(f"primary = {AWS_1}\nbackup = {AWS_2}\n")
    assert sent == "primary = [REDACTED:aws_access_key#1]\nbackup = [REDACTED:aws_access_key#2]\n"
    answer = "backup: [REDACTED:aws_access_key#2]\nprimary: [REDACTED:aws_access_key#1]\n"
    assert placeholders.restore(answer).text == f"backup: {AWS_2}\nprimary: {AWS_1}\n"


def test_the_same_secret_twice_is_one_placeholder_and_every_copy_comes_back() -> None:
    sent, placeholders = redacted(f"a = {AWS_1}\nb = {AWS_1}\n")
    assert sent.count("[REDACTED:aws_access_key#1]") == 2 and "#2" not in sent
    answer = "[REDACTED:aws_access_key#1] " * 3
    restored = placeholders.restore(answer)
    assert restored.text == f"{AWS_1} " * 3 and restored.unrestorable == ()


def test_a_password_holding_a_key_restores_to_the_whole_value() -> None:
    """The assignment net runs after the patterns: its value may hold their placeholder."""
    text = f"password={AWS_1}-x9"
    sent, placeholders = redacted(text)
    assert AWS_1 not in sent
    assert placeholders.restore(sent).text == text


@pytest.mark.parametrize(
    "mangled",
    [
        "[REDACTED:aws_access_key#3]",  # never issued
        "[REDACTED:aws_access_key]",  # its number dropped
        "[REDACTED:aws_key#1]",  # its kind changed
        "[redacted:aws_access_key#1]",  # its case changed
        "[REDACTED: aws_access_key#1]",
        "[REDACTED:aws_access_key#1",  # cut off at the end
        "REDACTED:aws_access_key#1",
    ],
)
def test_a_placeholder_the_model_altered_or_made_up_is_unrestorable(mangled: str) -> None:
    _, placeholders = redacted(f"key = {AWS_1}")
    restored = placeholders.restore(f"key = {mangled}\nother = [REDACTED:aws_access_key#1]")
    assert restored.unrestorable == (mangled,)
    assert AWS_1 in restored.text and mangled in restored.text


def test_placeholder_text_already_in_the_document_passes_and_is_never_issued() -> None:
    """A file about redaction: its own placeholder-like text is not a secret to put back."""
    text = f"Redacted spans read [REDACTED:<kind>], e.g. [REDACTED:aws_access_key#1].\n{AWS_1}"
    sent, placeholders = redacted(text)
    assert sent.endswith("\n[REDACTED:aws_access_key#2]")
    restored = placeholders.restore(sent)
    assert restored.text == text and restored.unrestorable == ()


def test_the_values_never_show_in_the_placeholders_repr() -> None:
    _, placeholders = redacted(f"key = {AWS_1}")
    assert AWS_1 not in repr(placeholders) and AWS_1 not in str(placeholders)


def test_the_prompt_carries_numbered_placeholders_and_no_value() -> None:
    config = "\n".join(kind.example for kind in KINDS)
    job = Job("s", "d", "w", "u", "alice", Mode.REWRITE, "reformat", config, "", "")
    intake = prepare(job, IntakeLimits())
    prompt = "\n".join(m["content"] for m in intake.messages)
    for kind in KINDS:
        assert f"[REDACTED:{kind.name}#1]" in prompt
    for value in ("AKIAIOSFODNN7EXAMPLE", "Tr0ub4dor-3x", "MIIEowIBAAKCAQEA", "s3cr3t-pass"):
        assert value not in prompt
    selection = prompt.split("<selection>\n", 1)[1].split("\n</selection>", 1)[0]
    assert intake.placeholders.restore(selection).text == config


def test_a_retried_job_issues_the_same_placeholders_so_nothing_needs_storing() -> None:
    """Another worker that takes the job over redacts it afresh and restores it alike."""
    job = Job("s", "d", "w", "u", "alice", Mode.FIX, "fix", f"a={AWS_1} b={AWS_2}", f"{AWS_2}", "")
    first, again = prepare(job, IntakeLimits()), prepare(job, IntakeLimits())
    assert first.messages == again.messages
    answer = "a=[REDACTED:aws_access_key#1] b=[REDACTED:aws_access_key#2]"
    assert again.placeholders.restore(answer).text == f"a={AWS_1} b={AWS_2}"


TEXT = "a [REDACTED:aws_access_key#1] b [REDACTED:jwt#1]\n[x] RED [REDACTED:nope#9] end"


def streamed(placeholders: Placeholders, pieces: list[str]) -> tuple[str, list[str], int]:
    """The restored stream, its unrestorable placeholders, and the most text ever held."""
    restorer = placeholders.stream()
    shown, held = [], 0
    for i, piece in enumerate(pieces):
        shown.append(restorer.feed(piece))
        held = max(held, sum(map(len, pieces[: i + 1])) - sum(map(len, shown)))
    shown.append(restorer.close())
    assert "".join(shown) == restorer.text
    return restorer.text, restorer.unrestorable, held


def issued() -> Placeholders:
    placeholders = Placeholders()
    placeholders.issue("aws_access_key", AWS_1)
    placeholders.issue("jwt", KINDS[[k.name for k in KINDS].index("jwt")].example)
    return placeholders


@pytest.mark.parametrize("at", range(1, len(TEXT)))
def test_a_placeholder_split_across_two_pieces_anywhere_restores(at: int) -> None:
    placeholders = issued()
    whole = placeholders.restore(TEXT)
    text, unrestorable, _ = streamed(placeholders, [TEXT[:at], TEXT[at:]])
    assert text == whole.text and AWS_1 in text
    assert unrestorable == ["[REDACTED:nope#9]"] == list(whole.unrestorable)


@settings(max_examples=150, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(TEXT)), max_size=12))
def test_any_split_of_the_stream_restores_like_the_whole(cuts: list[int]) -> None:
    placeholders = issued()
    bounds = [0, *sorted(cuts), len(TEXT)]
    pieces = [TEXT[a:b] for a, b in itertools.pairwise(bounds)]
    text, unrestorable, held = streamed(placeholders, pieces)
    whole = placeholders.restore(TEXT)
    assert text == whole.text and unrestorable == list(whole.unrestorable)
    assert held <= len("[REDACTED:aws_access_key#1]") + max(map(len, pieces))


def test_text_without_placeholders_streams_through_at_once() -> None:
    restorer = Placeholders().stream()
    assert restorer.feed("for x in xs[0:") == "for x in xs[0:"
    assert restorer.feed("2]: print(x) [") == "2]: print(x) "  # "[" may open one
    assert restorer.feed("i]") == "[i]"


def content(value: str) -> tuple[Doc, Text]:
    doc = Doc()
    text = doc.get("content", type=Text)
    text += value
    return doc, text


def pending(
    text: Text, sid: str, start: int, end: int, proposal: str, **fields: object
) -> dict[str, object]:
    original = str(text)[start:end]
    return {
        "id": sid,
        "anchor_start": anchors.encode(text, start),
        "anchor_end": anchors.encode(text, end),
        "original": original,
        "original_sha256": board.sha256(original),
        "proposal": proposal,
        **fields,
    }


def test_accept_refuses_what_the_worker_could_not_restore_and_what_no_worker_checked() -> None:
    doc, text = content(f"key = {AWS_1}\nnote = [REDACTED:<kind>]\n")
    flagged = pending(text, "a", 0, 3, "KEY", unrestorable=["[REDACTED:jwt#4]"])
    with pytest.raises(UnrestorableError) as refused:
        check_restored(doc, flagged)
    assert refused.value.placeholders == ["[REDACTED:jwt#4]"]
    checked = pending(text, "b", 0, 3, "KEY [REDACTED:jwt#4]", unrestorable=[])
    check_restored(doc, checked)  # the worker knew it was literal text of the request
    # From before placeholders were put back: only what the text itself holds may stay.
    legacy = pending(text, "c", 0, 20, "[REDACTED:aws_access_key] [REDACTED:<kind>]")
    with pytest.raises(UnrestorableError) as refused:
        check_restored(doc, legacy)
    assert refused.value.placeholders == ["[REDACTED:aws_access_key]"]
    check_restored(doc, pending(text, "d", 0, 3, "[REDACTED:<kind>] ok"))


def test_accept_all_skips_an_unrestorable_suggestion_and_applies_the_rest() -> None:
    doc, text = content("one two")
    bad = pending(text, "bad", 0, 3, "[REDACTED:jwt#1]", unrestorable=["[REDACTED:jwt#1]"])
    good = pending(text, "good", 4, 7, "TWO", unrestorable=[])
    assert accept_many(doc, [bad, good]) == {"bad": "unrestorable", "good": "applied"}
    assert str(text) == "one TWO"
