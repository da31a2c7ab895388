"""Which workspaces one index of the Indexed Job trains: a stable hash of the workspace id,
so every index agrees without talking to the others, a workspace always lands on the same
index, and N indexes (N GPUs) train N shards at once."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping


def shard_of(workspace_id: str, shards: int) -> int:
    digest = hashlib.sha256(workspace_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def in_shard(workspace_ids: Iterable[str], index: int, shards: int) -> list[str]:
    if not 0 <= index < shards:
        raise ValueError(f"shard {index} of {shards} does not exist")
    return [w for w in workspace_ids if shard_of(w, shards) == index]


def job_index(env: Mapping[str, str] | None = None) -> int:
    """Kubernetes sets JOB_COMPLETION_INDEX in each pod of an Indexed Job."""
    env = os.environ if env is None else env
    return int(env.get("JOB_COMPLETION_INDEX") or 0)
