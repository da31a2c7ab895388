"""Sign-up, sign-in, refresh, sign-out and brute-force throttling over the real API."""

from __future__ import annotations

from pathlib import Path

import httpx
import websockets

from tests.access.conftest import JWT_SECRET, start
from tests.accounts import PASSWORD, sign_up, unique_username
from tests.server_proc import TandemProcess


async def test_sign_up_then_sign_in_gives_working_tokens(server: TandemProcess) -> None:
    name = unique_username("ada")
    account = await sign_up(server.http_url, name)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        signed_in = await http.post(
            "/api/auth/signin", json={"username": name.upper(), "password": PASSWORD}
        )
        assert signed_in.status_code == 200
        token = signed_in.json()["access_token"]
        me = await http.get("/api/me", headers={"authorization": f"Bearer {token}"})
    assert me.json() == {"id": account.user_id, "username": name}


async def test_bad_sign_up_input_is_refused_and_creates_nothing(server: TandemProcess) -> None:
    name = unique_username("bob")
    cases = [
        ({"username": name, "password": "short"}, 400, "weak_password"),
        ({"username": "a", "password": PASSWORD}, 400, "invalid_username"),
        ({"username": "has space", "password": PASSWORD}, 400, "invalid_username"),
        ({"username": name}, 400, "missing_field"),
        ({"username": 5, "password": PASSWORD}, 400, "invalid_field"),
    ]
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        for body, status, code in cases:
            response = await http.post("/api/auth/signup", json=body)
            assert (response.status_code, response.json()["error"]["code"]) == (status, code)
        response = await http.post("/api/auth/signup", content=b"{not json")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_json"
        # Nothing was created: the name is still free.
        created = await http.post("/api/auth/signup", json={"username": name, "password": PASSWORD})
        assert created.status_code == 201
        taken = await http.post("/api/auth/signup", json={"username": name, "password": PASSWORD})
        assert taken.status_code == 409


async def test_wrong_password_and_unknown_user_answer_alike(server: TandemProcess) -> None:
    name = unique_username("carol")
    await sign_up(server.http_url, name)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        wrong = await http.post(
            "/api/auth/signin", json={"username": name, "password": "nope-nope"}
        )
        unknown = await http.post(
            "/api/auth/signin", json={"username": unique_username("ghost"), "password": "nope-nope"}
        )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_refresh_rotates_and_sign_out_revokes(server: TandemProcess) -> None:
    account = await sign_up(server.http_url)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        first = await http.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
        assert first.status_code == 200
        again = await http.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
        assert again.status_code == 401  # each refresh token works once
        latest = first.json()["refresh_token"]
        out = await http.post("/api/auth/signout", json={"refresh_token": latest})
        assert out.status_code == 204
        after = await http.post("/api/auth/refresh", json={"refresh_token": latest})
        assert after.status_code == 401
        access_as_refresh = await http.post(
            "/api/auth/refresh", json={"refresh_token": account.token}
        )
        assert access_as_refresh.status_code == 401


async def test_brute_force_sign_in_is_throttled(tmp_path: Path) -> None:
    server = await start(tmp_path, TANDEM_SIGNIN_ATTEMPTS_PER_MIN="3")
    try:
        victim = unique_username("victim")
        await sign_up(server.http_url, victim)
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            statuses = [
                (
                    await http.post(
                        "/api/auth/signin", json={"username": victim, "password": f"guess-{i}xx"}
                    )
                ).status_code
                for i in range(5)
            ]
            assert statuses == [401, 401, 401, 429, 429]
            # Even the right password waits out the window: the guesser learns nothing.
            right = await http.post(
                "/api/auth/signin", json={"username": victim, "password": PASSWORD}
            )
            assert right.status_code == 429
            assert right.headers["retry-after"] == "60"
            assert right.json()["error"]["code"] == "rate_limited"
    finally:
        await server.kill()


async def test_passwords_and_tokens_never_reach_logs_or_responses(tmp_path: Path) -> None:
    server = await start(tmp_path, TANDEM_LOG_LEVEL="debug")
    try:
        name = unique_username("dora")
        account = await sign_up(server.http_url, name)
        workspace = await account.create_workspace()
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            await http.post("/api/auth/signin", json={"username": name, "password": "wrong-pass"})
            members = await http.get(
                f"/api/workspaces/{workspace}/members", headers=account.headers
            )
            me = await http.get("/api/me", headers=account.headers)
            await http.get("/api/me", headers={"authorization": "Bearer forged.token.value"})
        doc = await account.create_doc(workspace)
        async with websockets.connect(f"{server.ws_url}/{doc}?token={account.token}") as ws:
            await ws.recv()  # sync step 1: the connection was admitted (and logged)
        for body in (members.text, me.text):
            assert PASSWORD not in body and "argon2" not in body and account.token not in body
    finally:
        await server.terminate()
    log = server.log()
    assert "signed up" in log  # the log is being written at all
    for secret in (PASSWORD, "wrong-pass", account.token, account.refresh_token, "argon2"):
        assert secret not in log


async def test_a_refresh_repeated_within_the_grace_keeps_the_session(tmp_path: Path) -> None:
    """A reload (or a second tab) that sends the refresh token the page just rotated gets a
    session too, instead of signing the person out; signing out ends both."""
    env = {"TANDEM_JWT_SECRET": JWT_SECRET, "TANDEM_REFRESH_REUSE_GRACE_S": "30"}
    async with TandemProcess(tmp_path, env=env) as server:
        account = await sign_up(server.http_url)
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            body = {"refresh_token": account.refresh_token}
            first, second = [await http.post("/api/auth/refresh", json=body) for _ in range(2)]
            assert first.status_code == second.status_code == 200
            tokens = [r.json() for r in (first, second)]
            for issued in tokens:
                me = await http.get(
                    "/api/me", headers={"authorization": f"Bearer {issued['access_token']}"}
                )
                assert me.status_code == 200 and me.json()["id"] == account.user_id
            everywhere = {"refresh_token": tokens[1]["refresh_token"], "everywhere": True}
            assert (await http.post("/api/auth/signout", json=everywhere)).status_code == 204
            for issued in tokens:
                after = await http.post(
                    "/api/auth/refresh", json={"refresh_token": issued["refresh_token"]}
                )
                assert after.status_code == 401
            assert (await http.post("/api/auth/refresh", json=body)).status_code == 401
