"""The port for edit history: sessions and restore points. MongoDB when configured, else a
SQLite file; one contract suite (tests/learning/test_history_store_contract.py) runs on both.

- session: ``id, doc_id, workspace_id, user_id, username, pod, start, end`` (epoch s),
  ``inserted, deleted`` (Yjs units: characters, as UTF-16), ``updates`` (how many)
- point: ``id, doc_id, workspace_id, at, reason`` (timed | manual | before_restore),
  ``size`` (characters), ``sha256``, and ``text`` (only from ``point``, not in listings)
"""

from __future__ import annotations

from typing import Any, Protocol

Session = dict[str, Any]
Point = dict[str, Any]


class HistoryStore(Protocol):
    async def save_sessions(self, sessions: list[Session]) -> None:
        """Upserts by id, in one batch."""
        ...

    async def sessions(self, doc_id: str, *, limit: int = 200) -> list[Session]:
        """Newest start first."""
        ...

    async def add_point(self, point: Point) -> None: ...

    async def points(self, doc_id: str) -> list[Point]:
        """Newest first, without their text."""
        ...

    async def point(self, doc_id: str, point_id: str) -> Point | None:
        """With its text."""
        ...

    async def delete_points(self, doc_id: str, point_ids: list[str]) -> None: ...

    async def delete_workspace(self, workspace_id: str) -> None:
        """Sessions and points go. Idempotent."""
        ...

    async def aclose(self) -> None: ...
