"""The drive's named limits, built by the server from its settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DriveLimits:
    max_upload_bytes: int = 100 * 1024 * 1024
    workspace_quota_bytes: int = 1024 * 1024 * 1024
    max_text_file_bytes: int = 2 * 1024 * 1024
    """Text files up to this size become collaborative documents; larger ones stay bytes."""


def quota_message(limits: DriveLimits) -> str:
    return f"the workspace's files would pass its quota of {limits.workspace_quota_bytes} bytes"
