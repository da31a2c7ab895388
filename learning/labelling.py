"""Turns decided suggestions into outcomes once they have settled: reads the document and its
suggestions document from the durable store (the fine-tune job holds no rooms), resolves each
suggestion's anchors in the current text, and records what became of it. An outcome, once
recorded, stays: later edits belong to the document, not to the suggestion."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any, Protocol

from pycrdt import Doc, Text

from assistant import board
from assistant.anchors import TEXT_NAME
from assistant.records import Records, SuggestionRecord
from assistant.types import SuggestionNotFoundError

from .outcomes import outcome_of
from .store import LearningStore

log = logging.getLogger(__name__)

_PAGE = 1000


class DocumentSource(Protocol):
    async def load(self, doc_id: str) -> Any:
        """A ``sync.store.LoadedDoc``: updates that rebuild the document."""
        ...


async def read_doc(source: DocumentSource, doc_id: str) -> Doc:
    loaded = await source.load(doc_id)
    doc = Doc()
    for update in loaded.updates:
        doc.apply_update(update)
    return doc


async def decided_records(records: Records, workspace_id: str) -> list[SuggestionRecord]:
    """Every accepted or rejected suggestion of the workspace, paging by creation time."""
    found: dict[str, SuggestionRecord] = {}
    since = 0.0
    while True:
        page = await records.for_workspace(workspace_id, since=since, limit=_PAGE)
        fresh = [r for r in page if r["id"] not in found]
        for record in fresh:
            found[record["id"]] = record
        if len(page) < _PAGE or not fresh:
            break
        since = max(float(r.get("created_at") or 0.0) for r in page)
    return [r for r in found.values() if r.get("status") in ("accepted", "rejected")]


async def label_workspace(
    workspace_id: str,
    records: Records,
    store: LearningStore,
    source: DocumentSource,
    *,
    settle_s: float,
    now: float | None = None,
) -> int:
    """Records outcomes for the suggestions that settled since the last call; returns how
    many new outcomes there are."""
    now = time.time() if now is None else now
    known = {o["suggestion_id"] for o in await store.outcomes(workspace_id)}
    due: dict[str, list[SuggestionRecord]] = defaultdict(list)
    for record in await decided_records(records, workspace_id):
        decided_at = float(record.get("decided_at") or 0.0)
        if record["id"] in known or decided_at + settle_s > now:
            continue
        due[record["doc_id"]].append(record)
    written = 0
    for doc_id, pending in due.items():
        text = (await read_doc(source, doc_id)).get(TEXT_NAME, type=Text)
        suggestions = await read_doc(source, board.board_id(doc_id))
        for record in pending:
            try:
                entry = board.read(suggestions, record["id"])
            except SuggestionNotFoundError:
                log.info("suggestion %s is not in its board; no outcome", record["id"])
                continue
            outcome = outcome_of(record, entry, text, now=now)
            if outcome is not None:
                await store.save_outcome(outcome)
                written += 1
    return written
