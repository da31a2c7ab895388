"""The suggestions document: ``{doc_id}:suggestions``, written only by the server.

Layout (what a Yjs client reads; the web app observes it deeply)::

    Y.Map "suggestions"            suggestion id -> Y.Map
        id, doc_id, mode, instruction          str
        anchor_start, anchor_end               base64 Yjs relative positions into the
                                               content doc's Y.Text "content"
                                               (Y.decodeRelativePosition / createAbsolute...)
        original, original_sha256              the selected text when asked, its hex sha256
        proposal                               Y.Text: tokens are appended as they stream,
                                               with the secrets the model saw as placeholders
                                               put back (the values behind them never enter
                                               this document otherwise)
        status                                 streaming|pending|accepted|rejected|stale|
                                               failed|cancelled
        requested_by, requested_by_name        user id, username
        decided_by, decided_by_name            user id, username (or None)
        model                                  model id (set when the worker starts)
        owner                                  the worker attempt writing it (internal)
        error                                  why it failed or went stale (or None)
        unrestorable                           list of placeholders in the proposal that
                                               stand for no secret (the model altered or
                                               invented them): accept refuses it. [] once
                                               a worker checked, None before
        warning                                why it cannot be accepted (or None)
        created_at, started_at, first_token_at, finished_at, decided_at
                                               epoch seconds (float) or None

The functions here run inside ``Rooms.edit`` transactions; they validate before they mutate,
because a Yjs transaction cannot roll back."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from pycrdt import Doc, Map, Text

from . import output
from .types import Status, SuggestionNotFoundError, SupersededError, TransitionError, can_move

MAP_NAME = "suggestions"
SUFFIX = ":suggestions"


def board_id(doc_id: str) -> str:
    return doc_id + SUFFIX


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _root(doc: Doc) -> Map:
    return doc.get(MAP_NAME, type=Map)


def _entry(doc: Doc, suggestion_id: str) -> Map:
    entry = _root(doc).get(suggestion_id)
    if not isinstance(entry, Map):
        raise SuggestionNotFoundError(suggestion_id)
    return entry


def create(doc: Doc, fields: dict[str, Any]) -> None:
    sid = fields["id"]
    if sid in _root(doc):
        raise ValueError(f"suggestion {sid} exists")
    now = time.time()
    base: dict[str, Any] = {
        "status": Status.STREAMING.value,
        "decided_by": None,
        "decided_by_name": None,
        "model": None,
        "error": None,
        "unrestorable": None,
        "warning": None,
        "created_at": now,
        "started_at": None,
        "first_token_at": None,
        "finished_at": None,
        "decided_at": None,
        "original_sha256": sha256(fields["original"]),
    }
    _root(doc)[sid] = Map({**base, **fields, "proposal": Text()})


def status(doc: Doc, suggestion_id: str) -> Status:
    return Status(_entry(doc, suggestion_id)["status"])


def read(doc: Doc, suggestion_id: str) -> dict[str, Any]:
    return _plain(_entry(doc, suggestion_id))


def read_all(doc: Doc) -> list[dict[str, Any]]:
    entries = [_plain(e) for e in _root(doc).values() if isinstance(e, Map)]
    return sorted(entries, key=lambda e: e.get("created_at") or 0.0)


def _plain(entry: Map) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Text) else v) for k, v in entry.items()}


def _check_owner(entry: Map, suggestion_id: str, owner: str | None) -> None:
    if owner is not None and entry.get("owner") != owner:
        raise SupersededError(suggestion_id)


def begin(doc: Doc, suggestion_id: str, owner: str, **fields: Any) -> dict[str, Any] | None:
    """A worker attempt takes the suggestion over (a retried job starts over: what an earlier
    attempt streamed goes, and that attempt's writes are refused from now on). None when the
    suggestion is no longer streaming (cancelled before a worker got to it)."""
    try:
        entry = _entry(doc, suggestion_id)
    except SuggestionNotFoundError:
        return None
    if Status(entry["status"]) is not Status.STREAMING:
        return None
    proposal = entry["proposal"]
    if len(proposal):
        del proposal[0 : len(proposal)]
    entry["owner"] = owner
    for key, value in fields.items():
        entry[key] = value
    return _plain(entry)


def append(
    doc: Doc, suggestion_id: str, chunk: str, *, owner: str | None = None, **fields: Any
) -> Status:
    """Adds streamed text while the suggestion is streaming; returns its status, so a writer
    sees a cancel or a stale mark at its next flush and stops. With ``owner``, raises
    SupersededError when another worker attempt has taken the suggestion over."""
    entry = _entry(doc, suggestion_id)
    _check_owner(entry, suggestion_id, owner)
    current = Status(entry["status"])
    if current is not Status.STREAMING:
        return current
    if chunk:
        proposal = entry["proposal"]
        proposal.insert(len(proposal), chunk)  # pycrdt counts bytes: len() is the end
    for key, value in fields.items():
        if entry.get(key) != value:
            entry[key] = value
    return current


def strip_fence(doc: Doc, suggestion_id: str, original: str) -> str:
    """Removes a Markdown fence the model wrapped the whole proposal in; returns the text."""
    proposal = _entry(doc, suggestion_id)["proposal"]
    text = str(proposal)
    found = output.fence(text, original)
    if found is None:
        return text
    opening, closing = found
    end = len(text.encode())
    del proposal[end - len(closing.encode()) : end]  # pycrdt counts bytes
    del proposal[0 : len(opening.encode())]
    return str(proposal)


def transition(
    doc: Doc,
    suggestion_id: str,
    new: Status,
    *,
    expect: Status | None = None,
    owner: str | None = None,
    **fields: Any,
) -> Status:
    """Moves the suggestion to ``new`` when the state machine allows it (and, with ``expect``,
    only from that state): the compare-and-set every decision goes through. Returns the
    previous status; raises TransitionError otherwise."""
    entry = _entry(doc, suggestion_id)
    _check_owner(entry, suggestion_id, owner)
    current = Status(entry["status"])
    if (expect is not None and current is not expect) or not can_move(current, new):
        raise TransitionError(suggestion_id, current, new)
    entry["status"] = new.value
    for key, value in fields.items():
        entry[key] = value
    return current
