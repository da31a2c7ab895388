"""A thread's live document: ``{thread_id}:thread``, written only by the server, read by every
member over ``/sync`` like any document (a stock Yjs client observes it).

Why a document and not a channel of its own: it reaches every pod through the same log and
fan-out as edits do, so an answer streams to members on any pod; a member who reconnects gets
what they missed from the sync step, not from a replay protocol; the awareness of the same
document says who has the thread open and who is typing (a client sets ``typing: true`` in
its local state), owned per connection and named from the account like any presence.

Layout::

    Y.Map "thread"      id, workspace_id, doc_id, title, answer_every, created_by_name,
                        created_at
    Y.Map "messages"    message id -> Y.Map
        id, seq, role ("user" | "assistant"), author_id, author_name, reply_to,
        text            Y.Text: an answer's tokens are appended as they stream
        status          done | streaming | stopped | failed
        created_at, edited_at, deleted_at, model, error
        citations       JSON text: [{n, path, file_id, doc_id, start_line, end_line}]
        feedback        JSON text: {up, down}, the members' votes on an answer
        preferred       how many members prefer this answer to the others to its question
        owner           the worker attempt writing an answer (internal)

Only the last ``LIVE_MESSAGES`` messages stay in the document (clients sort by ``seq``); older
ones are paged from the store (``GET .../messages?before=``), so the document stays small
however long a thread grows. Functions here run inside ``Rooms.edit`` transactions and check
before they change anything."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from pycrdt import Doc, Map, Text

from .store import AnswerStatus, Message, Thread

SUFFIX = ":thread"
LIVE_MESSAGES = 200


class LiveMessageMissingError(LookupError):
    """The message is not (or no longer) in the live document."""


class SupersededAnswerError(Exception):
    """Another attempt took this answer over (its job was reclaimed): this one stops."""


def live_id(thread_id: str) -> str:
    return thread_id + SUFFIX


LIST_SUFFIX = ":threads"
LIVE_THREADS = 200


def list_id(workspace_id: str) -> str:
    """The workspace's thread list document: Y.Map ``threads``, thread id -> its updated_at,
    for the most recent LIVE_THREADS threads. A client lists threads over the API and reads
    this to know when to list again (a new thread, a new message)."""
    return workspace_id + LIST_SUFFIX


def touch(doc: Doc, thread: Thread) -> None:
    threads = doc.get("threads", type=Map)
    with doc.transaction():
        if threads.get(thread.id) != thread.updated_at:
            threads[thread.id] = thread.updated_at
        if len(threads) > LIVE_THREADS:
            by_age = sorted(threads.items(), key=lambda kv: (kv[1], kv[0]))
            for thread_id, _ in by_age[: len(threads) - LIVE_THREADS]:
                del threads[thread_id]


def _meta(doc: Doc) -> Map:
    return doc.get("thread", type=Map)


def _messages(doc: Doc) -> Map:
    return doc.get("messages", type=Map)


def set_thread(doc: Doc, thread: Thread) -> None:
    meta = _meta(doc)
    with doc.transaction():
        for key in ("id", "workspace_id", "doc_id", "title", "answer_every", "created_at"):
            meta[key] = getattr(thread, key)
        meta["created_by_name"] = thread.created_by_name


def add(doc: Doc, message: Message, *, owner: str | None = None) -> None:
    """Adds the message (idempotent for its id) and drops the oldest beyond LIVE_MESSAGES."""
    messages = _messages(doc)
    if message.id in messages:
        return
    with doc.transaction():
        messages[message.id] = Map(
            {
                "id": message.id,
                "seq": message.seq,
                "role": message.role.value,
                "author_id": message.author_id,
                "author_name": message.author_name,
                "reply_to": message.reply_to,
                "text": Text(message.text),
                "status": message.status.value,
                "created_at": message.created_at,
                "edited_at": message.edited_at,
                "deleted_at": message.deleted_at,
                "model": message.model,
                "error": message.error,
                "citations": json.dumps(message.citations),
                "owner": owner,
            }
        )
        if len(messages) > LIVE_MESSAGES:
            by_seq = sorted(messages.keys(), key=lambda key: messages[key]["seq"])
            for key in by_seq[: len(messages) - LIVE_MESSAGES]:
                del messages[key]


def _entry(doc: Doc, message_id: str) -> Map:
    messages = _messages(doc)
    if message_id not in messages:
        raise LiveMessageMissingError(message_id)
    entry: Map = messages[message_id]
    return entry


def status(doc: Doc, message_id: str) -> AnswerStatus | None:
    messages = _messages(doc)
    if message_id not in messages:
        return None
    return AnswerStatus(messages[message_id]["status"])


def update(doc: Doc, message: Message) -> None:
    """Mirrors the stored message's text and fields (an edit, a delete, a stop); a message no
    longer in the live window is left alone."""
    messages = _messages(doc)
    if message.id not in messages:
        return
    entry: Map = messages[message.id]
    text: Text = entry["text"]
    with doc.transaction():
        if str(text) != message.text:
            del text[:]
            text += message.text
        for key in ("edited_at", "deleted_at", "model", "error"):
            if entry.get(key) != getattr(message, key):
                entry[key] = getattr(message, key)
        if entry["status"] != message.status.value:
            entry["status"] = message.status.value
        citations = json.dumps(message.citations)
        if entry["citations"] != citations:
            entry["citations"] = citations


def set_feedback(doc: Doc, message: Message) -> None:
    """Mirrors an answer's vote counts (JSON text ``feedback``); left alone off the window."""
    messages = _messages(doc)
    if message.id in messages:
        messages[message.id]["feedback"] = json.dumps(message.feedback)


