"""Outcomes read from the text after the decision, and the datasets built from them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pycrdt import Doc, Text

from assistant import acceptance, anchors, board
from learning.dataset import DatasetLimits, build, validate_file
from learning.outcomes import outcome_of


def suggest(text0: str, original: str, proposal: str) -> tuple[Doc, Text, dict[str, Any]]:
    doc = Doc()
    text = doc.get("content", type=Text)
    text += text0
    start = text0.index(original)
    entry = {
        "id": "s1",
        "anchor_start": anchors.encode(text, start),
        "anchor_end": anchors.encode(text, start + len(original)),
        "original": original,
        "original_sha256": board.sha256(original),
        "proposal": proposal,
    }
    return doc, text, entry


def record(status: str, original: str) -> dict[str, Any]:
    return {
        "id": "s1",
        "workspace_id": "w",
        "doc_id": "d",
        "user_id": "u",
        "status": status,
        "original": original,
        "decided_at": 1.0,
        "prompt": [{"role": "user", "content": "fix"}],
    }


def edit_range(text: Text, entry: dict[str, Any], new: str) -> None:
    start = anchors.resolve(text, entry["anchor_start"])
    end = anchors.resolve(text, entry["anchor_end"])
    acceptance.replace(text, acceptance.Placement(start, end), new)


@pytest.mark.parametrize(
    ("after", "kind"),
    [
        (None, "kept"),
        ("Grüße, Welt!", "edited"),
        ("grüße welt", "reverted"),
        (" grüße  welt", "reverted"),
        ("grüße Welt", "edited"),  # a person's own fix, however close to the original
        ("", "reverted"),
    ],
)
def test_accepted_suggestions_are_labelled_by_what_became_of_their_text(
    after: str | None, kind: str
) -> None:
    doc, text, entry = suggest("Zitat: grüße welt 😀 ende", "grüße welt", "Grüße, Welt")
    acceptance.accept(doc, entry)
    text.insert(0, "Vorne ")  # unrelated edits before and after do not matter
    text.insert(len(text), " hinten")
    if after is not None:
        edit_range(text, entry, after)
    outcome = outcome_of(record("accepted", "grüße welt"), entry, text)
    assert outcome is not None and outcome["kind"] == kind
    if kind == "edited":
        assert outcome["final_text"] == after and 0.5 < outcome["similarity"] < 1


def test_a_rejected_suggestion_rewritten_by_hand_keeps_the_human_text() -> None:
    _doc, text, entry = suggest("We was late.", "We was late.", "We were late!")
    assert outcome_of(record("rejected", "We was late."), entry, text)["kind"] == "unchanged"  # type: ignore[index]
    edit_range(text, entry, "We were late.")
    outcome = outcome_of(record("rejected", "We was late."), entry, text)
    assert outcome is not None and outcome["kind"] == "rewritten"
    assert outcome["final_text"] == "We were late."


def test_undecided_suggestions_and_explanations_have_no_outcome() -> None:
    _doc, text, entry = suggest("abc", "b", "B")
    assert outcome_of(record("pending", "b"), entry, text) is None
    assert outcome_of({**record("rejected", "b"), "mode": "explain"}, entry, text) is None


def outcome(i: int, *, user: str = "u1", doc: str = "d1", kind: str = "kept") -> dict[str, Any]:
    return {
        "suggestion_id": f"s{i}",
        "workspace_id": "w",
        "doc_id": doc,
        "user_id": user,
        "decided_at": float(i),
        "kind": kind,
        "prompt": [{"role": "user", "content": f"fix number {i}"}],
        "original": f"n{i}",
        "proposal": f"N{i}",
        "final_text": f"N{i}" if kind == "kept" else f"No. {i}",
    }


def test_datasets_are_deduplicated_capped_per_member_and_split_by_document() -> None:
    outcomes = [outcome(i, user=f"u{i % 3}", doc=f"d{i % 4}") for i in range(8)]
    outcomes.append({**outcome(3, doc="d3"), "suggestion_id": "dup"})  # same prompt and answer
    outcomes += [outcome(100 + i, user="loud", doc=f"d{i % 4}") for i in range(10)]
    dataset = build(outcomes, DatasetLimits(max_per_user=3, validation_fraction=0.25))
    assert dataset.filters["duplicate"] == 1 and dataset.filters["user_cap"] == 7
    everyone = dataset.train + dataset.validation
    assert sum(1 for e in everyone if e.user_id == "loud") == 3
    assert {e.decided_at for e in everyone if e.user_id == "loud"} == {107.0, 108.0, 109.0}
    train_docs = {e.doc_id for e in dataset.train}
    held_docs = {e.doc_id for e in dataset.validation}
    assert train_docs and held_docs and not train_docs & held_docs
    for name, data in dataset.files().items():
        validate_file(name, data)


def test_one_document_splits_by_time_and_preferences_pair_human_and_model_text() -> None:
    outcomes = [outcome(i, kind="edited") for i in range(5)]
    dataset = build(outcomes, DatasetLimits(validation_fraction=0.2))
    assert [e.suggestion_id for e in dataset.validation] == ["s4"]
    line = json.loads(dataset.files()["preference-train"].splitlines()[0])
    assert line["preferred_output"][0]["content"] == "No. 0"
    assert line["non_preferred_output"][0]["content"] == "N0"


def test_secrets_are_scrubbed_from_prompts_and_labels() -> None:
    planted = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    leaky = {
        **outcome(1, kind="edited"),
        "final_text": f"token = {planted}",
        "prompt": [{"role": "user", "content": f"use {planted}"}],
    }
    dataset = build([leaky], DatasetLimits())
    blob = b"".join(dataset.files().values()).decode()
    assert planted not in blob and "[REDACTED:github_token]" in blob
