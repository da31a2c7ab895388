"""What the drive needs from the rest of the server, as small ports: the server implements
them over its sync rooms and directory (server/drive/), tests may implement them in memory."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from .entries import Entry


class Documents(Protocol):
    """Collaborative documents that hold the text of text files."""

    async def create(self, doc_id: str, workspace_id: str, text: str) -> None:
        """Registers the document in the workspace and seeds its ``content`` text."""
        ...

    async def read_text(self, doc_id: str) -> str: ...

    async def delete(self, doc_id: str) -> None:
        """Unregisters the document: nobody can open it any more."""
        ...


class TreeFeed(Protocol):
    """Pushes tree changes to every member live (a server-written document per workspace)."""

    def doc_id(self, workspace_id: str) -> str: ...

    async def publish(self, workspace_id: str, changed: list[Entry], removed: list[str]) -> None:
        """Never raises: a feed that fails is repaired by the next ``reconcile``."""
        ...

    async def matches(self, workspace_id: str, entries: list[Entry]) -> bool:
        """Whether the feed holds exactly ``entries``; True when it cannot tell (it is down,
        and a reconcile could not help)."""
        ...

    async def reconcile(self, workspace_id: str, entries: list[Entry]) -> None:
        """Makes the feed hold exactly ``entries`` (registering the feed if needed). Never
        raises, like ``publish``."""
        ...


class WorkspaceLocks(Protocol):
    def hold(self, workspace_id: str) -> AbstractAsyncContextManager[None]:
        """Exclusive per workspace across every process that shares the tree; raises
        LockTimeoutError when it cannot be had in bounded time."""
        ...