def set_preferred(doc: Doc, question: Message, answers: list[Message]) -> None:
    """Mirrors how many members prefer each answer to a question (``preferred``)."""
    messages = _messages(doc)
    chosen = list(question.preferences.values())
    with doc.transaction():
        for answer in answers:
            if answer.id in messages:
                messages[answer.id]["preferred"] = float(chosen.count(answer.id))


def begin(doc: Doc, message_id: str, owner: str, model: str) -> bool:
    """An attempt takes the answer: its text starts over (a reclaimed job redoes it). False
    when the answer is no longer streaming (someone stopped it)."""
    entry = _entry(doc, message_id)
    if entry["status"] != AnswerStatus.STREAMING.value:
        return False
    text: Text = entry["text"]
    with doc.transaction():
        del text[:]
        entry["owner"] = owner
        entry["model"] = model
    return True


def append(doc: Doc, message_id: str, owner: str, piece: str) -> AnswerStatus:
    """Appends streamed text while the answer streams and ``owner`` holds it; returns the
    status, so a stop by anyone ends the stream at the next write."""
    entry = _entry(doc, message_id)
    if entry["owner"] != owner:
        raise SupersededAnswerError(message_id)
    current = AnswerStatus(entry["status"])
    if current is AnswerStatus.STREAMING and piece:
        text: Text = entry["text"]
        text += piece
    return current


class Ended(NamedTuple):
    status: AnswerStatus
    text: str


def finish(
    doc: Doc, message_id: str, owner: str, final: AnswerStatus, fields: dict[str, Any]
) -> Ended:
    """Ends a streaming answer as ``final`` with ``fields`` (error, citations); an answer
    someone stopped stays stopped. Returns the status it ended with and its text."""
    entry = _entry(doc, message_id)
    if entry["owner"] != owner:
        raise SupersededAnswerError(message_id)
    text = str(entry["text"])
    if entry["status"] != AnswerStatus.STREAMING.value:
        return Ended(AnswerStatus(entry["status"]), text)
    with doc.transaction():
        entry["status"] = final.value
        for key, value in fields.items():
            entry[key] = json.dumps(value) if key == "citations" else value
    return Ended(final, text)


def end(doc: Doc, message_id: str, final: AnswerStatus, reason: str) -> str | None:
    """Ends a streaming answer whoever writes it (a stop, a job given up), keeping what
    streamed; returns that text, or None when the answer was not streaming (or is gone)."""
    if status(doc, message_id) is not AnswerStatus.STREAMING:
        return None
    entry = _entry(doc, message_id)
    with doc.transaction():
        entry["status"] = final.value
        entry["error"] = reason
    return str(entry["text"])


def text_of(doc: Doc, message_id: str) -> str:
    return str(_entry(doc, message_id)["text"])


def read(doc: Doc) -> dict[str, Any]:
    """The thread and its live messages, oldest first, as plain data (for tests and reads)."""
    messages = []
    for entry in _messages(doc).values():
        item = {key: entry[key] for key in entry if key not in ("text", "owner")}
        item["text"] = str(entry["text"])
        item["citations"] = json.loads(entry["citations"])
        messages.append(item)
    messages.sort(key=lambda item: item["seq"])
    return {"thread": dict(_meta(doc)), "messages": messages}
