"""Builds the edit history the settings ask for: its store (MongoDB when configured, else
SQLite in the data directory) and the recorder listening to every room of this process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from server.access.directory import Directory
from server.backends import Backends
from server.settings import Settings
from sync.rooms import Rooms

from .recorder import HistoryLimits, HistoryRecorder
from .store import HistoryStore


@dataclass
class HistoryPart:
    store: HistoryStore
    recorder: HistoryRecorder

    async def delete_workspace(self, workspace_id: str) -> None:
        self.recorder.forget_workspace(workspace_id)
        await self.store.delete_workspace(workspace_id)


def history_limits(settings: Settings) -> HistoryLimits:
    return HistoryLimits(
        flush_s=settings.history_flush_s,
        gap_s=settings.history_session_gap_s,
        snapshot_s=settings.history_snapshot_s,
        keep_points=settings.history_keep_points,
        retention_s=settings.history_retention_s,
    )


@contextlib.asynccontextmanager
async def open_history_store(settings: Settings, backends: Backends) -> AsyncIterator[HistoryStore]:
    if backends.mongo is not None:
        from .mongo_history import MongoHistory

        mongo = MongoHistory(backends.mongo)
        await mongo.ensure_indexes()
        yield mongo
        return
    from .sqlite_history import SqliteHistory

    async with SqliteHistory(settings.data_dir / "history.db") as sqlite:
        yield sqlite


@contextlib.asynccontextmanager
async def open_history(
    settings: Settings, backends: Backends, rooms: Rooms, directory: Directory
) -> AsyncIterator[HistoryPart]:
    async with open_history_store(settings, backends) as store:
        recorder = HistoryRecorder(
            store, rooms, directory, pod=settings.pod_id, limits=history_limits(settings)
        )
        async with recorder:
            yield HistoryPart(store, recorder)
