"""Typed failures of the access layer; the HTTP boundary maps them to JSON errors."""

from __future__ import annotations


class AccessError(Exception):
    """Base of the access layer's errors."""


class ConflictError(AccessError):
    """A unique name is taken (username)."""


class NotFoundError(AccessError):
    """No such user, workspace, member or document."""
