"""The checked form of an update to a stored thread or message, shared by both stores."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .store import AnswerStatus


def checked(changes: Mapping[str, Any], updatable: frozenset[str]) -> dict[str, Any]:
    """The changes as they are stored; ValueError, before anything is written, for a field
    outside ``updatable`` or a status that is none."""
    refused = sorted(set(changes) - updatable)
    if refused:
        raise ValueError(f"not updatable: {', '.join(refused)}")
    stored = dict(changes)
    if "status" in stored:
        stored["status"] = AnswerStatus(stored["status"]).value
    if "citations" in stored:
        stored["citations"] = list(stored["citations"] or [])
    return stored
