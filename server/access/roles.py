"""Workspace roles, ordered: each role can do everything the roles below it can."""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    VIEWER = 1
    EDITOR = 2
    OWNER = 3

    @classmethod
    def parse(cls, raw: object) -> Role:
        """A role from its lowercase name, as the API and the stores spell it."""
        if isinstance(raw, str):
            try:
                return cls[raw.upper()]
            except KeyError:
                pass
        raise ValueError(f"role must be one of owner, editor, viewer, not {raw!r}")

    @property
    def label(self) -> str:
        return self.name.lower()
