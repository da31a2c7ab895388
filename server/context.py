"""What the running app holds: settings and the long-lived parts, built by the lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sync.rooms import Rooms
from sync.store import DocumentStore

from .access.guard import Access
from .access.sync_gate import AccessWatch
from .backends import Backends
from .settings import Settings
from .sync_admission import Admission


@dataclass
class AppContext:
    settings: Settings
    store: DocumentStore
    rooms: Rooms
    backends: Backends | None = None
    access: Access | None = None
    drive: Any = None
    """The workspace drive (drive.service.Drive), built by server/drive/wiring.py."""
    assistant: Any = None
    """The assistant (server.assistant.wiring.AssistantPart)."""
    access_watch: AccessWatch | None = None
    learning: Any = None
    """The learning loop's registry and datasets (server/learning.py LearningPart)."""
    history: Any = None
    """The edit history (server/history/wiring.py HistoryPart)."""
    knowledge: Any = None
    """Search and retrieval (server/search/knowledge.py WorkspaceKnowledge)."""
    admission: Admission | None = None
    """Who may be authorized on /sync now."""
    draining: bool = False
    workspace_deleted_hooks: list[Any] = field(default_factory=list)
    """Async callables run with the workspace id before a workspace is deleted: each part
    (drive, assistant, history) removes what it keeps for it."""
    readiness_checks: dict[str, Any] = field(default_factory=dict)
    """name -> async callable returning None when healthy or a problem description."""
    degradations: dict[str, Any] = field(default_factory=dict)
    """Like readiness_checks, but reported without failing readiness."""
