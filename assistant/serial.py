"""Serializing decisions per document.

Every status change that can race another (accept, accept-all, reject, cancel, and the
worker's own end-of-stream transitions) runs while holding the document's turn. In one process
(embedded) that is an asyncio lock: ``Rooms.edit`` transactions are atomic there. Across pods
and workers it is a Redis lease per document, and holding it is not enough: this process's
replica of the document may not yet have the last holder's writes (they travel through the
document's stream). So after taking the lease we catch up: load the document from the store
(everything appended so far) and merge it into the replica before deciding anything."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from pycrdt import Doc

from . import board

Edit = Callable[[str, Callable[[Doc], Any]], Awaitable[Any]]
Load = Callable[[str], Awaitable[list[bytes]]]
"""All durable updates of a document (snapshot(s) then log), e.g. from DocumentStore.load."""


class BusyError(Exception):
    """Another process held the document's turn for too long."""


class Serializer(Protocol):
    def turn(self, doc_id: str) -> contextlib.AbstractAsyncContextManager[None]: ...


class LocalSerializer:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def turn(self, doc_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(doc_id, asyncio.Lock())
        self._users[doc_id] = self._users.get(doc_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[doc_id] -= 1
            if not self._users[doc_id]:
                del self._users[doc_id], self._locks[doc_id]


class LeaseSerializer:
    def __init__(
        self,
        redis: Any,
        edit: Edit,
        load: Load,
        *,
        timeout_s: float = 10.0,
        ttl_ms: int = 15_000,
    ) -> None:
        self._redis = redis
        self._edit = edit
        self._load = load
        self._timeout_s = timeout_s
        self._ttl_ms = ttl_ms
        self._local = LocalSerializer()  # one waiter per process asks Redis, not all of them

    @contextlib.asynccontextmanager
    async def turn(self, doc_id: str) -> AsyncIterator[None]:
        from sync.lease import Lease

        async with self._local.turn(doc_id):
            lease = Lease(self._redis, f"tandem:assistant:turn:{doc_id}", ttl_ms=self._ttl_ms)
            deadline = asyncio.get_running_loop().time() + self._timeout_s
            delay = 0.005
            while True:
                async with lease.hold() as held:
                    if held:
                        await self._catch_up(doc_id)
                        await self._catch_up(board.board_id(doc_id))
                        yield
                        return
                if asyncio.get_running_loop().time() > deadline:
                    raise BusyError(f"document {doc_id} is busy; try again")
                # The holder's release is not observable as an event: back off and retry.
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.1)

    async def _catch_up(self, doc_id: str) -> None:
        updates = await self._load(doc_id)

        def merge(doc: Doc) -> None:
            for update in updates:
                doc.apply_update(update)

        await self._edit(doc_id, merge)
