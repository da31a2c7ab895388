"""A SQLite file used from asyncio: one connection, calls run on worker threads behind a lock
so the event loop never waits on the disk and writes stay ordered. The metadata stores of the
embedded default (accounts, history, suggestion records, the learning registry) build on it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Self, TypeVar

T = TypeVar("T")


class SqliteFile:
    def __init__(
        self, path: Path, schema: str, *, synchronous: str = "FULL", busy_timeout_ms: int = 10_000
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        # Other processes may share the file (`tandem finetune`, `tandem admin`).
        self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        self._db.executescript(schema)
        self._lock = threading.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        with self._lock:
            self._db.close()

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return work(self._db)

        return await asyncio.to_thread(locked)
