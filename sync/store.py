"""The port every document store implements: a durable, ordered update log plus snapshots.

Contract (ARCHITECTURE.md, Durability):
- ``append`` returns only once the update is durable; callers relay it to peers only after.
- ``load`` returns updates whose application in order rebuilds the document: the merged
  snapshot(s) first, then every log entry not yet folded into a snapshot. Applying an update
  twice is harmless in Yjs, so overlap between a snapshot and the tail is allowed; a gap is not.
- ``compact`` folds the log into a new snapshot and only then trims what the snapshot contains.
  A crash at any point, or two compactions at once, loses nothing. An open room may offer its
  document's state (``DocState``) to be the snapshot; a store may use it instead of merging.
- Nothing here ever writes as a side effect of ``load``: a failed load persists nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .types import DocId, LogId, Origin, Update


class StoreError(Exception):
    """The backing storage failed (I/O, connection, corruption); the operation did not happen."""


@dataclass(frozen=True, slots=True)
class LoadedDoc:
    updates: list[Update]
    """Snapshot(s) first, then the log tail, in log order."""
    last_id: LogId | None
    """Id of the newest log entry included, to resume a tail from; None for an empty log."""


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: LogId
    origin: Origin
    update: Update


@dataclass(frozen=True, slots=True)
class LogGap:
    """The log was trimmed past the last entry a tail delivered: what it never delivered is now
    only in the snapshot that trim made. Whoever follows must reload from the store."""


@dataclass(frozen=True, slots=True)
class DocState:
    """A document's whole state as one update, holding every log entry up to ``upto``."""

    update: Update
    upto: LogId


@dataclass(frozen=True, slots=True)
class LogStats:
    entries: int
    """Log entries not yet folded into a snapshot."""
    bytes: int
    oldest_age_s: float | None
    """Age of the oldest uncompacted entry, None when the log is empty."""


class DocumentStore(Protocol):
    async def load(self, doc_id: DocId) -> LoadedDoc: ...

    async def append(self, doc_id: DocId, update: Update, origin: Origin) -> LogId: ...

    async def stats(self, doc_id: DocId) -> LogStats: ...

    async def compact(self, doc_id: DocId, state: DocState | None = None) -> bool:
        """Fold snapshot + log into a new snapshot and trim; False when there was nothing to do.
        ``state``, when given, may be written as the snapshot as it is."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ImmediateAppend(Protocol):
    """A store that can, at times, make an append durable in the caller's own step. A room
    then handles a client's update without suspending: received, applied, durable and relayed
    in one callback, with no task to wake in between."""

    def can_append_now(self) -> bool:
        """Whether ``append_now`` would commit at once, behind nothing still waiting."""
        ...

    def append_now(self, doc_id: DocId, update: Update, origin: Origin) -> LogId:
        """``append`` without suspending; only after ``can_append_now`` said yes in the same
        step. Raises StoreError, as ``append`` does."""
        ...


class LogTail(Protocol):
    """Cross-process delivery of a document's log (cluster mode); embedded mode has none."""

    def tail(self, doc_id: DocId, after: LogId | None) -> AsyncIterator[LogEntry | LogGap]:
        """Every entry after ``after``, in log order, waiting for new ones; resumes across
        reconnects of the backing service. Where compaction trimmed entries before they could
        be read, a ``LogGap`` stands in their place."""
        ...
