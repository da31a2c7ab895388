"""Password hashing with argon2id (argon2-cffi). Hashing is deliberately slow, so it runs
on worker threads, at most a few at once: a burst of sign-ins cannot starve the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 1024


class PasswordPolicyError(ValueError):
    """The password is too short or too long."""


class Passwords:
    def __init__(self, *, concurrency: int = 2) -> None:
        self._hasher = PasswordHasher()
        self._slots = asyncio.Semaphore(concurrency)
        # Verifying against this keeps sign-in for an unknown user as slow as for a known one.
        self._dummy = self._hasher.hash("tandem-timing-equaliser")

    @staticmethod
    def check_policy(password: str) -> None:
        if len(password) < MIN_LENGTH:
            raise PasswordPolicyError(f"passwords have at least {MIN_LENGTH} characters")
        if len(password) > MAX_LENGTH:
            raise PasswordPolicyError(f"passwords have at most {MAX_LENGTH} characters")

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and (
                password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False
