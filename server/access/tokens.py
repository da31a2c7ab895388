"""Signed session tokens (PyJWT, HS256): short-lived access tokens and single-use refresh
tokens whose ids the directory keeps, so signing out revokes them."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from .models import UserId, new_id

_ALGORITHM = "HS256"
_ISSUER = "tandem"


class TokenError(Exception):
    """The token is missing, malformed, forged, expired or of the wrong kind."""


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: UserId
    username: str
    token_id: str
    expires_at: float


class TokenSigner:
    def __init__(self, secret: str, *, access_ttl_s: float, refresh_ttl_s: float) -> None:
        if len(secret.encode()) < 32:
            raise ValueError("the JWT secret must be at least 32 bytes")
        self._secret = secret
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s

    def issue(self, user_id: UserId, username: str, kind: str) -> tuple[str, Claims]:
        now = time.time()
        ttl = self.access_ttl_s if kind == "access" else self.refresh_ttl_s
        claims = Claims(user_id, username, new_id(), now + ttl)
        token = jwt.encode(
            {
                "iss": _ISSUER,
                "sub": user_id,
                "name": username,
                "typ": kind,
                "jti": claims.token_id,
                "iat": int(now),
                "exp": int(claims.expires_at),
            },
            self._secret,
            algorithm=_ALGORITHM,
        )
        return token, claims

    def verify(self, token: str, kind: str) -> Claims:
        """Only HS256 with our key is accepted: ``alg=none`` and other algorithms are refused
        by naming the one algorithm allowed."""
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"require": ["exp", "iat", "sub", "jti", "typ", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {type(exc).__name__}") from None
        if payload.get("typ") != kind:
            raise TokenError(f"not an {kind} token")
        return Claims(
            UserId(str(payload["sub"])),
            str(payload.get("name", "")),
            str(payload["jti"]),
            float(payload["exp"]),
        )


@dataclass(frozen=True, slots=True)
class Invite:
    workspace_id: str
    role: str
    invited_by: str
    id: str = ""
    expires_at: float = 0.0


class InviteSigner:
    """Invite codes are signed: a code names the workspace and role it grants, its id, and
    stops working when it expires. The directory keeps a record of each id, so owners can list
    and revoke invites; sign-up accepts only a code whose record is still there."""

    def __init__(self, secret: str, ttl_s: float = 7 * 24 * 3600.0) -> None:
        self._secret = secret
        self._ttl_s = ttl_s

    def issue(self, invite: Invite) -> tuple[str, Invite]:
        now = time.time()
        issued = Invite(
            invite.workspace_id, invite.role, invite.invited_by, new_id(), int(now + self._ttl_s)
        )
        code = jwt.encode(
            {
                "iss": _ISSUER,
                "typ": "invite",
                "jti": issued.id,
                "ws": issued.workspace_id,
                "role": issued.role,
                "by": issued.invited_by,
                "iat": int(now),
                "exp": int(issued.expires_at),
            },
            self._secret,
            algorithm=_ALGORITHM,
        )
        return code, issued

    def verify(self, code: str) -> Invite:
        try:
            payload = jwt.decode(
                code,
                self._secret,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"require": ["exp", "iat", "typ", "iss", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid invite: {type(exc).__name__}") from None
        if payload.get("typ") != "invite":
            raise TokenError("not an invite")
        return Invite(
            str(payload["ws"]),
            str(payload["role"]),
            str(payload.get("by", "")),
            str(payload["jti"]),
            float(payload["exp"]),
        )
