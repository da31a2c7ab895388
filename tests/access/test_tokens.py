"""Hostile tokens: every one is refused over HTTP (401) and over /sync (4401)."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt
import pytest

from tests.access.conftest import JWT_SECRET
from tests.accounts import sign_up
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(user_id: str, **extra: object) -> dict[str, object]:
    now = int(time.time())
    return {
        "iss": "tandem",
        "sub": user_id,
        "name": "x",
        "typ": "access",
        "jti": "j",
        "iat": now,
        "exp": now + 600,
        **extra,
    }


def hostile_tokens(user_id: str, genuine: str, refresh: str) -> dict[str, str]:
    header, payload, signature = genuine.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "someone-else"
    return {
        "garbage": "not-a-jwt",
        "wrong key": jwt.encode(_claims(user_id), "another-secret-" * 4, algorithm="HS256"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user_id))}.",
        "expired": jwt.encode(
            _claims(user_id, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
            JWT_SECRET,
            algorithm="HS256",
        ),
        "tampered payload": f"{header}.{_b64(claims)}.{signature}",
        "refresh as access": refresh,
        "other issuer": jwt.encode(_claims(user_id, iss="evil"), JWT_SECRET, algorithm="HS256"),
    }


async def test_hostile_tokens_are_refused_over_http(server: TandemProcess) -> None:
    alice = await sign_up(server.http_url)
    tokens = hostile_tokens(alice.user_id, alice.token, alice.refresh_token)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        assert (await http.get("/api/me", headers=alice.headers)).status_code == 200
        assert (await http.get("/api/me")).status_code == 401
        for name, token in tokens.items():
            response = await http.get("/api/me", headers={"authorization": f"Bearer {token}"})
            assert response.status_code == 401, name
            assert response.json()["error"]["code"] == "unauthorized", name


async def test_hostile_tokens_are_refused_over_sync(server: TandemProcess, js: YjsClients) -> None:
    alice = await sign_up(server.http_url)
    doc = await alice.create_doc(await alice.create_workspace())
    tokens = hostile_tokens(alice.user_id, alice.token, alice.refresh_token)
    for index, (name, token) in enumerate({**tokens, "missing": ""}.items()):
        client = f"c{index}"
        await js.connect(client, server.ws_url, doc, params={"token": token}, synced=False)
        closes = await js.wait_closed(client)
        assert closes[0]["code"] == 4401, name
    await js.connect("ok", server.ws_url, doc, params={"token": alice.token})
    assert (await js.status("ok"))["synced"]


@pytest.mark.parametrize("field", ["exp", "sub", "jti"])
async def test_tokens_missing_a_required_claim_are_refused(
    server: TandemProcess, field: str
) -> None:
    alice = await sign_up(server.http_url)
    claims = _claims(alice.user_id)
    del claims[field]
    token = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.get("/api/me", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 401
