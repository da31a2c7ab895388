"""A correctly signed token is not enough: its account must exist. A token forged with the
server's own key for an id nobody has, and the tokens of an account that was deleted, are
refused on every route and on ``/sync``; deleting an account needs its password, revokes its
sessions and never leaves a workspace without an owner."""

from __future__ import annotations

import httpx

from server.access.models import UserId
from server.access.tokens import TokenSigner
from tests.access.conftest import JWT_SECRET
from tests.accounts import PASSWORD, sign_up
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients


def forged_access_token(user_id: str) -> str:
    signer = TokenSigner(JWT_SECRET, access_ttl_s=900, refresh_ttl_s=3600)
    return signer.issue(UserId(user_id), "nobody", "access")[0]


async def test_a_signed_token_of_no_account_is_refused_everywhere(
    server: TandemProcess, js: YjsClients
) -> None:
    owner = await sign_up(server.http_url)
    ws = await owner.create_workspace()
    doc = await owner.create_doc(ws)
    ghost = {"authorization": f"Bearer {forged_access_token('no-such-user-0001')}"}
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        listed = await http.get("/api/workspaces", headers=ghost)
        created = await http.post("/api/workspaces", headers=ghost, json={"name": "Orphan"})
    for response in (listed, created):
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "unauthorized"
    names = [
        w["name"] for w in (await owner.request("GET", "/api/workspaces")).json()["workspaces"]
    ]
    assert "Orphan" not in names
    await js.connect(
        "ghost",
        server.ws_url,
        doc,
        params={"token": forged_access_token("no-such-user-0001")},
        synced=False,
    )
    assert (await js.wait_closed("ghost"))[0]["code"] == 4401


async def test_deleting_an_account_needs_its_password_and_ends_its_sessions(
    server: TandemProcess, js: YjsClients
) -> None:
    alice, bob = await sign_up(server.http_url), await sign_up(server.http_url)
    ws = await alice.create_workspace()
    await alice.add_member(ws, bob, "editor")
    doc = await alice.create_doc(ws)
    await js.connect("bob", server.ws_url, doc, params={"token": bob.token})

    wrong = await bob.request("DELETE", "/api/me", json={"password": "not his password"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "bad_credentials"
    await bob.request("GET", "/api/me", expect=200)

    await bob.request("DELETE", "/api/me", json={"password": PASSWORD}, expect=204)
    for method, path in (("GET", "/api/me"), ("GET", "/api/workspaces")):
        gone = await bob.request(method, path)
        assert gone.status_code == 401, (path, gone.text)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        refreshed = await http.post("/api/auth/refresh", json={"refresh_token": bob.refresh_token})
        signin = await http.post(
            "/api/auth/signin", json={"username": bob.username, "password": PASSWORD}
        )
    assert refreshed.status_code == 401 and signin.status_code == 401
    # His open connection is closed by the access recheck; a new one is refused as unknown.
    assert (await js.wait_closed("bob", timeout_ms=5000))[0]["code"] in (4401, 4403)
    await js.connect("bob2", server.ws_url, doc, params={"token": bob.token}, synced=False)
    assert (await js.wait_closed("bob2"))[0]["code"] == 4401
    members = (await alice.request("GET", f"/api/workspaces/{ws}/members", expect=200)).json()
    assert [m["id"] for m in members["members"]] == [alice.user_id]


async def test_the_only_owner_of_a_workspace_cannot_delete_the_account(
    server: TandemProcess,
) -> None:
    alice, bob = await sign_up(server.http_url), await sign_up(server.http_url)
    ws = await alice.create_workspace("Only mine")
    await alice.add_member(ws, bob, "editor")
    refused = await alice.request("DELETE", "/api/me", json={"password": PASSWORD})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "sole_owner"
    await alice.request("GET", f"/api/workspaces/{ws}", expect=200)
    await alice.request(
        "PATCH", f"/api/workspaces/{ws}/members/{bob.user_id}", json={"role": "owner"}, expect=200
    )
    await alice.request("DELETE", "/api/me", json={"password": PASSWORD}, expect=204)
    await bob.request("GET", f"/api/workspaces/{ws}", expect=200)
