"""Builds the access layer the settings ask for: the directory (MongoDB when configured, else
SQLite in the data directory), the token signer and the sign-in attempt counter."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from server.backends import Backends
from server.settings import Settings, SettingsError

from .directory import Directory
from .guard import Access
from .passwords import Passwords
from .ratelimit import AttemptCounter, MemoryAttempts, RedisAttempts
from .tokens import InviteSigner, TokenSigner

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def open_access(settings: Settings, backends: Backends) -> AsyncIterator[Access]:
    async with open_directory(settings, backends.mongo) as directory:
        attempts: AttemptCounter = (
            RedisAttempts(backends.redis) if backends.redis is not None else MemoryAttempts()
        )
        if settings.open_access:
            log.warning("TANDEM_OPEN_ACCESS is on: /sync admits anyone to any document")
        secret = jwt_secret(settings)
        yield Access(
            directory=directory,
            invites=InviteSigner(secret),
            signer=TokenSigner(
                secret,
                access_ttl_s=settings.access_token_ttl_s,
                refresh_ttl_s=settings.refresh_token_ttl_s,
            ),
            passwords=Passwords(),
            attempts=attempts,
            signup=settings.signup,
            signin_attempts_per_min=settings.signin_attempts_per_min,
            signups_per_min=settings.signups_per_min,
            user_cache_s=settings.user_cache_s,
            refresh_reuse_grace_s=settings.refresh_reuse_grace_s,
        )


@contextlib.asynccontextmanager
async def open_directory(settings: Settings, database: Any) -> AsyncIterator[Directory]:
    """MongoDB when ``database`` (an ``AsyncDatabase``) is given, else SQLite in the data dir."""
    if database is not None:
        from .mongo_directory import MongoDirectory

        mongo = MongoDirectory(database)
        await mongo.ensure_indexes()
        yield mongo
        return
    from .sqlite_directory import SqliteDirectory

    async with SqliteDirectory(settings.data_dir / "accounts.db") as sqlite:
        yield sqlite


def jwt_secret(settings: Settings) -> str:
    """From TANDEM_JWT_SECRET; a single embedded server may keep a generated one in its data
    directory instead, but pods must share one key, so cluster mode requires the variable."""
    if settings.jwt_secret:
        return settings.jwt_secret
    if not settings.embedded:
        raise SettingsError("cluster mode needs TANDEM_JWT_SECRET (every pod signs with it)")
    return _stored_secret(settings.data_dir / "jwt-secret")


def _stored_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secret)
    return secret
