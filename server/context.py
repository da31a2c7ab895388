"""What the running app holds: settings and the long-lived parts, built by the lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sync.rooms import Rooms
from sync.store import DocumentStore

from .settings import Settings


@dataclass
class AppContext:
    settings: Settings
    store: DocumentStore
    rooms: Rooms
    draining: bool = False
    readiness_checks: dict[str, Any] = field(default_factory=dict)
    """name -> async callable returning None when healthy or a problem description."""
    degradations: dict[str, Any] = field(default_factory=dict)
    """Like readiness_checks, but reported without failing readiness."""
