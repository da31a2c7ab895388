"""Workspaces and roles over HTTP: who may do what, and what outsiders can learn."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from tests.access.conftest import start
from tests.accounts import PASSWORD, Account, sign_up, unique_username
from tests.server_proc import TandemProcess


async def test_members_manage_by_role(server: TandemProcess) -> None:
    owner = await sign_up(server.http_url)
    editor = await sign_up(server.http_url)
    viewer = await sign_up(server.http_url)
    ws = await owner.create_workspace("Team")
    await owner.add_member(ws, editor, "editor")
    await owner.add_member(ws, viewer, "viewer")

    listed = await viewer.request("GET", f"/api/workspaces/{ws}/members", expect=200)
    assert {m["username"]: m["role"] for m in listed.json()["members"]} == {
        owner.username: "owner",
        editor.username: "editor",
        viewer.username: "viewer",
    }
    await editor.create_doc(ws)
    await viewer.request("POST", f"/api/workspaces/{ws}/docs", expect=403)
    await editor.request("PATCH", f"/api/workspaces/{ws}", json={"name": "X"}, expect=403)
    await editor.request("DELETE", f"/api/workspaces/{ws}", expect=403)
    await editor.request(
        "POST",
        f"/api/workspaces/{ws}/members",
        json={"username": "x", "role": "viewer"},
        expect=403,
    )
    await owner.request(
        "PATCH",
        f"/api/workspaces/{ws}/members/{viewer.user_id}",
        json={"role": "editor"},
        expect=200,
    )
    await viewer.create_doc(ws)  # promoted
    renamed = await owner.request(
        "PATCH", f"/api/workspaces/{ws}", json={"name": "Crew"}, expect=200
    )
    assert renamed.json()["name"] == "Crew"


async def test_a_workspace_keeps_an_owner(server: TandemProcess) -> None:
    owner = await sign_up(server.http_url)
    ws = await owner.create_workspace()
    await owner.request("DELETE", f"/api/workspaces/{ws}/members/{owner.user_id}", expect=409)
    await owner.request(
        "PATCH",
        f"/api/workspaces/{ws}/members/{owner.user_id}",
        json={"role": "viewer"},
        expect=409,
    )
    await owner.request("GET", f"/api/workspaces/{ws}", expect=200)


async def test_bad_member_input_changes_nothing(server: TandemProcess) -> None:
    owner = await sign_up(server.http_url)
    ws = await owner.create_workspace()
    bad = [
        ({"username": "nobody-here", "role": "editor"}, 404),
        ({"username": owner.username, "role": "admin"}, 400),
        ({"username": owner.username, "role": "owner"}, 409),
        ({"role": "viewer"}, 400),
    ]
    for body, status in bad:
        response = await owner.request("POST", f"/api/workspaces/{ws}/members", json=body)
        assert response.status_code == status, body
        assert set(response.json()["error"]) == {"code", "message"}
    listed = await owner.request("GET", f"/api/workspaces/{ws}/members", expect=200)
    assert [m["username"] for m in listed.json()["members"]] == [owner.username]
    for name in ["", " ", "x" * 101, "tab\there"]:
        response = await owner.request("POST", "/api/workspaces", json={"name": name})
        assert response.status_code == 400, name


async def test_outsiders_get_the_same_answer_for_missing_and_forbidden(
    server: TandemProcess,
) -> None:
    owner = await sign_up(server.http_url)
    outsider = await sign_up(server.http_url)
    ws = await owner.create_workspace("Secret")
    doc = await owner.create_doc(ws)
    pairs = [
        (f"/api/workspaces/{ws}", "/api/workspaces/no-such-workspace"),
        (f"/api/workspaces/{ws}/members", "/api/workspaces/no-such-workspace/members"),
        (f"/api/docs/{doc}", "/api/docs/no-such-doc"),
    ]
    for forbidden, missing in pairs:
        a = await outsider.request("GET", forbidden)
        b = await outsider.request("GET", missing)
        assert a.status_code == b.status_code == 404
        assert a.json() == b.json()
    changed = await outsider.request("PATCH", f"/api/workspaces/{ws}", json={"name": "Mine"})
    assert changed.status_code == 404
    await outsider.request("POST", f"/api/workspaces/{ws}/docs", expect=404)
    await outsider.request("DELETE", f"/api/workspaces/{ws}", expect=404)
    mine = await outsider.request("GET", "/api/workspaces", expect=200)
    assert mine.json()["workspaces"] == []
    still = await owner.request("GET", f"/api/workspaces/{ws}", expect=200)
    assert still.json()["name"] == "Secret"


async def test_members_may_leave_and_owners_delete(server: TandemProcess) -> None:
    owner = await sign_up(server.http_url)
    member = await sign_up(server.http_url)
    ws = await owner.create_workspace()
    await owner.add_member(ws, member, "editor")
    await member.request("DELETE", f"/api/workspaces/{ws}/members/{member.user_id}", expect=204)
    await member.request("GET", f"/api/workspaces/{ws}", expect=404)
    doc = await owner.create_doc(ws)
    await owner.request("DELETE", f"/api/workspaces/{ws}", expect=204)
    await owner.request("GET", f"/api/workspaces/{ws}", expect=404)
    await owner.request("GET", f"/api/docs/{doc}", expect=404)


async def test_sign_up_policies(tmp_path: Path) -> None:
    closed = await start(tmp_path / "closed", TANDEM_SIGNUP="closed")
    invite_only = await start(tmp_path / "invite", TANDEM_SIGNUP="invite")
    try:
        async with httpx.AsyncClient() as http:
            body = {"username": unique_username("eve"), "password": PASSWORD}
            refused = await http.post(f"{closed.http_url}/api/auth/signup", json=body)
            assert refused.status_code == 403
            no_code = await http.post(f"{invite_only.http_url}/api/auth/signup", json=body)
            assert no_code.status_code == 403
            bad_code = await http.post(
                f"{invite_only.http_url}/api/auth/signup", json={**body, "invite": "forged"}
            )
            assert bad_code.status_code == 403
        # An operator bootstraps the first account; its invite admits the next one.
        first = await _admin_create_user(invite_only, "founder")
        ws = await first.create_workspace()
        invite = await first.request(
            "POST", f"/api/workspaces/{ws}/invites", json={"role": "viewer"}, expect=201
        )
        async with httpx.AsyncClient() as http:
            joined = await http.post(
                f"{invite_only.http_url}/api/auth/signup",
                json={**body, "invite": invite.json()["invite"]},
            )
        assert joined.status_code == 201
        token = joined.json()["access_token"]
        async with httpx.AsyncClient() as http:
            mine = await http.get(
                f"{invite_only.http_url}/api/workspaces",
                headers={"authorization": f"Bearer {token}"},
            )
        assert [(w["id"], w["role"]) for w in mine.json()["workspaces"]] == [(ws, "viewer")]

        # Owners list the invites that still work and revoke them; a revoked code admits
        # nobody, and neither a member nor an outsider sees or revokes them.
        path = f"/api/workspaces/{ws}/invites"
        second = await first.request("POST", path, json={"role": "editor"}, expect=201)
        listed = (await first.request("GET", path, expect=200)).json()["invites"]
        assert [i["role"] for i in listed] == ["viewer", "editor"]
        assert all("invite" not in i for i in listed)  # the code is shown once, at creation
        member = Account(invite_only.http_url, "", "", token, "")
        await member.request("GET", path, expect=403)
        await member.request("DELETE", f"{path}/{second.json()['id']}", expect=403)
        await first.request("DELETE", f"{path}/{second.json()['id']}", expect=204)
        await first.request("DELETE", f"{path}/{second.json()['id']}", expect=404)
        assert [i["id"] for i in (await first.request("GET", path)).json()["invites"]] == [
            invite.json()["id"]
        ]
        async with httpx.AsyncClient() as http:
            revoked = await http.post(
                f"{invite_only.http_url}/api/auth/signup",
                json={
                    "username": unique_username("late"),
                    "password": PASSWORD,
                    "invite": second.json()["invite"],
                },
            )
        assert revoked.status_code == 403 and "revoked" in revoked.json()["error"]["message"]
    finally:
        await closed.kill()
        await invite_only.kill()


async def _admin_create_user(server: TandemProcess, username: str) -> Account:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "admin",
        "create-user",
        username,
        env={
            **os.environ,
            "TANDEM_DATA_DIR": str(server.data_dir),
            "TANDEM_ADMIN_PASSWORD": PASSWORD,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert f"created user {username}" in out.decode()
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.post(
            "/api/auth/signin", json={"username": username, "password": PASSWORD}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    return Account(
        server.http_url, body["user"]["id"], username, body["access_token"], body["refresh_token"]
    )
