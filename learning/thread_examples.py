"""Labelled examples from conversations: what members said of the assistant's answers in
threads, read from the thread store at each run. Unlike a suggestion's outcome (a fact once
the text settled) a vote is an opinion that can change or be taken back, so these are not
kept in the learning store: the run reads them as they stand.

- ``approved``: a member's thumbs up on an answer; SFT on the answer as written.
- ``preferred``: a member's choice of one answer to a question over the others (after a
  regenerate); SFT on it, and a preference pair over the latest other finished answer.
- ``disliked``: a member's thumbs down on an answer whose question has another answer some
  member approved or preferred; a preference pair, that answer over this one (and SFT on
  that answer, which the dataset keeps once).

Each is one member's, dated when they voted or chose, on the prompt the model was sent (a
regenerated answer's prompt leaves out its alternatives, so they share it). The dataset
redacts, drops duplicates and caps each member as for suggestions; the workspace's consent
(``allow_training``) gates the run itself. Answers turned into suggestions are labelled by
those suggestions' outcomes (``dataset.example_of``)."""

from __future__ import annotations

from collections.abc import Iterable

from assistant.threads.store import AnswerStatus, Message, Role, ThreadStore

from .store import Outcome, OutcomeKind


def _usable(answer: Message) -> bool:
    return (
        answer.role is Role.ASSISTANT
        and answer.status is AnswerStatus.DONE
        and answer.deleted_at is None
        and bool(answer.prompt)
        and bool(answer.text.strip())
    )


def _outcome(
    key: str, kind: OutcomeKind, user_id: str, at: float, chosen: Message, other: Message
) -> Outcome:
    return {
        "suggestion_id": key,
        "workspace_id": chosen.workspace_id,
        "doc_id": f"thread:{chosen.thread_id}",  # a thread's examples stay on one split side
        "user_id": user_id,
        "decided_at": at,
        "kind": kind.value,
        "prompt": other.prompt if kind is OutcomeKind.DISLIKED else chosen.prompt,
        "original": "",
        "proposal": other.text,
        "final_text": chosen.text,
        "model": other.model,
    }


async def thread_outcomes(threads: ThreadStore, workspace_id: str) -> list[Outcome]:
    judged = await threads.judged(workspace_id)
    found: list[Outcome] = []
    siblings: dict[str, list[Message]] = {}

    async def answers_to(message: Message) -> list[Message]:
        question = message.reply_to if message.role is Role.ASSISTANT else message.id
        if question is None:
            return []
        if question not in siblings:
            siblings[question] = await threads.replies(message.thread_id, question)
        return siblings[question]

    for message in judged:
        if message.role is Role.USER:
            found.extend(_preferences(message, await answers_to(message)))
    liked = _liked(judged)
    for answer in filter(_usable, judged):
        for user_id, value in sorted(answer.votes.items()):
            key = f"vote:{answer.id}:{user_id}"
            at = float(answer.votes_at.get(user_id, answer.created_at))
            if value == "up":
                found.append(_outcome(key, OutcomeKind.APPROVED, user_id, at, answer, answer))
                continue
            # The better answer is the label's text: it must be one the dataset can use.
            better = [
                a
                for a in await answers_to(answer)
                if a.id in liked and a.id != answer.id and _usable(a)
            ]
            if better:
                chosen = max(better, key=lambda a: a.seq)
                found.append(_outcome(key, OutcomeKind.DISLIKED, user_id, at, chosen, answer))
    return found


def _preferences(question: Message, answers: list[Message]) -> Iterable[Outcome]:
    by_id = {a.id: a for a in answers if _usable(a)}
    for user_id, answer_id in sorted(question.preferences.items()):
        chosen = by_id.get(answer_id)
        others = [a for a in by_id.values() if a.id != answer_id]
        if chosen is None or not others:
            continue
        other = max(others, key=lambda a: a.seq)
        at = float(question.preferences_at.get(user_id, chosen.created_at))
        key = f"prefer:{question.id}:{user_id}"
        yield _outcome(key, OutcomeKind.PREFERRED, user_id, at, chosen, other)


def _liked(judged: list[Message]) -> set[str]:
    """Ids of answers someone approved (thumbs up) or preferred."""
    ids = {a.id for a in judged if a.role is Role.ASSISTANT and "up" in a.votes.values()}
    for message in judged:
        if message.role is Role.USER:
            ids.update(message.preferences.values())
    return ids
