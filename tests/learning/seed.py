"""Seeds what the assistant leaves behind, through the real stores of an embedded data
directory: accounts and a workspace (SQLite directory), content and suggestions documents (the
durable update log), and the assistant's records. Each suggestion is accepted or rejected with
the assistant's own acceptance code, then people edit the text like they would."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycrdt import Doc, Text

from assistant import acceptance, anchors, board
from assistant.sqlite_records import SqliteRecords
from server.access.sqlite_directory import SqliteDirectory
from sync.sqlite_store import SqliteStore
from sync.types import DocId, Origin

ORIGIN = Origin("seed")


@dataclass
class Case:
    """One suggestion: ``text`` with ``original`` in it, the model's ``proposal``, the
    decision, and what a person typed afterwards in place of the result (None: nothing)."""

    doc_id: str
    text: str
    original: str
    proposal: str
    decision: str = "accepted"
    human: str | None = None
    user_id: str = "u1"
    instruction: str = "make it better"


def prompt_of(case: Case) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You rewrite text. Reply with the replacement only."},
        {
            "role": "user",
            "content": f"Instruction: {case.instruction}\n<selection>\n{case.original}\n"
            f"</selection>\n<document>\n{case.text}\n</document>",
        },
    ]


class Seeder:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._docs: dict[str, Doc] = {}
        self._boards: dict[str, Doc] = {}
        self._count = 0

    async def workspace(self, name: str = "team", *, allow_training: bool = True) -> str:
        async with SqliteDirectory(self.data_dir / "accounts.db") as directory:
            owner = await directory.create_user(f"owner-{name}", "x")
            workspace = await directory.create_workspace(name, owner.id)
            if not allow_training:
                await directory.update_workspace(workspace.id, allow_training=False)
            return str(workspace.id)

    async def add(self, workspace_id: str, cases: list[Case], decided_ago_s: float = 10.0) -> None:
        async with (
            SqliteStore(self.data_dir / "tandem.db") as store,
            SqliteRecords(self.data_dir / "assistant.db") as records,
        ):
            for case in cases:
                await self._one(store, records, workspace_id, case, decided_ago_s)

    async def _one(
        self,
        store: SqliteStore,
        records: SqliteRecords,
        workspace_id: str,
        case: Case,
        decided_ago_s: float,
    ) -> None:
        self._count += 1
        sid = f"s{self._count}"
        content = self._docs.get(case.doc_id)
        fresh = content is None
        if content is None:
            content = self._docs[case.doc_id] = Doc()
            self._boards[case.doc_id] = Doc()
        suggestions = self._boards[case.doc_id]
        text = content.get("content", type=Text)
        updates: list[tuple[str, bytes]] = []

        def capture(doc_id: str, doc: Doc, change: Any) -> None:
            before = doc.get_state()
            change()
            updates.append((doc_id, doc.get_update(before)))

        if fresh:
            capture(case.doc_id, content, lambda: text.insert(0, case.text))
        else:
            capture(case.doc_id, content, lambda: text.insert(len(text), "\n" + case.text))
        start = str(text).rindex(case.original)
        end = start + len(case.original)
        fields = {
            "id": sid,
            "doc_id": case.doc_id,
            "mode": "rewrite",
            "instruction": case.instruction,
            "anchor_start": anchors.encode(text, start),
            "anchor_end": anchors.encode(text, end),
            "original": case.original,
        }

        def propose() -> None:
            board.create(suggestions, fields)
            board.append(suggestions, sid, case.proposal)
            board.transition(suggestions, sid, board.Status.PENDING)

        capture(board.board_id(case.doc_id), suggestions, propose)
        entry = board.read(suggestions, sid)
        if case.decision == "accepted":
            capture(case.doc_id, content, lambda: acceptance.accept(content, entry))
        status = board.Status(case.decision)
        capture(
            board.board_id(case.doc_id),
            suggestions,
            lambda: board.transition(suggestions, sid, status),
        )
        if case.human is not None:
            current = board.read(suggestions, sid)

            def rewrite() -> None:
                placement_start = anchors.resolve(text, current["anchor_start"])
                placement_end = anchors.resolve(text, current["anchor_end"])
                acceptance.replace(
                    text, acceptance.Placement(placement_start, placement_end), case.human or ""
                )

            capture(case.doc_id, content, rewrite)
        for doc_id, update in updates:
            await store.append(DocId(doc_id), update, ORIGIN)
        now = time.time()
        await records.create(
            {
                "id": sid,
                "workspace_id": workspace_id,
                "doc_id": case.doc_id,
                "user_id": case.user_id,
                "username": case.user_id,
                "mode": "rewrite",
                "instruction": case.instruction,
                "original": case.original,
                "original_sha256": board.sha256(case.original),
                "status": "streaming",
                "created_at": now - decided_ago_s - 5,
            }
        )
        await records.update(
            sid,
            {"model": "base-model", "prompt": prompt_of(case), "output": case.proposal},
        )
        await records.decide(
            {
                "suggestion_id": sid,
                "workspace_id": workspace_id,
                "doc_id": case.doc_id,
                "action": case.decision,
                "user_id": case.user_id,
                "username": case.user_id,
                "at": now - decided_ago_s,
                "via": "accept" if case.decision == "accepted" else "reject",
                "detail": None,
            }
        )
