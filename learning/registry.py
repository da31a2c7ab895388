"""The model registry per workspace: which fine-tuned model the assistant uses there, with a
rollback pointer. A promotion appends to the workspace's history; a rollback drops the last
entry, so the one before it (or the base model) is current again.

The assistant asks ``await registry.model_for(workspace_id)`` for every request: the
promoted model id, or None for "use the configured base model". Answers are cached for a few
seconds, so a promotion by the CronJob reaches every worker within ``cache_s``."""

from __future__ import annotations

import time
from typing import Any

from .store import LearningStore, ModelEntry, Pointer


class RegistryError(Exception):
    """The promotion or rollback is not possible (unknown model, nothing to roll back)."""


class ModelRegistry:
    def __init__(self, store: LearningStore, *, cache_s: float = 5.0) -> None:
        self._store = store
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, str | None]] = {}

    async def model_for(self, workspace_id: str) -> str | None:
        now = time.monotonic()
        cached = self._cache.get(workspace_id)
        if cached is not None and now - cached[0] < self._cache_s:
            return cached[1]
        pointer = await self._store.pointer(workspace_id)
        current = _current(pointer)
        self._cache[workspace_id] = (now, current)
        return current

    async def register(self, entry: ModelEntry) -> None:
        await self._store.add_model(entry)

    async def promote(self, workspace_id: str, model_id: str, **extra: Any) -> Pointer:
        """Makes ``model_id`` (a registered model of this workspace) current."""
        known = {m["model_id"] for m in await self._store.models(workspace_id)}
        if model_id not in known:
            raise RegistryError(f"{model_id} is not a model of workspace {workspace_id}")
        pointer = await self._store.pointer(workspace_id) or {
            "workspace_id": workspace_id,
            "history": [],
        }
        if _current(pointer) == model_id:
            return pointer  # promoting the current model again changes nothing
        pointer = {
            **pointer,
            "history": [*pointer["history"], model_id],
            "updated_at": time.time(),
            **extra,
        }
        await self._store.save_pointer(pointer)
        self._cache.pop(workspace_id, None)
        return pointer

    async def rollback(self, workspace_id: str) -> Pointer:
        pointer = await self._store.pointer(workspace_id)
        if pointer is None or not pointer["history"]:
            raise RegistryError(f"workspace {workspace_id} has no promoted model to roll back")
        pointer = {**pointer, "history": pointer["history"][:-1], "updated_at": time.time()}
        await self._store.save_pointer(pointer)
        self._cache.pop(workspace_id, None)
        return pointer

    async def status(self, workspace_id: str) -> dict[str, Any]:
        pointer = await self._store.pointer(workspace_id)
        history = [] if pointer is None else list(pointer["history"])
        return {
            "workspace_id": workspace_id,
            "current": _current(pointer),
            "rollback_to": history[-2] if len(history) >= 2 else None,
            "models": await self._store.models(workspace_id),
            "runs": await self._store.runs(workspace_id),
        }


def _current(pointer: Pointer | None) -> str | None:
    if pointer is None or not pointer.get("history"):
        return None
    return str(pointer["history"][-1])
